"""Shared test set-up: tests never write into the repository's caches or results.

Tests run torch on one thread: the models here are tiny, and two intra-op threads that
compete with any other busy process for the machine's cores slow a test down twenty-fold.

Tests that read real MNIST carry the ``needs_mnist`` marker (registered in pyproject.toml).
They are skipped, with the loader's own message, when :func:`fl_course.data.load_mnist` finds
no MNIST files where it looks (``FL_COURSE_DATA``'s ``mnist/`` folder, then the download
cache); they never download.
"""

import warnings
from functools import lru_cache

import pytest
import torch

from fl_course.data import OfflineSplitWarning, load_mnist

torch.set_num_threads(1)


@lru_cache(maxsize=1)
def _mnist_missing() -> str:
    """Why MNIST cannot be loaded without a download, or ``""`` when it can."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OfflineSplitWarning)
            load_mnist("test", download=False)
    except FileNotFoundError as error:
        return str(error)
    return ""


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_mnist") is not None and _mnist_missing():
        pytest.skip(f"needs MNIST: {_mnist_missing()}")


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch):
    monkeypatch.setenv("FL_COURSE_RESULTS", str(tmp_path / "results"))
