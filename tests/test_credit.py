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
from fl_course.partition import ClassSharePartitioner, DirichletPartitioner, FractionPartitioner


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


@pytest.mark.parametrize(
    "partitioner",
    [FractionPartitioner([0.25, 0.25, 0.5], seed=0), DirichletPartitioner(3, alpha=0.5, seed=0)],
)
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
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1, allow_nan=False)), min_size=4, max_size=60
    )
)
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


@pytest.mark.parametrize(
    "y, s, message",
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "both classes"),
        ([0, 1], [0.1], "equally long"),
        ([0, 2], [0.1, 0.2], "only 0"),
        ([0, 1], [0.1, np.nan], "NaN"),
    ],
)
def test_metric_input_errors(y, s, message):
    with pytest.raises(ValueError, match=message):
        credit.evaluate(y, s)


def test_class_report_threshold_check():
    with pytest.raises(ValueError, match="threshold"):
        credit.class_report([0, 1], [0.2, 0.8], threshold=1.0)


def test_thesis_table_is_the_published_one():
    assert credit.THESIS_TABLE_3_4.loc["Charged Off"].tolist() == [0.28, 0.66, 0.40]
    assert credit.THESIS_TABLE_3_4.loc["Fully Paid"].tolist() == [0.90, 0.65, 0.75]


# --------------------------------------------------------------------------- federated scaling
def test_federated_standardize_equals_pooled_scaling_without_pooling_rows():
    train, test = credit.stratified_split(_loans(600), seed=2)
    banks = credit.split_parties(
        train, FractionPartitioner([0.1, 0.3, 0.6], seed=0), ["a", "b", "c"]
    )
    scaled, s_test, s_train = credit.federated_standardize(banks, test, train)
    p_train, p_test = credit.standardize(train, test)
    assert np.allclose(s_train[["a", "b"]], p_train[["a", "b"]], atol=1e-10)
    assert np.allclose(s_test[["a", "b"]], p_test[["a", "b"]], atol=1e-10)
    assert np.allclose(pd.concat(scaled.values())[["a", "b"]].mean(), 0, atol=1e-10)
    moments = credit.party_moments(banks["a"])
    assert list(moments.index) == ["n", "sum", "sum_sq"] and moments.loc["n", "a"] == len(
        banks["a"]
    )


def test_federated_standardize_errors_and_constant_features():
    with pytest.raises(ValueError, match="at least one bank"):
        credit.federated_standardize({})
    with pytest.raises(ValueError, match="same feature"):
        credit.federated_standardize({"a": _loans(10), "b": _loans(10).rename(columns={"a": "z"})})
    const = pd.DataFrame({"c": [2.0, 2.0, 2.0], "label": [0, 1, 1]})
    (scaled,) = credit.federated_standardize({"x": const})
    assert scaled["x"]["c"].tolist() == [0.0, 0.0, 0.0]


# ----------------------------------------------------------------------- label skew and the study
def test_class_share_partitioner_keeps_sizes_and_skews_labels():
    labels = np.array([0] * 200 + [1] * 800)
    part = ClassSharePartitioner.with_sizes(
        labels, sizes=[0.25, 0.5, 0.25], minority=0, minority_shares=[0.9, 0.05, 0.05], seed=1
    )
    parts = part.split(labels)
    assert [len(p) for p in parts] == [250, 500, 250]
    assert [int((labels[p] == 0).sum()) for p in parts] == [180, 10, 10]
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
    with pytest.raises(ValueError, match="too small"):
        ClassSharePartitioner.with_sizes(
            labels, sizes=[0.1, 0.45, 0.45], minority=0, minority_shares=[0.9, 0.05, 0.05]
        )
    with pytest.raises(ValueError, match="sum to 1"):
        ClassSharePartitioner({0: [0.5, 0.6], 1: [0.5, 0.5]})


def test_distribution_study_and_gaps():
    df = _loans(600, bad=0.3)
    train, test = credit.stratified_split(df, seed=0)
    y = train["label"].to_numpy()
    splits = {
        "even": lambda s: FractionPartitioner([0.5, 0.5], seed=s),
        "skew": lambda s: ClassSharePartitioner.with_sizes(
            y, sizes=[0.5, 0.5], minority=0, minority_shares=[1.0, 0.0], seed=s
        ),
    }
    study = credit.distribution_study(
        train,
        test,
        splits,
        {"full": {}, "E=3": {"batch_size": 64, "local_epochs": 3}},
        homolr=dict(epochs=5, learning_rate=0.05, alpha=0.0),
        seeds=[0, 1, 2],
        parties=["p", "q"],
    )
    assert len(study) == 2 * 2 * 3 and set(study["regime"]) == {"full", "E=3"}
    assert study.set_index("split").loc["skew", "charged_off_rates"].iloc[0].endswith("/0%")
    gaps = credit.split_gaps(study, "even", ["skew"])
    assert list(gaps.index.get_level_values("regime")) == ["full", "E=3"]
    assert set(gaps.columns) == {"gap", "se", "n", "effect"} and (gaps["n"] == 3).all()
    with pytest.raises(ValueError, match="no split"):
        credit.split_gaps(study, "even", ["other"])


def test_split_gap_verdicts_follow_the_numbers():
    rows = [
        {"regime": "r", "split": s, "seed": k, "auc": a}
        for k, (u, v) in enumerate([(0.70, 0.60), (0.71, 0.62), (0.69, 0.61)])
        for s, a in (("u", u), ("v", v))
    ]
    gaps = credit.split_gaps(pd.DataFrame(rows), "u", ["v"])
    assert gaps.loc[("r", "v"), "effect"] == "u better" and gaps.loc[
        ("r", "v"), "gap"
    ] == pytest.approx(0.09)
    noisy = [
        {**r, "auc": r["auc"] + (0.2 if r["split"] == "v" and r["seed"] == 0 else 0)} for r in rows
    ]
    assert (
        credit.split_gaps(pd.DataFrame(noisy), "u", ["v"]).loc[("r", "v"), "effect"]
        == "no measurable effect"
    )


def test_bootstrap_class_report_spread():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) > 0.2).astype(int)
    s = 0.3 * y + 0.7 * rng.random(2000)
    spread = credit.bootstrap_class_report(y, s, n=50, seed=1)
    assert (
        spread.shape == (2, 3)
        and (spread.to_numpy() > 0).all()
        and (spread.to_numpy() < 0.05).all()
    )
    with pytest.raises(ValueError, match="resamples"):
        credit.bootstrap_class_report(y, s, n=1)


def test_fit_homolr_trains_the_banks_it_is_given():
    df = _loans(400, bad=0.3)
    banks = {"p": df.iloc[:200], "q": df.iloc[200:]}
    settings = dict(epochs=3, learning_rate=0.05, alpha=0.0)
    model = credit.fit_homolr(banks, settings, seed=0)
    again = credit.fit_homolr(banks, settings, seed=0)
    alone = credit.fit_homolr({"p": banks["p"]}, settings, seed=0)
    vector = credit.parameter_vector(model)
    assert vector.shape == (df.shape[1],)  # one weight per feature, then the intercept
    assert np.array_equal(vector, credit.parameter_vector(again))
    assert not np.array_equal(vector, credit.parameter_vector(alone))


def test_federation_gains_per_seed_and_their_effect():
    df = _loans(600, bad=0.3)
    train, test = credit.stratified_split(df, seed=0)
    gains = credit.federation_gains(
        train,
        test,
        [0.2, 0.6, 0.2],
        homolr=dict(epochs=3, learning_rate=0.05, alpha=0.0),
        seeds=[0, 1],
        parties=["a", "b", "c"],
    )
    assert list(gains.index) == [0, 1]
    assert list(gains.columns) == ["over best bank", "over smallest bank"]
    # the smallest bank is never better than the best one, so the gain over it is larger
    assert (gains["over smallest bank"] >= gains["over best bank"]).all()
    stats = credit.mean_effects(gains, z=2.0, subject="federation")
    assert list(stats.columns) == ["mean", "se", "effect"]
    with pytest.raises(ValueError, match="one share per party"):
        credit.federation_gains(
            train, test, [0.5, 0.5], homolr={}, seeds=[0], parties=["a", "b", "c"]
        )


@pytest.mark.parametrize(
    ("gaps", "effect"),
    [([0.02, 0.03, 0.025], "federation better"), ([-0.02, -0.03, -0.025], "federation worse")],
)
def test_mean_effects_names_the_direction(gaps, effect):
    stats = credit.mean_effects(pd.DataFrame({"gain": gaps}), z=2.0, subject="federation")
    assert stats.loc["gain", "effect"] == effect
    assert stats.loc["gain", "mean"] == pytest.approx(np.mean(gaps))
