"""PriDe: Paillier-encrypted averaging of logistic-regression models, one element at a time.

PriDe (the "pride-backend" write-up, "Privacy Preserving Federated Learning on a Deep Neural
Network"; ``pride`` in the course bibliography) trains scikit-learn multinomial logistic
regressions on six MNIST shards. Party 0, the *cloud*, holds the only Paillier key pair. The
protocol, as written up:

1. the cloud trains on its 1,200 images and encrypts its weights and biases element by element
   with python-paillier (``public_key.encrypt(value, precision=7)``, a 512-bit key);
2. party ``k`` trains on its own shard, adds its *plaintext* weights to the cloud's ciphertexts
   and divides by 2 (:func:`pairwise_sum`, :func:`pairwise_average`);
3. the cloud decrypts each pairwise average, or, for the "n-party" model, sums the five
   encrypted pairwise sums, divides by ``2 * 5`` and decrypts that (:func:`pride_average`).

Because the cloud knows its own weights, a decrypted pairwise average hands it party ``k``'s
exact model: :func:`recover_party_model`. The remedies (:func:`mean` and
:func:`weighted_average` of models each party encrypts itself, decrypted only as an aggregate)
are here too; :mod:`fl_course.secure` does the same aggregation packed and ~100x faster.

Departures from the write-up, all deliberate: keys are 2048 bits (512-bit moduli are
factorable), values are encoded at phe's full float precision (``precision=None``; the
write-up's ``precision=7`` rounds the cloud's weights to integers, see :func:`encrypt_vector`)
unless asked otherwise, and *all* 7,850 weights and biases are averaged; the write-up's code
encrypts ``coef_[0]`` and ``coef_[1]``, which in scikit-learn are the weight rows of digits 0
and 1, not "weights" and "biases".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from phe import paillier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

__all__ = [
    "PRIDE_SIZES",
    "decrypt_vector",
    "encrypt_vector",
    "mean",
    "model_from_vector",
    "model_to_vector",
    "pairwise_average",
    "pairwise_sum",
    "pride_average",
    "recover_party_model",
    "train_logistic_regression",
    "weighted_average",
]

#: Samples per party in PriDe (party 0 is the cloud), out of MNIST's 60,000 training images.
PRIDE_SIZES = (1200, 30000, 3000, 1200, 12000, 300)


def train_logistic_regression(images, labels, *, seed: int = 0, max_iter: int = 300, C: float = 1.0,
                              threads: int | None = 1):
    """Fit scikit-learn's multinomial logistic regression as PriDe does (lbfgs, L2, ``C=1``).

    Parameters
    ----------
    images : array_like or torch.Tensor, shape (n, ...)
        Images with pixels in [0, 1]; flattened to ``(n, 784)`` for MNIST.
    labels : array_like or torch.Tensor of int, shape (n,)
    seed : int, default 0
        ``random_state`` of the estimator (PriDe uses 0; lbfgs itself is deterministic).
    max_iter : int, default 300
        lbfgs iterations (PriDe leaves scikit-learn's default, 100, and gets a
        non-convergence warning on 60,000 images).
    C : float, default 1.0
        Inverse L2 strength. The L2 term makes the problem strictly convex, so the fit does
        not depend on the starting point; that is why averaging independently trained models
        is meaningful here at all.
    threads : int or None, default 1
        BLAS/OpenMP threads during the fit (``None``: the library default). For a
        784 x 10 model, threads mostly spin: on the course's 2-core machine one thread used
        a seventh of the CPU time of the default and finished sooner.

    Returns
    -------
    sklearn.linear_model.LogisticRegression
    """
    x = _numpy(images).reshape(len(images), -1).astype(np.float64)
    y = _numpy(labels).astype(np.int64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"Got {x.shape[0]} images but {y.shape[0]} labels; they must match one to one.")
    if len(np.unique(y)) < 2:
        raise ValueError("A party needs images of at least two classes to fit a classifier; give it more data.")
    model = LogisticRegression(random_state=seed, solver="lbfgs", max_iter=max_iter, C=C)
    with threadpool_limits(limits=threads):
        return model.fit(x, y)


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


def encrypt_vector(public_key, values, *, precision: float | None = None, progress: bool = True) -> np.ndarray:
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
        raise TypeError(f"public_key must be a phe PaillierPublicKey, got {type(public_key).__name__}.")
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("Only finite values can be encrypted; check the model for NaN or infinity.")
    bar = tqdm(values, desc="phe encrypt", unit="value", leave=False, disable=not progress)
    encrypted = np.empty(values.size, dtype=object)
    encrypted[:] = [public_key.encrypt(float(v), precision=precision) for v in bar]
    return encrypted


def decrypt_vector(private_key, encrypted, *, progress: bool = True) -> np.ndarray:
    """Decrypt an array of ``EncryptedNumber`` element by element into float64."""
    if not isinstance(private_key, paillier.PaillierPrivateKey):
        raise TypeError(f"private_key must be a phe PaillierPrivateKey, got {type(private_key).__name__}.")
    encrypted = _encrypted(encrypted, "encrypted")
    bar = tqdm(encrypted, desc="phe decrypt", unit="value", leave=False, disable=not progress)
    return np.array([private_key.decrypt(c) for c in bar], dtype=np.float64)


def _encrypted(array, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=object).ravel()
    if not all(isinstance(c, paillier.EncryptedNumber) for c in array):
        raise TypeError(f"{name} must hold phe EncryptedNumber objects; encrypt it with encrypt_vector first.")
    keys = {c.public_key.n for c in array}
    if len(keys) > 1:
        raise ValueError(f"{name} mixes ciphertexts from different public keys; they cannot be combined.")
    return array


def _same_key(arrays: Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    arrays = [_encrypted(a, name) for a in arrays]
    if not arrays:
        raise ValueError(f"{name} is empty; pass at least one encrypted model.")
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"All {name} must have the same length, got {[a.size for a in arrays]}.")
    if len({a[0].public_key.n for a in arrays if a.size}) > 1:
        raise ValueError(f"The {name} were encrypted under different public keys; use the cloud's key for all.")
    return arrays


def pairwise_sum(encrypted_cloud, party_values) -> np.ndarray:
    r"""Party ``k``'s step: :math:`\mathrm{Enc}(w_0) + w_k`, adding its plaintext model homomorphically.

    Paillier is additively homomorphic, :math:`\mathrm{Enc}(a)\,\mathrm{Enc}(b) =
    \mathrm{Enc}(a+b) \bmod n^2` (Paillier 1999); phe encodes ``party_values`` and
    adds them without fresh randomness. The party never encrypts its own model.
    """
    (encrypted_cloud,) = _same_key([encrypted_cloud], "encrypted_cloud")
    party_values = np.asarray(party_values, dtype=np.float64).ravel()
    if party_values.size != encrypted_cloud.size:
        raise ValueError(
            f"The party's model has {party_values.size} values but the cloud's has {encrypted_cloud.size}; "
            "both must come from the same architecture."
        )
    return encrypted_cloud + party_values


def pairwise_average(encrypted_cloud, party_values) -> np.ndarray:
    r"""PriDe's 2-party model: :math:`(\mathrm{Enc}(w_0) + w_k) / 2`, still encrypted.

    phe divides by multiplying with the encoding of ``1/2``, which is exact in binary.
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
    r"""Uniform mean :math:`\frac{1}{K}\sum_k \mathrm{Enc}(w_k)` of models each party encrypted itself."""
    models = _same_key(encrypted_models, "encrypted models")
    return sum(models[1:], models[0]) / len(models)


def weighted_average(encrypted_models: Sequence, weights: Sequence[int]) -> np.ndarray:
    r"""FedAvg's weighting :math:`\sum_k \frac{n_k}{n}\,\mathrm{Enc}(w_k)` (McMahan et al. 2017, Alg. 1).

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
            f"Give one positive integer weight (a sample count) per model: {len(models)} models, weights {list(weights)}."
        )
    total = sum(int(w) * m for w, m in zip(weights, models))
    return total * (1.0 / sum(int(w) for w in weights))


def recover_party_model(pairwise_average_plain, cloud_values) -> np.ndarray:
    r"""The leak: from a *decrypted* pairwise average the cloud computes :math:`w_k = 2\bar w - w_0`.

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
        raise ValueError(f"Shapes differ: average {average.shape}, cloud model {cloud.shape}; they must match.")
    return 2 * average - cloud
