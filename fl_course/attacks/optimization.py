"""Reconstruction by update matching, the engine behind DLG, iDLG and Inverting Gradients.

Given the observed update ``U`` of a client, find images ``x̂`` (and labels)
whose *simulated* update ``U(x̂)`` -- computed by
:func:`fl_course.federation.client.simulate_update`, the same forward model the
victim uses -- is close to ``U``:

.. math:: \\hat x = \\arg\\min_{x} \\; d\\big(U(x, y), U\\big) + \\alpha\\,\\mathrm{TV}(x).

Two distances ``d``: the squared Euclidean distance of DLG
(:cite:t:`zhu2019dlg`, Eq. 4) and the cosine distance of
:cite:t:`geiping2020inverting` (Eq. 4), which ignores the update's magnitude.
For a FedAvg delta ``U(x)`` unrolls the client's local SGD steps, so the same
engine gives the FedAvg attack of Geiping et al., Sec. 6.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from fl_course import metrics
from fl_course.attacks.base import (
    Attack,
    AttackResult,
    ObservedUpdate,
    _history_frame,
    _seeded_generator,
)
from fl_course.attacks.labels import infer_labels, last_layer_names
from fl_course.checks import check_choice, check_int, check_number
from fl_course.federation.client import LossFn, classification_loss, simulate_update

__all__ = [
    "UpdateMatchingAttack",
    "total_variation",
    "euclidean_distance",
    "cosine_distance",
    "UPDATE_DISTANCES",
]


def total_variation(images: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Anisotropic total variation of ``[N, C, H, W]`` images: absolute neighbour differences.

    The image prior of update-matching attacks (Geiping et al. 2020, Eq. 4) and CAFE's TV
    term (Jin et al. 2021, eq. 8).

    Parameters
    ----------
    images : torch.Tensor
        ``[N, C, H, W]`` batch.
    reduction : {"mean", "none"}, default "mean"
        ``"mean"``: the mean absolute difference along the width plus the one along the
        height, over the whole batch (a scalar; Geiping et al.'s prior). ``"none"``: one value
        per image, the sum of all its absolute neighbour differences (``[N]``; CAFE's TV).

    Examples
    --------
    >>> x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    >>> float(total_variation(x)), total_variation(x, reduction="none").tolist()
    (1.0, [2.0])
    """
    check_choice("reduction", reduction, ("mean", "none"))
    if reduction == "none":
        dh = (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(1).sum(1)
        dw = (images[..., :, 1:] - images[..., :, :-1]).abs().flatten(1).sum(1)
        return dh + dw
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean()
    dy = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean()
    return dx + dy


def euclidean_distance(
    a: list[torch.Tensor], b: list[torch.Tensor], *, normalize: bool = False
) -> torch.Tensor:
    """``Σ_l ‖a_l − b_l‖²`` over all layers (DLG, Eq. 4), divided by ``Σ_l ‖b_l‖²`` if normalised.

    The normalised form is CAFE's gradient matching (``b`` the shared gradient): its weight in
    the objective does not depend on the gradients' size.

    Examples
    --------
    >>> a, b = [torch.tensor([1.0, 2.0])], [torch.tensor([1.0, 0.0])]
    >>> float(euclidean_distance(a, b)), float(euclidean_distance(a, b, normalize=True))
    (4.0, 4.0)
    """
    squared = sum(((x - y) ** 2).sum() for x, y in zip(a, b))
    if not normalize:
        return squared
    return squared / (sum(y.pow(2).sum() for y in b) + 1e-30)


def cosine_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """``1 − ⟨a, b⟩ / (‖a‖ ‖b‖)`` with all layers concatenated (Geiping et al., Eq. 4).

    Examples
    --------
    >>> a = [torch.tensor([1.0, 2.0])]
    >>> float(cosine_distance(a, [2 * a[0]])), float(cosine_distance(a, [-a[0]]))
    (0.0, 2.0)
    """
    dot = sum((x * y).sum() for x, y in zip(a, b))
    norm_a = sum((x * x).sum() for x in a).sqrt()
    norm_b = sum((y * y).sum() for y in b).sqrt()
    return 1 - dot / (norm_a * norm_b).clamp_min(1e-12)


#: The update-matching distances by name (``UpdateMatchingAttack(distance=...)``).
UPDATE_DISTANCES = {"euclidean": euclidean_distance, "cosine": cosine_distance}


class UpdateMatchingAttack(Attack):
    """Optimisation-based reconstruction from a gradient or FedAvg delta.

    Parameters
    ----------
    distance : {"euclidean", "cosine"}
        Update-matching cost.
    optimizer : {"lbfgs", "adam"}
        L-BFGS as in DLG, or Adam as in Geiping et al.
    iterations : int
        Optimiser steps per restart (L-BFGS: outer steps of ``lbfgs_max_iter``
        evaluations each).
    lr : float
        Step size (L-BFGS: initial step length).
    restarts : int, default 1
        Independent random initialisations; the one with the smallest final
        matching cost (without TV) is returned.
    tv : float, default 0
        Weight of the total-variation prior.
    signed : bool, default False
        Replace the image gradient by its sign before the optimiser step (Adam only).
    boxed : bool, default False
        Project the images onto [0, 1] after every step.
    lr_decay : bool, default False
        Divide the step size by 10 after 3/8, 5/8 and 7/8 of the iterations.
    init : {"rand", "randn"}, default "rand"
        Initial images: uniform in [0, 1], or standard normal.
    labels : {"infer", "optimize"}, default "infer"
        What to do when ``reconstruct`` gets no labels: infer them from the
        last layer (iDLG rule / count heuristic) or optimise soft labels jointly (DLG).
    lbfgs_max_iter : int, default 20
        Function evaluations per L-BFGS step.
    log_every : int, default 10
        Log the PSNR every this many iterations (only with ground truth).
    loss_fn, seed, progress
        See :class:`fl_course.attacks.base.Attack`.
    """

    def __init__(
        self,
        *,
        distance: str,
        optimizer: str,
        iterations: int,
        lr: float,
        restarts: int = 1,
        tv: float = 0.0,
        signed: bool = False,
        boxed: bool = False,
        lr_decay: bool = False,
        init: str = "rand",
        labels: str = "infer",
        lbfgs_max_iter: int = 20,
        log_every: int = 10,
        loss_fn: LossFn = classification_loss,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        check_choice("optimizer", optimizer, ("lbfgs", "adam"))
        if signed and optimizer == "lbfgs":
            raise ValueError(
                "Signed gradients break L-BFGS's curvature estimate; use signed=True only with "
                "'adam'."
            )
        super().__init__(
            loss_fn=loss_fn,
            seed=seed,
            progress=progress,
            distance=check_choice("distance", distance, tuple(UPDATE_DISTANCES)),
            optimizer=optimizer,
            iterations=check_int("iterations", iterations, example=100),
            lr=check_number("lr", lr, positive=True, example="0.1 for Adam, lr=1 for L-BFGS"),
            restarts=check_int("restarts", restarts, example=1),
            # 0 switches the prior off
            tv=check_number("tv", tv, non_negative=True, example=1e-4),
            signed=signed,
            boxed=boxed,
            lr_decay=lr_decay,
            init=check_choice("init", init, ("randn", "rand")),
            labels=check_choice("labels", labels, ("infer", "optimize")),
            lbfgs_max_iter=check_int("lbfgs_max_iter", lbfgs_max_iter, example=20),
            log_every=check_int("log_every", log_every),
        )

    # ------------------------------------------------------------------ helpers
    def _initial(self, shape: tuple[int, ...], restart: int, device: torch.device) -> torch.Tensor:
        gen = _seeded_generator(self.seed * 10_007 + restart, torch.device("cpu"))
        x = (
            torch.randn(shape, generator=gen)
            if self.init == "randn"
            else torch.rand(shape, generator=gen)
        )
        return x.to(device)

    def _simulate(
        self,
        model: nn.Module,
        x: torch.Tensor,
        targets: torch.Tensor,
        update: ObservedUpdate,
        create_graph: bool,
    ) -> list[torch.Tensor]:
        return simulate_update(
            model,
            x,
            targets,
            kind=update.kind,
            lr=update.lr,
            local_epochs=update.local_epochs,
            batch_size=update.batch_size,
            momentum=update.momentum,
            weight_decay=update.weight_decay,
            loss_fn=self.loss_fn,
            create_graph=create_graph,
        )

    def _make_optimizer(self, variables: list[torch.Tensor]):
        if self.optimizer == "adam":
            opt = torch.optim.Adam(variables, lr=self.lr)
        else:
            opt = torch.optim.LBFGS(variables, lr=self.lr, max_iter=self.lbfgs_max_iter)
        sched = None
        if self.lr_decay:
            t = self.iterations
            milestones = sorted({max(1, int(t * f)) for f in (3 / 8, 5 / 8, 7 / 8)})
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
        return opt, sched

    # ------------------------------------------------------------------ main loop
    def _reconstruct(self, model, update, labels, data_shape, ground_truth) -> AttackResult:
        device = next(model.parameters()).device
        target = update.parameters_of(model)
        n = update.num_images
        joint = labels is None and self.labels == "optimize"
        if labels is None and not joint:
            labels = infer_labels(model, update).to(device)
        distance = UPDATE_DISTANCES[self.distance]
        num_classes = update.tensors[last_layer_names(model)[1]].shape[0] if joint else 0

        rows: list[tuple[int, int, float, float]] = []
        best = (math.inf, None, None)
        restart_scores = []
        for restart in range(self.restarts):
            x = self._initial((n, *data_shape), restart, device).requires_grad_(True)
            variables = [x]
            label_logits = None
            if joint:
                gen = _seeded_generator(self.seed * 10_007 + restart + 7, torch.device("cpu"))
                label_logits = (
                    torch.randn((n, num_classes), generator=gen).to(device).requires_grad_(True)
                )
                variables.append(label_logits)
            optimizer, scheduler = self._make_optimizer(variables)

            def closure():
                optimizer.zero_grad()
                targets = labels if label_logits is None else label_logits.softmax(dim=-1)
                cost = distance(
                    self._simulate(model, x, targets, update, create_graph=True), target
                )
                if self.tv > 0:
                    cost = cost + self.tv * total_variation(x)
                cost.backward()
                if self.signed:
                    x.grad.sign_()
                return cost.detach()

            last_good = x.detach().clone()
            bar = tqdm(
                range(self.iterations),
                desc=f"{type(self).__name__} restart {restart + 1}/{self.restarts}",
                disable=not self.progress,
                leave=False,
            )
            for it in bar:
                loss = float(optimizer.step(closure))
                if scheduler is not None:
                    scheduler.step()
                with torch.no_grad():
                    if self.boxed:
                        x.clamp_(0, 1)
                    if not math.isfinite(loss) or not torch.isfinite(x).all():
                        x.copy_(last_good)
                        break
                    last_good = x.detach().clone()
                quality = math.nan
                if ground_truth is not None and (
                    it % self.log_every == 0 or it == self.iterations - 1
                ):
                    quality = metrics.psnr(ground_truth, x.detach().clamp(0, 1))
                rows.append((restart, it, loss, quality))
                if it % self.log_every == 0:
                    bar.set_postfix(loss=f"{loss:.4g}")
            final_targets = (
                labels if label_logits is None else label_logits.detach().softmax(dim=-1)
            )
            score = float(
                distance(
                    self._simulate(model, x.detach(), final_targets, update, create_graph=False),
                    target,
                )
            )
            score = score if math.isfinite(score) else math.inf
            restart_scores.append(score)
            if score < best[0] or best[1] is None:
                used = labels if label_logits is None else label_logits.detach().argmax(dim=-1)
                best = (score, x.detach().clamp(0, 1).clone(), used)
        return AttackResult(
            images=best[1],
            labels=best[2],
            history=_history_frame(rows),
            seconds=0.0,
            info={"restart_scores": restart_scores, "final_score": best[0]},
        )
