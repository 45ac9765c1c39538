"""Formal DP (issue 16): the accountant against closed forms, DP-SGD clipping and noise, ledger."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.stats import norm

from fl_course.defenses.base import Defense, flatten_update
from fl_course.defenses.formal_dp import (
    DPSGD,
    DPFedAvg,
    LocalDPSGD,
    PrivacyLedger,
    PrivateFedAvg,
    epsilon_for_psnr,
    epsilon_spent,
    identification_bound,
    noise_multiplier_for,
)
from fl_course.models import LogisticRegression

DELTA = 1e-5


def exact_gaussian_epsilon(sigma: float, delta: float) -> float:
    """ε of one Gaussian release, sensitivity 1, noise std σ: the analytic Gaussian mechanism.

    Balle & Wang (2018, Thm. 8): the mechanism is (ε, δ)-DP iff
    Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ) ≤ δ. This is the exact (tightest) ε.
    """

    def delta_at(eps):
        return norm.cdf(1 / (2 * sigma) - eps * sigma) - math.exp(eps) * norm.cdf(
            -1 / (2 * sigma) - eps * sigma
        )

    return brentq(lambda e: delta_at(e) - delta, 0.0, 500.0)


def tiny_model(seed=0):
    return LogisticRegression(in_features=16, num_classes=3, seed=seed)


def tiny_batch(n=8, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def batch_gradient(model, x, y):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    return dict(
        zip([n for n, _ in model.named_parameters()], torch.autograd.grad(loss, model.parameters()))
    )


# --- the accountant -------------------------------------------------------------------------


def test_rdp_of_one_gaussian_release_is_alpha_over_two_sigma_squared():
    from opacus.accountants.analysis.rdp import compute_rdp

    orders = [1.5, 2, 8, 32, 256]
    for sigma in (0.5, 1.0, 4.0):
        rdp = compute_rdp(q=1.0, noise_multiplier=sigma, steps=1, orders=orders)
        np.testing.assert_allclose(rdp, [a / (2 * sigma**2) for a in orders], rtol=1e-12)


@pytest.mark.parametrize("sigma", [0.64, 1.0, 2.0, 4.0])
def test_accountant_epsilon_bounds_the_exact_gaussian_epsilon_from_above_within_12_percent(sigma):
    # RDP composition converts to a valid but loose (ε, δ): it may never claim less than the
    # exact ε (that would be a privacy bug) and, at one step, is known to be loose by < 10 %.
    exact = exact_gaussian_epsilon(sigma, DELTA)
    rdp = epsilon_spent(sigma, sample_rate=1.0, steps=1, delta=DELTA)
    assert exact <= rdp <= 1.12 * exact, (sigma, exact, rdp)


def test_prv_accountant_matches_the_exact_gaussian_epsilon_within_two_percent():
    exact = exact_gaussian_epsilon(1.0, DELTA)  # 4.377
    prv = epsilon_spent(1.0, sample_rate=1.0, steps=1, delta=DELTA, accountant="prv")
    assert abs(prv - exact) <= 0.02 * exact, (exact, prv)


@pytest.mark.parametrize("epsilon", [0.25, 0.5, 0.9])
def test_calibrated_sigma_is_below_the_classic_gaussian_bound_and_still_private(epsilon):
    # Dwork & Roth Thm. A.1: σ = √(2 ln(1.25/δ))/ε suffices for ε < 1. The accountant's σ must
    # be smaller (it is a tighter analysis) yet still (ε, δ)-DP by the exact criterion.
    classic = math.sqrt(2 * math.log(1.25 / DELTA)) / epsilon
    sigma = noise_multiplier_for(epsilon, delta=DELTA)
    assert sigma < classic
    assert exact_gaussian_epsilon(sigma, DELTA) <= epsilon


def test_noise_multiplier_is_the_smallest_within_the_bisection_tolerance():
    sigma = noise_multiplier_for(8.0, delta=DELTA, sample_rate=0.05, steps=60)
    spent = epsilon_spent(sigma, sample_rate=0.05, steps=60, delta=DELTA)
    assert 0.98 * 8.0 <= spent <= 8.0
    assert epsilon_spent(0.95 * sigma, sample_rate=0.05, steps=60, delta=DELTA) > 8.0


def test_sampling_amplifies_and_composition_spends():
    one = epsilon_spent(1.0, sample_rate=1.0, steps=10, delta=DELTA)
    sampled = epsilon_spent(1.0, sample_rate=0.1, steps=10, delta=DELTA)
    assert sampled < one / 3
    assert epsilon_spent(1.0, sample_rate=0.1, steps=20, delta=DELTA) > sampled


# --- DP-SGD on one batch ----------------------------------------------------------------------


def test_dpsgd_attributes_and_formal_flag():
    dp = DPSGD(8.0, max_grad_norm=0.5)
    assert dp.formal is True and isinstance(dp, Defense)
    assert (dp.epsilon, dp.delta, dp.max_grad_norm) == (8.0, DELTA, 0.5)
    assert 0.98 * 8.0 <= dp.epsilon_spent() <= 8.0
    assert 0.5 < dp.noise_multiplier < 0.8


def test_dpsgd_is_reproducible_with_its_seed_and_reset():
    model, (x, y) = tiny_model(), tiny_batch()
    g = batch_gradient(model, x, y)
    a = DPSGD(4.0, seed=3)(g, model=model, data=(x, y))
    b_defense = DPSGD(4.0, seed=3)
    b = b_defense(g, model=model, data=(x, y))
    c = DPSGD(4.0, seed=4)(g, model=model, data=(x, y))
    for k in g:
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["linear.weight"], c["linear.weight"])
    b_defense.reset()
    assert torch.equal(b_defense(g, model=model, data=(x, y))["linear.weight"], a["linear.weight"])


def test_clipping_bounds_one_examples_influence_to_two_c_over_b():
    # Neighbouring batches: example 0 replaced by a huge one. Same seed, same noise, so the
    # outputs differ by (clip(g0) - clip(g0'))/B, whose norm is at most 2C/B.
    model, (x, y) = tiny_model(), tiny_batch(n=8, scale=1.0)
    x2, y2 = x.clone(), y.clone()
    x2[0] = 50.0
    y2[0] = model(x2[:1]).argmin()  # a confidently wrong example: a large gradient
    dp = DPSGD(2.0, max_grad_norm=0.1, seed=0)
    names = [n for n, _ in model.named_parameters()]
    raw = dp.per_example_gradients(model, x2, y2, names)
    assert float(raw[0].norm()) > 10 * 0.1  # the replaced example really exceeds C
    out1 = dp(batch_gradient(model, x, y), model=model, data=(x, y))
    dp.reset()
    out2 = dp(batch_gradient(model, x2, y2), model=model, data=(x2, y2))
    diff = float((flatten_update(out1, names) - flatten_update(out2, names)).norm())
    unclipped = float((raw[0] - dp.per_example_gradients(model, x, y, names)[0]).norm()) / 8
    assert diff <= 2 * 0.1 / 8 + 1e-6
    assert unclipped > 5 * diff  # without clipping the influence would be far larger


def test_dpsgd_noise_has_std_sigma_c_over_b():
    model = LogisticRegression(in_features=784, num_classes=10, seed=0)  # 7,850 noise draws
    x, y = (
        torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
        torch.tensor([0, 1, 2, 3]),
    )
    dp = DPSGD(1.0, max_grad_norm=0.5, seed=1)
    names = [n for n, _ in model.named_parameters()]
    per = dp.per_example_gradients(model, x, y, names)
    clipped = per * (0.5 / (per.norm(dim=1, keepdim=True) + 1e-6)).clamp(max=1)
    out = flatten_update(dp(batch_gradient(model, x, y), model=model, data=(x, y)), names)
    residual = out - clipped.sum(0) / 4
    expected = dp.noise_multiplier * 0.5 / 4
    # 7,850 draws: the sample std is within 3 % of σ with overwhelming probability (sd ≈ 0.8 %).
    assert abs(float(residual.std()) / expected - 1) < 0.03
    assert abs(float(residual.mean())) < 4 * expected / math.sqrt(residual.numel())


def test_dpsgd_per_example_gradients_average_to_the_batch_gradient():
    model, (x, y) = tiny_model(), tiny_batch()
    g = batch_gradient(model, x, y)
    names = list(g)
    per = DPSGD(1.0).per_example_gradients(model, x, y, names)
    torch.testing.assert_close(per.mean(0), flatten_update(g, names), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epsilon": 0}, "epsilon must be positive"),
        ({"epsilon": 1, "delta": 1.0}, "delta must lie in"),
        ({"epsilon": 1, "sample_rate": 0.0}, "sample_rate must lie in"),
        ({"epsilon": 1, "steps": 0}, "steps must be a positive integer"),
        ({"epsilon": 1, "max_grad_norm": -1}, "max_grad_norm must be positive"),
        ({"epsilon": 1, "accountant": "moments"}, "accountant must be one of"),
        ({"epsilon": 1e-6, "steps": 1000}, "raise epsilon or delta"),
    ],
)
def test_dpsgd_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DPSGD(**kwargs)


def test_dpsgd_rejects_calls_it_cannot_privatise():
    model, (x, y) = tiny_model(), tiny_batch()
    g = batch_gradient(model, x, y)
    dp = DPSGD(1.0)
    with pytest.raises(ValueError, match="labelled batch"):
        dp(g, model=model, data=(x, None))
    with pytest.raises(ValueError, match="labelled batch"):
        dp(g)
    with pytest.raises(ValueError, match="not the mean cross-entropy gradient"):
        dp({k: 2 * v for k, v in g.items()}, model=model, data=(x, y))
    bn = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3), torch.nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="GroupNorm"):
        dp(batch_gradient(bn, x, y), model=bn, data=(x, y))


# --- federated placements and the ledger ------------------------------------------------------


def tiny_clients(k=3, n=40):
    return [tiny_batch(n=n, seed=10 + i) for i in range(k)]


def run(mechanism, rounds=3, **kwargs):
    sim = PrivateFedAvg(
        tiny_model,
        tiny_clients(),
        test_data=tiny_batch(n=30, seed=99),
        rounds=rounds,
        lr=0.1,
        batch_size=8,
        progress=False,
        mechanism=mechanism,
        **kwargs,
    )
    return sim, sim.run()


def test_local_dpsgd_ledger_is_monotone_and_ends_at_the_budget():
    sim, history = run(LocalDPSGD(4.0, rounds=3, seed=0))
    table = sim.ledger.table()
    assert list(table.index) == [1, 2, 3] and table.shape[1] == 3
    assert (table.diff().iloc[1:] > 0).all().all()
    # every client took part in every round; the one σ is set by the client that spends most
    assert (table.iloc[-1] <= 4.0).all() and table.iloc[-1].max() >= 0.97 * 4.0
    assert history["epsilon_max"].tolist() == table.max(axis=1).tolist()


def test_local_dpsgd_is_reproducible():
    a = run(LocalDPSGD(4.0, rounds=2, seed=5), rounds=2)[0].model.state_dict()
    b = run(LocalDPSGD(4.0, rounds=2, seed=5), rounds=2)[0].model.state_dict()
    c = run(LocalDPSGD(4.0, rounds=2, seed=6), rounds=2)[0].model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["linear.weight"], c["linear.weight"])
    # the federation's seed is part of the run too: a second FedAvg seed is a second run
    d = run(LocalDPSGD(4.0, rounds=2, seed=5), rounds=2, seed=1)[0].model.state_dict()
    assert not torch.equal(a["linear.weight"], d["linear.weight"])


def test_local_dpsgd_clips_each_example_inside_training():
    # Sample rate 1, one step: Δ = −lr·(Σ_i clip(g_i) + N(0, σ²C²I))/B, so ‖Δ‖ ≤ lr·C·(1 + 3σ√d/B)
    # (the noise norm is below 3σC√d with overwhelming probability), although the unclipped
    # batch gradient is more than a hundred times C.
    mech = LocalDPSGD(100.0, rounds=1, max_grad_norm=0.01, seed=0)
    x, y = tiny_batch(n=40, scale=100.0)
    model = tiny_model()
    names = [n for n, _ in model.named_parameters()]
    per_example = DPSGD(1.0).per_example_gradients(model, x, y, names)
    assert (
        float(per_example.mean(0).norm()) > 100 * 0.01
    )  # unclipped, the step would be 100× longer
    mech.calibrate([40], batch_size=40, local_epochs=1)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    update, _ = mech.local_update(
        model, start, (x, y), client=0, rnd=1, lr=1.0, momentum=0.0, weight_decay=0.0
    )
    moved = float(flatten_update(update, names).norm())
    d = per_example.shape[1]
    assert moved <= 0.01 * (1 + 3 * mech.noise_multiplier * math.sqrt(d) / 40)


def test_dpfedavg_clips_each_client_update():
    mech = DPFedAvg(clip_norm=0.5, sample_rate=0.5, rounds=3, noise_multiplier=1.0)
    big = {"w": torch.full((100,), 1.0), "step": torch.tensor(3)}
    clipped = mech.clip(big)
    assert abs(float(clipped["w"].norm()) - 0.5) < 1e-6 and torch.equal(
        clipped["step"], big["step"]
    )
    small = {"w": torch.full((100,), 0.001)}
    assert torch.equal(mech.clip(small)["w"], small["w"])


def test_dpfedavg_noise_on_the_aggregate_has_std_z_s_over_qk():
    mech = DPFedAvg(clip_norm=0.5, sample_rate=0.25, rounds=1, noise_multiplier=2.0, seed=0)
    mech.calibrate([10] * 8)
    zero = {"w": torch.zeros(20_000)}
    out = mech.aggregate([zero, zero], [1, 1], zero)["w"]
    assert abs(float(out.std()) / (2.0 * 0.5 / (0.25 * 8)) - 1) < 0.03


def test_dpfedavg_ledger_is_monotone_equal_across_clients_and_sampling_lowers_epsilon():
    sim, history = run(
        DPFedAvg(clip_norm=1.0, sample_rate=0.5, rounds=3, noise_multiplier=1.0, seed=0)
    )
    table = sim.ledger.table()
    assert (table.diff().iloc[1:] > 0).all().all()
    assert (table.nunique(axis=1) == 1).all()
    full = epsilon_spent(1.0, sample_rate=1.0, steps=3, delta=DELTA)
    assert table.iloc[-1, 0] < full
    assert abs(table.iloc[-1, 0] - epsilon_spent(1.0, sample_rate=0.5, steps=3, delta=DELTA)) < 1e-9


def test_dpfedavg_calibrates_from_epsilon():
    mech = DPFedAvg(clip_norm=1.0, sample_rate=0.2, rounds=3, epsilon=4.0)
    assert 0.97 * 4.0 <= mech.epsilon <= 4.0
    with pytest.raises(ValueError, match="exactly one of"):
        DPFedAvg(clip_norm=1.0, sample_rate=0.2, rounds=10)


def test_private_fedavg_rejects_defenses_and_short_budgets():
    with pytest.raises(ValueError, match="do not pass defense"):
        run(LocalDPSGD(4.0, rounds=3), defense=lambda u, **kw: u)
    with pytest.raises(ValueError, match="covers 2 rounds"):
        run(LocalDPSGD(4.0, rounds=2), rounds=3)
    with pytest.raises(ValueError, match="mechanism must be"):
        run(DPSGD(1.0))
    with pytest.raises(ValueError, match="leave fraction at 1"):
        run(DPFedAvg(clip_norm=1.0, sample_rate=0.5, rounds=3, noise_multiplier=1.0), fraction=0.5)


def test_ledger_reports_zero_before_a_client_takes_part():
    ledger = PrivacyLedger(2, delta=DELTA)
    ledger.spend(0, noise_multiplier=1.0, sample_rate=1.0)
    ledger.close_round(1)
    assert ledger.table().loc[1, 1] == 0.0 and ledger.table().loc[1, 0] > 0


# --- searching the ε that stops an attack -------------------------------------------------------


def test_epsilon_for_psnr_finds_the_crossing_of_a_monotone_curve():
    eps, trace = epsilon_for_psnr(
        lambda e: 10 + math.log(e), 12.0, low=0.1, high=1e4, evaluations=12
    )
    assert math.exp(2) / 1.01 <= eps <= math.exp(2)
    assert len(trace) == 14
    with pytest.raises(ValueError, match="lower `low`"):
        epsilon_for_psnr(lambda e: 20.0, 12.0)


# --- what ε means for an informed attacker ------------------------------------------------------


def test_identification_bound_is_e_to_the_epsilon_over_n_plus_delta():
    assert identification_bound(1.0, DELTA, 10) == pytest.approx(math.e / 10 + DELTA)
    assert identification_bound(5.0, DELTA, 10) == 1.0


@pytest.mark.parametrize("sigma", [0.64, 1.0, 4.0])
def test_package_exact_gaussian_epsilon_matches_the_closed_form_and_is_below_the_accountant(sigma):
    from fl_course.defenses.formal_dp import epsilon_spent, exact_gaussian_epsilon as package_exact

    assert package_exact(sigma, 1e-5) == pytest.approx(
        exact_gaussian_epsilon(sigma, 1e-5), rel=1e-9
    )
    assert package_exact(sigma, 1e-5) <= epsilon_spent(sigma, sample_rate=1.0, steps=1, delta=1e-5)
