//! Alarms as CloudWatch metric alarms.
//!
//! | mlm | CloudWatch |
//! | --- | --- |
//! | alarm `a` of endpoint `e` | metric alarm `mlm/e/a` (`crate::naming`), tagged `mlm:managed`, `mlm:endpoint`, `mlm:alarm` |
//! | metric, statistic | namespace, metric name and statistic from the one table in `crate::metrics`, dimensions `EndpointName`, `VariantName` |
//! | variant | SageMaker publishes per variant only, so an alarm watches one: the one named, else the endpoint's only variant (tag `mlm:variant-defaulted`); an endpoint with several needs one named |
//! | threshold | as given for counts and latency; utilisation figures are per core/GPU in mlm and summed over cores/GPUs in CloudWatch, so the threshold is multiplied by the variant's count at put time (tag `mlm:threshold` keeps the given one: put the alarm again after changing the instance type) |
//! | comparison, missing data, periods | `ComparisonOperator`, `TreatMissingData`, `Period`, `EvaluationPeriods`, `DatapointsToAlarm` |
//! | actions | SNS topics as `AlarmActions`, `OKActions` and `InsufficientDataActions` |
//! | state, reason, since | `StateValue`, `StateReason`, `StateUpdatedTimestamp` |
//!
//! Listing pages through `DescribeAlarms` with the prefix `mlm/e/`; deleting an endpoint
//! deletes its alarms. An alarm that a running deployment uses for rollback cannot be deleted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricAlarm, StateValue, Statistic as CwStatistic, Tag,
};
use mlm_core::{
    Alarm, AlarmDefinition, AlarmName, AlarmState, Alarms, Comparison, EndpointName, Error,
    MetricKind, Page, PageRequest, ResourceKind, Result, Statistic, TreatMissingData, VariantName,
};

use crate::cache::ConfigVariant;
use crate::error::{Target, from_sdk};
use crate::metrics::{divisor, metric_of, stat_name};
use crate::naming::{
    TAG_ALARM, TAG_ENDPOINT, TAG_MANAGED, TAG_THRESHOLD, TAG_VARIANT_DEFAULTED, alarm_name,
    alarm_prefix,
};
use crate::provider::{AwsProvider, Inner, next_page_token, ordered, page_token, to_utc};

/// Most alarm names one `DeleteAlarms` call takes.
const DELETE_BATCH: usize = 100;

fn alarm_target(endpoint: &str, alarm: &str) -> Target {
    Target::new(ResourceKind::Alarm, format!("{endpoint}/{alarm}"))
}

/// The variant an alarm watches: the one named, else the endpoint's only one.
fn watched_variant<'a>(
    definition: &AlarmDefinition,
    variants: &'a [ConfigVariant],
) -> Result<&'a ConfigVariant> {
    let endpoint = &definition.endpoint;
    match (&definition.variant, variants) {
        (Some(v), _) => variants
            .iter()
            .find(|c| c.name == v.as_str())
            .ok_or_else(|| Error::not_found(ResourceKind::Variant, format!("{endpoint}/{v}"))),
        (None, [only]) => Ok(only),
        (None, _) => Err(Error::invalid(format!(
            "alarm '{}': endpoint '{endpoint}' has {} variants ({}); CloudWatch has SageMaker's \
             metrics per variant only, so name the variant the alarm watches",
            definition.name,
            variants.len(),
            variants
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The threshold CloudWatch compares with: utilisation is summed over cores/GPUs there.
fn cloudwatch_threshold(definition: &AlarmDefinition, variant: &ConfigVariant) -> Result<f64> {
    let kind = definition.metric;
    let per_device = divisor(kind, variant.instance_type.as_deref(), false).ok_or_else(|| {
        Error::invalid(format!(
            "alarm '{}': mlm does not know how many GPUs instance type '{}' has, so a per-GPU \
             threshold on {kind} cannot be set in CloudWatch",
            definition.name,
            variant.instance_type.as_deref().unwrap_or("-")
        ))
    })?;
    Ok(definition.threshold * per_device)
}

/// What CloudWatch does not hold about a definition, as tags.
fn alarm_tags(definition: &AlarmDefinition) -> Vec<Tag> {
    let tag = |k: &str, v: String| Tag::builder().key(k).value(v).build();
    vec![
        tag(TAG_MANAGED, "true".into()),
        tag(TAG_ENDPOINT, definition.endpoint.to_string()),
        tag(TAG_ALARM, definition.name.to_string()),
        tag(
            TAG_VARIANT_DEFAULTED,
            definition.variant.is_none().to_string(),
        ),
        // `{:e}` is the shortest form that reads back exactly, and fits a tag value.
        tag(TAG_THRESHOLD, format!("{:e}", definition.threshold)),
    ]
}

/// The first of `all` whose CloudWatch spelling (`name`) is `wanted`.
fn by_cloudwatch_name<T: Copy>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    wanted: &str,
) -> Option<T> {
    all.iter().copied().find(|v| name(*v) == wanted)
}

/// Reads a definition back from the alarm and its tags.
fn definition_of(
    endpoint: &EndpointName,
    alarm: &MetricAlarm,
    tags: &BTreeMap<String, String>,
) -> Result<AlarmDefinition> {
    let cw_name = alarm.alarm_name().unwrap_or_default();
    let unreadable = |what: &str| {
        Error::provider_msg(
            format!("CloudWatch alarm '{cw_name}' has {what} mlm cannot read"),
            false,
        )
    };
    let name = cw_name
        .strip_prefix(&alarm_prefix(endpoint.as_str()))
        .and_then(|n| AlarmName::new(n).ok())
        .ok_or_else(|| unreadable("a name"))?;
    let (ns, metric) = (alarm.namespace(), alarm.metric_name());
    let kind = MetricKind::ALL
        .into_iter()
        .find(|k| metric_of(*k).is_some_and(|m| (Some(m.0), Some(m.1)) == (ns, metric)))
        .ok_or_else(|| unreadable("a metric"))?;
    let statistic = alarm
        .statistic()
        .and_then(|s| by_cloudwatch_name(&Statistic::ALL, stat_name, s.as_str()))
        .ok_or_else(|| unreadable("a statistic"))?;
    let comparison = alarm
        .comparison_operator()
        .and_then(|c| by_cloudwatch_name(&Comparison::ALL, Comparison::cloudwatch_name, c.as_str()))
        .ok_or_else(|| unreadable("a comparison"))?;
    let threshold = tags
        .get(TAG_THRESHOLD)
        .and_then(|t| t.parse().ok())
        .or(alarm.threshold())
        .ok_or_else(|| unreadable("no threshold"))?;
    let period = u32::try_from(alarm.period().unwrap_or(0)).map_err(|_| unreadable("a period"))?;
    let mut d = AlarmDefinition::new(
        name,
        endpoint.clone(),
        kind,
        statistic,
        comparison,
        threshold,
        period,
    );
    let n = alarm.evaluation_periods().unwrap_or(1).max(1) as u32;
    d.evaluation_periods = n;
    d.datapoints_to_alarm = alarm.datapoints_to_alarm().map_or(n, |m| m.max(1) as u32);
    d.treat_missing_data = alarm
        .treat_missing_data()
        .and_then(|t| {
            by_cloudwatch_name(&TreatMissingData::ALL, TreatMissingData::cloudwatch_name, t)
        })
        .unwrap_or_default();
    if tags.get(TAG_VARIANT_DEFAULTED).is_none_or(|v| v != "true") {
        d.variant = (alarm.dimensions().iter())
            .find(|dim| dim.name() == Some("VariantName"))
            .and_then(|dim| VariantName::new(dim.value()?).ok());
    }
    d.actions = alarm.alarm_actions().to_vec();
    d.description = alarm
        .alarm_description()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(d)
}

/// `definition` with the live state of `alarm`.
fn with_state(definition: AlarmDefinition, alarm: &MetricAlarm) -> Alarm {
    let mut out = Alarm::new(definition, to_utc(alarm.state_updated_timestamp()));
    out.state = alarm
        .state_value()
        .and_then(|s| s.as_str().parse().ok())
        .unwrap_or(AlarmState::InsufficientData);
    out.state_reason = alarm.state_reason().unwrap_or_default().to_string();
    out
}

/// The alarm with its live state.
fn alarm_of(
    endpoint: &EndpointName,
    alarm: &MetricAlarm,
    tags: &BTreeMap<String, String>,
) -> Result<Alarm> {
    Ok(with_state(definition_of(endpoint, alarm, tags)?, alarm))
}

impl Inner {
    /// PutMetricAlarm for `definition`, which watches `variant`.
    async fn put_metric_alarm(
        &self,
        definition: &AlarmDefinition,
        variant: &ConfigVariant,
    ) -> Result<()> {
        let (namespace, metric) = metric_of(definition.metric)
            .ok_or_else(|| Error::unsupported(format!("alarms on {} on AWS", definition.metric)))?;
        let endpoint = definition.endpoint.as_str();
        let dimension = |k: &str, v: &str| Dimension::builder().name(k).value(v).build();
        let actions = (!definition.actions.is_empty()).then(|| definition.actions.clone());
        self.cw
            .put_metric_alarm()
            .alarm_name(alarm_name(endpoint, definition.name.as_str()))
            .set_alarm_description(definition.description.clone())
            .actions_enabled(true)
            .set_alarm_actions(actions.clone())
            .set_ok_actions(actions.clone())
            .set_insufficient_data_actions(actions)
            .namespace(namespace)
            .metric_name(metric)
            .dimensions(dimension("EndpointName", endpoint))
            .dimensions(dimension("VariantName", &variant.name))
            .statistic(CwStatistic::from(stat_name(definition.statistic)))
            .period(definition.period_seconds as i32)
            .evaluation_periods(definition.evaluation_periods as i32)
            .datapoints_to_alarm(definition.datapoints_to_alarm as i32)
            .threshold(cloudwatch_threshold(definition, variant)?)
            .comparison_operator(ComparisonOperator::from(
                definition.comparison.cloudwatch_name(),
            ))
            .treat_missing_data(definition.treat_missing_data.cloudwatch_name())
            .set_tags(Some(alarm_tags(definition)))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&alarm_target(endpoint, definition.name.as_str()))))?;
        Ok(())
    }

    /// The CloudWatch alarm `name` of `endpoint`, if it exists.
    async fn metric_alarm(&self, endpoint: &str, name: &str) -> Result<Option<MetricAlarm>> {
        let out = self
            .cw
            .describe_alarms()
            .alarm_names(alarm_name(endpoint, name))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&alarm_target(endpoint, name))))?;
        Ok(out.metric_alarms().first().cloned())
    }

    /// An alarm's tags (none for an alarm without an ARN).
    async fn alarm_tags(&self, alarm: &MetricAlarm) -> Result<BTreeMap<String, String>> {
        let Some(arn) = alarm.alarm_arn() else {
            return Ok(BTreeMap::new());
        };
        let out = self
            .cw
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| from_sdk(e, None))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    async fn read_alarm(&self, endpoint: &EndpointName, alarm: &MetricAlarm) -> Result<Alarm> {
        let tags = self.alarm_tags(alarm).await?;
        alarm_of(endpoint, alarm, &tags)
    }

    /// Each of `alarms` (mlm alarms of `endpoint`, at most 100) with its CloudWatch alarm,
    /// `None` for one that does not exist.
    async fn named_alarms<'a>(
        &self,
        endpoint: &str,
        alarms: &'a [AlarmName],
    ) -> Result<Vec<(&'a AlarmName, Option<MetricAlarm>)>> {
        if alarms.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = (alarms.iter())
            .map(|a| alarm_name(endpoint, a.as_str()))
            .collect();
        let out = self
            .cw
            .describe_alarms()
            .set_alarm_names(Some(names.clone()))
            .send()
            .await
            .map_err(|e| from_sdk(e, None))?;
        let found = out.metric_alarms();
        Ok(alarms
            .iter()
            .zip(&names)
            .map(|(a, n)| (a, found.iter().find(|m| m.alarm_name() == Some(n)).cloned()))
            .collect())
    }

    /// Those of `alarms` (mlm alarms of `endpoint`) that are in `ALARM` now, in that order.
    pub(crate) async fn alarms_in_alarm(
        &self,
        endpoint: &str,
        alarms: &[AlarmName],
    ) -> Result<Vec<AlarmName>> {
        let named = self.named_alarms(endpoint, alarms).await?;
        Ok(named
            .into_iter()
            .filter(|(_, m)| m.as_ref().and_then(|m| m.state_value()) == Some(&StateValue::Alarm))
            .map(|(a, _)| a.clone())
            .collect())
    }

    /// `InvalidArgument` naming the first of `alarms` that is not an alarm of `endpoint`.
    pub(crate) async fn check_alarms_exist(
        &self,
        endpoint: &str,
        alarms: &[AlarmName],
    ) -> Result<()> {
        let named = self.named_alarms(endpoint, alarms).await?;
        match named.into_iter().find(|(_, m)| m.is_none()) {
            Some((missing, _)) => Err(Error::invalid(format!(
                "deployment: rollback alarm '{missing}' is not an alarm of endpoint                  '{endpoint}': create it (put_alarm) before the update"
            ))),
            None => Ok(()),
        }
    }

    /// Sets an mlm alarm of `endpoint` to `ALARM` (what makes SageMaker roll back).
    pub(crate) async fn trip_alarm(
        &self,
        endpoint: &str,
        alarm: &AlarmName,
        reason: &str,
    ) -> Result<()> {
        self.cw
            .set_alarm_state()
            .alarm_name(alarm_name(endpoint, alarm.as_str()))
            .state_value(StateValue::Alarm)
            .state_reason(reason)
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&alarm_target(endpoint, alarm.as_str()))))?;
        Ok(())
    }

    /// Every alarm mlm made for `endpoint`, by name.
    async fn endpoint_alarms(&self, endpoint: &str) -> Result<Vec<MetricAlarm>> {
        let pages: Vec<_> = self
            .cw
            .describe_alarms()
            .alarm_name_prefix(alarm_prefix(endpoint))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(e, None))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.metric_alarms())
            .cloned()
            .collect())
    }

    /// The ARNs of every alarm mlm made for `endpoint` (what a dashboard's alarm widget lists).
    pub(crate) async fn endpoint_alarm_arns(&self, endpoint: &str) -> Result<Vec<String>> {
        let alarms = self.endpoint_alarms(endpoint).await?;
        Ok(alarms
            .iter()
            .filter_map(|a| a.alarm_arn().map(str::to_string))
            .collect())
    }

    /// Deletes every alarm mlm made for `endpoint` (after the endpoint itself).
    pub(crate) async fn delete_endpoint_alarms(&self, endpoint: &str) -> Result<()> {
        let alarms = self.endpoint_alarms(endpoint).await?;
        let names: Vec<String> = (alarms.iter())
            .filter_map(|a| a.alarm_name().map(str::to_string))
            .collect();
        for chunk in names.chunks(DELETE_BATCH) {
            self.cw
                .delete_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| from_sdk(e, None))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Alarms for AwsProvider {
    async fn put_alarm(&self, definition: AlarmDefinition) -> Result<Alarm> {
        definition.validate()?;
        let inner = &self.inner;
        let endpoint = definition.endpoint.as_str();
        let d = inner.describe(endpoint).await?;
        let config = inner.config(&d.config_name).await?;
        let variant = watched_variant(&definition, &config.variants)?;
        inner.put_metric_alarm(&definition, variant).await?;
        let name = definition.name.as_str();
        let alarm = inner.metric_alarm(endpoint, name).await?.ok_or_else(|| {
            Error::provider_msg(format!("alarm '{name}' vanished after it was put"), true)
        })?;
        // PutMetricAlarm ignores tags when it replaces an alarm: set them on their own too.
        if let Some(arn) = alarm.alarm_arn() {
            inner
                .cw
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(alarm_tags(&definition)))
                .send()
                .await
                .map_err(|e| from_sdk(e, Some(&alarm_target(endpoint, name))))?;
        }
        Ok(with_state(definition, &alarm))
    }

    async fn get_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<Alarm> {
        let inner = &self.inner;
        match inner.metric_alarm(endpoint.as_str(), name.as_str()).await? {
            Some(alarm) => inner.read_alarm(endpoint, &alarm).await,
            None => Err(Error::not_found(
                ResourceKind::Alarm,
                format!("{endpoint}/{name}"),
            )),
        }
    }

    async fn list_alarms(&self, endpoint: &EndpointName, page: PageRequest) -> Result<Page<Alarm>> {
        let size = page.size()?;
        let inner = &self.inner;
        // A missing endpoint is NotFound, not an empty list.
        inner.describe(endpoint.as_str()).await?;
        let out = inner
            .cw
            .describe_alarms()
            .alarm_name_prefix(alarm_prefix(endpoint.as_str()))
            .max_records(size as i32)
            .set_next_token(page_token(&page)?)
            .send()
            .await
            .map_err(|e| from_sdk(e, None))?;
        let alarms = out.metric_alarms().to_vec();
        let items = ordered(alarms, inner.settings.concurrency, |a| async move {
            inner.read_alarm(endpoint, &a).await
        })
        .await?;
        Ok(Page {
            items,
            next_page_token: next_page_token(out.next_token()),
        })
    }

    async fn delete_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<()> {
        let inner = &self.inner;
        if inner
            .metric_alarm(endpoint.as_str(), name.as_str())
            .await?
            .is_none()
        {
            return Err(Error::not_found(
                ResourceKind::Alarm,
                format!("{endpoint}/{name}"),
            ));
        }
        inner.check_not_guarding(endpoint, name).await?;
        inner
            .cw
            .delete_alarms()
            .alarm_names(alarm_name(endpoint.as_str(), name.as_str()))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&alarm_target(endpoint.as_str(), name.as_str()))))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::types::MetricAlarm;

    use super::*;

    fn variant(name: &str, instance_type: Option<&str>) -> ConfigVariant {
        ConfigVariant::for_tests(name, instance_type)
    }

    fn definition(metric: MetricKind, threshold: f64) -> AlarmDefinition {
        AlarmDefinition::new(
            AlarmName::new("errors").unwrap(),
            EndpointName::new("news").unwrap(),
            metric,
            Statistic::Sum,
            Comparison::GreaterThan,
            threshold,
            60,
        )
    }

    #[test]
    fn the_only_variant_is_watched_unless_one_is_named() {
        let one = [variant("blue", Some("ml.m5.large"))];
        let two = [variant("blue", None), variant("green", None)];
        let d = definition(MetricKind::Invocations, 1.0);
        assert_eq!(watched_variant(&d, &one).unwrap().name, "blue");
        let err = watched_variant(&d, &two).unwrap_err();
        assert_eq!(err.kind(), mlm_core::ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains("2 variants (blue, green)"),
            "{err}"
        );
        let named = d.clone().for_variant(VariantName::new("green").unwrap());
        assert_eq!(watched_variant(&named, &two).unwrap().name, "green");
        let missing = d.for_variant(VariantName::new("red").unwrap());
        assert_eq!(
            watched_variant(&missing, &two).unwrap_err().kind(),
            mlm_core::ErrorKind::NotFound
        );
    }

    #[test]
    fn utilisation_thresholds_are_summed_over_cores_and_gpus() {
        let m5 = variant("v", Some("ml.m5.xlarge"));
        let cpu = definition(MetricKind::CpuUtilization, 80.0);
        assert_eq!(cloudwatch_threshold(&cpu, &m5).unwrap(), 320.0);
        let errors = definition(MetricKind::InvocationErrors5xx, 3.0);
        assert_eq!(cloudwatch_threshold(&errors, &m5).unwrap(), 3.0);
        let gpu = definition(MetricKind::GpuUtilization, 50.0);
        assert_eq!(
            cloudwatch_threshold(&gpu, &variant("v", Some("ml.g5.12xlarge"))).unwrap(),
            200.0
        );
        let err = cloudwatch_threshold(&gpu, &m5).unwrap_err();
        assert!(err.to_string().contains("GPUs"), "{err}");
    }

    /// What DescribeAlarms would return for a definition put with `threshold` in CloudWatch.
    fn described(d: &AlarmDefinition, cw_threshold: f64) -> MetricAlarm {
        let (ns, metric) = metric_of(d.metric).unwrap();
        MetricAlarm::builder()
            .alarm_name(alarm_name("news", d.name.as_str()))
            .namespace(ns)
            .metric_name(metric)
            .statistic(CwStatistic::from(stat_name(d.statistic)))
            .comparison_operator(ComparisonOperator::from(d.comparison.cloudwatch_name()))
            .threshold(cw_threshold)
            .period(d.period_seconds as i32)
            .evaluation_periods(d.evaluation_periods as i32)
            .datapoints_to_alarm(d.datapoints_to_alarm as i32)
            .treat_missing_data(d.treat_missing_data.cloudwatch_name())
            .dimensions(
                Dimension::builder()
                    .name("EndpointName")
                    .value("news")
                    .build(),
            )
            .dimensions(
                Dimension::builder()
                    .name("VariantName")
                    .value("blue")
                    .build(),
            )
            .set_alarm_actions(Some(d.actions.clone()))
            .set_alarm_description(d.description.clone())
            .state_value(StateValue::Alarm)
            .state_reason("Threshold Crossed")
            .build()
    }

    fn tags_of(d: &AlarmDefinition) -> BTreeMap<String, String> {
        alarm_tags(d)
            .into_iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn definitions_read_back_from_cloudwatch_and_tags() {
        let endpoint = EndpointName::new("news").unwrap();
        for kind in MetricKind::ALL
            .into_iter()
            .filter(|k| metric_of(*k).is_some())
        {
            for statistic in Statistic::ALL {
                let mut d = definition(kind, 0.1)
                    .with_datapoints(2, 3)
                    .with_missing_data(TreatMissingData::NotBreaching);
                d.statistic = statistic;
                d.comparison = Comparison::LessThanOrEqual;
                d.actions = vec!["arn:aws:sns:us-east-1:123456789012:alerts".into()];
                d.description = Some("5xx".into());
                // The endpoint's only variant: read back as "none named".
                let back = definition_of(&endpoint, &described(&d, 0.4), &tags_of(&d)).unwrap();
                assert_eq!(back, d, "{kind} {statistic:?}");
                let named = d.clone().for_variant(VariantName::new("blue").unwrap());
                let back = definition_of(&endpoint, &described(&named, 0.4), &tags_of(&named));
                assert_eq!(back.unwrap(), named);
            }
        }
        // Without mlm's tags (another tool made it): CloudWatch's figures, the variant named.
        let d = definition(MetricKind::CpuUtilization, 80.0);
        let back = definition_of(&endpoint, &described(&d, 320.0), &BTreeMap::new()).unwrap();
        assert_eq!(back.threshold, 320.0);
        assert_eq!(back.variant.as_ref().map(|v| v.as_str()), Some("blue"));
        let alarm = alarm_of(&endpoint, &described(&d, 320.0), &tags_of(&d)).unwrap();
        assert_eq!(alarm.state, AlarmState::Alarm);
        assert_eq!(alarm.state_reason, "Threshold Crossed");
    }

    #[test]
    fn thresholds_survive_their_tag() {
        for t in [0.1, 1e300, -3.5, 80.0, f64::MIN_POSITIVE] {
            let mut d = definition(MetricKind::Invocations, 0.0);
            d.threshold = t;
            let tags = tags_of(&d);
            let value = &tags[TAG_THRESHOLD];
            assert!(value.len() <= 256, "{value}");
            assert_eq!(value.parse::<f64>().unwrap(), t);
        }
    }
}
