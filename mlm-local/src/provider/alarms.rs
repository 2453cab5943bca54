//! Alarms: the `Alarms` half of the local backend, and their evaluation.
//!
//! Definitions and live state are kept in SQLite. A sibling of the health monitor looks every
//! second (or every `health_interval`, if shorter) for alarms whose period has just completed,
//! and evaluates each once per period, as CloudWatch does: the alarm's statistic over each of
//! its last `evaluation_periods` complete periods, read from the endpoint's metric history,
//! then [`mlm_core::evaluate_alarm`] (M out of N, missing-data treatment). Periods are aligned
//! to multiples of `period_seconds` since the epoch. A state change is an endpoint event.
//! History older than `metrics_retention` is gone, so its periods read as missing.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mlm_core::{
    Alarm, AlarmDefinition, AlarmName, Alarms, EndpointName, EndpointStatus, Error, MetricQuery,
    Page, PageRequest, Result, evaluate_alarm,
};

use super::{Inner, LocalProvider};

/// Longest pause between two looks for alarms whose period has completed.
const ALARM_TICK: Duration = Duration::from_secs(1);

#[async_trait]
impl Alarms for LocalProvider {
    async fn put_alarm(&self, definition: AlarmDefinition) -> Result<Alarm> {
        definition.validate()?;
        if !definition.actions.is_empty() {
            return Err(Error::unsupported(format!(
                "alarm '{}': the local backend has no notification targets (alarm actions are \
                 SNS topics, on AWS only); leave actions empty",
                definition.name
            )));
        }
        // Under `control`, so an alarm is never added to an endpoint whose delete was accepted.
        let _control = self.inner.control.lock().await;
        let stored = self.inner.store.get_endpoint(&definition.endpoint)?;
        if stored.endpoint.status == EndpointStatus::Deleting {
            return Err(Error::failed_precondition(format!(
                "endpoint '{}' is being deleted",
                definition.endpoint
            )));
        }
        if let Some(variant) = &definition.variant {
            let current = stored.endpoint.variants.iter().map(|v| &v.name);
            let pending = stored.pending.iter().flatten().map(|v| &v.name);
            if !current.chain(pending).any(|name| name == variant) {
                return Err(Error::invalid(format!(
                    "alarm '{}': endpoint '{}' has no variant '{variant}'",
                    definition.name, definition.endpoint
                )));
            }
        }
        let alarm = self.inner.store.put_alarm(&definition)?;
        self.inner.log(
            &definition.endpoint,
            "alarm_put",
            Some(definition.name.as_str()),
        );
        Ok(alarm)
    }

    async fn get_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<Alarm> {
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.get_alarm(endpoint, name)
    }

    async fn list_alarms(&self, endpoint: &EndpointName, page: PageRequest) -> Result<Page<Alarm>> {
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.list_alarms(endpoint, &page)
    }

    async fn delete_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<()> {
        let _control = self.inner.control.lock().await;
        self.inner.store.get_endpoint(endpoint)?;
        if let Some(running) = self.inner.store.latest_deployment(endpoint)?
            && !running.phase.is_terminal()
            && running
                .policy
                .as_ref()
                .is_some_and(|p| p.rollback_alarms.contains(name))
        {
            return Err(Error::failed_precondition(format!(
                "alarm '{name}' is a rollback alarm of deployment {} of endpoint '{endpoint}', \
                 which is running: wait until it ends, or stop it",
                running.id
            )));
        }
        self.inner.store.delete_alarm(endpoint, name)?;
        self.inner
            .log(endpoint, "alarm_deleted", Some(name.as_str()));
        Ok(())
    }
}

/// The end (seconds since the epoch) of the last period each alarm was evaluated for.
type Evaluated = HashMap<(EndpointName, AlarmName), i64>;

/// Evaluates every alarm once per period, shortly after the period ends. Holds only a weak
/// reference, so it ends when the provider is dropped.
pub(super) async fn alarm_loop(weak: Weak<Inner>) {
    let mut evaluated = Evaluated::new();
    while let Some(inner) = super::next_tick(&weak, |c| c.health_interval.min(ALARM_TICK)).await {
        inner.evaluate_due_alarms(&mut evaluated, Utc::now());
    }
}

impl Inner {
    /// Evaluates the alarms whose latest complete period has not been evaluated yet.
    fn evaluate_due_alarms(&self, evaluated: &mut Evaluated, now: DateTime<Utc>) {
        let alarms = match self.store.all_alarms() {
            Ok(alarms) => alarms,
            Err(e) => {
                tracing::warn!("cannot read alarms to evaluate them: {e}");
                return;
            }
        };
        let mut seen = Evaluated::with_capacity(alarms.len());
        for alarm in alarms {
            let d = &alarm.definition;
            let key = (d.endpoint.clone(), d.name.clone());
            let period = i64::from(d.period_seconds);
            let end = now.timestamp().div_euclid(period) * period;
            if evaluated.get(&key) != Some(&end) {
                self.evaluate_alarm(alarm, end, now);
            }
            seen.insert(key, end);
        }
        // Alarms deleted since are forgotten.
        *evaluated = seen;
    }

    /// Evaluates `alarm` over its periods ending at `end`, records its state and logs a
    /// change as an endpoint event.
    fn evaluate_alarm(&self, mut alarm: Alarm, end: i64, now: DateTime<Utc>) {
        let periods = self.alarm_periods(&alarm.definition, end);
        let before = alarm.state;
        let (state, reason) = evaluate_alarm(&alarm.definition, &periods, before);
        if alarm.transition(state, reason, now) {
            self.log(
                &alarm.definition.endpoint,
                "alarm_state",
                Some(&format!(
                    "alarm '{}': {before} -> {state}: {}",
                    alarm.definition.name, alarm.state_reason
                )),
            );
        }
        if let Err(e) = self.store.set_alarm_state(&alarm) {
            tracing::warn!(
                endpoint = %alarm.definition.endpoint,
                "cannot record the state of alarm '{}': {e}",
                alarm.definition.name
            );
        }
    }

    /// The alarm's statistic in each of the `evaluation_periods` periods that end at `end`
    /// (seconds since the epoch), oldest first; `None` where there was no data.
    fn alarm_periods(&self, d: &AlarmDefinition, end: i64) -> Vec<Option<f64>> {
        let period = i64::from(d.period_seconds);
        let count = i64::from(d.evaluation_periods);
        let start = end - count * period;
        let window = DateTime::from_timestamp(start, 0).zip(DateTime::from_timestamp(end, 0));
        let (Some(rt), Some((start_at, end_at))) = (self.runtime(&d.endpoint), window) else {
            return vec![None; count as usize];
        };
        let mut query = MetricQuery::last(
            d.endpoint.clone(),
            vec![d.metric],
            Duration::from_secs(u64::from(d.period_seconds)),
            d.period_seconds,
        )
        .with_statistic(d.statistic);
        query.start = start_at;
        query.end = end_at;
        query.variant = d.variant.clone();
        let series = rt
            .metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .query(&query);
        let points = series
            .first()
            .map(|s| s.points.as_slice())
            .unwrap_or_default();
        (0..count)
            .map(|i| {
                let at = start + i * period;
                points
                    .iter()
                    .find(|p| p.timestamp.timestamp() == at)
                    .map(|p| p.value)
            })
            .collect()
    }
}
