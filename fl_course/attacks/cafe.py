"""CAFE: catastrophic data leakage from large-batch aggregated gradients (Jin et al., 2021).

A curious server that *chooses the sample indices* of every mini-batch (as vertical FL needs
for sample alignment) keeps one fake sample per real sample and, iteration after iteration,
optimises the fake samples whose indices form the current batch so that their gradients match
the shared ones. Three steps run in every iteration :cite:p:`jin2021cafe` (their
Algorithms 1 and 2 for steps 1–2, and the single-loop CAFE of Algorithm 4):

1. **Output gradients of the first FC layer.** Its bias gradient is the sum over the batch
   of the per-sample gradients ``v_n`` of the layer's output, ``∇b = Σ_{n∈s} v_n``. A matrix
   ``V̂`` with one row per sample is fitted to these sums across iterations.
2. **Inputs of the first FC layer.** Its weight gradient is ``∇W = Σ_{n∈s} v_n h_nᵀ``;
   with ``V̂`` fixed this is linear in the per-sample inputs ``Ĥ`` (for one sample it is
   Proposition 3.1 of :cite:t:`geiping2020inverting`, ``h = ∇W_i / ∇b_i``).
3. **Data.** The fake batch minimises gradient matching plus a thresholded total variation
   and the internal-representation term, eq. (8):

   ``F(X̂) = D(X̂) + β·max(TV(X̂) − ξ, 0) + γ·‖H(X̂) − Ĥ‖²``.

In HFL the matched gradient is the workers' average, eqs. (9–10).

Optimisers. Step 3, the data, uses **Adam** with moment estimates kept per sample and updated
only when the sample is in the batch, at the authors' constant learning rate 0.01 (``config.py``
of DeRafael/CAFE: ``cafe_learning_rate = 0.01``, ``decay_ratio = 1``); the fake data start
uniform in [0, 1]. :data:`VARIANTS` names this default ``"authors"`` and our faster setting
``"fast"`` (lr 0.1, cosine-annealed to 0.001), which the lab measures against it. While the
model trains, the paper optimises the fakes ``k`` times per real batch (Section 4.4, k = 10):
``inner_steps``. Steps 1 and 2 are linear least-squares problems
that the paper treats with one gradient step per iteration; we reach the same minimisers
faster. Step 1 solves the least-squares problem over *all* iterations seen so far exactly
(:class:`OutputGradientRecovery`). Step 2 takes the limit of gradient steps on the batch's
rows from the current estimate, a projection (:func:`recover_fc_inputs_step`).

Other departures, all stated: the data step starts once step 1 has full rank (before that the
representations are undetermined); gradient matching and the representation term are divided
by the squared norm of their targets (weights independent of the gradients' size); the fake
data are clipped to [0, 1] after every step.

Examples
--------
>>> import torch
>>> from fl_course.federation import IndexedFedSGD
>>> from fl_course.attacks.cafe import Cafe
>>> data = [(torch.rand(4, 1, 28, 28), torch.arange(4)) for _ in range(2)]
>>> attack = Cafe(IndexedFedSGD(data, batch_size=2, seed=0), seed=0, progress=False)
>>> history = attack.run(3)
>>> list(history.columns)[:3], attack.fake_data.shape
(['iteration', 'seconds', 'train_loss'], torch.Size([8, 1, 28, 28]))
"""

from __future__ import annotations

import functools
import math
import time

import pandas as pd
import torch
from tqdm.auto import tqdm

from fl_course.attacks.optimization import cosine_distance, euclidean_distance, total_variation
from fl_course.checks import (
    Configurable,
    check_choice,
    check_int,
    check_number,
    check_probability,
    check_seed,
)
from fl_course.federation import ServerIndexedFederation
from fl_course.metrics import psnr

__all__ = [
    "Cafe",
    "VARIANTS",
    "IndexedAdam",
    "OutputGradientRecovery",
    "recover_fc_inputs_step",
    "thresholded_tv",
]


VARIANTS: dict[str, dict] = {
    # DeRafael/CAFE config.py: Adam on the data at a constant 0.01 (decay_ratio = 1)
    "authors": {"lr": 0.01, "schedule": "constant"},
    # ours: ten times the step, annealed; converges in far fewer iterations on a CPU
    "fast": {"lr": 0.1, "schedule": "cosine"},
}
"""Learning-rate settings of CAFE's data step: ``Cafe(setting, **VARIANTS["fast"])``."""

SCHEDULES = ("constant", "cosine")


class OutputGradientRecovery:
    """Step 1: per-sample output gradients ``V̂`` of the first FC layer from its bias gradients.

    Every iteration ``t`` gives one equation ``Σ_{n∈s_t} v_n = ∇b_t``. CAFE (Algorithm 1)
    takes a gradient step on ``‖Σ_{n∈s_t} v̂_n − ∇b_t‖²`` per iteration; we minimise the same
    objective summed over the iterations seen so far, ``Σ_t ρ^{T−t}‖Σ_{n∈s_t} v̂_n − ∇b_t‖²``,
    exactly (its normal equations are ``N × N``), which needs far fewer iterations. The
    forgetting factor ``ρ`` ≤ 1 discounts equations from older parameters while the model
    trains. ``V̂`` becomes exact once the batches seen span all ``N`` samples (``A`` has full rank).

    Parameters
    ----------
    num_samples : int
        ``N``, the number of samples (one row of ``V̂`` each).
    width : int
        Output width of the first FC layer.
    forgetting : float
        ``ρ`` in (0, 1].

    Examples
    --------
    >>> import torch
    >>> v = torch.tensor([[1.0], [2.0], [4.0]])
    >>> rec = OutputGradientRecovery(3, 1)
    >>> for batch in ([0, 1], [1, 2], [0, 2]):
    ...     rec.update(torch.tensor(batch), v[batch].sum(0))
    >>> torch.allclose(rec.solve(), v)
    True
    """

    def __init__(self, num_samples: int, width: int, forgetting: float = 1.0, device="cpu") -> None:
        self.forgetting = check_probability(
            "forgetting", forgetting, example="1 for a frozen model"
        )
        self.gram = torch.zeros(num_samples, num_samples, dtype=torch.float64, device=device)
        self.rhs = torch.zeros(num_samples, width, dtype=torch.float64, device=device)

    def update(self, rows: torch.Tensor, grad_bias: torch.Tensor) -> None:
        """Add the equation of one iteration: the rows in the batch sum to ``grad_bias``."""
        self.gram *= self.forgetting
        self.rhs *= self.forgetting
        self.gram[rows.unsqueeze(1), rows.unsqueeze(0)] += 1.0
        self.rhs[rows] += grad_bias.to(self.rhs.dtype)

    def solve(self) -> torch.Tensor:
        """The least-squares ``V̂`` (a tiny ridge keeps unseen samples at zero)."""
        ridge = 1e-9 * (1.0 + float(self.gram.diagonal().max()))
        eye = torch.eye(self.gram.shape[0], dtype=self.gram.dtype, device=self.gram.device)
        return torch.linalg.solve(self.gram + ridge * eye, self.rhs).float()


def recover_fc_inputs_step(
    h_batch: torch.Tensor, v_batch: torch.Tensor, grad_weight: torch.Tensor
) -> torch.Tensor:
    """Step 2: fit the batch's rows of ``Ĥ`` to the weight gradient ``∇W = V̂ᵀĤ``.

    CAFE (Algorithm 2) takes gradient steps on ``‖∇W − V̂ᵀĤ‖²``; we take the limit of those
    steps from the current estimate, the projection
    ``Ĥ ← Ĥ + (V̂ᵀ)⁺(∇W − V̂ᵀĤ)``: the smallest change that makes the batch's weight gradient
    exact. When the layer is at least as wide as the batch and ``V̂`` has full rank, this
    recovers the batch's inputs exactly from one gradient (for one sample it is
    :func:`fl_course.attacks.analytic.recover_linear_input`).

    Parameters
    ----------
    h_batch : torch.Tensor
        ``[b, in]`` current estimate of the first FC layer's inputs.
    v_batch : torch.Tensor
        ``[b, out]`` output gradients from step 1.
    grad_weight : torch.Tensor
        ``[out, in]`` shared weight gradient.

    Returns
    -------
    torch.Tensor
        Updated ``[b, in]`` estimate.

    Examples
    --------
    >>> import torch
    >>> v, h = torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> torch.allclose(recover_fc_inputs_step(torch.zeros(2, 2), v, v.T @ h), h)
    True
    """
    residual = grad_weight - v_batch.T @ h_batch
    return h_batch + torch.linalg.pinv(v_batch.T.double(), rtol=1e-6).float() @ residual


def thresholded_tv(pieces: list[torch.Tensor], threshold: float) -> torch.Tensor:
    """CAFE's TV term ``max(TV − ξ, 0)`` (eq. 8), with TV the batch mean over pieces.

    Following the authors' code, TV is averaged over the batch and over the workers' pieces
    (one piece in HFL, four quarters in VFL), so the term and its gradient are zero while the
    fake batch is smoother than ``threshold`` (ξ) and it pulls towards smoothness above it.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    >>> float(thresholded_tv([x], 1.5)), float(thresholded_tv([x], 3.0))
    (0.5, 0.0)
    """
    if threshold < 0:
        raise ValueError(f"The TV threshold ξ must be non-negative, got {threshold}.")
    tv = torch.stack([total_variation(p, reduction="none").mean() for p in pieces]).mean()
    return torch.clamp(tv - threshold, min=0.0)


#: CAFE's gradient-matching distances: the squared Euclidean distance divided by the shared
#: gradient's squared norm, and the cosine distance of :cite:t:`geiping2020inverting`.
_MATCHING_DISTANCES = {
    "l2": functools.partial(euclidean_distance, normalize=True),
    "cosine": cosine_distance,
}


class IndexedAdam:
    """Adam over a table of per-sample variables, updating only the rows of the batch.

    Each row keeps its own first and second moments and its own step count (the authors'
    code keeps the moments per sample but uses the global iteration for bias correction).

    Parameters
    ----------
    table : torch.Tensor
        ``[N, ...]`` variables, updated in place.
    lr : float
        Learning rate.
    betas : tuple of float
        Adam's ``(β1, β2)``.
    eps : float
        Adam's ε.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(3, 2)
    >>> IndexedAdam(x, lr=0.1).step(torch.tensor([1]), torch.ones(1, 2))
    >>> [round(v, 4) for v in x[:, 0].tolist()]
    [0.0, -0.1, 0.0]
    """

    def __init__(
        self, table: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8
    ) -> None:
        check_number("lr", lr, positive=True, example=0.01)
        self.table, self.lr, self.betas, self.eps = table, lr, betas, eps
        self.m = torch.zeros_like(table)
        self.v = torch.zeros_like(table)
        self.t = torch.zeros(table.shape[0], dtype=torch.long, device=table.device)

    @torch.no_grad()
    def step(self, rows: torch.Tensor, grad: torch.Tensor, lr: float | None = None) -> None:
        """Apply one Adam step to ``table[rows]`` with gradient ``grad`` (``[len(rows), ...]``)."""
        b1, b2 = self.betas
        self.t[rows] += 1
        shape = (-1,) + (1,) * (self.table.dim() - 1)
        t = self.t[rows].to(self.table.dtype).view(shape)
        self.m[rows] = b1 * self.m[rows] + (1 - b1) * grad
        self.v[rows] = b2 * self.v[rows] + (1 - b2) * grad.pow(2)
        m_hat = self.m[rows] / (1 - b1**t)
        v_hat = self.v[rows] / (1 - b2**t)
        self.table[rows] -= (self.lr if lr is None else lr) * m_hat / (v_hat.sqrt() + self.eps)


class Cafe(Configurable):
    """The CAFE attack of a curious server on a
    :class:`~fl_course.federation.server_indexed.ServerIndexedFederation`.

    Parameters
    ----------
    setting : ServerIndexedFederation
        The federation under attack (:class:`~fl_course.federation.VerticalFL` or
        :class:`~fl_course.federation.IndexedFedSGD`). The server drives it: it chooses
        every batch's indices (``setting.choose_batch``), observes the shared gradients
        (``setting.step``, after the setting's ``defense``) and knows the parameters.
    lr : float
        Adam learning rate of step 3; default 0.01, the authors' (:data:`VARIANTS`).
    schedule : {"constant", "cosine"}
        ``"constant"`` keeps ``lr`` (the authors'); ``"cosine"`` anneals it to ``lr/100``
        over each :meth:`run` (our ``"fast"`` variant).
    inner_steps : int
        ``k``, data steps (step 3) per real batch; steps 1–2 run once per batch. The paper
        uses k = 10 while the model trains (Section 4.4); 1 on a frozen model.
    rep_weight : float
        γ, weight of the internal-representation term; 0 switches steps 1–2 off.
    tv_weight : float
        β, weight of the thresholded TV term; 0 switches it off.
    tv_threshold : float, optional
        ξ, the TV level below which the TV term is inactive (eq. 8), per image piece; by
        default the setting's ``tv_threshold`` (set a little above MNIST's mean TV).
    distance : {"l2", "cosine"}
        Gradient-matching distance (CAFE uses squared L2; cosine is the ablation).
    label_lr : float
        Adam learning rate of the fake labels' logits (HFL only; VFL's server holds labels).
    forgetting : float
        Forgetting factor ρ of step 1 (:class:`OutputGradientRecovery`); below 1 when the
        model trains fast.
    seed : int
        Seeds the uniform initialisation of the fake data and of ``V̂``, ``Ĥ``.
    progress : bool
        Show a tqdm progress bar.

    Attributes
    ----------
    fake_data : torch.Tensor
        ``[N, C, H, W]`` fake samples, aligned with the real samples' indices.
    first_hit : torch.Tensor
        Per sample, the first evaluated iteration at which its PSNR reached 30 dB (NaN if never).

    Examples
    --------
    >>> import torch
    >>> from fl_course.federation import VerticalFL
    >>> vfl = VerticalFL(torch.rand(6, 1, 28, 28), torch.arange(6), batch_size=3, seed=0)
    >>> history = Cafe(vfl, seed=0, progress=False).run(8, eval_every=4)
    >>> history["iteration"].tolist()  # the data step starts once step 1 has full rank
    [8]
    """

    _unprinted_settings = ("setting",)  # the federation, too long for a repr

    def __init__(
        self,
        setting,
        *,
        lr: float = 0.01,
        rep_weight: float = 100.0,
        tv_weight: float = 1e-4,
        tv_threshold: float | None = None,
        distance: str = "l2",
        label_lr: float = 0.05,
        forgetting: float = 1.0,
        seed: int = 0,
        progress: bool = True,
        schedule: str = "constant",
        inner_steps: int = 1,
    ) -> None:
        if not isinstance(setting, ServerIndexedFederation):
            raise TypeError(
                f"setting is a {type(setting).__name__}; pass a federation whose server picks "
                "the batch ids: fl_course.federation.VerticalFL or IndexedFedSGD."
            )
        check_choice("distance", distance, tuple(_MATCHING_DISTANCES))
        check_choice("schedule", schedule, SCHEDULES)  # "constant" is the authors'
        # the paper takes 10 inner steps while the model trains
        check_int("inner_steps", inner_steps, example=10)
        check_number("lr", lr, positive=True, example=0.01)
        check_number("label_lr", label_lr, positive=True, example=0.05)
        if tv_threshold is None:
            tv_threshold = setting.tv_threshold
        # 0 switches a term off
        check_number("rep_weight", rep_weight, non_negative=True, example=0)
        check_number("tv_weight", tv_weight, non_negative=True, example=0)
        check_number("tv_threshold", tv_threshold, non_negative=True, example=0)
        check_seed(seed)
        self.save_settings()
        device = setting.device
        gen = torch.Generator().manual_seed(seed)
        n = setting.num_samples
        self.fake_data = torch.rand((n, *setting.sample_shape), generator=gen).to(device)
        self.label_logits = torch.rand((n, 10), generator=gen).to(device)
        self._data_opt = IndexedAdam(self.fake_data, lr)
        self._label_opt = IndexedAdam(self.label_logits, label_lr)
        blocks = setting.blocks()
        self._rep_blocks = setting.representation_blocks()
        self.v_hat, self.h_hat, self._step1 = [], [], []
        for k in self._rep_blocks:
            fc = blocks[k].fc1
            self.v_hat.append(torch.zeros((n, fc.out_features), device=device))
            self._step1.append(OutputGradientRecovery(n, fc.out_features, forgetting, device))
            self.h_hat.append(torch.rand((n, fc.in_features), generator=gen).to(device))
        self._h_scaled = [False] * len(self._rep_blocks)
        self._identified = False
        self.first_hit = torch.full((n,), float("nan"))
        self._iteration = 0
        self._loss0 = None

    def _recover_representations(self, idx: torch.Tensor, shared: list[dict]) -> None:
        w_name, b_name = self.setting.fc_names
        for j, k in enumerate(self._rep_blocks):
            gw, gb = shared[k][w_name], shared[k][b_name]
            if not self._h_scaled[j]:  # scale the uniform init to the gradients' size
                self.h_hat[j] *= float(gw.norm() / (gb.norm() + 1e-30)) / math.sqrt(gw.shape[1])
                self._h_scaled[j] = True
            self._step1[j].update(idx, gb)
            self.v_hat[j] = self._step1[j].solve()
            self.h_hat[j][idx] = recover_fc_inputs_step(self.h_hat[j][idx], self.v_hat[j][idx], gw)

    @property
    def identified(self) -> bool:
        """Whether the batches seen so far determine every sample's ``V̂`` (step 1 has full rank).

        Until then ``Ĥ`` is not determined either, so step 3 waits (a warm-up we add: fitting
        the data to undetermined representations only drives them into poor local minima).
        """
        if not self._identified and self._step1:
            gram = self._step1[0].gram
            self._identified = bool(torch.linalg.matrix_rank(gram) == gram.shape[0])
        return self._identified or not self._step1

    def _objective(
        self, idx: torch.Tensor, fake: torch.Tensor, logits: torch.Tensor, shared: list[dict]
    ):
        terms = {
            "matching": _MATCHING_DISTANCES[self.distance](
                *_paired_tensors(self.setting.fake_gradients(fake, idx, logits), shared)
            )
        }
        total = terms["matching"]
        if self.rep_weight > 0:
            rep = 0.0
            for j, h in enumerate(self.setting.fake_features(fake)):
                target = self.h_hat[j][idx]
                rep = rep + (h - target).pow(2).sum() / (target.pow(2).sum() + 1e-30)
            terms["representation"] = rep / len(self._rep_blocks)
            total = total + self.rep_weight * terms["representation"]
        if self.tv_weight > 0:
            terms["tv"] = thresholded_tv(self.setting.tv_pieces(fake), self.tv_threshold)
            total = total + self.tv_weight * terms["tv"]
        return total, terms

    def attack_step(
        self, idx: torch.Tensor, shared: list[dict], lr: float | None = None
    ) -> dict[str, float]:
        """Run steps 1–2 once and step 3 ``inner_steps`` times on the batch ``idx``.

        Returns the loss terms of the last data step (empty while step 1 lacks full rank).
        """
        idx = torch.as_tensor(idx, device=self.fake_data.device)
        if self.rep_weight > 0:
            self._recover_representations(idx, shared)
            if not self.identified:
                return {}
        for _ in range(self.inner_steps):
            terms = self._data_step(idx, shared, lr)
        return terms

    def _data_step(
        self, idx: torch.Tensor, shared: list[dict], lr: float | None
    ) -> dict[str, float]:
        """Step 3: one Adam step on the batch's fake data (and fake labels in HFL), eq. (8)."""
        fake = self.fake_data[idx].clone().requires_grad_(True)
        logits = self.label_logits[idx].clone().requires_grad_(not self.setting.labels_known)
        total, terms = self._objective(idx, fake, logits, shared)
        wrt = [fake, logits] if logits.requires_grad else [fake]
        grads = torch.autograd.grad(total, wrt)
        self._data_opt.step(idx, grads[0], lr)
        with torch.no_grad():
            self.fake_data[idx] = self.fake_data[idx].clamp(0, 1)
        if logits.requires_grad:
            self._label_opt.step(idx, grads[1])
        return {name: float(value.detach()) for name, value in terms.items()}

    def run(self, iterations: int, *, eval_every: int = 50, callback=None) -> pd.DataFrame:
        """Attack for ``iterations`` training iterations while the federation trains.

        In every iteration the server picks a batch, receives the shared gradients, runs
        the three CAFE steps with the parameters those gradients were computed at (step 3
        ``inner_steps`` times), and then applies the training update (a no-op when the
        setting's ``lr`` is 0).

        Parameters
        ----------
        iterations : int
            Number of iterations (continues from previous calls).
        eval_every : int
            Record PSNR (against the true data, which the attacker never uses) every so many
            iterations and at the end.
        callback : callable, optional
            ``callback(attack, iteration)`` after each evaluation.

        Returns
        -------
        pandas.DataFrame
            One row per evaluation: ``iteration, seconds, train_loss, train_loss_ratio``
            (``L(θ_t, X_t)/L(θ_0, X_0)``), ``matching``, ``representation``, ``tv``,
            ``psnr_batch`` (the last batch), ``psnr_mean``, ``psnr_min`` (all samples).
        """
        check_int("iterations", iterations, example=1000)
        check_int("eval_every", eval_every, example=50)
        rows, start, t0 = [], self._iteration, time.perf_counter()
        end = start + iterations
        bar = tqdm(range(start, end), desc="CAFE", disable=not self.progress, leave=False)
        for it in bar:
            idx = self.setting.choose_batch(it)
            observed = self.setting.step(idx, update=False)
            if self._loss0 is None:
                self._loss0 = observed.loss
            lr = self._learning_rate(it - start, iterations)
            terms = self.attack_step(idx, observed.gradients, lr)
            self.setting.apply(observed)
            self._iteration = it + 1
            if (terms and (it + 1 - start) % eval_every == 0) or it + 1 == end:
                scores = self.psnr()
                hit = (scores >= 30) & torch.isnan(self.first_hit)
                self.first_hit[hit] = float(it + 1)
                rows.append(
                    {
                        "iteration": it + 1,
                        "seconds": time.perf_counter() - t0,
                        "train_loss": observed.loss,
                        "train_loss_ratio": observed.loss / self._loss0,
                        **terms,
                        "psnr_batch": float(scores[observed.indices].mean()),
                        "psnr_mean": float(scores.mean()),
                        "psnr_min": float(scores.min()),
                    }
                )
                bar.set_postfix(psnr=f"{rows[-1]['psnr_mean']:.1f}")
                if callback is not None:
                    callback(self, it + 1)
        return pd.DataFrame(rows)

    def _learning_rate(self, step: int, steps: int) -> float:
        if self.schedule == "constant":
            return self.lr
        return self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / max(steps - 1, 1))))

    def psnr(self) -> torch.Tensor:
        """Per-sample PSNR of the fake data (clipped to [0, 1]) against the real data.

        For evaluation only: the attacker never sees the real data.
        """
        truth, fake = self.setting.images.detach().cpu(), self.fake_data.detach().clamp(0, 1).cpu()
        return psnr(truth, fake, reduction="none")


def _paired_tensors(
    fake: list[dict[str, torch.Tensor]], shared: list[dict[str, torch.Tensor]]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The fake and shared gradients of every block as two aligned lists of tensors."""
    names = [(block, name) for block, gradients in enumerate(shared) for name in gradients]
    return [fake[b][n] for b, n in names], [shared[b][n] for b, n in names]
