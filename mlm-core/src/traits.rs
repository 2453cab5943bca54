//! The three narrow traits every backend implements, and the [`Provider`] that bundles them.
//!
//! They are object safe (`Arc<dyn Provider>` lives in axum state and PyO3 classes) and take
//! `#[non_exhaustive]` request structs, so options can be added without breaking callers.
//! Long operations (endpoint create/update/delete) return at once with the current status;
//! waiting is [`crate::EndpointManagerExt::wait_until_ready`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::alarm::{Alarm, AlarmDefinition};
use crate::artifact::{ArtifactUpload, Artifacts, UploadedArtifact};
use crate::capture::{CaptureQuery, CapturedRecord};
use crate::dashboard::Dashboard;
use crate::deployment::Deployment;
use crate::drift::{Baseline, CreateBaselineRequest, Drift, DriftReport, DriftReportRequest};
use crate::endpoint::{
    CreateEndpointRequest, Endpoint, InvokeRequest, InvokeResponse, UpdateEndpointRequest,
};
use crate::error::Result;
use crate::event::{EndpointEvent, EventQuery, NewEvent};
use crate::model::{
    CreateModelRequest, CreateVersionRequest, Model, ModelVersion, UpdateModelRequest,
    UpdateVersionRequest,
};
use crate::names::{AlarmName, BaselineName, EndpointName, ModelName, PipelineName};
use crate::observability::{EndpointOverview, MetricQuery, MetricSeries};
use crate::page::{Page, PageRequest};
use crate::pipeline::{
    ApplyPipelineRequest, ApprovalEvent, Pipeline, PipelinePlan, PipelineRun, Pipelines,
    PromoteRequest,
};

/// Models and their versions.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ModelRegistry: Send + Sync {
    /// Registers a model. `AlreadyExists` if the name is taken.
    async fn create_model(&self, request: CreateModelRequest) -> Result<Model>;
    /// Describes a model. `NotFound` if missing.
    async fn get_model(&self, name: &ModelName) -> Result<Model>;
    /// Lists models by name.
    async fn list_models(&self, page: PageRequest) -> Result<Page<Model>>;
    /// Changes a model's description or tags.
    async fn update_model(&self, name: &ModelName, request: UpdateModelRequest) -> Result<Model>;
    /// Deletes a model. `FailedPrecondition` while it still has versions.
    async fn delete_model(&self, name: &ModelName) -> Result<()>;

    /// Registers the next version of a model. `NotFound` if the model is missing.
    async fn create_version(&self, request: CreateVersionRequest) -> Result<ModelVersion>;
    /// Describes one version.
    async fn get_version(&self, model: &ModelName, version: u32) -> Result<ModelVersion>;
    /// Lists a model's versions, oldest first.
    async fn list_versions(
        &self,
        model: &ModelName,
        page: PageRequest,
    ) -> Result<Page<ModelVersion>>;
    /// Changes a version's approval or description.
    async fn update_version(
        &self,
        model: &ModelName,
        version: u32,
        request: UpdateVersionRequest,
    ) -> Result<ModelVersion>;
    /// Deletes a version. `FailedPrecondition` while an endpoint serves it.
    async fn delete_version(&self, model: &ModelName, version: u32) -> Result<()>;
}

/// Endpoints: create, change, delete, call.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EndpointManager: Send + Sync {
    /// Starts creating an endpoint and returns it (usually `Creating`).
    async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint>;
    /// Describes an endpoint.
    async fn get_endpoint(&self, name: &EndpointName) -> Result<Endpoint>;
    /// Lists endpoints by name, including ones not created by mlm.
    async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>>;
    /// Starts an update and returns the endpoint (`Updating`, or already `InService` for
    /// capacity-only changes on some backends). `FailedPrecondition` while not `InService`.
    async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint>;
    /// Starts deleting an endpoint and what mlm created for it.
    async fn delete_endpoint(&self, name: &EndpointName) -> Result<()>;
    /// Sends one inference request.
    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse>;
}

/// Live figures and metric history.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Observability: Send + Sync {
    /// Status, counts and every instance with its latest figures.
    async fn endpoint_overview(&self, name: &EndpointName) -> Result<EndpointOverview>;
    /// Overviews of a page of endpoints, fetched in as few provider calls as possible.
    async fn list_overviews(&self, page: PageRequest) -> Result<Page<EndpointOverview>>;
    /// Metric history; series with no data come back empty, not as errors.
    async fn query_metrics(&self, query: MetricQuery) -> Result<Vec<MetricSeries>>;
}

/// Alarms on endpoint metrics (CloudWatch alarms on AWS; evaluated by the monitor locally).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Alarms: Send + Sync {
    /// Creates the alarm, or replaces the definition of the one with that name (its state is
    /// kept until the next evaluation). `NotFound` if the endpoint is missing.
    async fn put_alarm(&self, definition: AlarmDefinition) -> Result<Alarm>;
    /// Describes an alarm with its live state.
    async fn get_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<Alarm>;
    /// Lists an endpoint's alarms by name.
    async fn list_alarms(&self, endpoint: &EndpointName, page: PageRequest) -> Result<Page<Alarm>>;
    /// Deletes an alarm. `FailedPrecondition` while a running deployment uses it for rollback.
    async fn delete_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<()>;
}

/// Deployments: the history of an endpoint's creates and updates, and stopping the one that
/// runs.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Deployments: Send + Sync {
    /// An endpoint's deployments, newest first.
    async fn list_deployments(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Deployment>>;
    /// One deployment. `NotFound` if the endpoint has none with that id.
    async fn get_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment>;
    /// Stops a running deployment: traffic returns to the previous fleet and the deployment
    /// ends `rolled_back`. Returns it as it stands (usually `rolling_back`);
    /// `FailedPrecondition` once it has ended.
    async fn stop_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment>;
}

/// Endpoint events: the timeline of what happened to an endpoint and why.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Events: Send + Sync {
    /// Events of an endpoint, newest first. `NotFound` if the endpoint is missing.
    async fn list_events(
        &self,
        query: EventQuery,
        page: PageRequest,
    ) -> Result<Page<EndpointEvent>>;
    /// Records a `user` event on an endpoint and returns it. `NotFound` if the endpoint is
    /// missing; `InvalidArgument` for a bad kind, message or data ([`NewEvent::validate`]).
    async fn record_event(&self, endpoint: &EndpointName, event: NewEvent)
    -> Result<EndpointEvent>;
}
/// Data capture: reading back the records endpoints with a [`DataCaptureConfig`] wrote.
///
/// [`DataCaptureConfig`]: crate::DataCaptureConfig
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Captures: Send + Sync {
    /// The records of `query`'s endpoint (and variant) in its window, oldest first.
    /// `InvalidArgument` for a bad window ([`CaptureQuery::validate`]); `Unsupported` where
    /// the backend does not capture data.
    async fn list_captures(
        &self,
        query: CaptureQuery,
        page: PageRequest,
    ) -> Result<Page<CapturedRecord>>;
}

/// Monitoring dashboards of endpoints (CloudWatch dashboards on AWS).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Dashboards: Send + Sync {
    /// Creates the endpoint's dashboard, or rebuilds it from the endpoint as it is now (its
    /// variants and alarms); the answer says which. Deleting the endpoint deletes it.
    /// `NotFound` if the endpoint is missing; `Unsupported` where the backend has no
    /// dashboards.
    async fn put_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard>;
    /// The endpoint's dashboard. `NotFound` if it has none.
    async fn get_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard>;
}

/// What a backend can do, so callers and the conformance suite know what to expect.
///
/// An operation outside a backend's capabilities fails with `Unsupported`, never silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Capabilities {
    /// Serverless variants.
    pub serverless: bool,
    /// Data capture.
    pub data_capture: bool,
    /// Canary, linear and rolling deployment policies with rollback alarms.
    pub deployment_policies: bool,
    /// Alarms on endpoint metrics.
    pub alarms: bool,
    /// Autoscaling policies.
    pub autoscaling: bool,
    /// GPU figures can be reported (given a GPU).
    pub gpu_metrics: bool,
    /// Instances are individually identified (not only variant aggregates).
    pub per_instance_metrics: bool,
    /// Endpoint events are kept and can be recorded.
    pub events: bool,
    /// Drift baselines are kept, and reports compare traffic with them.
    pub drift: bool,
    /// Promotion pipelines are kept and run.
    pub pipelines: bool,
    /// Endpoints get monitoring dashboards (CloudWatch dashboards on AWS).
    pub dashboards: bool,
}

impl Capabilities {
    /// Nothing optional.
    pub const NONE: Self = Self {
        serverless: false,
        data_capture: false,
        deployment_policies: false,
        alarms: false,
        autoscaling: false,
        gpu_metrics: false,
        per_instance_metrics: false,
        events: false,
        drift: false,
        pipelines: false,
        dashboards: false,
    };

    /// Everything.
    pub const ALL: Self = Self {
        serverless: true,
        data_capture: true,
        deployment_policies: true,
        alarms: true,
        autoscaling: true,
        gpu_metrics: true,
        per_instance_metrics: true,
        events: true,
        drift: true,
        pipelines: true,
        dashboards: true,
    };
}

/// A backend: the traits plus what it supports.
///
/// `Arc<dyn Provider>` upcasts to `Arc<dyn ModelRegistry>` and friends, so an adapter can hold
/// one handle and pass narrower ones on.
pub trait Provider:
    ModelRegistry
    + EndpointManager
    + Observability
    + Alarms
    + Deployments
    + Events
    + Captures
    + Drift
    + Pipelines
    + Artifacts
    + Dashboards
{
    /// A short name for logs and errors (`local`, `aws`, `http`).
    fn name(&self) -> &str;
    /// What the backend supports.
    fn capabilities(&self) -> Capabilities;
}

/// Implements the traits for a smart pointer by forwarding to what it points at, so
/// `Arc<LocalProvider>`, `Box<dyn Provider>` and `Arc<dyn Provider>` are providers too.
macro_rules! forward_through {
    ($($pointer:ident),+) => {$(
        #[async_trait]
        impl<T: ModelRegistry + ?Sized> ModelRegistry for $pointer<T> {
            async fn create_model(&self, request: CreateModelRequest) -> Result<Model> {
                (**self).create_model(request).await
            }
            async fn get_model(&self, name: &ModelName) -> Result<Model> {
                (**self).get_model(name).await
            }
            async fn list_models(&self, page: PageRequest) -> Result<Page<Model>> {
                (**self).list_models(page).await
            }
            async fn update_model(
                &self,
                name: &ModelName,
                request: UpdateModelRequest,
            ) -> Result<Model> {
                (**self).update_model(name, request).await
            }
            async fn delete_model(&self, name: &ModelName) -> Result<()> {
                (**self).delete_model(name).await
            }
            async fn create_version(&self, request: CreateVersionRequest) -> Result<ModelVersion> {
                (**self).create_version(request).await
            }
            async fn get_version(&self, model: &ModelName, version: u32) -> Result<ModelVersion> {
                (**self).get_version(model, version).await
            }
            async fn list_versions(
                &self,
                model: &ModelName,
                page: PageRequest,
            ) -> Result<Page<ModelVersion>> {
                (**self).list_versions(model, page).await
            }
            async fn update_version(
                &self,
                model: &ModelName,
                version: u32,
                request: UpdateVersionRequest,
            ) -> Result<ModelVersion> {
                (**self).update_version(model, version, request).await
            }
            async fn delete_version(&self, model: &ModelName, version: u32) -> Result<()> {
                (**self).delete_version(model, version).await
            }
        }

        #[async_trait]
        impl<T: EndpointManager + ?Sized> EndpointManager for $pointer<T> {
            async fn create_endpoint(&self, request: CreateEndpointRequest) -> Result<Endpoint> {
                (**self).create_endpoint(request).await
            }
            async fn get_endpoint(&self, name: &EndpointName) -> Result<Endpoint> {
                (**self).get_endpoint(name).await
            }
            async fn list_endpoints(&self, page: PageRequest) -> Result<Page<Endpoint>> {
                (**self).list_endpoints(page).await
            }
            async fn update_endpoint(&self, request: UpdateEndpointRequest) -> Result<Endpoint> {
                (**self).update_endpoint(request).await
            }
            async fn delete_endpoint(&self, name: &EndpointName) -> Result<()> {
                (**self).delete_endpoint(name).await
            }
            async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse> {
                (**self).invoke(request).await
            }
        }

        #[async_trait]
        impl<T: Observability + ?Sized> Observability for $pointer<T> {
            async fn endpoint_overview(&self, name: &EndpointName) -> Result<EndpointOverview> {
                (**self).endpoint_overview(name).await
            }
            async fn list_overviews(&self, page: PageRequest) -> Result<Page<EndpointOverview>> {
                (**self).list_overviews(page).await
            }
            async fn query_metrics(&self, query: MetricQuery) -> Result<Vec<MetricSeries>> {
                (**self).query_metrics(query).await
            }
        }

        #[async_trait]
        impl<T: Alarms + ?Sized> Alarms for $pointer<T> {
            async fn put_alarm(&self, definition: AlarmDefinition) -> Result<Alarm> {
                (**self).put_alarm(definition).await
            }
            async fn get_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<Alarm> {
                (**self).get_alarm(endpoint, name).await
            }
            async fn list_alarms(
                &self,
                endpoint: &EndpointName,
                page: PageRequest,
            ) -> Result<Page<Alarm>> {
                (**self).list_alarms(endpoint, page).await
            }
            async fn delete_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<()> {
                (**self).delete_alarm(endpoint, name).await
            }
        }

        #[async_trait]
        impl<T: Deployments + ?Sized> Deployments for $pointer<T> {
            async fn list_deployments(
                &self,
                endpoint: &EndpointName,
                page: PageRequest,
            ) -> Result<Page<Deployment>> {
                (**self).list_deployments(endpoint, page).await
            }
            async fn get_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
                (**self).get_deployment(endpoint, id).await
            }
            async fn stop_deployment(
                &self,
                endpoint: &EndpointName,
                id: &str,
            ) -> Result<Deployment> {
                (**self).stop_deployment(endpoint, id).await
            }
        }

        #[async_trait]
        impl<T: Events + ?Sized> Events for $pointer<T> {
            async fn list_events(
                &self,
                query: EventQuery,
                page: PageRequest,
            ) -> Result<Page<EndpointEvent>> {
                (**self).list_events(query, page).await
            }
            async fn record_event(
                &self,
                endpoint: &EndpointName,
                event: NewEvent,
            ) -> Result<EndpointEvent> {
                (**self).record_event(endpoint, event).await
            }
        }

        #[async_trait]
        impl<T: Captures + ?Sized> Captures for $pointer<T> {
            async fn list_captures(
                &self,
                query: CaptureQuery,
                page: PageRequest,
            ) -> Result<Page<CapturedRecord>> {
                (**self).list_captures(query, page).await
            }
        }

        #[async_trait]
        impl<T: Drift + ?Sized> Drift for $pointer<T> {
            async fn create_baseline(&self, request: CreateBaselineRequest) -> Result<Baseline> {
                (**self).create_baseline(request).await
            }
            async fn get_baseline(
                &self,
                endpoint: &EndpointName,
                name: &BaselineName,
            ) -> Result<Baseline> {
                (**self).get_baseline(endpoint, name).await
            }
            async fn list_baselines(
                &self,
                endpoint: &EndpointName,
                page: PageRequest,
            ) -> Result<Page<Baseline>> {
                (**self).list_baselines(endpoint, page).await
            }
            async fn delete_baseline(
                &self,
                endpoint: &EndpointName,
                name: &BaselineName,
            ) -> Result<()> {
                (**self).delete_baseline(endpoint, name).await
            }
            async fn drift_report(&self, request: DriftReportRequest) -> Result<DriftReport> {
                (**self).drift_report(request).await
            }
        }

        #[async_trait]
        impl<T: Pipelines + ?Sized> Pipelines for $pointer<T> {
            async fn apply_pipeline(&self, request: ApplyPipelineRequest) -> Result<PipelinePlan> {
                (**self).apply_pipeline(request).await
            }
            async fn get_pipeline(&self, name: &PipelineName) -> Result<Pipeline> {
                (**self).get_pipeline(name).await
            }
            async fn list_pipelines(&self, page: PageRequest) -> Result<Page<Pipeline>> {
                (**self).list_pipelines(page).await
            }
            async fn delete_pipeline(&self, name: &PipelineName) -> Result<()> {
                (**self).delete_pipeline(name).await
            }
            async fn list_runs(
                &self,
                pipeline: &PipelineName,
                page: PageRequest,
            ) -> Result<Page<PipelineRun>> {
                (**self).list_runs(pipeline, page).await
            }
            async fn get_run(&self, pipeline: &PipelineName, id: &str) -> Result<PipelineRun> {
                (**self).get_run(pipeline, id).await
            }
            async fn version_approved(&self, event: ApprovalEvent) -> Result<Vec<PipelineRun>> {
                (**self).version_approved(event).await
            }
            async fn promote(&self, request: PromoteRequest) -> Result<PipelineRun> {
                (**self).promote(request).await
            }
            async fn cancel_run(
                &self,
                pipeline: &PipelineName,
                id: &str,
                actor: &str,
            ) -> Result<PipelineRun> {
                (**self).cancel_run(pipeline, id, actor).await
            }
        }

        #[async_trait]
        impl<T: Artifacts + ?Sized> Artifacts for $pointer<T> {
            async fn upload_artifact(&self, upload: ArtifactUpload) -> Result<UploadedArtifact> {
                (**self).upload_artifact(upload).await
            }
        }

        #[async_trait]
        impl<T: Dashboards + ?Sized> Dashboards for $pointer<T> {
            async fn put_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard> {
                (**self).put_dashboard(endpoint).await
            }
            async fn get_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard> {
                (**self).get_dashboard(endpoint).await
            }
        }

        impl<T: Provider + ?Sized> Provider for $pointer<T> {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
        }
    )+};
}

forward_through!(Arc, Box);

#[cfg(test)]
mod tests {
    use super::*;

    fn is_provider<P: Provider>() {}

    struct Named;

    #[async_trait]
    impl ModelRegistry for Named {
        async fn create_model(&self, _: CreateModelRequest) -> Result<Model> {
            unimplemented!()
        }
        async fn get_model(&self, name: &ModelName) -> Result<Model> {
            Err(crate::Error::not_found(crate::ResourceKind::Model, name))
        }
        async fn list_models(&self, _: PageRequest) -> Result<Page<Model>> {
            unimplemented!()
        }
        async fn update_model(&self, _: &ModelName, _: UpdateModelRequest) -> Result<Model> {
            unimplemented!()
        }
        async fn delete_model(&self, _: &ModelName) -> Result<()> {
            unimplemented!()
        }
        async fn create_version(&self, _: CreateVersionRequest) -> Result<ModelVersion> {
            unimplemented!()
        }
        async fn get_version(&self, _: &ModelName, _: u32) -> Result<ModelVersion> {
            unimplemented!()
        }
        async fn list_versions(&self, _: &ModelName, _: PageRequest) -> Result<Page<ModelVersion>> {
            unimplemented!()
        }
        async fn update_version(
            &self,
            _: &ModelName,
            _: u32,
            _: UpdateVersionRequest,
        ) -> Result<ModelVersion> {
            unimplemented!()
        }
        async fn delete_version(&self, _: &ModelName, _: u32) -> Result<()> {
            unimplemented!()
        }
    }

    #[tokio::test]
    async fn smart_pointers_forward() {
        let name = ModelName::new("m").unwrap();
        let arc: Arc<dyn ModelRegistry> = Arc::new(Named);
        let boxed: Box<dyn ModelRegistry> = Box::new(Named);
        for registry in [&arc as &dyn ModelRegistry, &boxed as &dyn ModelRegistry] {
            let err = registry.get_model(&name).await.unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::NotFound);
        }
        is_provider::<Arc<dyn Provider>>();
        is_provider::<Box<dyn Provider>>();
    }
}
