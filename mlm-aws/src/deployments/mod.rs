//! Deployments on SageMaker: every endpoint configuration mlm creates is one deployment.
//!
//! | mlm | AWS |
//! | --- | --- |
//! | deployment id | the EndpointConfig mlm made for the create or update (named as `crate::naming` says) |
//! | policy | `DeploymentConfig` of `UpdateEndpoint` (`policy`): blue/green `ALL_AT_ONCE`/`CANARY`/`LINEAR` or `RollingUpdatePolicy`, in `CAPACITY_PERCENT` |
//! | rollback alarm `a` | CloudWatch alarm `mlm/<endpoint>/a` in `AutoRollbackConfiguration` |
//! | phase while it runs | `PendingDeploymentSummary` and `VariantStatus` (`phase`); endpoint `RollingBack` → rolling back |
//! | outcome | the config the endpoint runs once settled (`phase`); the rollback's reason is SageMaker's `FailureReason`, its alarm the rollback alarm named there or else in `ALARM` |
//! | history | the endpoint's configs (ListEndpointConfigs by name), newest first; clean-up keeps the newest [`KEPT_DEPLOYMENTS`] (their SageMaker models are deleted once superseded) |
//! | what a config does not hold | tags `mlm:record:*` on it ([`Record`]): kind, previous config, policy, the phases mlm observed with their times, a user's stop |
//! | stop | `SetAlarmState` `ALARM` on one of the deployment's rollback alarms: SageMaker then rolls back as for any alarm |
//!
//! Phases are observed, not pushed: each describe of the endpoint reads where its latest
//! deployment is and records what is new on the config, so the timeline holds the phases
//! someone saw (a waiting client sees them all). A deployment that was superseded before mlm
//! saw its end is completed if the next one started from its config, else rolled back.

mod phase;
mod policy;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mlm_core::backend::paginate_sorted;
use mlm_core::{
    AlarmName, Deployment, DeploymentKind, DeploymentPhase, DeploymentPolicy, DeploymentSummary,
    Deployments, EndpointName, Error, Page, PageRequest, PhaseChange, ResourceKind, Result,
};
use serde::{Deserialize, Serialize};

use self::phase::{Seen, seen};
pub(crate) use self::policy::deployment_config;
use crate::cache::{ConfigInfo, ConfigVariant, Described};
use crate::naming::{TAG_RECORD, TAG_TARGET_CONFIG, alarm_name, encode_text};
use crate::provider::{AwsProvider, Inner, ordered};

/// Deployments kept in an endpoint's history (older configs are deleted by clean-up).
pub(crate) const KEPT_DEPLOYMENTS: usize = 20;

/// What mlm records about a deployment on its config's tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub kind: DeploymentKind,
    /// The config the endpoint ran when the deployment started (updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<DeploymentPolicy>,
    /// Phases observed after it started (it starts `provisioning`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<PhaseChange>,
    /// When a user stopped it through mlm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
}

impl Record {
    /// The record of a deployment that starts now.
    pub(crate) fn new(previous: Option<&str>, policy: Option<&DeploymentPolicy>) -> Self {
        Self {
            kind: if previous.is_some() {
                DeploymentKind::Update
            } else {
                DeploymentKind::Create
            },
            previous: previous.map(str::to_string),
            policy: policy.cloned(),
            seen: Vec::new(),
            stopped_at: None,
        }
    }

    /// As tags.
    pub(crate) fn tags(&self) -> Result<Vec<(String, String)>> {
        let json = serde_json::to_string(self).map_err(|e| Error::provider("encode record", e))?;
        Ok(encode_text(TAG_RECORD, &json))
    }
}

/// The deployment `record` describes: config `id` of `endpoint`, with the phases recorded.
fn deployment_of(
    endpoint: &EndpointName,
    id: &str,
    info: &ConfigInfo,
    record: &Record,
) -> Deployment {
    let target = info
        .variants
        .iter()
        .filter_map(ConfigVariant::to_variant)
        .collect();
    let mut d = Deployment::start(
        id,
        endpoint.clone(),
        record.kind,
        target,
        record.policy.clone(),
        info.created,
    );
    for c in &record.seen {
        d.enter(c.phase.clone(), c.at);
    }
    d
}

/// The order of a history: newest first (by start, then id).
fn history_key(d: &Deployment) -> String {
    let millis = u64::try_from(d.started_at.timestamp_millis()).unwrap_or(0);
    format!("{:016x}/{}", u64::MAX - millis, d.id)
}

/// Ends the deployments of a history that were superseded before mlm saw them end: completed
/// if the next one started from their config, else rolled back (they never took over).
fn infer_ends(history: &mut [(Deployment, Record)], latest: Option<&str>) {
    history.sort_by_key(|(d, _)| history_key(d));
    for i in 0..history.len() {
        let (d, _) = &history[i];
        if d.phase.is_terminal() || Some(d.id.as_str()) == latest || i == 0 {
            continue;
        }
        let id = d.id.clone();
        let next = &history[i - 1].0;
        let took_over = (history[..i].iter()).any(|(_, r)| r.previous.as_deref() == Some(&id));
        let phase = if took_over {
            DeploymentPhase::Completed
        } else {
            DeploymentPhase::RolledBack {
                reason: format!(
                    "mlm did not see it end; it was not running when deployment {} started",
                    next.id
                ),
                alarm: None,
            }
        };
        let at = next.started_at;
        history[i].0.enter(phase, at);
    }
}

/// The rollback alarm of `policy` that SageMaker's reason names (the longest name, so
/// `errors` is not taken for `errors-2`).
fn named_alarm(
    endpoint: &str,
    policy: Option<&DeploymentPolicy>,
    reason: &str,
) -> Option<AlarmName> {
    let alarms = policy
        .map(|p| p.rollback_alarms.as_slice())
        .unwrap_or_default();
    (alarms.iter())
        .filter(|a| reason.contains(&alarm_name(endpoint, a.as_str())))
        .max_by_key(|a| a.as_str().len())
        .cloned()
}

impl Inner {
    /// The record of config `id`: as last read or written here, else as its tags held it when
    /// first described, else (a config made before mlm kept records) a plain one.
    fn record_of(
        &self,
        id: &str,
        info: &ConfigInfo,
        endpoint_created: Option<DateTime<Utc>>,
    ) -> Record {
        if let Some(r) = self.caches.records.lock().expect("cache lock").get(id) {
            return (**r).clone();
        }
        info.record.clone().unwrap_or_else(|| Record {
            // The config an endpoint was created with is older than the endpoint.
            kind: if endpoint_created.is_some_and(|c| info.created <= c) {
                DeploymentKind::Create
            } else {
                DeploymentKind::Update
            },
            previous: None,
            policy: None,
            seen: Vec::new(),
            stopped_at: None,
        })
    }

    /// Writes `record` to config `id`'s tags (replacing `old`) and remembers it.
    async fn save_record(
        &self,
        id: &str,
        info: &ConfigInfo,
        old: &Record,
        record: Record,
    ) -> Result<()> {
        let stale = old.tags()?.into_iter().map(|(k, _)| k).collect();
        let target = crate::endpoints::endpoint_target(id);
        self.set_tags(&info.arn, stale, record.tags()?, &target)
            .await?;
        let mut records = self.caches.records.lock().expect("cache lock");
        records.insert(id.to_string(), std::sync::Arc::new(record));
        Ok(())
    }

    /// Why a deployment of `endpoint` went back, and the rollback alarm that caused it.
    async fn rollback_cause(
        &self,
        d: &Described,
        current: &Deployment,
        record: &Record,
    ) -> Result<(String, Option<AlarmName>)> {
        let policy = current.policy.as_ref();
        let sagemaker = d.failure_reason.as_deref();
        let mut alarm = sagemaker.and_then(|r| named_alarm(&d.name, policy, r));
        if alarm.is_none() {
            let rollback_alarms = policy
                .map(|p| p.rollback_alarms.as_slice())
                .unwrap_or_default();
            alarm = self
                .alarms_in_alarm(&d.name, rollback_alarms)
                .await?
                .into_iter()
                .next();
        }
        if alarm.is_none()
            && let DeploymentPhase::RollingBack { alarm: earlier, .. } = &current.phase
        {
            alarm = earlier.clone();
        }
        let mut reason = match (sagemaker, &alarm) {
            (Some(r), _) => r.to_string(),
            (None, Some(a)) => format!("rollback alarm '{a}' was in ALARM"),
            (None, None) => "SageMaker gave no reason".to_string(),
        };
        if record.stopped_at.is_some() {
            reason = format!("stopped by a user via mlm; {reason}");
        }
        Ok((reason, alarm))
    }

    /// The phase `d` shows for `current` if it is new.
    async fn new_phase(
        &self,
        d: &Described,
        current: &Deployment,
        record: &Record,
    ) -> Result<Option<DeploymentPhase>> {
        if current.phase.is_terminal() {
            return Ok(None);
        }
        let phase = match seen(d, &current.id, current.started_at, current) {
            None => return Ok(None),
            Some(Seen::Phase(p)) => p,
            Some(Seen::RollingBack)
                if matches!(current.phase, DeploymentPhase::RollingBack { .. }) =>
            {
                return Ok(None);
            }
            Some(Seen::RollingBack) => {
                let (reason, alarm) = self.rollback_cause(d, current, record).await?;
                DeploymentPhase::RollingBack { reason, alarm }
            }
            Some(Seen::RolledBack) => {
                let (reason, alarm) = self.rollback_cause(d, current, record).await?;
                DeploymentPhase::RolledBack { reason, alarm }
            }
        };
        Ok((phase != current.phase).then_some(phase))
    }

    /// Deployment `id` of `endpoint`; when `live` describes the endpoint and `id` is its
    /// latest deployment, brought up to date and recorded.
    async fn deployment(
        &self,
        endpoint: &EndpointName,
        id: &str,
        live: Option<&Described>,
    ) -> Result<(Deployment, Record)> {
        let info = self.config(id).await.map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::not_found(ResourceKind::Deployment, format!("{endpoint}/{id}"))
            }
            e => e,
        })?;
        let mut record = self.record_of(id, &info, live.map(|d| d.created));
        let mut current = deployment_of(endpoint, id, &info, &record);
        let Some(d) = live else {
            return Ok((current, record));
        };
        let Some(phase) = self.new_phase(d, &current, &record).await? else {
            return Ok((current, record));
        };
        let last = current.timeline.last().map_or(current.started_at, |c| c.at);
        // An end is dated when the endpoint settled; a running phase when it was seen.
        let at = if phase.is_terminal() {
            d.last_modified
        } else {
            Utc::now()
        }
        .max(last);
        current.enter(phase.clone(), at);
        let old = record.clone();
        record.seen.push(PhaseChange::new(phase, at));
        if let Err(e) = self.save_record(id, &info, &old, record.clone()).await {
            // Seen again (and saved) on the next describe.
            tracing::warn!(deployment = id, error = %e, "recording a deployment phase failed");
        }
        Ok((current, record))
    }

    /// The latest deployment of the endpoint `d` describes (none for endpoints mlm did not
    /// deploy), brought up to date.
    pub(crate) async fn last_deployment(
        &self,
        d: &Described,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<DeploymentSummary>> {
        let Some(latest) = tags.get(TAG_TARGET_CONFIG) else {
            return Ok(None);
        };
        let endpoint = EndpointName::new(&d.name)?;
        match self.deployment(&endpoint, latest, Some(d)).await {
            Ok((current, _)) => Ok(Some(current.summary())),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every deployment of `endpoint` mlm still has, newest first.
    async fn history(&self, endpoint: &EndpointName) -> Result<Vec<Deployment>> {
        let d = self.describe(endpoint.as_str()).await?;
        let tags = self.endpoint_tags(&d).await?;
        let latest = tags.get(TAG_TARGET_CONFIG).map(String::as_str);
        let configs = self.configs_of(endpoint.as_str()).await?;
        let d: &Described = &d;
        let found = ordered(configs, self.settings.concurrency, |(id, _)| async move {
            let live = (Some(id.as_str()) == latest).then_some(d);
            match self.deployment(endpoint, &id, live).await {
                Ok(found) => Ok(Some(found)),
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        let mut history: Vec<(Deployment, Record)> = found.into_iter().flatten().collect();
        infer_ends(&mut history, latest);
        Ok(history.into_iter().map(|(d, _)| d).collect())
    }

    /// `FailedPrecondition` while the latest deployment of `endpoint` runs with `alarm` as a
    /// rollback alarm.
    pub(crate) async fn check_not_guarding(
        &self,
        endpoint: &EndpointName,
        alarm: &AlarmName,
    ) -> Result<()> {
        let d = self.describe(endpoint.as_str()).await?;
        let tags = self.endpoint_tags(&d).await?;
        let Some(latest) = tags.get(TAG_TARGET_CONFIG) else {
            return Ok(());
        };
        let (current, _) = match self.deployment(endpoint, latest, Some(&d)).await {
            Err(Error::NotFound { .. }) => return Ok(()),
            other => other?,
        };
        let guards = (current.policy.as_ref()).is_some_and(|p| p.rollback_alarms.contains(alarm));
        if guards && !current.phase.is_terminal() {
            return Err(Error::failed_precondition(format!(
                "alarm '{alarm}' guards deployment {} of endpoint '{endpoint}', which is still \
                 {}: delete it once the deployment has ended",
                current.id,
                current.phase.as_str()
            )));
        }
        Ok(())
    }

    /// Stops deployment `id` by putting one of its rollback alarms into `ALARM`.
    async fn stop(&self, endpoint: &EndpointName, id: &str) -> Result<()> {
        let history = self.history(endpoint).await?;
        let current = (history.iter().find(|d| d.id == id)).ok_or_else(|| {
            Error::not_found(ResourceKind::Deployment, format!("{endpoint}/{id}"))
        })?;
        if current.phase.is_terminal() {
            return Err(Error::failed_precondition(format!(
                "deployment {id} of endpoint '{endpoint}' has ended ({})",
                current.phase.as_str()
            )));
        }
        if matches!(current.phase, DeploymentPhase::RollingBack { .. }) {
            return Ok(());
        }
        if current.kind == DeploymentKind::Create {
            return Err(Error::failed_precondition(format!(
                "deployment {id} creates endpoint '{endpoint}': there is no previous fleet to \
                 return to; delete the endpoint instead"
            )));
        }
        let Some(alarm) = (current.policy.as_ref()).and_then(|p| p.rollback_alarms.first()) else {
            return Err(Error::failed_precondition(format!(
                "deployment {id} of endpoint '{endpoint}' has no rollback alarm: SageMaker has \
                 no way to stop a running update other than a rollback alarm in ALARM. Wait \
                 until it ends and update the endpoint back, and give the next update a \
                 rollback alarm so that it can be stopped"
            )));
        };
        // Recorded first, so whoever sees the rollback knows a user asked for it.
        let info = self.config(id).await?;
        let old = self.record_of(id, &info, None);
        let mut record = old.clone();
        record.stopped_at = Some(Utc::now());
        self.save_record(id, &info, &old, record.clone()).await?;
        let reason = format!("stopped by a user via mlm (deployment {id})");
        if let Err(e) = self.trip_alarm(endpoint.as_str(), alarm, &reason).await {
            if let Err(undo) = self.save_record(id, &info, &record, old).await {
                tracing::warn!(deployment = id, error = %undo, "could not withdraw a stop");
            }
            return Err(e);
        }
        Ok(())
    }
}

#[async_trait]
impl Deployments for AwsProvider {
    async fn list_deployments(
        &self,
        endpoint: &EndpointName,
        page: PageRequest,
    ) -> Result<Page<Deployment>> {
        page.size()?;
        let history = self.inner.history(endpoint).await?;
        paginate_sorted(history, &page, history_key)
    }

    async fn get_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
        let history = self.inner.history(endpoint).await?;
        (history.into_iter().find(|d| d.id == id))
            .ok_or_else(|| Error::not_found(ResourceKind::Deployment, format!("{endpoint}/{id}")))
    }

    async fn stop_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
        self.inner.stop(endpoint, id).await?;
        self.inner.caches.forget_endpoint(endpoint.as_str());
        self.get_deployment(endpoint, id).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use mlm_core::TrafficShift;

    use super::*;
    use crate::naming::decode_json;

    fn deployment(id: &str, at: i64, record: &Record) -> (Deployment, Record) {
        let d = Deployment::start(
            id,
            EndpointName::new("news").unwrap(),
            record.kind,
            Vec::new(),
            None,
            DateTime::UNIX_EPOCH + TimeDelta::seconds(at),
        );
        (d, record.clone())
    }

    #[test]
    fn unobserved_ends_are_inferred_from_the_next_deployment() {
        let create = Record::new(None, None);
        let from_a = Record::new(Some("a"), None);
        let from_a_again = Record::new(Some("a"), None);
        let mut history = vec![
            deployment("a", 10, &create),
            deployment("b", 20, &from_a),
            deployment("c", 30, &from_a_again),
        ];
        infer_ends(&mut history, Some("c"));
        let ids: Vec<&str> = history.iter().map(|(d, _)| d.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"], "newest first");
        assert_eq!(
            history[0].0.phase,
            DeploymentPhase::Provisioning,
            "the latest is observed"
        );
        assert!(
            matches!(&history[1].0.phase, DeploymentPhase::RolledBack { reason, .. } if reason.contains("deployment c")),
            "b never ran: c started from a"
        );
        assert_eq!(history[2].0.phase, DeploymentPhase::Completed);
        assert_eq!(history[2].0.ended_at, Some(history[1].0.started_at));
    }

    #[test]
    fn records_round_trip_through_tags() {
        let policy = DeploymentPolicy::new(TrafficShift::Canary {
            percent: 10,
            bake_seconds: 60,
        })
        .with_rollback_alarm(AlarmName::new("errors").unwrap());
        let mut record = Record::new(Some("news-1a2b-0123abcd"), Some(&policy));
        record.seen.push(PhaseChange::new(
            DeploymentPhase::Shifting { percent: 10 },
            DateTime::UNIX_EPOCH,
        ));
        let tags: BTreeMap<String, String> = record.tags().unwrap().into_iter().collect();
        assert_eq!(decode_json::<Record>(&tags, TAG_RECORD), Some(record));
        assert_eq!(Record::new(None, None).kind, DeploymentKind::Create);
    }

    #[test]
    fn the_alarm_named_in_the_reason_is_the_longest_match() {
        let policy = DeploymentPolicy::new(TrafficShift::AllAtOnce)
            .with_rollback_alarm(AlarmName::new("errors").unwrap())
            .with_rollback_alarm(AlarmName::new("errors-2").unwrap());
        let reason = "Alarm mlm/news/errors-2 went into ALARM";
        assert_eq!(
            named_alarm("news", Some(&policy), reason).map(|a| a.to_string()),
            Some("errors-2".into())
        );
        assert_eq!(named_alarm("news", Some(&policy), "no alarm"), None);
        assert_eq!(named_alarm("news", None, reason), None);
    }
}
