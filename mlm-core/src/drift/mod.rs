//! Drift statistics, written once for every backend: a [`Baseline`] profiles a sample of an
//! endpoint's traffic, a [`DriftReport`] compares a window of traffic with it.
//!
//! # Samples and fields
//! A [`Sample`] is one request body and, when known, its response body, both decoded JSON
//! (JSON Lines uploads: [`parse_samples_jsonl`]). Samples are sent with a request or read
//! from a window of the endpoint's captured traffic ([`SampleSource`]): JSON payloads are
//! decoded, other text is one string, binary payloads are left out. Inputs split into fields:
//! - an object's top-level keys are fields; nested objects are dotted paths (`meta.age`);
//! - an array holds observations of the field it is in: `{"instances": ["a", "b"]}` gives two
//!   values of `instances` (arrays at the top give values of the field [`ROOT_FIELD`], `$`, as
//!   does any input that is not an object); `null`s are skipped.
//!
//! A field is **numeric** when all its baseline values are numbers, **categorical** when its
//! values repeat (see [`FieldKind`]) or are booleans, and **text** otherwise. Outputs give the
//! predicted labels: the first of [`LABEL_KEYS`] in an object (`label` for the example
//! classifier), for every element of a batch (`{"predictions": […]}` or an array).
//!
//! # Statistics
//! | field | statistic | drifted when (default) |
//! |---|---|---|
//! | numeric | PSI over the baseline's decile bins, empty bins at 1e-4 | > 0.2 |
//! | numeric | two-sample Kolmogorov–Smirnov statistic | > 0.1 |
//! | categorical | Jensen–Shannon distance (base 2) over values | > 0.1 |
//! | text | Jensen–Shannon distance (base 2) over lowercase word tokens | > 0.1 |
//! | labels | chi-square test of homogeneity (2 × labels), p-value | < 0.05 |
//!
//! Thresholds can be set per field ([`DriftThresholds::fields`]). Each check has a
//! *severity*, `statistic / threshold` (or `ln p / ln α`, capped at 10, for the p-value), which is above 1
//! exactly when it drifted; the report's `drift_score` is the largest severity. A ratio to the
//! threshold rather than a 0–1 score keeps one alarm threshold (1) meaningful whatever the
//! statistic and its per-field threshold, and tells how far past it the worst field is; a
//! fraction of drifted fields would hide one badly drifted field among many stable ones.
//!
//! ```
//! use chrono::Utc;
//! use mlm_core::drift::{Baseline, DriftReport, DriftThresholds, DriftWindow, Sample};
//! use mlm_core::{BaselineName, EndpointName};
//! use serde_json::json;
//!
//! let sample = |text: &str, label: i32| Sample::with_output(json!({"sentence": text}), json!({"label": label}));
//! let baseline = Baseline::build(
//!     EndpointName::new("news")?,
//!     BaselineName::new("launch")?,
//!     &[sample("stocks fell", 3), sample("the team won", 2)],
//!     Utc::now(),
//! )?;
//! let report = DriftReport::compare(
//!     &baseline,
//!     &[sample("the team won", 2), sample("stocks fell", 3)],
//!     DriftThresholds::default(),
//!     DriftWindow::default(),
//!     Utc::now(),
//! )?;
//! assert!(!report.drifted);
//! assert_eq!(report.drift_score, 0.0);
//! # Ok::<(), mlm_core::Error>(())
//! ```

mod api;
mod profile;
mod report;
mod sample;
mod source;
mod stats;

pub use api::Drift;
#[cfg(any(test, feature = "mock"))]
pub use api::MockDrift;
pub use profile::{
    Baseline, CategoryCounts, FieldKind, FieldProfile, MAX_CATEGORIES, MAX_KS_POINTS, MAX_TOKENS,
    NumericProfile, PSI_BINS, tokenize,
};
pub use report::{
    DEFAULT_JS_THRESHOLD, DEFAULT_KS_THRESHOLD, DEFAULT_LABEL_P_VALUE, DEFAULT_PSI_THRESHOLD,
    DriftCheck, DriftReport, DriftStatistic, DriftThresholds, DriftWindow, FieldDrift,
    FieldThresholds, LabelDrift, MAX_P_VALUE_SEVERITY,
};
pub use sample::{LABEL_KEYS, MAX_DRIFT_SAMPLES, ROOT_FIELD, Sample, parse_samples_jsonl};
pub use source::{
    CreateBaselineRequest, DriftReportRequest, MAX_CAPTURED_SAMPLES, SampleSource, TrafficWindow,
};
pub use stats::{PSI_EPSILON, chi_square_homogeneity, js_distance, ks_statistic, psi};
