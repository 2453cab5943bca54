//! The JSON Schema (2020-12) of the pipeline file, made from the same `ToSchema` derives as the
//! OpenAPI document's `PipelineSpec`: the root schema, and every component it refers to under
//! `$defs`. `docs/pipeline.schema.json` is this document (`mlm pipelines schema`); a test
//! fails when they drift. Editors validate pipeline files with it.

use std::sync::OnceLock;

use mlm_core::pipeline::PipelineSpec;
use serde_json::{Map, Value, json};
use utoipa::{PartialSchema, ToSchema};

/// Where the OpenAPI document keeps components, and where a JSON Schema keeps definitions.
const COMPONENTS: &str = "#/components/schemas/";
const DEFS: &str = "#/$defs/";

/// The JSON Schema of a pipeline file (YAML or JSON).
pub fn pipeline_schema() -> Value {
    let mut components = Vec::new();
    <PipelineSpec as ToSchema>::schemas(&mut components);
    let defs: Map<String, Value> = components
        .into_iter()
        .map(|(name, schema)| (name, to_value(&schema)))
        .collect();
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mlm.dev/schemas/pipeline.schema.json",
        "title": "mlm pipeline file",
    });
    let doc = root.as_object_mut().expect("the root is an object");
    if let Value::Object(spec) = to_value(&PipelineSpec::schema()) {
        doc.extend(spec);
    }
    doc.insert("$defs".into(), Value::Object(defs));
    root
}

/// The document as `docs/pipeline.schema.json` holds it: pretty JSON and a newline.
pub fn pipeline_schema_pretty() -> String {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&pipeline_schema())
            .expect("the pipeline schema serializes");
        text.push('\n');
        text
    })
    .clone()
}

/// A utoipa schema as JSON, its component references pointing into `$defs`.
fn to_value<T: serde::Serialize>(schema: &T) -> Value {
    let mut value = serde_json::to_value(schema).expect("a schema serializes");
    rewrite_refs(&mut value);
    value
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix(COMPONENTS) {
                            *target = format!("{DEFS}{name}");
                        }
                    }
                    // `discriminator.mapping` names components too.
                    Value::String(target) if target.starts_with(COMPONENTS) => {
                        *target = target.replacen(COMPONENTS, DEFS, 1);
                    }
                    _ => rewrite_refs(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reference resolves to a definition of the document.
    #[test]
    fn every_reference_is_defined() {
        let schema = pipeline_schema();
        let text = schema.to_string();
        assert!(!text.contains(COMPONENTS), "a reference was not rewritten");
        let defs = schema["$defs"].as_object().expect("$defs");
        for part in text.split("\"#/$defs/").skip(1) {
            let name = &part[..part.find('"').expect("a closed string")];
            assert!(defs.contains_key(name), "{name} is not defined");
        }
        assert!(defs.contains_key("CanaryShift"), "{:?}", defs.keys());
    }
}
