"""Published numbers chapter 6 compares against, with where they stand.

Only values printed in the papers go here (``../shared/papers``): GradDefense (Wang et al.,
INFOCOM 2022) Tables II and III on MNIST, and the Outpost slides' (Wang, Hugh, Li, INFOCOM
2023) comparison on EMNIST. The lab records each beside our measurement with
:func:`fl_course.results.record`; nothing here is one of our goals.
"""

from __future__ import annotations

__all__ = ["TABLE_II_MNIST", "TABLE_III_MNIST", "OUTPOST_EMNIST"]

#: GradDefense Table II, MNIST. ``"DGA"`` is half [A] (DLG-type attack on LeNet), ``"GIA"``
#: half [B] (Inverting Gradients on the ConvNet). PSNR in dB, SSIM, ACC in %, ART as the
#: added running time per round in % ("+9.07%"). "Soteria" is the paper's PLD; DP-Laplace its
#: "DP-L" in brackets.
TABLE_II_MNIST: dict[str, dict[str, dict[str, float]]] = {
    "DGA": {
        "none": {"acc": 91.69},
        "GradDefense": {"psnr": 9.41, "ssim": 4.6e-2, "acc": 90.43, "art": 8.45},
        "GC": {"psnr": 9.52, "ssim": 5.1e-2, "acc": 36.52, "art": 4.63},
        "DP-Gaussian": {"psnr": 9.36, "ssim": 4.1e-2, "acc": 10.37, "art": 3.91},
        "DP-Laplace": {"psnr": 9.39, "ssim": 4.3e-2, "acc": 10.21, "art": 3.74},
        "Soteria": {"psnr": 9.57, "ssim": 5.3e-2, "acc": 87.77, "art": 14.52},
    },
    "GIA": {
        "none": {"acc": 88.14},
        "GradDefense": {"psnr": 9.83, "ssim": 4.9e-2, "acc": 86.87, "art": 9.07},
        "GC": {"psnr": 10.01, "ssim": 5.1e-2, "acc": 32.29, "art": 4.90},
        "DP-Gaussian": {"psnr": 9.66, "ssim": 4.4e-2, "acc": 10.46, "art": 3.84},
        "DP-Laplace": {"psnr": 9.59, "ssim": 4.6e-2, "acc": 9.85, "art": 3.66},
        "Soteria": {"psnr": 10.43, "ssim": 5.7e-2, "acc": 84.09, "art": 16.12},
    },
}

#: GradDefense Table III, MNIST (GIA). [A] slicing, [B] root-set size, [D] Q, [E] clipping.
TABLE_III_MNIST: dict[str, dict] = {
    "A": {
        "sensitivity": {"psnr": 9.83, "ssim": 4.9e-2},
        "layer size": {"psnr": 14.51, "ssim": 1.2e-1},
    },
    "B": {50: 11.40, 100: 9.83, 200: 9.71, 300: 9.68, 400: 9.66},
    "D": {1: 82.92, 6: 86.87, 12: 86.99, 20: 86.10},
    "E": {
        "clipping": {"psnr": 9.95, "ssim": 5.2e-2, "acc": 86.03, "art": 1.32},
        "no clipping": {"psnr": 12.36, "ssim": 9.9e-2, "acc": 86.87},
    },
}

#: Outpost slides, Scenario 1 (EMNIST, E = n = B = 1): MSE (higher = more private) and SSIM
#: (lower = more private) of the reconstruction per defense. "Soteria" and "GradDefense" as
#: named there (GD); the slides' OCR cuts Outpost's SSIM to "0.1".
OUTPOST_EMNIST: dict[str, dict[str, float]] = {
    "none": {"mse": 6.6e-3, "ssim": 0.99},
    "GC": {"mse": 13.96, "ssim": 0.30},
    "DP-Gaussian": {"mse": 113.63, "ssim": 0.19},
    "Soteria": {"mse": 95.19, "ssim": 3.3e-2},
    "GradDefense": {"mse": 32.57, "ssim": 1.0e-2},
    "Outpost": {"mse": 77.0, "ssim": 0.1},
}
