"""Tests for fl_course.experiments.defenses: attack matrices, utility runs, compensation, DP-SGD."""

import math

import pandas as pd
import pytest
import torch
from torch import nn

from fl_course import metrics
from fl_course.attacks import InvertingGradients
from fl_course.defenses import GaussianNoise, GradientCompression, MarchenkoPasturCompensation
from fl_course.defenses.formal_dp import DPSGD, identification_bound
from fl_course.experiments.defenses import (
    attack_matrix,
    compensation_error,
    compensation_split,
    federated_run,
    federated_utility,
    identification_rate,
    privacy_summary,
)
from fl_course.models import ConvNet, LogisticRegression

DELTA = 1e-5


def _tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(24, 1, 28, 28, generator=g), torch.arange(24) % 10


def test_attack_matrix_has_one_row_per_cell(data):
    x, y = data
    defenses = {"none": None, "GC": GradientCompression()}
    attacks = {"IG": InvertingGradients(iterations=2, progress=False)}
    table, recs = attack_matrix(
        lambda: ConvNet(width=2, seed=0), x[:2], y[:2], defenses, attacks, progress=False
    )
    assert len(table) == 4 and set(table.columns) >= {"psnr", "ssim", "mse", "seconds"}
    assert recs[("GC", "IG")].shape == (2, 1, 28, 28)


@pytest.fixture(scope="module")
def learnable():
    """Ten separable classes: a bright 4×4 patch whose position is the label, plus noise."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 10
    x = 0.1 * torch.rand(200, 1, 28, 28, generator=g)
    for i, c in enumerate(y.tolist()):
        x[i, 0, 2 * c : 2 * c + 4, 2 * c : 2 * c + 4] += 1.0
    return x, y


def test_federated_utility_measures_a_destructive_defense(learnable):
    x, y = learnable
    clients = [(x[:100], y[:100]), (x[100:], y[100:])]
    table = federated_utility(
        _tiny_model,
        clients,
        (x, y),
        {
            "none": None,
            "loud DP": GaussianNoise(5.0, seed=0),
            "quiet DP": GaussianNoise(1e-3, seed=0),
        },
        seeds=(0, 1),
        extra_seeds_below=2.0,
        rounds=2,
        batch_size=20,
        lr=0.5,
        progress=False,
    ).set_index("defense")
    assert table.loc["none", "accuracy"] > 90  # the task is learnable
    assert table.loc["loud DP", "accuracy_drop"] > 30  # σ = 5 on −Δ/η swamps the update
    assert abs(table.loc["quiet DP", "accuracy_drop"]) < 2
    # the second seed runs only where one seed cannot separate the defense from no defense
    assert (
        table.loc["loud DP", "n"] == 1
        and table.loc["quiet DP", "n"] == 2
        and table.loc["none", "n"] == 2
    )
    assert (table.loc[table["accuracy_drop"].abs() < 2, "n"] == 2).all()  # small drops: all seeds
    assert table.loc["loud DP", "placement"] == "round" and not table["formal"].any()
    with pytest.raises(ValueError, match="none"):
        federated_utility(_tiny_model, clients, (x, y), {"DP": GaussianNoise()}, rounds=1)
    with pytest.raises(ValueError, match="seeds"):
        federated_utility(_tiny_model, clients, (x, y), {"none": None}, rounds=1, seed=0)


def test_federated_run_places_the_defense_per_round_or_per_step(learnable):
    x, y = learnable
    clients = [(x[:100], y[:100]), (x[100:], y[100:])]
    per_round = federated_run(
        _tiny_model, clients, (x, y), GradientCompression(50.0), rounds=2, batch_size=20
    )
    per_step = federated_run(
        _tiny_model,
        clients,
        (x, y),
        GradientCompression(50.0),
        placement="step",
        rounds=2,
        batch_size=20,
    )
    assert per_round["defense_calls"] == 2 * 2  # two clients, two rounds
    assert per_step["defense_calls"] == 2 * 2 * 5  # and five local steps each
    with pytest.raises(ValueError, match="placement"):
        federated_run(
            _tiny_model, clients, (x, y), GradientCompression(), placement="sometimes", rounds=1
        )
    run = federated_run(
        _tiny_model, clients, (x, y), (None, MarchenkoPasturCompensation(sigma=1e-3)), rounds=1
    )
    assert run["defense_calls"] == 0


def test_federated_run_times_the_one_time_setup_apart_from_the_rounds(learnable):
    from fl_course.defenses import GradDefense

    x, y = learnable
    clients = [(x[:100], y[:100]), (x[100:], y[100:])]
    root = (x[:20], y[:20])
    model_fn = lambda: ConvNet(width=2, seed=0)  # noqa: E731
    once = federated_run(model_fn, clients, (x, y), GradDefense(root), rounds=2, batch_size=50)
    assert once["setup_cpu_seconds"] > 0  # the layer risks, before the first round
    every_round = federated_run(
        model_fn, clients, (x, y), GradDefense(root, risk_refresh="round"), rounds=2, batch_size=50
    )
    assert every_round["setup_cpu_seconds"] < once["setup_cpu_seconds"]  # nothing done once
    assert every_round["defense_cpu_seconds"] > once["defense_cpu_seconds"]  # paid in the rounds
    plain = federated_run(_tiny_model, clients, (x, y), GradientCompression(), rounds=1)
    assert plain["setup_cpu_seconds"] < once["setup_cpu_seconds"]


def test_warm_start_is_loaded(learnable):
    from fl_course.federation import FedAvg

    x, y = learnable
    clients = [(x[:100], y[:100]), (x[100:], y[100:])]
    warm = FedAvg(
        _tiny_model, clients, test_data=(x, y), rounds=3, batch_size=20, lr=0.5, progress=False
    )
    warm.run()
    frozen = dict(lr=1e-6, rounds=1, batch_size=200)  # one negligible step: accuracy is the start's
    assert (
        federated_run(
            _tiny_model, clients, (x, y), initial_state=warm.model.state_dict(), **frozen
        )["accuracy"]
        > 90
    )
    assert federated_run(_tiny_model, clients, (x, y), **frozen)["accuracy"] < 50


def test_privacy_summary_judges_against_the_best_trivial_guess(data):
    x = data[0][:3]
    rows = [
        {
            "defense": "leaks",
            "attack": "A",
            "image": i,
            "psnr": float(metrics.psnr(x[i : i + 1], x[i : i + 1] * 0.99)),
            "ssim": 1.0,
        }
        for i in range(3)
    ]
    rows += [
        {
            "defense": "blank",
            "attack": "A",
            "image": i,
            "psnr": float(metrics.psnr(x[i : i + 1], torch.zeros_like(x[i : i + 1]))),
            "ssim": 0.0,
        }
        for i in range(3)
    ]
    # (seed 1: the fixture's images are themselves seed-0 uniform noise)
    summary = privacy_summary(pd.DataFrame(rows), x, x.mean(0), margin=1.0, seed=1)
    trivial = metrics.trivial_guesses(x, x.mean(0), seed=1)
    assert summary.loc[("leaks", "A"), "psnr_trivial_best"] == pytest.approx(
        float(trivial["psnr"].max())
    )
    assert not summary.loc[("leaks", "A"), "stops"] and summary.loc[("blank", "A"), "stops"]


def test_compensation_error_reports_before_and_after():
    g = torch.Generator().manual_seed(0)
    clean = {"w": torch.outer(torch.randn(600, generator=g), torch.randn(100, generator=g)) * 0.05}
    noisy = {"w": clean["w"] + 0.01 * torch.randn(600, 100, generator=g)}
    before, after = compensation_error(clean, noisy, MarchenkoPasturCompensation(sigma=0.01, q=6))
    assert after < before


def test_compensation_split_paper_scale_is_identity_at_q6_and_wipes_at_q1():
    g = torch.Generator().manual_seed(0)
    clean = {
        "w": torch.outer(torch.randn(600, generator=g), torch.randn(100, generator=g)) * 1e-3
        + 1e-4 * torch.randn(600, 100, generator=g)
    }
    noisy = {"w": clean["w"] + 1e-5 * torch.randn(600, 100, generator=g)}
    # an assumed σ far above everything in the update (the paper's scale for deltas)
    big6 = compensation_split(clean, noisy, MarchenkoPasturCompensation(sigma=0.1, q=6))
    big1 = compensation_split(clean, noisy, MarchenkoPasturCompensation(sigma=0.1, q=1))
    assert (
        big6["signal_kept"] == pytest.approx(1.0, abs=1e-6)
        and big6["directions_kept"] == big6["directions"]
    )
    assert big1["signal_kept"] < 0.05 and big1["error_after"] == pytest.approx(1.0, abs=0.05)
    # an assumed σ matching the noise keeps the spike and drops most of the noise
    matched = compensation_split(clean, noisy, MarchenkoPasturCompensation(sigma=1e-4, q=6))
    assert matched["noise_kept"] < 0.5 and matched["signal_kept"] > 0.5


def test_identification_rate_respects_the_bound_and_rises_with_epsilon():
    model = LogisticRegression(in_features=16, num_classes=3, seed=0)
    g = torch.Generator().manual_seed(7)
    prior = torch.rand(10, 1, 4, 4, generator=g), torch.randint(0, 3, (10,), generator=g)
    strict = identification_rate(model, prior, DPSGD(0.5, seed=0), trials=400, seed=0)
    bound = identification_bound(0.5, DELTA, 10)
    assert strict <= bound + 3 * math.sqrt(bound * (1 - bound) / 400)
    loose = identification_rate(model, prior, DPSGD(1e4, seed=0), trials=50, seed=0)
    assert loose >= 0.9  # almost no noise: the optimal attacker names the victim
