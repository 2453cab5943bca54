"""Who is calling, where, and which operation: derived from one request.

Accounts and regions are the isolation keys of everything the emulator keeps
(status windows, injected failures, request counts), so they are derived the
same way moto derives them for its own backends.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from .wsgi import peek_body

DEFAULT_ACCOUNT_ID = "123456789012"  # moto.core.DEFAULT_ACCOUNT_ID
DEFAULT_REGION = "us-east-1"

# Smithy RPC v2 CBOR: POST /service/<ServiceShapeName>/operation/<OperationName>
CBOR_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)/?$")

# SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/sagemaker/aws4_request, ..."
_CREDENTIAL_SCOPE = re.compile(
    r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request"
)
# moto.core.responses.BaseResponse.region_regex / region_from_useragent_regex
_HOST_REGION = re.compile(r"\.(?P<region>[^.]+)\.amazonaws\.com")
_USER_AGENT_REGION = re.compile(r"region/(?P<region>[a-z]{2}-[a-z]+-\d{1})")

# aws-sdk-sagemakerruntime is restJson1: the operation is only in the path.
_RUNTIME_PATHS = [
    (re.compile(r"^/endpoints/[^/]+/invocations$"), "InvokeEndpoint"),
    (re.compile(r"^/endpoints/[^/]+/async-invocations$"), "InvokeEndpointAsync"),
    (
        re.compile(r"^/endpoints/[^/]+/invocations-response-stream$"),
        "InvokeEndpointWithResponseStream",
    ),
]


@dataclass
class RequestInfo:
    account: str
    region: str
    signing_service: str | None
    # "Service.Operation" as counted by /_mlm/requests, or None if unknown.
    operation_key: str | None
    # Set for Smithy RPC v2 CBOR requests.
    cbor_service: str | None = None
    cbor_operation: str | None = None
    # Set for awsJson requests (X-Amz-Target: Service.Operation).
    target_service: str | None = None
    target_operation: str | None = None


def account_of(environ: dict) -> str:
    # Same precedence as moto's BaseResponse.get_current_account(), without its
    # IAM access-key lookup (tests use dummy keys, which map to the default).
    return (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or DEFAULT_ACCOUNT_ID
    )


def credential_scope(environ: dict) -> tuple[str | None, str | None]:
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None, None
    return match.group("region"), match.group("service")


def region_of(environ: dict) -> str:
    """The region moto files this request's resources under.

    Same precedence as moto's BaseResponse.get_region_from_url: a regional AWS
    host name, then "region/..." in the User-Agent, then the SigV4 credential
    scope, then us-east-1. Our records must use the same key as moto's backends.
    """
    host = _HOST_REGION.search(environ.get("HTTP_HOST", ""))
    if host:
        return host.group("region")
    agent = _USER_AGENT_REGION.search(environ.get("HTTP_USER_AGENT", ""))
    if agent:
        return agent.group("region")
    return credential_scope(environ)[0] or DEFAULT_REGION


def describe_request(environ: dict) -> RequestInfo:
    _, service = credential_scope(environ)
    info = RequestInfo(
        account=account_of(environ),
        region=region_of(environ),
        signing_service=service,
        operation_key=None,
    )
    path = environ.get("PATH_INFO", "")

    cbor = CBOR_PATH.match(path)
    if cbor and environ.get("REQUEST_METHOD") == "POST":
        info.cbor_service = cbor.group("service")
        info.cbor_operation = cbor.group("operation")
        info.operation_key = f"{info.cbor_service}.{info.cbor_operation}"
        return info

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        service_name, _, operation = target.partition(".")
        info.target_service, info.target_operation = service_name, operation
        info.operation_key = target
        return info

    action = _query_action(environ)
    if action:
        info.operation_key = f"{service or 'unknown'}.{action}"
        return info

    for pattern, operation in _RUNTIME_PATHS:
        if pattern.match(path):
            info.operation_key = f"SageMakerRuntime.{operation}"
            return info

    if service:
        # Some other REST-protocol call: no operation name on the wire, so
        # count it by method and path.
        info.operation_key = f"{service}.{environ.get('REQUEST_METHOD', 'GET')} {path}"
    return info


def _query_action(environ: dict) -> str | None:
    """Action= of an AWS query-protocol request (URL or form body)."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(peek_body(environ).decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None
