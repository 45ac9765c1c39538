import math

import pytest
import torch

from fl_course.defenses import GaussianNoise, LaplaceNoise


def test_gaussian_noise_has_the_requested_std():
    out = GaussianNoise(sigma=0.05, seed=1)({"w": torch.zeros(200_000)})["w"]
    assert abs(float(out.std()) - 0.05) < 1e-3
    assert abs(float(out.mean())) < 1e-3


def test_laplace_noise_has_the_requested_scale():
    out = LaplaceNoise(scale=0.05, seed=1)({"w": torch.zeros(200_000)})["w"].double()
    assert abs(float(out.abs().mean()) - 0.05) < 1e-3  # E|X| = b
    assert abs(float(out.std()) - 0.05 * math.sqrt(2)) < 2e-3


def test_clipping_bounds_the_norm_before_noise():
    with pytest.warns(UserWarning):
        dp = GaussianNoise(sigma=1e-9, clip_norm=1.0, seed=0)
    out = dp({"a": torch.full((10,), 10.0), "b": torch.full((5,), -10.0)})
    norm = torch.cat([out["a"], out["b"]]).norm()
    assert abs(float(norm) - 1.0) < 1e-5


def test_epsilon_of_the_gaussian_mechanism():
    dp = GaussianNoise(sigma=2.0, clip_norm=1.0)
    assert dp.epsilon(1e-5) == pytest.approx(math.sqrt(2 * math.log(1.25e5)) / 2.0)
    with pytest.raises(ValueError, match="clip_norm"):
        GaussianNoise().epsilon()
    with pytest.raises(ValueError, match="delta"):
        dp.epsilon(0.0)


@pytest.mark.parametrize("cls", [GaussianNoise, LaplaceNoise])
@pytest.mark.parametrize("scale", [0, -1, float("inf")])
def test_bad_scale_raises(cls, scale):
    with pytest.raises(ValueError, match="scale"):
        cls(scale)


@pytest.mark.parametrize("cls", [GaussianNoise, LaplaceNoise])
def test_tiny_noise_warns(cls):
    with pytest.warns(UserWarning, match="little protection"):
        cls(1e-5)


def test_integer_buffers_pass_through():
    update = {"w": torch.zeros(3), "num_batches_tracked": torch.tensor(4)}
    out = GaussianNoise(seed=0)(update)
    assert torch.equal(out["num_batches_tracked"], update["num_batches_tracked"])
