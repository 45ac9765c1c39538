"""Partitioners that split one labelled data set across the clients of horizontal FL.

One small class per idea, in the spirit of Flower Datasets' partitioners: every setting,
the seed included, goes into the constructor, and :meth:`Partitioner.split` turns a label
vector into one index array per client. Partitions are disjoint; the same seed gives the
same partitions.

- :class:`IidPartitioner`: shuffle and cut into equal parts (McMahan et al. 2017's IID case).
- :class:`SizePartitioner`: explicit client sizes, e.g. PriDe's 1,200 / 30,000 / ... samples,
  optionally scaled down to a smaller data set (quantity skew).
- :class:`FractionPartitioner`: explicit fractions such as 25 % / 25 % / 50 % (quantity skew).
- :class:`ClassPartitioner`: each client holds ``k`` classes (label skew; McMahan et al.'s
  pathological non-IID split uses ``k = 2``).
- :class:`DirichletPartitioner`: class proportions drawn from Dir(α) per class (label skew,
  Hsu et al. 2019 / Yurochkin et al. 2019); small α is more skewed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from fl_course.checks import Configurable, check_int, check_number, check_seed

__all__ = [
    "Partitioner",
    "IidPartitioner",
    "SizePartitioner",
    "FractionPartitioner",
    "ClassPartitioner",
    "DirichletPartitioner",
]


def _as_labels(labels) -> np.ndarray:
    array = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError("labels must be a one-dimensional array of integer class labels.")
    return array


class Partitioner(Configurable, ABC):
    """Base class: split labels into ``num_partitions`` disjoint index arrays.

    A subclass validates its settings and hands them to ``super().__init__``, which
    records them once (:meth:`fl_course.checks.Configurable.save_settings`; they print in
    ``repr``). ``num_partitions`` is either one of them or a property derived from them.

    Parameters
    ----------
    seed : int
        Seed of the random generator; the same seed gives the same partitions.
    **validated
        The subclass's validated settings.
    """

    #: How many clients the data is split across.
    num_partitions: int

    def __init__(self, *, seed: int = 42, **validated) -> None:
        self.save_settings(seed=check_seed(seed), **validated)

    def split(self, labels) -> list[np.ndarray]:
        """Return one sorted array of sample indices per client.

        Parameters
        ----------
        labels : array-like of int, shape (n,)
            Class label of every sample (a NumPy array or a torch tensor).
        """
        labels = _as_labels(labels)
        rng = np.random.default_rng(self.seed)
        return [np.sort(part) for part in self._split(labels, rng)]

    @abstractmethod
    def _split(self, labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]: ...


class IidPartitioner(Partitioner):
    """Shuffle the samples and cut them into parts of (almost) equal size.

    Examples
    --------
    >>> parts = IidPartitioner(3, seed=0).split(np.arange(10) % 2)
    >>> [len(p) for p in parts]
    [4, 3, 3]
    """

    def __init__(self, num_partitions: int, *, seed: int = 42) -> None:
        super().__init__(seed=seed, num_partitions=check_int("num_partitions", num_partitions))

    def _split(self, labels, rng):
        if len(labels) < self.num_partitions:
            raise ValueError(
                f"Cannot give {self.num_partitions} clients at least one of {len(labels)} "
                "samples; use fewer partitions."
            )
        return np.array_split(rng.permutation(len(labels)), self.num_partitions)


class SizePartitioner(Partitioner):
    """Give client ``k`` exactly ``sizes[k]`` random samples (quantity skew).

    Parameters
    ----------
    sizes : sequence of int
        Samples per client, e.g. PriDe's ``[1200, 30000, 3000, 1200, 12000, 300]``.
    scale_to : int, optional
        Size of the data actually available. When given, every size is multiplied by
        ``scale_to / reference_total`` (rounded down, at least 1), so the clients keep their
        proportions on a smaller data set.
    reference_total : int, optional
        Size of the data set ``sizes`` were written for (PriDe: 60,000 MNIST images).
        Defaults to ``sum(sizes)``.
    seed : int
        Seed of the random generator.

    Examples
    --------
    >>> p = SizePartitioner([1200, 30000, 3000], scale_to=6000, reference_total=60000)
    >>> p.sizes
    [120, 3000, 300]
    """

    # the sizes are recorded scaled, so the repr rebuilds the same partitioner without these
    _unprinted_settings = ("scale_to", "reference_total")

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        scale_to: int | None = None,
        reference_total: int | None = None,
        seed: int = 42,
    ) -> None:
        sizes = [check_int("every size", s, example=100) for s in sizes]
        if not sizes:
            raise ValueError("sizes must name at least one client size, e.g. sizes=[100, 200].")
        if scale_to is not None:
            total = (
                sum(sizes)
                if reference_total is None
                else check_int("reference_total", reference_total, example=60000)
            )
            if sum(sizes) > total:
                raise ValueError(
                    f"The sizes add up to {sum(sizes)}, more than reference_total={total}."
                )
            factor = check_int("scale_to", scale_to, example=6000) / total
            sizes = [max(1, int(s * factor)) for s in sizes]
        super().__init__(seed=seed, sizes=sizes)

    @property
    def num_partitions(self) -> int:
        return len(self.sizes)

    def _split(self, labels, rng):
        if sum(self.sizes) > len(labels):
            raise ValueError(
                f"The client sizes add up to {sum(self.sizes)} but there are only "
                f"{len(labels)} samples; pass scale_to={len(labels)} to scale them down."
            )
        order = rng.permutation(len(labels))
        return np.split(order[: sum(self.sizes)], np.cumsum(self.sizes)[:-1])


class FractionPartitioner(Partitioner):
    """Split all samples at random so client ``k`` holds ``fractions[k]`` of them.

    Parameters
    ----------
    fractions : sequence of float
        Positive shares that sum to 1, e.g. ``[0.25, 0.25, 0.5]``.
    seed : int
        Seed of the random generator.
    """

    def __init__(self, fractions: Sequence[float], *, seed: int = 42) -> None:
        fractions = [float(f) for f in fractions]
        if not fractions or min(fractions) <= 0:
            raise ValueError(
                "fractions must be a non-empty list of positive numbers, e.g. [0.25, 0.25, 0.5]."
            )
        if abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(f"fractions must sum to 1, but they sum to {sum(fractions):.6g}.")
        super().__init__(seed=seed, fractions=fractions)

    @property
    def num_partitions(self) -> int:
        return len(self.fractions)

    def _split(self, labels, rng):
        n = len(labels)
        exact = np.array(self.fractions) * n
        sizes = np.floor(exact).astype(int)
        # hand the samples lost to rounding to the largest remainders
        sizes[np.argsort(sizes - exact)[: n - sizes.sum()]] += 1
        if sizes.min() < 1:
            raise ValueError(f"{n} samples are too few for fractions {self.fractions}.")
        return np.split(rng.permutation(n), np.cumsum(sizes)[:-1])


class ClassPartitioner(Partitioner):
    """Label skew: every client holds samples of exactly ``classes_per_partition`` classes.

    The classes are dealt out in a seeded random order, client ``i`` taking the next
    ``classes_per_partition`` classes of a cyclic list, so the classes are spread as evenly
    as possible; each class's samples are divided equally among the clients that hold it.
    Classes no client is dealt (when ``num_partitions * classes_per_partition`` is smaller
    than the number of classes) stay unused.

    Parameters
    ----------
    num_partitions : int
        Number of clients.
    classes_per_partition : int
        Distinct classes per client (McMahan et al. 2017's pathological split: 2).
    seed : int
        Seed of the random generator.
    """

    def __init__(self, num_partitions: int, classes_per_partition: int, *, seed: int = 42) -> None:
        super().__init__(
            seed=seed,
            num_partitions=check_int("num_partitions", num_partitions),
            classes_per_partition=check_int(
                "classes_per_partition", classes_per_partition, example=2
            ),
        )

    def _split(self, labels, rng):
        classes = np.unique(labels)
        k = self.classes_per_partition
        if k > len(classes):
            raise ValueError(
                f"classes_per_partition={k} but the labels hold only {len(classes)} classes."
            )
        order = rng.permutation(classes)
        dealt = [order[(np.arange(k) + i * k) % len(classes)] for i in range(self.num_partitions)]
        holders = {c: [i for i, cs in enumerate(dealt) if c in cs] for c in classes}
        parts: list[list[np.ndarray]] = [[] for _ in range(self.num_partitions)]
        for c, owners in holders.items():
            if not owners:
                continue
            pieces = np.array_split(rng.permutation(np.flatnonzero(labels == c)), len(owners))
            for owner, piece in zip(owners, pieces):
                parts[owner].append(piece)
        return [np.concatenate(p) for p in parts]


class DirichletPartitioner(Partitioner):
    """Label skew: the share of class ``c`` each client gets is drawn from Dir(α).

    Parameters
    ----------
    num_partitions : int
        Number of clients.
    alpha : float
        Concentration, > 0. Large α (100) is close to IID; small α (0.1) gives most
        clients a few classes only.
    min_partition_size : int
        Redraw (up to 100 times) until every client holds at least this many samples.
    seed : int
        Seed of the random generator.

    References
    ----------
    Hsu, Qi and Brown (2019), "Measuring the Effects of Non-Identical Data Distribution
    for Federated Visual Classification", arXiv:1909.06335.
    """

    def __init__(
        self, num_partitions: int, alpha: float, *, min_partition_size: int = 1, seed: int = 42
    ) -> None:
        super().__init__(
            seed=seed,
            num_partitions=check_int("num_partitions", num_partitions),
            alpha=check_number("alpha", alpha, positive=True, example=0.5),
            min_partition_size=check_int("min_partition_size", min_partition_size, minimum=0),
        )

    def _split(self, labels, rng):
        num = self.num_partitions
        if num * self.min_partition_size > len(labels):
            raise ValueError(
                f"{len(labels)} samples cannot give {num} clients "
                f"{self.min_partition_size} each; lower min_partition_size."
            )
        for _ in range(100):
            parts: list[list[np.ndarray]] = [[] for _ in range(num)]
            for c in np.unique(labels):
                idx = rng.permutation(np.flatnonzero(labels == c))
                shares = rng.dirichlet(np.full(num, self.alpha))
                cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
                for client, piece in enumerate(np.split(idx, cuts)):
                    parts[client].append(piece)
            result = [np.concatenate(p) for p in parts]
            if min(len(p) for p in result) >= self.min_partition_size:
                return result
        raise ValueError(
            f"After 100 draws some client still held fewer than {self.min_partition_size} "
            f"samples with alpha={self.alpha}; raise alpha or lower min_partition_size."
        )


class ClassSharePartitioner(Partitioner):
    """Label skew with the sizes held fixed: client ``k`` gets ``shares[c][k]`` of class ``c``.

    Unlike :class:`DirichletPartitioner`, the skew is set by hand, so a label-skewed split can
    keep the same client sizes as a quantity split and only the label mix changes. Use
    :meth:`with_sizes` to derive the other class's shares from the client sizes.

    Parameters
    ----------
    shares : mapping of class -> sequence of float
        For every class, positive or zero shares per client summing to 1.
    seed : int
        Seed of the random generator.

    Examples
    --------
    >>> labels = np.array([0] * 20 + [1] * 80)
    >>> part = ClassSharePartitioner.with_sizes(labels, sizes=[0.25, 0.5, 0.25],
    ...                                         minority=0, minority_shares=[0.8, 0.1, 0.1])
    >>> parts = part.split(labels)
    >>> [len(p) for p in parts], [int((labels[p] == 0).sum()) for p in parts]
    ([25, 50, 25], [16, 2, 2])
    """

    def __init__(self, shares, *, seed: int = 42) -> None:
        if not shares:
            raise ValueError(
                "shares must map every class to its shares per client, "
                "e.g. {0: [.8, .2], 1: [.4, .6]}."
            )
        lengths = {len(s) for s in shares.values()}
        if len(lengths) != 1:
            raise ValueError(
                f"Every class needs one share per client; got lengths {sorted(lengths)}."
            )
        for c, s in shares.items():
            s = np.asarray(s, dtype=float)
            if (s < 0).any() or abs(s.sum() - 1.0) > 1e-6:
                raise ValueError(
                    f"The shares of class {c} must be >= 0 and sum to 1, got {list(s)}."
                )
        super().__init__(
            seed=seed, shares={int(c): [float(x) for x in s] for c, s in shares.items()}
        )

    @classmethod
    def with_sizes(
        cls, labels, *, sizes, minority, minority_shares, seed: int = 42
    ) -> "ClassSharePartitioner":
        """Binary labels: client sizes ``sizes``, each with its ``minority_shares`` of the minority.

        The majority class's shares follow from the sizes; a ValueError says when the sizes
        and minority shares cannot both hold.
        """
        labels = _as_labels(labels)
        classes = np.unique(labels)
        if len(classes) != 2 or minority not in classes:
            raise ValueError(
                f"with_sizes needs two classes including {minority!r}; got {list(classes)}."
            )
        majority = int(classes[classes != minority][0])
        n, n_min = len(labels), int((labels == minority).sum())
        sizes, m = np.asarray(sizes, dtype=float), np.asarray(minority_shares, dtype=float)
        major = (sizes * n - m * n_min) / (n - n_min)
        if (major < 0).any():
            raise ValueError(f"Sizes {list(sizes)} are too small for minority shares {list(m)}.")
        return cls({minority: list(m), majority: list(major / major.sum())}, seed=seed)

    @property
    def num_partitions(self) -> int:
        return len(next(iter(self.shares.values())))

    def _split(self, labels, rng):
        missing = set(np.unique(labels).tolist()) - set(self.shares)
        if missing:
            raise ValueError(f"No shares given for class(es) {sorted(missing)}.")
        parts: list[list[np.ndarray]] = [[] for _ in range(self.num_partitions)]
        for c, shares in self.shares.items():
            idx = rng.permutation(np.flatnonzero(labels == c))
            exact = np.array(shares) * len(idx)
            sizes = np.floor(exact).astype(int)
            sizes[np.argsort(sizes - exact)[: len(idx) - sizes.sum()]] += 1
            for client, piece in enumerate(np.split(idx, np.cumsum(sizes)[:-1])):
                parts[client].append(piece)
        return [np.concatenate(p) for p in parts]


__all__.append("ClassSharePartitioner")
