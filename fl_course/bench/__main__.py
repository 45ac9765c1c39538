"""Run a benchmark: ``python -m fl_course.bench NAME [options]``.

Each benchmark lives in ``fl_course/bench/NAME.py`` and exposes ``main(argv) -> int``; it
prints one JSON object with its measured figures (ratios come from one run).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import fl_course.bench as bench


def available() -> list[str]:
    """Names of the benchmarks in this package."""
    return sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = available()
    if not argv or argv[0] not in names:
        print(f"usage: python -m fl_course.bench {{{','.join(names)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"fl_course.bench.{argv[0]}")
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
