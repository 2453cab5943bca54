//! Alarms (CloudWatch metric alarms) and guarded deployments (SageMaker deployment
//! guardrails) against the AWS emulator, whose rollouts go through their phases over
//! accelerated time and roll back when a rollback alarm is in ALARM.

mod common;

use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use common::{Account, INSTANCE_TYPES, version};
use mlm_aws::AwsProvider;
use mlm_core::{
    AlarmDefinition, AlarmName, AlarmState, Alarms, Comparison, CreateEndpointRequest,
    DeploymentKind, DeploymentPhase, DeploymentPolicy, Deployments, EndpointManager,
    EndpointManagerExt, EndpointName, EndpointStatus, ErrorKind, MetricKind, PageRequest,
    Statistic, TrafficShift, UpdateEndpointRequest, VariantChange, VariantName, VariantSpec,
    VersionRef,
};

fn primary() -> VariantName {
    VariantName::new("primary").unwrap()
}

fn alarm_name(s: &str) -> AlarmName {
    AlarmName::new(s).unwrap()
}

/// "5xx sum > 0 over one period of 10 s", the rollback alarm.
fn errors_alarm(endpoint: &EndpointName, name: &str) -> AlarmDefinition {
    AlarmDefinition::new(
        alarm_name(name),
        endpoint.clone(),
        MetricKind::InvocationErrors5xx,
        Statistic::Sum,
        Comparison::GreaterThan,
        0.0,
        10,
    )
}

/// An endpoint on a new version of `model`, InService.
async fn serving(p: &AwsProvider, name: &str, model: &str) -> (EndpointName, VersionRef) {
    let v1 = version(p, model).await;
    let name = EndpointName::new(name).unwrap();
    let request = CreateEndpointRequest::single(name.clone(), v1.clone(), INSTANCE_TYPES[0], 1);
    p.create_endpoint(request).await.unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    (name, v1)
}

/// A canary of 10 % baking 20 s (scaled by the emulator), guarded by `alarm`.
fn canary(alarm: &str) -> DeploymentPolicy {
    DeploymentPolicy::new(TrafficShift::Canary {
        percent: 10,
        bake_seconds: 20,
    })
    .with_rollback_alarm(alarm_name(alarm))
}

fn to(
    version: &VersionRef,
    name: &EndpointName,
    policy: DeploymentPolicy,
) -> UpdateEndpointRequest {
    let change = VariantChange::new(primary()).with_model_version(version.clone());
    let mut request = UpdateEndpointRequest::new(name.clone()).with_change(change);
    request.deployment = Some(policy);
    request
}

/// Sets a CloudWatch alarm's state behind mlm's back (what CloudWatch would do).
async fn set_state(account: &Account, endpoint: &EndpointName, alarm: &str, state: StateValue) {
    account
        .cloudwatch()
        .set_alarm_state()
        .alarm_name(format!("mlm/{endpoint}/{alarm}"))
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .unwrap();
}

/// Polls until the endpoint's latest deployment is in `phase` (by tag).
async fn until_phase(p: &AwsProvider, name: &EndpointName, phase: &str) -> DeploymentPhase {
    for _ in 0..400 {
        let e = p.get_endpoint(name).await.unwrap();
        let current = e.last_deployment.unwrap().phase;
        if current.as_str() == phase {
            return current;
        }
        assert!(!current.is_terminal(), "ended {current:?} before {phase}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never {phase}");
}

/// A canary update in flight: the endpoint served v1 of its model, with the alarm `errors`.
struct Guarded {
    account: Account,
    p: AwsProvider,
    name: EndpointName,
    v1: VersionRef,
    v2: VersionRef,
    /// The update's deployment.
    id: String,
}

/// Starts a canary update of a new endpoint `endpoint` to a new version, guarded by its alarm
/// `errors`, with the emulator's rollout `settings`.
async fn guarded_update(endpoint: &str, settings: serde_json::Value) -> Guarded {
    let account = Account::new();
    let p = account.provider().await;
    let (name, v1) = serving(&p, endpoint, endpoint).await;
    p.put_alarm(errors_alarm(&name, "errors")).await.unwrap();
    account.configure(settings).await;
    let v2 = version(&p, endpoint).await;
    let started = p
        .update_endpoint(to(&v2, &name, canary("errors")))
        .await
        .unwrap();
    let id = started.last_deployment.unwrap().id;
    Guarded {
        account,
        p,
        name,
        v1,
        v2,
        id,
    }
}

fn phases(d: &mlm_core::Deployment) -> Vec<DeploymentPhase> {
    d.timeline.iter().map(|c| c.phase.clone()).collect()
}

/// CPU >= 80 % on 2 of 3 minutes of the variant `primary`, notifying an SNS topic.
fn cpu_alarm(endpoint: &EndpointName) -> AlarmDefinition {
    let mut cpu = AlarmDefinition::new(
        alarm_name("cpu"),
        endpoint.clone(),
        MetricKind::CpuUtilization,
        Statistic::Average,
        Comparison::GreaterThanOrEqual,
        80.0,
        60,
    )
    .with_datapoints(2, 3)
    .for_variant(primary());
    cpu.actions = vec!["arn:aws:sns:us-east-1:123456789012:alerts".into()];
    cpu.description = Some("busy".into());
    cpu
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_are_cloudwatch_alarms_on_sagemaker_metrics() {
    let account = Account::new();
    let p = account.provider().await;
    let (name, _) = serving(&p, "alarmed", "alarms").await;
    // On ml.m5.large (2 vCPUs).
    let cpu = cpu_alarm(&name);
    assert_eq!(p.put_alarm(cpu.clone()).await.unwrap().definition, cpu);
    assert_eq!(p.get_alarm(&name, &cpu.name).await.unwrap().definition, cpu);

    // What CloudWatch holds: mlm's names, SageMaker's namespace, metric and dimensions.
    let raw = account
        .cloudwatch()
        .describe_alarms()
        .alarm_names("mlm/alarmed/cpu");
    let raw = raw.send().await.unwrap();
    let raw = &raw.metric_alarms()[0];
    assert_eq!(raw.namespace(), Some("/aws/sagemaker/Endpoints"));
    assert_eq!(raw.metric_name(), Some("CPUUtilization"));
    assert_eq!(raw.threshold(), Some(160.0), "80 % per core on 2 cores");
    assert_eq!(
        raw.comparison_operator().map(|c| c.as_str()),
        Some("GreaterThanOrEqualToThreshold")
    );
    let dims: Vec<_> = raw
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap(), d.value().unwrap()))
        .collect();
    assert_eq!(
        dims,
        [("EndpointName", "alarmed"), ("VariantName", "primary")]
    );
    assert_eq!(
        (raw.evaluation_periods(), raw.datapoints_to_alarm()),
        (Some(3), Some(2))
    );
    assert_eq!(raw.ok_actions(), cpu.actions.as_slice());
    assert_eq!(raw.alarm_actions(), cpu.actions.as_slice());
    let tags = account
        .cloudwatch()
        .list_tags_for_resource()
        .resource_arn(raw.alarm_arn().unwrap())
        .send()
        .await
        .unwrap();
    let managed = tags.tags().iter().any(|t| t.key() == Some("mlm:managed"));
    assert!(managed, "{tags:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_crud_state_and_listing() {
    let account = Account::new();
    let p = account.provider().await;
    let (name, _) = serving(&p, "alarmed", "alarms").await;

    let errors = errors_alarm(&name, "errors");
    let put = p.put_alarm(errors.clone()).await.unwrap();
    assert_eq!(put.definition, errors);
    assert_eq!(put.state, AlarmState::InsufficientData, "not evaluated yet");
    assert_eq!(put.state_reason, "Unchecked: Initial alarm creation");
    let cpu = cpu_alarm(&name);
    p.put_alarm(cpu.clone()).await.unwrap();

    // Listing is per endpoint, by name, paged.
    let first = p
        .list_alarms(&name, PageRequest::first().with_page_size(1))
        .await
        .unwrap();
    assert_eq!(first.items[0].definition, cpu);
    let token = first.next_page_token.expect("a second page");
    let second = p
        .list_alarms(
            &name,
            PageRequest::first().with_page_size(1).with_token(token),
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].definition, errors);
    assert_eq!(second.next_page_token, None);

    // State changes in CloudWatch read back; replacing the definition keeps the state.
    set_state(&account, &name, "errors", StateValue::Alarm).await;
    let fired = p.get_alarm(&name, &alarm_name("errors")).await.unwrap();
    assert_eq!(fired.state, AlarmState::Alarm);
    assert_eq!(fired.state_reason, "set by the test");
    assert!(fired.state_since >= put.state_since);
    let mut stricter = errors.clone().with_datapoints(1, 2);
    stricter.threshold = 5.0;
    let replaced = p.put_alarm(stricter.clone()).await.unwrap();
    assert_eq!(
        (replaced.definition, replaced.state),
        (stricter, AlarmState::Alarm)
    );

    // Delete, then it is gone.
    p.delete_alarm(&name, &alarm_name("errors")).await.unwrap();
    for err in [
        p.get_alarm(&name, &alarm_name("errors")).await.unwrap_err(),
        p.delete_alarm(&name, &alarm_name("errors"))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("alarm"), "{err}");
    }
    assert_eq!(
        p.list_alarms(&name, PageRequest::first())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_need_their_endpoint_and_a_variant() {
    let account = Account::new();
    let p = account.provider().await;
    let missing = EndpointName::new("nowhere").unwrap();
    let err = p
        .put_alarm(errors_alarm(&missing, "errors"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = p
        .list_alarms(&missing, PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    let v1 = version(&p, "pair").await;
    let name = EndpointName::new("pair").unwrap();
    let variants = vec![
        VariantSpec::new(
            VariantName::new("blue").unwrap(),
            v1.clone(),
            INSTANCE_TYPES[0],
            1,
        ),
        VariantSpec::new(VariantName::new("green").unwrap(), v1, INSTANCE_TYPES[0], 1),
    ];
    p.create_endpoint(CreateEndpointRequest::new(name.clone(), variants))
        .await
        .unwrap();
    let err = p
        .put_alarm(errors_alarm(&name, "errors"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        err.to_string().contains("2 variants (blue, green)"),
        "{err}"
    );
    let green = errors_alarm(&name, "errors").for_variant(VariantName::new("green").unwrap());
    p.put_alarm(green).await.unwrap();
    let red = errors_alarm(&name, "red").for_variant(VariantName::new("red").unwrap());
    assert_eq!(
        p.put_alarm(red).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_endpoint_deletes_its_alarms_only() {
    let account = Account::new();
    let p = account.provider().await;
    let (a, _) = serving(&p, "guard", "guard").await;
    let (b, _) = serving(&p, "guard-b", "guard").await;
    p.put_alarm(errors_alarm(&a, "errors")).await.unwrap();
    p.put_alarm(errors_alarm(&a, "b-errors")).await.unwrap();
    p.put_alarm(errors_alarm(&b, "errors")).await.unwrap();
    // `guard`'s alarm `b-errors` and `guard-b`'s `errors` do not mix up.
    assert_eq!(
        p.list_alarms(&b, PageRequest::first())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    p.delete_endpoint(&a).await.unwrap();
    p.wait_until_deleted(&a, common::wait()).await.unwrap();
    let left = account.cloudwatch().describe_alarms().send().await.unwrap();
    let names: Vec<_> = left
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    assert_eq!(names, ["mlm/guard-b/errors"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_completes_and_records_its_phases() {
    use DeploymentPhase::*;
    // 0.5 s to provision, 0.8 s per traffic step, bakes of 20 s take 1 s: every phase
    // lasts longer than the waiter's longest pause (250 ms), so it sees them all.
    let g = guarded_update(
        "canary",
        serde_json::json!({
            "updating_seconds": 0.5, "traffic_step_seconds": 0.8, "deployment_time_scale": 0.05
        }),
    )
    .await;
    let (account, p, name, id) = (&g.account, &g.p, &g.name, &g.id);
    let mut seen = Vec::new();
    let e = p
        .wait_until_ready_with(name, common::wait(), &mut |e| {
            seen.extend(e.last_deployment.clone().map(|d| d.phase));
        })
        .await
        .unwrap();
    assert_eq!(e.variants[0].model_version, Some(g.v2.clone()));
    assert!(seen.contains(&Baking { percent: 10 }), "{seen:?}");

    let d = p.get_deployment(name, id).await.unwrap();
    assert_eq!(
        phases(&d),
        [
            Provisioning,
            Shifting { percent: 10 },
            Baking { percent: 10 },
            Shifting { percent: 100 },
            Baking { percent: 100 },
            Completed
        ]
    );
    assert!(
        d.timeline.windows(2).all(|w| w[0].at <= w[1].at),
        "{:?}",
        d.timeline
    );
    assert_eq!(d.ended_at, Some(d.timeline.last().unwrap().at));
    assert_eq!(
        (d.kind, d.policy.as_ref()),
        (DeploymentKind::Update, Some(&canary("errors")))
    );
    assert_eq!(d.target[0].model_version, e.variants[0].model_version);

    // What SageMaker was asked for (the emulator reports the DeploymentConfig it ran).
    let raw = account
        .sagemaker()
        .describe_endpoint()
        .endpoint_name("canary")
        .send()
        .await;
    let raw = raw.unwrap();
    let config = raw
        .last_deployment_config()
        .expect("a DeploymentConfig was sent");
    let routing = config
        .blue_green_update_policy()
        .and_then(|b| b.traffic_routing_configuration())
        .unwrap();
    assert_eq!(routing.r#type().map(|t| t.as_str()), Some("CANARY"));
    assert_eq!(routing.canary_size().and_then(|c| c.value()), Some(10));
    assert_eq!(routing.wait_interval_in_seconds(), Some(20));
    let alarms: Vec<_> = (config
        .auto_rollback_configuration()
        .unwrap()
        .alarms()
        .iter())
    .filter_map(|a| a.alarm_name())
    .collect();
    assert_eq!(alarms, ["mlm/canary/errors"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_newest_first_and_paged() {
    let g = guarded_update("history", serde_json::json!({})).await;
    let (p, name, id) = (&g.p, &g.name, &g.id);
    p.wait_until_ready(name, common::wait()).await.unwrap();
    let history = p
        .list_deployments(name, PageRequest::first())
        .await
        .unwrap();
    let kinds: Vec<_> = history
        .items
        .iter()
        .map(|d| (d.kind, d.phase.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (DeploymentKind::Update, "completed"),
            (DeploymentKind::Create, "completed")
        ]
    );
    let create = &history.items[1];
    assert_eq!(create.policy, None, "a create shifts no traffic");
    assert_eq!(create.target[0].model_version.as_ref(), Some(&g.v1));
    let page = p
        .list_deployments(name, PageRequest::first().with_page_size(1))
        .await
        .unwrap();
    assert_eq!(&page.items[0].id, id);
    let rest = PageRequest::first().with_token(page.next_page_token.unwrap());
    let rest = p.list_deployments(name, rest).await.unwrap();
    assert_eq!(rest.items, std::slice::from_ref(create));
    assert_eq!(rest.next_page_token, None);
    let err = p.get_deployment(name, "nope").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let missing = EndpointName::new("nowhere").unwrap();
    let err = p
        .list_deployments(&missing, PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_during_the_bake_rolls_the_canary_back() {
    // The bake lasts 20 s x 0.5 = 10 s: long enough to trip the alarm during it.
    let g = guarded_update(
        "bad-canary",
        serde_json::json!({
            "traffic_step_seconds": 0.2, "deployment_time_scale": 0.5, "rolling_back_seconds": 0.3
        }),
    )
    .await;
    let (account, p, name, id) = (&g.account, &g.p, &g.name, &g.id);
    assert_eq!(
        until_phase(p, name, "baking").await,
        DeploymentPhase::Baking { percent: 10 }
    );
    // A guarding alarm cannot be deleted while the deployment runs.
    let err = p
        .delete_alarm(name, &alarm_name("errors"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");

    set_state(account, name, "errors", StateValue::Alarm).await;
    let err = p.wait_until_ready(name, common::wait()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{err}");
    assert!(err.to_string().contains("alarm 'errors'"), "{err}");
    let e = p.get_endpoint(name).await.unwrap();
    assert_eq!(e.status, EndpointStatus::InService);
    assert_eq!(
        e.variants[0].model_version,
        Some(g.v1.clone()),
        "the old version serves"
    );

    let d = p.get_deployment(name, id).await.unwrap();
    let DeploymentPhase::RolledBack { reason, alarm } = &d.phase else {
        panic!("{:?}", d.phase);
    };
    assert_eq!(alarm.as_ref().map(|a| a.as_str()), Some("errors"));
    assert!(
        reason.contains("mlm/bad-canary/errors"),
        "SageMaker's reason: {reason}"
    );
    let tags: Vec<&str> = d.timeline.iter().map(|c| c.phase.as_str()).collect();
    assert_eq!(
        tags[..3],
        ["provisioning", "shifting", "baking"],
        "{tags:?}"
    );
    assert_eq!(tags[tags.len() - 1], "rolled_back", "{tags:?}");

    // Once the alarm is quiet again the same update is a new deployment, and goes through.
    set_state(account, name, "errors", StateValue::Ok).await;
    account
        .configure(serde_json::json!({"deployment_time_scale": 0}))
        .await;
    let again = p
        .update_endpoint(to(&g.v2, name, canary("errors")))
        .await
        .unwrap();
    let again_id = again.last_deployment.unwrap().id;
    assert_ne!(&again_id, id);
    let e = p.wait_until_ready(name, common::wait()).await.unwrap();
    assert_eq!(e.variants[0].model_version, Some(g.v2.clone()));
    let history = p
        .list_deployments(name, PageRequest::first())
        .await
        .unwrap();
    let phases: Vec<_> = history.items.iter().map(|d| d.phase.as_str()).collect();
    assert_eq!(phases, ["completed", "rolled_back", "completed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_running_deployment_rolls_it_back() {
    let account = Account::new();
    let p = account.provider().await;
    let (name, v1) = serving(&p, "stopped", "stop").await;
    p.put_alarm(errors_alarm(&name, "errors")).await.unwrap();
    // Without a rollback alarm SageMaker cannot be stopped.
    account
        .configure(serde_json::json!({"deployment_time_scale": 1}))
        .await;
    let v2 = version(&p, "stop").await;
    let unguarded = DeploymentPolicy::new(TrafficShift::Canary {
        percent: 10,
        bake_seconds: 20,
    });
    let started = p.update_endpoint(to(&v2, &name, unguarded)).await.unwrap();
    let id = started.last_deployment.unwrap().id;
    let err = p.stop_deployment(&name, &id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(err.to_string().contains("no rollback alarm"), "{err}");
    // Let it finish (the emulator's reset ends running rollouts at once).
    account.control("POST", "/_mlm/reset", None).await;
    p.wait_until_ready(&name, common::wait()).await.unwrap();

    account
        .configure(serde_json::json!({"deployment_time_scale": 1}))
        .await;
    let started = p
        .update_endpoint(to(&v1, &name, canary("errors")))
        .await
        .unwrap();
    let id = started.last_deployment.unwrap().id;
    until_phase(&p, &name, "baking").await;
    let stopping = p.stop_deployment(&name, &id).await.unwrap();
    assert!(
        matches!(stopping.phase.as_str(), "rolling_back" | "rolled_back"),
        "{:?}",
        stopping.phase
    );
    let err = p.wait_until_ready(&name, common::wait()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{err}");
    assert!(err.to_string().contains("stopped by a user"), "{err}");
    let e = p.get_endpoint(&name).await.unwrap();
    assert_eq!(
        e.variants[0].model_version,
        Some(v2),
        "the previous version serves"
    );
    let err = p.stop_deployment(&name, &id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(err.to_string().contains("has ended"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_checked_before_anything_is_made() {
    let account = Account::new();
    let p = account.provider().await;
    let (name, _) = serving(&p, "checked", "checked").await;
    let v2 = version(&p, "checked").await;
    let err = p
        .update_endpoint(to(&v2, &name, canary("missing")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        err.to_string().contains("rollback alarm 'missing'"),
        "{err}"
    );
    let slow = DeploymentPolicy::new(TrafficShift::Linear {
        step_percent: 10,
        interval_seconds: 3600,
    });
    let err = p.update_endpoint(to(&v2, &name, slow)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    // Nothing was made: still one deployment, the create.
    let history = p
        .list_deployments(&name, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].kind, DeploymentKind::Create);
    let e = p.get_endpoint(&name).await.unwrap();
    assert_eq!(e.last_deployment.unwrap().id, history.items[0].id);
}
