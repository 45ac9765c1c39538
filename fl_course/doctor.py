"""``python -m fl_course doctor``: check that this machine can run every chapter, say how to fix it.

Checks the Python version; torch (and whether it is the CPU or CUDA build); fate_client with
the ``pydantic<2`` and ``ruamel.yaml<0.18`` it needs; phe with gmpy2 (without gmpy2, Paillier is
about ten times slower); the FATE environment under ``.fate/`` and whether FATE Flow answers;
where ``fate_client`` sends jobs; and where data is read from. Each check is ``ok``, ``warn``
(a chapter will be slow or has to start something first) or ``fail`` (a chapter cannot run).

Examples
--------
>>> from fl_course.doctor import run_checks
>>> checks = run_checks()                  # doctest: +SKIP
>>> {c.name: c.status for c in checks}     # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from importlib import metadata

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: str
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _major(version: str) -> int:
    return int(version.split(".")[0])


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 10):
        return Check(
            "python",
            FAIL,
            f"Python {version} at {sys.executable}",
            "Use Python 3.10 or newer (FATE 2.2 and the course are tested on 3.11).",
        )
    return Check("python", OK, f"Python {version} at {sys.executable}")


def check_torch() -> Check:
    try:
        torch = importlib.import_module("torch")
    except ImportError as err:
        return Check(
            "torch",
            FAIL,
            f"not importable ({err})",
            "Install the course: `pip install -e .` (CPU wheel: add "
            "`--extra-index-url https://download.pytorch.org/whl/cpu`).",
        )
    device = "CUDA available" if torch.cuda.is_available() else "CPU"
    return Check("torch", OK, f"{torch.__version__} ({device})")


def check_fate_client() -> Check:
    version = _version("fate_client")
    if version is None:
        return Check(
            "fate_client",
            FAIL,
            "not installed",
            "`pip install fate_client==2.2.0 'pydantic<2' 'ruamel.yaml<0.18'`.",
        )
    pydantic, ruamel = _version("pydantic"), _version("ruamel.yaml")
    problems = []
    if pydantic and _major(pydantic) >= 2:
        problems.append(f"pydantic {pydantic} (needs <2)")
    if ruamel and tuple(int(x) for x in ruamel.split(".")[:2]) >= (0, 18):
        problems.append(f"ruamel.yaml {ruamel} (needs <0.18)")
    if problems:
        return Check(
            "fate_client",
            FAIL,
            f"{version} with " + ", ".join(problems),
            "`pip install 'pydantic<2' 'ruamel.yaml<0.18'` (fate_client 2.2 is written against "
            "them).",
        )
    try:
        importlib.import_module("fate_client.pipeline")
    except Exception as err:  # noqa: BLE001 - any import failure is the user's problem to see
        return Check(
            "fate_client",
            FAIL,
            f"{version}, but `import fate_client.pipeline` fails: {err}",
            "Reinstall the course environment: `pip install -e .`.",
        )
    return Check("fate_client", OK, f"{version} (pydantic {pydantic}, ruamel.yaml {ruamel})")


def check_phe() -> Check:
    phe, gmpy2 = _version("phe"), _version("gmpy2")
    if phe is None:
        return Check("phe", FAIL, "not installed", "`pip install phe gmpy2`.")
    if gmpy2 is None:
        return Check(
            "phe",
            WARN,
            f"phe {phe} without gmpy2: Paillier runs in pure Python, ~10x slower",
            "`pip install gmpy2` (on Linux you may need `apt-get install libgmp-dev libmpfr-dev "
            "libmpc-dev`).",
        )
    return Check("phe", OK, f"phe {phe} with gmpy2 {gmpy2}")


def check_fate_service() -> list[Check]:
    from fl_course.fate import service

    checks = []
    if service.is_installed():
        checks.append(
            Check("FATE environment", OK, f"FATE {service.FATE_VERSION} in {service.venv_dir()}")
        )
    else:
        checks.append(
            Check(
                "FATE environment",
                WARN,
                f"not installed in {service.venv_dir()}",
                "`python -m fl_course.fate up` installs it (a few minutes, once).",
            )
        )
    st = service.status()
    if st["running"]:
        who = "started by fl_course" if st["ours"] else "not started by fl_course"
        checks.append(
            Check(
                "FATE Flow service",
                OK,
                f"answers at http://{st['host']}:{st['port']} ({who}); log {st['log']}",
            )
        )
    else:
        checks.append(
            Check(
                "FATE Flow service",
                WARN,
                f"not answering at http://{st['host']}:{st['port']}",
                "`python -m fl_course.fate up` (chapter 2 needs it; Colab cannot run it).",
            )
        )
    address = service.configured_address()
    if address is not None and address != (st["host"], st["port"]):
        checks.append(
            Check(
                "fate_client address",
                FAIL,
                f"fate_client sends jobs to {address[0]}:{address[1]}, the service is at "
                f"{st['host']}:{st['port']}",
                f"`pipeline init --ip {st['host']} --port {st['port']}` (or `python -m "
                "fl_course.fate up`).",
            )
        )
    elif address is not None:
        checks.append(Check("fate_client address", OK, f"{address[0]}:{address[1]}"))
    return checks


def check_data() -> Check:
    from fl_course import paths

    folder = paths.data_dir()
    if folder is None:
        return Check(
            "data", OK, f"FL_COURSE_DATA unset; downloads are cached in {paths.cache_dir()}"
        )
    if not folder.is_dir():
        return Check(
            "data",
            FAIL,
            f"FL_COURSE_DATA={folder} does not exist",
            "Point FL_COURSE_DATA at an existing folder, or unset it to download into the cache.",
        )
    return Check("data", OK, f"read from FL_COURSE_DATA={folder}, cache {paths.cache_dir()}")


def check_lending_club() -> Check:
    """Chapter 2's loans: a local, md5-checked LoanStats3a.csv, or a download it will need."""
    from fl_course.data import lending_club as lc

    try:
        path = lc.find_loanstats3a(download_allowed=False)
    except FileNotFoundError:
        return Check(
            "Lending Club data",
            WARN,
            "LoanStats3a.csv not found locally",
            f"Chapter 2 downloads it from {lc.SOURCE_URL}; offline, set FL_COURSE_DATA to a folder "
            f"whose lending_club/ holds {lc.SHARED_NAME}.",
        )
    except ValueError as err:
        return Check(
            "Lending Club data",
            FAIL,
            str(err),
            "Delete the file named above to download a fresh copy.",
        )
    return Check("Lending Club data", OK, f"{path} (md5 {lc.SOURCE_MD5} checked)")


def run_checks() -> list[Check]:
    """Run every check; never raises for a missing piece (that is what the report is for)."""
    checks = [check_python(), check_torch(), check_fate_client(), check_phe()]
    checks += check_fate_service()
    checks.append(check_data())
    if checks[-1].status != FAIL:
        checks.append(check_lending_club())
    return checks


def main(argv: list[str] | None = None) -> int:
    """Print the report; exit 1 if a check failed (or warned, with ``--strict``), else 0."""
    parser = argparse.ArgumentParser(
        prog="python -m fl_course doctor", description="Check that this machine can run the course."
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat warnings (e.g. FATE service not running) as failures",
    )
    args = parser.parse_args(argv)
    checks = run_checks()
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"[{c.status:>4}] {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != OK:
            print(f"{'':>7} {'':<{width}}  fix: {c.fix}")
    bad = [c for c in checks if c.status == FAIL or (args.strict and c.status == WARN)]
    print(
        "\nAll chapters can run."
        if not bad
        else f"\n{len(bad)} problem(s) above; apply the fixes and run again."
    )
    return 1 if bad else 0
