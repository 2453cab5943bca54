"""The lifecycle through a Python client generated from docs/openapi.json by
openapi-python-client: create a model and a version, deploy them (a variant without `weight`),
invoke with a JSON body, scale with the update shorthand, delete. Type-checked with
`mypy --strict` and run against a live server by scripts/generated-clients.sh.

    python flow.py BASE_URL TOKEN     (the generated package `mlm_client` on PYTHONPATH)
"""

import sys
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from mlm_client import AuthenticatedClient
from mlm_client.api.endpoints import create_endpoint, delete_endpoint, get_endpoint, update_endpoint
from mlm_client.api.invocations import invoke_endpoint
from mlm_client.api.models import create_model, delete_model
from mlm_client.api.versions import create_version, delete_version
from mlm_client.models import (
    CreateEndpoint,
    CreateModel,
    CreateVersion,
    Endpoint,
    EndpointStatus,
    InvocationAnswer,
    InvocationBody,
    Model,
    ModelVersion,
    Problem,
    ProblemType,
    UpdateEndpoint,
    VariantSpec,
    VersionRef,
)

MODEL = "generated-python"
ENDPOINT = "generated-python"
SENTENCE = "Baseball is one of the most popular sports in the United States."
POLL_SECONDS = 60.0

T = TypeVar("T")


def expect(kind: type[T], answer: object, what: str) -> T:
    """The answer as `kind`, or exit with what the server said (a Problem, or nothing)."""
    if isinstance(answer, kind):
        return answer
    raise SystemExit(f"{what}: expected {kind.__name__}, got {answer!r}")


def poll(what: str, done: Callable[[], bool]) -> None:
    """Calls `done` until it holds, for at most POLL_SECONDS."""
    deadline = time.monotonic() + POLL_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not done after {POLL_SECONDS:.0f}s")
        time.sleep(0.2)


def endpoint_in_service(client: AuthenticatedClient) -> bool:
    endpoint = expect(Endpoint, get_endpoint.sync(ENDPOINT, client=client), "get endpoint")
    if endpoint.status == EndpointStatus.FAILED:
        raise SystemExit(f"endpoint failed: {endpoint.failure_reason}")
    return endpoint.status == EndpointStatus.IN_SERVICE


def endpoint_gone(client: AuthenticatedClient) -> bool:
    answer = get_endpoint.sync(ENDPOINT, client=client)
    if isinstance(answer, Problem):
        return answer.status == 404 and answer.type_ == ProblemType.NOT_FOUND
    return False


def deploy(client: AuthenticatedClient) -> None:
    model = expect(
        Model, create_model.sync(client=client, body=CreateModel(name=MODEL)), "create model"
    )
    version = expect(
        ModelVersion,
        create_version.sync(
            MODEL,
            client=client,
            body=CreateVersion(
                artifact_uri="examples/agnews-classifier/model", image="agnews-classifier"
            ),
        ),
        "create version",
    )
    print(f"registered {model.name} version {version.version}")
    # No weight and no instance_count: both are optional in the spec (the server defaults them).
    variant = VariantSpec(
        name="primary",
        model_version=VersionRef(model=MODEL, version=version.version),
        instance_type="ml.m5.large",
    )
    created = create_endpoint.sync(
        client=client, body=CreateEndpoint(name=ENDPOINT, variants=[variant])
    )
    print(f"endpoint {expect(Endpoint, created, 'create endpoint').name} is being created")
    poll("endpoint creation", lambda: endpoint_in_service(client))


def invoke(client: AuthenticatedClient) -> None:
    body = InvocationBody.from_dict({"sentence": SENTENCE})
    answer = expect(
        InvocationAnswer, invoke_endpoint.sync(ENDPOINT, client=client, body=body), "invoke"
    )
    if answer["category"] != "Sports":
        raise SystemExit(f"invoke: expected category Sports, got {answer.to_dict()}")
    print(f"invoked: {answer['category']}")


def scale_and_delete(client: AuthenticatedClient) -> None:
    updated = update_endpoint.sync(ENDPOINT, client=client, body=UpdateEndpoint(instance_count=2))
    expect(Endpoint, updated, "scale")
    poll("scaling", lambda: endpoint_in_service(client))
    endpoint = expect(Endpoint, get_endpoint.sync(ENDPOINT, client=client), "get endpoint")
    if endpoint.variants[0].desired_instance_count != 2:
        raise SystemExit(f"scale: expected 2 instances, got {endpoint.variants[0]}")
    print("scaled to 2")
    deleted = delete_endpoint.sync_detailed(ENDPOINT, client=client)
    if deleted.status_code != 202:
        raise SystemExit(
            f"delete endpoint: expected 202, got {deleted.status_code}: {deleted.parsed!r}"
        )
    poll("endpoint deletion", lambda: endpoint_gone(client))
    for status, what in [
        (delete_version.sync_detailed(MODEL, 1, client=client).status_code, "version"),
        (delete_model.sync_detailed(MODEL, client=client).status_code, "model"),
    ]:
        if status != 204:
            raise SystemExit(f"delete {what}: expected 204, got {status}")
    print("deleted")


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    with AuthenticatedClient(base_url=base_url, token=token, timeout=httpx.Timeout(30.0)) as client:
        deploy(client)
        invoke(client)
        scale_and_delete(client)
    print("python flow: ok")


if __name__ == "__main__":
    main()
