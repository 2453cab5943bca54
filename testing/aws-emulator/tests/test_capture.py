"""Data capture: InvokeEndpoint of an endpoint with DataCaptureConfig writes SageMaker
capture records to S3, sampled."""

from __future__ import annotations

import json

from test_emulator import create_model


def capturing(sm, s3, bucket: str, percent: int, endpoint: str = "ep") -> None:
    # Bucket names are global (across accounts), as on AWS.
    s3.create_bucket(Bucket=bucket)
    create_model(sm, "model")
    sm.create_endpoint_config(
        EndpointConfigName="cfg",
        ProductionVariants=[
            {
                "VariantName": "blue",
                "ModelName": "model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": percent,
            "DestinationS3Uri": f"s3://{bucket}/some/prefix",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName="cfg")


def records(s3, bucket: str) -> list[tuple[str, dict]]:
    found = []
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found.extend((item["Key"], json.loads(line)) for line in body.splitlines())
    return found


def test_every_invocation_is_captured_at_100_percent(emulator, sagemaker, account):
    s3 = emulator.client("s3", account)
    capturing(sagemaker, s3, f"captures-{account}", 100)
    runtime = emulator.client("sagemaker-runtime", account)
    for i in range(3):
        runtime.invoke_endpoint(
            EndpointName="ep", Body=f'{{"n": {i}}}', ContentType="application/json"
        )
    found = records(s3, f"captures-{account}")
    assert len(found) == 3
    sent = set()
    for key, record in found:
        parts = key.split("/")
        assert parts[:4] == ["some", "prefix", "ep", "blue"], key
        assert [len(p) for p in parts[4:8]] == [4, 2, 2, 2] and parts[8].endswith(".jsonl"), key
        assert record["eventVersion"] == "0"
        data = record["captureData"]
        assert data["endpointInput"]["mode"] == "INPUT"
        assert data["endpointInput"]["encoding"] == "JSON"
        assert data["endpointInput"]["observedContentType"] == "application/json"
        sent.add(data["endpointInput"]["data"])
        assert data["endpointOutput"]["mode"] == "OUTPUT"
        assert record["eventMetadata"]["eventId"]
    assert sent == {'{"n": 0}', '{"n": 1}', '{"n": 2}'}


def test_nothing_is_captured_at_0_percent_or_without_capture(emulator, sagemaker, account):
    s3 = emulator.client("s3", account)
    capturing(sagemaker, s3, f"captures-{account}", 0)
    runtime = emulator.client("sagemaker-runtime", account)
    for _ in range(5):
        runtime.invoke_endpoint(EndpointName="ep", Body=b"{}", ContentType="application/json")
    assert records(s3, f"captures-{account}") == []
