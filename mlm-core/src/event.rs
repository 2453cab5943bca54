//! Endpoint events: a timeline of what happened to an endpoint and why.
//!
//! The backend records its own decisions (`system` events: lifecycle changes, autoscaling
//! decisions with their figures, serverless cold starts); people and tools add theirs
//! (`user` events, e.g. the result of `mlm load-test`) so a console can chart them next to the
//! metrics. A user can never write a `system` event: the source is set by who records it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::EndpointName;

/// The longest event kind.
pub const MAX_EVENT_KIND_LEN: usize = 64;
/// The longest event message, in characters.
pub const MAX_EVENT_MESSAGE_LEN: usize = 1024;
/// The largest `data` of an event, in bytes of compact JSON.
pub const MAX_EVENT_DATA_BYTES: usize = 16 * 1024;

/// Who recorded an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventSource {
    /// The backend itself (lifecycle, autoscaling, deployments, serverless).
    System,
    /// A caller of the API (a person, the CLI's load tester, a pipeline).
    User,
}

/// One entry of an endpoint's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct EndpointEvent {
    /// Opaque id, unique within the endpoint's timeline.
    pub id: String,
    /// The endpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "news"))]
    pub endpoint: EndpointName,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened, `snake_case` (`in_service`, `autoscaled`, `load_test`, …).
    #[cfg_attr(feature = "openapi", schema(example = "autoscaled"))]
    pub kind: String,
    /// Who recorded it.
    pub source: EventSource,
    /// What and why, for people, with the figures.
    pub message: String,
    /// Figures for machines (a load test's result, a scaling decision's inputs), if any.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub data: Option<serde_json::Value>,
}

impl EndpointEvent {
    /// An event as a backend stored it.
    pub fn recorded(
        id: String,
        endpoint: EndpointName,
        at: DateTime<Utc>,
        source: EventSource,
        what: NewEvent,
    ) -> Self {
        Self {
            id,
            endpoint,
            at,
            kind: what.kind,
            source,
            message: what.message,
            data: what.data,
        }
    }
}

/// An event a caller records ([`crate::Events::record_event`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewEvent {
    /// What happened: 1–64 characters of lowercase letters, digits and `_`, starting with a
    /// letter.
    pub kind: String,
    /// What and why, for people; 1–1024 characters.
    pub message: String,
    /// Figures for machines: a JSON object of at most 16 KiB.
    pub data: Option<serde_json::Value>,
}

impl NewEvent {
    /// An event of `kind` with `message` and no data.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            data: None,
        }
    }

    /// Attaches figures.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// Checks the kind, the message and the data, the same way on every backend.
    pub fn validate(&self) -> Result<()> {
        check_kind(&self.kind)?;
        let chars = self.message.chars().count();
        if self.message.trim().is_empty() || chars > MAX_EVENT_MESSAGE_LEN {
            return Err(Error::invalid(format!(
                "event message must be 1-{MAX_EVENT_MESSAGE_LEN} characters and not blank \
                 (it has {chars})"
            )));
        }
        if let Some(data) = &self.data {
            if !data.is_object() {
                return Err(Error::invalid("event data must be a JSON object"));
            }
            let size = serde_json::to_vec(data)
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > MAX_EVENT_DATA_BYTES {
                return Err(Error::invalid(format!(
                    "event data is {size} bytes of JSON; the limit is {MAX_EVENT_DATA_BYTES}"
                )));
            }
        }
        Ok(())
    }
}

/// Checks an event kind: `^[a-z][a-z0-9_]{0,63}$`.
pub fn check_kind(kind: &str) -> Result<()> {
    let mut chars = kind.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && kind.len() <= MAX_EVENT_KIND_LEN;
    if well_formed {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "event kind '{kind}' must be 1-{MAX_EVENT_KIND_LEN} lowercase letters, digits and \
             '_', starting with a letter (e.g. load_test)"
        )))
    }
}

/// Which events to list ([`crate::Events::list_events`]), newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventQuery {
    /// The endpoint.
    pub endpoint: EndpointName,
    /// Only events of this kind.
    pub kind: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
}

impl EventQuery {
    /// Every event of `endpoint`.
    pub fn new(endpoint: EndpointName) -> Self {
        Self {
            endpoint,
            kind: None,
            since: None,
        }
    }

    /// Only events of `kind`.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Only events at or after `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Checks the kind filter.
    pub fn validate(&self) -> Result<()> {
        self.kind.as_deref().map(check_kind).transpose().map(|_| ())
    }

    /// Whether `event` passes the filters (for backends that filter after reading).
    pub fn matches(&self, event: &EndpointEvent) -> bool {
        self.kind.as_ref().is_none_or(|k| *k == event.kind)
            && self.since.is_none_or(|since| event.at >= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_are_snake_case_words() {
        for good in ["load_test", "a", "autoscaled", "cold_start_2"] {
            check_kind(good).unwrap();
        }
        let long = "a".repeat(MAX_EVENT_KIND_LEN + 1);
        for bad in [
            "",
            "Load",
            "2x",
            "_x",
            "load-test",
            "load test",
            long.as_str(),
        ] {
            assert!(check_kind(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn messages_and_data_are_bounded() {
        NewEvent::new("load_test", "ok")
            .with_data(json!({"p50_ms": 3.1}))
            .validate()
            .unwrap();
        assert!(NewEvent::new("x", "  ").validate().is_err());
        let long = "é".repeat(MAX_EVENT_MESSAGE_LEN + 1);
        assert!(NewEvent::new("x", long).validate().is_err());
        let array = NewEvent::new("x", "m").with_data(json!([1, 2]));
        assert!(array.validate().unwrap_err().message().contains("object"));
        let big = NewEvent::new("x", "m").with_data(json!({"s": "x".repeat(MAX_EVENT_DATA_BYTES)}));
        assert!(big.validate().unwrap_err().message().contains("16384"));
    }

    #[test]
    fn queries_filter_by_kind_and_time() {
        let at = Utc::now();
        let event = EndpointEvent {
            id: "1".into(),
            endpoint: EndpointName::new("e").unwrap(),
            at,
            kind: "autoscaled".into(),
            source: EventSource::System,
            message: "1 -> 2".into(),
            data: None,
        };
        let query = EventQuery::new(event.endpoint.clone());
        assert!(query.matches(&event));
        assert!(query.clone().with_kind("autoscaled").matches(&event));
        assert!(!query.clone().with_kind("load_test").matches(&event));
        assert!(query.clone().since(at).matches(&event));
        assert!(
            !query
                .since(at + chrono::Duration::seconds(1))
                .matches(&event)
        );
        assert!(
            EventQuery::new(event.endpoint.clone())
                .with_kind("Bad")
                .validate()
                .is_err()
        );
    }
}
