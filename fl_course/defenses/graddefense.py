"""GradDefense (Wang, Guo, Xie, Qi, INFOCOM 2022).

Four pieces, each a function or class below:

1. **Layer risk** (Sec. IV-A, Eqs. 1–2): the sensitivity of layer ``l`` is the
   input-gradient Jacobian norm ``E_x ‖∂(∂L/∂W_l)/∂x‖_F`` averaged over a small
   root data set (:func:`layer_sensitivity`, estimated with random probes).
2. **Slicing** (Sec. IV-B): the flattened gradient is cut into ``s`` contiguous
   slices of equal total risk (:func:`equal_risk_slices`).
3. **Perturbation** (Sec. IV-B): ``max(1, ⌊s·γ⌋)`` slices are drawn by
   reservoir sampling (:func:`reservoir_sample`) and get i.i.d. N(0, σ²) noise
   (:class:`GradDefense`); clipping each perturbed slice first is the optional
   variant of Table III[E].
4. **Compensation** (Sec. IV-C): the server reshapes the aggregate into a
   ``v × w`` matrix with ``v/w ≈ Q``, keeps the eigen-directions of its column
   covariance lying outside the Marchenko–Pastur bulk ``[λ₋, λ₊]`` of the
   noise (:func:`marchenko_pastur_bounds`) and projects onto them
   (:class:`MarchenkoPasturCompensation`).

The paper's settings (Sec. VI-B, the settings above Table II): 10 slices, σ = 1e-2, perturbation
rate γ = 0.2 against DLG-type attacks (DGA) and 0.3 against Inverting Gradients (GIA), a root set
of 100 public images, Q = 6, no clipping. They are this module's defaults
(:data:`PAPER_PERTURB_FRACTION`, :data:`PAPER_ROOT_SIZE`, :data:`PAPER_Q`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fl_course.checks import check_choice, check_int, check_number, check_probability
from fl_course.defenses.base import (
    Defense,
    ServerTransform,
    flatten_update,
    protected_names,
    unflatten_update,
    weights_fingerprint,
)
from fl_course.federation.local_sgd import Update

__all__ = [
    "PAPER_PERTURB_FRACTION",
    "PAPER_ROOT_SIZE",
    "PAPER_Q",
    "layer_sensitivity",
    "equal_risk_slices",
    "reservoir_sample",
    "root_dataset",
    "marchenko_pastur_bounds",
    "GradDefense",
    "MarchenkoPasturCompensation",
]


#: Perturbation rate γ of the paper's Table II: 20 % of the slices against DLG-type attacks
#: (DGA), 30 % against Inverting Gradients (GIA).
PAPER_PERTURB_FRACTION = {"DGA": 0.2, "GIA": 0.3}
#: Root-set size of the paper's experiments ("100 public data samples", Table III[B]).
PAPER_ROOT_SIZE = 100
#: Aspect ratio Q of the compensation matrix in the paper's headline runs (Table III[D]).
PAPER_Q = 6.0


def root_dataset(
    images: torch.Tensor, labels: torch.Tensor, *, per_class: int = 10, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a class-balanced root data set (``per_class`` examples of each class).

    The default, 10 per class, gives the paper's 100 images (Table III[B], where 50
    images leave the defense weaker: 11.40 vs 9.83 dB on MNIST). The authors' demo
    code draws 5 per class (50).

    Examples
    --------
    >>> x, y = root_dataset(torch.rand(100, 1, 28, 28), torch.arange(100) % 10, per_class=2)
    >>> x.shape, torch.bincount(y).tolist()
    (torch.Size([20, 1, 28, 28]), [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    """
    check_int("per_class", per_class)
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels differ in length ({len(images)} vs {len(labels)}); pass "
            "matching tensors."
        )
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    chosen: list[int] = []
    for c in torch.unique(labels).tolist():
        idx = order[labels[order] == c][:per_class]
        if len(idx) < per_class:
            raise ValueError(
                f"Class {c} has only {len(idx)} examples; lower per_class to at most {len(idx)}."
            )
        chosen.extend(idx.tolist())
    chosen_t = torch.tensor(sorted(chosen))
    return images[chosen_t], labels[chosen_t]


def layer_sensitivity(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    names: Sequence[str] | None = None,
    probes: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """Sensitivity (leakage risk) of every parameter tensor, GradDefense Eqs. 1–2.

    For layer ``l`` and root example ``x`` the risk is the Frobenius norm of
    the input-gradient Jacobian ``J = ∂(∂L/∂W_l)/∂x``, averaged over the root
    set. ``‖J‖_F`` is estimated without forming ``J`` from ``probes`` Gaussian
    vector–Jacobian products, ``‖J‖_F² = E_v ‖Jᵀv‖²`` for ``v ~ N(0, I)``
    (Hutchinson's estimator).

    Departure from the authors' code, which contracts ``J`` with an all-ones
    vector: that contraction vanishes identically for the output layer (its
    weight gradient ``(p − y) hᵀ`` sums to zero because ``p`` and ``y`` both sum
    to one), so the layer that leaks the labels would get zero risk.

    Parameters
    ----------
    model : nn.Module
    images, labels : Tensor
        The root data set.
    names : sequence of str, optional
        Parameter names to score (default: all parameters).
    probes : int, default 4
        Random vectors per layer.
    seed : int, default 0
        Seed of the probe vectors.

    Returns
    -------
    dict[str, float]
        Risk per parameter name.

    Examples
    --------
    >>> from fl_course.models import LeNetZhu
    >>> risk = layer_sensitivity(LeNetZhu(seed=0), torch.rand(4, 1, 28, 28), torch.arange(4))
    >>> min(risk.values()) > 0
    True
    """
    check_int("probes", probes)
    params = dict(model.named_parameters())
    names = list(names) if names is not None else list(params)
    generator = torch.Generator().manual_seed(seed)
    x = images.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels)
    grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=True)
    out: dict[str, float] = {}
    for name, g in zip(names, grads):
        squared = torch.zeros(x.shape[0], dtype=torch.float64)
        for _ in range(probes):
            v = torch.randn(g.shape, generator=generator).to(g.device, g.dtype)
            (vjp,) = torch.autograd.grad(g, x, grad_outputs=v, retain_graph=True, allow_unused=True)
            if vjp is not None:
                squared += vjp.detach().flatten(1).double().pow(2).sum(1).cpu()
        out[name] = float((squared / probes).sqrt().mean())
    return out


def equal_risk_slices(
    sizes: Sequence[int], risks: Sequence[float], num_slices: int
) -> list[tuple[int, int]]:
    """Cut the flattened parameters into ``num_slices`` contiguous slices of equal risk.

    Every parameter of layer ``l`` carries risk ``risks[l] / sizes[l]``; the cuts
    are placed where the cumulative risk crosses ``k/s`` of the total. This is
    the paper's bin packing with one-parameter atoms (the authors' code uses
    atoms of ``gcd(sizes)`` parameters and lets the last slice collect the
    remainder); each slice's risk is within one parameter's risk of ``1/s``
    of the total.

    Parameters
    ----------
    sizes : sequence of int
        Number of parameters of each layer, in flattening order.
    risks : sequence of float
        Non-negative risk of each layer (sensitivity, or the size itself for
        size-based slicing).
    num_slices : int

    Returns
    -------
    list of (start, stop)
        Half-open index ranges into the flat vector, covering it in order.

    Examples
    --------
    >>> equal_risk_slices([4, 4], [1.0, 3.0], 4)
    [(0, 4), (4, 5), (5, 7), (7, 8)]
    """
    check_int("num_slices", num_slices)
    if len(sizes) != len(risks) or not sizes:
        raise ValueError(
            "Pass one risk per layer size (both sequences non-empty and of equal length)."
        )
    if any(int(n) < 1 for n in sizes):
        raise ValueError("Every layer size must be a positive integer.")
    if any(not math.isfinite(r) or r < 0 for r in risks):
        raise ValueError("Risks must be finite and non-negative.")
    total_params = int(sum(sizes))
    if num_slices > total_params:
        raise ValueError(
            f"Cannot cut {total_params} parameters into {num_slices} non-empty slices; use fewer "
            "slices."
        )
    total = float(sum(risks))
    if total <= 0:
        raise ValueError(
            "All layer risks are zero; use size-based slicing (slicing='size') instead."
        )
    density = torch.cat(
        [
            torch.full((int(n),), float(r) / int(n), dtype=torch.float64)
            for n, r in zip(sizes, risks)
        ]
    )
    cumulative = torch.cumsum(density, 0)
    targets = torch.arange(1, num_slices, dtype=torch.float64) * total / num_slices
    # cut where the cumulative risk is nearest to each target
    idx = torch.searchsorted(cumulative, targets).clamp(max=total_params - 1)
    before = torch.where(idx > 0, cumulative[(idx - 1).clamp(min=0)], torch.zeros_like(targets))
    cuts = torch.where(targets - before < cumulative[idx] - targets, idx, idx + 1).tolist()
    bounds = [0]
    for k, c in enumerate(cuts, start=1):  # keep slices non-empty
        bounds.append(min(max(c, bounds[-1] + 1), total_params - (num_slices - k)))
    bounds.append(total_params)
    return [(bounds[i], bounds[i + 1]) for i in range(num_slices)]


def reservoir_sample(population: int, k: int, generator: torch.Generator) -> list[int]:
    """Draw ``k`` distinct indices from ``range(population)`` by reservoir sampling (Algorithm R).

    Each index ends up in the sample with probability ``k / population``.

    Examples
    --------
    >>> reservoir_sample(10, 5, torch.Generator().manual_seed(0))
    [0, 1, 4, 5, 9]
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 0 < k <= population:
        raise ValueError(
            f"Cannot draw {k!r} items from a population of {population}; pick 1 ≤ k ≤ population."
        )
    reservoir = list(range(k))
    for i in range(k, population):
        j = int(torch.randint(0, i + 1, (1,), generator=generator))
        if j < k:
            reservoir[j] = i
    return sorted(reservoir)


def marchenko_pastur_bounds(sigma: float, q: float) -> tuple[float, float]:
    """Edges ``λ± = σ² (1 ± 1/√Q)²`` of the Marchenko–Pastur law (GradDefense Sec. IV-C).

    They bound the eigenvalues of the column covariance of a ``v × w`` matrix
    of i.i.d. N(0, σ²) entries as ``v, w → ∞`` with ``v / w = Q ≥ 1``
    (Marchenko and Pastur 1967).

    Examples
    --------
    >>> marchenko_pastur_bounds(1.0, 4.0)
    (0.25, 2.25)
    """
    check_number("sigma", sigma, positive=True, example=1e-2)
    check_number("q", q, positive=True, example=6.0)
    if q < 1:
        raise ValueError(
            f"Q is the aspect ratio v/w of the reshaped gradient and must be at least 1, got {q!r}."
        )
    r = 1.0 / math.sqrt(q)
    return sigma**2 * (1 - r) ** 2, sigma**2 * (1 + r) ** 2


class MarchenkoPasturCompensation(ServerTransform):
    """Server-side global update compensation of GradDefense (Sec. IV-C).

    The aggregate (all floating entries, flattened) is zero-padded to a
    ``v × w`` matrix with ``w = ⌊√(P/Q)⌋`` and ``v = ⌈P/w⌉`` (departure: the
    authors' code looks for an exact factorisation of P, which fails for prime
    P). Eigen-directions of the column covariance whose eigenvalue falls inside
    ``(λ₋, λ₊)`` are treated as noise and projected out.

    Parameters
    ----------
    sigma : float, default 1e-2
        Standard deviation of the noise left in the aggregate. For K clients
        that each add N(0, σ²) noise and are averaged, pass ``σ/√K``
        (:meth:`GradDefense.compensation` does this).
    q : float, default 6.0
        Aspect ratio Q of the reshaped matrix (6 in the paper).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> signal = torch.outer(torch.randn(600, generator=g), torch.randn(100, generator=g)) * 0.05
    >>> noisy = signal + 0.01 * torch.randn(600, 100, generator=g)
    >>> out = MarchenkoPasturCompensation(sigma=0.01, q=6)({"w": noisy})["w"]
    >>> bool((out - signal).norm() < 0.2 * (noisy - signal).norm())
    True
    """

    name = "MP compensation"

    def __init__(self, sigma: float = 1e-2, q: float = 6.0) -> None:
        self.save_settings(
            sigma=check_number("sigma", sigma, positive=True, example=1e-2),
            q=check_number("q", q, positive=True, example=6.0),
        )
        self.bounds = marchenko_pastur_bounds(self.sigma, self.q)
        self.last_kept = self.last_directions = 0
        self.last_basis: torch.Tensor | None = None

    def matrix_shape(self, num_params: int) -> tuple[int, int]:
        """Rows ``v`` and columns ``w`` used for ``num_params`` entries."""
        w = max(1, int(math.sqrt(num_params / self.q)))
        return math.ceil(num_params / w), w

    def _as_matrix(self, update: Update) -> tuple[list[str], torch.Tensor, int]:
        """The update's floating entries, flattened and zero-padded into the ``v × w`` matrix."""
        names = [k for k, v in update.items() if v.is_floating_point()]
        flat = flatten_update(update, names).double().cpu()
        v, w = self.matrix_shape(flat.numel())
        padded = torch.zeros(v * w, dtype=torch.float64)
        padded[: flat.numel()] = flat
        return names, padded.reshape(v, w), flat.numel()

    def _transform(self, update: Update) -> Update:
        names, matrix, size = self._as_matrix(update)
        centred = matrix - matrix.mean(dim=0, keepdim=True)
        cov = centred.T @ centred / max(matrix.shape[0] - 1, 1)
        eigvals, eigvecs = torch.linalg.eigh(cov)
        lo, hi = self.bounds
        keep = (eigvals <= lo) | (eigvals >= hi)
        self.last_kept, self.last_directions = int(keep.sum()), int(keep.numel())
        basis = eigvecs[:, keep]
        self.last_basis = basis
        projected = (matrix @ basis @ basis.T).reshape(-1)[:size]
        device = next(iter(update.values())).device
        return unflatten_update(projected.to(device), update, names)

    def reproject(self, update: Update) -> torch.Tensor:
        """Project another update onto the directions the last call kept; returns it flat.

        The projection is linear, so applying it to the clean average and to the noise
        separately splits the compensated update into the signal and the noise it keeps
        (the lab's diagnosis of Table III[D]).
        """
        if getattr(self, "last_basis", None) is None:
            raise ValueError(
                "Call the transform on the noisy aggregate first; reproject reuses its basis."
            )
        _, matrix, size = self._as_matrix(update)
        return (matrix @ self.last_basis @ self.last_basis.T).reshape(-1)[:size]


class GradDefense(Defense):
    """GradDefense's client-side perturbation (Wang et al. 2022, Sec. IV-B, Alg. 1).

    The defaults are the paper's Table II setting against Inverting Gradients:
    10 slices, γ = 0.3, σ = 1e-2, no clipping (use ``perturb_fraction=0.2``
    against DLG/iDLG, :data:`PAPER_PERTURB_FRACTION`). Algorithm 1 perturbs the
    gradient a client shares, once per round (``placement = "round"``).

    Parameters
    ----------
    root_data : (images, labels), optional
        Root data set for the layer sensitivities (see :func:`root_dataset`;
        the paper uses 100 images). Required for ``slicing="sensitivity"``.
    num_slices : int, default 10
        Number of slices ``s``.
    perturb_fraction : float, default 0.3
        Fraction ``γ``; ``max(1, ⌊s·γ⌋)`` slices are perturbed (3 of 10 by default).
        The paper uses 0.3 against GIA and 0.2 against DGA; the authors' demo
        scripts use 5 of 10.
    sigma : float, default 1e-2
        Noise standard deviation σ. The paper writes "noise variance 1E-2"; the
        authors' code passes that number as the *standard deviation* of
        ``random.gauss`` (``pseudorandom.getGause``, ``perturb.noise``), and so do we.
    clip : bool, default False
        Clip each perturbed slice to L2 norm ``clip_bound`` before adding noise:
        the anti-abuse variant of Table III[E], off in the paper's headline runs.
    clip_bound : float, optional
        Clipping bound; default ``sigma``, the bound in the authors' ``clip.py``.
        Departure: they clip every example's slice (per-example gradients); we
        clip the shared update's slice, which is the same for a batch of one
        and works for model deltas too.
    slicing : {"sensitivity", "size"}, default "sensitivity"
        Equal-risk slices from the root-set sensitivities, or equal-size slices
        (the layer-size-based ablation of Table III).
    risk_refresh : {"once", "round"}, default "once"
        When the layer risks are computed. ``"once"``: on the first model the defense
        sees, reused while the layers keep their names and shapes; the authors' scripts
        compute them once, before any training (``compute_sens`` in ``demo_perturb.py``
        and ``dlg_perturb.py``), and the paper does not say more. ``"round"``: again
        whenever the weights change, i.e. on every round's global model (all clients of a
        round share one computation).
    seed : int, default 0

    Notes
    -----
    Sensitivities are computed at local iteration 0 (on the global model the round
    starts from) and reused for later local iterations. Computing them costs a
    double backward pass per layer on the root set, more than a client's whole
    round of local training in the lab's FedAvg runs; :meth:`prepare` does it
    before training, and the lab times it apart from the rounds.
    The update must be keyed by ``model.named_parameters()`` names.

    Examples
    --------
    >>> from fl_course.models import LeNetZhu
    >>> model = LeNetZhu(seed=0); x = torch.rand(20, 1, 28, 28); y = torch.arange(20) % 10
    >>> names = [n for n, _ in model.named_parameters()]
    >>> loss = F.cross_entropy(model(x[:1]), y[:1])
    >>> grad = dict(zip(names, torch.autograd.grad(loss, model.parameters())))
    >>> gd = GradDefense(root_data=(x, y), seed=0)
    >>> out = gd(grad, model=model)
    >>> len(gd.last_perturbed)
    3
    """

    name = "GradDefense"
    _unprinted_settings = ("root_data",)  # data, too long for a repr

    def __init__(
        self,
        root_data: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        num_slices: int = 10,
        perturb_fraction: float = PAPER_PERTURB_FRACTION["GIA"],
        sigma: float = 1e-2,
        clip: bool = False,
        clip_bound: float | None = None,
        slicing: str = "sensitivity",
        risk_refresh: str = "once",
        seed: int = 0,
    ) -> None:
        check_choice("slicing", slicing, ("sensitivity", "size"))
        check_choice("risk_refresh", risk_refresh, ("once", "round"))
        if slicing == "sensitivity":
            if root_data is None:
                raise ValueError(
                    "Sensitivity-based slicing needs a root data set: pass "
                    "root_data=(images, labels), e.g. root_dataset(images, labels, per_class=10), "
                    "or use slicing='size'."
                )
            if not (
                isinstance(root_data, (tuple, list))
                and len(root_data) == 2
                and len(root_data[0]) == len(root_data[1])
            ):
                raise ValueError("root_data must be an (images, labels) pair of equal length.")
        if not isinstance(clip, bool):
            raise TypeError(f"clip must be True or False, got {type(clip).__name__}.")
        sigma = check_number("sigma", sigma, positive=True, example=1e-2)
        super().__init__(
            seed=seed,
            num_slices=check_int("num_slices", num_slices, example=10),
            perturb_fraction=check_probability("perturb_fraction", perturb_fraction, example=0.3),
            sigma=sigma,
            risk_refresh=risk_refresh,
            clip_bound=sigma
            if clip_bound is None
            else check_number("clip_bound", clip_bound, positive=True, example=sigma),
        )
        self.last_perturbed: list[int] = []
        self.last_slices: list[tuple[int, int]] = []
        self._sens_cache: tuple[tuple, dict[str, float]] | None = None
        if self.sigma < 1e-3 and not clip:
            warnings.warn(
                f"sigma={sigma} without clipping is below the noise level (1e-3) that Zhu et al. "
                "(2019) still reconstruct through; expect little protection.",
                UserWarning,
                stacklevel=2,
            )

    @property
    def num_perturbed(self) -> int:
        """``max(1, ⌊s·γ⌋)``: how many slices get noise."""
        return max(1, int(math.floor(self.num_slices * self.perturb_fraction + 1e-9)))

    def reset(self) -> None:
        """Rewind the random generator and forget the layer risks."""
        super().reset()
        self._sens_cache = None

    def prepare(self, model: nn.Module) -> None:
        """With ``risk_refresh="once"`` and sensitivity slicing, compute the layer risks now."""
        if self.slicing == "sensitivity" and self.risk_refresh == "once":
            self.sensitivity(model)

    def sensitivity(self, model: nn.Module) -> dict[str, float]:
        """Layer risks of ``model`` on the root set, cached as ``risk_refresh`` says.

        The cache key is the layers' names and shapes (``"once"``), or the weights
        themselves (``"round"``).
        """
        fingerprint: tuple = tuple((n, tuple(p.shape)) for n, p in model.named_parameters())
        if self.risk_refresh == "round":
            fingerprint += weights_fingerprint(model)
        if self._sens_cache is None or self._sens_cache[0] != fingerprint:
            images, labels = self.root_data
            device = next(model.parameters()).device
            risk = layer_sensitivity(model, images.to(device), labels.to(device), seed=self.seed)
            self._sens_cache = (fingerprint, risk)
        return self._sens_cache[1]

    def _protect(self, update: Update, *, model: nn.Module | None, data, step: int) -> Update:
        if model is None and self.slicing == "sensitivity":
            raise ValueError(
                "GradDefense with sensitivity slicing needs the model: call "
                "gd(update, model=model)."
            )
        names = protected_names(update, model)
        sizes = [update[k].numel() for k in names]
        if self.slicing == "sensitivity":
            sens = (
                self.sensitivity(model)
                if step == 0 or self._sens_cache is None
                else self._sens_cache[1]
            )
            risks = [sens[k] for k in names]
            if sum(risks) <= 0:
                risks = [float(n) for n in sizes]
        else:
            risks = [float(n) for n in sizes]
        slices = equal_risk_slices(sizes, risks, self.num_slices)
        chosen = reservoir_sample(self.num_slices, self.num_perturbed, self._generator)
        flat = flatten_update(update, names).clone()
        for i in chosen:
            start, stop = slices[i]
            part = flat[start:stop]
            if self.clip:
                part = part * min(1.0, self.clip_bound / (float(part.double().norm()) + 1e-12))
            flat[start:stop] = part + self._noise(part.shape, "gaussian", self.sigma, part)
        self.last_slices, self.last_perturbed = slices, chosen
        return unflatten_update(flat, update, names)

    def slice_report(self, update: Update, *, model: nn.Module) -> pd.DataFrame:
        """Protect ``update`` once and describe every slice: what it holds and how noisy it got.

        The measurement behind "does σ hide this gradient?": for each of the ``s`` slices,
        its layers, its share of the gradient's squared norm, whether it was perturbed,
        and the noise-to-signal RMS ratio σ / RMS(slice) it received.

        Returns
        -------
        DataFrame
            One row per slice: ``start``, ``stop``, ``layers``, ``energy_share``,
            ``signal_rms``, ``perturbed`` and ``noise_to_signal`` (0 when not perturbed).
        """

        self(update, model=model)
        names = protected_names(update, model)
        flat = flatten_update(update, names).double()
        bounds = torch.tensor([0] + [update[k].numel() for k in names]).cumsum(0).tolist()
        total = float(flat.pow(2).sum()) or 1.0
        rows = []
        for i, (start, stop) in enumerate(self.last_slices):
            part = flat[start:stop]
            layers = [
                k for k, lo, hi in zip(names, bounds[:-1], bounds[1:]) if lo < stop and hi > start
            ]
            rms = float(part.pow(2).mean().sqrt())
            hit = i in self.last_perturbed
            rows.append(
                {
                    "start": start,
                    "stop": stop,
                    "layers": ", ".join(layers),
                    "energy_share": float(part.pow(2).sum()) / total,
                    "signal_rms": rms,
                    "perturbed": hit,
                    "noise_to_signal": (self.sigma / rms if rms > 0 else float("inf"))
                    if hit
                    else 0.0,
                }
            )
        return pd.DataFrame(rows)

    def compensation(
        self,
        num_clients: int = 1,
        q: float = 6.0,
        *,
        lr: float | None = None,
        local_steps: int = 1,
        momentum: float = 0.0,
        noise_scale: str = "derived",
    ) -> MarchenkoPasturCompensation:
        """The matching server-side transform for an average over ``num_clients`` clients.

        Two noise scales for the Marchenko–Pastur edges:

        ``"derived"`` (default) is the standard deviation of the noise actually left in
        the average. Each entry is perturbed with probability ``k/s`` per perturbation,
        so a client's delta after ``T`` perturbed SGD steps of learning rate ``η``
        carries noise of variance ``η² T (k/s) σ²``. With heavy-ball momentum ``μ`` the
        noise of the step ``j`` steps before the end reaches Δ multiplied by
        ``(1 − μ^j)/(1 − μ)``, so ``T`` becomes ``Σ_{j=1..T} ((1 − μ^j)/(1 − μ))²``.
        The average of ``K`` clients divides the variance by ``K``. When the defense
        runs once per round on the pseudo-gradient ``−Δ/η`` (``placement="round"``),
        pass ``local_steps=1`` and ``momentum=0``.

        ``"paper"`` is the paper's Sec. V-A scale as the authors' ``demo_compensate.py``
        computes it: ``σ̂² = Σ_i K (k/s) σ² w_i = K (k/s) σ²`` with weights ``w_i = 1/K``,
        with no learning rate and no local steps. It is ``K`` times the derived variance
        for gradients (and ``K/η²`` times for deltas); the lab measures what each keeps.

        Parameters
        ----------
        num_clients : int, default 1
        q : float, default 6.0
            The paper's Q.
        lr : float, optional
            Learning rate η when the server averages model deltas; omit it when
            the clients share gradients. Ignored by ``noise_scale="paper"``.
        local_steps : int, default 1
            Perturbed local SGD steps ``T`` behind each delta (derived scale only).
        momentum : float, default 0.0
            The clients' SGD momentum ``μ`` (derived scale only).
        noise_scale : {"derived", "paper"}, default "derived"
        """
        check_int("num_clients", num_clients)
        check_int("local_steps", local_steps, example=1)
        scale = 1.0 if lr is None else check_number("lr", lr, positive=True, example=0.1)
        momentum = check_number("momentum", momentum, low=0, high=1, example=0.9)
        if momentum == 1:
            raise ValueError("momentum must lie in [0, 1), got 1; pass e.g. momentum=0.9.")
        check_choice("noise_scale", noise_scale, ("derived", "paper"))
        fraction = self.num_perturbed / self.num_slices
        if noise_scale == "paper":
            return MarchenkoPasturCompensation(
                sigma=self.sigma * math.sqrt(num_clients * fraction), q=q
            )
        steps = sum(
            ((1.0 - momentum**j) / (1.0 - momentum)) ** 2 for j in range(1, local_steps + 1)
        )
        sigma = scale * self.sigma * math.sqrt(steps * fraction / num_clients)
        return MarchenkoPasturCompensation(sigma=sigma, q=q)
