"""Smoke test of ``python -m fl_course.bench cafe``."""

import json

import pytest

from fl_course.bench import cafe

pytestmark = pytest.mark.needs_mnist


def test_quick_run_prints_one_json_object(capsys):
    assert cafe.main(["--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    for kind in ("hfl", "vfl"):
        assert {"batch", "workers", "iterations", "seconds", "psnr_mean", "psnr_min"} <= set(
            out[kind]
        )
        assert out[kind]["batch"] == 4 and out[kind]["iterations"] == 5
        assert (
            out[kind]["variant"] == "fast"
            and out[kind]["lr"] == 0.1
            and out[kind]["batch_ratio"] == 0.5
        )
        assert 0 < out[kind]["psnr_trivial_best"] < 30
    assert out["vfl"]["workers"] == 4


def test_authors_variant_is_stated_in_the_json(capsys):
    assert cafe.main(["--quick", "--variant", "authors"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["hfl"]["variant"], out["hfl"]["lr"], out["hfl"]["schedule"]) == (
        "authors",
        0.01,
        "constant",
    )


@pytest.mark.parametrize(
    "argv", [["--batch", "0"], ["--samples", "4", "--batch", "8"], ["--variant", "slow"]]
)
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        cafe.main(argv)
