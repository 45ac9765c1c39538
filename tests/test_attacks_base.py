"""Tests for the shared attack interface and the victim-side helpers."""

import inspect

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from fl_course.attacks import (
    DLG,
    IDLG,
    AnalyticAttack,
    FedAvgInvertingGradients,
    InvertingGradients,
    ObservedUpdate,
    ThreatModel,
    client_fedavg_update,
    client_gradient,
)
from fl_course.attacks.base import AttackResult, order_like
from fl_course.federation.client import classification_loss, simulate_update
from fl_course.models import MLP, ConvNet, LeNetZhu

ATTACKS = [AnalyticAttack, DLG, IDLG, InvertingGradients, FedAvgInvertingGradients]


def _data(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_client_gradient_is_mean_cross_entropy_gradient():
    model = LeNetZhu(seed=0)
    x, y = _data(3)
    update = client_gradient(model, x, y)
    loss = F.cross_entropy(model(x), y)
    expected = torch.autograd.grad(loss, list(model.parameters()))
    for got, want in zip(update.parameters_of(model), expected):
        assert torch.allclose(got, want)
    assert update.kind == "gradient" and update.num_images == 3


def test_fedavg_update_matches_torch_sgd_in_order():
    model = ConvNet(width=4, seed=1)
    x, y = _data(4)
    update = client_fedavg_update(model, x, y, lr=0.05, local_epochs=2, batch_size=2)
    reference = ConvNet(width=4, seed=1)
    opt = torch.optim.SGD(reference.parameters(), lr=0.05)
    for _ in range(2):
        for s in (0, 2):
            opt.zero_grad()
            F.cross_entropy(reference(x[s : s + 2]), y[s : s + 2]).backward()
            opt.step()
    for (name, p0), p1 in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(update.tensors[name], p1.detach() - p0.detach(), atol=1e-6)
    assert update.local_steps == 4


def test_one_full_batch_step_delta_is_minus_lr_gradient():
    model = LeNetZhu(seed=0)
    x, y = _data(2)
    grad = client_gradient(model, x, y)
    delta = client_fedavg_update(model, x, y, lr=0.1)
    for name in grad.tensors:
        assert torch.allclose(delta.as_gradient(name), grad.tensors[name], atol=1e-5)


@pytest.mark.parametrize("cls", ATTACKS)
def test_attacker_and_victim_share_the_loss_function(cls):
    # The victim helpers and every attack default to the very same loss object.
    for helper in (client_gradient, client_fedavg_update, simulate_update):
        assert inspect.signature(helper).parameters["loss_fn"].default is classification_loss
    assert cls().loss_fn is classification_loss
    logits, labels = torch.randn(5, 10), torch.randint(0, 10, (5,))
    assert torch.allclose(classification_loss(logits, labels), F.cross_entropy(logits, labels))


@pytest.mark.parametrize("fedavg", [None, {"lr": 0.1, "local_epochs": 2, "batch_size": 1}])
def test_verify_accepts_matching_loss_and_catches_half_cross_entropy(fedavg):
    model = LeNetZhu(seed=0)
    x, y = _data(2)
    attack = InvertingGradients(progress=False)

    def half_ce(logits, labels):
        return 0.5 * F.cross_entropy(logits, labels)

    if fedavg is None:
        good, bad = client_gradient(model, x, y), client_gradient(model, x, y, loss_fn=half_ce)
    else:
        good = client_fedavg_update(model, x, y, **fedavg)
        bad = client_fedavg_update(model, x, y, loss_fn=half_ce, **fedavg)
    assert attack.verify(model, x, y, good) < 1e-5
    with pytest.raises(ValueError, match="same loss"):
        attack.verify(model, x, y, bad)


def test_plain_dict_is_read_as_gradient():
    model = MLP(hidden=(16,), seed=0)
    x, y = _data(1)
    grads = client_gradient(model, x, y).tensors
    result = AnalyticAttack().reconstruct(model, dict(grads))
    assert isinstance(result, AttackResult)
    assert isinstance(result.history, pd.DataFrame)
    assert list(result.history.columns) == ["restart", "iteration", "loss", "psnr"]


@pytest.mark.parametrize("cls", ATTACKS)
def test_threat_model_card(cls):
    card = cls.threat_model
    assert isinstance(card, ThreatModel)
    frame = card.to_frame()
    assert list(frame.columns) == ["aspect", "assumption"]
    assert "honest-but-curious" in frame.set_index("aspect").loc["server", "assumption"]
    assert "<table" in card._repr_html_()


def test_order_like_undoes_a_permutation():
    x, _ = _data(4)
    perm = torch.tensor([2, 0, 3, 1])
    assert torch.equal(order_like(x[perm], x), x)


@pytest.mark.parametrize(
    "make,error",
    [
        (lambda: ObservedUpdate({}, kind="gradient"), TypeError),
        (lambda: ObservedUpdate({"w": 1.0}), TypeError),
        (lambda: ObservedUpdate({"w": torch.zeros(1)}, kind="weights"), ValueError),
        (lambda: ObservedUpdate({"w": torch.zeros(1)}, num_images=0), ValueError),
        (lambda: ObservedUpdate.delta({"w": torch.zeros(1)}, num_images=1, lr=0.0), ValueError),
        (
            lambda: ObservedUpdate.delta(
                {"w": torch.zeros(1)}, num_images=1, lr=0.1, local_epochs=0
            ),
            ValueError,
        ),
        (
            lambda: ObservedUpdate.delta({"w": torch.zeros(1)}, num_images=1, lr=0.1, batch_size=0),
            ValueError,
        ),
    ],
)
def test_bad_updates(make, error):
    with pytest.raises(error):
        make()


def test_reconstruct_rejects_bad_arguments():
    model = LeNetZhu(seed=0)
    x, y = _data(1)
    update = client_gradient(model, x, y)
    attack = IDLG(iterations=1, progress=False)
    with pytest.raises(ValueError, match="labels"):
        attack.reconstruct(model, update, labels=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="data_shape"):
        attack.reconstruct(model, update, data_shape=(28, 28))
    with pytest.raises(ValueError, match="no entry"):
        attack.reconstruct(ConvNet(width=4, seed=0), update)
    with pytest.raises(TypeError):
        attack.reconstruct("model", update)
    with pytest.raises(ValueError, match="seed"):
        IDLG(seed=-1)
