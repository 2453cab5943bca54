//! The model registry on SageMaker: model = ModelPackageGroup, version = ModelPackage.
//!
//! * Version numbers are SageMaker's `ModelPackageVersion` (1, 2, 3…, never reused).
//! * Image, artifact (`ModelDataUrl`) and environment live in the package's
//!   `InferenceSpecification` (first container).
//! * Approval is `ModelApprovalStatus` (`PendingManualApproval`/`Approved`/`Rejected`),
//!   changed with `UpdateModelPackage`.
//! * SageMaker cannot change a group's description or a package's description after creation,
//!   so later description changes are kept next to them: in the group's tags and the package's
//!   `CustomerMetadataProperties` under `mlm:description` (base64 in 256-character chunks,
//!   because tag values allow few characters). The original description is used when there is
//!   no such override.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sagemaker::types::{
    InferenceSpecification, ModelApprovalStatus, ModelPackageContainerDefinition,
    ModelPackageSortBy, ModelPackageType, SortOrder,
};
use chrono::Utc;
use mlm_core::{
    Approval, CreateModelRequest, CreateVersionRequest, Error, Model, ModelName, ModelRegistry,
    ModelVersion, Page, PageRequest, ResourceKind, Result, UpdateModelRequest,
    UpdateVersionRequest, VersionRef,
};

use crate::error::{Target, from_sdk};
use crate::naming::{
    TAG_DESCRIPTION, TAG_MANAGED, TAG_UPDATED, decode_text, encode_text, text_keys,
};
use crate::provider::{
    AwsProvider, Inner, next_page_token, ordered, page_token, sm_tags, to_utc, user_tags,
};

fn model_target(name: &ModelName) -> Target {
    Target::new(ResourceKind::Model, name)
}

fn version_target(model: &ModelName, version: u32) -> Target {
    Target::new(
        ResourceKind::ModelVersion,
        VersionRef::new(model.clone(), version),
    )
}

fn to_status(a: Approval) -> ModelApprovalStatus {
    match a {
        Approval::Approved => ModelApprovalStatus::Approved,
        Approval::Rejected => ModelApprovalStatus::Rejected,
        _ => ModelApprovalStatus::PendingManualApproval,
    }
}

fn from_status(s: Option<&ModelApprovalStatus>) -> Approval {
    match s {
        Some(ModelApprovalStatus::Approved) => Approval::Approved,
        Some(ModelApprovalStatus::Rejected) => Approval::Rejected,
        _ => Approval::Pending,
    }
}

/// What DescribeModelPackageGroup says about a group.
pub(crate) struct GroupInfo {
    pub arn: String,
    pub description: Option<String>,
    pub created: chrono::DateTime<Utc>,
}

impl Inner {
    pub(crate) async fn describe_group(&self, name: &ModelName) -> Result<GroupInfo> {
        let out = self
            .sm
            .describe_model_package_group()
            .model_package_group_name(name.as_str())
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&model_target(name))))?;
        let arn = out
            .model_package_group_arn()
            .unwrap_or_default()
            .to_string();
        self.learn_arn(&arn);
        Ok(GroupInfo {
            arn,
            description: out
                .model_package_group_description()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            created: to_utc(out.creation_time()),
        })
    }

    /// The ARN of a model version (SageMaker lowercases the group name in it).
    pub(crate) async fn package_arn(&self, model: &ModelName, version: u32) -> Result<String> {
        let prefix = match self.known_arn_prefix() {
            Some(p) => p,
            None => {
                self.describe_group(model).await.map_err(|e| match e {
                    Error::NotFound { .. } => Error::not_found(
                        ResourceKind::ModelVersion,
                        VersionRef::new(model.clone(), version),
                    ),
                    other => other,
                })?;
                self.known_arn_prefix().ok_or_else(|| {
                    Error::provider_msg(
                        "SageMaker returned a model package group without an ARN",
                        false,
                    )
                })?
            }
        };
        Ok(format!(
            "{prefix}:model-package/{}/{version}",
            model.as_str().to_ascii_lowercase()
        ))
    }

    /// The highest version number of a group, if any.
    async fn latest_version(&self, name: &ModelName) -> Result<Option<u32>> {
        let out = self
            .sm
            .list_model_packages()
            .model_package_group_name(name.as_str())
            .model_package_type(ModelPackageType::Versioned)
            .sort_by(ModelPackageSortBy::CreationTime)
            .sort_order(SortOrder::Descending)
            .max_results(1)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&model_target(name))))?;
        Ok(out
            .model_package_summary_list()
            .iter()
            .filter_map(|s| s.model_package_version())
            .max()
            .and_then(|v| u32::try_from(v).ok()))
    }

    async fn model_from(&self, name: ModelName, group: GroupInfo) -> Result<Model> {
        let target = model_target(&name);
        let (tags, latest) =
            futures::try_join!(self.tags(&group.arn, &target), self.latest_version(&name))?;
        let description = match decode_text(&tags, TAG_DESCRIPTION) {
            Some(d) => (!d.is_empty()).then_some(d),
            None => group.description,
        };
        let mut model = Model::new(name, description, user_tags(&tags), group.created);
        model.latest_version = latest;
        if let Some(t) = tags
            .get(TAG_UPDATED)
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        {
            model.updated_at = t;
        }
        Ok(model)
    }

    pub(crate) async fn get_model(&self, name: &ModelName) -> Result<Model> {
        let group = self.describe_group(name).await?;
        self.model_from(name.clone(), group).await
    }

    pub(crate) async fn describe_version(
        &self,
        model: &ModelName,
        version: u32,
    ) -> Result<ModelVersion> {
        if version == 0 {
            return Err(Error::not_found(
                ResourceKind::ModelVersion,
                VersionRef::new(model.clone(), version),
            ));
        }
        let arn = self.package_arn(model, version).await?;
        self.describe_version_arn(model, version, &arn).await
    }

    async fn describe_version_arn(
        &self,
        model: &ModelName,
        version: u32,
        arn: &str,
    ) -> Result<ModelVersion> {
        let out = self
            .sm
            .describe_model_package()
            .model_package_name(arn)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&version_target(model, version))))?;
        // A package of another group (or an unversioned one) is not this version.
        let same_group = out
            .model_package_group_name()
            .is_some_and(|g| g.eq_ignore_ascii_case(model.as_str()));
        let number = out
            .model_package_version()
            .and_then(|v| u32::try_from(v).ok());
        if !same_group || number != Some(version) {
            return Err(Error::not_found(
                ResourceKind::ModelVersion,
                VersionRef::new(model.clone(), version),
            ));
        }
        let container = out
            .inference_specification()
            .and_then(|s| s.containers().first());
        let mut request = CreateVersionRequest::new(
            model.clone(),
            container
                .and_then(|c| c.model_data_url())
                .unwrap_or_default(),
            container.and_then(|c| c.image()).unwrap_or_default(),
        );
        if let Some(env) = container.and_then(|c| c.environment()) {
            request.environment = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        let metadata: BTreeMap<String, String> = out
            .customer_metadata_properties()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        request.description = match decode_text(&metadata, TAG_DESCRIPTION) {
            Some(d) => (!d.is_empty()).then_some(d),
            None => out
                .model_package_description()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        };
        request.approval = from_status(out.model_approval_status());
        let created = to_utc(out.creation_time());
        let digest = crate::artifacts::digest_of_uri(&request.artifact_uri);
        let mut v = ModelVersion::from_request(request, version, digest, created);
        if let Some(t) = out.last_modified_time() {
            v.updated_at = to_utc(Some(t));
        }
        Ok(v)
    }
}

#[async_trait]
impl ModelRegistry for AwsProvider {
    async fn create_model(&self, request: CreateModelRequest) -> Result<Model> {
        request.validate()?;
        let inner = &self.inner;
        let target = model_target(&request.name);
        // SageMaker answers a duplicate with an error, but emulators overwrite: check first.
        match inner.describe_group(&request.name).await {
            Ok(_) => return Err(Error::already_exists(ResourceKind::Model, &request.name)),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut tags: Vec<(String, String)> = request.tags.clone().into_iter().collect();
        tags.push((TAG_MANAGED.to_string(), "true".to_string()));
        inner
            .sm
            .create_model_package_group()
            .model_package_group_name(request.name.as_str())
            .set_model_package_group_description(
                request.description.clone().filter(|d| !d.is_empty()),
            )
            .set_tags(Some(sm_tags(tags)))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&target)))?;
        inner.get_model(&request.name).await
    }

    async fn get_model(&self, name: &ModelName) -> Result<Model> {
        self.inner.get_model(name).await
    }

    async fn list_models(&self, page: PageRequest) -> Result<Page<Model>> {
        let size = page.size()?;
        let token = page_token(&page)?;
        let inner = &self.inner;
        let out = inner
            .sm
            .list_model_package_groups()
            .max_results(size as i32)
            .set_next_token(token)
            .sort_by(aws_sdk_sagemaker::types::ModelPackageGroupSortBy::Name)
            .sort_order(SortOrder::Ascending)
            .send()
            .await
            .map_err(|e| from_sdk(e, None))?;
        let mut groups = Vec::new();
        for s in out.model_package_group_summary_list() {
            let Ok(name) = ModelName::new(s.model_package_group_name().unwrap_or_default()) else {
                continue;
            };
            let arn = s.model_package_group_arn().unwrap_or_default().to_string();
            inner.learn_arn(&arn);
            groups.push((
                name,
                GroupInfo {
                    arn,
                    description: s
                        .model_package_group_description()
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                    created: to_utc(s.creation_time()),
                },
            ));
        }
        let items = ordered(groups, inner.settings.concurrency, |(name, group)| {
            inner.model_from(name, group)
        })
        .await?;
        Ok(Page {
            items,
            next_page_token: next_page_token(out.next_token()),
        })
    }

    async fn update_model(&self, name: &ModelName, request: UpdateModelRequest) -> Result<Model> {
        request.validate()?;
        let inner = &self.inner;
        let target = model_target(name);
        let group = inner.describe_group(name).await?;
        let current = inner.tags(&group.arn, &target).await?;
        let mut remove = Vec::new();
        let mut add = Vec::new();
        if let Some(d) = &request.description {
            remove.extend(text_keys(&current, TAG_DESCRIPTION));
            add.extend(encode_text(TAG_DESCRIPTION, d));
        }
        if let Some(tags) = &request.tags {
            remove.extend(
                current
                    .keys()
                    .filter(|k| !crate::naming::is_reserved_key(k) && !tags.contains_key(*k))
                    .cloned(),
            );
            add.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        add.push((TAG_UPDATED.to_string(), Utc::now().timestamp().to_string()));
        inner.set_tags(&group.arn, remove, add, &target).await?;
        inner.model_from(name.clone(), group).await
    }

    async fn delete_model(&self, name: &ModelName) -> Result<()> {
        let inner = &self.inner;
        let target = model_target(name);
        inner.describe_group(name).await?;
        if let Some(latest) = inner.latest_version(name).await? {
            return Err(Error::failed_precondition(format!(
                "model '{name}' still has versions (latest: {latest}): delete its versions first"
            )));
        }
        inner
            .sm
            .delete_model_package_group()
            .model_package_group_name(name.as_str())
            .send()
            .await
            .map_err(|e| match from_sdk(e, Some(&target)) {
                // SageMaker's only modeled error here: versions appeared meanwhile.
                Error::Conflict(m) => {
                    Error::failed_precondition(format!("model '{name}' still has versions: {m}"))
                }
                other => other,
            })?;
        Ok(())
    }

    async fn create_version(&self, request: CreateVersionRequest) -> Result<ModelVersion> {
        request.validate()?;
        let inner = &self.inner;
        let model = request.model.clone();
        inner.describe_group(&model).await?;
        let mut container = ModelPackageContainerDefinition::builder()
            .image(&request.image)
            .model_data_url(&request.artifact_uri);
        if !request.environment.is_empty() {
            container = container.set_environment(Some(
                request
                    .environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            ));
        }
        let spec = InferenceSpecification::builder()
            .containers(container.build())
            .supported_content_types("application/json")
            .supported_response_mime_types("application/json")
            .build();
        let out = inner
            .sm
            .create_model_package()
            .model_package_group_name(model.as_str())
            .set_model_package_description(request.description.clone().filter(|d| !d.is_empty()))
            .inference_specification(spec)
            .model_approval_status(to_status(request.approval))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&model_target(&model))))?;
        let arn = out.model_package_arn().unwrap_or_default().to_string();
        inner.learn_arn(&arn);
        let version = arn
            .rsplit('/')
            .next()
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| {
                Error::provider_msg(
                    format!("SageMaker returned an unexpected model package ARN '{arn}'"),
                    false,
                )
            })?;
        inner.describe_version_arn(&model, version, &arn).await
    }

    async fn get_version(&self, model: &ModelName, version: u32) -> Result<ModelVersion> {
        self.inner.describe_version(model, version).await
    }

    async fn list_versions(
        &self,
        model: &ModelName,
        page: PageRequest,
    ) -> Result<Page<ModelVersion>> {
        let size = page.size()?;
        let token = page_token(&page)?;
        let inner = &self.inner;
        let first_page = token.is_none();
        let out = inner
            .sm
            .list_model_packages()
            .model_package_group_name(model.as_str())
            .model_package_type(ModelPackageType::Versioned)
            .sort_by(ModelPackageSortBy::CreationTime)
            .sort_order(SortOrder::Ascending)
            .max_results(size as i32)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&model_target(model))))?;
        let mut refs: Vec<(u32, String)> = out
            .model_package_summary_list()
            .iter()
            .filter_map(|s| {
                let v = u32::try_from(s.model_package_version()?).ok()?;
                Some((v, s.model_package_arn()?.to_string()))
            })
            .collect();
        if refs.is_empty() && first_page {
            // An empty list is also what a missing group gives: tell them apart.
            inner.describe_group(model).await?;
        }
        refs.sort_by_key(|(v, _)| *v);
        let items = ordered(refs, inner.settings.concurrency, |(v, arn)| async move {
            inner.describe_version_arn(model, v, &arn).await
        })
        .await?;
        Ok(Page {
            items,
            next_page_token: next_page_token(out.next_token()),
        })
    }

    async fn update_version(
        &self,
        model: &ModelName,
        version: u32,
        request: UpdateVersionRequest,
    ) -> Result<ModelVersion> {
        request.validate()?;
        let inner = &self.inner;
        let current = inner.describe_version(model, version).await?;
        let arn = inner.package_arn(model, version).await?;
        let target = version_target(model, version);
        // Read the current metadata so it is sent back whole (SageMaker merges; emulators
        // replace).
        let described = inner
            .sm
            .describe_model_package()
            .model_package_name(&arn)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&target)))?;
        let mut metadata: BTreeMap<String, String> = described
            .customer_metadata_properties()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut remove = Vec::new();
        if let Some(d) = &request.description {
            let old = text_keys(&metadata, TAG_DESCRIPTION);
            for k in &old {
                metadata.remove(k);
            }
            for (k, v) in encode_text(TAG_DESCRIPTION, d) {
                metadata.insert(k, v);
            }
            remove = old
                .into_iter()
                .filter(|k| !metadata.contains_key(k))
                .collect();
        }
        let approval = request.approval.unwrap_or(current.approval);
        let mut call = inner
            .sm
            .update_model_package()
            .model_package_arn(&arn)
            .model_approval_status(to_status(approval));
        if !metadata.is_empty() {
            call = call.set_customer_metadata_properties(Some(metadata.into_iter().collect()));
        }
        if !remove.is_empty() {
            call = call.set_customer_metadata_properties_to_remove(Some(remove));
        }
        call.send().await.map_err(|e| from_sdk(e, Some(&target)))?;
        inner.describe_version_arn(model, version, &arn).await
    }

    async fn delete_version(&self, model: &ModelName, version: u32) -> Result<()> {
        let inner = &self.inner;
        inner.describe_version(model, version).await?;
        let vref = VersionRef::new(model.clone(), version);
        let serving = inner.endpoints_serving(&vref).await?;
        if !serving.is_empty() {
            return Err(Error::failed_precondition(format!(
                "version {vref} is deployed on endpoint(s) {}: delete those endpoints or move \
                 them to another version first",
                serving.join(", ")
            )));
        }
        let arn = inner.package_arn(model, version).await?;
        inner
            .sm
            .delete_model_package()
            .model_package_name(&arn)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&version_target(model, version))))?;
        Ok(())
    }
}
