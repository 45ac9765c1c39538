"""Tests for fl_course.federation.indexed_fedsgd: FedSGD aggregation, the server's batch choice."""

import pytest
import torch
import torch.nn.functional as F

from fl_course.federation.indexed_fedsgd import IndexedFedSGD
from fl_course.federation.server_indexed import ServerIndexedFederation


def _clients(m=4, n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % 10) for _ in range(m)]


@pytest.mark.parametrize("balanced", [True, False])
def test_aggregate_is_the_mean_over_the_batch(balanced):
    hfl = IndexedFedSGD(_clients(), batch_size=2, balanced=balanced, seed=0)
    idx = hfl.choose_batch(0)
    assert len(idx) == 8 and len(set(idx.tolist())) == 8
    step = hfl.step(idx, update=False)
    loss = F.cross_entropy(hfl.model(hfl.images[idx]), hfl.labels[idx])  # equal sample weights
    names, params = zip(*hfl.model.named_parameters())
    for n, g in zip(names, torch.autograd.grad(loss, params)):
        assert torch.allclose(step.gradients[0][n], g, atol=1e-6)


def test_balanced_batches_take_batch_size_from_every_worker():
    hfl = IndexedFedSGD(_clients(n=5), batch_size=2, seed=0)
    owners = torch.div(hfl.choose_batch(7), 5, rounding_mode="floor")
    assert torch.bincount(owners, minlength=4).tolist() == [2, 2, 2, 2]


def test_fake_gradients_match_with_true_data_and_one_hot_labels():
    hfl = IndexedFedSGD(_clients(), batch_size=2, balanced=False, seed=0)
    idx = hfl.choose_batch(1)
    real = hfl.step(idx, update=False).gradients[0]
    logits = 50 * F.one_hot(hfl.labels[idx], 10).float()
    fake = hfl.fake_gradients(hfl.images[idx], idx, logits)[0]
    assert all(torch.allclose(fake[n], real[n], atol=1e-5) for n in real)
    with pytest.raises(ValueError, match="label_logits"):
        hfl.fake_gradients(hfl.images[idx], idx)


def test_defense_and_update():
    calls, batches = [], []

    def defense(grad, *, model, data, step):
        first = (hfl.images == data[0][0]).flatten(1).all(1).nonzero()[0].item()
        calls.append(first // 6)  # six samples per worker
        batches.append(data)
        assert model is hfl.model and step == 0
        return grad

    hfl = IndexedFedSGD(_clients(), batch_size=2, lr=0.1, defense=defense, seed=0)
    before = [p.clone() for p in hfl.model.parameters()]
    idx = hfl.choose_batch(0)
    hfl.step(idx)
    assert calls == [0, 1, 2, 3]
    for m, (images, labels) in enumerate(batches):  # each worker's own samples of the batch
        local = idx[2 * m : 2 * m + 2]
        assert torch.equal(images, hfl.images[local]) and torch.equal(labels, hfl.labels[local])
    assert any(not torch.equal(a, b) for a, b in zip(before, hfl.model.parameters()))


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({"batch_size": 9}, ValueError),
        ({"lr": -0.1}, ValueError),
        ({"batch_size": 2, "defense": "x"}, TypeError),
        ({"batch_size": 2, "seed": -1}, ValueError),
    ],
)
def test_rejects_bad_settings(kwargs, err):
    with pytest.raises(err):
        IndexedFedSGD(_clients(), **kwargs)


def test_rejects_empty_clients():
    with pytest.raises(ValueError, match="non-empty"):
        IndexedFedSGD([])


def test_is_a_server_indexed_federation_with_its_settings_in_repr():
    hfl = IndexedFedSGD(_clients(), batch_size=2, seed=1)
    assert isinstance(hfl, ServerIndexedFederation)
    assert repr(hfl).startswith("IndexedFedSGD(batch_size=2, balanced=True") and "seed=1" in repr(
        hfl
    )


def test_device_defaults_to_the_cpu_at_ci_scale(monkeypatch):
    monkeypatch.delenv("FL_COURSE_SCALE", raising=False)
    assert IndexedFedSGD(_clients(), batch_size=2, seed=0).images.device.type == "cpu"
    assert (
        IndexedFedSGD(_clients(), batch_size=2, seed=0, device="cpu").model.fc1.weight.device.type
        == "cpu"
    )
