"""Horizontal FL with FedSGD where the server picks every worker's batch, as CAFE attacks it.

In horizontal (sample-partitioned) FL every worker holds whole samples of its own. In each
iteration the server tells every worker which of its local samples form the mini-batch (as in
:cite:t:`jin2021cafe`, Section 4.3, where the server controls the batch indices), each worker
computes the gradient of its mini-batch loss with the current model, and the server averages
the M gradients (eq. 9) and takes one SGD step (FedSGD, :cite:p:`mcmahan2017fedavg`).

Examples
--------
>>> import torch
>>> from fl_course.federation import IndexedFedSGD
>>> data = [(torch.rand(5, 1, 28, 28), torch.arange(5)) for _ in range(4)]
>>> hfl = IndexedFedSGD(data, batch_size=2, seed=0)
>>> step = hfl.step(hfl.choose_batch(0))
>>> len(step.indices), len(step.gradients)
(8, 1)
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

__all__ = ["IndexedFedSGD"]


class IndexedFedSGD(Configurable, ServerIndexedFederation):
    """M-worker FedSGD where the server picks each worker's batch indices.

    Parameters
    ----------
    client_data : list of (images, labels)
        Worker ``m``'s local data. Samples get global ids in worker order (worker 0's first,
        and so on); the attacker's fake data are aligned with these ids.
    batch_size : int
        Samples per worker per iteration (CAFE's HFL experiments use 10, so 4 workers give 40).
    balanced : bool
        ``True``: exactly ``batch_size`` samples from every worker and the plain average of the
        M gradients (eq. 9). ``False``: the server draws the ``M·batch_size`` ids uniformly from
        all workers' samples (so a worker may contribute more or fewer than ``batch_size``)
        and averages the gradients weighted by batch size, as FedSGD does
        :cite:p:`mcmahan2017fedavg`; both give every sample of the iteration the same weight.
        A curious server prefers ``False``: with fixed per-worker counts, every batch
        indicator has exactly ``batch_size`` ones per worker, so ``M − 1`` directions of
        CAFE's step 1 can never be identified (see the chapter's exercises).
    lr : float
        Server learning rate of the FedSGD step (0 freezes the model).
    channels, hidden : model sizes of the shared :class:`~fl_course.models.BottomModel`
        (2 conv + 3 FC on the whole 28×28 image, 10 logits).
    defense : callable, optional
        ``defense(gradient, *, model, data, step) -> gradient`` (e.g. a
        :class:`fl_course.defenses.Defense`) protects each worker's gradient before the server
        aggregates it, with ``model`` the shared model, ``data`` the worker's
        ``(images, labels)`` in this iteration's batch (the batch behind the gradient, which
        a defense such as Soteria needs) and ``step=0``.
    seed : int
        Seeds the model and the server's choice of batch indices.
    device : str or torch.device, optional
        Where the models and data live; by default :func:`fl_course.scale.device` (the GPU at
        paper scale when present, else the CPU).

    Examples
    --------
    >>> import torch
    >>> data = [(torch.rand(4, 1, 28, 28), torch.arange(4)) for _ in range(2)]
    >>> IndexedFedSGD(data, batch_size=2, seed=0).choose_batch(3).shape
    torch.Size([4])
    """

    tv_threshold = 110.0  # CAFE's ξ for this setting: the mean TV of an MNIST image is about 98
    labels_known = False

    def __init__(
        self,
        client_data: list[tuple[torch.Tensor, torch.Tensor]],
        *,
        batch_size: int = 10,
        balanced: bool = True,
        lr: float = 0.0,
        channels: tuple[int, int] = (16, 32),
        hidden: tuple[int, int] = (64, 32),
        defense: UpdateTransform | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        if not isinstance(client_data, (list, tuple)) or not client_data:
            raise ValueError(
                "client_data must be a non-empty list of (images, labels) pairs, one per worker."
            )
        for images, labels in client_data:
            check_images(images, labels)
        check_int("batch_size", batch_size)
        sizes = [len(labels) for _, labels in client_data]
        if batch_size > min(sizes):
            raise ValueError(
                f"batch_size={batch_size} exceeds the smallest worker's {min(sizes)} samples; "
                "pass a smaller batch_size or give every worker more data."
            )
        check_number("lr", lr, non_negative=True, example=0)
        check_transform("defense", defense)
        check_seed(seed)
        self.save_settings(
            ignore=("client_data",),
            balanced=bool(balanced),
            device=torch.device(device) if device is not None else default_device(),
        )
        self.workers = len(client_data)
        self.images = torch.cat([x for x, _ in client_data]).to(self.device)
        self.labels = torch.cat([y for _, y in client_data]).to(self.device)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.num_samples = int(self.offsets[-1])
        self.iteration = 0
        self.sample_shape = tuple(self.images.shape[1:])
        self.model = BottomModel(
            self.images.shape[-1], self.images.shape[1], channels, hidden, 10, seed=seed
        ).to(self.device)

    def choose_batch(self, iteration: int) -> torch.Tensor:
        """Global ids of the iteration's batch: ``batch_size`` per worker, in worker order."""
        rng = np.random.default_rng([self.seed, iteration])
        if not self.balanced:
            return torch.as_tensor(
                np.sort(rng.choice(self.num_samples, self.workers * self.batch_size, replace=False))
            )
        picks = [
            lo + np.sort(rng.choice(hi - lo, self.batch_size, replace=False))
            for lo, hi in zip(self.offsets[:-1], self.offsets[1:])
        ]
        return torch.as_tensor(np.concatenate(picks))

    def _worker_weights(self, counts: np.ndarray) -> np.ndarray:
        """Aggregation weight of each worker given its batch size in this iteration."""
        if self.balanced:
            return np.full(self.workers, 1.0 / self.workers)
        return counts / counts.sum()

    def blocks(self) -> list[nn.Module]:
        """Modules whose gradients the server sees: the one shared model."""
        return [self.model]

    def representation_blocks(self) -> list[int]:
        """The shared model's ``fc1`` is the layer CAFE recovers the input of."""
        return [0]

    def _worker_of(self, indices: torch.Tensor) -> np.ndarray:
        return np.searchsorted(self.offsets, np.asarray(indices.cpu()), side="right") - 1

    def step(self, indices: torch.Tensor, *, update: bool = True) -> Step:
        """One FedSGD iteration on the global ids ``indices``; returns the aggregated gradient."""
        indices = torch.as_tensor(indices)
        owner = self._worker_of(indices)
        weights = self._worker_weights(np.bincount(owner, minlength=self.workers))
        names, params = zip(*self.model.named_parameters())
        total = {n: torch.zeros_like(p) for n, p in zip(names, params)}
        losses = []
        for m in range(self.workers):
            if weights[m] == 0:
                continue
            local = indices[torch.as_tensor(owner == m)].to(self.device)
            batch = (self.images[local], self.labels[local])
            loss = F.cross_entropy(self.model(batch[0]), batch[1])
            grad = dict(zip(names, (g.detach() for g in torch.autograd.grad(loss, params))))
            grad = self._defend(grad, model=self.model, data=batch)
            for n in names:
                total[n] += float(weights[m]) * grad[n]
            losses.append(float(weights[m]) * float(loss.detach()))
        step = Step(indices, [total], float(np.sum(losses)))
        if update:
            self.apply(step)
        self.iteration += 1
        return step

    def fake_gradients(
        self, fake: torch.Tensor, indices: torch.Tensor, label_logits: torch.Tensor | None = None
    ) -> list[Update]:
        """The aggregated gradient (eq. 10) for fake images with soft labels.

        The soft labels are ``softmax(label_logits)``; the server does not know the labels.
        """
        if label_logits is None:
            raise ValueError(
                "HFL hides the labels from the server: pass label_logits for the fake samples."
            )
        owner = self._worker_of(torch.as_tensor(indices))
        counts = np.bincount(owner, minlength=self.workers)
        scale = self._worker_weights(counts) / np.maximum(counts, 1)
        per_sample = -(F.softmax(label_logits, 1) * F.log_softmax(self.model(fake), 1)).sum(1)
        loss = (
            per_sample * torch.as_tensor(scale[owner], dtype=fake.dtype, device=fake.device)
        ).sum()
        return block_gradients(loss, self.blocks())

    def fake_features(self, fake: torch.Tensor) -> list[torch.Tensor]:
        """The shared model's first-FC-layer input for fake images."""
        return [self.model.features(fake)]

    def tv_pieces(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The TV term is computed on whole images in HFL."""
        return [images]

    @torch.no_grad()
    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Accuracy of the shared model on held-out images."""
        return float(
            (self.model(images.to(self.device)).argmax(1) == labels.to(self.device)).float().mean()
        )
