//! Events: the endpoint timeline, kept in the event log the backend already writes its own
//! decisions to (`Inner::log`), so system and user events interleave in one order.

use async_trait::async_trait;
use mlm_core::{
    EndpointEvent, EndpointName, EventQuery, Events, NewEvent, Page, PageRequest, Result,
};

use super::LocalProvider;

#[async_trait]
impl Events for LocalProvider {
    async fn list_events(
        &self,
        query: EventQuery,
        page: PageRequest,
    ) -> Result<Page<EndpointEvent>> {
        query.validate()?;
        self.inner.store.get_endpoint(&query.endpoint)?;
        self.inner.store.list_events(&query, &page)
    }

    async fn record_event(
        &self,
        endpoint: &EndpointName,
        event: NewEvent,
    ) -> Result<EndpointEvent> {
        event.validate()?;
        self.inner.store.get_endpoint(endpoint)?;
        self.inner.store.record_event(endpoint, &event)
    }
}
