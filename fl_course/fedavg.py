"""A small, readable FedAvg simulator on PyTorch (chapter 1).

It follows Algorithm 1 of McMahan et al. (2017), "Communication-Efficient Learning of Deep
Networks from Decentralized Data": in every round the server samples a fraction ``C`` of
the ``K`` clients, each trains the global model for ``E`` local epochs with mini-batches of
size ``B`` and learning rate ``η``, and the server replaces the global weights by the
average of the clients' weights, weighted by their sample counts ``n_k / n``. FedSGD is the
special case ``E = 1`` and ``B = ∞`` (``batch_size=None``): one full-batch gradient step.

The simulator runs every client in one process, one after another. It is for learning the
algorithm and for measuring attacks and defenses on it; chapter 2 runs the same idea on a
real engine (FATE), and a multi-machine deployment uses a FATE cluster with the same
pipeline code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

__all__ = ["FedAvg", "ClientError", "evaluate", "weighted_average"]

Update = dict[str, torch.Tensor]


class ClientError(RuntimeError):
    """A client failed during local training; the message names the client and the round."""


def weighted_average(updates: Sequence[Update], weights: Sequence[float]) -> Update:
    """Return Σ_k w_k · update_k / Σ_k w_k, key by key (the FedAvg server step)."""
    total = float(sum(weights))
    if not updates or total <= 0:
        raise ValueError("weighted_average needs at least one update and positive weights.")
    return {name: sum(w * u[name] for u, w in zip(updates, weights)) / total for name in updates[0]}


@torch.no_grad()
def evaluate(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], *, batch_size: int = 1000
) -> tuple[float, float]:
    """Return (accuracy in [0, 1], mean cross-entropy) of ``model`` on ``(images, labels)``."""
    images, labels = data
    device = next(model.parameters()).device
    model.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(labels), batch_size):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    return correct / len(labels), loss / len(labels)


class FedAvg:
    """Federated averaging over simulated clients.

    Parameters
    ----------
    model_fn : callable
        Returns a fresh model; called once (after ``torch.manual_seed(seed)``) for the
        global model.
    client_data : list of (images, labels)
        One pair of tensors per client, e.g. from a :mod:`fl_course.partition` split.
    test_data : (images, labels)
        Held-out data the global model is scored on after every round.
    rounds : int
        Communication rounds.
    fraction : float
        ``C``: fraction of clients sampled per round, at least one client.
    local_epochs : int
        ``E``: passes over its data each sampled client makes per round.
    batch_size : int or None
        ``B``: local mini-batch size; ``None`` means the client's whole data (``B = ∞``).
    lr, momentum, weight_decay : float
        Local SGD settings (a fresh optimiser per client and round, as in Algorithm 1).
    seed : int
        Seeds the initial model, client sampling and the local shuffles.
    client_hook : callable, optional
        ``client_hook(update, *, model, client, round, data) -> update`` receives the
        client's update Δ = W_local − W_global before it is sent and returns what is sent
        instead (a defense, chapter 6).
    server_hook : callable, optional
        ``server_hook(updates, weights) -> update`` replaces :func:`weighted_average`
        (e.g. GradDefense's compensation).
    step_hook : callable, optional
        ``step_hook(model, *, client, round, step, global_state)`` runs after every local
        optimiser step (e.g. Outpost's per-iteration perturbation).
    progress : bool
        Show a progress bar over rounds.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.

    Examples
    --------
    >>> sim = FedAvg(lambda: LogisticRegression(), parts, test_data=(xt, yt), rounds=5)  # doctest: +SKIP
    >>> history = sim.run()  # doctest: +SKIP
    >>> history[["round", "test_accuracy"]].tail(1)  # doctest: +SKIP
    """

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        client_data: Sequence[tuple[torch.Tensor, torch.Tensor]],
        *,
        test_data: tuple[torch.Tensor, torch.Tensor],
        rounds: int,
        fraction: float = 1.0,
        local_epochs: int = 1,
        batch_size: int | None = 32,
        lr: float = 0.05,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        seed: int = 0,
        client_hook: Callable | None = None,
        server_hook: Callable | None = None,
        step_hook: Callable | None = None,
        progress: bool = True,
        device: str | None = None,
    ) -> None:
        if not client_data:
            raise ValueError("client_data must hold at least one client's (images, labels).")
        for k, (x, y) in enumerate(client_data):
            if len(x) != len(y) or len(y) == 0:
                raise ValueError(f"Client {k} must hold as many labels as images, and some.")
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction (C) must be in (0, 1], not {fraction}.")
        for name, value in (("rounds", rounds), ("local_epochs", local_epochs)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}.")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(
                f"batch_size must be a positive whole number or None, not {batch_size!r}."
            )
        if lr <= 0:
            raise ValueError(f"lr must be positive, not {lr}.")
        self.client_data = list(client_data)
        self.test_data = test_data
        self.rounds, self.fraction = rounds, fraction
        self.local_epochs, self.batch_size = local_epochs, batch_size
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.seed = seed
        self.client_hook, self.server_hook, self.step_hook = client_hook, server_hook, step_hook
        self.progress = progress
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(seed)
        self.model = model_fn().to(self.device)
        self._rng = np.random.default_rng(seed)
        self.history = pd.DataFrame()

    @property
    def num_clients(self) -> int:
        return len(self.client_data)

    def _global_state(self) -> Update:
        return {
            k: v.detach().clone()
            for k, v in self.model.state_dict().items()
            if v.is_floating_point()
        }

    def _client_update(self, client: int, rnd: int, global_state: Update) -> tuple[Update, float]:
        """Algorithm 1's ClientUpdate: local SGD from the global weights; returns Δ and loss."""
        model = self.model
        model.load_state_dict(global_state, strict=False)
        model.train()
        images, labels = self.client_data[client]
        optimizer = torch.optim.SGD(
            model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )
        generator = torch.Generator().manual_seed(self.seed * 100_003 + rnd * 1_009 + client)
        batch = self.batch_size or len(labels)
        step, losses = 0, []
        for _ in range(self.local_epochs):
            order = torch.randperm(len(labels), generator=generator)
            for start in range(0, len(labels), batch):
                idx = order[start : start + batch]
                x, y = images[idx].to(self.device), labels[idx].to(self.device)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                step += 1
                if self.step_hook is not None:
                    self.step_hook(
                        model, client=client, round=rnd, step=step, global_state=global_state
                    )
        update = {
            k: v.detach() - global_state[k]
            for k, v in model.state_dict().items()
            if k in global_state
        }
        if self.client_hook is not None:
            update = self.client_hook(
                update, model=model, client=client, round=rnd, data=(images, labels)
            )
        return update, float(np.mean(losses))

    def _train_clients(self, chosen, rnd: int, global_state):
        """Local training of the chosen clients: their updates, FedAvg weights (n_k) and losses."""
        updates, weights, losses = [], [], []
        for client in chosen:
            try:
                update, loss = self._client_update(client, rnd, global_state)
            except Exception as error:
                raise ClientError(f"Client {client} failed in round {rnd}: {error!r}") from error
            updates.append(update)
            weights.append(len(self.client_data[client][1]))
            losses.append(loss)
        return updates, weights, losses

    def run_round(self, rnd: int) -> dict:
        """Run one communication round and return its metrics."""
        start = time.perf_counter()
        m = max(1, round(self.fraction * self.num_clients))
        chosen = sorted(self._rng.choice(self.num_clients, size=m, replace=False).tolist())
        global_state = self._global_state()
        updates, weights, losses = self._train_clients(chosen, rnd, global_state)
        combine = self.server_hook or weighted_average
        step = combine(updates, weights)
        self.model.load_state_dict(
            {k: global_state[k] + step[k] for k in global_state}, strict=False
        )
        accuracy, test_loss = evaluate(self.model, self.test_data)
        return {
            "round": rnd,
            "clients": len(chosen),
            "train_loss": float(np.average(losses, weights=weights)),
            "test_loss": test_loss,
            "test_accuracy": accuracy,
            "seconds": time.perf_counter() - start,
        }

    def run(self) -> pd.DataFrame:
        """Run all rounds; return (and keep as ``self.history``) one row of metrics per round."""
        rows = []
        bar = tqdm(
            range(1, self.rounds + 1), desc="FedAvg rounds", disable=not self.progress, leave=False
        )
        for rnd in bar:
            rows.append(self.run_round(rnd))
            bar.set_postfix(accuracy=f"{rows[-1]['test_accuracy']:.3f}")
        self.history = pd.DataFrame(rows)
        return self.history
