"""Tests for Inverting Gradients and its FedAvg (unrolled) variant on tiny cases."""

import pytest
import torch

from fl_course.attacks import (
    FedAvgInvertingGradients,
    InvertingGradients,
    UpdateMatchingAttack,
    client_fedavg_update,
    client_gradient,
    cosine_distance,
    total_variation,
)
from fl_course.metrics import psnr
from fl_course.models import ConvNet


def _smooth_images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, 7, 7, generator=g)
    return torch.nn.functional.interpolate(
        coarse, size=(28, 28), mode="bilinear", align_corners=False
    )


def test_inverting_gradients_recovers_one_image():
    model = ConvNet(width=16, seed=0)  # 120 steps suffice at this width; narrower nets need more
    x, y = _smooth_images(1), torch.tensor([4])
    attack = InvertingGradients(iterations=120, init="rand", progress=False)
    result = attack.reconstruct(model, client_gradient(model, x, y), ground_truth=x)
    assert psnr(x, result.images) > 25
    assert result.labels.tolist() == [4]  # inferred from the last layer


def test_restarts_keep_the_best_score():
    model = ConvNet(width=4, seed=0)
    x, y = _smooth_images(1), torch.tensor([1])
    result = InvertingGradients(iterations=5, restarts=3, progress=False).reconstruct(
        model, client_gradient(model, x, y), labels=y
    )
    assert len(result.info["restart_scores"]) == 3
    assert result.info["final_score"] == min(result.info["restart_scores"])
    assert set(result.history["restart"]) == {0, 1, 2}


def test_fedavg_unrolled_recovers_from_a_multi_step_delta():
    model = ConvNet(width=16, seed=1)
    x, y = _smooth_images(1, seed=3), torch.tensor([7])
    update = client_fedavg_update(model, x, y, lr=0.1, local_epochs=3)
    attack = FedAvgInvertingGradients(iterations=120, init="rand", progress=False)
    assert attack.verify(model, x, y, update) < 1e-5
    result = attack.reconstruct(model, update, labels=y)
    assert psnr(x, result.images) > 20


def test_fedavg_variant_refuses_a_gradient():
    model = ConvNet(width=4, seed=0)
    x, y = _smooth_images(1), torch.tensor([0])
    with pytest.raises(ValueError, match="weight delta"):
        FedAvgInvertingGradients(iterations=1, progress=False).reconstruct(
            model, client_gradient(model, x, y)
        )


def test_cosine_distance_and_tv_known_values():
    a = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])]
    assert float(cosine_distance(a, [2 * t for t in a])) == pytest.approx(0.0, abs=1e-7)
    assert float(cosine_distance(a, [-t for t in a])) == pytest.approx(2.0)
    img = torch.zeros(1, 1, 2, 2)
    img[0, 0, 0, 1] = 1.0
    assert float(total_variation(img)) == pytest.approx(0.5 + 0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"distance": "l1", "optimizer": "adam", "iterations": 1, "lr": 0.1},
        {"distance": "cosine", "optimizer": "sgd", "iterations": 1, "lr": 0.1},
        {"distance": "cosine", "optimizer": "lbfgs", "iterations": 1, "lr": 0.1, "signed": True},
        {"distance": "cosine", "optimizer": "adam", "iterations": 1, "lr": 0.1, "tv": -1.0},
        {"distance": "cosine", "optimizer": "adam", "iterations": 1, "lr": 0.1, "labels": "guess"},
    ],
)
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        UpdateMatchingAttack(**kwargs)
