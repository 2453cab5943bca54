//! What is running and how it is doing: instances, live figures and metric history.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::endpoint::{Endpoint, EndpointStatus};
use crate::error::{Error, Result};
use crate::names::{EndpointName, VariantName};

/// The state of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum InstanceStatus {
    /// Starting; not yet answering health checks.
    Pending,
    /// Healthy and receiving traffic.
    InService,
    /// Finishing its in-flight requests before it stops.
    Draining,
    /// Crashed or failing health checks.
    Failed,
    /// The backend cannot tell (for example AWS without per-instance data).
    Unknown,
}

impl InstanceStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InService => "InService",
            Self::Draining => "Draining",
            Self::Failed => "Failed",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a figure is about one instance or averaged over a variant's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricScope {
    /// Measured on this instance.
    Instance,
    /// An aggregate over the variant's instances (no per-instance data available).
    VariantAggregate,
}

/// One figure and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Measurement {
    /// The value (percentages are 0–100 per device, already normalised).
    pub value: f64,
    /// What it covers.
    pub scope: MetricScope,
}

impl Measurement {
    /// A per-instance figure.
    pub fn instance(value: f64) -> Self {
        Self {
            value,
            scope: MetricScope::Instance,
        }
    }

    /// A variant-wide figure.
    pub fn aggregate(value: f64) -> Self {
        Self {
            value,
            scope: MetricScope::VariantAggregate,
        }
    }
}

/// The latest figures of one instance; `None` means not available (never a fake zero).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct InstanceMetrics {
    /// GPU utilisation, % per GPU (0–100).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub gpu_utilization: Option<Measurement>,
    /// GPU memory utilisation, %.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub gpu_memory_utilization: Option<Measurement>,
    /// CPU utilisation, % per core (0–100).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub cpu_utilization: Option<Measurement>,
    /// Memory utilisation, %.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub memory_utilization: Option<Measurement>,
    /// Requests being served or queued now.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub in_flight_requests: Option<Measurement>,
}

/// One instance of an endpoint variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Instance {
    /// Provider-given id (local: `variant-N`; AWS: the instance id).
    pub id: String,
    /// The variant it belongs to.
    pub variant: VariantName,
    /// Its state.
    pub status: InstanceStatus,
    /// Latest figures; serialized next to `id` and `status`, not nested.
    #[serde(flatten)]
    pub metrics: InstanceMetrics,
    /// Since when it exists, when known.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub started_at: Option<DateTime<Utc>>,
}

impl Instance {
    /// An instance with no figures yet.
    pub fn new(id: impl Into<String>, variant: VariantName, status: InstanceStatus) -> Self {
        Self {
            id: id.into(),
            variant,
            status,
            metrics: InstanceMetrics::default(),
            started_at: None,
        }
    }
}

/// Counts of one variant in an overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VariantCounts))]
#[non_exhaustive]
pub struct VariantOverview {
    /// The variant.
    pub name: VariantName,
    /// Instances asked for.
    pub desired_instance_count: u32,
    /// Instances running, when known.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub current_instance_count: Option<u32>,
    /// Relative traffic weight.
    pub weight: f32,
}

impl VariantOverview {
    /// Counts of one variant.
    pub fn new(name: VariantName, desired: u32, current: Option<u32>, weight: f32) -> Self {
        Self {
            name,
            desired_instance_count: desired,
            current_instance_count: current,
            weight,
        }
    }
}

/// An endpoint's status, counts and instances in one answer: the dashboard's unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct EndpointOverview {
    /// The endpoint.
    pub name: EndpointName,
    /// Its status.
    pub status: EndpointStatus,
    /// Why it failed, if it did.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub failure_reason: Option<String>,
    /// Instances running now, over all variants (the sum of the variants' current counts).
    pub instance_count: u32,
    /// Per-variant counts.
    pub variants: Vec<VariantOverview>,
    /// Every instance with its latest figures.
    pub instances: Vec<Instance>,
    /// When these figures were read.
    pub as_of: DateTime<Utc>,
}

impl EndpointOverview {
    /// An overview of `endpoint` with the given instances.
    pub fn new(endpoint: &Endpoint, instances: Vec<Instance>, as_of: DateTime<Utc>) -> Self {
        let variants: Vec<VariantOverview> = endpoint
            .variants
            .iter()
            .map(|v| VariantOverview {
                name: v.name.clone(),
                desired_instance_count: v.desired_instance_count,
                current_instance_count: v.current_instance_count,
                weight: v.weight,
            })
            .collect();
        Self {
            name: endpoint.name.clone(),
            status: endpoint.status,
            failure_reason: endpoint.failure_reason.clone(),
            instance_count: variants
                .iter()
                .map(|v| v.current_instance_count.unwrap_or(0))
                .sum(),
            variants,
            instances,
            as_of,
        }
    }
}

/// A metric mlm knows how to read on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MetricKind {
    /// GPU utilisation, %.
    GpuUtilization,
    /// GPU memory utilisation, %.
    GpuMemoryUtilization,
    /// CPU utilisation, %.
    CpuUtilization,
    /// Memory utilisation, %.
    MemoryUtilization,
    /// Requests in flight.
    InFlightRequests,
    /// Invocations.
    Invocations,
    /// Invocations answered 4xx.
    #[serde(rename = "invocation_errors_4xx")]
    InvocationErrors4xx,
    /// Invocations answered 5xx.
    #[serde(rename = "invocation_errors_5xx")]
    InvocationErrors5xx,
    /// Model latency, microseconds.
    ModelLatency,
    /// The `drift_score` of each drift report made on the endpoint (see [`crate::drift`]):
    /// above 1 when something drifted. Endpoint-wide (no variant or instance).
    DriftScore,
    /// Captured records dropped (writer behind, quota reached or write failed); reported by
    /// the local backend only (AWS answers empty series).
    CaptureDrops,
}

impl MetricKind {
    /// Every kind.
    pub const ALL: [Self; 11] = [
        Self::GpuUtilization,
        Self::GpuMemoryUtilization,
        Self::CpuUtilization,
        Self::MemoryUtilization,
        Self::InFlightRequests,
        Self::Invocations,
        Self::InvocationErrors4xx,
        Self::InvocationErrors5xx,
        Self::ModelLatency,
        Self::DriftScore,
        Self::CaptureDrops,
    ];

    /// How a bucket of this metric is combined unless a query says otherwise: counts
    /// (invocations, errors) are summed — an average of per-request `1`s would read `1.0`
    /// whatever the traffic — drift scores take the worst report of the period, and
    /// utilisation, in-flight and latency figures are averaged.
    pub fn default_statistic(self) -> Statistic {
        match self {
            Self::Invocations
            | Self::InvocationErrors4xx
            | Self::InvocationErrors5xx
            | Self::CaptureDrops => Statistic::Sum,
            Self::DriftScore => Statistic::Maximum,
            _ => Statistic::Average,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GpuUtilization => "gpu_utilization",
            Self::GpuMemoryUtilization => "gpu_memory_utilization",
            Self::CpuUtilization => "cpu_utilization",
            Self::MemoryUtilization => "memory_utilization",
            Self::InFlightRequests => "in_flight_requests",
            Self::Invocations => "invocations",
            Self::InvocationErrors4xx => "invocation_errors_4xx",
            Self::InvocationErrors5xx => "invocation_errors_5xx",
            Self::ModelLatency => "model_latency",
            Self::DriftScore => "drift_score",
            Self::CaptureDrops => "capture_drops",
        }
    }

    /// The unit of its values.
    pub fn unit(self) -> &'static str {
        match self {
            Self::GpuUtilization
            | Self::GpuMemoryUtilization
            | Self::CpuUtilization
            | Self::MemoryUtilization => "percent",
            Self::InFlightRequests
            | Self::Invocations
            | Self::InvocationErrors4xx
            | Self::InvocationErrors5xx
            | Self::CaptureDrops => "count",
            Self::ModelLatency => "microseconds",
            Self::DriftScore => "ratio",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MetricKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "'{s}' is not a metric; use one of: {}",
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }
}

/// How data points within a period are combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Statistic {
    /// Mean.
    #[default]
    Average,
    /// Largest.
    Maximum,
    /// Smallest.
    Minimum,
    /// Total.
    Sum,
    /// Number of samples.
    SampleCount,
}

impl Statistic {
    /// Every statistic.
    pub const ALL: [Self; 5] = [
        Self::Average,
        Self::Maximum,
        Self::Minimum,
        Self::Sum,
        Self::SampleCount,
    ];

    /// The snake_case name used on the wire and in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Average => "average",
            Self::Maximum => "maximum",
            Self::Minimum => "minimum",
            Self::Sum => "sum",
            Self::SampleCount => "sample_count",
        }
    }

    /// Combines `values` (never empty) into one.
    pub fn combine(self, values: &[f64]) -> f64 {
        match self {
            Self::Average => values.iter().sum::<f64>() / values.len() as f64,
            Self::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Self::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Self::Sum => values.iter().sum(),
            Self::SampleCount => values.len() as f64,
        }
    }
}

impl std::str::FromStr for Statistic {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "'{s}' is not one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }
}

/// Longest window one metric query may cover.
pub const MAX_METRIC_WINDOW: Duration = Duration::from_secs(15 * 24 * 3600);
/// Most data points one series may return (CloudWatch's GetMetricStatistics limit).
pub const MAX_POINTS_PER_SERIES: i64 = 1440;

/// A query for metric history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricQuery {
    /// The endpoint.
    pub endpoint: EndpointName,
    /// Only this variant.
    pub variant: Option<VariantName>,
    /// Only this instance.
    pub instance: Option<String>,
    /// Which metrics; at least one.
    pub kinds: Vec<MetricKind>,
    /// Window start (inclusive).
    pub start: DateTime<Utc>,
    /// Window end (exclusive).
    pub end: DateTime<Utc>,
    /// Bucket length in seconds (≥ 1; AWS rounds to 60 for most metrics).
    pub period_seconds: u32,
    /// How each bucket is combined; `None`: each metric's own default
    /// ([`MetricKind::default_statistic`]: sums for counts, averages for the rest).
    pub statistic: Option<Statistic>,
}

impl MetricQuery {
    /// A query for `kinds` over the last `window`, in `period_seconds` buckets, each combined
    /// by its metric's default statistic.
    pub fn last(
        endpoint: EndpointName,
        kinds: Vec<MetricKind>,
        window: Duration,
        period_seconds: u32,
    ) -> Self {
        let end = Utc::now();
        let start = end - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(1));
        Self {
            endpoint,
            variant: None,
            instance: None,
            kinds,
            start,
            end,
            period_seconds,
            statistic: None,
        }
    }

    /// Combines every metric's buckets by `statistic`.
    pub fn with_statistic(mut self, statistic: Statistic) -> Self {
        self.statistic = Some(statistic);
        self
    }

    /// How the buckets of `kind` are combined: the query's statistic, or the metric's default.
    pub fn statistic_for(&self, kind: MetricKind) -> Statistic {
        self.statistic.unwrap_or(kind.default_statistic())
    }

    /// Limits to one variant.
    pub fn with_variant(mut self, variant: VariantName) -> Self {
        self.variant = Some(variant);
        self
    }

    /// Checks the window, period and kinds.
    pub fn validate(&self) -> Result<()> {
        if self.kinds.is_empty() {
            return Err(Error::invalid("name at least one metric"));
        }
        if self.end <= self.start {
            return Err(Error::invalid(
                "the metric window's end must be after its start",
            ));
        }
        let window = self.end - self.start;
        if window.to_std().map_or(true, |w| w > MAX_METRIC_WINDOW) {
            return Err(Error::invalid("the metric window is longer than 15 days"));
        }
        if self.period_seconds == 0 {
            return Err(Error::invalid("period must be at least 1 second"));
        }
        let points = window.num_seconds() / i64::from(self.period_seconds);
        if points > MAX_POINTS_PER_SERIES {
            return Err(Error::invalid(format!(
                "the query asks for {points} points per series; at most \
                 {MAX_POINTS_PER_SERIES}: use a longer period or a shorter window"
            )));
        }
        Ok(())
    }
}

/// One bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataPoint {
    /// Bucket start.
    pub timestamp: DateTime<Utc>,
    /// Combined value.
    pub value: f64,
}

/// The history of one metric for one endpoint, variant or instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct MetricSeries {
    /// Which metric (serialized as `metric`).
    #[serde(rename = "metric")]
    pub kind: MetricKind,
    /// The variant, if the series is per variant or instance.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub variant: Option<VariantName>,
    /// The instance, if the series is per instance.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub instance: Option<String>,
    /// What the values cover.
    pub scope: MetricScope,
    /// How buckets were combined.
    pub statistic: Statistic,
    /// The unit of the values.
    pub unit: String,
    /// Buckets in time order; empty when nothing was recorded.
    pub points: Vec<DataPoint>,
}

impl MetricSeries {
    /// An empty series for `kind`.
    pub fn empty(kind: MetricKind, statistic: Statistic, scope: MetricScope) -> Self {
        Self {
            kind,
            variant: None,
            instance: None,
            scope,
            statistic,
            unit: kind.unit().to_string(),
            points: Vec::new(),
        }
    }
}

/// Buckets raw `(time, value)` samples of the window into `period`-long points.
///
/// Backends that keep raw samples (the local backend) use it to answer [`MetricQuery`]s.
pub fn bucket_samples(
    samples: impl IntoIterator<Item = (DateTime<Utc>, f64)>,
    query: &MetricQuery,
    statistic: Statistic,
) -> Vec<DataPoint> {
    let period = i64::from(query.period_seconds.max(1));
    let start = query.start.timestamp();
    let mut buckets: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
    for (t, v) in samples {
        if t < query.start || t >= query.end {
            continue;
        }
        let index = (t.timestamp() - start) / period;
        buckets.entry(index).or_default().push(v);
    }
    buckets
        .into_iter()
        .map(|(index, values)| DataPoint {
            timestamp: DateTime::from_timestamp(start + index * period, 0).unwrap_or(query.start),
            value: statistic.combine(&values),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(window_s: i64, period: u32) -> MetricQuery {
        let end = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        MetricQuery {
            endpoint: EndpointName::new("e").unwrap(),
            variant: None,
            instance: None,
            kinds: vec![MetricKind::Invocations],
            start: end - chrono::Duration::seconds(window_s),
            end,
            period_seconds: period,
            statistic: Some(Statistic::Sum),
        }
    }

    #[test]
    fn query_validation() {
        query(3600, 60).validate().unwrap();
        let mut q = query(3600, 60);
        q.kinds.clear();
        assert!(q.validate().is_err());
        assert!(query(0, 60).validate().is_err());
        assert!(query(3600, 0).validate().is_err());
        let err = query(86_400, 1).validate().unwrap_err().to_string();
        assert!(err.contains("86400 points"), "{err}");
        assert!(query(16 * 86_400, 3600).validate().is_err());
    }

    #[test]
    fn buckets_combine_by_statistic() {
        let q = query(120, 60);
        let t0 = q.start;
        let samples = vec![
            (t0, 1.0),
            (t0 + chrono::Duration::seconds(10), 2.0),
            (t0 + chrono::Duration::seconds(70), 5.0),
            (t0 - chrono::Duration::seconds(1), 100.0),
            (q.end, 100.0),
        ];
        let points = bucket_samples(samples, &q, Statistic::Sum);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].value, 3.0);
        assert_eq!(points[0].timestamp, t0);
        assert_eq!(points[1].value, 5.0);
        assert_eq!(Statistic::Average.combine(&[1.0, 3.0]), 2.0);
        assert_eq!(Statistic::Maximum.combine(&[1.0, 3.0]), 3.0);
        assert_eq!(Statistic::Minimum.combine(&[1.0, 3.0]), 1.0);
        assert_eq!(Statistic::SampleCount.combine(&[1.0, 3.0]), 2.0);
    }

    #[test]
    fn metric_kind_parses() {
        for k in MetricKind::ALL {
            assert_eq!(k.as_str().parse::<MetricKind>().unwrap(), k);
        }
        let err = "gpu".parse::<MetricKind>().unwrap_err().to_string();
        assert!(err.contains("gpu_utilization"), "{err}");
    }
}
