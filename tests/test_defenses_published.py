"""The published values chapter 6 compares against, pinned to the papers' tables."""

from fl_course.defenses.published import OUTPOST_EMNIST, TABLE_II_MNIST, TABLE_III_MNIST


def test_table_ii_mnist_values():
    gia, dga = TABLE_II_MNIST["GIA"], TABLE_II_MNIST["DGA"]
    assert gia["none"]["acc"] == 88.14 and dga["none"]["acc"] == 91.69
    assert gia["GradDefense"] == {"psnr": 9.83, "ssim": 4.9e-2, "acc": 86.87, "art": 9.07}
    assert dga["GradDefense"] == {"psnr": 9.41, "ssim": 4.6e-2, "acc": 90.43, "art": 8.45}
    assert (
        gia["GC"]["acc"],
        gia["DP-Gaussian"]["acc"],
        gia["DP-Laplace"]["acc"],
        gia["Soteria"]["acc"],
    ) == (32.29, 10.46, 9.85, 84.09)


def test_table_iii_mnist_values():
    assert TABLE_III_MNIST["A"]["layer size"]["psnr"] == 14.51
    assert TABLE_III_MNIST["B"][50] == 11.40 and TABLE_III_MNIST["B"][100] == 9.83
    assert TABLE_III_MNIST["D"] == {1: 82.92, 6: 86.87, 12: 86.99, 20: 86.10}
    # the headline "Ours" accuracy is the unclipped run
    assert TABLE_III_MNIST["E"]["no clipping"]["acc"] == TABLE_II_MNIST["GIA"]["GradDefense"]["acc"]
    assert TABLE_III_MNIST["E"]["clipping"]["acc"] == 86.03


def test_outpost_slides_scenario_1():
    assert OUTPOST_EMNIST["GC"]["mse"] == 13.96 and OUTPOST_EMNIST["Outpost"]["mse"] == 77.0
    assert OUTPOST_EMNIST["GradDefense"]["ssim"] == 1.0e-2
