//! What a load test measured: counts, throughput, latency percentiles (HDR histogram).

use std::collections::BTreeMap;
use std::time::Duration;

use comfy_table::Table;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::LoadTestArgs;
use super::target::Outcome;
use crate::output::table;

/// Latencies up to an hour, in microseconds, to 3 significant figures.
const MAX_LATENCY_MICROS: u64 = 3_600_000_000;

/// Counts and latencies of finished requests.
#[derive(Debug)]
pub(super) struct Stats {
    latency: Histogram<u64>,
    outcomes: BTreeMap<String, u64>,
    succeeded: u64,
    failed: u64,
}

impl Stats {
    pub(super) fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
                .expect("the bounds are valid"),
            outcomes: BTreeMap::new(),
            succeeded: 0,
            failed: 0,
        }
    }

    pub(super) fn record(&mut self, latency: Duration, outcome: Outcome) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
        let label = match outcome {
            Ok(label) => {
                self.succeeded += 1;
                label
            }
            Err(label) => {
                self.failed += 1;
                label
            }
        };
        *self.outcomes.entry(label).or_default() += 1;
    }

    pub(super) fn merge(&mut self, other: Self) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (label, n) in other.outcomes {
            *self.outcomes.entry(label).or_default() += n;
        }
        self.succeeded += other.succeeded;
        self.failed += other.failed;
    }
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(super) struct Latency {
    pub(super) min: f64,
    pub(super) mean: f64,
    pub(super) p50: f64,
    pub(super) p90: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
}

/// The result of a load test (`-o json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Report {
    /// What was tested: `endpoint 'news'` or the URL.
    pub(super) target: String,
    /// `closed_loop` or `open_loop`.
    pub(super) mode: &'static str,
    /// Closed loop: the number of clients.
    pub(super) clients: Option<u32>,
    /// Open loop: requests started per second.
    pub(super) rate_per_second: Option<f64>,
    /// From the first request to the last answer.
    pub(super) duration_seconds: f64,
    /// Requests sent: `succeeded + failed`.
    pub(super) requests: u64,
    pub(super) succeeded: u64,
    pub(super) failed: u64,
    /// Answered requests per second.
    pub(super) throughput_per_second: f64,
    /// Over every request, answered or failed; `null` with no request.
    pub(super) latency_ms: Option<Latency>,
    /// Requests by how they ended: `ok` (through mlm) or the HTTP status, else the error.
    pub(super) outcomes: BTreeMap<String, u64>,
}

impl Report {
    pub(super) fn new(
        args: &LoadTestArgs,
        target: String,
        elapsed: Duration,
        stats: Stats,
    ) -> Self {
        let requests = stats.succeeded + stats.failed;
        let seconds = elapsed.as_secs_f64();
        let h = &stats.latency;
        let ms = |micros: u64| micros as f64 / 1000.0;
        let latency = (requests > 0).then(|| Latency {
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        });
        Self {
            target,
            mode: if args.rate.is_some() {
                "open_loop"
            } else {
                "closed_loop"
            },
            clients: args.rate.is_none().then(|| args.clients.unwrap_or(1)),
            rate_per_second: args.rate,
            duration_seconds: seconds,
            requests,
            succeeded: stats.succeeded,
            failed: stats.failed,
            throughput_per_second: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            latency_ms: latency,
            outcomes: stats.outcomes,
        }
    }

    /// One line with the figures that matter (the event's message).
    pub(super) fn summary(&self) -> String {
        let how = match (self.clients, self.rate_per_second) {
            (Some(n), _) => format!("closed loop, {n} clients"),
            (None, Some(rate)) => format!("open loop, {rate} requests/s"),
            (None, None) => self.mode.replace('_', " "),
        };
        let latency = self.latency_ms.map_or(String::new(), |l| {
            format!(", p50 {:.2} ms, p99 {:.2} ms", l.p50, l.p99)
        });
        format!(
            "{how}, {:.1} s: {} requests ({} failed), {:.1} requests/s{latency}",
            self.duration_seconds, self.requests, self.failed, self.throughput_per_second
        )
    }

    /// The report for people: one figure a line.
    pub(super) fn table(&self) -> Table {
        let mut t = table(&[]);
        let mut row = |k: &str, v: String| {
            t.add_row(vec![k.to_string(), v]);
        };
        row("target", self.target.clone());
        row("mode", self.mode.replace('_', " "));
        row("duration", format!("{:.2} s", self.duration_seconds));
        row(
            "requests",
            format!(
                "{} ({} ok, {} failed)",
                self.requests, self.succeeded, self.failed
            ),
        );
        row(
            "throughput",
            format!("{:.1} requests/s", self.throughput_per_second),
        );
        if let Some(l) = self.latency_ms {
            row(
                "latency",
                format!(
                    "p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
                    l.p50, l.p90, l.p99, l.max
                ),
            );
        }
        for (label, n) in &self.outcomes {
            row(&format!("  {label}"), n.to_string());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_and_merge() {
        let mut a = Stats::new();
        for ms in 1..=100 {
            a.record(Duration::from_millis(ms), Ok("200".into()));
        }
        let mut b = Stats::new();
        b.record(Duration::from_millis(500), Err("503".into()));
        b.record(Duration::from_millis(2), Err("timeout".into()));
        a.merge(b);
        assert_eq!((a.succeeded, a.failed), (100, 2));
        assert_eq!(a.outcomes["200"], 100);
        assert_eq!(a.outcomes["503"], 1);
        assert_eq!(a.latency.len(), 102);
        let p50 = a.latency.value_at_quantile(0.5) as f64 / 1000.0;
        assert!((49.0..=52.0).contains(&p50), "{p50}");
        assert!(a.latency.max() >= 499_000, "{}", a.latency.max());
    }
}
