//! Samples (decoded request/response JSON), how they split into field observations and
//! predicted labels, and how they are read from JSON Lines.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Most samples one baseline or report reads (a JSON Lines upload or an inline window).
pub const MAX_DRIFT_SAMPLES: usize = 100_000;

/// The keys an output object's predicted label is read from, first present wins.
pub const LABEL_KEYS: [&str; 5] = [
    "label",
    "predicted_label",
    "prediction",
    "class",
    "category",
];

/// One request the model saw, and what it answered if known: the decoded JSON bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// The request body, e.g. `{"sentence": "…"}`.
    pub input: Value,
    /// The response body, e.g. `{"label": 2, "category": "Sports", …}`.
    #[serde(default)]
    pub output: Option<Value>,
}

impl Sample {
    /// A sample of a request alone.
    pub fn input(input: Value) -> Self {
        Self {
            input,
            output: None,
        }
    }

    /// A sample of a request and its response.
    pub fn with_output(input: Value, output: Value) -> Self {
        Self {
            input,
            output: Some(output),
        }
    }
}

/// One scalar seen under a field path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar<'a> {
    Number(f64),
    Text(&'a str),
    Bool(bool),
}

/// The field of an input that is not an object (a bare string, number or array).
pub const ROOT_FIELD: &str = "$";

/// Calls `sink(field, scalar)` for every scalar of `input`: an object's keys are fields (nested
/// objects as dotted paths, `a.b`), an array's elements are observations of the field that
/// holds it (so `{"instances": ["x", "y"]}` gives two observations of `instances`), and a
/// non-object input is the one field [`ROOT_FIELD`]. `null`s are skipped.
pub(crate) fn for_each_scalar<'a>(input: &'a Value, sink: &mut impl FnMut(&str, Scalar<'a>)) {
    walk(ROOT_FIELD, input, true, sink);
}

fn walk<'a>(path: &str, value: &'a Value, root: bool, sink: &mut impl FnMut(&str, Scalar<'a>)) {
    match value {
        Value::Null => {}
        Value::Bool(b) => sink(path, Scalar::Bool(*b)),
        Value::Number(n) => {
            if let Some(x) = n.as_f64().filter(|x| x.is_finite()) {
                sink(path, Scalar::Number(x));
            }
        }
        Value::String(s) => sink(path, Scalar::Text(s)),
        Value::Array(items) => items.iter().for_each(|v| walk(path, v, root, sink)),
        Value::Object(map) => {
            for (key, v) in map {
                let child = if root {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(&child, v, false, sink);
            }
        }
    }
}

/// The predicted labels in an output: a scalar is a label; an object's label is its first
/// [`LABEL_KEYS`] value, or, when it has none, the labels of its `predictions` array; an
/// array's are its elements' (a batch). Numbers and booleans are spelled as JSON text.
pub(crate) fn labels(output: &Value, out: &mut Vec<String>) {
    match output {
        Value::Null => {}
        Value::String(s) => out.push(s.clone()),
        Value::Number(_) | Value::Bool(_) => out.push(output.to_string()),
        Value::Array(items) => items.iter().for_each(|v| labels(v, out)),
        Value::Object(map) => {
            if let Some(label) = LABEL_KEYS.iter().find_map(|k| map.get(*k)) {
                labels(label, out);
            } else if let Some(batch @ Value::Array(_)) = map.get("predictions") {
                labels(batch, out);
            }
        }
    }
}

/// Reads samples from JSON Lines: one JSON value per line, blank lines skipped. A line that is
/// an object with an `input` key and no keys but `input` and `output` is a [`Sample`];
/// any other line is a request body alone. Errors name the first bad line (1-based).
pub fn parse_samples_jsonl(text: &str) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if samples.len() == MAX_DRIFT_SAMPLES {
            return Err(Error::invalid(format!(
                "line {}: more than {MAX_DRIFT_SAMPLES} samples",
                index + 1
            )));
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| Error::invalid(format!("line {}: not JSON: {e}", index + 1)))?;
        samples.push(into_sample(value));
    }
    if samples.is_empty() {
        return Err(Error::invalid("no samples: every line is blank"));
    }
    Ok(samples)
}

fn into_sample(value: Value) -> Sample {
    let wrapped = matches!(&value, Value::Object(map)
        if map.contains_key("input") && map.keys().all(|k| k == "input" || k == "output"));
    match value {
        Value::Object(mut map) if wrapped => Sample {
            input: map.remove("input").unwrap_or(Value::Null),
            output: map.remove("output").filter(|v| !v.is_null()),
        },
        other => Sample::input(other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scalars(input: &Value) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        for_each_scalar(input, &mut |field, s| {
            seen.push((field.to_owned(), format!("{s:?}")));
        });
        seen
    }

    #[test]
    fn objects_arrays_and_bare_values_become_fields() {
        let seen = scalars(&json!({"instances": ["a b", "c"], "meta": {"age": 3, "x": null}}));
        assert_eq!(
            seen,
            [
                ("instances".into(), r#"Text("a b")"#.into()),
                ("instances".into(), r#"Text("c")"#.into()),
                ("meta.age".into(), "Number(3.0)".into()),
            ]
        );
        assert_eq!(
            scalars(&json!("hi")),
            [("$".into(), r#"Text("hi")"#.into())]
        );
        assert_eq!(
            scalars(&json!([true, 1.5])),
            [
                ("$".into(), "Bool(true)".into()),
                ("$".into(), "Number(1.5)".into())
            ]
        );
    }

    #[test]
    fn labels_come_from_the_label_key_or_the_batch() {
        let mut out = Vec::new();
        labels(&json!({"label": 2, "category": "Sports"}), &mut out);
        labels(
            &json!({"predictions": [{"category": "World"}, {"label": "x"}]}),
            &mut out,
        );
        labels(&json!(["a", true]), &mut out);
        labels(&json!({"scores": {}}), &mut out);
        assert_eq!(out, ["2", "World", "x", "a", "true"]);
    }

    #[test]
    fn jsonl_lines_are_bodies_or_wrapped_samples() {
        let text = "{\"sentence\": \"a\"}\n\n{\"input\": {\"sentence\": \"b\"}, \"output\": {\"label\": 1}}\n{\"input\": 1, \"other\": 2}\n";
        let samples = parse_samples_jsonl(text).unwrap();
        assert_eq!(
            samples,
            [
                Sample::input(json!({"sentence": "a"})),
                Sample::with_output(json!({"sentence": "b"}), json!({"label": 1})),
                Sample::input(json!({"input": 1, "other": 2})),
            ]
        );
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let err = parse_samples_jsonl("{}\n\n{oops\n").unwrap_err();
        assert!(err.to_string().contains("line 3: not JSON"), "{err}");
        let err = parse_samples_jsonl("\n  \n").unwrap_err();
        assert!(err.to_string().contains("no samples"), "{err}");
    }
}
