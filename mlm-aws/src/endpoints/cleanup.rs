//! Deleting: an endpoint with its autoscaling, and the configs and models mlm made for it
//! (after a delete, a superseded update or a failed create).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use mlm_core::{Error, Result};

use super::endpoint_target;
use crate::autoscaling::NO_CONFIG;
use crate::cache::Described;
use crate::error::from_sdk;
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_CLEANUP, TAG_MANAGED, config_of_model, endpoint_key, is_config_of,
};
use crate::provider::{Inner, every_item, to_utc};

impl Inner {
    /// Stops autoscaling, deletes the endpoint, then what mlm made for it.
    pub(super) async fn delete_endpoint(&self, name: &str) -> Result<()> {
        let d = self.describe(name).await?;
        let tags = self.endpoint_tags(&d).await.unwrap_or_default();
        // Stop scaling first (any variant of the current or pending config, or of the config
        // whose autoscaling is still in place, with a policy).
        let mut scaled = Vec::new();
        let applied = tags.get(TAG_AUTOSCALING_PENDING);
        for c in std::iter::once(&d.config_name)
            .chain(d.pending_config.as_ref())
            .chain(applied)
        {
            if c.is_empty() || c == NO_CONFIG {
                continue;
            }
            match self.config(c).await {
                Ok(info) => scaled.extend(
                    info.variants
                        .iter()
                        .filter(|v| v.autoscaling.is_some())
                        .map(|v| v.name.clone()),
                ),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        scaled.sort();
        scaled.dedup();
        self.remove_autoscaling(name, &scaled).await?;
        match self
            .sm
            .delete_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))
        {
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        self.caches.forget_endpoint(name);
        if tags.get(TAG_MANAGED).is_some_and(|v| v == "true") {
            self.cleanup(name, &BTreeSet::new(), None).await?;
        }
        Ok(())
    }

    /// Deletes what an update superseded (tag `mlm:cleanup`) once the endpoint has settled,
    /// then removes the tag (from `tags` too). A failure is logged and retried on the next
    /// describe.
    pub(super) async fn finish_cleanup(&self, d: &Described, tags: &mut BTreeMap<String, String>) {
        // Clean-up waits for autoscaling: it needs the config whose autoscaling is in place.
        if !tags.contains_key(TAG_CLEANUP)
            || tags.contains_key(TAG_AUTOSCALING_PENDING)
            || d.status.is_transitional()
        {
            return;
        }
        // Keep what runs; delete what was made before the endpoint's last change (superseded
        // or rolled back), but not a config an update in flight has just made.
        let mut keep = BTreeSet::from([d.config_name.clone()]);
        keep.extend(d.pending_config.clone());
        let name = d.name.as_str();
        match self.cleanup(name, &keep, Some(d.last_modified)).await {
            Ok(()) => {
                if self
                    .set_tags(
                        &d.arn,
                        vec![TAG_CLEANUP.to_string()],
                        vec![],
                        &endpoint_target(name),
                    )
                    .await
                    .is_ok()
                {
                    tags.remove(TAG_CLEANUP);
                }
            }
            Err(e) => {
                tracing::warn!(endpoint = name, error = %e, "clean-up of superseded configurations failed; will retry")
            }
        }
    }

    /// Deletes the configs and models mlm made for `endpoint`, except the configs in `keep`
    /// and their models. Already-gone resources count as deleted.
    pub(crate) async fn cleanup(
        &self,
        endpoint: &str,
        keep: &BTreeSet<String>,
        made_before: Option<chrono::DateTime<Utc>>,
    ) -> Result<()> {
        let old_enough = |t: Option<&aws_smithy_types::DateTime>| {
            made_before.is_none_or(|limit| t.is_some_and(|t| to_utc(Some(t)) <= limit))
        };
        let key = endpoint_key(endpoint);
        let configs: Vec<String> =
            every_item!(self.sm.list_endpoint_configs().name_contains(&key), None)?
                .iter()
                .filter(|c| old_enough(c.creation_time()))
                .filter_map(|c| c.endpoint_config_name())
                .filter(|n| is_config_of(endpoint, n) && !keep.contains(*n))
                .map(str::to_string)
                .collect();
        let models: Vec<String> = every_item!(self.sm.list_models().name_contains(&key), None)?
            .iter()
            .filter(|m| old_enough(m.creation_time()))
            .filter_map(|m| m.model_name())
            .filter(|n| config_of_model(endpoint, n).is_some_and(|c| !keep.contains(&c)))
            .map(str::to_string)
            .collect();
        for c in configs {
            self.delete_config(&c).await?;
        }
        for m in models {
            self.delete_model(&m).await?;
        }
        Ok(())
    }

    async fn delete_config(&self, name: &str) -> Result<()> {
        match self
            .sm
            .delete_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))
        {
            Ok(_) | Err(Error::NotFound { .. }) => {
                self.caches.configs.lock().expect("cache lock").remove(name);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn delete_model(&self, name: &str) -> Result<()> {
        match self
            .sm
            .delete_model()
            .model_name(name)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))
        {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
