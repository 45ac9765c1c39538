"""``python -m fl_course doctor``: the course's command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: python -m fl_course doctor [--strict]\n\n"
            "  doctor   check Python, torch, fate_client, phe/gmpy2, the FATE service and data\n\n"
            "FATE service: python -m fl_course.fate up | status | down"
        )
        return 0 if argv else 2
    if argv[0] == "doctor":
        from fl_course.doctor import main as doctor

        return doctor(argv[1:])
    print(f"unknown command {argv[0]!r}; try `python -m fl_course doctor`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
