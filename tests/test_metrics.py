"""Tests for fl_course.metrics against values computed by hand."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.metrics import mse, psnr, psnr_cafe, ssim


def test_mse_known_value():
    a = torch.zeros(2, 1, 4, 4)
    b = torch.cat([torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.1)])
    assert mse(a, b) == pytest.approx((0.25 + 0.01) / 2)
    assert torch.allclose(mse(a, b, reduction="none"), torch.tensor([0.25, 0.01]))


@pytest.mark.parametrize("offset,expected", [(0.1, 20.0), (0.01, 40.0), (0.5, 10 * math.log10(4))])
def test_psnr_known_values(offset, expected):
    a = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    assert psnr(a, a + offset) == pytest.approx(expected, abs=1e-9)


def test_psnr_is_per_image_then_mean():
    a = torch.zeros(2, 1, 2, 2)
    b = torch.stack([torch.full((1, 2, 2), 0.1), torch.full((1, 2, 2), 0.01)])
    assert psnr(a, b) == pytest.approx(30.0)  # mean of 20 and 40, not PSNR of the pooled MSE
    assert psnr(a[0], b[0]) == pytest.approx(20.0)  # a single [C, H, W] image


def test_psnr_identical_is_inf():
    x = torch.rand(1, 1, 5, 5)
    assert math.isinf(psnr(x, x))


def test_psnr_cafe_uses_channel_maximum():
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0] = 0.5  # channel 0 peak 0.5
    a[0, 1, 0, 0] = 1.0  # channel 1 peak 1.0
    b = a.clone()
    b[0, 0] += 0.05  # channel-0 MSE 0.0025
    b[0, 1, 1, 1] = 0.2  # channel-1 MSE 0.04 / 4 = 0.01
    ch0 = 20 * math.log10(0.5) - 10 * math.log10(0.0025)
    ch1 = 20 * math.log10(1.0) - 10 * math.log10(0.01)
    assert psnr_cafe(a, b) == pytest.approx((ch0 + ch1) / 2)


def test_psnr_cafe_clips_reconstruction_and_matches_psnr_when_peak_is_one():
    a = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    a[:, :, 0, 0] = 1.0
    b = a + 0.3 * torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    assert psnr_cafe(a, b) == pytest.approx(psnr(a, b.clamp(0, 1)))
    assert psnr_cafe(a, b, clip=False) == pytest.approx(psnr(a, b))


def test_psnr_cafe_rejects_black_channel():
    with pytest.raises(ValueError, match="positive maximum"):
        psnr_cafe(torch.zeros(1, 1, 3, 3), torch.ones(1, 1, 3, 3))


def test_ssim_constant_images_closed_form():
    # For constant images the variances vanish and SSIM is the luminance term only.
    a = torch.full((1, 1, 16, 16), 0.2)
    b = torch.full((1, 1, 16, 16), 0.6)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert ssim(a, b) == pytest.approx(expected, rel=1e-6)


def test_ssim_identical_and_negated_structure():
    x = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, 1 - x) < 0  # anti-correlated structure


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), noise=st.floats(0.01, 0.5))
def test_properties_symmetry_and_bounds(seed, noise):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 1, 12, 12, generator=g)
    b = (a + noise * torch.randn(2, 1, 12, 12, generator=g)).clamp(0, 1)
    assert mse(a, b) == pytest.approx(mse(b, a))
    assert psnr(a, b) == pytest.approx(psnr(b, a))
    assert -1.0 <= ssim(a, b, window_size=7) <= 1.0 + 1e-9
    assert psnr(a, b) > 0


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: psnr(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5)), ValueError),
        (lambda: psnr(torch.zeros(4, 4), torch.zeros(4, 4)), ValueError),
        (lambda: psnr([0.0], torch.zeros(1)), TypeError),
        (lambda: psnr(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), data_range=0), ValueError),
        (lambda: mse(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), reduction="sum"), ValueError),
        (lambda: ssim(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)), ValueError),
        (
            lambda: ssim(torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16), window_size=4),
            ValueError,
        ),
    ],
)
def test_bad_input(call, error):
    with pytest.raises(error):
        call()
