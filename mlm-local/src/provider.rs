//! [`LocalProvider`]: the core traits over SQLite state and local processes.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::join_all;
use mlm_core::{
    Capabilities, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, Endpoint,
    EndpointManager, EndpointName, EndpointOverview, EndpointStatus, Error, Instance,
    InstanceMetrics, InstanceStatus, InvokeRequest, InvokeResponse, Measurement, MetricKind,
    MetricQuery, MetricSeries, Model, ModelName, ModelRegistry, ModelVersion, Observability, Page,
    PageRequest, Provider, ResourceKind, Result, UpdateEndpointRequest, UpdateModelRequest,
    UpdateVersionRequest, Variant, VariantSpec, VersionRef,
};
use tokio::task::JoinHandle;

use crate::artifacts::ArtifactStore;
use crate::config::LocalConfig;
use crate::instance::{HttpClient, InstanceHandle, Launch, Probe, http_client};
use crate::metrics::{ResourceSampler, Sample};
use crate::router::{EndpointRuntime, VariantRoute};
use crate::store::{LifecycleEvent, ProcessRecord, Store, StoredEndpoint};

/// The embedded backend: models and endpoints on this machine.
///
/// State lives in `<data_dir>/state.db` (SQLite); artifacts in a content-addressed store under
/// `<data_dir>/artifacts`; each endpoint instance is a process of an operator-configured
/// runtime, logging to `<data_dir>/logs/<endpoint>/<instance>.log`. Cloning is cheap and shares
/// everything.
#[derive(Clone)]
pub struct LocalProvider {
    inner: Arc<Inner>,
}

struct Inner {
    config: LocalConfig,
    store: Store,
    artifacts: ArtifactStore,
    client: HttpClient,
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
    monitor: Mutex<Option<JoinHandle<()>>>,
    shutting_down: AtomicBool,
    _data_dir_lock: File,
}

/// What the instances of one variant start from.
struct StartPlan<'a> {
    runtime: &'a crate::config::RuntimeConfig,
    model_dir: std::path::PathBuf,
    environment: mlm_core::Environment,
}

fn endpoint_resource(name: &EndpointName) -> String {
    format!("endpoint/{name}")
}

impl LocalProvider {
    /// Opens the data directory (creating it), recovers state left by an earlier run — stale
    /// instance processes are stopped, endpoints that were serving are started again — and
    /// starts the health monitor.
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
            Error::FailedPrecondition(format!(
                "data directory {} is in use by another mlm process",
                dir.display()
            ))
        })?;
        let store = Store::open(&dir.join("state.db"))?;
        let artifacts = ArtifactStore::new(dir.join("artifacts"), &config.artifact_roots)?
            .with_limits(config.max_artifact_bytes, config.max_artifact_files);
        let starts = tokio::sync::Semaphore::new(config.max_parallel_starts as usize);
        let provider = Self {
            inner: Arc::new(Inner {
                config,
                store,
                artifacts,
                client: http_client(),
                endpoints: RwLock::new(HashMap::new()),
                control: tokio::sync::Mutex::new(()),
                artifact_gc: tokio::sync::RwLock::new(()),
                sampler: Mutex::new(ResourceSampler::new()),
                starts,
                monitor: Mutex::new(None),
                shutting_down: AtomicBool::new(false),
                _data_dir_lock: lock,
            }),
        };
        provider.stop_stale_processes()?;
        provider.recover_endpoints()?;
        let monitor = tokio::spawn(monitor_loop(Arc::downgrade(&provider.inner)));
        *provider
            .inner
            .monitor
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(monitor);
        Ok(provider)
    }

    /// The configuration in force.
    pub fn config(&self) -> &LocalConfig {
        &self.inner.config
    }

    /// Drains and stops every instance, leaving state as it is so the next [`open`] brings the
    /// endpoints back. Call it before the process exits.
    ///
    /// [`open`]: Self::open
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        if let Some(monitor) = self
            .inner
            .monitor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            monitor.abort();
        }
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
    }

    /// Stops the monitor and forgets every instance *without* stopping its process, as if
    /// this server had been killed with `kill -9`. For recovery tests only.
    #[doc(hidden)]
    pub fn simulate_crash(self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        if let Some(monitor) = self
            .inner
            .monitor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            monitor.abort();
        }
        // Leak the instance handles so their kill-on-drop never fires; the data directory lock
        // is released with `inner`, as the OS would release it for a dead process.
        for rt in self.inner.runtimes() {
            for route in rt.table().iter() {
                for instance in &route.instances {
                    std::mem::forget(instance.clone());
                }
            }
        }
    }

    /// The process ids of an endpoint's instances (for tests and diagnostics).
    pub fn instance_pids(&self, name: &EndpointName) -> Vec<u32> {
        self.inner.each_instance(name, |i| i.pid)
    }

    /// The loopback ports of an endpoint's instances (for benchmarks and diagnostics).
    pub fn instance_ports(&self, name: &EndpointName) -> Vec<u16> {
        self.inner.each_instance(name, |i| i.port)
    }

    /// Lifecycle events of an endpoint, newest first.
    pub fn endpoint_events(&self, name: &EndpointName, limit: u32) -> Result<Vec<LifecycleEvent>> {
        self.inner.store.events(&endpoint_resource(name), limit)
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
            let rt = self.inner.add_runtime(&name);
            match stored.endpoint.status {
                EndpointStatus::Failed | EndpointStatus::OutOfService => {}
                EndpointStatus::Deleting => {
                    tokio::spawn(run_delete(self.inner.clone(), rt));
                }
                status => {
                    if stored.pending.take().is_some() {
                        stored.endpoint.failure_reason = Some(
                            "the server restarted during an update; the previous configuration \
                             was restored"
                                .into(),
                        );
                    }
                    stored.endpoint.status = if status == EndpointStatus::Creating {
                        EndpointStatus::Creating
                    } else {
                        EndpointStatus::SystemUpdating
                    };
                    self.inner.store.put_endpoint(&stored)?;
                    self.inner.log(&name, "recovering", None);
                    let specs: Vec<VariantSpec> = stored
                        .endpoint
                        .variants
                        .iter()
                        .map(Variant::to_spec)
                        .collect();
                    tokio::spawn(run_create(self.inner.clone(), rt, specs));
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
    if config.health_interval.is_zero() {
        return Err(Error::invalid("health_interval must be greater than 0"));
    }
    if config.max_instances == 0
        || config.max_instances_per_endpoint == 0
        || config.max_parallel_starts == 0
        || config.max_in_flight_per_instance == 0
    {
        return Err(Error::invalid(
            "max_instances, max_instances_per_endpoint, max_parallel_starts and \
             max_in_flight_per_instance must be greater than 0",
        ));
    }
    Ok(())
}

impl Inner {
    fn each_instance<T>(&self, name: &EndpointName, f: impl Fn(&InstanceHandle) -> T) -> Vec<T> {
        self.runtime(name)
            .map(|rt| {
                rt.table()
                    .iter()
                    .flat_map(|r| r.instances.iter().map(|i| f(i)))
                    .collect()
            })
            .unwrap_or_default()
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

    fn add_runtime(&self, name: &EndpointName) -> Arc<EndpointRuntime> {
        let rt = Arc::new(EndpointRuntime::new(
            name.clone(),
            self.config.metrics_retention,
            self.config.max_in_flight_per_instance,
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

    /// The endpoint as users see it: the stored record plus live instance counts. A variant
    /// with no healthy instance while the endpoint should be serving shows as
    /// `SystemUpdating`, with the reason, while instances are restarted.
    fn describe(&self, stored: StoredEndpoint) -> Endpoint {
        let mut endpoint = stored.endpoint;
        let Some(rt) = self.runtime(&endpoint.name) else {
            return endpoint;
        };
        let table = rt.table();
        let mut problems = Vec::new();
        let mut starved = false;
        for variant in &mut endpoint.variants {
            let route = table.iter().find(|r| r.spec.name == variant.name);
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

    /// Checks a variant set against this server: instance types, versions and runtimes exist.
    fn check_variants(&self, variants: &[VariantSpec]) -> Result<()> {
        let caps = local_capabilities();
        for v in variants {
            if v.serverless.is_some() && !caps.serverless {
                return Err(Error::Unsupported(format!(
                    "variant '{}': the local backend has no serverless capacity; give an \
                     instance_type and instance_count",
                    v.name
                )));
            }
            if v.autoscaling.is_some() && !caps.autoscaling {
                return Err(Error::Unsupported(format!(
                    "variant '{}': the local backend does not autoscale; scale with an update",
                    v.name
                )));
            }
            if let Some(t) = &v.instance_type
                && !self.config.instance_types.contains_key(t)
            {
                return Err(Error::invalid(format!(
                    "variant '{}': instance type '{t}' is not configured on this server \
                     (configured: {})",
                    v.name,
                    self.config
                        .instance_types
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let version = self
                .store
                .get_version(&v.model_version.model, v.model_version.version)?;
            if !self.config.runtimes.contains_key(&version.image) {
                return Err(Error::FailedPrecondition(format!(
                    "version {} uses runtime '{}', which is no longer configured on this server",
                    v.model_version, version.image
                )));
            }
        }
        Ok(())
    }

    /// Checks that `endpoint` may have the instances `target` asks for: within the
    /// per-endpoint cap (else 400), and within the server's cap together with what every other
    /// endpoint has or is moving to (else 409). Callers hold `control`.
    fn check_capacity(&self, endpoint: &EndpointName, target: &[VariantSpec]) -> Result<()> {
        let wanted: u32 = target.iter().map(|v| v.instance_count).sum();
        let per_endpoint = self.config.max_instances_per_endpoint;
        if wanted > per_endpoint {
            return Err(Error::invalid(format!(
                "endpoint '{endpoint}' asks for {wanted} instances; this server allows at most \
                 {per_endpoint} per endpoint (max_instances_per_endpoint)"
            )));
        }
        let others: u32 = self
            .store
            .all_endpoints()?
            .iter()
            .filter(|s| &s.endpoint.name != endpoint)
            .filter(|s| s.endpoint.status != EndpointStatus::Deleting)
            .map(|s| {
                let current = s.endpoint.desired_instance_count();
                let pending: u32 = s.pending.iter().flatten().map(|v| v.instance_count).sum();
                current.max(pending)
            })
            .sum();
        let total = self.config.max_instances;
        if others.saturating_add(wanted) > total {
            return Err(Error::FailedPrecondition(format!(
                "endpoint '{endpoint}' asks for {wanted} instances, but this server runs at most \
                 {total} (max_instances) and other endpoints have {others}: at most {} are free",
                total.saturating_sub(others)
            )));
        }
        Ok(())
    }

    /// Endpoints whose current or pending configuration serves `version`.
    fn endpoints_serving(&self, version: &VersionRef) -> Result<Vec<EndpointName>> {
        Ok(self
            .store
            .all_endpoints()?
            .into_iter()
            .filter(|s| {
                s.endpoint.serves(version)
                    || s.pending
                        .as_ref()
                        .is_some_and(|p| p.iter().any(|v| &v.model_version == version))
            })
            .map(|s| s.endpoint.name)
            .collect())
    }

    /// Starts `count` instances of a variant and waits until each answers `/ping`, at most
    /// `max_parallel_starts` at a time across the server. On any failure the ones started are
    /// stopped, those not started yet are not, and the first failure is returned.
    async fn start_instances(
        &self,
        rt: &EndpointRuntime,
        spec: &VariantSpec,
        count: u32,
    ) -> Result<Vec<Arc<InstanceHandle>>> {
        let plan = self.start_plan(spec)?;
        let abandon = AtomicBool::new(false);
        let results = join_all((0..count).map(|_| self.start_one(rt, spec, &plan, &abandon))).await;
        let mut started = Vec::new();
        let mut failure = None;
        for result in results {
            match result {
                Ok(instance) => started.push(instance),
                Err(Some(e)) if failure.is_none() => failure = Some(e),
                Err(_) => {}
            }
        }
        match failure {
            Some(e) => {
                self.stop_all(&rt.name, &started).await;
                Err(e)
            }
            None => Ok(started),
        }
    }

    /// What every instance of `spec` starts from, checked once per start: the runtime is still
    /// configured, the environment is still accepted, the artifact is stored.
    fn start_plan(&self, spec: &VariantSpec) -> Result<StartPlan<'_>> {
        let version = self
            .store
            .get_version(&spec.model_version.model, spec.model_version.version)?;
        let runtime = self.config.runtimes.get(&version.image).ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "runtime '{}' is no longer configured on this server",
                version.image
            ))
        })?;
        // Checked again at every start: the operator may have narrowed `allowed_env` since the
        // version was registered, and a stored row is not trusted more than a request.
        crate::environment::check_environment(&version.image, runtime, &version.environment)
            .map_err(|e| {
                Error::FailedPrecondition(format!(
                    "version {} cannot start: {}",
                    spec.model_version,
                    e.message()
                ))
            })?;
        let digest = version.artifact_digest.as_deref().ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "version {} has no stored artifact",
                spec.model_version
            ))
        })?;
        let model_dir = self.artifacts.path_of(digest)?;
        Ok(StartPlan {
            runtime,
            model_dir,
            environment: version.environment,
        })
    }

    /// Starts one instance once a start slot is free; `Err(None)` when it was not started
    /// because another instance of the same batch failed first.
    async fn start_one(
        &self,
        rt: &EndpointRuntime,
        spec: &VariantSpec,
        plan: &StartPlan<'_>,
        abandon: &AtomicBool,
    ) -> std::result::Result<Arc<InstanceHandle>, Option<Error>> {
        let _slot = self.starts.acquire().await.map_err(|_| None)?;
        if abandon.load(Ordering::SeqCst) {
            return Err(None);
        }
        let id = rt.next_instance_id(&spec.name);
        let log_path = self
            .config
            .data_dir
            .join("logs")
            .join(rt.name.as_str())
            .join(format!("{id}.log"));
        let launched = InstanceHandle::launch(Launch {
            id,
            variant: spec.name.clone(),
            runtime: plan.runtime,
            model_dir: &plan.model_dir,
            environment: &plan.environment,
            log_path,
        });
        let ready = match launched {
            Ok(instance) => {
                self.remember_process(&rt.name, &instance);
                let timeout = self.config.startup_timeout;
                match instance
                    .wait_ready(&self.client, timeout, &rt.deleting)
                    .await
                {
                    Ok(()) => return Ok(instance),
                    Err(e) => {
                        self.stop_all(&rt.name, std::slice::from_ref(&instance))
                            .await;
                        let output = instance.output_tail();
                        self.log(
                            &rt.name,
                            "instance_start_failed",
                            Some(&format!("{e}; last output: {output}")),
                        );
                        e
                    }
                }
            }
            Err(e) => e,
        };
        abandon.store(true, Ordering::SeqCst);
        Err(Some(ready))
    }

    fn remember_process(&self, endpoint: &EndpointName, instance: &InstanceHandle) {
        let start_time = self
            .sampler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .process_start_time(instance.pid);
        if let Some(start_time) = start_time {
            let record = ProcessRecord {
                endpoint: endpoint.to_string(),
                instance: instance.id.clone(),
                pid: instance.pid,
                start_time,
            };
            if let Err(e) = self.store.record_process(&record) {
                tracing::warn!("could not record instance process: {e}");
            }
        }
    }

    async fn stop_all(&self, endpoint: &EndpointName, instances: &[Arc<InstanceHandle>]) {
        join_all(instances.iter().map(|i| async move {
            i.drain_and_stop(self.config.drain_timeout).await;
            let _ = self.store.forget_process(endpoint.as_str(), &i.id);
        }))
        .await;
    }
}

/// Brings up every variant of a new (or recovered) endpoint, then marks it `InService`.
async fn run_create(inner: Arc<Inner>, rt: Arc<EndpointRuntime>, specs: Vec<VariantSpec>) {
    let _work = rt.work.lock().await;
    let mut table: Vec<VariantRoute> = Vec::new();
    for spec in specs {
        match inner.start_instances(&rt, &spec, spec.instance_count).await {
            Ok(instances) => table.push(VariantRoute { spec, instances }),
            Err(e) => {
                let all: Vec<_> = table.iter().flat_map(|r| r.instances.clone()).collect();
                inner.stop_all(&rt.name, &all).await;
                let reason = e.message();
                inner.log(&rt.name, "failed", Some(&reason));
                // A delete that cut the start short keeps its status (the store sees to it).
                inner.update_stored(&rt.name, |s| {
                    s.endpoint.status = EndpointStatus::Failed;
                    s.endpoint.failure_reason = Some(reason);
                });
                return;
            }
        }
    }
    let count: usize = table.iter().map(|r| r.instances.len()).sum();
    rt.set_table(table);
    inner.update_stored(&rt.name, |s| s.endpoint.status = EndpointStatus::InService);
    inner.log(
        &rt.name,
        "in_service",
        Some(&format!("{count} instance(s)")),
    );
}

/// Moves an endpoint to `target`: variants whose version and instance type are unchanged keep
/// their instances and are scaled; others get new instances, which take traffic only once all
/// are healthy. Instances leaving are drained before they stop, so no request fails. A failed
/// update leaves the previous configuration serving and says why.
async fn run_update(inner: Arc<Inner>, rt: Arc<EndpointRuntime>, target: Vec<VariantSpec>) {
    let _work = rt.work.lock().await;
    let current = rt.table();
    let mut table = Vec::new();
    let mut started: Vec<Arc<InstanceHandle>> = Vec::new();
    let mut retiring: Vec<Arc<InstanceHandle>> = Vec::new();
    let mut failure = None;
    for spec in &target {
        let keep = current.iter().find(|r| {
            r.spec.name == spec.name
                && r.spec.model_version == spec.model_version
                && r.spec.instance_type == spec.instance_type
        });
        let mut instances = keep.map(|r| r.instances.clone()).unwrap_or_default();
        let wanted = spec.instance_count as usize;
        if instances.len() > wanted {
            retiring.extend(instances.split_off(wanted));
        } else if instances.len() < wanted {
            match inner
                .start_instances(&rt, spec, (wanted - instances.len()) as u32)
                .await
            {
                Ok(new) => {
                    started.extend(new.iter().cloned());
                    instances.extend(new);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        table.push(VariantRoute {
            spec: spec.clone(),
            instances,
        });
    }
    if let Some(e) = failure {
        inner.stop_all(&rt.name, &started).await;
        let reason = format!(
            "update failed, the previous configuration keeps serving: {}",
            e.message()
        );
        inner.log(&rt.name, "update_failed", Some(&reason));
        inner.update_stored(&rt.name, |s| {
            s.pending = None;
            s.endpoint.status = EndpointStatus::InService;
            s.endpoint.failure_reason = Some(reason);
        });
        return;
    }
    for route in current.iter() {
        let kept = table.iter().any(|r| {
            r.spec.name == route.spec.name
                && r.spec.model_version == route.spec.model_version
                && r.spec.instance_type == route.spec.instance_type
        });
        if !kept {
            retiring.extend(route.instances.iter().cloned());
        }
    }
    rt.set_table(table);
    inner.stop_all(&rt.name, &retiring).await;
    inner.update_stored(&rt.name, |s| {
        s.endpoint.variants = target.iter().map(Variant::from_spec).collect();
        s.pending = None;
        s.endpoint.status = EndpointStatus::InService;
        s.endpoint.failure_reason = None;
    });
    inner.log(&rt.name, "updated", None);
}

/// Drains and stops everything, then forgets the endpoint.
async fn run_delete(inner: Arc<Inner>, rt: Arc<EndpointRuntime>) {
    let _work = rt.work.lock().await;
    let table = rt.table();
    rt.set_table(Vec::new());
    let all: Vec<_> = table.iter().flat_map(|r| r.instances.clone()).collect();
    inner.stop_all(&rt.name, &all).await;
    if let Err(e) = inner.store.delete_endpoint(&rt.name) {
        tracing::error!(endpoint = %rt.name, "could not delete endpoint record: {e}");
        return;
    }
    inner
        .endpoints
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&rt.name);
    inner.log(&rt.name, "deleted", None);
}

/// Every `health_interval`: sample resources, notice dead or hung instances, restart them with
/// backoff. Holds only a weak reference, so it ends when the provider is dropped.
async fn monitor_loop(weak: std::sync::Weak<Inner>) {
    let mut ping_failures: HashMap<(EndpointName, String), u32> = HashMap::new();
    loop {
        let interval = match weak.upgrade() {
            Some(inner) => inner.config.health_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let runtimes = inner.runtimes();
        let pids: Vec<u32> = runtimes
            .iter()
            .flat_map(|rt| {
                rt.table()
                    .iter()
                    .flat_map(|r| r.instances.iter().map(|i| i.pid))
                    .collect::<Vec<_>>()
            })
            .collect();
        let figures = inner
            .sampler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sample(&pids);
        let now = Utc::now();
        for rt in runtimes {
            let table = rt.table();
            let mut samples = Vec::new();
            for route in table.iter() {
                let vcpus = inner
                    .config
                    .instance_types
                    .get(route.spec.instance_type.as_deref().unwrap_or_default())
                    .and_then(|p| p.vcpus)
                    .unwrap_or(1)
                    .max(1);
                for instance in &route.instances {
                    let id = instance.key.clone();
                    let mut push = |kind, value| {
                        samples.push(Sample {
                            at: now,
                            variant: instance.variant_key.clone(),
                            instance: id.clone(),
                            kind,
                            value,
                        })
                    };
                    push(
                        MetricKind::InFlightRequests,
                        f64::from(instance.in_flight.load(Ordering::SeqCst)),
                    );
                    if let Some(f) = figures.get(&instance.pid) {
                        if let Some(cpu) = f.cpu_percent {
                            push(MetricKind::CpuUtilization, cpu / f64::from(vcpus));
                        }
                        if let Some(m) = f.memory_percent {
                            push(MetricKind::MemoryUtilization, m);
                        }
                        if let Some(g) = f.gpu_percent {
                            push(MetricKind::GpuUtilization, g);
                        }
                        if let Some(g) = f.gpu_memory_percent {
                            push(MetricKind::GpuMemoryUtilization, g);
                        }
                    }
                    check_instance(&inner, &rt, instance, &mut ping_failures).await;
                }
            }
            rt.record(samples);
            let live: Vec<&str> = table
                .iter()
                .flat_map(|r| r.instances.iter().map(|i| i.id.as_str()))
                .collect();
            rt.metrics
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain_instances(&live);
        }
    }
}

/// Marks a dead or unresponsive instance Failed and schedules its restart.
async fn check_instance(
    inner: &Arc<Inner>,
    rt: &Arc<EndpointRuntime>,
    instance: &Arc<InstanceHandle>,
    ping_failures: &mut HashMap<(EndpointName, String), u32>,
) {
    let key = (rt.name.clone(), instance.id.clone());
    match instance.status() {
        InstanceStatus::InService => {
            let reason = if let Some(exit) = instance.has_exited().await {
                Some(exit)
            } else {
                match instance.ping(&inner.client, Duration::from_secs(2)).await {
                    Probe::Healthy => {
                        ping_failures.remove(&key);
                        forget_backoff_when_settled(rt, instance);
                        None
                    }
                    // Our own shortage says nothing about the instance: no strike against it.
                    Probe::LocalResources => {
                        tracing::warn!(
                            endpoint = %rt.name,
                            instance = instance.id,
                            "cannot health-check the instance: this server is out of file \
                             descriptors or ports; raise the fd limit or lower max_connections"
                        );
                        None
                    }
                    Probe::Unhealthy => {
                        let failures = ping_failures.entry(key.clone()).or_default();
                        *failures += 1;
                        (*failures >= 3).then(|| "stopped answering /ping".to_string())
                    }
                }
            };
            if let Some(reason) = reason {
                ping_failures.remove(&key);
                instance.set_status(InstanceStatus::Failed);
                inner.log(
                    &rt.name,
                    "instance_failed",
                    Some(&format!(
                        "{}: {reason}; last output: {}",
                        instance.id,
                        instance.output_tail()
                    )),
                );
                schedule_restart(inner.clone(), rt.clone(), instance.clone());
            }
        }
        InstanceStatus::Failed => schedule_restart(inner.clone(), rt.clone(), instance.clone()),
        _ => {}
    }
}

/// Lets a slot's restart backoff start afresh once its instance has been healthy for long.
fn forget_backoff_when_settled(rt: &EndpointRuntime, instance: &InstanceHandle) {
    let settled = (Utc::now() - instance.started_at)
        .to_std()
        .is_ok_and(|age| age >= BACKOFF_RESET_AFTER);
    if settled {
        let mut restarts = rt.restarts.lock().unwrap_or_else(|p| p.into_inner());
        if restarts.get(&instance.id).is_some_and(|s| !s.in_progress) {
            restarts.remove(&instance.id);
        }
    }
}

/// How long a restarted instance must stay healthy before its slot's restart backoff starts
/// again from the shortest delay.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);

/// The delay before restart number `attempt` of one slot: 0.5 s doubling to 30 s.
fn restart_delay(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.clamp(1, 7).saturating_sub(1)))
        .min(Duration::from_secs(30))
}

/// Restarts a failed instance after an exponential backoff; at most one restart per instance
/// runs at a time. The backoff belongs to the slot, not to the process: the replacement
/// inherits the attempt count, which resets only after [`BACKOFF_RESET_AFTER`] of health, so
/// an instance that crashes soon after every start is restarted less and less often.
fn schedule_restart(inner: Arc<Inner>, rt: Arc<EndpointRuntime>, failed: Arc<InstanceHandle>) {
    let attempts = {
        let mut restarts = rt.restarts.lock().unwrap_or_else(|p| p.into_inner());
        let state = restarts.entry(failed.id.clone()).or_default();
        if state.in_progress {
            return;
        }
        state.in_progress = true;
        state.attempts += 1;
        state.attempts
    };
    let delay = restart_delay(attempts);
    inner.log(
        &rt.name,
        "restart_scheduled",
        Some(&format!(
            "{} in {:.1}s (attempt {attempts})",
            failed.id,
            delay.as_secs_f64()
        )),
    );
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let outcome = restart(&inner, &rt, &failed).await;
        let mut restarts = rt.restarts.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = restarts.remove(&failed.id).unwrap_or_default();
        state.in_progress = false;
        match outcome {
            Ok(Some(replacement)) => {
                restarts.insert(replacement, state);
            }
            Ok(None) => {}
            Err(e) => {
                restarts.insert(failed.id.clone(), state);
                drop(restarts);
                inner.log(
                    &rt.name,
                    "restart_failed",
                    Some(&format!("{}: {e}", failed.id)),
                );
            }
        }
    });
}

/// Replaces `failed` in the routing table with a new instance; answers the new instance's id,
/// or `None` when there was nothing to replace any more.
async fn restart(
    inner: &Arc<Inner>,
    rt: &Arc<EndpointRuntime>,
    failed: &Arc<InstanceHandle>,
) -> Result<Option<String>> {
    if inner.shutting_down.load(Ordering::SeqCst) {
        return Ok(None);
    }
    let _work = rt.work.lock().await;
    let table = rt.table();
    let Some(route) = table
        .iter()
        .find(|r| r.instances.iter().any(|i| Arc::ptr_eq(i, failed)))
    else {
        return Ok(None); // replaced or removed by lifecycle work meanwhile
    };
    failed.kill().await;
    let _ = inner.store.forget_process(rt.name.as_str(), &failed.id);
    let mut replacement = inner.start_instances(rt, &route.spec, 1).await?;
    let new = replacement.pop().expect("one instance was started");
    let new_table: Vec<VariantRoute> = table
        .iter()
        .map(|r| VariantRoute {
            spec: r.spec.clone(),
            instances: r
                .instances
                .iter()
                .map(|i| {
                    if Arc::ptr_eq(i, failed) {
                        new.clone()
                    } else {
                        i.clone()
                    }
                })
                .collect(),
        })
        .collect();
    rt.set_table(new_table);
    inner.log(
        &rt.name,
        "instance_restarted",
        Some(&format!("{} replaced {}", new.id, failed.id)),
    );
    Ok(Some(new.id.clone()))
}

fn local_capabilities() -> Capabilities {
    let mut caps = Capabilities::NONE;
    caps.gpu_metrics = true;
    caps.per_instance_metrics = true;
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

#[async_trait]
impl ModelRegistry for LocalProvider {
    async fn create_model(&self, request: CreateModelRequest) -> Result<Model> {
        request.validate()?;
        let model = Model::new(request.name, request.description, request.tags, Utc::now());
        self.inner.store.insert_model(&model)?;
        Ok(model)
    }

    async fn get_model(&self, name: &ModelName) -> Result<Model> {
        self.inner.store.get_model(name)
    }

    async fn list_models(&self, page: PageRequest) -> Result<Page<Model>> {
        self.inner.store.list_models(&page)
    }

    async fn update_model(&self, name: &ModelName, request: UpdateModelRequest) -> Result<Model> {
        request.validate()?;
        let _control = self.inner.control.lock().await;
        let mut model = self.inner.store.get_model(name)?;
        request.apply(&mut model, Utc::now());
        self.inner.store.put_model(&model)?;
        Ok(model)
    }

    async fn delete_model(&self, name: &ModelName) -> Result<()> {
        let _control = self.inner.control.lock().await;
        self.inner.store.delete_model(name)
    }

    async fn create_version(&self, request: CreateVersionRequest) -> Result<ModelVersion> {
        request.validate()?;
        if !self.inner.config.runtimes.contains_key(&request.image) {
            let configured: Vec<&str> = self
                .inner
                .config
                .runtimes
                .keys()
                .map(String::as_str)
                .collect();
            return Err(Error::invalid(format!(
                "image '{}' is not one of the local backend's runtimes (configured: {}); the \
                 local backend runs only runtimes from its configuration: `runtimes` of \
                 LocalConfig, `[local.runtimes.NAME]` in mlm serve's file, or `config=` / \
                 `config_path=` of mlm.Client.local",
                request.image,
                if configured.is_empty() {
                    "none".to_string()
                } else {
                    configured.join(", ")
                }
            )));
        }
        let runtime = &self.inner.config.runtimes[&request.image];
        crate::environment::check_environment(&request.image, runtime, &request.environment)?;
        // A missing model is reported before any artifact is copied.
        self.inner.store.get_model(&request.model)?;
        let _no_gc = self.inner.artifact_gc.read().await;
        let artifacts = self.inner.clone();
        let uri = request.artifact_uri.clone();
        let stored = tokio::task::spawn_blocking(move || artifacts.artifacts.import(&uri))
            .await
            .map_err(|e| Error::provider("artifact import stopped", e))??;
        let mut version = ModelVersion::from_request(request, 0, Some(stored.digest), Utc::now());
        self.inner.store.insert_version(&mut version)?;
        Ok(version)
    }

    async fn get_version(&self, model: &ModelName, version: u32) -> Result<ModelVersion> {
        self.inner.store.get_version(model, version)
    }

    async fn list_versions(
        &self,
        model: &ModelName,
        page: PageRequest,
    ) -> Result<Page<ModelVersion>> {
        self.inner.store.list_versions(model, &page)
    }

    async fn update_version(
        &self,
        model: &ModelName,
        version: u32,
        request: UpdateVersionRequest,
    ) -> Result<ModelVersion> {
        request.validate()?;
        let _control = self.inner.control.lock().await;
        let mut v = self.inner.store.get_version(model, version)?;
        request.apply(&mut v, Utc::now());
        self.inner.store.put_version(&v)?;
        Ok(v)
    }

    async fn delete_version(&self, model: &ModelName, version: u32) -> Result<()> {
        let _control = self.inner.control.lock().await;
        let reference = VersionRef::new(model.clone(), version);
        self.inner.store.get_version(model, version)?;
        let serving = self.inner.endpoints_serving(&reference)?;
        if !serving.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "version {reference} is deployed on endpoint(s) {}: update or delete them first",
                serving
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.inner.store.delete_version(model, version)?;
        // Artifacts no version refers to any more are garbage; removing them is best effort.
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _gc = inner.artifact_gc.write().await;
            let collect = inner.clone();
            let removed = tokio::task::spawn_blocking(move || {
                let keep = collect.store.artifact_digests()?;
                collect.artifacts.remove_unreferenced(&keep)
            })
            .await;
            if let Ok(Err(e)) = removed {
                tracing::warn!("could not remove unreferenced artifacts: {e}");
            }
        });
        Ok(())
    }
}

#[async_trait]
impl EndpointManager for LocalProvider {
    async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        request.validate()?;
        if request.data_capture.is_some() {
            return Err(Error::Unsupported(
                "the local backend does not capture data".into(),
            ));
        }
        if request.deployment.is_some() {
            return Err(Error::Unsupported(
                "the local backend always rolls out new instances before draining old ones; \
                 canary and linear deployment policies are not available"
                    .into(),
            ));
        }
        let _control = self.inner.control.lock().await;
        self.inner.check_variants(&request.variants)?;
        self.inner
            .check_capacity(&request.name, &request.variants)?;
        let endpoint = Endpoint::from_request(&request, EndpointStatus::Creating, Utc::now());
        self.inner.store.insert_endpoint(&StoredEndpoint {
            endpoint: endpoint.clone(),
            pending: None,
        })?;
        let rt = self.inner.add_runtime(&request.name);
        self.inner.log(&request.name, "creating", None);
        tokio::spawn(run_create(self.inner.clone(), rt, request.variants));
        Ok(endpoint)
    }

    async fn get_endpoint(&self, name: &EndpointName) -> Result<Endpoint> {
        let stored = self.inner.store.get_endpoint(name)?;
        Ok(self.inner.describe(stored))
    }

    async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>> {
        let page = self.inner.store.list_endpoints(&page)?;
        Ok(page.map(|s| self.inner.describe(s)))
    }

    async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
        if request.deployment.is_some() {
            return Err(Error::Unsupported(
                "the local backend has no canary or linear deployment policies".into(),
            ));
        }
        let _control = self.inner.control.lock().await;
        let mut stored = self.inner.store.get_endpoint(&request.name)?;
        if !stored.endpoint.status.accepts_updates() {
            return Err(Error::FailedPrecondition(format!(
                "endpoint '{}' is {}: wait until it is InService",
                request.name, stored.endpoint.status
            )));
        }
        let plan = request.plan(&stored.endpoint)?;
        self.inner.check_variants(&plan.target)?;
        self.inner.check_capacity(&request.name, &plan.target)?;
        let rt = self
            .inner
            .runtime(&request.name)
            .ok_or_else(|| Error::not_found(ResourceKind::Endpoint, &request.name))?;
        stored.endpoint.status = EndpointStatus::Updating;
        stored.endpoint.updated_at = Utc::now();
        stored.pending = Some(plan.target.clone());
        self.inner.store.put_endpoint(&stored)?;
        self.inner
            .log(&request.name, "updating", Some(&format!("{:?}", plan.kind)));
        tokio::spawn(run_update(self.inner.clone(), rt, plan.target));
        Ok(self.inner.describe(stored))
    }

    async fn delete_endpoint(&self, name: &EndpointName) -> Result<()> {
        let _control = self.inner.control.lock().await;
        let mut stored = self.inner.store.get_endpoint(name)?;
        if stored.endpoint.status == EndpointStatus::Deleting {
            return Ok(());
        }
        stored.endpoint.status = EndpointStatus::Deleting;
        stored.endpoint.updated_at = Utc::now();
        self.inner.store.put_endpoint(&stored)?;
        let rt = self
            .inner
            .runtime(name)
            .unwrap_or_else(|| self.inner.add_runtime(name));
        // Instances still starting stop waiting, so the delete does not wait out a startup.
        rt.deleting.store(true, Ordering::SeqCst);
        self.inner.log(name, "deleting", None);
        tokio::spawn(run_delete(self.inner.clone(), rt));
        Ok(())
    }

    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse> {
        let rt = self
            .inner
            .runtime(&request.endpoint)
            .ok_or_else(|| Error::not_found(ResourceKind::Endpoint, &request.endpoint))?;
        if rt.table().is_empty() {
            let stored = self.inner.store.get_endpoint(&request.endpoint)?;
            return Err(Error::FailedPrecondition(format!(
                "endpoint '{}' is {}: it has no instances to serve requests",
                request.endpoint, stored.endpoint.status
            )));
        }
        rt.invoke(
            &self.inner.client,
            request,
            self.inner.config.invoke_timeout,
        )
        .await
    }
}

#[async_trait]
impl Observability for LocalProvider {
    async fn endpoint_overview(&self, name: &EndpointName) -> Result<EndpointOverview> {
        let stored = self.inner.store.get_endpoint(name)?;
        Ok(self.inner.overview(stored))
    }

    async fn list_overviews(&self, page: PageRequest) -> Result<Page<EndpointOverview>> {
        let page = self.inner.store.list_endpoints(&page)?;
        Ok(page.map(|s| self.inner.overview(s)))
    }

    async fn query_metrics(&self, query: MetricQuery) -> Result<Vec<MetricSeries>> {
        query.validate()?;
        let rt = self
            .inner
            .runtime(&query.endpoint)
            .ok_or_else(|| Error::not_found(ResourceKind::Endpoint, &query.endpoint))?;
        let ring = rt.metrics.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ring.query(&query))
    }
}

impl Inner {
    fn overview(&self, stored: StoredEndpoint) -> EndpointOverview {
        let endpoint = self.describe(stored);
        let instances = self
            .runtime(&endpoint.name)
            .map(|rt| self.instance_rows(&rt))
            .unwrap_or_default();
        EndpointOverview::new(&endpoint, instances, Utc::now())
    }

    fn instance_rows(&self, rt: &EndpointRuntime) -> Vec<Instance> {
        let ring = rt.metrics.lock().unwrap_or_else(|p| p.into_inner());
        rt.table()
            .iter()
            .flat_map(|route| route.instances.iter())
            .map(|i| {
                let figure = |kind| ring.latest(&i.id, kind).map(Measurement::instance);
                let mut metrics = InstanceMetrics::default();
                metrics.gpu_utilization = figure(MetricKind::GpuUtilization);
                metrics.gpu_memory_utilization = figure(MetricKind::GpuMemoryUtilization);
                metrics.cpu_utilization = figure(MetricKind::CpuUtilization);
                metrics.memory_utilization = figure(MetricKind::MemoryUtilization);
                // In-flight is exact and live, straight from the router.
                metrics.in_flight_requests = Some(Measurement::instance(f64::from(
                    i.in_flight.load(Ordering::SeqCst),
                )));
                let mut row = Instance::new(i.id.clone(), i.variant.clone(), i.status());
                row.metrics = metrics;
                row.started_at = Some(i.started_at);
                row
            })
            .collect()
    }
}
