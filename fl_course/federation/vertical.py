"""Vertical federated learning as CAFE sets it up: workers hold pieces of every sample.

In vertical (feature-partitioned) FL the workers share the same samples but each holds a
different slice of their features; the server holds the labels. :cite:t:`jin2021cafe`
(Section 2, eqs. 2–3) split every image into four quarters, one per worker. Each worker runs its
own *bottom model* on its quarter and sends the output (the intermediate result) to the
server, which concatenates the four outputs, applies its *top model* (a softmax layer),
computes the loss with the labels it holds, and sends each worker the gradient of the loss
with respect to that worker's output. The worker back-propagates it through its bottom model
and uploads the resulting parameter gradient to the server, which updates all models.
Because the samples must be aligned across workers, the server announces the sample indices
of every mini-batch: this is what CAFE exploits.

Each worker's model is a :class:`fl_course.models.BottomModel`. :class:`VerticalFL` runs the
4-worker protocol above, with a ``defense`` that transforms each worker's uploaded gradient
before the server sees it.

Examples
--------
>>> import torch
>>> from fl_course.federation.vertical import VerticalFL, split_quarters
>>> images, labels = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
>>> vfl = VerticalFL(images, labels, batch_size=4, seed=0)
>>> step = vfl.step(vfl.choose_batch(0))
>>> len(step.gradients), [p.shape for p in split_quarters(images)][0]
(5, torch.Size([8, 1, 14, 14]))
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fl_course.checks import Configurable, check_int, check_number, check_seed
from fl_course.federation.local_sgd import (
    Update,
    UpdateTransform,
    block_gradients,
    check_images,
    check_transform,
)
from fl_course.federation.server_indexed import ServerIndexedFederation, Step
from fl_course.models import BottomModel
from fl_course.scale import device as default_device

__all__ = ["VerticalFL", "split_quarters", "join_quarters"]


def split_quarters(images: torch.Tensor) -> list[torch.Tensor]:
    """Split images into the four quarters held by the four VFL workers.

    Parameters
    ----------
    images : torch.Tensor
        ``[N, C, H, W]`` with even ``H`` and ``W`` (MNIST 28×28 gives four 14×14 pieces).

    Returns
    -------
    list of torch.Tensor
        Top-left, top-right, bottom-left, bottom-right, each ``[N, C, H/2, W/2]``.

    Examples
    --------
    >>> import torch
    >>> [q.shape[-1] for q in split_quarters(torch.zeros(2, 1, 28, 28))]
    [14, 14, 14, 14]
    """
    if images.dim() != 4 or images.shape[-1] % 2 or images.shape[-2] % 2:
        raise ValueError(
            f"split_quarters needs [N, C, H, W] images with even H and W, got shape "
            f"{tuple(images.shape)}; crop or pad the images to an even size first."
        )
    h, w = images.shape[-2] // 2, images.shape[-1] // 2
    return [images[..., :h, :w], images[..., :h, w:], images[..., h:, :w], images[..., h:, w:]]


def join_quarters(parts: list[torch.Tensor]) -> torch.Tensor:
    """Reassemble the four quarters produced by :func:`split_quarters`.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(3, 1, 28, 28)
    >>> bool(torch.equal(join_quarters(split_quarters(x)), x))
    True
    """
    if len(parts) != 4:
        raise ValueError(f"join_quarters needs exactly four pieces, got {len(parts)}.")
    top = torch.cat([parts[0], parts[1]], dim=-1)
    bottom = torch.cat([parts[2], parts[3]], dim=-1)
    return torch.cat([top, bottom], dim=-2)


class VerticalFL(Configurable, ServerIndexedFederation):
    """Four-worker vertical FL on image quarters with a server-side softmax layer.

    Parameters
    ----------
    images : torch.Tensor
        ``[N, 1, 28, 28]`` images in [0, 1]; worker ``m`` holds quarter ``m`` of each.
    labels : torch.Tensor
        ``[N]`` labels, held by the server.
    batch_size : int
        Samples per iteration (all workers use the same indices).
    lr : float
        Learning rate of the SGD step the server applies to all models (0 freezes them).
    channels, hidden, embedding : model sizes of each worker's
        :class:`~fl_course.models.BottomModel`.
    defense : callable, optional
        ``defense(gradient, *, model, data, step) -> gradient`` (e.g. a
        :class:`fl_course.defenses.Defense`) protects each worker's uploaded gradient before
        the server sees it, with ``model`` the worker's bottom model, ``data`` ``(piece,
        None)`` (the worker's quarter of this iteration's batch, ``[B, C, 14, 14]``, and no
        labels: the server holds them) and ``step=0``.
    device : str or torch.device, optional
        Where the models and data live; by default :func:`fl_course.scale.device` (the GPU at
        paper scale when present, else the CPU).
    seed : int
        Seeds the models (worker ``m`` uses ``seed + m + 1``, the top layer ``seed``) and
        the server's choice of batch indices.

    Examples
    --------
    >>> import torch
    >>> vfl = VerticalFL(torch.rand(6, 1, 28, 28), torch.arange(6), batch_size=3, seed=1)
    >>> vfl.choose_batch(0).tolist() == vfl.choose_batch(0).tolist()
    True
    """

    workers = 4
    tv_threshold = 28.0  # CAFE's ξ for this setting: the mean TV of an MNIST quarter is about 23
    labels_known = True

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int = 40,
        lr: float = 0.0,
        channels: tuple[int, int] = (32, 32),
        hidden: tuple[int, int] = (64, 32),
        embedding: int = 10,
        defense: UpdateTransform | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        check_images(images, labels)
        if images.shape[-2:] != (28, 28):
            raise ValueError(
                f"VerticalFL expects 28×28 images (four 14×14 quarters), got "
                f"{tuple(images.shape[-2:])}; use fl_course.data.load_mnist."
            )
        check_int("batch_size", batch_size)
        if batch_size > images.shape[0]:
            raise ValueError(
                f"batch_size={batch_size} exceeds the {images.shape[0]} samples; "
                "pass a smaller batch_size or more images."
            )
        check_number("lr", lr, non_negative=True, example=0)
        check_transform("defense", defense)
        check_seed(seed)
        self.save_settings(
            ignore=("images", "labels"),
            device=torch.device(device) if device is not None else default_device(),
        )
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.num_samples = images.shape[0]
        self.iteration = 0
        self.sample_shape = tuple(images.shape[1:])
        self.bottoms = [
            BottomModel(14, images.shape[1], channels, hidden, embedding, seed=seed + m + 1).to(
                self.device
            )
            for m in range(self.workers)
        ]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.top = nn.Linear(self.workers * embedding, 10).to(self.device)
        self._pieces = split_quarters(self.images)

    def choose_batch(self, iteration: int) -> torch.Tensor:
        """The server's batch indices for ``iteration`` (seeded, without replacement)."""
        rng = np.random.default_rng([self.seed, iteration])
        return torch.as_tensor(
            np.sort(rng.choice(self.num_samples, self.batch_size, replace=False))
        )

    def blocks(self) -> list[nn.Module]:
        """Modules whose gradients the server sees: the top layer, then the four bottoms."""
        return [self.top, *self.bottoms]

    def representation_blocks(self) -> list[int]:
        """Indices (into :meth:`blocks`) of the blocks that have a first FC layer to attack."""
        return [1, 2, 3, 4]

    def step(self, indices: torch.Tensor, *, update: bool = True) -> Step:
        """Run one protocol iteration on ``indices`` and return what the server sees.

        Workers send their bottom outputs, the server returns the output gradients, the
        workers upload their parameter gradients (through the ``defense``), and the
        server applies one SGD step with those gradients when ``update`` and ``lr > 0``.
        """
        indices = torch.as_tensor(indices, device=self.device)
        y = self.labels[indices]
        # 1. workers: forward their quarters and send the outputs (intermediate results)
        inputs = [piece[indices] for piece in self._pieces]
        outputs = [net(x) for net, x in zip(self.bottoms, inputs)]
        received = [o.detach().requires_grad_(True) for o in outputs]
        # 2. server: top layer and loss with the labels it holds
        self.top.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.top(torch.cat(received, dim=1)), y)
        loss.backward()
        shared = [{n: p.grad.detach().clone() for n, p in self.top.named_parameters()}]
        # 3. workers: back-propagate the returned output gradient, upload parameter gradients
        for m, (net, out, got) in enumerate(zip(self.bottoms, outputs, received)):
            grads = torch.autograd.grad(out, list(net.parameters()), grad_outputs=got.grad)
            grad = {n: g.detach() for (n, _), g in zip(net.named_parameters(), grads)}
            shared.append(self._defend(grad, model=net, data=(inputs[m], None)))
        step = Step(indices.cpu(), shared, float(loss.detach()))
        if update:
            self.apply(step)
        self.iteration += 1
        return step

    def fake_gradients(
        self, fake: torch.Tensor, indices: torch.Tensor, label_logits: torch.Tensor | None = None
    ) -> list[Update]:
        """Gradients the protocol would share for fake images (differentiable in ``fake``).

        The server knows the labels in VFL, so ``label_logits`` is ignored.
        """
        y = self.labels[torch.as_tensor(indices, device=self.device)]
        outputs = [net(piece) for net, piece in zip(self.bottoms, split_quarters(fake))]
        loss = F.cross_entropy(self.top(torch.cat(outputs, dim=1)), y)
        return block_gradients(loss, self.blocks())

    def fake_features(self, fake: torch.Tensor) -> list[torch.Tensor]:
        """First-FC-layer inputs of every worker for fake images, in block order."""
        return [net.features(piece) for net, piece in zip(self.bottoms, split_quarters(fake))]

    def tv_pieces(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The pieces on which the TV term is computed: each worker's quarter."""
        return split_quarters(images)

    @torch.no_grad()
    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Accuracy of the joint model on held-out images."""
        images, labels = images.to(self.device), labels.to(self.device)
        outputs = [net(piece) for net, piece in zip(self.bottoms, split_quarters(images))]
        return float((self.top(torch.cat(outputs, dim=1)).argmax(1) == labels).float().mean())
