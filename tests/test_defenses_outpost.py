import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fl_course.defenses import Outpost, fisher_mask, parameter_risk
from fl_course.models import LeNetZhu


@pytest.fixture(scope="module")
def lenet():
    model = LeNetZhu(seed=0)
    x, y = torch.rand(1, 1, 28, 28), torch.tensor([2])
    names = [n for n, _ in model.named_parameters()]
    return model, dict(
        zip(names, torch.autograd.grad(F.cross_entropy(model(x), y), model.parameters()))
    )


@pytest.mark.parametrize(
    "beta, t, p",
    [(0.125, 0, 1.0), (0.125, 8, 0.5), (0.125, 24, 0.25), (0.0, 100, 1.0), (1.0, 3, 0.25)],
)
def test_probability_schedule(beta, t, p):
    assert Outpost(beta=beta).probability(t) == pytest.approx(p)


@pytest.mark.parametrize("t", [0, 8, 24])
def test_empirical_perturbation_rate_follows_the_schedule(lenet, t):
    model, grad = lenet
    small = {"fc.bias": grad["fc.bias"]}
    outpost = Outpost(seed=0)
    hits = 0
    for _ in range(400):
        outpost(small, model=model, step=t)
        hits += outpost.last_perturbed
    assert abs(hits / 400 - outpost.probability(t)) < 0.07


def test_fisher_mask_selects_the_top_phi_percent(lenet):
    _, grad = lenet
    names = list(grad)
    masks = fisher_mask(grad, names, 40.0)
    flat_fim = torch.cat([grad[k].reshape(-1) ** 2 for k in names])
    flat_mask = torch.cat([masks[k].reshape(-1) for k in names])
    assert int(flat_mask.sum()) == int(0.4 * flat_fim.numel())
    assert flat_fim[flat_mask].min() >= flat_fim[~flat_mask].max()


def test_noise_lands_on_fisher_selected_entries_and_rest_is_pruned(lenet):
    model, grad = lenet
    out = Outpost(phi=40, prune_base=80, noise_base=0.8, seed=1)(grad, model=model, step=0)
    masks = fisher_mask(grad, list(grad), 40)
    risk = parameter_risk(model)
    for k in grad:
        pruned = out[k][~masks[k]]
        kept = grad[k][~masks[k]]
        assert torch.all((pruned == 0) | (pruned == kept)), k  # untouched or pruned, never noised
        if risk[k] > 0 and masks[k].any():
            assert not torch.equal(out[k][masks[k]], grad[k][masks[k]])


def test_pruning_rate(lenet):
    model, grad = lenet
    out = Outpost(phi=0, prune_base=80, seed=0)(grad, model=model)
    for k, v in grad.items():
        assert int((out[k] == 0).sum()) >= int(0.8 * v.numel())


def test_noise_scale_is_risk_times_noise_base():
    model = torch.nn.Linear(400, 500)
    with torch.no_grad():
        model.weight.normal_(0, 0.5)  # variance 0.25
    grad = {"weight": torch.ones(500, 400), "bias": torch.ones(500)}
    out = Outpost(phi=100, prune_base=0, noise_base=0.8, seed=0)(grad, model=model)
    risk = parameter_risk(model)["weight"]
    assert abs(float((out["weight"] - 1).std()) - 0.8 * risk) < 0.01


def test_risk_is_capped_at_one():
    model = torch.nn.Linear(10, 10)
    with torch.no_grad():
        model.weight.mul_(100)
    assert parameter_risk(model)["weight"] == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beta": -0.1}, "beta"),
        ({"phi": 120}, "phi"),
        ({"prune_base": -5}, "prune_base"),
        ({"noise_base": -1}, "noise_base"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Outpost(**kwargs)


def test_needs_the_model(lenet):
    with pytest.raises(ValueError, match="model"):
        Outpost()(lenet[1])


def test_weak_setting_warns():
    with pytest.warns(UserWarning, match="intact"):
        Outpost(prune_base=5, noise_base=0)


def test_noise_to_gradient_is_risk_times_base_over_rms():
    from fl_course.defenses import noise_to_gradient, parameter_risk

    layer = nn.Linear(4, 2)
    grad = {"weight": torch.full((2, 4), 0.5), "bias": torch.tensor([3.0, -4.0])}
    table = noise_to_gradient(layer, grad, noise_base=0.8).set_index("layer")
    risk = parameter_risk(layer)
    assert table.loc["weight", "noise_to_gradient"] == pytest.approx(risk["weight"] * 0.8 / 0.5)
    assert table.loc["bias", "noise_to_gradient"] == pytest.approx(
        risk["bias"] * 0.8 / math.sqrt(12.5)
    )
