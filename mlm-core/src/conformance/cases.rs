//! The cases. Each documents the contract it checks and panics with a clear message when a
//! backend breaks it.

use std::collections::BTreeSet;

use futures::TryStreamExt;

use super::Fixture;
use crate::alarm::{AlarmDefinition, Comparison, TreatMissingData};
use crate::capture::{CaptureMode, CaptureQuery, CapturedRecord};
use crate::deployment::{Deployment, DeploymentKind, DeploymentPhase, PhaseName};
use crate::drift::{CreateBaselineRequest, DriftReportRequest, SampleSource, TrafficWindow};
use crate::endpoint::{
    AutoscalingPolicy, CreateEndpointRequest, DataCaptureConfig, DeploymentPolicy, Endpoint,
    EndpointStatus, InvokeRequest, ScalingMetric, ServerlessConfig, TrafficShift,
    UpdateEndpointRequest, VariantChange, VariantSpec,
};
use crate::error::{Error, ErrorKind};
use crate::event::{EventQuery, EventSource, NewEvent};
use crate::ext::{EndpointManagerExt, ModelRegistryExt};
use crate::model::{
    Approval, CreateModelRequest, CreateVersionRequest, Tags, UpdateModelRequest,
    UpdateVersionRequest, VersionRef,
};
use crate::names::{
    AlarmName, BaselineName, EndpointName, ModelName, PipelineName, StageName, VariantName,
};
use crate::observability::{InstanceStatus, MetricKind, MetricQuery, Statistic};
use crate::page::PageRequest;
use crate::pipeline::{
    ApplyPipelineRequest, ApprovalEvent, PipelineRun, PipelineSpec, PromoteRequest, RunState,
};

fn model_name(fx: &Fixture) -> ModelName {
    ModelName::new(fx.unique("m")).expect("unique names are valid")
}

fn endpoint_name(fx: &Fixture) -> EndpointName {
    EndpointName::new(fx.unique("e")).expect("unique names are valid")
}

fn variant(name: &str) -> VariantName {
    VariantName::new(name).expect("static variant names are valid")
}

#[track_caller]
fn expect_kind<T: std::fmt::Debug>(result: crate::Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Err(e) if e.kind() == kind => e,
        other => panic!("{what}: expected a {kind:?} error, got {other:?}"),
    }
}

async fn new_model(fx: &Fixture) -> ModelName {
    let name = model_name(fx);
    fx.provider
        .create_model(CreateModelRequest::new(name.clone()))
        .await
        .expect("create_model");
    name
}

async fn new_version(fx: &Fixture, model: &ModelName) -> VersionRef {
    let v = fx
        .provider
        .create_version(
            CreateVersionRequest::new(model.clone(), &fx.artifact_uri, &fx.image)
                .with_approval(Approval::Approved),
        )
        .await
        .expect("create_version");
    VersionRef::new(v.model, v.version)
}

async fn deployable(fx: &Fixture) -> VersionRef {
    let model = new_model(fx).await;
    new_version(fx, &model).await
}

async fn ready(fx: &Fixture, name: &EndpointName) -> Endpoint {
    fx.provider
        .wait_until_ready(name, fx.wait)
        .await
        .unwrap_or_else(|e| panic!("endpoint {name} did not become InService: {e}"))
}

async fn deployed(fx: &Fixture, count: u32) -> (EndpointName, VersionRef) {
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    fx.provider
        .create_endpoint(CreateEndpointRequest::single(
            name.clone(),
            version.clone(),
            &fx.instance_types[0],
            count,
        ))
        .await
        .expect("create_endpoint");
    ready(fx, &name).await;
    (name, version)
}

async fn remove(fx: &Fixture, name: &EndpointName) {
    fx.provider
        .delete_endpoint(name)
        .await
        .unwrap_or_else(|e| panic!("delete_endpoint {name}: {e}"));
    fx.provider
        .wait_until_deleted(name, fx.wait)
        .await
        .unwrap_or_else(|e| panic!("endpoint {name} was not deleted: {e}"));
}

async fn invoke_sample(fx: &Fixture, name: &EndpointName) -> crate::InvokeResponse {
    if let Some(hooks) = &fx.hooks {
        hooks.before_invoke(name, &fx.invocation).await;
    }
    fx.provider
        .invoke(InvokeRequest::new(
            name.clone(),
            &fx.invocation.content_type,
            fx.invocation.body.clone(),
        ))
        .await
        .unwrap_or_else(|e| panic!("invoke {name}: {e}"))
}

/// Asserts that `answer` contains the fixture's expected text.
fn assert_expected_answer(fx: &Fixture, answer: &crate::InvokeResponse) {
    let text = String::from_utf8_lossy(&answer.body);
    assert!(
        text.contains(&fx.invocation.expected),
        "the answer {text:?} does not contain {:?}",
        fx.invocation.expected
    );
}

/// A created model reads back with the same name, description and tags, and no versions.
pub async fn model_create_get_round_trip(fx: &Fixture) {
    let name = model_name(fx);
    let created = fx
        .provider
        .create_model(
            CreateModelRequest::new(name.clone())
                .with_description("round trip")
                .with_tag("team", "ml"),
        )
        .await
        .expect("create_model");
    let got = fx.provider.get_model(&name).await.expect("get_model");
    assert_eq!(got.name, name);
    assert_eq!(got.description.as_deref(), Some("round trip"));
    assert_eq!(got.tags.get("team").map(String::as_str), Some("ml"));
    assert_eq!(got.latest_version, None);
    assert_eq!(got.created_at.timestamp(), created.created_at.timestamp());
}

/// Creating a model whose name is taken fails with `AlreadyExists` and changes nothing.
pub async fn model_create_duplicate_is_already_exists(fx: &Fixture) {
    let name = model_name(fx);
    let req = CreateModelRequest::new(name.clone()).with_description("first");
    fx.provider.create_model(req).await.expect("create_model");
    let again = CreateModelRequest::new(name.clone()).with_description("second");
    expect_kind(
        fx.provider.create_model(again).await,
        ErrorKind::AlreadyExists,
        "duplicate model",
    );
    let got = fx.provider.get_model(&name).await.expect("get_model");
    assert_eq!(
        got.description.as_deref(),
        Some("first"),
        "the duplicate overwrote the model"
    );
}

/// Describing a model that does not exist is `NotFound`.
pub async fn model_get_missing_is_not_found(fx: &Fixture) {
    let err = expect_kind(
        fx.provider.get_model(&model_name(fx)).await,
        ErrorKind::NotFound,
        "missing model",
    );
    assert!(err.to_string().contains("not found"), "{err}");
}

/// Deleting a model that does not exist is `NotFound`.
pub async fn model_delete_missing_is_not_found(fx: &Fixture) {
    expect_kind(
        fx.provider.delete_model(&model_name(fx)).await,
        ErrorKind::NotFound,
        "delete missing model",
    );
}

/// An update changes only the fields it sets.
pub async fn model_update_changes_only_given_fields(fx: &Fixture) {
    let name = model_name(fx);
    fx.provider
        .create_model(
            CreateModelRequest::new(name.clone())
                .with_description("before")
                .with_tag("a", "1"),
        )
        .await
        .expect("create_model");
    let updated = fx
        .provider
        .update_model(&name, UpdateModelRequest::new().with_description("after"))
        .await
        .expect("update_model");
    assert_eq!(updated.description.as_deref(), Some("after"));
    assert_eq!(
        updated.tags.get("a").map(String::as_str),
        Some("1"),
        "tags were lost"
    );
    let mut tags = Tags::new();
    tags.insert("b".into(), "2".into());
    fx.provider
        .update_model(&name, UpdateModelRequest::new().with_tags(tags.clone()))
        .await
        .expect("update_model tags");
    let got = fx.provider.get_model(&name).await.expect("get_model");
    assert_eq!(got.tags, tags);
    assert_eq!(got.description.as_deref(), Some("after"));
    expect_kind(
        fx.provider
            .update_model(
                &model_name(fx),
                UpdateModelRequest::new().with_description("x"),
            )
            .await,
        ErrorKind::NotFound,
        "update missing model",
    );
}

/// Paging with a small page size returns every model exactly once; bad page sizes are
/// `InvalidArgument`.
pub async fn model_list_pages_return_each_model_once(fx: &Fixture) {
    let mut created = BTreeSet::new();
    for _ in 0..7 {
        created.insert(new_model(fx).await);
    }
    let mut seen = Vec::new();
    let mut request = PageRequest::first().with_page_size(3);
    loop {
        let page = fx
            .provider
            .list_models(request.clone())
            .await
            .expect("list_models");
        assert!(page.items.len() <= 3, "page larger than requested");
        seen.extend(page.items.into_iter().map(|m| m.name));
        match page.next_page_token {
            Some(token) => request = request.with_token(token),
            None => break,
        }
    }
    let ours: Vec<_> = seen.iter().filter(|n| created.contains(*n)).collect();
    assert_eq!(
        ours.len(),
        created.len(),
        "some models missing or repeated: {ours:?}"
    );
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a model appeared on two pages");
    let all: Vec<_> = fx
        .provider
        .list_all_models()
        .try_collect()
        .await
        .expect("list_all");
    assert!(created.iter().all(|c| all.iter().any(|m| &m.name == c)));
    expect_kind(
        fx.provider
            .list_models(PageRequest::first().with_page_size(0))
            .await,
        ErrorKind::InvalidArgument,
        "page size 0",
    );
    expect_kind(
        fx.provider
            .list_models(PageRequest::first().with_token("not-a-token"))
            .await,
        ErrorKind::InvalidArgument,
        "garbage page token",
    );
}

/// A model with versions cannot be deleted until its versions are.
pub async fn model_delete_with_versions_is_failed_precondition(fx: &Fixture) {
    let model = new_model(fx).await;
    let v = new_version(fx, &model).await;
    let err = expect_kind(
        fx.provider.delete_model(&model).await,
        ErrorKind::FailedPrecondition,
        "delete model with versions",
    );
    assert!(err.to_string().contains("version"), "{err}");
    fx.provider
        .get_version(&model, v.version)
        .await
        .expect("version survived");
    fx.provider
        .delete_version(&model, v.version)
        .await
        .expect("delete_version");
    fx.provider
        .delete_model(&model)
        .await
        .expect("delete_model");
}

/// A deleted model is gone.
pub async fn model_delete_then_get_is_not_found(fx: &Fixture) {
    let model = new_model(fx).await;
    fx.provider
        .delete_model(&model)
        .await
        .expect("delete_model");
    expect_kind(
        fx.provider.get_model(&model).await,
        ErrorKind::NotFound,
        "deleted model",
    );
}

/// Versions are numbered 1, 2, 3 in order; the model's `latest_version` follows; numbers are
/// never reused after a delete.
pub async fn version_numbers_start_at_one_and_increase(fx: &Fixture) {
    let model = new_model(fx).await;
    let mut numbers = Vec::new();
    for _ in 0..3 {
        numbers.push(new_version(fx, &model).await.version);
    }
    assert_eq!(numbers, vec![1, 2, 3]);
    let got = fx.provider.get_model(&model).await.expect("get_model");
    assert_eq!(got.latest_version, Some(3));
    fx.provider
        .delete_version(&model, 3)
        .await
        .expect("delete_version");
    let next = new_version(fx, &model).await.version;
    assert_eq!(next, 4, "version number 3 was reused");
}

/// A version reads back with its artifact, image, environment and approval.
pub async fn version_create_get_round_trip(fx: &Fixture) {
    let model = new_model(fx).await;
    let created = fx
        .provider
        .create_version(
            CreateVersionRequest::new(model.clone(), &fx.artifact_uri, &fx.image)
                .with_env("MLM_TEST_FLAG", "on")
                .with_description("first cut"),
        )
        .await
        .expect("create_version");
    assert_eq!(created.version, 1);
    assert_eq!(
        created.approval,
        Approval::Pending,
        "default approval is pending"
    );
    let got = fx
        .provider
        .get_version(&model, 1)
        .await
        .expect("get_version");
    assert_eq!(got.artifact_uri, fx.artifact_uri);
    assert_eq!(got.image, fx.image);
    assert_eq!(
        got.environment.get("MLM_TEST_FLAG").map(String::as_str),
        Some("on")
    );
    assert_eq!(got.description.as_deref(), Some("first cut"));
    assert_eq!(got.model, model);
}

/// Registering a version of a missing model is `NotFound`.
pub async fn version_for_missing_model_is_not_found(fx: &Fixture) {
    let req = CreateVersionRequest::new(model_name(fx), &fx.artifact_uri, &fx.image);
    expect_kind(
        fx.provider.create_version(req).await,
        ErrorKind::NotFound,
        "version of missing model",
    );
}

/// Empty artifacts or images and bad environment names are `InvalidArgument`, and nothing is
/// registered.
pub async fn version_invalid_input_is_invalid_argument(fx: &Fixture) {
    let model = new_model(fx).await;
    let bad = [
        CreateVersionRequest::new(model.clone(), "", &fx.image),
        CreateVersionRequest::new(model.clone(), &fx.artifact_uri, " "),
        CreateVersionRequest::new(model.clone(), &fx.artifact_uri, &fx.image).with_env("1BAD", "x"),
    ];
    for req in bad {
        expect_kind(
            fx.provider.create_version(req).await,
            ErrorKind::InvalidArgument,
            "bad version",
        );
    }
    let page = fx
        .provider
        .list_versions(&model, PageRequest::first())
        .await
        .expect("list_versions");
    assert!(page.items.is_empty(), "an invalid version was registered");
}

/// Approval moves freely between pending, approved and rejected; description updates keep it.
pub async fn version_approval_transitions(fx: &Fixture) {
    let model = new_model(fx).await;
    let v = fx
        .provider
        .create_version(CreateVersionRequest::new(
            model.clone(),
            &fx.artifact_uri,
            &fx.image,
        ))
        .await
        .expect("create_version");
    for approval in [Approval::Approved, Approval::Rejected, Approval::Approved] {
        let updated = fx
            .provider
            .update_version(
                &model,
                v.version,
                UpdateVersionRequest::new().with_approval(approval),
            )
            .await
            .expect("update_version");
        assert_eq!(updated.approval, approval);
        let got = fx
            .provider
            .get_version(&model, v.version)
            .await
            .expect("get_version");
        assert_eq!(got.approval, approval);
    }
    let described = fx
        .provider
        .update_version(
            &model,
            v.version,
            UpdateVersionRequest::new().with_description("ok"),
        )
        .await
        .expect("update description");
    assert_eq!(
        described.approval,
        Approval::Approved,
        "description update reset approval"
    );
    assert_eq!(described.description.as_deref(), Some("ok"));
    assert_eq!(
        described.artifact_uri, v.artifact_uri,
        "artifacts are immutable"
    );
}

/// Versions page oldest first, each exactly once.
pub async fn version_list_pages_return_each_version_once(fx: &Fixture) {
    let model = new_model(fx).await;
    for _ in 0..5 {
        new_version(fx, &model).await;
    }
    let mut numbers = Vec::new();
    let mut request = PageRequest::first().with_page_size(2);
    loop {
        let page = fx
            .provider
            .list_versions(&model, request.clone())
            .await
            .expect("list_versions");
        assert!(page.items.len() <= 2);
        numbers.extend(page.items.iter().map(|v| v.version));
        match page.next_page_token {
            Some(token) => request = request.with_token(token),
            None => break,
        }
    }
    assert_eq!(numbers, vec![1, 2, 3, 4, 5]);
    let all: Vec<_> = fx
        .provider
        .list_all_versions(&model)
        .try_collect()
        .await
        .expect("list_all_versions");
    assert_eq!(all.len(), 5);
    expect_kind(
        fx.provider
            .list_versions(&model_name(fx), PageRequest::first())
            .await,
        ErrorKind::NotFound,
        "versions of missing model",
    );
}

/// A version number that was never registered is `NotFound`.
pub async fn version_get_missing_is_not_found(fx: &Fixture) {
    let model = new_model(fx).await;
    expect_kind(
        fx.provider.get_version(&model, 1).await,
        ErrorKind::NotFound,
        "version 1",
    );
    expect_kind(
        fx.provider.get_version(&model, 0).await,
        ErrorKind::NotFound,
        "version 0",
    );
    expect_kind(
        fx.provider.delete_version(&model, 7).await,
        ErrorKind::NotFound,
        "delete version 7",
    );
}

/// A deleted version is gone; the others stay.
pub async fn version_delete_then_get_is_not_found(fx: &Fixture) {
    let model = new_model(fx).await;
    new_version(fx, &model).await;
    new_version(fx, &model).await;
    fx.provider
        .delete_version(&model, 1)
        .await
        .expect("delete_version");
    expect_kind(
        fx.provider.get_version(&model, 1).await,
        ErrorKind::NotFound,
        "deleted version",
    );
    fx.provider
        .get_version(&model, 2)
        .await
        .expect("version 2 survived");
}

/// An endpoint reaches `InService` with the requested instance count on its variant.
pub async fn endpoint_create_reaches_in_service_with_requested_count(fx: &Fixture) {
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    let created = fx
        .provider
        .create_endpoint(
            CreateEndpointRequest::single(name.clone(), version.clone(), &fx.instance_types[0], 2)
                .with_tag("team", "ml"),
        )
        .await
        .expect("create_endpoint");
    assert_eq!(created.name, name);
    assert!(
        matches!(
            created.status,
            EndpointStatus::Creating | EndpointStatus::InService
        ),
        "a new endpoint is Creating or InService, not {}",
        created.status
    );
    let endpoint = ready(fx, &name).await;
    let v = &endpoint.variants[0];
    assert_eq!(v.model_version, Some(version));
    assert_eq!(
        v.instance_type.as_deref(),
        Some(fx.instance_types[0].as_str())
    );
    assert_eq!(v.desired_instance_count, 2);
    if let Some(current) = v.current_instance_count {
        assert_eq!(current, 2, "InService with the wrong instance count");
    }
    assert_eq!(endpoint.tags.get("team").map(String::as_str), Some("ml"));
    assert!(
        endpoint.managed,
        "endpoints created through mlm are managed"
    );
    remove(fx, &name).await;
}

/// A second endpoint with the same name is `AlreadyExists`.
pub async fn endpoint_create_duplicate_is_already_exists(fx: &Fixture) {
    let (name, version) = deployed(fx, 1).await;
    let again = CreateEndpointRequest::single(name.clone(), version, &fx.instance_types[1], 1);
    expect_kind(
        fx.provider.create_endpoint(again).await,
        ErrorKind::AlreadyExists,
        "duplicate endpoint",
    );
    let got = fx.provider.get_endpoint(&name).await.expect("get_endpoint");
    assert_eq!(
        got.variants[0].instance_type.as_deref(),
        Some(fx.instance_types[0].as_str()),
        "the duplicate changed the endpoint"
    );
    remove(fx, &name).await;
}

/// Describing a missing endpoint is `NotFound`.
pub async fn endpoint_get_missing_is_not_found(fx: &Fixture) {
    expect_kind(
        fx.provider.get_endpoint(&endpoint_name(fx)).await,
        ErrorKind::NotFound,
        "missing endpoint",
    );
    expect_kind(
        fx.provider.delete_endpoint(&endpoint_name(fx)).await,
        ErrorKind::NotFound,
        "delete missing endpoint",
    );
}

/// An endpoint for a version that does not exist is `NotFound`, and no endpoint is left.
pub async fn endpoint_for_missing_version_is_not_found(fx: &Fixture) {
    let model = new_model(fx).await;
    let name = endpoint_name(fx);
    let req = CreateEndpointRequest::single(
        name.clone(),
        VersionRef::new(model, 9),
        &fx.instance_types[0],
        1,
    );
    expect_kind(
        fx.provider.create_endpoint(req).await,
        ErrorKind::NotFound,
        "missing version",
    );
    expect_kind(
        fx.provider.get_endpoint(&name).await,
        ErrorKind::NotFound,
        "half-created endpoint",
    );
}

/// Zero instances, no variants, duplicate variant names and unknown instance types are
/// `InvalidArgument`.
pub async fn endpoint_invalid_request_is_invalid_argument(fx: &Fixture) {
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    let zero =
        CreateEndpointRequest::single(name.clone(), version.clone(), &fx.instance_types[0], 0);
    let none = CreateEndpointRequest::new(name.clone(), vec![]);
    let spec = VariantSpec::new(variant("a"), version.clone(), &fx.instance_types[0], 1);
    let twice = CreateEndpointRequest::new(name.clone(), vec![spec.clone(), spec]);
    let unknown_type =
        CreateEndpointRequest::single(name.clone(), version, "no-such-instance-type", 1);
    for req in [zero, none, twice, unknown_type] {
        expect_kind(
            fx.provider.create_endpoint(req).await,
            ErrorKind::InvalidArgument,
            "bad endpoint",
        );
    }
    expect_kind(
        fx.provider.get_endpoint(&name).await,
        ErrorKind::NotFound,
        "invalid endpoint created",
    );
}

/// Created endpoints appear in the list, each once, across pages.
pub async fn endpoint_list_includes_created_endpoints(fx: &Fixture) {
    let (a, _) = deployed(fx, 1).await;
    let (b, _) = deployed(fx, 1).await;
    let mut seen = Vec::new();
    let mut request = PageRequest::first().with_page_size(1);
    loop {
        let page = fx
            .provider
            .list_endpoints(request.clone())
            .await
            .expect("list_endpoints");
        assert!(page.items.len() <= 1);
        seen.extend(page.items.into_iter().map(|e| e.name));
        match page.next_page_token {
            Some(t) => request = request.with_token(t),
            None => break,
        }
    }
    for name in [&a, &b] {
        assert_eq!(
            seen.iter().filter(|n| *n == name).count(),
            1,
            "{name} listed {seen:?}"
        );
    }
    remove(fx, &a).await;
    remove(fx, &b).await;
}

/// Scaling up then down changes the instance count the endpoint reports once InService.
pub async fn endpoint_scale_up_and_down(fx: &Fixture) {
    let (name, _) = deployed(fx, 1).await;
    for count in [3, 1] {
        fx.provider
            .update_endpoint(
                UpdateEndpointRequest::new(name.clone())
                    .with_change(VariantChange::new(variant("primary")).with_instance_count(count)),
            )
            .await
            .unwrap_or_else(|e| panic!("scale to {count}: {e}"));
        let e = ready(fx, &name).await;
        assert_eq!(e.variants[0].desired_instance_count, count);
        if let Some(current) = e.variants[0].current_instance_count {
            assert_eq!(current, count, "scaled to {count} but {current} run");
        }
    }
    remove(fx, &name).await;
}

/// Changing the instance type rolls the variant onto the new type, same version and count.
pub async fn endpoint_change_instance_type(fx: &Fixture) {
    let (name, version) = deployed(fx, 1).await;
    fx.provider
        .update_endpoint(UpdateEndpointRequest::new(name.clone()).with_change(
            VariantChange::new(variant("primary")).with_instance_type(&fx.instance_types[1]),
        ))
        .await
        .expect("change instance type");
    let e = ready(fx, &name).await;
    let v = &e.variants[0];
    assert_eq!(
        v.instance_type.as_deref(),
        Some(fx.instance_types[1].as_str())
    );
    assert_eq!(v.model_version, Some(version));
    assert_eq!(v.desired_instance_count, 1);
    remove(fx, &name).await;
}

/// Deploying another version makes the endpoint serve it; the old version is then free to
/// delete and the new one is protected.
pub async fn endpoint_deploy_another_version(fx: &Fixture) {
    let (name, v1) = deployed(fx, 1).await;
    let v2 = new_version(fx, &v1.model).await;
    fx.provider
        .update_endpoint(
            UpdateEndpointRequest::new(name.clone())
                .with_change(VariantChange::new(variant("primary")).with_model_version(v2.clone())),
        )
        .await
        .expect("deploy v2");
    let e = ready(fx, &name).await;
    assert_eq!(
        e.variants[0].model_version,
        Some(v2.clone()),
        "the endpoint does not serve v2"
    );
    let answer = invoke_sample(fx, &name).await;
    assert!(
        !answer.body.is_empty(),
        "the new version gave an empty answer"
    );
    fx.provider
        .delete_version(&v1.model, v1.version)
        .await
        .expect("v1 is no longer served and can be deleted");
    expect_kind(
        fx.provider.delete_version(&v2.model, v2.version).await,
        ErrorKind::FailedPrecondition,
        "delete the served version",
    );
    remove(fx, &name).await;
}

/// Two variants share traffic by weight; a weight of 0 sends a variant no traffic.
pub async fn endpoint_traffic_weights_across_two_variants(fx: &Fixture) {
    let v1 = deployable(fx).await;
    let v2 = new_version(fx, &v1.model).await;
    let name = endpoint_name(fx);
    let variants = vec![
        VariantSpec::new(variant("blue"), v1, &fx.instance_types[0], 1).with_weight(1.0),
        VariantSpec::new(variant("green"), v2, &fx.instance_types[0], 1).with_weight(1.0),
    ];
    fx.provider
        .create_endpoint(CreateEndpointRequest::new(name.clone(), variants))
        .await
        .expect("create two-variant endpoint");
    let e = ready(fx, &name).await;
    assert_eq!(e.variants.len(), 2);
    fx.provider
        .update_endpoint(
            UpdateEndpointRequest::new(name.clone())
                .with_change(VariantChange::new(variant("blue")).with_weight(0.0))
                .with_change(VariantChange::new(variant("green")).with_weight(2.0)),
        )
        .await
        .expect("update weights");
    let e = ready(fx, &name).await;
    assert_eq!(e.variant("blue").map(|v| v.weight), Some(0.0));
    assert_eq!(e.variant("green").map(|v| v.weight), Some(2.0));
    for _ in 0..6 {
        let answer = invoke_sample(fx, &name).await;
        if let Some(v) = answer.variant {
            assert_eq!(v.as_str(), "green", "a weight-0 variant received traffic");
        }
    }
    remove(fx, &name).await;
}

/// Updating a missing endpoint is `NotFound`.
pub async fn endpoint_update_missing_is_not_found(fx: &Fixture) {
    let req = UpdateEndpointRequest::new(endpoint_name(fx))
        .with_change(VariantChange::new(variant("primary")).with_instance_count(2));
    expect_kind(
        fx.provider.update_endpoint(req).await,
        ErrorKind::NotFound,
        "update missing",
    );
}

/// A deleted endpoint is gone, and so is it from the list.
pub async fn endpoint_delete_then_get_is_not_found(fx: &Fixture) {
    let (name, _) = deployed(fx, 1).await;
    remove(fx, &name).await;
    expect_kind(
        fx.provider.get_endpoint(&name).await,
        ErrorKind::NotFound,
        "deleted endpoint",
    );
    let all: Vec<_> = fx
        .provider
        .list_all_endpoints()
        .try_collect()
        .await
        .expect("list");
    assert!(
        all.iter().all(|e| e.name != name),
        "deleted endpoint still listed"
    );
}

/// A version an endpoint serves cannot be deleted; after the endpoint is gone it can.
pub async fn version_delete_while_deployed_is_failed_precondition(fx: &Fixture) {
    let (name, version) = deployed(fx, 1).await;
    let err = expect_kind(
        fx.provider
            .delete_version(&version.model, version.version)
            .await,
        ErrorKind::FailedPrecondition,
        "delete deployed version",
    );
    assert!(
        err.to_string().contains(name.as_str()),
        "the error should name the endpoint: {err}"
    );
    remove(fx, &name).await;
    fx.provider
        .delete_version(&version.model, version.version)
        .await
        .expect("delete after the endpoint is gone");
}

/// The overview reports status, per-variant counts and (where supported) one row per instance.
pub async fn overview_reports_status_and_instance_counts(fx: &Fixture) {
    let (name, _) = deployed(fx, 2).await;
    let overview = fx
        .provider
        .endpoint_overview(&name)
        .await
        .expect("endpoint_overview");
    assert_eq!(overview.name, name);
    assert_eq!(overview.status, EndpointStatus::InService);
    assert_eq!(overview.variants.len(), 1);
    assert_eq!(overview.variants[0].desired_instance_count, 2);
    if fx.provider.capabilities().per_instance_metrics {
        assert_eq!(overview.instances.len(), 2, "one row per instance");
        for i in &overview.instances {
            assert_eq!(i.status, InstanceStatus::InService, "instance {}", i.id);
            assert_eq!(i.variant.as_str(), "primary");
            if let Some(in_flight) = i.metrics.in_flight_requests {
                assert_eq!(
                    in_flight.value, 0.0,
                    "an idle instance has requests in flight"
                );
            }
        }
        let ids: BTreeSet<_> = overview.instances.iter().map(|i| &i.id).collect();
        assert_eq!(ids.len(), 2, "instance ids are not unique");
    }
    if !fx.provider.capabilities().gpu_metrics {
        assert!(
            overview
                .instances
                .iter()
                .all(|i| i.metrics.gpu_utilization.is_none()),
            "GPU figures without GPU support must be absent, not zero"
        );
    }
    expect_kind(
        fx.provider.endpoint_overview(&endpoint_name(fx)).await,
        ErrorKind::NotFound,
        "overview of missing endpoint",
    );
    remove(fx, &name).await;
}

/// The all-endpoints overview includes a created endpoint with its counts.
pub async fn list_overviews_includes_endpoint(fx: &Fixture) {
    let (name, _) = deployed(fx, 1).await;
    let mut request = PageRequest::first().with_page_size(100);
    let mut found = None;
    loop {
        let page = fx
            .provider
            .list_overviews(request.clone())
            .await
            .expect("list_overviews");
        if let Some(o) = page.items.into_iter().find(|o| o.name == name) {
            found = Some(o);
        }
        match page.next_page_token {
            Some(t) => request = request.with_token(t),
            None => break,
        }
    }
    let overview = found.expect("the endpoint is in the overview");
    assert_eq!(overview.status, EndpointStatus::InService);
    assert_eq!(overview.variants[0].desired_instance_count, 1);
    remove(fx, &name).await;
}

/// Metric history of an endpoint nobody called is a set of empty series, not an error.
pub async fn metrics_on_idle_endpoint_are_empty_series(fx: &Fixture) {
    let (name, _) = deployed(fx, 1).await;
    let kinds = vec![
        MetricKind::Invocations,
        MetricKind::InvocationErrors5xx,
        MetricKind::ModelLatency,
    ];
    let series = fx
        .provider
        .query_metrics(MetricQuery::last(
            name.clone(),
            kinds.clone(),
            std::time::Duration::from_secs(900),
            60,
        ))
        .await
        .expect("query_metrics on an idle endpoint");
    for kind in kinds {
        let of_kind: Vec<_> = series.iter().filter(|s| s.kind == kind).collect();
        assert!(!of_kind.is_empty(), "no series for {kind}");
        for s in of_kind {
            assert!(
                s.points.is_empty(),
                "{kind} has data on an idle endpoint: {:?}",
                s.points
            );
        }
    }
    remove(fx, &name).await;
}

/// A metric query with an inverted window is `InvalidArgument`; on a missing endpoint,
/// `NotFound`.
pub async fn metrics_invalid_query_is_invalid_argument(fx: &Fixture) {
    let (name, _) = deployed(fx, 1).await;
    let mut q = MetricQuery::last(
        name.clone(),
        vec![MetricKind::Invocations],
        std::time::Duration::from_secs(600),
        60,
    );
    std::mem::swap(&mut q.start, &mut q.end);
    expect_kind(
        fx.provider.query_metrics(q).await,
        ErrorKind::InvalidArgument,
        "inverted window",
    );
    let missing = MetricQuery::last(
        endpoint_name(fx),
        vec![MetricKind::Invocations],
        std::time::Duration::from_secs(600),
        60,
    );
    expect_kind(
        fx.provider.query_metrics(missing).await,
        ErrorKind::NotFound,
        "missing endpoint",
    );
    remove(fx, &name).await;
}

/// Invoking returns the model's answer, unchanged.
pub async fn invoke_returns_model_answer(fx: &Fixture) {
    let (name, _) = deployed(fx, 1).await;
    let answer = invoke_sample(fx, &name).await;
    assert_expected_answer(fx, &answer);
    if let Some(v) = &answer.variant {
        assert_eq!(v.as_str(), "primary");
    }
    remove(fx, &name).await;
}

/// Invoking a missing endpoint is `NotFound`.
pub async fn invoke_missing_endpoint_is_not_found(fx: &Fixture) {
    let req = InvokeRequest::new(endpoint_name(fx), "application/json", b"{}".to_vec());
    expect_kind(
        fx.provider.invoke(req).await,
        ErrorKind::NotFound,
        "invoke missing endpoint",
    );
}

/// Serverless variants work where supported — created, invoked, described with their
/// configuration — and are `Unsupported` elsewhere.
pub async fn serverless_variant_or_unsupported(fx: &Fixture) {
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    let spec = VariantSpec::serverless(variant("primary"), version, ServerlessConfig::new(2048, 2));
    let result = fx
        .provider
        .create_endpoint(CreateEndpointRequest::new(name.clone(), vec![spec]))
        .await;
    if fx.provider.capabilities().serverless {
        result.expect("create serverless endpoint");
        ready(fx, &name).await;
        assert_expected_answer(fx, &invoke_sample(fx, &name).await);
        let e = fx.provider.get_endpoint(&name).await.expect("describe");
        assert_eq!(e.status, EndpointStatus::InService);
        assert_eq!(
            e.variants[0].serverless,
            Some(ServerlessConfig::new(2048, 2))
        );
        assert_eq!(e.variants[0].instance_type, None);
        remove(fx, &name).await;
    } else {
        expect_kind(
            result,
            ErrorKind::Unsupported,
            "serverless without the capability",
        );
    }
}

/// Canary deployment policies are kept where supported and `Unsupported` elsewhere.
pub async fn deployment_policy_or_unsupported(fx: &Fixture) {
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    let policy = DeploymentPolicy::new(TrafficShift::Canary {
        percent: 10,
        bake_seconds: 60,
    });
    let req = CreateEndpointRequest::single(name.clone(), version, &fx.instance_types[0], 1)
        .with_deployment(policy.clone());
    let result = fx.provider.create_endpoint(req).await;
    if fx.provider.capabilities().deployment_policies {
        result.expect("create with deployment policy");
        let e = ready(fx, &name).await;
        assert_eq!(e.deployment, Some(policy));
        remove(fx, &name).await;
    } else {
        expect_kind(
            result,
            ErrorKind::Unsupported,
            "deployment policy without the capability",
        );
    }
}

/// Autoscaling policies are kept where supported and `Unsupported` elsewhere.
pub async fn autoscaling_or_unsupported(fx: &Fixture) {
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    let policy = AutoscalingPolicy::new(1, 3, ScalingMetric::InvocationsPerInstance, 100.0);
    let spec = VariantSpec::new(variant("primary"), version, &fx.instance_types[0], 1)
        .with_autoscaling(policy.clone());
    let result = fx
        .provider
        .create_endpoint(CreateEndpointRequest::new(name.clone(), vec![spec]))
        .await;
    if fx.provider.capabilities().autoscaling {
        result.expect("create with autoscaling");
        let e = ready(fx, &name).await;
        assert_eq!(e.variants[0].autoscaling, Some(policy));
        remove(fx, &name).await;
    } else {
        expect_kind(
            result,
            ErrorKind::Unsupported,
            "autoscaling without the capability",
        );
    }
}

/// Every captured record of `name` around now.
async fn captures_now(fx: &Fixture, name: &EndpointName) -> crate::Result<Vec<CapturedRecord>> {
    let now = chrono::Utc::now();
    let query = CaptureQuery::new(
        name.clone(),
        now - chrono::TimeDelta::hours(1),
        now + chrono::TimeDelta::minutes(5),
    );
    crate::ext::all_pages(|page| fx.provider.list_captures(query.clone(), page))
        .try_collect()
        .await
}

/// With data capture at 100 %, every invocation comes back from `list_captures` as a
/// SageMaker capture record (input and output as sent and answered) with the variant that
/// served it. Records may land late (SageMaker writes to S3 in batches): polled within the
/// fixture's wait. Without the capability, creating with capture and listing are
/// `Unsupported`.
pub async fn data_capture_records_come_back_or_unsupported(fx: &Fixture) {
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    let request = CreateEndpointRequest::single(name.clone(), version, &fx.instance_types[0], 1)
        .with_data_capture(DataCaptureConfig::new(fx.capture_destination.clone(), 100));
    let result = fx.provider.create_endpoint(request).await;
    if !fx.provider.capabilities().data_capture {
        expect_kind(
            result,
            ErrorKind::Unsupported,
            "data capture without the capability",
        );
        expect_kind(
            captures_now(fx, &name).await,
            ErrorKind::Unsupported,
            "list_captures without the capability",
        );
        return;
    }
    result.expect("create with data capture");
    ready(fx, &name).await;
    for _ in 0..3 {
        invoke_sample(fx, &name).await;
    }
    let deadline = tokio::time::Instant::now() + fx.wait.timeout;
    let records = loop {
        let records = captures_now(fx, &name)
            .await
            .unwrap_or_else(|e| panic!("list_captures {name}: {e}"));
        if records.len() >= 3 || tokio::time::Instant::now() >= deadline {
            break records;
        }
        tokio::time::sleep(fx.wait.initial_interval).await;
    };
    assert_eq!(records.len(), 3, "one record per invocation: {records:?}");
    for r in &records {
        assert_eq!(r.variant, variant("primary"));
        assert_eq!(r.record.event_version, "0");
        let input = r
            .record
            .capture_data
            .endpoint_input
            .as_ref()
            .expect("input");
        assert_eq!(input.mode, CaptureMode::Input);
        assert_eq!(input.observed_content_type, fx.invocation.content_type);
        assert_eq!(input.bytes().expect("input bytes"), fx.invocation.body);
        let output = r
            .record
            .capture_data
            .endpoint_output
            .as_ref()
            .expect("output");
        assert_eq!(output.mode, CaptureMode::Output);
        let answer = String::from_utf8_lossy(&output.bytes().expect("output bytes")).into_owned();
        assert!(answer.contains(&fx.invocation.expected), "{answer}");
    }
    remove(fx, &name).await;
}

// -------------------------------------------------------------------------------------------
// Alarms and deployments
// -------------------------------------------------------------------------------------------

fn alarm_name(name: &str) -> AlarmName {
    AlarmName::new(name).expect("static alarm names are valid")
}

/// "5xx answers summed over 10 s are above `threshold`", with empty periods not breaching.
fn errors_alarm(endpoint: &EndpointName, name: &str, threshold: f64) -> AlarmDefinition {
    AlarmDefinition::new(
        alarm_name(name),
        endpoint.clone(),
        MetricKind::InvocationErrors5xx,
        Statistic::Sum,
        Comparison::GreaterThan,
        threshold,
        10,
    )
    .with_missing_data(TreatMissingData::NotBreaching)
}

async fn deployments(fx: &Fixture, name: &EndpointName) -> Vec<Deployment> {
    crate::ext::all_pages(|page| fx.provider.list_deployments(name, page))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("list_deployments {name}: {e}"))
}

async fn newest_deployment(fx: &Fixture, name: &EndpointName) -> Deployment {
    deployments(fx, name)
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("endpoint {name} has no deployment"))
}

fn phase_names(d: &Deployment) -> Vec<PhaseName> {
    d.timeline.iter().map(|c| c.phase.name()).collect()
}

/// Starts an update of the only variant to `version` under `policy`; returns its deployment.
async fn guarded_update(
    fx: &Fixture,
    name: &EndpointName,
    version: VersionRef,
    policy: DeploymentPolicy,
) -> Deployment {
    let mut request = UpdateEndpointRequest::new(name.clone())
        .with_change(VariantChange::new(variant("primary")).with_model_version(version));
    request.deployment = Some(policy);
    let e = fx
        .provider
        .update_endpoint(request)
        .await
        .unwrap_or_else(|e| panic!("guarded update of {name}: {e}"));
    let id = e
        .last_deployment
        .unwrap_or_else(|| panic!("the update of {name} has no last_deployment"))
        .id;
    fx.provider
        .get_deployment(name, &id)
        .await
        .unwrap_or_else(|e| panic!("get_deployment {name}/{id}: {e}"))
}

/// Polls deployment `id` until `done` says so (or the fixture's wait timeout passes), calling
/// `each` with every description; with `traffic`, sends the sample request between polls.
async fn watch_deployment(
    fx: &Fixture,
    name: &EndpointName,
    id: &str,
    traffic: bool,
    mut done: impl FnMut(&Deployment) -> bool,
) -> Deployment {
    let deadline = tokio::time::Instant::now() + fx.wait.timeout;
    loop {
        let d = fx
            .provider
            .get_deployment(name, id)
            .await
            .unwrap_or_else(|e| panic!("get_deployment {name}/{id}: {e}"));
        if done(&d) {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deployment {name}/{id} is still {:?} after {:?}",
            d.phase,
            fx.wait.timeout
        );
        if traffic {
            if let Some(hooks) = &fx.hooks {
                hooks.before_invoke(name, &fx.invocation).await;
            }
            // Answers may be errors: that is what the alarm is for.
            let _ = fx
                .provider
                .invoke(InvokeRequest::new(
                    name.clone(),
                    &fx.invocation.content_type,
                    fx.invocation.body.clone(),
                ))
                .await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A policy outside SageMaker's guardrail limits is `InvalidArgument` naming the rule, before
/// anything is created.
pub async fn deployment_policy_rules_are_invalid_argument(fx: &Fixture) {
    let v1 = deployable(fx).await;
    let name = endpoint_name(fx);
    let big_canary = DeploymentPolicy::new(TrafficShift::Canary {
        percent: 60,
        bake_seconds: 10,
    });
    let request = CreateEndpointRequest::single(name.clone(), v1.clone(), &fx.instance_types[0], 1)
        .with_deployment(big_canary);
    let e = expect_kind(
        fx.provider.create_endpoint(request).await,
        ErrorKind::InvalidArgument,
        "a canary of 60 %",
    );
    assert!(e.to_string().contains("canary percent"), "{e}");
    let rolling = DeploymentPolicy::new(TrafficShift::Rolling {
        batch_percent: 25,
        interval_seconds: 0,
        rollback_batch_percent: None,
    });
    let variants = vec![
        VariantSpec::new(variant("blue"), v1.clone(), &fx.instance_types[0], 1),
        VariantSpec::new(variant("green"), v1, &fx.instance_types[0], 1),
    ];
    let request = CreateEndpointRequest::new(name.clone(), variants).with_deployment(rolling);
    let e = expect_kind(
        fx.provider.create_endpoint(request).await,
        ErrorKind::InvalidArgument,
        "a rolling update of two variants",
    );
    assert!(e.to_string().contains("rolling"), "{e}");
    expect_kind(
        fx.provider.get_endpoint(&name).await,
        ErrorKind::NotFound,
        "an endpoint whose creates were refused",
    );
}

/// Alarms are created, read back with their definition and a state, listed by name in pages,
/// replaced, and deleted; `Unsupported` without the capability.
pub async fn alarm_crud_and_state(fx: &Fixture) {
    let (name, _) = deployed(fx, 1).await;
    let errors = errors_alarm(&name, "errors", 0.0);
    if !fx.provider.capabilities().alarms {
        expect_kind(
            fx.provider.put_alarm(errors).await,
            ErrorKind::Unsupported,
            "an alarm without the capability",
        );
        return remove(fx, &name).await;
    }
    let created = fx
        .provider
        .put_alarm(errors.clone())
        .await
        .expect("put_alarm");
    assert_eq!(created.definition, errors);
    let latency = AlarmDefinition::new(
        alarm_name("latency"),
        name.clone(),
        MetricKind::ModelLatency,
        Statistic::Average,
        Comparison::GreaterThanOrEqual,
        2_000_000.0,
        60,
    )
    .with_datapoints(2, 3);
    fx.provider
        .put_alarm(latency.clone())
        .await
        .expect("put_alarm latency");
    let got = fx
        .provider
        .get_alarm(&name, &latency.name)
        .await
        .expect("get_alarm");
    assert_eq!(got.definition, latency);
    assert!(
        !got.state_reason.is_empty(),
        "an alarm says why it is {}",
        got.state
    );
    let mut listed = Vec::new();
    let mut page = PageRequest::first().with_page_size(1);
    loop {
        let p = fx
            .provider
            .list_alarms(&name, page.clone())
            .await
            .expect("list_alarms");
        assert!(p.items.len() <= 1, "a page of 1 held {}", p.items.len());
        listed.extend(p.items.into_iter().map(|a| a.definition.name));
        match p.next_page_token {
            Some(t) => page = page.with_token(t),
            None => break,
        }
    }
    assert_eq!(listed, [alarm_name("errors"), alarm_name("latency")]);
    let replaced = errors_alarm(&name, "errors", 5.0);
    fx.provider
        .put_alarm(replaced.clone())
        .await
        .expect("replace the alarm");
    let got = fx
        .provider
        .get_alarm(&name, &replaced.name)
        .await
        .expect("get");
    assert_eq!(got.definition.threshold, 5.0);
    fx.provider
        .delete_alarm(&name, &latency.name)
        .await
        .expect("delete_alarm");
    expect_kind(
        fx.provider.get_alarm(&name, &latency.name).await,
        ErrorKind::NotFound,
        "a deleted alarm",
    );
    expect_kind(
        fx.provider.delete_alarm(&name, &latency.name).await,
        ErrorKind::NotFound,
        "deleting a deleted alarm",
    );
    remove(fx, &name).await;
}

/// A definition against CloudWatch's rules is `InvalidArgument` (checked first); a valid one
/// on a missing endpoint is `NotFound`.
pub async fn alarm_invalid_or_missing_endpoint(fx: &Fixture) {
    let name = endpoint_name(fx);
    let mut odd_period = errors_alarm(&name, "errors", 0.0);
    odd_period.period_seconds = 45;
    if !fx.provider.capabilities().alarms {
        expect_kind(
            fx.provider
                .put_alarm(errors_alarm(&name, "errors", 0.0))
                .await,
            ErrorKind::Unsupported,
            "an alarm without the capability",
        );
        return;
    }
    let e = expect_kind(
        fx.provider.put_alarm(odd_period).await,
        ErrorKind::InvalidArgument,
        "a 45 s period",
    );
    assert!(e.to_string().contains("period_seconds"), "{e}");
    expect_kind(
        fx.provider
            .put_alarm(errors_alarm(&name, "errors", 0.0))
            .await,
        ErrorKind::NotFound,
        "an alarm on a missing endpoint",
    );
    expect_kind(
        fx.provider.list_alarms(&name, PageRequest::first()).await,
        ErrorKind::NotFound,
        "the alarms of a missing endpoint",
    );
}

/// Creating an endpoint and deploying another version to it are deployments: listed newest
/// first, completed, with a timeline from `provisioning` to `completed`; the endpoint
/// summarises the latest. (Capacity-only changes may be recorded too: the local backend does,
/// SageMaker applies them in place without a deployment.)
pub async fn every_create_and_update_is_a_deployment(fx: &Fixture) {
    let (name, v1) = deployed(fx, 1).await;
    let created = newest_deployment(fx, &name).await;
    assert_eq!(created.kind, DeploymentKind::Create);
    assert_eq!(created.phase, DeploymentPhase::Completed, "{created:?}");
    assert!(
        created.ended_at.is_some(),
        "a completed deployment has ended"
    );
    let phases = phase_names(&created);
    assert_eq!(phases.last(), Some(&PhaseName::Completed), "{phases:?}");
    let v2 = new_version(fx, &v1.model).await;
    fx.provider
        .update_endpoint(
            UpdateEndpointRequest::new(name.clone())
                .with_change(VariantChange::new(variant("primary")).with_model_version(v2)),
        )
        .await
        .expect("deploy v2");
    let e = ready(fx, &name).await;
    let all = deployments(fx, &name).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].kind, DeploymentKind::Update);
    assert_eq!(all[0].phase, DeploymentPhase::Completed);
    assert_eq!(all[1].id, created.id);
    let summary = e
        .last_deployment
        .expect("the endpoint names its last deployment");
    assert_eq!(summary.id, all[0].id);
    let again = fx
        .provider
        .get_deployment(&name, &all[0].id)
        .await
        .expect("get_deployment");
    assert_eq!(again, all[0]);
    expect_kind(
        fx.provider
            .get_deployment(&name, "no-such-deployment")
            .await,
        ErrorKind::NotFound,
        "a deployment that does not exist",
    );
    expect_kind(
        fx.provider.stop_deployment(&name, &created.id).await,
        ErrorKind::FailedPrecondition,
        "stopping a deployment that has ended",
    );
    remove(fx, &name).await;
}

/// A canary update shifts its share, bakes, then completes: the endpoint serves the new
/// version and the deployment's timeline shows each phase in order.
pub async fn canary_update_completes_with_its_phases(fx: &Fixture) {
    if !fx.provider.capabilities().deployment_policies {
        return;
    }
    let (name, v1) = deployed(fx, 1).await;
    let v2 = new_version(fx, &v1.model).await;
    let policy = DeploymentPolicy::new(TrafficShift::Canary {
        percent: 10,
        bake_seconds: 5,
    });
    let started = guarded_update(fx, &name, v2.clone(), policy.clone()).await;
    assert_eq!(started.kind, DeploymentKind::Update);
    assert_eq!(started.policy, Some(policy));
    let e = ready(fx, &name).await;
    assert_eq!(
        e.variants[0].model_version,
        Some(v2),
        "the canary did not complete"
    );
    let done = fx
        .provider
        .get_deployment(&name, &started.id)
        .await
        .expect("get_deployment");
    assert_eq!(done.phase, DeploymentPhase::Completed, "{done:?}");
    let phases = phase_names(&done);
    let at = |p: PhaseName| {
        phases
            .iter()
            .position(|q| *q == p)
            .unwrap_or_else(|| panic!("no {p:?} phase in {phases:?}"))
    };
    assert!(
        at(PhaseName::Shifting) < at(PhaseName::Baking)
            && at(PhaseName::Baking) < at(PhaseName::Completed),
        "{phases:?}"
    );
    assert!(
        done.timeline
            .iter()
            .any(|c| c.phase == DeploymentPhase::Shifting { percent: 10 }),
        "the canary step is 10 %: {:?}",
        done.timeline
    );
    invoke_sample(fx, &name).await;
    remove(fx, &name).await;
}

/// A version that answers 5xx, deployed under a canary with a rollback alarm on 5xx, is
/// rolled back: the deployment names the alarm, waiting reports `RolledBack`, and the endpoint
/// serves the old version.
pub async fn failing_canary_is_rolled_back_by_its_alarm(fx: &Fixture) {
    let caps = fx.provider.capabilities();
    if !(caps.deployment_policies && caps.alarms) {
        return;
    }
    let (name, v1) = deployed(fx, 1).await;
    let mut bad = CreateVersionRequest::new(v1.model.clone(), &fx.artifact_uri, &fx.image)
        .with_approval(Approval::Approved);
    bad.environment = fx.failing_environment.clone();
    let bad = fx
        .provider
        .create_version(bad)
        .await
        .expect("the failing version");
    let alarm = errors_alarm(&name, "errors", 0.0);
    fx.provider
        .put_alarm(alarm.clone())
        .await
        .expect("put_alarm");
    let policy = DeploymentPolicy::new(TrafficShift::Canary {
        percent: 10,
        bake_seconds: 30,
    })
    .with_rollback_alarm(alarm.name.clone());
    let bad = VersionRef::new(bad.model, bad.version);
    let started = guarded_update(fx, &name, bad, policy).await;
    watch_deployment(fx, &name, &started.id, true, |d| {
        d.phase.is_terminal() || matches!(d.phase.name(), PhaseName::Shifting | PhaseName::Baking)
    })
    .await;
    if let Some(hooks) = &fx.hooks {
        hooks.errors_observed(&name, &alarm.name).await;
    }
    let ended = watch_deployment(fx, &name, &started.id, true, |d| d.phase.is_terminal()).await;
    let err = fx
        .provider
        .wait_until_ready(&name, fx.wait)
        .await
        .expect_err("waiting on a rolled-back update fails");
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{err}");
    match &ended.phase {
        DeploymentPhase::RolledBack { alarm: fired, .. } => {
            assert_eq!(fired.as_ref(), Some(&alarm.name), "{ended:?}")
        }
        other => panic!("the failing canary ended {other:?}, not rolled_back"),
    }
    assert!(
        ended
            .timeline
            .iter()
            .any(|c| c.phase == DeploymentPhase::Shifting { percent: 10 }),
        "the canary took its share before the rollback: {:?}",
        ended.timeline
    );
    let e = fx.provider.get_endpoint(&name).await.expect("get_endpoint");
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(
        e.variants[0].model_version,
        Some(v1),
        "the old version serves"
    );
    for _ in 0..5 {
        invoke_sample(fx, &name).await;
    }
    remove(fx, &name).await;
}

/// Stopping a running deployment rolls it back: the old version keeps serving.
pub async fn stopping_a_deployment_rolls_it_back(fx: &Fixture) {
    let caps = fx.provider.capabilities();
    if !(caps.deployment_policies && caps.alarms) {
        return;
    }
    let (name, v1) = deployed(fx, 1).await;
    let v2 = new_version(fx, &v1.model).await;
    // An alarm that never fires: a provider may stop a deployment through its rollback alarms.
    let guard = errors_alarm(&name, "guard", 1e12);
    fx.provider
        .put_alarm(guard.clone())
        .await
        .expect("put_alarm");
    let policy = DeploymentPolicy::new(TrafficShift::Canary {
        percent: 10,
        bake_seconds: 600,
    })
    .with_rollback_alarm(guard.name);
    let started = guarded_update(fx, &name, v2, policy).await;
    watch_deployment(fx, &name, &started.id, false, |d| {
        matches!(d.phase.name(), PhaseName::Shifting | PhaseName::Baking)
    })
    .await;
    let stopping = fx
        .provider
        .stop_deployment(&name, &started.id)
        .await
        .expect("stop_deployment");
    assert!(
        matches!(
            stopping.phase.name(),
            PhaseName::RollingBack | PhaseName::RolledBack
        ),
        "{stopping:?}"
    );
    let err = fx
        .provider
        .wait_until_ready(&name, fx.wait)
        .await
        .expect_err("waiting on a stopped update fails");
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{err}");
    let e = fx.provider.get_endpoint(&name).await.expect("get_endpoint");
    assert_eq!(
        e.variants[0].model_version,
        Some(v1),
        "the old version serves"
    );
    remove(fx, &name).await;
}

// -------------------------------------------------------------------------------------------
// Events
// -------------------------------------------------------------------------------------------

/// A backend that keeps events (`Capabilities::events`) records the endpoint's own lifecycle
/// as `system` events and a caller's event as `user`, lists them newest first, filters by
/// kind and time, refuses a malformed kind and answers `NotFound` for a missing endpoint.
/// Without the capability both calls are `Unsupported`.
pub async fn events_timeline_or_unsupported(fx: &Fixture) {
    let missing = endpoint_name(fx);
    let event = NewEvent::new("load_test", "4 clients, 10 s: p50 3 ms")
        .with_data(serde_json::json!({"p50_ms": 3.5}));
    if !fx.provider.capabilities().events {
        let listed = fx
            .provider
            .list_events(EventQuery::new(missing.clone()), PageRequest::first())
            .await;
        expect_kind(
            listed,
            ErrorKind::Unsupported,
            "events without the capability",
        );
        let recorded = fx.provider.record_event(&missing, event).await;
        expect_kind(
            recorded,
            ErrorKind::Unsupported,
            "an event without the capability",
        );
        return;
    }
    let (name, _) = deployed(fx, 1).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let recorded = fx
        .provider
        .record_event(&name, event.clone())
        .await
        .expect("record_event");
    assert_eq!(recorded.source, EventSource::User);
    assert_eq!(
        (recorded.kind.as_str(), recorded.data.as_ref()),
        ("load_test", event.data.as_ref())
    );

    let all: Vec<_> =
        crate::all_pages(|p| fx.provider.list_events(EventQuery::new(name.clone()), p))
            .try_collect()
            .await
            .expect("list_events");
    assert_eq!(all.first(), Some(&recorded), "newest first: {all:?}");
    assert!(
        all.iter().any(|e| e.source == EventSource::System),
        "the endpoint's creation is on its timeline: {all:?}"
    );
    assert!(
        all.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first: {all:?}"
    );
    let only = |query: EventQuery| async {
        let page = fx.provider.list_events(query, PageRequest::first()).await;
        page.expect("list_events").items
    };
    let query = EventQuery::new(name.clone());
    assert_eq!(
        only(query.clone().with_kind("load_test")).await,
        vec![recorded.clone()]
    );
    assert!(
        only(
            query
                .clone()
                .since(recorded.at + chrono::Duration::seconds(1))
        )
        .await
        .is_empty()
    );
    assert!(only(query.since(before)).await.contains(&recorded));

    let bad = fx
        .provider
        .record_event(&name, NewEvent::new("Load Test", "x"))
        .await;
    expect_kind(bad, ErrorKind::InvalidArgument, "a malformed event kind");
    let gone = fx.provider.record_event(&missing, event).await;
    expect_kind(gone, ErrorKind::NotFound, "an event on a missing endpoint");
    remove(fx, &name).await;
}

/// Drift over captured traffic: a baseline built from a window of an endpoint's captured
/// invocations profiles exactly those, is kept (get, list, no second of the same name), and a
/// report of the same window against it finds no drift; deleting it makes it `NotFound`.
/// Without the capability (or without data capture) the calls are `Unsupported`.
pub async fn drift_over_captured_traffic_or_unsupported(fx: &Fixture) {
    let baseline = BaselineName::new("conformance").expect("a valid baseline name");
    let caps = fx.provider.capabilities();
    if !(caps.drift && caps.data_capture) {
        let listed = fx
            .provider
            .list_baselines(&endpoint_name(fx), PageRequest::first())
            .await;
        expect_kind(
            listed,
            ErrorKind::Unsupported,
            "drift without the capability",
        );
        return;
    }
    let version = deployable(fx).await;
    let name = endpoint_name(fx);
    let request = CreateEndpointRequest::single(name.clone(), version, &fx.instance_types[0], 1)
        .with_data_capture(DataCaptureConfig::new(fx.capture_destination.clone(), 100));
    fx.provider
        .create_endpoint(request)
        .await
        .expect("create with data capture");
    ready(fx, &name).await;
    let start = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    for _ in 0..3 {
        invoke_sample(fx, &name).await;
    }
    let window = TrafficWindow::new(start, chrono::Utc::now() + chrono::TimeDelta::minutes(5));
    let source = SampleSource::Window(window);
    // Captured records may land late (SageMaker writes to S3 in batches).
    let deadline = tokio::time::Instant::now() + fx.wait.timeout;
    let created = loop {
        let request = CreateBaselineRequest::new(name.clone(), baseline.clone(), source.clone());
        match fx.provider.create_baseline(request).await {
            Ok(b) if b.sample_count >= 3 || tokio::time::Instant::now() >= deadline => break b,
            Ok(_) => fx
                .provider
                .delete_baseline(&name, &baseline)
                .await
                .expect("delete"),
            Err(e)
                if e.kind() == ErrorKind::InvalidArgument
                    && tokio::time::Instant::now() < deadline => {}
            Err(e) => panic!("create_baseline from captured traffic: {e}"),
        }
        tokio::time::sleep(fx.wait.initial_interval).await;
    };
    assert_eq!(
        created.sample_count, 3,
        "one sample per invocation: {created:?}"
    );
    assert_eq!(created.window_start, Some(start));
    assert!(
        !created.fields.is_empty(),
        "the inputs are profiled: {created:?}"
    );
    let got = fx
        .provider
        .get_baseline(&name, &baseline)
        .await
        .expect("get_baseline");
    assert_eq!(got, created);
    let listed = fx
        .provider
        .list_baselines(&name, PageRequest::first())
        .await
        .expect("list_baselines");
    assert_eq!(listed.items, vec![created.clone()]);
    let again = CreateBaselineRequest::new(name.clone(), baseline.clone(), source.clone());
    let again = fx.provider.create_baseline(again).await;
    expect_kind(
        again,
        ErrorKind::AlreadyExists,
        "a second baseline of one name",
    );

    let report = fx
        .provider
        .drift_report(DriftReportRequest::new(
            name.clone(),
            baseline.clone(),
            source,
        ))
        .await
        .expect("drift_report");
    assert_eq!(report.sample_count, 3);
    assert!(!report.drifted, "the baseline's own traffic: {report:?}");
    assert_eq!(report.drift_score, 0.0);

    fx.provider
        .delete_baseline(&name, &baseline)
        .await
        .expect("delete_baseline");
    let gone = fx.provider.get_baseline(&name, &baseline).await;
    expect_kind(gone, ErrorKind::NotFound, "a deleted baseline");
    remove(fx, &name).await;
}

/// Polls a pipeline run until `done` says so (or the fixture's timeout passes).
async fn wait_for_run(
    fx: &Fixture,
    pipeline: &PipelineName,
    id: &str,
    what: &str,
    done: impl Fn(&PipelineRun) -> bool,
) -> PipelineRun {
    let deadline = tokio::time::Instant::now() + fx.wait.timeout;
    loop {
        match fx.provider.get_run(pipeline, id).await {
            Ok(run) if done(&run) => return run,
            Ok(run) if tokio::time::Instant::now() >= deadline => {
                panic!("run {id} of {pipeline}: {what} did not happen in time: {run:#?}")
            }
            Err(e)
                if e.kind() != ErrorKind::NotFound || tokio::time::Instant::now() >= deadline =>
            {
                panic!("run {id} of {pipeline}: {e}")
            }
            _ => tokio::time::sleep(fx.wait.initial_interval).await,
        }
    }
}

/// The version of its model `endpoint` serves (one variant).
async fn served_version(fx: &Fixture, endpoint: &EndpointName) -> u32 {
    let e = ready(fx, endpoint).await;
    let versions: Vec<_> = e
        .variants
        .iter()
        .filter_map(|v| v.model_version.as_ref().map(|m| m.version))
        .collect();
    assert_eq!(versions.len(), 1, "one variant: {e:?}");
    versions[0]
}

/// A two-stage pipeline as a user would write it: `staging` follows every approval and
/// sends the fixture's request as its smoke test; `production` waits for a promotion.
fn two_stage_pipeline(
    fx: &Fixture,
    name: &PipelineName,
    model: &ModelName,
    staging: &EndpointName,
    production: &EndpointName,
) -> PipelineSpec {
    let body: serde_json::Value =
        serde_json::from_slice(&fx.invocation.body).expect("the fixture's request is JSON");
    let variants = serde_json::json!([{
        "name": "primary", "instance_type": fx.instance_types[0], "instance_count": 1
    }]);
    serde_json::from_value(serde_json::json!({
        "pipeline": name, "model": model,
        "stages": [
            {"name": "staging", "endpoint": staging, "variants": variants,
             "smoke_test": {"requests": [{"body": body}]}},
            {"name": "production", "endpoint": production, "variants": variants,
             "requires_approval": true},
        ],
    }))
    .expect("a valid pipeline")
}

/// The stages of the conformance pipeline.
struct TwoStages {
    name: PipelineName,
    model: ModelName,
    staging: EndpointName,
    production: EndpointName,
}

impl TwoStages {
    fn promote(&self, version: u32) -> PromoteRequest {
        let stage = StageName::new("production").expect("a valid stage name");
        PromoteRequest::new(self.name.clone(), version, stage, "user:conformance")
    }
}

/// A dry run keeps nothing; applying creates; applying the same file again changes nothing.
async fn apply_two_stages(fx: &Fixture, spec: PipelineSpec) {
    let p = &fx.provider;
    let plan = p
        .apply_pipeline(ApplyPipelineRequest::new(spec.clone()).dry_run())
        .await
        .expect("dry run");
    assert_eq!(
        (plan.action.as_str(), plan.stages[0].action.as_str()),
        ("created", "create_endpoint")
    );
    expect_kind(
        p.get_pipeline(&spec.pipeline).await,
        ErrorKind::NotFound,
        "a dry run keeps nothing",
    );
    p.apply_pipeline(ApplyPipelineRequest::new(spec.clone()))
        .await
        .expect("apply");
    let again = p
        .apply_pipeline(ApplyPipelineRequest::new(spec))
        .await
        .expect("apply again");
    assert_eq!(again.action, "unchanged");
}

/// v1 goes to staging alone, once however often its approval arrives, and to production
/// when promoted.
async fn first_version_is_promoted(fx: &Fixture, s: &TwoStages) -> u32 {
    let p = &fx.provider;
    let v1 = new_version(fx, &s.model).await.version;
    let waiting = |r: &PipelineRun| r.state == RunState::AwaitingPromotion;
    wait_for_run(fx, &s.name, "v1", "staging", waiting).await;
    assert_eq!(served_version(fx, &s.staging).await, v1);
    let prod = p.get_endpoint(&s.production).await;
    expect_kind(prod, ErrorKind::NotFound, "production before the promotion");
    let twice = p
        .version_approved(ApprovalEvent::new(s.model.clone(), v1))
        .await
        .expect("the approval again");
    assert_eq!(twice.len(), 1);
    assert_eq!(
        twice[0].state,
        RunState::AwaitingPromotion,
        "nothing restarts"
    );
    let runs = p
        .list_runs(&s.name, PageRequest::first())
        .await
        .expect("list_runs");
    assert_eq!(runs.items.len(), 1, "one run per version: {runs:?}");
    p.promote(s.promote(v1)).await.expect("promote v1");
    let run = wait_for_run(fx, &s.name, "v1", "production", |r| r.state.is_terminal()).await;
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    assert_eq!(served_version(fx, &s.production).await, v1);
    v1
}

/// A version answering 5xx fails its smoke test: staging serves `v1` again, production is
/// untouched, and promoting it is a `Conflict` that says why.
async fn failing_version_stops_in_staging(fx: &Fixture, s: &TwoStages, v1: u32) {
    let p = &fx.provider;
    let mut bad = CreateVersionRequest::new(s.model.clone(), &fx.artifact_uri, &fx.image)
        .with_approval(Approval::Approved);
    bad.environment = fx.failing_environment.clone();
    let v2 = p
        .create_version(bad)
        .await
        .expect("the failing version")
        .version;
    let id = format!("v{v2}");
    let run = wait_for_run(fx, &s.name, &id, "the smoke test", |r| {
        r.state.is_terminal()
    })
    .await;
    assert_eq!(run.state, RunState::Failed, "{run:#?}");
    let reason = run.reason.clone().unwrap_or_default();
    assert!(reason.contains("smoke test failed"), "{reason}");
    assert_eq!(
        served_version(fx, &s.staging).await,
        v1,
        "staging rolled back"
    );
    assert_eq!(
        served_version(fx, &s.production).await,
        v1,
        "production untouched"
    );
    let refused = expect_kind(
        p.promote(s.promote(v2)).await,
        ErrorKind::Conflict,
        "promote a failed version",
    );
    assert!(refused.message().contains("smoke test failed"), "{refused}");
}

/// Pipelines deploy each approved version to the first stage and wait for a promotion before
/// a stage that requires one; the approval delivered twice starts one run; a version whose
/// smoke test fails is rolled back in staging, never reaches production, and promoting it is
/// a `Conflict` that says why. A dry run keeps nothing.
pub async fn pipeline_promotes_approved_versions_or_unsupported(fx: &Fixture) {
    let name = PipelineName::new(fx.unique("p")).expect("a valid pipeline name");
    if !fx.provider.capabilities().pipelines {
        let got = fx.provider.get_pipeline(&name).await;
        expect_kind(
            got,
            ErrorKind::Unsupported,
            "pipelines without the capability",
        );
        return;
    }
    let model = new_model(fx).await;
    let (staging, production) = (endpoint_name(fx), endpoint_name(fx));
    let spec = two_stage_pipeline(fx, &name, &model, &staging, &production);
    apply_two_stages(fx, spec).await;
    let stages = TwoStages {
        name,
        model,
        staging,
        production,
    };
    let v1 = first_version_is_promoted(fx, &stages).await;
    failing_version_stops_in_staging(fx, &stages, v1).await;

    let p = &fx.provider;
    let pipeline = p.get_pipeline(&stages.name).await.expect("get_pipeline");
    let live: Vec<_> = pipeline.stages.iter().map(|s| s.live_version).collect();
    assert_eq!(live, vec![Some(v1), Some(v1)]);
    assert_eq!(pipeline.recent_runs.len(), 2);
    p.delete_pipeline(&stages.name)
        .await
        .expect("delete_pipeline");
    expect_kind(
        p.get_pipeline(&stages.name).await,
        ErrorKind::NotFound,
        "a deleted pipeline",
    );
    remove(fx, &stages.staging).await;
    remove(fx, &stages.production).await;
}

/// Issue 14: a model directory pushed is packed, uploaded and registered as the next version
/// (the model created when missing); pushed again it gives the same archive digest, is not
/// stored twice and registers the same artifact; an archive whose digest does not match its
/// bytes is refused.
pub async fn push_packs_uploads_and_registers_a_directory(fx: &Fixture) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(dir.path().join("code")).expect("a folder");
    std::fs::write(dir.path().join("weights.json"), b"{\"w\": [1, 2, 3]}").expect("a file");
    std::fs::write(dir.path().join("code/serve.py"), b"print('hi')\n").expect("a file");
    let model = model_name(fx);
    let request = || {
        crate::archive::PushRequest::new(
            dir.path(),
            CreateVersionRequest::new(model.clone(), "", &fx.image),
        )
    };
    let p = &fx.provider;
    let first = crate::archive::push_version(p.as_ref(), request())
        .await
        .expect("push a directory");
    assert!(first.model_created && first.files == 2, "{first:?}");
    assert_eq!(first.version.version, 1);
    assert_eq!(first.version.artifact_uri, first.artifact.uri);
    crate::sha256_hex(&first.artifact.digest).expect("the archive's digest");

    let again = crate::archive::push_version(p.as_ref(), request())
        .await
        .expect("push the same directory again");
    assert!(!again.model_created && again.artifact.reused, "{again:?}");
    assert_eq!(again.version.version, 2);
    assert_eq!(again.artifact.digest, first.artifact.digest);
    assert_eq!(again.artifact.uri, first.artifact.uri);
    assert_eq!(again.version.artifact_digest, first.version.artifact_digest);

    let file = dir.path().join("model.tar.gz");
    std::fs::write(&file, b"not what the digest says").expect("a file");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let upload = crate::ArtifactUpload::new(model.clone(), file, wrong, 24);
    let refused = p.upload_artifact(upload).await;
    expect_kind(
        refused,
        ErrorKind::InvalidArgument,
        "a digest that does not match",
    );
    for version in [2, 1] {
        p.delete_version(&model, version)
            .await
            .expect("delete_version");
    }
    p.delete_model(&model).await.expect("delete_model");
}

/// Where the backend has dashboards, putting an endpoint's dashboard creates it, putting it
/// again updates it, it reads back, and deleting the endpoint deletes it. Without the
/// capability both calls are `Unsupported`.
pub async fn dashboard_or_unsupported(fx: &Fixture) {
    if !fx.provider.capabilities().dashboards {
        let missing = endpoint_name(fx);
        let put = fx.provider.put_dashboard(&missing).await;
        expect_kind(
            put,
            ErrorKind::Unsupported,
            "a dashboard without the capability",
        );
        let got = fx.provider.get_dashboard(&missing).await;
        expect_kind(
            got,
            ErrorKind::Unsupported,
            "reading a dashboard without the capability",
        );
        return;
    }
    let missing = endpoint_name(fx);
    expect_kind(
        fx.provider.put_dashboard(&missing).await,
        ErrorKind::NotFound,
        "the dashboard of a missing endpoint",
    );
    let (name, _) = deployed(fx, 1).await;
    expect_kind(
        fx.provider.get_dashboard(&name).await,
        ErrorKind::NotFound,
        "a dashboard before it is put",
    );
    let created = fx
        .provider
        .put_dashboard(&name)
        .await
        .expect("put_dashboard");
    assert_eq!(created.endpoint, name);
    assert_eq!(created.action.as_deref(), Some(crate::DASHBOARD_CREATED));
    assert!(!created.widgets.is_empty(), "no widgets: {created:?}");
    assert!(!created.url.is_empty(), "no url: {created:?}");
    let updated = fx.provider.put_dashboard(&name).await.expect("put again");
    assert_eq!(updated.action.as_deref(), Some(crate::DASHBOARD_UPDATED));
    assert_eq!(updated.name, created.name);
    let read = fx
        .provider
        .get_dashboard(&name)
        .await
        .expect("get_dashboard");
    assert_eq!(read.action, None, "a read did nothing: {read:?}");
    assert_eq!(
        (&read.name, &read.url, &read.widgets),
        (&updated.name, &updated.url, &updated.widgets)
    );
    remove(fx, &name).await;
    expect_kind(
        fx.provider.get_dashboard(&name).await,
        ErrorKind::NotFound,
        "the dashboard of a deleted endpoint",
    );
}
