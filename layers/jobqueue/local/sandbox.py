"""One Lambda execution environment: a process that imports a function's handler once and serves invocations.

`jobqueue.local.processes` starts it with the function's environment and one end of a socket pair; events
arrive and responses leave as JSON, so a response Lambda could not serialize fails here too. The process
ignores SIGINT (Ctrl-C reaches the whole terminal's process group; the supervisor stops it) and exits when
the supervisor's end closes, so it never outlives the supervisor.

    $ python -m jobqueue.local.sandbox --fd 5 --name worker-email --handler worker
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["error_payload", "main"]


def error_payload(exc: BaseException) -> dict[str, Any]:
    """What Lambda reports for a function error: errorType, errorMessage and the stack trace."""
    return {"errorType": type(exc).__name__, "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)}


def _reply(conn: Connection, status: str, payload: Any) -> None:
    try:
        body = json.dumps(payload)
    except (TypeError, ValueError) as exc:
        status, body = "error", json.dumps({"errorType": "Runtime.MarshalError",
                                            "errorMessage": f"Unable to marshal response: {exc}"})
    conn.send_bytes(json.dumps({"status": status, "body": body}).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve one function's invocations over an inherited socket.")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--name", required=True, help="the function's name (its Lambda context)")
    parser.add_argument("--handler", required=True, help="directory under functions/")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(args.fd)
    try:
        from jobqueue.local.runner import FunctionRunner, LocalContext

        runner = FunctionRunner(args.handler)
    except BaseException as exc:  # the init phase failed: reported, then this environment is gone
        _reply(conn, "init-error", error_payload(exc))
        return 1
    _reply(conn, "ready", None)
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the supervisor is gone
            return 0
        context = LocalContext(args.name, deadline=time.monotonic() + request["timeout"])
        try:
            result = runner.invoke(request["event"], context)
        except Exception as exc:
            _reply(conn, "error", error_payload(exc))
            continue
        try:
            _reply(conn, "ok", result)
        except (EOFError, OSError):
            return 0


if __name__ == "__main__":
    sys.exit(main())
