"""Smoke test of ``python -m fl_course.bench attacks --quick``."""

import json

import pytest

from fl_course.bench import attacks as bench

pytestmark = pytest.mark.needs_mnist


def test_quick_run_prints_one_json_object(capsys):
    assert bench.main(["--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["goals"]) == {
        "idlg_lenetzhu_untrained",
        "ig_lenetzhu_untrained",
        "ig_minus_idlg_pooledconvnet_trained",
    }
    for figures in out["settings"].values():
        assert {
            "psnr_mean",
            "psnr_std",
            "ssim_mean",
            "images",
            "iterations",
            "seconds_per_image",
            "cpu_seconds_per_image",
            "psnr_trivial_best",
        } <= set(figures)
        assert figures["images"] == 1
    # Table 1's published values sit beside ours where the paper has the cell.
    assert out["settings"]["ig_lenetzhu_untrained"]["paper_psnr"] == 18.00
    assert out["settings"]["idlg_pooledconvnet_trained"]["paper_network"] == "ResNet20-4"
    assert "paper_psnr" not in out["settings"]["ig_convnet_untrained"]
    assert out["gaps"]["ig_minus_idlg_lenetzhu_untrained"]["n"] == 1


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--images", "0"])
