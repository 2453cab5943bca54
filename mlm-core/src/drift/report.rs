//! Drift reports: a window of samples compared with a [`Baseline`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::profile::{
    Baseline, CategoryCounts, FieldKind, FieldProfile, Observations, category_counts,
    sorted_numbers,
};
use super::sample::{Sample, Scalar};
use super::stats::{bin_fractions, chi_square_homogeneity, js_distance, ks_statistic, psi};
use crate::error::{Error, Result};
use crate::names::{BaselineName, EndpointName};

/// Default PSI threshold: the common rule of thumb reads < 0.1 as stable, 0.1–0.25 as a
/// moderate shift and > 0.25 as a major one; 0.2 flags shifts worth a look before they are major.
pub const DEFAULT_PSI_THRESHOLD: f64 = 0.2;
/// Default KS threshold: the empirical distribution functions differ by more than 10
/// percentage points somewhere. A statistic, not a p-value: at production sample sizes every
/// tiny shift is "significant".
pub const DEFAULT_KS_THRESHOLD: f64 = 0.1;
/// Default Jensen–Shannon distance threshold (base 2, 0–1): Evidently's default for
/// categorical features with more than 1000 reference values. Token distributions are sparse:
/// a window from the same traffic sits at roughly `sqrt(distinct tokens / window tokens)`
/// below 1, so small text windows need a higher per-field threshold.
pub const DEFAULT_JS_THRESHOLD: f64 = 0.1;
/// Default significance level of the label chi-square test.
pub const DEFAULT_LABEL_P_VALUE: f64 = 0.05;
/// The largest severity a p-value check reaches (`p = α¹⁰`, about 1e-13 at α = 0.05): at
/// large windows p-values underflow towards 0, and beyond this they tell nothing more about how
/// big the shift is. 10 is also the most a JS distance or KS statistic reaches at its default
/// threshold, so the p-value cannot drown the other checks in the drift score.
pub const MAX_P_VALUE_SEVERITY: f64 = 10.0;

/// One field's own thresholds, each replacing the default when set.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldThresholds {
    /// PSI above which a numeric field has drifted.
    #[serde(default)]
    pub psi: Option<f64>,
    /// KS statistic above which a numeric field has drifted.
    #[serde(default)]
    pub ks: Option<f64>,
    /// Jensen–Shannon distance above which a categorical or text field has drifted.
    #[serde(default)]
    pub js_distance: Option<f64>,
}

/// When a report calls a statistic drifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DriftThresholds {
    /// PSI above which a numeric field has drifted (default [`DEFAULT_PSI_THRESHOLD`]).
    #[serde(default = "default_psi")]
    pub psi: f64,
    /// KS statistic above which a numeric field has drifted (default [`DEFAULT_KS_THRESHOLD`]).
    #[serde(default = "default_ks")]
    pub ks: f64,
    /// Jensen–Shannon distance above which a categorical or text field has drifted (default
    /// [`DEFAULT_JS_THRESHOLD`]).
    #[serde(default = "default_js")]
    pub js_distance: f64,
    /// Chi-square p-value below which the predicted labels have drifted (default
    /// [`DEFAULT_LABEL_P_VALUE`]).
    #[serde(default = "default_p")]
    pub label_p_value: f64,
    /// Per-field overrides, by field name.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldThresholds>,
}

fn default_psi() -> f64 {
    DEFAULT_PSI_THRESHOLD
}
fn default_ks() -> f64 {
    DEFAULT_KS_THRESHOLD
}
fn default_js() -> f64 {
    DEFAULT_JS_THRESHOLD
}
fn default_p() -> f64 {
    DEFAULT_LABEL_P_VALUE
}

impl Default for DriftThresholds {
    fn default() -> Self {
        Self {
            psi: DEFAULT_PSI_THRESHOLD,
            ks: DEFAULT_KS_THRESHOLD,
            js_distance: DEFAULT_JS_THRESHOLD,
            label_p_value: DEFAULT_LABEL_P_VALUE,
            fields: BTreeMap::new(),
        }
    }
}

fn check_positive(what: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} threshold must be a positive number, not {value}"
        )))
    }
}

impl DriftThresholds {
    /// Checks every threshold is positive and the p-value is below 1.
    pub fn validate(&self) -> Result<()> {
        check_positive("psi", self.psi)?;
        check_positive("ks", self.ks)?;
        check_positive("js_distance", self.js_distance)?;
        check_positive("label_p_value", self.label_p_value)?;
        if self.label_p_value >= 1.0 {
            return Err(Error::invalid("label_p_value threshold must be below 1"));
        }
        for (field, t) in &self.fields {
            let own = [("psi", t.psi), ("ks", t.ks), ("js_distance", t.js_distance)];
            for (what, value) in own {
                if let Some(v) = value {
                    check_positive(&format!("field {field:?} {what}"), v)?;
                }
            }
        }
        Ok(())
    }

    fn field(&self, field: &str) -> FieldThresholds {
        self.fields.get(field).copied().unwrap_or_default()
    }
}

/// Which statistic a check computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DriftStatistic {
    /// Population stability index over the baseline's decile bins.
    Psi,
    /// Two-sample Kolmogorov–Smirnov statistic.
    Ks,
    /// Jensen–Shannon distance (base 2).
    JsDistance,
    /// p-value of Pearson's chi-square test of homogeneity; drifted when *below* the threshold.
    ChiSquarePValue,
}

/// One statistic compared with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftCheck {
    /// The statistic.
    pub statistic: DriftStatistic,
    /// Its value on the window.
    pub value: f64,
    /// The threshold it was compared with.
    pub threshold: f64,
    /// Whether it crossed the threshold.
    pub drifted: bool,
    /// How far past the threshold: `value / threshold` for distances, `ln p / ln threshold`
    /// (at most [`MAX_P_VALUE_SEVERITY`]) for the p-value; above 1 exactly when drifted.
    pub severity: f64,
}

impl DriftCheck {
    fn new(statistic: DriftStatistic, value: f64, threshold: f64) -> Self {
        let severity = match statistic {
            DriftStatistic::ChiSquarePValue => {
                (value.max(f64::MIN_POSITIVE).ln() / threshold.ln()).min(MAX_P_VALUE_SEVERITY)
            }
            _ => value / threshold,
        };
        Self {
            statistic,
            value,
            threshold,
            drifted: severity > 1.0,
            severity,
        }
    }
}

/// One input field's drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldDrift {
    /// The field.
    pub field: String,
    /// How it is compared (the baseline's kind).
    pub kind: FieldKind,
    /// Values in the baseline.
    pub baseline_count: u64,
    /// Values in the window (of the baseline's kind: strings in a numeric field are not counted).
    pub window_count: u64,
    /// The statistics: PSI and KS for numeric fields, JS distance otherwise; none when the
    /// window has no values for the field.
    pub checks: Vec<DriftCheck>,
    /// Whether any check drifted.
    pub drifted: bool,
}

/// The shift of the predicted labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelDrift {
    /// Labels predicted in the window (labels the baseline never saw count as its `other`).
    pub window: BTreeMap<String, u64>,
    /// Pearson's chi-square statistic of baseline vs window counts.
    pub chi_square: f64,
    /// Its degrees of freedom (categories seen on either side, minus one).
    pub degrees_of_freedom: u32,
    /// The p-value compared with the threshold.
    pub check: DriftCheck,
}

/// A window of traffic compared with a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftReport {
    /// The endpoint.
    pub endpoint: EndpointName,
    /// The baseline compared with.
    pub baseline: BaselineName,
    /// When the report was made.
    pub created_at: DateTime<Utc>,
    /// Start of the window's traffic, when it came from a time range.
    #[serde(default)]
    pub window_start: Option<DateTime<Utc>>,
    /// End of the window's traffic, when it came from a time range.
    #[serde(default)]
    pub window_end: Option<DateTime<Utc>>,
    /// Samples in the window.
    pub sample_count: u64,
    /// Each baseline field's drift, by field name.
    pub fields: Vec<FieldDrift>,
    /// Fields in the window that the baseline has no profile of (not compared).
    pub unprofiled_fields: Vec<String>,
    /// The predicted-label shift, when both the baseline and the window have labels.
    #[serde(default)]
    pub labels: Option<LabelDrift>,
    /// The largest check severity (0 with no checks): above 1 exactly when something drifted,
    /// and how far past its threshold the worst statistic is. This is the `drift_score` metric.
    pub drift_score: f64,
    /// Whether any field or the labels drifted.
    pub drifted: bool,
    /// The thresholds used.
    pub thresholds: DriftThresholds,
}

fn numeric_checks(
    profile: &FieldProfile,
    values: &[Scalar<'_>],
    t: FieldThresholds,
    d: &DriftThresholds,
) -> (u64, Vec<DriftCheck>) {
    let Some(numeric) = &profile.numeric else {
        return (0, Vec::new());
    };
    let window = sorted_numbers(values);
    if window.is_empty() {
        return (0, Vec::new());
    }
    let fractions = bin_fractions(&numeric.bin_edges, &window);
    let checks = vec![
        DriftCheck::new(
            DriftStatistic::Psi,
            psi(&numeric.bin_fractions, &fractions),
            t.psi.unwrap_or(d.psi),
        ),
        DriftCheck::new(
            DriftStatistic::Ks,
            ks_statistic(&numeric.quantiles, &window),
            t.ks.unwrap_or(d.ks),
        ),
    ];
    (window.len() as u64, checks)
}

fn field_drift(
    field: &str,
    profile: &FieldProfile,
    values: &[Scalar<'_>],
    d: &DriftThresholds,
) -> FieldDrift {
    let t = d.field(field);
    let (window_count, checks) = match (profile.kind, &profile.categories) {
        (FieldKind::Numeric, _) => numeric_checks(profile, values, t, d),
        (kind, Some(categories)) if !values.is_empty() => {
            let (baseline, window) = categories.align(&category_counts(kind, values));
            let distance = js_distance(&baseline, &window);
            let threshold = t.js_distance.unwrap_or(d.js_distance);
            let check = DriftCheck::new(DriftStatistic::JsDistance, distance, threshold);
            (values.len() as u64, vec![check])
        }
        _ => (0, Vec::new()),
    };
    FieldDrift {
        field: field.to_owned(),
        kind: profile.kind,
        baseline_count: profile.count,
        window_count,
        drifted: checks.iter().any(|c| c.drifted),
        checks,
    }
}

fn label_drift(
    baseline: &CategoryCounts,
    seen: &Observations<'_>,
    d: &DriftThresholds,
) -> LabelDrift {
    let (mine, theirs) = baseline.align(&seen.labels);
    let (chi_square, degrees_of_freedom, p) = chi_square_homogeneity(&mine, &theirs);
    LabelDrift {
        window: seen.labels.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        chi_square,
        degrees_of_freedom,
        check: DriftCheck::new(DriftStatistic::ChiSquarePValue, p, d.label_p_value),
    }
}

/// Where a report's window came from: a time range of traffic, or samples given inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriftWindow {
    /// Start of the time range.
    pub start: Option<DateTime<Utc>>,
    /// End of the time range.
    pub end: Option<DateTime<Utc>>,
}

impl DriftReport {
    /// Compares `samples` (the window) with `baseline` under `thresholds`.
    ///
    /// Fails with `InvalidArgument` when the thresholds are invalid or the window is empty
    /// or too large.
    pub fn compare(
        baseline: &Baseline,
        samples: &[Sample],
        thresholds: DriftThresholds,
        window: DriftWindow,
        created_at: DateTime<Utc>,
    ) -> Result<Self> {
        thresholds.validate()?;
        let seen = Observations::of(samples)?;
        let fields: Vec<FieldDrift> = baseline
            .fields
            .iter()
            .map(|(field, profile)| {
                let values = seen.fields.get(field).map_or(&[][..], Vec::as_slice);
                field_drift(field, profile, values, &thresholds)
            })
            .collect();
        let unprofiled_fields = seen
            .fields
            .keys()
            .filter(|f| !baseline.fields.contains_key(*f))
            .cloned()
            .collect();
        let labels = match &baseline.labels {
            Some(counts) if !seen.labels.is_empty() => {
                Some(label_drift(counts, &seen, &thresholds))
            }
            _ => None,
        };
        let checks = fields
            .iter()
            .flat_map(|f| &f.checks)
            .chain(labels.as_ref().map(|l| &l.check));
        let drift_score = checks.map(|c| c.severity).fold(0.0, f64::max);
        Ok(Self {
            endpoint: baseline.endpoint.clone(),
            baseline: baseline.name.clone(),
            created_at,
            window_start: window.start,
            window_end: window.end,
            sample_count: samples.len() as u64,
            drifted: fields.iter().any(|f| f.drifted)
                || labels.as_ref().is_some_and(|l| l.check.drifted),
            fields,
            unprofiled_fields,
            labels,
            drift_score,
            thresholds,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    fn baseline(samples: &[Sample]) -> Baseline {
        Baseline::build(
            EndpointName::new("news").unwrap(),
            BaselineName::new("b1").unwrap(),
            samples,
            Utc::now(),
        )
        .unwrap()
    }

    fn compare(b: &Baseline, window: &[Sample], t: DriftThresholds) -> DriftReport {
        DriftReport::compare(b, window, t, DriftWindow::default(), Utc::now()).unwrap()
    }

    fn numbers(values: impl IntoIterator<Item = i32>) -> Vec<Sample> {
        values
            .into_iter()
            .map(|x| Sample::input(json!({"x": x})))
            .collect()
    }

    #[test]
    fn a_shifted_numeric_field_has_psi_and_ks_by_hand() {
        // Deciles of 1..=10 put one value in each of ten bins; 11..=20 all fall in the last.
        let b = baseline(&numbers(1..=10));
        let report = compare(&b, &numbers(11..=20), DriftThresholds::default());
        let x = &report.fields[0];
        assert_eq!(
            (x.field.as_str(), x.kind, x.window_count),
            ("x", FieldKind::Numeric, 10)
        );
        let psi = 9.0 * (1e-4 - 0.1) * (1e-4f64 / 0.1).ln() + 0.9 * 10f64.ln();
        assert_eq!(x.checks[0].statistic, DriftStatistic::Psi);
        close(x.checks[0].value, psi);
        close(x.checks[0].severity, psi / 0.2);
        assert_eq!(x.checks[1].statistic, DriftStatistic::Ks);
        close(x.checks[1].value, 1.0);
        assert!(x.drifted && report.drifted);
        close(report.drift_score, psi / 0.2);

        let same = compare(&b, &numbers((1..=10).rev()), DriftThresholds::default());
        assert!(!same.drifted, "{same:?}");
        assert_eq!(same.drift_score, 0.0);
        // Half the window shifted: KS 0.5, the lower five bins at 0.05 each.
        let half = compare(
            &b,
            &numbers([1, 2, 3, 4, 5, 30, 30, 30, 30, 30]),
            DriftThresholds::default(),
        );
        close(half.fields[0].checks[1].value, 0.5);
    }

    #[test]
    fn field_thresholds_override_the_defaults() {
        let b = baseline(&numbers(1..=10));
        let mut t = DriftThresholds::default();
        t.fields.insert(
            "x".into(),
            FieldThresholds {
                psi: Some(100.0),
                ks: Some(2.0),
                js_distance: None,
            },
        );
        let report = compare(&b, &numbers(11..=20), t);
        assert!(!report.drifted);
        close(report.drift_score, 0.5);
        assert_eq!(report.fields[0].checks[1].threshold, 2.0);
    }

    #[test]
    fn labels_shift_by_chi_square() {
        let labelled = |a: usize, b: usize| -> Vec<Sample> {
            let label = |l: &str| Sample::with_output(json!({"k": "v"}), json!({"label": l}));
            (0..a)
                .map(|_| label("a"))
                .chain((0..b).map(|_| label("b")))
                .collect()
        };
        let b = baseline(&labelled(10, 20));
        let report = compare(&b, &labelled(20, 10), DriftThresholds::default());
        let labels = report.labels.as_ref().unwrap();
        close(labels.chi_square, 20.0 / 3.0);
        assert_eq!(labels.degrees_of_freedom, 1);
        assert!((labels.check.value - 0.009_823).abs() < 1e-6);
        assert!(labels.check.drifted && report.drifted);
        close(report.drift_score, labels.check.value.ln() / 0.05f64.ln());
        assert_eq!(labels.window["a"], 20);
        // The constant field "k" is categorical and did not move.
        assert_eq!(report.fields[0].checks[0].value, 0.0);
        // p underflows to 0 here; the severity stops at the cap.
        let huge = compare(&b, &labelled(5000, 0), DriftThresholds::default());
        assert!(huge.labels.unwrap().check.value < 1e-100);
        assert_eq!(huge.drift_score, MAX_P_VALUE_SEVERITY);
        let same = compare(&b, &labelled(5, 10), DriftThresholds::default());
        assert!(!same.drifted);
        close(same.labels.unwrap().check.value, 1.0);
    }

    #[test]
    fn missing_and_new_fields_are_reported_not_compared() {
        let b = baseline(&numbers(1..=10));
        let report = compare(
            &b,
            &[Sample::input(json!({"y": "new"}))],
            DriftThresholds::default(),
        );
        assert_eq!(report.unprofiled_fields, ["y"]);
        assert_eq!(
            (report.fields[0].window_count, report.fields[0].checks.len()),
            (0, 0)
        );
        assert!(!report.drifted);
        assert!(report.labels.is_none());
    }

    #[test]
    fn thresholds_are_validated_and_deserialize_with_defaults() {
        let b = baseline(&numbers(1..=10));
        for bad in [
            json!({"psi": 0}),
            json!({"label_p_value": 1.0}),
            json!({"fields": {"x": {"ks": -1}}}),
        ] {
            let t: DriftThresholds = serde_json::from_value(bad.clone()).unwrap();
            let err =
                DriftReport::compare(&b, &numbers(1..=3), t, DriftWindow::default(), Utc::now());
            assert!(err.is_err(), "{bad}");
        }
        let t: DriftThresholds = serde_json::from_value(json!({"ks": 0.2})).unwrap();
        assert_eq!(
            t,
            DriftThresholds {
                ks: 0.2,
                ..DriftThresholds::default()
            }
        );
        assert!(serde_json::from_value::<DriftThresholds>(json!({"kss": 1})).is_err());
        assert!(
            DriftReport::compare(
                &b,
                &[],
                DriftThresholds::default(),
                DriftWindow::default(),
                Utc::now()
            )
            .is_err()
        );
    }

    #[test]
    fn reports_round_trip_through_json() {
        let b = baseline(&numbers(1..=10));
        let report = compare(&b, &numbers(5..=14), DriftThresholds::default());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(serde_json::from_value::<DriftReport>(json).unwrap(), report);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(serde_json::from_value::<Baseline>(json).unwrap(), b);
    }
}
