"""Promotion pipelines from Python: the example pipeline file on the local backend (an approved
version reaches staging, waits, is promoted into production and serves there), the same
through a server (sync and asyncio), and the file against its JSON Schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import mlm
from mlm.aio import AsyncClient

from conftest import EXAMPLE, MODEL_DIR, OPERATOR_TOKEN, READER_TOKEN, REPO, RUNTIME, SPORTS, Server

PIPELINE_FILE = EXAMPLE / "pipeline.yml"

# One stage that waits for a promotion: nothing deploys until a user promotes.
GATED = {
    "pipeline": "gated",
    "model": "gated-model",
    "stages": [
        {
            "name": "staging",
            "endpoint": "gated-staging",
            "requires_approval": True,
            "variants": [{"name": "primary", "instance_type": "ml.m5.large"}],
        }
    ],
}


def cleanup_pipelines(client: mlm.Client) -> None:
    for pipeline in client.list_pipelines():
        client.delete_pipeline(pipeline.name)


def test_the_example_pipeline_file_matches_its_schema() -> None:
    schema = json.loads((REPO / "docs" / "pipeline.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load(PIPELINE_FILE.read_text())
    jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)
    example["stages"][0]["deployment"] = {"type": "canery", "percent": 50}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)


def test_a_version_goes_through_the_example_pipeline(client: mlm.Client) -> None:
    assert client.capabilities.pipelines
    client.create_model("news")
    plan = client.apply_pipeline(PIPELINE_FILE, dry_run=True)
    assert (plan.dry_run, plan.action) == (True, "created")
    assert [s.action for s in plan.stages] == ["create_endpoint", "create_endpoint"]
    with pytest.raises(mlm.errors.NotFoundError):
        client.get_pipeline("news")
    assert client.apply_pipeline(str(PIPELINE_FILE)).action == "created"

    try:
        version = client.create_version("news", str(MODEL_DIR), RUNTIME, approval="approved")
        [run] = client.start_pipeline_runs("news", version.version)
        assert (run.id, run.model_version.version) == ("v1", 1)
        run = run.wait(timeout=120, interval=0.2)
        assert run.state is mlm.RunState.AWAITING_PROMOTION, run.steps
        assert run.stage("staging").state is mlm.StageState.SUCCEEDED
        assert client.invoke("news-staging", {"sentence": SPORTS}).json()["category"] == "Sports"

        pipeline = client.get_pipeline("news")
        assert [(s.name, s.live_version) for s in pipeline.stages] == [
            ("staging", 1), ("production", None)
        ]
        assert [r.id for r in pipeline.active_runs] == ["v1"]

        run = client.promote("news", 1, "production").wait(timeout=120, interval=0.2)
        assert run.state is mlm.RunState.SUCCEEDED, run.steps
        assert run.stage("production").promoted_by == "user:python"
        assert [s.kind for s in run.steps][-1] == "succeeded"
        assert client.invoke("news-prod", {"sentence": SPORTS}).json()["category"] == "Sports"
        assert [r.state for r in client.list_runs("news")] == [mlm.RunState.SUCCEEDED]
        with pytest.raises(mlm.errors.ConflictError, match="succeeded"):
            client.promote("news", 1, "production")
    finally:
        cleanup_pipelines(client)


def test_pipelines_through_a_server(server: Server, http_client: mlm.Client) -> None:
    client = http_client
    client.create_model("gated-model")
    with pytest.raises(mlm.errors.InvalidArgumentError, match="smoke.jsonl"):
        bad = dict(GATED, stages=[dict(GATED["stages"][0], smoke_test={"requests": "smoke.jsonl"})])
        client.apply_pipeline(json.dumps(bad), dry_run=True)  # JSON text: read from the cwd
    assert client.apply_pipeline(GATED).action == "created"
    try:
        client.create_version("gated-model", str(MODEL_DIR), RUNTIME, approval="approved")
        [run] = client.start_pipeline_runs("gated-model", 1)
        run = run.wait(timeout=60, interval=0.2)
        assert run.stage("staging").state is mlm.StageState.AWAITING_PROMOTION

        reader = mlm.Client.http(server.url, token=READER_TOKEN)
        try:
            assert [p.name for p in reader.list_pipelines()] == ["gated"]
            with pytest.raises(mlm.errors.PermissionDeniedError):
                reader.promote("gated", 1, "staging")
        finally:
            reader.close()

        async def through_asyncio() -> mlm.PipelineRun:
            async with await AsyncClient.http(server.url, token=OPERATOR_TOKEN) as aclient:
                assert [r.id async for r in aclient.list_runs("gated")] == ["v1"]
                run = await aclient.get_run("gated", "v1")
                return await (await aclient.cancel_run("gated", run.id)).wait_async(timeout=30)

        cancelled = asyncio.run(through_asyncio())
        assert cancelled.state is mlm.RunState.CANCELLED
        assert cancelled.steps[-1].actor == "user:operator"
    finally:
        cleanup_pipelines(client)
    with pytest.raises(mlm.errors.NotFoundError):
        client.get_pipeline("gated")
