"""Where the course reads data, caches downloads and writes results.

A course checkout (the package installed in editable mode from the repository) keeps its
download cache in the repository's ``data/`` folder and its results in ``_build/results``;
an installed package (for example on Colab) uses ``~/.cache/fl_course``. Environment
variables override both:

``FL_COURSE_DATA``
    A read-only folder of data someone already has (checked first by every loader).
``FL_COURSE_CACHE``
    Where downloads go.
``FL_COURSE_RESULTS``
    Where notebooks record the numbers shown on the reproduction scoreboard.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_root", "data_dir", "cache_dir", "results_dir"]


def project_root() -> Path | None:
    """Return the course repository holding this package, or None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "_toc.yml").is_file():
        return root
    return None


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fl_course"


def data_dir() -> Path | None:
    """Return the folder named by ``FL_COURSE_DATA`` (made absolute), or None when unset."""
    value = os.environ.get("FL_COURSE_DATA")
    return Path(value).expanduser().resolve() if value else None


def cache_dir() -> Path:
    """Return the download cache: ``FL_COURSE_CACHE``, the checkout's ``data/``, or ``~/.cache``."""
    value = os.environ.get("FL_COURSE_CACHE")
    if value:
        return Path(value).expanduser().resolve()
    root = project_root()
    return root / "data" if root else _user_cache() / "data"


def results_dir() -> Path:
    """Return where notebooks record results: ``FL_COURSE_RESULTS`` or ``_build/results``."""
    value = os.environ.get("FL_COURSE_RESULTS")
    if value:
        return Path(value).expanduser().resolve()
    root = project_root()
    return root / "_build" / "results" if root else _user_cache() / "results"
