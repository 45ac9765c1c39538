"""Tests for fl_course.federation.homolr, the local re-implementation of FATE 2.x HomoLR."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.federation.homolr import HomoLR


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X @ np.array([1.5, -1.0, 0.5, 0.0]) + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adam", "adagrad"])
def test_learns_a_linear_rule(optimizer):
    X, y = _data()
    model = HomoLR(epochs=60, optimizer=optimizer, learning_rate=0.1, alpha=0.0).fit(
        [(X[:150], y[:150]), (X[150:], y[150:])]
    )
    assert ((model.predict_proba(X) > 0.5) == y).mean() > 0.9
    assert model.history_["loss"].iloc[-1] < model.history_["loss"].iloc[0]


def test_full_batch_is_deterministic():
    X, y = _data()
    a = HomoLR(epochs=10).fit([(X[:100], y[:100]), (X[100:], y[100:])])
    b = HomoLR(epochs=10).fit([(X[:100], y[:100]), (X[100:], y[100:])])
    assert np.array_equal(a.coef_, b.coef_) and a.intercept_ == b.intercept_


def test_minibatches_depend_on_seed_only():
    X, y = _data()
    fit = lambda seed: HomoLR(epochs=3, batch_size=32, seed=seed).fit([(X, y)]).coef_  # noqa: E731
    assert np.array_equal(fit(1), fit(1))
    assert not np.array_equal(fit(1), fit(2))


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 4), st.sampled_from(["sgd", "rmsprop"]))
def test_identical_parties_equal_one_party(copies, optimizer):
    """FedAvg of k identical clients is the single client's training (weights n_k/n)."""
    X, y = _data(80)
    single = HomoLR(epochs=5, optimizer=optimizer).fit([(X, y)])
    fed = HomoLR(epochs=5, optimizer=optimizer).fit([(X, y)] * copies)
    assert np.allclose(single.coef_, fed.coef_, atol=1e-6)


def test_weights_follow_party_sizes():
    """One SGD epoch from zero: the update is the size-weighted mean of the local updates."""
    X, y = _data(90)
    a, b = (X[:30], y[:30]), (X[30:], y[30:])
    kw = dict(epochs=1, optimizer="sgd", learning_rate=0.1, alpha=0.0, max_grad_norm=0.0)
    fed = HomoLR(**kw).fit([a, b]).coef_
    wa, wb = HomoLR(**kw).fit([a]).coef_, HomoLR(**kw).fit([b]).coef_
    assert np.allclose(fed, (30 * wa + 60 * wb) / 90, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"alpha": -1}, "alpha"),
        ({"penalty": "l3"}, "penalty"),
        ({"max_grad_norm": -1}, "max_grad_norm"),
        ({"local_epochs": 0}, "local_epochs"),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HomoLR(**kwargs)


def test_fit_and_predict_errors():
    X, y = _data(20)
    with pytest.raises(ValueError, match="non-empty list"):
        HomoLR().fit([])
    with pytest.raises(ValueError, match="same features"):
        HomoLR().fit([(X, y), (X[:, :2], y)])
    with pytest.raises(ValueError, match="same length"):
        HomoLR().fit([(X, y[:5])])
    with pytest.raises(ValueError, match="0 or 1"):
        HomoLR().fit([(X, y + 1)])
    with pytest.raises(ValueError, match="fit"):
        HomoLR().predict_proba(X)
    with pytest.raises(ValueError, match="shape"):
        HomoLR(epochs=1).fit([(X, y)]).predict_proba(X[:, :2])


def test_local_epochs_train_longer_between_aggregations():
    """One party: E local epochs per round for R rounds is R*E epochs of ordinary training."""
    X, y = _data()
    kw = dict(optimizer="rmsprop", learning_rate=0.05, alpha=0.0)
    long = HomoLR(epochs=6, **kw).fit([(X, y)])
    split = HomoLR(epochs=2, local_epochs=3, **kw).fit([(X, y)])
    assert np.allclose(long.coef_, split.coef_, atol=1e-6)


def test_local_epochs_let_label_skewed_parties_drift():
    """Two parties with one class each: more local epochs before averaging change the model."""
    X, y = _data()
    a, b = (X[y == 0], y[y == 0]), (X[y == 1], y[y == 1])
    kw = dict(epochs=3, optimizer="sgd", learning_rate=0.5, alpha=0.0, max_grad_norm=0.0)
    one = HomoLR(**kw).fit([a, b]).coef_
    five = HomoLR(**kw, local_epochs=5).fit([a, b]).coef_
    assert not np.allclose(one, five, atol=1e-3)


def test_settings_are_recorded_once_and_printed():
    model = HomoLR(epochs=3, optimizer="sgd", seed=2)
    assert (model.epochs, model.optimizer, model.seed) == (3, "sgd", 2)
    assert repr(model).startswith("HomoLR(epochs=3, batch_size=None, optimizer='sgd'")
