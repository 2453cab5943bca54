"""The Python result types read the same schema as the REST API: every field of every result
type is a property of its component schema in docs/openapi.json, and the other way round, so
the Python copy cannot drift from the one schema the core types define."""

import dataclasses
import json

import pytest

import mlm.types as t
from conftest import REPO

SPEC = json.loads((REPO / "docs" / "openapi.json").read_text())
SCHEMAS = SPEC["components"]["schemas"]

# Python class -> component schema (the REST names of the core types).
RESULT_TYPES = {
    t.VersionRef: "VersionRef",
    t.Model: "Model",
    t.ModelVersion: "ModelVersion",
    t.UploadedArtifact: "UploadedArtifact",
    t.ServerlessConfig: "Serverless",
    t.AutoscalingPolicy: "Autoscaling",
    t.Variant: "Variant",
    t.Endpoint: "Endpoint",
    t.Measurement: "Measurement",
    t.Instance: "Instance",
    t.VariantOverview: "VariantCounts",
    t.EndpointOverview: "EndpointOverview",
    t.DataPoint: "DataPoint",
    t.MetricSeries: "MetricSeries",
    t.Capabilities: "Capabilities",
    t.Alarm: "Alarm",
    t.PhaseChange: "PhaseChange",
    t.DeploymentSummary: "DeploymentSummary",
    t.Deployment: "Deployment",
    t.EndpointEvent: "EndpointEvent",
    t.CategoryCounts: "CategoryCounts",
    t.NumericProfile: "NumericProfile",
    t.FieldProfile: "FieldProfile",
    t.Baseline: "Baseline",
    t.DriftCheck: "DriftCheck",
    t.FieldDrift: "FieldDrift",
    t.LabelDrift: "LabelDrift",
    t.DriftReport: "DriftReport",
    t.StageStatus: "StageStatus",
    t.RunSummary: "RunSummary",
    t.PipelineStep: "PipelineStep",
    t.StageRun: "StageRun",
    t.PipelineRun: "PipelineRun",
    t.Pipeline: "Pipeline",
    t.StagePlan: "StagePlan",
    t.PipelinePlan: "PipelinePlan",
    t.Dashboard: "Dashboard",
}


def every_result_type():
    return [
        cls
        for cls in vars(t).values()
        if isinstance(cls, type)
        and issubclass(cls, t._Result)
        and cls is not t._Result
        and cls
        not in (t.InstanceMetrics, t.InvokeResult, t.CapturedRecord, t.CapturePayload, t.PushedVersion)
    ]


def test_every_result_type_is_compared():
    # InstanceMetrics groups Instance's flat figures; InvokeResult is the invocation's bytes;
    # CapturedRecord and CapturePayload give SageMaker's camelCase capture record snake_case
    # names (the record itself stays in ``CapturedRecord.raw``, exactly as the spec has it);
    # PushedVersion is the client's own composition of an upload and a version registration.
    assert set(every_result_type()) == set(RESULT_TYPES)


@pytest.mark.parametrize("cls,schema", RESULT_TYPES.items(), ids=lambda v: getattr(v, "__name__", v))
def test_fields_match_the_component_schema(cls, schema):
    fields = {f.name for f in dataclasses.fields(cls)}
    properties = set(SCHEMAS[schema]["properties"])
    assert fields == properties, (
        f"{cls.__name__} vs {schema}: only in Python {sorted(fields - properties)}, "
        f"only in the spec {sorted(properties - fields)}"
    )


@pytest.mark.parametrize(
    "cls,schema",
    [(t.EndpointStatus, "EndpointStatus"), (t.Approval, "Approval"),
     (t.InstanceStatus, "InstanceStatus"), (t.MetricKind, "MetricKind"),
     (t.MetricScope, "MetricScope"), (t.Statistic, "Statistic"),
     (t.Comparison, "Comparison"), (t.TreatMissingData, "TreatMissingData"),
     (t.AlarmState, "AlarmState"), (t.DeploymentKind, "DeploymentKind"),
     (t.PhaseName, "PhaseName"), (t.EventSource, "EventSource"),
     (t.FieldKind, "FieldKind"), (t.DriftStatistic, "DriftStatistic"),
     (t.RunState, "RunState"), (t.StageState, "StageState")],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_enums_match_the_component_schema(cls, schema):
    assert [m.value for m in cls] == SCHEMAS[schema]["enum"]
