import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fl_course.plots import image_grid, label_histogram, set_theme  # noqa: E402


def test_image_grid_wraps_rows_and_labels():
    set_theme()
    fig = image_grid(
        {"truth": torch.rand(20, 1, 8, 8), "recon": torch.rand(20, 8, 8)},
        labels={"recon": [f"{i} dB" for i in range(20)]},
        max_columns=10,
    )
    assert len(fig.axes) == 40
    assert fig.axes[20].get_title() == "0 dB"


@pytest.mark.parametrize("rows", [{}, {"bad": torch.rand(4)}])
def test_image_grid_refuses_bad_rows(rows):
    with pytest.raises(ValueError):
        image_grid(rows)


def test_label_histogram_stacks_counts():
    labels = np.array([0, 0, 1, 2, 2, 2])
    ax = label_histogram([np.array([0, 1, 2]), np.array([3, 4, 5])], labels)
    assert ax.get_ylabel() == "samples (count)"
    heights = sorted(round(p.get_height()) for p in ax.patches if p.get_height() > 0)
    assert heights == [1, 2, 3]
