"""Tests for DLG and iDLG on tiny cases."""

import pytest
import torch

from fl_course.attacks import DLG, IDLG, client_gradient
from fl_course.metrics import psnr
from fl_course.models import LeNetZhu


def _smooth_image(seed):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, 7, 7, generator=g)
    return torch.nn.functional.interpolate(
        coarse, size=(28, 28), mode="bilinear", align_corners=False
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_idlg_recovers_an_image_and_its_label(seed):
    model = LeNetZhu(seed=seed)
    x, y = _smooth_image(seed), torch.tensor([seed + 3])
    result = IDLG(iterations=15, init="rand", progress=False).reconstruct(
        model, client_gradient(model, x, y), ground_truth=x
    )
    assert result.labels.tolist() == [seed + 3]
    assert psnr(x, result.images) > 30
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]
    assert result.history["psnr"].notna().any()


def test_dlg_optimises_the_label_jointly():
    model = LeNetZhu(seed=0)
    x, y = _smooth_image(2), torch.tensor([5])
    result = DLG(iterations=15, init="rand", progress=False).reconstruct(
        model, client_gradient(model, x, y)
    )
    assert result.images.shape == (1, 1, 28, 28)
    assert result.labels.shape == (1,)
    assert 0 <= result.images.min() and result.images.max() <= 1
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]


def test_same_seed_same_reconstruction():
    model = LeNetZhu(seed=0)
    x, y = _smooth_image(0), torch.tensor([1])
    update = client_gradient(model, x, y)
    a = IDLG(iterations=3, seed=4, progress=False).reconstruct(model, update)
    b = IDLG(iterations=3, seed=4, progress=False).reconstruct(model, update)
    assert torch.equal(a.images, b.images)


@pytest.mark.parametrize(
    "kwargs",
    [{"iterations": 0}, {"lr": -1.0}, {"init": "zeros"}, {"restarts": 0}, {"lbfgs_max_iter": 0}],
)
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        DLG(**kwargs)
