import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.defenses import (
    PAPER_PERTURB_FRACTION,
    PAPER_Q,
    PAPER_ROOT_SIZE,
    GradDefense,
    MarchenkoPasturCompensation,
    equal_risk_slices,
    layer_sensitivity,
    marchenko_pastur_bounds,
    reservoir_sample,
    root_dataset,
)
from fl_course.federation import weighted_average
from fl_course.models import LeNetZhu


@pytest.fixture(scope="module")
def lenet():
    model = LeNetZhu(seed=0)
    x, y = torch.rand(1, 1, 28, 28), torch.tensor([4])
    names = [n for n, _ in model.named_parameters()]
    grad = dict(zip(names, torch.autograd.grad(F.cross_entropy(model(x), y), model.parameters())))
    root = (torch.rand(20, 1, 28, 28), torch.arange(20) % 10)
    return model, grad, root


# --- slicing -------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    layers=st.lists(st.tuples(st.integers(1, 400), st.floats(0.01, 100)), min_size=1, max_size=8),
    s=st.integers(1, 12),
)
def test_slices_have_equal_risk(layers, s):
    sizes = [n for n, _ in layers]
    risks = [r for _, r in layers]
    if s > sum(sizes):
        return
    slices = equal_risk_slices(sizes, risks, s)
    assert len(slices) == s and slices[0][0] == 0 and slices[-1][1] == sum(sizes)
    assert all(a < b for a, b in slices) and all(
        slices[i][1] == slices[i + 1][0] for i in range(s - 1)
    )
    density = torch.cat([torch.full((n,), r / n, dtype=torch.float64) for n, r in layers])
    per_param = float(density.max())
    target = sum(risks) / s
    for a, b in slices:
        if per_param < target / 4:  # cuts can only fall between parameters
            assert abs(float(density[a:b].sum()) - target) <= per_param + 1e-9


def test_size_risk_gives_equal_sizes():
    assert equal_risk_slices([50, 50], [50.0, 50.0], 4) == [(0, 25), (25, 50), (50, 75), (75, 100)]


@pytest.mark.parametrize(
    "sizes, risks, s, match",
    [
        ([10], [1.0], 0, "num_slices"),
        ([3], [1.0], 4, "non-empty"),
        ([10], [0.0], 2, "zero"),
        ([10, 3], [1.0], 2, "one risk"),
    ],
)
def test_bad_slicing_raises(sizes, risks, s, match):
    with pytest.raises(ValueError, match=match):
        equal_risk_slices(sizes, risks, s)


# --- reservoir sampling --------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 60), data=st.data(), seed=st.integers(0, 10_000))
def test_reservoir_draws_exactly_k_distinct(n, data, seed):
    k = data.draw(st.integers(1, n))
    sample = reservoir_sample(n, k, torch.Generator().manual_seed(seed))
    assert len(sample) == k == len(set(sample)) and all(0 <= i < n for i in sample)


def test_reservoir_is_uniform():
    g = torch.Generator().manual_seed(0)
    counts = Counter(i for _ in range(3000) for i in reservoir_sample(10, 5, g))
    assert all(abs(counts[i] / 3000 - 0.5) < 0.04 for i in range(10))


@pytest.mark.parametrize("k", [0, 11, 2.0])
def test_reservoir_bad_k_raises(k):
    with pytest.raises(ValueError, match="draw"):
        reservoir_sample(10, k, torch.Generator())


# --- sensitivity and perturbation ----------------------------------------------------------


def test_sensitivity_is_positive_per_layer(lenet):
    model, grad, (x, y) = lenet
    sens = layer_sensitivity(model, x, y)
    assert set(sens) == set(grad) and all(v > 0 for v in sens.values())


def test_root_dataset_is_class_balanced():
    x, y = root_dataset(torch.rand(200, 1, 28, 28), torch.arange(200) % 10, per_class=5, seed=1)
    assert len(y) == 50 and torch.bincount(y).tolist() == [5] * 10
    with pytest.raises(ValueError, match="per_class"):
        root_dataset(torch.rand(20, 1, 28, 28), torch.arange(20) % 10, per_class=3)


@pytest.mark.parametrize(
    "s, gamma, expected", [(10, 0.5, 5), (10, 0.05, 1), (7, 0.5, 3), (4, 1.0, 4)]
)
def test_number_of_perturbed_slices(lenet, s, gamma, expected):
    model, grad, root = lenet
    gd = GradDefense(root, num_slices=s, perturb_fraction=gamma, seed=0)
    assert gd.num_perturbed == expected
    out = gd(grad, model=model)
    assert len(gd.last_perturbed) == expected
    flat_in = torch.cat([grad[k].reshape(-1) for k in grad])
    flat_out = torch.cat([out[k].reshape(-1) for k in grad])
    for i, (a, b) in enumerate(gd.last_slices):
        changed = not torch.equal(flat_in[a:b], flat_out[a:b])
        assert changed == (i in gd.last_perturbed)


def test_clipping_bounds_each_perturbed_slice(lenet):
    model, grad, root = lenet
    big = {k: 1000 * v for k, v in grad.items()}
    gd = GradDefense(root, sigma=1e-6, clip=True, clip_bound=0.5, seed=0)
    out = gd(big, model=model)
    flat = torch.cat([out[k].reshape(-1) for k in grad])
    for i in gd.last_perturbed:
        a, b = gd.last_slices[i]
        assert float(flat[a:b].norm()) <= 0.5 + 1e-3 * math.sqrt(b - a)
    with pytest.warns(UserWarning, match="little protection"):
        unclipped = GradDefense(root, sigma=1e-6, clip=False, seed=0)(big, model=model)
    assert any(float((unclipped[k] - big[k]).abs().max()) < 1e-4 for k in grad)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_slices": 0}, "num_slices"),
        ({"perturb_fraction": 0}, "perturb_fraction"),
        ({"perturb_fraction": 1.5}, "perturb_fraction"),
        ({"sigma": -1}, "sigma"),
        ({"slicing": "layer"}, "slicing"),
        ({"clip_bound": 0}, "clip_bound"),
    ],
)
def test_bad_settings_raise(lenet, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradDefense(lenet[2], **kwargs)


def test_sensitivity_slicing_needs_root_data_and_model(lenet):
    model, grad, root = lenet
    with pytest.raises(ValueError, match="root"):
        GradDefense()
    with pytest.raises(ValueError, match="model"):
        GradDefense(root)(grad)


def test_risks_are_computed_once_unless_refreshed_every_round(lenet, monkeypatch):
    model, grad, root = lenet
    calls = []
    real = layer_sensitivity

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("fl_course.defenses.graddefense.layer_sensitivity", counting)
    moved = LeNetZhu(seed=1)  # same layers, other weights: the next round's global model
    once, every_round = GradDefense(root, seed=0), GradDefense(root, risk_refresh="round", seed=0)
    once.prepare(model)
    for gd in (once, every_round):
        gd(grad, model=model)
        gd(grad, model=moved)
    assert len(calls) == 1 + 2  # "once": one computation for both models; "round": one each
    assert once.sensitivity(moved) == real(model, *root)  # the risks of the first model
    once.reset()  # a new run forgets them
    once.prepare(moved)
    assert len(calls) == 4 and once.sensitivity(model) == real(moved, *root)
    with pytest.raises(ValueError, match="risk_refresh"):
        GradDefense(root, risk_refresh="weekly")


# --- Marchenko–Pastur and compensation ----------------------------------------------------


def test_mp_bounds_formula():
    lo, hi = marchenko_pastur_bounds(0.1, 6.0)
    assert lo == pytest.approx(0.01 * (1 - 1 / math.sqrt(6)) ** 2)
    assert hi == pytest.approx(0.01 * (1 + 1 / math.sqrt(6)) ** 2)
    with pytest.raises(ValueError, match="at least 1"):
        marchenko_pastur_bounds(0.1, 0.5)


@pytest.mark.parametrize("q", [2.0, 6.0, 12.0])
def test_pure_noise_eigenvalues_fall_inside_the_bounds(q):
    sigma, w = 0.03, 200
    v = int(q * w)
    noise = sigma * torch.randn(
        v, w, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    eig = torch.linalg.eigvalsh(torch.cov(noise.T))
    lo, hi = marchenko_pastur_bounds(sigma, q)
    assert float(eig.min()) > 0.8 * lo and float(eig.max()) < 1.1 * hi
    assert (
        float(eig.min()) < 1.3 * lo and float(eig.max()) > 0.9 * hi
    )  # the bulk fills the interval


def test_compensation_recovers_a_low_rank_signal():
    g = torch.Generator().manual_seed(1)
    v, w, sigma = 600, 100, 0.01
    signal = sum(
        0.03 * torch.outer(torch.randn(v, generator=g), torch.randn(w, generator=g))
        for _ in range(3)
    )
    noisy = signal + sigma * torch.randn(v, w, generator=g)
    comp = MarchenkoPasturCompensation(sigma=sigma, q=v / w)
    assert comp.matrix_shape(v * w) == (v, w)
    out = comp({"w": noisy})["w"]
    before, after = float((noisy - signal).norm()), float((out - signal).norm())
    assert after < 0.25 * before


def test_compensation_handles_prime_sizes_and_keeps_shapes():
    update = {"a": torch.randn(7, 3), "b": torch.randn(101), "n": torch.tensor(3)}
    out = MarchenkoPasturCompensation(sigma=0.01)(update)
    assert {k: v.shape for k, v in out.items()} == {k: v.shape for k, v in update.items()}
    assert torch.equal(out["n"], update["n"])


def test_compensation_of_the_fedavg_average_denoises():
    updates = [{"w": torch.ones(60, 10)}, {"w": 3 * torch.ones(60, 10)}]
    out = MarchenkoPasturCompensation(sigma=1e-3, q=6)(weighted_average(updates, [1.0, 1.0]))
    assert torch.allclose(out["w"], 2 * torch.ones(60, 10), atol=1e-5)


def test_compensation_noise_level_follows_clients_and_steps(lenet):
    gd = GradDefense(lenet[2], sigma=0.01)  # 3 of 10 slices perturbed
    assert gd.compensation(4).sigma == pytest.approx(0.01 * math.sqrt(0.3 / 4))
    assert gd.compensation(1, lr=0.1, local_steps=8).sigma == pytest.approx(
        0.1 * 0.01 * math.sqrt(8 * 0.3)
    )


def test_compensation_paper_scale_is_the_authors_formula(lenet):
    # demo_compensate.py: _scale = Σ_i K·(k/s)·σ²·(1/K) = K·(k/s)·σ², no learning rate, no steps
    gd = GradDefense(lenet[2], sigma=0.01)
    paper = gd.compensation(5, noise_scale="paper", lr=0.02, local_steps=7)
    assert paper.sigma == pytest.approx(0.01 * math.sqrt(5 * 0.3))
    assert paper.sigma**2 == pytest.approx(
        5**2 * gd.compensation(5).sigma ** 2
    )  # K² × the derived variance
    with pytest.raises(ValueError, match="noise_scale"):
        gd.compensation(5, noise_scale="literal")


def test_defaults_are_the_papers_table_ii_setting(lenet):
    gd = GradDefense(lenet[2])
    assert (gd.num_slices, gd.perturb_fraction, gd.sigma, gd.clip) == (10, 0.3, 0.01, False)
    assert (
        PAPER_PERTURB_FRACTION == {"DGA": 0.2, "GIA": 0.3}
        and PAPER_ROOT_SIZE == 100
        and PAPER_Q == 6
    )
    x, y = root_dataset(torch.rand(300, 1, 28, 28), torch.arange(300) % 10)
    assert len(y) == PAPER_ROOT_SIZE


def test_slice_report_accounts_for_every_slice(lenet):
    model, grad, root = lenet
    gd = GradDefense(root, sigma=0.01, seed=0)
    report = gd.slice_report(grad, model=model)
    assert len(report) == 10 and int(report.perturbed.sum()) == gd.num_perturbed
    assert report.energy_share.sum() == pytest.approx(1.0)
    hit = report[report.perturbed]
    assert hit.noise_to_signal.tolist() == pytest.approx((0.01 / hit.signal_rms).tolist())
    assert (report.loc[~report.perturbed, "noise_to_signal"] == 0).all()


def test_compensation_accounts_for_momentum(lenet):
    gd = GradDefense(lenet[2], sigma=0.01)
    assert gd.compensation(1, momentum=0.9).sigma == pytest.approx(
        gd.compensation(1).sigma
    )  # one step
    ratio = (
        gd.compensation(1, local_steps=2, momentum=0.5).sigma
        / gd.compensation(1, local_steps=2).sigma
    )
    assert ratio == pytest.approx(math.sqrt((1 + 1.5**2) / 2))
    with pytest.raises(ValueError, match="momentum"):
        gd.compensation(1, momentum=1.0)
