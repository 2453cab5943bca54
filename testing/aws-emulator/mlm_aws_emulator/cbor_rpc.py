"""Smithy RPC v2 CBOR in front of moto's awsJson endpoint.

aws-sdk-cloudwatch (>= 1.100, and botocore's model) talks Smithy RPC v2 CBOR:
``POST /service/GraniteServiceVersion20100801/operation/<Op>`` with a CBOR body
and ``smithy-protocol: rpc-v2-cbor``. moto 5.2.5 speaks CloudWatch only as
query and awsJson1.0, so each request is translated:

* request: CBOR -> the equivalent awsJson1.0 request (``X-Amz-Target:
  GraniteServiceVersion20100801.<Op>``). Timestamps (tag 1, epoch seconds)
  become JSON epoch-second numbers, byte strings become base64.
* reply: moto's JSON -> CBOR, walking the operation's output shape from
  botocore's service model, because JSON does not say which number is a
  timestamp or a double. Types must be exact for aws-smithy-cbor: timestamps
  are tag 1 + float64 and doubles are floats (it reads both with
  ``minicbor::Decoder::f64``, which rejects CBOR integers), integers are ints.
* errors: ``{"__type", "message"}`` in CBOR with moto's HTTP status and its
  ``x-amzn-query-error`` header (CloudWatch is awsQueryCompatible: the SDK
  takes the error code from that header when present).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from typing import Any

import botocore.loaders
import botocore.model
import cbor2
from werkzeug.datastructures import Headers

from . import cloudwatch
from .wsgi import Reply, peek_body

# Smithy service shape name (the path segment) -> botocore service name. Only
# CloudWatch is bridged; its JSON calls go through cloudwatch.call_json.
SERVICES: dict[str, str] = {cloudwatch.TARGET_PREFIX: "cloudwatch"}

JsonCall = Callable[[str, dict], Reply]  # (operation, params) -> moto JSON reply


@cache
def service_model(name: str) -> botocore.model.ServiceModel:
    data = botocore.loaders.Loader().load_service_model(name, "service-2")
    return botocore.model.ServiceModel(data, service_name=name)


def handle(service: str, operation: str, environ: dict, json_call: JsonCall) -> Reply:
    """Answer one RPC v2 CBOR request by way of ``json_call``."""
    botocore_name = SERVICES.get(service)
    if botocore_name is None or operation not in service_model(botocore_name).operation_names:
        # Smithy RPC v2: unknown service/operation -> 404 UnknownOperationException.
        return error_reply(
            404,
            "UnknownOperationException",
            f"The emulator has no operation {operation} on service {service}.",
        )
    operation_model = service_model(botocore_name).operation_model(operation)

    raw = peek_body(environ)
    try:
        params = cbor_to_json(cbor2.loads(raw)) if raw else {}
    except (cbor2.CBORDecodeError, ValueError) as exc:
        return error_reply(400, "SerializationException", f"Cannot decode CBOR body: {exc}")
    if not isinstance(params, dict):
        return error_reply(400, "SerializationException", "The CBOR body must be a map.")

    return json_reply_to_cbor(json_call(operation, params), operation_model)


def cbor_to_json(value: Any) -> Any:
    """Turn decoded CBOR into what the awsJson protocol carries."""
    if isinstance(value, datetime):  # cbor2 decodes tag 0 and tag 1 to datetime
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        # CBOR null means "absent" for structure members.
        return {str(k): cbor_to_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [cbor_to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        # awsJson sends non-finite doubles as strings.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, cbor2.CBORTag):
        raise ValueError(f"unsupported CBOR tag {value.tag}")
    if value is cbor2.undefined:
        return None
    return value


def json_reply_to_cbor(reply: Reply, operation_model: botocore.model.OperationModel) -> Reply:
    headers = Headers({"smithy-protocol": "rpc-v2-cbor"})
    for name in ("x-amzn-requestid", "x-amzn-query-error"):
        if name in reply.headers:
            headers[name] = reply.headers[name]

    if not 200 <= reply.status < 300:
        code, message = _error_code_and_message(reply)
        error = error_reply(reply.status, code, message)
        error.headers.update(headers)
        return error

    output_shape = operation_model.output_shape
    if output_shape is None:
        # No output structure (e.g. PutMetricData): no body at all.
        return Reply(reply.status, headers, b"")
    payload = reply.json() if reply.body.strip() else {}
    headers["Content-Type"] = "application/cbor"
    return Reply(reply.status, headers, cbor2.dumps(json_to_cbor(payload, output_shape)))


def json_to_cbor(value: Any, shape: botocore.model.Shape) -> Any:
    """Convert one awsJson value to its CBOR form, as ``shape`` types it."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        members = shape.members
        return {
            key: json_to_cbor(item, members[key])
            for key, item in value.items()
            if key in members and item is not None
        }
    # CloudWatch's lists and maps are dense: a null element would not decode.
    if kind == "list":
        return [json_to_cbor(item, shape.member) for item in value if item is not None]
    if kind == "map":
        return {
            key: json_to_cbor(item, shape.value) for key, item in value.items() if item is not None
        }
    if kind == "timestamp":
        # Tag 1 (epoch seconds) + float64: the form aws-smithy-cbor reads.
        return cbor2.CBORTag(1, _epoch_seconds(value))
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else value
    if kind in ("double", "float"):
        return _to_float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean":
        return value.lower() == "true" if isinstance(value, str) else bool(value)
    return value


def error_reply(status: int, code: str, message: str) -> Reply:
    headers = Headers({"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"})
    # "message" is what the Smithy error envelope names; "Message" is the
    # modeled member of CloudWatch's error shapes. SDKs read either.
    body = cbor2.dumps({"__type": code, "message": message, "Message": message})
    return Reply(status, headers, body)


def _error_code_and_message(reply: Reply) -> tuple[str, str]:
    try:
        payload = json.loads(reply.body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("__type"):
        message = payload.get("message") or payload.get("Message") or ""
        return str(payload["__type"]), str(message)
    # moto answers operations it does not implement with an HTML 500 page.
    code = "InternalFailure" if reply.status >= 500 else "UnknownError"
    return code, (
        f"moto answered HTTP {reply.status} without a JSON error "
        "(operation not implemented by moto 5.2.5, or a moto crash)"
    )


def _epoch_seconds(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.timestamp()
    if isinstance(value, datetime):
        return value.timestamp()
    raise ValueError(f"not a timestamp: {value!r}")


def _to_float(value: Any) -> float:
    if isinstance(value, str):  # awsJson "NaN" / "Infinity" / "-Infinity"
        return float(value.replace("Infinity", "inf"))
    return float(value)
