//! What the provider remembers between calls.
//!
//! * Endpoint configs and models are immutable on SageMaker, so their descriptions are kept
//!   for the provider's lifetime (keyed by name; mlm never reuses a name for other content).
//! * Endpoint descriptions are kept with their `LastModifiedTime`: a list that shows the same
//!   time for a settled endpoint reuses the description instead of calling DescribeEndpoint.
//! * Live figures are kept for the metrics TTL; concurrent identical overview requests share
//!   one in-flight fetch.
//! * Deployment records (tags on configs, the one mutable part of a config) are kept as last
//!   read or written by this provider; see `crate::deployments`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, Shared};
use mlm_core::{DataCaptureConfig, EndpointStatus, Instance, ServerlessConfig, VersionRef};
use tokio::time::Instant;

use crate::provider::Memo;

/// A variant as DescribeEndpoint reports it.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeVariant {
    pub name: String,
    pub desired_count: Option<u32>,
    pub current_count: Option<u32>,
    pub weight: Option<f32>,
}

/// DescribeEndpoint, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    pub name: String,
    pub arn: String,
    pub status: EndpointStatus,
    pub failure_reason: Option<String>,
    pub config_name: String,
    pub pending_config: Option<String>,
    /// `VariantStatus[].Status` of the pending deployment's variants, else of the live ones
    /// (`Creating`, `ActivatingTraffic`, `Baking`, ...).
    pub variant_stages: Vec<String>,
    pub variants: Vec<RuntimeVariant>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

/// A variant of an endpoint config.
#[derive(Debug, Clone)]
pub(crate) struct ConfigVariant {
    pub name: String,
    pub instance_type: Option<String>,
    pub initial_count: u32,
    pub weight: f32,
    pub serverless: Option<ServerlessConfig>,
    pub autoscaling: Option<mlm_core::AutoscalingPolicy>,
    /// `None` for a variant made outside mlm whose model is not from the registry.
    pub version: Option<VersionRef>,
}

impl ConfigVariant {
    /// A one-instance variant `name` of model `m` version 1 (unit tests).
    #[cfg(test)]
    pub(crate) fn for_tests(name: &str, instance_type: Option<&str>) -> Self {
        Self {
            name: name.into(),
            instance_type: instance_type.map(str::to_string),
            initial_count: 1,
            weight: 1.0,
            serverless: None,
            autoscaling: None,
            version: Some(VersionRef::new(mlm_core::ModelName::new("m").unwrap(), 1)),
        }
    }

    /// The variant as the config describes it (counts and weight as configured), `None` for
    /// a name that is not a valid variant name.
    pub(crate) fn to_variant(&self) -> Option<mlm_core::Variant> {
        let name = mlm_core::VariantName::new(&self.name).ok()?;
        let mut v = mlm_core::Variant::new(name, self.version.clone());
        match &self.serverless {
            Some(s) => v.serverless = Some(*s),
            None => {
                v.instance_type = Some(self.instance_type.clone().unwrap_or_default());
                v.desired_instance_count = self.initial_count;
            }
        }
        v.weight = self.weight;
        v.autoscaling = self.autoscaling.clone();
        Some(v)
    }
}

/// DescribeEndpointConfig (+ mlm's tags on it), parsed.
#[derive(Debug, Clone)]
pub(crate) struct ConfigInfo {
    pub arn: String,
    pub created: DateTime<Utc>,
    pub variants: Vec<ConfigVariant>,
    pub data_capture: Option<DataCaptureConfig>,
    /// The deployment record as the config's tags held it when first described.
    pub record: Option<crate::deployments::Record>,
}

/// Figures for one overview, with when they were read.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub read_at: Instant,
    pub as_of: DateTime<Utc>,
    pub instances: Vec<Instance>,
}

pub(crate) type OverviewFuture =
    Shared<BoxFuture<'static, Result<Arc<mlm_core::EndpointOverview>, Arc<mlm_core::Error>>>>;

#[derive(Default)]
pub(crate) struct Caches {
    pub configs: Memo<ConfigInfo>,
    /// Config name → its deployment record as last read or written.
    pub records: Memo<crate::deployments::Record>,
    /// Held while a missing config is fetched, so parallel describes fetch it once.
    pub config_fetch: tokio::sync::Mutex<()>,
    pub described: Mutex<HashMap<String, Arc<Described>>>,
    pub figures: Mutex<HashMap<String, Figures>>,
    pub inflight: Mutex<HashMap<String, OverviewFuture>>,
    pub instance_ids: tokio::sync::Mutex<Option<(Instant, Arc<crate::metrics::InstanceIndex>)>>,
}

impl Caches {
    pub(crate) fn forget_endpoint(&self, name: &str) {
        self.described.lock().expect("cache lock").remove(name);
        self.figures.lock().expect("cache lock").remove(name);
    }
}
