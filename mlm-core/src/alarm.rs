//! Alarms on an endpoint's metrics, with CloudWatch's semantics on every backend.
//!
//! An alarm compares one statistic of one metric per period with a threshold. It goes to
//! `ALARM` when `datapoints_to_alarm` of the last `evaluation_periods` periods breach ("M out
//! of N"), and periods with no data count as `treat_missing_data` says. AWS evaluates alarms in
//! CloudWatch; the local backend evaluates them with [`evaluate`], every period.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::{AlarmName, EndpointName, VariantName};
use crate::observability::{MetricKind, Statistic};

/// Longest an alarm may look back: `period_seconds × evaluation_periods` (CloudWatch's limit).
pub const MAX_ALARM_WINDOW_SECONDS: u32 = 86_400;
/// Most notification actions per alarm (CloudWatch's limit).
pub const MAX_ALARM_ACTIONS: usize = 5;

/// How a period's value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum Comparison {
    /// value > threshold
    #[serde(rename = ">", alias = "GreaterThanThreshold")]
    GreaterThan,
    /// value >= threshold
    #[serde(rename = ">=", alias = "GreaterThanOrEqualToThreshold")]
    GreaterThanOrEqual,
    /// value < threshold
    #[serde(rename = "<", alias = "LessThanThreshold")]
    LessThan,
    /// value <= threshold
    #[serde(rename = "<=", alias = "LessThanOrEqualToThreshold")]
    LessThanOrEqual,
}

impl Comparison {
    /// Every comparison.
    pub const ALL: [Self; 4] = [
        Self::GreaterThan,
        Self::GreaterThanOrEqual,
        Self::LessThan,
        Self::LessThanOrEqual,
    ];

    /// The wire spelling (`>`, `>=`, `<`, `<=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreaterThan => ">",
            Self::GreaterThanOrEqual => ">=",
            Self::LessThan => "<",
            Self::LessThanOrEqual => "<=",
        }
    }

    /// CloudWatch's name for it.
    pub fn cloudwatch_name(self) -> &'static str {
        match self {
            Self::GreaterThan => "GreaterThanThreshold",
            Self::GreaterThanOrEqual => "GreaterThanOrEqualToThreshold",
            Self::LessThan => "LessThanThreshold",
            Self::LessThanOrEqual => "LessThanOrEqualToThreshold",
        }
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThan => value > threshold,
            Self::GreaterThanOrEqual => value >= threshold,
            Self::LessThan => value < threshold,
            Self::LessThanOrEqual => value <= threshold,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a period with no data counts (CloudWatch's `TreatMissingData`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TreatMissingData {
    /// Not counted; with no data at all the alarm is `INSUFFICIENT_DATA`.
    #[default]
    Missing,
    /// Not counted; with no data at all the alarm keeps its state.
    Ignore,
    /// Counts as breaching.
    Breaching,
    /// Counts as not breaching.
    NotBreaching,
}

impl TreatMissingData {
    /// Every treatment.
    pub const ALL: [Self; 4] = [
        Self::Missing,
        Self::Ignore,
        Self::Breaching,
        Self::NotBreaching,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Ignore => "ignore",
            Self::Breaching => "breaching",
            Self::NotBreaching => "not_breaching",
        }
    }

    /// CloudWatch's name for it.
    pub fn cloudwatch_name(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Ignore => "ignore",
            Self::Breaching => "breaching",
            Self::NotBreaching => "notBreaching",
        }
    }
}

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AlarmState {
    /// Within the threshold.
    Ok,
    /// Breaching.
    Alarm,
    /// Not enough data to tell.
    InsufficientData,
}

impl AlarmState {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Ok, Self::Alarm, Self::InsufficientData];

    /// The wire spelling, which is CloudWatch's (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlarmState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Error::invalid(format!("'{s}' is not an alarm state")))
    }
}

/// What an alarm watches and when it fires: the body of a create-or-replace.
///
/// Read from its serde form with CloudWatch's defaults for what is left out: the metric's own
/// statistic ([`MetricKind::default_statistic`]), one 60 s period, `datapoints_to_alarm` =
/// `evaluation_periods`, `missing` data, no variant, actions or description — the same
/// defaults on every way in (REST, Python, Rust).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "AlarmFields")]
#[non_exhaustive]
pub struct AlarmDefinition {
    /// Unique within the endpoint.
    pub name: AlarmName,
    /// The endpoint whose metric is watched.
    pub endpoint: EndpointName,
    /// Only this variant's figures; none: the whole endpoint.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub variant: Option<VariantName>,
    /// The metric.
    pub metric: MetricKind,
    /// How a period's data points are combined.
    pub statistic: Statistic,
    /// How the combined value is compared with `threshold`.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// Length of one period: 10, 20, 30 or a multiple of 60 seconds.
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 86400))]
    pub period_seconds: u32,
    /// Periods looked at (N).
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub evaluation_periods: u32,
    /// Breaching periods among the last N that put the alarm in `ALARM` (M, 1–N).
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub datapoints_to_alarm: u32,
    /// How periods with no data count.
    pub treat_missing_data: TreatMissingData,
    /// Notified on every state change (SNS topic ARNs, AWS only); at most 5.
    pub actions: Vec<String>,
    /// What the alarm is for.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub description: Option<String>,
}

/// [`AlarmDefinition`] as read, before the defaults are filled in.
#[derive(Deserialize)]
struct AlarmFields {
    name: AlarmName,
    endpoint: EndpointName,
    #[serde(default)]
    variant: Option<VariantName>,
    metric: MetricKind,
    #[serde(default)]
    statistic: Option<Statistic>,
    comparison: Comparison,
    threshold: f64,
    #[serde(default = "default_period")]
    period_seconds: u32,
    #[serde(default = "default_evaluation_periods")]
    evaluation_periods: u32,
    #[serde(default)]
    datapoints_to_alarm: Option<u32>,
    #[serde(default)]
    treat_missing_data: TreatMissingData,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

fn default_period() -> u32 {
    60
}

fn default_evaluation_periods() -> u32 {
    1
}

impl From<AlarmFields> for AlarmDefinition {
    fn from(f: AlarmFields) -> Self {
        Self {
            statistic: f.statistic.unwrap_or_else(|| f.metric.default_statistic()),
            datapoints_to_alarm: f.datapoints_to_alarm.unwrap_or(f.evaluation_periods),
            name: f.name,
            endpoint: f.endpoint,
            variant: f.variant,
            metric: f.metric,
            comparison: f.comparison,
            threshold: f.threshold,
            period_seconds: f.period_seconds,
            evaluation_periods: f.evaluation_periods,
            treat_missing_data: f.treat_missing_data,
            actions: f.actions,
            description: f.description,
        }
    }
}

impl AlarmDefinition {
    /// An alarm on `metric` of `endpoint` that fires when one `period_seconds` period's
    /// `statistic` compares true with `threshold`; missing data is `missing`, no actions.
    pub fn new(
        name: AlarmName,
        endpoint: EndpointName,
        metric: MetricKind,
        statistic: Statistic,
        comparison: Comparison,
        threshold: f64,
        period_seconds: u32,
    ) -> Self {
        Self {
            name,
            endpoint,
            variant: None,
            metric,
            statistic,
            comparison,
            threshold,
            period_seconds,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            treat_missing_data: TreatMissingData::Missing,
            actions: Vec::new(),
            description: None,
        }
    }

    /// Fires when `m` of the last `n` periods breach.
    pub fn with_datapoints(mut self, m: u32, n: u32) -> Self {
        self.datapoints_to_alarm = m;
        self.evaluation_periods = n;
        self
    }

    /// Counts periods with no data as `treatment` says.
    pub fn with_missing_data(mut self, treatment: TreatMissingData) -> Self {
        self.treat_missing_data = treatment;
        self
    }

    /// Watches only `variant`.
    pub fn for_variant(mut self, variant: VariantName) -> Self {
        self.variant = Some(variant);
        self
    }

    /// Checks the definition with CloudWatch's rules, so one valid here is valid on AWS.
    pub fn validate(&self) -> Result<()> {
        let name = &self.name;
        let p = self.period_seconds;
        if !(matches!(p, 10 | 20 | 30) || (p >= 60 && p.is_multiple_of(60))) {
            return Err(Error::invalid(format!(
                "alarm '{name}': period_seconds {p} must be 10, 20, 30 or a multiple of 60"
            )));
        }
        if self.evaluation_periods == 0
            || u64::from(p) * u64::from(self.evaluation_periods)
                > u64::from(MAX_ALARM_WINDOW_SECONDS)
        {
            return Err(Error::invalid(format!(
                "alarm '{name}': evaluation_periods must be at least 1 and period_seconds × \
                 evaluation_periods at most {MAX_ALARM_WINDOW_SECONDS} (one day)"
            )));
        }
        if !(1..=self.evaluation_periods).contains(&self.datapoints_to_alarm) {
            return Err(Error::invalid(format!(
                "alarm '{name}': datapoints_to_alarm {} must be 1-{} (evaluation_periods)",
                self.datapoints_to_alarm, self.evaluation_periods
            )));
        }
        if !self.threshold.is_finite() {
            return Err(Error::invalid(format!(
                "alarm '{name}': threshold must be a finite number"
            )));
        }
        if self.actions.len() > MAX_ALARM_ACTIONS {
            return Err(Error::invalid(format!(
                "alarm '{name}': at most {MAX_ALARM_ACTIONS} actions"
            )));
        }
        if let Some(bad) = self.actions.iter().find(|a| !is_sns_topic_arn(a)) {
            return Err(Error::invalid(format!(
                "alarm '{name}': action '{bad}' is not an SNS topic ARN \
                 (arn:aws:sns:<region>:<account>:<topic>)"
            )));
        }
        if let Some(d) = &self.description
            && d.chars().count() > 1024
        {
            return Err(Error::invalid(format!(
                "alarm '{name}': description is longer than 1024 characters"
            )));
        }
        Ok(())
    }
}

fn is_sns_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && parts[3..].iter().all(|p| !p.is_empty())
}

/// An alarm with its live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Alarm {
    /// What it watches.
    #[serde(flatten)]
    pub definition: AlarmDefinition,
    /// Its state now.
    pub state: AlarmState,
    /// Why it is in that state (the values that decided it).
    pub state_reason: String,
    /// Since when.
    pub state_since: DateTime<Utc>,
}

impl Alarm {
    /// A new alarm, `INSUFFICIENT_DATA` until first evaluated.
    pub fn new(definition: AlarmDefinition, now: DateTime<Utc>) -> Self {
        Self {
            definition,
            state: AlarmState::InsufficientData,
            state_reason: "not evaluated yet".into(),
            state_since: now,
        }
    }

    /// Moves to `state` (keeping `state_since` when the state does not change); true when the
    /// state changed.
    pub fn transition(&mut self, state: AlarmState, reason: String, now: DateTime<Utc>) -> bool {
        let changed = state != self.state;
        if changed {
            self.state_since = now;
        }
        self.state = state;
        self.state_reason = reason;
        changed
    }
}

/// Evaluates an alarm over its last `evaluation_periods` periods, oldest first (`None`: no
/// data in that period), with CloudWatch's M-out-of-N and missing-data rules. Returns the new
/// state and a reason naming the figures.
pub fn evaluate(
    definition: &AlarmDefinition,
    periods: &[Option<f64>],
    current: AlarmState,
) -> (AlarmState, String) {
    let d = definition;
    let m = d.datapoints_to_alarm as usize;
    let missing = periods.iter().filter(|p| p.is_none()).count();
    let breaching_values: Vec<f64> = periods
        .iter()
        .flatten()
        .copied()
        .filter(|v| d.comparison.breaches(*v, d.threshold))
        .collect();
    let mut breaching = breaching_values.len();
    if missing == periods.len() {
        match d.treat_missing_data {
            TreatMissingData::Missing => {
                return (
                    AlarmState::InsufficientData,
                    format!("no data in the last {} period(s)", periods.len()),
                );
            }
            TreatMissingData::Ignore => {
                return (
                    current,
                    "no data; state kept (treat_missing_data=ignore)".into(),
                );
            }
            _ => {}
        }
    }
    if d.treat_missing_data == TreatMissingData::Breaching {
        breaching += missing;
    }
    let shown: Vec<String> = periods
        .iter()
        .map(|p| p.map_or("-".to_owned(), |v| format!("{v}")))
        .collect();
    let figures = format!(
        "{} of the last {} period(s) of {} {} {} {} [{}]",
        breaching,
        periods.len(),
        d.statistic.as_str(),
        d.metric,
        d.comparison,
        d.threshold,
        shown.join(", ")
    );
    if breaching >= m {
        (AlarmState::Alarm, format!("threshold crossed: {figures}"))
    } else {
        (AlarmState::Ok, format!("within threshold: {figures}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(m: u32, n: u32, missing: TreatMissingData) -> AlarmDefinition {
        AlarmDefinition::new(
            AlarmName::new("errors").unwrap(),
            EndpointName::new("news").unwrap(),
            MetricKind::InvocationErrors5xx,
            Statistic::Sum,
            Comparison::GreaterThan,
            0.0,
            10,
        )
        .with_datapoints(m, n)
        .with_missing_data(missing)
    }

    #[test]
    fn m_out_of_n_breaching_periods_fire() {
        let a = alarm(2, 3, TreatMissingData::Missing);
        let ok = evaluate(&a, &[Some(1.0), Some(0.0), Some(0.0)], AlarmState::Ok);
        assert_eq!(ok.0, AlarmState::Ok, "{}", ok.1);
        let fired = evaluate(&a, &[Some(1.0), Some(0.0), Some(3.0)], AlarmState::Ok);
        assert_eq!(fired.0, AlarmState::Alarm);
        assert!(fired.1.contains("2 of the last 3"), "{}", fired.1);
    }

    #[test]
    fn missing_data_counts_as_configured() {
        let all_missing = [None, None];
        let cases = [
            (TreatMissingData::Missing, AlarmState::InsufficientData),
            (TreatMissingData::Ignore, AlarmState::Alarm),
            (TreatMissingData::Breaching, AlarmState::Alarm),
            (TreatMissingData::NotBreaching, AlarmState::Ok),
        ];
        for (treatment, expected) in cases {
            let (state, reason) =
                evaluate(&alarm(1, 2, treatment), &all_missing, AlarmState::Alarm);
            assert_eq!(state, expected, "{treatment:?}: {reason}");
        }
        // Some data: missing periods are simply not counted.
        let a = alarm(2, 3, TreatMissingData::Missing);
        assert_eq!(
            evaluate(&a, &[None, Some(1.0), None], AlarmState::Ok).0,
            AlarmState::Ok
        );
        let b = alarm(2, 3, TreatMissingData::Breaching);
        assert_eq!(
            evaluate(&b, &[None, Some(1.0), None], AlarmState::Ok).0,
            AlarmState::Alarm
        );
    }

    #[test]
    fn definitions_follow_cloudwatch_rules() {
        let ok = alarm(1, 1, TreatMissingData::Missing);
        ok.validate().unwrap();
        let mut bad = ok.clone();
        bad.period_seconds = 45;
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("period_seconds 45")
        );
        let bad = alarm(3, 2, TreatMissingData::Missing);
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("datapoints_to_alarm")
        );
        let mut bad = ok.clone();
        bad.period_seconds = 3600;
        bad.evaluation_periods = 25;
        bad.datapoints_to_alarm = 1;
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.actions = vec!["https://example.com/hook".into()];
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("SNS topic ARN")
        );
        let mut good = ok;
        good.actions = vec!["arn:aws:sns:eu-west-1:123456789012:alerts".into()];
        good.validate().unwrap();
    }

    #[test]
    fn left_out_fields_take_cloudwatch_defaults() {
        let d: AlarmDefinition = serde_json::from_value(serde_json::json!({
            "name": "errors", "endpoint": "news", "metric": "invocation_errors_5xx",
            "comparison": ">", "threshold": 0, "evaluation_periods": 3
        }))
        .unwrap();
        assert_eq!(d.statistic, Statistic::Sum);
        assert_eq!((d.period_seconds, d.datapoints_to_alarm), (60, 3));
        assert_eq!(d.treat_missing_data, TreatMissingData::Missing);
        let latency: AlarmDefinition = serde_json::from_value(serde_json::json!({
            "name": "slow", "endpoint": "news", "metric": "model_latency",
            "comparison": ">=", "threshold": 1e6
        }))
        .unwrap();
        assert_eq!(latency.statistic, Statistic::Average);
        let round = serde_json::to_value(&d).unwrap();
        assert_eq!(serde_json::from_value::<AlarmDefinition>(round).unwrap(), d);
    }

    #[test]
    fn wire_spellings() {
        for c in Comparison::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            let from_cw: Comparison =
                serde_json::from_value(serde_json::Value::from(c.cloudwatch_name())).unwrap();
            assert_eq!(from_cw, c);
        }
        for t in TreatMissingData::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for s in AlarmState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
