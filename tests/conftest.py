"""Shared test set-up: tests never write into the repository's caches or results.

Tests run torch on one thread: the models here are tiny, and two intra-op threads that
compete with any other busy process for the machine's cores slow a test down twenty-fold.
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch):
    monkeypatch.setenv("FL_COURSE_RESULTS", str(tmp_path / "results"))
