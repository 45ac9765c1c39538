"""The MNIST digits (LeCun et al. 1998), read from the official IDX files.

Search order: ``$FL_COURSE_DATA/mnist``, then the download cache (``data/mnist`` in a
checkout), then a download of the official files into the cache, checked against their
official md5 sums. When only the 10,000 official *test* images can be found (as on a
machine without network that was handed them), :func:`load_mnist` splits those 10,000
images, stratified by label with a fixed seed, into 8,000 training and 2,000 test
images, and says so once.
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from fl_course.data.download import download, md5sum
from fl_course.paths import cache_dir, data_dir

__all__ = ["load_mnist", "OfflineSplitWarning", "DataFileError", "MIRRORS", "FILES"]

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
TRAIN = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
OFFLINE_TEST_SIZE = 2_000
OFFLINE_SEED = 0


class OfflineSplitWarning(UserWarning):
    """Only the official test images were found; the loader splits them into train and test."""


class DataFileError(ValueError):
    """A data file exists but is corrupt, truncated or of the wrong format."""


def _folders() -> list[Path]:
    shared = data_dir()
    return ([shared / "mnist"] if shared else []) + [cache_dir() / "mnist"]


def _find(name: str) -> Path | None:
    for folder in _folders():
        if (folder / name).is_file():
            return folder / name
    return None


def _read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes; every fault names the file and what is wrong.

    The specific faults (empty file, corrupt gzip, header only, wrong size) are diagnosed
    here; :func:`_read_pair` then checks shapes and labels, and last the official md5.
    """
    if path.stat().st_size == 0:
        raise DataFileError(
            f"{path} is empty (0 bytes). Delete it and run again to download a fresh copy."
        )
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(
            f"{path} is not a readable gzip file, corrupt or truncated ({error}). "
            "Delete it and run again to download a fresh copy."
        ) from error
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataFileError(
            f"{path} is not an IDX file of unsigned bytes (its first bytes are "
            f"{raw[:4].hex() or 'missing'}, expected 000008..). Delete it."
        )
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if ndim == 0 or len(raw) < offset:
        raise DataFileError(
            f"{path} has a truncated IDX header ({len(raw)} bytes for {ndim} dimensions). "
            "Delete it."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) == offset:
        raise DataFileError(
            f"{path} holds only an IDX header (shape {shape}) and no data. Delete it."
        )
    if len(raw) - offset != int(np.prod(shape)):
        raise DataFileError(
            f"{path} holds {len(raw) - offset} bytes for shape {shape}: truncated or padded. "
            "Delete it."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _check_md5(path: Path) -> None:
    expected = FILES.get(path.name)
    if expected and md5sum(path) != expected:
        raise DataFileError(
            f"{path} parses but does not have the official md5 {expected}: it is a modified copy. "
            "Delete it and run again to download a fresh copy."
        )


def _check_pair(images: np.ndarray, labels: np.ndarray, paths) -> None:
    """Images must be N x 28 x 28, labels N digits 0-9 (IDX's wrong columns and values)."""
    image_path, label_path = paths
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFileError(
            f"{image_path} holds an array of shape {images.shape}, not N x 28 x 28 images."
        )
    if labels.ndim != 1:
        raise DataFileError(
            f"{label_path} holds an array of shape {labels.shape}, not a vector of labels."
        )
    if len(images) != len(labels):
        raise DataFileError(
            f"{image_path} holds {len(images)} images but {label_path} {len(labels)} labels."
        )
    if len(labels) and labels.max() > 9:
        raise DataFileError(
            f"{label_path} holds the label {int(labels.max())}; MNIST labels are digits 0-9."
        )


def _read_pair(paths) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (_read_idx(p) for p in paths)
    _check_pair(images, labels, paths)
    for path in paths:
        _check_md5(path)
    return images, labels


def _fetch(names: tuple[str, ...]) -> list[Path] | None:
    """Find ``names`` locally or download them into the cache; None when that fails."""
    paths = [_find(name) for name in names]
    if all(paths):
        return paths
    if os.environ.get("FL_COURSE_OFFLINE") == "1":
        return None
    try:
        return [
            p or download([m + n for m in MIRRORS], cache_dir() / "mnist" / n, FILES[n])
            for p, n in zip(paths, names)
        ]
    except OSError as error:
        _fetch_failures.append(str(error))
        return None


_fetch_failures: list[str] = []


@lru_cache(maxsize=None)
def _arrays(split: str, download_allowed: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    def get(names):
        if download_allowed:
            return _fetch(names)
        paths = [_find(n) for n in names]
        return paths if all(paths) else None

    train, test = get(TRAIN), get(TEST)
    if train and test:
        images, labels = _read_pair(train if split == "train" else test)
        return images, labels, False
    if not test:
        where = ", ".join(str(f) for f in _folders())
        reason = f" Download failed: {_fetch_failures[-1]}." if _fetch_failures else ""
        raise FileNotFoundError(
            f"MNIST was not found in {where}.{reason} Either set FL_COURSE_DATA to a folder "
            "whose mnist/ subfolder holds the official IDX .gz files, or run with network access "
            "(load_mnist(download=True)) so they are downloaded into the cache."
        )
    images, labels = _read_pair(test)
    chosen = _offline_split(labels)[0 if split == "train" else 1]
    return images[chosen], labels[chosen], True


def _offline_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of the 10k test images into train and test indices (seed 0)."""
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=OFFLINE_TEST_SIZE,
        stratify=labels,
        random_state=OFFLINE_SEED,
    )
    return np.sort(train), np.sort(test)


_warned = False


def load_mnist(split: str = "train", *, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST as tensors ready for PyTorch.

    Parameters
    ----------
    split : {"train", "test"}
        Which part to return.
    download : bool, default True
        Download the official files into the cache when they are not found locally.
        Set ``FL_COURSE_OFFLINE=1`` to never try.

    Returns
    -------
    images : torch.Tensor
        float32, shape ``[N, 1, 28, 28]``, values in [0, 1].
    labels : torch.Tensor
        int64, shape ``[N]``.

    Notes
    -----
    With the full data: 60,000 training and 10,000 test images. With only the official
    test file available: a stratified split of those 10,000 images (seed 0) into 8,000
    training and 2,000 test images; an :class:`OfflineSplitWarning` says so once.

    Examples
    --------
    >>> images, labels = load_mnist("test")  # doctest: +SKIP
    >>> images.shape  # doctest: +SKIP
    torch.Size([10000, 1, 28, 28])
    """
    global _warned
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}.")
    images, labels, offline = _arrays(split, bool(download))
    if offline and not _warned:
        _warned = True
        warnings.warn(
            "Only the 10,000 official MNIST test images were found, so the course uses a "
            "stratified split of them: 8,000 for training and 2,000 for testing (seed 0). "
            "With network access the full 60,000/10,000 set is downloaded instead.",
            OfflineSplitWarning,
            stacklevel=2,
        )
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))
