"""The analytic attack on a fully connected layer (Geiping et al. 2020, Prop. 3.1).

For a biased linear layer ``z = W x + b`` and one example, the chain rule gives
``∂L/∂W_i = (∂L/∂z_i) x`` and ``∂L/∂b_i = ∂L/∂z_i`` for every output unit ``i``.
Hence, for any ``i`` with ``∂L/∂b_i ≠ 0``,

.. math:: x = \\Big(\\frac{\\partial L}{\\partial W_i}\\Big)^{\\top}
          \\Big/ \\frac{\\partial L}{\\partial b_i},

exactly, whatever comes after the layer (Prop. 3.1 of
:cite:t:`geiping2020inverting`). We combine all rows by least squares,
``x = Σ_i g_{b,i} g_{W,i} / Σ_i g_{b,i}²``, which is exact for one example
and numerically robust. If the layer is the network's *first* layer its input
is the image itself, so an MLP leaks its input in closed form; if a network
*ends* in FC layers, the same formula returns the features entering them.

Examples
--------
>>> import torch
>>> from fl_course.models import MLP
>>> from fl_course.attacks import AnalyticAttack, client_gradient
>>> model = MLP(hidden=(64,), seed=0)
>>> x, y = torch.rand(1, 1, 28, 28), torch.tensor([4])
>>> rec = AnalyticAttack().reconstruct(model, client_gradient(model, x, y))
>>> float((rec.images - x).abs().max()) < 1e-4
True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fl_course import metrics
from fl_course.attacks.base import Attack, AttackResult, ThreatModel, _history_frame
from fl_course.attacks.labels import infer_labels

__all__ = ["AnalyticAttack", "recover_linear_input"]


def recover_linear_input(
    weight_gradient: torch.Tensor, bias_gradient: torch.Tensor
) -> torch.Tensor:
    """Input of a linear layer from its weight and bias gradients (one example).

    Parameters
    ----------
    weight_gradient : torch.Tensor
        ``[out, in]`` gradient of the weight.
    bias_gradient : torch.Tensor
        ``[out]`` gradient of the bias.

    Returns
    -------
    torch.Tensor
        ``[in]`` the layer's input (float64 arithmetic, returned in the input dtype).

    Raises
    ------
    ValueError
        If the bias gradient is zero (the example carries no loss signal).
    """
    if (
        weight_gradient.dim() != 2
        or bias_gradient.dim() != 1
        or weight_gradient.shape[0] != bias_gradient.shape[0]
    ):
        raise ValueError(
            "Pass the [out, in] weight gradient and the [out] bias gradient of the same linear "
            "layer."
        )
    gw, gb = weight_gradient.double(), bias_gradient.double()
    denom = float((gb * gb).sum())
    if denom == 0.0:
        raise ValueError(
            "The bias gradient is zero, so the layer's input cannot be recovered from this update."
        )
    return ((gb[:, None] * gw).sum(0) / denom).to(weight_gradient.dtype)


class AnalyticAttack(Attack):
    """Closed-form reconstruction of the input of a fully connected layer.

    Parameters
    ----------
    layer : str, optional
        Module name of the target ``nn.Linear`` (default: the model's first
        linear layer, whose input is the flattened image in an MLP).
    loss_fn, seed, progress
        See :class:`fl_course.attacks.base.Attack` (unused by the closed form
        except for label inference; kept for a uniform interface).

    Notes
    -----
    Exact for one example. For a batch the weight gradient mixes the inputs
    (``Σ_n δ_n x_nᵀ``) and each row returns a different linear combination, so
    the attack refuses batches. A FedAvg delta is read as ``−Δ/lr``, exact for
    one local step.
    """

    threat_model = ThreatModel(
        attack="Analytic FC inversion (Geiping et al. 2020, Prop. 3.1)",
        reference="NeurIPS 2020, Sec. 3, Prop. 3.1",
        observes="weight and bias gradients of one fully connected layer",
        labels="not needed for the image (labels inferred for reporting)",
        model_state="any (trained or untrained)",
        batch_size="exactly 1 image",
        local_steps="1 (FedSGD), or one full-batch FedAvg step",
        prior="none",
    )

    def __init__(self, *, layer: str | None = None, **kwargs) -> None:
        if layer is not None and not isinstance(layer, str):
            raise TypeError("layer must be the module name of an nn.Linear, e.g. 'layers.0'.")
        super().__init__(layer=layer, **kwargs)

    def _find_layer(self, model: nn.Module) -> tuple[str, nn.Linear]:
        modules = dict(model.named_modules())
        if self.layer is not None:
            module = modules.get(self.layer)
            if not isinstance(module, nn.Linear) or module.bias is None:
                raise ValueError(f"Module {self.layer!r} is not a biased nn.Linear of this model.")
            return self.layer, module
        for name, module in modules.items():
            if isinstance(module, nn.Linear) and module.bias is not None:
                return name, module
        raise ValueError("The analytic attack needs a biased nn.Linear layer; this model has none.")

    def _reconstruct(self, model, update, labels, data_shape, ground_truth) -> AttackResult:
        if update.num_images != 1:
            raise ValueError(
                "The analytic attack recovers a single input exactly; this update averages "
                f"{update.num_images} images, whose inputs mix in the weight gradient. Use "
                "InvertingGradients for batches."
            )
        name, layer = self._find_layer(model)
        if layer.in_features != math.prod(data_shape):
            raise ValueError(
                f"Layer {name!r} takes {layer.in_features} features but an image of shape "
                f"{data_shape} has {math.prod(data_shape)}; the analytic attack returns an image "
                "only for the first layer. "
                "Call recover_linear_input() to get the features entering a later layer."
            )
        gw = update.as_gradient(f"{name}.weight").to(layer.weight.device)
        gb = update.as_gradient(f"{name}.bias").to(layer.weight.device)
        x = recover_linear_input(gw, gb)
        residual = float((gw - gb[:, None] * x[None, :]).norm() / gw.norm().clamp_min(1e-30))
        images = x.reshape(1, *data_shape).clamp(0, 1)
        if labels is None:
            labels = infer_labels(model, update)
        quality = metrics.psnr(ground_truth, images) if ground_truth is not None else math.nan
        return AttackResult(
            images=images,
            labels=labels,
            history=_history_frame([(0, 0, residual, quality)]),
            seconds=0.0,
            info={"layer": name, "relative_residual": residual},
        )
