import json

import numpy as np
import pytest

from fl_course.paths import results_dir
from fl_course.results import load_results, record


def test_record_and_load_round_trip():
    record("ch3", "six-party accuracy (%)", ours=np.float64(92.1), paper=93.0, setting="8k images")
    record("ch3", "six-party accuracy (%)", ours=92.4, paper=93.0)  # replaces the first
    record("ch1", "IID accuracy", ours=0.95)
    table = load_results()
    assert list(table["chapter"]) == ["ch1", "ch3"]
    assert table.set_index("key").loc["six-party accuracy (%)", "ours"] == 92.4
    assert json.loads((results_dir() / "ch3.json").read_text())


@pytest.mark.parametrize("kwargs, message", [
    (dict(chapter="", key="k", ours=1), "chapter and a key"),
    (dict(chapter="c", key="k", ours=float("nan")), "finite"),
    (dict(chapter="c", key="k", ours=[1, 2]), "numbers or short strings"),
])
def test_bad_records_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        record(**kwargs)
    assert load_results().empty


def test_empty_results_table_has_columns():
    assert list(load_results().columns)[:4] == ["chapter", "key", "paper", "ours"]
