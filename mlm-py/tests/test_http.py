"""The HTTP client against a running `mlm serve`: the same methods, the same errors."""

from __future__ import annotations

import asyncio

import pytest

import mlm
from mlm.aio import AsyncClient

from conftest import OPERATOR_TOKEN, READER_TOKEN, MODEL_DIR, RUNTIME, SPORTS, Server


def test_http_lifecycle(http_client: mlm.Client, server: Server) -> None:
    client = http_client
    assert client.kind == "http"
    assert client.target == server.url
    assert client.capabilities.per_instance_metrics  # the server's local backend

    for i in range(5):
        client.create_model(f"h{i}", tags={"n": str(i)})
    pages = list(client.list_models(page_size=2).pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [m.name for m in client.list_models(page_size=2)] == [f"h{i}" for i in range(5)]
    assert client.get_model("h3").tags == {"n": "3"}
    assert client.update_model("h3", description="three").description == "three"

    v1 = client.create_version("h0", str(MODEL_DIR), RUNTIME, description="first")
    assert client.get_version("h0", 1) == v1
    assert [v.version for v in client.list_versions("h0")] == [1]
    assert client.update_version("h0", 1, approval="approved").approval is mlm.Approval.APPROVED

    endpoint = client.create_endpoint("web", v1, instance_type="ml.m5.large", wait=True, progress=False)
    assert endpoint.ready
    assert client.get_endpoint("web") == endpoint
    assert [e.name for e in client.list_endpoints()] == ["web"]

    answer = client.invoke("web", {"sentence": SPORTS})
    assert answer.json()["category"] == "Sports"
    assert answer.variant == "primary"

    scaled = client.update_endpoint("web", instance_count=2, wait=True, progress=False)
    assert scaled.current_instance_count == 2
    assert len(client.instances("web")) == 2
    assert client.overview("web").instance_count == 2
    assert [o.name for o in client.overview()] == ["web"]
    metrics = client.metrics("web", "invocations", window=300, statistic="sum")
    assert sum(sum(s.values) for s in metrics) == 1

    client.delete_endpoint("web", wait=True)
    with pytest.raises(mlm.NotFoundError):
        client.get_endpoint("web")


def test_http_errors_match_local_ones(http_client: mlm.Client, server: Server) -> None:
    client = http_client
    with pytest.raises(mlm.NotFoundError) as nf:
        client.get_model("missing")
    assert nf.value.resource_kind == "model"
    assert nf.value.resource_name == "missing"
    client.create_model("dup")
    with pytest.raises(mlm.AlreadyExistsError):
        client.create_model("dup")
    with pytest.raises(mlm.InvalidArgumentError):
        client.create_model("not valid!")
    client.create_version("dup", str(MODEL_DIR), RUNTIME)
    with pytest.raises(mlm.FailedPreconditionError):
        client.delete_model("dup")

    with pytest.raises(mlm.UnauthenticatedError):
        mlm.Client.http(server.url).list_models().to_list()
    with pytest.raises(mlm.UnauthenticatedError):
        mlm.Client.http(server.url, token="wrong-token-0123456789").list_models().to_list()
    reader = mlm.Client.http(server.url, token=READER_TOKEN)
    assert [m.name for m in reader.list_models()] == ["dup"]
    with pytest.raises(mlm.PermissionDeniedError):
        reader.create_model("nope")

    with pytest.raises(mlm.InvalidArgumentError, match="http:// or https://"):
        mlm.Client.http("ftp://example.invalid")


def test_http_connection_refused_is_a_provider_error() -> None:
    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    with pytest.raises(mlm.MlmError) as info:
        mlm.Client.http("http://127.0.0.1:9")
    assert info.value.kind in {"provider", "unsupported"} or info.value.retryable


def test_http_async(server: Server) -> None:
    async def main() -> None:
        async with await AsyncClient.http(server.url, token=OPERATOR_TOKEN) as client:
            await client.create_model("async-http")
            assert [m.name async for m in client.list_models()] == ["async-http"]
            with pytest.raises(mlm.NotFoundError):
                await client.get_endpoint("missing")
            await client.delete_model("async-http")

    asyncio.run(main())
