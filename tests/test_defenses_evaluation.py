import os

import pytest
import torch
from torch import nn

from fl_course.attacks import InvertingGradients
from fl_course.defenses import GaussianNoise, GradientCompression, MarchenkoPasturCompensation, Outpost
from fl_course.defenses.evaluation import (
    attack_matrix,
    cafe_matrix,
    compensation_error,
    federated_run,
    federated_utility,
    local_training_delta,
    paper_defenses,
)
from fl_course.models import ConvNet


def _tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(24, 1, 28, 28, generator=g), torch.arange(24) % 10


def test_paper_defenses_are_the_papers_set(data):
    defenses = paper_defenses(data, seed=0)
    assert list(defenses) == ["none", "GC", "DP-Gaussian", "DP-Laplace", "Soteria", "GradDefense", "Outpost"]
    assert defenses["GC"].prune_rate == 80 and defenses["GradDefense"].num_perturbed == 5
    assert defenses["Outpost"].phi == 40 and defenses["DP-Gaussian"].sigma == 1e-2


def test_attack_matrix_has_one_row_per_cell(data):
    x, y = data
    defenses = {"none": None, "GC": GradientCompression()}
    attacks = {"IG": InvertingGradients(iterations=2, progress=False)}
    table, recs = attack_matrix(lambda: ConvNet(width=2, seed=0), x[:2], y[:2], defenses, attacks, progress=False)
    assert len(table) == 4 and set(table.columns) >= {"psnr", "ssim", "mse", "seconds"}
    assert recs[("GC", "IG")].shape == (2, 1, 28, 28)


@pytest.mark.skipif(
    not os.environ.get("FL_COURSE_DATA") and not os.path.isdir("/work/shared/data"), reason="needs MNIST"
)
def test_cafe_matrix_one_row_per_defense_and_noise_stops_cafe(monkeypatch):
    monkeypatch.setenv("FL_COURSE_DATA", os.environ.get("FL_COURSE_DATA", "/work/shared/data"))
    defenses = {"none": None, "DP-Gaussian": GaussianNoise(1.0, seed=0)}
    table, fakes = cafe_matrix(defenses, num_samples=8, batch_size=4, iterations=120, progress=False)
    assert list(table["defense"]) == ["none", "DP-Gaussian"]
    assert set(table.columns) == {"defense", "psnr", "psnr_min", "ssim", "mse", "seconds"}
    assert fakes["none"].shape == (8, 1, 28, 28) and 0 <= float(fakes["none"].min()) <= float(fakes["none"].max()) <= 1
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
    args = {"defenses": {"none": None}, "num_samples": 8, "batch_size": 4, "iterations": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        cafe_matrix(args.pop("defenses"), **args)


def test_federated_utility_compares_with_no_defense(data):
    clients = [(data[0][:12], data[1][:12]), (data[0][12:], data[1][12:])]
    table = federated_utility(_tiny_model, clients, data, {"none": None, "DP": GaussianNoise(0.5, seed=0)},
                              rounds=1, batch_size=6, progress=False).set_index("defense")
    assert table.loc["none", "accuracy_drop"] == 0 and table.loc["none", "round_time_ratio"] == 1
    with pytest.raises(ValueError, match="none"):
        federated_utility(_tiny_model, clients, data, {"DP": GaussianNoise()}, rounds=1)
    run = federated_run(_tiny_model, clients, data, (None, MarchenkoPasturCompensation(sigma=1e-3)), rounds=1)
    assert 0 <= run["accuracy"] <= 100


def test_local_training_delta_is_protected_and_leaves_model_alone(data):
    model = _tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    plain = local_training_delta(model, data[0][:1], data[1][:1], steps=3, lr=0.1, momentum=0.9)
    guarded = local_training_delta(model, data[0][:1], data[1][:1], steps=3, lr=0.1, momentum=0.9,
                                   defense=Outpost(seed=0))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert any(not torch.equal(plain[k], guarded[k]) for k in plain)
    with pytest.raises(ValueError, match="steps"):
        local_training_delta(model, data[0][:1], data[1][:1], steps=0, lr=0.1)


def test_compensation_error_reports_before_and_after():
    g = torch.Generator().manual_seed(0)
    clean = {"w": torch.outer(torch.randn(600, generator=g), torch.randn(100, generator=g)) * 0.05}
    noisy = {"w": clean["w"] + 0.01 * torch.randn(600, 100, generator=g)}
    before, after = compensation_error(clean, noisy, MarchenkoPasturCompensation(sigma=0.01, q=6))
    assert after < before
