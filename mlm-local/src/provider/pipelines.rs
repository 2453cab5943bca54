//! Pipelines: the core's engine over this backend, its state in SQLite. A loop ticks the
//! engine, so an approval through any interface starts a run within a tick, and a run that
//! was interrupted by a restart resumes where it was saved.

use std::sync::{Arc, Weak};
use std::time::Duration;

use mlm_core::pipeline::PipelineEngine;

use super::{Inner, LocalProvider};

/// How often the engine looks at the pipelines (at most; tests run faster health ticks).
const PIPELINE_TICK: Duration = Duration::from_secs(1);

mlm_core::pipelines_over_store!(LocalProvider, |provider| Ok::<_, mlm_core::Error>(
    &provider.inner.store
));

/// Ticks the pipeline engine. Holds only a weak reference, so it ends when the provider is
/// dropped.
pub(super) async fn pipeline_loop(weak: Weak<Inner>) {
    while let Some(inner) = super::next_tick(&weak, |c| c.health_interval.min(PIPELINE_TICK)).await
    {
        let provider = LocalProvider {
            inner: Arc::clone(&inner),
        };
        if let Err(e) = PipelineEngine::new(&provider, &inner.store).tick().await {
            tracing::warn!("cannot run pipelines: {e}");
        }
    }
}
