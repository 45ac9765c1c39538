"""Smoke test of ``python -m fl_course.bench attacks --quick``."""

import json
import os

import pytest

from fl_course.bench import attacks as bench

pytestmark = pytest.mark.skipif(
    not os.environ.get("FL_COURSE_DATA"), reason="needs the MNIST files (set FL_COURSE_DATA)"
)


def test_quick_run_prints_one_json_object(capsys):
    assert bench.main(["--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["goals"]) == {"idlg_lenetzhu_untrained", "ig_convnet_untrained"}
    for figures in out["settings"].values():
        assert {"psnr_mean", "psnr_std", "images", "iterations", "seconds_per_image"} <= set(figures)
        assert figures["images"] == 1


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--images", "0"])
