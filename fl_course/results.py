"""The reproduction scoreboard: numbers the notebooks measure, beside the papers' numbers.

Every lab calls :func:`record` for each headline number it reproduces; the scoreboard
page of the book reads them back with :func:`load_results` and shows them with
:func:`scoreboard_tables`. One JSON file per chapter under
:func:`fl_course.paths.results_dir`, rewritten atomically.

A verdict is never typed: :func:`verdict` computes it from our value, the published
value and a stated tolerance.

* ``kind="value"``: an absolute number (an accuracy, a PSNR). *reproduced* when
  ``|ours - paper| <= tolerance``, else *not reproduced*.
* ``kind="gap"``: a signed difference between two conditions of the same run (method A
  minus method B), whose sign is the paper's ordering. *reproduced* within the tolerance;
  *same pattern* when the sign agrees and ours is further from zero than the tolerance
  allows for noise (``|ours| > noise``); else *not reproduced*. A gap's tolerance is at most
  half the paper's gap (:func:`gap_tolerance`): a tolerance as large as the effect could not
  tell the effect from its absence.

Examples
--------
>>> verdict(90.1, 90.43, tolerance=1.0)
'reproduced'
>>> verdict(4.0, 9.8, tolerance=2.0, kind="gap", noise=1.0)
'same pattern'
>>> verdict(-3.0, 9.8, tolerance=2.0, kind="gap", noise=1.0)
'not reproduced'
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fl_course.paths import results_dir

__all__ = [
    "record",
    "load_results",
    "verdict",
    "gap_tolerance",
    "accuracy_standard_error",
    "binomial_tolerance",
    "scoreboard_tables",
    "missing_labs",
    "chapter_labs",
    "chapter_titles",
    "VERDICTS",
]

COLUMNS = [
    "chapter",
    "key",
    "paper",
    "source",
    "ours",
    "std",
    "n",
    "trivial",
    "tolerance",
    "kind",
    "setting",
    "verdict",
    "recorded",
]
VERDICTS = ("reproduced", "same pattern", "not reproduced", "not compared")
KINDS = ("value", "gap")


def _plain(value, name: str):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}.")
    if value is not None and not isinstance(value, (int, float, str)):
        raise ValueError(f"Record numbers or short strings for {name}, not {type(value).__name__}.")
    return value


def _number(value, name: str):
    value = _plain(value, name)
    if value is not None and (isinstance(value, (str, bool))):
        raise ValueError(
            f"{name} must be a number, got {value!r}; put the table or figure in source= and "
            "any description in setting=."
        )
    return value


def gap_tolerance(tolerance: float, paper: float) -> float:
    """The tolerance a gap is judged with: the stated one, at most half the paper's gap.

    Examples
    --------
    >>> gap_tolerance(2.0, 1.27), gap_tolerance(1.0, 9.8)
    (0.635, 1.0)
    """
    return min(float(tolerance), abs(float(paper)) / 2)


def accuracy_standard_error(accuracy_percent: float, images: int) -> float:
    """Binomial standard error, in points, of an accuracy measured on ``images`` test images.

    Examples
    --------
    >>> round(accuracy_standard_error(93.0, 200), 2)  # PriDe's six-party score, 186/200
    1.8
    """
    if images < 1 or not 0 <= accuracy_percent <= 100:
        raise ValueError(
            f"Need an accuracy in [0, 100] and at least one image, got {accuracy_percent}, "
            f"{images}."
        )
    p = accuracy_percent / 100
    return 100 * float(np.sqrt(p * (1 - p) / images))


def binomial_tolerance(
    ours_percent: float, ours_images: int, paper_percent: float, paper_images: int
) -> float:
    """Two standard errors of the difference between two test-set accuracies, in points.

    The tolerance chapter 3 judges an accuracy (or a gap of two accuracies) with: two
    :func:`accuracy_standard_error` of independent test sets, added in quadrature. A
    difference smaller than this is what a test set of these sizes produces by chance.

    Parameters
    ----------
    ours_percent, paper_percent : float
        The two accuracies (%).
    ours_images, paper_images : int
        The test-set sizes they were measured on.

    Examples
    --------
    >>> round(binomial_tolerance(93.0, 200, 91.75, 10_000), 2)  # PriDe: 200 vs 10,000 images
    3.65
    """
    return 2 * float(
        np.hypot(
            accuracy_standard_error(ours_percent, ours_images),
            accuracy_standard_error(paper_percent, paper_images),
        )
    )


def verdict(ours, paper, *, tolerance, kind: str = "value", noise: float | None = None) -> str:
    """Compare our value with the published one.

    Parameters
    ----------
    ours, paper : float
        Our measured value and the paper's (same unit). ``paper=None`` gives
        ``"not compared"``.
    tolerance : float
        Largest ``|ours - paper|`` still called *reproduced*; state why in the lab.
    kind : {"value", "gap"}
        ``"gap"`` for a signed difference between two conditions (its sign is the ordering).
    noise : float, optional
        For gaps: how far from zero ours must be for its sign to count (for example two
        standard errors of the difference). Defaults to 0.

    Returns
    -------
    str
        One of :data:`VERDICTS`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    if paper is None:
        return "not compared"
    if ours is None or isinstance(ours, str):
        raise ValueError(f"A verdict needs our value as a number, got {ours!r}.")
    if tolerance is None or not tolerance >= 0:
        raise ValueError(
            f"tolerance must be a non-negative number, got {tolerance!r}; state how close counts "
            "as reproduced (for example the paper's standard deviation)."
        )
    if kind == "gap":
        tolerance = gap_tolerance(tolerance, paper)
    if abs(ours - paper) <= tolerance:
        return "reproduced"
    noise = 0.0 if noise is None else noise
    if kind == "gap" and paper != 0 and abs(ours) > noise and (ours > 0) == (paper > 0):
        return "same pattern"
    return "not reproduced"


def record(
    chapter: str,
    key: str,
    *,
    ours,
    paper=None,
    source: str = "",
    tolerance=None,
    kind: str = "value",
    noise: float | None = None,
    std=None,
    n=None,
    trivial=None,
    setting: str = "",
) -> dict:
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
    paper : float, optional
        The published value, only ever a number from the paper or its authors' code.
        Needs ``source`` and ``tolerance``.
    source : str
        Where the published value stands, e.g. ``"Table II"``.
    tolerance, kind, noise
        How the verdict is computed; see :func:`verdict`.
    std, n : optional
        Spread (standard deviation) of ours and the number of images or runs behind it.
    trivial : float, optional
        For reconstructions: the best trivial guess (all-black, mean image, uniform noise)
        scored on the same victims.
    setting : str
        What we ran (data, scale, model).
    """
    if not chapter or not key:
        raise ValueError("record needs a chapter and a key, e.g. record('ch3', 'accuracy', ...).")
    paper = _number(paper, "paper")
    if paper is not None and not source:
        raise ValueError(f"{key!r}: a published value needs its source, e.g. source='Table II'.")
    entry = {
        "chapter": chapter,
        "key": key,
        "paper": paper,
        "source": source,
        "ours": _plain(ours, "ours"),
        "std": _number(std, "std"),
        "n": _number(n, "n"),
        "trivial": _number(trivial, "trivial"),
        "tolerance": _number(
            tolerance
            if kind != "gap" or paper is None or tolerance is None
            else gap_tolerance(tolerance, paper),
            "tolerance",
        ),
        "kind": kind,
        "setting": setting,
        "verdict": verdict(ours, paper, tolerance=tolerance, kind=kind, noise=noise),
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
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
    rows = (
        [
            entry
            for path in sorted(folder.glob("*.json"))
            for entry in json.loads(path.read_text()).values()
        ]
        if folder.is_dir()
        else []
    )
    return pd.DataFrame(rows, columns=COLUMNS)


def _chapter_order(chapter: str):
    return int(re.sub(r"\D", "", chapter) or 0), chapter


def _show(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _ours(row) -> str:
    text = _show(row["ours"])
    if row["std"] is not None and not pd.isna(row["std"]):
        text += f" ± {row['std']:.2g}"
    if row["n"] is not None and not pd.isna(row["n"]):
        text += f" (n={int(row['n'])})"
    return text


def _paper(row) -> str:
    text = _show(row["paper"])
    return f"{text} ({row['source']})" if row["source"] and text != "–" else text


def _tolerance(row) -> str:
    if row["paper"] is None or pd.isna(row["paper"]):
        return ""
    return f"± {_show(row['tolerance'])}" + (" (gap)" if row["kind"] == "gap" else "")


def scoreboard_tables(results: pd.DataFrame, titles: dict[str, str] | None = None) -> list:
    """One styled table per chapter: paper (source), ours ± std (n), trivial guess, verdict.

    Parameters
    ----------
    results : pandas.DataFrame
        As returned by :func:`load_results`.
    titles : dict, optional
        Chapter name → title for each table's caption.
    """
    titles = titles or {}
    tables = []
    for chapter in sorted(results["chapter"].unique(), key=_chapter_order):
        rows = results[results["chapter"] == chapter]
        table = pd.DataFrame(
            {
                "what was measured": rows["key"],
                "paper": rows.apply(_paper, axis=1),
                "ours": rows.apply(_ours, axis=1),
                "best trivial guess": rows["trivial"].map(_show),
                "tolerance": rows.apply(_tolerance, axis=1),
                "verdict": rows["verdict"],
                "setting": rows["setting"],
            }
        )
        caption = f"Chapter {chapter.removeprefix('ch')}: {titles.get(chapter, chapter)}"
        tables.append(
            table.style.hide(axis="index")
            .set_caption(caption)
            .set_table_styles(
                [
                    {
                        "selector": "caption",
                        "props": (
                            "caption-side: top; text-align: left; font-weight: bold; "
                            "padding: 0.5em 0"
                        ),
                    },
                    {
                        "selector": "th, td",
                        "props": "text-align: left; vertical-align: top; padding: 0.25em 0.6em",
                    },
                    {
                        "selector": "td:nth-child(2), td:nth-child(3), td:nth-child(4)",
                        "props": "white-space: nowrap; font-variant-numeric: tabular-nums",
                    },
                ]
            )
        )
    return tables


def chapter_labs(notebook_dir: Path) -> list[Path]:
    """The chapter labs (``chN_*.ipynb``) in a folder, in file-name order."""
    return sorted(
        path for path in Path(notebook_dir).glob("ch*.ipynb") if re.match(r"ch\d+_", path.name)
    )


def chapter_titles(book_dir: Path) -> dict[str, str | None]:
    """Chapter (``"ch3"``) -> the first ``# `` heading of its page ``chN_*.md`` in ``book_dir``.

    The scoreboard titles each chapter's table with it; a page without a heading maps to None.
    """
    titles = {}
    for page in sorted(Path(book_dir).glob("ch*_*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        heading = next((line[2:].strip() for line in lines if line.startswith("# ")), None)
        titles[page.name.split("_")[0]] = heading
    return titles


def missing_labs(labs: list[Path], results: pd.DataFrame) -> list[str]:
    """Names of chapter labs (``chN_*.ipynb``) that recorded nothing."""
    recorded = set(results["chapter"])
    return [lab.name for lab in labs if lab.name.split("_")[0] not in recorded]
