//! Behaviour beyond the conformance suite, against the AWS emulator: clean-up of superseded
//! configurations, silent rollbacks, Creating/Updating windows, half-way failures, pagination
//! past SageMaker's 100-item pages, GetMetricData batching (request counts), unmanaged
//! endpoints, error classification and autoscaling (Application Auto Scaling).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{ARTIFACT, Account, IMAGE, INSTANCE_TYPES, version};
use futures::TryStreamExt;
use mlm_core::{
    AutoscalingPolicy, CreateEndpointRequest, CreateModelRequest, Deployments, EndpointManager,
    EndpointManagerExt, EndpointName, EndpointStatus, ErrorKind, ModelName, ModelRegistry,
    ModelRegistryExt, Observability, PageRequest, ScalingMetric, UpdateEndpointRequest,
    VariantChange, VariantName, VariantSpec,
};

fn primary() -> VariantName {
    VariantName::new("primary").unwrap()
}

/// Configs and models mlm made for `endpoint`, as SageMaker lists them.
async fn leftovers(account: &Account, endpoint: &str) -> (Vec<String>, Vec<String>) {
    let sm = account.sagemaker();
    let configs: Vec<String> = sm
        .list_endpoint_configs()
        .max_results(100)
        .send()
        .await
        .unwrap()
        .endpoint_configs()
        .iter()
        .filter_map(|c| c.endpoint_config_name())
        .filter(|n| n.starts_with(endpoint))
        .map(str::to_string)
        .collect();
    let models: Vec<String> = sm
        .list_models()
        .max_results(100)
        .send()
        .await
        .unwrap()
        .models()
        .iter()
        .filter_map(|m| m.model_name())
        .filter(|n| n.starts_with(endpoint))
        .map(str::to_string)
        .collect();
    (configs, models)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_orphaned_configs_or_models_after_create_update_x3_delete() {
    let account = Account::new();
    let p = account.provider().await;
    let v1 = version(&p, "churn").await;
    let v2 = version(&p, "churn").await;
    let name = EndpointName::new("cleanup").unwrap();
    p.create_endpoint(CreateEndpointRequest::single(
        name.clone(),
        v1.clone(),
        INSTANCE_TYPES[0],
        1,
    ))
    .await
    .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    let changes = [
        VariantChange::new(primary()).with_instance_type(INSTANCE_TYPES[1]),
        VariantChange::new(primary()).with_model_version(v2.clone()),
        VariantChange::new(primary())
            .with_instance_type(INSTANCE_TYPES[0])
            .with_instance_count(2),
    ];
    for (k, change) in changes.into_iter().enumerate() {
        p.update_endpoint(UpdateEndpointRequest::new(name.clone()).with_change(change))
            .await
            .unwrap();
        let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
        assert_eq!(e.failure_reason, None);
        // The describe after the endpoint settled removed the superseded models; the
        // superseded configs stay as the deployment history.
        let (configs, models) = leftovers(&account, "cleanup").await;
        assert_eq!(
            configs.len(),
            k + 2,
            "one config per deployment: {configs:?}"
        );
        assert_eq!(models.len(), 1, "superseded models left: {models:?}");
        let running = account
            .sagemaker()
            .describe_endpoint()
            .endpoint_name("cleanup")
            .send()
            .await
            .unwrap();
        let latest = e.last_deployment.expect("the update is recorded");
        assert_eq!(running.endpoint_config_name(), Some(latest.id.as_str()));
        assert!(models[0].starts_with(&latest.id), "{models:?}");
    }
    let history = p
        .list_deployments(&name, PageRequest::first())
        .await
        .unwrap();
    let phases: Vec<&str> = history.items.iter().map(|d| d.phase.as_str()).collect();
    assert_eq!(phases, ["completed"; 4]);
    let e = p.get_endpoint(&name).await.unwrap();
    assert_eq!(e.variants[0].model_version, Some(v2));
    assert_eq!(
        e.variants[0].instance_type.as_deref(),
        Some(INSTANCE_TYPES[0])
    );
    assert_eq!(e.variants[0].desired_instance_count, 2);
    p.delete_endpoint(&name).await.unwrap();
    p.wait_until_deleted(&name, common::wait()).await.unwrap();
    let (configs, models) = leftovers(&account, "cleanup").await;
    assert!(
        configs.is_empty() && models.is_empty(),
        "{configs:?} {models:?}"
    );
    // Deleting twice: the endpoint is gone (NotFound), nothing else is touched.
    assert_eq!(
        p.delete_endpoint(&name).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_rollback_is_reported_and_cleaned_up() {
    let account = Account::new();
    let p = account.provider().await;
    let v1 = version(&p, "fraud").await;
    let v2 = version(&p, "fraud").await;
    let name = EndpointName::new("rollback").unwrap();
    p.create_endpoint(CreateEndpointRequest::single(
        name.clone(),
        v1.clone(),
        INSTANCE_TYPES[0],
        1,
    ))
    .await
    .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    account
        .configure(serde_json::json!({"updating_seconds": 1}))
        .await;
    let (status, body) = account
        .control(
            "POST",
            "/_mlm/fail-next-update",
            Some(
                serde_json::json!({"endpoint": "rollback", "reason": "health check failed on v2"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let started = p
        .update_endpoint(
            UpdateEndpointRequest::new(name.clone())
                .with_change(VariantChange::new(primary()).with_model_version(v2.clone())),
        )
        .await
        .unwrap();
    assert_eq!(started.status, EndpointStatus::Updating);
    assert_eq!(started.failure_reason, None, "no verdict while updating");
    // The wait reports the rollback as such, not as a ready endpoint.
    let err = p.wait_until_ready(&name, common::wait()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{err}");
    assert!(
        err.to_string().contains("health check failed on v2"),
        "{err}"
    );
    // InService, but on the old configuration: the update failed.
    let e = p.get_endpoint(&name).await.unwrap();
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.variants[0].model_version, Some(v1), "still serves v1");
    let reason = e.failure_reason.expect("the rollback is reported");
    assert!(reason.contains("did not take effect"), "{reason}");
    assert!(reason.contains("health check failed on v2"), "{reason}");
    let last = e.last_deployment.expect("the update is recorded");
    assert_eq!(last.id, started.last_deployment.unwrap().id);
    assert!(
        matches!(&last.phase, mlm_core::DeploymentPhase::RolledBack { reason, alarm: None }
            if reason.contains("health check failed on v2")),
        "{last:?}"
    );
    // The failed config's model was removed; the config stays as history.
    let (configs, models) = leftovers(&account, "rollback").await;
    assert_eq!(
        (configs.len(), models.len()),
        (2, 1),
        "{configs:?} {models:?}"
    );
    // v2 is not served, so it can be deleted.
    p.delete_version(&v2.model, v2.version).await.unwrap();
    // A later successful update clears the report.
    let v3 = version(&p, "fraud").await;
    p.update_endpoint(
        UpdateEndpointRequest::new(name.clone())
            .with_change(VariantChange::new(primary()).with_model_version(v3.clone())),
    )
    .await
    .unwrap();
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(e.failure_reason, None);
    assert_eq!(e.variants[0].model_version, Some(v3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_and_updating_windows() {
    let account = Account::new();
    let p = account.provider().await;
    account
        .configure(serde_json::json!({
            "creating_seconds": 1.0, "updating_seconds": 1.0, "weights_updating_seconds": 1.0
        }))
        .await;
    let v1 = version(&p, "windows").await;
    let name = EndpointName::new("windows").unwrap();
    let created = p
        .create_endpoint(CreateEndpointRequest::single(
            name.clone(),
            v1.clone(),
            INSTANCE_TYPES[0],
            1,
        ))
        .await
        .unwrap();
    assert_eq!(created.status, EndpointStatus::Creating);
    let early = p
        .update_endpoint(
            UpdateEndpointRequest::new(name.clone())
                .with_change(VariantChange::new(primary()).with_instance_count(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(early.kind(), ErrorKind::FailedPrecondition, "{early}");
    let mut seen = Vec::new();
    p.wait_until_ready_with(&name, common::wait(), &mut |e| seen.push(e.status))
        .await
        .unwrap();
    assert!(seen.contains(&EndpointStatus::Creating), "{seen:?}");
    // Capacity-only: no new config, Updating for the window.
    let scaled = p
        .update_endpoint(
            UpdateEndpointRequest::new(name.clone())
                .with_change(VariantChange::new(primary()).with_instance_count(3)),
        )
        .await
        .unwrap();
    assert_eq!(scaled.status, EndpointStatus::Updating);
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(e.variants[0].desired_instance_count, 3);
    assert_eq!(
        leftovers(&account, "windows").await.0.len(),
        1,
        "no new config for a scale"
    );
    assert_eq!(
        e.last_deployment.map(|d| d.phase),
        Some(mlm_core::DeploymentPhase::Completed),
        "a scale is no deployment: the create stays the latest"
    );
    // New config: while Updating, both configs exist and none is cleaned up.
    p.update_endpoint(
        UpdateEndpointRequest::new(name.clone())
            .with_change(VariantChange::new(primary()).with_instance_type(INSTANCE_TYPES[1])),
    )
    .await
    .unwrap();
    let during = p.get_endpoint(&name).await.unwrap();
    assert_eq!(during.status, EndpointStatus::Updating);
    assert_eq!(
        during.variants[0].instance_type.as_deref(),
        Some(INSTANCE_TYPES[0])
    );
    assert_eq!(leftovers(&account, "windows").await.0.len(), 2);
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(
        e.variants[0].instance_type.as_deref(),
        Some(INSTANCE_TYPES[1])
    );
    // Autoscaled/scaled counts are kept across the new config.
    assert_eq!(e.variants[0].desired_instance_count, 3);
    let (configs, models) = leftovers(&account, "windows").await;
    assert_eq!(
        (configs.len(), models.len()),
        (2, 1),
        "{configs:?} {models:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_way_failure_leaves_nothing_behind() {
    let account = Account::new();
    let p = account.provider().await;
    let v1 = version(&p, "halfway").await;
    let name = EndpointName::new("halfway").unwrap();
    // A well-formed type SageMaker (here: moto) rejects when the config is created, after the
    // model was made.
    let err = p
        .create_endpoint(CreateEndpointRequest::single(
            name.clone(),
            v1.clone(),
            "ml.zz9.large",
            1,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let (configs, models) = leftovers(&account, "halfway").await;
    assert!(
        configs.is_empty() && models.is_empty(),
        "{configs:?} {models:?}"
    );
    assert_eq!(
        p.get_endpoint(&name).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // The same request with a good type then succeeds (names are deterministic, no clash).
    p.create_endpoint(CreateEndpointRequest::single(
        name.clone(),
        v1,
        INSTANCE_TYPES[0],
        1,
    ))
    .await
    .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_page_past_100() {
    let account = Account::new();
    let p = account.provider().await;
    let mut created = BTreeSet::new();
    for i in 0..105 {
        let name = ModelName::new(format!("m{i:03}")).unwrap();
        p.create_model(CreateModelRequest::new(name.clone()))
            .await
            .unwrap();
        created.insert(name);
    }
    let first = p
        .list_models(PageRequest::first().with_page_size(100))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 100);
    assert!(first.next_page_token.is_some());
    let all: Vec<_> = p.list_all_models().try_collect().await.unwrap();
    let names: BTreeSet<_> = all.iter().map(|m| m.name.clone()).collect();
    assert_eq!(all.len(), 105, "each model exactly once");
    assert_eq!(names, created);
}

/// Creates `n` endpoints directly with the SDK, each with `variants` variants on a GPU type,
/// the way a team without mlm would (so they are unmanaged).
async fn raw_endpoints(account: &Account, prefix: &str, n: usize, variants: usize) {
    use aws_sdk_sagemaker::types::{
        ContainerDefinition, ProductionVariant, ProductionVariantInstanceType,
    };
    let sm = account.sagemaker();
    sm.create_model()
        .model_name(format!("{prefix}-model"))
        .execution_role_arn(account.role())
        .primary_container(
            ContainerDefinition::builder()
                .image(IMAGE)
                .model_data_url(ARTIFACT)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut config = sm
        .create_endpoint_config()
        .endpoint_config_name(format!("{prefix}-config"));
    for v in 0..variants {
        config = config.production_variants(
            ProductionVariant::builder()
                .variant_name(format!("v{v}"))
                .model_name(format!("{prefix}-model"))
                .instance_type(ProductionVariantInstanceType::from("ml.g4dn.xlarge"))
                .initial_instance_count(1)
                .initial_variant_weight(1.0)
                .build(),
        );
    }
    config.send().await.unwrap();
    for i in 0..n {
        sm.create_endpoint()
            .endpoint_name(format!("{prefix}-{i:04}"))
            .endpoint_config_name(format!("{prefix}-config"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overviews_batch_get_metric_data_and_skip_unchanged_describes() {
    let account = Account::new();
    raw_endpoints(&account, "gpu", 60, 2).await;
    // Live figures are re-read on every call here (TTL 0), to count the floor.
    let p = account
        .builder()
        .with_metrics_ttl(Duration::ZERO)
        .build()
        .await
        .unwrap();
    account.reset_requests().await;
    let page = p
        .list_overviews(PageRequest::first().with_page_size(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 60);
    let o = &page.items[0];
    assert_eq!(o.variants.len(), 2);
    assert_eq!(o.instances.len(), 2, "one aggregate row per variant");
    assert!(
        o.instances
            .iter()
            .all(|i| i.metrics.cpu_utilization.is_none())
    );
    let cold = account.requests().await;
    // 60 endpoints × 2 variants × (CPU, memory, GPU, GPU memory, in-flight) = 600 queries.
    assert_eq!(
        cold.get("GraniteServiceVersion20100801.GetMetricData"),
        Some(&2),
        "{cold:?}"
    );
    assert_eq!(cold.get("SageMaker.ListEndpoints"), Some(&1), "{cold:?}");
    assert_eq!(
        cold.get("SageMaker.DescribeEndpoint"),
        Some(&60),
        "{cold:?}"
    );
    assert_eq!(
        cold.get("SageMaker.DescribeEndpointConfig"),
        Some(&1),
        "configs are immutable: {cold:?}"
    );
    assert_eq!(
        cold.get("GraniteServiceVersion20100801.GetMetricStatistics"),
        None
    );

    account.reset_requests().await;
    p.list_overviews(PageRequest::first().with_page_size(100))
        .await
        .unwrap();
    let warm = account.requests().await;
    assert_eq!(
        warm.get("GraniteServiceVersion20100801.GetMetricData"),
        Some(&2),
        "{warm:?}"
    );
    assert_eq!(warm.get("SageMaker.ListEndpoints"), Some(&1), "{warm:?}");
    assert_eq!(
        warm.get("SageMaker.DescribeEndpoint"),
        None,
        "unchanged endpoints are not re-described: {warm:?}"
    );
    let total: u64 = warm.values().sum();
    assert_eq!(total, 3, "{warm:?}");

    // Unmanaged endpoints are listed; their model is not from the registry: no version.
    let e = p
        .get_endpoint(&EndpointName::new("gpu-0000").unwrap())
        .await
        .unwrap();
    assert!(!e.managed);
    assert_eq!(e.variants.len(), 2);
    assert_eq!(e.variants[0].model_version, None);
}

/// An endpoint made outside mlm (directly with the SDK, its model not from the registry)
/// describes with no model version rather than a stand-in, and as unmanaged. Its counts and
/// weights can still change; an update that would recreate a variant fails naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_made_outside_mlm_have_no_model_version() {
    let account = Account::new();
    raw_endpoints(&account, "raw", 1, 2).await;
    let p = account.provider().await;
    let name = EndpointName::new("raw-0000").unwrap();
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert!(!e.managed);
    assert_eq!(e.variants.len(), 2);
    for v in &e.variants {
        assert_eq!(v.model_version, None, "{v:?}");
        assert_eq!(v.instance_type.as_deref(), Some("ml.g4dn.xlarge"));
        assert!(v.to_spec().is_none());
    }
    let listed = p
        .list_endpoints(PageRequest::first())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|l| l.name == name)
        .expect("listed");
    assert!(listed.variants.iter().all(|v| v.model_version.is_none()));

    let v0 = VariantName::new("v0").unwrap();
    p.update_endpoint(
        UpdateEndpointRequest::new(name.clone())
            .with_change(VariantChange::new(v0.clone()).with_instance_count(2)),
    )
    .await
    .expect("counts of an unversioned variant change in place");
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    let scaled = e.variant("v0").unwrap();
    assert_eq!(scaled.desired_instance_count, 2);
    assert_eq!(scaled.model_version, None);

    let err = p
        .update_endpoint(
            UpdateEndpointRequest::new(name.clone())
                .with_change(VariantChange::new(v0).with_instance_type(INSTANCE_TYPES[0])),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(err.to_string().contains("variant 'v0'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_overviews_share_one_fetch_and_reuse_within_ttl() {
    let account = Account::new();
    raw_endpoints(&account, "solo", 1, 1).await;
    let p = account.provider().await;
    let name = EndpointName::new("solo-0000").unwrap();
    account.reset_requests().await;
    let calls: Vec<_> = (0..8).map(|_| p.endpoint_overview(&name)).collect();
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    // Within the TTL (default 10 s) a repeat is served from the cache too.
    p.endpoint_overview(&name).await.unwrap();
    let counts = account.requests().await;
    assert_eq!(
        counts.get("GraniteServiceVersion20100801.GetMetricData"),
        Some(&1),
        "{counts:?}"
    );
    assert!(
        counts
            .get("SageMaker.DescribeEndpoint")
            .copied()
            .unwrap_or(0)
            <= 2,
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_instance_rows_come_from_enhanced_metric_dimensions() {
    let account = Account::new();
    let p = account.provider().await;
    let v = version(&p, "inst").await;
    let name = EndpointName::new("inst").unwrap();
    p.create_endpoint(CreateEndpointRequest::single(
        name.clone(),
        v,
        INSTANCE_TYPES[1],
        3,
    ))
    .await
    .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    account.publish_instance_metrics("inst").await;
    let o = p.endpoint_overview(&name).await.unwrap();
    assert_eq!(o.instances.len(), 3);
    for i in &o.instances {
        let cpu = i.metrics.cpu_utilization.expect("cpu figure");
        // 50 (AWS: 100 × vCPUs scale) on a 4-vCPU ml.c5.xlarge = 12.5 % per core.
        assert_eq!(cpu.value, 12.5);
        assert_eq!(cpu.scope, mlm_core::MetricScope::Instance);
        assert_eq!(i.metrics.memory_utilization.map(|m| m.value), Some(40.0));
        assert!(i.metrics.gpu_utilization.is_none(), "no GPU on c5");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_from_the_emulator_are_classified() {
    let account = Account::new();
    let p = account.provider().await;
    let missing = ModelName::new("nope").unwrap();
    assert_eq!(
        p.get_model(&missing).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        p.get_version(&missing, 1).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // No role configured: a clear precondition, before anything is created.
    let no_role = mlm_aws::AwsProviderBuilder::new()
        .with_region(common::REGION)
        .with_endpoint_url(&account.url)
        .with_static_credentials("a", "b")
        .with_interceptor(common::MotoAccount(account.id.clone()))
        .build()
        .await
        .unwrap();
    let v = version(&p, "roles").await;
    let err = no_role
        .create_endpoint(CreateEndpointRequest::single(
            EndpointName::new("x").unwrap(),
            v,
            INSTANCE_TYPES[0],
            1,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(err.to_string().contains("execution role"), "{err}");
    // Nobody listening: a retryable provider error, quickly.
    let dead = mlm_aws::AwsProviderBuilder::new()
        .with_region(common::REGION)
        .with_endpoint_url("http://127.0.0.1:9")
        .with_static_credentials("a", "b")
        .with_max_attempts(1)
        .build()
        .await
        .unwrap();
    let err = dead.get_model(&missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider, "{err}");
    assert!(err.is_retryable(), "{err}");
    // Garbage page tokens are the caller's mistake.
    let err = p
        .list_models(PageRequest::first().with_token("abc"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

/// The scalable targets and policies of this account: `(resource id, min, max)` and
/// `(resource id, policy name, target value, metric)`.
async fn scaling_state(
    account: &Account,
) -> (Vec<(String, i32, i32)>, Vec<(String, String, f64, String)>) {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    let aas = account.autoscaling();
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Sagemaker)
        .send()
        .await
        .unwrap()
        .scalable_targets()
        .iter()
        .map(|t| {
            (
                t.resource_id().to_string(),
                t.min_capacity(),
                t.max_capacity(),
            )
        })
        .collect();
    let policies = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Sagemaker)
        .send()
        .await
        .unwrap()
        .scaling_policies()
        .iter()
        .map(|p| {
            let c = p.target_tracking_scaling_policy_configuration().unwrap();
            let metric = c
                .predefined_metric_specification()
                .map(|m| m.predefined_metric_type().as_str().to_string())
                .or_else(|| {
                    c.customized_metric_specification()
                        .and_then(|m| m.metric_name())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            (
                p.resource_id().to_string(),
                p.policy_name().to_string(),
                c.target_value(),
                metric,
            )
        })
        .collect();
    (targets, policies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaling_targets_and_policies_follow_create_update_delete() {
    let account = Account::new();
    let p = account.provider().await;
    assert!(mlm_core::Provider::capabilities(&p).autoscaling);
    let v1 = version(&p, "scaled").await;
    let name = EndpointName::new("scaled").unwrap();
    let id = "endpoint/scaled/variant/primary".to_string();
    let policy_name = "mlm-primary-target-tracking".to_string();
    let first = AutoscalingPolicy::new(1, 3, ScalingMetric::InvocationsPerInstance, 100.0);
    let spec = VariantSpec::new(primary(), v1.clone(), INSTANCE_TYPES[0], 1)
        .with_autoscaling(first.clone());
    p.create_endpoint(CreateEndpointRequest::new(name.clone(), vec![spec]))
        .await
        .unwrap();
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(e.variants[0].autoscaling, Some(first));
    let (targets, policies) = scaling_state(&account).await;
    assert_eq!(targets, vec![(id.clone(), 1, 3)]);
    assert_eq!(
        policies,
        vec![(
            id.clone(),
            policy_name.clone(),
            100.0,
            "SageMakerVariantInvocationsPerInstance".to_string()
        )]
    );

    // New bounds and metric: the target and the policy are updated in place.
    let second = AutoscalingPolicy::new(2, 4, ScalingMetric::CpuUtilization, 70.0);
    let spec = VariantSpec::new(primary(), v1.clone(), INSTANCE_TYPES[0], 2)
        .with_autoscaling(second.clone());
    p.update_endpoint(UpdateEndpointRequest::new(name.clone()).with_variants(vec![spec]))
        .await
        .unwrap();
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(e.failure_reason, None);
    assert_eq!(e.variants[0].autoscaling, Some(second.clone()));
    let (targets, policies) = scaling_state(&account).await;
    assert_eq!(targets, vec![(id.clone(), 2, 4)]);
    assert_eq!(
        policies,
        vec![(id.clone(), policy_name, 70.0, "CPUUtilization".to_string())]
    );
    // A capacity-only update keeps the policy.
    p.update_endpoint(
        UpdateEndpointRequest::new(name.clone())
            .with_change(VariantChange::new(primary()).with_instance_count(3)),
    )
    .await
    .unwrap();
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(e.variants[0].autoscaling, Some(second));
    assert_eq!(scaling_state(&account).await.0, vec![(id.clone(), 2, 4)]);

    // Delete: no target or policy is left behind.
    p.delete_endpoint(&name).await.unwrap();
    p.wait_until_deleted(&name, common::wait()).await.unwrap();
    let (targets, policies) = scaling_state(&account).await;
    assert!(
        targets.is_empty() && policies.is_empty(),
        "{targets:?} {policies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_policy_deregisters_the_target() {
    let account = Account::new();
    let p = account.provider().await;
    let v1 = version(&p, "unscaled").await;
    let name = EndpointName::new("unscaled").unwrap();
    let policy = AutoscalingPolicy::new(1, 2, ScalingMetric::ConcurrentRequests, 4.0);
    let spec = VariantSpec::new(primary(), v1.clone(), INSTANCE_TYPES[0], 1);
    p.create_endpoint(CreateEndpointRequest::new(
        name.clone(),
        vec![spec.clone().with_autoscaling(policy)],
    ))
    .await
    .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(scaling_state(&account).await.0.len(), 1);
    p.update_endpoint(UpdateEndpointRequest::new(name.clone()).with_variants(vec![spec]))
        .await
        .unwrap();
    let e = p.wait_until_ready(&name, common::wait()).await.unwrap();
    assert_eq!(e.variants[0].autoscaling, None);
    let (targets, policies) = scaling_state(&account).await;
    assert!(
        targets.is_empty() && policies.is_empty(),
        "{targets:?} {policies:?}"
    );
    // Deleting an endpoint without scaling is fine too (nothing to deregister).
    p.delete_endpoint(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaling_is_applied_once_the_endpoint_is_in_service() {
    // The emulator refuses RegisterScalableTarget while the endpoint is Creating/Updating,
    // as AWS does.
    let account = Account::new();
    let p = account.provider().await;
    account
        .configure(serde_json::json!({"creating_seconds": 2, "updating_seconds": 2}))
        .await;
    let v1 = version(&p, "settling").await;
    let name = EndpointName::new("settling").unwrap();
    let id = "endpoint/settling/variant/primary".to_string();
    let first = AutoscalingPolicy::new(1, 3, ScalingMetric::InvocationsPerInstance, 100.0);
    let spec = VariantSpec::new(primary(), v1.clone(), INSTANCE_TYPES[0], 1);

    // Create: accepted while Creating, applied by the first describe that sees it InService.
    let created = p
        .create_endpoint(CreateEndpointRequest::new(
            name.clone(),
            vec![spec.clone().with_autoscaling(first.clone())],
        ))
        .await
        .unwrap();
    assert_eq!(created.status, EndpointStatus::Creating);
    assert_eq!(created.failure_reason, None);
    assert_eq!(created.variants[0].autoscaling, Some(first.clone()));
    assert!(scaling_state(&account).await.0.is_empty());
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    let e = p.get_endpoint(&name).await.unwrap();
    assert_eq!(e.failure_reason, None);
    assert_eq!(e.variants[0].autoscaling, Some(first));
    let (targets, policies) = scaling_state(&account).await;
    assert_eq!(targets, vec![(id.clone(), 1, 3)]);
    assert_eq!(policies.len(), 1, "{policies:?}");
    assert_eq!(policies[0].3, "SageMakerVariantInvocationsPerInstance");

    // Update changing the policy: the old one stays until the endpoint is InService again.
    let second = AutoscalingPolicy::new(2, 4, ScalingMetric::CpuUtilization, 70.0);
    let updated = p
        .update_endpoint(UpdateEndpointRequest::new(name.clone()).with_variants(vec![
                    VariantSpec::new(primary(), v1.clone(), INSTANCE_TYPES[0], 2)
                        .with_autoscaling(second.clone()),
                ]))
        .await
        .unwrap();
    assert_eq!(updated.status, EndpointStatus::Updating);
    assert_eq!(updated.failure_reason, None);
    assert_eq!(scaling_state(&account).await.0, vec![(id.clone(), 1, 3)]);
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    let e = p.get_endpoint(&name).await.unwrap();
    assert_eq!(e.failure_reason, None);
    assert_eq!(e.variants[0].autoscaling, Some(second));
    let (targets, policies) = scaling_state(&account).await;
    assert_eq!(targets, vec![(id.clone(), 2, 4)]);
    assert_eq!(
        policies,
        vec![(
            id.clone(),
            "mlm-primary-target-tracking".to_string(),
            70.0,
            "CPUUtilization".to_string()
        )]
    );
    // Settled: superseded models are cleaned up too (the configs are the history).
    assert_eq!(leftovers(&account, "settling").await.1.len(), 1);

    // Update removing the policy: deregistered once InService.
    p.update_endpoint(UpdateEndpointRequest::new(name.clone()).with_variants(vec![spec.clone()]))
        .await
        .unwrap();
    assert_eq!(scaling_state(&account).await.0.len(), 1);
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    let e = p.get_endpoint(&name).await.unwrap();
    assert_eq!(
        (e.failure_reason, e.variants[0].autoscaling.clone()),
        (None, None)
    );
    let (targets, policies) = scaling_state(&account).await;
    assert!(
        targets.is_empty() && policies.is_empty(),
        "{targets:?} {policies:?}"
    );

    // Update adding a policy to a variant without one; a list that sees it settled applies it.
    let third = AutoscalingPolicy::new(1, 2, ScalingMetric::ConcurrentRequests, 4.0);
    p.update_endpoint(
        UpdateEndpointRequest::new(name.clone())
            .with_variants(vec![spec.with_autoscaling(third.clone())]),
    )
    .await
    .unwrap();
    assert!(scaling_state(&account).await.0.is_empty());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let listed = p.list_endpoints(PageRequest::first()).await.unwrap();
    let e = listed.items.iter().find(|e| e.name == name).unwrap();
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(e.failure_reason, None);
    assert_eq!(e.variants[0].autoscaling, Some(third));
    assert_eq!(scaling_state(&account).await.0, vec![(id.clone(), 1, 2)]);

    // Delete: nothing is left behind.
    p.delete_endpoint(&name).await.unwrap();
    p.wait_until_deleted(&name, common::wait()).await.unwrap();
    let (targets, policies) = scaling_state(&account).await;
    assert!(
        targets.is_empty() && policies.is_empty(),
        "{targets:?} {policies:?}"
    );
}
