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
    DataPoint, EndpointName, EndpointOverview, Error, Instance, InstanceStatus, Measurement,
    MetricKind, MetricQuery, MetricScope, MetricSeries, Observability, Page, PageRequest,
    ResourceKind, Result, Statistic, VariantName,
};
use tokio::time::Instant;

use crate::cache::{ConfigInfo, ConfigVariant, Described, Figures};
use crate::error::{duplicate, from_sdk};
use crate::instance_types::{gpu_count, vcpu_count};
use crate::provider::{AwsProvider, Inner, to_smithy, to_utc};

/// Namespace of per-instance utilisation metrics.
pub(crate) const NS_INSTANCE: &str = "/aws/sagemaker/Endpoints";
/// Namespace of invocation metrics.
pub(crate) const NS_INVOCATION: &str = "AWS/SageMaker";
/// Namespace of the metrics mlm publishes itself (drift scores).
pub(crate) const NS_MLM: &str = "mlm";
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
        // Published by mlm itself (SageMaker has no such metric).
        MetricKind::DriftScore => (NS_MLM, "DriftScore"),
        _ => return None,
    })
}

pub(crate) fn stat_name(s: Statistic) -> &'static str {
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

/// The divisor that turns a raw CloudWatch value into a per-device percentage (`None`: GPU
/// figures of a type whose GPU count is unknown).
pub(crate) fn divisor(
    kind: MetricKind,
    instance_type: Option<&str>,
    per_accelerator: bool,
) -> Option<f64> {
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

impl InstanceIndex {
    /// Files a ListMetrics entry under its endpoint, variant and instance; an entry without
    /// all three is not an instance metric.
    fn add(&mut self, m: &Metric) {
        let dims: Vec<(String, String)> = m
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
            .collect();
        let get = |k: &str| dims.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (Some(e), Some(v), Some(i)) =
            (get("EndpointName"), get("VariantName"), get("InstanceId"))
        else {
            return;
        };
        self.by_variant
            .entry((e, v))
            .or_default()
            .entry(i)
            .or_default()
            .push(ListedMetric {
                name: m.metric_name().unwrap_or_default().to_string(),
                dimensions: dims,
            });
    }
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

impl Planned {
    /// The GetMetricData query, with id `q<id>`.
    fn query(&self, id: usize) -> MetricDataQuery {
        let mut metric = Metric::builder()
            .namespace(self.namespace)
            .metric_name(&self.metric);
        for (k, v) in &self.dimensions {
            metric = metric.dimensions(Dimension::builder().name(k).value(v).build());
        }
        MetricDataQuery::builder()
            .id(format!("q{id}"))
            .metric_stat(
                MetricStat::builder()
                    .metric(metric.build())
                    .period(self.period)
                    .stat(self.stat)
                    .build(),
            )
            .return_data(true)
            .build()
    }
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
        let pages = self
            .cw
            .list_metrics()
            .namespace(NS_INSTANCE)
            .recently_active(RecentlyActive::Pt3H)
            .dimensions(DimensionFilter::builder().name("InstanceId").build())
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(e, None))?;
        let mut index = InstanceIndex::default();
        for m in pages.iter().flat_map(|p| p.metrics()) {
            index.add(m);
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
                call = call.metric_data_queries(q.query(base + i));
            }
            let pages = call
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| from_sdk(e, None))?;
            for r in pages.iter().flat_map(|p| p.metric_data_results()) {
                // Ids are `q<index into queries>`.
                let Some(i) = r
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i < queries.len())
                else {
                    continue;
                };
                let d = queries[i].divisor;
                results[i].extend(
                    r.timestamps()
                        .iter()
                        .zip(r.values())
                        .map(|(t, v)| DataPoint {
                            timestamp: to_utc(Some(t)),
                            value: v / d,
                        }),
                );
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
        let mut fresh = self.cached_figures(&endpoints);
        let need: Vec<usize> = (0..endpoints.len())
            .filter(|i| fresh[*i].is_none())
            .collect();
        if !need.is_empty() {
            let read = self.read_figures(&endpoints, &need).await?;
            let mut cache = self.caches.figures.lock().expect("cache lock");
            for (&ei, figures) in need.iter().zip(read) {
                cache.insert(endpoints[ei].0.name.clone(), figures.clone());
                fresh[ei] = Some(figures);
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

    /// Each endpoint's figures if read within the metrics TTL.
    fn cached_figures(
        &self,
        endpoints: &[(Arc<Described>, Arc<ConfigInfo>)],
    ) -> Vec<Option<Figures>> {
        let ttl = self.settings.metrics_ttl;
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
    }

    /// Reads the live figures of `endpoints[i]` for each `i` in `need`, in that order.
    async fn read_figures(
        &self,
        endpoints: &[(Arc<Described>, Arc<ConfigInfo>)],
        need: &[usize],
    ) -> Result<Vec<Figures>> {
        let index = self.instance_index().await?;
        let mut plan = LivePlan {
            rows: vec![Vec::new(); endpoints.len()],
            queries: Vec::new(),
        };
        for &ei in need {
            let (d, config) = &endpoints[ei];
            for cv in &config.variants {
                plan.variant(ei, &d.name, cv, &index);
            }
        }
        // End a minute ahead: CloudWatch (and moto) truncate to whole seconds, and the
        // newest datum must not fall just past the end.
        let end = Utc::now() + chrono::TimeDelta::minutes(1);
        let start = end - LIVE_WINDOW;
        let answers = self.run_queries(&plan.queries, start, end).await?;
        let mut rows = plan.answer(answers);
        let now = Utc::now();
        Ok(need
            .iter()
            .map(|&ei| Figures {
                read_at: Instant::now(),
                as_of: now,
                instances: std::mem::take(&mut rows[ei]),
            })
            .collect())
    }

    async fn overview_uncoalesced(&self, name: &str) -> Result<EndpointOverview> {
        let d = self.describe(name).await?;
        let config = self.config(&d.config_name).await?;
        let mut list = self.overviews(vec![(d, config)]).await?;
        list.pop()
            .ok_or_else(|| Error::provider_msg("no overview computed", false))
    }
}

/// The rows (per endpoint) and queries of a page of overviews, planned together: each query
/// knows the row its answer goes to.
struct LivePlan {
    rows: Vec<Vec<Instance>>,
    queries: Vec<Planned>,
}

impl LivePlan {
    /// The rows and queries of one variant of endpoint `ei`: one row per instance seen in
    /// enhanced metrics (querying exactly the dimension sets listed), else one aggregate row.
    fn variant(&mut self, ei: usize, endpoint: &str, cv: &ConfigVariant, index: &InstanceIndex) {
        let Ok(variant) = VariantName::new(&cv.name) else {
            return;
        };
        let variant_dims = vec![
            ("EndpointName".to_string(), endpoint.to_string()),
            ("VariantName".to_string(), cv.name.clone()),
        ];
        let first_row = self.rows[ei].len();
        match (index
            .by_variant
            .get(&(endpoint.to_string(), cv.name.clone())))
        .filter(|m| !m.is_empty())
        {
            Some(instances) => self.instance_rows(ei, &variant, cv, instances),
            None => self.aggregate_row(ei, &variant, cv, &variant_dims),
        }
        // In-flight is per variant: one query, shared by the variant's rows.
        self.queries.push(Planned {
            namespace: NS_INVOCATION,
            metric: "ConcurrentRequestsPerModel".into(),
            dimensions: variant_dims,
            stat: "Maximum",
            period: 60,
            slot: Slot::Live(ei, first_row, MetricKind::InFlightRequests),
            divisor: 1.0,
        });
    }

    fn instance_rows(
        &mut self,
        ei: usize,
        variant: &VariantName,
        cv: &ConfigVariant,
        instances: &BTreeMap<String, Vec<ListedMetric>>,
    ) {
        for (id, metrics) in instances {
            let ri = self.rows[ei].len();
            let row = Instance::new(id.clone(), variant.clone(), InstanceStatus::InService);
            self.rows[ei].push(row);
            for m in metrics {
                let kind = match m.name.as_str() {
                    "CPUUtilization" => MetricKind::CpuUtilization,
                    "MemoryUtilization" => MetricKind::MemoryUtilization,
                    "GPUUtilization" => MetricKind::GpuUtilization,
                    "GPUMemoryUtilization" => MetricKind::GpuMemoryUtilization,
                    _ => continue,
                };
                let per_acc = m.dimensions.iter().any(|(k, _)| k == "AcceleratorId");
                let Some(div) = divisor(kind, cv.instance_type.as_deref(), per_acc) else {
                    continue;
                };
                self.queries.push(Planned {
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

    /// One row for the whole variant, fed by the variant's aggregate instance metrics (none
    /// for serverless variants; GPU ones only for types known to have GPUs).
    fn aggregate_row(
        &mut self,
        ei: usize,
        variant: &VariantName,
        cv: &ConfigVariant,
        variant_dims: &[(String, String)],
    ) {
        let ri = self.rows[ei].len();
        self.rows[ei].push(Instance::new(
            format!("{}/aggregate", cv.name),
            variant.clone(),
            InstanceStatus::Unknown,
        ));
        if cv.serverless.is_some() {
            return;
        }
        let itype = cv.instance_type.as_deref();
        let mut kinds = vec![MetricKind::CpuUtilization, MetricKind::MemoryUtilization];
        if itype.and_then(gpu_count).is_some_and(|n| n > 0) {
            kinds.push(MetricKind::GpuUtilization);
            kinds.push(MetricKind::GpuMemoryUtilization);
        }
        for kind in kinds {
            let Some(div) = divisor(kind, itype, false) else {
                continue;
            };
            let (ns, metric) = metric_of(kind).expect("mapped");
            self.queries.push(Planned {
                namespace: ns,
                metric: metric.into(),
                dimensions: variant_dims.to_vec(),
                stat: "Average",
                period: 60,
                slot: Slot::Live(ei, ri, kind),
                divisor: div,
            });
        }
    }

    /// Puts the latest point of each answer into its row; returns the rows.
    fn answer(self, answers: Vec<Vec<DataPoint>>) -> Vec<Vec<Instance>> {
        let mut rows = self.rows;
        // How many accelerators' figures each row's GPU mean holds so far.
        let mut accelerators: HashMap<(usize, usize, MetricKind), u32> = HashMap::new();
        for (q, points) in self.queries.iter().zip(answers) {
            let (Slot::Live(ei, ri, kind), Some(latest)) = (&q.slot, points.last()) else {
                continue;
            };
            let rows = &mut rows[*ei];
            if *kind == MetricKind::InFlightRequests {
                // Per variant: every row of the variant carries it, as an aggregate.
                let variant = rows[*ri].variant.clone();
                for row in rows.iter_mut().filter(|r| r.variant == variant) {
                    row.metrics.in_flight_requests = Some(Measurement::aggregate(latest.value));
                }
                continue;
            }
            let scope = if rows[*ri].status == InstanceStatus::Unknown {
                MetricScope::VariantAggregate
            } else {
                MetricScope::Instance
            };
            let m = Measurement {
                value: latest.value,
                scope,
            };
            let metrics = &mut rows[*ri].metrics;
            let mut nth = || {
                let n = accelerators.entry((*ei, *ri, *kind)).or_insert(0);
                *n += 1;
                *n
            };
            match kind {
                MetricKind::CpuUtilization => metrics.cpu_utilization = Some(m),
                MetricKind::MemoryUtilization => metrics.memory_utilization = Some(m),
                MetricKind::GpuUtilization => {
                    metrics.gpu_utilization = Some(mean_in(metrics.gpu_utilization, m, nth()))
                }
                MetricKind::GpuMemoryUtilization => {
                    metrics.gpu_memory_utilization =
                        Some(mean_in(metrics.gpu_memory_utilization, m, nth()))
                }
                _ => {}
            }
        }
        rows
    }
}

/// The dimensions, scope and "already per accelerator" of a history query for one variant:
/// an instance's as ListMetrics listed them, else the variant's plus `InstanceId`; without an
/// instance, the variant's aggregate.
fn series_dimensions(
    endpoint: &str,
    variant: &str,
    metric: &str,
    instance: Option<&str>,
    index: Option<&InstanceIndex>,
) -> (Vec<(String, String)>, MetricScope, bool) {
    let mut dims = vec![
        ("EndpointName".to_string(), endpoint.to_string()),
        ("VariantName".to_string(), variant.to_string()),
    ];
    let (Some(id), Some(index)) = (instance, index) else {
        return (dims, MetricScope::VariantAggregate, false);
    };
    let listed = index
        .by_variant
        .get(&(endpoint.to_string(), variant.to_string()))
        .and_then(|m| m.get(id))
        .and_then(|ms| ms.iter().find(|m| m.name == metric));
    match listed {
        Some(m) => (
            m.dimensions.clone(),
            MetricScope::Instance,
            m.dimensions.iter().any(|(k, _)| k == "AcceleratorId"),
        ),
        None => {
            dims.push(("InstanceId".into(), id.to_string()));
            (dims, MetricScope::Instance, false)
        }
    }
}

/// Folds the `n`-th accelerator's figure into the mean of the `n - 1` before it: several
/// accelerators of one instance report one figure each, and their mean is the per-GPU figure.
fn mean_in(old: Option<Measurement>, new: Measurement, n: u32) -> Measurement {
    match old {
        Some(o) if n > 1 => Measurement {
            value: o.value + (new.value - o.value) / f64::from(n),
            scope: new.scope,
        },
        _ => new,
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
        let described = inner
            .each_listed(summaries, |d| async move {
                match inner.config(&d.config_name).await {
                    Ok(c) => Ok(Some((d, c))),
                    Err(Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        let items = inner.overviews(described).await?;
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
        let index = if query.instance.is_some() {
            Some(inner.instance_index().await?)
        } else {
            None
        };
        let mut series = Vec::new();
        let mut planned = Vec::new();
        for kind in &query.kinds {
            let Some((ns, metric)) = metric_of(*kind) else {
                // Not a CloudWatch metric (capture drops are the local writer's): no data.
                series.extend(variants.iter().filter_map(|cv| {
                    let mut s = MetricSeries::empty(
                        *kind,
                        query.statistic_for(*kind),
                        MetricScope::VariantAggregate,
                    );
                    s.variant = Some(VariantName::new(&cv.name).ok()?);
                    s.instance = query.instance.clone();
                    Some(s)
                }));
                continue;
            };
            let statistic = query.statistic_for(*kind);
            let stat = stat_name(statistic);
            for cv in &variants {
                let Ok(variant) = VariantName::new(&cv.name) else {
                    continue;
                };
                let itype = cv.instance_type.as_deref();
                let (dims, scope, per_acc) = series_dimensions(
                    &d.name,
                    &cv.name,
                    metric,
                    query.instance.as_deref(),
                    index.as_deref(),
                );
                let mut s = MetricSeries::empty(*kind, statistic, scope);
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
    #[test]
    fn accelerator_figures_are_averaged_evenly() {
        // Three GPUs at 10, 20 and 60 %: 30 % per GPU (pairwise halving said 37.5).
        let mut mean = None;
        for (n, value) in [10.0, 20.0, 60.0].into_iter().enumerate() {
            let figure = Measurement::instance(value);
            mean = Some(mean_in(mean, figure, n as u32 + 1));
        }
        assert!((mean.unwrap().value - 30.0).abs() < 1e-9, "{mean:?}");
    }

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
            // Capture drops are counted by the local backend only.
            assert_eq!(metric_of(k).is_some(), k != MetricKind::CaptureDrops, "{k}");
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

    #[test]
    fn live_answers_land_in_their_rows() {
        let cv = ConfigVariant {
            name: "v".into(),
            instance_type: Some("ml.g5.12xlarge".into()),
            initial_count: 2,
            weight: 1.0,
            serverless: None,
            autoscaling: None,
            version: Some(mlm_core::VersionRef::new(
                mlm_core::ModelName::new("m").unwrap(),
                1,
            )),
        };
        let gpu = |id: &str, gpu: &str| ListedMetric {
            name: "GPUUtilization".into(),
            dimensions: vec![
                ("EndpointName".into(), "e".into()),
                ("VariantName".into(), "v".into()),
                ("InstanceId".into(), id.into()),
                ("AcceleratorId".into(), gpu.into()),
            ],
        };
        let mut index = InstanceIndex::default();
        index.by_variant.insert(
            ("e".into(), "v".into()),
            BTreeMap::from([
                ("i-1".to_string(), vec![gpu("i-1", "0"), gpu("i-1", "1")]),
                ("i-2".to_string(), vec![gpu("i-2", "0")]),
            ]),
        );
        let mut plan = LivePlan {
            rows: vec![Vec::new()],
            queries: Vec::new(),
        };
        plan.variant(0, "e", &cv, &index);
        assert_eq!(
            plan.queries.len(),
            4,
            "three GPUs and the variant's in-flight"
        );
        let point = |value| {
            vec![DataPoint {
                timestamp: Utc::now(),
                value,
            }]
        };
        let rows = plan.answer(vec![point(10.0), point(30.0), point(50.0), point(3.0)]);
        let rows = &rows[0];
        assert_eq!(rows.len(), 2);
        let gpu_of = |i: usize| rows[i].metrics.gpu_utilization.map(|m| m.value);
        assert_eq!(gpu_of(0), Some(20.0), "the mean of the instance's GPUs");
        assert_eq!(gpu_of(1), Some(50.0));
        for r in rows {
            assert_eq!(
                r.metrics.in_flight_requests,
                Some(Measurement::aggregate(3.0))
            );
        }
    }
}
