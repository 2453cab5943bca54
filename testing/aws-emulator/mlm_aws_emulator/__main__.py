"""CLI: ``python -m mlm_aws_emulator [--host 127.0.0.1] [--port 0] [--port-file PATH]``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from .app import EmulatorApp


class QuietRequestHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mlm_aws_emulator",
        description="moto server plus the AWS behaviours mlm's tests need.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: loopback only)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one (default)"
    )
    parser.add_argument("--port-file", help="write the bound port to this file once listening")
    parser.add_argument(
        "--quiet", action="store_true", help="do not log one line per request on stderr"
    )
    return parser.parse_args(argv)


def write_port_file(path: str, port: int) -> None:
    # Write-then-rename so a poller never reads a half-written file.
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".port-")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    handler = QuietRequestHandler if args.quiet else MotoRequestHandler
    # MotoRequestHandler keeps header spellings moto relies on (see moto.server).
    server = make_server(
        args.host, args.port, EmulatorApp(), threaded=True, request_handler=handler
    )
    port = server.server_port
    # moto.server sets this too; a few moto backends build URLs to themselves.
    os.environ["MOTO_PORT"] = str(port)
    if args.port_file:
        write_port_file(args.port_file, port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"listening on http://{host}:{port}", flush=True)

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
