//! Deterministic names of the SageMaker resources mlm creates, the tags it sets, and a codec
//! for long text in tag-like string maps.
//!
//! Names are the idempotency key on SageMaker (CreateModel, CreateEndpointConfig and
//! CreateEndpoint take no client token), so every name is derived from the request:
//!
//! * endpoint key: the endpoint name cut to 46 characters + `-` + 4 hex digits of a hash of the
//!   full name (two long names sharing a prefix get different keys);
//! * endpoint config: `<key>-<8 hex of the config's content>` (≤ 60 characters);
//! * SageMaker model of variant *i* of that config: `<config>-<i>` (≤ 62 characters).
//!
//! So the resources of one endpoint are found by name alone, and a retried request produces
//! the same names instead of duplicates.
//!
//! A CloudWatch dashboard per endpoint is `mlm-<endpoint>`.
//!
//! CloudWatch alarm names are account-wide, so mlm's alarm `a` of endpoint `e` is the
//! CloudWatch alarm `mlm/e/a`: `/` cannot occur in either name, so the prefix `mlm/e/` lists
//! exactly the alarms of `e` (with `-` as separator, `mlm-a-` would also list those of an
//! endpoint `a-b`).

use std::collections::BTreeMap;

use base64::Engine;
use sha2::{Digest, Sha256};

/// Marks resources created by mlm.
pub(crate) const TAG_MANAGED: &str = "mlm:managed";
/// On configs and models: the endpoint they belong to.
pub(crate) const TAG_ENDPOINT: &str = "mlm:endpoint";
/// On SageMaker models: `model/version` they serve.
pub(crate) const TAG_VERSION: &str = "mlm:version";
/// On endpoints: the config the last update asked for (rollback detection).
pub(crate) const TAG_TARGET_CONFIG: &str = "mlm:target-config";
/// On endpoints: superseded configs/models wait to be deleted.
pub(crate) const TAG_CLEANUP: &str = "mlm:cleanup";
/// On endpoints: autoscaling waits to be applied once the endpoint is InService; the value
/// is the config whose autoscaling is applied now (`-`: none).
pub(crate) const TAG_AUTOSCALING_PENDING: &str = "mlm:autoscaling-from";
/// On endpoints: the deployment policy (encoded text).
pub(crate) const TAG_DEPLOYMENT: &str = "mlm:deployment";
/// On model groups (tags) and versions (customer metadata): description override.
pub(crate) const TAG_DESCRIPTION: &str = "mlm:description";
/// On model groups: when mlm last changed the metadata (epoch seconds).
pub(crate) const TAG_UPDATED: &str = "mlm:updated-at";
/// On configs: the deployment record (encoded text; see `crate::deployments`).
pub(crate) const TAG_RECORD: &str = "mlm:record";
/// On alarms: the alarm's name within its endpoint.
pub(crate) const TAG_ALARM: &str = "mlm:alarm";
/// On alarms: `true` when the definition named no variant (mlm chose the only one).
pub(crate) const TAG_VARIANT_DEFAULTED: &str = "mlm:variant-defaulted";
/// On alarms: the threshold as mlm was given it (CloudWatch holds it per instance).
pub(crate) const TAG_THRESHOLD: &str = "mlm:threshold";

const KEY_PREFIX_LEN: usize = 46;
const CHUNK: usize = 256;

/// Hex SHA-256 of the parts, joined by NUL.
pub(crate) fn hash_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The name stem shared by everything mlm creates for `endpoint`.
pub(crate) fn endpoint_key(endpoint: &str) -> String {
    let mut cut: String = endpoint.chars().take(KEY_PREFIX_LEN).collect();
    while cut.ends_with('-') {
        cut.pop();
    }
    format!("{cut}-{}", &hash_hex(&[endpoint])[..4])
}

/// The config name for `endpoint` with content hash `content`.
pub(crate) fn config_name(endpoint: &str, content: &str) -> String {
    format!("{}-{}", endpoint_key(endpoint), &hash_hex(&[content])[..8])
}

/// The SageMaker model name of variant `index` of `config`.
pub(crate) fn model_name(config: &str, index: usize) -> String {
    format!("{config}-{index}")
}

fn is_hex8(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `name` is a config mlm made for `endpoint`.
pub(crate) fn is_config_of(endpoint: &str, name: &str) -> bool {
    let key = endpoint_key(endpoint);
    name.strip_prefix(&key)
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(is_hex8)
}

/// Whether `name` is a model mlm made for `endpoint`, and if so the config it belongs to.
pub(crate) fn config_of_model(endpoint: &str, name: &str) -> Option<String> {
    let (config, index) = name.rsplit_once('-')?;
    (is_config_of(endpoint, config)
        && !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit()))
    .then(|| config.to_string())
}

/// The CloudWatch name of mlm's alarm `alarm` of `endpoint`.
pub(crate) fn alarm_name(endpoint: &str, alarm: &str) -> String {
    format!("{}{alarm}", alarm_prefix(endpoint))
}

/// The prefix every CloudWatch alarm mlm made for `endpoint` starts with.
pub(crate) fn alarm_prefix(endpoint: &str) -> String {
    format!("mlm/{endpoint}/")
}

/// The CloudWatch dashboard of `endpoint`. Dashboard names allow `A-Za-z0-9-_` and 255
/// characters; endpoint names are letters, digits and hyphens, at most 63, so every endpoint
/// has exactly one, and it is found by name alone.
pub(crate) fn dashboard_name(endpoint: &str) -> String {
    format!("mlm-{endpoint}")
}

/// Splits `text` into tag-safe chunks under `prefix` (`prefix:n` = chunk count, `prefix:0..`).
///
/// Tag values allow only letters, digits, spaces and `_.:/=+-@`, and 256 characters, so the
/// text is base64-encoded (whose alphabet fits) and chunked. An empty text is stored as `n = 0`
/// (an explicit "cleared").
pub(crate) fn encode_text(prefix: &str, text: &str) -> Vec<(String, String)> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let chunks: Vec<&str> = if encoded.is_empty() {
        Vec::new()
    } else {
        encoded
            .as_bytes()
            .chunks(CHUNK)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect()
    };
    let mut out = vec![(format!("{prefix}:n"), chunks.len().to_string())];
    for (i, c) in chunks.iter().enumerate() {
        out.push((format!("{prefix}:{i}"), (*c).to_string()));
    }
    out
}

/// Reads text stored by [`encode_text`]; `None` when none is stored or it is damaged.
pub(crate) fn decode_text(map: &BTreeMap<String, String>, prefix: &str) -> Option<String> {
    let n: usize = map.get(&format!("{prefix}:n"))?.parse().ok()?;
    let mut encoded = String::new();
    for i in 0..n {
        encoded.push_str(map.get(&format!("{prefix}:{i}"))?);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The JSON value [`encode_text`] stored under `prefix`, if any. A value that no longer reads
/// (written by another tool, or cut short) is logged and left out rather than failing the
/// describe: the endpoint stays visible and manageable, only that setting is missing.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    map: &BTreeMap<String, String>,
    prefix: &str,
) -> Option<T> {
    let text = decode_text(map, prefix)?;
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(tag = prefix, error = %e, "ignoring an mlm tag that does not decode");
            None
        }
    }
}

/// The keys [`encode_text`] may have written under `prefix` in `map`.
pub(crate) fn text_keys(map: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    let stem = format!("{prefix}:");
    map.keys()
        .filter(|k| {
            k.strip_prefix(&stem)
                .is_some_and(|r| r == "n" || r.bytes().all(|b| b.is_ascii_digit()))
        })
        .cloned()
        .collect()
}

/// Whether a tag key is mlm's or AWS's own (hidden from users).
pub(crate) fn is_reserved_key(key: &str) -> bool {
    key.starts_with("mlm:") || key.starts_with("aws:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_tag_that_does_not_decode_is_left_out() {
        let tags: BTreeMap<String, String> = encode_text("mlm:x", r#"{"min_instances":1}"#)
            .into_iter()
            .chain(encode_text(
                "mlm:y",
                r#"{"traffic":{"type":"all_at_once"}}"#,
            ))
            .collect();
        assert_eq!(
            decode_json::<mlm_core::AutoscalingPolicy>(&tags, "mlm:x"),
            None
        );
        let policy = decode_json::<mlm_core::DeploymentPolicy>(&tags, "mlm:y").unwrap();
        assert_eq!(policy.traffic, mlm_core::TrafficShift::AllAtOnce);
        assert_eq!(
            decode_json::<mlm_core::DeploymentPolicy>(&tags, "mlm:z"),
            None
        );
    }

    #[test]
    fn names_fit_and_are_deterministic() {
        let long = "e".repeat(63);
        let c = config_name(&long, "spec");
        assert!(c.len() <= 60, "{c}");
        assert!(model_name(&c, 9).len() <= 63);
        assert_eq!(c, config_name(&long, "spec"));
        assert_ne!(c, config_name(&long, "spec2"));
        mlm_core::backend::validate_name("config", &c).unwrap();
        mlm_core::backend::validate_name("model", &model_name(&c, 0)).unwrap();
        // Names ending in a hyphen at the cut stay valid.
        let hy = format!("{}-{}", "a".repeat(45), "b".repeat(10));
        mlm_core::backend::validate_name("config", &config_name(&hy, "x")).unwrap();
    }

    #[test]
    fn ownership_by_name() {
        let c = config_name("prod", "x");
        assert!(is_config_of("prod", &c));
        assert!(!is_config_of("prod-2", &c));
        assert!(!is_config_of("pro", &c));
        let other = config_name("prod-b", "x");
        assert!(!is_config_of("prod", &other));
        assert_eq!(
            config_of_model("prod", &model_name(&c, 3)).as_deref(),
            Some(c.as_str())
        );
        assert_eq!(config_of_model("prod", &c), None);
        assert_eq!(config_of_model("prod-b", &model_name(&c, 3)), None);
        // Long names sharing the first 46 characters do not collide.
        let a = format!("{}a", "x".repeat(50));
        let b = format!("{}b", "x".repeat(50));
        assert!(!is_config_of(&b, &config_name(&a, "s")));
    }

    #[test]
    fn alarm_names_are_scoped_to_their_endpoint() {
        let name = alarm_name("a", "b-c");
        assert_eq!(name, "mlm/a/b-c");
        assert!(name.starts_with(&alarm_prefix("a")));
        // `a-b`'s alarm `c` is not listed under `a` (as `mlm-a-b-c` would be).
        assert!(!alarm_name("a-b", "c").starts_with(&alarm_prefix("a")));
    }

    #[test]
    fn dashboard_names_fit_cloudwatch() {
        let longest = "e".repeat(63);
        for endpoint in ["news", "a-b-9", longest.as_str()] {
            let name = dashboard_name(endpoint);
            assert!(name.len() <= 255, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{name}"
            );
        }
        assert_eq!(dashboard_name("news"), "mlm-news");
    }

    #[test]
    fn text_round_trips_through_chunks() {
        for text in [
            "",
            "round trip",
            "ünïcödé, {json: \"yes\"}",
            &"x".repeat(1024),
        ] {
            let tags: BTreeMap<String, String> = encode_text("p", text).into_iter().collect();
            assert!(tags.values().all(|v| v.len() <= 256));
            assert_eq!(decode_text(&tags, "p").as_deref(), Some(text));
            assert_eq!(text_keys(&tags, "p").len(), tags.len());
        }
        assert_eq!(decode_text(&BTreeMap::new(), "p"), None);
    }
}
