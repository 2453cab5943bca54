//! `mlm alarms`.

use mlm_core::{AlarmDefinition, Alarms};
use mlm_http::wire;
use serde_json::{Map, Value};

use super::{list, read_json};
use crate::cli::{AlarmPutArgs, AlarmsCommand};
use crate::failure::Failure;
use crate::output::Output;

pub(super) async fn run(
    command: AlarmsCommand,
    mlm: &dyn Alarms,
    out: Output,
) -> Result<(), Failure> {
    match command {
        AlarmsCommand::List(a) => {
            out.print(&list(&a.page, |p| mlm.list_alarms(&a.endpoint, p)).await?)
        }
        AlarmsCommand::Get(a) => out.print(&mlm.get_alarm(&a.endpoint, &a.alarm).await?),
        AlarmsCommand::Put(a) => out.print(&mlm.put_alarm(definition(a)?).await?),
        AlarmsCommand::Delete(a) => {
            mlm.delete_alarm(&a.endpoint, &a.alarm).await?;
            out.note(&format!(
                "deleted alarm '{}' of endpoint '{}'",
                a.alarm, a.endpoint
            ))
        }
    }
}

/// The alarm the file or the flags define, read as the REST API reads `PUT .../alarms/{alarm}`
/// (the same defaults and checks).
fn definition(a: AlarmPutArgs) -> Result<AlarmDefinition, Failure> {
    let body: wire::PutAlarm = match &a.file {
        Some(path) => read_json(path)?,
        None => serde_json::from_value(Value::Object(flags_body(&a)))
            .map_err(|e| Failure::usage(format!("alarm: {e}")))?,
    };
    Ok(body.into_domain(a.endpoint, a.alarm)?)
}

/// The flags as the JSON body of the REST call.
fn flags_body(a: &AlarmPutArgs) -> Map<String, Value> {
    let mut body = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    set("metric", a.metric.map(|m| m.as_str().into()));
    set("comparison", a.comparison.clone().map(Value::from));
    set("threshold", a.threshold.map(Value::from));
    set("statistic", a.statistic.map(|s| s.as_str().into()));
    set("period_seconds", a.period.map(Value::from));
    set("evaluation_periods", a.evaluation_periods.map(Value::from));
    set(
        "datapoints_to_alarm",
        a.datapoints_to_alarm.map(Value::from),
    );
    set("variant", a.variant.as_ref().map(|v| v.as_str().into()));
    set("description", a.description.clone().map(Value::from));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{AlarmsCommand, Cli, Command};
    use clap::Parser;
    use mlm_core::{Comparison, MetricKind, Statistic};

    fn put(args: &[&str]) -> AlarmPutArgs {
        let base = ["mlm", "alarms", "put", "news", "errors"];
        let cli = Cli::try_parse_from(base.iter().chain(args)).unwrap();
        match cli.command {
            Command::Alarms(AlarmsCommand::Put(a)) => a,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn flags_read_as_the_rest_body_with_its_defaults() {
        let args = put(&[
            "--metric",
            "invocation_errors_5xx",
            "--comparison",
            ">",
            "--threshold",
            "0",
            "--evaluation-periods",
            "3",
        ]);
        let d = definition(args).unwrap();
        assert_eq!((d.endpoint.as_str(), d.name.as_str()), ("news", "errors"));
        assert_eq!(d.metric, MetricKind::InvocationErrors5xx);
        assert_eq!(d.comparison, Comparison::GreaterThan);
        assert_eq!(d.statistic, Statistic::Sum, "the metric's own statistic");
        assert_eq!((d.period_seconds, d.evaluation_periods), (60, 3));
        assert_eq!(d.datapoints_to_alarm, 3, "M defaults to N");
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let args = put(&[
            "--metric",
            "invocations",
            "--comparison",
            "=",
            "--threshold",
            "1",
        ]);
        assert_eq!(definition(args).unwrap_err().code(), 2);
        let args = put(&[
            "--metric",
            "invocations",
            "--comparison",
            ">",
            "--threshold",
            "1",
            "--period",
            "7",
        ]);
        assert_eq!(definition(args).unwrap_err().code(), 2);
    }
}
