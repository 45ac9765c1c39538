"""Credit-risk helpers for chapter 2: splits, scaling, SMOTE, party shares, and risk metrics.

Conventions: a loan table is a DataFrame of float features and an integer ``label``
(1 = Fully Paid, 0 = Charged Off; :mod:`fl_course.data.lending_club`). Scores are the predicted
probability of label 1, so a *low* score flags a risky loan.

Examples
--------
>>> import numpy as np
>>> ks_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
1.0
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

LABEL = "label"
CLASS_NAMES = {0: "Charged Off", 1: "Fully Paid"}
#: Thesis Table 3-4 (centralised logistic regression on Lending Club, after SMOTE).
THESIS_TABLE_3_4 = pd.DataFrame(
    {"precision": [0.28, 0.90], "recall": [0.66, 0.65], "f1": [0.40, 0.75]},
    index=pd.Index(["Charged Off", "Fully Paid"], name="class"),
)


def _check_table(df: pd.DataFrame, label: str = LABEL) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame of features and {label!r}, got {type(df).__name__}.")
    if label not in df:
        raise ValueError(f"The table has no {label!r} column; load it with fl_course.data.load_lending_club().")


def features(df: pd.DataFrame, label: str = LABEL) -> list[str]:
    """The feature column names (everything but ``label``)."""
    _check_table(df, label)
    return [c for c in df.columns if c != label]


def xy(df: pd.DataFrame, label: str = LABEL) -> tuple[np.ndarray, np.ndarray]:
    """Features as a float array and labels as an int array."""
    return df[features(df, label)].to_numpy(dtype=float), df[label].to_numpy(dtype=int)


def stratified_split(df: pd.DataFrame, test_size: float = 0.3, seed: int = 42,
                     label: str = LABEL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split keeping the label balance (thesis: 70 % / 30 %).

    Examples
    --------
    >>> df = pd.DataFrame({"x": range(100), "label": [0] * 20 + [1] * 80})
    >>> train, test = stratified_split(df)
    >>> len(train), len(test), test["label"].mean()
    (70, 30, 0.8)
    """
    _check_table(df, label)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}.")
    train, test = train_test_split(df, test_size=test_size, stratify=df[label], random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def standardize(train: pd.DataFrame, *others: pd.DataFrame,
                label: str = LABEL) -> tuple[pd.DataFrame, ...]:
    """Scale features to zero mean and unit variance with statistics of ``train`` only.

    Returns ``(train, *others)`` scaled; the label column is untouched.
    """
    cols = features(train, label)
    scaler = StandardScaler().fit(train[cols])
    out = []
    for df in (train, *others):
        _check_table(df, label)
        scaled = df.copy()
        scaled[cols] = scaler.transform(df[cols])
        out.append(scaled)
    return tuple(out)


def smote(df: pd.DataFrame, seed: int = 42, label: str = LABEL, k_neighbors: int = 5) -> pd.DataFrame:
    """Oversample the minority class with SMOTE (Chawla et al. 2002) until the classes are equal.

    Apply it to training rows only: synthetic test rows would be interpolations of other test
    rows, so the test set would no longer measure performance on real loans.
    ``k_neighbors`` shrinks when the minority class is small; with fewer than two minority rows
    the table is returned unchanged.
    """
    from imblearn.over_sampling import SMOTE

    _check_table(df, label)
    counts = df[label].value_counts()
    if len(counts) < 2 or counts.min() < 2:
        return df.reset_index(drop=True)
    k = min(k_neighbors, int(counts.min()) - 1)
    cols = features(df, label)
    X, y = SMOTE(k_neighbors=k, random_state=seed).fit_resample(df[cols], df[label])
    out = pd.DataFrame(X, columns=cols)
    out[label] = np.asarray(y, dtype="int64")
    return out


def split_parties(df: pd.DataFrame, partitioner, names: Sequence[str] | None = None,
                  label: str = LABEL) -> dict[str, pd.DataFrame]:
    """Split rows across parties with a :mod:`fl_course.partition` partitioner.

    Parameters
    ----------
    df
        The rows to share out (e.g. the training split).
    partitioner
        E.g. ``FractionPartitioner([0.25, 0.25, 0.5], seed=0)`` (thesis Table 3-5) or
        ``DirichletPartitioner(3, alpha=0.3, seed=0)`` for label skew.
    names
        Party names (e.g. party ids ``["9999", "9998", "10000"]``); default ``party0``...

    Returns
    -------
    dict
        Name -> that party's rows (disjoint, in partitioner order).
    """
    _check_table(df, label)
    parts = partitioner.split(df[label].to_numpy(dtype=np.int64))
    names = list(names) if names is not None else [f"party{i}" for i in range(len(parts))]
    if len(names) != len(parts):
        raise ValueError(f"Got {len(names)} party names for {len(parts)} partitions; pass one name per party.")
    return {name: df.iloc[np.sort(idx)].reset_index(drop=True) for name, idx in zip(names, parts)}


def party_summary(parties: dict[str, pd.DataFrame], label: str = LABEL) -> pd.DataFrame:
    """Rows, share of all rows and Charged-Off rate per party."""
    total = sum(len(p) for p in parties.values())
    return pd.DataFrame(
        {"rows": [len(p) for p in parties.values()],
         "share": [len(p) / total for p in parties.values()],
         "charged_off_rate": [float((p[label] == 0).mean()) for p in parties.values()]},
        index=pd.Index(list(parties), name="party"),
    )


# --------------------------------------------------------------------------- metrics
def _check_scores(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if len(y) != len(s) or len(y) == 0:
        raise ValueError(f"y_true and scores must be non-empty and equally long; got {len(y)} and {len(s)}.")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("y_true must hold only 0 (Charged Off) and 1 (Fully Paid).")
    if len(np.unique(y)) < 2:
        raise ValueError("y_true needs both classes to compute AUC or KS; use a stratified test set.")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values.")
    return y, s


def ks_statistic(y_true, scores) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score distributions of the two classes.

    KS = max over thresholds of |TPR - FPR|, the credit-scoring industry's separation measure.
    """
    y, s = _check_scores(y_true, scores)
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.max(np.abs(tpr - fpr)))


def class_report(y_true, scores, threshold: float = 0.5) -> pd.DataFrame:
    """Per-class precision, recall and F1 at ``threshold`` (score >= threshold -> Fully Paid).

    Rows ``Charged Off`` and ``Fully Paid``, as in the thesis' Table 3-4.
    """
    y, s = _check_scores(y_true, scores)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold!r}.")
    pred = (s >= threshold).astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support},
                        index=pd.Index([CLASS_NAMES[0], CLASS_NAMES[1]], name="class"))


def evaluate(y_true, scores, threshold: float = 0.5) -> dict[str, float]:
    """AUC, KS, accuracy and the Charged-Off recall/F1 of a set of scores."""
    y, s = _check_scores(y_true, scores)
    report = class_report(y, s, threshold)
    return {"auc": float(roc_auc_score(y, s)), "ks": ks_statistic(y, s),
            "accuracy": float(((s >= threshold).astype(int) == y).mean()),
            "charged_off_recall": float(report.loc["Charged Off", "recall"]),
            "charged_off_f1": float(report.loc["Charged Off", "f1"])}
