//! Data capture on the local backend: the router samples invocations, the writer stores them
//! as SageMaker capture records, `list_captures` reads them back; a full quota drops records
//! (counted) without failing a request.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{SPORTS, config, deploy, endpoint_request, register, wait};
use futures::StreamExt;
use mlm_core::{
    CaptureEncoding, CaptureMode, CaptureQuery, CapturedRecord, Captures, DataCaptureConfig,
    EndpointManager, EndpointManagerExt, EndpointName, ErrorKind, InvokeRequest, MetricKind,
    MetricQuery, Observability, PageRequest, Statistic, VariantName,
};
use mlm_local::{LocalConfig, LocalProvider};

async fn open(config: LocalConfig) -> LocalProvider {
    LocalProvider::open(config)
        .await
        .expect("open the provider")
}

/// Deploys a one-instance endpoint capturing `percent` % of requests.
async fn capturing(p: &LocalProvider, name: &str, percent: u8) -> EndpointName {
    let version = register(p, "news", common::RUNTIME, &[]).await;
    let request = endpoint_request(name, version, 1)
        .with_data_capture(DataCaptureConfig::new("file:news-captures", percent));
    let endpoint = request.name.clone();
    p.create_endpoint(request).await.unwrap();
    p.wait_until_ready(&endpoint, wait()).await.unwrap();
    endpoint
}

/// Sends `n` requests, 8 at a time, each with its own sentence; all must succeed.
async fn send(p: &LocalProvider, endpoint: &EndpointName, n: usize) {
    let calls = futures::stream::iter(0..n).map(|i| {
        let body = serde_json::json!({ "sentence": format!("{SPORTS} #{i}") });
        p.invoke(InvokeRequest::json(endpoint.clone(), &body))
    });
    let answers: Vec<_> = calls.buffer_unordered(8).collect().await;
    for answer in answers {
        answer.expect("every request succeeds whatever capture does");
    }
}

/// Every record of `query`, page by page (37 at a time, so paging is exercised).
async fn captured(p: &LocalProvider, query: CaptureQuery) -> Vec<CapturedRecord> {
    let mut records = Vec::new();
    let mut page = PageRequest::first().with_page_size(37);
    loop {
        let got = p.list_captures(query.clone(), page.clone()).await.unwrap();
        assert!(got.items.len() <= 37);
        records.extend(got.items);
        match got.next_page_token {
            Some(token) => page = page.with_token(token),
            None => return records,
        }
    }
}

/// The capture files under `dir`, as paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found
}

fn last_hour(endpoint: &EndpointName) -> CaptureQuery {
    let now = Utc::now();
    CaptureQuery::new(
        endpoint.clone(),
        now - TimeDelta::hours(1),
        now + TimeDelta::minutes(1),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_of_the_requests_are_captured_as_sagemaker_records() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(config(dir.path())).await;
    let endpoint = capturing(&p, "captured", 50).await;
    send(&p, &endpoint, 1000).await;

    let records = captured(&p, last_hour(&endpoint)).await;
    assert!(
        (440..=560).contains(&records.len()),
        "{} records for 1000 requests at 50 %",
        records.len()
    );
    let primary = VariantName::new("primary").unwrap();
    let mut sentences = std::collections::BTreeSet::new();
    for r in &records {
        assert_eq!(r.variant, primary);
        assert_eq!(r.record.event_version, "0");
        let input = r.record.capture_data.endpoint_input.as_ref().unwrap();
        assert_eq!(input.mode, CaptureMode::Input);
        assert_eq!(input.observed_content_type, "application/json");
        assert_eq!(input.encoding, CaptureEncoding::Json);
        let sent: serde_json::Value = serde_json::from_slice(&input.bytes().unwrap()).unwrap();
        let sentence = sent["sentence"].as_str().unwrap().to_owned();
        assert!(sentence.starts_with(SPORTS), "{sentence}");
        sentences.insert(sentence);
        let output = r.record.capture_data.endpoint_output.as_ref().unwrap();
        assert_eq!(output.mode, CaptureMode::Output);
        assert!(output.observed_content_type.starts_with("application/json"));
        let answer: serde_json::Value = serde_json::from_slice(&output.bytes().unwrap()).unwrap();
        assert_eq!(answer["category"], "Sports", "{answer}");
    }
    assert_eq!(
        sentences.len(),
        records.len(),
        "each request is captured once"
    );

    // On disk in SageMaker's layout (YYYY/MM/DD/HH/<file>.jsonl), under the data directory,
    // one line per record.
    let variant_dir = dir.path().join("captures/captured/primary");
    let files = files_under(&variant_dir);
    assert!(!files.is_empty());
    let mut lines = 0;
    for file in &files {
        let parts: Vec<_> = file
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(parts.len(), 5, "{}", file.display());
        assert_eq!(
            parts[..4].iter().map(String::len).collect::<Vec<_>>(),
            [4, 2, 2, 2]
        );
        assert!(parts[4].ends_with(".jsonl"), "{}", file.display());
        lines += std::fs::read_to_string(variant_dir.join(file))
            .unwrap()
            .lines()
            .count();
    }
    assert_eq!(lines, records.len());

    // A variant filter and a window with nothing in it.
    let other = last_hour(&endpoint).for_variant(VariantName::new("blue").unwrap());
    assert!(captured(&p, other).await.is_empty());
    let now = Utc::now();
    let before = CaptureQuery::new(
        endpoint.clone(),
        now - TimeDelta::hours(3),
        now - TimeDelta::hours(2),
    );
    assert!(captured(&p, before).await.is_empty());
    p.shutdown().await;
}

/// A process that exits right after an invocation (`mlm invoke` on the local backend) keeps
/// its record: `shutdown` waits for the writer, so the file holds it before the provider goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_out_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(config(dir.path())).await;
    let endpoint = capturing(&p, "last", 100).await;
    send(&p, &endpoint, 1).await;
    p.shutdown().await;
    let root = dir.path().join("captures").join("last");
    let lines: usize = files_under(&root)
        .iter()
        .map(|f| {
            std::fs::read_to_string(root.join(f))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, 1, "the one record is on disk when shutdown returns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_quota_drops_records_and_counts_them_without_failing_requests() {
    let dir = tempfile::tempdir().unwrap();
    // Room for a handful of records at most.
    let p = open(config(dir.path()).with_capture_limits(1024, 2048)).await;
    let endpoint = capturing(&p, "quota", 100).await;
    send(&p, &endpoint, 100).await;

    let stored = captured(&p, last_hour(&endpoint)).await;
    assert!(
        !stored.is_empty() && stored.len() < 100,
        "{} records stored",
        stored.len()
    );
    let query = MetricQuery::last(
        endpoint.clone(),
        vec![MetricKind::CaptureDrops],
        Duration::from_secs(600),
        3600,
    )
    .with_statistic(Statistic::Sum);
    let series = p.query_metrics(query).await.unwrap();
    let drops: f64 = series[0].points.iter().map(|d| d.value).sum();
    assert_eq!(
        drops as usize + stored.len(),
        100,
        "every record is stored or counted"
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_and_endpoints_without_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(config(dir.path())).await;
    let version = register(&p, "news", common::RUNTIME, &[]).await;
    let plain = deploy(&p, "plain", version, 1).await;
    send(&p, &plain, 5).await;
    assert!(captured(&p, last_hour(&plain)).await.is_empty());

    let now = Utc::now();
    let backwards = CaptureQuery::new(plain.clone(), now, now - TimeDelta::hours(1));
    let err = p
        .list_captures(backwards, PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let missing = last_hour(&EndpointName::new("missing").unwrap());
    let err = p
        .list_captures(missing, PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    p.shutdown().await;
}
