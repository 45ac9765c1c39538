import json

import numpy as np
import pytest

from fl_course.paths import results_dir
from fl_course.results import (
    accuracy_standard_error,
    binomial_tolerance,
    chapter_labs,
    chapter_titles,
    load_results,
    missing_labs,
    record,
    scoreboard_tables,
    verdict,
)


def test_record_and_load_round_trip():
    record(
        "ch3",
        "six-party accuracy (%)",
        ours=np.float64(92.1),
        paper=93.0,
        source="§5",
        tolerance=1.0,
        setting="8k images",
    )
    record("ch3", "six-party accuracy (%)", ours=92.4, paper=93.0, source="§5", tolerance=0.5)
    record("ch1", "IID accuracy", ours=0.95)
    table = load_results()
    assert list(table["chapter"]) == ["ch1", "ch3"]
    row = table.set_index("key").loc["six-party accuracy (%)"]
    assert row["ours"] == 92.4 and row["verdict"] == "not reproduced"  # 0.6 > 0.5
    assert table.set_index("key").loc["IID accuracy", "verdict"] == "not compared"
    assert json.loads((results_dir() / "ch3.json").read_text())


@pytest.mark.parametrize(
    "ours, paper, tolerance, kind, noise, expected",
    [
        (90.1, 90.43, 1.0, "value", None, "reproduced"),
        (80.0, 90.43, 1.0, "value", None, "not reproduced"),
        (-80.0, -90.0, 1.0, "value", None, "not reproduced"),  # values never get "same pattern"
        (4.0, 9.8, 2.0, "gap", 1.0, "same pattern"),
        (0.5, 9.8, 2.0, "gap", 1.0, "not reproduced"),  # right sign, inside the noise
        (-3.0, 9.8, 2.0, "gap", 1.0, "not reproduced"),
        (8.5, 9.8, 2.0, "gap", 1.0, "reproduced"),
    ],
)
def test_verdict_is_computed_from_the_numbers(ours, paper, tolerance, kind, noise, expected):
    assert verdict(ours, paper, tolerance=tolerance, kind=kind, noise=noise) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(chapter="", key="k", ours=1), "chapter and a key"),
        (dict(chapter="c", key="k", ours=float("nan")), "finite"),
        (dict(chapter="c", key="k", ours=[1, 2]), "numbers or short strings"),
        (
            dict(chapter="c", key="k", ours=1, paper="≈35 (Table 1)", source="T1", tolerance=1),
            "must be a number",
        ),
        (dict(chapter="c", key="k", ours=1, paper=3.0, tolerance=1), "needs its source"),
        (dict(chapter="c", key="k", ours=1, paper=3.0, source="T1"), "tolerance"),
        (
            dict(chapter="c", key="k", ours=1, paper=3.0, source="T1", tolerance=1, kind="order"),
            "kind",
        ),
    ],
)
def test_bad_records_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        record(**kwargs)
    assert load_results().empty


def test_empty_results_table_has_columns():
    assert list(load_results().columns)[:4] == ["chapter", "key", "paper", "source"]


def test_scoreboard_tables_show_paper_source_spread_and_verdict(tmp_path):
    record(
        "ch4",
        "IG PSNR",
        ours=17.2,
        std=3.1,
        n=8,
        trivial=12.1,
        paper=18.0,
        source="Table 1",
        tolerance=3.33,
    )
    record("ch10", "x", ours=1.0)
    record("ch2", "AUC", ours=0.76)
    tables = scoreboard_tables(load_results(), {"ch4": "Gradient inversion"})
    assert [t.caption.split(":")[0] for t in tables] == ["Chapter 2", "Chapter 4", "Chapter 10"]
    shown = tables[1].data.iloc[0]
    assert shown["paper"] == "18 (Table 1)" and shown["ours"] == "17.2 ± 3.1 (n=8)"
    assert shown["best trivial guess"] == "12.1" and shown["verdict"] == "reproduced"
    labs = [tmp_path / "ch2_x.ipynb", tmp_path / "ch3_y.ipynb"]
    assert missing_labs(labs, load_results()) == ["ch3_y.ipynb"]


def test_a_gap_is_never_judged_with_a_tolerance_as_large_as_itself():
    # paper gap 1.27, stated tolerance 2: a zero gap must not count as reproducing it
    assert verdict(0.0, 1.27, tolerance=2.0, kind="gap") == "not reproduced"
    assert verdict(1.0, 1.27, tolerance=2.0, kind="gap") == "reproduced"  # within 0.635
    entry = record(
        "ch6", "drop", ours=0.2, paper=1.27, source="Table II", tolerance=2.0, kind="gap", noise=0.5
    )  # inside the noise: its sign says nothing
    assert entry["tolerance"] == 0.635 and entry["verdict"] == "not reproduced"


def test_binomial_tolerance_adds_two_standard_errors_in_quadrature():
    assert abs(accuracy_standard_error(50.0, 100) - 5.0) < 1e-12
    assert abs(binomial_tolerance(50.0, 100, 50.0, 100) - 2 * np.hypot(5.0, 5.0)) < 1e-12
    # a larger paper test set only shrinks the tolerance toward our own two standard errors
    assert (
        10.0
        < binomial_tolerance(50.0, 100, 50.0, 10_000)
        < binomial_tolerance(50.0, 100, 50.0, 100)
    )


@pytest.mark.parametrize(("accuracy", "images"), [(101.0, 100), (-1.0, 100), (50.0, 0)])
def test_accuracy_standard_error_refuses_impossible_inputs(accuracy, images):
    with pytest.raises(ValueError, match="at least one image"):
        accuracy_standard_error(accuracy, images)


def test_chapter_labs_and_titles_are_read_from_the_files(tmp_path):
    for name in ["ch2_credit.ipynb", "ch10_later.ipynb", "scoreboard.ipynb", "chapter_x.ipynb"]:
        (tmp_path / name).write_text("{}")
    assert [p.name for p in chapter_labs(tmp_path)] == ["ch10_later.ipynb", "ch2_credit.ipynb"]
    (tmp_path / "ch2_credit.md").write_text("(label)=\n# Credit risk with FATE\n\n## Data\n")
    (tmp_path / "ch3_empty.md").write_text("no heading here\n")
    assert chapter_titles(tmp_path) == {"ch2": "Credit risk with FATE", "ch3": None}
