"""The reproduction scoreboard: numbers the notebooks measure, beside the papers' numbers.

Every lab calls :func:`record` for each headline number it reproduces; the scoreboard
page of the book reads them back with :func:`load_results`. One JSON file per chapter
under :func:`fl_course.paths.results_dir`, rewritten atomically.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import datetime, timezone

import pandas as pd

from fl_course.paths import results_dir

__all__ = ["record", "load_results"]

COLUMNS = ["chapter", "key", "paper", "ours", "setting", "verdict", "recorded"]


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"A recorded number must be finite, not {value}.")
    if value is not None and not isinstance(value, (int, float, str)):
        raise ValueError(f"Record numbers or short strings, not {type(value).__name__}.")
    return value


def record(chapter: str, key: str, *, ours, paper=None, setting: str = "",
           verdict: str = "") -> dict:
    """Record one reproduced number for the scoreboard and return the entry.

    Parameters
    ----------
    chapter : str
        Short chapter name, e.g. ``"ch3"``; one JSON file per chapter.
    key : str
        What was measured, e.g. ``"six-party accuracy (%)"``. Recording a key again
        replaces its entry.
    ours : float or str
        The value the notebook computed (never typed by hand).
    paper : float or str, optional
        The paper's value, with its table or figure in ``setting`` or ``key``.
    setting : str
        What we ran (data, scale, model).
    verdict : str
        One line comparing the two.
    """
    if not chapter or not key:
        raise ValueError("record needs a chapter and a key, e.g. record('ch3', 'accuracy', ...).")
    entry = {"chapter": chapter, "key": key, "paper": _plain(paper), "ours": _plain(ours),
             "setting": setting, "verdict": verdict,
             "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.json"
    entries = json.loads(path.read_text()) if path.exists() else {}
    entries[key] = entry
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{chapter}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(entries, handle, indent=1)
    os.replace(tmp, path)
    return entry


def load_results() -> pd.DataFrame:
    """All recorded numbers as one table, ordered by chapter then recording order."""
    folder = results_dir()
    rows = [entry for path in sorted(folder.glob("*.json"))
            for entry in json.loads(path.read_text()).values()] if folder.is_dir() else []
    return pd.DataFrame(rows, columns=COLUMNS)
