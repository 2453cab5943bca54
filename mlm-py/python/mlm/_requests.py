"""Request building shared by the blocking and the async client.

Requests are the core request structs' serde representation; the native module turns them
into the Rust types, so they are validated exactly as the REST API's requests are. Only
argument *shapes* are checked here (which arguments go together); values are checked in Rust.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _mlm
from .errors import InvalidArgumentError
from .types import (
    Approval,
    Comparison,
    Endpoint,
    MetricKind,
    ModelVersion,
    Statistic,
    TreatMissingData,
    VariantSpec,
    VersionRef,
    format_datetime,
)

#: What ``version=`` accepts: a version object, a reference, ``"model/3"``, or a number
#: (with ``model=``, or the variant's current model on updates).
VersionLike = Union[ModelVersion, VersionRef, str, int]

#: What ``invoke`` sends: bytes as they are, ``str`` as UTF-8 text, anything else as JSON.
Body = Union[bytes, bytearray, memoryview, str, Mapping[str, Any], Sequence[Any], int, float, bool, None]

DEFAULT_VARIANT = "primary"


def plain(value: Any) -> Any:
    """``value`` with paths as strings and tuples as lists, for the native module."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def create_model(
    name: str, description: Optional[str], tags: Optional[Mapping[str, str]]
) -> Dict[str, Any]:
    return {"name": name, "description": description, "tags": dict(tags or {})}


def update_model(
    description: Optional[str], tags: Optional[Mapping[str, str]]
) -> Dict[str, Any]:
    if description is None and tags is None:
        raise InvalidArgumentError("the update changes nothing: give description or tags")
    return {"description": description, "tags": None if tags is None else dict(tags)}


def approval(value: Union[Approval, str]) -> str:
    try:
        return Approval(value).value
    except ValueError:
        raise InvalidArgumentError(
            f"approval {value!r} is not one of pending, approved, rejected"
        ) from None


def create_version(
    model: str,
    artifact_uri: Union[str, "os.PathLike[str]"],
    image: str,
    environment: Optional[Mapping[str, str]],
    approval_: Optional[Union[Approval, str]],
    description: Optional[str],
) -> Dict[str, Any]:
    return {
        "model": model,
        "artifact_uri": os.fspath(artifact_uri),
        "image": image,
        "environment": dict(environment or {}),
        "approval": approval(approval_ or Approval.PENDING),
        "description": description,
    }


def update_version(
    approval_: Optional[Union[Approval, str]], description: Optional[str]
) -> Dict[str, Any]:
    if approval_ is None and description is None:
        raise InvalidArgumentError("the update changes nothing: give approval or description")
    return {
        "approval": None if approval_ is None else approval(approval_),
        "description": description,
    }


def version_ref(version: VersionLike, model: Optional[str]) -> Optional[VersionRef]:
    """The reference ``version`` means, or ``None`` when it is a bare number and no ``model``
    was given (updates then use the variant's current model)."""
    if isinstance(version, bool):
        raise InvalidArgumentError("version must be a version, a reference or a number")
    if isinstance(version, int):
        return None if model is None else VersionRef(model, version)
    ref = VersionRef.parse(version)
    if model is not None and model != ref.model:
        raise InvalidArgumentError(
            f"version {ref} is a version of '{ref.model}', not of model '{model}'"
        )
    return ref


def variant_specs(variants: Iterable[Union[VariantSpec, Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    specs = []
    for v in variants:
        spec = v if isinstance(v, VariantSpec) else VariantSpec(**v)
        specs.append(spec._request())
    return specs


def create_endpoint(
    name: str,
    version: Optional[VersionLike],
    model: Optional[str],
    instance_type: Optional[str],
    instance_count: int,
    variant: str,
    variants: Optional[Sequence[Union[VariantSpec, Mapping[str, Any]]]],
    tags: Optional[Mapping[str, str]],
    deployment: Optional[Mapping[str, Any]] = None,
    data_capture: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    if variants is not None:
        if version is not None or instance_type is not None:
            raise InvalidArgumentError(
                "give either variants=[...] or version= and instance_type=, not both"
            )
        specs = variant_specs(variants)
    else:
        if version is None or instance_type is None:
            raise InvalidArgumentError(
                "create_endpoint needs version= and instance_type= (or variants=[...])"
            )
        ref = version_ref(version, model)
        if ref is None:
            raise InvalidArgumentError(
                f"version={version} is a number: say which model with model=, "
                "or pass the ModelVersion or 'model/version'"
            )
        specs = variant_specs(
            [VariantSpec(variant, ref, instance_type=instance_type, instance_count=instance_count)]
        )
    return {
        "name": name,
        "variants": specs,
        "tags": dict(tags or {}),
        "data_capture": plain(data_capture),
        "deployment": plain(deployment),
    }


def serving_model(endpoint: Endpoint, variant: Optional[str]) -> str:
    """The model ``variant`` serves (without a name: the only variant's), for ``version=3``."""
    if variant is not None:
        serving = endpoint.variant(variant)
    elif len(endpoint.variants) != 1:
        names = ", ".join(v.name for v in endpoint.variants)
        raise InvalidArgumentError(
            f"endpoint {endpoint.name!r} has {len(endpoint.variants)} variants ({names}): "
            "give variant= or model= with a bare version number"
        )
    else:
        serving = endpoint.variants[0]
    if serving.model_version is None:
        raise InvalidArgumentError(
            f"variant {serving.name!r} of endpoint {endpoint.name!r} has no model version "
            "(it was not created by mlm): give model= with a bare version number"
        )
    return serving.model_version.model


def update_endpoint(
    name: str,
    variant: Optional[str],
    instance_count: Optional[int],
    instance_type: Optional[str],
    version: Optional[VersionRef],
    weights: Optional[Mapping[str, float]],
    variants: Optional[Sequence[Union[VariantSpec, Mapping[str, Any]]]],
    deployment: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    # Keyed by variant name; None is the endpoint's only variant (the core resolves it).
    changes: Dict[Optional[str], Dict[str, Any]] = {}

    def change(v: Optional[str]) -> Dict[str, Any]:
        return changes.setdefault(
            v,
            {
                "variant": v,
                "instance_count": None,
                "instance_type": None,
                "model_version": None,
                "weight": None,
            },
        )

    if instance_count is not None:
        change(variant)["instance_count"] = instance_count
    if instance_type is not None:
        change(variant)["instance_type"] = instance_type
    if version is not None:
        change(variant)["model_version"] = version.to_dict()
    for v, w in (weights or {}).items():
        change(v)["weight"] = float(w)
    if variants is not None and changes:
        raise InvalidArgumentError(
            "give either variants=[...] (a whole new variant set) or changes "
            "(instance_count, instance_type, version, weights), not both"
        )
    if variants is None and not changes:
        raise InvalidArgumentError(
            "the update changes nothing: give instance_count, instance_type, version, "
            "weights or variants"
        )
    return {
        "name": name,
        "changes": list(changes.values()),
        "replace_variants": None if variants is None else variant_specs(variants),
        "deployment": plain(deployment),
        "retain_autoscaled_counts": True,
    }


def alarm(
    endpoint: str,
    name: str,
    metric: Union[str, MetricKind],
    comparison: Union[str, Comparison],
    threshold: float,
    statistic: Union[str, Statistic, None],
    period_seconds: int,
    evaluation_periods: int,
    datapoints_to_alarm: Optional[int],
    treat_missing_data: Union[str, TreatMissingData],
    variant: Optional[str],
    actions: Iterable[str],
    description: Optional[str],
) -> Dict[str, Any]:
    """An alarm definition; the core fills in what is ``None`` (the metric's own statistic,
    M = N) and checks it with CloudWatch's rules."""
    return {
        "name": name,
        "endpoint": endpoint,
        "metric": str(metric),
        "comparison": str(comparison),
        "threshold": float(threshold),
        "statistic": None if statistic is None else str(statistic),
        "period_seconds": int(period_seconds),
        "evaluation_periods": int(evaluation_periods),
        "datapoints_to_alarm": datapoints_to_alarm,
        "treat_missing_data": str(treat_missing_data),
        "variant": variant,
        "actions": list(actions),
        "description": description,
    }


def _seconds(value: Union[float, timedelta], what: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise InvalidArgumentError(f"{what} must be positive")
    return seconds


def metrics_query(
    endpoint: str,
    kinds: Union[str, MetricKind, Iterable[Union[str, MetricKind]]],
    window: Union[float, timedelta],
    start: Optional[datetime],
    end: Optional[datetime],
    period: Union[float, timedelta],
    statistic: Union[str, Statistic, None],
    variant: Optional[str],
    instance: Optional[str],
) -> Dict[str, Any]:
    kind_list = [kinds] if isinstance(kinds, str) else list(kinds)
    try:
        kind_values = [MetricKind(k).value for k in kind_list]
    except ValueError as e:
        known = ", ".join(k.value for k in MetricKind)
        raise InvalidArgumentError(f"{e}; metrics are: {known}") from None
    try:
        stat = None if statistic is None else Statistic(statistic).value
    except ValueError:
        known = ", ".join(s.value for s in Statistic)
        raise InvalidArgumentError(f"statistic {statistic!r} is not one of {known}") from None
    end_ = end if end is not None else datetime.now(timezone.utc)
    start_ = start if start is not None else end_ - timedelta(seconds=_seconds(window, "window"))
    return {
        "endpoint": endpoint,
        "variant": variant,
        "instance": instance,
        "kinds": kind_values,
        "start": format_datetime(start_),
        "end": format_datetime(end_),
        "period_seconds": max(1, int(round(_seconds(period, "period")))),
        "statistic": stat,
    }


def capture_query(
    endpoint: str,
    start: Optional[datetime],
    end: Optional[datetime],
    window: Union[float, timedelta],
    variant: Optional[str],
) -> Dict[str, Any]:
    end_ = end if end is not None else datetime.now(timezone.utc)
    start_ = start if start is not None else end_ - timedelta(seconds=_seconds(window, "window"))
    return {
        "endpoint": endpoint,
        "start": format_datetime(start_),
        "end": format_datetime(end_),
        "variant": variant,
    }


#: What ``samples=`` accepts: ``{"input": ..., "output": ...}`` mappings, or the path of a JSON
#: Lines file (each line a request body, or such a mapping).
Samples = Union[Iterable[Mapping[str, Any]], str, "os.PathLike[str]"]


def sample_source(
    samples: Optional[Samples],
    start: Optional[datetime],
    end: Optional[datetime],
    window: Union[float, timedelta],
    variant: Optional[str],
) -> Dict[str, Any]:
    """The samples of a baseline or a report: given ones, or a window of captured traffic
    (from ``start``, default ``end`` minus ``window``, to ``end``, default now)."""
    if samples is None:
        query = capture_query("-", start, end, window, variant)
        del query["endpoint"]
        return {"window": query}
    if start is not None or end is not None or variant is not None:
        raise InvalidArgumentError(
            "give either samples or a window of captured traffic (start/end/variant), not both"
        )
    if isinstance(samples, (str, os.PathLike)):
        with open(samples, encoding="utf-8") as f:
            return {"samples": _mlm.read_samples_jsonl(f.read())}
    if isinstance(samples, Mapping):
        raise InvalidArgumentError("samples: give a list of {'input', 'output'} mappings")
    return {"samples": plain(list(samples))}


def invoke_body(body: Body, content_type: Optional[str]) -> Tuple[bytes, str]:
    """The bytes to send and their content type (inferred when not given)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), content_type or "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    try:
        data = json.dumps(body).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(
            f"the body is not bytes, str or JSON-serialisable: {e}"
        ) from None
    return data, content_type or "application/json"


PipelineSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def apply_pipeline(
    native: _mlm.NativeClient, pipeline: PipelineSource, dry_run: bool
) -> _mlm.Operation:
    """The native apply of ``pipeline``: a mapping (the file's fields, sent as JSON), YAML or
    JSON text (a string with a line break or starting with ``{``; smoke-test files relative
    to the current directory), or the path of a pipeline file (smoke-test files relative to
    it)."""
    if isinstance(pipeline, Mapping):
        return native.apply_pipeline_text(json.dumps(plain(pipeline)), dry_run)
    if isinstance(pipeline, str) and ("\n" in pipeline or pipeline.lstrip().startswith("{")):
        return native.apply_pipeline_text(pipeline, dry_run)
    if isinstance(pipeline, (str, os.PathLike)):
        return native.apply_pipeline_file(os.fspath(pipeline), dry_run)
    raise InvalidArgumentError(
        f"pipeline must be a path, YAML or JSON text, or a mapping, not {type(pipeline).__name__}"
    )
