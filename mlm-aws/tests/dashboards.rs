//! Endpoint dashboards on AWS, against the emulator: the CloudWatch dashboard `mlm-<endpoint>`
//! holds every variant's figures and the endpoint's alarms, a second put updates it, and
//! deleting the endpoint deletes it.

mod common;

use common::{Account, version};
use mlm_core::{
    AlarmDefinition, AlarmName, Alarms, Comparison, CreateEndpointRequest, DASHBOARD_CREATED,
    DASHBOARD_UPDATED, Dashboards, EndpointManager, EndpointManagerExt, EndpointName, ErrorKind,
    MetricKind, Statistic, VariantName, VariantSpec,
};
use serde_json::Value;

/// The dashboard body CloudWatch holds, read with the raw SDK client.
async fn stored_body(account: &Account, name: &str) -> Value {
    let out = account
        .cloudwatch()
        .get_dashboard()
        .dashboard_name(name)
        .send()
        .await
        .expect("GetDashboard");
    serde_json::from_str(out.dashboard_body().unwrap()).expect("a JSON body")
}

/// Every metric line of `body` as `namespace/metric/EndpointName/VariantName`.
fn metric_lines(body: &Value) -> Vec<String> {
    let widgets = body["widgets"].as_array().expect("widgets");
    widgets
        .iter()
        .flat_map(|w| {
            w["properties"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|line| {
            let line = line.as_array()?.clone();
            let text: Vec<&str> = line.iter().take(6).filter_map(Value::as_str).collect();
            (text.len() == 6 && text[2] == "EndpointName" && text[4] == "VariantName")
                .then(|| format!("{}/{}/{}/{}", text[0], text[1], text[3], text[5]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_has_each_variants_figures_and_goes_with_the_endpoint() {
    let account = Account::new();
    let p = account.provider().await;
    assert!(mlm_core::Provider::capabilities(&p).dashboards);
    let v = version(&p, "watched").await;
    let name = EndpointName::new("watched").unwrap();
    let cpu = VariantName::new("cpu").unwrap();
    let gpu = VariantName::new("gpu").unwrap();
    let variants = vec![
        VariantSpec::new(cpu.clone(), v.clone(), "ml.m5.large", 1),
        VariantSpec::new(gpu.clone(), v, "ml.g4dn.xlarge", 1),
    ];
    p.create_endpoint(CreateEndpointRequest::new(name.clone(), variants))
        .await
        .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();

    let created = p.put_dashboard(&name).await.unwrap();
    assert_eq!(created.name, "mlm-watched");
    assert_eq!(created.action.as_deref(), Some(DASHBOARD_CREATED));
    assert_eq!(
        created.url,
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1\
         #dashboards/dashboard/mlm-watched"
    );
    let body = stored_body(&account, "mlm-watched").await;
    let lines = metric_lines(&body);
    for variant in ["cpu", "gpu"] {
        for metric in [
            "Invocations",
            "Invocation4XXErrors",
            "Invocation5XXErrors",
            "ModelLatency",
        ] {
            let line = format!("AWS/SageMaker/{metric}/watched/{variant}");
            assert!(lines.contains(&line), "{line} missing from {lines:?}");
        }
        for metric in ["CPUUtilization", "MemoryUtilization"] {
            let line = format!("/aws/sagemaker/Endpoints/{metric}/watched/{variant}");
            assert!(lines.contains(&line), "{line} missing from {lines:?}");
        }
    }
    for metric in ["GPUUtilization", "GPUMemoryUtilization"] {
        let on_gpu = format!("/aws/sagemaker/Endpoints/{metric}/watched/gpu");
        assert!(lines.contains(&on_gpu), "{on_gpu} missing from {lines:?}");
        let on_cpu = format!("/aws/sagemaker/Endpoints/{metric}/watched/cpu");
        assert!(
            !lines.contains(&on_cpu),
            "ml.m5.large has no GPU: {lines:?}"
        );
    }
    // No alarms yet: the last widget says how to add one.
    let last = body["widgets"].as_array().unwrap().last().unwrap();
    assert_eq!(last["type"], "text", "{last}");

    // An alarm, then a second put: updated, and the alarm widget lists the alarm's ARN.
    let alarm = AlarmDefinition::new(
        AlarmName::new("errors").unwrap(),
        name.clone(),
        MetricKind::InvocationErrors5xx,
        Statistic::Sum,
        Comparison::GreaterThan,
        0.0,
        60,
    )
    .for_variant(cpu);
    p.put_alarm(alarm).await.unwrap();
    let updated = p.put_dashboard(&name).await.unwrap();
    assert_eq!(updated.action.as_deref(), Some(DASHBOARD_UPDATED));
    assert_eq!(updated.widgets.last().map(String::as_str), Some("Alarms"));
    let body = stored_body(&account, "mlm-watched").await;
    let last = body["widgets"].as_array().unwrap().last().unwrap();
    assert_eq!(last["type"], "alarm", "{last}");
    let arns = last["properties"]["alarms"].as_array().unwrap();
    assert_eq!(arns.len(), 1, "{arns:?}");
    assert!(
        arns[0]
            .as_str()
            .unwrap()
            .ends_with(":alarm:mlm/watched/errors"),
        "{arns:?}"
    );
    let read = p.get_dashboard(&name).await.unwrap();
    assert_eq!(read.action, None);
    assert_eq!(read.widgets, updated.widgets);

    // Deleting the endpoint deletes its dashboard.
    p.delete_endpoint(&name).await.unwrap();
    p.wait_until_deleted(&name, common::wait()).await.unwrap();
    let gone = account
        .cloudwatch()
        .get_dashboard()
        .dashboard_name("mlm-watched")
        .send()
        .await;
    assert!(gone.is_err(), "the dashboard outlived its endpoint");
    let err = p.get_dashboard(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("dashboard"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_endpoints_and_dashboards_are_not_found() {
    let account = Account::new();
    let p = account.provider().await;
    let name = EndpointName::new("nowhere").unwrap();
    let err = p.put_dashboard(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = p.get_dashboard(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // An endpoint that never had a dashboard deletes cleanly.
    let v = version(&p, "plain").await;
    let plain = EndpointName::new("plain").unwrap();
    p.create_endpoint(CreateEndpointRequest::single(
        plain.clone(),
        v,
        "ml.m5.large",
        1,
    ))
    .await
    .unwrap();
    p.wait_until_ready(&plain, common::wait()).await.unwrap();
    p.delete_endpoint(&plain).await.unwrap();
    p.wait_until_deleted(&plain, common::wait()).await.unwrap();
}
