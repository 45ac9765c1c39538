"""PriDe: Paillier-encrypted averaging of logistic-regression models, one element at a time.

PriDe (Sean Pavlak, "PriDe: Privacy Preserving Federated Learning on a Deep Neural Network";
``pride`` in the course bibliography; code: ``seanpavlak/pride-backend``,
``mnist_federated_learning.ipynb``) averages scikit-learn logistic regressions of six MNIST
parties. Party 0, the *cloud*, holds the only Paillier key pair. The protocol, as written up:

1. the cloud trains on its 1,200 images and encrypts its model element by element with
   python-paillier (``public_key.encrypt(value, precision=7)``, a 512-bit key);
2. party ``k`` trains on its own shard, adds its *plaintext* weights to the cloud's ciphertexts
   and divides by 2 (:func:`pairwise_sum`, :func:`pairwise_average`);
3. the cloud decrypts each pairwise average, or, for the "n-party" model, sums the five
   encrypted pairwise sums, divides by ``2 * 5`` and decrypts that (:func:`pride_average`).

What the code does beyond the prose (:func:`replay_pride_notebook` reruns it on any data):
``LogisticRegression(random_state=0, solver="lbfgs")`` of the scikit-learn of 2018, i.e.
one-vs-rest, ``C=1``, ``max_iter=100``, on raw 0-255 pixels; ``classifier_lr_1`` to
``classifier_lr_5`` are the *same object* as ``classifier_lr_0``, so every "averaged" model is
the last party's fit with two rows replaced; the encrypted ``coef_[0]`` and ``coef_[1]`` are the
weight rows of digits 0 and 1 (not weights and biases), the cloud's rounded to integers by
``precision=7``; parties 2 and 5 train on ``train_img[3000:]`` and ``train_img[300:]`` (57,000
and 59,700 images, not 3,000 and 300); and the cloud and every averaged model are scored on
``test_img[:200]``.

Because the cloud knows its own weights, a decrypted pairwise average hands it party ``k``'s
exact model (:func:`recover_party_model`; PriDe's own section 4 says as much). The remedies
(:func:`mean` and :func:`weighted_average` of models each party encrypts itself, decrypted only
as an aggregate) are here too; :mod:`fl_course.secure` does the same aggregation packed, fresh
and bound to its contributors, hundreds of times faster (``python -m fl_course.bench paillier``).

Departures in the course's own runs: keys are 2048 bits (512-bit moduli are factorable),
values are encoded at phe's full float precision (``precision=None``) unless asked otherwise,
and *all* 7,850 weights and biases are averaged.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd

import numpy as np
import pandas as pd
from phe import paillier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

__all__ = [
    "PRIDE_SIZES",
    "PRIDE_TEST_SLICES",
    "PRIDE_TRAIN_SLICES",
    "EvaluationSet",
    "PrideNotebookRun",
    "paired_difference",
    "assemble_model",
    "decrypt_vector",
    "encrypt_vector",
    "mean",
    "model_from_vector",
    "model_to_vector",
    "pairwise_average",
    "pairwise_sum",
    "pride_average",
    "recover_party_model",
    "replay_pride_notebook",
    "scaled_slices",
    "smallest_integer_weights",
    "train_logistic_regression",
    "weighted_average",
]

#: Samples per party in PriDe's prose (party 0 is the cloud), out of MNIST's 60,000 training images.
PRIDE_SIZES = (1200, 30000, 3000, 1200, 12000, 300)
#: The training slices PriDe's code actually takes (``distribute_data``), of 60,000 images.
PRIDE_TRAIN_SLICES = (
    (0, 1200),
    (30000, None),
    (3000, None),
    (1200, 2400),
    (12000, 24000),
    (300, None),
)
#: The test slices each party is scored on in PriDe's code, of MNIST's 10,000 test images.
PRIDE_TEST_SLICES = ((0, 200), (5000, None), (500, None), (200, 400), (2000, 4000), (50, None))


def train_logistic_regression(
    images,
    labels,
    *,
    one_vs_rest: bool = True,
    max_iter: int = 100,
    C: float = 1.0,
    seed: int = 0,
    threads: int | None = 1,
) -> LogisticRegression:
    """Fit an L2 logistic regression with lbfgs, by default as PriDe's code does.

    PriDe's defaults: one-vs-rest, 100 iterations.

    Parameters
    ----------
    images : array_like or torch.Tensor, shape (n, ...)
        Images, flattened to ``(n, 784)`` for MNIST. PriDe feeds raw 0-255 pixels.
    labels : array_like or torch.Tensor of int, shape (n,)
    one_vs_rest : bool, default True
        One binary classifier per digit, as the scikit-learn of PriDe's code did by default
        (its printed estimator shows ``multi_class='ovr'``); ``False`` fits the multinomial
        (softmax) model of scikit-learn >= 1.5.
    max_iter : int, default 100
        lbfgs iterations (PriDe leaves scikit-learn's default, 100; on raw pixels that stops
        before convergence, with a warning scikit-learn prints and we silence).
    C : float, default 1.0
        Inverse L2 strength. The L2 term makes the problem strictly convex, so a converged
        fit does not depend on the starting point.
    seed : int, default 0
        ``random_state`` of the estimator (PriDe uses 0; lbfgs itself is deterministic).
    threads : int or None, default 1
        BLAS/OpenMP threads during the fit (``None``: the library default). For a
        784 x 10 model, threads mostly spin.

    Returns
    -------
    sklearn.linear_model.LogisticRegression
        With ``coef_`` (one row per class) and ``intercept_``; for one-vs-rest, the rows of
        the ten binary classifiers, which predict by the same arg-max as
        ``OneVsRestClassifier``.
    """
    x = _numpy(images).reshape(len(images), -1).astype(np.float64)
    y = _numpy(labels).astype(np.int64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"Got {x.shape[0]} images but {y.shape[0]} labels; they must match one to one."
        )
    if len(np.unique(y)) < 2:
        raise ValueError(
            "A party needs images of at least two classes to fit a classifier; give it more data."
        )
    model = LogisticRegression(random_state=seed, solver="lbfgs", max_iter=max_iter, C=C)
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if not one_vs_rest:
            return model.fit(x, y)
        ovr = OneVsRestClassifier(model).fit(x, y)
    coef = np.vstack([e.coef_ for e in ovr.estimators_])
    intercept = np.concatenate([e.intercept_ for e in ovr.estimators_])
    return model_from_vector(np.concatenate([coef.ravel(), intercept]), ovr.classes_)


def _numpy(array) -> np.ndarray:
    return np.asarray(array.detach().cpu() if hasattr(array, "detach") else array)


def model_to_vector(model: LogisticRegression) -> np.ndarray:
    """Flatten a fitted model to ``[coef_.ravel(), intercept_]`` (7,850 values for MNIST)."""
    return np.concatenate([model.coef_.ravel(), model.intercept_]).astype(np.float64)


def model_from_vector(vector, classes) -> LogisticRegression:
    """Inverse of :func:`model_to_vector`: a predicting model with the given weights and biases.

    Parameters
    ----------
    vector : array_like of float, shape (k * d + k,)
    classes : array_like, shape (k,)
        Class labels in the order of the model's rows (``model.classes_``).
    """
    vector, classes = np.asarray(vector, dtype=np.float64), np.asarray(classes)
    k = len(classes)
    if k < 2 or vector.ndim != 1 or (vector.size - k) % k:
        raise ValueError(
            f"A vector of {vector.size} values cannot hold the weights and biases of {k} classes; "
            "pass model_to_vector(model) and model.classes_."
        )
    model = LogisticRegression()
    model.classes_ = classes
    model.coef_ = vector[:-k].reshape(k, -1).copy()
    model.intercept_ = vector[-k:].copy()
    model.n_features_in_ = model.coef_.shape[1]
    return model


@dataclass
class EvaluationSet:
    """Test images and labels that score models given as :func:`model_to_vector` vectors.

    Chapter 3 scores every model it builds, plaintext, decrypted or recovered, as a vector of
    weights and biases; this holds the test set once so each score is one call.

    Parameters
    ----------
    images : numpy.ndarray, shape (n, d)
        Test images, flattened, in the pixel scale the models were trained on.
    labels : numpy.ndarray, shape (n,)
        Their labels.
    classes : array_like, shape (k,)
        Class labels in the order of the models' rows (``model.classes_``).

    Examples
    --------
    >>> images, labels = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])
    >>> test = EvaluationSet(images, labels, classes=[0, 1])
    >>> vector = np.array([1.0, -1.0, -1.0, 1.0, 0.0, 0.0])  # weights of 2 classes, then biases
    >>> test.correct(vector).tolist(), test.accuracy(vector), test.accuracy(vector, slice(1))
    ([True, True], 100.0, 100.0)
    """

    images: np.ndarray
    labels: np.ndarray
    classes: Sequence

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"Got {len(self.images)} images and {len(self.labels)} labels; pass one label "
                "per test image."
            )

    def correct(self, vector) -> np.ndarray:
        """Whether the model with this vector classifies each test image correctly."""
        return model_from_vector(vector, self.classes).predict(self.images) == self.labels

    def accuracy(self, vector, rows=slice(None)) -> float:
        """Test accuracy (%) of the model with this vector, on the selected ``rows`` only."""
        model = model_from_vector(vector, self.classes)
        return 100 * float(np.mean(model.predict(self.images[rows]) == self.labels[rows]))


def assemble_model(packed_values, sample_index, phe_values) -> np.ndarray:
    """A full model vector: the packed scheme's decryption with ``phe``'s values on the sample.

    Chapter 3 aggregates a seeded sample of the parameters with per-element ``phe`` and all of
    them with :class:`fl_course.secure.PackedPaillier`; the model it scores takes ``phe``'s
    result wherever there is one.

    Parameters
    ----------
    packed_values : array_like of float, shape (p,)
        The decrypted packed aggregate, every parameter.
    sample_index : array_like of int, shape (m,)
        Positions of the parameters aggregated with ``phe``.
    phe_values : array_like of float, shape (m,)
        ``phe``'s decrypted aggregate at those positions.

    Examples
    --------
    >>> assemble_model([1.0, 2.0, 3.0], [0, 2], [10.0, 30.0]).tolist()
    [10.0, 2.0, 30.0]
    """
    model = np.array(packed_values, dtype=np.float64)
    index, values = np.asarray(sample_index), np.asarray(phe_values, dtype=np.float64)
    if index.shape != values.shape:
        raise ValueError(
            f"{index.size} sample positions but {values.size} phe values; pass one value per "
            "sampled position."
        )
    model[index] = values
    return model


def encrypt_vector(
    public_key, values, *, precision: float | None = None, progress: bool = True
) -> np.ndarray:
    """Encrypt every value separately with ``public_key.encrypt``, as PriDe does.

    Parameters
    ----------
    public_key : phe.paillier.PaillierPublicKey
    values : array_like of float
        Flattened; one ciphertext (4,096 bits for a 2048-bit key) per value.
    precision : float, optional
        phe's encoding precision: the largest *absolute* error allowed. PriDe passes
        ``precision=7``, so phe picks exponent ``floor(log16(7)) = 0`` and rounds every
        weight to an integer (0.3 becomes 0, -0.7 becomes -1). ``None`` keeps the float's
        full 53-bit mantissa.
    progress : bool, default True
        Show a tqdm bar.

    Returns
    -------
    numpy.ndarray of phe.paillier.EncryptedNumber (dtype object)
    """
    if not isinstance(public_key, paillier.PaillierPublicKey):
        raise TypeError(
            f"public_key must be a phe PaillierPublicKey, got {type(public_key).__name__}."
        )
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "Only finite values can be encrypted; check the model for NaN or infinity."
        )
    bar = tqdm(values, desc="phe encrypt", unit="value", leave=False, disable=not progress)
    encrypted = np.empty(values.size, dtype=object)
    encrypted[:] = [public_key.encrypt(float(v), precision=precision) for v in bar]
    return encrypted


def decrypt_vector(private_key, encrypted, *, progress: bool = True) -> np.ndarray:
    """Decrypt an array of ``EncryptedNumber`` element by element into float64."""
    if not isinstance(private_key, paillier.PaillierPrivateKey):
        raise TypeError(
            f"private_key must be a phe PaillierPrivateKey, got {type(private_key).__name__}."
        )
    encrypted = _encrypted(encrypted, "encrypted")
    bar = tqdm(encrypted, desc="phe decrypt", unit="value", leave=False, disable=not progress)
    return np.array([private_key.decrypt(c) for c in bar], dtype=np.float64)


def _encrypted(array, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=object).ravel()
    if not all(isinstance(c, paillier.EncryptedNumber) for c in array):
        raise TypeError(
            f"{name} must hold phe EncryptedNumber objects; encrypt it with encrypt_vector first."
        )
    keys = {c.public_key.n for c in array}
    if len(keys) > 1:
        raise ValueError(
            f"{name} mixes ciphertexts from different public keys; they cannot be combined."
        )
    return array


def _same_key(arrays: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    arrays = [_encrypted(a, name) for a in arrays]
    if not arrays:
        raise ValueError(f"{name} is empty; pass at least one encrypted model.")
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"All {name} must have the same length, got {[a.size for a in arrays]}.")
    if len({a[0].public_key.n for a in arrays if a.size}) > 1:
        raise ValueError(
            f"The {name} were encrypted under different public keys; use the cloud's key for all."
        )
    return arrays


def pairwise_sum(encrypted_cloud, party_values) -> np.ndarray:
    r"""Party ``k``'s step: :math:`\mathrm{Enc}(w_0) + w_k`, adding its plaintext model under Enc.

    Paillier is additively homomorphic, :math:`\mathrm{Enc}(a)\,\mathrm{Enc}(b) =
    \mathrm{Enc}(a+b) \bmod n^2` (Paillier 1999); phe encodes ``party_values`` and
    adds them without fresh randomness, and re-randomises only when a ciphertext is
    exported (``EncryptedNumber.ciphertext()``), as when PriDe's party would send it. The
    party never encrypts its own model.
    """
    (encrypted_cloud,) = _same_key([encrypted_cloud], "encrypted_cloud")
    party_values = np.asarray(party_values, dtype=np.float64).ravel()
    if party_values.size != encrypted_cloud.size:
        raise ValueError(
            f"The party's model has {party_values.size} values but the cloud's has "
            f"{encrypted_cloud.size}; both must come from the same architecture."
        )
    return encrypted_cloud + party_values


def pairwise_average(encrypted_cloud, party_values) -> np.ndarray:
    r"""PriDe's 2-party model: :math:`(\mathrm{Enc}(w_0) + w_k) / 2`, still encrypted.

    phe divides by multiplying with the encoding of ``1/2``: exact in value, but phe encodes
    every float with a 53-bit mantissa (``0.5 = 2**55 * 16**-14``), so each halving, like a
    division by 3, adds about 55 bits to the plaintext.
    """
    return pairwise_sum(encrypted_cloud, party_values) / 2


def pride_average(encrypted_pairwise_sums: Sequence) -> np.ndarray:
    r"""PriDe's "n-party" model: :math:`\sum_{k=1}^{K} (\mathrm{Enc}(w_0) + w_k) / (2K)`.

    This is the write-up's formula, and it is *not* the mean of the ``K + 1`` models: the
    cloud's weights enter every pairwise sum, so the result is
    :math:`\tfrac12 w_0 + \tfrac1{2K}\sum_k w_k`, giving the cloud (1,200 images) half of
    the vote and each party a tenth. Compare :func:`mean` and :func:`weighted_average`.
    """
    sums = _same_key(encrypted_pairwise_sums, "encrypted pairwise sums")
    return sum(sums[1:], sums[0]) / (2 * len(sums))


def mean(encrypted_models: Sequence) -> np.ndarray:
    r"""Uniform mean :math:`\frac{1}{K}\sum_k \mathrm{Enc}(w_k)` of models each party encrypted."""
    models = _same_key(encrypted_models, "encrypted models")
    return sum(models[1:], models[0]) / len(models)


def weighted_average(encrypted_models: Sequence, weights: Sequence[int]) -> np.ndarray:
    r"""FedAvg's weighting :math:`\sum_k \frac{n_k}{n}\,\mathrm{Enc}(w_k)` (McMahan et al., Alg. 1).

    Each ciphertext is raised to the integer :math:`n_k` (exact), the products are summed and
    the sum is multiplied by the float :math:`1/n` once, which rounds only at float64 precision.

    Parameters
    ----------
    encrypted_models : sequence of arrays of EncryptedNumber
    weights : sequence of int
        Sample counts :math:`n_k` (positive integers).
    """
    models = _same_key(encrypted_models, "encrypted models")
    if len(weights) != len(models) or any(
        isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in weights
    ):
        raise ValueError(
            f"Give one positive integer weight (a sample count) per model: {len(models)} models, "
            f"weights {list(weights)}."
        )
    total = sum(int(w) * m for w, m in zip(weights, models))
    return total * (1.0 / sum(int(w) for w in weights))


def recover_party_model(pairwise_average_plain, cloud_values) -> np.ndarray:
    r"""The leak: from a *decrypted* pairwise average the cloud gets :math:`w_k = 2\bar w - w_0`.

    Parameters
    ----------
    pairwise_average_plain : array_like of float
        The cloud's decryption of :func:`pairwise_average` for party ``k``.
    cloud_values : array_like of float
        The cloud's own model :math:`w_0`, which it knows.

    Returns
    -------
    numpy.ndarray
        Party ``k``'s model, exact up to phe's float encoding (about 1e-16 relative).
    """
    average = np.asarray(pairwise_average_plain, dtype=np.float64)
    cloud = np.asarray(cloud_values, dtype=np.float64)
    if average.shape != cloud.shape:
        raise ValueError(
            f"Shapes differ: average {average.shape}, cloud model {cloud.shape}; they must match."
        )
    return 2 * average - cloud


def smallest_integer_weights(sizes: Sequence[int]) -> list[int]:
    """FedAvg's integer weights over their greatest common divisor: the same mean, less headroom.

    ``n_k / n`` does not change when every ``n_k`` is divided by the same integer, and a
    packed slot needs one bit per doubling of the total weight, so this keeps slots narrow.

    Examples
    --------
    >>> smallest_integer_weights([160, 4000, 400, 160, 1600, 40])
    [4, 100, 10, 4, 40, 1]
    """
    if not sizes or any(
        isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes
    ):
        raise ValueError(f"Give positive integer sample counts, got {list(sizes)}.")
    divisor = 0
    for size in sizes:
        divisor = gcd(divisor, int(size))
    return [int(size) // divisor for size in sizes]


def scaled_slices(
    bounds: Sequence[tuple[int, int | None]], available: int, reference: int
) -> list[slice]:
    """PriDe's slice bounds, written for ``reference`` images, scaled to ``available`` images.

    Examples
    --------
    >>> scaled_slices(PRIDE_TRAIN_SLICES[:2], 8000, 60000)
    [slice(0, 160, None), slice(4000, None, None)]
    """
    if available < 1 or reference < 1:
        raise ValueError(
            f"Image counts must be positive, got available={available}, reference={reference}."
        )
    ratio = available / reference
    return [slice(round(a * ratio), None if b is None else round(b * ratio)) for a, b in bounds]


@dataclass
class PrideNotebookRun:
    """What :func:`replay_pride_notebook` computed.

    Attributes
    ----------
    vectors : dict of str to numpy.ndarray
        Weight-and-bias vectors (:func:`model_to_vector`): ``"baseline"``, ``"cloud"``,
        ``"party 1"`` … ``"party 5"`` (each party's own fit), ``"cloud + party k"`` and
        ``"PriDe six-party"`` (the last fit with rows 0 and 1 replaced, as the aliasing does).
    scores : pandas.DataFrame
        One row per model: ``train images``, ``test slice``, ``test images`` and
        ``accuracy (%)`` scored the way PriDe's notebook scores it.
    train_slices, test_slices : list of slice
        The six parties' slices at this data size.
    classes : numpy.ndarray
    """

    vectors: dict
    scores: pd.DataFrame
    train_slices: list
    test_slices: list
    classes: np.ndarray


def replay_pride_notebook(
    x_train, y_train, x_test, y_test, *, reference=(60_000, 10_000), threads: int | None = 1
) -> PrideNotebookRun:
    """Rerun PriDe's notebook procedure, on any data, in plaintext.

    Follows ``mnist_federated_learning.ipynb`` (seanpavlak/pride-backend) step by step:
    PriDe's slices (:data:`PRIDE_TRAIN_SLICES`, :data:`PRIDE_TEST_SLICES`) scaled from
    ``reference`` to the data given; :func:`train_logistic_regression` with its defaults
    (one-vs-rest, 100 lbfgs iterations); only rows 0 and 1 of ``coef_`` averaged, the cloud's
    rounded to integers (``precision=7``; phe's rounding is exactly ``np.rint``, which the
    course's tests check); every averaged model is the *last fitted* party's model with those
    two rows replaced, because the six classifiers are one aliased object; the cloud and every
    averaged model scored on the cloud's test slice, each party on its own.

    Parameters
    ----------
    x_train, x_test : numpy.ndarray, shape (n, d)
        Features as PriDe used them (raw 0-255 pixels for MNIST).
    y_train, y_test : numpy.ndarray of int
    reference : (int, int), default (60000, 10000)
        Training and test set sizes PriDe's slices were written for.
    threads : int or None, default 1
        BLAS threads per fit.

    Returns
    -------
    PrideNotebookRun
    """
    x_train, x_test = np.asarray(x_train, dtype=np.float64), np.asarray(x_test, dtype=np.float64)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    train_slices = scaled_slices(PRIDE_TRAIN_SLICES, len(y_train), reference[0])
    test_slices = scaled_slices(PRIDE_TEST_SLICES, len(y_test), reference[1])
    baseline = train_logistic_regression(x_train, y_train, threads=threads)
    fits = [
        train_logistic_regression(x_train[s], y_train[s], threads=threads) for s in train_slices
    ]
    classes = baseline.classes_
    cloud_rows = np.rint(fits[0].coef_[:2])  # encrypt(value, precision=7) rounds to integers

    def with_rows(model, rows):
        coef = model.coef_.copy()
        coef[:2] = rows
        return np.concatenate([coef.ravel(), model.intercept_])

    vectors = {"baseline": model_to_vector(baseline), "cloud": model_to_vector(fits[0])}
    rows = [
        ("baseline", slice(0, None), slice(0, None)),
        ("cloud", train_slices[0], test_slices[0]),
    ]
    for party in range(1, 6):
        vectors[f"party {party}"] = model_to_vector(fits[party])
        rows.append((f"party {party}", train_slices[party], test_slices[party]))
    for party in range(1, 6):
        vectors[f"cloud + party {party}"] = with_rows(
            fits[party], (cloud_rows + fits[party].coef_[:2]) / 2
        )
        rows.append((f"cloud + party {party}", train_slices[party], test_slices[0]))
    six = sum(cloud_rows + fits[p].coef_[:2] for p in range(1, 6)) / 10
    vectors["PriDe six-party"] = with_rows(fits[5], six)
    rows.append(("PriDe six-party", train_slices[5], test_slices[0]))

    records = []
    for name, train, test in rows:
        images = len(range(*train.indices(len(y_train))))
        model = model_from_vector(vectors[name], classes)
        accuracy = 100 * float(np.mean(model.predict(x_test[test]) == y_test[test]))
        records.append(
            {
                "model": name,
                "train images": images,
                "test slice": f"[{test.start}:{test.stop or ''}]",
                "test images": len(y_test[test]),
                "accuracy (%)": accuracy,
            }
        )
    return PrideNotebookRun(
        vectors, pd.DataFrame(records).set_index("model"), train_slices, test_slices, classes
    )


def paired_difference(correct_a, correct_b) -> tuple[float, float]:
    """Accuracy of model A minus model B on the same test images, and its standard error (points).

    Parameters
    ----------
    correct_a, correct_b : array_like of bool
        Whether each model classified each test image correctly (same images, same order).

    Returns
    -------
    (float, float)
        The difference in points and the standard error of the mean per-image difference,
        which is smaller than for two independent test sets because both models see the
        same images.
    """
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(
            f"Need two equal 1-D arrays of per-image correctness, got shapes {a.shape} and "
            f"{b.shape}."
        )
    d = a - b
    return 100 * float(d.mean()), 100 * float(d.std(ddof=1) / np.sqrt(d.size))
