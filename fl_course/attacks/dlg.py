"""Deep Leakage from Gradients (DLG) and its label-inferring variant iDLG.

DLG (:cite:t:`zhu2019dlg`, Alg. 1) draws a random "dummy" image and label and
minimises the squared Euclidean distance between the dummy's gradient and the
observed one (their Eq. 4) with L-BFGS, optimising image and soft label
together. iDLG (:cite:t:`zhao2020idlg`) first reads the label off the sign of
the last layer's gradient (:func:`fl_course.attacks.labels.idlg_label`) and then
optimises the image alone, which is faster and more reliable.

Both work best on smooth, untrained networks such as the sigmoid
:class:`fl_course.models.LeNetZhu`; the Euclidean cost is sensitive to the
gradient's magnitude, which shrinks as a network trains.

Examples
--------
>>> import torch
>>> from fl_course.models import LeNetZhu
>>> from fl_course.attacks import IDLG, client_gradient
>>> model = LeNetZhu(seed=0)
>>> x, y = torch.rand(1, 1, 28, 28), torch.tensor([7])
>>> result = IDLG(iterations=2, progress=False).reconstruct(model, client_gradient(model, x, y))
>>> result.images.shape, result.labels.tolist()
(torch.Size([1, 1, 28, 28]), [7])
"""

from __future__ import annotations

from fl_course.attacks.base import ThreatModel
from fl_course.attacks.optimization import UpdateMatchingAttack
from fl_course.federation.client import LossFn, classification_loss

__all__ = ["DLG", "IDLG"]


class DLG(UpdateMatchingAttack):
    """DLG: Euclidean gradient matching with L-BFGS, label optimised jointly.

    Parameters
    ----------
    iterations : int, default 100
        L-BFGS steps (Zhu et al. run 300).
    lr : float, default 1.0
        L-BFGS step length (Zhu et al.'s value).
    restarts : int, default 1
    lbfgs_max_iter : int, default 20
        Function evaluations per L-BFGS step (PyTorch's default, as in the DLG code).
    init : {"rand", "randn"}, default "rand"
        Dummy-image distribution: uniform on the image box [0, 1], or the
        standard normal of Zhu et al. (which on MNIST occasionally makes L-BFGS
        diverge).
    log_every : int, default 5
    loss_fn, seed, progress
        See :class:`fl_course.attacks.base.Attack`.

    Notes
    -----
    If ``reconstruct`` is given labels they are used (known-label DLG, as in
    the "Euclid. + L-BFGS" rows of Geiping et al.'s Table 1). No box
    constraint is applied during optimisation; the result is clipped to [0, 1].
    """

    threat_model = ThreatModel(
        attack="DLG (Zhu et al. 2019)",
        reference="NeurIPS 2019, Alg. 1 / Eq. 4",
        observes="one FedSGD gradient (a FedAvg delta is unrolled)",
        labels="optimised jointly with the image as soft labels (or given)",
        model_state="any; works best on smooth (sigmoid) untrained networks",
        batch_size="1 to a few images",
        local_steps="1 (FedSGD)",
        prior="none (no box, no TV)",
    )

    _label_strategy = "optimize"

    def __init__(
        self,
        *,
        iterations: int = 100,
        lr: float = 1.0,
        restarts: int = 1,
        lbfgs_max_iter: int = 20,
        init: str = "rand",
        log_every: int = 5,
        loss_fn: LossFn = classification_loss,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        super().__init__(
            distance="euclidean",
            optimizer="lbfgs",
            iterations=iterations,
            lr=lr,
            restarts=restarts,
            init=init,
            labels=self._label_strategy,
            lbfgs_max_iter=lbfgs_max_iter,
            log_every=log_every,
            loss_fn=loss_fn,
            seed=seed,
            progress=progress,
        )


class IDLG(DLG):
    """iDLG: DLG with the label inferred analytically from the last layer.

    Same parameters as :class:`DLG`. Without given labels, a single image's
    label comes from :func:`fl_course.attacks.labels.idlg_label` and a batch's
    from :func:`fl_course.attacks.labels.count_labels`; only the image is optimised.
    """

    threat_model = ThreatModel(
        attack="iDLG (Zhao et al. 2020)",
        reference="arXiv:2001.02610, Sec. 3",
        observes="one FedSGD gradient (a FedAvg delta is unrolled)",
        labels="inferred from the sign of the last layer's gradient (exact for one image)",
        model_state="any; works best on smooth (sigmoid) untrained networks",
        batch_size="1 (label rule exact); batches use a count heuristic",
        local_steps="1 (FedSGD)",
        prior="none (no box, no TV)",
    )

    _label_strategy = "infer"
