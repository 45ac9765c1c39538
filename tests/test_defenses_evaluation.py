import pandas as pd
import pytest
import torch
from torch import nn

from fl_course.attacks import InvertingGradients
from fl_course.defenses import (
    GaussianNoise,
    GradientCompression,
    MarchenkoPasturCompensation,
)
from fl_course import metrics
from fl_course.defenses.evaluation import (
    attack_matrix,
    cafe_matrix,
    compensation_error,
    compensation_split,
    federated_run,
    federated_utility,
    paper_defenses,
    privacy_summary,
)
from fl_course.models import ConvNet


def _tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(24, 1, 28, 28, generator=g), torch.arange(24) % 10


def test_paper_defenses_are_table_ii_settings(data):
    gia = paper_defenses(data, attack="GIA", seed=0)
    assert list(gia) == [
        "none",
        "GC",
        "DP-Gaussian",
        "DP-Laplace",
        "Soteria",
        "GradDefense",
        "Outpost",
    ]
    # GradDefense Sec. VI-B: GC 90 %, PLD 80 %, γ = 0.3 against GIA; σ = 1e-2, no clipping
    assert gia["GC"].prune_rate == 90 and gia["Soteria"].prune_rate == 80
    assert gia["GradDefense"].perturb_fraction == 0.3 and gia["GradDefense"].num_perturbed == 3
    assert gia["GradDefense"].clip is False and gia["GradDefense"].sigma == 1e-2
    assert (
        gia["DP-Gaussian"].sigma == 1e-2
        and gia["DP-Laplace"].scale == 1e-2
        and gia["Outpost"].phi == 40
    )
    dga = paper_defenses(data, attack="DGA", seed=0)
    assert (
        dga["GC"].prune_rate == 80
        and dga["Soteria"].prune_rate == 60
        and dga["GradDefense"].num_perturbed == 2
    )
    with pytest.raises(ValueError, match="GIA"):
        paper_defenses(data, attack="CAFE")


def test_only_formal_dp_is_marked_formal_and_placements_follow_the_papers(data):
    defenses = paper_defenses(data, seed=0)
    assert not any(d.formal for d in defenses.values() if d is not None)
    assert defenses["Outpost"].placement == "step" and defenses["GradDefense"].placement == "round"


def test_attack_matrix_has_one_row_per_cell(data):
    x, y = data
    defenses = {"none": None, "GC": GradientCompression()}
    attacks = {"IG": InvertingGradients(iterations=2, progress=False)}
    table, recs = attack_matrix(
        lambda: ConvNet(width=2, seed=0), x[:2], y[:2], defenses, attacks, progress=False
    )
    assert len(table) == 4 and set(table.columns) >= {"psnr", "ssim", "mse", "seconds"}
    assert recs[("GC", "IG")].shape == (2, 1, 28, 28)


@pytest.mark.needs_mnist
def test_cafe_matrix_one_row_per_defense_and_noise_stops_cafe():
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


def test_warm_start_is_loaded(learnable):
    from fl_course.fedavg import FedAvg

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
