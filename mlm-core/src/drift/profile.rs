//! Baselines: per-field profiles of a sample of an endpoint's traffic.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sample::{MAX_DRIFT_SAMPLES, Sample, Scalar, for_each_scalar, labels};
use super::stats::{bin_fractions, quantile};
use crate::error::{Error, Result};
use crate::names::{BaselineName, EndpointName};

/// Quantile bins of a numeric field's PSI: deciles.
pub const PSI_BINS: usize = 10;
/// Most baseline values a numeric field keeps for the KS statistic; a larger baseline keeps
/// this many evenly spaced quantiles, which moves the statistic by at most 1/1000.
pub const MAX_KS_POINTS: usize = 1000;
/// Most categories a categorical field (or labels) keeps; the rest are counted as `other`.
pub const MAX_CATEGORIES: usize = 100;
/// Most tokens a text field keeps; the rest are counted as `other`.
pub const MAX_TOKENS: usize = 1000;

/// How a field's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldKind {
    /// Every value is a number: PSI and Kolmogorov–Smirnov.
    Numeric,
    /// Repeating values (at most [`MAX_CATEGORIES`] distinct, at most half as many distinct
    /// values as values), or booleans: Jensen–Shannon distance over the values.
    Categorical,
    /// Any other strings: Jensen–Shannon distance over lowercase word tokens.
    Text,
}

/// Counts over categories (values, tokens or labels), the rarest beyond a cap folded into
/// `other`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryCounts {
    /// Count per kept category.
    pub counts: BTreeMap<String, u64>,
    /// Count of every category not kept.
    pub other: u64,
}

impl CategoryCounts {
    /// The `cap` most frequent of `counts` (ties by name), the rest in `other`.
    pub(crate) fn top(counts: HashMap<String, u64>, cap: usize) -> Self {
        let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let other = sorted.iter().skip(cap).map(|(_, c)| c).sum();
        sorted.truncate(cap);
        Self {
            counts: sorted.into_iter().collect(),
            other,
        }
    }

    /// Counts of `seen` over these categories: kept ones in key order, then `other`.
    pub(crate) fn align(&self, seen: &HashMap<String, u64>) -> (Vec<u64>, Vec<u64>) {
        let mut mine: Vec<u64> = self.counts.values().copied().collect();
        mine.push(self.other);
        let mut theirs: Vec<u64> = self
            .counts
            .keys()
            .map(|k| seen.get(k).copied().unwrap_or(0))
            .collect();
        let kept: u64 = theirs.iter().sum();
        theirs.push(seen.values().sum::<u64>() - kept);
        (mine, theirs)
    }
}

/// A numeric field's baseline distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumericProfile {
    /// Inner edges of the PSI bins (baseline deciles, duplicates removed); bin `i` is
    /// `(edge[i-1], edge[i]]`, the first and last open-ended.
    pub bin_edges: Vec<f64>,
    /// Fraction of the baseline's values in each bin (one more than `bin_edges`).
    pub bin_fractions: Vec<f64>,
    /// The sorted baseline values, or [`MAX_KS_POINTS`] evenly spaced quantiles of them.
    pub quantiles: Vec<f64>,
}

/// One input field's baseline profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldProfile {
    /// How the field is compared.
    pub kind: FieldKind,
    /// Values seen (array elements count one each).
    pub count: u64,
    /// The distribution of a numeric field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericProfile>,
    /// The values of a categorical field, or the tokens of a text field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<CategoryCounts>,
}

/// A baseline: the profile of a sample of an endpoint's traffic that drift reports compare
/// recent traffic with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Baseline {
    /// The baseline's name, unique per endpoint.
    pub name: BaselineName,
    /// The endpoint whose traffic it profiles.
    pub endpoint: EndpointName,
    /// When it was built.
    pub created_at: DateTime<Utc>,
    /// Samples it was built from.
    pub sample_count: u64,
    /// Profile per input field (see [`crate::drift`] for how inputs split into fields).
    pub fields: BTreeMap<String, FieldProfile>,
    /// Predicted labels of the samples' outputs, when they had any.
    #[serde(default)]
    pub labels: Option<CategoryCounts>,
    /// Start of the captured traffic it was built from, when it came from a time range.
    #[serde(default)]
    pub window_start: Option<DateTime<Utc>>,
    /// End of the captured traffic it was built from, when it came from a time range.
    #[serde(default)]
    pub window_end: Option<DateTime<Utc>>,
}

/// The lowercase word tokens of a text: runs of Unicode letters and digits.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// The values the samples hold per field and the labels their outputs predicted.
#[derive(Debug, Default)]
pub(crate) struct Observations<'a> {
    pub(crate) fields: BTreeMap<String, Vec<Scalar<'a>>>,
    pub(crate) labels: HashMap<String, u64>,
}

impl<'a> Observations<'a> {
    pub(crate) fn of(samples: &'a [Sample]) -> Result<Self> {
        if samples.is_empty() {
            return Err(Error::invalid("no samples"));
        }
        if samples.len() > MAX_DRIFT_SAMPLES {
            return Err(Error::invalid(format!(
                "{} samples: at most {MAX_DRIFT_SAMPLES}",
                samples.len()
            )));
        }
        let mut seen = Self::default();
        let mut predicted = Vec::new();
        for sample in samples {
            for_each_scalar(&sample.input, &mut |field, value| {
                seen.fields.entry(field.to_owned()).or_default().push(value);
            });
            if let Some(output) = &sample.output {
                labels(output, &mut predicted);
            }
        }
        for label in predicted {
            *seen.labels.entry(label).or_default() += 1;
        }
        Ok(seen)
    }
}

/// A value as a category: strings as they are, numbers and booleans as JSON text.
pub(crate) fn category(value: Scalar<'_>) -> String {
    match value {
        Scalar::Text(s) => s.to_owned(),
        Scalar::Number(x) => serde_json::Value::from(x).to_string(),
        Scalar::Bool(b) => b.to_string(),
    }
}

/// Counts of the categories (or, for text, the tokens) of `values`.
pub(crate) fn category_counts(kind: FieldKind, values: &[Scalar<'_>]) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for &value in values {
        if kind == FieldKind::Text {
            for token in tokenize(&category(value)) {
                *counts.entry(token).or_default() += 1;
            }
        } else {
            *counts.entry(category(value)).or_default() += 1;
        }
    }
    counts
}

/// The sorted numbers among `values`.
pub(crate) fn sorted_numbers(values: &[Scalar<'_>]) -> Vec<f64> {
    let mut numbers: Vec<f64> = values
        .iter()
        .filter_map(|v| match v {
            Scalar::Number(x) => Some(*x),
            _ => None,
        })
        .collect();
    numbers.sort_by(f64::total_cmp);
    numbers
}

fn kind_of(values: &[Scalar<'_>]) -> FieldKind {
    if values.iter().all(|v| matches!(v, Scalar::Number(_))) {
        return FieldKind::Numeric;
    }
    if !values.iter().any(|v| matches!(v, Scalar::Text(_))) {
        return FieldKind::Categorical;
    }
    let distinct = category_counts(FieldKind::Categorical, values).len();
    if distinct <= MAX_CATEGORIES && 2 * distinct <= values.len() {
        FieldKind::Categorical
    } else {
        FieldKind::Text
    }
}

fn numeric_profile(values: &[Scalar<'_>]) -> NumericProfile {
    let sorted = sorted_numbers(values);
    let mut bin_edges: Vec<f64> = (1..PSI_BINS)
        .map(|i| quantile(&sorted, i as f64 / PSI_BINS as f64))
        .collect();
    bin_edges.dedup();
    let quantiles = if sorted.len() <= MAX_KS_POINTS {
        sorted.clone()
    } else {
        (0..MAX_KS_POINTS)
            .map(|i| quantile(&sorted, i as f64 / (MAX_KS_POINTS - 1) as f64))
            .collect()
    };
    NumericProfile {
        bin_fractions: bin_fractions(&bin_edges, &sorted),
        bin_edges,
        quantiles,
    }
}

fn field_profile(values: &[Scalar<'_>]) -> FieldProfile {
    let kind = kind_of(values);
    let (numeric, categories) = match kind {
        FieldKind::Numeric => (Some(numeric_profile(values)), None),
        FieldKind::Categorical | FieldKind::Text => {
            let cap = if kind == FieldKind::Text {
                MAX_TOKENS
            } else {
                MAX_CATEGORIES
            };
            let counts = CategoryCounts::top(category_counts(kind, values), cap);
            (None, Some(counts))
        }
    };
    FieldProfile {
        kind,
        count: values.len() as u64,
        numeric,
        categories,
    }
}

impl Baseline {
    /// Profiles `samples` (at most [`MAX_DRIFT_SAMPLES`]) of `endpoint`'s traffic.
    ///
    /// Fails with `InvalidArgument` when there are no samples, too many, or nothing to profile
    /// (no input field and no predicted label).
    pub fn build(
        endpoint: EndpointName,
        name: BaselineName,
        samples: &[Sample],
        created_at: DateTime<Utc>,
    ) -> Result<Self> {
        let seen = Observations::of(samples)?;
        if seen.fields.is_empty() && seen.labels.is_empty() {
            return Err(Error::invalid(
                "nothing to profile: the samples have no input fields and no predicted labels",
            ));
        }
        let fields = seen
            .fields
            .iter()
            .map(|(field, values)| (field.clone(), field_profile(values)))
            .collect();
        let labels =
            (!seen.labels.is_empty()).then(|| CategoryCounts::top(seen.labels, MAX_CATEGORIES));
        Ok(Self {
            name,
            endpoint,
            created_at,
            sample_count: samples.len() as u64,
            fields,
            labels,
            window_start: None,
            window_end: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn build(samples: &[Sample]) -> Result<Baseline> {
        Baseline::build(
            EndpointName::new("news").unwrap(),
            BaselineName::new("b1").unwrap(),
            samples,
            Utc::now(),
        )
    }

    #[test]
    fn fields_get_their_kind_and_profile() {
        let samples: Vec<Sample> = (0..20)
            .map(|i| {
                Sample::with_output(
                    json!({"age": i, "plan": if i % 2 == 0 { "free" } else { "pro" },
                           "note": format!("Note number {i}")}),
                    json!({"label": i % 4}),
                )
            })
            .collect();
        let baseline = build(&samples).unwrap();
        assert_eq!(baseline.sample_count, 20);
        let age = &baseline.fields["age"];
        assert_eq!(age.kind, FieldKind::Numeric);
        let numeric = age.numeric.as_ref().unwrap();
        assert_eq!(numeric.quantiles.len(), 20);
        assert_eq!(numeric.bin_edges.len(), 9);
        // Deciles of 0..19 split the values two per bin.
        assert!(
            numeric
                .bin_fractions
                .iter()
                .all(|&f| (f - 0.1).abs() < 1e-12)
        );
        let plan = &baseline.fields["plan"];
        assert_eq!(plan.kind, FieldKind::Categorical);
        assert_eq!(plan.categories.as_ref().unwrap().counts["free"], 10);
        let note = &baseline.fields["note"];
        assert_eq!(note.kind, FieldKind::Text);
        let tokens = note.categories.as_ref().unwrap();
        assert_eq!((tokens.counts["note"], tokens.counts["number"]), (20, 20));
        assert_eq!(baseline.labels.as_ref().unwrap().counts["3"], 5);
    }

    #[test]
    fn category_caps_fold_the_rarest_into_other() {
        let counts: HashMap<String, u64> = [("a", 5), ("b", 3), ("c", 3), ("d", 1)]
            .map(|(k, v)| (k.to_owned(), v))
            .into();
        let top = CategoryCounts::top(counts, 2);
        assert_eq!(top.counts.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(top.other, 4);
        let window: HashMap<String, u64> =
            [("b", 2), ("z", 7)].map(|(k, v)| (k.to_owned(), v)).into();
        assert_eq!(top.align(&window), (vec![5, 3, 4], vec![0, 2, 7]));
    }

    #[test]
    fn large_numeric_baselines_keep_quantiles() {
        let samples: Vec<Sample> = (0..5000).map(|i| Sample::input(json!(i))).collect();
        let baseline = build(&samples).unwrap();
        let numeric = baseline.fields["$"].numeric.clone().unwrap();
        assert_eq!(numeric.quantiles.len(), MAX_KS_POINTS);
        assert_eq!(
            (numeric.quantiles[0], numeric.quantiles[999]),
            (0.0, 4999.0)
        );
    }

    #[test]
    fn nothing_to_profile_is_invalid() {
        assert!(build(&[]).is_err());
        let err = build(&[Sample::input(json!({"x": null}))]).unwrap_err();
        assert!(err.to_string().contains("nothing to profile"), "{err}");
    }

    #[test]
    fn tokens_are_lowercase_words() {
        let tokens: Vec<String> = tokenize("The Red-Sox won 3:1, at Fenway_Park!").collect();
        assert_eq!(
            tokens,
            ["the", "red", "sox", "won", "3", "1", "at", "fenway", "park"]
        );
    }
}
