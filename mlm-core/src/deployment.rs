//! Deployments: every endpoint create and update, with its policy, its phases and its outcome.
//!
//! A backend records one [`Deployment`] per create or update. Its [`DeploymentPhase`] moves
//! `provisioning → shifting{percent} → baking → completed`, or ends `rolled_back` (an alarm
//! fired, or a user stopped it) or `failed`; every change is kept in the timeline with its
//! time, so the history says what happened and when.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::endpoint::{DeploymentPolicy, Variant};
use crate::error::{Error, Result};
use crate::names::{AlarmName, EndpointName};

/// Why a backend that restarted rolled back the deployment it was running: the deployment
/// did not fail, it was interrupted (a pipeline deploys again).
pub const INTERRUPTED_REASON: &str = "the server stopped during the deployment";

/// Where a deployment is, or how it ended.
///
/// On the wire it is flat — `{"phase": "shifting", "percent": 10, "reason": null, "alarm":
/// null}` — next to the fields of the object that holds it, so every client reads it without
/// a union type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "PhaseFields", try_from = "PhaseFields")]
#[non_exhaustive]
pub enum DeploymentPhase {
    /// The new fleet is starting; the old one (if any) takes all traffic.
    Provisioning,
    /// The new fleet takes `percent` of the traffic.
    Shifting {
        /// Share of traffic on the new fleet, 0–100.
        percent: u8,
    },
    /// The new fleet takes the traffic of this step and is watched before the next.
    Baking {
        /// Share of traffic on the new fleet, 0–100.
        percent: u8,
    },
    /// Traffic is going back to the old fleet.
    RollingBack {
        /// Why.
        reason: String,
        /// The alarm that fired, when an alarm caused it.
        alarm: Option<AlarmName>,
    },
    /// The new fleet takes all traffic; the old one is gone.
    Completed,
    /// The old fleet serves again; the new one is gone.
    RolledBack {
        /// Why.
        reason: String,
        /// The alarm that fired, when an alarm caused it.
        alarm: Option<AlarmName>,
    },
    /// The deployment could not finish (the new fleet never became healthy, or the rollback
    /// itself failed).
    Failed {
        /// Why.
        reason: String,
    },
}

/// The name of a [`DeploymentPhase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PhaseName {
    /// See [`DeploymentPhase::Provisioning`].
    Provisioning,
    /// See [`DeploymentPhase::Shifting`].
    Shifting,
    /// See [`DeploymentPhase::Baking`].
    Baking,
    /// See [`DeploymentPhase::RollingBack`].
    RollingBack,
    /// See [`DeploymentPhase::Completed`].
    Completed,
    /// See [`DeploymentPhase::RolledBack`].
    RolledBack,
    /// See [`DeploymentPhase::Failed`].
    Failed,
}

/// The wire form of a [`DeploymentPhase`] (its schema too, named `DeploymentPhase`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DeploymentPhase))]
pub struct PhaseFields {
    /// Where the deployment is: `provisioning → shifting → baking → completed`, or it ends
    /// `rolled_back` (through `rolling_back`) or `failed`.
    pub phase: PhaseName,
    /// Share of traffic on the new fleet while `shifting` or `baking`, 0–100.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true, maximum = 100))]
    pub percent: Option<u8>,
    /// Why it is `rolling_back`, `rolled_back` or `failed`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub reason: Option<String>,
    /// The alarm that caused a rollback, when an alarm did.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub alarm: Option<AlarmName>,
}

impl From<DeploymentPhase> for PhaseFields {
    fn from(phase: DeploymentPhase) -> Self {
        let (name, percent, reason, alarm) = match phase {
            DeploymentPhase::Provisioning => (PhaseName::Provisioning, None, None, None),
            DeploymentPhase::Shifting { percent } => {
                (PhaseName::Shifting, Some(percent), None, None)
            }
            DeploymentPhase::Baking { percent } => (PhaseName::Baking, Some(percent), None, None),
            DeploymentPhase::RollingBack { reason, alarm } => {
                (PhaseName::RollingBack, None, Some(reason), alarm)
            }
            DeploymentPhase::Completed => (PhaseName::Completed, None, None, None),
            DeploymentPhase::RolledBack { reason, alarm } => {
                (PhaseName::RolledBack, None, Some(reason), alarm)
            }
            DeploymentPhase::Failed { reason } => (PhaseName::Failed, None, Some(reason), None),
        };
        Self {
            phase: name,
            percent,
            reason,
            alarm,
        }
    }
}

impl TryFrom<PhaseFields> for DeploymentPhase {
    type Error = String;
    fn try_from(f: PhaseFields) -> std::result::Result<Self, String> {
        let percent = || {
            f.percent
                .ok_or("a shifting or baking phase needs `percent`")
        };
        let reason = || f.reason.clone().unwrap_or_default();
        Ok(match f.phase {
            PhaseName::Provisioning => Self::Provisioning,
            PhaseName::Shifting => Self::Shifting {
                percent: percent()?,
            },
            PhaseName::Baking => Self::Baking {
                percent: percent()?,
            },
            PhaseName::RollingBack => Self::RollingBack {
                reason: reason(),
                alarm: f.alarm.clone(),
            },
            PhaseName::Completed => Self::Completed,
            PhaseName::RolledBack => Self::RolledBack {
                reason: reason(),
                alarm: f.alarm.clone(),
            },
            PhaseName::Failed => Self::Failed { reason: reason() },
        })
    }
}

impl DeploymentPhase {
    /// The phase's name.
    pub fn name(&self) -> PhaseName {
        PhaseFields::from(self.clone()).phase
    }

    /// The snake_case `phase` tag.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Shifting { .. } => "shifting",
            Self::Baking { .. } => "baking",
            Self::RollingBack { .. } => "rolling_back",
            Self::Completed => "completed",
            Self::RolledBack { .. } => "rolled_back",
            Self::Failed { .. } => "failed",
        }
    }

    /// True once the deployment has ended, however it ended.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::RolledBack { .. } | Self::Failed { .. }
        )
    }

    /// The typed error a waiter reports for a deployment that ended this way; `None` for a
    /// phase that is still running or completed.
    pub fn to_error(&self, endpoint: &EndpointName, id: &str) -> Option<Error> {
        match self {
            Self::RolledBack { reason, alarm } => Some(Error::RolledBack(
                format!(
                    "deployment {id} of endpoint '{endpoint}' was rolled back{}: {reason}; the \
                     previous configuration serves",
                    alarm
                        .as_ref()
                        .map(|a| format!(" (alarm '{a}')"))
                        .unwrap_or_default()
                )
                .into(),
            )),
            Self::Failed { reason } => Some(Error::DeploymentFailed(
                format!("deployment {id} of endpoint '{endpoint}' failed: {reason}").into(),
            )),
            _ => None,
        }
    }
}

/// One entry of a deployment's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PhaseChange {
    /// The phase entered.
    #[serde(flatten)]
    pub phase: DeploymentPhase,
    /// When.
    pub at: DateTime<Utc>,
}

impl PhaseChange {
    /// `phase`, entered at `at`.
    pub fn new(phase: DeploymentPhase, at: DateTime<Utc>) -> Self {
        Self { phase, at }
    }
}

/// Whether a deployment created the endpoint or updated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeploymentKind {
    /// The endpoint's first configuration.
    Create,
    /// A later configuration.
    Update,
}

/// One create or update of an endpoint, with its policy and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Deployment {
    /// Unique within the endpoint; opaque (the local backend counts, AWS uses the endpoint
    /// configuration's name).
    pub id: String,
    /// The endpoint.
    pub endpoint: EndpointName,
    /// Create or update.
    pub kind: DeploymentKind,
    /// The variant set it deploys.
    pub target: Vec<Variant>,
    /// How traffic moves (none: all at once).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub policy: Option<DeploymentPolicy>,
    /// Where it is now.
    #[serde(flatten)]
    pub phase: DeploymentPhase,
    /// Every phase entered, oldest first (the last is `phase`).
    pub timeline: Vec<PhaseChange>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; none while it runs.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ended_at: Option<DateTime<Utc>>,
}

/// Longest deployment id any backend issues.
pub const MAX_DEPLOYMENT_ID_LEN: usize = 128;

impl Deployment {
    /// Checks that `id` has the form every backend's deployment ids have (1–128 ASCII letters,
    /// digits, `-`, `_` and `.`, not starting with `.`), so it stays one URL path segment;
    /// `InvalidArgument` otherwise. Whether such a deployment exists is the backend's to say.
    pub fn check_id(id: &str) -> Result<()> {
        let valid = !id.is_empty()
            && id.len() <= MAX_DEPLOYMENT_ID_LEN
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(())
        } else {
            Err(Error::invalid(format!("'{id}' is not a deployment id")))
        }
    }

    /// A deployment that starts now, `Provisioning`.
    pub fn start(
        id: impl Into<String>,
        endpoint: EndpointName,
        kind: DeploymentKind,
        target: Vec<Variant>,
        policy: Option<DeploymentPolicy>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            endpoint,
            kind,
            target,
            policy,
            phase: DeploymentPhase::Provisioning,
            timeline: vec![PhaseChange::new(DeploymentPhase::Provisioning, now)],
            started_at: now,
            ended_at: None,
        }
    }

    /// Enters `phase` at `at` (no-op when it is the current phase; nothing moves a deployment
    /// out of a terminal phase).
    pub fn enter(&mut self, phase: DeploymentPhase, at: DateTime<Utc>) {
        if self.phase == phase || self.phase.is_terminal() {
            return;
        }
        if phase.is_terminal() {
            self.ended_at = Some(at);
        }
        self.timeline.push(PhaseChange::new(phase.clone(), at));
        self.phase = phase;
    }

    /// The summary an [`crate::Endpoint`] carries.
    pub fn summary(&self) -> DeploymentSummary {
        DeploymentSummary {
            id: self.id.clone(),
            phase: self.phase.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
        }
    }

    /// `Ok` unless it ended rolled back or failed (then the typed error).
    pub fn outcome(&self) -> Result<()> {
        match self.phase.to_error(&self.endpoint, &self.id) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The latest deployment of an endpoint, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct DeploymentSummary {
    /// Its id (see [`Deployment::id`]).
    pub id: String,
    /// Where it is now.
    #[serde(flatten)]
    pub phase: DeploymentPhase,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; none while it runs.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ended_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Deployment {
        Deployment::start(
            "1",
            EndpointName::new("news").unwrap(),
            DeploymentKind::Update,
            Vec::new(),
            None,
            Utc::now(),
        )
    }

    #[test]
    fn phases_are_recorded_in_order_and_end_once() {
        let mut d = deployment();
        let now = Utc::now();
        d.enter(DeploymentPhase::Shifting { percent: 10 }, now);
        d.enter(DeploymentPhase::Shifting { percent: 10 }, now);
        d.enter(DeploymentPhase::Baking { percent: 10 }, now);
        d.enter(
            DeploymentPhase::RolledBack {
                reason: "5xx".into(),
                alarm: Some(AlarmName::new("errors").unwrap()),
            },
            now,
        );
        d.enter(DeploymentPhase::Completed, now);
        let tags: Vec<_> = d.timeline.iter().map(|c| c.phase.as_str()).collect();
        assert_eq!(tags, ["provisioning", "shifting", "baking", "rolled_back"]);
        assert_eq!(d.ended_at, Some(now));
        let err = d.outcome().unwrap_err();
        assert!(matches!(err, Error::RolledBack(_)), "{err}");
        assert!(err.to_string().contains("alarm 'errors'"), "{err}");
    }

    #[test]
    fn deployment_ids_stay_one_path_segment() {
        for ok in ["1", "e-news-3-1a2b", "cfg_2.v1"] {
            Deployment::check_id(ok).unwrap();
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(129)] {
            assert!(Deployment::check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_phase_is_flattened_next_to_the_id() {
        let mut d = deployment();
        d.enter(DeploymentPhase::Shifting { percent: 10 }, Utc::now());
        let json = serde_json::to_value(d.summary()).unwrap();
        assert_eq!(json["phase"], "shifting");
        assert_eq!(json["percent"], 10);
        assert!(json["reason"].is_null() && json["alarm"].is_null());
        let back: DeploymentSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back.phase, DeploymentPhase::Shifting { percent: 10 });
    }
}
