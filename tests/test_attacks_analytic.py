"""Tests for the analytic attack (Geiping et al. 2020, Prop. 3.1)."""

import pytest
import torch

from fl_course.attacks import (
    AnalyticAttack,
    client_fedavg_update,
    client_gradient,
    recover_linear_input,
)
from fl_course.models import MLP, LogisticRegression, train_model


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "factory",
    [
        lambda s: MLP(hidden=(32,), seed=s),
        lambda s: LogisticRegression(seed=s),
        lambda s: MLP(hidden=(64, 32), activation="sigmoid", seed=s),
    ],
)
def test_exact_recovery_of_one_image(seed, factory):
    model = factory(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(1, 1, 28, 28, generator=g), torch.tensor([seed])
    result = AnalyticAttack().reconstruct(model, client_gradient(model, x, y), ground_truth=x)
    assert (result.images - x).abs().max() <= 1e-4
    assert result.info["relative_residual"] < 1e-5
    assert result.history["psnr"].iloc[0] > 70


def test_trained_model_and_one_step_fedavg_delta():
    g = torch.Generator().manual_seed(0)
    data, labels = torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    model = train_model(MLP(hidden=(32,), seed=0), data, labels, epochs=1)
    x, y = data[:1], labels[:1]
    update = client_fedavg_update(model, x, y, lr=0.01)
    result = AnalyticAttack().reconstruct(model, update)
    assert (result.images - x).abs().max() <= 1e-3


def test_named_layer_and_features():
    model = MLP(hidden=(16, 8), seed=0)
    x, y = torch.rand(1, 1, 28, 28), torch.tensor([1])
    update = client_gradient(model, x, y)
    hidden = torch.relu(model.layers[0](x.flatten(1)))
    features = recover_linear_input(
        update.tensors["layers.2.weight"], update.tensors["layers.2.bias"]
    )
    assert torch.allclose(features, hidden[0], atol=1e-4)
    with pytest.raises(ValueError, match="first layer"):
        AnalyticAttack(layer="layers.2").reconstruct(model, update)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, u: AnalyticAttack().reconstruct(
            m, u, num_images=None, data_shape=(1, 28, 28), labels=None
        ),
    ],
)
def test_batches_are_refused(call):
    model = MLP(hidden=(16,), seed=0)
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([1, 2])
    with pytest.raises(ValueError, match="single input"):
        call(model, client_gradient(model, x, y))


def test_bad_inputs():
    with pytest.raises(ValueError, match="zero"):
        recover_linear_input(torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(ValueError):
        recover_linear_input(torch.zeros(3, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="not a biased"):
        model = MLP(hidden=(16,), seed=0)
        AnalyticAttack(layer="nope").reconstruct(
            model, client_gradient(model, torch.rand(1, 1, 28, 28), torch.tensor([0]))
        )
    with pytest.raises(TypeError):
        AnalyticAttack(layer=3)
