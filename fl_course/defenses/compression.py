"""Gradient compression (GC): prune the smallest entries of every layer.

Zhu et al. (2019, Sec. 6, Fig. 7) report that DLG stops recovering images once
more than about 20 % of the gradient entries are pruned; GradDefense and
Outpost use 80 % pruning as their compression baseline.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from fl_course.checks import check_percent
from fl_course.defenses.base import Defense, protected_names
from fl_course.federation.local_sgd import Update

__all__ = ["GradientCompression", "prune_smallest", "smallest_mask"]


def smallest_mask(values: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of exactly ``k`` smallest entries of ``values`` (ties broken by position).

    Uses a linear-time selection (NumPy's introselect on the CPU, ``kthvalue``
    on a GPU) rather than a full sort.

    Examples
    --------
    >>> smallest_mask(torch.tensor([3.0, 1.0, 1.0, 2.0]), 2).tolist()
    [False, True, True, False]
    """
    flat = values.reshape(-1)
    if k <= 0:
        return torch.zeros_like(values, dtype=torch.bool)
    if k >= flat.numel():
        return torch.ones_like(values, dtype=torch.bool)
    if flat.is_cuda:
        kth = torch.kthvalue(flat, k).values
        below, ties = flat < kth, flat == kth
        # the first (k - #below) entries equal to the k-th value, in position order
        mask = below | (ties & (ties.cumsum(0) <= k - int(below.sum())))
    else:  # the same in NumPy, several times faster on the CPU than torch's ops
        array = flat.detach().numpy()
        kth = np.partition(array, k - 1)[k - 1]
        below, ties = array < kth, array == kth
        need = k - int(np.count_nonzero(below))
        mask = torch.from_numpy(below | (ties & (np.cumsum(ties) <= need)))
    return mask.reshape(values.shape)


def prune_smallest(tensor: torch.Tensor, rate: float) -> torch.Tensor:
    """Zero the ``⌊rate/100 · n⌋`` entries of smallest magnitude (a new tensor).

    Exactly that many entries are zeroed, ties broken by position, so the
    sparsity is the requested one even when many entries are equal.

    Parameters
    ----------
    tensor : Tensor
        Any floating tensor.
    rate : float
        Percentage of entries to zero, from 0 to 100.

    Returns
    -------
    Tensor
        Pruned copy with the same shape.

    Examples
    --------
    >>> prune_smallest(torch.tensor([0.1, -3.0, 0.5, 2.0]), 50)
    tensor([ 0., -3.,  0.,  2.])
    """
    k = int(rate / 100.0 * tensor.numel())
    return tensor.masked_fill(smallest_mask(tensor.detach().abs(), k), 0.0)


class GradientCompression(Defense):
    """Layer-wise magnitude pruning of the shared update (the "GC" baseline).

    Parameters
    ----------
    prune_rate : float, default 80.0
        Percentage of each layer's entries, smallest in magnitude, set to zero
        (80 % as in the baselines of GradDefense and Outpost).
    seed : int, default 0
        Kept for a uniform interface; pruning is deterministic.

    Warns
    -----
    UserWarning
        If ``prune_rate < 20``: Zhu et al. (2019, Fig. 7) find that so little
        pruning leaves the images recoverable.

    Examples
    --------
    >>> gc = GradientCompression(prune_rate=50)
    >>> gc({"w": torch.tensor([1.0, -0.1, 0.2, -4.0])})["w"]
    tensor([ 1.,  0.,  0., -4.])
    """

    name = "GC"

    def __init__(self, prune_rate: float = 80.0, *, seed: int = 0) -> None:
        super().__init__(seed=seed, prune_rate=check_percent("prune_rate", prune_rate))
        if self.prune_rate < 20:
            warnings.warn(
                f"prune_rate={prune_rate} prunes under 20% of the entries, which Zhu et al. (2019) "
                "found gives little protection against gradient inversion; 80 is the papers' "
                "baseline.",
                UserWarning,
                stacklevel=2,
            )

    def _protect(self, update: Update, *, model: nn.Module | None, data, step: int) -> Update:
        for k in protected_names(update, model):
            update[k] = prune_smallest(update[k], self.prune_rate)
        return update
