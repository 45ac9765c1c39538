"""Tests for fl_course.federation.vertical: quarters, the VFL protocol, index alignment."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.federation.server_indexed import ServerIndexedFederation
from fl_course.federation.vertical import VerticalFL, join_quarters, split_quarters
from fl_course.models import BottomModel


def _data(n=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % 10


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.sampled_from([2, 14, 28]))
def test_quarters_round_trip(n, side):
    x = torch.rand(n, 1, side, side)
    parts = split_quarters(x)
    assert [p.shape[-1] for p in parts] == [side // 2] * 4
    assert torch.equal(join_quarters(parts), x)


@pytest.mark.parametrize("shape", [(2, 1, 27, 28), (28, 28)])
def test_split_quarters_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="even"):
        split_quarters(torch.zeros(shape))


@pytest.mark.parametrize("size,dim", [(14, 32 * 4 * 4), (28, 32 * 7 * 7)])
def test_bottom_model_shapes_and_seed(size, dim):
    a, b = BottomModel(size, seed=3), BottomModel(size, seed=3)
    x = torch.rand(2, 1, size, size)
    assert a.features(x).shape == (2, dim)
    assert torch.equal(a(x), b(x))
    assert torch.equal(a(x), a.head(a.features(x)))


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"channels": (0, 4)}, {"hidden": (8, 0)}])
def test_bottom_model_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        BottomModel(14, **kwargs)


def test_server_chooses_seeded_batches_without_replacement():
    x, y = _data(10)
    vfl = VerticalFL(x, y, batch_size=4, seed=1)
    b0 = vfl.choose_batch(0)
    assert torch.equal(b0, vfl.choose_batch(0))
    assert len(set(b0.tolist())) == 4 and b0.max() < 10
    assert any(not torch.equal(b0, vfl.choose_batch(t)) for t in range(1, 5))


def test_shared_gradients_equal_centralised_gradients():
    """The split protocol (outputs up, output gradients down) gives the true gradients."""
    x, y = _data(6)
    vfl = VerticalFL(x, y, batch_size=3, seed=0)
    idx = torch.tensor([0, 2, 5])
    step = vfl.step(idx, update=False)
    outs = [net(p[idx]) for net, p in zip(vfl.bottoms, split_quarters(x))]
    loss = F.cross_entropy(vfl.top(torch.cat(outs, 1)), y[idx])
    for module, shared in zip(vfl.blocks(), step.gradients):
        names, params = zip(*module.named_parameters())
        for n, g in zip(names, torch.autograd.grad(loss, params, retain_graph=True)):
            assert torch.allclose(shared[n], g, atol=1e-6)
    assert step.loss == pytest.approx(float(loss.detach()))


def test_index_alignment_fake_equals_real_gradient():
    """Fake data equal to the real samples at the batch's indices reproduce the shared gradient."""
    x, y = _data(6)
    vfl = VerticalFL(x, y, batch_size=3, seed=0)
    idx = vfl.choose_batch(2)
    real = vfl.step(idx, update=False).gradients
    fake = vfl.fake_gradients(x[idx], idx)
    for f, r in zip(fake, real):
        for n in r:
            assert torch.allclose(f[n], r[n], atol=1e-6)
    shifted = vfl.fake_gradients(x[(idx + 1) % 6], idx)  # misaligned samples do not match
    assert any(
        not torch.allclose(shifted[k][n], real[k][n], atol=1e-6) for k in range(5) for n in real[k]
    )


def test_defense_sees_each_worker_and_changes_what_server_sees():
    x, y = _data(6)
    seen, pieces = [], []

    def defense(grad, *, model, data, step):
        seen.append((next(m for m, net in enumerate(vfl.bottoms) if net is model), step))
        pieces.append(data)
        return {n: torch.zeros_like(g) for n, g in grad.items()}

    vfl = VerticalFL(x, y, batch_size=3, lr=0.1, defense=defense, seed=0)
    before = [p.clone() for p in vfl.bottoms[0].parameters()]
    idx = vfl.choose_batch(0)
    step = vfl.step(idx)
    assert seen == [(0, 0), (1, 0), (2, 0), (3, 0)]
    quarters = split_quarters(x[idx])
    assert all(
        torch.equal(piece, quarters[m]) and labels is None
        for m, (piece, labels) in enumerate(pieces)
    )
    assert all(float(g.abs().sum()) == 0 for block in step.gradients[1:] for g in block.values())
    assert all(torch.equal(a, b) for a, b in zip(before, vfl.bottoms[0].parameters()))


def test_training_reduces_loss():
    x, y = _data(16)
    vfl = VerticalFL(x, y, batch_size=16, lr=0.5, seed=0)
    first = vfl.step(torch.arange(16)).loss
    for _ in range(20):
        last = vfl.step(torch.arange(16)).loss
    assert last < first


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 99}, ValueError),
        ({"lr": -1.0}, ValueError),
        ({"batch_size": 2, "defense": 3}, TypeError),
        ({"batch_size": 2, "seed": -1}, ValueError),
    ],
)
def test_vertical_rejects_bad_settings(kwargs, err):
    x, y = _data(6)
    with pytest.raises(err):
        VerticalFL(x, y, **kwargs)


def test_vertical_rejects_bad_data():
    with pytest.raises(ValueError, match="28×28"):
        VerticalFL(torch.rand(4, 1, 14, 14), torch.arange(4), batch_size=2)
    with pytest.raises(ValueError, match="labels"):
        VerticalFL(torch.rand(4, 1, 28, 28), torch.arange(3), batch_size=2)


def test_is_a_server_indexed_federation_with_its_settings_in_repr():
    x, y = _data(6)
    vfl = VerticalFL(x, y, batch_size=3, seed=2)
    assert isinstance(vfl, ServerIndexedFederation)
    assert repr(vfl).startswith("VerticalFL(batch_size=3, lr=0.0") and "seed=2" in repr(vfl)


def test_device_defaults_to_the_cpu_at_ci_scale(monkeypatch):
    monkeypatch.delenv("FL_COURSE_SCALE", raising=False)
    images, labels = torch.rand(4, 1, 28, 28), torch.arange(4)
    assert VerticalFL(images, labels, batch_size=2, seed=0).images.device.type == "cpu"
    assert (
        VerticalFL(images, labels, batch_size=2, seed=0, device="cpu").top.weight.device.type
        == "cpu"
    )
