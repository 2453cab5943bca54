//! Where a baseline's or a report's samples come from: sent with the request, or read from a
//! window of the endpoint's captured traffic ([`Captures`]). Reading captures is written here
//! once; a backend's [`Drift`](super::Drift) implementation calls [`Baseline::from_source`]
//! and [`DriftReport::from_source`] and only keeps the baselines.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::profile::Baseline;
use super::report::{DriftReport, DriftThresholds, DriftWindow};
use super::sample::Sample;
use crate::capture::{CapturePayload, CaptureQuery, CapturedRecord};
use crate::error::{Error, Result};
use crate::ext::all_pages;
use crate::names::{BaselineName, EndpointName, VariantName};
use crate::traits::Captures;

/// Most captured records one baseline or report reads from a window: beyond it, the caller
/// narrows the window (or samples less) rather than wait for a very long read.
pub const MAX_CAPTURED_SAMPLES: usize = 10_000;

/// A time range of an endpoint's captured traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TrafficWindow {
    /// Window start (inclusive).
    pub start: DateTime<Utc>,
    /// Window end (exclusive).
    pub end: DateTime<Utc>,
    /// Only the traffic this variant served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantName>,
}

impl TrafficWindow {
    /// Traffic in `[start, end)`, of every variant.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            start,
            end,
            variant: None,
        }
    }

    fn query(&self, endpoint: &EndpointName) -> CaptureQuery {
        let query = CaptureQuery::new(endpoint.clone(), self.start, self.end);
        match &self.variant {
            Some(variant) => query.for_variant(variant.clone()),
            None => query,
        }
    }
}

/// The samples of a baseline or a report: sent with the request, or the endpoint's captured
/// traffic in a window. In a REST body this is the `samples` or the `window` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SampleSource {
    /// Samples given inline (at most [`MAX_DRIFT_SAMPLES`](super::MAX_DRIFT_SAMPLES)).
    Samples(Vec<Sample>),
    /// Captured traffic (at most [`MAX_CAPTURED_SAMPLES`] records).
    Window(TrafficWindow),
}

impl SampleSource {
    /// `InvalidArgument` for no samples or more than
    /// [`MAX_DRIFT_SAMPLES`](super::MAX_DRIFT_SAMPLES), or a bad window
    /// ([`CaptureQuery::validate`]).
    pub fn validate(&self, endpoint: &EndpointName) -> Result<()> {
        match self {
            Self::Samples(samples) if samples.is_empty() => {
                Err(Error::invalid("no samples: give at least one"))
            }
            Self::Samples(samples) if samples.len() > super::MAX_DRIFT_SAMPLES => {
                Err(Error::invalid(format!(
                    "{} samples: at most {} in one request",
                    samples.len(),
                    super::MAX_DRIFT_SAMPLES
                )))
            }
            Self::Samples(_) => Ok(()),
            Self::Window(window) => window.query(endpoint).validate(),
        }
    }
}

/// A baseline to build ([`Drift::create_baseline`](super::Drift::create_baseline)).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CreateBaselineRequest {
    /// The endpoint whose traffic it profiles (in the path of the REST route).
    #[serde(skip)]
    pub endpoint: EndpointName,
    /// The baseline's name, unique within the endpoint.
    pub name: BaselineName,
    /// What to profile.
    #[serde(flatten)]
    pub source: SampleSource,
}

impl CreateBaselineRequest {
    /// A baseline `name` of `endpoint`'s traffic from `source`.
    pub fn new(endpoint: EndpointName, name: BaselineName, source: SampleSource) -> Self {
        Self {
            endpoint,
            name,
            source,
        }
    }
}

/// A report to make ([`Drift::drift_report`](super::Drift::drift_report)).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DriftReportRequest {
    /// The endpoint (in the path of the REST route).
    #[serde(skip)]
    pub endpoint: EndpointName,
    /// The baseline to compare with.
    pub baseline: BaselineName,
    /// The window's samples.
    #[serde(flatten)]
    pub source: SampleSource,
    /// When a statistic counts as drifted.
    pub thresholds: DriftThresholds,
}

impl CreateBaselineRequest {
    /// `InvalidArgument` for bad samples or a bad window ([`SampleSource::validate`]).
    pub fn validate(&self) -> Result<()> {
        self.source.validate(&self.endpoint)
    }
}

impl DriftReportRequest {
    /// `InvalidArgument` for bad thresholds, samples or window.
    pub fn validate(&self) -> Result<()> {
        self.thresholds.validate()?;
        self.source.validate(&self.endpoint)
    }

    /// Compares `source` with `endpoint`'s baseline `baseline` under default thresholds.
    pub fn new(endpoint: EndpointName, baseline: BaselineName, source: SampleSource) -> Self {
        Self {
            endpoint,
            baseline,
            source,
            thresholds: DriftThresholds::default(),
        }
    }

    /// Uses `thresholds`.
    pub fn with_thresholds(mut self, thresholds: DriftThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }
}

impl Baseline {
    /// Builds the baseline `request` asks for, reading captured traffic from `captures` when
    /// its source is a window. The window, if any, is recorded in the baseline.
    pub async fn from_source<C: Captures + ?Sized>(
        captures: &C,
        request: CreateBaselineRequest,
        created_at: DateTime<Utc>,
    ) -> Result<Self> {
        request.validate()?;
        let (samples, window) = collect(captures, &request.endpoint, request.source).await?;
        let mut baseline = Self::build(request.endpoint, request.name, &samples, created_at)?;
        baseline.window_start = window.start;
        baseline.window_end = window.end;
        Ok(baseline)
    }
}

impl DriftReport {
    /// Compares `request`'s window with `baseline`, reading captured traffic from `captures`
    /// when the window is a time range.
    pub async fn from_source<C: Captures + ?Sized>(
        captures: &C,
        baseline: &Baseline,
        request: DriftReportRequest,
        created_at: DateTime<Utc>,
    ) -> Result<Self> {
        request.validate()?;
        let (samples, window) = collect(captures, &request.endpoint, request.source).await?;
        Self::compare(baseline, &samples, request.thresholds, window, created_at)
    }
}

/// The samples of `source`, and the time range they came from.
async fn collect<C: Captures + ?Sized>(
    captures: &C,
    endpoint: &EndpointName,
    source: SampleSource,
) -> Result<(Vec<Sample>, DriftWindow)> {
    match source {
        SampleSource::Samples(samples) => Ok((samples, DriftWindow::default())),
        SampleSource::Window(window) => {
            let samples = captured_samples(captures, window.query(endpoint)).await?;
            let range = DriftWindow {
                start: Some(window.start),
                end: Some(window.end),
            };
            Ok((samples, range))
        }
    }
}

/// Every captured record of `query` as a sample (at most [`MAX_CAPTURED_SAMPLES`]).
async fn captured_samples<C: Captures + ?Sized>(
    captures: &C,
    query: CaptureQuery,
) -> Result<Vec<Sample>> {
    // One more than the limit, so a window over it is told apart from one exactly at it.
    let samples: Vec<Sample> = all_pages(|page| captures.list_captures(query.clone(), page))
        .map_ok(|record| sample_of(&record))
        .take(MAX_CAPTURED_SAMPLES + 1)
        .try_collect()
        .await?;
    if samples.len() > MAX_CAPTURED_SAMPLES {
        return Err(Error::invalid(format!(
            "the window holds more than {MAX_CAPTURED_SAMPLES} captured records of endpoint \
             '{}': narrow it",
            query.endpoint
        )));
    }
    if samples.is_empty() {
        return Err(Error::invalid(format!(
            "endpoint '{}' captured no traffic between {} and {} (is data capture on, and was \
             it invoked then?)",
            query.endpoint, query.start, query.end
        )));
    }
    Ok(samples)
}

/// A captured invocation as a sample: JSON payloads decoded, other text as a string, binary
/// payloads (and ones not captured) as nothing.
fn sample_of(captured: &CapturedRecord) -> Sample {
    let data = &captured.record.capture_data;
    let input = data.endpoint_input.as_ref().map_or(Value::Null, decode);
    match data.endpoint_output.as_ref().map(decode) {
        Some(output) if !output.is_null() => Sample::with_output(input, output),
        _ => Sample::input(input),
    }
}

fn decode(payload: &CapturePayload) -> Value {
    let Ok(bytes) = payload.bytes() else {
        return Value::Null;
    };
    if let Ok(value) = serde_json::from_slice(&bytes) {
        return value;
    }
    match String::from_utf8(bytes) {
        Ok(text) => Value::String(text),
        Err(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use serde_json::json;

    use super::*;
    use crate::capture::{CaptureMode, CaptureRecord};
    use crate::page::{MAX_PAGE_SIZE, Page};
    use crate::traits::MockCaptures;

    fn record(
        at: DateTime<Utc>,
        input: &[u8],
        content_type: &str,
        output: &[u8],
    ) -> CapturedRecord {
        CapturedRecord::new(
            VariantName::new("primary").unwrap(),
            CaptureRecord::new(
                Some(CapturePayload::new(CaptureMode::Input, content_type, input)),
                Some(CapturePayload::new(
                    CaptureMode::Output,
                    "application/json",
                    output,
                )),
                format!("e-{}", at.timestamp_nanos_opt().unwrap_or_default()),
                at,
            ),
        )
    }

    #[test]
    fn captured_payloads_decode_to_samples() {
        let at = Utc::now();
        let json_in = record(
            at,
            br#"{"sentence": "won"}"#,
            "application/json",
            br#"{"label": 2}"#,
        );
        assert_eq!(
            sample_of(&json_in),
            Sample::with_output(json!({"sentence": "won"}), json!({"label": 2}))
        );
        let csv_in = record(at, b"1,2", "text/csv", b"not json");
        assert_eq!(
            sample_of(&csv_in),
            Sample::with_output(json!("1,2"), json!("not json"))
        );
        let binary = record(at, &[0, 255], "application/octet-stream", b"null");
        assert_eq!(sample_of(&binary), Sample::input(Value::Null));
    }

    #[tokio::test]
    async fn windows_read_every_page_and_refuse_empty_or_huge_ones() {
        let endpoint = EndpointName::new("news").unwrap();
        let start = Utc::now() - TimeDelta::hours(1);
        let window = TrafficWindow::new(start, Utc::now());
        let mut captures = MockCaptures::new();
        captures
            .expect_list_captures()
            .returning(move |query, page| {
                assert_eq!(query.endpoint.as_str(), "news");
                let item = record(query.start, br#"{"x": 1}"#, "application/json", b"{}");
                Ok(match page.page_token.as_deref() {
                    None => Page {
                        items: vec![item.clone(), item],
                        next_page_token: Some("2".into()),
                    },
                    Some(_) => Page::last(vec![item]),
                })
            });
        let (samples, range) = collect(&captures, &endpoint, SampleSource::Window(window.clone()))
            .await
            .unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(
            (range.start, range.end),
            (Some(window.start), Some(window.end))
        );

        let mut empty = MockCaptures::new();
        empty
            .expect_list_captures()
            .returning(|_, _| Ok(Page::last(Vec::new())));
        let error = collect(&empty, &endpoint, SampleSource::Window(window.clone()))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("captured no traffic"), "{error}");

        let mut endless = MockCaptures::new();
        endless
            .expect_list_captures()
            .returning(move |query, page| {
                let item = record(query.start, b"{}", "application/json", b"{}");
                let next = page.page_token.map_or(1, |t| t.parse::<u32>().unwrap() + 1);
                Ok(Page {
                    items: vec![item; MAX_PAGE_SIZE as usize],
                    next_page_token: Some(next.to_string()),
                })
            });
        let error = collect(&endless, &endpoint, SampleSource::Window(window))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("narrow it"), "{error}");
    }
}
