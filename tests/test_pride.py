"""Tests for fl_course.pride (PriDe's per-element Paillier averaging and its leak)."""

import numpy as np
import pytest
from phe import paillier

from fl_course import pride
from fl_course.secure import generate_keypair

LENGTH = 12


@pytest.fixture(scope="module")
def keys():
    return generate_keypair(2048)


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    return [rng.normal(0, 1, LENGTH) for _ in range(4)]


@pytest.fixture(scope="module")
def encrypted(keys, models):
    return [pride.encrypt_vector(keys[0], m, progress=False) for m in models]


def test_encrypt_decrypt_round_trip(keys, models, encrypted):
    assert all(c.public_key.n == keys[0].n for c in encrypted[0])
    np.testing.assert_allclose(
        pride.decrypt_vector(keys[1], encrypted[0], progress=False), models[0], atol=1e-12
    )


def test_pairwise_average_and_the_leak(keys, models, encrypted):
    cloud, party = models[0], models[1]
    average = pride.decrypt_vector(
        keys[1], pride.pairwise_average(encrypted[0], party), progress=False
    )
    np.testing.assert_allclose(average, (cloud + party) / 2, atol=1e-12)
    recovered = pride.recover_party_model(average, cloud)
    np.testing.assert_allclose(recovered, party, rtol=0, atol=1e-12)


def test_pride_average_gives_the_cloud_half_the_vote(keys, models, encrypted):
    cloud, parties = models[0], models[1:]
    sums = [pride.pairwise_sum(encrypted[0], p) for p in parties]
    result = pride.decrypt_vector(keys[1], pride.pride_average(sums), progress=False)
    np.testing.assert_allclose(
        result, cloud / 2 + np.sum(parties, axis=0) / (2 * len(parties)), atol=1e-12
    )
    assert not np.allclose(result, np.mean(models, axis=0))


@pytest.mark.parametrize("weights", [[1, 1, 1, 1], [160, 4000, 400, 40], [7, 1, 1, 3]])
def test_mean_and_weighted_average(keys, models, encrypted, weights):
    plain = pride.decrypt_vector(
        keys[1], pride.weighted_average(encrypted, weights), progress=False
    )
    np.testing.assert_allclose(plain, np.average(models, axis=0, weights=weights), atol=1e-12)
    uniform = pride.decrypt_vector(keys[1], pride.mean(encrypted), progress=False)
    np.testing.assert_allclose(uniform, np.mean(models, axis=0), atol=1e-12)


def test_precision_7_rounds_to_integers(keys):
    values = np.array([0.3, -0.7, 1.6, -0.2])
    encrypted = pride.encrypt_vector(keys[0], values, precision=7, progress=False)
    np.testing.assert_array_equal(
        pride.decrypt_vector(keys[1], encrypted, progress=False), np.rint(values)
    )


@pytest.mark.parametrize("one_vs_rest", [True, False])
def test_model_vector_round_trip(one_vs_rest):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (60, 1, 4, 4)).astype(np.float32)
    labels = np.arange(60) % 3
    model = pride.train_logistic_regression(images, labels, seed=0, one_vs_rest=one_vs_rest)
    vector = pride.model_to_vector(model)
    assert vector.shape == (3 * 16 + 3,)
    rebuilt = pride.model_from_vector(vector, model.classes_)
    x = images.reshape(60, -1)
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))
    np.testing.assert_allclose(rebuilt.predict_proba(x), model.predict_proba(x))


def test_one_vs_rest_predicts_like_sklearn_one_vs_rest():
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 5)), rng.integers(0, 4, 300)
    ours = pride.train_logistic_regression(x, y)
    theirs = OneVsRestClassifier(LogisticRegression(max_iter=100, random_state=0)).fit(x, y)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))
    multinomial = pride.train_logistic_regression(x, y, one_vs_rest=False)
    assert not np.allclose(multinomial.coef_, ours.coef_)


def test_pride_slices_scale_to_the_data():
    train = pride.scaled_slices(pride.PRIDE_TRAIN_SLICES, 60_000, 60_000)
    assert [len(range(60_000)[s]) for s in train] == [1200, 30000, 57000, 1200, 12000, 59700]
    test = pride.scaled_slices(pride.PRIDE_TEST_SLICES, 2000, 10_000)
    assert test[0] == slice(0, 40) and test[5] == slice(10, None)
    with pytest.raises(ValueError, match="positive"):
        pride.scaled_slices(pride.PRIDE_TRAIN_SLICES, 0, 60_000)


def test_replay_reproduces_the_aliasing_and_the_two_rows():
    rng = np.random.default_rng(3)
    x_train, y_train = rng.integers(0, 256, (600, 8)).astype(float), np.arange(600) % 3
    x_test, y_test = rng.integers(0, 256, (100, 8)).astype(float), np.arange(100) % 3
    run = pride.replay_pride_notebook(x_train, y_train, x_test, y_test)
    last = run.vectors["party 5"].copy()
    six = run.vectors["PriDe six-party"]
    rows = slice(0, 2 * 8)
    np.testing.assert_array_equal(
        six[2 * 8 :], last[2 * 8 :]
    )  # everything but rows 0 and 1 is party 5's fit
    expected = (
        sum(
            np.rint(run.vectors["cloud"][rows]) + run.vectors[f"party {k}"][rows]
            for k in range(1, 6)
        )
        / 10
    )
    np.testing.assert_allclose(six[rows], expected)
    assert (
        run.scores.loc["PriDe six-party", "test images"]
        == run.scores.loc["cloud", "test images"]
        == 2
    )
    assert (
        run.scores.loc["party 5", "train images"] == 597
        and run.scores.loc["party 2", "train images"] == 570
    )


def test_statistics_helpers():
    assert pride.smallest_integer_weights([160, 4000, 400, 160, 1600, 40]) == [4, 100, 10, 4, 40, 1]
    with pytest.raises(ValueError):
        pride.smallest_integer_weights([3, 0])
    d, se = pride.paired_difference([1, 1, 0, 1], [1, 0, 0, 0])
    assert d == 50.0 and se > 0
    with pytest.raises(ValueError):
        pride.paired_difference([1, 0], [1])


def test_evaluation_set_scores_a_vector_like_its_model():
    rng = np.random.default_rng(0)
    images, labels = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    vector = rng.normal(size=3 * 5 + 3)
    test = pride.EvaluationSet(images, labels, classes=[0, 1, 2])
    predicted = pride.model_from_vector(vector, [0, 1, 2]).predict(images)
    assert np.array_equal(test.correct(vector), predicted == labels)
    assert test.accuracy(vector) == 100 * np.mean(predicted == labels)
    assert test.accuracy(vector, slice(10)) == 100 * np.mean(predicted[:10] == labels[:10])
    with pytest.raises(ValueError, match="one label per test image"):
        pride.EvaluationSet(images, labels[:-1], classes=[0, 1, 2])


def test_assemble_model_overwrites_the_sample_only():
    packed = np.arange(6, dtype=float)
    model = pride.assemble_model(packed, [1, 4], [10.0, 40.0])
    assert model.tolist() == [0.0, 10.0, 2.0, 3.0, 40.0, 5.0]
    assert packed.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # the input is left alone
    with pytest.raises(ValueError, match="one value per sampled position"):
        pride.assemble_model(packed, [1, 4], [10.0])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda k, e: pride.encrypt_vector("not a key", [1.0]), TypeError),
        (lambda k, e: pride.encrypt_vector(k[0], [np.nan]), ValueError),
        (lambda k, e: pride.decrypt_vector(k[1], [1, 2]), TypeError),
        (lambda k, e: pride.pairwise_sum(e[0], np.zeros(LENGTH + 1)), ValueError),
        (lambda k, e: pride.mean([]), ValueError),
        (lambda k, e: pride.mean([e[0], e[1][:3]]), ValueError),
        (lambda k, e: pride.weighted_average(e, [1, 2]), ValueError),
        (lambda k, e: pride.weighted_average(e, [1, 2, 0, 1]), ValueError),
        (lambda k, e: pride.weighted_average(e, [1, 2, 0.5, 1]), ValueError),
        (lambda k, e: pride.recover_party_model(np.zeros(3), np.zeros(4)), ValueError),
        (lambda k, e: pride.model_from_vector(np.zeros(7), [0, 1, 2]), ValueError),
        (
            lambda k, e: pride.train_logistic_regression(np.zeros((4, 2)), np.zeros(4, dtype=int)),
            ValueError,
        ),
        (lambda k, e: pride.train_logistic_regression(np.zeros((4, 2)), np.arange(3)), ValueError),
    ],
)
def test_bad_input_is_refused(keys, encrypted, call, error):
    with pytest.raises(error):
        call(keys, encrypted)


def test_foreign_key_is_refused(encrypted):
    other_public, _ = paillier.generate_paillier_keypair(n_length=512)
    foreign = pride.encrypt_vector(other_public, np.zeros(LENGTH), progress=False)
    with pytest.raises(ValueError, match="different public keys"):
        pride.mean([encrypted[0], foreign])
