//! Live figures and metric history: instances, overviews, metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use mlm_core::{MetricKind, MetricQuery, Statistic};
use utoipa::IntoParams;

use super::endpoints::EndpointPath;
use super::{ListParams, json};
use crate::extract::{ApiPath, QueryPairs, endpoint_name, variant_name};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire;

/// The instances of an endpoint
///
/// Every instance with its status and latest figures: GPU, GPU memory, CPU and memory
/// utilisation and requests in flight. A figure is `null` when the backend does not have it;
/// its `scope` says whether it was measured on the instance or is a variant-wide aggregate.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/instances",
    tag = "observability",
    params(EndpointPath),
    responses((status = 200, description = "The instances", body = wire::InstanceList))
)]
pub(crate) async fn list_instances(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let overview = state.provider().endpoint_overview(&name).await?;
    json(
        StatusCode::OK,
        &wire::InstanceList {
            endpoint: overview.name.to_string(),
            status: overview.status,
            as_of: overview.as_of,
            items: overview.instances,
        },
    )
}

/// An endpoint's overview
///
/// Status, per-variant counts and every instance with its latest figures, in one answer.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/overview",
    tag = "observability",
    params(EndpointPath),
    responses((status = 200, description = "The overview", body = mlm_core::EndpointOverview))
)]
pub(crate) async fn get_endpoint_overview(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let overview = state.provider().endpoint_overview(&name).await?;
    json(StatusCode::OK, &overview)
}

/// Overview of every endpoint
///
/// Every endpoint with its status, counts and latest instance figures, a page at a time: the
/// dashboard's one call.
#[utoipa::path(
    get,
    path = "/v1/overview",
    tag = "observability",
    params(ListParams),
    responses((status = 200, description = "A page of overviews", body = wire::OverviewPage))
)]
pub(crate) async fn list_overviews(
    State(state): State<AppState>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let params = ListParams::parse(query)?;
    let page = state.provider().list_overviews(params.page()).await?;
    json(StatusCode::OK, &page)
}

/// The default metric window.
const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
/// The default bucket length.
const DEFAULT_PERIOD: u32 = 60;
/// The longest bucket: the longest window (the spec's `maximum` of `period`).
const MAX_PERIOD: u32 = mlm_core::MAX_METRIC_WINDOW.as_secs() as u32;

/// A metric history query.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MetricsParams {
    /// The metrics to read: repeat the parameter (`metric=a&metric=b`) or separate names with
    /// commas (`metric=a,b`).
    #[param(style = Form, explode, min_items = 1)]
    metric: Vec<MetricKind>,
    /// Window start, RFC 3339 (default: one hour before `end`).
    start: Option<DateTime<Utc>>,
    /// Window end, RFC 3339 (default: now).
    end: Option<DateTime<Utc>>,
    /// Bucket length in seconds, 1 to 1296000 (15 days, the longest window; default 60). At
    /// most 1440 buckets per series.
    #[param(minimum = 1, maximum = 1296000, default = 60)]
    period: Option<u32>,
    /// How each bucket is combined (default: each metric's own, `sum` for invocations and
    /// errors, `average` otherwise).
    statistic: Option<Statistic>,
    /// Only this variant.
    #[param(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    variant: Option<String>,
    /// Only this instance.
    #[param(min_length = 1)]
    instance: Option<String>,
}

const METRIC_PARAMS: [&str; 7] = [
    "metric",
    "start",
    "end",
    "period",
    "statistic",
    "variant",
    "instance",
];

pub(crate) fn parse_time(
    name: &str,
    raw: Option<String>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|raw| {
        // An unescaped `+` of an offset arrives as a space.
        let text = raw.replace(' ', "+");
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::invalid(format!(
                    "query parameter '{name}': '{raw}' is not an RFC 3339 time \
                     (e.g. 2025-01-31T12:00:00Z)"
                ))
            })
    })
    .transpose()
}

impl MetricsParams {
    fn parse(mut query: QueryPairs) -> Result<Self, ApiError> {
        let mut metric = Vec::new();
        for raw in query.take_all("metric") {
            for name in raw.split(',').map(str::trim) {
                if name.is_empty() {
                    return Err(ApiError::invalid(format!(
                        "query parameter 'metric': '{raw}' has an empty metric name"
                    )));
                }
                let kind: MetricKind = name.parse()?;
                if !metric.contains(&kind) {
                    metric.push(kind);
                }
            }
        }
        if metric.is_empty() {
            return Err(ApiError::invalid(
                "name at least one metric: metric=cpu_utilization (repeat the parameter or \
                 separate names with commas)",
            ));
        }
        let start = parse_time("start", query.take_one("start")?)?;
        let end = parse_time("end", query.take_one("end")?)?;
        let period = query.take_parsed::<u32>("period", "a whole number of seconds")?;
        if let Some(p) = period.filter(|p| *p > MAX_PERIOD) {
            return Err(ApiError::invalid(format!(
                "period {p} is longer than the longest window ({MAX_PERIOD} seconds, 15 days)"
            )));
        }
        let statistic = match query.take_one("statistic")? {
            None => None,
            Some(raw) => Some(raw.parse::<Statistic>().map_err(|e| {
                ApiError::invalid(format!("query parameter 'statistic': {}", e.message()))
            })?),
        };
        let variant = query.take_one("variant")?;
        let instance = query.take_one("instance")?;
        if instance.as_deref() == Some("") {
            return Err(ApiError::invalid(
                "query parameter 'instance' is empty: name an instance or omit it",
            ));
        }
        query.finish(&METRIC_PARAMS)?;
        Ok(Self {
            metric,
            start,
            end,
            period,
            statistic,
            variant,
            instance,
        })
    }

    fn into_query(self, endpoint: mlm_core::EndpointName) -> Result<MetricQuery, ApiError> {
        let kinds = self.metric;
        let period = self.period.unwrap_or(DEFAULT_PERIOD);
        let mut query = MetricQuery::last(endpoint, kinds, DEFAULT_WINDOW, period);
        let window =
            chrono::Duration::from_std(DEFAULT_WINDOW).unwrap_or(chrono::Duration::hours(1));
        match (self.start, self.end) {
            (Some(start), Some(end)) => {
                query.start = start;
                query.end = end;
            }
            (Some(start), None) => query.start = start,
            (None, Some(end)) => {
                query.end = end;
                query.start = end - window;
            }
            (None, None) => {}
        }
        query.statistic = self.statistic;
        query.variant = self.variant.as_deref().map(variant_name).transpose()?;
        query.instance = self.instance;
        query.validate()?;
        Ok(query)
    }
}

/// Metric history of an endpoint
///
/// Series of the named metrics over a window (default: the last hour), in buckets of
/// `period` seconds (default 60) combined by `statistic` (default: `sum` for invocations and
/// errors, `average` for the rest); optionally for
/// one variant or instance. Metrics nobody recorded come back as empty series, not errors.
#[utoipa::path(
    get,
    path = "/v1/endpoints/{endpoint}/metrics",
    tag = "observability",
    params(EndpointPath, MetricsParams),
    responses((status = 200, description = "The series", body = wire::MetricsResponse))
)]
pub(crate) async fn query_metrics(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<EndpointPath>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let name = endpoint_name(&path.endpoint)?;
    let query = MetricsParams::parse(query)?.into_query(name.clone())?;
    let series = state.provider().query_metrics(query.clone()).await?;
    json(
        StatusCode::OK,
        &wire::MetricsResponse {
            endpoint: name.to_string(),
            start: query.start,
            end: query.end,
            period_seconds: query.period_seconds,
            statistic: query.statistic,
            series,
        },
    )
}
