"""Two sizes for every lab: CI scale (minutes on a 2-core CPU) and the papers' scale.

``FL_COURSE_SCALE=paper`` turns every lab's sizes (images, iterations, restarts, rounds)
from what CI runs to what the papers ran, without editing a cell; unset, or ``ci``, keeps
CI's sizes. A lab reads its sizes once at the top::

    from fl_course.scale import lab_settings
    S = lab_settings("ch4")
    S.images, S.iterations

Each chapter's two settings live in :data:`SCALES` below, so a test can check that the
switch changes every lab and a reader sees both sizes side by side. Labs time their heavy
steps with one :class:`Stopwatch` and print the table at the end.

Examples
--------
>>> lab_settings("ch1", scale="ci").rounds_cnn < lab_settings("ch1", scale="paper").rounds_cnn
True
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from types import SimpleNamespace

import pandas as pd
import torch

__all__ = ["SCALES", "Stopwatch", "current_scale", "lab_settings", "device"]

SCALE_NAMES = ("ci", "paper")

# chapter -> {"ci": {...}, "paper": {...}}; both dicts have the same keys. Each chapter's
# owner edits only its own entry. "paper" values cite where they come from in a comment.
SCALES: dict[str, dict[str, dict]] = {
    "ch1": {
        # McMahan et al. (2017): 100 clients, hundreds of rounds for the MNIST CNN.
        "ci": {"clients": 10, "rounds_cnn": 10, "rounds_lr": 10},
        "paper": {"clients": 100, "rounds_cnn": 200, "rounds_lr": 100},
    },
    "ch2": {
        # Thesis (fate_lending_club_thesis.txt, HomoLR code 3-12, lines ~976-998): FATE 1.x HomoLR
        # with its default max_iter=100 rounds (early_stop='diff', tol=1e-4), full batch, one run.
        # Seeds, mini-batch size and local epochs are the course's distribution study (not in the
        # thesis); paper scale runs more seeds for smaller standard errors.
        "ci": {"epochs": 10, "seeds": 3, "batch_size": 1024, "local_epochs": 5},
        "paper": {"epochs": 100, "seeds": 10, "batch_size": 1024, "local_epochs": 5},
    },
    "ch3": {
        # PriDe (pride_paillier_mnist.txt, §2; its notebook in seanpavlak/pride-backend): all
        # 60,000 MNIST training and 10,000 test images, every one of the 7,850 parameters
        # encrypted with phe, one ciphertext each. CI: the offline 8,000/2,000 split, and phe on
        # a seeded sample of the parameters (the packed scheme carries the rest).
        "ci": {"train_images": 8_000, "test_images": 2_000, "phe_elements": 60},
        "paper": {"train_images": 60_000, "test_images": 10_000, "phe_elements": 7_850},
    },
    "ch4": {
        # CI: 3 victims per Table-1 cell, 1,000 signed-Adam steps, 1 L-BFGS start; Fig. 4 on 2
        # victims with 2 restarts; Fig. 5's "100 local steps" shortened to 10; Table 2 one client
        # per cell at 200 steps. "Trained" nets: 2 epochs (LeNet) / 1 epoch (pooled ConvNet).
        "ci": {
            "images": 3,
            "label_images": 50,
            "ig_iterations": 1_000,
            "lbfgs_iterations": 15,
            "lbfgs_restarts": 1,
            "ig_restarts": 1,
            "train_epochs_lenet": 2,
            "train_epochs_convnet": 1,
            "widths": (4, 8, 16),
            "width_images": 2,
            "width_iterations": 500,
            "width_restarts": 2,
            "fedavg_iterations": 200,
            "many_steps": 10,
            "table2_clients": 1,
        },
        # Geiping et al. (geiping2020_inverting_gradients.txt): Table 1 and Table 2 on the first 100
        # validation images; IG "up to 24000 iterations" (Sec. 4); L-BFGS with "16 restarts"
        # (Sec. 5); Fig. 4 widths 16/64/128 over the first 10 images; Fig. 5 "100 local steps".
        # The authors' code (JonasGeiping/invertinggradients): FedAvg attack max_iterations=4,000
        # (reconstruct_image.py), L-BFGS 500 steps ('zhu' config). Restarts for Fig. 4 and IG and
        # training epochs are not stated in the paper: 4 restarts and 10 epochs are our choice.
        "paper": {
            "images": 100,
            "label_images": 2_000,
            "ig_iterations": 24_000,
            "lbfgs_iterations": 500,
            "lbfgs_restarts": 16,
            "ig_restarts": 4,
            "train_epochs_lenet": 10,
            "train_epochs_convnet": 10,
            "widths": (16, 64, 128),
            "width_images": 10,
            "width_iterations": 24_000,
            "width_restarts": 4,
            "fedavg_iterations": 4_000,
            "many_steps": 100,
            "table2_clients": 100,
        },
    },
    "ch5": {
        # CI: ratio 0.5 and our "fast" data-step lr (fl_course.attacks.cafe.VARIANTS), small
        # federations for the sweeps, ablation and training runs.
        "ci": {
            "samples": 80,
            "batch": 40,
            "iterations": 400,
            "variant": "fast",
            "dlg_iterations": 5,
            "small_samples": 16,
            "small_batch": 8,
            "epochs": 100,
            "per_worker": (1, 2, 4),
            "sweep_ratio": 0.5,
            "ratios": (0.5, 0.1),
            "train_iterations": 60,
            "inner_steps": 10,
        },
        # Jin et al. (CAFE, ICLR submission) Sec. 4.2 and Tables 1-4: 4 workers x 100 images,
        # batch 10 x 4 (ratio 0.1), 800 epochs (= 8,000 iterations at ratio 0.1); Table 3a
        # 10-40 per worker at ratio 0.1; Table 4 ratios 0.1-0.01 at 800 epochs; Sec. 4.4 k = 10,
        # 1,000 iterations while training; DLG 300 iterations (Zhu et al.). Data-step lr 0.01
        # constant as in DeRafael/CAFE config.py ("authors").
        "paper": {
            "samples": 400,
            "batch": 40,
            "iterations": 8000,
            "variant": "authors",
            "dlg_iterations": 300,
            "small_samples": 400,
            "small_batch": 40,
            "epochs": 800,
            "per_worker": (10, 20, 30, 40),
            "sweep_ratio": 0.1,
            "ratios": (0.1, 0.05, 0.02, 0.01),
            "train_iterations": 1000,
            "inner_steps": 10,
        },
    },
    "ch6": {
        # CI: 3 victims, short attacks, a shared warm start on 2,000 disjoint "public" images, then
        # 2 defended rounds (2,000 images, 5 Dirichlet(0.5) clients, 2 local epochs), 2 FedAvg
        # seeds.
        "ci": {
            "victims": 3,
            "ig_iterations": 150,
            "idlg_iterations": 6,
            "train_images": 2_000,
            "public_images": 2_000,
            "test_images": 2_000,
            "clients": 5,
            "warm_rounds": 1,
            "rounds": 2,
            "local_epochs": 2,
            "seeds": (0, 1),
            "cafe_samples": 24,
            "cafe_batch": 12,
            "cafe_iterations": 250,
            "dp_train_images": 2_000,
            "dp_clients": 5,
            "dp_rounds": 3,
            "dp_fedavg_clients": 20,
            "dp_fedavg_rounds": 5,
            "dp_trials": 200,
            "dp_victims": 2,
            "dp_ig_iterations": 150,
            "dp_search_steps": 6,
        },
        # GradDefense (graddefense_infocom22.txt, settings above Table II and Sec. VI-A): 1,000
        # Adam iterations for GIA, 500 L-BFGS iterations for DGA, 2,000 rounds, 2 local epochs;
        # our offline split has 8,000 training images. Victims: 32 (the paper does not say).
        # CAFE: chapter 5's paper scale (4 x 100 digits, batch 40).
        "paper": {
            "victims": 32,
            "ig_iterations": 1_000,
            "idlg_iterations": 500,
            "train_images": 8_000,
            "public_images": 0,
            "test_images": 2_000,
            "clients": 10,
            "warm_rounds": 0,
            "rounds": 2_000,
            "local_epochs": 2,
            "seeds": (0, 1, 2),
            "cafe_samples": 400,
            "cafe_batch": 40,
            "cafe_iterations": 2_000,
            # Formal DP (issue 16) has no published MNIST setting: paper scale is the full lab.
            "dp_train_images": 8_000,
            "dp_clients": 10,
            "dp_rounds": 20,
            "dp_fedavg_clients": 100,
            "dp_fedavg_rounds": 50,
            "dp_trials": 1_000,
            "dp_victims": 16,
            "dp_ig_iterations": 1_000,
            "dp_search_steps": 10,
        },
    },
}


def current_scale() -> str:
    """The scale named by ``FL_COURSE_SCALE`` (``"ci"`` when unset)."""
    value = os.environ.get("FL_COURSE_SCALE", "ci").strip().lower() or "ci"
    if value not in SCALE_NAMES:
        raise ValueError(
            f"FL_COURSE_SCALE must be one of {SCALE_NAMES}, got {value!r}; unset it for CI's "
            "sizes or set FL_COURSE_SCALE=paper for the papers' sizes."
        )
    return value


def lab_settings(chapter: str, *, scale: str | None = None) -> SimpleNamespace:
    """A lab's sizes at the current (or the given) scale, as attributes.

    Parameters
    ----------
    chapter : str
        ``"ch1"`` … ``"ch6"``.
    scale : {"ci", "paper"}, optional
        Overrides ``FL_COURSE_SCALE``.
    """
    if chapter not in SCALES:
        raise ValueError(f"No sizes for {chapter!r}; the labs with sizes are {sorted(SCALES)}.")
    scale = current_scale() if scale is None else scale
    if scale not in SCALE_NAMES:
        raise ValueError(f"scale must be one of {SCALE_NAMES}, got {scale!r}.")
    return SimpleNamespace(scale=scale, **SCALES[chapter][scale])


def device() -> torch.device:
    """The GPU at paper scale when one is present, else the CPU (CI scale always uses the CPU)."""
    if current_scale() == "paper" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


class Stopwatch:
    """Wall-clock seconds of a lab's named steps, taken with ``with stopwatch("step"):``.

    A step timed twice adds up. :meth:`elapsed` gives the seconds since the stopwatch was
    made, so a lab that makes one at its top can print its own running time.

    Examples
    --------
    >>> stopwatch = Stopwatch()
    >>> with stopwatch("sleep"):
    ...     time.sleep(0.01)
    >>> stopwatch.seconds["sleep"] >= 0.01
    True
    >>> stopwatch.elapsed() >= stopwatch.seconds["sleep"]
    True
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def __call__(self, step: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - start

    def elapsed(self) -> float:
        """Seconds since this stopwatch was made."""
        return time.perf_counter() - self._start

    def table(self) -> pd.DataFrame:
        """The timings as a one-column table, in the order they were taken."""
        return pd.Series(self.seconds, name="seconds").round(2).to_frame()
