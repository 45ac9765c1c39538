"""Shared test set-up: tests never write into the repository's caches or results."""
import pytest


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch):
    monkeypatch.setenv("FL_COURSE_RESULTS", str(tmp_path / "results"))
