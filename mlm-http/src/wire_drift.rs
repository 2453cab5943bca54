//! Request bodies of the drift routes: baselines and drift reports (see [`crate::wire`] for
//! why requests have their own types).

use mlm_core as domain;
use mlm_core::drift::{DriftThresholds, Sample};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::wire::AnyJson;

/// One sample in a request body: what [`Sample`] holds, with its JSON values read as JSON has
/// them (arrays included; see [`AnyJson`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireSample {
    input: AnyJson,
    #[serde(default)]
    output: Option<AnyJson>,
}

impl From<WireSample> for Sample {
    fn from(sample: WireSample) -> Self {
        match sample.output {
            Some(output) => Self::with_output(sample.input.0, output.0),
            None => Self::input(sample.input.0),
        }
    }
}

/// The core's samples of a request body.
pub fn samples(wire: Vec<WireSample>) -> Vec<Sample> {
    wire.into_iter().map(Sample::from).collect()
}

/// A baseline to build from samples of an endpoint's traffic (the JSON form; the same route
/// takes JSON Lines, one request or `{"input", "output"}` sample a line, with `?name=`). The
/// name is given here or as `?name=`; given in both places, the two must be the same.
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
    /// The baseline's name, unique within the endpoint (or give it as `?name=`).
    #[serde(default)]
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub name: Option<String>,
    /// The requests (and answers, when known) to profile.
    #[schema(value_type = Vec<Sample>, min_items = 1, max_items = 100000)]
    pub samples: Vec<WireSample>,
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
    #[schema(value_type = Vec<Sample>, min_items = 1, max_items = 100000)]
    pub samples: Vec<WireSample>,
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
