"""Command line: ``python -m fl_course.fate up | status | down``.

Exit codes: 0 success (``status``: running), 1 error with an explanation, 3 ``status``: not running.
"""

from __future__ import annotations

import argparse
import sys

from fl_course.fate import service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fl_course.fate",
        description="Run the course's standalone FATE Flow 2.2 service (installed under .fate/).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="install (once), start FATE Flow and wait until it answers")
    up.add_argument("--host", default=service.DEFAULT_HOST)
    up.add_argument(
        "--port", type=int, default=service.DEFAULT_PORT, help="HTTP port (default 9380)"
    )
    up.add_argument(
        "--grpc-port", type=int, default=service.DEFAULT_GRPC_PORT, help="gRPC port (default 9360)"
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=service.START_TIMEOUT,
        help="seconds to wait for the server to answer",
    )
    st = sub.add_parser("status", help="is FATE Flow running, and where is its log")
    st.add_argument("--host", default=None)
    st.add_argument("--port", type=int, default=None)
    sub.add_parser("down", help="stop the FATE Flow process that `up` started (only that one)")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            info = service.up(args.host, args.port, args.grpc_port, timeout=args.timeout)
            print(
                f"FATE Flow ready at {info.url} (install {info.install_seconds:.1f} s, "
                f"start {info.start_seconds:.1f} s)"
            )
            return 0
        if args.command == "status":
            st = service.status(args.host, args.port)
            who = (
                f"pid {st['pid']}, started by fl_course"
                if st["ours"]
                else "not started by fl_course"
            )
            if st["running"]:
                print(f"FATE Flow is running at http://{st['host']}:{st['port']} ({who})")
            else:
                print(
                    f"FATE Flow is not running at http://{st['host']}:{st['port']}; "
                    "start it with `python -m fl_course.fate up`"
                )
            print(
                f"server log: {st['log']}\nfate_flow logs: {st['flow_logs']}\nFATE environment: "
                f"{'installed' if st['installed'] else 'not installed'} under {st['home']}"
            )
            return 0 if st["running"] else 3
        service.down()
        return 0
    except (service.FateServiceError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
