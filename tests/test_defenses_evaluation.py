import pytest
import torch
from torch import nn

from fl_course.defenses import Outpost
from fl_course.defenses.evaluation import (
    default_initialised,
    local_training_delta,
    paper_defenses,
    production_matrix,
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


def test_local_training_delta_is_protected_and_leaves_model_alone(data):
    model = _tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    plain = local_training_delta(model, data[0][:1], data[1][:1], steps=3, lr=0.1, momentum=0.9)
    guarded = local_training_delta(
        model, data[0][:1], data[1][:1], steps=3, lr=0.1, momentum=0.9, defense=Outpost(seed=0)
    )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert any(not torch.equal(plain[k], guarded[k]) for k in plain)
    with pytest.raises(ValueError, match="steps"):
        local_training_delta(model, data[0][:1], data[1][:1], steps=0, lr=0.1)


def test_default_initialised_shrinks_lenet_weights():
    from fl_course.models import LeNetZhu

    explicit = LeNetZhu(seed=0)
    default = default_initialised(LeNetZhu(seed=0), seed=0)
    assert float(explicit.fc.weight.detach().var()) == pytest.approx(1 / 12, rel=0.1)
    assert float(default.fc.weight.detach().var()) < 0.01 * float(explicit.fc.weight.detach().var())


def test_production_matrix_one_row_per_defense_and_image(data):
    from fl_course.attacks import IDLG
    from fl_course.models import LeNetZhu

    x, y = data
    table = production_matrix(
        lambda: LeNetZhu(seed=0),
        x[:2],
        y[:2],
        {"none": None, "Outpost": Outpost(seed=0)},
        IDLG(iterations=1, progress=False),
        steps=2,
        lr=0.01,
        progress=False,
    )
    assert len(table) == 4 and set(table.columns) == {"defense", "image", "psnr", "ssim"}
