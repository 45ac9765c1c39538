"""Download files with a progress bar and an md5 check, never leaving a partial file behind."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["md5sum", "download"]


def md5sum(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hexadecimal md5 digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(urls: list[str], target: Path, md5: str, *, timeout: float = 30.0) -> Path:
    """Fetch ``target`` from the first mirror in ``urls`` whose file has the expected md5.

    The file is written to a temporary name beside ``target`` and renamed only once its
    checksum matches, so an interrupted or corrupt download never looks like a good file.

    Raises
    ------
    OSError
        When no mirror delivered a file with the expected checksum; the message lists
        what each mirror answered.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                    for chunk in iter(lambda: resp.read(1 << 16), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
            got = md5sum(tmp)
            if got != md5:
                failures.append(f"{url}: md5 {got} instead of {md5}")
                continue
            tmp.replace(target)
            return target
        except OSError as error:
            failures.append(f"{url}: {error}")
        finally:
            tmp.unlink(missing_ok=True)
    raise OSError(f"could not download {target.name}: " + "; ".join(failures))
