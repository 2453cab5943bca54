"""Data capture: what SageMaker writes to S3 for endpoints created with DataCaptureConfig.

moto stores an endpoint's ``DataCaptureConfig`` but captures nothing. Here every
``InvokeEndpoint`` of such an endpoint that moto answers 200 is sampled at
``InitialSamplingPercentage`` and, when sampled, written to moto's S3 as one JSON Lines
record in SageMaker's format and layout:
``s3://bucket/prefix/{endpoint}/{variant}/yyyy/mm/dd/hh/{uuid}.jsonl``. Real SageMaker
batches records into fewer files a few minutes late; one object per record, at once, keeps
tests simple and is read back the same way.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.s3.models import s3_backends

from .context import RequestInfo
from .wsgi import Reply, WSGIApp, call, peek_body


def encoded(content_type: str, payload: bytes) -> tuple[str, str]:
    """(data, encoding) the way SageMaker writes a payload: text for CSV and JSON."""
    essence = content_type.split(";")[0].strip().lower()
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and essence == "text/csv":
        return text, "CSV"
    if text is not None and (essence == "application/json" or essence.endswith("+json")):
        return text, "JSON"
    return base64.b64encode(payload).decode("ascii"), "BASE64"


def record(config: dict, request: tuple[str, bytes], answer: tuple[str, bytes]) -> dict:
    """One capture record of an invocation, with the payloads ``config`` captures."""
    modes = {o.get("CaptureMode") for o in config.get("CaptureOptions") or []}
    data: dict[str, Any] = {}
    for mode, key, (content_type, payload) in (
        ("Input", "endpointInput", request),
        ("Output", "endpointOutput", answer),
    ):
        if mode in modes:
            text, encoding = encoded(content_type, payload)
            data[key] = {
                "observedContentType": content_type,
                "mode": mode.upper(),
                "data": text,
                "encoding": encoding,
            }
    now = datetime.now(UTC)
    return {
        "captureData": data,
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        "eventVersion": "0",
    }


def capture_key(prefix: str, endpoint: str, variant: str, at: datetime) -> str:
    hour = at.strftime("%Y/%m/%d/%H")
    parts = [prefix.strip("/"), endpoint, variant, hour, f"{uuid.uuid4()}.jsonl"]
    return "/".join(p for p in parts if p)


class Capture:
    def __init__(self, moto_app: WSGIApp, backend: Any) -> None:
        self.moto = moto_app
        self.backend = backend  # RequestInfo -> moto's SageMaker backend

    def invoke(self, info: RequestInfo, environ: dict) -> Reply | None:
        """moto's answer to an InvokeEndpoint, captured when the endpoint says so; None
        (pass through) for endpoints without capture."""
        parts = environ.get("PATH_INFO", "").split("/")
        endpoint = self.backend(info).endpoints.get(parts[2]) if len(parts) > 2 else None
        config = getattr(endpoint, "data_capture_config", None) or {}
        if not config.get("EnableCapture"):
            return None
        body = peek_body(environ)
        reply = call(self.moto, environ)
        percent = float(config.get("InitialSamplingPercentage", 0))
        if reply.status != 200 or random.uniform(0, 100) >= percent:
            return reply
        # moto's canned answers name a placeholder variant: keep it only if it is real.
        names = [v["VariantName"] for v in endpoint.production_variants]
        invoked = reply.headers.get("x-Amzn-Invoked-Production-Variant")
        variant = invoked if invoked in names else names[0]
        line = record(
            config,
            (environ.get("CONTENT_TYPE", "application/octet-stream"), body),
            (reply.headers.get("Content-Type", "application/octet-stream"), reply.body),
        )
        uri = str(config.get("DestinationS3Uri", ""))
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        key = capture_key(prefix, endpoint.endpoint_name, variant, datetime.now(UTC))
        s3 = s3_backends[info.account]["aws"]
        s3.put_object(bucket, key, (json.dumps(line) + "\n").encode())
        return reply
