"""The emulator: a WSGI middleware in front of moto's server app.

Routing, in order:

1. ``/_mlm/...``              test control API (ControlApi below).
2. every other request is counted per (account, operation), pending endpoint
   status transitions are settled, then:
3. ``/service/<S>/operation/<Op>``  Smithy RPC v2 CBOR -> cbor_rpc (CloudWatch).
4. ``X-Amz-Target: SageMaker.*``    sagemaker.SageMakerExtensions.
5. ``X-Amz-Target: GraniteServiceVersion20100801.<GetMetric*, alarms>``  cloudwatch fixes.
   InvokeEndpoint of an endpoint with DataCaptureConfig writes capture records to S3
   (capture.py).
6. ``X-Amz-Target: AnyScaleFrontendService.RegisterScalableTarget`` of a SageMaker
   variant is refused while its endpoint is not InService, as on AWS.
7. anything else goes to moto untouched.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from . import cbor_rpc, cloudwatch
from .capture import Capture
from .context import RequestInfo, account_of, describe_request
from .sagemaker import DEFAULT_FAILURE_REASON, SageMakerExtensions
from .state import CONFIG_DEFAULTS, EmulatorState
from .wsgi import Reply, WSGIApp, json_reply, peek_body


def create_moto_app() -> WSGIApp:
    # What moto.server.main() and ThreadedMotoServer serve.
    return DomainDispatcherApplication(create_backend_app)


class EmulatorApp:
    def __init__(self, moto_app: WSGIApp | None = None) -> None:
        self.moto = moto_app or create_moto_app()
        self.state = EmulatorState()
        self.sagemaker = SageMakerExtensions(self.state, self.moto)
        self.capture = Capture(self.moto, self.sagemaker.backend)
        self.control = ControlApi(self.state)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_mlm/"):
            return self.control(environ, start_response)
        if path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            # moto forgets every resource; forget what we hold about them too.
            self.state.reset_all()

        info = describe_request(environ)
        if info.operation_key and not path.startswith("/moto-api"):
            self.state.count(info.account, info.operation_key)
        self.state.settle()

        try:
            reply = self._dispatch(info, environ)
        except Exception:  # noqa: BLE001 - a test server must answer, not hang up
            traceback.print_exc(file=sys.stderr)
            detail = traceback.format_exc(limit=3)
            if info.cbor_service:
                reply = cbor_rpc.error_reply(500, "InternalFailure", f"emulator error: {detail}")
            else:
                reply = json_reply(
                    500,
                    {"__type": "InternalFailure", "message": f"emulator error: {detail}"},
                )
        if reply is None:
            return self.moto(environ, start_response)
        return reply.send(start_response)

    def _dispatch(self, info: RequestInfo, environ: dict) -> Reply | None:
        """A buffered reply for requests we handle, None to pass through to moto."""
        if info.cbor_service:

            def json_call(operation: str, params: dict) -> Reply:
                return cloudwatch.call_json(self.moto, environ, operation, params)

            return cbor_rpc.handle(info.cbor_service, info.cbor_operation, environ, json_call)

        if info.target_service == "SageMaker":
            return self.sagemaker.handle(info, environ)

        if (info.operation_key or "").startswith("SageMakerRuntime."):
            # moto answers invocations of endpoints that do not exist; AWS does not.
            refused = self.sagemaker.check_runtime_endpoint(info, environ)
            if refused is not None or info.operation_key != "SageMakerRuntime.InvokeEndpoint":
                return refused
            # Endpoints with DataCaptureConfig write records to S3, as on AWS.
            return self.capture.invoke(info, environ)

        if (
            info.target_service == "AnyScaleFrontendService"
            and info.target_operation == "RegisterScalableTarget"
        ):
            return self.sagemaker.check_scalable_target(info, environ)

        if (
            info.target_service == cloudwatch.TARGET_PREFIX
            and info.target_operation in cloudwatch.OPERATIONS
        ):
            try:
                params = json.loads(peek_body(environ) or b"{}")
            except ValueError:
                return None  # moto answers the malformed body itself
            if isinstance(params, dict):
                return cloudwatch.call_json(self.moto, environ, info.target_operation, params)
        return None


class ControlApi:
    """``/_mlm/*``: JSON control API for tests, scoped by ``x-moto-account-id``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.routes: dict[tuple[str, str], Callable[[str, Any], Reply]] = {
            ("GET", "/_mlm/health"): self.health,
            ("GET", "/_mlm/config"): self.get_config,
            ("POST", "/_mlm/config"): self.set_config,
            ("POST", "/_mlm/fail-next-update"): self.fail_next_update,
            ("POST", "/_mlm/fail-next-create"): self.fail_next_create,
            ("GET", "/_mlm/requests"): self.get_requests,
            ("POST", "/_mlm/requests/reset"): self.reset_requests,
            ("POST", "/_mlm/reset"): self.reset,
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        route = self.routes.get((method, path))
        if route is None:
            known = any(p == path for _, p in self.routes)
            status = 405 if known else 404
            reply = json_reply(status, {"error": f"no route {method} {path}"})
            return reply.send(start_response)
        body: Any = None
        if method == "POST":
            raw = peek_body(environ)
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return json_reply(400, {"error": "body must be JSON"}).send(start_response)
            if not isinstance(body, dict):
                return json_reply(400, {"error": "body must be a JSON object"}).send(start_response)
        return route(account_of(environ), body).send(start_response)

    def health(self, account: str, body: Any) -> Reply:
        return json_reply(200, {"status": "ok"})

    def get_config(self, account: str, body: Any) -> Reply:
        return json_reply(200, self.state.account(account).config)

    def set_config(self, account: str, body: dict) -> Reply:
        unknown = sorted(set(body) - set(CONFIG_DEFAULTS))
        if unknown:
            return json_reply(
                400, {"error": f"unknown keys {unknown}; known: {sorted(CONFIG_DEFAULTS)}"}
            )
        for key, value in body.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                return json_reply(400, {"error": f"{key} must be a number >= 0"})
        with self.state.lock:
            config = self.state.account(account).config
            config.update({k: float(v) for k, v in body.items()})
            return json_reply(200, dict(config))

    def fail_next_update(self, account: str, body: dict) -> Reply:
        return self._queue_failure(account, body, "failing_updates")

    def fail_next_create(self, account: str, body: dict) -> Reply:
        return self._queue_failure(account, body, "failing_creates")

    def _queue_failure(self, account: str, body: dict, queue: str) -> Reply:
        endpoint = body.get("endpoint")
        reason = body.get("reason") or DEFAULT_FAILURE_REASON
        if not isinstance(endpoint, str) or not endpoint:
            return json_reply(400, {"error": "endpoint (a name) is required"})
        if not isinstance(reason, str):
            return json_reply(400, {"error": "reason must be a string"})
        with self.state.lock:
            getattr(self.state.account(account), queue)[endpoint] = reason
        return json_reply(200, {"endpoint": endpoint, "reason": reason})

    def get_requests(self, account: str, body: Any) -> Reply:
        with self.state.lock:
            counts = dict(sorted(self.state.account(account).request_counts.items()))
        return json_reply(200, counts)

    def reset_requests(self, account: str, body: Any) -> Reply:
        with self.state.lock:
            self.state.account(account).request_counts.clear()
        return json_reply(200, {})

    def reset(self, account: str, body: Any) -> Reply:
        self.state.reset_account(account)
        return json_reply(200, {})
