"""Two sizes for every lab: CI scale (minutes on a 2-core CPU) and the papers' scale.

``FL_COURSE_SCALE=paper`` turns every lab's sizes (images, iterations, restarts, rounds)
from what CI runs to what the papers ran, without editing a cell; unset, or ``ci``, keeps
CI's sizes. A lab reads its sizes once at the top::

    from fl_course.scale import lab_settings
    S = lab_settings("ch4")
    S.images, S.iterations

Each chapter's two settings live in :data:`SCALES` below, so a test can check that the
switch changes every lab and a reader sees both sizes side by side.

Examples
--------
>>> lab_settings("ch1", scale="ci").rounds_cnn < lab_settings("ch1", scale="paper").rounds_cnn
True
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import torch

__all__ = ["SCALES", "current_scale", "lab_settings", "device"]

SCALE_NAMES = ("ci", "paper")

# chapter -> {"ci": {...}, "paper": {...}}; both dicts have the same keys. Each chapter's
# owner edits only its own entry. "paper" values cite where they come from in a comment.
SCALES: dict[str, dict[str, dict]] = {
    "ch1": {
        # McMahan et al. (2017): 100 clients, hundreds of rounds for the MNIST CNN.
        "ci": {"clients": 10, "rounds_cnn": 10, "rounds_lr": 10},
        "paper": {"clients": 100, "rounds_cnn": 200, "rounds_lr": 100},
    },
}


def current_scale() -> str:
    """The scale named by ``FL_COURSE_SCALE`` (``"ci"`` when unset)."""
    value = os.environ.get("FL_COURSE_SCALE", "ci").strip().lower() or "ci"
    if value not in SCALE_NAMES:
        raise ValueError(
            f"FL_COURSE_SCALE must be one of {SCALE_NAMES}, got {value!r}; unset it for CI's "
            "sizes or set FL_COURSE_SCALE=paper for the papers' sizes.")
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
