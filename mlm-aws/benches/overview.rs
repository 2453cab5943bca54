//! Overview of 1,000 endpoints × 1 variant against the AWS emulator: AWS calls and wall time of
//! mlm's batched path (cold, warm, and warm within the figures TTL) next to the naive approach
//! (ListEndpoints + DescribeEndpoint each + GetMetricStatistics per metric), in the same run.
//!
//! Run: `MLM_EMULATOR_PYTHON=.venv/bin/python cargo bench -p mlm-aws --bench overview`
//! (`MLM_BENCH_ENDPOINTS=N` changes the endpoint count).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types::{
    ContainerDefinition, ProductionVariant, ProductionVariantInstanceType,
};
use futures::StreamExt;
use mlm_core::{Observability, PageRequest};

/// The instance metrics of a GPU instance plus in-flight requests.
const METRICS: [(&str, &str); 5] = [
    ("/aws/sagemaker/Endpoints", "CPUUtilization"),
    ("/aws/sagemaker/Endpoints", "MemoryUtilization"),
    ("/aws/sagemaker/Endpoints", "GPUUtilization"),
    ("/aws/sagemaker/Endpoints", "GPUMemoryUtilization"),
    ("AWS/SageMaker", "ConcurrentRequestsPerModel"),
];

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

fn show(label: &str, counts: &BTreeMap<String, u64>, took: Duration) {
    println!(
        "{label:<44} {:>6} AWS calls {:>9.2} s   {}",
        total(counts),
        took.as_secs_f64(),
        counts
            .iter()
            .map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k)))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

async fn all_overviews(p: &mlm_aws::AwsProvider) -> usize {
    let mut n = 0;
    let mut request = PageRequest::first().with_page_size(100);
    loop {
        let page = p
            .list_overviews(request.clone())
            .await
            .expect("list_overviews");
        n += page.items.len();
        match page.next_page_token {
            Some(t) => request = request.with_token(t),
            None => return n,
        }
    }
}

async fn naive(account: &common::Account) -> usize {
    let sm = account.sagemaker();
    let cw = account.cloudwatch();
    let names: Vec<String> = sm
        .list_endpoints()
        .into_paginator()
        .page_size(100)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.endpoint_name().map(str::to_string))
        .collect();
    let end = std::time::SystemTime::now();
    let start = end - Duration::from_secs(300);
    let n = names.len();
    futures::stream::iter(names)
        .map(|name| {
            let sm = sm.clone();
            let cw = cw.clone();
            async move {
                let d = sm
                    .describe_endpoint()
                    .endpoint_name(&name)
                    .send()
                    .await
                    .unwrap();
                for v in d.production_variants() {
                    for (ns, metric) in METRICS {
                        cw.get_metric_statistics()
                            .namespace(ns)
                            .metric_name(metric)
                            .dimensions(dim("EndpointName", &name))
                            .dimensions(dim("VariantName", v.variant_name().unwrap_or_default()))
                            .start_time(start.into())
                            .end_time(end.into())
                            .period(60)
                            .statistics(aws_sdk_cloudwatch::types::Statistic::Average)
                            .send()
                            .await
                            .unwrap();
                    }
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    n
}

fn dim(name: &str, value: &str) -> aws_sdk_cloudwatch::types::Dimension {
    aws_sdk_cloudwatch::types::Dimension::builder()
        .name(name)
        .value(value)
        .build()
}

/// `n` endpoints on one SageMaker model and config, made directly (as in an account where
/// not every endpoint is mlm's).
async fn make_endpoints(account: &common::Account, n: usize) {
    let sm = account.sagemaker();
    sm.create_model()
        .model_name("bench-model")
        .execution_role_arn(account.role())
        .primary_container(
            ContainerDefinition::builder()
                .image(common::IMAGE)
                .model_data_url(common::ARTIFACT)
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.create_endpoint_config()
        .endpoint_config_name("bench-config")
        .production_variants(
            ProductionVariant::builder()
                .variant_name("primary")
                .model_name("bench-model")
                .instance_type(ProductionVariantInstanceType::from("ml.g4dn.xlarge"))
                .initial_instance_count(1)
                .initial_variant_weight(1.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    futures::stream::iter(0..n)
        .map(|i| {
            let sm = sm.clone();
            async move {
                sm.create_endpoint()
                    .endpoint_name(format!("bench-{i:05}"))
                    .endpoint_config_name("bench-config")
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Runs `run` with the request counters reset, checks it saw all `n` endpoints, and prints
/// the AWS calls and time it took.
async fn measure(
    label: &str,
    account: &common::Account,
    n: usize,
    run: impl Future<Output = usize>,
) {
    account.reset_requests().await;
    let t = Instant::now();
    assert_eq!(run.await, n);
    let took = t.elapsed();
    show(label, &account.requests().await, took);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("MLM_BENCH_ENDPOINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let account = common::Account::new();
    let setup = Instant::now();
    make_endpoints(&account, n).await;
    println!(
        "setup: {n} endpoints × 1 variant (ml.g4dn.xlarge) × {} metrics (CPU, memory, GPU, GPU memory, in-flight) in {:.1} s\n",
        METRICS.len(),
        setup.elapsed().as_secs_f64()
    );

    // Figures re-read on every refresh (TTL 0): the floor the issue asks for.
    let p = account
        .builder()
        .with_metrics_ttl(Duration::ZERO)
        .build()
        .await
        .unwrap();
    let label = "mlm cold (new provider)";
    measure(label, &account, n, all_overviews(&p)).await;
    let label = "mlm warm (descriptions cached, figures re-read)";
    measure(label, &account, n, all_overviews(&p)).await;

    let cached = account.builder().build().await.unwrap();
    all_overviews(&cached).await;
    let label = "mlm warm within the 10 s figures TTL";
    measure(label, &account, n, all_overviews(&cached)).await;

    let label = "naive (describe each, one call per metric)";
    measure(label, &account, n, naive(&account)).await;

    let floor = n.div_ceil(100) + (n * METRICS.len()).div_ceil(mlm_aws::MAX_QUERIES_PER_CALL);
    println!(
        "\nfloor for a warm refresh: ⌈{n}/100⌉ ListEndpoints + ⌈{n}·{}/500⌉ GetMetricData = {floor}",
        METRICS.len()
    );
}
