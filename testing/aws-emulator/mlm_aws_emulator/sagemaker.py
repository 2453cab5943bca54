"""SageMaker operations moto 5.2.5 lacks or gets too simple, done on its backend.

moto answers ``UpdateEndpoint``, ``DeleteModelPackage`` and
``DeleteModelPackageGroup`` with an HTML 500, and its endpoints are InService the
moment they are created. We implement the missing operations directly on moto's
in-memory records (``moto.sagemaker.models.sagemaker_backends[account][region]``),
so every other moto operation (DescribeEndpoint, ListEndpoints with filters,
InvokeEndpoint, ...) sees the result, and we add optional Creating/Updating
windows and silent-rollback failures (see state.py / README.md).

This reaches into moto internals (attribute names of FakeEndpoint,
FakeEndpointConfig, ModelPackage, and ``FakeEndpoint._process_production_variants``),
which is why moto is pinned to 5.2.5.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends
from moto.sagemaker.utils import arn_formatter

from . import rollout
from .context import RequestInfo
from .state import EmulatorState, Transition
from .wsgi import Reply, WSGIApp, aws_json_error, call, json_reply, peek_body

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"  # SageMaker speaks awsJson1.1

DEFAULT_FAILURE_REASON = (
    "Simulated deployment failure (mlm emulator): the new endpoint configuration "
    "did not pass health checks; the endpoint was rolled back."
)

Handler = Callable[[RequestInfo, dict, dict], Reply]


def validation_error(message: str) -> Reply:
    return aws_json_error(400, "ValidationException", message, JSON_CONTENT_TYPE)


def null_error(field: str) -> Reply:
    """AWS's answer to a missing required member ``field``."""
    return validation_error(
        f"1 validation error detected: Value null at '{field}' failed to "
        "satisfy constraint: Member must not be null"
    )


class SageMakerExtensions:
    def __init__(self, state: EmulatorState, moto_app: WSGIApp) -> None:
        self.state = state
        self.moto = moto_app
        self.handlers: dict[str, Handler] = {
            "CreateEndpoint": self.create_endpoint,
            "UpdateEndpoint": self.update_endpoint,
            "UpdateEndpointWeightsAndCapacities": self.update_weights_and_capacities,
            "DeleteEndpoint": self.delete_endpoint,
            "CreateModelPackage": self.create_model_package,
            "DeleteModelPackage": self.delete_model_package,
            "DeleteModelPackageGroup": self.delete_model_package_group,
        }

    # -- dispatch ---------------------------------------------------------

    def handle(self, info: RequestInfo, environ: dict) -> Reply:
        """Answer one ``X-Amz-Target: SageMaker.*`` request."""
        handler = self.handlers.get(info.target_operation or "")
        # Every SageMaker call runs under the state lock (see EmulatorState.lock).
        with self.state.lock:
            if handler is None:
                return call(self.moto, environ)
            try:
                params = json.loads(peek_body(environ) or b"{}")
            except ValueError:
                params = None
            if not isinstance(params, dict):
                # Let moto produce its own error for a malformed body.
                return call(self.moto, environ)
            return handler(info, params, environ)

    def check_runtime_endpoint(self, info: RequestInfo, environ: dict) -> Reply | None:
        """An error for a SageMaker runtime call naming a missing endpoint, else None.

        moto returns canned answers for any endpoint name; real SageMaker answers
        ``400 ValidationError "Endpoint <name> of account <account> not found."``.
        """
        parts = environ.get("PATH_INFO", "").split("/")
        if len(parts) < 3 or parts[1] != "endpoints":
            return None
        name = parts[2]
        with self.state.lock:
            backend = self.backend(info)
            endpoint = backend.endpoints.get(name)
            if endpoint is not None:
                return self._simulated_model_error(backend, endpoint)
        reply = aws_json_error(
            400,
            "ValidationError",
            f"Endpoint {name} of account {info.account} not found.",
            "application/json",
        )
        return reply

    @staticmethod
    def _simulated_model_error(backend: Any, endpoint: Any) -> Reply | None:
        """``424 ModelError`` when every variant serves a model whose environment sets
        ``MLM_EXAMPLE_ERROR_RATE=1`` (the example model's simulated failure), as SageMaker
        answers when the container fails; else None (moto answers). moto runs no model, so
        without this a failing version would answer like any other.
        """
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        variants = getattr(config, "production_variants", None) or []
        environments = []
        for variant in variants:
            model = backend._models.get(variant.get("ModelName", ""))
            containers = list(getattr(model, "containers", None) or [])
            containers.append(getattr(model, "primary_container", None) or {})
            env: dict = {}
            for container in containers:
                # mlm's models name a registry package: its containers carry the environment.
                package = backend.model_packages.get(container.get("ModelPackageName", ""))
                spec = getattr(package, "inference_specification", None) or {}
                for packaged in spec.get("Containers") or []:
                    env.update(packaged.get("Environment") or {})
                env.update(container.get("Environment") or {})
            environments.append(env)
        if not environments or any(
            env.get("MLM_EXAMPLE_ERROR_RATE") != "1" for env in environments
        ):
            return None
        return aws_json_error(
            424,
            "ModelError",
            "Received server error (500) from primary with message "
            '"simulated failure (MLM_EXAMPLE_ERROR_RATE=1)".',
            "application/json",
        )

    def check_scalable_target(self, info: RequestInfo, environ: dict) -> Reply | None:
        """An error for registering a SageMaker variant whose endpoint is not InService.

        moto registers any resource id; AWS refuses a variant of an endpoint that is
        Creating/Updating (400 ValidationException). None = let moto answer.
        """
        try:
            params = json.loads(peek_body(environ) or b"{}")
        except ValueError:
            return None
        if not isinstance(params, dict) or params.get("ServiceNamespace") != "sagemaker":
            return None
        parts = str(params.get("ResourceId", "")).split("/")
        if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant":
            return None
        with self.state.lock:
            endpoint = self.backend(info).endpoints.get(parts[1])
            status = None if endpoint is None else endpoint.endpoint_status
        if status is None or status == "InService":
            return None
        return aws_json_error(
            400,
            "ValidationException",
            f"Endpoint {parts[1]} is not in service (status: {status}); "
            "scalable targets can be registered only for endpoints that are InService.",
            "application/x-amz-json-1.1",
        )

    # -- helpers ----------------------------------------------------------

    @staticmethod
    def backend(info: RequestInfo) -> Any:
        return sagemaker_backends[info.account][info.region]

    def _start_transition(
        self,
        info: RequestInfo,
        endpoint: Any,
        seconds: float,
        finish: Callable[[], None],
    ) -> None:
        key = (info.account, info.region, endpoint.endpoint_name)
        self.state.transitions[key] = Transition(
            deadline=time.monotonic() + seconds, endpoint=endpoint, finish=finish
        )

    def _in_service_after(
        self, info: RequestInfo, endpoint: Any, status: str, seconds: float
    ) -> None:
        """Shows ``endpoint`` as ``status`` for ``seconds``, then InService (unless it was
        deleted meanwhile)."""
        endpoint.endpoint_status = status

        def finish() -> None:
            if self._still_current(info, endpoint):
                endpoint.endpoint_status = "InService"
                endpoint.last_modified_time = utcnow()

        self._start_transition(info, endpoint, seconds, finish)

    def _in_progress(self, info: RequestInfo, endpoint: Any) -> bool:
        transition = self.state.transitions.get((info.account, info.region, endpoint.endpoint_name))
        return transition is not None and transition.endpoint is endpoint

    def _still_current(self, info: RequestInfo, endpoint: Any) -> bool:
        # The endpoint may have been deleted (and re-created) during the window.
        return self.backend(info).endpoints.get(endpoint.endpoint_name) is endpoint

    def _in_progress_error(self, endpoint: Any) -> Reply:
        # Real SageMaker refuses to change an endpoint that is Creating/Updating.
        return validation_error(f"Cannot update in-progress endpoint '{endpoint.arn}'.")

    # -- endpoints --------------------------------------------------------

    def create_endpoint(self, info: RequestInfo, params: dict, environ: dict) -> Reply:
        reply = call(self.moto, environ)
        account = self.state.account(info.account)
        seconds = account.config["creating_seconds"]
        endpoint = self.backend(info).endpoints.get(params.get("EndpointName"))
        if reply.status != 200 or endpoint is None:
            return reply
        failure = account.failing_creates.pop(endpoint.endpoint_name, None)
        if failure is not None:
            # A creation that fails its health checks ends Failed, with the reason.
            endpoint.endpoint_status = "Creating"

            def fail() -> None:
                if self._still_current(info, endpoint):
                    endpoint.endpoint_status = "Failed"
                    endpoint.failure_reason = failure
                    endpoint.last_modified_time = utcnow()

            self._start_transition(info, endpoint, seconds, fail)
        elif seconds > 0:
            self._in_service_after(info, endpoint, "Creating", seconds)
        return reply

    def update_endpoint(self, info: RequestInfo, params: dict, environ: dict) -> Reply:
        name = params.get("EndpointName")
        config_name = params.get("EndpointConfigName")
        for field, value in (("endpointName", name), ("endpointConfigName", config_name)):
            if not value:
                return null_error(field)

        backend = self.backend(info)
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            # Same text as moto's DescribeEndpoint for a missing endpoint.
            arn = FakeEndpoint.arn_formatter(name, info.account, info.region)
            return validation_error(f"Could not find endpoint '{arn}'.")
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            # Same text as moto's DescribeEndpointConfig for a missing config.
            arn = FakeEndpointConfig.arn_formatter(config_name, info.account, info.region)
            return validation_error(f"Could not find endpoint configuration '{arn}'.")
        if self._in_progress(info, endpoint):
            return self._in_progress_error(endpoint)

        account = self.state.account(info.account)
        variants, data_capture = merge_variants(endpoint, config, params)
        if params.get("DeploymentConfig"):
            deployment_config = params["DeploymentConfig"]
        elif params.get("RetainDeploymentConfig"):
            deployment_config = getattr(endpoint, "last_deployment_config", None)
        else:
            deployment_config = None
        failure_reason = account.failing_updates.pop(name, None)

        def finish(rollback_reason: str | None) -> None:
            if not self._still_current(info, endpoint):
                return
            if rollback_reason is None:
                endpoint.endpoint_config_name = config_name
                endpoint.production_variants = variants
                endpoint.data_capture_config = data_capture
                # FakeEndpoint reports every attribute, CamelCased, in DescribeEndpoint.
                endpoint.last_deployment_config = deployment_config
                endpoint.failure_reason = None
            else:
                # Real SageMaker's rollback: the call succeeded, the deployment did
                # not; the endpoint is back InService on the OLD config and only
                # FailureReason tells.
                endpoint.failure_reason = rollback_reason
            endpoint.endpoint_status = "InService"
            endpoint.pending_deployment_summary = None
            endpoint.last_modified_time = utcnow()

        # While Updating, EndpointConfigName still names the current config; the
        # one being deployed is in PendingDeploymentSummary, as on AWS.
        now = utcnow()
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = now
        endpoint.pending_deployment_summary = {
            "EndpointConfigName": config_name,
            "StartTime": now,
            "ProductionVariants": pending_variant_summaries(config, variants),
        }
        if deployment_config:
            self._start_rollout(info, endpoint, deployment_config, variants, failure_reason, finish)
        elif account.config["updating_seconds"] > 0:
            self._start_transition(
                info,
                endpoint,
                account.config["updating_seconds"],
                lambda: finish(failure_reason),
            )
        else:
            finish(failure_reason)
        return json_reply(200, {"EndpointArn": endpoint.arn}, JSON_CONTENT_TYPE)

    def _start_rollout(
        self,
        info: RequestInfo,
        endpoint: Any,
        deployment_config: dict,
        variants: list[dict],
        failure_reason: str | None,
        finish: Callable[[str | None], None],
    ) -> None:
        """Runs the update through the guardrail phases of ``deployment_config``."""
        settings = self.state.account(info.account).config
        instances = sum(int(v.get("DesiredInstanceCount") or 0) for v in variants)
        alarms = rollout.rollback_alarms(deployment_config)
        guarded = rollout.Rollout(
            endpoint,
            rollout.plan_segments(deployment_config, instances, settings, failure_reason),
            fired_alarms=lambda: rollout.alarms_in_alarm(info.account, info.region, alarms),
            finish=finish,
            still_current=lambda: self._still_current(info, endpoint),
            now=time.monotonic(),
            rolling_back_seconds=settings["rolling_back_seconds"],
        )
        if not guarded.advance(time.monotonic()):
            key = (info.account, info.region, endpoint.endpoint_name)
            self.state.transitions[key] = guarded

    def update_weights_and_capacities(
        self, info: RequestInfo, params: dict, environ: dict
    ) -> Reply:
        endpoint = self.backend(info).endpoints.get(params.get("EndpointName"))
        if endpoint is not None and self._in_progress(info, endpoint):
            # moto would set the status to InService and end our window early.
            return self._in_progress_error(endpoint)
        reply = call(self.moto, environ)
        seconds = self.state.account(info.account).config["weights_updating_seconds"]
        if reply.status != 200 or seconds <= 0 or endpoint is None:
            return reply

        # moto has applied the new counts/weights already; we only add the
        # Updating window real SageMaker shows.
        self._in_service_after(info, endpoint, "Updating", seconds)
        return reply

    def delete_endpoint(self, info: RequestInfo, params: dict, environ: dict) -> Reply:
        reply = call(self.moto, environ)
        if reply.status == 200:
            self.state.transitions.pop(
                (info.account, info.region, params.get("EndpointName")), None
            )
        return reply

    # -- model registry ---------------------------------------------------

    def create_model_package(self, info: RequestInfo, params: dict, environ: dict) -> Reply:
        """Keep version numbers increasing after versions were deleted.

        moto numbers a new version ``len(live versions in group) + 1``: after a
        delete that reuses a live version's number and silently overwrites it.
        AWS never reuses numbers. While moto counts, we add one placeholder per
        deleted version of the group (safe: we hold the lock all SageMaker calls
        take), so the count equals the highest number ever given out.
        """
        group = params.get("ModelPackageGroupName")
        deleted = self.state.deleted_versions.get((info.account, info.region, group), 0)
        if not group or not deleted:
            return call(self.moto, environ)
        packages = self.backend(info).model_packages
        placeholders = {
            f"mlm-emulator-deleted-version/{group}/{i}": SimpleNamespace(
                model_package_group_name=group
            )
            for i in range(deleted)
        }
        packages.update(placeholders)
        try:
            return call(self.moto, environ)
        finally:
            for key in placeholders:
                packages.pop(key, None)

    def delete_model_package(self, info: RequestInfo, params: dict, environ: dict) -> Reply:
        name = params.get("ModelPackageName")
        if not name:
            return null_error("modelPackageName")
        backend = self.backend(info)
        mapping = backend.model_package_name_mapping
        package = backend.model_packages.get(mapping.get(name, name))
        if (
            package is not None
            and package.model_package_version is not None
            and not name.startswith("arn:")
        ):
            # A versioned package is addressed by its ARN; moto's name mapping
            # would otherwise resolve the group name to the latest version.
            package = None
        if package is None:
            return validation_error(f"ModelPackage {name} does not exist.")

        del backend.model_packages[package.arn]
        for key in [k for k, v in mapping.items() if v == package.arn]:
            del mapping[key]
        group = package.model_package_group_name
        if group and package.model_package_version is not None:
            self.state.deleted_versions[(info.account, info.region, group)] += 1
            remaining = [
                p
                for p in backend.model_packages.values()
                if p.model_package_group_name == group and p.model_package_version
            ]
            if remaining:
                # moto maps a versioned package's name (= the group name) to the
                # latest version; keep that true.
                latest = max(remaining, key=lambda p: p.model_package_version)
                mapping[latest.model_package_name] = latest.arn
        return json_reply(200, {}, JSON_CONTENT_TYPE)

    def delete_model_package_group(self, info: RequestInfo, params: dict, environ: dict) -> Reply:
        name = params.get("ModelPackageGroupName")
        if not name:
            return null_error("modelPackageGroupName")
        if name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        backend = self.backend(info)
        if name not in backend.model_package_groups:
            # Same text as moto's DescribeModelPackageGroup for a missing group.
            arn = arn_formatter("model-package-group", name, info.account, info.region)
            return validation_error(f"ModelPackageGroup {arn} does not exist.")

        versions = [
            p for p in backend.model_packages.values() if p.model_package_group_name == name
        ]
        if versions:
            # DeleteModelPackageGroup's only modeled error is ConflictException;
            # AWS requires the versions to be deleted first.
            return aws_json_error(
                400,
                "ConflictException",
                f"Model package group {name} cannot be deleted because it still "
                f"contains {len(versions)} model package version(s). Delete the "
                "model package versions first.",
                JSON_CONTENT_TYPE,
            )
        del backend.model_package_groups[name]
        self.state.deleted_versions.pop((info.account, info.region, name), None)
        return json_reply(200, {}, JSON_CONTENT_TYPE)


def merge_variants(endpoint: Any, config: Any, params: dict) -> tuple[list[dict], dict]:
    """The endpoint's variants and data capture config after an UpdateEndpoint.

    With RetainAllVariantProperties the endpoint keeps its current instance
    counts and weights (for variants present in both configs) and its data
    capture config, except for the properties listed in
    ExcludeRetainedVariantProperties, which come from the new config.
    """
    # moto's own mapping from config variants to endpoint variant summaries.
    variants = endpoint._process_production_variants(config.production_variants)
    data_capture = config.data_capture_config
    if not params.get("RetainAllVariantProperties"):
        return variants, data_capture

    excluded = {
        item.get("VariantPropertyType")
        for item in params.get("ExcludeRetainedVariantProperties") or []
    }
    current = {v["VariantName"]: v for v in endpoint.production_variants}
    retained = {
        "DesiredInstanceCount": ("CurrentInstanceCount", "DesiredInstanceCount"),
        "DesiredWeight": ("CurrentWeight", "DesiredWeight"),
    }
    for variant in variants:
        previous = current.get(variant["VariantName"])
        if previous is None:
            continue
        for property_type, keys in retained.items():
            if property_type in excluded:
                continue
            for key in keys:
                if previous.get(key) is not None:
                    variant[key] = previous[key]
    if "DataCaptureConfig" not in excluded:
        data_capture = endpoint.data_capture_config
    return variants, data_capture


def pending_variant_summaries(config: Any, variants: list[dict]) -> list[dict]:
    """PendingDeploymentSummary.ProductionVariants for an update in progress."""
    by_name = {v["VariantName"]: v for v in variants}
    summaries = []
    for source in config.production_variants:
        merged = by_name.get(source["VariantName"], {})
        summary = {
            "VariantName": source["VariantName"],
            "DesiredInstanceCount": merged.get("DesiredInstanceCount"),
            "DesiredWeight": merged.get("DesiredWeight"),
            "InstanceType": source.get("InstanceType"),
        }
        summaries.append({k: v for k, v in summary.items() if v is not None})
    return summaries
