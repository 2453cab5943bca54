//! Deleting: an endpoint with its autoscaling and alarms, and the configs and models mlm made
//! for it (after a delete, a superseded update or a failed create). Superseded configs are
//! the endpoint's deployment history: the newest are kept (without their models).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use mlm_core::{Error, Result};

use super::endpoint_target;
use crate::autoscaling::NO_CONFIG;
use crate::cache::Described;
use crate::deployments::KEPT_DEPLOYMENTS;
use crate::error::from_sdk;
use crate::naming::{
    TAG_AUTOSCALING_PENDING, TAG_CLEANUP, TAG_MANAGED, config_of_model, endpoint_key, is_config_of,
};
use crate::provider::{Inner, every_item, to_utc};

/// What a clean-up deletes of what mlm made for an endpoint.
#[derive(Debug)]
pub(crate) enum Sweep<'a> {
    /// Everything (the endpoint is gone, or was never created).
    All,
    /// One config that never served, and its models (an update that did not start).
    Config(&'a str),
    /// After the endpoint settled: the models of configs made before `made_before` other than
    /// `keep`, and those configs beyond the newest [`KEPT_DEPLOYMENTS`] (the history).
    Superseded {
        keep: BTreeSet<String>,
        made_before: DateTime<Utc>,
    },
}

/// A config mlm made: its name, when it was made.
type Listed = (String, DateTime<Utc>);
/// A model mlm made: its name, its config's, when it was made.
type Made = (String, String, DateTime<Utc>);

/// The configs and models `sweep` deletes of `configs` (newest first) and `models`.
fn doomed(sweep: &Sweep<'_>, configs: &[Listed], models: &[Made]) -> (Vec<String>, Vec<String>) {
    let config_names = |keep: &dyn Fn(&Listed) -> bool| {
        configs
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.0.clone())
            .collect()
    };
    let model_names = |keep: &dyn Fn(&Made) -> bool| {
        models
            .iter()
            .filter(|m| keep(m))
            .map(|m| m.0.clone())
            .collect()
    };
    match sweep {
        Sweep::All => (config_names(&|_| true), model_names(&|_| true)),
        Sweep::Config(c) => (config_names(&|x| x.0 == *c), model_names(&|m| m.1 == *c)),
        // Nothing made since the endpoint last changed: an update in flight may own it.
        Sweep::Superseded { keep, made_before } => {
            let history: BTreeSet<&String> = configs
                .iter()
                .take(KEPT_DEPLOYMENTS)
                .map(|c| &c.0)
                .collect();
            (
                config_names(&|(n, t)| {
                    !history.contains(n) && !keep.contains(n) && t <= made_before
                }),
                model_names(&|(_, c, t)| !keep.contains(c) && t <= made_before),
            )
        }
    }
}

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
        self.delete_endpoint_alarms(name).await?;
        self.delete_endpoint_dashboard(name).await?;
        if tags.get(TAG_MANAGED).is_some_and(|v| v == "true") {
            self.cleanup(name, Sweep::All).await?;
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
        let sweep = Sweep::Superseded {
            keep,
            made_before: d.last_modified,
        };
        match self.cleanup(name, sweep).await {
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

    /// The configs mlm made for `endpoint` with their creation times, newest first.
    pub(crate) async fn configs_of(&self, endpoint: &str) -> Result<Vec<Listed>> {
        let key = endpoint_key(endpoint);
        let listed = every_item!(self.sm.list_endpoint_configs().name_contains(&key), None)?;
        let mut configs: Vec<Listed> = listed
            .iter()
            .filter_map(|c| Some((c.endpoint_config_name()?, c.creation_time())))
            .filter(|(n, _)| is_config_of(endpoint, n))
            .map(|(n, t)| (n.to_string(), to_utc(t)))
            .collect();
        configs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        Ok(configs)
    }

    /// Deletes what `sweep` says of the configs and models mlm made for `endpoint`.
    /// Already-gone resources count as deleted.
    pub(crate) async fn cleanup(&self, endpoint: &str, sweep: Sweep<'_>) -> Result<()> {
        let configs = self.configs_of(endpoint).await?;
        let key = endpoint_key(endpoint);
        let models: Vec<Made> = every_item!(self.sm.list_models().name_contains(&key), None)?
            .iter()
            .filter_map(|m| {
                let name = m.model_name()?;
                let config = config_of_model(endpoint, name)?;
                Some((name.to_string(), config, to_utc(m.creation_time())))
            })
            .collect();
        let (configs, models) = doomed(&sweep, &configs, &models);
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

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::seconds(s)
    }

    #[test]
    fn superseded_configs_stay_as_history_without_their_models() {
        // 25 configs, newest first: c24 runs, c25 is being made by an update in flight.
        let configs: Vec<Listed> = (0..=25).rev().map(|i| (format!("c{i}"), at(i))).collect();
        let models: Vec<Made> = (0..=25)
            .map(|i| (format!("c{i}-0"), format!("c{i}"), at(i)))
            .collect();
        let sweep = Sweep::Superseded {
            keep: BTreeSet::from(["c24".to_string()]),
            made_before: at(24),
        };
        let (gone_configs, gone_models) = doomed(&sweep, &configs, &models);
        // The newest 20 (c25..c6) stay; c5..c0 go.
        assert_eq!(gone_configs, ["c5", "c4", "c3", "c2", "c1", "c0"]);
        assert_eq!(
            gone_models.len(),
            24,
            "all but the running and the in-flight config's"
        );
        assert!(!gone_models.contains(&"c24-0".to_string()));
        assert!(!gone_models.contains(&"c25-0".to_string()));

        let (c, m) = doomed(&Sweep::Config("c3"), &configs, &models);
        assert_eq!((c, m), (vec!["c3".to_string()], vec!["c3-0".to_string()]));
        let (c, m) = doomed(&Sweep::All, &configs, &models);
        assert_eq!((c.len(), m.len()), (26, 26));
    }
}
