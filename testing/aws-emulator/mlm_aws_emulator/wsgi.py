"""Small WSGI helpers: buffered replies and in-process calls into moto.

The emulator sits in front of moto's WSGI app. Most requests go straight through;
the ones we translate or patch are sent to moto in-process with ``call`` and the
buffered reply is rewritten before it goes back to the client.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.test import run_wsgi_app
from werkzeug.wsgi import get_input_stream

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


@dataclass
class Reply:
    """A fully buffered HTTP reply."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def send(self, start_response: Callable) -> list[bytes]:
        headers = Headers(self.headers)
        # The body may have been rewritten: never trust a copied length.
        headers.remove("Content-Length")
        headers.remove("Transfer-Encoding")
        headers["Content-Length"] = str(len(self.body))
        reason = HTTP_STATUS_CODES.get(self.status, "UNKNOWN").upper()
        start_response(f"{self.status} {reason}", list(headers.items()))
        return [self.body]


def json_reply(
    status: int, payload: Any, content_type: str = "application/json", **extra: str
) -> Reply:
    headers = Headers({"Content-Type": content_type})
    for name, value in extra.items():
        headers[name.replace("_", "-")] = value
    return Reply(status, headers, json.dumps(payload).encode())


def aws_json_error(
    status: int, code: str, message: str, content_type: str = "application/x-amz-json-1.1"
) -> Reply:
    """An error in the awsJson shape moto uses for SageMaker.

    Both ``message`` and ``Message`` are set: AWS SDKs accept either, and the
    modeled member of most AWS error shapes is ``Message``.
    """
    reply = json_reply(
        status,
        {"__type": code, "message": message, "Message": message},
        content_type,
    )
    reply.headers["X-Amzn-Errortype"] = code
    return reply


def peek_body(environ: dict) -> bytes:
    """Read the request body and put it back so that moto can read it again."""
    cached = environ.get("mlm.body")
    if cached is not None:
        return cached
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    # The body is now a plain, length-delimited buffer.
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = False
    environ["mlm.body"] = body
    return body


def call(
    app: WSGIApp,
    environ: dict,
    *,
    body: bytes | None = None,
    path: str | None = None,
    set_headers: dict[str, str] | None = None,
    drop_headers: Iterable[str] = (),
) -> Reply:
    """Run ``app`` in-process on a (possibly rewritten) copy of ``environ``."""
    env = dict(environ)
    if body is None:
        body = peek_body(environ)
    env["wsgi.input"] = io.BytesIO(body)
    env["CONTENT_LENGTH"] = str(len(body))
    env["wsgi.input_terminated"] = False
    env.pop("HTTP_TRANSFER_ENCODING", None)
    env.pop("mlm.body", None)
    if path is not None:
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = ""
        env["REQUEST_URI"] = path
        env["RAW_URI"] = path
    for name in drop_headers:
        env.pop(_environ_key(name), None)
    for name, value in (set_headers or {}).items():
        env[_environ_key(name)] = value
    app_iter, status, headers = run_wsgi_app(app, env, buffered=True)
    try:
        data = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close:
            close()
    return Reply(int(status.split(" ", 1)[0]), Headers(headers), data)


def _environ_key(header: str) -> str:
    key = header.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return key
    return "HTTP_" + key
