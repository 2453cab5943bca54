//! Data capture: the requests and answers an endpoint recorded, in SageMaker's record format.
//!
//! A captured record is one line of a JSON Lines file, exactly as SageMaker writes it to S3:
//!
//! ```json
//! {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
//!   "data": "1,2,3", "encoding": "CSV"}, "endpointOutput": {"observedContentType":
//!   "text/csv", "mode": "OUTPUT", "data": "0.5", "encoding": "CSV"}},
//!  "eventMetadata": {"eventId": "…", "inferenceTime": "2026-01-01T00:00:00Z"},
//!  "eventVersion": "0"}
//! ```
//!
//! Every backend reads records back through [`Captures::list_captures`](crate::Captures) with
//! a [`CaptureQuery`], validated here once.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::{EndpointName, VariantName};

/// Longest window one capture query may cover (records are stored per hour; a week is 168).
pub const MAX_CAPTURE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The only `eventVersion` SageMaker writes.
pub const CAPTURE_EVENT_VERSION: &str = "0";

/// Whether a payload is the request or the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum CaptureMode {
    /// The request sent to the endpoint.
    Input,
    /// The endpoint's answer.
    Output,
}

/// How `data` is written: as text (CSV, JSON) or base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum CaptureEncoding {
    /// CSV text, as sent.
    Csv,
    /// JSON text, as sent.
    Json,
    /// Any other payload, base64-encoded.
    Base64,
}

impl CaptureEncoding {
    /// SageMaker's choice for a payload: text for CSV and JSON content types (when the
    /// payload is UTF-8), base64 for everything else.
    pub fn for_payload(content_type: &str, payload: &[u8]) -> Self {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let text = std::str::from_utf8(payload).is_ok();
        if text && essence == "text/csv" {
            Self::Csv
        } else if text && (essence == "application/json" || essence.ends_with("+json")) {
            Self::Json
        } else {
            Self::Base64
        }
    }
}

/// One captured payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CapturePayload {
    /// The content type the request or answer carried.
    pub observed_content_type: String,
    /// Request or answer.
    pub mode: CaptureMode,
    /// The payload, as `encoding` says.
    pub data: String,
    /// How `data` is written.
    pub encoding: CaptureEncoding,
}

impl CapturePayload {
    /// Encodes `payload` the way SageMaker does for its content type.
    pub fn new(mode: CaptureMode, content_type: &str, payload: &[u8]) -> Self {
        let encoding = CaptureEncoding::for_payload(content_type, payload);
        let data = match encoding {
            CaptureEncoding::Base64 => BASE64.encode(payload),
            // `for_payload` chose text only for UTF-8 payloads.
            _ => String::from_utf8_lossy(payload).into_owned(),
        };
        Self {
            observed_content_type: content_type.to_owned(),
            mode,
            data,
            encoding,
        }
    }

    /// The payload's bytes; `InvalidArgument` when base64 `data` does not decode.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        match self.encoding {
            CaptureEncoding::Base64 => BASE64
                .decode(&self.data)
                .map_err(|e| Error::invalid(format!("captured data is not base64: {e}"))),
            _ => Ok(self.data.as_bytes().to_vec()),
        }
    }
}

/// The request and answer of one captured invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CaptureData {
    /// The request (absent when input capture is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_input: Option<CapturePayload>,
    /// The answer (absent when output capture is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_output: Option<CapturePayload>,
}

/// When and which invocation was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventMetadata {
    /// Unique id of the record.
    pub event_id: String,
    /// When the endpoint answered.
    pub inference_time: DateTime<Utc>,
    /// The caller's inference id, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_id: Option<String>,
}

/// One record, exactly as SageMaker writes it (one line of a `.jsonl` capture file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CaptureRecord {
    /// The payloads.
    pub capture_data: CaptureData,
    /// When and which.
    pub event_metadata: EventMetadata,
    /// Always [`CAPTURE_EVENT_VERSION`].
    pub event_version: String,
}

impl CaptureRecord {
    /// A record of one invocation; `None` payloads are left out.
    pub fn new(
        input: Option<CapturePayload>,
        output: Option<CapturePayload>,
        event_id: impl Into<String>,
        inference_time: DateTime<Utc>,
    ) -> Self {
        Self {
            capture_data: CaptureData {
                endpoint_input: input,
                endpoint_output: output,
            },
            event_metadata: EventMetadata {
                event_id: event_id.into(),
                inference_time,
                inference_id: None,
            },
            event_version: CAPTURE_EVENT_VERSION.to_owned(),
        }
    }
}

/// A record and the variant that answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct CapturedRecord {
    /// The variant that served the invocation.
    pub variant: VariantName,
    /// The record as stored.
    pub record: CaptureRecord,
}

impl CapturedRecord {
    /// A record served by `variant`.
    pub fn new(variant: VariantName, record: CaptureRecord) -> Self {
        Self { variant, record }
    }

    /// The order records are listed in, and the page cursor of backends: inference time,
    /// then event id.
    pub fn sort_key(&self) -> String {
        let meta = &self.record.event_metadata;
        format!(
            "{}/{}",
            meta.inference_time.format("%Y%m%dT%H%M%S%.9f"),
            meta.event_id
        )
    }
}

/// Which captured records to list: those of an endpoint (and optionally one variant) whose
/// inference time is in `[start, end)`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaptureQuery {
    /// The endpoint.
    pub endpoint: EndpointName,
    /// Window start (inclusive).
    pub start: DateTime<Utc>,
    /// Window end (exclusive).
    pub end: DateTime<Utc>,
    /// Only this variant.
    pub variant: Option<VariantName>,
}

impl CaptureQuery {
    /// Records of `endpoint` in `[start, end)`.
    pub fn new(endpoint: EndpointName, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            endpoint,
            start,
            end,
            variant: None,
        }
    }

    /// Only records of `variant`.
    pub fn for_variant(mut self, variant: VariantName) -> Self {
        self.variant = Some(variant);
        self
    }

    /// Whether a record made at `at` is in the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// SageMaker's hour folders of `variant` that the window touches, oldest first:
    /// `{endpoint}/{variant}/YYYY/MM/DD/HH` (under the capture destination).
    pub fn hour_folders(&self, variant: &VariantName) -> Vec<String> {
        let mut hour = self
            .start
            .duration_trunc(chrono::TimeDelta::hours(1))
            .unwrap_or(self.start);
        let mut folders = Vec::new();
        while hour < self.end {
            folders.push(format!(
                "{}/{variant}/{}",
                self.endpoint,
                hour.format("%Y/%m/%d/%H")
            ));
            hour += chrono::TimeDelta::hours(1);
        }
        folders
    }

    /// `InvalidArgument` unless `start < end` and the window is at most
    /// [`MAX_CAPTURE_WINDOW`].
    pub fn validate(&self) -> Result<()> {
        if self.start >= self.end {
            return Err(Error::invalid(format!(
                "capture window start {} must be before end {}",
                self.start, self.end
            )));
        }
        let longest =
            chrono::TimeDelta::from_std(MAX_CAPTURE_WINDOW).unwrap_or(chrono::TimeDelta::MAX);
        if self.end - self.start > longest {
            return Err(Error::invalid(format!(
                "capture window is longer than {} hours",
                MAX_CAPTURE_WINDOW.as_secs() / 3600
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_has_sagemakers_shape() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let record = CaptureRecord::new(
            Some(CapturePayload::new(CaptureMode::Input, "text/csv", b"1,2")),
            Some(CapturePayload::new(
                CaptureMode::Output,
                "application/octet-stream",
                &[0, 255],
            )),
            "e-1",
            at,
        );
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "captureData": {
                    "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                        "data": "1,2", "encoding": "CSV"},
                    "endpointOutput": {"observedContentType": "application/octet-stream",
                        "mode": "OUTPUT", "data": "AP8=", "encoding": "BASE64"}
                },
                "eventMetadata": {"eventId": "e-1", "inferenceTime": "2026-01-02T03:04:05Z"},
                "eventVersion": "0"
            })
        );
        let back: CaptureRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        let output = back.capture_data.endpoint_output.unwrap();
        assert_eq!(output.bytes().unwrap(), vec![0, 255]);
    }

    #[test]
    fn encoding_follows_content_type_and_text() {
        let enc = CaptureEncoding::for_payload;
        assert_eq!(
            enc("application/json; charset=utf-8", b"{}"),
            CaptureEncoding::Json
        );
        assert_eq!(enc("application/vnd.x+json", b"[]"), CaptureEncoding::Json);
        assert_eq!(enc("TEXT/CSV", b"a,b"), CaptureEncoding::Csv);
        assert_eq!(enc("text/csv", &[0xff]), CaptureEncoding::Base64);
        assert_eq!(enc("text/plain", b"hi"), CaptureEncoding::Base64);
    }

    #[test]
    fn hour_folders_cover_the_window() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let q = CaptureQuery::new(
            EndpointName::new("e").unwrap(),
            at("2026-01-31T22:30:00Z"),
            at("2026-02-01T00:00:01Z"),
        );
        let v = VariantName::new("blue").unwrap();
        assert_eq!(
            q.hour_folders(&v),
            [
                "e/blue/2026/01/31/22",
                "e/blue/2026/01/31/23",
                "e/blue/2026/02/01/00"
            ]
        );
        assert!(q.contains(at("2026-01-31T22:30:00Z")));
        assert!(!q.contains(at("2026-02-01T00:00:01Z")));
    }

    #[test]
    fn query_window_is_checked() {
        let e = EndpointName::new("e").unwrap();
        let now = Utc::now();
        let hour = chrono::TimeDelta::hours(1);
        assert!(
            CaptureQuery::new(e.clone(), now - hour, now)
                .validate()
                .is_ok()
        );
        for (start, end) in [(now, now), (now, now - hour), (now - hour * 24 * 8, now)] {
            let err = CaptureQuery::new(e.clone(), start, end)
                .validate()
                .unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument, "{err}");
        }
    }
}
