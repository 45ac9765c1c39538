"""Image-quality metrics for judging reconstructions, in pure PyTorch.

All functions take a ground-truth batch ``a`` and a reconstruction ``b`` of the
same shape, ``[N, C, H, W]`` (a single ``[C, H, W]`` image is treated as a batch
of one), with pixel values in ``[0, 1]``. Each metric is computed per image;
``reduction="mean"`` (default) returns the batch mean as a Python float,
``reduction="none"`` a tensor of shape ``[N]``.

Two PSNR definitions appear in the attack literature and give different numbers
on the same images, so every table in the course says which one it uses:

* :func:`psnr` -- the usual ``10·log10(1 / MSE)`` per image (peak = 1, the
  image range), as in Geiping et al. (2020) for their Table 1/2.
* :func:`psnr_cafe` -- CAFE's definition (Jin et al. 2021): per channel, with
  the maximum of the true image's channel as the peak, averaged over channels.

Examples
--------
>>> import torch
>>> from fl_course.metrics import psnr
>>> a = torch.zeros(1, 1, 4, 4); b = torch.full((1, 1, 4, 4), 0.1)
>>> round(psnr(a, b), 6)
20.0
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from fl_course.checks import check_choice, check_number

__all__ = ["mse", "psnr", "psnr_cafe", "ssim", "trivial_guesses"]


def _as_batch(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of images, got {type(t).__name__}.")
    if a.shape != b.shape:
        raise ValueError(
            f"Both image batches must have the same shape, got {list(a.shape)} and "
            f"{list(b.shape)}; compare each reconstruction with its own ground truth."
        )
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() != 4:
        raise ValueError(
            f"Images must have shape [N, C, H, W] or [C, H, W], got {list(a.shape)}; "
            "add the channel dimension with .unsqueeze(1) for grey images."
        )
    return a.detach().double(), b.detach().double()


def _reduce(values: torch.Tensor, reduction: str) -> float | torch.Tensor:
    if check_choice("reduction", reduction, ("mean", "none")) == "mean":
        return float(values.mean())
    return values.float()


def mse(a: torch.Tensor, b: torch.Tensor, *, reduction: str = "mean") -> float | torch.Tensor:
    """Mean squared error per image.

    Parameters
    ----------
    a, b : torch.Tensor
        Ground truth and reconstruction, ``[N, C, H, W]`` or ``[C, H, W]``.
    reduction : {"mean", "none"}, default "mean"
        Mean over the batch (a float) or one value per image.

    Returns
    -------
    float or torch.Tensor

    Examples
    --------
    >>> mse(torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2))
    1.0
    """
    a, b = _as_batch(a, b)
    return _reduce(((a - b) ** 2).flatten(1).mean(1), reduction)


def psnr(
    a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0, reduction: str = "mean"
) -> float | torch.Tensor:
    """Peak signal-to-noise ratio ``10·log10(data_range² / MSE)`` per image, in dB.

    The definition used by Geiping et al. (2020) for [0, 1] images. Identical
    images give ``inf``.

    Parameters
    ----------
    a, b : torch.Tensor
        Ground truth and reconstruction, ``[N, C, H, W]`` or ``[C, H, W]``.
    data_range : float, default 1.0
        Peak value (1 for images in [0, 1]).
    reduction : {"mean", "none"}, default "mean"

    Returns
    -------
    float or torch.Tensor

    Examples
    --------
    >>> round(psnr(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.01)), 6)
    40.0
    """
    check_number("data_range", data_range, positive=True, example="1.0 for images in [0, 1]")
    a, b = _as_batch(a, b)
    err = ((a - b) ** 2).flatten(1).mean(1)
    values = 10 * torch.log10(data_range**2 / err)  # err == 0 gives +inf
    return _reduce(values, reduction)


def psnr_cafe(
    a: torch.Tensor, b: torch.Tensor, *, clip: bool = True, reduction: str = "mean"
) -> float | torch.Tensor:
    """PSNR as defined by CAFE (Jin et al. 2021): per channel, peak = the true image's maximum.

    For image ``n`` and channel ``c``

    .. math:: \\mathrm{PSNR}_{n} = \\frac{1}{C}\\sum_{c=1}^{C}
              \\Big(20\\log_{10} \\max_{i,j} a_{n,c,i,j}
              - 10\\log_{10} \\tfrac{1}{HW}\\sum_{i,j}(a_{n,c,i,j}-b_{n,c,i,j})^2\\Big).

    As in CAFE's evaluation code (``utils.PSNR`` in DeRafael/CAFE), the
    reconstruction is first clipped to [0, 1]. For grey images whose maximum
    is 1 (most MNIST digits) this equals :func:`psnr` on the clipped image.

    Parameters
    ----------
    a : torch.Tensor
        Ground truth, ``[N, C, H, W]`` or ``[C, H, W]``, in [0, 1].
    b : torch.Tensor
        Reconstruction of the same shape.
    clip : bool, default True
        Clip ``b`` to [0, 1] before comparing.
    reduction : {"mean", "none"}, default "mean"

    Returns
    -------
    float or torch.Tensor

    Examples
    --------
    >>> a = torch.full((1, 1, 2, 2), 0.5); b = torch.full((1, 1, 2, 2), 0.45)
    >>> round(psnr_cafe(a, b), 4)  # 20·log10(0.5) - 10·log10(0.0025)
    20.0
    """
    a, b = _as_batch(a, b)
    if clip:
        b = b.clamp(0, 1)
    peak = a.flatten(2).amax(2)  # [N, C]
    if (peak <= 0).any():
        raise ValueError(
            "psnr_cafe needs every true image channel to have a positive maximum; "
            "an all-zero channel has no peak (use psnr with data_range=1.0 instead)."
        )
    err = ((a - b) ** 2).flatten(2).mean(2)  # [N, C]
    per_channel = 20 * torch.log10(peak) - 10 * torch.log10(err)
    return _reduce(per_channel.mean(1), reduction)


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> float | torch.Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, per image.

    Local means, variances and covariance are Gaussian-weighted averages over
    an ``window_size``×``window_size`` window (σ = ``sigma``) computed without
    padding ("valid"), with the constants ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²``
    (``L = data_range``). The SSIM map is averaged over positions and channels.

    Parameters
    ----------
    a, b : torch.Tensor
        Ground truth and reconstruction, ``[N, C, H, W]`` or ``[C, H, W]``,
        with ``H, W >= window_size``.
    data_range : float, default 1.0
    window_size : int, default 11
    sigma : float, default 1.5
    reduction : {"mean", "none"}, default "mean"

    Returns
    -------
    float or torch.Tensor
        1 for identical images; lower is worse.

    Examples
    --------
    >>> x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> round(ssim(x, x), 6)
    1.0
    """
    check_number("data_range", data_range, positive=True, example="1.0 for images in [0, 1]")
    if not isinstance(window_size, int) or window_size < 1 or window_size % 2 == 0:
        raise ValueError(
            f"window_size must be a positive odd integer, got {window_size!r}; the usual value "
            "is 11."
        )
    check_number("sigma", sigma, positive=True, example="1.5 (the usual value)")
    a, b = _as_batch(a, b)
    n, c, h, w = a.shape
    if h < window_size or w < window_size:
        raise ValueError(
            f"Images of size {h}×{w} are smaller than the {window_size}×{window_size} SSIM window; "
            "pass a smaller odd window_size."
        )
    window = _gaussian_window(window_size, sigma, a.dtype).to(a.device)
    window = window.expand(c, 1, window_size, window_size)

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=c)

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return _reduce(ssim_map.flatten(1).mean(1), reduction)


def trivial_guesses(
    targets: torch.Tensor, mean_image: torch.Tensor, *, seed: int, metric=psnr
) -> pd.DataFrame:
    """Score the three trivial guesses against the same victims a reconstruction is judged on.

    A reconstruction only shows leakage when it is closer to the victims than a guess that
    uses no gradient at all: an all-black image, the mean training image, uniform noise.

    Parameters
    ----------
    targets : torch.Tensor
        The victims' true images, ``[N, C, H, W]`` in [0, 1].
    mean_image : torch.Tensor
        Mean of the training images the attacker could know, ``[C, H, W]``.
    seed : int
        Seed of the uniform noise.
    metric : callable, default :func:`psnr`
        The PSNR used for the reconstructions (:func:`psnr_cafe` for CAFE's tables).

    Returns
    -------
    pandas.DataFrame
        Index ``all-black``, ``mean image``, ``uniform noise``; columns ``psnr`` and
        ``ssim`` (means over the victims). ``table["psnr"].max()`` is the best trivial guess.

    Examples
    --------
    >>> x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    >>> table = trivial_guesses(x, x.mean(0), seed=0)
    >>> list(table.index)
    ['all-black', 'mean image', 'uniform noise']
    """

    targets = targets.detach().float()
    if targets.dim() != 4:
        raise ValueError(f"targets must be [N, C, H, W], got {list(targets.shape)}.")
    if tuple(mean_image.shape) != tuple(targets.shape[1:]):
        raise ValueError(
            f"mean_image must have one image's shape {list(targets.shape[1:])}, got "
            f"{list(mean_image.shape)}; pass train_images.mean(0)."
        )
    generator = torch.Generator().manual_seed(seed)
    guesses = {
        "all-black": torch.zeros_like(targets),
        "mean image": mean_image.detach().float().expand_as(targets).clone(),
        "uniform noise": torch.rand(targets.shape, generator=generator),
    }
    return pd.DataFrame(
        {
            name: {"psnr": metric(targets, guess), "ssim": ssim(targets, guess)}
            for name, guess in guesses.items()
        }
    ).T
