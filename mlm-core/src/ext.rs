//! Conveniences built only from the required trait methods, for every backend at once.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::endpoint::{Endpoint, EndpointStatus};
use crate::error::{Error, ResourceKind, Result};
use crate::model::{Model, ModelVersion};
use crate::names::{EndpointName, ModelName};
use crate::observability::Instance;
use crate::page::{MAX_PAGE_SIZE, Page, PageRequest};
use crate::traits::{EndpointManager, ModelRegistry, Observability};

/// How to poll while waiting for an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Give up after this long with [`Error::Timeout`].
    pub timeout: Duration,
    /// First pause between polls.
    pub initial_interval: Duration,
    /// Longest pause between polls (SageMaker's own waiter uses 30 s; describe calls are
    /// throttled account-wide, so don't go lower against AWS).
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3600),
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
        }
    }
}

impl WaitOptions {
    /// Waits at most `timeout`, polling with the default backoff.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }

    /// Sets the backoff bounds.
    pub fn with_intervals(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_interval = initial;
        self.max_interval = max.max(initial);
        self
    }
}

/// Waiting and exhaustive listing for endpoint managers.
#[async_trait]
pub trait EndpointManagerExt: EndpointManager {
    /// Polls until the endpoint is `InService` and its latest deployment has ended, with
    /// exponential backoff.
    ///
    /// Fails with [`Error::RolledBack`] or [`Error::DeploymentFailed`] when the latest
    /// deployment ended that way (the endpoint may serve, but not what was asked for), with
    /// `FailedPrecondition` (carrying the provider's failure reason) as soon as the endpoint
    /// reaches a state it cannot leave by itself (`Failed`, `OutOfService`), and with `Timeout`
    /// naming the last status seen.
    async fn wait_until_ready(
        &self,
        name: &EndpointName,
        options: WaitOptions,
    ) -> Result<Endpoint> {
        self.wait_until_ready_with(name, options, &mut |_| {}).await
    }

    /// [`wait_until_ready`](Self::wait_until_ready), calling `on_poll` with every description
    /// (progress displays use it).
    async fn wait_until_ready_with(
        &self,
        name: &EndpointName,
        options: WaitOptions,
        on_poll: &mut (dyn for<'e> FnMut(&'e Endpoint) + Send),
    ) -> Result<Endpoint> {
        let deadline = Instant::now() + options.timeout;
        let mut interval = options.initial_interval;
        loop {
            let endpoint = self.get_endpoint(name).await?;
            on_poll(&endpoint);
            let deployment = endpoint.last_deployment.as_ref();
            if let Some(e) = deployment.and_then(|d| d.phase.to_error(name, &d.id))
                && !endpoint.status.is_transitional()
            {
                return Err(e);
            }
            let deploying = deployment.is_some_and(|d| !d.phase.is_terminal());
            match endpoint.status {
                EndpointStatus::InService if !deploying => return Ok(endpoint),
                s if s.is_terminal_failure() => {
                    return Err(Error::failed_precondition(format!(
                        "endpoint '{name}' is {s}: {}",
                        endpoint
                            .failure_reason
                            .as_deref()
                            .unwrap_or("the provider gave no reason")
                    )));
                }
                EndpointStatus::Deleting => {
                    return Err(Error::failed_precondition(format!(
                        "endpoint '{name}' is being deleted"
                    )));
                }
                status => backoff(name, status, &options, deadline, &mut interval).await?,
            }
        }
    }

    /// Polls until the endpoint is gone.
    async fn wait_until_deleted(&self, name: &EndpointName, options: WaitOptions) -> Result<()> {
        self.wait_until_deleted_with(name, options, &mut |_| {})
            .await
    }

    /// [`wait_until_deleted`](Self::wait_until_deleted), calling `on_poll` with every
    /// description read while the endpoint still exists.
    async fn wait_until_deleted_with(
        &self,
        name: &EndpointName,
        options: WaitOptions,
        on_poll: &mut (dyn for<'e> FnMut(&'e Endpoint) + Send),
    ) -> Result<()> {
        let deadline = Instant::now() + options.timeout;
        let mut interval = options.initial_interval;
        loop {
            let status = match self.get_endpoint(name).await {
                Err(Error::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
                Ok(e) => {
                    on_poll(&e);
                    e.status
                }
            };
            backoff(name, status, &options, deadline, &mut interval).await?;
        }
    }

    /// Every endpoint, fetching pages lazily.
    fn list_all_endpoints(&self) -> BoxStream<'_, Result<Endpoint>> {
        all_pages(move |page| self.list_endpoints(page))
    }
}

impl<T: EndpointManager + ?Sized> EndpointManagerExt for T {}

/// Sleeps before the next poll (never past `deadline`) and doubles `interval` up to the
/// maximum; `Timeout` naming the last status once the deadline has passed.
async fn backoff(
    name: &EndpointName,
    status: EndpointStatus,
    options: &WaitOptions,
    deadline: Instant,
    interval: &mut Duration,
) -> Result<()> {
    let now = Instant::now();
    if now >= deadline {
        return Err(Error::timeout(format!(
            "endpoint '{name}' was still {status} after {:?}",
            options.timeout
        )));
    }
    tokio::time::sleep((*interval).min(deadline - now)).await;
    *interval = (*interval * 2).min(options.max_interval);
    Ok(())
}

/// Exhaustive listing for registries.
pub trait ModelRegistryExt: ModelRegistry {
    /// Every model, fetching pages lazily.
    fn list_all_models(&self) -> BoxStream<'_, Result<Model>> {
        all_pages(move |page| self.list_models(page))
    }

    /// Every version of `model`, fetching pages lazily.
    fn list_all_versions<'a>(
        &'a self,
        model: &'a ModelName,
    ) -> BoxStream<'a, Result<ModelVersion>> {
        all_pages(move |page| self.list_versions(model, page))
    }
}

impl<T: ModelRegistry + ?Sized> ModelRegistryExt for T {}

/// Conveniences over observability.
#[async_trait]
pub trait ObservabilityExt: Observability {
    /// The instances of an endpoint with their latest figures.
    async fn instances(&self, name: &EndpointName) -> Result<Vec<Instance>> {
        Ok(self.endpoint_overview(name).await?.instances)
    }
}

impl<T: Observability + ?Sized> ObservabilityExt for T {}

/// Streams every item of a paged list, fetching the next page only when needed.
///
/// A backend that hands back a token it already gave is reported, not looped on forever.
pub fn all_pages<'a, T, F, Fut>(fetch: F) -> BoxStream<'a, Result<T>>
where
    T: Send + 'a,
    F: Fn(PageRequest) -> Fut + Send + Sync + 'a,
    Fut: Future<Output = Result<Page<T>>> + Send + 'a,
{
    let first = PageRequest::first().with_page_size(MAX_PAGE_SIZE);
    stream::try_unfold(
        (Some(first), Vec::<String>::new()),
        move |(request, mut seen)| {
            let next = request.map(&fetch);
            async move {
                let Some(fetching) = next else {
                    return Ok(None);
                };
                let page = fetching.await?;
                let request = match page.next_page_token {
                    Some(token) if seen.contains(&token) => {
                        return Err(Error::provider_msg(
                            format!("the backend repeated page token '{token}'"),
                            false,
                        ));
                    }
                    Some(token) => {
                        seen.push(token.clone());
                        Some(
                            PageRequest::first()
                                .with_page_size(MAX_PAGE_SIZE)
                                .with_token(token),
                        )
                    }
                    None => None,
                };
                Ok(Some((
                    stream::iter(page.items.into_iter().map(Ok)),
                    (request, seen),
                )))
            }
        },
    )
    .try_flatten()
    .boxed()
}

/// `NotFound` for an endpoint, for backends.
pub fn endpoint_not_found(name: &EndpointName) -> Error {
    Error::not_found(ResourceKind::Endpoint, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tags;
    use crate::traits::{MockEndpointManager, MockModelRegistry};
    use chrono::Utc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn endpoint(status: EndpointStatus) -> Endpoint {
        let now = Utc::now();
        Endpoint {
            name: EndpointName::new("e").unwrap(),
            status,
            failure_reason: Some("exit code 3".into()),
            variants: vec![],
            tags: Tags::new(),
            data_capture: None,
            deployment: None,
            last_deployment: None,
            managed: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn fast() -> WaitOptions {
        WaitOptions::with_timeout(Duration::from_secs(10))
            .with_intervals(Duration::from_millis(10), Duration::from_millis(40))
    }

    #[tokio::test(start_paused = true)]
    async fn wait_returns_once_in_service() {
        let mut mock = MockEndpointManager::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        mock.expect_get_endpoint().returning(move |_| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Ok(endpoint(if n < 3 {
                EndpointStatus::Creating
            } else {
                EndpointStatus::InService
            }))
        });
        let mut statuses = Vec::new();
        let e = mock
            .wait_until_ready_with(&EndpointName::new("e").unwrap(), fast(), &mut |e| {
                statuses.push(e.status)
            })
            .await
            .unwrap();
        assert_eq!(e.status, EndpointStatus::InService);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(statuses.len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_fails_fast_with_reason() {
        let mut mock = MockEndpointManager::new();
        mock.expect_get_endpoint()
            .times(1)
            .returning(|_| Ok(endpoint(EndpointStatus::Failed)));
        let err = mock
            .wait_until_ready(&EndpointName::new("e").unwrap(), fast())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::FailedPrecondition(_)));
        assert!(err.to_string().contains("exit code 3"), "{err}");
    }

    /// An update that was rolled back leaves the endpoint `InService`, on the old
    /// configuration: the wait reports the rollback, and waits out a running deployment first.
    #[tokio::test(start_paused = true)]
    async fn wait_reports_a_rolled_back_deployment() {
        use crate::deployment::{Deployment, DeploymentKind, DeploymentPhase};
        let mut mock = MockEndpointManager::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        mock.expect_get_endpoint().returning(move |name| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let mut d = Deployment::start(
                "7",
                name.clone(),
                DeploymentKind::Update,
                vec![],
                None,
                Utc::now(),
            );
            d.enter(DeploymentPhase::Baking { percent: 10 }, Utc::now());
            if n >= 2 {
                d.enter(
                    DeploymentPhase::RolledBack {
                        reason: "5xx sum 3 > 0".into(),
                        alarm: Some(crate::AlarmName::new("errors").unwrap()),
                    },
                    Utc::now(),
                );
            }
            let mut e = endpoint(EndpointStatus::InService);
            e.last_deployment = Some(d.summary());
            Ok(e)
        });
        let err = mock
            .wait_until_ready(&EndpointName::new("e").unwrap(), fast())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::RolledBack(_)), "{err}");
        assert!(err.to_string().contains("alarm 'errors'"), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "waited while baking");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_times_out_naming_status() {
        let mut mock = MockEndpointManager::new();
        mock.expect_get_endpoint()
            .returning(|_| Ok(endpoint(EndpointStatus::Updating)));
        let options = fast().with_intervals(Duration::from_secs(1), Duration::from_secs(4));
        let options = WaitOptions {
            timeout: Duration::from_secs(30),
            ..options
        };
        let started = Instant::now();
        let err = mock
            .wait_until_ready(&EndpointName::new("e").unwrap(), options)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout(_)));
        assert!(err.to_string().contains("still Updating"), "{err}");
        // The deadline is honoured: no sleep runs past it.
        assert!(started.elapsed() <= Duration::from_secs(31));
        assert!(started.elapsed() >= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_until_deleted_ends_on_not_found() {
        let mut mock = MockEndpointManager::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        mock.expect_get_endpoint().returning(move |name| {
            if c.fetch_add(1, Ordering::SeqCst) < 2 {
                Ok(endpoint(EndpointStatus::Deleting))
            } else {
                Err(endpoint_not_found(name))
            }
        });
        mock.wait_until_deleted(&EndpointName::new("e").unwrap(), fast())
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    fn model(i: usize) -> Model {
        Model::new(
            ModelName::new(format!("m{i:03}")).unwrap(),
            None,
            Tags::new(),
            Utc::now(),
        )
    }

    #[tokio::test]
    async fn list_all_follows_tokens_lazily() {
        let mut mock = MockModelRegistry::new();
        mock.expect_list_models().times(3).returning(|req| {
            assert_eq!(req.page_size, Some(MAX_PAGE_SIZE));
            let start: usize = req.page_token.map_or(0, |t| t.parse().unwrap());
            let end = (start + 100).min(250);
            Ok(Page {
                items: (start..end).map(model).collect(),
                next_page_token: (end < 250).then(|| end.to_string()),
            })
        });
        let all: Vec<Model> = mock.list_all_models().try_collect().await.unwrap();
        assert_eq!(all.len(), 250);
        assert_eq!(all[249].name.as_str(), "m249");

        // Taking only the first items fetches only the first page.
        let mut lazy = MockModelRegistry::new();
        lazy.expect_list_models().times(1).returning(|_| {
            Ok(Page {
                items: (0..100).map(model).collect(),
                next_page_token: Some("100".into()),
            })
        });
        let first: Vec<Result<Model>> = lazy.list_all_models().take(3).collect().await;
        assert_eq!(first.len(), 3);
    }

    #[tokio::test]
    async fn list_all_reports_repeated_tokens() {
        let mut mock = MockModelRegistry::new();
        mock.expect_list_models().returning(|_| {
            Ok(Page {
                items: vec![model(1)],
                next_page_token: Some("same".into()),
            })
        });
        let err = mock
            .list_all_models()
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("repeated page token"), "{err}");
    }
}
