"""Tests for fl_course.models: shapes, seeded determinism, input validation."""

import pytest
import torch

from fl_course.models import (
    MLP,
    ConvNet,
    LeNetZhu,
    LogisticRegression,
    PooledConvNet,
    ResNetSmall,
    SmallCNN,
)

ALL = [LogisticRegression, MLP, SmallCNN, LeNetZhu, ConvNet, PooledConvNet, ResNetSmall]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("num_classes", [2, 10])
def test_output_shape(cls, num_classes):
    model = cls(num_classes=num_classes, seed=0).eval()
    out = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cls", [SmallCNN, LeNetZhu, ConvNet, PooledConvNet, ResNetSmall])
def test_three_channels(cls):
    model = cls(in_channels=3, seed=0).eval()
    assert model(torch.rand(2, 3, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("cls", ALL)
def test_same_seed_same_weights_and_global_rng_untouched(cls):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = cls(seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after), "building a model must not consume the global RNG"
    b = cls(seed=7)
    c = cls(seed=8)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_lenet_zhu_init_range_and_sigmoid():
    model = LeNetZhu(seed=0)
    for p in model.parameters():
        assert p.min() >= -0.5 and p.max() <= 0.5
    assert any(isinstance(m, torch.nn.Sigmoid) for m in model.modules())
    assert model.fc.in_features == 12 * 7 * 7


@pytest.mark.parametrize("width", [4, 8])
def test_convnet_width_scales_channels(width):
    model = ConvNet(width=width, seed=0)
    assert model.features[0].out_channels == width
    assert model.fc.in_features == 4 * width * 49


@pytest.mark.parametrize("width", [4, 16])
def test_pooled_convnet_last_layer_sees_fewer_features_than_pixels(width):
    model = PooledConvNet(width=width, seed=0)
    assert model.fc.in_features == 36 * width  # the authors' Linear(36 * width, ...)
    assert model.fc.in_features < 28 * 28  # fewer features than pixels, unlike ConvNet's 4w*49
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())


def test_mlp_first_layer_is_biased_linear():
    model = MLP(hidden=(16,), seed=0)
    assert isinstance(model.layers[0], torch.nn.Linear) and model.layers[0].bias is not None


@pytest.mark.parametrize(
    "factory",
    [
        lambda: SmallCNN(num_classes=0),
        lambda: LeNetZhu(in_channels=-1),
        lambda: ConvNet(width=0),
        lambda: ResNetSmall(seed=-1),
        lambda: MLP(activation="tanh"),
        lambda: MLP(hidden=(0,)),
        lambda: LogisticRegression(in_features=0),
        lambda: LeNetZhu(seed=1.5),
    ],
)
def test_bad_constructor_arguments(factory):
    with pytest.raises(ValueError):
        factory()


@pytest.mark.parametrize("cls", [SmallCNN, LeNetZhu, ConvNet, PooledConvNet, ResNetSmall])
def test_bad_input_shape(cls):
    with pytest.raises(ValueError, match="expects inputs of shape"):
        cls(seed=0)(torch.rand(2, 1, 32, 32))


@pytest.mark.parametrize("cls", [LogisticRegression, MLP])
def test_bad_feature_count(cls):
    with pytest.raises(ValueError, match="features per example"):
        cls(seed=0)(torch.rand(2, 1, 10, 10))
