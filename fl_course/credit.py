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

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from fl_course.federation.homolr import HomoLR
from fl_course.partition import FractionPartitioner

LABEL = "label"
CLASS_NAMES = {0: "Charged Off", 1: "Fully Paid"}
#: Thesis Table 3-4 (centralised logistic regression on Lending Club, after SMOTE).
THESIS_TABLE_3_4 = pd.DataFrame(
    {"precision": [0.28, 0.90], "recall": [0.66, 0.65], "f1": [0.40, 0.75]},
    index=pd.Index(["Charged Off", "Fully Paid"], name="class"),
)


def _check_table(df: pd.DataFrame, label: str = LABEL) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"Expected a pandas DataFrame of features and {label!r}, got {type(df).__name__}."
        )
    if label not in df:
        raise ValueError(
            f"The table has no {label!r} column; load it with fl_course.data.load_lending_club()."
        )


def features(df: pd.DataFrame, label: str = LABEL) -> list[str]:
    """The feature column names (everything but ``label``)."""
    _check_table(df, label)
    return [c for c in df.columns if c != label]


def xy(df: pd.DataFrame, label: str = LABEL) -> tuple[np.ndarray, np.ndarray]:
    """Features as a float array and labels as an int array."""
    return df[features(df, label)].to_numpy(dtype=float), df[label].to_numpy(dtype=int)


def stratified_split(
    df: pd.DataFrame, test_size: float = 0.3, seed: int = 42, label: str = LABEL
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split keeping the label balance (thesis: 70 % / 30 %).

    Examples
    --------
    >>> df = pd.DataFrame({"x": range(100), "label": [0] * 20 + [1] * 80})
    >>> train, test = stratified_split(df)
    >>> len(train), len(test), float(test["label"].mean())
    (70, 30, 0.8)
    """
    _check_table(df, label)
    if not 0.0 < test_size < 1.0:
        raise ValueError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}."
        )
    train, test = train_test_split(df, test_size=test_size, stratify=df[label], random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def standardize(
    train: pd.DataFrame, *others: pd.DataFrame, label: str = LABEL
) -> tuple[pd.DataFrame, ...]:
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


def party_moments(df: pd.DataFrame, label: str = LABEL) -> pd.DataFrame:
    """What one bank sends for federated scaling: row count, and per feature sum and sum of squares.

    Rows ``n``, ``sum``, ``sum_sq``; columns the features. No row leaves the bank.
    """
    cols = features(df, label)
    values = df[cols].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        [np.full(len(cols), float(len(values))), values.sum(axis=0), (values**2).sum(axis=0)],
        index=["n", "sum", "sum_sq"],
        columns=cols,
    )


def federated_standardize(
    parties: dict[str, pd.DataFrame], *others: pd.DataFrame, label: str = LABEL
) -> tuple[dict[str, pd.DataFrame], ...]:
    """Standardise every bank's features with statistics pooled from the banks' sums, not rows.

    Each bank sends :func:`party_moments`; the mean is ``Σ sum / Σ n`` and the variance
    ``Σ sum_sq / Σ n - mean²`` (the population variance, as scikit-learn's ``StandardScaler``),
    so the result equals :func:`standardize` on the pooled rows up to rounding. Constant
    features keep scale 1. ``others`` (e.g. the common test set) are scaled the same way.

    Returns
    -------
    tuple
        ``(scaled parties dict, *scaled others)``.
    """
    if not parties:
        raise ValueError("Pass at least one bank's rows, e.g. {'9999': df}.")
    moments = [party_moments(df, label) for df in parties.values()]
    cols = list(moments[0].columns)
    if any(list(m.columns) != cols for m in moments):
        raise ValueError(
            "All banks must have the same feature columns (horizontal federated learning)."
        )
    total = sum(moments)
    mean = total.loc["sum"] / total.loc["n"]
    std = np.sqrt(np.maximum(total.loc["sum_sq"] / total.loc["n"] - mean**2, 0.0))
    std = std.where(std > 0, 1.0)

    def scale(df: pd.DataFrame) -> pd.DataFrame:
        _check_table(df, label)
        out = df.copy()
        out[cols] = (df[cols] - mean) / std
        return out

    return ({name: scale(df) for name, df in parties.items()}, *(scale(df) for df in others))


def smote(
    df: pd.DataFrame, seed: int = 42, label: str = LABEL, k_neighbors: int = 5
) -> pd.DataFrame:
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


def split_parties(
    df: pd.DataFrame, partitioner, names: Sequence[str] | None = None, label: str = LABEL
) -> dict[str, pd.DataFrame]:
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
        raise ValueError(
            f"Got {len(names)} party names for {len(parts)} partitions; pass one name per party."
        )
    return {name: df.iloc[np.sort(idx)].reset_index(drop=True) for name, idx in zip(names, parts)}


def party_summary(parties: dict[str, pd.DataFrame], label: str = LABEL) -> pd.DataFrame:
    """Rows, share of all rows and Charged-Off rate per party."""
    total = sum(len(p) for p in parties.values())
    return pd.DataFrame(
        {
            "rows": [len(p) for p in parties.values()],
            "share": [len(p) / total for p in parties.values()],
            "charged_off_rate": [float((p[label] == 0).mean()) for p in parties.values()],
        },
        index=pd.Index(list(parties), name="party"),
    )


# --------------------------------------------------------------------------- metrics
def _check_scores(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if len(y) != len(s) or len(y) == 0:
        raise ValueError(
            f"y_true and scores must be non-empty and equally long; got {len(y)} and {len(s)}."
        )
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("y_true must hold only 0 (Charged Off) and 1 (Fully Paid).")
    if len(np.unique(y)) < 2:
        raise ValueError(
            "y_true needs both classes to compute AUC or KS; use a stratified test set."
        )
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values.")
    return y, s


def ks_statistic(y_true, scores) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the two classes' score distributions.

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
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=[0, 1], zero_division=0
    )
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index([CLASS_NAMES[0], CLASS_NAMES[1]], name="class"),
    )


def evaluate(y_true, scores, threshold: float = 0.5) -> dict[str, float]:
    """AUC, KS, accuracy and the Charged-Off recall/F1 of a set of scores."""
    y, s = _check_scores(y_true, scores)
    report = class_report(y, s, threshold)
    return {
        "auc": float(roc_auc_score(y, s)),
        "ks": ks_statistic(y, s),
        "accuracy": float(((s >= threshold).astype(int) == y).mean()),
        "charged_off_recall": float(report.loc["Charged Off", "recall"]),
        "charged_off_f1": float(report.loc["Charged Off", "f1"]),
    }


# --------------------------------------------------------------------------- distribution study
def bank_tables(
    train: pd.DataFrame, partitioner, parties: Sequence[str], seed: int = 42, label: str = LABEL
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Split (already scaled) training rows across banks; each bank oversamples its own share.

    Returns ``(shares, banks)``: the real rows per bank, and the rows after that bank's SMOTE
    (what it trains on, as in the thesis' Fig. 3-1 where every party runs SMOTE itself).
    """
    shares = split_parties(train, partitioner, parties, label)
    return shares, {p: smote(df, seed=seed, label=label) for p, df in shares.items()}


def distribution_study(
    train: pd.DataFrame,
    test: pd.DataFrame,
    splits: Mapping[str, Callable[[int], object]],
    regimes: Mapping[str, Mapping],
    *,
    homolr: Mapping,
    seeds: Sequence[int],
    parties: Sequence[str],
    label: str = LABEL,
    progress: bool = False,
) -> pd.DataFrame:
    """Test AUC of federated HomoLR for every (training regime, split, seed).

    The total training data is fixed; only how it is spread over the banks changes (thesis §4.2),
    and how much each bank trains between two aggregations (the regime).

    Parameters
    ----------
    train, test
        Scaled training rows (to share out) and the common test set.
    splits
        Name -> function of a seed returning a partitioner, e.g.
        ``{"33/33/33": lambda s: FractionPartitioner([1/3] * 3, seed=s)}``.
    regimes
        Name -> HomoLR keyword arguments that differ between regimes (``batch_size``,
        ``local_epochs``), e.g. ``{"full batch": {"batch_size": None}}``.
    homolr
        The HomoLR settings shared by all regimes (``epochs``, ``optimizer``, ...).
    seeds
        One run per seed: the seed draws the split, SMOTE's neighbours and the batch order.

    Returns
    -------
    pandas.DataFrame
        Columns ``regime``, ``split``, ``seed``, ``auc``, ``charged_off_rates`` (per bank, text).
    """
    X_test, y_test = xy(test, label)
    rows = []
    runs = [(split, seed) for split in splits for seed in seeds]
    for split, seed in tqdm(runs, desc="splits x seeds", disable=not progress):
        shares, banks = bank_tables(train, splits[split](seed), parties, seed, label)
        data = [xy(df, label) for df in banks.values()]
        rates = "/".join(f"{(df[label] == 0).mean():.0%}" for df in shares.values())
        for regime, kwargs in regimes.items():
            model = HomoLR(**{**homolr, **kwargs}, seed=seed).fit(data)
            rows.append(
                {
                    "regime": regime,
                    "split": split,
                    "seed": seed,
                    "auc": float(roc_auc_score(y_test, model.predict_proba(X_test))),
                    "charged_off_rates": rates,
                }
            )
    return pd.DataFrame(rows)


def split_gaps(
    study: pd.DataFrame, reference: str, others: Sequence[str], *, z: float = 2.0
) -> pd.DataFrame:
    """AUC of ``reference`` minus each other split, per regime, paired by seed, with a verdict.

    ``effect`` is *reference better* / *reference worse* when the mean paired gap is more than
    ``z`` standard errors from zero, else *no measurable effect*. The standard error is the
    seeds' standard deviation of the gap over sqrt(seeds).

    Returns
    -------
    pandas.DataFrame
        Index (``regime``, ``split``); columns ``gap``, ``se``, ``n``, ``effect``.
    """
    wide = study.pivot_table(index=["regime", "seed"], columns="split", values="auc", sort=False)
    missing = [s for s in [reference, *others] if s not in wide.columns]
    if missing:
        raise ValueError(f"The study has no split(s) {missing}; it holds {list(wide.columns)}.")
    rows = []
    for regime, block in wide.groupby(level="regime", sort=False):
        for other in others:
            diff = (block[reference] - block[other]).to_numpy()
            n = len(diff)
            se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
            mean = float(diff.mean())
            effect = _effect(mean, se, z, reference)
            rows.append(
                {"regime": regime, "split": other, "gap": mean, "se": se, "n": n, "effect": effect}
            )
    return pd.DataFrame(rows).set_index(["regime", "split"])


def _effect(mean: float, se: float, z: float, subject: str) -> str:
    """*subject better* / *subject worse* when ``mean`` is more than ``z`` SEs from zero."""
    if not np.isfinite(se) or abs(mean) <= z * se:
        return "no measurable effect"
    return f"{subject} better" if mean > 0 else f"{subject} worse"


def fit_homolr(
    banks: Mapping[str, pd.DataFrame], homolr: Mapping, *, seed: int, label: str = LABEL
) -> HomoLR:
    """Federated HomoLR, trained in one process on every bank's table (thesis §3.5).

    Parameters
    ----------
    banks
        Bank name -> the rows it trains on (after its own SMOTE); one bank trains alone.
    homolr
        :class:`~fl_course.federation.homolr.HomoLR` settings (``epochs``, ``optimizer``, ...).
    seed
        Seeds HomoLR's batch order.

    Returns
    -------
    HomoLR
        The fitted model; :func:`parameter_vector` gives its weights for a comparison with
        FATE's (:func:`fl_course.fate.jobs.model_weights`).
    """
    return HomoLR(**homolr, seed=seed).fit([xy(df, label) for df in banks.values()])


def parameter_vector(model) -> np.ndarray:
    """Weights, then intercept, of a fitted logistic regression (HomoLR or scikit-learn).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    >>> parameter_vector(model).shape
    (2,)
    """
    return np.append(model.coef_, model.intercept_)


def federation_gains(
    train: pd.DataFrame,
    test: pd.DataFrame,
    shares: Sequence[float],
    *,
    homolr: Mapping,
    seeds: Sequence[int],
    parties: Sequence[str],
    label: str = LABEL,
) -> pd.DataFrame:
    """Test AUC gained by federating over training alone, per seed (thesis §4.1).

    For each seed the training rows are shared out in ``shares`` (a new split and new SMOTE
    neighbours per seed); every bank trains alone and all banks train together with the same
    HomoLR settings, and all are scored on the common test set.

    Parameters
    ----------
    train, test
        Scaled training rows (to share out) and the common test set.
    shares
        Fraction of the training rows per bank, in the order of ``parties``.
    homolr
        The HomoLR settings, the same alone and federated.
    seeds
        One split per seed.
    parties
        The banks' names.

    Returns
    -------
    pandas.DataFrame
        Index ``seed``; columns ``over best bank`` (federated AUC minus the best bank's alone)
        and ``over smallest bank`` (minus the smallest bank's, the worst of them if several
        share the smallest size).
    """
    if len(shares) != len(parties):
        raise ValueError(
            f"Got {len(shares)} shares for {len(parties)} parties; give one share per party."
        )
    X_test, y_test = xy(test, label)
    gains = []
    for seed in seeds:
        _, banks = bank_tables(train, FractionPartitioner(shares, seed=seed), parties, seed, label)

        def auc(trained_banks):
            model = fit_homolr(trained_banks, homolr, seed=seed, label=label)
            return evaluate(y_test, model.predict_proba(X_test))["auc"]

        alone = {p: auc({p: df}) for p, df in banks.items()}
        together = auc(banks)
        smallest = [p for p, s in zip(parties, shares) if s == min(shares)]
        gains.append(
            {
                "seed": seed,
                "over best bank": together - max(alone.values()),
                "over smallest bank": together - min(alone[p] for p in smallest),
            }
        )
    return pd.DataFrame(gains).set_index("seed")


def mean_effects(gaps: pd.DataFrame, *, z: float = 2.0, subject: str) -> pd.DataFrame:
    """Mean and standard error of each column of per-seed gaps, with a verdict.

    ``effect`` is *subject better* / *subject worse* when the mean is more than ``z``
    standard errors from zero (as in :func:`split_gaps`), else *no measurable effect*.

    Examples
    --------
    >>> gaps = pd.DataFrame({"gain": [0.02, 0.03, 0.025], "noise": [0.01, -0.01, 0.0]})
    >>> mean_effects(gaps, subject="federation")["effect"].tolist()
    ['federation better', 'no measurable effect']
    """
    stats = pd.DataFrame({"mean": gaps.mean(), "se": gaps.std(ddof=1) / np.sqrt(len(gaps))})
    stats["effect"] = [_effect(m, e, z, subject) for m, e in zip(stats["mean"], stats["se"])]
    return stats


def bootstrap_class_report(
    y_true, scores, threshold: float = 0.5, *, n: int = 200, seed: int = 0
) -> pd.DataFrame:
    """Standard deviation of :func:`class_report`'s precision, recall and F1 over bootstraps.

    Resamples the test loans with replacement ``n`` times (seeded), the spread a result on a
    test set of this size carries by chance alone.
    """
    y, s = _check_scores(y_true, scores)
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 resamples, got {n!r}.")
    rng = np.random.default_rng(seed)
    pred = (s >= threshold).astype(int)
    draws = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        p, r, f, _ = precision_recall_fscore_support(
            y[idx], pred[idx], labels=[0, 1], zero_division=0
        )
        draws.append(np.stack([p, r, f], axis=1))
    std = np.stack(draws).std(axis=0, ddof=1)
    return pd.DataFrame(
        std,
        columns=["precision", "recall", "f1"],
        index=pd.Index([CLASS_NAMES[0], CLASS_NAMES[1]], name="class"),
    )
