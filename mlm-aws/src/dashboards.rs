//! Endpoint dashboards as CloudWatch dashboards.
//!
//! CloudWatch actions called here (for the IAM policy mlm needs):
//! `cloudwatch:PutDashboard`, `cloudwatch:GetDashboard`, `cloudwatch:DeleteDashboards`
//! (endpoint deletion), `cloudwatch:DescribeAlarms` (the alarm widget), plus
//! `sagemaker:DescribeEndpoint` and `sagemaker:DescribeEndpointConfig` for the variants.
//!
//! | mlm | CloudWatch |
//! | --- | --- |
//! | the dashboard of endpoint `e` | dashboard `mlm-e` (`crate::naming::dashboard_name`) |
//! | traffic, errors, latency | `AWS/SageMaker` `Invocations`, `Invocation4XXErrors`/`Invocation5XXErrors` (sums), `ModelLatency` (p50, p90, average; µs), one line per variant |
//! | utilisation | per instance-based variant, `/aws/sagemaker/Endpoints` `CPUUtilization` and `MemoryUtilization`, and `GPUUtilization` and `GPUMemoryUtilization` where the instance type has GPUs (or mlm does not know); CPU and GPU are divided by the type's vCPU/GPU count (metric math) so they read as per-device percentages, as everywhere in mlm |
//! | per instance | per instance-based variant, the same figures one line per instance: a `SEARCH` over the `InstanceId` dimension (published with enhanced metrics, mlm's default), CPU and GPU per device |
//! | alarms | an alarm status widget with the ARNs of the endpoint's alarms (`mlm/e/…`) |
//!
//! Dimensions are `EndpointName` + `VariantName` (the variant aggregate SageMaker always
//! publishes). Putting the dashboard again rebuilds it from the endpoint as it is now (its
//! variants and alarms); deleting the endpoint deletes it.

use async_trait::async_trait;
use mlm_core::{Dashboard, Dashboards, EndpointName, Error, ResourceKind, Result};
use serde_json::{Value, json};

use crate::cache::ConfigVariant;
use crate::error::{Target, from_sdk};
use crate::instance_types::{gpu_count, vcpu_count};
use crate::metrics::{NS_INSTANCE, NS_INVOCATION};
use crate::naming::dashboard_name;
use crate::provider::{AwsProvider, Inner};

/// Seconds per data point of every graph.
const PERIOD: u32 = 60;
/// The dashboard grid is 24 units wide.
const FULL: u32 = 24;
const HEIGHT: u32 = 6;

fn dashboard_target(endpoint: &str) -> Target {
    Target::new(ResourceKind::Dashboard, endpoint)
}

/// The CloudWatch console page of dashboard `name`.
fn console_url(region: &str, name: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"
    )
}

/// One metric line of a widget: `[namespace, metric, dimensions..., options]`.
fn line(namespace: &str, metric: &str, endpoint: &str, variant: &str, options: Value) -> Value {
    json!([
        namespace,
        metric,
        "EndpointName",
        endpoint,
        "VariantName",
        variant,
        options
    ])
}

/// A time-series widget at `(x, y)`.
fn graph(title: &str, region: &str, (x, y, width): (u32, u32, u32), metrics: Vec<Value>) -> Value {
    json!({
        "type": "metric",
        "x": x,
        "y": y,
        "width": width,
        "height": HEIGHT,
        "properties": {
            "title": title,
            "view": "timeSeries",
            "stacked": false,
            "region": region,
            "period": PERIOD,
            "metrics": metrics,
        },
    })
}

/// The first row: traffic, errors and latency of every variant.
fn traffic_row(region: &str, endpoint: &str, variants: &[ConfigVariant]) -> Vec<Value> {
    let per_variant = |metric: &str, stat: &str, label: &dyn Fn(&str) -> String| {
        variants
            .iter()
            .map(|v| {
                let options = json!({"stat": stat, "label": label(&v.name)});
                line(NS_INVOCATION, metric, endpoint, &v.name, options)
            })
            .collect::<Vec<_>>()
    };
    let invocations = per_variant("Invocations", "Sum", &|v| v.to_string());
    let mut errors = per_variant("Invocation4XXErrors", "Sum", &|v| format!("{v} 4xx"));
    errors.extend(per_variant("Invocation5XXErrors", "Sum", &|v| {
        format!("{v} 5xx")
    }));
    let mut latency = Vec::new();
    for stat in ["p50", "p90", "Average"] {
        latency.extend(per_variant("ModelLatency", stat, &|v| {
            format!("{v} {stat}")
        }));
    }
    let third = FULL / 3;
    vec![
        graph("Invocations", region, (0, 0, third), invocations),
        graph(
            "Invocation errors (4xx, 5xx)",
            region,
            (third, 0, third),
            errors,
        ),
        graph("Model latency (µs)", region, (2 * third, 0, third), latency),
    ]
}

/// Lines of one utilisation figure of `variant`: the raw metric, hidden and divided by
/// `devices` when the count is known (CloudWatch sums over cores/GPUs), else shown as is.
fn utilisation(
    endpoint: &str,
    variant: &str,
    (id, metric, label): (&str, &str, &str),
    devices: Option<u32>,
) -> Vec<Value> {
    match devices.filter(|n| *n > 1) {
        Some(n) => vec![
            line(
                NS_INSTANCE,
                metric,
                endpoint,
                variant,
                json!({"stat": "Average", "id": id, "visible": false}),
            ),
            json!([{"expression": format!("{id} / {n}"), "label": label, "id": format!("{id}pct")}]),
        ],
        None => vec![line(
            NS_INSTANCE,
            metric,
            endpoint,
            variant,
            json!({"stat": "Average", "label": label}),
        )],
    }
}

/// The figures of every instance of `variant`, one line each: a `SEARCH` per figure over the
/// `InstanceId` dimension, CPU and GPU divided per device like the variant's.
fn per_instance(region: &str, endpoint: &str, v: &ConfigVariant, y: u32) -> Value {
    let it = v.instance_type.as_deref();
    let search = |metric: &str, devices: Option<u32>, id: &str| {
        let found = format!(
            "SEARCH('{{{NS_INSTANCE},EndpointName,InstanceId,VariantName}} \
             EndpointName=\"{endpoint}\" VariantName=\"{}\" MetricName=\"{metric}\"', \
             'Average', {PERIOD})",
            v.name
        );
        let expression = match devices.filter(|n| *n > 1) {
            Some(n) => format!("{found} / {n}"),
            None => found,
        };
        json!([{"expression": expression, "id": id}])
    };
    let mut metrics = vec![
        search("CPUUtilization", it.and_then(vcpu_count), "cpus"),
        search("MemoryUtilization", None, "mems"),
    ];
    let gpus = it.and_then(gpu_count);
    if gpus != Some(0) {
        metrics.push(search("GPUUtilization", gpus, "gpus"));
        metrics.push(search("GPUMemoryUtilization", gpus, "gmems"));
    }
    let title = format!("{}: per instance (%)", v.name);
    graph(&title, region, (0, y, FULL), metrics)
}

/// Two rows per instance-based variant: CPU and memory, and GPU where it has GPUs (or mlm
/// does not know whether it has); then the same per instance. Serverless variants publish no
/// instance metrics.
fn utilisation_rows(region: &str, endpoint: &str, variants: &[ConfigVariant]) -> Vec<Value> {
    let mut widgets = Vec::new();
    let instance_based = variants.iter().filter(|v| v.serverless.is_none());
    for (row, v) in instance_based.enumerate() {
        let y = HEIGHT * (2 * row as u32 + 1);
        widgets.push(per_instance(region, endpoint, v, y + HEIGHT));
        let it = v.instance_type.as_deref();
        let mut cpu = utilisation(
            endpoint,
            &v.name,
            ("cpu", "CPUUtilization", "CPU (% per vCPU)"),
            it.and_then(vcpu_count),
        );
        cpu.extend(utilisation(
            endpoint,
            &v.name,
            ("mem", "MemoryUtilization", "memory (%)"),
            None,
        ));
        let title = format!("{}: CPU and memory (%)", v.name);
        let gpus = it.and_then(gpu_count);
        if gpus == Some(0) {
            widgets.push(graph(&title, region, (0, y, FULL), cpu));
            continue;
        }
        widgets.push(graph(&title, region, (0, y, FULL / 2), cpu));
        let mut gpu = utilisation(
            endpoint,
            &v.name,
            ("gpu", "GPUUtilization", "GPU (% per GPU)"),
            gpus,
        );
        gpu.extend(utilisation(
            endpoint,
            &v.name,
            ("gmem", "GPUMemoryUtilization", "GPU memory (% per GPU)"),
            gpus,
        ));
        let title = format!("{}: GPU and GPU memory (%)", v.name);
        widgets.push(graph(&title, region, (FULL / 2, y, FULL / 2), gpu));
    }
    widgets
}

/// The last row: the state of the endpoint's alarms (a note when it has none, as CloudWatch
/// refuses an alarm widget without alarms).
fn alarm_row(region: &str, endpoint: &str, alarm_arns: &[String], y: u32) -> Value {
    if alarm_arns.is_empty() {
        return json!({
            "type": "text",
            "x": 0,
            "y": y,
            "width": FULL,
            "height": 2,
            "properties": {
                "markdown": format!(
                    "## Alarms\nEndpoint `{endpoint}` has no alarms: add one with \
                     `mlm alarms put`, then put this dashboard again."
                ),
            },
        });
    }
    json!({
        "type": "alarm",
        "x": 0,
        "y": y,
        "width": FULL,
        "height": HEIGHT,
        "properties": {
            "title": "Alarms",
            "region": region,
            "alarms": alarm_arns,
        },
    })
}

/// The dashboard body of `endpoint` with `variants` and the alarms `alarm_arns`.
pub(crate) fn dashboard_body(
    region: &str,
    endpoint: &str,
    variants: &[ConfigVariant],
    alarm_arns: &[String],
) -> Value {
    let mut widgets = traffic_row(region, endpoint, variants);
    let utilisation = utilisation_rows(region, endpoint, variants);
    let rows = variants.iter().filter(|v| v.serverless.is_none()).count() as u32;
    widgets.extend(utilisation);
    widgets.push(alarm_row(
        region,
        endpoint,
        alarm_arns,
        HEIGHT * (2 * rows + 1),
    ));
    json!({ "widgets": widgets })
}

/// The titles of a dashboard body's widgets, top to bottom (a text widget's is its first
/// line, without the heading marks).
pub(crate) fn widget_titles(body: &Value) -> Vec<String> {
    let widgets = body["widgets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut placed: Vec<(u64, u64, String)> = widgets
        .iter()
        .filter_map(|w| {
            let p = &w["properties"];
            let title = match p["title"].as_str() {
                Some(t) => t.to_string(),
                None => p["markdown"]
                    .as_str()?
                    .lines()
                    .next()?
                    .trim_start_matches('#')
                    .trim()
                    .to_string(),
            };
            Some((
                w["y"].as_u64().unwrap_or(0),
                w["x"].as_u64().unwrap_or(0),
                title,
            ))
        })
        .collect();
    placed.sort_by_key(|(y, x, _)| (*y, *x));
    placed.into_iter().map(|(_, _, t)| t).collect()
}

impl Inner {
    /// The dashboard body CloudWatch holds for `endpoint`, as text. `NotFound` if none.
    async fn stored_dashboard(&self, endpoint: &str) -> Result<String> {
        let out = self
            .cw
            .get_dashboard()
            .dashboard_name(dashboard_name(endpoint))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&dashboard_target(endpoint))))?;
        Ok(out.dashboard_body().unwrap_or("{}").to_string())
    }

    fn dashboard(&self, endpoint: &EndpointName, body: &Value) -> Dashboard {
        let name = dashboard_name(endpoint.as_str());
        let url = console_url(&self.region, &name);
        Dashboard::new(name, endpoint.clone(), url, widget_titles(body))
    }

    /// Deletes the dashboard of `endpoint` (endpoint deletion); none is as good as deleted.
    pub(crate) async fn delete_endpoint_dashboard(&self, endpoint: &str) -> Result<()> {
        match self
            .cw
            .delete_dashboards()
            .dashboard_names(dashboard_name(endpoint))
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&dashboard_target(endpoint))))
        {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Dashboards for AwsProvider {
    async fn put_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard> {
        let inner = &self.inner;
        let name = endpoint.as_str();
        let described = inner.describe(name).await?;
        let config = inner.config(&described.config_name).await?;
        let alarms = inner.endpoint_alarm_arns(name).await?;
        let body = dashboard_body(&inner.region, name, &config.variants, &alarms);
        let existed = match inner.stored_dashboard(name).await {
            Ok(_) => true,
            Err(Error::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        let out = inner
            .cw
            .put_dashboard()
            .dashboard_name(dashboard_name(name))
            .dashboard_body(body.to_string())
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&dashboard_target(name))))?;
        for m in out.dashboard_validation_messages() {
            tracing::warn!(
                endpoint = name,
                path = m.data_path().unwrap_or_default(),
                "CloudWatch accepted the dashboard with a warning: {}",
                m.message().unwrap_or_default()
            );
        }
        Ok(inner.dashboard(endpoint, &body).put(existed))
    }

    async fn get_dashboard(&self, endpoint: &EndpointName) -> Result<Dashboard> {
        let text = self.inner.stored_dashboard(endpoint.as_str()).await?;
        let body: Value = serde_json::from_str(&text).map_err(|e| {
            Error::provider(
                format!("the CloudWatch dashboard of endpoint '{endpoint}' is not JSON"),
                e,
            )
        })?;
        Ok(self.inner.dashboard(endpoint, &body))
    }
}

#[cfg(test)]
mod tests {
    use mlm_core::ServerlessConfig;

    use super::*;

    fn variant(name: &str, instance_type: Option<&str>) -> ConfigVariant {
        ConfigVariant::for_tests(name, instance_type)
    }

    /// Every metric line of the body as (namespace, metric, endpoint, variant, stat).
    fn lines(body: &Value) -> Vec<(String, String, String, String, String)> {
        let mut out = Vec::new();
        for w in body["widgets"].as_array().unwrap() {
            for m in w["properties"]["metrics"].as_array().into_iter().flatten() {
                let m = m.as_array().unwrap();
                let Some(ns) = m[0].as_str() else { continue };
                assert_eq!(
                    (m[2].as_str(), m[4].as_str()),
                    (Some("EndpointName"), Some("VariantName"))
                );
                let s = |i: usize| m[i].as_str().unwrap().to_string();
                let stat = m[6]["stat"].as_str().unwrap().to_string();
                out.push((ns.into(), s(1), s(3), s(5), stat));
            }
        }
        out
    }

    #[test]
    fn the_body_has_every_figure_per_variant_and_the_alarms() {
        let mut serverless = variant("cheap", None);
        serverless.serverless = Some(ServerlessConfig::new(2048, 5));
        let variants = [
            variant("blue", Some("ml.m5.xlarge")),
            variant("green", Some("ml.g5.12xlarge")),
            serverless,
        ];
        let arns = vec!["arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlm/news/errors".into()];
        let body = dashboard_body("us-east-1", "news", &variants, &arns);
        let lines = lines(&body);
        let has = |ns: &str, metric: &str, v: &str, stat: &str| {
            lines.contains(&(
                ns.into(),
                metric.into(),
                "news".into(),
                v.into(),
                stat.into(),
            ))
        };
        for v in ["blue", "green", "cheap"] {
            assert!(has(NS_INVOCATION, "Invocations", v, "Sum"), "{v}");
            assert!(has(NS_INVOCATION, "Invocation4XXErrors", v, "Sum"), "{v}");
            assert!(has(NS_INVOCATION, "Invocation5XXErrors", v, "Sum"), "{v}");
            for stat in ["p50", "p90", "Average"] {
                assert!(has(NS_INVOCATION, "ModelLatency", v, stat), "{v} {stat}");
            }
        }
        for metric in ["CPUUtilization", "MemoryUtilization"] {
            assert!(has(NS_INSTANCE, metric, "blue", "Average"), "{metric}");
            assert!(has(NS_INSTANCE, metric, "green", "Average"), "{metric}");
            assert!(
                !has(NS_INSTANCE, metric, "cheap", "Average"),
                "serverless {metric}"
            );
        }
        for metric in ["GPUUtilization", "GPUMemoryUtilization"] {
            assert!(has(NS_INSTANCE, metric, "green", "Average"), "{metric}");
            assert!(
                !has(NS_INSTANCE, metric, "blue", "Average"),
                "CPU-only {metric}"
            );
        }
        let text = body.to_string();
        // Summed over 4 vCPUs and 4 GPUs: divided back to per-device percentages.
        assert!(text.contains(r#""expression":"cpu / 4""#), "{text}");
        assert!(text.contains(r#""expression":"gpu / 4""#), "{text}");
        // Per instance: a search over the instances of the variant, divided the same way.
        let search = r#"SEARCH('{/aws/sagemaker/Endpoints,EndpointName,InstanceId,VariantName} EndpointName=\"news\" VariantName=\"green\" MetricName=\"GPUUtilization\"', 'Average', 60) / 4"#;
        assert!(text.contains(search), "{text}");
        let alarm = body["widgets"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(alarm["type"], "alarm");
        assert_eq!(alarm["properties"]["alarms"], json!(arns));
        assert_eq!(
            widget_titles(&body),
            [
                "Invocations",
                "Invocation errors (4xx, 5xx)",
                "Model latency (µs)",
                "blue: CPU and memory (%)",
                "blue: per instance (%)",
                "green: CPU and memory (%)",
                "green: GPU and GPU memory (%)",
                "green: per instance (%)",
                "Alarms",
            ]
        );
    }

    #[test]
    fn without_alarms_the_last_widget_says_how_to_add_one() {
        let body = dashboard_body("eu-west-1", "news", &[variant("v", None)], &[]);
        let last = body["widgets"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["type"], "text");
        assert!(
            last["properties"]["markdown"]
                .as_str()
                .unwrap()
                .contains("mlm alarms put")
        );
        // An unknown type may have GPUs: its GPU figures are shown, undivided.
        let titles = widget_titles(&body);
        assert_eq!(titles.last().map(String::as_str), Some("Alarms"));
        assert!(
            titles.contains(&"v: GPU and GPU memory (%)".to_string()),
            "{titles:?}"
        );
        assert!(!body.to_string().contains(" / "), "{body}");
        assert_eq!(body["widgets"][0]["properties"]["region"], "eu-west-1");
    }

    #[test]
    fn the_console_url_names_region_and_dashboard() {
        assert_eq!(
            console_url("us-east-1", "mlm-news"),
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/mlm-news"
        );
    }
}
