"""Formal differential privacy beside the heuristic defenses: DP-SGD and DP-FedAvg.

Every other defense of chapter 6 is judged by the attacks we have. The mechanisms here come
with an (ε, δ) guarantee against *any* attacker, computed by Opacus' accountant
(:class:`opacus.accountants.RDPAccountant`, Rényi DP of the sampled Gaussian mechanism,
Mironov 2017; Mironov, Talwar and Zhang 2019; converted to (ε, δ) by Balle et al. 2020,
Thm. 21). Three placements:

=====================  ==========================================================================
:class:`DPSGD`         one DP-SGD step on a client's batch (Abadi et al. 2016, Alg. 1): per-example
                       gradients clipped to norm C, summed, N(0, σ²C²) noise, divided by the batch
                       size; a :class:`~fl_course.defenses.base.Defense` for the attack matrices
:class:`LocalDPSGD`    DP-SGD inside every client's local training (Opacus' ``GradSampleModule``,
                       ``DPOptimizer`` and Poisson-sampling ``DPDataLoader``): example-level
                       (ε, δ) per client over all the rounds it took part in
:class:`DPFedAvg`      client-level DP of McMahan et al. (2018, Alg. 1): Poisson sampling of
                       clients with rate q, each update clipped to norm S, Gaussian noise of
                       std z·S/(qK) on the average; one ε for every client
=====================  ==========================================================================

:class:`PrivateFedAvg` runs the last two on :class:`fl_course.federation.FedAvg`, and
:class:`PrivacyLedger` records ε after every round for every client.
:func:`identification_bound` bounds how often an attacker who knows the victim is one of n
candidates names it (:func:`fl_course.experiments.defenses.identification_rate` measures it),
and :func:`epsilon_for_psnr` searches the ε that brings an attack down to a target PSNR
(:func:`fl_course.experiments.defenses.dp_attack_psnr` runs the attack). The benchmark
(``python -m fl_course.bench defenses``) and :mod:`fl_course.experiments.defenses` use
:class:`DPSGD` for the attack matrices and :class:`LocalDPSGD` for utility.

Why RDP and not PRV: at sampling rate 1 and one step the Rényi divergence of the Gaussian
mechanism is α/(2σ²) exactly, so the accountant can be checked against closed forms; PRV
(Gopi et al. 2021) is tighter by a few percent but numerical. Pass ``accountant="prv"`` to use it.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from opacus import GradSampleModule
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.data_loader import DPDataLoader
from opacus.optimizers import DPOptimizer
from scipy.optimize import brentq
from scipy.stats import norm as standard_normal
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from fl_course.checks import (
    Configurable,
    check_choice,
    check_int,
    check_number,
    check_probability,
    check_seed,
)
from fl_course.defenses.base import Defense, flatten_update, protected_names
from fl_course.federation.fedavg import FedAvg, accuracy_and_loss, weighted_average
from fl_course.federation.local_sgd import Update

__all__ = [
    "ACCOUNTANTS",
    "noise_multiplier_for",
    "epsilon_spent",
    "DPSGD",
    "PrivacyLedger",
    "LocalDPSGD",
    "DPFedAvg",
    "PrivateFedAvg",
    "identification_bound",
    "epsilon_for_psnr",
    "exact_gaussian_epsilon",
]

ACCOUNTANTS = ("rdp", "prv")

#: Rényi orders searched by the RDP accountant: Opacus' defaults (1.1 … 63) extended down to
#: 1.01 (large ε: small σ, best order near 1) and up to 1024 (small ε: large σ, best order
#: above 63), so that neither end is over-estimated.
RDP_ORDERS = (
    [1.01, 1.02, 1.05]
    + [1 + x / 10.0 for x in range(1, 100)]
    + list(range(12, 64))
    + [64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024]
)


def _make_accountant(accountant: str):

    rdp = check_choice("accountant", accountant, ACCOUNTANTS) == "rdp"
    return RDPAccountant() if rdp else PRVAccountant()


def _accountant_epsilon(acc, delta: float) -> float:
    if not acc.history:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # PRV's log(0) at sample rate 1 is handled by Opacus
        if acc.mechanism() == "rdp":
            return float(acc.get_epsilon(delta=delta, alphas=RDP_ORDERS))
        return float(acc.get_epsilon(delta=delta))


def _check_no_batch_norm(model: nn.Module) -> None:
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError(
            "The model has BatchNorm layers, which mix the examples of a batch, so clipping one "
            "example's gradient cannot bound its influence. Replace them with GroupNorm, e.g. with "
            "opacus.validators.ModuleValidator.fix(model)."
        )


def epsilon_spent(
    noise_multiplier: float,
    *,
    sample_rate: float,
    steps: int,
    delta: float = 1e-5,
    accountant: str = "rdp",
) -> float:
    """ε of ``steps`` compositions of the sampled Gaussian mechanism (Opacus' accountant).

    Parameters
    ----------
    noise_multiplier : float
        σ, the noise standard deviation over the sensitivity (the clipping norm).
    sample_rate : float
        q, the Poisson sampling probability of each record (an example, or a client).
    steps : int
        Number of releases.
    delta : float, default 1e-5
    accountant : {"rdp", "prv"}, default "rdp"

    Examples
    --------
    >>> round(epsilon_spent(1.0, sample_rate=1.0, steps=1, delta=1e-5), 2)
    4.73
    """
    check_number("noise_multiplier", noise_multiplier, positive=True, example=1.0)
    check_probability("sample_rate", sample_rate, example="batch_size / dataset_size")
    check_int("steps", steps)
    check_probability("delta", delta, below_one=True, example="1e-5")
    acc = _make_accountant(accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    return _accountant_epsilon(acc, delta)


@functools.lru_cache(maxsize=256)
def noise_multiplier_for(
    epsilon: float,
    *,
    delta: float = 1e-5,
    sample_rate: float = 1.0,
    steps: int = 1,
    accountant: str = "rdp",
) -> float:
    """The smallest noise multiplier σ whose ε after ``steps`` releases is at most ``epsilon``.

    A bisection (Opacus' :func:`~opacus.accountants.utils.get_noise_multiplier`, ε tolerance
    1 % of the target) over the accountant's ε, which falls as σ grows. Results are cached:
    the bisection costs seconds at sample rates below 1.

    Examples
    --------
    >>> sigma = noise_multiplier_for(8.0, delta=1e-5)
    >>> epsilon_spent(sigma, sample_rate=1.0, steps=1) <= 8.0
    True
    """

    check_number("epsilon", epsilon, positive=True, example=8.0)
    check_probability("delta", delta, below_one=True, example="1e-5")
    check_probability("sample_rate", sample_rate, example="batch_size / dataset_size")
    check_int("steps", steps)
    kwargs = (
        {"alphas": RDP_ORDERS}
        if check_choice("accountant", accountant, ACCOUNTANTS) == "rdp"
        else {}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # At the search's extremes the best Rényi order can sit at the end of RDP_ORDERS; that only
        # over-states ε, so the σ returned errs on the private side.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        try:
            return float(
                get_noise_multiplier(
                    target_epsilon=float(epsilon),
                    target_delta=float(delta),
                    sample_rate=float(sample_rate),
                    steps=int(steps),
                    accountant=accountant,
                    epsilon_tolerance=0.01 * float(epsilon),
                    **kwargs,
                )
            )
        except ValueError as error:
            raise ValueError(
                f"No noise multiplier below 1e6 reaches ε = {epsilon} at δ = {delta} over {steps} "
                f"steps at sample rate {sample_rate}; raise epsilon or delta, or use fewer steps."
            ) from error


class DPSGD(Defense):
    """One DP-SGD step on the client's batch: per-example clipping, Gaussian noise.

    Abadi et al. (2016), Alg. 1.

    The defense recomputes the per-example gradients ``g_i`` of the cross-entropy at the
    model's current weights on ``data`` (``torch.func.vmap`` of ``grad``), clips each to
    L2 norm ``C`` over all parameters, and returns

    .. math:: \\tilde g = \\frac{1}{B}\\Big(\\sum_{i=1}^{B} g_i
              \\min\\big(1, C/\\lVert g_i\\rVert\\big)
              + \\mathcal N(0, \\sigma^2 C^2 I)\\Big)

    (Abadi et al. 2016, Alg. 1, lines "clip gradient" and "add noise"). The divisor B is the
    batch's size, which the guarantee treats as public (Opacus' ``expected_batch_size``): the
    privacy is that of the noisy sum, whose sensitivity to adding or removing one example is C.
    σ is the noise
    multiplier for which ``steps`` such releases at Poisson sampling rate ``sample_rate``
    spend (ε, δ) by Opacus' RDP accountant. With the defaults (one release, sample rate 1)
    the shared gradient alone is (ε, δ)-DP with respect to each example of the batch: the
    attack matrices' setting, where the attacker sees exactly one gradient.

    Parameters
    ----------
    epsilon : float
        Target ε after ``steps`` releases.
    delta : float, default 1e-5
    max_grad_norm : float, default 1.0
        Clipping bound C of each example's gradient.
    sample_rate : float, default 1.0
        Poisson sampling rate q of the training run this step belongs to (batch / data set).
    steps : int, default 1
        Number of DP-SGD steps the (ε, δ) budget covers.
    accountant : {"rdp", "prv"}, default "rdp"
    seed : int, default 0

    Raises
    ------
    ValueError
        On settings out of range, or when called without the batch (``data``) or with an
        update that is not the batch's mean cross-entropy gradient at ``model``.

    Examples
    --------
    >>> dp = DPSGD(epsilon=8.0)
    >>> round(dp.noise_multiplier, 2)
    0.64
    """

    name = "DP-SGD"
    formal = True

    def __init__(
        self,
        epsilon: float,
        *,
        delta: float = 1e-5,
        max_grad_norm: float = 1.0,
        sample_rate: float = 1.0,
        steps: int = 1,
        accountant: str = "rdp",
        seed: int = 0,
    ) -> None:
        super().__init__(
            seed=seed,
            epsilon=check_number("epsilon", epsilon, positive=True, example=8.0),
            delta=check_probability("delta", delta, below_one=True, example="1e-5"),
            max_grad_norm=check_number("max_grad_norm", max_grad_norm, positive=True, example=1.0),
            sample_rate=check_probability(
                "sample_rate", sample_rate, example="batch_size / dataset_size"
            ),
            steps=check_int("steps", steps),
            accountant=check_choice("accountant", accountant, ACCOUNTANTS),
        )
        self.noise_multiplier = noise_multiplier_for(
            self.epsilon,
            delta=self.delta,
            sample_rate=self.sample_rate,
            steps=self.steps,
            accountant=self.accountant,
        )

    def epsilon_spent(self, steps: int | None = None) -> float:
        """ε actually spent after ``steps`` releases (default: all), at most :attr:`epsilon`."""
        return epsilon_spent(
            self.noise_multiplier,
            sample_rate=self.sample_rate,
            steps=steps or self.steps,
            delta=self.delta,
            accountant=self.accountant,
        )

    def per_example_gradients(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, names: Sequence[str]
    ) -> torch.Tensor:
        """``[B, P]`` matrix of per-example cross-entropy gradients of the parameters ``names``."""

        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}

        def loss_one(p, x, y):
            logits = functional_call(model, (p, buffers), (x.unsqueeze(0),))
            return F.cross_entropy(logits, y.unsqueeze(0))

        grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, images, labels)
        return torch.cat([grads[k].reshape(len(labels), -1) for k in names], dim=1)

    def _protect(self, update: Update, *, model: nn.Module | None, data, step: int) -> Update:
        if (
            model is None
            or data is None
            or not isinstance(data, (tuple, list))
            or len(data) != 2
            or data[1] is None
        ):
            raise ValueError(
                "DPSGD clips per-example gradients, so it needs the model and the labelled batch: "
                "call it as defense(update, model=model, data=(images, labels)). Inside FedAvg's "
                "local training use LocalDPSGD with PrivateFedAvg instead (a local step's "
                "defense sees no labels)."
            )
        _check_no_batch_norm(model)
        images, labels = data
        names = protected_names(update, model)
        device = next(model.parameters()).device
        per_example = self.per_example_gradients(model, images.to(device), labels.to(device), names)
        mean = per_example.mean(0)
        given = flatten_update(update, names).to(mean)
        if float((mean - given).norm()) > 1e-3 * float(given.norm()) + 1e-6:
            raise ValueError(
                "The update is not the mean cross-entropy gradient of `data` at the model's "
                "weights (e.g. a model delta after local steps). DPSGD privatises one gradient "
                "step; for local training use "
                "LocalDPSGD with PrivateFedAvg."
            )
        norms = per_example.norm(dim=1, keepdim=True)
        clipped = per_example * (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        noise = self._noise(
            clipped.shape[1:], "gaussian", self.noise_multiplier * self.max_grad_norm, clipped
        )
        private = (clipped.sum(0) + noise) / len(labels)
        start = 0
        for k in names:
            n = update[k].numel()
            update[k] = private[start : start + n].reshape(update[k].shape).to(update[k].dtype)
            start += n
        return update


class PrivacyLedger(Configurable):
    """ε after every round for every client: the record a DP deployment keeps.

    Each client has its own Opacus accountant; :meth:`spend` composes one more sampled
    Gaussian mechanism into it, :meth:`close_round` reads every client's ε at δ.

    Parameters
    ----------
    num_clients : int
    delta : float
    accountant : {"rdp", "prv"}, default "rdp"
    """

    def __init__(self, num_clients: int, *, delta: float, accountant: str = "rdp") -> None:
        self.save_settings(
            num_clients=check_int("num_clients", num_clients),
            delta=check_probability("delta", delta, below_one=True, example="1e-5"),
            accountant=check_choice("accountant", accountant, ACCOUNTANTS),
        )
        self._accountants = [_make_accountant(accountant) for _ in range(num_clients)]
        self._rows: list[dict] = []

    def spend(
        self, client: int, *, noise_multiplier: float, sample_rate: float, steps: int = 1
    ) -> None:
        """Compose ``steps`` sampled Gaussian mechanisms (σ, q) into ``client``'s budget."""
        acc = self._accountants[client]
        for _ in range(steps):
            acc.step(noise_multiplier=float(noise_multiplier), sample_rate=float(sample_rate))

    def epsilon(self, client: int) -> float:
        """``client``'s ε so far (0 before it took part)."""
        return _accountant_epsilon(self._accountants[client], self.delta)

    def close_round(self, rnd: int) -> None:
        """Record every client's ε after round ``rnd`` (equal histories computed once)."""
        cache: dict[tuple, float] = {}
        row = {}
        for k, acc in enumerate(self._accountants):
            key = tuple(acc.history)
            if key not in cache:
                cache[key] = self.epsilon(k)
            row[k] = cache[key]
        self._rows.append({"round": rnd, **row})

    def table(self) -> pd.DataFrame:
        """Round × client DataFrame of ε (index ``round``, columns client ids)."""
        frame = pd.DataFrame(self._rows, columns=["round", *range(self.num_clients)]).set_index(
            "round"
        )
        frame.columns.name = "client"
        return frame


class LocalDPSGD(Configurable):
    """Example-level DP on every client: Opacus DP-SGD inside local training.

    Each client trains with Opacus' ``GradSampleModule`` (per-example gradients),
    ``DPOptimizer`` (clip each to ``max_grad_norm``, add N(0, σ²C²), average over the
    expected batch) and ``DPDataLoader`` (Poisson sampling with rate q_k = B / n_k, the
    sampling the accountant assumes) for ``local_epochs · round(n_k / B)`` steps per round.
    One σ serves all clients (the server announces it): the smallest σ with which every
    client taking part in all ``rounds`` rounds ends within (ε, δ). Clients with more data
    (smaller q_k) or fewer rounds spend less; the ledger shows each client's ε. Client
    sampling is not counted as amplification (the server knows who takes part).

    Parameters
    ----------
    epsilon : float
        Each client's budget after ``rounds`` rounds.
    delta : float, default 1e-5
    max_grad_norm : float, default 1.0
    rounds : int
        Rounds the budget must last.
    accountant : {"rdp", "prv"}, default "rdp"
    seed : int, default 0
        Seeds the Poisson batches and the noise.
    """

    formal = True
    name = "local DP-SGD"

    def __init__(
        self,
        epsilon: float,
        *,
        delta: float = 1e-5,
        max_grad_norm: float = 1.0,
        rounds: int,
        accountant: str = "rdp",
        seed: int = 0,
    ) -> None:
        self.save_settings(
            epsilon=check_number("epsilon", epsilon, positive=True, example=8.0),
            delta=check_probability("delta", delta, below_one=True, example="1e-5"),
            max_grad_norm=check_number("max_grad_norm", max_grad_norm, positive=True, example=1.0),
            rounds=check_int("rounds", rounds),
            accountant=check_choice("accountant", accountant, ACCOUNTANTS),
            seed=check_seed(seed),
        )
        self.noise_multiplier: float | None = None
        self.sample_rates: list[float] = []
        self.steps_per_round: list[int] = []
        self.ledger: PrivacyLedger | None = None

    def calibrate(self, client_sizes: Sequence[int], *, batch_size: int, local_epochs: int) -> None:
        """Choose each client's sample rate and steps per round and one σ for all; fresh ledger.

        σ is calibrated on the client with the largest sample rate (the smallest data set),
        which spends the most per epoch, then checked on every other client (and raised if
        one of them would exceed ε, which the sampled Gaussian's RDP makes rare).
        """
        check_int("batch_size", batch_size)
        check_int("local_epochs", local_epochs)
        sizes = [check_int("client size", int(n)) for n in client_sizes]
        if min(sizes) < batch_size:
            raise ValueError(
                f"A client holds {min(sizes)} examples, fewer than batch_size={batch_size}; "
                "lower batch_size."
            )
        self.batch_size, self.local_epochs = batch_size, local_epochs
        self.sample_rates = [batch_size / n for n in sizes]
        self.steps_per_round = [local_epochs * round(n / batch_size) for n in sizes]
        plans = sorted(
            {(q, t) for q, t in zip(self.sample_rates, self.steps_per_round)}, reverse=True
        )
        sigma = noise_multiplier_for(
            self.epsilon,
            delta=self.delta,
            sample_rate=plans[0][0],
            steps=self.rounds * plans[0][1],
            accountant=self.accountant,
        )
        for q, t in plans[1:]:
            if (
                epsilon_spent(
                    sigma,
                    sample_rate=q,
                    steps=self.rounds * t,
                    delta=self.delta,
                    accountant=self.accountant,
                )
                > self.epsilon
            ):
                sigma = max(
                    sigma,
                    noise_multiplier_for(
                        self.epsilon,
                        delta=self.delta,
                        sample_rate=q,
                        steps=self.rounds * t,
                        accountant=self.accountant,
                    ),
                )
        self.noise_multiplier = sigma
        self.ledger = PrivacyLedger(len(sizes), delta=self.delta, accountant=self.accountant)

    def local_update(
        self,
        model: nn.Module,
        global_state: Update,
        data: tuple[torch.Tensor, torch.Tensor],
        *,
        client: int,
        rnd: int,
        lr: float,
        momentum: float,
        weight_decay: float,
        run_seed: int = 0,
    ) -> tuple[Update, float]:
        """Train ``model`` from ``global_state`` with DP-SGD on the client's data.

        The Poisson batches and the noise come from a generator seeded by this mechanism's
        seed, the federation's ``run_seed``, the round and the client, so two FedAvg seeds
        are two different runs. Returns Δ and the mean loss.
        """

        if self.ledger is None:
            raise ValueError(
                "Call calibrate(client_sizes, batch_size=..., local_epochs=...) first "
                "(PrivateFedAvg does it)."
            )
        _check_no_batch_norm(model)
        model.load_state_dict(global_state, strict=False)
        model.train()
        run = self.seed * 1_000_003 + check_seed(run_seed)
        generator = torch.Generator().manual_seed(run * 100_003 + rnd * 1_009 + client)
        wrapped = GradSampleModule(model)
        optimizer = DPOptimizer(
            torch.optim.SGD(
                wrapped.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
            ),
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.max_grad_norm,
            expected_batch_size=self.batch_size,
            generator=generator,
        )
        images, labels = data
        device = next(model.parameters()).device
        loader = DPDataLoader(
            torch.utils.data.TensorDataset(images, labels),
            sample_rate=self.sample_rates[client],
            generator=generator,
        )
        losses, steps = [], 0
        try:
            with warnings.catch_warnings():
                # Opacus' hooks on the first layer see no input gradient (images need none)
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                while steps < self.steps_per_round[client]:
                    for x, y in loader:
                        if steps == self.steps_per_round[client]:
                            break
                        optimizer.zero_grad()
                        if len(y):
                            loss = F.cross_entropy(wrapped(x.to(device)), y.to(device))
                            loss.backward()
                            losses.append(loss.item())
                        else:  # an empty Poisson batch still releases noise
                            for p in wrapped.parameters():
                                p.grad_sample = torch.zeros(
                                    (0, *p.shape), dtype=p.dtype, device=p.device
                                )
                        optimizer.step()
                        steps += 1
        finally:
            wrapped.to_standard_module()  # remove Opacus' hooks and per-sample attributes
        self.ledger.spend(
            client,
            noise_multiplier=self.noise_multiplier,
            sample_rate=self.sample_rates[client],
            steps=steps,
        )
        update = {
            k: v.detach() - global_state[k]
            for k, v in model.state_dict().items()
            if k in global_state
        }
        return update, float(np.mean(losses)) if losses else float("nan")

    def sample(self, rng: np.random.Generator, num_clients: int, fraction: float) -> list[int]:
        """FedAvg's client choice: ``max(1, round(C·K))`` clients without replacement."""
        m = max(1, round(fraction * num_clients))
        return sorted(rng.choice(num_clients, size=m, replace=False).tolist())

    def aggregate(
        self, updates: list[Update], weights: list[float], global_state: Update
    ) -> Update:
        """FedAvg's weighted average (the privacy is in the clients' updates already)."""
        return weighted_average(updates, weights)

    def close_round(self, rnd: int, chosen: Sequence[int]) -> None:
        """Record ε after round ``rnd`` (participants were charged in :meth:`local_update`)."""
        self.ledger.close_round(rnd)


class DPFedAvg(Configurable):
    """Client-level DP-FedAvg (McMahan et al. 2018, Alg. 1, the fixed-denominator estimator).

    Each round every client takes part independently with probability q (Poisson
    sampling); each participant's update Δ_k is clipped to L2 norm S (flat clipping over
    all floating entries); the server releases

    .. math:: \\Delta = \\frac{1}{qK}\\Big(\\sum_{k \\in C_t}
              \\Delta_k\\,\\min(1, S/\\lVert\\Delta_k\\rVert)
              + \\mathcal N(0, z^2 S^2 I)\\Big)

    with K clients and uniform weights w_k = 1 (their Eq. for f̃_f with W = K), so the
    sensitivity of the sum to one client is S and the noise multiplier is z. Each round is a
    sampled Gaussian mechanism (z, q) in Opacus' accountant; the guarantee covers a client's
    whole data and is the same for every client.

    Parameters
    ----------
    clip_norm : float
        S, the bound of each client's update norm.
    sample_rate : float
        q, each client's probability of taking part in a round.
    rounds : int
        Rounds the budget covers (used when calibrating from ``epsilon``).
    noise_multiplier : float, optional
        z; give either this or ``epsilon``.
    epsilon : float, optional
        Target ε after ``rounds`` rounds; z is then the smallest that reaches it.
    delta : float, default 1e-5
    accountant : {"rdp", "prv"}, default "rdp"
    seed : int, default 0
        Seeds client sampling and the noise.
    """

    formal = True
    name = "DP-FedAvg"

    def __init__(
        self,
        *,
        clip_norm: float,
        sample_rate: float,
        rounds: int,
        noise_multiplier: float | None = None,
        epsilon: float | None = None,
        delta: float = 1e-5,
        accountant: str = "rdp",
        seed: int = 0,
    ) -> None:
        if (noise_multiplier is None) == (epsilon is None):
            raise ValueError(
                "Give exactly one of noise_multiplier (z) and epsilon (the target after `rounds`)."
            )
        self.save_settings(
            clip_norm=check_number("clip_norm", clip_norm, positive=True, example=1.0),
            sample_rate=check_probability("sample_rate", sample_rate, example=0.1),
            rounds=check_int("rounds", rounds),
            delta=check_probability("delta", delta, below_one=True, example="1e-5"),
            accountant=check_choice("accountant", accountant, ACCOUNTANTS),
            seed=check_seed(seed),
        )
        if epsilon is not None:
            self.noise_multiplier = noise_multiplier_for(
                epsilon,
                delta=self.delta,
                sample_rate=self.sample_rate,
                steps=self.rounds,
                accountant=self.accountant,
            )
        else:
            self.noise_multiplier = check_number(
                "noise_multiplier", noise_multiplier, positive=True, example=1.0
            )
        self.epsilon = epsilon_spent(
            self.noise_multiplier,
            sample_rate=self.sample_rate,
            steps=self.rounds,
            delta=self.delta,
            accountant=self.accountant,
        )
        self.ledger: PrivacyLedger | None = None

    def calibrate(self, client_sizes: Sequence[int], **_) -> None:
        """Start a fresh ledger and noise stream for ``len(client_sizes)`` clients."""
        self.num_clients = len(client_sizes)
        self.ledger = PrivacyLedger(self.num_clients, delta=self.delta, accountant=self.accountant)
        self._generator = torch.Generator().manual_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)

    def sample(self, rng: np.random.Generator, num_clients: int, fraction: float) -> list[int]:
        """Poisson sampling: each client independently with probability q (may be empty)."""
        return np.flatnonzero(self._rng.random(num_clients) < self.sample_rate).tolist()

    def clip(self, update: Mapping[str, torch.Tensor]) -> Update:
        """Scale ``update`` to L2 norm at most S over all its floating entries."""
        names = [k for k, v in update.items() if v.is_floating_point()]
        norm = float(flatten_update(update, names).double().norm())
        factor = min(1.0, self.clip_norm / (norm + 1e-12))
        return {k: v * factor if k in names else v.clone() for k, v in update.items()}

    def aggregate(
        self, updates: list[Update], weights: list[float], global_state: Update
    ) -> Update:
        """Sum of the clipped updates plus N(0, z²S²), over the expected number of clients qK."""
        denominator = self.sample_rate * self.num_clients
        std = self.noise_multiplier * self.clip_norm
        out = {}
        for k, ref in global_state.items():
            total = sum(u[k] for u in updates) if updates else torch.zeros_like(ref)
            noise = torch.randn(ref.shape, generator=self._generator).to(ref) * std
            out[k] = (total + noise) / denominator
        return out

    def close_round(self, rnd: int, chosen: Sequence[int]) -> None:
        """Charge every client (sampled or not) one sampled Gaussian mechanism (z, q); record ε."""
        for k in range(self.num_clients):
            self.ledger.spend(
                k, noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate
            )
        self.ledger.close_round(rnd)


class PrivateFedAvg(FedAvg):
    """:class:`~fl_course.federation.FedAvg` with a DP mechanism.

    The mechanism is :class:`LocalDPSGD` or :class:`DPFedAvg`.

    A FedAvg defense transforms one client's update, but DP changes two more things: *how
    clients are sampled* (DP-FedAvg's accountant assumes Poisson sampling; FedAvg draws a
    fixed number) and *how a client trains* (DP-SGD needs per-example gradients and
    Poisson batches). This subclass replaces exactly those: :meth:`run_round` asks the
    mechanism to sample, aggregate and close the ledger; :meth:`_client_update` delegates
    local training to :class:`LocalDPSGD`, or clips DP-FedAvg's finished update
    (:meth:`DPFedAvg.clip`).

    Parameters
    ----------
    model_fn, client_data, **kwargs
        As for :class:`~fl_course.federation.FedAvg`, without ``defense``,
        ``placement`` and ``server_transform`` (the mechanism is the defense).
    mechanism : LocalDPSGD or DPFedAvg

    Attributes
    ----------
    ledger : PrivacyLedger
        ε after each round for each client.

    Examples
    --------
    >>> sim = PrivateFedAvg(lambda: SmallCNN(), parts, test_data=test, rounds=3,
    ...                     mechanism=LocalDPSGD(8.0, rounds=3))  # doctest: +SKIP
    >>> history = sim.run(); sim.ledger.table()  # doctest: +SKIP
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        client_data,
        *,
        mechanism: LocalDPSGD | DPFedAvg,
        **kwargs,
    ) -> None:
        if not isinstance(mechanism, (LocalDPSGD, DPFedAvg)):
            raise ValueError(
                f"mechanism must be a LocalDPSGD or DPFedAvg, got {type(mechanism).__name__}."
            )
        for keyword in ("defense", "placement", "server_transform"):
            if kwargs.get(keyword) is not None:
                raise ValueError(
                    f"PrivateFedAvg's mechanism is its defense; do not pass {keyword}."
                )
        if isinstance(mechanism, DPFedAvg):
            if kwargs.get("fraction", 1.0) != 1.0:
                raise ValueError(
                    "DPFedAvg samples each client with its own sample_rate (Poisson); leave "
                    "fraction at 1 and set DPFedAvg(sample_rate=...)."
                )
        if isinstance(mechanism, LocalDPSGD) and kwargs.get("batch_size", 32) is None:
            raise ValueError(
                "LocalDPSGD needs a batch size (its Poisson sampling rate is batch_size / n_k)."
            )
        super().__init__(model_fn, client_data, **kwargs)
        if isinstance(mechanism, LocalDPSGD) and self.rounds > mechanism.rounds:
            raise ValueError(
                f"LocalDPSGD's budget covers {mechanism.rounds} rounds but FedAvg runs "
                f"{self.rounds}; "
                "build LocalDPSGD(..., rounds=...) with the same number."
            )
        self.mechanism = mechanism
        mechanism.calibrate(
            [len(y) for _, y in self.client_data],
            batch_size=self.batch_size,
            local_epochs=self.local_epochs,
        )

    @property
    def ledger(self) -> PrivacyLedger:
        return self.mechanism.ledger

    def _client_update(self, client: int, rnd: int, global_state: Update) -> tuple[Update, float]:
        if isinstance(self.mechanism, LocalDPSGD):
            return self.mechanism.local_update(
                self.model,
                global_state,
                self.client_data[client],
                client=client,
                rnd=rnd,
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                run_seed=self.seed,
            )
        update, loss = super()._client_update(client, rnd, global_state)
        return self.mechanism.clip(update), loss

    def run_round(self, rnd: int) -> dict:
        """One round: the mechanism samples, clients train, it aggregates and accounts."""
        start, cpu_start = time.perf_counter(), time.process_time()
        chosen = self.mechanism.sample(self._rng, self.num_clients, self.fraction)
        global_state = self._global_state()
        updates, weights, losses = self._train_clients(chosen, rnd, global_state)
        step = self.mechanism.aggregate(updates, weights, global_state)
        self.model.load_state_dict(
            {k: global_state[k] + step[k] for k in global_state}, strict=False
        )
        self.mechanism.close_round(rnd, chosen)
        accuracy, test_loss = accuracy_and_loss(self.model, self.test_data)
        epsilons = self.ledger.table().loc[rnd]
        return {
            "round": rnd,
            "clients": len(chosen),
            "train_loss": float(np.average(losses, weights=weights)) if chosen else float("nan"),
            "test_loss": test_loss,
            "test_accuracy": accuracy,
            "epsilon_max": float(epsilons.max()),
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start,
        }


def identification_bound(epsilon: float, delta: float, prior_size: int) -> float:
    """Largest chance that an attacker names the victim among ``prior_size`` equal candidates.

    For a mechanism that is (ε, δ)-DP under adding or removing one example, compare the
    release with the victim's example present and absent: the attacker's guess from the
    second is independent of the victim, so it names the victim with probability 1/n, and
    DP moves the probability of any event by at most a factor e^ε plus δ. Hence
    ``P(success) ≤ e^ε / n + δ``: the reconstruction-robustness bound of Balle, Cherubin and
    Hayes (2022) for a uniform prior over n points and exact identification.

    Examples
    --------
    >>> round(identification_bound(1.0, 1e-5, 10), 3)
    0.272
    """
    check_number("epsilon", epsilon, non_negative=True, example=8.0)
    check_probability("delta", delta, below_one=True, example="1e-5")
    check_int("prior_size", prior_size)
    return min(1.0, math.exp(epsilon) / prior_size + delta)


def epsilon_for_psnr(
    psnr_at: Callable[[float], float],
    target_psnr: float,
    *,
    low: float = 0.1,
    high: float = 1e4,
    evaluations: int = 10,
) -> tuple[float, pd.DataFrame]:
    """The largest ε (within a factor) at which an attack scores no more than ``target_psnr``.

    Bisection on log ε, assuming the attack's PSNR rises with ε (less noise). Use a
    ``psnr_at`` that fixes every seed, so that repeated calls at one ε agree.

    Parameters
    ----------
    psnr_at : callable
        ``psnr_at(epsilon) -> float``: run the attack against a DP-SGD-protected update at
        that ε and return its mean PSNR (dB).
    target_psnr : float
        E.g. the best trivial guess's PSNR on the same victims.
    low, high : float
        Search interval of ε; ``psnr_at(low)`` must be ≤ the target.
    evaluations : int, default 10
        Calls of ``psnr_at`` in the bisection after the two ends (final bracket ratio
        ``(high/low)^(1/2^evaluations)``).

    Returns
    -------
    epsilon : float
        The largest ε evaluated whose PSNR is at most the target (``high`` if even ``high`` is).
    trace : DataFrame
        Every evaluation: ``epsilon``, ``psnr``.
    """
    check_number("low", low, positive=True, example=0.1)
    check_number("high", high, positive=True, example=100.0)
    if low >= high:
        raise ValueError(f"low must be below high, got low={low}, high={high}.")
    check_int("evaluations", evaluations)
    trace = []

    def run(eps: float) -> float:
        value = float(psnr_at(eps))
        trace.append({"epsilon": eps, "psnr": value})
        return value

    if run(low) > target_psnr:
        raise ValueError(
            f"Even ε = {low} leaves the attack above {target_psnr:.2f} dB; lower `low`."
        )
    if run(high) <= target_psnr:
        return high, pd.DataFrame(trace)
    lo, hi = math.log(low), math.log(high)
    for _ in range(evaluations):
        mid = (lo + hi) / 2
        if run(math.exp(mid)) <= target_psnr:
            lo = mid
        else:
            hi = mid
    return math.exp(lo), pd.DataFrame(trace)


def exact_gaussian_epsilon(sigma: float, delta: float) -> float:
    """Exact ε of one Gaussian release with sensitivity 1 and noise std ``sigma``.

    The analytic Gaussian mechanism (Balle and Wang 2018, Thm. 8): the release is
    (ε, δ)-DP exactly when Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ) ≤ δ; the smallest such ε is
    found by root finding. An accountant may report more, never less.

    Examples
    --------
    >>> round(exact_gaussian_epsilon(1.0, 1e-5), 3)
    4.377
    """

    check_number("sigma", sigma, positive=True, example=1.0)
    check_probability("delta", delta, below_one=True, example="1e-5")

    def delta_at(eps: float) -> float:
        return standard_normal.cdf(1 / (2 * sigma) - eps * sigma) - math.exp(
            eps
        ) * standard_normal.cdf(-1 / (2 * sigma) - eps * sigma)

    return float(brentq(lambda e: delta_at(e) - delta, 0.0, 500.0))
