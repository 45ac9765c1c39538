import gzip
import shutil

import numpy as np
import pytest
import torch

from fl_course.data import mnist
from fl_course.data.mnist import FILES, DataFileError, OfflineSplitWarning, load_mnist

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """A folder holding only the two official test files (from FL_COURSE_DATA or a download)."""
    found = mnist._fetch(TEST_FILES)  # the tests using it carry the needs_mnist marker
    assert found, "The official MNIST test files are needed: set FL_COURSE_DATA (see README)."
    folder = tmp_path_factory.mktemp("official")
    (folder / "mnist").mkdir()
    for path in found:
        shutil.copy(path, folder / "mnist" / path.name)
    return folder


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """No cached arrays, an empty cache folder, no network."""
    mnist._arrays.cache_clear()
    monkeypatch.setattr(mnist, "_warned", False)
    monkeypatch.setenv("FL_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FL_COURSE_OFFLINE", "1")
    yield tmp_path
    mnist._arrays.cache_clear()


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.mark.needs_mnist
def test_offline_split_is_stratified_deterministic_and_warned_once(official, fresh, monkeypatch):
    monkeypatch.setenv("FL_COURSE_DATA", str(official))
    with pytest.warns(OfflineSplitWarning, match="8,000 for training"):
        x, y = load_mnist("train")
    xt, yt = load_mnist("test")
    assert x.shape == (8000, 1, 28, 28) and xt.shape == (2000, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    share = torch.bincount(yt, minlength=10) / len(yt)
    full = torch.bincount(torch.cat([y, yt]), minlength=10) / 10000
    assert torch.allclose(share, full, atol=0.002)
    # no image is in both splits, and a second call gives the same data
    assert len({tuple(r) for r in torch.cat([x, xt]).flatten(1)[:, 200:260].numpy()}) > 9000
    x2, _ = load_mnist("train")
    assert torch.equal(x, x2)


def test_missing_data_names_both_fixes(fresh, monkeypatch):
    monkeypatch.setenv("FL_COURSE_DATA", str(fresh / "nowhere"))
    with pytest.raises(FileNotFoundError, match="FL_COURSE_DATA.*network access"):
        load_mnist("train")


def test_bad_split_is_refused(fresh):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation")


@pytest.mark.parametrize("damage", ["truncate", "flip"])
@pytest.mark.needs_mnist
def test_corrupt_file_is_named(official, fresh, monkeypatch, damage):
    folder = fresh / "shared" / "mnist"
    shutil.copytree(official / "mnist", folder)
    target = folder / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(target.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[5000] ^= 0xFF
    target.write_bytes(bytes(raw))
    monkeypatch.setenv("FL_COURSE_DATA", str(fresh / "shared"))
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist("test")


@pytest.mark.parametrize("problem", ["not-gzip", "wrong-size", "wrong-magic"])
def test_read_idx_rejects_garbage(tmp_path, problem):
    path = tmp_path / "unknown.gz"  # not an official name, so no md5 to check
    if problem == "not-gzip":
        path.write_bytes(b"plain bytes")
    elif problem == "wrong-size":
        _write_idx(path, np.zeros((3, 2, 2)))
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-1]))
    else:
        path.write_bytes(gzip.compress(b"\x01\x02\x03\x04" + bytes(8)))
    with pytest.raises(DataFileError, match="unknown.gz"):
        mnist._read_idx(path)


def test_read_idx_parses_shape(tmp_path):
    path = tmp_path / "tiny.gz"
    array = np.arange(24).reshape(2, 3, 4)
    _write_idx(path, array)
    assert np.array_equal(mnist._read_idx(path), array)


def test_download_refuses_wrong_checksum(tmp_path):
    from fl_course.data.download import download

    source = tmp_path / "source.bin"
    source.write_bytes(b"not mnist")
    with pytest.raises(OSError, match="md5"):
        download(
            [source.as_uri()], tmp_path / "out" / "file.gz", FILES["t10k-labels-idx1-ubyte.gz"]
        )
    assert not any((tmp_path / "out").iterdir())  # nothing half-written is left behind


def _shared_copy(official, fresh):
    folder = fresh / "shared" / "mnist"
    shutil.copytree(official / "mnist", folder)
    return folder


@pytest.mark.parametrize(
    "fault, message",
    [
        ("empty", "empty"),
        ("corrupt-gzip", "not a readable gzip"),
        ("header-only", "only an IDX header"),
        ("wrong-shape", "not N x 28 x 28"),
        ("bad-labels", "digits 0-9"),
        ("count-mismatch", "labels"),
    ],
)
@pytest.mark.needs_mnist
def test_every_fault_names_the_file_and_the_problem(official, fresh, monkeypatch, fault, message):
    folder = _shared_copy(official, fresh)
    images, labels = folder / TEST_FILES[0], folder / TEST_FILES[1]
    target = images
    if fault == "empty":
        images.write_bytes(b"")
    elif fault == "corrupt-gzip":
        images.write_bytes(images.read_bytes()[:1000])
    elif fault == "header-only":
        images.write_bytes(
            gzip.compress(
                bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (10, 28, 28))
            )
        )
    elif fault == "wrong-shape":
        _write_idx(images, np.zeros((10000, 14, 56)))
    elif fault == "bad-labels":
        _write_idx(labels, np.full(10000, 12))
        target = labels
    else:
        _write_idx(labels, np.zeros(9999))
    monkeypatch.setenv("FL_COURSE_DATA", str(fresh / "shared"))
    with pytest.raises(DataFileError, match=message) as err:
        load_mnist("test")
    assert str(target) in str(err.value) or target.name in str(err.value)
