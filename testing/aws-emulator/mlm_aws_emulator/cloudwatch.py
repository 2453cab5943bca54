"""CloudWatch over awsJson1.0, with moto's percentile crash papered over.

moto 5.2.5 computes only SampleCount/Average/Sum/Minimum/Maximum. Any other
statistic in GetMetricData (p99, tm90, IQM, ...) makes it put ``None`` in
``Values`` and then crash while serializing the reply (HTTP 500). Such queries
are answered as "no data": empty Timestamps and Values, StatusCode Complete.
The same goes for GetMetricStatistics with only ExtendedStatistics, where moto
returns datapoints that carry no statistic at all: we return no datapoints.

Both the native JSON path (boto3's default) and the CBOR bridge come through
here, so both behave the same.
"""

from __future__ import annotations

import json
from typing import Any

from .context import region_of
from .wsgi import Reply, WSGIApp, call

TARGET_PREFIX = "GraniteServiceVersion20100801"
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
SIMPLE_STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}


def call_json(moto_app: WSGIApp, environ: dict, operation: str, params: dict) -> Reply:
    """Send one CloudWatch operation to moto as awsJson1.0 and return its reply."""
    if operation == "GetMetricData":
        return _get_metric_data(moto_app, environ, params)
    if operation == "GetMetricStatistics":
        return _get_metric_statistics(moto_app, environ, params)
    return _forward(moto_app, environ, operation, params)


def _forward(moto_app: WSGIApp, environ: dict, operation: str, params: dict) -> Reply:
    headers = {
        "X-Amz-Target": f"{TARGET_PREFIX}.{operation}",
        "Content-Type": JSON_CONTENT_TYPE,
    }
    if "HTTP_AUTHORIZATION" not in environ:
        # moto picks the backend from the SigV4 credential scope; an unsigned
        # request would land on its S3 default.
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=mlm-emulator/20000101/{region_of(environ)}/"
            "monitoring/aws4_request, SignedHeaders=host, Signature=0"
        )
    return call(
        moto_app,
        environ,
        body=json.dumps(params).encode(),
        path="/",
        set_headers=headers,
        drop_headers=("smithy-protocol",),
    )


def _get_metric_data(moto_app: WSGIApp, environ: dict, params: dict) -> Reply:
    # Ask moto for Sum instead (keeps metric-math references valid), then blank
    # those results.
    unsupported: dict[str, str] = {}  # query id -> label AWS would give
    queries = []
    for query in params.get("MetricDataQueries") or []:
        stat = (query.get("MetricStat") or {}).get("Stat")
        if stat is not None and stat not in SIMPLE_STATISTICS:
            metric_name = (query["MetricStat"].get("Metric") or {}).get("MetricName")
            unsupported[query.get("Id")] = query.get("Label") or f"{metric_name} {stat}"
            query = {**query, "MetricStat": {**query["MetricStat"], "Stat": "Sum"}}
        queries.append(query)
    if not unsupported:
        return _forward(moto_app, environ, "GetMetricData", params)

    reply = _forward(moto_app, environ, "GetMetricData", {**params, "MetricDataQueries": queries})
    if reply.status != 200:
        return reply
    payload = reply.json()
    for result in payload.get("MetricDataResults") or []:
        if result.get("Id") in unsupported:
            result["Timestamps"] = []
            result["Values"] = []
            result["Label"] = unsupported[result["Id"]]
    return _with_body(reply, payload)


def _get_metric_statistics(moto_app: WSGIApp, environ: dict, params: dict) -> Reply:
    reply = _forward(moto_app, environ, "GetMetricStatistics", params)
    if reply.status != 200 or params.get("Statistics"):
        return reply
    payload = reply.json()
    payload["Datapoints"] = []
    return _with_body(reply, payload)


def _with_body(reply: Reply, payload: Any) -> Reply:
    return Reply(reply.status, reply.headers, json.dumps(payload).encode())
