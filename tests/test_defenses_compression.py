import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_course.defenses import GradientCompression, prune_smallest
from fl_course.defenses.compression import smallest_mask


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), rate=st.floats(0, 100), seed=st.integers(0, 1000))
def test_prunes_exactly_the_requested_share_of_the_smallest(n, rate, seed):
    g = torch.randn(n, generator=torch.Generator().manual_seed(seed))
    out = prune_smallest(g, rate)
    k = int(rate / 100 * n)
    assert int((out == 0).sum()) == k
    kept = out != 0
    if k and kept.any():
        assert g[~kept].abs().max() <= g[kept].abs().min()
    assert torch.equal(out[kept], g[kept])


def test_ties_still_give_the_exact_count():
    assert int(smallest_mask(torch.zeros(10), 3).sum()) == 3


@pytest.mark.parametrize("rate", [20, 50, 80, 99])
def test_each_layer_is_pruned_separately(rate):
    update = {"a": torch.randn(100), "b": 100 * torch.randn(50)}
    out = GradientCompression(prune_rate=rate)(update)
    assert int((out["a"] == 0).sum()) == int(rate)
    assert int((out["b"] == 0).sum()) == int(rate / 2)


@pytest.mark.parametrize("rate", [-1, 101, float("nan"), "80"])
def test_bad_rate_raises(rate):
    with pytest.raises(ValueError, match="prune_rate"):
        GradientCompression(prune_rate=rate)


def test_low_rate_warns():
    with pytest.warns(UserWarning, match="little protection"):
        GradientCompression(prune_rate=10)
