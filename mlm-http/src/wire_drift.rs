//! Request bodies of the drift routes: baselines and drift reports (see [`crate::wire`] for
//! why requests have their own types).

use mlm_core as domain;
use mlm_core::drift::{DriftThresholds, Sample};
use serde::Deserialize;
use utoipa::ToSchema;

/// A baseline to build from samples of an endpoint's traffic (the JSON form; the same route
/// takes JSON Lines, one request or `{"input", "output"}` sample a line, with `?name=`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "launch",
    "samples": [
        {"input": {"sentence": "The home team won the final"}, "output": {"label": 2, "category": "Sports"}},
        {"input": {"sentence": "Stocks rallied after the earnings report"}, "output": {"label": 3, "category": "Business"}}
    ]
}))]
pub struct CreateBaseline {
    /// The baseline's name, unique within the endpoint.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub name: String,
    /// The requests (and answers, when known) to profile.
    #[schema(min_items = 1, max_items = 100000)]
    pub samples: Vec<Sample>,
}

/// A window of traffic to compare with a baseline.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "baseline": "launch",
    "samples": [{"input": {"sentence": "The striker scored twice"}, "output": {"label": 2}}],
    "thresholds": {"psi": 0.25}
}))]
pub struct CreateDriftReport {
    /// The baseline's name.
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub baseline: String,
    /// The window: the requests (and answers) to compare.
    #[schema(min_items = 1, max_items = 100000)]
    pub samples: Vec<Sample>,
    /// Thresholds; omitted ones take their defaults.
    #[serde(default)]
    pub thresholds: Option<DriftThresholds>,
}

impl CreateDriftReport {
    /// The baseline's name, validated.
    pub fn baseline_name(&self) -> domain::Result<domain::BaselineName> {
        domain::BaselineName::new(&self.baseline)
    }
}
