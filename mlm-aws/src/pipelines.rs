//! Pipelines on AWS: the core's engine over this backend, its state in S3 under the configured
//! `pipelines_uri`, so a stateless server, another replica or a Lambda picks a run up where
//! another left it:
//!
//! - `<prefix>/pipelines/<name>/pipeline.json`: the pipeline as applied;
//! - `<prefix>/pipelines/<name>/runs/v<version>.json`: one run per approved version.
//!
//! A run is created with `If-None-Match: *` (an approval delivered twice starts one run) and
//! saved with `If-Match: <ETag>` of the revision it was read at (S3 conditional writes), so
//! two engines never both move one run. The engine is ticked by
//! [`AwsProvider::spawn_pipeline_poller`] in a long-lived server, or per event in a Lambda.

use std::time::Duration;

use async_trait::async_trait;
use mlm_core::pipeline::{PipelineEngine, PipelineRecord, PipelineRun, PipelineStore};
use mlm_core::{Error, PipelineName, ResourceKind, Result};
use serde::de::DeserializeOwned;

use crate::error::Target;
use crate::provider::AwsProvider;
use crate::state::{Condition, StateFolder};

mlm_core::pipelines_over_store!(AwsProvider, |provider| provider.pipeline_store());

/// Pipelines and runs as JSON objects in one S3 folder.
#[derive(Debug, Clone)]
pub(crate) struct S3PipelineStore {
    objects: StateFolder,
}

impl S3PipelineStore {
    /// A store in `uri` (`s3://bucket/prefix`), under `pipelines/`.
    pub(crate) fn new(s3: aws_sdk_s3::Client, uri: &str) -> Result<Self> {
        Ok(Self {
            objects: StateFolder::new(s3, uri, "pipelines")?,
        })
    }

    fn pipeline_key(&self, name: &PipelineName) -> String {
        format!("{name}/pipeline.json")
    }

    fn run_key(&self, pipeline: &PipelineName, id: &str) -> String {
        format!("{pipeline}/runs/{id}.json")
    }

    async fn read<T: DeserializeOwned>(&self, key: &str, target: &Target) -> Result<(T, String)> {
        self.objects.read(key, target).await
    }

    async fn write(
        &self,
        key: &str,
        value: &impl serde::Serialize,
        condition: Condition<'_>,
        target: &Target,
    ) -> Result<()> {
        self.objects
            .write(key, value, condition, target)
            .await
            .map(drop)
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.objects.keys(prefix).await
    }
}

fn pipeline_target(name: &PipelineName) -> Target {
    Target::new(ResourceKind::Pipeline, name.to_string())
}

fn run_target(pipeline: &PipelineName, id: &str) -> Target {
    Target::new(ResourceKind::PipelineRun, format!("{pipeline}/{id}"))
}

#[async_trait]
impl PipelineStore for S3PipelineStore {
    async fn put_pipeline(&self, record: &PipelineRecord) -> Result<()> {
        let name = &record.spec.pipeline;
        let key = self.pipeline_key(name);
        self.write(&key, record, Condition::None, &pipeline_target(name))
            .await
    }

    async fn pipeline(&self, name: &PipelineName) -> Result<PipelineRecord> {
        let key = self.pipeline_key(name);
        Ok(self.read(&key, &pipeline_target(name)).await?.0)
    }

    async fn all_pipelines(&self) -> Result<Vec<PipelineRecord>> {
        let mut records = Vec::new();
        for key in self.keys("").await? {
            let Some(name) = key
                .strip_suffix("/pipeline.json")
                .and_then(|n| PipelineName::new(n).ok())
            else {
                continue;
            };
            match self.read(&key, &pipeline_target(&name)).await {
                Ok((record, _)) => records.push(record),
                // Deleted between the list and the read.
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(records)
    }

    async fn remove_pipeline(&self, name: &PipelineName) -> Result<()> {
        self.pipeline(name).await?;
        // The pipeline file first: from then on no engine adds a run (`insert_run` checks it).
        let mut keys = self.keys(&format!("{name}/")).await?;
        keys.sort_by_key(|k| !k.ends_with("/pipeline.json"));
        for key in keys {
            self.objects.delete(&key, &pipeline_target(name)).await?;
        }
        Ok(())
    }

    async fn insert_run(&self, run: &PipelineRun) -> Result<bool> {
        // No runs for a deleted pipeline (the engine also re-reads it before each step).
        self.pipeline(&run.pipeline).await?;
        let key = self.run_key(&run.pipeline, &run.id);
        let target = run_target(&run.pipeline, &run.id);
        match self.write(&key, run, Condition::Absent, &target).await {
            Ok(()) => Ok(true),
            Err(Error::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn run(&self, pipeline: &PipelineName, id: &str) -> Result<PipelineRun> {
        let key = self.run_key(pipeline, id);
        Ok(self.read(&key, &run_target(pipeline, id)).await?.0)
    }

    async fn all_runs(&self, pipeline: &PipelineName) -> Result<Vec<PipelineRun>> {
        let folder = format!("{pipeline}/runs/");
        let mut runs = Vec::new();
        for key in self.keys(&folder).await? {
            let id = key
                .strip_prefix(&folder)
                .and_then(|k| k.strip_suffix(".json"))
                .unwrap_or_default();
            runs.push(self.read(&key, &run_target(pipeline, id)).await?.0);
        }
        Ok(runs)
    }

    async fn update_run(&self, run: &mut PipelineRun) -> Result<()> {
        let key = self.run_key(&run.pipeline, &run.id);
        let target = run_target(&run.pipeline, &run.id);
        let (stored, etag): (PipelineRun, String) = self.read(&key, &target).await?;
        let changed = Error::conflict(format!(
            "run {} of pipeline '{}' changed since it was read (revision {})",
            run.id, run.pipeline, run.revision
        ));
        if stored.revision != run.revision {
            return Err(changed);
        }
        run.revision += 1;
        let written = self
            .write(&key, run, Condition::Matches(&etag), &target)
            .await;
        if written.is_err() {
            run.revision -= 1;
        }
        match written {
            Err(Error::Conflict(_)) => Err(changed),
            other => other,
        }
    }
}

impl AwsProvider {
    /// Where pipelines and runs are kept; `Unsupported` without `pipelines_uri`.
    pub fn pipeline_store(&self) -> Result<&dyn PipelineStore> {
        match &self.inner.pipelines {
            Some(store) => Ok(store),
            None => Err(Error::unsupported(
                "pipelines on the aws backend keep their state in S3: set `pipelines_uri` \
                 (s3://bucket/prefix) in the [aws] configuration",
            )),
        }
    }

    /// A folder of shared state records beside the pipelines' (`<pipelines_uri>/<name>/`),
    /// for other stateless workers (the Lambda's deploy markers); `Unsupported` without
    /// `pipelines_uri`. `name` is lowercase letters, digits and `-`, and not `pipelines`.
    pub fn state_folder(&self, name: &str) -> Result<StateFolder> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid || name == "pipelines" {
            return Err(Error::invalid(format!(
                "'{name}' cannot name a state folder"
            )));
        }
        let uri = self
            .inner
            .settings
            .pipelines_uri
            .as_deref()
            .ok_or_else(|| {
                Error::unsupported(
                    "shared state on the aws backend lives in S3: set `pipelines_uri`",
                )
            })?;
        StateFolder::new(self.inner.s3.clone(), uri, name)
    }

    /// Ticks the pipeline engine every `interval` (`pipeline_poll_secs`, default 30 s) until
    /// the returned task is aborted: it notices approvals in the registry and moves runs on.
    /// `None` without a `pipelines_uri`. For long-lived servers; a Lambda ticks once per
    /// event instead ([`PipelineEngine::tick`]).
    pub fn spawn_pipeline_poller(
        &self,
        interval: Option<Duration>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.pipeline_store().ok()?;
        let interval = interval.unwrap_or(self.inner.settings.pipeline_poll);
        let provider = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = provider.tick_pipelines().await {
                    tracing::warn!("cannot run pipelines: {e}");
                }
            }
        }))
    }

    /// One tick of the pipeline engine over this backend: approvals noticed, runs moved on
    /// (what the poller does every interval, and a Lambda per scheduled event).
    /// `Unsupported` without `pipelines_uri`.
    pub async fn tick_pipelines(&self) -> Result<()> {
        PipelineEngine::new(self, self.pipeline_store()?)
            .tick()
            .await
    }
}
