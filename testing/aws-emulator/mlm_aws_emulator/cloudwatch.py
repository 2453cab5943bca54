"""CloudWatch over awsJson1.0, with moto's percentile crash papered over and
alarms closer to AWS.

moto 5.2.5 computes only SampleCount/Average/Sum/Minimum/Maximum. Any other
statistic in GetMetricData (p99, tm90, IQM, ...) makes it put ``None`` in
``Values`` and then crash while serializing the reply (HTTP 500). Such queries
are answered as "no data": empty Timestamps and Values, StatusCode Complete.
The same goes for GetMetricStatistics with only ExtendedStatistics, where moto
returns datapoints that carry no statistic at all: we return no datapoints.

Alarms (moto 5.2.5 differs from AWS here):

* DescribeAlarms pages: alarms sorted by name, ``MaxRecords`` (1-100, default
  50) per page and a ``NextToken`` (moto returns everything at once, in
  creation order).
* PutMetricAlarm of a new alarm leaves it INSUFFICIENT_DATA, and of an
  existing one keeps its state, reason and state time, as AWS does until the
  next evaluation (moto starts and resets alarms at OK).
* DeleteAlarms also forgets the alarms' tags (moto keeps them, so a re-created
  alarm would inherit them).

Both the native JSON path (boto3's default) and the CBOR bridge come through
here, so both behave the same.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

from .context import account_of, region_of
from .wsgi import Reply, WSGIApp, call, json_reply

TARGET_PREFIX = "GraniteServiceVersion20100801"
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
SIMPLE_STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
#: The operations this module changes; the rest go to moto untouched.
OPERATIONS = (
    "GetMetricData",
    "GetMetricStatistics",
    "DescribeAlarms",
    "PutMetricAlarm",
    "DeleteAlarms",
)
_TOKEN_PREFIX = "mlm-emulator-alarms:"
# Read-modify-write of moto's alarm records (state kept across PutMetricAlarm).
_alarms_lock = threading.Lock()


def call_json(moto_app: WSGIApp, environ: dict, operation: str, params: dict) -> Reply:
    """Send one CloudWatch operation to moto as awsJson1.0 and return its reply."""
    if operation == "GetMetricData":
        return _get_metric_data(moto_app, environ, params)
    if operation == "GetMetricStatistics":
        return _get_metric_statistics(moto_app, environ, params)
    if operation == "DescribeAlarms":
        return _describe_alarms(moto_app, environ, params)
    if operation == "PutMetricAlarm":
        return _put_metric_alarm(moto_app, environ, params)
    if operation == "DeleteAlarms":
        return _delete_alarms(moto_app, environ, params)
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


def _backend(environ: dict) -> Any:
    return cloudwatch_backends[account_of(environ)][region_of(environ)]


def _invalid(code: str, message: str) -> Reply:
    # moto's awsJson errors carry the code in __type and in x-amzn-query-error.
    reply = json_reply(400, {"__type": code, "message": message}, JSON_CONTENT_TYPE)
    reply.headers["x-amzn-query-error"] = f"{code};Sender"
    return reply


def _describe_alarms(moto_app: WSGIApp, environ: dict, params: dict) -> Reply:
    size = params.get("MaxRecords", 50)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100:
        return _invalid("InvalidParameterValue", f"MaxRecords {size!r} must be 1-100.")
    token = params.get("NextToken")
    if token is not None and not str(token).startswith(_TOKEN_PREFIX):
        return _invalid("InvalidNextToken", "The NextToken is not one this API issued.")
    forwarded = {k: v for k, v in params.items() if k not in ("MaxRecords", "NextToken")}
    reply = _forward(moto_app, environ, "DescribeAlarms", forwarded)
    if reply.status != 200:
        return reply
    payload = reply.json()
    alarms = sorted(payload.get("MetricAlarms") or [], key=lambda a: a.get("AlarmName", ""))
    if token is not None:
        after = str(token)[len(_TOKEN_PREFIX) :]
        alarms = [a for a in alarms if a.get("AlarmName", "") > after]
        payload["CompositeAlarms"] = []  # given on the first page only
    payload["MetricAlarms"] = alarms[:size]
    payload.pop("NextToken", None)
    if len(alarms) > size:
        payload["NextToken"] = _TOKEN_PREFIX + alarms[size - 1]["AlarmName"]
    return _with_body(reply, payload)


def _put_metric_alarm(moto_app: WSGIApp, environ: dict, params: dict) -> Reply:
    with _alarms_lock:
        alarms = _backend(environ).alarms
        before = alarms.get(params.get("AlarmName"))
        reply = _forward(moto_app, environ, "PutMetricAlarm", params)
        after = alarms.get(params.get("AlarmName"))
        if reply.status != 200 or after is None:
            return reply
        if before is None:
            # AWS: a new alarm is INSUFFICIENT_DATA until first evaluated (moto: OK).
            after.state_value = "INSUFFICIENT_DATA"
        else:
            for field in (
                "state_value",
                "state_reason",
                "state_reason_data",
                "state_updated_timestamp",
                "history",
            ):
                setattr(after, field, getattr(before, field))
    return reply


def _delete_alarms(moto_app: WSGIApp, environ: dict, params: dict) -> Reply:
    with _alarms_lock:
        backend = _backend(environ)
        arns = [
            backend.alarms[n].alarm_arn
            for n in params.get("AlarmNames") or []
            if n in backend.alarms
        ]
        reply = _forward(moto_app, environ, "DeleteAlarms", params)
        if reply.status == 200:
            for arn in arns:
                backend.tagger.delete_all_tags_for_resource(arn)
    return reply


def _with_body(reply: Reply, payload: Any) -> Reply:
    return Reply(reply.status, reply.headers, json.dumps(payload).encode())
