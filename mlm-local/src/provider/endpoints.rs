//! The endpoint lifecycle: the `EndpointManager` half of the local backend. Requests are
//! checked and recorded here (each create and update as a deployment); the work they start
//! (bring instances up, scale, roll out a new configuration — see `rollout` — tear an
//! endpoint down) runs in the background and records its outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::Utc;
use mlm_core::{
    CreateEndpointRequest, DeploymentKind, DeploymentPhase, DeploymentPolicy, Endpoint,
    EndpointManager, EndpointName, EndpointStatus, Error, InvokeRequest, InvokeResponse, Page,
    PageRequest, ResourceKind, Result, UpdateEndpointRequest, UpdateKind, Variant, VariantSpec,
};

use super::deployments::STOPPED_BY_USER;
use super::rollout::run_rollout;
use super::{Inner, LocalProvider, local_capabilities, serverless};
use crate::instance::InstanceHandle;
use crate::router::{EndpointRuntime, Fleet, VariantRoute};
use crate::store::StoredEndpoint;

#[async_trait]
impl EndpointManager for LocalProvider {
    async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
        request.validate()?;
        let _control = self.inner.control.lock().await;
        self.inner.check_variants(&request.variants)?;
        self.inner
            .check_capacity(&request.name, &request.variants)?;
        let mut endpoint = Endpoint::from_request(&request, EndpointStatus::Creating, Utc::now());
        self.inner.store.insert_endpoint(&StoredEndpoint {
            endpoint: endpoint.clone(),
            pending: None,
        })?;
        let rt = self
            .inner
            .add_runtime(&request.name, request.data_capture.as_ref());
        self.inner.log(&request.name, "creating", None);
        // A create has no old fleet to shift from: its policy is for later updates.
        let deployment = self.inner.start_deployment(
            &request.name,
            DeploymentKind::Create,
            endpoint.variants.clone(),
            request.deployment.clone(),
        )?;
        endpoint.last_deployment = Some(deployment.summary());
        tokio::spawn(run_create(
            self.inner.clone(),
            rt,
            request.variants,
            Some(deployment.id),
        ));
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
        let _control = self.inner.control.lock().await;
        let mut stored = self.inner.store.get_endpoint(&request.name)?;
        if !stored.endpoint.status.accepts_updates() {
            return Err(Error::failed_precondition(format!(
                "endpoint '{}' is {}: wait until it is InService",
                request.name, stored.endpoint.status
            )));
        }
        let plan = request.plan(&stored.endpoint)?;
        // Every local variant was created with a version, so this always succeeds.
        let target = plan.specs()?;
        self.inner.check_variants(&target)?;
        self.inner.check_capacity(&request.name, &target)?;
        let rt = self
            .inner
            .runtime(&request.name)
            .ok_or_else(|| Error::not_found(ResourceKind::Endpoint, &request.name))?;
        // A capacity-only update scales in place: no traffic moves, so no policy applies.
        let policy = match plan.kind {
            UpdateKind::CapacityOnly => None,
            _ => request
                .deployment
                .clone()
                .or_else(|| stored.endpoint.deployment.clone()),
        };
        self.inner
            .check_rollback_alarms(&request.name, policy.as_ref())?;
        let deployment = self.inner.start_deployment(
            &request.name,
            DeploymentKind::Update,
            plan.target.clone(),
            policy,
        )?;
        // The policy given is the endpoint's from now on, as on AWS.
        if let Some(p) = &request.deployment {
            stored.endpoint.deployment = Some(p.clone());
        }
        stored.endpoint.status = EndpointStatus::Updating;
        stored.endpoint.updated_at = Utc::now();
        stored.pending = Some(target.clone());
        self.inner.store.put_endpoint(&stored)?;
        self.inner
            .log(&request.name, "updating", Some(&format!("{:?}", plan.kind)));
        let inner = self.inner.clone();
        match plan.kind {
            UpdateKind::CapacityOnly => tokio::spawn(run_scale(inner, rt, target, deployment.id)),
            _ => tokio::spawn(run_rollout(inner, rt, deployment, target)),
        };
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
            .unwrap_or_else(|| self.inner.add_runtime(name, None));
        // Instances still starting stop waiting, so the delete does not wait out a startup,
        // and a running deployment ends.
        rt.deleting.store(true, Ordering::SeqCst);
        rt.stop_deployment.store(true, Ordering::SeqCst);
        rt.stop_signal.notify_one();
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
            return Err(Error::failed_precondition(format!(
                "endpoint '{}' is {}: it has no instances to serve requests",
                request.endpoint, stored.endpoint.status
            )));
        }
        let timeout = self.inner.config.invoke_timeout;
        let target = request.target_variant.clone();
        self.inner.warm_serverless(&rt, target.as_ref()).await?;
        let serverless = rt.table().iter().any(|r| r.spec.serverless.is_some());
        if !serverless {
            return rt.invoke(&self.inner.client, request, timeout).await;
        }
        // A serverless instance may scale to zero between the warm-up and the pick: then the
        // request cold-starts it once more. The payload is kept for that second try.
        match rt
            .invoke(&self.inner.client, request.clone(), timeout)
            .await
        {
            Err(Error::Provider {
                retryable: true, ..
            }) => {
                self.inner.warm_serverless(&rt, target.as_ref()).await?;
                rt.invoke(&self.inner.client, request, timeout).await
            }
            other => other,
        }
    }
}

impl Inner {
    /// Checks a variant set against this server: instance types, versions and runtimes exist.
    fn check_variants(&self, variants: &[VariantSpec]) -> Result<()> {
        let caps = local_capabilities();
        for v in variants {
            if v.serverless.is_some() && !caps.serverless {
                return Err(Error::unsupported(format!(
                    "variant '{}': the local backend has no serverless capacity; give an \
                     instance_type and instance_count",
                    v.name
                )));
            }
            if v.serverless.is_some() && v.autoscaling.is_some() {
                return Err(Error::invalid(format!(
                    "variant '{}': serverless variants scale by themselves (max_concurrency); \
                     they cannot have an autoscaling policy",
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
                return Err(Error::failed_precondition(format!(
                    "version {} uses runtime '{}', which is no longer configured on this server",
                    v.model_version, version.image
                )));
            }
        }
        Ok(())
    }

    /// Checks that every rollback alarm of `policy` exists on `endpoint`: an alarm that does
    /// not exist could never roll the update back.
    fn check_rollback_alarms(
        &self,
        endpoint: &EndpointName,
        policy: Option<&DeploymentPolicy>,
    ) -> Result<()> {
        for name in policy.iter().flat_map(|p| &p.rollback_alarms) {
            match self.store.get_alarm(endpoint, name) {
                Ok(_) => {}
                Err(Error::NotFound { .. }) => {
                    return Err(Error::invalid(format!(
                        "deployment: rollback alarm '{name}' does not exist on endpoint \
                         '{endpoint}'; create it first"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Checks that `endpoint` may have the instances `target` asks for: within the
    /// per-endpoint cap (else 400), and within the server's cap together with what every other
    /// endpoint has or is moving to (else 409). Callers hold `control`.
    pub(super) fn check_capacity(
        &self,
        endpoint: &EndpointName,
        target: &[VariantSpec],
    ) -> Result<()> {
        let wanted: u32 = target.iter().map(serverless::slots).sum();
        let per_endpoint = self.config.max_instances_per_endpoint;
        self.check_autoscaling_ceiling(endpoint, target)?;
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
            return Err(Error::failed_precondition(format!(
                "endpoint '{endpoint}' asks for {wanted} instances, but this server runs at most \
                 {total} (max_instances) and other endpoints have {others}: at most {} are free",
                total.saturating_sub(others)
            )));
        }
        Ok(())
    }
}

impl Inner {
    /// Checks that autoscaling could reach every variant's `max_instances` on this server:
    /// within the per-endpoint cap, counting the other variants at their own most, and within
    /// the server's cap (else 400, as the policy could never be honoured).
    fn check_autoscaling_ceiling(
        &self,
        endpoint: &EndpointName,
        target: &[VariantSpec],
    ) -> Result<()> {
        if target.iter().all(|v| v.autoscaling.is_none()) {
            return Ok(());
        }
        let most = |v: &VariantSpec| {
            v.autoscaling
                .as_ref()
                .map_or(v.instance_count, |a| a.max_instances)
        };
        let ceiling: u32 = target.iter().map(most).sum();
        let (per_endpoint, total) = (
            self.config.max_instances_per_endpoint,
            self.config.max_instances,
        );
        if ceiling > per_endpoint.min(total) {
            return Err(Error::invalid(format!(
                "endpoint '{endpoint}' could autoscale to {ceiling} instances (each variant at its \
                 max_instances); this server allows at most {per_endpoint} per endpoint \
                 (max_instances_per_endpoint) and {total} in all (max_instances)"
            )));
        }
        Ok(())
    }
}

/// What [`resize`] left: the routing table to swap in, the instances it started, those leaving
/// it (still serving until drained), and the failure that stopped it, if any.
pub(super) struct Resized {
    pub table: Vec<VariantRoute>,
    pub started: Vec<Arc<InstanceHandle>>,
    pub retiring: Vec<Arc<InstanceHandle>>,
    pub failure: Option<Error>,
}

/// Works out the table of `target` from the current one in place: each variant keeps its
/// instances and starts (waiting until they answer) or retires some. Nothing is swapped in or
/// stopped yet. Callers hold `rt.work`; instances still starting give up when `cancel` is set.
pub(super) async fn resize(
    inner: &Inner,
    rt: &EndpointRuntime,
    target: &[VariantSpec],
    cancel: &AtomicBool,
) -> Resized {
    let current = rt.table();
    let mut resized = Resized {
        table: Vec::new(),
        started: Vec::new(),
        retiring: Vec::new(),
        failure: None,
    };
    for spec in target {
        let mut instances = current
            .iter()
            .find(|r| r.spec.name == spec.name)
            .map(|r| r.instances.clone())
            .unwrap_or_default();
        // A serverless variant keeps the instance it has (its upkeep stops it when idle).
        let wanted = match spec.serverless {
            Some(_) => instances
                .len()
                .max(serverless::initial_count(spec) as usize),
            None => spec.instance_count as usize,
        };
        if instances.len() > wanted {
            resized.retiring.extend(instances.split_off(wanted));
        } else if instances.len() < wanted {
            let more = (wanted - instances.len()) as u32;
            match inner.start_instances(rt, spec, more, cancel).await {
                Ok(new) => {
                    resized.started.extend(new.iter().cloned());
                    instances.extend(new);
                }
                Err(e) => {
                    resized.failure = Some(e);
                    break;
                }
            }
        }
        resized.table.push(VariantRoute {
            spec: spec.clone(),
            instances,
            fleet: Fleet::Current,
        });
    }
    resized
}

/// Puts a resized table in force: requests go to it at once, the instances leaving drain
/// and stop (so none of their requests fails), and the endpoint records `target`.
pub(super) async fn commit_resize(
    inner: &Inner,
    rt: &EndpointRuntime,
    target: &[VariantSpec],
    table: Vec<VariantRoute>,
    retiring: &[Arc<InstanceHandle>],
) {
    rt.set_table(table);
    inner.stop_all(&rt.name, retiring).await;
    inner.update_stored(&rt.name, |s| {
        s.endpoint.variants = target.iter().map(Variant::from_spec).collect();
        s.pending = None;
        s.endpoint.status = EndpointStatus::InService;
        s.endpoint.failure_reason = None;
    });
}

/// Brings up every variant of a new (or recovered) endpoint, then marks it `InService`, and
/// ends `deployment` (the create, when there is one) the same way.
pub(super) async fn run_create(
    inner: Arc<Inner>,
    rt: Arc<EndpointRuntime>,
    specs: Vec<VariantSpec>,
    deployment: Option<String>,
) {
    let _work = rt.work.lock().await;
    let mut table: Vec<VariantRoute> = Vec::new();
    for spec in specs {
        let count = serverless::initial_count(&spec);
        match inner.start_instances(&rt, &spec, count, &rt.deleting).await {
            Ok(instances) => table.push(VariantRoute {
                spec,
                instances,
                fleet: Fleet::Current,
            }),
            Err(e) => {
                let all: Vec<_> = table.iter().flat_map(|r| r.instances.clone()).collect();
                inner.stop_all(&rt.name, &all).await;
                let reason = e.message();
                inner.log(&rt.name, "failed", Some(&reason));
                if let Some(id) = &deployment {
                    let failed = DeploymentPhase::Failed {
                        reason: reason.clone(),
                    };
                    inner.advance(&rt.name, id, failed);
                }
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
    if let Some(id) = &deployment {
        inner.advance(&rt.name, id, DeploymentPhase::Completed);
    }
    inner.log(
        &rt.name,
        "in_service",
        Some(&format!("{count} instance(s)")),
    );
}

/// A capacity-only update: each variant keeps its instances and starts or drains some, then
/// the new weights apply at once; instances leaving drain first, so no request fails. A
/// failed or stopped scale-out leaves the previous configuration serving and says why.
async fn run_scale(
    inner: Arc<Inner>,
    rt: Arc<EndpointRuntime>,
    target: Vec<VariantSpec>,
    id: String,
) {
    let _work = rt.work.lock().await;
    let Resized {
        table,
        started,
        retiring,
        failure,
    } = resize(&inner, &rt, &target, &rt.stop_deployment).await;
    // Recorded before the table changes: a stop that came first wins.
    let stopped = DeploymentPhase::RolledBack {
        reason: STOPPED_BY_USER.into(),
        alarm: None,
    };
    let end = match failure {
        Some(_) if rt.stop_deployment.load(Ordering::SeqCst) => Some(stopped),
        Some(e) => Some(DeploymentPhase::Failed {
            reason: format!("the new instances did not start: {}", e.message()),
        }),
        None if !inner.advance(&rt.name, &id, DeploymentPhase::Completed) => Some(stopped),
        None => None,
    };
    if let Some(end) = end {
        return abandon_scale(&inner, &rt.name, &id, &started, end).await;
    }
    commit_resize(&inner, &rt, &target, table, &retiring).await;
    inner.log(&rt.name, "updated", Some(&id));
}

/// Ends a scale that did not complete (`end`): the instances it started stop, the previous
/// configuration keeps serving, and the endpoint says why.
async fn abandon_scale(
    inner: &Inner,
    endpoint: &EndpointName,
    id: &str,
    started: &[Arc<InstanceHandle>],
    end: DeploymentPhase,
) {
    inner.stop_all(endpoint, started).await;
    inner.settle_deployment(endpoint, id, end, EndpointStatus::InService);
}

/// Drains and stops everything, then forgets the endpoint.
pub(super) async fn run_delete(inner: Arc<Inner>, rt: Arc<EndpointRuntime>) {
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
