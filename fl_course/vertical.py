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

Classes
-------
BottomModel
    Two convolutions and three fully connected layers, as the CAFE bottom model, scaled down
    for a CPU. Exposes :meth:`BottomModel.features`, the input of its first FC layer.
VerticalFL
    The 4-worker protocol above, with a ``gradient_hook`` where a defense transforms each
    worker's uploaded gradient before the server sees it.

Examples
--------
>>> import torch
>>> from fl_course.vertical import VerticalFL, split_quarters
>>> images, labels = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
>>> vfl = VerticalFL(images, labels, batch_size=4, seed=0)
>>> step = vfl.step(vfl.choose_batch(0))
>>> len(step.gradients), [p.shape for p in split_quarters(images)][0]
(5, torch.Size([8, 1, 14, 14]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fl_course.scale import device as default_device

__all__ = ["BottomModel", "VerticalFL", "Step", "split_quarters", "join_quarters"]

GradientHook = Callable[..., dict]


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}; pass e.g. {name}=4.")


def _check_images(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(
            "images must be a float tensor of shape [N, C, H, W]; load them with "
            "fl_course.data.load_mnist, which returns [N, 1, 28, 28]."
        )
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels must be an int64 tensor of shape [{images.shape[0]}], one label per image; "
            f"got {getattr(labels, 'shape', type(labels))}."
        )


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


class BottomModel(nn.Module):
    """Two 5×5 convolutions and three FC layers: CAFE's worker (bottom) model, scaled down.

    The CAFE code uses 64 and 128 channels and FC widths 256, 64, 10; we keep the layout
    (conv–ReLU–max-pool twice, then FC–ReLU–FC–ReLU–FC) with smaller widths so that a CPU
    runs thousands of attack iterations in minutes.

    Parameters
    ----------
    image_size : int
        Side of the square input (14 for an MNIST quarter, 28 for a full image).
    in_channels : int
        Input channels.
    channels : tuple of int
        Output channels of the two convolutions.
    hidden : tuple of int
        Widths of the first two FC layers. The first FC layer (``fc1``) is the one whose
        input CAFE recovers; it should be at least as wide as the batch (Section 4.2).
    out_features : int
        Width of the output (sent to the server in VFL; the logits in HFL).
    seed : int
        Seed for the initial weights (the global random state is left untouched).

    Examples
    --------
    >>> import torch
    >>> net = BottomModel(image_size=14, seed=0)
    >>> net(torch.zeros(2, 1, 14, 14)).shape, net.features(torch.zeros(2, 1, 14, 14)).shape
    (torch.Size([2, 10]), torch.Size([2, 512]))
    """

    def __init__(
        self,
        image_size: int = 14,
        in_channels: int = 1,
        channels: tuple[int, int] = (16, 32),
        hidden: tuple[int, int] = (64, 32),
        out_features: int = 10,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value in [
            ("image_size", image_size),
            ("in_channels", in_channels),
            ("out_features", out_features),
            *zip(["channels[0]", "channels[1]"], channels),
            *zip(["hidden[0]", "hidden[1]"], hidden),
        ]:
            _check_positive_int(name, value)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(
                f"seed must be a non-negative integer, got {seed!r}; pass e.g. seed=0."
            )
        self.image_size = image_size
        side = -(-(-(-image_size // 2)) // 2)  # two ceil-mode 2×2 poolings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv1 = nn.Conv2d(in_channels, channels[0], 5, padding=2)
            self.conv2 = nn.Conv2d(channels[0], channels[1], 5, padding=2)
            self.fc1 = nn.Linear(channels[1] * side * side, hidden[0])
            self.fc2 = nn.Linear(hidden[0], hidden[1])
            self.fc3 = nn.Linear(hidden[1], out_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the input of ``fc1`` (CAFE's internal representation H), ``[N, D]``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, ceil_mode=True)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, ceil_mode=True)
        return x.flatten(1)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the three FC layers to the representation ``h``."""
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(h)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class Step:
    """What the server sees in one training iteration.

    Attributes
    ----------
    indices : torch.Tensor
        The sample indices of the mini-batch (chosen by the server).
    gradients : list of dict
        The shared gradients, one dict (parameter name → tensor) per *gradient block*:
        in VFL the server's own top layer first, then one per worker (after the
        ``gradient_hook``); in HFL a single block, the aggregate.
    loss : float
        Training loss of the mini-batch.
    """

    indices: torch.Tensor
    gradients: list[dict[str, torch.Tensor]]
    loss: float


def _block_gradients(loss: torch.Tensor, blocks: list[nn.Module]) -> list[dict[str, torch.Tensor]]:
    """Differentiable gradients of ``loss`` for every block, one dict per block."""
    named = [list(module.named_parameters()) for module in blocks]
    flat = torch.autograd.grad(loss, [p for block in named for _, p in block], create_graph=True)
    out, start = [], 0
    for block in named:
        out.append({n: g for (n, _), g in zip(block, flat[start : start + len(block)])})
        start += len(block)
    return out


def _sgd_update(
    blocks: list[nn.Module], gradients: list[dict[str, torch.Tensor]], lr: float
) -> None:
    """The server's SGD step on every block with its shared gradient (no-op if ``lr`` is 0)."""
    if lr == 0:
        return
    with torch.no_grad():
        for module, grad in zip(blocks, gradients):
            for n, p in module.named_parameters():
                p -= lr * grad[n]


class VerticalFL:
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
    channels, hidden, embedding : model sizes of each worker's :class:`BottomModel`.
    gradient_hook : callable, optional
        ``hook(gradient: dict[str, Tensor], *, worker: int, iteration: int, data: tuple) -> dict``
        transforms each worker's uploaded gradient before the server sees it (a defense).
        ``data`` is ``(piece, None)``: the worker's quarter of this iteration's batch,
        ``[B, C, 14, 14]``, and no labels (the server holds them).
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
    fc_names = ("fc1.weight", "fc1.bias")
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
        gradient_hook: GradientHook | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        _check_images(images, labels)
        if images.shape[-2:] != (28, 28):
            raise ValueError(
                f"VerticalFL expects 28×28 images (four 14×14 quarters), got "
                f"{tuple(images.shape[-2:])}; use fl_course.data.load_mnist."
            )
        _check_positive_int("batch_size", batch_size)
        if batch_size > images.shape[0]:
            raise ValueError(
                f"batch_size={batch_size} exceeds the {images.shape[0]} samples; "
                "pass a smaller batch_size or more images."
            )
        if lr < 0:
            raise ValueError(f"lr must be non-negative, got {lr}; pass lr=0 to freeze the models.")
        if gradient_hook is not None and not callable(gradient_hook):
            raise TypeError(
                "gradient_hook must be a callable hook(gradient, *, worker, iteration, data) -> dict."
            )
        self.device = torch.device(device) if device is not None else default_device()
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.num_samples = images.shape[0]
        self.batch_size = batch_size
        self.lr = lr
        self.gradient_hook = gradient_hook
        self.seed = seed
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
        workers upload their parameter gradients (through ``gradient_hook``), and the
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
            if self.gradient_hook is not None:
                grad = self.gradient_hook(
                    grad, worker=m, iteration=self.iteration, data=(inputs[m], None)
                )
            shared.append(grad)
        step = Step(indices.cpu(), shared, float(loss.detach()))
        if update:
            self.apply(step)
        self.iteration += 1
        return step

    def apply(self, step: Step) -> None:
        """The server's SGD update of every model with the shared gradients (no-op if ``lr`` is 0)."""
        _sgd_update(self.blocks(), step.gradients, self.lr)

    def fake_gradients(
        self, fake: torch.Tensor, indices: torch.Tensor, label_logits: torch.Tensor | None = None
    ) -> list[dict[str, torch.Tensor]]:
        """Gradients the protocol would share for fake images (differentiable in ``fake``).

        The server knows the labels in VFL, so ``label_logits`` is ignored.
        """
        y = self.labels[torch.as_tensor(indices, device=self.device)]
        outputs = [net(piece) for net, piece in zip(self.bottoms, split_quarters(fake))]
        loss = F.cross_entropy(self.top(torch.cat(outputs, dim=1)), y)
        return _block_gradients(loss, self.blocks())

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
