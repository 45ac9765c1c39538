"""Outpost's production setting: the client's SGD with momentum and weight decay, and its replay."""

import pytest
import torch
from torch import nn

from fl_course.attacks import IDLG, ObservedUpdate, client_fedavg_update
from fl_course.defenses import Outpost
from fl_course.experiments.production import (
    PLATO_PRODUCTION,
    default_initialised,
    local_training_delta,
    production_matrix,
)
from fl_course.federation.client import simulate_update
from fl_course.models import LeNetZhu

SETTINGS = [
    pytest.param(0.0, 0.0, id="plain SGD"),
    pytest.param(0.9, 0.0, id="momentum"),
    pytest.param(0.0, 0.05, id="weight decay"),
    pytest.param(0.9, 1e-4, id="Plato's production setting"),
]


def _tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 1, 28, 28, generator=g), torch.tensor([3, 1, 4, 1])


def _relative_error(a: dict, b: dict) -> float:
    num = sum(float((a[k] - b[k]).pow(2).sum()) for k in a) ** 0.5
    return num / sum(float(b[k].pow(2).sum()) for k in b) ** 0.5


def test_plato_production_setting_is_the_authors_config():
    # TL-System/plato examples: lr 0.01, momentum 0.9, weight decay 1e-4, 5 local steps
    assert PLATO_PRODUCTION == {"steps": 5, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}


@pytest.mark.parametrize("momentum, weight_decay", SETTINGS)
@pytest.mark.parametrize("create_graph", [False, True], ids=["victim", "attacker's graph"])
def test_replaying_the_clients_images_reproduces_its_delta(
    data, momentum, weight_decay, create_graph
):
    x, y = data[0][:1], data[1][:1]
    model = LeNetZhu(seed=0)
    client = local_training_delta(
        model, x, y, steps=5, lr=0.01, momentum=momentum, weight_decay=weight_decay
    )
    names = [n for n, _ in model.named_parameters()]
    replay = simulate_update(
        model,
        x,
        y,
        kind="delta",
        lr=0.01,
        local_epochs=5,
        batch_size=1,
        momentum=momentum,
        weight_decay=weight_decay,
        create_graph=create_graph,
    )
    replayed = {n: r.detach() for n, r in zip(names, replay)}
    # exact up to float32 rounding of the weights themselves (|W| < 0.5, one ulp ≈ 3e-8)
    for name in names:
        torch.testing.assert_close(replayed[name], client[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("momentum, weight_decay", SETTINGS[1:])
def test_the_optimiser_matters_so_a_plain_sgd_replay_is_mis_specified(data, momentum, weight_decay):
    x, y = data[0][:1], data[1][:1]
    model = LeNetZhu(seed=0)
    client = local_training_delta(
        model, x, y, steps=5, lr=0.01, momentum=momentum, weight_decay=weight_decay
    )
    informed = ObservedUpdate.delta(
        client,
        num_images=1,
        lr=0.01,
        local_epochs=5,
        batch_size=1,
        momentum=momentum,
        weight_decay=weight_decay,
    )
    plain = ObservedUpdate.delta(client, num_images=1, lr=0.01, local_epochs=5, batch_size=1)
    attack = IDLG(iterations=1, progress=False)
    assert attack.verify(model, x, y, informed, rtol=1e-5) < 1e-5
    with pytest.raises(ValueError, match="momentum and weight decay"):
        attack.verify(model, x, y, plain, rtol=1e-3)


def test_client_fedavg_update_with_momentum_is_torch_sgd_on_full_batches(data):
    x, y = data
    model = LeNetZhu(seed=0)
    update = client_fedavg_update(
        model, x, y, lr=0.01, local_epochs=3, momentum=0.9, weight_decay=1e-2
    )
    client = local_training_delta(model, x, y, steps=3, lr=0.01, momentum=0.9, weight_decay=1e-2)
    assert (update.momentum, update.weight_decay) == (0.9, 1e-2)
    assert _relative_error(update.tensors, client) < 1e-5


def test_momentum_replay_is_differentiable_in_the_images(data):
    x = data[0][:1].clone().requires_grad_(True)
    model = LeNetZhu(seed=0)
    deltas = simulate_update(
        model,
        x,
        data[1][:1],
        kind="delta",
        lr=0.01,
        local_epochs=3,
        batch_size=1,
        momentum=0.9,
        weight_decay=1e-4,
        create_graph=True,
    )
    (grad,) = torch.autograd.grad(sum(d.pow(2).sum() for d in deltas), x)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0


def test_observed_update_checks_the_optimiser():
    tensors = {"w": torch.zeros(2)}
    with pytest.raises(ValueError, match="momentum"):
        ObservedUpdate.delta(tensors, num_images=1, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        ObservedUpdate.delta(tensors, num_images=1, lr=0.1, weight_decay=-1e-4)
    with pytest.raises(ValueError, match="FedSGD gradient"):
        ObservedUpdate(tensors, kind="gradient", momentum=0.9)


def test_local_training_delta_is_protected_and_leaves_model_alone(data):
    model = _tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    plain = local_training_delta(model, data[0][:1], data[1][:1], steps=3, lr=0.1, momentum=0.9)
    guarded = local_training_delta(
        model, data[0][:1], data[1][:1], steps=3, lr=0.1, momentum=0.9, defense=Outpost(seed=0)
    )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert any(not torch.equal(plain[k], guarded[k]) for k in plain)
    with pytest.raises(ValueError, match="steps"):
        local_training_delta(model, data[0][:1], data[1][:1], steps=0, lr=0.1)


def test_default_initialised_shrinks_lenet_weights():
    explicit = LeNetZhu(seed=0)
    default = default_initialised(LeNetZhu(seed=0), seed=0)
    assert float(explicit.fc.weight.detach().var()) == pytest.approx(1 / 12, rel=0.1)
    assert float(default.fc.weight.detach().var()) < 0.01 * float(explicit.fc.weight.detach().var())


@pytest.mark.parametrize("replay", ["client", "plain SGD"])
def test_production_matrix_one_row_per_defense_and_image(data, replay):
    x, y = data
    table = production_matrix(
        lambda: LeNetZhu(seed=0),
        x[:2],
        y[:2],
        {"none": None, "Outpost": Outpost(seed=0)},
        IDLG(iterations=1, progress=False),
        steps=2,
        lr=0.01,
        momentum=0.9,
        weight_decay=1e-4,
        replay=replay,
        progress=False,
    )
    assert len(table) == 4
    assert set(table.columns) == {"defense", "image", "replay", "psnr", "ssim", "mse"}
    assert (table["replay"] == replay).all()
    with pytest.raises(ValueError, match="replay"):
        production_matrix(
            lambda: LeNetZhu(seed=0),
            x[:1],
            y[:1],
            {"none": None},
            IDLG(iterations=1),
            steps=1,
            lr=0.01,
            replay="adam",
            progress=False,
        )
