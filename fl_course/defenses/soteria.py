"""Soteria: prune the gradient of the fully connected layer's input representation.

Sun et al. (CVPR 2021, Sec. 4) perturb the representation ``r`` that feeds a
fully connected layer so that a reconstruction from the perturbed gradient lies
far from the input while ``r`` barely changes. Dropping feature ``r_i`` moves
the reconstruction by about ``|r_i| / ‖∇ₓ r_i‖`` (their Eq. 8), so the features
with the *smallest* ratio ``‖∇ₓ r_i‖ / |r_i|`` are removed: the matching columns
of that layer's weight gradient are zeroed. Other layers are sent unchanged.
"""

from __future__ import annotations

import hashlib
import warnings

import torch
from torch import nn

from fl_course.checks import check_int, check_percent
from fl_course.defenses.base import Defense, weights_fingerprint
from fl_course.federation.local_sgd import Update
from fl_course.defenses.compression import smallest_mask

__all__ = ["Soteria", "feature_ratios", "representation_scores"]


def _first_linear(model: nn.Module) -> str:
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            return name
    raise ValueError(
        "Soteria needs a model with an nn.Linear layer; pass layer='<module name>' explicitly."
    )


def feature_ratios(
    model: nn.Module, images: torch.Tensor, layer: str, *, chunk: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ratios ``‖∇ₓ r_{b,i}‖ / |r_{b,i}|`` of the input ``r`` of ``layer``.

    Parameters
    ----------
    model : nn.Module
    images : Tensor
        Batch ``[B, C, H, W]`` behind the gradient.
    layer : str
        Module name of the fully connected layer (e.g. ``"fc"``).
    chunk : int, default 128
        Features differentiated at once (memory knob).

    Returns
    -------
    ratios : Tensor
        Shape ``[B, F]``, on the CPU.
    representation : Tensor
        The representation ``r``, shape ``[B, F]``.
    """
    module = model.get_submodule(layer)
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, inp, out: captured.append(inp[0]))
    x = images.detach().clone().requires_grad_(True)
    try:
        model(x)
    finally:
        handle.remove()
    r = captured[0].flatten(1)
    num_features = r.shape[1]
    norms = torch.empty(r.shape[0], num_features, dtype=r.dtype)
    for start in range(0, num_features, chunk):
        stop = min(start + chunk, num_features)
        eye = torch.zeros(stop - start, *r.shape, dtype=r.dtype, device=r.device)
        eye[torch.arange(stop - start), :, torch.arange(start, stop)] = 1.0
        (jac,) = torch.autograd.grad(
            r, x, grad_outputs=eye, retain_graph=True, is_grads_batched=True
        )
        norms[:, start:stop] = jac.flatten(2).norm(dim=2).T.detach().cpu()
    return norms / r.detach().abs().cpu().clamp_min(1e-12), r.detach()


def representation_scores(
    model: nn.Module, images: torch.Tensor, layer: str, *, chunk: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature scores ``Σ_b ‖∇ₓ r_{b,i}‖ / |r_{b,i}|`` of the input ``r`` of ``layer``.

    Parameters
    ----------
    model, images, layer, chunk
        As in :func:`feature_ratios`.

    Returns
    -------
    scores : Tensor
        Shape ``[F]``; small scores mark the features Soteria removes.
    representation : Tensor
        The representation ``r``, shape ``[B, F]``.
    """
    ratios, r = feature_ratios(model, images, layer, chunk=chunk)
    return ratios.sum(dim=0), r


def _examples_independent(model: nn.Module) -> bool:
    """True unless a BatchNorm layer in training mode mixes the examples of a batch."""
    return not any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules()
    )


class Soteria(Defense):
    """Soteria defense of Sun et al. (2021): prune the FC layer's representation gradient.

    Parameters
    ----------
    prune_rate : float, default 50.0
        Percentage of representation features removed (the threshold of 50 used
        by Plato's port; Sun et al. sweep it).
    layer : str, optional
        Module name of the defended fully connected layer; default the first
        ``nn.Linear`` of the model (``fc`` for LeNet/ConvNet).
    max_samples : int, default 64
        At most this many of the client's examples are used to score features
        (departure: the paper scores the exact batch; a whole client data set
        would cost one backward pass per feature and example).
    seed : int, default 0
        Kept for a uniform interface; the defense is deterministic.

    Notes
    -----
    Needs ``model`` and ``data=(images, labels)`` when called. Only the layer's
    weight gradient changes; Sun et al. note that attacks using the other layers
    are not covered by the bound.

    Examples
    --------
    >>> from fl_course.models import LeNetZhu
    >>> model = LeNetZhu(seed=0); x = torch.rand(1, 1, 28, 28); y = torch.tensor([3])
    >>> grads = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), model.parameters())
    >>> update = dict(zip([n for n, _ in model.named_parameters()], grads))
    >>> out = Soteria(prune_rate=50)(update, model=model, data=(x, y))
    >>> int((out["fc.weight"].abs().sum(0) == 0).sum())
    294
    """

    name = "Soteria"

    def __init__(
        self,
        prune_rate: float = 50.0,
        *,
        layer: str | None = None,
        max_samples: int = 64,
        seed: int = 0,
    ) -> None:
        if layer is not None and not isinstance(layer, str):
            raise TypeError(
                f"layer must be a module name such as 'fc', got {type(layer).__name__}."
            )
        super().__init__(
            seed=seed,
            prune_rate=check_percent("prune_rate", prune_rate),
            max_samples=check_int("max_samples", max_samples, example=64),
        )
        self._ratio_cache: tuple[tuple | None, dict[bytes, torch.Tensor]] = (None, {})
        if self.prune_rate < 20:
            warnings.warn(
                f"prune_rate={prune_rate}: removing under 20% of the representation features "
                "leaves most of the FC layer's gradient intact; Sun et al. (2021) use far higher "
                "rates.",
                UserWarning,
                stacklevel=2,
            )

    def _protect(self, update: Update, *, model: nn.Module | None, data, step: int) -> Update:
        if model is None or data is None:
            raise ValueError(
                "Soteria needs the model and the client's batch: call it as "
                "soteria(update, model=model, data=(images, labels))."
            )
        layer = self.layer or _first_linear(model)
        try:
            module = model.get_submodule(layer)
        except AttributeError as error:
            raise ValueError(
                f"The model has no module {layer!r}; pass layer= the name of an nn.Linear."
            ) from error
        if not isinstance(module, nn.Linear):
            raise ValueError(
                f"Soteria defends a fully connected layer, but {layer!r} is a "
                f"{type(module).__name__}; pass layer= the name of an nn.Linear."
            )
        key = f"{layer}.weight" if layer else "weight"
        if key not in update:
            raise ValueError(
                f"The update has no entry {key!r}; pass layer= the name of the defended nn.Linear."
            )
        images = data[0][: self.max_samples]
        scores = self._scores(model, images, layer)
        k = int(self.prune_rate / 100.0 * scores.numel())
        mask = (~smallest_mask(scores, k)).to(scores.dtype)
        update[key] = update[key] * mask.to(update[key].device, update[key].dtype)
        return update

    def _scores(self, model: nn.Module, images: torch.Tensor, layer: str) -> torch.Tensor:
        """Feature scores of ``images``, reusing each example's ratios while the weights stay.

        An attacked federation with a frozen model (CAFE) sends the same examples again and
        again; their ratios are computed once per weight fingerprint. With BatchNorm in
        training mode the examples interact and nothing is cached.
        """
        if not _examples_independent(model):
            return representation_scores(model, images, layer)[0]
        fingerprint = (layer, *weights_fingerprint(model))
        if self._ratio_cache[0] != fingerprint:
            self._ratio_cache = (fingerprint, {})
        cache = self._ratio_cache[1]
        keys = [hashlib.sha1(x.detach().cpu().numpy().tobytes()).digest() for x in images]
        missing = {k: i for i, k in enumerate(keys) if k not in cache}  # one example per new key
        if missing:
            ratios, _ = feature_ratios(model, images[list(missing.values())], layer)
            cache.update(zip(missing, ratios))
        return torch.stack([cache[k] for k in keys]).sum(dim=0)
