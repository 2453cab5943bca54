//! Extractors whose rejections are problem documents: JSON bodies, raw bodies, path names,
//! strict query strings and `If-Match`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use mlm_core::{EndpointName, ModelName, VariantName};
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, ProblemType};
use crate::state::AppState;

/// A JSON request body (`Content-Type: application/json` or `+json`), strictly typed, within
/// the management body limit.
///
/// Malformed JSON, duplicate keys, unknown or missing fields, wrong types and arrays where the
/// description has objects are `400 invalid_argument` (`2.0` is an integer, as in JSON
/// Schema); a missing or different content type is `415`, a body over the limit is `413`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "the request body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let limit = state.limits().max_body_bytes;
        let bytes = read_body(req, limit).await?;
        crate::strict::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| match e {
                crate::strict::BodyError::Syntax(e) => {
                    ApiError::invalid(format!("the request body is not valid JSON: {e}"))
                }
                crate::strict::BodyError::Data(e) => {
                    ApiError::invalid(format!("the request body is invalid: {e}"))
                }
            })
    }
}

/// The `Content-Type` without parameters, lowercase (`application/json`).
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some(essence) = media_type(headers) else {
        return false;
    };
    match essence.split_once('/') {
        Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}

/// Reads the whole body, failing with `413` past `limit` bytes.
pub(crate) async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ProblemType::PayloadTooLarge,
            format!("the request body is larger than this route accepts ({limit} bytes)"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            let boxed = e.into_inner();
            if boxed
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ApiError::invalid(format!("the request body could not be read: {boxed}"))
            }
        })
}

/// A raw invocation body, within the invocation body limit.
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_body(req, state.limits().max_invoke_body_bytes)
            .await
            .map(RawBody)
    }
}

/// Parses a model name from a path segment (`400` with the naming rule if invalid).
pub fn model_name(segment: &str) -> Result<ModelName, ApiError> {
    ModelName::new(segment).map_err(ApiError::from)
}

/// Parses an endpoint name from a path segment.
pub fn endpoint_name(segment: &str) -> Result<EndpointName, ApiError> {
    EndpointName::new(segment).map_err(ApiError::from)
}

/// Parses a variant name (from a header or query).
pub fn variant_name(value: &str) -> Result<VariantName, ApiError> {
    VariantName::new(value).map_err(ApiError::from)
}

/// Parses a version number from a path segment.
pub fn version_number(segment: &str) -> Result<u32, ApiError> {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    segment
        .parse::<u32>()
        .ok()
        .filter(|_| digits)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "version '{segment}' is not a version number (use 1, 2, 3...)"
            ))
        })
}

/// Path parameters (kept as strings and validated by the handler, so a bad name gets the
/// naming rule in its `400`).
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e| ApiError::invalid(format!("invalid path: {}", e.body_text())))
    }
}

/// The query string's `key=value` pairs, consumed by name; whatever is left over is an error.
#[derive(Debug, Clone, Default)]
pub struct QueryPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query().unwrap_or("")))
    }
}

impl QueryPairs {
    /// Parses a query string.
    pub fn parse(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Removes every value of `name`.
    pub fn take_all(&mut self, name: &str) -> Vec<String> {
        let mut taken = Vec::new();
        self.0.retain(|(k, v)| {
            if k == name {
                taken.push(v.clone());
                false
            } else {
                true
            }
        });
        taken
    }

    /// Removes the one value of `name`; given twice is an error.
    pub fn take_one(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut all = self.take_all(name);
        match all.len() {
            0 => Ok(None),
            1 => Ok(all.pop()),
            _ => Err(ApiError::invalid(format!(
                "query parameter '{name}' is given more than once"
            ))),
        }
    }

    /// Removes and parses the one value of `name`.
    pub fn take_parsed<T: std::str::FromStr>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.take_one(name)? {
            None => Ok(None),
            Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
                ApiError::invalid(format!(
                    "query parameter '{name}': '{raw}' is not {expected}"
                ))
            }),
        }
    }

    /// Fails on any parameter not consumed yet.
    pub fn finish(self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.first() {
            None => Ok(()),
            Some((k, _)) => Err(ApiError::invalid(format!(
                "unknown query parameter '{k}'{}",
                if allowed.is_empty() {
                    " (this route takes none)".to_string()
                } else {
                    format!(" (this route takes: {})", allowed.join(", "))
                }
            ))),
        }
    }
}

/// The `If-Match` request header: absent, `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IfMatch {
    /// No precondition.
    #[default]
    Absent,
    /// `*`: matches any current representation.
    Any,
    /// A list of tags; weak tags never match (strong comparison).
    Tags(Vec<String>),
}

impl IfMatch {
    /// Parses the header value.
    ///
    /// The grammar is RFC 9110's: `*`, or a comma-separated list of `[W/]"etagc*"` where
    /// `etagc` is visible ASCII other than `"`; whitespace around elements and empty elements
    /// are allowed (an empty list matches nothing). Anything else is a `400`. The spec's
    /// pattern for the header states exactly this grammar.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        let is_ows = |b: u8| b == b' ' || b == b'\t';
        let value = value.trim_matches([' ', '\t']);
        if value == "*" {
            return Ok(Self::Any);
        }
        let bad = || {
            ApiError::invalid(format!(
                "If-Match '{value}' is not '*' or a list of quoted entity tags"
            ))
        };
        let bytes = value.as_bytes();
        let mut tags = Vec::new();
        let mut i = 0;
        loop {
            while i < bytes.len() && is_ows(bytes[i]) {
                i += 1;
            }
            if i == bytes.len() {
                break;
            }
            if bytes[i] == b',' {
                // An empty list element.
                i += 1;
                continue;
            }
            let weak = bytes[i..].starts_with(b"W/");
            if weak {
                i += 2;
            }
            if bytes.get(i) != Some(&b'"') {
                return Err(bad());
            }
            let start = i;
            i += 1;
            while i < bytes.len() && (bytes[i] == 0x21 || (0x23..=0x7e).contains(&bytes[i])) {
                i += 1;
            }
            if bytes.get(i) != Some(&b'"') {
                return Err(bad());
            }
            i += 1;
            // Weak tags never match under strong comparison.
            if !weak {
                tags.push(value[start..i].to_string());
            }
            while i < bytes.len() && is_ows(bytes[i]) {
                i += 1;
            }
            match bytes.get(i) {
                None => break,
                Some(b',') => i += 1,
                Some(_) => return Err(bad()),
            }
        }
        Ok(Self::Tags(tags))
    }

    /// Whether a precondition was given.
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    /// Checks the precondition against the current representation's `ETag` (`None` when the
    /// resource does not exist): a mismatch is `412 etag_mismatch`.
    pub fn check(&self, what: &str, current: Option<&str>) -> Result<(), ApiError> {
        let ok = match (self, current) {
            (Self::Absent, _) => true,
            (_, None) => false,
            (Self::Any, Some(_)) => true,
            (Self::Tags(tags), Some(etag)) => tags.iter().any(|t| t == etag),
        };
        if ok {
            return Ok(());
        }
        let detail = match current {
            None => format!("{what} does not exist, so If-Match cannot match"),
            Some(etag) => format!(
                "{what} has changed: its ETag is {etag}, not what If-Match names; GET it again \
                 and retry"
            ),
        };
        Err(ApiError::new(ProblemType::EtagMismatch, detail))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let values: Vec<_> = parts.headers.get_all(header::IF_MATCH).iter().collect();
        if values.is_empty() {
            return Ok(Self::Absent);
        }
        let joined = values
            .iter()
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::invalid("If-Match is not visible ASCII"))
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        Self::parse(&joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers() {
        assert_eq!(version_number("0").unwrap(), 0);
        assert_eq!(version_number("12").unwrap(), 12);
        for bad in ["", "-1", "+1", "1.0", "abc", "99999999999"] {
            assert!(version_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn if_match_parsing() {
        assert_eq!(IfMatch::parse("*").unwrap(), IfMatch::Any);
        assert_eq!(
            IfMatch::parse(r#""a", W/"b" , "c""#).unwrap(),
            IfMatch::Tags(vec!["\"a\"".into(), "\"c\"".into()])
        );
        assert!(IfMatch::parse("abc").is_err());
        // A comma inside quotes belongs to the tag, a space is not allowed there; empty
        // elements are skipped (RFC 9110 section 5.6.1.2); elements need commas between them.
        assert_eq!(
            IfMatch::parse(r#""a,b", "c""#).unwrap(),
            IfMatch::Tags(vec![r#""a,b""#.into(), r#""c""#.into()])
        );
        for bad in [
            r#""a b""#,
            r#""a"  "b""#,
            r#"*, "a""#,
            r#""a"#,
            r#"w/"a""#,
            "W/",
        ] {
            assert!(IfMatch::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            IfMatch::parse("\t, \"a\" ,,\tW/\"b\",\"\", ").unwrap(),
            IfMatch::Tags(vec!["\"a\"".into(), "\"\"".into()])
        );
        assert_eq!(IfMatch::parse(",").unwrap(), IfMatch::Tags(vec![]));
        assert_eq!(IfMatch::parse(" ").unwrap(), IfMatch::Tags(vec![]));
        assert!(IfMatch::Tags(vec![]).check("m", Some("\"x\"")).is_err());
        let m = IfMatch::parse(r#""x""#).unwrap();
        assert!(m.check("model 'm'", Some("\"x\"")).is_ok());
        assert!(m.check("model 'm'", Some("\"y\"")).is_err());
        assert!(IfMatch::Any.check("m", None).is_err());
        assert!(IfMatch::Absent.check("m", None).is_ok());
        let weak = IfMatch::parse(r#"W/"x""#).unwrap();
        assert!(weak.check("m", Some("\"x\"")).is_err());
    }

    #[test]
    fn query_pairs_are_strict() {
        let mut q = QueryPairs::parse("limit=5&metric=a&metric=b%2Cc&x=1");
        assert_eq!(q.take_parsed::<u32>("limit", "a number").unwrap(), Some(5));
        assert_eq!(q.take_all("metric"), vec!["a", "b,c"]);
        assert!(
            q.finish(&["limit"])
                .unwrap_err()
                .to_string()
                .contains("'x'")
        );
        let mut q = QueryPairs::parse("limit=a");
        assert!(q.take_parsed::<u32>("limit", "a number").is_err());
        let mut q = QueryPairs::parse("limit=1&limit=2");
        assert!(q.take_one("limit").is_err());
    }
}
