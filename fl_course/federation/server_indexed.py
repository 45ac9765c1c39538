"""The interface of the two federations CAFE attacks: the server announces batch indices.

In both CAFE settings :cite:p:`jin2021cafe` the server chooses the ids of each iteration's
mini-batch and tells the workers, who answer with gradients of that batch (Section 4.3 for
horizontal FL, the sample alignment of Section 2 for vertical FL). A curious server can
therefore line fake data up with real samples by id. :class:`ServerIndexedFederation` is what
:class:`fl_course.attacks.cafe.Cafe` relies on; its two implementations are
:class:`~fl_course.federation.indexed_fedsgd.IndexedFedSGD` and
:class:`~fl_course.federation.vertical.VerticalFL`.

Every worker's gradient passes through the federation's ``defense`` (the update transform
``defense(update, *, model, data, step) -> update`` of :mod:`fl_course.federation.local_sgd`)
before the server sees it. Each worker's shared gradient is one FedSGD step, so the defense
protects it as local step 0.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from fl_course.federation.local_sgd import Update, UpdateTransform, sgd_update

__all__ = ["ServerIndexedFederation", "Step"]


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
        ``defense``); in HFL a single block, the aggregate.
    loss : float
        Training loss of the mini-batch.
    """

    indices: torch.Tensor
    gradients: list[Update]
    loss: float


class ServerIndexedFederation(ABC):
    """A federation whose server picks and announces every iteration's sample ids.

    Attributes (set by subclasses)
    ------------------------------
    images : torch.Tensor
        All samples in global-id order, ``[N, C, H, W]`` (what the attack tries to recover).
    num_samples : int
    sample_shape : tuple of int
        Shape of one sample, ``(C, H, W)``.
    device : torch.device
    defense : callable or None
        Transform of each worker's gradient before the server sees it.
    lr : float
        The server's SGD learning rate (0 freezes the models).
    iteration : int
        Iterations run so far.
    fc_names : tuple of str
        Names of the first fully connected layer's weight and bias in each block.
    tv_threshold : float
        CAFE's total-variation threshold ξ for this setting's pieces.
    labels_known : bool
        Whether the server holds the labels (VFL) or must infer them (HFL).
    """

    fc_names = ("fc1.weight", "fc1.bias")
    tv_threshold: float
    labels_known: bool
    defense: UpdateTransform | None
    lr: float

    @abstractmethod
    def choose_batch(self, iteration: int) -> torch.Tensor:
        """The global ids of iteration ``iteration``'s batch (seeded)."""

    @abstractmethod
    def blocks(self) -> list[nn.Module]:
        """Modules whose gradients the server sees, in :attr:`Step.gradients` order."""

    @abstractmethod
    def representation_blocks(self) -> list[int]:
        """Indices (into :meth:`blocks`) of the blocks with a first FC layer to attack."""

    @abstractmethod
    def step(self, indices: torch.Tensor, *, update: bool = True) -> Step:
        """One protocol iteration on the ids ``indices``; returns what the server sees."""

    @abstractmethod
    def fake_gradients(
        self, fake: torch.Tensor, indices: torch.Tensor, label_logits: torch.Tensor | None = None
    ) -> list[Update]:
        """The shared gradients for fake samples, differentiable in ``fake``."""

    @abstractmethod
    def fake_features(self, fake: torch.Tensor) -> list[torch.Tensor]:
        """First-FC-layer inputs of the representation blocks for fake samples."""

    @abstractmethod
    def tv_pieces(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The pieces on which CAFE's total-variation term is computed."""

    @abstractmethod
    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Accuracy of the federation's model on held-out samples."""

    def apply(self, step: Step) -> None:
        """The server's SGD update of every block with the shared gradients (no-op if lr is 0)."""
        sgd_update(self.blocks(), step.gradients, self.lr)

    def _defend(
        self,
        gradient: Update,
        *,
        model: nn.Module,
        data: tuple[torch.Tensor, torch.Tensor | None],
    ) -> Update:
        """A worker's gradient as it leaves the worker: through the defense, as step 0."""
        if self.defense is None:
            return gradient
        return self.defense(gradient, model=model, data=data, step=0)
