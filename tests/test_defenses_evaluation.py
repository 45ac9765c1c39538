import pytest
import torch
from torch import nn

from fl_course.defenses.evaluation import (
    paper_defenses,
)


def _tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(24, 1, 28, 28, generator=g), torch.arange(24) % 10


def test_paper_defenses_are_table_ii_settings(data):
    gia = paper_defenses(data, attack="GIA", seed=0)
    assert list(gia) == [
        "none",
        "GC",
        "DP-Gaussian",
        "DP-Laplace",
        "Soteria",
        "GradDefense",
        "Outpost",
    ]
    # GradDefense Sec. VI-B: GC 90 %, PLD 80 %, γ = 0.3 against GIA; σ = 1e-2, no clipping
    assert gia["GC"].prune_rate == 90 and gia["Soteria"].prune_rate == 80
    assert gia["GradDefense"].perturb_fraction == 0.3 and gia["GradDefense"].num_perturbed == 3
    assert gia["GradDefense"].clip is False and gia["GradDefense"].sigma == 1e-2
    assert (
        gia["DP-Gaussian"].sigma == 1e-2
        and gia["DP-Laplace"].scale == 1e-2
        and gia["Outpost"].phi == 40
    )
    dga = paper_defenses(data, attack="DGA", seed=0)
    assert (
        dga["GC"].prune_rate == 80
        and dga["Soteria"].prune_rate == 60
        and dga["GradDefense"].num_perturbed == 2
    )
    with pytest.raises(ValueError, match="GIA"):
        paper_defenses(data, attack="CAFE")


def test_only_formal_dp_is_marked_formal_and_placements_follow_the_papers(data):
    defenses = paper_defenses(data, seed=0)
    assert not any(d.formal for d in defenses.values() if d is not None)
    assert defenses["Outpost"].placement == "step" and defenses["GradDefense"].placement == "round"
