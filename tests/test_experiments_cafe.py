"""Tests for fl_course.experiments.cafe: CAFE's MNIST settings, bookkeeping and defense matrix."""

import math
import os

import pandas as pd
import pytest
import torch

from fl_course.defenses import GaussianNoise
from fl_course.experiments.cafe import (
    cafe_matrix,
    epochs_to_iterations,
    gap_entry,
    gap_table_row,
    iterations_per_image,
    leakage_summary,
    paired_noise,
    scoreboard_entry,
)


def test_leakage_summary_against_trivial_guesses():
    gen = torch.Generator().manual_seed(3)
    truth = torch.rand(4, 1, 28, 28, generator=gen)
    close = leakage_summary(truth, truth + 0.01, truth.mean(0), seed=1)
    black = leakage_summary(truth, torch.zeros_like(truth), truth.mean(0), seed=1)
    assert close["n"] == 4 and close["psnr"] > close["trivial_psnr"] + 20
    assert black["psnr"] <= black["trivial_psnr"] + 1e-6  # all-black is one of the trivial guesses
    assert black["trivial_psnr"] == close["trivial_psnr"]  # same victims, same guesses
    with pytest.raises(ValueError):
        leakage_summary(truth, truth[:2], truth.mean(0))


def test_iterations_per_image():
    history = pd.DataFrame({"iteration": [10, 20, 30], "psnr_mean": [12.0, 29.9, 30.5]})
    assert iterations_per_image(history, 6) == 5.0
    assert math.isnan(iterations_per_image(history, 6, threshold=40.0))
    with pytest.raises(ValueError):
        iterations_per_image(history, 0)


@pytest.mark.parametrize("samples,batch,epochs,iterations", [(80, 20, 5, 20), (100, 40, 3, 8)])
def test_epochs_to_iterations(samples, batch, epochs, iterations):
    assert epochs_to_iterations(samples, batch, epochs) == iterations
    with pytest.raises(ValueError, match="positive"):
        epochs_to_iterations(samples, 0, epochs)


def test_paired_noise_is_two_standard_errors_of_the_difference():
    a, b = torch.tensor([3.0, 5.0, 7.0]), torch.tensor([1.0, 1.0, 1.0])
    assert paired_noise(a, b) == pytest.approx(2 * 2.0 / math.sqrt(3))
    assert paired_noise(a, a) == 0.0


def test_scoreboard_entry_rounds_what_the_lab_shows():
    entry = scoreboard_entry(
        "k", 31.2345, paper=35.031, source="Table 1b", tolerance=3.004, std=1.236, trivial=12.345
    )
    assert (entry["ours"], entry["paper"], entry["tolerance"]) == (31.23, 35.03, 3.0)
    assert (entry["std"], entry["trivial"], entry["noise"], entry["n"]) == (1.24, 12.35, None, None)


def test_gap_entry_and_row():
    a = {"psnr": 30.0, "psnr_std": 2.0, "n": 4}
    b = {"psnr": 20.0, "psnr_std": 2.0, "n": 4}
    entry = gap_entry(
        "gap", a, b, paper_gap=12.004, source="Table 4", tolerance=3.0, setting="MNIST"
    )
    assert entry["kind"] == "gap" and entry["ours"] == 10.0 and entry["paper"] == 12.0
    assert entry["noise"] == pytest.approx(2 * math.hypot(1.0, 1.0))
    row = gap_table_row(entry, "reproduced")
    assert row["what"] == "gap" and row["± noise (2 SE)"] == 2.83 and row["verdict"] == "reproduced"


@pytest.mark.skipif(
    not os.environ.get("FL_COURSE_DATA") and not os.path.isdir("/work/shared/data"),
    reason="needs MNIST",
)
def test_cafe_matrix_one_row_per_defense_and_noise_stops_cafe(monkeypatch):
    monkeypatch.setenv("FL_COURSE_DATA", os.environ.get("FL_COURSE_DATA", "/work/shared/data"))
    defenses = {"none": None, "DP-Gaussian": GaussianNoise(1.0, seed=0)}
    table, fakes = cafe_matrix(
        defenses, num_samples=8, batch_size=4, iterations=120, progress=False
    )
    assert list(table["defense"]) == ["none", "DP-Gaussian"]
    assert set(table.columns) == {"defense", "psnr", "psnr_min", "ssim", "mse", "seconds"}
    assert (
        fakes["none"].shape == (8, 1, 28, 28)
        and 0 <= float(fakes["none"].min()) <= float(fakes["none"].max()) <= 1
    )
    psnr = table.set_index("defense")["psnr"]
    assert psnr["DP-Gaussian"] < psnr["none"] - 5


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"defenses": {}}, "non-empty"),
        ({"defenses": {"DP": 0.1}}, "Defense or None"),
        ({"iterations": 0}, "iterations"),
        ({"batch_size": 16}, "exceeds"),
        ({"seed": -1}, "seed"),
    ],
)
def test_cafe_matrix_rejects_bad_arguments(kwargs, match):
    args = {
        "defenses": {"none": None},
        "num_samples": 8,
        "batch_size": 4,
        "iterations": 5,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        cafe_matrix(args.pop("defenses"), **args)
