"""Tests for fl_course.experiments.attacks: evaluating attacks and chapter 4's experiment setup."""

import pandas as pd
import pytest
import torch
from torch import nn

from fl_course.attacks import IDLG, InvertingGradients, ObservedUpdate
from fl_course.experiments.attacks import (
    best_trivial_guess,
    distinct_label_clients,
    euclid_lbfgs,
    evaluate_attack,
    held_out_loss_ratio,
    inverting_gradients,
    label_accuracy,
    paired_gap,
    published_gap,
    summarize,
    train_and_score,
)
from fl_course.models import LeNetZhu


def test_paired_gap_and_trivial_guess():
    a = pd.DataFrame({"client": [0, 1, 2], "psnr": [20.0, 30.0, float("inf")]})
    b = pd.DataFrame({"client": [0, 1, 2], "psnr": [10.0, 32.0, 40.0]})
    gap = paired_gap(a, b)
    assert gap["n"] == 3 and gap["gap"] == pytest.approx(
        (10 - 2 + 60) / 3, abs=0.01
    )  # inf capped at 100
    with pytest.raises(ValueError, match="different clients"):
        paired_gap(a, b.assign(client=[0, 1, 3]))
    x = torch.zeros(2, 1, 28, 28)
    best = best_trivial_guess(x, torch.zeros(1, 28, 28), seed=0)
    assert (
        best["guess"] in ("all-black", "mean image") and best["psnr"] > 90
    )  # a black digit is guessed exactly


@pytest.mark.parametrize(
    "predicted,true,accuracy",
    [([1, 2, 3], [3, 2, 1], 1.0), ([2, 3], [1, 2], 0.5), ([7, 7, 7, 7], [7, 7, 1, 2], 0.5)],
)
def test_label_accuracy_compares_multisets(predicted, true, accuracy):
    assert label_accuracy(torch.tensor(predicted), torch.tensor(true)) == accuracy


def test_label_accuracy_needs_labels():
    with pytest.raises(ValueError, match="no labels"):
        label_accuracy(torch.tensor([1]), torch.tensor([], dtype=torch.long))


def test_evaluate_attack_tabulates_one_row_per_client():
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    table = evaluate_attack(
        IDLG(iterations=2, progress=False), LeNetZhu(seed=0), x, y, batch_size=2
    )
    assert list(table["client"]) == [0, 1] and (table["labels_correct"] == 1.0).all()
    assert summarize(table)["images"] == 2
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_attack(IDLG(iterations=1, progress=False), LeNetZhu(seed=0), x, y, batch_size=0)


def test_published_gap_and_its_standard_error():
    gap, stderr = published_gap((18.0, 3.0), (10.0, 4.0), images=100)
    assert gap == pytest.approx(8.0) and stderr == pytest.approx(0.5)
    with pytest.raises(ValueError, match="images"):
        published_gap((1.0, 1.0), (0.0, 1.0), images=0)


def test_table1_attacks_are_configured_as_in_the_lab():
    euclid = euclid_lbfgs(iterations=3, restarts=2, seed=1)
    ig = inverting_gradients(1e-2, iterations=4, restarts=1, seed=1)
    assert isinstance(euclid, IDLG) and isinstance(ig, InvertingGradients)
    assert (euclid.iterations, euclid.restarts, euclid.init) == (3, 2, "rand")
    assert (ig.iterations, ig.tv, ig.init) == (4, 1e-2, "rand")


def test_train_and_score_trains_in_place():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(40) % 2
    x = 0.1 * torch.rand(40, 1, 28, 28, generator=g) + (2 * y - 1).view(-1, 1, 1, 1).float()
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    before = net[1].weight.detach().clone()
    accuracy, seconds = train_and_score(net, (x, y), (x, y), epochs=2, seed=0)
    assert accuracy == 1.0 and seconds > 0 and not torch.equal(before, net[1].weight)


def test_held_out_loss_ratio_is_one_for_no_update_and_leaves_the_model():
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1])
    zero = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    assert held_out_loss_ratio(net, ObservedUpdate.delta(zero, num_images=1, lr=0.1), (x, y)) == 1
    big = {n: 100 * torch.randn_like(p) for n, p in net.named_parameters()}
    before = [p.detach().clone() for p in net.parameters()]
    assert held_out_loss_ratio(net, ObservedUpdate.delta(big, num_images=1, lr=0.1), (x, y)) > 1
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_distinct_label_clients_never_repeat_a_label_or_an_image():
    labels = torch.tensor([3, 3, 1, 2, 1, 0, 2, 3])
    clients = distinct_label_clients(labels, 3, 2)
    assert [c.tolist() for c in clients] == [[0, 2, 3], [1, 4, 5]]
    for c in clients:
        assert len(set(labels[c].tolist())) == len(c)
