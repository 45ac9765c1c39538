"""A local re-implementation of FATE 2.x homogeneous logistic regression (HomoLR).

FATE 2.2's HomoLR (``fate.ml.glm.homo.lr``) is federated averaging of a torch logistic
regression: every client trains ``sigmoid(x·w + b)`` on its own rows with a torch optimizer
through a Hugging Face ``Trainer`` (so gradients are clipped to norm 1), and after **every
epoch** the arbiter replaces each client's parameters by their average weighted by the clients'
row counts, computed with pairwise-mask secure aggregation (the masks cancel in the sum, so the
result equals the plain weighted mean). Optimizer state stays local. This module repeats that
arithmetic in one process, which makes a full distribution sweep cheap; the chapter-2 notebook
first checks that it reproduces a real FATE job on the same split.

Departures from FATE: mini-batches are shuffled with our own seeded generator (FATE uses the
Hugging Face sampler), so only full-batch training (``batch_size=None``, the thesis' setting)
matches FATE step for step; no secure aggregation is simulated (it does not change the result).
``local_epochs > 1`` (several local epochs between two aggregations, FedAvg's E of McMahan et
al. 2017) is FATE's ``aggregate_freq``, which FATE 2.2's HomoLR component does not expose.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
>>> model = HomoLR(epochs=30, optimizer="rmsprop", learning_rate=0.05, alpha=0.0)
>>> model = model.fit([(X[:100], y[:100]), (X[100:], y[100:])])
>>> float(((model.predict_proba(X) > 0.5) == y).mean()) > 0.9
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from fl_course.checks import (
    Configurable,
    check_choice,
    check_int,
    check_number,
    check_seed,
)

__all__ = ["HomoLR", "OPTIMIZERS"]

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adagrad": torch.optim.Adagrad,
}


class HomoLR(Configurable):
    """Federated logistic regression as FATE 2.x HomoLR computes it.

    Parameters
    ----------
    epochs : int
        Aggregation rounds (FATE: ``epochs``, one aggregation per epoch).
    local_epochs : int
        Local epochs each party trains between two aggregations (FedAvg's E; FATE 2.2 uses 1).
        With ``batch_size`` rows per step, a round is ``local_epochs * ceil(n_k / batch_size)``
        local steps on party k.
    batch_size : int or None
        Rows per local step; None trains full-batch (FATE 1.x ``batch_size=-1``).
    optimizer : str
        ``"sgd"``, ``"rmsprop"``, ``"adam"`` or ``"adagrad"`` (torch's, as FATE uses them).
    learning_rate : float
        Optimizer learning rate (FATE: ``optimizer_params.lr``).
    alpha : float
        Regularisation strength (FATE: ``optimizer.alpha``).
    penalty : str
        ``"l2"`` (passed to the optimizer as weight decay, as FATE does), ``"l1"`` (added to the
        loss) or ``"none"``.
    max_grad_norm : float
        Gradient clipping norm of the Hugging Face Trainer FATE trains with (1.0); 0 disables.
    fit_intercept : bool
        Learn a bias term.
    seed : int
        Seed for mini-batch shuffling (unused full-batch; the initial weights are zeros, as
        FATE's ``init_param={"method": "zeros"}``).
    progress : bool
        Show a tqdm bar over epochs.

    Attributes
    ----------
    coef_ : numpy.ndarray
        Learned weights, shape ``(n_features,)``.
    intercept_ : float
        Learned bias.
    history_ : pandas.DataFrame
        Per epoch: weighted mean training loss of the clients.
    """

    def __init__(
        self,
        epochs: int = 20,
        batch_size: int | None = None,
        optimizer: str = "rmsprop",
        learning_rate: float = 0.01,
        alpha: float = 0.01,
        penalty: str = "l2",
        max_grad_norm: float = 1.0,
        fit_intercept: bool = True,
        seed: int = 0,
        progress: bool = False,
        local_epochs: int = 1,
    ):
        check_int("epochs", epochs)
        check_int("local_epochs", local_epochs, example=1)
        if batch_size is not None:
            check_int("batch_size", batch_size, example=32)
        check_choice("optimizer", optimizer, sorted(OPTIMIZERS))
        check_number("learning_rate", learning_rate, positive=True, example=0.01)
        check_number("alpha", alpha, non_negative=True, example=0.01)
        check_choice("penalty", penalty, ("l2", "l1", "none"))
        check_number("max_grad_norm", max_grad_norm, non_negative=True, example=1.0)
        check_seed(seed)
        self.save_settings()

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _tensors(X, y) -> tuple[torch.Tensor, torch.Tensor]:
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32).ravel()
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise ValueError(
                f"Each party needs a 2-D feature array and a label vector of the same length; "
                f"got shapes {X.shape} and {y.shape}."
            )
        if not set(np.unique(y)) <= {0.0, 1.0}:
            raise ValueError("Labels must be 0 or 1 (binary HomoLR).")
        return torch.from_numpy(X), torch.from_numpy(y)

    def _new_client(self, n_features: int):
        linear = torch.nn.Linear(n_features, 1, bias=self.fit_intercept)
        torch.nn.init.zeros_(linear.weight)
        if self.fit_intercept:
            torch.nn.init.zeros_(linear.bias)
        kwargs = {"lr": self.learning_rate}
        if self.penalty == "l2":
            kwargs["weight_decay"] = self.alpha
        return linear, OPTIMIZERS[self.optimizer](linear.parameters(), **kwargs)

    def _local_epoch(self, linear, opt, X, y, generator) -> float:
        n = len(X)
        size = n if self.batch_size is None else min(self.batch_size, n)
        order = torch.arange(n) if size == n else torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, size):
            idx = order[start : start + size]
            pred = torch.sigmoid(linear(X[idx])).reshape(-1)
            loss = torch.nn.functional.binary_cross_entropy(pred, y[idx])
            if self.penalty == "l1" and self.alpha:
                loss = loss + self.alpha * sum(p.abs().sum() for p in linear.parameters())
            opt.zero_grad()
            loss.backward()
            if self.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(linear.parameters(), self.max_grad_norm)
            opt.step()
            total += float(loss.detach()) * len(idx)
        return total / n

    # ----------------------------------------------------------------- API
    def fit(self, parties: Sequence[tuple[np.ndarray, np.ndarray]]) -> "HomoLR":
        """Train on a list of ``(X, y)`` parties (one party = ordinary local training).

        Returns
        -------
        HomoLR
            ``self``, with ``coef_``, ``intercept_`` and ``history_`` set.
        """
        if not isinstance(parties, (list, tuple)) or not parties:
            raise ValueError("parties must be a non-empty list of (X, y) pairs, one per party.")
        data = [self._tensors(X, y) for X, y in parties]
        n_features = {X.shape[1] for X, _ in data}
        if len(n_features) != 1:
            raise ValueError(
                f"All parties must have the same features (horizontal FL); got widths {n_features}."
            )
        n_features = n_features.pop()
        sizes = np.array([len(X) for X, _ in data], dtype=np.float64)
        weights = sizes / sizes.sum()
        clients = [self._new_client(n_features) for _ in data]
        generators = [torch.Generator().manual_seed(self.seed + k) for k in range(len(data))]
        history = []
        for epoch in tqdm(
            range(1, self.epochs + 1), desc="HomoLR epochs", disable=not self.progress
        ):
            losses = [
                [self._local_epoch(lin, opt, X, y, g) for _ in range(self.local_epochs)][-1]
                for (lin, opt), (X, y), g in zip(clients, data, generators)
            ]
            # weighted FedAvg of every parameter, in float64 as FATE's aggregator does
            with torch.no_grad():
                for name, _ in clients[0][0].named_parameters():
                    stacked = np.stack(
                        [
                            dict(lin.named_parameters())[name].detach().double().numpy()
                            for lin, _ in clients
                        ]
                    )
                    mean = torch.from_numpy(np.tensordot(weights, stacked, axes=1)).float()
                    for lin, _ in clients:
                        dict(lin.named_parameters())[name].copy_(mean)
            history.append({"epoch": epoch, "loss": float(np.dot(weights, losses))})
        linear = clients[0][0]
        self.coef_ = linear.weight.detach().double().numpy().ravel()
        self.intercept_ = float(linear.bias.detach()) if self.fit_intercept else 0.0
        self.history_ = pd.DataFrame(history)
        return self

    def decision_function(self, X) -> np.ndarray:
        """``x·w + b`` for each row."""
        if not hasattr(self, "coef_"):
            raise ValueError("Call fit(parties) before predicting.")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.coef_):
            raise ValueError(f"Expected features of shape (n, {len(self.coef_)}), got {X.shape}.")
        return X @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Probability of label 1 (Fully Paid) for each row."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))
