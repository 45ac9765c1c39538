"""Tests for fl_course.attacks.cafe: the three CAFE steps, the TV threshold, the attack loop."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.attacks.analytic import recover_linear_input
from fl_course.attacks.cafe import (
    VARIANTS,
    Cafe,
    IndexedAdam,
    OutputGradientRecovery,
    recover_fc_inputs_step,
    thresholded_tv,
)
from fl_course.attacks.optimization import cosine_distance, euclidean_distance, total_variation
from fl_course.federation import IndexedFedSGD, VerticalFL


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 10_000))
def test_prop31_single_sample_is_exact(d_in, d_out, seed):
    gen = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(d_in, d_out)
    x = torch.randn(1, d_in, generator=gen)
    target = torch.randn(1, d_out, generator=gen)
    (layer(x) - target).pow(2).sum().backward()
    assert torch.allclose(
        recover_linear_input(layer.weight.grad, layer.bias.grad), x[0], atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize(
    "gw,gb", [(torch.zeros(2, 3), torch.zeros(2)), (torch.zeros(2, 3), torch.zeros(3))]
)
def test_prop31_rejects_bad_gradients(gw, gb):
    with pytest.raises(ValueError):
        recover_linear_input(gw, gb)


def _tiny_fc_gradients(x, y, idx, fc1, fc2):
    """Mean-loss gradients of fc1 for the batch ``idx`` of a frozen two-layer FC network."""
    loss = F.cross_entropy(fc2(torch.sigmoid(fc1(x[idx]))), y[idx])
    gw, gb = torch.autograd.grad(loss, [fc1.weight, fc1.bias])
    return gw, gb


def test_steps_1_and_2_recover_fc_inputs_exactly_on_a_tiny_fc_case():
    """Steps 1–2 turn aggregated batch gradients into every sample's first-FC input."""
    torch.manual_seed(0)
    n, b, d_in, width = 8, 4, 5, 10
    fc1, fc2 = torch.nn.Linear(d_in, width), torch.nn.Linear(width, 3)
    x, y = torch.randn(n, d_in), torch.arange(n) % 3
    step1 = OutputGradientRecovery(n, width)
    h_hat = torch.zeros(n, d_in)
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randperm(n, generator=gen)[:b].sort().values for _ in range(40)]
    for idx in batches:
        step1.update(idx, _tiny_fc_gradients(x, y, idx, fc1, fc2)[1])
    v_hat = step1.solve()
    for idx in batches:  # step 2 with the identified V̂
        gw, _ = _tiny_fc_gradients(x, y, idx, fc1, fc2)
        h_hat[idx] = recover_fc_inputs_step(h_hat[idx], v_hat[idx], gw)
    assert torch.allclose(h_hat, x, atol=1e-3)


def test_step1_is_underdetermined_with_fixed_per_worker_counts():
    """Balanced HFL batches leave M − 1 directions of step 1 unidentifiable."""
    rec = OutputGradientRecovery(8, 1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):  # 2 workers × 4 samples, always 2 from each
        a, c = torch.randperm(4, generator=gen)[:2], 4 + torch.randperm(4, generator=gen)[:2]
        rec.update(torch.cat([a, c]), torch.zeros(1))
    assert int(torch.linalg.matrix_rank(rec.gram)) == 7


@pytest.mark.parametrize("forgetting", [0.0, 1.5])
def test_step1_rejects_bad_forgetting(forgetting):
    with pytest.raises(ValueError):
        OutputGradientRecovery(3, 1, forgetting)


def test_tv_threshold_is_inactive_below_xi_and_active_above():
    x = torch.rand(3, 1, 6, 6, requires_grad=True)
    tv = float(total_variation(x.detach(), reduction="none").mean())
    below = thresholded_tv([x], tv + 1.0)
    assert float(below.detach()) == 0.0
    assert torch.autograd.grad(below, x, allow_unused=True)[0].abs().sum() == 0
    above = thresholded_tv([x], tv - 1.0)
    assert float(above.detach()) == pytest.approx(1.0, abs=1e-4)
    assert torch.autograd.grad(above, x)[0].abs().sum() > 0
    with pytest.raises(ValueError):
        thresholded_tv([x], -1.0)


def test_total_variation_of_constant_is_zero():
    assert total_variation(torch.full((2, 1, 5, 5), 0.3), reduction="none").tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "distance", [lambda a, b: euclidean_distance(a, b, normalize=True), cosine_distance]
)
def test_gradient_distance(distance):
    g = [torch.tensor([1.0, 2.0])]
    assert float(distance(g, g)) == pytest.approx(0.0, abs=1e-6)
    assert float(distance([torch.tensor([-1.0, -2.0])], g)) > 0.5
    with pytest.raises(ValueError):
        Cafe(_vfl(), distance="l1", progress=False)


def test_indexed_adam_touches_only_batch_rows():
    table = torch.zeros(4, 2)
    opt = IndexedAdam(table, lr=0.5)
    opt.step(torch.tensor([0, 2]), torch.ones(2, 2))
    assert table[1].abs().sum() == 0 and table[3].abs().sum() == 0
    assert torch.allclose(table[0], torch.full((2,), -0.5))
    assert opt.t.tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError):
        IndexedAdam(table, lr=0.0)


def _vfl(n=6, batch=3, **kwargs):
    gen = torch.Generator().manual_seed(0)
    return VerticalFL(
        torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n), batch_size=batch, seed=0, **kwargs
    )


def test_cafe_runs_and_records_history():
    attack = Cafe(_vfl(), seed=0, progress=False)
    history = attack.run(12, eval_every=4)
    assert {
        "iteration",
        "seconds",
        "train_loss_ratio",
        "psnr_mean",
        "psnr_min",
        "psnr_batch",
    } <= set(history.columns)
    assert attack.identified
    assert attack.fake_data.min() >= 0 and attack.fake_data.max() <= 1
    assert history["iteration"].iloc[-1] == 12


def test_cafe_is_deterministic_and_fake_init_is_uniform():
    a, b = Cafe(_vfl(), seed=3, progress=False), Cafe(_vfl(), seed=3, progress=False)
    assert torch.equal(a.fake_data, b.fake_data)
    a.run(6, eval_every=6), b.run(6, eval_every=6)
    assert torch.equal(a.fake_data, b.fake_data)


def test_cafe_on_hfl_with_defense():
    calls = []
    clients = [(torch.rand(4, 1, 28, 28), torch.arange(4)) for _ in range(2)]

    def worker_of(images):
        return next(m for m, (x, _) in enumerate(clients) if (x == images[0]).all((1, 2, 3)).any())

    def defense(grad, *, model, data, step):
        calls.append(worker_of(data[0]))
        assert data[0].shape[1:] == (1, 28, 28) and len(data[0]) == len(data[1])
        return {n: g + 0.0 for n, g in grad.items()}

    attack = Cafe(
        IndexedFedSGD(clients, batch_size=2, balanced=False, defense=defense, seed=0),
        progress=False,
    )
    attack.run(3, eval_every=3)
    assert set(calls) <= {0, 1} and len(calls) >= 3


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({"distance": "l1"}, ValueError),
        ({"lr": 0.0}, ValueError),
        ({"rep_weight": -1.0}, ValueError),
        ({"tv_threshold": -2.0}, ValueError),
        ({"forgetting": 0.0}, ValueError),
    ],
)
def test_cafe_rejects_bad_settings(kwargs, err):
    with pytest.raises(err):
        Cafe(_vfl(), progress=False, **kwargs)


def test_cafe_rejects_non_settings_and_bad_iterations():
    with pytest.raises(TypeError):
        Cafe(object())
    with pytest.raises(ValueError):
        Cafe(_vfl(), progress=False).run(0)


def test_default_data_step_is_the_authors():
    """DeRafael/CAFE config.py: Adam at a constant 0.01; ours is the named "fast" variant."""
    attack = Cafe(_vfl(), progress=False)
    assert (attack.lr, attack.schedule, attack.inner_steps) == (0.01, "constant", 1)
    assert VARIANTS["authors"] == {"lr": 0.01, "schedule": "constant"}
    assert VARIANTS["fast"]["lr"] == 10 * VARIANTS["authors"]["lr"]


@pytest.mark.parametrize("schedule,last", [("constant", 0.01), ("cosine", 0.0001)])
def test_schedule_of_the_data_step(schedule, last):
    """The step sizes run() hands to the data step: constant, or annealed to lr/100."""
    attack = Cafe(_vfl(), progress=False, lr=0.01, schedule=schedule, rep_weight=0.0)
    seen = []
    original = attack._data_opt.step
    attack._data_opt.step = lambda rows, grad, lr=None: (seen.append(lr), original(rows, grad, lr))
    attack.run(5, eval_every=5)
    assert seen[0] == pytest.approx(0.01) and seen[-1] == pytest.approx(last)


@pytest.mark.parametrize("k", [1, 3])
def test_inner_steps_take_k_data_steps_per_real_batch(k):
    """Section 4.4: the fakes of each real batch are optimised k times (steps 1–2 once)."""
    setting = _vfl()
    calls = []
    original = setting.step
    setting.step = lambda idx, update=True: (calls.append(1), original(idx, update=update))[1]
    attack = Cafe(setting, progress=False, rep_weight=0.0, inner_steps=k)
    attack.run(2, eval_every=2)
    batches = [setting.choose_batch(i) for i in range(2)]
    visits = torch.zeros(6, dtype=torch.long)
    for idx in batches:
        visits[idx] += 1
    assert len(calls) == 2  # one real gradient per iteration
    assert attack._data_opt.t.tolist() == (k * visits).tolist()


@pytest.mark.parametrize("kwargs", [{"schedule": "step"}, {"inner_steps": 0}, {"inner_steps": 2.5}])
def test_cafe_rejects_bad_schedule_and_inner_steps(kwargs):
    with pytest.raises(ValueError):
        Cafe(_vfl(), progress=False, **kwargs)
