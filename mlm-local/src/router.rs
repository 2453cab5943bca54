//! The per-endpoint routing table and the invocation path.
//!
//! The table is copy-on-write: lifecycle work builds a new table and swaps it in, so a request
//! sees either the old fleet or the new one, never half of each. Instances leaving the table
//! keep serving the requests they already have; they are drained before they are stopped.
//!
//! While a deployment runs, the table holds two fleets: the configuration in force
//! ([`Fleet::Current`]) and the one being rolled out ([`Fleet::Next`]), each with its own
//! variants; `split` says what percentage of requests goes to the next fleet. Within a fleet,
//! requests spread by variant weight, then to the least-busy instance.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use mlm_core::{
    EndpointName, Error, InstanceStatus, InvokeRequest, InvokeResponse, MetricKind, Result,
    VariantName, VariantSpec,
};
use rand::Rng;

use crate::capture::{CaptureTap, Exchange, PendingRecord};
use crate::instance::{ConnectFailure, HttpClient, InstanceHandle, connect_failure};
use crate::metrics::{MetricRing, Sample};

/// Largest model answer passed through (SageMaker's real-time payload limit).
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Why an oversize answer is refused rather than cut short and passed on as a success.
const ANSWER_TOO_LARGE: &str =
    "answered with more than 6 MiB, SageMaker's limit for a real-time answer";

/// Tries per request: the first instance and up to two others when one cannot be reached.
const MAX_ATTEMPTS: u32 = 3;

/// Which configuration a route serves while a deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fleet {
    /// The configuration in force (the only fleet when no deployment runs).
    Current,
    /// The configuration a deployment rolls out.
    Next,
}

/// One variant of one fleet in the routing table.
#[derive(Clone)]
pub(crate) struct VariantRoute {
    pub spec: VariantSpec,
    pub instances: Vec<Arc<InstanceHandle>>,
    pub fleet: Fleet,
}

impl VariantRoute {
    /// Most requests one instance of this variant is sent at once: a serverless variant's
    /// `max_concurrency`, else the server's `max_in_flight_per_instance`.
    fn limit(&self, max_in_flight: u32) -> u32 {
        self.spec
            .serverless
            .map_or(max_in_flight, |s| s.max_concurrency)
    }

    pub(crate) fn healthy_count(&self) -> u32 {
        self.instances
            .iter()
            .filter(|i| i.status() == InstanceStatus::InService)
            .count() as u32
    }
}

/// Restart bookkeeping of one instance slot, kept under the id of the instance now in it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RestartState {
    pub attempts: u32,
    pub in_progress: bool,
}

/// Everything the local backend holds in memory for one endpoint.
pub(crate) struct EndpointRuntime {
    pub name: EndpointName,
    table: RwLock<Arc<Vec<VariantRoute>>>,
    pub metrics: Arc<Mutex<MetricRing>>,
    /// Data capture, when the endpoint was created with it.
    capture: Option<CaptureTap>,
    /// Serialises lifecycle work (create, update, delete, restarts) on this endpoint.
    pub work: tokio::sync::Mutex<()>,
    next_instance: AtomicU32,
    /// Set when the endpoint is being deleted: instances still starting give up at once.
    pub deleting: AtomicBool,
    pub restarts: Mutex<HashMap<String, RestartState>>,
    /// Percentage of requests sent to the [`Fleet::Next`] routes (0 when no deployment runs).
    split: AtomicU8,
    /// Set when a user stops the running deployment (or the endpoint is deleted): the
    /// deployment rolls back, and its instances still starting give up.
    pub stop_deployment: AtomicBool,
    /// Wakes a deployment waiting out a step when `stop_deployment` is set.
    pub stop_signal: tokio::sync::Notify,
    /// Most requests one instance is sent at once; more wait in line for a free slot.
    max_in_flight: u32,
    /// Signalled whenever a request ends, for requests waiting in line.
    freed: tokio::sync::Notify,
    /// What the autoscaler remembers of this endpoint between its ticks.
    pub autoscaler: Mutex<AutoscalerMemory>,
    /// Serialises the serverless work on this endpoint: cold starts, scaling to zero, memory
    /// restarts.
    pub serverless: tokio::sync::Mutex<()>,
}

/// What the autoscaler remembers of an endpoint between ticks; forgotten on restart, which
/// only allows a scale-out sooner.
#[derive(Debug, Default)]
pub(crate) struct AutoscalerMemory {
    /// When each variant last scaled out: its scale-out cooldown runs from then.
    pub scaled_out_at: HashMap<VariantName, chrono::DateTime<Utc>>,
    /// A scale-out was held back by the server's instance caps, and the event said so.
    pub blocked: bool,
}

/// Decrements an instance's in-flight counter when the request ends, however it ends, and
/// wakes one request queued for a free slot.
struct InFlight<'a>(Arc<InstanceHandle>, &'a tokio::sync::Notify);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.1.notify_one();
    }
}

impl EndpointRuntime {
    pub(crate) fn new(
        name: EndpointName,
        retention: Duration,
        max_in_flight: u32,
        capture: Option<CaptureTap>,
    ) -> Self {
        Self {
            name,
            table: RwLock::new(Arc::new(Vec::new())),
            metrics: Arc::new(Mutex::new(MetricRing::new(retention))),
            capture,
            work: tokio::sync::Mutex::new(()),
            next_instance: AtomicU32::new(1),
            deleting: AtomicBool::new(false),
            restarts: Mutex::new(HashMap::new()),
            split: AtomicU8::new(0),
            stop_deployment: AtomicBool::new(false),
            stop_signal: tokio::sync::Notify::new(),
            max_in_flight: max_in_flight.max(1),
            freed: tokio::sync::Notify::new(),
            autoscaler: Mutex::new(AutoscalerMemory::default()),
            serverless: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn table(&self) -> Arc<Vec<VariantRoute>> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_table(&self, table: Vec<VariantRoute>) {
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
    }

    /// Changes a copy of the table and swaps it in, atomically with other edits.
    pub(crate) fn edit_table<T>(&self, edit: impl FnOnce(&mut Vec<VariantRoute>) -> T) -> T {
        let mut guard = self.table.write().unwrap_or_else(|p| p.into_inner());
        let mut table = Vec::clone(&guard);
        let out = edit(&mut table);
        *guard = Arc::new(table);
        out
    }

    /// The percentage of requests sent to the next fleet.
    pub(crate) fn split(&self) -> u8 {
        self.split.load(Ordering::SeqCst)
    }

    /// Sends `percent` of requests to the next fleet (the rest to the current one).
    pub(crate) fn set_split(&self, percent: u8) {
        self.split.store(percent.min(100), Ordering::SeqCst);
    }

    /// A fresh instance id for `variant` (`primary-3`).
    pub(crate) fn next_instance_id(&self, variant: &VariantName) -> String {
        format!(
            "{variant}-{}",
            self.next_instance.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub(crate) fn record(&self, samples: impl IntoIterator<Item = Sample>) {
        let mut ring = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        for s in samples {
            ring.push(s);
        }
    }

    /// Picks a variant (by weight, or the target) and its least-busy healthy instance other
    /// than `avoid` (the one that just could not be reached), and counts the request against
    /// that instance; `None` when even that instance has `max_in_flight` requests (a
    /// serverless variant at its `max_concurrency` is throttled at once instead).
    fn pick(
        &self,
        target: Option<&VariantName>,
        avoid: Option<&Arc<InstanceHandle>>,
    ) -> Result<Option<(VariantName, InFlight<'_>)>> {
        let table = self.table();
        if let Some(t) = target
            && !table.iter().any(|v| &v.spec.name == t)
        {
            return Err(Error::invalid(format!(
                "endpoint '{}' has no variant '{t}'",
                self.name
            )));
        }
        // Allocation-free: this runs on every request.
        let usable = |i: &&Arc<InstanceHandle>| {
            i.status() == InstanceStatus::InService && avoid.is_none_or(|a| !Arc::ptr_eq(i, a))
        };
        let mut rng = rand::rng();
        let fleet = self.choose_fleet(&mut rng);
        let serves = |v: &VariantRoute, fleet: Option<Fleet>| {
            fleet.is_none_or(|f| v.fleet == f)
                && (match target {
                    Some(t) => &v.spec.name == t,
                    None => v.spec.weight > 0.0,
                })
                && v.instances.iter().any(|i| usable(&i))
        };
        // The chosen fleet, or any when it has no usable instance (a next fleet restarting).
        let fleet = Some(fleet).filter(|f| table.iter().any(|v| serves(v, Some(*f))));
        let eligible = |v: &&VariantRoute| serves(v, fleet);
        let weight = |v: &VariantRoute| v.spec.weight.max(f32::MIN_POSITIVE);
        let total: f32 = table.iter().filter(eligible).map(weight).sum();
        let mut point = rng.random::<f32>() * total;
        let mut variant = None;
        for v in table.iter().filter(eligible) {
            variant = Some(v);
            point -= weight(v);
            if point <= 0.0 {
                break;
            }
        }
        let variant = variant.ok_or_else(|| {
            Error::provider_msg(
                format!(
                    "endpoint '{}' has no healthy instance right now; retry shortly",
                    self.name
                ),
                true,
            )
        })?;
        let Some(chosen) = self.claim_least_busy(variant, usable, &mut rng)? else {
            return match variant.spec.serverless {
                Some(s) => Err(Error::throttled(
                    format!(
                        "serverless variant '{}' of endpoint '{}' already has {} requests in \
                         the model, its max_concurrency; retry later",
                        variant.spec.name, self.name, s.max_concurrency
                    ),
                    Some(Duration::from_secs(1)),
                )),
                None => Ok(None),
            };
        };
        chosen.touch();
        let guard = InFlight(chosen, &self.freed);
        // A drain that started after the table was read sees this request or is seen by it.
        if guard.0.status() != InstanceStatus::InService {
            return Err(Error::provider_msg("the instance is draining", true));
        }
        Ok(Some((variant.spec.name.clone(), guard)))
    }

    /// The fleet a request goes to: the next one for `split` % of requests.
    fn choose_fleet(&self, rng: &mut impl Rng) -> Fleet {
        match self.split() {
            0 => Fleet::Current,
            100.. => Fleet::Next,
            percent if rng.random_range(0..100u8) < percent => Fleet::Next,
            _ => Fleet::Current,
        }
    }

    /// The usable instance of `variant` with the fewest outstanding requests (ties broken at
    /// random so load spreads), with one more counted against it; `None` when every one has
    /// `max_in_flight`. The count is claimed atomically: two requests that saw the same last
    /// free slot cannot both take it (the loser looks again).
    fn claim_least_busy(
        &self,
        variant: &VariantRoute,
        usable: impl Fn(&&Arc<InstanceHandle>) -> bool,
        rng: &mut impl Rng,
    ) -> Result<Option<Arc<InstanceHandle>>> {
        let healthy = || variant.instances.iter().filter(&usable);
        let limit = variant.limit(self.max_in_flight);
        loop {
            let least = healthy()
                .map(|i| i.in_flight.load(Ordering::SeqCst))
                .min()
                .unwrap_or(0);
            if least >= limit {
                return Ok(None);
            }
            let tied = healthy()
                .filter(|i| i.in_flight.load(Ordering::SeqCst) == least)
                .count();
            let candidate = healthy()
                .filter(|i| i.in_flight.load(Ordering::SeqCst) == least)
                .nth(rng.random_range(0..tied.max(1)))
                .or_else(|| healthy().next())
                .cloned()
                .ok_or_else(|| Error::provider_msg("the instance left while routing", true))?;
            let claimed = candidate
                .in_flight
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < limit).then_some(n + 1)
                })
                .is_ok();
            if claimed {
                return Ok(Some(candidate));
            }
        }
    }

    /// [`pick`](Self::pick), waiting in line while every instance is at `max_in_flight`, until
    /// `deadline`; then the request is throttled (429 over REST), as SageMaker throttles.
    async fn pick_or_wait(
        &self,
        target: Option<&VariantName>,
        avoid: Option<&Arc<InstanceHandle>>,
        deadline: tokio::time::Instant,
    ) -> Result<(VariantName, InFlight<'_>)> {
        // The common case: a slot is free, and no waiter needs registering.
        if let Some(picked) = self.pick(target, avoid)? {
            return Ok(picked);
        }
        loop {
            // Registered before looking again, so a slot freed in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(picked) = self.pick(target, avoid)? {
                return Ok(picked);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(Error::throttled(
                    format!(
                        "every instance of endpoint '{}' had {} requests in flight until the \
                         invocation timed out; scale out or retry later",
                        self.name, self.max_in_flight
                    ),
                    Some(Duration::from_secs(1)),
                ));
            }
        }
    }

    /// Sends one request through the router. When the chosen instance cannot be reached (the
    /// request never got there, so it is safe to resend) it is retried on another; an instance
    /// that refuses connections is taken out of rotation at once (the monitor restarts it).
    pub(crate) async fn invoke(
        &self,
        client: &HttpClient,
        mut request: InvokeRequest,
        timeout: Duration,
    ) -> Result<InvokeResponse> {
        // One copy of the payload, shared by retries.
        let request_body = Bytes::from(std::mem::take(&mut request.body));
        let mut attempt = 0;
        let mut unreachable: Option<Arc<InstanceHandle>> = None;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            attempt += 1;
            let target = request.target_variant.as_ref();
            let picked = self
                .pick_or_wait(target, unreachable.as_ref(), deadline)
                .await;
            let (variant, in_flight) = match picked {
                Err(Error::Provider {
                    retryable: true, ..
                }) if attempt < MAX_ATTEMPTS => continue,
                other => other?,
            };
            let started = std::time::Instant::now();
            let outcome = forward(
                client,
                &in_flight.0,
                &request,
                request_body.clone(),
                timeout,
            )
            .await;
            let micros = started.elapsed().as_micros() as f64;
            let instance = Arc::clone(&in_flight.0);
            drop(in_flight);
            match outcome {
                Forwarded::Unreachable(e) => {
                    self.take_out_if_gone(&instance, &e);
                    if attempt < MAX_ATTEMPTS {
                        unreachable = Some(instance);
                        continue;
                    }
                    return Err(Error::provider_msg(
                        format!(
                            "no instance of endpoint '{}' could be reached; retry shortly",
                            self.name
                        ),
                        true,
                    )
                    .with_source(e));
                }
                Forwarded::Failed(what) => {
                    self.record_invocation(&instance, micros, 502);
                    return Err(Error::provider_msg(
                        format!("the model on endpoint '{}' {what}", self.name),
                        false,
                    ));
                }
                Forwarded::TimedOut => {
                    self.record_invocation(&instance, micros, 500);
                    return Err(Error::timeout(format!(
                        "the model on endpoint '{}' did not answer within {}s",
                        self.name,
                        timeout.as_secs()
                    )));
                }
                Forwarded::Answered {
                    status,
                    content_type,
                    body,
                } => {
                    self.record_invocation(&instance, micros, status);
                    if (200..300).contains(&status) {
                        let exchange = Exchange {
                            request_type: &request.content_type,
                            request: &request_body,
                            response_type: &content_type,
                            response: &body,
                        };
                        self.capture(&instance, &variant, &exchange);
                    }
                    return answer(&self.name, variant, status, content_type, body);
                }
            }
        }
    }

    /// Marks an instance that refused a connection `Failed`, so no further request is sent
    /// to it; a failure of this server's own resources blames nobody.
    fn take_out_if_gone(
        &self,
        instance: &InstanceHandle,
        error: &hyper_util::client::legacy::Error,
    ) {
        if connect_failure(error) == ConnectFailure::Refused
            && instance.status() == InstanceStatus::InService
        {
            instance.set_status(InstanceStatus::Failed);
            tracing::warn!(
                endpoint = %self.name,
                instance = instance.id,
                "instance refused a connection: out of rotation until it is restarted"
            );
        }
    }

    /// Hands a sampled answered invocation to the capture writer (never waits).
    fn capture(&self, instance: &InstanceHandle, variant: &VariantName, exchange: &Exchange<'_>) {
        let Some(tap) = &self.capture else {
            return;
        };
        let mut rng = rand::rng();
        if !tap.sampled(&mut rng) {
            return;
        }
        tap.offer(PendingRecord {
            endpoint: self.name.clone(),
            variant: variant.clone(),
            record: tap.record(exchange, &mut rng),
            metrics: Arc::clone(&self.metrics),
            variant_key: instance.variant_key.clone(),
            instance_key: instance.key.clone(),
        });
    }

    fn record_invocation(&self, instance: &InstanceHandle, micros: f64, status: u16) {
        let at = Utc::now();
        let sample = |kind, value| Sample {
            at,
            variant: instance.variant_key.clone(),
            instance: instance.key.clone(),
            kind,
            value,
        };
        let mut ring = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        ring.push(sample(MetricKind::Invocations, 1.0));
        ring.push(sample(MetricKind::ModelLatency, micros));
        match status {
            400..=499 => ring.push(sample(MetricKind::InvocationErrors4xx, 1.0)),
            500..=599 => ring.push(sample(MetricKind::InvocationErrors5xx, 1.0)),
            _ => {}
        }
    }
}

enum Forwarded {
    Unreachable(hyper_util::client::legacy::Error),
    TimedOut,
    /// The instance took the request but gave no usable answer (what it did is the text).
    Failed(&'static str),
    Answered {
        status: u16,
        content_type: String,
        body: Bytes,
    },
}

async fn forward(
    client: &HttpClient,
    instance: &InstanceHandle,
    request: &InvokeRequest,
    body: Bytes,
    timeout: Duration,
) -> Forwarded {
    let mut builder = hyper::Request::post(instance.invocations_uri.clone())
        .header(hyper::header::CONTENT_TYPE, &request.content_type);
    if let Some(accept) = &request.accept {
        builder = builder.header(hyper::header::ACCEPT, accept);
    }
    let Ok(http_request) = builder.body(Full::new(body)) else {
        return Forwarded::Answered {
            status: 400,
            content_type: "text/plain".into(),
            body: Bytes::from_static(b"the request's content type is not a valid header value"),
        };
    };
    let exchange = async {
        let response = client.request(http_request).await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let body = match Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => return Ok(Forwarded::Failed(ANSWER_TOO_LARGE)),
            Err(_) => {
                return Ok(Forwarded::Failed(
                    "closed the connection in the middle of its answer",
                ));
            }
        };
        Ok::<_, hyper_util::client::legacy::Error>(Forwarded::Answered {
            status,
            content_type,
            body,
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Forwarded::TimedOut,
        Ok(Err(e)) if e.is_connect() => Forwarded::Unreachable(e),
        Ok(Err(_)) => Forwarded::Failed("closed the connection without answering"),
        Ok(Ok(forwarded)) => forwarded,
    }
}

/// Turns the model's answer into a response or an error that quotes the model.
fn answer(
    endpoint: &EndpointName,
    variant: VariantName,
    status: u16,
    content_type: String,
    body: Bytes,
) -> Result<InvokeResponse> {
    if (200..300).contains(&status) {
        return Ok(InvokeResponse::new(
            body.to_vec(),
            content_type,
            Some(variant),
        ));
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
    if (400..500).contains(&status) {
        Err(Error::invalid(format!(
            "the model on endpoint '{endpoint}' rejected the request ({status}): {text}"
        )))
    } else {
        Err(Error::provider_msg(
            format!("the model on endpoint '{endpoint}' failed ({status}): {text}"),
            false,
        ))
    }
}
