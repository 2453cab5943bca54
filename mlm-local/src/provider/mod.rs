//! [`LocalProvider`]: the core traits over SQLite state and local processes.
//!
//! One file per concern:
//! - this module: the provider and the state its parts share (`Inner`), opening a data
//!   directory, recovering what an earlier run left, shutting down, and the shared helpers;
//! - `registry`: models and versions (`ModelRegistry`);
//! - `endpoints`: the endpoint lifecycle (`EndpointManager`): admission checks, invocation, and
//!   the create, update and delete work that runs in the background;
//! - `instances`: starting instance processes (checked, bounded) and stopping them;
//! - `rollout`: rolling a new configuration out beside the old one, per deployment policy,
//!   with rollback alarms;
//! - `deployments`: the deployment records of creates and updates (`Deployments`);
//! - `drift`: drift baselines kept with their endpoint, reports over captured traffic (`Drift`);
//! - `captures`: reading captured records back (`Captures`); the router samples and the
//!   writer of `crate::capture` writes them;
//! - `dashboards`: none locally (`Dashboards` is `Unsupported`);
//! - `alarms`: alarms and their evaluation from the metric history (`Alarms`);
//! - `autoscaling`: target tracking of autoscaling policies, changing counts in place;
//! - `serverless`: serverless variants: cold starts, scale to zero, memory limits;
//! - `health`: the health monitor: resource samples, failure detection, restarts with backoff;
//! - `observability`: overviews, instance rows and metrics (`Observability`);
//! - `test_hooks`: hooks for tests and benchmarks, behind the `test-util` feature.

mod alarms;
mod autoscaling;
mod captures;
mod dashboards;
mod deployments;
mod drift;
mod endpoints;
mod events;
mod health;
mod instances;
mod observability;
mod pipelines;
mod registry;
mod rollout;
mod serverless;
#[cfg(feature = "test-util")]
mod test_hooks;

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::Utc;
use futures::future::join_all;
use mlm_core::{
    Capabilities, DataCaptureConfig, Endpoint, EndpointName, EndpointStatus, Error, InstanceStatus,
    Provider, Result, Variant, VariantSpec,
};
use tokio::task::JoinHandle;

use crate::artifacts::ArtifactStore;
use crate::capture::{CaptureLimits, CaptureMessage, CaptureTap, captures_root, start_writer};
use crate::config::LocalConfig;
use crate::instance::{HttpClient, http_client};
use crate::metrics::ResourceSampler;
use crate::router::{EndpointRuntime, Fleet, VariantRoute};
use crate::store::{Store, StoredEndpoint, endpoint_resource};

use alarms::alarm_loop;
use autoscaling::autoscale_loop;
use endpoints::{run_create, run_delete};
use health::monitor_loop;
use pipelines::pipeline_loop;
use serverless::serverless_loop;

/// The embedded backend: models and endpoints on this machine.
///
/// State lives in `<data_dir>/state.db` (SQLite); artifacts in a content-addressed store under
/// `<data_dir>/artifacts`; each endpoint instance is a process of an operator-configured
/// runtime, logging to `<data_dir>/logs/<endpoint>/<instance>.log`. Cloning is cheap and shares
/// everything.
///
/// With the `test-util` feature it also has hooks for tests and benchmarks:
/// `simulate_crash`, `instance_pids`, `instance_ports` and `endpoint_events`.
#[derive(Clone)]
pub struct LocalProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("data_dir", &self.inner.config.data_dir)
            .finish_non_exhaustive()
    }
}

/// What the parts of the provider share: configuration, state, live endpoints, locks.
struct Inner {
    config: LocalConfig,
    store: Store,
    artifacts: ArtifactStore,
    client: HttpClient,
    /// The capture writer's queue.
    captures: tokio::sync::mpsc::Sender<CaptureMessage>,
    endpoints: RwLock<HashMap<EndpointName, Arc<EndpointRuntime>>>,
    /// Serialises checks-then-writes across resources (a version is not deleted while an
    /// endpoint that serves it is being created).
    control: tokio::sync::Mutex<()>,
    /// Imports hold it shared until their version is recorded; artifact garbage collection
    /// holds it exclusively, so it never removes an artifact a new version is about to use.
    artifact_gc: tokio::sync::RwLock<()>,
    sampler: Mutex<ResourceSampler>,
    /// Bounds how many instances start at once across the server (`max_parallel_starts`).
    starts: tokio::sync::Semaphore,
    /// Serialises read-modify-writes of deployment records (a stop against the next step).
    deployment_changes: Mutex<()>,
    /// The health monitor, the alarm evaluator, the autoscaler and the serverless upkeep.
    monitor: Mutex<Vec<JoinHandle<()>>>,
    shutting_down: AtomicBool,
    _data_dir_lock: File,
}

/// Waits one period of a background loop (`period` of the configuration in force): the
/// provider then, or `None` when it was dropped or is shutting down (the loop ends).
async fn next_tick(
    weak: &std::sync::Weak<Inner>,
    period: impl Fn(&LocalConfig) -> std::time::Duration,
) -> Option<Arc<Inner>> {
    let period = period(&weak.upgrade()?.config);
    tokio::time::sleep(period).await;
    let inner = weak.upgrade()?;
    (!inner.shutting_down.load(Ordering::SeqCst)).then_some(inner)
}

impl LocalProvider {
    /// Opens the data directory (creating it), recovers state left by an earlier run — stale
    /// instance processes are stopped, endpoints that were serving are started again, an
    /// update that was running is rolled back — and starts the health monitor, the alarm
    /// evaluator and the autoscaler.
    ///
    /// Fails with `FailedPrecondition` when another process has the data directory open.
    pub async fn open(config: LocalConfig) -> Result<Self> {
        validate_config(&config)?;
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::provider(format!("cannot create data directory {}", dir.display()), e)
        })?;
        let lock = File::create(dir.join("lock"))
            .map_err(|e| Error::provider("cannot create the data directory lock", e))?;
        lock.try_lock().map_err(|_| {
            Error::failed_precondition(format!(
                "data directory {} is in use by another mlm process",
                dir.display()
            ))
        })?;
        let store = Store::open(&dir.join("state.db"))?;
        let artifacts = ArtifactStore::new(dir.join("artifacts"), &config.artifact_roots)?
            .with_limits(config.max_artifact_bytes, config.max_artifact_files);
        let starts = tokio::sync::Semaphore::new(config.max_parallel_starts as usize);
        let captures = start_writer(
            captures_root(&dir),
            CaptureLimits {
                max_file_bytes: config.capture_max_file_bytes,
                max_total_bytes: config.capture_max_total_bytes,
                queue: config.capture_queue as usize,
            },
        );
        let provider = Self {
            inner: Arc::new(Inner {
                config,
                store,
                artifacts,
                client: http_client(),
                captures,
                endpoints: RwLock::new(HashMap::new()),
                control: tokio::sync::Mutex::new(()),
                artifact_gc: tokio::sync::RwLock::new(()),
                sampler: Mutex::new(ResourceSampler::new()),
                starts,
                deployment_changes: Mutex::new(()),
                monitor: Mutex::new(Vec::new()),
                shutting_down: AtomicBool::new(false),
                _data_dir_lock: lock,
            }),
        };
        provider.stop_stale_processes()?;
        provider.recover_endpoints()?;
        let weak = Arc::downgrade(&provider.inner);
        *provider
            .inner
            .monitor
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = vec![
            tokio::spawn(monitor_loop(weak.clone())),
            tokio::spawn(alarm_loop(weak.clone())),
            tokio::spawn(autoscale_loop(weak.clone())),
            tokio::spawn(serverless_loop(weak.clone())),
            tokio::spawn(pipeline_loop(weak)),
        ];
        Ok(provider)
    }

    /// The configuration in force.
    pub fn config(&self) -> &LocalConfig {
        &self.inner.config
    }

    /// Drains and stops every instance and writes out every captured record, leaving state as
    /// it is so the next [`open`] brings the endpoints back. Call it before the process exits.
    ///
    /// [`open`]: Self::open
    pub async fn shutdown(&self) {
        self.inner.stop_monitor();
        let runtimes: Vec<Arc<EndpointRuntime>> = self.inner.runtimes();
        let mut stops = Vec::new();
        for rt in runtimes {
            for route in rt.table().iter() {
                for instance in &route.instances {
                    let inner = self.inner.clone();
                    let endpoint = rt.name.clone();
                    let instance = instance.clone();
                    stops.push(async move {
                        instance.drain_and_stop(inner.config.drain_timeout).await;
                        let _ = inner.store.forget_process(endpoint.as_str(), &instance.id);
                    });
                }
            }
            rt.set_table(Vec::new());
        }
        join_all(stops).await;
        // The writer thread batches: without this, a process that exits right after an
        // invocation (`mlm invoke` on the local backend) loses its record.
        crate::capture::flush(&self.inner.captures).await;
    }

    fn stop_stale_processes(&self) -> Result<()> {
        let records = self.inner.store.take_processes()?;
        let mut sampler = self.inner.sampler.lock().unwrap_or_else(|p| p.into_inner());
        for record in records {
            // Only a process that started when ours did is ours: pids are reused.
            if sampler.process_start_time(record.pid) == Some(record.start_time) {
                tracing::warn!(
                    endpoint = record.endpoint,
                    instance = record.instance,
                    pid = record.pid,
                    "stopping an instance process left by an earlier run"
                );
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(record.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        Ok(())
    }

    fn recover_endpoints(&self) -> Result<()> {
        for mut stored in self.inner.store.all_endpoints()? {
            let name = stored.endpoint.name.clone();
            let rt = self
                .inner
                .add_runtime(&name, stored.endpoint.data_capture.as_ref());
            match stored.endpoint.status {
                EndpointStatus::Failed | EndpointStatus::OutOfService => {}
                EndpointStatus::Deleting => {
                    tokio::spawn(run_delete(self.inner.clone(), rt));
                }
                status => {
                    let finishing = self.inner.recover_deployment(&mut stored)?;
                    stored.endpoint.status = if status == EndpointStatus::Creating {
                        EndpointStatus::Creating
                    } else {
                        EndpointStatus::SystemUpdating
                    };
                    self.inner.store.put_endpoint(&stored)?;
                    self.inner.log(&name, "recovering", None);
                    // Every local variant was created with a version.
                    let specs: Vec<VariantSpec> = stored
                        .endpoint
                        .variants
                        .iter()
                        .filter_map(Variant::to_spec)
                        .collect();
                    tokio::spawn(run_create(self.inner.clone(), rt, specs, finishing));
                }
            }
        }
        Ok(())
    }
}

fn validate_config(config: &LocalConfig) -> Result<()> {
    if config.instance_types.is_empty() {
        return Err(Error::invalid(
            "the local backend needs at least one instance type",
        ));
    }
    for (name, runtime) in &config.runtimes {
        if runtime.command.trim().is_empty() {
            return Err(Error::invalid(format!(
                "runtime '{name}' has an empty command"
            )));
        }
        crate::environment::check_allowed_patterns(name, runtime)?;
    }
    if config.health_interval.is_zero()
        || config.autoscaling_interval.is_zero()
        || config.autoscaling_window.is_zero()
        || config.serverless_idle.is_zero()
    {
        return Err(Error::invalid(
            "health_interval, autoscaling_interval, autoscaling_window and serverless_idle must \
             be greater than 0",
        ));
    }
    if config.max_instances == 0
        || config.max_instances_per_endpoint == 0
        || config.max_parallel_starts == 0
        || config.max_in_flight_per_instance == 0
        || config.capture_max_file_bytes == 0
        || config.capture_queue == 0
    {
        return Err(Error::invalid(
            "max_instances, max_instances_per_endpoint, max_parallel_starts, \
             max_in_flight_per_instance, capture_max_file_bytes and capture_queue must be \
             greater than 0",
        ));
    }
    Ok(())
}

impl Inner {
    /// Marks the provider as shutting down (running deployments give up) and stops the
    /// health monitor, the alarm evaluator and the autoscaler.
    fn stop_monitor(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for task in self
            .monitor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    fn runtimes(&self) -> Vec<Arc<EndpointRuntime>> {
        self.endpoints
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn runtime(&self, name: &EndpointName) -> Option<Arc<EndpointRuntime>> {
        self.endpoints
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The in-memory state of a new or recovered endpoint, capturing data as `capture` says.
    fn add_runtime(
        &self,
        name: &EndpointName,
        capture: Option<&DataCaptureConfig>,
    ) -> Arc<EndpointRuntime> {
        let tap = capture.map(|config| CaptureTap {
            config: config.clone(),
            tx: self.captures.clone(),
        });
        let rt = Arc::new(EndpointRuntime::new(
            name.clone(),
            self.config.metrics_retention,
            self.config.max_in_flight_per_instance,
            tap,
        ));
        self.endpoints
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), rt.clone());
        rt
    }

    fn log(&self, name: &EndpointName, event: &str, detail: Option<&str>) {
        if let Err(e) = self
            .store
            .log_event(&endpoint_resource(name), event, detail)
        {
            tracing::warn!(endpoint = %name, "could not log event {event}: {e}");
        }
        match detail {
            Some(d) => tracing::info!(endpoint = %name, detail = d, "{event}"),
            None => tracing::info!(endpoint = %name, "{event}"),
        }
    }

    /// Reads, changes and writes an endpoint record; a record deleted meanwhile is left alone.
    fn update_stored(&self, name: &EndpointName, change: impl FnOnce(&mut StoredEndpoint)) {
        match self.store.get_endpoint(name) {
            Ok(mut stored) => {
                change(&mut stored);
                stored.endpoint.updated_at = Utc::now();
                match self.store.put_endpoint(&stored) {
                    Ok(()) => {}
                    // A delete was accepted meanwhile: it wins, and this write is moot.
                    Err(Error::FailedPrecondition(why)) => {
                        tracing::debug!(endpoint = %name, "state not saved: {why}");
                    }
                    Err(e) => {
                        tracing::error!(endpoint = %name, "could not save endpoint state: {e}");
                    }
                }
            }
            Err(e) => tracing::debug!(endpoint = %name, "endpoint record gone: {e}"),
        }
    }

    /// The endpoint as users see it: the stored record plus its latest deployment and live
    /// instance counts (of the configuration in force). A variant with no healthy instance
    /// while the endpoint should be serving shows as `SystemUpdating`, with the reason, while
    /// instances are restarted.
    fn describe(&self, stored: StoredEndpoint) -> Endpoint {
        let mut endpoint = stored.endpoint;
        endpoint.last_deployment = self.last_deployment(&endpoint.name);
        let Some(rt) = self.runtime(&endpoint.name) else {
            return endpoint;
        };
        let table = rt.table();
        let mut problems = Vec::new();
        let mut starved = false;
        for variant in &mut endpoint.variants {
            let route = table
                .iter()
                .find(|r| r.fleet == Fleet::Current && r.spec.name == variant.name);
            let healthy = route.map_or(0, VariantRoute::healthy_count);
            variant.current_instance_count = Some(healthy);
            if let Some(route) = route {
                for i in &route.instances {
                    if i.status() == InstanceStatus::Failed {
                        problems.push(format!(
                            "instance {} failed ({}); restarting",
                            i.id,
                            i.exit_reason()
                                .unwrap_or_else(|| "not answering /ping".into())
                        ));
                    }
                }
                starved |= healthy == 0;
            }
        }
        if endpoint.status == EndpointStatus::InService && !problems.is_empty() {
            endpoint.failure_reason = Some(problems.join("; "));
            if starved {
                endpoint.status = EndpointStatus::SystemUpdating;
            }
        }
        endpoint
    }
}

fn local_capabilities() -> Capabilities {
    let mut caps = Capabilities::NONE;
    caps.gpu_metrics = true;
    caps.per_instance_metrics = true;
    caps.deployment_policies = true;
    caps.alarms = true;
    caps.autoscaling = true;
    caps.serverless = true;
    caps.events = true;
    caps.data_capture = true;
    caps.drift = true;
    caps.pipelines = true;
    caps
}

impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        local_capabilities()
    }
}
