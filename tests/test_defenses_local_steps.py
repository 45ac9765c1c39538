import pytest
import torch
from torch import nn

from fl_course.defenses import GaussianNoise, GradientCompression, LocalStepProtection, Outpost
from fl_course.fedavg import FedAvg


def test_gradients_are_replaced_before_the_optimizer_step():
    model = nn.Linear(6, 3)
    guard = LocalStepProtection(GradientCompression(prune_rate=50), model)
    nn.functional.cross_entropy(model(torch.randn(4, 6)), torch.tensor([0, 1, 2, 0])).backward()
    assert int((model.weight.grad == 0).sum()) == 9 and guard.calls == 1
    guard.detach()
    model.zero_grad()
    nn.functional.cross_entropy(model(torch.randn(4, 6)), torch.tensor([0, 1, 2, 0])).backward()
    assert int((model.weight.grad == 0).sum()) < 9


class _Recorder(GaussianNoise):
    def __init__(self):
        super().__init__(sigma=0.01)
        self.iterations = []

    def _protect(self, update, *, model, data, iteration):
        self.iterations.append(iteration)
        return super()._protect(update, model=model, data=data, iteration=iteration)


def test_fedavg_hooks_count_local_iterations_per_client():
    g = torch.Generator().manual_seed(0)
    clients = [(torch.rand(12, 1, 28, 28, generator=g), torch.arange(12) % 10) for _ in range(2)]
    recorder = _Recorder()
    sim = FedAvg(
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
        clients,
        test_data=clients[0],
        rounds=1,
        batch_size=4,
        progress=False,
    )
    guard = LocalStepProtection(recorder, sim.model)
    sim.step_hook, sim.client_hook = guard.step_hook, guard.client_hook
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
            progress=False,
        )
        if guarded:
            guard = LocalStepProtection(Outpost(seed=0), sim.model)
            sim.step_hook, sim.client_hook = guard.step_hook, guard.client_hook
        sim.run()
        return sim.model[1].weight.detach().clone()

    assert not torch.equal(train(False), train(True))
    assert torch.equal(train(True), train(True))


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="Defense"):
        LocalStepProtection(lambda u: u, nn.Linear(2, 2))
    with pytest.raises(TypeError, match="Module"):
        LocalStepProtection(GaussianNoise(), "model")


class _ModelRecorder(GaussianNoise):
    """Records the weights the defense sees and returns the update untouched."""

    def __init__(self):
        super().__init__(sigma=0.01)
        self.seen = []

    def _protect(self, update, *, model, data, iteration):
        self.seen.append(model.weight.detach().clone())
        return update


def test_round_protection_sees_global_weights_and_keeps_gradient_units():
    from fl_course.defenses import RoundProtection

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
        progress=False,
    )
    start = sim.model.weight.detach().clone()
    guard = RoundProtection(recorder, sim.model, lr=0.5)
    sim.step_hook, sim.client_hook = guard.step_hook, guard.client_hook
    sim.run()
    assert guard.calls == 2 and all(
        torch.equal(w, start) for w in recorder.seen
    )  # the round's global model
    # a defense in gradient units: pruning −Δ/η then scaling back is pruning Δ
    gc = RoundProtection(GradientCompression(prune_rate=50), nn.Linear(6, 3), lr=0.5)
    delta = {"weight": torch.arange(18.0).reshape(3, 6) - 9, "bias": torch.tensor([0.1, -2.0, 3.0])}
    sent = gc.client_hook(delta, model=None, client=0, round=1, data=None)
    assert int((sent["weight"] == 0).sum()) == 9 and torch.equal(
        sent["weight"][sent["weight"] != 0], delta["weight"][sent["weight"] != 0]
    )
    with pytest.raises(ValueError, match="lr"):
        RoundProtection(GradientCompression(), nn.Linear(2, 2), lr=0)
