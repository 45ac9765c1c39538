"""Inverting Gradients (Geiping et al. 2020): cosine matching, TV prior, signed Adam.

:cite:t:`geiping2020inverting` observe that a gradient's *magnitude* mostly
encodes how far the network is from fitting the example (its training state),
while its *direction* encodes the data. They therefore match directions with
the cosine distance and add a total-variation prior inside the box [0, 1]
(their Eq. 4):

.. math:: \\arg\\min_{x \\in [0,1]^n} 1 - \\frac{\\langle \\nabla_\\theta L(x, y),
          \\nabla_\\theta L(x^*, y)\\rangle}{\\|\\nabla_\\theta L(x, y)\\|\\,
          \\|\\nabla_\\theta L(x^*, y)\\|} + \\alpha\\,\\mathrm{TV}(x),

solved, like an adversarial attack, with Adam on the *sign* of the image
gradient, step size 0.1 divided by 10 after 3/8, 5/8 and 7/8 of the
iterations, projecting onto the box after every step, and keeping the best of
several random restarts (Sec. 4 and their ``inversefed`` defaults).

Examples
--------
>>> import torch
>>> from fl_course.models import ConvNet
>>> from fl_course.attacks import InvertingGradients, client_gradient
>>> model = ConvNet(width=4, seed=0)
>>> x, y = torch.rand(1, 1, 28, 28), torch.tensor([2])
>>> attack = InvertingGradients(iterations=3, progress=False)
>>> attack.reconstruct(model, client_gradient(model, x, y)).images.shape
torch.Size([1, 1, 28, 28])
"""

from __future__ import annotations

from fl_course.attacks.base import ThreatModel
from fl_course.attacks.optimization import UpdateMatchingAttack
from fl_course.federation.client import LossFn, classification_loss

__all__ = ["InvertingGradients"]


class InvertingGradients(UpdateMatchingAttack):
    """Geiping et al.'s attack: cosine distance + TV, signed Adam with step decay, box, restarts.

    Parameters
    ----------
    iterations : int, default 300
        Adam steps per restart (the paper uses 4,800 to 24,000 on CIFAR/ImageNet;
        a 28×28 digit needs far fewer).
    lr : float, default 0.1
        Initial step size (the paper's value).
    tv : float, default 1e-4
        Weight of the total-variation prior (the paper tunes it per setting,
        1e-4 to 1e-1). MNIST's sharp strokes prefer little TV on LeNet (Zhu)
        and the pooling-free :class:`~fl_course.models.ConvNet`; the pooled
        :class:`~fl_course.models.PooledConvNet`, whose last layer gives away
        less, needs 1e-2 (chapter 4's lab).
    restarts : int, default 1
        Random restarts; the best final cosine distance wins.
    lr_decay : bool, default True
        Step decay by 10 at 3/8, 5/8, 7/8 of ``iterations``.
    init : {"rand", "randn"}, default "rand"
        Initial images: uniform on the box [0, 1] (the counterpart of
        ``inversefed``'s ``"rand"`` init for un-normalised images), or standard normal.
    log_every : int, default 10
    loss_fn, seed, progress
        See :class:`fl_course.attacks.base.Attack`.

    Notes
    -----
    Works on a FedSGD gradient or, unchanged, on a FedAvg delta, for which the
    simulated update unrolls the client's local steps
    (:class:`fl_course.attacks.fedavg_unrolled.FedAvgInvertingGradients` names
    that case). Labels, if not given, are inferred from the last layer.
    Geiping et al. also consider the whole-gradient weighting variants; we use
    equal weights over all layers (their default).
    """

    threat_model = ThreatModel(
        attack="Inverting Gradients (Geiping et al. 2020)",
        reference="NeurIPS 2020, Eq. 4, Sec. 4",
        observes="one FedSGD gradient (or FedAvg delta, unrolled)",
        labels="known, or inferred from the last layer (iDLG rule / count heuristic)",
        model_state="any: untrained or trained, smooth or ReLU",
        batch_size="1 to ~100 images (quality falls with batch size)",
        local_steps="1 (FedSGD); see FedAvgInvertingGradients for several",
        prior="images lie in [0, 1]; natural images have small total variation",
    )

    def __init__(
        self,
        *,
        iterations: int = 300,
        lr: float = 0.1,
        tv: float = 1e-4,
        restarts: int = 1,
        lr_decay: bool = True,
        init: str = "rand",
        log_every: int = 10,
        loss_fn: LossFn = classification_loss,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        super().__init__(
            distance="cosine",
            optimizer="adam",
            iterations=iterations,
            lr=lr,
            restarts=restarts,
            tv=tv,
            signed=True,
            boxed=True,
            lr_decay=lr_decay,
            init=init,
            labels="infer",
            log_every=log_every,
            loss_fn=loss_fn,
            seed=seed,
            progress=progress,
        )
