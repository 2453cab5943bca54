//! Request bodies of the drift routes: baselines and drift reports (see [`crate::wire`] for
//! why requests have their own types).

use chrono::{DateTime, Utc};
use mlm_core as domain;
use mlm_core::drift::{DriftThresholds, Sample, SampleSource, TrafficWindow};
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

/// A time range of the endpoint's captured traffic (the endpoint needs data capture on).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"start": "2026-11-30T00:00:00Z", "end": "2026-11-30T12:00:00Z"}))]
pub struct Window {
    /// Window start (inclusive), RFC 3339.
    pub start: DateTime<Utc>,
    /// Window end (exclusive), RFC 3339; default now. At most 7 days after `start`.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// Only the traffic this variant served.
    #[serde(default)]
    #[schema(
        pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        min_length = 1,
        max_length = 63
    )]
    pub variant: Option<String>,
}

/// Where the samples come from: exactly one of `samples` and `window`.
fn source(
    samples: Option<Vec<WireSample>>,
    window: Option<Window>,
) -> domain::Result<SampleSource> {
    match (samples, window) {
        (Some(samples), None) => Ok(SampleSource::Samples(
            samples.into_iter().map(Sample::from).collect(),
        )),
        (None, Some(window)) => {
            let end = window.end.unwrap_or_else(Utc::now);
            let mut traffic = TrafficWindow::new(window.start, end);
            traffic.variant = window.variant.map(domain::VariantName::new).transpose()?;
            Ok(SampleSource::Window(traffic))
        }
        (Some(_), Some(_)) => Err(domain::Error::invalid(
            "give either `samples` or a `window` of captured traffic, not both",
        )),
        (None, None) => Err(domain::Error::invalid(
            "give the traffic to profile: `samples`, or a `window` of captured traffic",
        )),
    }
}

/// A baseline to build from samples of an endpoint's traffic or a window of its captured
/// traffic (the JSON form; the same route takes JSON Lines, one request or
/// `{"input", "output"}` sample a line, with `?name=`). The name is given here or as
/// `?name=`; given in both places, the two must be the same.
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
    /// The requests (and answers, when known) to profile; or give `window`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Sample>>, min_items = 1, max_items = 100000)]
    pub samples: Option<Vec<WireSample>>,
    /// The captured traffic to profile (at most 10,000 records); or give `samples`.
    #[serde(default)]
    pub window: Option<Window>,
}

impl CreateBaseline {
    /// The samples' source.
    pub fn source(self) -> domain::Result<SampleSource> {
        source(self.samples, self.window)
    }
}

/// A window of traffic to compare with a baseline: samples sent here, or a time range of the
/// endpoint's captured traffic.
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
    /// The requests (and answers) to compare; or give `window`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Sample>>, min_items = 1, max_items = 100000)]
    pub samples: Option<Vec<WireSample>>,
    /// The captured traffic to compare (at most 10,000 records); or give `samples`.
    #[serde(default)]
    pub window: Option<Window>,
    /// Thresholds; omitted ones take their defaults.
    #[serde(default)]
    pub thresholds: Option<DriftThresholds>,
}

impl CreateDriftReport {
    /// The core's request for `endpoint`.
    pub fn into_domain(
        self,
        endpoint: domain::EndpointName,
    ) -> domain::Result<domain::drift::DriftReportRequest> {
        let baseline = domain::BaselineName::new(&self.baseline)?;
        let thresholds = self.thresholds.unwrap_or_default();
        let source = source(self.samples, self.window)?;
        let request = domain::drift::DriftReportRequest::new(endpoint, baseline, source)
            .with_thresholds(thresholds);
        request.validate()?;
        Ok(request)
    }
}
