//! Monitoring dashboards of endpoints: a backend that has a dashboard service (CloudWatch on
//! AWS) keeps one per endpoint, with the endpoint's traffic, errors, latency, per-variant
//! utilisation and alarms; putting it again rebuilds it from the endpoint as it is now.

use serde::{Deserialize, Serialize};

use crate::names::EndpointName;

/// What a put did: [`Dashboard::action`].
pub const DASHBOARD_CREATED: &str = "created";
/// What a put did: [`Dashboard::action`].
pub const DASHBOARD_UPDATED: &str = "updated";

/// An endpoint's monitoring dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Dashboard {
    /// The dashboard's name in the backend's dashboard service.
    #[cfg_attr(feature = "openapi", schema(example = "mlm-news"))]
    pub name: String,
    /// The endpoint it watches.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "news"))]
    pub endpoint: EndpointName,
    /// Where people open it (the CloudWatch console on AWS).
    #[cfg_attr(
        feature = "openapi",
        schema(
            example = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/mlm-news"
        )
    )]
    pub url: String,
    /// The titles of its widgets, top to bottom.
    pub widgets: Vec<String>,
    /// What the put that returned it did: `created` or `updated`; `null` when read.
    #[cfg_attr(feature = "openapi", schema(required = true, example = "created"))]
    pub action: Option<String>,
}

impl Dashboard {
    /// A dashboard as read back (no `action`).
    pub fn new(
        name: impl Into<String>,
        endpoint: EndpointName,
        url: impl Into<String>,
        widgets: Vec<String>,
    ) -> Self {
        Self {
            name: name.into(),
            endpoint,
            url: url.into(),
            widgets,
            action: None,
        }
    }

    /// The dashboard a put returns: [`DASHBOARD_UPDATED`] if it existed before, else
    /// [`DASHBOARD_CREATED`].
    pub fn put(mut self, existed: bool) -> Self {
        let action = if existed {
            DASHBOARD_UPDATED
        } else {
            DASHBOARD_CREATED
        };
        self.action = Some(action.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_says_what_it_did_and_a_read_does_not() {
        let endpoint = EndpointName::new("news").unwrap();
        let read = Dashboard::new(
            "mlm-news",
            endpoint,
            "https://x",
            vec!["Invocations".into()],
        );
        let json = serde_json::to_value(&read).unwrap();
        assert_eq!(json["action"], serde_json::Value::Null);
        assert_eq!(json["widgets"], serde_json::json!(["Invocations"]));
        assert_eq!(read.clone().put(false).action.as_deref(), Some("created"));
        let updated = read.put(true);
        assert_eq!(updated.action.as_deref(), Some("updated"));
        let back: Dashboard =
            serde_json::from_value(serde_json::to_value(&updated).unwrap()).unwrap();
        assert_eq!(back, updated);
    }
}
