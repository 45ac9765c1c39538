"""Tests for label inference (iDLG rule and count heuristic)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.attacks import (
    client_fedavg_update,
    client_gradient,
    count_labels,
    idlg_label,
    infer_labels,
)
from fl_course.attacks.labels import last_layer_names
from fl_course.models import MLP, ConvNet, LeNetZhu, ResNetSmall


@pytest.mark.parametrize(
    "factory",
    [
        lambda: LeNetZhu(seed=0),
        lambda: ConvNet(width=4, seed=0),
        lambda: ResNetSmall(width=4, seed=0).eval(),
        lambda: MLP(hidden=(16,), seed=0),
    ],
)
def test_idlg_rule_is_exact_for_single_images(factory):
    model = factory()
    g = torch.Generator().manual_seed(0)
    for k in range(20):
        x, y = torch.rand(1, 1, 28, 28, generator=g), torch.tensor([k % 10])
        assert infer_labels(model, client_gradient(model, x, y)).tolist() == [k % 10]


def test_idlg_rule_on_a_fedavg_delta():
    model = LeNetZhu(seed=1)
    x, y = torch.rand(1, 1, 28, 28), torch.tensor([6])
    update = client_fedavg_update(model, x, y, lr=0.1, local_epochs=3)
    assert infer_labels(model, update).tolist() == [6]


def test_count_heuristic_on_an_untrained_batch():
    model = ConvNet(width=4, seed=0)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 1, 28, 28, generator=g), torch.tensor([0, 0, 1, 3, 3, 3, 7, 9])
    got = infer_labels(model, client_gradient(model, x, y))
    assert len(got) == 8
    assert (got == torch.sort(y).values).float().mean() >= 0.75


def test_known_values():
    assert idlg_label(torch.tensor([[1.0, 1.0], [0.5, -3.0]])) == 1
    assert count_labels(torch.tensor([-0.5, 0.25, 0.25]), 2).tolist() == [0, 0]
    assert count_labels(torch.tensor([-0.25, -0.25, 0.5]), 2).tolist() == [0, 1]
    assert last_layer_names(LeNetZhu(seed=0)) == ("fc.weight", "fc.bias")


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(-1, 1), min_size=2, max_size=12), n=st.integers(1, 16))
def test_count_labels_properties(values, n):
    labels = count_labels(torch.tensor(values), n)
    assert len(labels) == n
    assert labels.min() >= 0 and labels.max() < len(values)
    assert torch.equal(labels, torch.sort(labels).values)


@pytest.mark.parametrize(
    "call",
    [
        lambda: idlg_label(torch.zeros(3)),
        lambda: count_labels(torch.zeros(2, 2), 1),
        lambda: count_labels(torch.zeros(3), 0),
        lambda: last_layer_names(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3))),
    ],
)
def test_bad_inputs(call):
    with pytest.raises(ValueError):
        call()
