"""Smoke test of ``python -m fl_course.bench cafe``."""

import json
import os

import pytest

from fl_course.bench import cafe

pytestmark = pytest.mark.skipif(
    not os.environ.get("FL_COURSE_DATA") and not os.path.isdir("/work/shared/data"), reason="needs MNIST"
)


def test_quick_run_prints_one_json_object(capsys, monkeypatch):
    monkeypatch.setenv("FL_COURSE_DATA", os.environ.get("FL_COURSE_DATA", "/work/shared/data"))
    assert cafe.main(["--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    for kind in ("hfl", "vfl"):
        assert {"batch", "workers", "iterations", "seconds", "psnr_mean", "psnr_min"} <= set(out[kind])
        assert out[kind]["batch"] == 4 and out[kind]["iterations"] == 5
    assert out["vfl"]["workers"] == 4


@pytest.mark.parametrize("argv", [["--batch", "0"], ["--samples", "4", "--batch", "8"]])
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        cafe.main(argv)
