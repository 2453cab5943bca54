//! `mlm load-test`: many requests to an endpoint's inference API, closed loop (`--clients N`,
//! each sending its next request when the last is answered) or open loop (`--rate R`, requests
//! started on schedule whatever the answers, latency counted from the scheduled start so a
//! slow server cannot hide its queueing), through mlm's `invoke` or straight to a URL.

mod report;
mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;
use mlm_core::EndpointName;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::{BodyArgs, parse_duration};
use crate::commands::{ensure_serving, request_body};
use crate::connect::Backend;
use crate::failure::Failure;
use crate::output::Output;
use report::{Report, Stats};
use target::Target;

/// How long a test runs when neither `--duration` nor `--requests` says.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub(crate) struct LoadTestArgs {
    /// The endpoint, called through mlm (`invoke`); only a label with --url.
    #[arg(required_unless_present = "url")]
    pub(crate) endpoint: Option<EndpointName>,
    /// Closed loop: this many clients, each sending its next request once the last is
    /// answered (default 1).
    #[arg(long, conflicts_with = "rate", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) clients: Option<u32>,
    /// Open loop: start this many requests per second, whatever the answers.
    #[arg(long, value_name = "PER_SECOND")]
    pub(crate) rate: Option<f64>,
    /// Stop starting requests after this long (default 10s unless --requests is given).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) requests: Option<u64>,
    #[command(flatten)]
    pub(crate) body: BodyArgs,
    /// Request bodies, one per line (JSON Lines), sent in turn.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["body", "data"])]
    pub(crate) bodies: Option<PathBuf>,
    /// POST straight to this URL instead of through mlm.
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// Allow a --url that is not on this machine (loopback only otherwise).
    #[arg(long, requires = "url")]
    pub(crate) allow_remote: bool,
    /// Time limit of one request.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub(crate) request_timeout: Duration,
    /// First send this many requests (closed loop, same clients) and leave them out of the
    /// report: connections open and the model warms up.
    #[arg(long, default_value_t = 0, value_name = "REQUESTS")]
    pub(crate) warmup: u64,
    /// Open loop: at most this many requests in flight; later ones wait for a slot (and their
    /// wait counts in their latency).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_in_flight: u32,
    /// Do not record the result as a `load_test` event of the endpoint.
    #[arg(long)]
    pub(crate) no_record: bool,
}

/// When to stop: after a time, a number of requests, or both (whichever comes first).
#[derive(Debug, Clone, Copy)]
struct Limits {
    deadline: Option<Instant>,
    requests: Option<u64>,
}

impl Limits {
    fn of(args: &LoadTestArgs, start: Instant) -> Self {
        let duration = match (args.duration, args.requests) {
            (None, None) => Some(DEFAULT_DURATION),
            (d, _) => d,
        };
        Self {
            deadline: duration.map(|d| start + d),
            requests: args.requests,
        }
    }

    /// Whether request number `n` (from 0) may start at `now`.
    fn allows(&self, n: u64, now: Instant) -> bool {
        self.requests.is_none_or(|max| n < max) && self.deadline.is_none_or(|d| now < d)
    }
}

pub(crate) async fn run(args: LoadTestArgs, backend: &Backend, out: Output) -> Result<(), Failure> {
    let bodies = Arc::new(bodies(&args)?);
    let target = Arc::new(Target::new(&args, backend)?);
    if let (Some(name), None) = (&args.endpoint, &args.url) {
        ensure_serving(backend, name).await?;
    }
    let clients = args.clients.unwrap_or(1);
    if args.warmup > 0 {
        let warmup = Limits {
            deadline: None,
            requests: Some(args.warmup),
        };
        closed_loop(&target, &bodies, warmup, clients).await?;
    }
    eprintln!("load-testing {} ({})", target.describe(), mode(&args));
    let start = Instant::now();
    let limits = Limits::of(&args, start);
    let stats = match args.rate {
        Some(rate) => open_loop(&target, &bodies, limits, rate, args.max_in_flight).await?,
        None => closed_loop(&target, &bodies, limits, clients).await?,
    };
    let report = Report::new(&args, target.describe(), start.elapsed(), stats);
    if let (Some(name), false) = (&args.endpoint, args.no_record) {
        record(backend, name, &report).await;
    }
    out.print_with(&report, |_| report.table())
}

/// Keeps the result on the endpoint's timeline (a `load_test` event) so consoles can chart
/// it; a backend without events, or a failure, is a note on stderr, not a failed test.
async fn record(backend: &Backend, endpoint: &EndpointName, report: &Report) {
    let event = match serde_json::to_value(report) {
        Ok(data) => mlm_core::NewEvent::new("load_test", report.summary()).with_data(data),
        Err(e) => return eprintln!("note: the result was not recorded: {e}"),
    };
    match backend.provider.record_event(endpoint, event).await {
        Ok(event) => eprintln!(
            "recorded as event {} of endpoint '{endpoint}' (mlm events {endpoint} --kind load_test)",
            event.id
        ),
        Err(e) => eprintln!("note: the result was not recorded on '{endpoint}': {e}"),
    }
}

fn mode(args: &LoadTestArgs) -> String {
    match args.rate {
        Some(rate) => format!("open loop, {rate} requests/s"),
        None => format!("closed loop, {} clients", args.clients.unwrap_or(1)),
    }
}

/// The request bodies: the lines of `--bodies`, or the one body of `--data`/`--body`.
fn bodies(args: &LoadTestArgs) -> Result<Vec<Arc<[u8]>>, Failure> {
    let Some(path) = &args.bodies else {
        let body = request_body(&args.body)?.ok_or_else(|| {
            Failure::usage("give request bodies with --data TEXT, --body FILE or --bodies FILE")
        })?;
        return Ok(vec![body.into()]);
    };
    let text = String::from_utf8(crate::commands::read_input(path)?)
        .map_err(|_| Failure::usage(format!("{} is not UTF-8 text", path.display())))?;
    let mut bodies = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        serde_json::from_str::<serde_json::Value>(line)
            .map_err(|e| Failure::usage(format!("{} line {}: {e}", path.display(), n + 1)))?;
        bodies.push(Arc::from(line.as_bytes()));
    }
    if bodies.is_empty() {
        return Err(Failure::usage(format!(
            "{} has no request bodies",
            path.display()
        )));
    }
    Ok(bodies)
}

/// `clients` tasks, each sending its next request when the last is answered.
async fn closed_loop(
    target: &Arc<Target>,
    bodies: &Arc<Vec<Arc<[u8]>>>,
    limits: Limits,
    clients: u32,
) -> Result<Stats, Failure> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (target, bodies, next) = (target.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let mut stats = Stats::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                if !limits.allows(n, started) {
                    return stats;
                }
                let body = bodies[(n % bodies.len() as u64) as usize].clone();
                let outcome = target.send(body).await;
                stats.record(started.elapsed(), outcome);
            }
        });
    }
    let mut total = Stats::new();
    while let Some(stats) = tasks.join_next().await {
        total.merge(stats.map_err(|e| Failure::runtime(format!("a client failed: {e}")))?);
    }
    Ok(total)
}

/// Requests started `rate` times a second on schedule.
async fn open_loop(
    target: &Arc<Target>,
    bodies: &Arc<Vec<Arc<[u8]>>>,
    limits: Limits,
    rate: f64,
    max_in_flight: u32,
) -> Result<Stats, Failure> {
    if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
        return Err(Failure::usage(
            "--rate must be more than 0 and at most 1000000",
        ));
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight as usize));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut total = Stats::new();
    for n in 0u64.. {
        let scheduled = start + interval.mul_f64(n as f64);
        if !limits.allows(n, scheduled) {
            break;
        }
        tokio::time::sleep_until(scheduled).await;
        let slot = slots.clone().acquire_owned().await;
        let (target, body) = (
            target.clone(),
            bodies[(n % bodies.len() as u64) as usize].clone(),
        );
        tasks.spawn(async move {
            let outcome = target.send(body).await;
            drop(slot);
            (scheduled.elapsed(), outcome)
        });
        while let Some(done) = tasks.try_join_next() {
            collect(&mut total, done)?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        collect(&mut total, done)?;
    }
    Ok(total)
}

fn collect(
    total: &mut Stats,
    done: Result<(Duration, target::Outcome), tokio::task::JoinError>,
) -> Result<(), Failure> {
    let (latency, outcome) =
        done.map_err(|e| Failure::runtime(format!("a request task failed: {e}")))?;
    total.record(latency, outcome);
    Ok(())
}
