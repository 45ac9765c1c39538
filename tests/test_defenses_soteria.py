import pytest
import torch
import torch.nn.functional as F

from fl_course.defenses import Soteria, representation_scores
from fl_course.models import ConvNet, LeNetZhu


@pytest.mark.parametrize(
    "model_fn, layer", [(lambda: LeNetZhu(seed=0), "fc"), (lambda: ConvNet(width=4, seed=0), "fc")]
)
@pytest.mark.parametrize("rate", [30.0, 80.0])
def test_prunes_the_lowest_scoring_feature_columns(model_fn, layer, rate):
    model = model_fn()
    features = model.get_submodule(layer).in_features
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([0, 5])
    names = [n for n, _ in model.named_parameters()]
    grad = dict(zip(names, torch.autograd.grad(F.cross_entropy(model(x), y), model.parameters())))
    out = Soteria(prune_rate=rate)(grad, model=model, data=(x, y))
    scores, r = representation_scores(model, x, layer)
    assert scores.shape == (features,) and r.shape == (2, features)
    zero_cols = out[f"{layer}.weight"].abs().sum(0) == 0
    removed = int(rate / 100 * features)
    assert int(zero_cols.sum()) >= removed
    pruned_by_us = zero_cols & (grad[f"{layer}.weight"].abs().sum(0) != 0)
    if pruned_by_us.any() and (~zero_cols).any():
        assert scores[pruned_by_us].max() <= scores[~zero_cols].min()
    assert all(torch.equal(out[k], grad[k]) for k in grad if k != f"{layer}.weight")


def test_scores_match_a_direct_jacobian():
    model = LeNetZhu(seed=1)
    x = torch.rand(1, 1, 28, 28)
    scores, r = representation_scores(model, x, "fc", chunk=50)
    jac = torch.autograd.functional.jacobian(lambda z: model.body(z).flatten(1), x).reshape(588, -1)
    expected = jac.norm(dim=1) / r[0].abs()
    assert torch.allclose(scores, expected, rtol=1e-4)


def test_needs_model_and_data():
    model = LeNetZhu(seed=0)
    update = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    with pytest.raises(ValueError, match="batch"):
        Soteria()(update, model=model)
    with pytest.raises(ValueError, match="layer"):
        Soteria(layer="body.0")(
            update, model=model, data=(torch.rand(1, 1, 28, 28), torch.tensor([1]))
        )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"prune_rate": 150}, ValueError),
        ({"max_samples": 0}, ValueError),
        ({"layer": 3}, TypeError),
    ],
)
def test_bad_settings_raise(kwargs, error):
    with pytest.raises(error):
        Soteria(**kwargs)


def test_cached_ratios_give_the_same_update_as_a_fresh_defense():
    """Soteria reuses each example's ratios while the weights stay; results must not change."""
    model = LeNetZhu(seed=0)
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5])
    names = [n for n, _ in model.named_parameters()]
    cached = Soteria(prune_rate=50)
    for batch in ([0, 1, 2], [2, 3, 4], [4, 5, 0], [1, 1, 5]):
        xb, yb = x[batch], y[batch]
        grad = dict(
            zip(names, torch.autograd.grad(F.cross_entropy(model(xb), yb), model.parameters()))
        )
        fresh = Soteria(prune_rate=50)(grad, model=model, data=(xb, yb))
        again = cached(grad, model=model, data=(xb, yb))
        assert all(torch.allclose(fresh[k], again[k]) for k in grad)
    with torch.no_grad():
        next(model.parameters()).mul_(0.5)  # new features: the cached ratios must not be reused
    grad = dict(
        zip(names, torch.autograd.grad(F.cross_entropy(model(x[:3]), y[:3]), model.parameters()))
    )
    fresh = Soteria(prune_rate=50)(grad, model=model, data=(x[:3], y[:3]))
    assert all(
        torch.equal(fresh[k], cached(grad, model=model, data=(x[:3], y[:3]))[k]) for k in grad
    )
