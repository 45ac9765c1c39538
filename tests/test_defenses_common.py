"""Properties every defense must have (the class of bug in Plato's Outpost port included)."""

import pytest
import torch
import torch.nn.functional as F

from fl_course.defenses import (
    Defense,
    GaussianNoise,
    GradDefense,
    GradientCompression,
    LaplaceNoise,
    Outpost,
    Soteria,
)
from fl_course.federation.indexed_fedsgd import IndexedFedSGD
from fl_course.federation.local_sgd import protect_round_update
from fl_course.models import LeNetZhu


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    model = LeNetZhu(seed=0)
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([1, 7])
    names = [n for n, _ in model.named_parameters()]
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), model.parameters())
    root = (torch.rand(20, 1, 28, 28), torch.arange(20) % 10)
    return model, (x, y), dict(zip(names, grads)), root


FACTORIES = {
    "GC": lambda root, seed: GradientCompression(seed=seed),
    "DP-Gaussian": lambda root, seed: GaussianNoise(seed=seed),
    "DP-Laplace": lambda root, seed: LaplaceNoise(seed=seed),
    "Soteria": lambda root, seed: Soteria(seed=seed),
    "GradDefense": lambda root, seed: GradDefense(root, seed=seed),
    "GradDefense-size": lambda root, seed: GradDefense(slicing="size", seed=seed),
    "Outpost": lambda root, seed: Outpost(seed=seed),
}
RANDOM = {"DP-Gaussian", "DP-Laplace", "GradDefense", "GradDefense-size", "Outpost"}


@pytest.mark.parametrize("name", FACTORIES)
def test_returns_a_changed_update(setting, name):
    model, data, grad, root = setting
    out = FACTORIES[name](root, 0)(grad, model=model, data=data, step=0)
    assert set(out) == set(grad)
    assert all(out[k].shape == grad[k].shape for k in grad)
    changed = [k for k in grad if not torch.equal(out[k], grad[k])]
    assert changed, f"{name} returned the update unchanged"
    assert all(out[k] is not grad[k] for k in grad)


@pytest.mark.parametrize("name", FACTORIES)
def test_deterministic_under_a_seed(setting, name):
    model, data, grad, root = setting
    a = FACTORIES[name](root, 3)(grad, model=model, data=data)
    b = FACTORIES[name](root, 3)(grad, model=model, data=data)
    assert all(torch.equal(a[k], b[k]) for k in grad)
    if name in RANDOM:
        c = FACTORIES[name](root, 4)(grad, model=model, data=data)
        assert any(not torch.equal(a[k], c[k]) for k in grad)


@pytest.mark.parametrize("name", FACTORIES)
def test_reset_replays_the_noise(setting, name):
    model, data, grad, root = setting
    defense = FACTORIES[name](root, 5)
    first = defense(grad, model=model, data=data)
    defense.reset()
    again = defense(grad, model=model, data=data)
    assert all(torch.equal(first[k], again[k]) for k in grad)


@pytest.mark.parametrize("name", FACTORIES)
def test_input_is_not_mutated(setting, name):
    model, data, grad, root = setting
    before = {k: v.clone() for k, v in grad.items()}
    FACTORIES[name](root, 0)(grad, model=model, data=data)
    assert all(torch.equal(before[k], grad[k]) for k in grad)


@pytest.mark.parametrize("name", FACTORIES)
def test_is_a_defense_with_a_readable_repr(name):
    root = (torch.rand(10, 1, 28, 28), torch.arange(10))
    defense = FACTORIES[name](root, 0)
    assert isinstance(defense, Defense)
    assert type(defense).__name__ in repr(defense)


@pytest.mark.parametrize(
    "bad, error",
    [
        (None, TypeError),
        ({}, TypeError),
        ({"w": [1.0, 2.0]}, TypeError),
        ([torch.zeros(2)], TypeError),
    ],
)
def test_bad_updates_raise(bad, error):
    with pytest.raises(error, match="tensor|Tensor|dict"):
        GaussianNoise()(bad)


def test_bad_step_raises():
    with pytest.raises(ValueError, match="step"):
        GaussianNoise()({"w": torch.zeros(3)}, step=-1)


def test_keys_that_are_not_parameters_are_rejected(setting):
    model, data, grad, root = setting
    with pytest.raises(ValueError, match="parameter name"):
        GaussianNoise()({"nope": torch.zeros(3)}, model=model)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        GaussianNoise(seed=seed)


def test_round_protection_works_in_gradient_units(setting):
    model, data, grad, root = setting
    delta = {k: -0.1 * v for k, v in grad.items()}
    out = protect_round_update(
        GradientCompression(prune_rate=50), delta, global_model=model, data=data, lr=0.1
    )
    direct = GradientCompression(prune_rate=50)(grad, model=model)
    assert all(torch.allclose(out[k], -0.1 * direct[k]) for k in grad)


def test_defense_in_cafe_federations(setting):
    model, data, grad, root = setting
    gen = torch.Generator().manual_seed(0)
    clients = [(torch.rand(4, 1, 28, 28, generator=gen), torch.arange(4)) for _ in range(2)]
    plain = IndexedFedSGD(clients, batch_size=2, channels=(4, 8), seed=0)
    defended = IndexedFedSGD(
        clients, batch_size=2, channels=(4, 8), defense=GradDefense(root, seed=0), seed=0
    )
    out = defended.step(defended.choose_batch(0), update=False).gradients[0]
    clean = plain.step(plain.choose_batch(0), update=False).gradients[0]
    assert any(not torch.equal(out[k], clean[k]) for k in clean)


def test_soteria_runs_as_the_hfl_defense():
    gen = torch.Generator().manual_seed(0)
    clients = [(torch.rand(4, 1, 28, 28, generator=gen), torch.arange(4)) for _ in range(2)]
    soteria = Soteria(prune_rate=50)
    shared, batches = [], []

    def recording_soteria(gradient, *, model, data, step):
        batches.append((gradient, data))
        shared.append(soteria(gradient, model=model, data=data, step=step))
        return shared[-1]

    hfl = IndexedFedSGD(clients, batch_size=2, channels=(4, 8), defense=recording_soteria, seed=0)
    hfl.step(hfl.choose_batch(0), update=False)
    assert len(shared) == 2
    width = hfl.model.fc1.in_features
    for (raw, data), out in zip(batches, shared):
        assert (
            int((out["fc1.weight"].abs().sum(0) == 0).sum()) >= width // 2
        )  # half the features pruned
        direct = soteria(raw, model=hfl.model, data=data)
        assert all(torch.equal(out[k], direct[k]) for k in raw)
