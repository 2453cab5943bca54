//! Data capture on the local backend: sampling in the router, one background writer, reading.
//!
//! The router hands each sampled invocation to the writer through a bounded queue with
//! `try_send`: when the queue is full the record is dropped and counted (`capture_drops`),
//! never making the request wait or fail. The writer appends JSON Lines in SageMaker's layout,
//! `<data_dir>/captures/<endpoint>/<variant>/YYYY/MM/DD/HH/<file>.jsonl`, one open file per
//! variant and hour, closed at `capture_max_file_bytes`. Beyond `capture_max_total_bytes`
//! over all capture files, or when a write fails, records are dropped and counted.
//!
//! An endpoint's `destination_uri` is a label only: paths are built from validated endpoint
//! and variant names under the data directory, never from API input.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Timelike, Utc};
use mlm_core::{
    CaptureMode, CapturePayload, CaptureQuery, CaptureRecord, CapturedRecord, DataCaptureConfig,
    Error, MetricKind, Result, VariantName,
};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::{MetricRing, Sample};

/// One sampled invocation on its way to the writer.
pub(crate) struct PendingRecord {
    pub endpoint: mlm_core::EndpointName,
    pub variant: VariantName,
    pub record: CaptureRecord,
    /// Where a drop is counted, with the variant and instance keys of the sample.
    pub metrics: Arc<Mutex<MetricRing>>,
    pub variant_key: Arc<str>,
    pub instance_key: Arc<str>,
}

impl PendingRecord {
    /// Counts this record as dropped.
    pub(crate) fn count_drop(&self) {
        count_drop(&self.metrics, &self.variant_key, &self.instance_key);
    }
}

/// Adds one `capture_drops` sample to an endpoint's metrics.
pub(crate) fn count_drop(metrics: &Mutex<MetricRing>, variant: &Arc<str>, instance: &Arc<str>) {
    metrics
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Sample {
            at: Utc::now(),
            variant: variant.clone(),
            instance: instance.clone(),
            kind: MetricKind::CaptureDrops,
            value: 1.0,
        });
}

/// An endpoint's capture settings and the way to the writer, held by its router.
pub(crate) struct CaptureTap {
    pub config: DataCaptureConfig,
    pub tx: mpsc::Sender<CaptureMessage>,
}

/// One invocation as the router saw it.
pub(crate) struct Exchange<'a> {
    pub request_type: &'a str,
    pub request: &'a [u8],
    pub response_type: &'a str,
    pub response: &'a [u8],
}

impl CaptureTap {
    /// Whether this invocation is sampled (`sampling_percent` % of them).
    pub(crate) fn sampled(&self, rng: &mut impl rand::Rng) -> bool {
        rng.random_range(0..100u8) < self.config.sampling_percent
    }

    /// The record of one invocation, with the payloads the configuration captures.
    pub(crate) fn record(
        &self,
        exchange: &Exchange<'_>,
        rng: &mut impl rand::Rng,
    ) -> CaptureRecord {
        let input = self.config.capture_input.then(|| {
            CapturePayload::new(CaptureMode::Input, exchange.request_type, exchange.request)
        });
        let output = self.config.capture_output.then(|| {
            CapturePayload::new(
                CaptureMode::Output,
                exchange.response_type,
                exchange.response,
            )
        });
        let id: u128 = rng.random();
        CaptureRecord::new(input, output, format!("{id:032x}"), Utc::now())
    }

    /// Queues a record for the writer; when the queue is full (or the writer is gone) the
    /// record is dropped and counted. Never waits.
    pub(crate) fn offer(&self, pending: PendingRecord) {
        if let Err(e) = self.tx.try_send(CaptureMessage::Record(Box::new(pending))) {
            let (mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m)) = e;
            if let CaptureMessage::Record(pending) = m {
                pending.count_drop();
            }
        }
    }
}

/// Waits until the writer has written and flushed everything queued before this call.
pub(crate) async fn flush(tx: &mpsc::Sender<CaptureMessage>) {
    let (done, wait) = oneshot::channel();
    if tx.send(CaptureMessage::Flush(done)).await.is_ok() {
        let _ = wait.await;
    }
}

/// What the writer is asked to do.
pub(crate) enum CaptureMessage {
    /// Append a record.
    Record(Box<PendingRecord>),
    /// Flush what was queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// How long the writer lets records gather before writing them (and so the most a record
/// waits before it is on disk, besides the queue ahead of it).
const BATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Limits of the writer, from the operator's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaptureLimits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub queue: usize,
}

/// The root of all capture files.
pub(crate) fn captures_root(data_dir: &Path) -> PathBuf {
    data_dir.join("captures")
}

/// Starts the writer thread; it ends when every sender is gone.
pub(crate) fn start_writer(root: PathBuf, limits: CaptureLimits) -> mpsc::Sender<CaptureMessage> {
    let (tx, rx) = mpsc::channel(limits.queue.max(1));
    let used = disk_usage(&root);
    let writer = Writer {
        root,
        limits,
        used,
        open: HashMap::new(),
        sequence: 0,
    };
    std::thread::Builder::new()
        .name("mlm-capture".into())
        .spawn(move || {
            yield_to_requests();
            writer.run(rx)
        })
        .expect("the capture writer thread starts");
    tx
}

/// Lowers the writer thread to the lowest priority of batch work: on a busy machine it must
/// not take CPU from requests (at full priority it cost a fifth of the router's throughput on
/// two cores at 100 % sampling); when it falls behind, the queue fills and records are
/// dropped and counted, as the capture contract says.
fn yield_to_requests() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, batch) {
        tracing::debug!("the capture writer keeps its scheduling priority: {e:?}");
    }
}

/// Bytes already taken by capture files (counted against the quota after a restart).
fn disk_usage(root: &Path) -> u64 {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// The file a variant is writing to in one hour.
struct OpenFile {
    hour: DateTime<Utc>,
    bytes: u64,
    out: BufWriter<File>,
}

struct Writer {
    root: PathBuf,
    limits: CaptureLimits,
    used: u64,
    open: HashMap<(String, String), OpenFile>,
    sequence: u64,
}

impl Writer {
    /// Writes records in batches: it wakes on the first record, lets more gather for
    /// [`BATCH_INTERVAL`], writes everything queued and flushes once. A wake-up and a write
    /// per record cost a quarter of the router's throughput on two cores.
    fn run(mut self, mut rx: mpsc::Receiver<CaptureMessage>) {
        while let Some(first) = rx.blocking_recv() {
            if matches!(first, CaptureMessage::Record(_)) {
                std::thread::sleep(BATCH_INTERVAL);
            }
            let mut next = Some(first);
            while let Some(message) = next {
                self.handle(message);
                next = rx.try_recv().ok();
            }
            self.flush();
        }
        self.flush();
    }

    fn handle(&mut self, message: CaptureMessage) {
        match message {
            CaptureMessage::Record(pending) => {
                if let Err(e) = self.write(&pending) {
                    tracing::warn!(endpoint = %pending.endpoint, "capture record dropped: {e}");
                    pending.count_drop();
                }
            }
            CaptureMessage::Flush(done) => {
                self.flush();
                let _ = done.send(());
            }
        }
    }

    fn flush(&mut self) {
        for file in self.open.values_mut() {
            if let Err(e) = file.out.flush() {
                tracing::warn!("capture file not flushed: {e}");
            }
        }
    }

    fn write(&mut self, pending: &PendingRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&pending.record)?;
        line.push(b'\n');
        let len = line.len() as u64;
        if self.used + len > self.limits.max_total_bytes {
            return Err(std::io::Error::other("capture_max_total_bytes is reached"));
        }
        let at = pending.record.event_metadata.inference_time;
        let hour = hour_of(at);
        let key = (pending.endpoint.to_string(), pending.variant.to_string());
        let stale = self.open.get(&key).is_none_or(|f| {
            f.hour != hour || (f.bytes > 0 && f.bytes + len > self.limits.max_file_bytes)
        });
        if stale {
            if let Some(mut old) = self.open.remove(&key) {
                old.out.flush()?;
            }
            let dir = hour_dir(&self.root, &key.0, &key.1, hour);
            std::fs::create_dir_all(&dir)?;
            self.sequence += 1;
            let name = format!(
                "{}-{:06}.jsonl",
                Utc::now().format("%Y%m%dT%H%M%S%.6f"),
                self.sequence
            );
            let file = File::options()
                .create_new(true)
                .append(true)
                .open(dir.join(name))?;
            self.open.insert(
                key.clone(),
                OpenFile {
                    hour,
                    bytes: 0,
                    out: BufWriter::new(file),
                },
            );
        }
        let file = self.open.get_mut(&key).expect("opened above");
        file.out.write_all(&line)?;
        file.bytes += len;
        self.used += len;
        Ok(())
    }
}

/// The start of `at`'s hour.
fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}

/// `<root>/<endpoint>/<variant>/YYYY/MM/DD/HH`.
fn hour_dir(root: &Path, endpoint: &str, variant: &str, hour: DateTime<Utc>) -> PathBuf {
    root.join(endpoint)
        .join(variant)
        .join(hour.format("%Y/%m/%d/%H").to_string())
}

/// Every record of the query's endpoint (and variant) in its window, oldest first. Reads
/// only the hour folders the window covers.
pub(crate) fn read_records(root: &Path, query: &CaptureQuery) -> Result<Vec<CapturedRecord>> {
    let variants: Vec<VariantName> = match &query.variant {
        Some(v) => vec![v.clone()],
        None => variant_dirs(&root.join(query.endpoint.as_str()))?,
    };
    let mut records = Vec::new();
    for v in variants {
        for folder in query.hour_folders(&v) {
            for path in jsonl_files(&root.join(folder))? {
                records.extend(
                    read_file(&path)?
                        .into_iter()
                        .filter(|r| query.contains(r.event_metadata.inference_time))
                        .map(|r| CapturedRecord::new(v.clone(), r)),
                );
            }
        }
    }
    records.sort_by_cached_key(CapturedRecord::sort_key);
    Ok(records)
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::provider(format!("cannot read {what} {}", path.display()), e)
}

/// The variants with capture directories under an endpoint's.
fn variant_dirs(dir: &Path) -> Result<Vec<VariantName>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("capture directory", dir, e)),
    };
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| VariantName::new(e.file_name().to_str()?).ok())
        .collect())
}

/// The `.jsonl` files of one hour directory, by name.
fn jsonl_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("capture directory", dir, e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// The records of one file; a line that does not parse (a torn write) is skipped.
fn read_file(path: &Path) -> Result<Vec<CaptureRecord>> {
    let file = File::open(path).map_err(|e| io_error("capture file", path, e))?;
    let mut records = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| io_error("capture file", path, e))?;
        match serde_json::from_str(&line) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!(file = %path.display(), "unreadable capture line: {e}"),
        }
    }
    Ok(records)
}
