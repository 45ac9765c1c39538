"""Tests for fl_course.credit: splits, scaling, SMOTE, party shares and the risk metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from fl_course import credit
from fl_course.partition import DirichletPartitioner, FractionPartitioner


def _loans(n=400, bad=0.2, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) > bad).astype(int)
    return pd.DataFrame({"a": rng.normal(size=n) + y, "b": rng.normal(5, 3, size=n), "label": y})


def test_stratified_split_keeps_balance_and_is_seeded():
    df = _loans()
    train, test = credit.stratified_split(df, 0.3, seed=1)
    assert len(train) == 280 and len(test) == 120
    assert abs(train["label"].mean() - test["label"].mean()) < 0.01
    again, _ = credit.stratified_split(df, 0.3, seed=1)
    pd.testing.assert_frame_equal(train, again)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.3, 1.5])
def test_stratified_split_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="test_size"):
        credit.stratified_split(_loans(), bad)


def test_missing_label_column_is_explained():
    with pytest.raises(ValueError, match="label"):
        credit.stratified_split(pd.DataFrame({"a": [1, 2]}))
    with pytest.raises(TypeError, match="DataFrame"):
        credit.features([[1, 2]])


def test_standardize_uses_train_statistics_only():
    train, test = credit.stratified_split(_loans())
    s_train, s_test = credit.standardize(train, test)
    assert np.allclose(s_train[["a", "b"]].mean(), 0, atol=1e-9)
    assert np.allclose(s_train[["a", "b"]].std(ddof=0), 1)
    expected = (test["b"] - train["b"].mean()) / train["b"].std(ddof=0)
    assert np.allclose(s_test["b"], expected)
    assert s_test["label"].equals(test["label"])


def test_smote_balances_training_rows():
    df = _loans(bad=0.1)
    out = credit.smote(df, seed=3)
    counts = out["label"].value_counts()
    assert counts[0] == counts[1] == (df["label"] == 1).sum()
    # the original rows are kept; only synthetic minority rows are added
    assert len(out) == 2 * (df["label"] == 1).sum()
    pd.testing.assert_frame_equal(out, credit.smote(df, seed=3))


@pytest.mark.parametrize("minority", [0, 1])
def test_smote_leaves_tiny_minorities_alone(minority):
    df = pd.DataFrame({"a": np.arange(10.0), "label": [0] * minority + [1] * (10 - minority)})
    assert len(credit.smote(df)) == 10


def test_smote_shrinks_neighbours_for_small_minorities():
    df = pd.DataFrame({"a": np.arange(20.0), "label": [0] * 3 + [1] * 17})
    assert (credit.smote(df)["label"] == 0).sum() == 17


@pytest.mark.parametrize("partitioner", [FractionPartitioner([0.25, 0.25, 0.5], seed=0),
                                         DirichletPartitioner(3, alpha=0.5, seed=0)])
def test_split_parties_is_a_disjoint_cover(partitioner):
    df = _loans().assign(row=np.arange(400))
    parties = credit.split_parties(df, partitioner, ["9999", "9998", "10000"])
    rows = np.concatenate([p["row"].to_numpy() for p in parties.values()])
    assert sorted(rows) == list(range(400))
    summary = credit.party_summary(parties)
    assert summary["rows"].sum() == 400 and summary["share"].sum() == pytest.approx(1)


def test_split_parties_fractions_and_name_check():
    parties = credit.split_parties(_loans(), FractionPartitioner([0.25, 0.25, 0.5], seed=0))
    assert [len(p) for p in parties.values()] == [100, 100, 200]
    with pytest.raises(ValueError, match="one name per party"):
        credit.split_parties(_loans(), FractionPartitioner([0.5, 0.5], seed=0), ["only-one"])


def test_ks_statistic_known_values():
    y = np.array([0, 0, 1, 1])
    assert credit.ks_statistic(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert credit.ks_statistic(y, [0.1, 0.8, 0.2, 0.9]) == pytest.approx(0.5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1, allow_nan=False)), min_size=4, max_size=60))
def test_ks_equals_two_sample_ks(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    if len(set(y)) < 2:
        return
    expected = ks_2samp(s[y == 1], s[y == 0]).statistic
    assert credit.ks_statistic(y, s) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= credit.ks_statistic(y, s) <= 1.0


def test_class_report_and_evaluate():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    s = np.array([0.2, 0.4, 0.7, 0.3, 0.6, 0.8, 0.9, 0.95])
    report = credit.class_report(y, s)
    assert report.index.tolist() == ["Charged Off", "Fully Paid"]
    assert report.loc["Charged Off", "precision"] == pytest.approx(2 / 3)
    assert report.loc["Charged Off", "recall"] == pytest.approx(2 / 3)
    assert report.loc["Fully Paid", "recall"] == pytest.approx(4 / 5)
    assert report["support"].tolist() == [3, 5]
    metrics = credit.evaluate(y, s)
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, s))
    assert metrics["accuracy"] == pytest.approx(6 / 8)


@pytest.mark.parametrize("y, s, message", [
    ([1, 1, 1], [0.1, 0.2, 0.3], "both classes"),
    ([0, 1], [0.1], "equally long"),
    ([0, 2], [0.1, 0.2], "only 0"),
    ([0, 1], [0.1, np.nan], "NaN"),
])
def test_metric_input_errors(y, s, message):
    with pytest.raises(ValueError, match=message):
        credit.evaluate(y, s)


def test_class_report_threshold_check():
    with pytest.raises(ValueError, match="threshold"):
        credit.class_report([0, 1], [0.2, 0.8], threshold=1.0)


def test_thesis_table_is_the_published_one():
    assert credit.THESIS_TABLE_3_4.loc["Charged Off"].tolist() == [0.28, 0.66, 0.40]
    assert credit.THESIS_TABLE_3_4.loc["Fully Paid"].tolist() == [0.90, 0.65, 0.75]
