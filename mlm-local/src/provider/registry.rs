//! Models and versions: the `ModelRegistry` half of the local backend.

use async_trait::async_trait;
use chrono::Utc;
use mlm_core::{
    ArtifactUpload, Artifacts, CreateModelRequest, CreateVersionRequest, EndpointName, Error,
    Model, ModelName, ModelRegistry, ModelVersion, Page, PageRequest, Result, UpdateModelRequest,
    UpdateVersionRequest, UploadedArtifact, VersionRef,
};

use super::{Inner, LocalProvider};

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
            return Err(Error::failed_precondition(format!(
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

/// An upload is unpacked into the artifact store; the version names it `store:sha256:<hex>`.
#[async_trait]
impl Artifacts for LocalProvider {
    async fn upload_artifact(&self, upload: ArtifactUpload) -> Result<UploadedArtifact> {
        if upload.options.destination.is_some() {
            return Err(Error::invalid(
                "the local backend keeps uploads in its artifact store: no destination can be \
                 given",
            ));
        }
        let inner = self.inner.clone();
        let checked = upload.clone();
        let (stored, reused) =
            tokio::task::spawn_blocking(move || inner.artifacts.import_upload(&checked))
                .await
                .map_err(|e| Error::provider("artifact import stopped", e))??;
        upload.report(upload.bytes);
        let uri = format!("{}{}", crate::artifacts::STORE_SCHEME, stored.digest);
        Ok(UploadedArtifact::new(uri, upload.digest, upload.bytes).reused(reused))
    }
}

impl Inner {
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
}
