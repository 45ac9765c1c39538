import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.partition import (
    ClassPartitioner,
    DirichletPartitioner,
    FractionPartitioner,
    IidPartitioner,
    SizePartitioner,
)

LABELS = np.repeat(np.arange(10), 50)


def _check_disjoint(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined))
    assert joined.min() >= 0 and joined.max() < n


@pytest.mark.parametrize(
    "partitioner",
    [
        IidPartitioner(7),
        SizePartitioner([10, 200, 30]),
        FractionPartitioner([0.25, 0.25, 0.5]),
        ClassPartitioner(10, 2),
        DirichletPartitioner(5, 0.5),
    ],
)
def test_partitions_are_disjoint_seeded_and_accept_tensors(partitioner):
    parts = partitioner.split(LABELS)
    assert len(parts) == partitioner.num_partitions
    _check_disjoint(parts, len(LABELS))
    again = partitioner.split(torch.as_tensor(LABELS))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_different_seeds_differ():
    a = IidPartitioner(2, seed=1).split(LABELS)
    b = IidPartitioner(2, seed=2).split(LABELS)
    assert not np.array_equal(a[0], b[0])


def test_pride_sizes_scale_to_smaller_data():
    pride = [1200, 30000, 3000, 1200, 12000, 300]
    p = SizePartitioner(pride, scale_to=8000, reference_total=60000)
    assert p.sizes == [160, 4000, 400, 160, 1600, 40]
    parts = p.split(np.zeros(8000, dtype=int))
    assert [len(x) for x in parts] == p.sizes


def test_class_partitioner_gives_k_classes_each():
    parts = ClassPartitioner(10, 2, seed=0).split(LABELS)
    assert all(len(np.unique(LABELS[p])) == 2 for p in parts)
    assert len(np.concatenate(parts)) == len(LABELS)


def test_dirichlet_small_alpha_is_more_skewed():
    def skew(alpha):
        parts = DirichletPartitioner(5, alpha, seed=0).split(LABELS)
        return np.mean([np.bincount(LABELS[p], minlength=10).max() / len(p) for p in parts])

    assert skew(0.1) > skew(100.0) + 0.2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: IidPartitioner(0), "positive integer"),
        (lambda: SizePartitioner([]), "at least one"),
        (lambda: SizePartitioner([5, -1]), "positive integer"),
        (
            lambda: SizePartitioner([10, 10], scale_to=5, reference_total=15),
            "more than reference_total",
        ),
        (lambda: FractionPartitioner([0.5, 0.4]), "sum to 1"),
        (lambda: FractionPartitioner([1.2, -0.2]), "positive"),
        (lambda: ClassPartitioner(3, 0), "positive integer"),
        (lambda: DirichletPartitioner(3, 0.0), "alpha must be positive"),
        (lambda: DirichletPartitioner(3, -1), "alpha must be positive"),
    ],
)
def test_impossible_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "partitioner, message",
    [
        (SizePartitioner([400, 200]), "scale_to=500"),
        (IidPartitioner(600), "fewer partitions"),
        (ClassPartitioner(3, 11), "only 10 classes"),
        (DirichletPartitioner(5, 0.5, min_partition_size=200), "lower min_partition_size"),
    ],
)
def test_requests_beyond_the_data_are_refused(partitioner, message):
    with pytest.raises(ValueError, match=message):
        partitioner.split(LABELS)


def test_labels_must_be_integers():
    with pytest.raises(ValueError, match="integer class labels"):
        IidPartitioner(2).split(np.array([0.5, 1.5]))


labels_strategy = st.lists(st.integers(0, 4), min_size=20, max_size=300).map(np.array)


@settings(max_examples=40, deadline=None)
@given(labels=labels_strategy, k=st.integers(1, 10), seed=st.integers(0, 2**31))
def test_iid_covers_everything_evenly(labels, k, seed):
    parts = IidPartitioner(min(k, len(labels)), seed=seed).split(labels)
    _check_disjoint(parts, len(labels))
    sizes = [len(p) for p in parts]
    assert sum(sizes) == len(labels) and max(sizes) - min(sizes) <= 1


@settings(max_examples=40, deadline=None)
@given(
    labels=labels_strategy,
    weights=st.lists(st.integers(1, 20), min_size=1, max_size=6),
    seed=st.integers(0, 2**31),
)
def test_fractions_cover_everything_in_proportion(labels, weights, seed):
    fractions = [w / sum(weights) for w in weights]
    if len(labels) < 2 * len(weights) * max(weights):
        return
    parts = FractionPartitioner(fractions, seed=seed).split(labels)
    _check_disjoint(parts, len(labels))
    assert sum(len(p) for p in parts) == len(labels)
    for part, fraction in zip(parts, fractions):
        assert abs(len(part) - fraction * len(labels)) < 1


@settings(max_examples=40, deadline=None)
@given(
    labels=labels_strategy,
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    seed=st.integers(0, 2**31),
)
def test_sizes_are_respected(labels, sizes, seed):
    partitioner = SizePartitioner(sizes, seed=seed)
    if sum(sizes) > len(labels):
        with pytest.raises(ValueError):
            partitioner.split(labels)
        return
    parts = partitioner.split(labels)
    _check_disjoint(parts, len(labels))
    assert [len(p) for p in parts] == sizes


@settings(max_examples=40, deadline=None)
@given(
    labels=labels_strategy,
    n=st.integers(1, 8),
    alpha=st.floats(0.05, 50),
    seed=st.integers(0, 2**31),
)
def test_dirichlet_covers_everything(labels, n, alpha, seed):
    parts = DirichletPartitioner(n, alpha, min_partition_size=0, seed=seed).split(labels)
    _check_disjoint(parts, len(labels))
    assert sum(len(p) for p in parts) == len(labels)


@settings(max_examples=40, deadline=None)
@given(labels=labels_strategy, n=st.integers(1, 8), k=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_class_partitions_hold_at_most_k_classes(labels, n, k, seed):
    classes = len(np.unique(labels))
    if k > classes:
        return
    parts = ClassPartitioner(n, k, seed=seed).split(labels)
    _check_disjoint(parts, len(labels))
    assert all(len(np.unique(labels[p])) <= k for p in parts)
    if n * k >= classes:  # every class is dealt to somebody
        assert sum(len(p) for p in parts) == len(labels)
