//! The commands that talk to a backend, one module per resource.

mod alarms;
mod deployments;
mod drift;
mod endpoints;
mod events;
mod models;
mod observe;
mod pipelines;
mod versions;

use std::future::Future;
use std::io::Read;
use std::path::Path;

use futures::TryStreamExt;
use mlm_core::{Page, PageRequest, Tags};
use serde::de::DeserializeOwned;

use crate::cli::{Command, GlobalArgs, KeyValue, PageArgs};
use crate::connect::{Backend, connect};
use crate::failure::Failure;
use crate::output::Output;

pub(crate) use observe::{ensure_serving, request_body};

/// Connects, runs `command`, and stops what the connection started.
pub(crate) async fn run(command: Command, global: &GlobalArgs) -> Result<(), Failure> {
    let out = Output::new(global.output);
    let backend = connect(&global.connect).await?;
    let result = dispatch(command, &backend, out).await;
    backend.shutdown().await;
    result
}

async fn dispatch(command: Command, backend: &Backend, out: Output) -> Result<(), Failure> {
    let provider = backend.provider.as_ref();
    match command {
        Command::Models(c) => models::run(c, provider, out).await,
        Command::Versions(c) => versions::run(c, provider, out).await,
        Command::Endpoints(c) => endpoints::run(c, backend, out).await,
        Command::Instances(a) => observe::instances(a, provider, out).await,
        Command::Invoke(a) => observe::invoke(a, backend).await,
        Command::Overview(a) => observe::overview(a, provider, out).await,
        Command::Metrics(a) => observe::metrics(a, provider, out).await,
        Command::Alarms(c) => alarms::run(c, provider, out).await,
        Command::Deployments(c) => deployments::run(c, provider, out).await,
        Command::Events(a) => events::list_events(a, provider, out).await,
        Command::Captures(a) => observe::captures(a, provider, out).await,
        Command::Drift(c) => drift::run(c, provider, out).await,
        Command::Pipelines(c) => pipelines::run(c, provider, out).await,
        Command::LoadTest(a) => crate::loadtest::run(a, backend, out).await,
        Command::Top(a) => crate::top::run(a, provider).await,
        Command::Serve(_) | Command::Openapi | Command::Completions(_) | Command::Man => {
            Err(Failure::runtime("this command needs no backend"))
        }
    }
}

/// One page when `--limit` or `--page-token` is given, else every page (as one page, the
/// REST shape with no next token).
pub(crate) async fn list<'a, T, F, Fut>(page: &PageArgs, fetch: F) -> Result<Page<T>, Failure>
where
    T: Send + 'a,
    F: Fn(PageRequest) -> Fut + Send + Sync + 'a,
    Fut: Future<Output = mlm_core::Result<Page<T>>> + Send + 'a,
{
    if page.limit.is_none() && page.page_token.is_none() {
        let items = mlm_core::all_pages(fetch).try_collect().await?;
        return Ok(Page::last(items));
    }
    let mut request = PageRequest::first();
    if let Some(limit) = page.limit {
        request = request.with_page_size(limit);
    }
    if let Some(token) = &page.page_token {
        request = request.with_token(token.clone());
    }
    Ok(fetch(request).await?)
}

/// `KEY=VALUE` pairs as a map.
pub(crate) fn pairs(pairs: Vec<KeyValue>) -> Tags {
    pairs.into_iter().map(|p| (p.key, p.value)).collect()
}

/// The bytes of FILE, or of standard input for `-`.
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(path).map(|b| bytes = b)
    };
    read.map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(bytes)
}

/// FILE (or stdin) read as JSON into `T`, refusing what the REST API would refuse.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let bytes = read_input(path)?;
    serde_json::from_slice(&bytes).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}
