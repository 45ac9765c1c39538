"""Smoke test of the defenses benchmark (tiny sizes; not a measurement)."""

import json

import pytest

from fl_course.bench import defenses as bench

TINY = ["--images", "1", "--ig-iterations", "2", "--train-images", "120", "--clients", "2", "--rounds", "1",
        "--batch-size", "60", "--test-images", "50", "--threads", "1"]


def test_main_prints_one_json_object(capsys):
    assert bench.main(TINY) == 0
    result = json.loads(capsys.readouterr().out)
    expected = {"none", "GC", "DP-Gaussian", "DP-Laplace", "Soteria", "GradDefense", "GradDefense+MP", "Outpost"}
    assert set(result["defenses"]) == expected
    for row in result["defenses"].values():
        assert set(row) == {"psnr_ig", "ssim_ig", "accuracy", "accuracy_drop", "round_time_ratio", "round_wall_ratio"}
        assert 0 <= row["accuracy"] <= 100 and row["round_time_ratio"] > 0
    assert result["defenses"]["none"]["accuracy_drop"] == 0
    assert set(result["goals_met"]) == {"GradDefense", "GradDefense+MP", "Outpost"}


@pytest.mark.parametrize("argv", [["--images", "0"], ["--rounds", "-1"], ["--clients", "x"]])
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        bench.main(argv)


def test_bad_learning_rate_raises():
    with pytest.raises(ValueError, match="lr"):
        bench.main(["--lr", "0"])
