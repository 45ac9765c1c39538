"""Tests for fl_course.federation.local_sgd: the defended local step and the round protection."""

import pytest
import torch
from torch import nn

from fl_course.defenses import GaussianNoise, GradientCompression, Outpost
from fl_course.federation.fedavg import FedAvg
from fl_course.federation.local_sgd import (
    DefendedOptimizer,
    block_gradients,
    local_sgd_step,
    protect_round_update,
    sgd_update,
)


def test_gradients_are_replaced_before_the_optimizer_step():
    model = nn.Linear(6, 3)
    guard = DefendedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1),
        model=model,
        defense=GradientCompression(prune_rate=50),
    )
    nn.functional.cross_entropy(model(torch.randn(4, 6)), torch.tensor([0, 1, 2, 0])).backward()
    guard.pre_step(data=None)
    assert int((model.weight.grad == 0).sum()) == 9 and guard.calls == 1
    plain = DefendedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), model=model)
    model.zero_grad()
    nn.functional.cross_entropy(model(torch.randn(4, 6)), torch.tensor([0, 1, 2, 0])).backward()
    plain.pre_step(data=None)
    assert int((model.weight.grad == 0).sum()) < 9 and plain.calls == 0


def test_defended_step_is_the_plain_step_on_the_defended_gradient():
    torch.manual_seed(0)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1])
    a, b = nn.Linear(6, 3), nn.Linear(6, 3)
    b.load_state_dict(a.state_dict())
    gc = GradientCompression(prune_rate=50)
    defended = DefendedOptimizer(
        torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9), model=a, defense=gc
    )
    loss = local_sgd_step(a, defended, x, y)
    reference = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    reference.zero_grad()
    expected_loss = nn.functional.cross_entropy(b(x), y)
    expected_loss.backward()
    pruned = gc({n: p.grad for n, p in b.named_parameters()}, model=b)
    for n, p in b.named_parameters():
        p.grad.copy_(pruned[n])
    reference.step()
    assert torch.equal(loss, expected_loss.detach()) and defended.steps == 1
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


class _Recorder(GaussianNoise):
    def __init__(self):
        super().__init__(sigma=0.01)
        self.iterations = []

    def _protect(self, update, *, model, data, step):
        self.iterations.append(step)
        return super()._protect(update, model=model, data=data, step=step)


def test_fedavg_counts_local_steps_per_client():
    g = torch.Generator().manual_seed(0)
    clients = [(torch.rand(12, 1, 28, 28, generator=g), torch.arange(12) % 10) for _ in range(2)]
    recorder = _Recorder()
    sim = FedAvg(
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
        clients,
        test_data=clients[0],
        rounds=1,
        batch_size=4,
        defense=recorder,
        placement="step",
        progress=False,
    )
    sim.run()
    assert recorder.iterations == [0, 1, 2, 0, 1, 2]


def test_outpost_in_fedavg_changes_training():
    g = torch.Generator().manual_seed(0)
    clients = [(torch.rand(16, 1, 28, 28, generator=g), torch.arange(16) % 10)]

    def train(guarded):
        sim = FedAvg(
            lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
            clients,
            test_data=clients[0],
            rounds=1,
            batch_size=4,
            momentum=0.9,
            weight_decay=5e-4,
            defense=Outpost(seed=0) if guarded else None,
            progress=False,
        )
        sim.run()
        return sim.model[1].weight.detach().clone()

    assert not torch.equal(train(False), train(True))
    assert torch.equal(train(True), train(True))


def test_bad_arguments_raise():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="defense"):
        DefendedOptimizer(optimizer, model=model, defense="noise")
    with pytest.raises(TypeError, match="Module"):
        DefendedOptimizer(optimizer, model="model", defense=GaussianNoise())


class _ModelRecorder(GaussianNoise):
    """Records the weights the defense sees and returns the update untouched."""

    def __init__(self):
        super().__init__(sigma=0.01)
        self.seen = []

    def _protect(self, update, *, model, data, step):
        self.seen.append(model.weight.detach().clone())
        return update


def test_round_protection_sees_global_weights_and_keeps_gradient_units():
    torch.manual_seed(0)
    clients = [(torch.randn(8, 6), torch.arange(8) % 3), (torch.randn(8, 6), torch.arange(8) % 3)]
    recorder = _ModelRecorder()
    sim = FedAvg(
        lambda: nn.Linear(6, 3),
        clients,
        test_data=clients[0],
        rounds=1,
        lr=0.5,
        batch_size=4,
        defense=recorder,
        placement="round",
        progress=False,
    )
    start = sim.model.weight.detach().clone()
    sim.run()
    assert sim.defense_calls == 2 and all(
        torch.equal(w, start) for w in recorder.seen
    )  # the round's global model
    # a defense in gradient units: pruning −Δ/η then scaling back is pruning Δ
    delta = {"weight": torch.arange(18.0).reshape(3, 6) - 9, "bias": torch.tensor([0.1, -2.0, 3.0])}
    sent = protect_round_update(
        GradientCompression(prune_rate=50), delta, global_model=nn.Linear(6, 3), data=None, lr=0.5
    )
    assert int((sent["weight"] == 0).sum()) == 9 and torch.equal(
        sent["weight"][sent["weight"] != 0], delta["weight"][sent["weight"] != 0]
    )
    with pytest.raises(ValueError, match="lr"):
        protect_round_update(
            GradientCompression(), delta, global_model=nn.Linear(6, 3), data=None, lr=0
        )


def test_block_gradients_and_sgd_update():
    blocks = [nn.Linear(3, 2), nn.Linear(2, 1)]
    x = torch.randn(4, 3)
    loss = blocks[1](torch.relu(blocks[0](x))).sum()
    grads = block_gradients(loss, blocks)
    assert [set(g) for g in grads] == [{"weight", "bias"}] * 2 and grads[0]["weight"].requires_grad
    before = blocks[0].weight.detach().clone()
    sgd_update(blocks, [{k: v.detach() for k, v in g.items()} for g in grads], 0.0)
    assert torch.equal(blocks[0].weight, before)
    sgd_update(blocks, [{k: v.detach() for k, v in g.items()} for g in grads], 0.1)
    assert torch.allclose(blocks[0].weight, before - 0.1 * grads[0]["weight"].detach())
