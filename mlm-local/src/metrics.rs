//! Metric history (a bounded in-memory ring per endpoint) and the process sampler that feeds it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlm_core::backend::bucket_samples;
use mlm_core::{DataPoint, MetricKind, MetricQuery, MetricScope, MetricSeries, Statistic};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Most samples one endpoint keeps, whatever the retention (bounds memory under load).
const MAX_SAMPLES: usize = 500_000;

/// One recorded value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub at: DateTime<Utc>,
    pub variant: Arc<str>,
    pub instance: Arc<str>,
    pub kind: MetricKind,
    pub value: f64,
}

/// An endpoint's metric history.
pub(crate) struct MetricRing {
    samples: VecDeque<Sample>,
    retention: chrono::Duration,
    /// The newest value per instance and kind, for overviews.
    latest: HashMap<Arc<str>, HashMap<MetricKind, f64>>,
}

impl MetricRing {
    pub(crate) fn new(retention: Duration) -> Self {
        Self {
            samples: VecDeque::new(),
            latest: HashMap::new(),
            retention: chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::hours(3)),
        }
    }

    pub(crate) fn push(&mut self, sample: Sample) {
        let horizon = sample.at - self.retention;
        while self
            .samples
            .front()
            .is_some_and(|s| s.at < horizon || self.samples.len() >= MAX_SAMPLES)
        {
            self.samples.pop_front();
        }
        if is_gauge(sample.kind) {
            self.latest
                .entry(sample.instance.clone())
                .or_default()
                .insert(sample.kind, sample.value);
        }
        self.samples.push_back(sample);
    }

    /// The newest value of `kind` recorded for `instance`.
    pub(crate) fn latest(&self, instance: &str, kind: MetricKind) -> Option<f64> {
        self.latest.get(instance)?.get(&kind).copied()
    }

    /// The values of `kind` recorded for `variant` since `since`, newest first. Samples are
    /// pushed in time order (give or take the monitor's round), so the scan stops at the
    /// first older one instead of reading the whole history.
    pub(crate) fn values_since(
        &self,
        variant: &str,
        kind: MetricKind,
        since: DateTime<Utc>,
    ) -> Vec<f64> {
        self.samples
            .iter()
            .rev()
            .take_while(|s| s.at >= since)
            .filter(|s| s.kind == kind && &*s.variant == variant)
            .map(|s| s.value)
            .collect()
    }

    /// Forgets the latest values of instances that are gone.
    pub(crate) fn retain_instances(&mut self, live: &[&str]) {
        self.latest.retain(|id, _| live.contains(&&**id));
    }

    /// Series for every kind asked for, empty where nothing was recorded.
    pub(crate) fn query(&self, query: &MetricQuery) -> Vec<MetricSeries> {
        let scope = if query.instance.is_some() {
            MetricScope::Instance
        } else {
            MetricScope::VariantAggregate
        };
        query
            .kinds
            .iter()
            .map(|&kind| {
                let statistic = query.statistic_for(kind);
                let mut series = MetricSeries::empty(kind, statistic, scope);
                series.variant = query.variant.clone();
                series.instance = query.instance.clone();
                series.points = if is_error_count(kind) {
                    self.error_points(kind, query, statistic)
                } else {
                    bucket_samples(self.selected(kind, query), query, statistic)
                };
                series
            })
            .collect()
    }

    /// The `(time, value)` samples of `kind` in the query's scope.
    fn selected<'a>(
        &'a self,
        kind: MetricKind,
        query: &'a MetricQuery,
    ) -> impl Iterator<Item = (DateTime<Utc>, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |s| {
                s.kind == kind
                    && query
                        .variant
                        .as_ref()
                        .is_none_or(|v| &*s.variant == v.as_str())
                    && query.instance.as_deref().is_none_or(|i| &*s.instance == i)
            })
            .map(|s| (s.at, s.value))
    }

    /// An error count the way SageMaker reports it: every invocation counts 0 or 1, so a period
    /// with invocations and no error sums to 0 (not "no data"), and the average is the error
    /// rate. Only failed requests are recorded as samples; the zeros are the other invocations.
    fn error_points(
        &self,
        kind: MetricKind,
        query: &MetricQuery,
        statistic: Statistic,
    ) -> Vec<DataPoint> {
        let calls = bucket_samples(
            self.selected(MetricKind::Invocations, query),
            query,
            Statistic::Sum,
        );
        let errors = bucket_samples(self.selected(kind, query), query, Statistic::Sum);
        calls
            .into_iter()
            .map(|mut point| {
                let failed = errors
                    .iter()
                    .find(|e| e.timestamp == point.timestamp)
                    .map_or(0, |e| e.value as usize);
                let ok = (point.value as usize).saturating_sub(failed);
                let values: Vec<f64> = std::iter::repeat_n(1.0, failed)
                    .chain(std::iter::repeat_n(0.0, ok))
                    .collect();
                point.value = statistic.combine(&values);
                point
            })
            .collect()
    }
}

/// Counts of failed invocations.
fn is_error_count(kind: MetricKind) -> bool {
    matches!(
        kind,
        MetricKind::InvocationErrors4xx | MetricKind::InvocationErrors5xx
    )
}

/// Kinds sampled at intervals (whose latest value means "now"), as opposed to per-request ones.
fn is_gauge(kind: MetricKind) -> bool {
    !matches!(
        kind,
        MetricKind::Invocations
            | MetricKind::InvocationErrors4xx
            | MetricKind::InvocationErrors5xx
            | MetricKind::ModelLatency
            | MetricKind::DriftScore
            | MetricKind::CaptureDrops
    )
}

/// Latest resource figures of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ProcessFigures {
    /// % of one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory as % of the machine's.
    pub memory_percent: Option<f64>,
    /// GPU SM utilisation summed over devices, % of one GPU.
    pub gpu_percent: Option<f64>,
    /// GPU memory used as % of the devices' memory.
    pub gpu_memory_percent: Option<f64>,
}

/// Reads CPU and memory from the OS (sysinfo) and GPU figures from NVML when an NVIDIA driver
/// is present. NVML is loaded at run time: without it, GPU figures are absent, never zero.
pub(crate) struct ResourceSampler {
    system: System,
    nvml: Option<nvml_wrapper::Nvml>,
    nvml_last_seen: u64,
}

impl ResourceSampler {
    pub(crate) fn new() -> Self {
        let nvml = match nvml_wrapper::Nvml::init() {
            Ok(nvml) => {
                tracing::info!("NVML loaded: GPU figures are reported per instance process");
                Some(nvml)
            }
            Err(e) => {
                tracing::debug!("no NVML ({e}): GPU figures are not reported");
                None
            }
        };
        let mut system = System::new();
        system.refresh_memory();
        Self {
            system,
            nvml,
            nvml_last_seen: 0,
        }
    }

    /// Start time (seconds since the epoch) of a live process, if it exists.
    pub(crate) fn process_start_time(&mut self, pid: u32) -> Option<u64> {
        let pid = Pid::from_u32(pid);
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing(),
        );
        self.system.process(pid).map(|p| p.start_time())
    }

    /// Figures for each of `pids` (CPU % needs two samples: the first call reports none).
    pub(crate) fn sample(&mut self, pids: &[u32]) -> HashMap<u32, ProcessFigures> {
        let sys_pids: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p)).collect();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&sys_pids),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        let total_memory = self.system.total_memory().max(1) as f64;
        let gpu = self.sample_gpu();
        pids.iter()
            .filter_map(|&pid| {
                let process = self.system.process(Pid::from_u32(pid))?;
                let (gpu_percent, gpu_memory_percent) = match &gpu {
                    Some(by_pid) => {
                        let g = by_pid.get(&pid).copied().unwrap_or_default();
                        (Some(g.0), Some(g.1))
                    }
                    None => (None, None),
                };
                Some((
                    pid,
                    ProcessFigures {
                        cpu_percent: Some(f64::from(process.cpu_usage())),
                        memory_percent: Some(process.memory() as f64 / total_memory * 100.0),
                        gpu_percent,
                        gpu_memory_percent,
                    },
                ))
            })
            .collect()
    }

    /// Per-pid (SM %, memory %) over all devices, or `None` without NVML.
    fn sample_gpu(&mut self) -> Option<HashMap<u32, (f64, f64)>> {
        let nvml = self.nvml.as_ref()?;
        let mut by_pid: HashMap<u32, (f64, f64)> = HashMap::new();
        let mut newest = self.nvml_last_seen;
        for index in 0..nvml.device_count().ok()? {
            let Ok(device) = nvml.device_by_index(index) else {
                continue;
            };
            let total = device
                .memory_info()
                .map(|m| m.total.max(1) as f64)
                .unwrap_or(1.0);
            if let Ok(processes) = device.running_compute_processes() {
                for p in processes {
                    if let nvml_wrapper::enums::device::UsedGpuMemory::Used(bytes) =
                        p.used_gpu_memory
                    {
                        by_pid.entry(p.pid).or_default().1 += bytes as f64 / total * 100.0;
                    }
                }
            }
            if let Ok(samples) = device.process_utilization_stats(self.nvml_last_seen) {
                for s in samples {
                    newest = newest.max(s.timestamp);
                    by_pid.entry(s.pid).or_default().0 += f64::from(s.sm_util);
                }
            }
        }
        self.nvml_last_seen = newest;
        Some(by_pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlm_core::EndpointName;

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    fn sample(at: DateTime<Utc>, instance: &str, kind: MetricKind, value: f64) -> Sample {
        Sample {
            at,
            variant: Arc::from("primary"),
            instance: Arc::from(instance),
            kind,
            value,
        }
    }

    #[test]
    fn query_filters_and_buckets() {
        let mut ring = MetricRing::new(Duration::from_secs(3600));
        let now = Utc::now();
        ring.push(sample(now - secs(30), "a", MetricKind::Invocations, 1.0));
        ring.push(sample(now - secs(20), "b", MetricKind::Invocations, 1.0));
        ring.push(sample(
            now - secs(10),
            "a",
            MetricKind::CpuUtilization,
            50.0,
        ));
        let mut q = MetricQuery::last(
            EndpointName::new("e").unwrap(),
            vec![MetricKind::Invocations, MetricKind::ModelLatency],
            Duration::from_secs(600),
            600,
        )
        .with_statistic(Statistic::Sum);
        let series = ring.query(&q);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].points.iter().map(|p| p.value).sum::<f64>(), 2.0);
        assert!(series[1].points.is_empty(), "no latency was recorded");
        q.instance = Some("a".into());
        let series = ring.query(&q);
        assert_eq!(series[0].points.iter().map(|p| p.value).sum::<f64>(), 1.0);
        assert_eq!(series[0].scope, MetricScope::Instance);
    }

    /// A period with invocations but no error reads 0 errors, not "no data"; the average is
    /// the error rate; a period with no invocation has no point at all.
    #[test]
    fn error_counts_are_zero_filled_where_there_were_invocations() {
        let mut ring = MetricRing::new(Duration::from_secs(3600));
        let end = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        for (at, failed) in [
            (-25, false),
            (-24, true),
            (-23, false),
            (-22, false),
            (-15, false),
        ] {
            ring.push(sample(end + secs(at), "a", MetricKind::Invocations, 1.0));
            if failed {
                ring.push(sample(
                    end + secs(at),
                    "a",
                    MetricKind::InvocationErrors5xx,
                    1.0,
                ));
            }
        }
        let mut q = MetricQuery::last(
            EndpointName::new("e").unwrap(),
            vec![MetricKind::InvocationErrors5xx],
            Duration::from_secs(30),
            10,
        );
        q.start = end - secs(30);
        q.end = end;
        let values = |q: &MetricQuery| -> Vec<f64> {
            ring.query(q)[0].points.iter().map(|p| p.value).collect()
        };
        assert_eq!(
            values(&q.clone().with_statistic(Statistic::Sum)),
            [1.0, 0.0]
        );
        assert_eq!(
            values(&q.clone().with_statistic(Statistic::Average)),
            [0.25, 0.0]
        );
        assert_eq!(
            values(&q.clone().with_statistic(Statistic::SampleCount)),
            [4.0, 1.0]
        );
        assert_eq!(
            values(&q.clone().with_statistic(Statistic::Maximum)),
            [1.0, 0.0]
        );
        let points = &ring.query(&q)[0].points;
        assert_eq!(
            points.len(),
            2,
            "the last period had no invocation: no point"
        );
        assert_eq!(points[1].timestamp, end - secs(20));
    }

    #[test]
    fn retention_drops_old_samples() {
        let mut ring = MetricRing::new(Duration::from_secs(60));
        let now = Utc::now();
        ring.push(sample(now - secs(120), "a", MetricKind::Invocations, 1.0));
        ring.push(sample(now, "a", MetricKind::Invocations, 1.0));
        assert_eq!(ring.samples.len(), 1);
    }

    #[test]
    fn sampler_reads_this_process() {
        let mut sampler = ResourceSampler::new();
        let me = std::process::id();
        assert!(sampler.process_start_time(me).is_some());
        let figures = sampler.sample(&[me]);
        let mine = figures.get(&me).expect("this process is sampled");
        assert!(mine.memory_percent.unwrap() > 0.0);
        assert!(sampler.process_start_time(u32::MAX - 1).is_none());
    }
}
