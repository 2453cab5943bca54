//! The OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]` attributes and
//! the wire types' `ToSchema` derives, then completed with what applies to every operation
//! (`security: []` on the public routes, the problem responses, the `x-request-id` header) and
//! what generated clients need (`ClientHints`). `scripts/generated-clients.sh` generates
//! Python and TypeScript clients from it and runs them against a live server.
//!
//! `docs/openapi.json` is this document; a test fails when they drift
//! (`cargo run -p mlm-cli -- openapi > docs/openapi.json` regenerates it).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::problem::{PROBLEM_CONTENT_TYPE, Problem, REQUEST_ID_HEADER};
use crate::routes::{PUBLIC_PATHS, public_routes, v1_routes};
use crate::state::AppState;

const DESCRIPTION: &str = r#"Model lifecycle management: register models and immutable versions, deploy them to
endpoints, scale and update endpoints, watch their instances and metrics, and invoke them, on
any mlm backend (local or AWS SageMaker).

## Authentication
Send `Authorization: Bearer <token>`. Tokens have a role: `reader` may use `GET` only,
`operator` everything. A missing or unknown token is a `401`, a reader writing a `403`.
`/healthz`, `/readyz`, `/openapi.json` and `/docs` need no token. A server started without
tokens has authentication off and listens on loopback only; it then answers only requests
addressed to a loopback name (`Host`) and refuses browser requests from other origins
(`Origin`) than loopback ones and those configured. CORS answers go to those origins too.

## Errors
Every error is an RFC 9457 problem document (`application/problem+json`) with `type`,
`title`, `status`, `detail`, `instance` and `request_id`. The `type` is
`https://mlm.dev/problems/<slug>` and stable:

| slug | status | meaning |
|---|---|---|
| `invalid_argument` | 400 | malformed or invalid request: bad JSON, unknown fields, bad names, out-of-range values |
| `unsupported` | 400 | the backend cannot do what the request asks for (see `/v1/capabilities`) |
| `unauthenticated` | 401 | no or unknown bearer token (`WWW-Authenticate: Bearer`) |
| `permission_denied` | 403 | the token's role may not do this |
| `origin_not_allowed` | 403 | authentication is off and the request comes from a browser page of another origin (not loopback, not in `[server] cors_allowed_origins`) |
| `not_found` | 404 | the resource does not exist (`resource_kind`, `resource_name` say which) |
| `no_route` | 404 | no such route |
| `method_not_allowed` | 405 | the route does not take this method |
| `host_not_allowed` | 421 | authentication is off and the request is addressed (`Host`) to a name other than `localhost`, `127.0.0.1` or `[::1]` |
| `already_exists` | 409 | the name is taken |
| `failed_precondition` | 409 | the resource's state forbids it (endpoint not `InService`, version still deployed, model still has versions) |
| `conflict` | 409 | a concurrent change won |
| `etag_mismatch` | 412 | `If-Match` does not match the current `ETag` |
| `payload_too_large` | 413 | the body is over the limit (1 MiB; invocations 6 MiB by default) |
| `unsupported_media_type` | 415 | a JSON body without `Content-Type: application/json` |
| `throttled` | 429 | the provider is rate limiting; wait `Retry-After` seconds |
| `internal` | 500 | a bug in the server |
| `provider` | 502 | the backend failed and retrying will not help (`retryable` is `false`) |
| `unavailable` | 503 | the backend cannot serve this right now (e.g. an endpoint with no healthy instance): retry after `Retry-After` seconds (`retryable` is `true`) |
| `not_ready` | 503 | the backend cannot be reached (`/readyz`) |
| `timeout` | 504 | the operation did not finish in time |

Server errors (5xx) never carry internals: their `detail` is generic and the server log has the
full error under the `request_id`.

## Conventions
- Every response has an `x-request-id` header; a well-formed incoming one (1-128 letters,
  digits, `-`, `_`, `.`, `:`) is kept.
- Lists take `limit` (1-100, default 50; out of range is a `400`) and an opaque `page_token`,
  and answer `{items, next_page_token}`.
- Models, versions and endpoints carry a strong `ETag`; `PATCH` and `DELETE` honour
  `If-Match` (`*` matches any existing resource).
- Creating a model or version answers `201` with `Location`. Endpoint create, update and
  delete are long-running: they answer `202` with `Location` at once; poll the endpoint.
- Request bodies are strict: unknown fields, keys given twice and arrays where an object
  belongs are a `400`. As in JSON Schema, `2.0` is the integer 2.
- `PATCH` checks its body in full before `If-Match`, so an invalid body is a `400` whatever
  the tag (RFC 9110 section 13.2.1); a valid one with a stale tag is a `412`.
"#;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mlm",
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "models", description = "Registered models"),
        (name = "versions", description = "Immutable versions of models"),
        (name = "endpoints", description = "Endpoints serving model versions"),
        (name = "invocations", description = "Calling endpoints"),
        (name = "alarms", description = "Alarms on endpoint metrics"),
        (name = "deployments", description = "Every create and update of an endpoint: phases and outcome"),
        (name = "events", description = "An endpoint's timeline: what the backend did and why, and what callers recorded"),
        (name = "drift", description = "Baselines of endpoint traffic and drift reports against them"),
        (name = "pipelines", description = "Promotion pipelines: the stages approved versions go through, their runs and promotions"),
        (name = "observability", description = "Instances, overviews and metrics"),
        (name = "system", description = "Health, readiness, capabilities and this document")
    ),
    servers(
        (url = "/", description = "The server that serves this document"),
        (url = "http://127.0.0.1:8080", description = "`mlm serve` at its default address")
    ),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

/// What generated clients need that the derives cannot say: readable enum member names and
/// descriptions where generators read them. Applied to the merged document (the routes bring
/// most schemas), so not as an `#[openapi(modifiers)]`, which runs before the merge.
struct ClientHints;

impl Modify for ClientHints {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let objects: BTreeMap<String, Object> = components
            .schemas
            .iter()
            .filter_map(|(name, schema)| match schema {
                RefOr::T(Schema::Object(object)) => Some((name.clone(), object.clone())),
                _ => None,
            })
            .collect();
        let mut merged = Vec::new();
        for schema in components.schemas.values_mut() {
            merged.extend(flatten_all_of(schema, &objects));
            if let RefOr::T(Schema::Object(object)) = schema {
                enum_varnames(object);
                for property in object.properties.values_mut() {
                    hoist_description(property);
                }
            }
        }
        drop_unreferenced(openapi, &merged);
    }
}

/// Merges an `allOf` of objects into one object: serde's `flatten` (the core's
/// `Instance.metrics`) puts fields next to each other on the wire, and the spec says so the
/// same way, as one flat object generated clients turn into one class.
///
/// Returns the components it merged in by reference.
fn flatten_all_of(schema: &mut RefOr<Schema>, objects: &BTreeMap<String, Object>) -> Vec<String> {
    let RefOr::T(Schema::AllOf(all_of)) = schema else {
        return Vec::new();
    };
    let mut merged = Object::new();
    let mut parts = Vec::new();
    for item in &all_of.items {
        let part = match item {
            RefOr::T(Schema::Object(object)) => object,
            RefOr::Ref(reference) => {
                let name = reference
                    .ref_location
                    .trim_start_matches("#/components/schemas/");
                let Some(object) = objects.get(name) else {
                    return Vec::new();
                };
                parts.push(name.to_string());
                object
            }
            _ => return Vec::new(),
        };
        merged.properties.extend(part.properties.clone());
        merged.required.extend(part.required.iter().cloned());
    }
    merged.schema_type = utoipa::openapi::schema::Type::Object.into();
    merged.description = all_of.description.take();
    merged.example = all_of.example.take();
    *schema = RefOr::T(Schema::Object(merged));
    parts
}

/// Drops the `candidates` nothing refers to any more (the parts [`flatten_all_of`] merged).
fn drop_unreferenced(openapi: &mut utoipa::openapi::OpenApi, candidates: &[String]) {
    let text = serde_json::to_string(&*openapi).unwrap_or_default();
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for name in candidates {
        if !text.contains(&format!("\"#/components/schemas/{name}\"")) {
            components.schemas.remove(name);
        }
    }
}

/// Member names of the comparison operators, which generators cannot make from `>`.
const OPERATOR_NAMES: [(&str, &str); 4] = [
    (">", "GREATER_THAN"),
    (">=", "GREATER_THAN_OR_EQUAL"),
    ("<", "LESS_THAN"),
    ("<=", "LESS_THAN_OR_EQUAL"),
];

/// `x-enum-varnames` for an enum of PascalCase values (the statuses): `InService` becomes
/// `IN_SERVICE`, where generators would write `INSERVICE`; `OK` stays `OK`; operators get
/// their names (`>` is `GREATER_THAN`).
fn enum_varnames(object: &mut Object) {
    let Some(values) = object.enum_values.as_ref() else {
        return;
    };
    let member = |s: &str| {
        if let Some((_, name)) = OPERATOR_NAMES.iter().find(|(op, _)| *op == s) {
            Some((*name).to_owned())
        } else if !s.starts_with(char::is_uppercase) {
            None
        } else if s.chars().any(char::is_lowercase) {
            Some(screaming_snake_case(s))
        } else {
            Some(s.to_owned())
        }
    };
    let names: Option<Vec<String>> = values.iter().map(|v| v.as_str().and_then(member)).collect();
    if let Some(names) = names {
        object
            .extensions
            .get_or_insert_with(Default::default)
            .insert("x-enum-varnames".into(), json!(names));
    }
}

fn screaming_snake_case(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// Moves a nullable reference's description from inside its `oneOf` branch, where utoipa 5
/// writes it, to the property, where generators and documentation tools look.
fn hoist_description(property: &mut RefOr<Schema>) {
    let RefOr::T(Schema::OneOf(one_of)) = property else {
        return;
    };
    if one_of.description.is_some() {
        return;
    }
    for item in one_of.items.iter_mut() {
        if let RefOr::Ref(reference) = item
            && !reference.description.is_empty()
        {
            one_of.description = Some(std::mem::take(&mut reference.description));
        }
    }
}

/// Every route with its description, for the app and the spec alike.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1_routes())
        .merge(public_routes())
}

/// One problem response a route may give.
struct ProblemResponse {
    status: u16,
    name: &'static str,
    description: &'static str,
}

const PROBLEMS: [ProblemResponse; 14] = [
    ProblemResponse {
        status: 400,
        name: "BadRequest",
        description: "The request is malformed or invalid (`invalid_argument`), or asks the \
                      backend for something it cannot do (`unsupported`)",
    },
    ProblemResponse {
        status: 401,
        name: "Unauthorized",
        description: "No or unknown bearer token (`unauthenticated`)",
    },
    ProblemResponse {
        status: 403,
        name: "Forbidden",
        description: "The token's role may not do this (`permission_denied`), or, with \
                      authentication off, a browser page of a foreign origin sent the request \
                      (`origin_not_allowed`)",
    },
    ProblemResponse {
        status: 404,
        name: "NotFound",
        description: "The resource does not exist (`not_found`)",
    },
    ProblemResponse {
        status: 409,
        name: "Conflict",
        description: "The name is taken (`already_exists`), the resource's state forbids this \
                      (`failed_precondition`) or a concurrent change won (`conflict`)",
    },
    ProblemResponse {
        status: 412,
        name: "PreconditionFailed",
        description: "`If-Match` does not match the current `ETag` (`etag_mismatch`)",
    },
    ProblemResponse {
        status: 413,
        name: "PayloadTooLarge",
        description: "The body is larger than the route accepts (`payload_too_large`)",
    },
    ProblemResponse {
        status: 415,
        name: "UnsupportedMediaType",
        description: "The body is not sent as JSON (`unsupported_media_type`)",
    },
    ProblemResponse {
        status: 421,
        name: "MisdirectedRequest",
        description: "Authentication is off and the request is addressed to a name other than a \
                      loopback one (`host_not_allowed`)",
    },
    ProblemResponse {
        status: 429,
        name: "TooManyRequests",
        description: "The provider is rate limiting (`throttled`)",
    },
    ProblemResponse {
        status: 500,
        name: "InternalServerError",
        description: "The server failed unexpectedly (`internal`)",
    },
    ProblemResponse {
        status: 502,
        name: "BadGateway",
        description: "The backend failed (`provider`)",
    },
    ProblemResponse {
        status: 503,
        name: "ServiceUnavailable",
        description: "The backend cannot serve this right now; retry after `Retry-After` \
                      seconds (`unavailable`), or cannot be reached at all (`not_ready`, from \
                      `/readyz`)",
    },
    ProblemResponse {
        status: 504,
        name: "GatewayTimeout",
        description: "The operation did not finish in time (`timeout`)",
    },
];

fn request_id_header() -> Value {
    json!({
        "description": "The request's id (an incoming well-formed one is kept)",
        "schema": { "type": "string" }
    })
}

fn problem_component(p: &ProblemResponse) -> Value {
    let mut headers = Map::new();
    headers.insert(REQUEST_ID_HEADER.into(), request_id_header());
    if p.status == 401 {
        headers.insert(
            "WWW-Authenticate".into(),
            json!({
                "description": "`Bearer realm=\"mlm\"`, with `error=\"invalid_token\"` for an unknown token",
                "schema": { "type": "string" }
            }),
        );
    }
    let retry_after = match p.status {
        429 => Some("Seconds to wait before retrying"),
        503 => Some("Seconds to wait before retrying (with `unavailable`; `not_ready` has none)"),
        _ => None,
    };
    if let Some(description) = retry_after {
        headers.insert(
            "Retry-After".into(),
            json!({
                "description": description,
                "schema": { "type": "integer", "minimum": 1 }
            }),
        );
    }
    json!({
        "description": p.description,
        "headers": headers,
        "content": {
            PROBLEM_CONTENT_TYPE: { "schema": { "$ref": "#/components/schemas/Problem" } }
        }
    })
}

/// The problem statuses an operation can answer.
fn problem_statuses(method: &str, path: &str, has_body: bool) -> Vec<u16> {
    // Without tokens, any request may meet the Host and Origin checks (403, 421).
    if PUBLIC_PATHS.contains(&path) {
        return if path == "/readyz" {
            vec![403, 421, 500, 503]
        } else {
            vec![403, 421, 500]
        };
    }
    let mut statuses = vec![400, 401, 403, 421, 429, 500, 502, 503, 504];
    // Paths name a resource; creations and changes name others (a version, a model).
    if path.contains('{') || method == "post" || method == "patch" {
        statuses.push(404);
    }
    if method != "get" {
        statuses.push(409);
    }
    let resource = path == "/v1/models/{model}"
        || path == "/v1/models/{model}/versions/{version}"
        || path == "/v1/endpoints/{endpoint}";
    if resource && (method == "patch" || method == "delete") {
        statuses.push(412);
    }
    if has_body {
        statuses.extend([413, 415]);
    }
    statuses.sort_unstable();
    statuses
}

fn complete(doc: &mut Value) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    // Components: the bearer scheme and one response per problem status.
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("components is an object");
    let mut responses = Map::new();
    for p in &PROBLEMS {
        responses.insert(p.name.into(), problem_component(p));
    }
    components.insert("responses".into(), Value::Object(responses));
    components.insert(
        "securitySchemes".into(),
        json!({
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from the server's configuration (`MLM_TOKENS` or \
                                `[server] tokens`); its role is `reader` or `operator`"
            }
        }),
    );
    // Operations: security, problem responses, x-request-id on every response.
    let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            // The document's `security` applies to every operation but the public ones.
            if PUBLIC_PATHS.contains(&path.as_str()) {
                op.insert("security".into(), json!([]));
            } else {
                op.remove("security");
            }
            let has_body = op.contains_key("requestBody");
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            for response in responses.values_mut() {
                if let Some(r) = response.as_object_mut().filter(|r| !r.contains_key("$ref")) {
                    r.entry("headers")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("headers is an object")
                        .insert(REQUEST_ID_HEADER.into(), request_id_header());
                }
                camel_case_links(response);
            }
            for status in problem_statuses(method, path, has_body) {
                let name = PROBLEMS
                    .iter()
                    .find(|p| p.status == status)
                    .map(|p| p.name)
                    .expect("every status has a component");
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
            }
        }
    }
}

/// Renames the fields of a response's links to the spec's `operationId`, `operationRef` and
/// `requestBody`: utoipa 5 writes them in snake_case (juhaku/utoipa#1326).
fn camel_case_links(response: &mut Value) {
    let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
        return;
    };
    for link in links.values_mut().filter_map(Value::as_object_mut) {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.into(), value);
            }
        }
    }
}

/// The OpenAPI 3.1 document of the API, as JSON.
pub fn openapi() -> Value {
    let (_, mut spec) = router().split_for_parts();
    ClientHints.modify(&mut spec);
    let mut doc = serde_json::to_value(&spec).expect("the OpenAPI document serializes");
    complete(&mut doc);
    doc
}

/// [`openapi`], built once.
pub fn openapi_value() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(openapi)
}

/// The document as the checked-in `docs/openapi.json` holds it: pretty JSON and a newline.
pub fn openapi_pretty() -> String {
    let mut text =
        serde_json::to_string_pretty(openapi_value()).expect("the OpenAPI document serializes");
    text.push('\n');
    text
}
