//! Observability from CloudWatch, batched.
//!
//! * Every figure of an overview — and of a whole page of overviews — comes from
//!   `GetMetricData` calls of up to 500 queries each, never one call per metric.
//! * Instance metrics (`/aws/sagemaker/Endpoints`: CPU, memory, GPU, GPU memory) carry an
//!   `InstanceId` dimension only with enhanced metrics. Which instances exist is read with
//!   `ListMetrics` (recently active, all endpoints at once, cached for a minute) and the exact
//!   dimension sets it returns are queried — none are assumed. Without instance ids the rows are
//!   per-variant aggregates, labelled [`MetricScope::VariantAggregate`].
//! * CPU and GPU figures are 0–100 × cores/GPUs on AWS; they are divided by the instance type's
//!   count ([`crate::instance_types`]) so every percentage is per device. GPU figures of types
//!   whose GPU count is unknown are left out rather than shown wrong.
//! * In-flight requests are `ConcurrentRequestsPerModel` (`AWS/SageMaker`, per variant).
//! * Live figures are reused for the metrics TTL; concurrent identical overview requests share
//!   one fetch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat, RecentlyActive, ScanBy,
};
use chrono::Utc;
use futures::FutureExt;
use mlm_core::{
    DataPoint, EndpointName, EndpointOverview, Error, Instance, InstanceMetrics, InstanceStatus,
    Measurement, MetricKind, MetricQuery, MetricScope, MetricSeries, Observability, Page,
    PageRequest, ResourceKind, Result, Statistic, VariantName,
};
use tokio::time::Instant;

use crate::cache::{ConfigInfo, Described, Figures};
use crate::error::{duplicate, from_sdk};
use crate::instance_types::{gpu_count, vcpu_count};
use crate::provider::{AwsProvider, Inner, ordered, to_smithy, to_utc};

/// Namespace of per-instance utilisation metrics.
pub(crate) const NS_INSTANCE: &str = "/aws/sagemaker/Endpoints";
/// Namespace of invocation metrics.
pub(crate) const NS_INVOCATION: &str = "AWS/SageMaker";
/// Most queries in one GetMetricData call.
pub const MAX_QUERIES_PER_CALL: usize = 500;
const INSTANCE_INDEX_TTL: Duration = Duration::from_secs(60);
const LIVE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Which CloudWatch metric a [`MetricKind`] is.
pub(crate) fn metric_of(kind: MetricKind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        MetricKind::GpuUtilization => (NS_INSTANCE, "GPUUtilization"),
        MetricKind::GpuMemoryUtilization => (NS_INSTANCE, "GPUMemoryUtilization"),
        MetricKind::CpuUtilization => (NS_INSTANCE, "CPUUtilization"),
        MetricKind::MemoryUtilization => (NS_INSTANCE, "MemoryUtilization"),
        MetricKind::InFlightRequests => (NS_INVOCATION, "ConcurrentRequestsPerModel"),
        MetricKind::Invocations => (NS_INVOCATION, "Invocations"),
        MetricKind::InvocationErrors4xx => (NS_INVOCATION, "Invocation4XXErrors"),
        MetricKind::InvocationErrors5xx => (NS_INVOCATION, "Invocation5XXErrors"),
        MetricKind::ModelLatency => (NS_INVOCATION, "ModelLatency"),
        _ => return None,
    })
}

fn stat_name(s: Statistic) -> &'static str {
    match s {
        Statistic::Maximum => "Maximum",
        Statistic::Minimum => "Minimum",
        Statistic::Sum => "Sum",
        Statistic::SampleCount => "SampleCount",
        _ => "Average",
    }
}

/// CloudWatch accepts periods of 1, 5, 10, 20, 30 s (high-resolution) or multiples of 60.
pub(crate) fn cloudwatch_period(seconds: u32) -> i32 {
    let p = match seconds {
        0..=1 => 1,
        2..=5 => 5,
        6..=10 => 10,
        11..=20 => 20,
        21..=30 => 30,
        31..=60 => 60,
        s => s.div_ceil(60) * 60,
    };
    p as i32
}

/// The divisor that turns a raw CloudWatch value into a per-device percentage.
fn divisor(kind: MetricKind, instance_type: Option<&str>, per_accelerator: bool) -> Option<f64> {
    match kind {
        MetricKind::CpuUtilization => {
            Some(f64::from(instance_type.and_then(vcpu_count).unwrap_or(1)))
        }
        MetricKind::GpuUtilization | MetricKind::GpuMemoryUtilization => {
            if per_accelerator {
                Some(1.0)
            } else {
                instance_type
                    .and_then(gpu_count)
                    .filter(|n| *n > 0)
                    .map(f64::from)
            }
        }
        _ => Some(1.0),
    }
}

/// One metric of one instance as ListMetrics reported it.
#[derive(Debug, Clone)]
pub(crate) struct ListedMetric {
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

/// Instances seen in enhanced metrics: (endpoint, variant) → instance id → metrics.
#[derive(Debug, Default)]
pub(crate) struct InstanceIndex {
    pub by_variant: HashMap<(String, String), BTreeMap<String, Vec<ListedMetric>>>,
}

/// One query to send, and where its answer goes.
#[derive(Debug, Clone)]
struct Planned {
    namespace: &'static str,
    metric: String,
    dimensions: Vec<(String, String)>,
    stat: &'static str,
    period: i32,
    slot: Slot,
    divisor: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    /// endpoint index, row index, kind
    Live(usize, usize, MetricKind),
    /// series index
    Series(usize),
}

impl Inner {
    /// ListMetrics over the whole account, cached: which instances publish enhanced metrics.
    pub(crate) async fn instance_index(&self) -> Result<Arc<InstanceIndex>> {
        let mut guard = self.caches.instance_ids.lock().await;
        if let Some((at, index)) = guard.as_ref()
            && at.elapsed() < INSTANCE_INDEX_TTL
        {
            return Ok(index.clone());
        }
        let mut index = InstanceIndex::default();
        let mut token = None;
        loop {
            let out = self
                .cw
                .list_metrics()
                .namespace(NS_INSTANCE)
                .recently_active(RecentlyActive::Pt3H)
                .dimensions(DimensionFilter::builder().name("InstanceId").build())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(e, None))?;
            for m in out.metrics() {
                let dims: Vec<(String, String)> = m
                    .dimensions()
                    .iter()
                    .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                    .collect();
                let get = |k: &str| dims.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let (Some(e), Some(v), Some(i)) =
                    (get("EndpointName"), get("VariantName"), get("InstanceId"))
                else {
                    continue;
                };
                index
                    .by_variant
                    .entry((e, v))
                    .or_default()
                    .entry(i)
                    .or_default()
                    .push(ListedMetric {
                        name: m.metric_name().unwrap_or_default().to_string(),
                        dimensions: dims,
                    });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let index = Arc::new(index);
        *guard = Some((Instant::now(), index.clone()));
        Ok(index)
    }

    /// Runs `queries` in calls of at most 500 and returns, per query, its points (oldest first).
    async fn run_queries(
        &self,
        queries: &[Planned],
        start: chrono::DateTime<Utc>,
        end: chrono::DateTime<Utc>,
    ) -> Result<Vec<Vec<DataPoint>>> {
        let mut results = vec![Vec::new(); queries.len()];
        for (chunk_index, chunk) in queries.chunks(MAX_QUERIES_PER_CALL).enumerate() {
            let base = chunk_index * MAX_QUERIES_PER_CALL;
            let mut call = self
                .cw
                .get_metric_data()
                .start_time(to_smithy(start))
                .end_time(to_smithy(end))
                .scan_by(ScanBy::TimestampAscending);
            for (i, q) in chunk.iter().enumerate() {
                let mut metric = Metric::builder()
                    .namespace(q.namespace)
                    .metric_name(&q.metric);
                for (k, v) in &q.dimensions {
                    metric = metric.dimensions(Dimension::builder().name(k).value(v).build());
                }
                call = call.metric_data_queries(
                    MetricDataQuery::builder()
                        .id(format!("q{}", base + i))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric.build())
                                .period(q.period)
                                .stat(q.stat)
                                .build(),
                        )
                        .return_data(true)
                        .build(),
                );
            }
            let mut token: Option<String> = None;
            loop {
                let out = call
                    .clone()
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| from_sdk(e, None))?;
                for r in out.metric_data_results() {
                    let Some(i) = r
                        .id()
                        .and_then(|id| id.strip_prefix('q'))
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|i| *i < queries.len())
                    else {
                        continue;
                    };
                    let d = queries[i].divisor;
                    results[i].extend(r.timestamps().iter().zip(r.values()).map(|(t, v)| {
                        DataPoint {
                            timestamp: to_utc(Some(t)),
                            value: v / d,
                        }
                    }));
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        for r in &mut results {
            r.sort_by_key(|p| p.timestamp);
        }
        Ok(results)
    }

    /// Overviews of already-described endpoints, all figures in as few calls as possible.
    pub(crate) async fn overviews(
        &self,
        endpoints: Vec<(Arc<Described>, Arc<ConfigInfo>)>,
    ) -> Result<Vec<EndpointOverview>> {
        let ttl = self.settings.metrics_ttl;
        let mut fresh: Vec<Option<Figures>> = {
            let cache = self.caches.figures.lock().expect("cache lock");
            endpoints
                .iter()
                .map(|(d, _)| {
                    cache
                        .get(&d.name)
                        .filter(|f| !ttl.is_zero() && f.read_at.elapsed() < ttl)
                        .cloned()
                })
                .collect()
        };
        let need: Vec<usize> = (0..endpoints.len())
            .filter(|i| fresh[*i].is_none())
            .collect();
        if !need.is_empty() {
            let index = self.instance_index().await?;
            let mut rows: Vec<Vec<Instance>> = vec![Vec::new(); endpoints.len()];
            let mut planned = Vec::new();
            for &ei in &need {
                let (d, config) = &endpoints[ei];
                for cv in &config.variants {
                    let Ok(variant) = VariantName::new(&cv.name) else {
                        continue;
                    };
                    let itype = cv.instance_type.as_deref();
                    let in_flight = Planned {
                        namespace: NS_INVOCATION,
                        metric: "ConcurrentRequestsPerModel".into(),
                        dimensions: vec![
                            ("EndpointName".into(), d.name.clone()),
                            ("VariantName".into(), cv.name.clone()),
                        ],
                        stat: "Maximum",
                        period: 60,
                        slot: Slot::Live(ei, usize::MAX, MetricKind::InFlightRequests),
                        divisor: 1.0,
                    };
                    let instances = index.by_variant.get(&(d.name.clone(), cv.name.clone()));
                    let first_row = rows[ei].len();
                    match instances.filter(|m| !m.is_empty()) {
                        Some(instances) => {
                            for (id, metrics) in instances {
                                let ri = rows[ei].len();
                                let mut inst = Instance::new(
                                    id.clone(),
                                    variant.clone(),
                                    InstanceStatus::InService,
                                );
                                inst.started_at = None;
                                rows[ei].push(inst);
                                for m in metrics {
                                    let kind = match m.name.as_str() {
                                        "CPUUtilization" => MetricKind::CpuUtilization,
                                        "MemoryUtilization" => MetricKind::MemoryUtilization,
                                        "GPUUtilization" => MetricKind::GpuUtilization,
                                        "GPUMemoryUtilization" => MetricKind::GpuMemoryUtilization,
                                        _ => continue,
                                    };
                                    let per_acc =
                                        m.dimensions.iter().any(|(k, _)| k == "AcceleratorId");
                                    let Some(div) = divisor(kind, itype, per_acc) else {
                                        continue;
                                    };
                                    planned.push(Planned {
                                        namespace: NS_INSTANCE,
                                        metric: m.name.clone(),
                                        dimensions: m.dimensions.clone(),
                                        stat: "Average",
                                        period: 60,
                                        slot: Slot::Live(ei, ri, kind),
                                        divisor: div,
                                    });
                                }
                            }
                        }
                        None => {
                            let ri = rows[ei].len();
                            rows[ei].push(Instance::new(
                                format!("{}/aggregate", cv.name),
                                variant.clone(),
                                InstanceStatus::Unknown,
                            ));
                            if cv.serverless.is_none() {
                                let mut kinds =
                                    vec![MetricKind::CpuUtilization, MetricKind::MemoryUtilization];
                                if itype.and_then(gpu_count).is_some_and(|n| n > 0) {
                                    kinds.push(MetricKind::GpuUtilization);
                                    kinds.push(MetricKind::GpuMemoryUtilization);
                                }
                                for kind in kinds {
                                    let Some(div) = divisor(kind, itype, false) else {
                                        continue;
                                    };
                                    let (ns, metric) = metric_of(kind).expect("mapped");
                                    planned.push(Planned {
                                        namespace: ns,
                                        metric: metric.into(),
                                        dimensions: vec![
                                            ("EndpointName".into(), d.name.clone()),
                                            ("VariantName".into(), cv.name.clone()),
                                        ],
                                        stat: "Average",
                                        period: 60,
                                        slot: Slot::Live(ei, ri, kind),
                                        divisor: div,
                                    });
                                }
                            }
                        }
                    }
                    // In-flight is per variant: one query, shared by the variant's rows.
                    let mut q = in_flight;
                    q.slot = Slot::Live(ei, first_row, MetricKind::InFlightRequests);
                    planned.push(q);
                }
            }
            // End a minute ahead: CloudWatch (and moto) truncate to whole seconds, and the
            // newest datum must not fall just past the end.
            let end = Utc::now() + chrono::TimeDelta::minutes(1);
            let start = end - LIVE_WINDOW;
            let answers = self.run_queries(&planned, start, end).await?;
            let mut instance_values: HashMap<(usize, usize), InstanceMetrics> = HashMap::new();
            let mut in_flight: HashMap<(usize, usize), f64> = HashMap::new();
            for (q, points) in planned.iter().zip(answers) {
                let Slot::Live(ei, ri, kind) = q.slot else {
                    continue;
                };
                let Some(latest) = points.last() else {
                    continue;
                };
                if kind == MetricKind::InFlightRequests {
                    in_flight.insert((ei, ri), latest.value);
                    continue;
                }
                let scope = if rows[ei][ri].status == InstanceStatus::Unknown {
                    MetricScope::VariantAggregate
                } else {
                    MetricScope::Instance
                };
                let m = Measurement {
                    value: latest.value,
                    scope,
                };
                let entry = instance_values.entry((ei, ri)).or_default();
                match kind {
                    MetricKind::CpuUtilization => entry.cpu_utilization = Some(m),
                    MetricKind::MemoryUtilization => entry.memory_utilization = Some(m),
                    MetricKind::GpuUtilization => {
                        entry.gpu_utilization = Some(average_in(entry.gpu_utilization, m))
                    }
                    MetricKind::GpuMemoryUtilization => {
                        entry.gpu_memory_utilization =
                            Some(average_in(entry.gpu_memory_utilization, m))
                    }
                    _ => {}
                }
            }
            let now = Utc::now();
            for &ei in &need {
                let mut list = std::mem::take(&mut rows[ei]);
                for (ri, inst) in list.iter_mut().enumerate() {
                    if let Some(m) = instance_values.remove(&(ei, ri)) {
                        inst.metrics = m;
                    }
                }
                // In-flight is per variant: every row of the variant carries it, as an aggregate.
                let mut variant_in_flight: HashMap<String, f64> = HashMap::new();
                for ((e, ri), v) in &in_flight {
                    if *e == ei
                        && let Some(row) = list.get(*ri)
                    {
                        variant_in_flight.insert(row.variant.to_string(), *v);
                    }
                }
                for inst in &mut list {
                    if let Some(v) = variant_in_flight.get(inst.variant.as_str()) {
                        inst.metrics.in_flight_requests = Some(Measurement::aggregate(*v));
                    }
                }
                fresh[ei] = Some(Figures {
                    read_at: Instant::now(),
                    as_of: now,
                    instances: list,
                });
            }
            let mut cache = self.caches.figures.lock().expect("cache lock");
            for &ei in &need {
                if let Some(f) = &fresh[ei] {
                    cache.insert(endpoints[ei].0.name.clone(), f.clone());
                }
            }
        }
        let mut out = Vec::new();
        for ((d, _), f) in endpoints.iter().zip(fresh) {
            let f = f.expect("every endpoint has figures");
            let e = self.assemble(d, &BTreeMap::new()).await?;
            let mut o = EndpointOverview::new(&e, f.instances, f.as_of);
            o.failure_reason = d.failure_reason.clone();
            out.push(o);
        }
        Ok(out)
    }

    async fn overview_uncoalesced(&self, name: &str) -> Result<EndpointOverview> {
        let d = self.describe(name).await?;
        let config = self.config(&d.config_name).await?;
        let mut list = self.overviews(vec![(d, config)]).await?;
        list.pop()
            .ok_or_else(|| Error::provider_msg("no overview computed", false))
    }
}

fn average_in(old: Option<Measurement>, new: Measurement) -> Measurement {
    match old {
        // Several accelerators of one instance: their mean is the per-GPU figure.
        Some(o) => Measurement {
            value: (o.value + new.value) / 2.0,
            scope: new.scope,
        },
        None => new,
    }
}

impl AwsProvider {
    /// One overview; concurrent calls for the same endpoint share one fetch.
    async fn overview_coalesced(&self, name: &str) -> Result<EndpointOverview> {
        let fut = {
            let mut inflight = self.inner.caches.inflight.lock().expect("inflight lock");
            if let Some(f) = inflight.get(name) {
                f.clone()
            } else {
                let inner = self.inner.clone();
                let key = name.to_string();
                let f = async move {
                    let r = inner
                        .overview_uncoalesced(&key)
                        .await
                        .map(Arc::new)
                        .map_err(Arc::new);
                    inner
                        .caches
                        .inflight
                        .lock()
                        .expect("inflight lock")
                        .remove(&key);
                    r
                }
                .boxed()
                .shared();
                inflight.insert(name.to_string(), f.clone());
                f
            }
        };
        match fut.await {
            Ok(o) => Ok((*o).clone()),
            Err(e) => Err(duplicate(&e)),
        }
    }
}

#[async_trait]
impl Observability for AwsProvider {
    async fn endpoint_overview(&self, name: &EndpointName) -> Result<EndpointOverview> {
        self.overview_coalesced(name.as_str()).await
    }

    async fn list_overviews(&self, page: PageRequest) -> Result<Page<EndpointOverview>> {
        let inner = &self.inner;
        let (summaries, next) = inner.endpoint_summaries(&page).await?;
        let described = ordered(
            summaries,
            inner.settings.concurrency,
            |(name, lm)| async move {
                let d = match inner.describe_cached(&name, lm).await {
                    Ok(d) => d,
                    Err(Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                match inner.config(&d.config_name).await {
                    Ok(c) => Ok(Some((d, c))),
                    Err(Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            },
        )
        .await?;
        let items = inner
            .overviews(described.into_iter().flatten().collect())
            .await?;
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    async fn query_metrics(&self, query: MetricQuery) -> Result<Vec<MetricSeries>> {
        query.validate()?;
        let inner = &self.inner;
        let d = inner.describe(query.endpoint.as_str()).await?;
        let config = inner.config(&d.config_name).await?;
        let variants: Vec<_> = config
            .variants
            .iter()
            .filter(|v| query.variant.as_ref().is_none_or(|q| q.as_str() == v.name))
            .collect();
        if let Some(v) = &query.variant
            && variants.is_empty()
        {
            return Err(Error::not_found(
                ResourceKind::Variant,
                format!("{}/{v}", query.endpoint),
            ));
        }
        let period = cloudwatch_period(query.period_seconds);
        let stat = stat_name(query.statistic);
        let index = if query.instance.is_some() {
            Some(inner.instance_index().await?)
        } else {
            None
        };
        let mut series = Vec::new();
        let mut planned = Vec::new();
        for kind in &query.kinds {
            let Some((ns, metric)) = metric_of(*kind) else {
                return Err(Error::Unsupported(format!("metric {kind} on AWS")));
            };
            for cv in &variants {
                let Ok(variant) = VariantName::new(&cv.name) else {
                    continue;
                };
                let itype = cv.instance_type.as_deref();
                let base = vec![
                    ("EndpointName".to_string(), d.name.clone()),
                    ("VariantName".to_string(), cv.name.clone()),
                ];
                let (dims, scope, per_acc) = match (&query.instance, &index) {
                    (Some(id), Some(index)) => {
                        let listed = index
                            .by_variant
                            .get(&(d.name.clone(), cv.name.clone()))
                            .and_then(|m| m.get(id))
                            .and_then(|ms| ms.iter().find(|m| m.name == metric));
                        match listed {
                            Some(m) => (
                                m.dimensions.clone(),
                                MetricScope::Instance,
                                m.dimensions.iter().any(|(k, _)| k == "AcceleratorId"),
                            ),
                            None => {
                                let mut dims = base.clone();
                                dims.push(("InstanceId".into(), id.clone()));
                                (dims, MetricScope::Instance, false)
                            }
                        }
                    }
                    _ => (base, MetricScope::VariantAggregate, false),
                };
                let mut s = MetricSeries::empty(*kind, query.statistic, scope);
                s.variant = Some(variant);
                s.instance = query.instance.clone();
                let div = divisor(*kind, itype, per_acc);
                let si = series.len();
                series.push(s);
                // A GPU figure of a type with unknown GPU count stays empty rather than wrong.
                if let Some(div) = div {
                    planned.push(Planned {
                        namespace: ns,
                        metric: metric.to_string(),
                        dimensions: dims,
                        stat,
                        period,
                        slot: Slot::Series(si),
                        divisor: div,
                    });
                }
            }
        }
        let answers = inner.run_queries(&planned, query.start, query.end).await?;
        for (q, points) in planned.iter().zip(answers) {
            if let Slot::Series(si) = q.slot {
                series[si].points = points;
            }
        }
        Ok(series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_valid_for_cloudwatch() {
        assert_eq!(cloudwatch_period(1), 1);
        assert_eq!(cloudwatch_period(7), 10);
        assert_eq!(cloudwatch_period(45), 60);
        assert_eq!(cloudwatch_period(60), 60);
        assert_eq!(cloudwatch_period(61), 120);
        assert_eq!(cloudwatch_period(300), 300);
    }

    #[test]
    fn every_kind_maps_to_a_metric() {
        for k in MetricKind::ALL {
            assert!(metric_of(k).is_some(), "{k}");
        }
    }

    #[test]
    fn gpu_figures_are_per_gpu() {
        assert_eq!(
            divisor(MetricKind::GpuUtilization, Some("ml.g5.12xlarge"), false),
            Some(4.0)
        );
        assert_eq!(
            divisor(MetricKind::GpuUtilization, Some("ml.g5.12xlarge"), true),
            Some(1.0)
        );
        assert_eq!(
            divisor(MetricKind::GpuUtilization, Some("ml.m5.large"), false),
            None
        );
        assert_eq!(
            divisor(MetricKind::CpuUtilization, Some("ml.m5.xlarge"), false),
            Some(4.0)
        );
        assert_eq!(
            divisor(MetricKind::MemoryUtilization, Some("ml.m5.xlarge"), false),
            Some(1.0)
        );
    }
}
