//! Data capture on AWS, against the emulator: invocations of an endpoint with data capture
//! are sampled into S3 in SageMaker's layout, and `list_captures` reads them back; drift
//! baselines are kept beside them.

mod common;

use chrono::{TimeDelta, Utc};
use common::{Account, INSTANCE_TYPES, version};
use mlm_core::drift::{
    CreateBaselineRequest, Drift, DriftReportRequest, FieldKind, Sample, SampleSource,
    TrafficWindow,
};
use mlm_core::{
    BaselineName, CaptureEncoding, CaptureQuery, CapturedRecord, Captures, CreateEndpointRequest,
    DataCaptureConfig, EndpointManager, EndpointManagerExt, EndpointName, ErrorKind, InvokeRequest,
    MetricKind, MetricQuery, Observability, PageRequest, Statistic, VariantName,
};

async fn all(p: &impl Captures, query: &CaptureQuery) -> Vec<CapturedRecord> {
    let mut records = Vec::new();
    let mut page = PageRequest::first().with_page_size(25);
    loop {
        let got = p.list_captures(query.clone(), page.clone()).await.unwrap();
        records.extend(got.items);
        match got.next_page_token {
            Some(token) => page = page.with_token(token),
            None => return records,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_invocations_are_read_back_from_s3() {
    let account = Account::new();
    let p = account.provider().await;
    let destination = account.capture_destination().await;
    let v = version(&p, "captured").await;
    let name = EndpointName::new("captured").unwrap();
    let request = CreateEndpointRequest::single(name.clone(), v, INSTANCE_TYPES[0], 1)
        .with_data_capture(DataCaptureConfig::new(&destination, 50));
    p.create_endpoint(request).await.unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();

    let start = Utc::now() - TimeDelta::seconds(1);
    for i in 0..200 {
        let body = format!("{{\"n\": {i}}}").into_bytes();
        p.invoke(InvokeRequest::new(name.clone(), "application/json", body))
            .await
            .unwrap();
    }
    let query = CaptureQuery::new(name.clone(), start, Utc::now() + TimeDelta::minutes(1));
    let records = all(&p, &query).await;
    assert!(
        (60..=140).contains(&records.len()),
        "{} records for 200 invocations at 50 %",
        records.len()
    );
    let mut sent = std::collections::BTreeSet::new();
    for r in &records {
        assert_eq!(r.variant.as_str(), "primary");
        let input = r.record.capture_data.endpoint_input.as_ref().unwrap();
        assert_eq!(input.observed_content_type, "application/json");
        assert_eq!(input.encoding, CaptureEncoding::Json);
        sent.insert(String::from_utf8(input.bytes().unwrap()).unwrap());
        assert!(r.record.capture_data.endpoint_output.is_some());
    }
    assert_eq!(
        sent.len(),
        records.len(),
        "each invocation is captured once"
    );
    let times: Vec<_> = records
        .iter()
        .map(|r| r.record.event_metadata.inference_time)
        .collect();
    assert!(times.is_sorted(), "oldest first");

    // In SageMaker's layout under the destination's prefix.
    let bucket = destination
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap();
    let listed = account
        .s3()
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    for key in listed.contents().iter().filter_map(|o| o.key()) {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts[..3], ["captures", "captured", "primary"], "{key}");
        assert_eq!(
            parts[3..7].iter().map(|p| p.len()).collect::<Vec<_>>(),
            [4, 2, 2, 2]
        );
        assert!(parts[7].ends_with(".jsonl"), "{key}");
    }

    // Another variant's records, and a window before the invocations: none.
    let other = query.clone().for_variant(VariantName::new("blue").unwrap());
    assert!(all(&p, &other).await.is_empty());
    let before = CaptureQuery::new(name.clone(), start - TimeDelta::hours(2), start);
    assert!(all(&p, &before).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_without_capture_have_no_records_and_missing_ones_are_not_found() {
    let account = Account::new();
    let p = account.provider().await;
    let v = version(&p, "plain").await;
    let name = EndpointName::new("plain").unwrap();
    p.create_endpoint(CreateEndpointRequest::single(
        name.clone(),
        v,
        INSTANCE_TYPES[0],
        1,
    ))
    .await
    .unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();
    let now = Utc::now();
    let query = CaptureQuery::new(name, now - TimeDelta::hours(1), now);
    assert!(all(&p, &query).await.is_empty());
    let missing = CaptureQuery::new(
        EndpointName::new("missing").unwrap(),
        query.start,
        query.end,
    );
    let err = p
        .list_captures(missing, PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// Drift on AWS: baselines are JSON objects beside the captured data (so an endpoint without
/// capture has none: `FailedPrecondition`), reports read the captured traffic, and each
/// report's score is published to CloudWatch, where metric queries read it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_baselines_live_beside_captured_data_and_scores_reach_cloudwatch() {
    let account = Account::new();
    let p = account.provider().await;
    let destination = account.capture_destination().await;
    let v = version(&p, "drifting").await;
    let name = EndpointName::new("drifting").unwrap();
    let request = CreateEndpointRequest::single(name.clone(), v.clone(), INSTANCE_TYPES[0], 1)
        .with_data_capture(DataCaptureConfig::new(&destination, 100));
    p.create_endpoint(request).await.unwrap();
    p.wait_until_ready(&name, common::wait()).await.unwrap();

    let start = Utc::now() - TimeDelta::seconds(1);
    for i in 0..40 {
        let body = format!("{{\"n\": {i}}}").into_bytes();
        p.invoke(InvokeRequest::new(name.clone(), "application/json", body))
            .await
            .unwrap();
    }
    let window = TrafficWindow::new(start, Utc::now() + TimeDelta::minutes(1));
    let launch = BaselineName::new("launch").unwrap();
    let request = CreateBaselineRequest::new(
        name.clone(),
        launch.clone(),
        SampleSource::Window(window.clone()),
    );
    let baseline = p.create_baseline(request).await.unwrap();
    assert_eq!(baseline.sample_count, 40);
    assert_eq!(baseline.fields["n"].kind, FieldKind::Numeric);
    let bucket = destination
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap();
    let stored = account
        .s3()
        .get_object()
        .bucket(bucket)
        .key("captures/mlm-baselines/drifting/launch.json")
        .send()
        .await
        .expect("the baseline is an object beside the captured data");
    let stored: serde_json::Value =
        serde_json::from_slice(&stored.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(stored["sample_count"], 40);

    // Numbers far above the baseline's: PSI and KS both past their thresholds.
    let shifted: Vec<Sample> = (0..40)
        .map(|i| Sample::input(serde_json::json!({"n": 1000 + i})))
        .collect();
    let request =
        DriftReportRequest::new(name.clone(), launch.clone(), SampleSource::Samples(shifted));
    let report = p.drift_report(request).await.unwrap();
    assert!(report.drifted && report.drift_score > 1.0, "{report:?}");
    let same = DriftReportRequest::new(name.clone(), launch.clone(), SampleSource::Window(window));
    assert!(!p.drift_report(same).await.unwrap().drifted);

    let mut query = MetricQuery::last(
        name.clone(),
        vec![MetricKind::DriftScore],
        std::time::Duration::from_secs(600),
        60,
    )
    .with_statistic(Statistic::Maximum);
    // Ahead of now: CloudWatch (and moto) truncate the window to whole seconds, which would
    // leave out a score published within the last second.
    query.end += TimeDelta::minutes(2);
    let series = p.query_metrics(query).await.unwrap();
    let points: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.value))
        .collect();
    assert!(
        points.contains(&report.drift_score),
        "the published score comes back from CloudWatch: {series:?}"
    );

    // An endpoint without data capture has nowhere to keep baselines.
    let plain = EndpointName::new("plain").unwrap();
    p.create_endpoint(CreateEndpointRequest::single(
        plain.clone(),
        v,
        INSTANCE_TYPES[0],
        1,
    ))
    .await
    .unwrap();
    p.wait_until_ready(&plain, common::wait()).await.unwrap();
    let err = p
        .list_baselines(&plain, PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(err.to_string().contains("data capture"), "{err}");
}
