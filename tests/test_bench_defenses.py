"""The defenses benchmark: one JSON object, every field the issue names, goals from the rows."""

import json

import pytest

from fl_course.bench import defenses as bench

pytestmark = pytest.mark.needs_mnist

TINY = [
    "--images",
    "1",
    "--ig-iterations",
    "2",
    "--train-images",
    "200",
    "--clients",
    "2",
    "--warm-rounds",
    "1",
    "--public-images",
    "100",
    "--rounds",
    "1",
    "--local-epochs",
    "1",
    "--seeds",
    "1",
    "--batch-size",
    "50",
    "--test-images",
    "50",
    "--epsilons",
    "8",
    "--threads",
    "1",
]


@pytest.fixture(scope="module")
def result():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench.main(TINY) == 0
    return json.loads(out.getvalue())


def test_one_row_per_paper_defense_and_dp_budget(result):
    expected = {
        "none",
        "GC",
        "DP-Gaussian",
        "DP-Laplace",
        "Soteria",
        "GradDefense",
        "Outpost",
        "DP-SGD ε=8",
    }
    assert set(result["defenses"]) == expected
    fields = {
        "formal",
        "placement",
        "psnr_ig",
        "ssim_ig",
        "psnr_trivial_best",
        "accuracy",
        "accuracy_drop",
        "seeds",
        "round_time_ratio",
        "round_wall_ratio",
        "defense_ms_per_call",
        "added_time_ratio",
        "setup_cpu_seconds",
    }
    for name, row in result["defenses"].items():
        assert set(row) == fields | (
            {"epsilon", "delta", "epsilon_spent"} if name.startswith("DP-SGD") else set()
        )
    dp = result["defenses"]["DP-SGD ε=8"]
    assert (
        dp["formal"]
        and dp["epsilon"] == 8
        and dp["delta"] == 1e-5
        and dp["epsilon_spent"] <= 8 + 1e-6
    )
    assert dp["added_time_ratio"] is None  # inside Opacus' step: only the whole round says
    assert result["defenses"]["GradDefense"]["added_time_ratio"] >= 1
    assert not result["defenses"]["GradDefense"]["formal"]
    assert (
        result["defenses"]["GradDefense"]["placement"] == "round"
        and result["defenses"]["Outpost"]["placement"] == "step"
    )


def test_goals_are_computed_from_the_rows(result):
    rows = result["defenses"]
    for name in ("GradDefense", "Outpost"):
        met = result["goals_met"][name]
        assert met["psnr_above_trivial_db"] == (
            rows[name]["psnr_ig"] <= rows[name]["psnr_trivial_best"] + 1.0
        )
        assert met["accuracy_drop"] == (rows[name]["accuracy_drop"] <= 2.0)
        assert met["undefended_accuracy"] == (rows["none"]["accuracy"] >= 88.0)
        assert met["added_time_ratio"] == (rows[name]["added_time_ratio"] <= 1.10)


@pytest.mark.parametrize("argv", [["--images", "0"], ["--rounds", "-1"], ["--clients", "x"]])
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        bench.main(argv)


@pytest.mark.parametrize("argv,match", [(["--lr", "0"], "lr"), (["--epsilons", "0"], "epsilons")])
def test_bad_values_raise(argv, match):
    with pytest.raises(ValueError, match=match):
        bench.main(argv)
