import pytest
import torch
from torch import nn

from fl_course.federation.fedavg import ClientError, FedAvg, accuracy_and_loss, weighted_average


TRUE_W = torch.randn(4, 2, generator=torch.Generator().manual_seed(123))


def _clients(k=3, n=40, seed=0):
    """k clients whose labels follow one linear rule, TRUE_W."""
    g = torch.Generator().manual_seed(seed)
    w = TRUE_W
    data = []
    for _ in range(k):
        x = torch.randn(n, 4, generator=g)
        data.append((x, (x @ w).argmax(1)))
    return data


def _linear():
    return nn.Linear(4, 2)


def _sim(**kwargs):
    settings = dict(test_data=_clients(1, 200, seed=9)[0], rounds=3, lr=0.5, progress=False)
    settings.update(kwargs)
    return FedAvg(_linear, _clients(), **settings)


def test_weighted_average_uses_sample_counts():
    a, b = {"w": torch.tensor([1.0])}, {"w": torch.tensor([4.0])}
    assert weighted_average([a, b], [3, 1])["w"].item() == pytest.approx(1.75)


def test_fedavg_learns_and_records_every_round():
    history = _sim(rounds=8).run()
    assert list(history["round"]) == list(range(1, 9))
    assert {"test_accuracy", "test_loss", "train_loss", "seconds", "clients"} <= set(history)
    assert history["test_accuracy"].iloc[-1] > 0.85


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = (_sim(seed=s, fraction=0.5).run() for s in (1, 1, 2))
    assert a["test_loss"].tolist() == b["test_loss"].tolist()
    assert a["test_loss"].tolist() != c["test_loss"].tolist()


def test_fraction_samples_at_least_one_client():
    assert (_sim(fraction=0.1).run()["clients"] == 1).all()


def test_fedsgd_is_one_full_batch_step():
    sim = _sim(rounds=1, batch_size=None, local_epochs=1)
    start = {k: v.clone() for k, v in sim.model.state_dict().items()}
    sim.run()
    model = _linear()
    model.load_state_dict(start)
    grads = []
    for x, y in sim.client_data:
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        grads.append(model.weight.grad.clone())
    expected = start["weight"] - 0.5 * torch.stack(grads).mean(0)
    assert torch.allclose(sim.model.weight, expected, atol=1e-6)


def _client_of(sim, data):
    return next(k for k, (x, _) in enumerate(sim.client_data) if data[0] is x)


def test_a_round_defense_sees_and_changes_every_shared_update():
    seen = []

    def zero(update, *, model, data, step):
        seen.append((_client_of(sim, data), step, len(data[1])))
        return {k: torch.zeros_like(v) for k, v in update.items()}

    sim = _sim(rounds=2, defense=zero)
    before = {k: v.clone() for k, v in sim.model.state_dict().items()}
    sim.run()
    assert sorted(seen) == [(c, 0, 40) for c in range(3) for r in (1, 2)]
    assert all(torch.equal(before[k], v) for k, v in sim.model.state_dict().items())
    assert sim.defense_calls == 6 and sorted(sim.last_updates) == [0, 1, 2]
    assert all(float(v.abs().sum()) == 0 for u in sim.last_updates.values() for v in u.values())


def test_a_step_defense_sees_every_local_step():
    steps = []

    def record(update, *, model, data, step):
        steps.append(step)
        assert data[1] is None and len(data[0]) in (32, 8)
        return update

    plain, guarded = _sim(rounds=2), _sim(rounds=2, defense=record, placement="step")
    plain.run(), guarded.run()
    assert max(steps) + 1 == 2  # 40 samples, batch 32: two steps per epoch
    assert len(steps) == 2 * 3 * 2
    assert all(
        torch.equal(plain.model.state_dict()[k], v) for k, v in guarded.model.state_dict().items()
    )


def test_placement_follows_the_defense_unless_given():
    def step_defense(update, **_):
        return update

    step_defense.placement = "step"
    assert _sim(defense=step_defense).placement == "step"
    assert _sim(defense=step_defense, placement="round").placement == "round"
    assert _sim(defense=lambda u, **_: u).placement == "round"


def test_server_transform_corrects_the_average():
    calls = []

    def server_transform(aggregate):
        calls.append({k: v.clone() for k, v in aggregate.items()})
        return aggregate

    sim = _sim(rounds=2, server_transform=server_transform)
    sim.run()
    assert len(calls) == 2
    expected = weighted_average(list(sim.last_updates.values()), [40, 40, 40])
    assert all(torch.equal(calls[-1][k], expected[k]) for k in expected)


def test_client_failure_names_client_and_round():
    def broken(update, *, data, **_):
        if _client_of(sim, data) == 1:
            raise RuntimeError("disk full")
        return update

    sim = _sim(defense=broken)
    with pytest.raises(ClientError, match="Client 1 failed in round 1.*disk full"):
        sim.run()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(fraction=0.0), "fraction"),
        (dict(fraction=1.5), "fraction"),
        (dict(rounds=0), "rounds"),
        (dict(local_epochs=1.5), "local_epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(lr=-1.0), "lr"),
        (dict(placement="local"), "placement"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _sim(**kwargs)


def test_clients_must_hold_data():
    with pytest.raises(ValueError, match="at least one client"):
        FedAvg(_linear, [], test_data=_clients(1)[0], rounds=1)
    x, y = _clients(1)[0]
    with pytest.raises(ValueError, match="Client 0"):
        FedAvg(_linear, [(x, y[:-1])], test_data=(x, y), rounds=1)


def test_defense_must_be_callable():
    with pytest.raises(TypeError, match="defense"):
        _sim(defense="noise")
    with pytest.raises(TypeError, match="server_transform"):
        _sim(server_transform=3)


def test_settings_are_in_the_repr():
    text = repr(_sim(seed=4))
    assert text.startswith("FedAvg(rounds=3") and "seed=4" in text and "client_data" not in text


def test_accuracy_and_loss_counts_accuracy():
    model = _linear()
    x, y = _clients(1)[0]
    accuracy, loss = accuracy_and_loss(model, (x, y), batch_size=7)
    assert accuracy == pytest.approx((model(x).argmax(1) == y).float().mean().item())
    assert loss > 0
