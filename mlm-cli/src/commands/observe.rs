//! `mlm instances`, `mlm invoke`, `mlm overview`, `mlm metrics`.

use std::time::Duration;

use mlm_core::{
    CaptureQuery, Captures, EndpointManager, EndpointManagerExt, EndpointName, InvokeRequest,
    MetricQuery, Observability,
};
use mlm_http::wire;

use super::{list, read_input};
use crate::cli::{BodyArgs, CapturesArgs, EndpointArg, InvokeArgs, MetricsArgs, OverviewArgs};
use crate::connect::Backend;
use crate::failure::Failure;
use crate::output::{Output, Tabular, series_table, write_stdout};

/// How long an endpoint of the local backend opened in this process may take to come back.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(120);

pub(super) async fn instances(
    a: EndpointArg,
    mlm: &dyn Observability,
    out: Output,
) -> Result<(), Failure> {
    let overview = mlm.endpoint_overview(&a.endpoint).await?;
    let answer = wire::InstanceList {
        endpoint: overview.name.to_string(),
        status: overview.status,
        as_of: overview.as_of,
        items: overview.instances,
    };
    out.print_with(&answer, |color| answer.items.table(color))
}

pub(super) async fn overview(
    a: OverviewArgs,
    mlm: &dyn Observability,
    out: Output,
) -> Result<(), Failure> {
    match &a.endpoint {
        Some(name) => out.print(&mlm.endpoint_overview(name).await?),
        None => out.print(&list(&a.page, |p| mlm.list_overviews(p)).await?),
    }
}

pub(super) async fn metrics(
    a: MetricsArgs,
    mlm: &dyn Observability,
    out: Output,
) -> Result<(), Failure> {
    let mut query = MetricQuery::last(a.endpoint.clone(), a.metric, a.since, a.period);
    query.statistic = a.statistic;
    query.variant = a.variant;
    query.instance = a.instance;
    let series = mlm.query_metrics(query.clone()).await?;
    let answer = wire::MetricsResponse {
        endpoint: a.endpoint.to_string(),
        start: query.start,
        end: query.end,
        period_seconds: query.period_seconds,
        statistic: query.statistic,
        series,
    };
    out.print_with(&answer, |_| series_table(&answer.series))
}

/// The records data capture wrote over the last `--since`.
pub(super) async fn captures(
    a: CapturesArgs,
    mlm: &dyn Captures,
    out: Output,
) -> Result<(), Failure> {
    let end = chrono::Utc::now();
    let since =
        chrono::TimeDelta::from_std(a.since).map_err(|_| Failure::usage("--since is too long"))?;
    let mut query = CaptureQuery::new(a.endpoint, end - since, end);
    query.variant = a.variant;
    let page = list(&a.page, |p| mlm.list_captures(query.clone(), p)).await?;
    out.print(&page)
}

/// Sends one request and writes the model's answer to stdout unchanged.
pub(super) async fn invoke(a: InvokeArgs, backend: &Backend) -> Result<(), Failure> {
    let body = request_body(&a.body)?
        .ok_or_else(|| Failure::usage("give the request body with --data TEXT or --body FILE"))?;
    ensure_serving(backend, &a.endpoint).await?;
    let mut request = InvokeRequest::new(a.endpoint, a.body.content_type, body);
    request.accept = a.accept;
    request.target_variant = a.variant;
    let answer = backend.provider.invoke(request).await?;
    let mut bytes = answer.body;
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    write_stdout(&bytes)
}

/// The body `--data` or `--body` gives, if either does.
pub(crate) fn request_body(args: &BodyArgs) -> Result<Option<Vec<u8>>, Failure> {
    match (&args.data, &args.body) {
        (Some(text), _) => Ok(Some(text.clone().into_bytes())),
        (None, Some(path)) => read_input(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// With the local backend opened in this process, its endpoints come back when it opens
/// (their instances run only while a command runs): waits for `name` to serve again. Other
/// backends serve on their own, and are called at once.
pub(crate) async fn ensure_serving(backend: &Backend, name: &EndpointName) -> Result<(), Failure> {
    if !backend.runs_local_instances() {
        return Ok(());
    }
    let endpoint = backend.provider.get_endpoint(name).await?;
    if !endpoint.status.is_transitional() {
        return Ok(());
    }
    let options = backend.wait_options(RECOVERY_TIMEOUT);
    backend.provider.wait_until_ready(name, options).await?;
    Ok(())
}
