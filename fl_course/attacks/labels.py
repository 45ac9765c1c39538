"""Label inference from the last layer of a classifier's update.

For cross-entropy on softmax outputs ``p`` and a one-hot label ``y``, the
gradient of the last fully connected layer ``z = W h + b`` for one example is

.. math:: \\frac{\\partial L}{\\partial W_{k}} = (p_k - y_k)\\,h, \\qquad
          \\frac{\\partial L}{\\partial b_{k}} = p_k - y_k .

Only the true class has ``p_k − y_k < 0``. When ``h ≥ 0`` (it follows a ReLU
or a sigmoid) the true class's weight-gradient row is the only non-positive
one: iDLG (:cite:t:`zhao2020idlg`, Sec. 3.1) reads the label off its sign.
We use the robust variant of Geiping et al.'s code: the row with the smallest
sum.

For a batch the bias gradient is the mean of ``p_n − y_n``: classes present in
the batch are pulled negative in proportion to how often they occur.
:func:`count_labels` turns this into a label multiset, following the
"impact" idea of Wainakh et al. (2022, "User-level label leakage from
gradients in federated learning"): each occurrence of a class lowers its bias
gradient by about ``1/N``.
"""

from __future__ import annotations

import torch
from torch import nn

from fl_course.attacks.base import ObservedUpdate
from fl_course.checks import check_int

__all__ = ["last_layer_names", "idlg_label", "count_labels", "infer_labels"]


def last_layer_names(model: nn.Module) -> tuple[str, str]:
    """Names of the weight and bias of the model's last ``nn.Linear`` layer.

    Raises
    ------
    ValueError
        If the model has no biased linear layer.
    """
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = (name, module)
    if last is None or last[1].bias is None:
        raise ValueError(
            "Label inference reads the gradient of the last fully connected layer; "
            "this model has no nn.Linear layer with a bias."
        )
    prefix = f"{last[0]}." if last[0] else ""
    return prefix + "weight", prefix + "bias"


def idlg_label(weight_gradient: torch.Tensor) -> int:
    """iDLG's label rule for a single example.

    Parameters
    ----------
    weight_gradient : torch.Tensor
        ``[K, D]`` gradient of the last layer's weight (or ``−Δ`` of a FedAvg update).

    Returns
    -------
    int
        The class whose gradient row has the smallest sum (the only negative
        row when the layer's input is non-negative).

    Examples
    --------
    >>> g = torch.tensor([[0.2, 0.1], [-0.5, -0.4], [0.3, 0.3]])
    >>> idlg_label(g)
    1
    """
    if not isinstance(weight_gradient, torch.Tensor) or weight_gradient.dim() != 2:
        raise ValueError(
            "weight_gradient must be the [num_classes, features] gradient of the last linear layer."
        )
    return int(weight_gradient.sum(dim=1).argmin())


def count_labels(bias_gradient: torch.Tensor, num_images: int) -> torch.Tensor:
    """Infer the label multiset of a batch from the last layer's bias gradient.

    Stage 1 takes every class with a negative bias gradient. The mean negative
    mass per image, ``m = −Σ_{g_k<0} g_k / N``, estimates how much one
    occurrence lowers ``g_k``; each found class is credited with one ``m``.
    Stage 2 fills the remaining ``N − |found|`` slots greedily with the class
    of currently smallest (credited) gradient, crediting ``m`` each time.

    Parameters
    ----------
    bias_gradient : torch.Tensor
        ``[K]`` mean gradient of the last layer's bias over the batch.
    num_images : int
        Batch size ``N``.

    Returns
    -------
    torch.Tensor
        ``[N]`` int64 labels, sorted.

    Examples
    --------
    >>> count_labels(torch.tensor([0.05, -0.30, 0.05, -0.20, 0.40]), 3).tolist()
    [1, 1, 3]
    """
    if not isinstance(bias_gradient, torch.Tensor) or bias_gradient.dim() != 1:
        raise ValueError("bias_gradient must be the 1-D gradient of the last layer's bias.")
    check_int("num_images", num_images, example=1)
    g = bias_gradient.detach().double().cpu().clone()
    negative = (g < 0).nonzero().flatten()
    impact = float(-g[negative].sum()) / num_images if len(negative) else 1.0 / num_images
    found = negative[torch.argsort(g[negative])][:num_images].tolist()
    for k in found:
        g[k] += impact
    while len(found) < num_images:
        k = int(g.argmin())
        found.append(k)
        g[k] += impact
    return torch.tensor(sorted(found), dtype=torch.long)


def infer_labels(model: nn.Module, update, num_images: int | None = None) -> torch.Tensor:
    """Labels of the client's batch from an observed update.

    One image: :func:`idlg_label` on the last weight's gradient. Several:
    :func:`count_labels` on the last bias's gradient. FedAvg deltas are read
    through ``−Δ/lr`` (:meth:`ObservedUpdate.as_gradient`).

    Parameters
    ----------
    model : torch.nn.Module
    update : ObservedUpdate or dict of str to torch.Tensor
        A plain dict is read as a gradient.
    num_images : int, optional
        Batch size (default: the update's ``num_images``).

    Returns
    -------
    torch.Tensor
        ``[N]`` int64 labels.
    """
    if not isinstance(update, ObservedUpdate):
        update = ObservedUpdate.gradient(update, num_images=num_images or 1)
    n = num_images or update.num_images
    weight, bias = last_layer_names(model)
    if n == 1:
        return torch.tensor([idlg_label(update.as_gradient(weight))], dtype=torch.long)
    return count_labels(update.as_gradient(bias), n)
