//! Starting instance processes — checked once per batch, at most `max_parallel_starts` at a
//! time across the server, recorded so a later run can stop leftovers — and stopping them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::join_all;
use mlm_core::{EndpointName, Error, Result, VariantSpec};

use super::Inner;
use crate::instance::{InstanceHandle, Launch};
use crate::router::EndpointRuntime;
use crate::store::ProcessRecord;

/// What the instances of one variant start from.
struct StartPlan<'a> {
    runtime: &'a crate::config::RuntimeConfig,
    model_dir: std::path::PathBuf,
    environment: mlm_core::Environment,
}

/// One batch of starts: the variant, what it starts from, and when to give up.
#[derive(Clone, Copy)]
struct Batch<'a> {
    spec: &'a VariantSpec,
    plan: &'a StartPlan<'a>,
    /// Set when an instance of the batch failed: the others not started yet are not.
    abandon: &'a AtomicBool,
    /// Set from outside: instances still starting give up.
    cancel: &'a AtomicBool,
}

impl Inner {
    /// Starts `count` instances of a variant and waits until each answers `/ping`, at most
    /// `max_parallel_starts` at a time across the server; instances still starting give up
    /// when `cancel` is set (the endpoint is deleted, or the deployment stopped). On any
    /// failure the ones started are stopped, those not started yet are not, and the first
    /// failure is returned.
    pub(super) async fn start_instances(
        &self,
        rt: &EndpointRuntime,
        spec: &VariantSpec,
        count: u32,
        cancel: &AtomicBool,
    ) -> Result<Vec<Arc<InstanceHandle>>> {
        let plan = self.start_plan(spec)?;
        let abandon = AtomicBool::new(false);
        let batch = Batch {
            spec,
            plan: &plan,
            abandon: &abandon,
            cancel,
        };
        let results = join_all((0..count).map(|_| self.start_one(rt, &batch))).await;
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
            Error::failed_precondition(format!(
                "runtime '{}' is no longer configured on this server",
                version.image
            ))
        })?;
        // Checked again at every start: the operator may have narrowed `allowed_env` since the
        // version was registered, and a stored row is not trusted more than a request.
        crate::environment::check_environment(&version.image, runtime, &version.environment)
            .map_err(|e| {
                Error::failed_precondition(format!(
                    "version {} cannot start: {}",
                    spec.model_version,
                    e.message()
                ))
            })?;
        let digest = version.artifact_digest.as_deref().ok_or_else(|| {
            Error::failed_precondition(format!(
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
        batch: &Batch<'_>,
    ) -> std::result::Result<Arc<InstanceHandle>, Option<Error>> {
        let Batch {
            spec,
            plan,
            abandon,
            cancel,
        } = *batch;
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
                match instance.wait_ready(&self.client, timeout, cancel).await {
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

    pub(super) async fn stop_all(
        &self,
        endpoint: &EndpointName,
        instances: &[Arc<InstanceHandle>],
    ) {
        join_all(instances.iter().map(|i| async move {
            i.drain_and_stop(self.config.drain_timeout).await;
            let _ = self.store.forget_process(endpoint.as_str(), &i.id);
        }))
        .await;
    }
}
