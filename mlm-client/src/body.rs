//! Request bodies: the core request's serde form, less what the path carries.
//!
//! The server's request types (`mlm-http`'s `wire` module) are stricter than the core's serde
//! form but read it: optional fields may be `null`, and every field name is the same. Only the
//! endpoint update differs in shape (`variants` for a new variant set, and the top-level
//! shorthand for a change to the only variant); the REST tests send every request through this
//! client, so a drift fails there.

use mlm_core::{
    AlarmDefinition, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, Error,
    Result, UpdateEndpointRequest, UpdateModelRequest, UpdateVersionRequest,
};
use serde::Serialize;
use serde_json::{Map, Value};

fn object(request: &impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(request) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::provider_msg(
            format!("a request serialized to {other}, not an object"),
            false,
        )),
        Err(e) => Err(Error::provider("cannot serialize the request", e)),
    }
}

pub(crate) fn create_model(request: &CreateModelRequest) -> Result<Value> {
    object(request).map(Value::Object)
}

pub(crate) fn update_model(request: &UpdateModelRequest) -> Result<Value> {
    object(request).map(Value::Object)
}

/// The model is in the path.
pub(crate) fn create_version(request: &CreateVersionRequest) -> Result<Value> {
    let mut body = object(request)?;
    body.remove("model");
    Ok(Value::Object(body))
}

pub(crate) fn update_version(request: &UpdateVersionRequest) -> Result<Value> {
    object(request).map(Value::Object)
}

/// The endpoint and the alarm's name are in the path.
pub(crate) fn put_alarm(definition: &AlarmDefinition) -> Result<Value> {
    let mut body = object(definition)?;
    body.remove("endpoint");
    body.remove("name");
    Ok(Value::Object(body))
}

pub(crate) fn create_endpoint(request: &CreateEndpointRequest) -> Result<Value> {
    object(request).map(Value::Object)
}

/// The name is in the path; a new variant set is `variants`; a change to the only variant
/// (no variant name) travels as the top-level shorthand, which the server resolves with the
/// same core rule ([`mlm_core::VariantChange::only_variant`]).
pub(crate) fn update_endpoint(request: &UpdateEndpointRequest) -> Result<Value> {
    let mut body = object(request)?;
    body.remove("name");
    let replace = body.remove("replace_variants").unwrap_or(Value::Null);
    let changes = body.remove("changes").unwrap_or(Value::Null);
    if let [only] = request.changes.as_slice()
        && only.variant.is_none()
    {
        if only.weight.is_some() {
            return Err(Error::unsupported(
                "a weight needs a variant name: with one variant it is always 1",
            ));
        }
        let Value::Array(mut changes) = changes else {
            unreachable!("changes serialize as an array")
        };
        if let Some(Value::Object(change)) = changes.pop() {
            for field in ["instance_count", "instance_type", "model_version"] {
                if let Some(value) = change.get(field).filter(|v| !v.is_null()) {
                    body.insert(field.into(), value.clone());
                }
            }
        }
    } else if !request.changes.is_empty() {
        body.insert("changes".into(), changes);
    }
    if !replace.is_null() {
        body.insert("variants".into(), replace);
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use mlm_core::{EndpointName, ModelName, VariantChange, VariantName, VersionRef};
    use serde_json::json;

    use super::*;

    fn endpoint() -> EndpointName {
        EndpointName::new("news").unwrap()
    }

    #[test]
    fn a_change_to_the_only_variant_is_the_shorthand() {
        let mut change = VariantChange::only_variant();
        change.instance_count = Some(3);
        let request = UpdateEndpointRequest::new(endpoint()).with_change(change);
        let body = update_endpoint(&request).unwrap();
        assert_eq!(body["instance_count"], 3);
        assert!(
            body.get("changes").is_none() && body.get("name").is_none(),
            "{body}"
        );
        assert!(body.get("instance_type").is_none(), "{body}");
    }

    #[test]
    fn named_changes_and_variant_sets_keep_their_shape() {
        let change = VariantChange::new(VariantName::new("blue").unwrap()).with_instance_count(2);
        let body =
            update_endpoint(&UpdateEndpointRequest::new(endpoint()).with_change(change)).unwrap();
        assert_eq!(body["changes"][0]["variant"], "blue");
        assert!(body.get("variants").is_none(), "{body}");
        let spec = mlm_core::VariantSpec::new(
            VariantName::new("green").unwrap(),
            VersionRef::new(ModelName::new("m").unwrap(), 2),
            "ml.m5.large",
            1,
        );
        let mut replace = UpdateEndpointRequest::new(endpoint());
        replace.replace_variants = Some(vec![spec]);
        let body = update_endpoint(&replace).unwrap();
        assert_eq!(body["variants"][0]["name"], "green");
        assert!(body.get("changes").is_none(), "{body}");
    }

    #[test]
    fn a_weight_without_a_variant_cannot_be_sent() {
        let mut change = VariantChange::only_variant();
        change.weight = Some(0.5);
        let err = update_endpoint(&UpdateEndpointRequest::new(endpoint()).with_change(change))
            .unwrap_err();
        assert!(err.to_string().contains("weight"), "{err}");
    }

    #[test]
    fn a_version_body_leaves_the_model_to_the_path() {
        let request = CreateVersionRequest::new(ModelName::new("m").unwrap(), "s3://b/k", "image");
        let body = create_version(&request).unwrap();
        assert!(body.get("model").is_none(), "{body}");
        assert_eq!(body["artifact_uri"], json!("s3://b/k"));
    }
}
