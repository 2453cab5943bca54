"""The asyncio variant: the same methods as coroutines, awaiting on the shared runtime."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import List

import pytest

import mlm
from mlm.aio import AsyncClient

from conftest import MODEL_DIR, RUNTIME, SPORTS, local_config


def test_async_lifecycle(data_dir: Path) -> None:
    async def main() -> None:
        async with await AsyncClient.local(data_dir, local_config()) as client:
            assert client.kind == "local"
            await client.create_model("news", description="async")
            for i in range(4):
                await client.create_model(f"extra{i}")
            names = [m.name async for m in client.list_models(page_size=2)]
            assert names == ["extra0", "extra1", "extra2", "extra3", "news"]
            pages = [p async for p in client.list_models(page_size=2).pages()]
            assert [len(p.items) for p in pages] == [2, 2, 1]
            assert len(await client.list_models().to_list()) == 5

            v1 = await client.create_version("news", MODEL_DIR, RUNTIME)
            assert (await client.get_version("news", 1)) == v1
            assert [v.version async for v in client.list_versions("news")] == [1]
            v1 = await client.update_version("news", 1, approval="approved")
            assert v1.approval is mlm.Approval.APPROVED
            assert (await client.update_model("news", description="d")).description == "d"

            seen: List[mlm.Endpoint] = []
            endpoint = await client.create_endpoint(
                "news", v1, instance_type="ml.m5.large", wait=True, progress=seen.append
            )
            assert endpoint.ready
            assert seen and seen[-1].status is mlm.EndpointStatus.IN_SERVICE
            assert (await client.get_endpoint("news")).ready
            assert [e.name async for e in client.list_endpoints()] == ["news"]

            # Invocations run concurrently.
            answers = await asyncio.gather(
                *(client.invoke("news", {"sentence": SPORTS}) for _ in range(8))
            )
            assert {a.json()["category"] for a in answers} == {"Sports"}

            scaled = await client.update_endpoint(
                "news", instance_count=2, wait=True, progress=False
            )
            assert scaled.current_instance_count == 2
            assert len(await client.instances("news")) == 2
            assert (await client.overview("news")).instance_count == 2
            assert [o.name for o in await client.overview()] == ["news"]
            metrics = await client.metrics("news", "invocations", window=300, statistic="sum")
            assert sum(sum(s.values) for s in metrics) == 8

            with pytest.raises(mlm.NotFoundError):
                await client.get_model("missing")
            with pytest.raises(mlm.FailedPreconditionError):
                await client.delete_version("news", 1)

            await client.delete_endpoint("news", wait=True)
            await client.delete_version("news", 1)
            for m in await client.list_models().to_list():
                await client.delete_model(m.name)
        assert client.closed

    asyncio.run(main())


def test_cancelling_a_wait_cancels_it(data_dir: Path) -> None:
    config = local_config(startup_timeout_secs=3)  # keeps the final delete short
    config["runtimes"]["never"] = {"command": "python3", "args": ["-c", "import time; time.sleep(60)"]}

    async def main() -> None:
        client = await AsyncClient.local(data_dir, config)
        try:
            await client.create_model("news")
            v = await client.create_version("news", str(MODEL_DIR), "never")
            await client.create_endpoint("never", v, instance_type="ml.m5.large")
            task = asyncio.create_task(
                client.wait_until_ready("never", timeout=60, progress=False)
            )
            await asyncio.sleep(0.3)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 1

            # A timeout in an async wait is the same error as in a blocking one.
            with pytest.raises(mlm.TimeoutError, match="still Creating"):
                await client.wait_until_ready("never", timeout=0.5, progress=False)
            await client.delete_endpoint("never", wait=True)
        finally:
            await client.aclose()

    asyncio.run(main())


def test_sync_client_has_an_async_twin(client: mlm.Client) -> None:
    client.create_model("shared")

    async def main() -> str:
        return (await client.aio.get_model("shared")).name

    assert asyncio.run(main()) == "shared"
    assert not client.closed  # the twin does not own the backend


def test_an_operation_runs_once(client: mlm.Client) -> None:
    op = client._native.list_models()
    op.wait()
    with pytest.raises(RuntimeError, match="already been started"):
        op.wait()
    assert "started" in repr(op)

    async def main() -> None:
        fresh = client._native.list_models()
        await fresh.awaitable()
        with pytest.raises(RuntimeError):
            fresh.awaitable()

    asyncio.run(main())


def test_async_push_version(data_dir: Path, tmp_path: Path) -> None:
    async def main() -> None:
        async with await AsyncClient.local(data_dir, local_config()) as client:
            seen: List[int] = []
            pushed = await client.push_version(
                MODEL_DIR, "news", RUNTIME, progress=lambda sent, total: seen.append(sent)
            )
            assert pushed.version.version == 1 and pushed.model_created
            assert seen[-1] == pushed.artifact.bytes
            again = await client.push_version(MODEL_DIR, "news", RUNTIME, progress=False)
            assert again.artifact.reused and again.artifact.digest == pushed.artifact.digest
            for v in (2, 1):
                await client.delete_version("news", v)
            await client.delete_model("news")

    asyncio.run(main())


def test_async_dashboards_are_unsupported_locally(data_dir: Path) -> None:
    async def main() -> None:
        async with await AsyncClient.local(data_dir, local_config()) as client:
            for call in (client.put_dashboard, client.get_dashboard):
                with pytest.raises(mlm.UnsupportedError, match="no dashboards"):
                    await call("anything")

    asyncio.run(main())
