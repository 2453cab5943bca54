//! The checked-in spec matches the code, and the spec and the router agree on every route.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::Value;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

#[test]
fn checked_in_spec_matches_the_code() {
    let generated = mlm_http::openapi::openapi();
    let text = std::fs::read_to_string(CHECKED_IN).unwrap_or_else(|e| {
        panic!(
            "cannot read {CHECKED_IN} ({e}); generate it with \
             `cargo run -p mlm-cli -- openapi > docs/openapi.json`"
        )
    });
    let checked_in: Value = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    assert!(
        generated == checked_in,
        "docs/openapi.json is out of date with the code: regenerate it with \
         `cargo run -p mlm-cli -- openapi > docs/openapi.json` and review the diff"
    );
    assert_eq!(
        text,
        mlm_http::openapi::openapi_pretty(),
        "docs/openapi.json is not formatted as `mlm openapi` prints it: regenerate it with \
         `cargo run -p mlm-cli -- openapi > docs/openapi.json`"
    );
}

const PIPELINE_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/pipeline.schema.json");

/// `docs/pipeline.schema.json` is the pipeline file's schema as the code makes it.
#[test]
fn checked_in_pipeline_schema_matches_the_code() {
    let text = std::fs::read_to_string(PIPELINE_SCHEMA).unwrap_or_default();
    assert!(
        text == mlm_http::pipeline_schema_pretty(),
        "docs/pipeline.schema.json is out of date with the code: regenerate it with \
         `cargo run -p mlm-cli -- pipelines schema > docs/pipeline.schema.json`"
    );
}

/// Every route the API promises, as (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/models"),
    ("post", "/v1/models"),
    ("get", "/v1/models/{model}"),
    ("patch", "/v1/models/{model}"),
    ("delete", "/v1/models/{model}"),
    ("get", "/v1/models/{model}/versions"),
    ("post", "/v1/models/{model}/versions"),
    ("post", "/v1/models/{model}/artifacts"),
    ("get", "/v1/models/{model}/versions/{version}"),
    ("patch", "/v1/models/{model}/versions/{version}"),
    ("delete", "/v1/models/{model}/versions/{version}"),
    ("get", "/v1/endpoints"),
    ("post", "/v1/endpoints"),
    ("get", "/v1/endpoints/{endpoint}"),
    ("patch", "/v1/endpoints/{endpoint}"),
    ("delete", "/v1/endpoints/{endpoint}"),
    ("get", "/v1/endpoints/{endpoint}/instances"),
    ("get", "/v1/endpoints/{endpoint}/overview"),
    ("get", "/v1/endpoints/{endpoint}/metrics"),
    ("post", "/v1/endpoints/{endpoint}/invocations"),
    ("get", "/v1/endpoints/{endpoint}/alarms"),
    ("get", "/v1/endpoints/{endpoint}/alarms/{alarm}"),
    ("put", "/v1/endpoints/{endpoint}/alarms/{alarm}"),
    ("delete", "/v1/endpoints/{endpoint}/alarms/{alarm}"),
    ("get", "/v1/endpoints/{endpoint}/deployments"),
    ("get", "/v1/endpoints/{endpoint}/deployments/{deployment}"),
    (
        "post",
        "/v1/endpoints/{endpoint}/deployments/{deployment}/stop",
    ),
    ("get", "/v1/endpoints/{endpoint}/events"),
    ("post", "/v1/endpoints/{endpoint}/events"),
    ("get", "/v1/endpoints/{endpoint}/baselines"),
    ("post", "/v1/endpoints/{endpoint}/baselines"),
    ("get", "/v1/endpoints/{endpoint}/baselines/{baseline}"),
    ("delete", "/v1/endpoints/{endpoint}/baselines/{baseline}"),
    ("post", "/v1/endpoints/{endpoint}/drift-reports"),
    ("get", "/v1/endpoints/{endpoint}/captures"),
    ("get", "/v1/endpoints/{endpoint}/dashboard"),
    ("put", "/v1/endpoints/{endpoint}/dashboard"),
    ("get", "/v1/pipelines"),
    ("get", "/v1/pipelines/{pipeline}"),
    ("put", "/v1/pipelines/{pipeline}"),
    ("delete", "/v1/pipelines/{pipeline}"),
    ("get", "/v1/pipelines/{pipeline}/runs"),
    ("get", "/v1/pipelines/{pipeline}/runs/{run}"),
    ("post", "/v1/pipelines/{pipeline}/runs/{run}/cancel"),
    ("post", "/v1/pipelines/{pipeline}/promotions"),
    (
        "post",
        "/v1/models/{model}/versions/{version}/pipeline-runs",
    ),
    ("get", "/v1/overview"),
    ("get", "/v1/capabilities"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
];

/// Every `$ref` names a component that is in the document (a schema written by hand can
/// refer to one nobody registered).
#[test]
fn every_reference_resolves() {
    fn walk<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r);
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let spec = mlm_http::openapi::openapi();
    let mut refs = Vec::new();
    walk(&spec, &mut refs);
    assert!(refs.len() > 50, "{}", refs.len());
    for r in refs {
        let path = r
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("external $ref {r}"));
        let target = path.split('/').try_fold(&spec, |v, key| v.get(key));
        assert!(target.is_some(), "$ref {r} names nothing in the document");
    }
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op.clone()));
        }
    }
    ops
}

#[test]
fn the_spec_has_exactly_the_promised_routes() {
    let spec = mlm_http::openapi::openapi();
    let mut documented: Vec<(String, String)> = operations(&spec)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    documented.sort();
    let mut promised: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    promised.sort();
    assert_eq!(documented, promised);
}

fn concrete(path: &str) -> String {
    path.replace("{model}", "m")
        .replace("{version}", "1")
        .replace("{endpoint}", "e")
        .replace("{alarm}", "a")
        .replace("{deployment}", "1")
        .replace("{baseline}", "b")
}

/// Every documented operation is routed (no `no_route`/`method_not_allowed`), and every
/// undocumented method on a documented path is not. With no expectations set, a routed call
/// reaches a mock that panics: a `500`, which is fine here.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let spec = mlm_http::openapi::openapi();
    for (method, path, _) in operations(&spec) {
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(concrete(&path))
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let answer = send(open_app(Mocks::default()), request).await;
        if answer.status == 404 || answer.status == 405 {
            let p = answer.json();
            let t = p["type"].as_str().unwrap_or("");
            assert!(
                !t.ends_with("/no_route") && !t.ends_with("/method_not_allowed"),
                "{method} {path} is documented but not routed: {p}"
            );
        }
    }
    for path in spec["paths"].as_object().unwrap().keys() {
        for method in ["put", "post", "patch", "delete"] {
            if spec["paths"][path].get(method).is_some() {
                continue;
            }
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(concrete(path))
                .body(Body::empty())
                .unwrap();
            let answer = send(open_app(Mocks::default()), request).await;
            answer.problem(405, "method_not_allowed");
        }
    }
}

#[test]
fn every_operation_documents_its_problems_and_security() {
    let spec = mlm_http::openapi::openapi();
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Bearer tokens everywhere (top level), but not on the public routes.
    assert_eq!(spec["security"], serde_json::json!([{"bearer": []}]));
    for (method, path, op) in operations(&spec) {
        let responses = op["responses"].as_object().unwrap();
        let public = ["/healthz", "/readyz", "/openapi.json"].contains(&path.as_str());
        assert!(responses.contains_key("500"), "{method} {path}");
        if public {
            assert_eq!(op["security"], serde_json::json!([]), "{method} {path}");
            continue;
        }
        assert!(op.get("security").is_none(), "{method} {path}");
        assert!(responses.contains_key("503"), "{method} {path} lacks 503");
        for status in ["400", "401", "403", "429", "502", "504"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} lacks {status}"
            );
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{method} {path} lacks 404");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("413"), "{method} {path} lacks 413");
            assert!(responses.contains_key("415"), "{method} {path} lacks 415");
        }
        for (status, response) in responses {
            if let Some(r) = response.get("$ref") {
                let name = r.as_str().unwrap().rsplit('/').next().unwrap();
                let component = &spec["components"]["responses"][name];
                assert!(
                    component["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status}"
                );
            } else {
                assert!(
                    response["headers"]["x-request-id"].is_object(),
                    "{method} {path} {status} lacks x-request-id"
                );
            }
        }
    }
    let too_many = &spec["components"]["responses"]["TooManyRequests"]["headers"];
    assert!(too_many["Retry-After"].is_object());
}

#[test]
fn request_bodies_reject_unknown_fields_in_the_spec() {
    let spec = mlm_http::openapi::openapi();
    for schema in [
        "CreateModel",
        "UpdateModel",
        "CreateVersion",
        "UpdateVersion",
        "CreateEndpoint",
        "UpdateEndpoint",
        "VariantSpec",
        "VariantChange",
    ] {
        assert_eq!(
            spec["components"]["schemas"][schema]["additionalProperties"],
            Value::Bool(false),
            "{schema}"
        );
    }
    let update_version = &spec["components"]["schemas"]["UpdateVersion"]["properties"];
    assert!(update_version.get("artifact_uri").is_none());
}

#[tokio::test]
async fn the_served_spec_is_the_generated_one() {
    let answer = send(open_app(Mocks::default()), get("/openapi.json")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), mlm_http::openapi::openapi());
}

/// Defect F3: the create operations link to the operations that use what they return, so
/// generated clients and schemathesis's stateful phase can follow them; every link names an
/// operation that exists, with parameters that operation takes.
#[test]
fn creations_link_to_the_operations_that_use_their_result() {
    let spec = mlm_http::openapi::openapi();
    let ops = operations(&spec);
    let by_id = |id: &str| {
        ops.iter()
            .find(|(_, _, op)| op["operationId"] == id)
            .map(|(_, _, op)| op.clone())
    };
    let expected: [(&str, &str, &[&str]); 3] = [
        (
            "create_model",
            "201",
            &[
                "get_model",
                "update_model",
                "delete_model",
                "list_versions",
                "create_version",
            ],
        ),
        (
            "create_version",
            "201",
            &["get_version", "update_version", "delete_version"],
        ),
        (
            "create_endpoint",
            "202",
            &[
                "get_endpoint",
                "update_endpoint",
                "delete_endpoint",
                "invoke_endpoint",
                "get_endpoint_overview",
            ],
        ),
    ];
    for (create, status, targets) in expected {
        let op = by_id(create).unwrap_or_else(|| panic!("no operation {create}"));
        let links = op["responses"][status]["links"]
            .as_object()
            .unwrap_or_else(|| panic!("{create} {status} has no links"));
        let linked: Vec<&str> = links
            .values()
            .map(|l| l["operationId"].as_str().unwrap())
            .collect();
        for target in targets {
            assert!(
                linked.contains(target),
                "{create} does not link to {target}"
            );
        }
        for (name, link) in links {
            let id = link["operationId"].as_str().unwrap();
            let target = by_id(id).unwrap_or_else(|| panic!("{create} link {name}: no {id}"));
            let params = target["parameters"].as_array().cloned().unwrap_or_default();
            for (param, value) in link["parameters"].as_object().unwrap() {
                let (place, param_name) = param.split_once('.').unwrap_or(("path", param));
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == param_name && p["in"] == place),
                    "{create} link {name}: {id} takes no {place} parameter {param_name}"
                );
                assert!(value.as_str().unwrap().starts_with("$response."), "{value}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What generated clients need (issue 9): scripts/generated-clients.sh runs clients generated
// from the spec; these tests keep the properties it relies on.
// ---------------------------------------------------------------------------------------------

fn schemas(spec: &Value) -> &serde_json::Map<String, Value> {
    spec["components"]["schemas"].as_object().unwrap()
}

/// The component schema a `$ref` names.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &spec["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    }
}

/// Every schema reachable from `schema` (inline ones and referenced components), once each.
fn reachable<'a>(spec: &'a Value, schema: &'a Value, seen: &mut Vec<&'a Value>) {
    let schema = resolve(spec, schema);
    if seen.iter().any(|s| std::ptr::eq(*s, schema)) {
        return;
    }
    seen.push(schema);
    for p in schema["properties"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        reachable(spec, p, seen);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for s in schema[key].as_array().into_iter().flatten() {
            reachable(spec, s, seen);
        }
    }
    for key in ["items", "additionalProperties"] {
        if schema[key].is_object() {
            reachable(spec, &schema[key], seen);
        }
    }
}

/// The schemas of every request body, with all they reach.
fn request_schemas(spec: &Value) -> Vec<&Value> {
    let mut seen = Vec::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for media in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                reachable(spec, &media.1["schema"], &mut seen);
            }
        }
    }
    seen
}

/// Optional request fields have no `default`: generators (openapi-typescript) make a field
/// with a default required, so a variant without `weight` would not type-check.
#[test]
fn request_schemas_have_no_defaults() {
    let spec = mlm_http::openapi::openapi();
    for schema in request_schemas(&spec) {
        assert!(schema.get("default").is_none(), "{schema}");
        for (name, p) in schema["properties"].as_object().into_iter().flatten() {
            assert!(p.get("default").is_none(), "{name} has a default: {p}");
        }
    }
}

/// Response fields the server always sends are `required`, `null` ones included, so
/// generated types say `T | null` rather than an optional `T | undefined`.
#[test]
fn response_schemas_require_every_key_the_server_sends() {
    let spec = mlm_http::openapi::openapi();
    let all = schemas(&spec);
    for name in [
        "Model",
        "ModelVersion",
        "ModelPage",
        "VersionPage",
        "Endpoint",
        "EndpointPage",
        "Variant",
        "EndpointOverview",
        "OverviewPage",
        "VariantCounts",
        "Instance",
        "InstanceList",
        "MetricSeries",
        "MetricsResponse",
    ] {
        let schema = &all[name];
        let mut properties: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        properties.sort();
        required.sort_unstable();
        assert_eq!(properties, required, "{name}");
    }
}

#[test]
fn invocation_json_bodies_are_named_objects() {
    let spec = mlm_http::openapi::openapi();
    let op = &spec["paths"]["/v1/endpoints/{endpoint}/invocations"]["post"];
    for (schema, name) in [
        (
            &op["requestBody"]["content"]["application/json"]["schema"],
            "InvocationBody",
        ),
        (
            &op["responses"]["200"]["content"]["application/json"]["schema"],
            "InvocationAnswer",
        ),
    ] {
        assert_eq!(schema["$ref"], format!("#/components/schemas/{name}"));
        let component = &schemas(&spec)[name];
        assert_eq!(component["type"], "object", "{name}");
        assert_eq!(component["additionalProperties"], true, "{name}");
    }
}

/// `TrafficShift` is a union of named, titled variants with a discriminator mapping to each.
#[test]
fn traffic_shift_variants_are_named_and_discriminated() {
    let spec = mlm_http::openapi::openapi();
    let all = schemas(&spec);
    let shift = &all["TrafficShift"];
    assert_eq!(shift["discriminator"]["propertyName"], "type");
    let mapping = shift["discriminator"]["mapping"].as_object().unwrap();
    let variants = shift["oneOf"].as_array().unwrap();
    assert_eq!(mapping.len(), variants.len());
    for (tag, location) in mapping {
        assert!(variants.iter().any(|v| v["$ref"] == *location), "{tag}");
        let variant = &all[location.as_str().unwrap().rsplit('/').next().unwrap()];
        assert!(variant["title"].is_string(), "{tag}");
        assert_eq!(variant["additionalProperties"], false, "{tag}");
        assert_eq!(
            variant["properties"]["type"]["enum"],
            serde_json::json!([tag])
        );
        // The variant's example form is accepted by the wire type.
        let mut example = serde_json::json!({"type": tag});
        for (name, p) in variant["properties"].as_object().unwrap() {
            if name != "type" {
                example[name] = p["minimum"].clone();
            }
        }
        serde_json::from_value::<mlm_core::TrafficShift>(example).unwrap();
    }
}

#[test]
fn status_enums_and_problem_types_have_member_names() {
    let spec = mlm_http::openapi::openapi();
    let all = schemas(&spec);
    let names = |schema: &str| all[schema]["x-enum-varnames"].clone();
    assert_eq!(names("InstanceStatus")[1], "IN_SERVICE");
    assert_eq!(names("EndpointStatus")[5], "IN_SERVICE");
    assert_eq!(all["EndpointStatus"]["enum"][5], "InService");
    // Every problem type the server can send is declared, in the same order as its name.
    let types: Vec<String> = mlm_http::ProblemType::all()
        .iter()
        .map(|t| t.uri())
        .collect();
    assert_eq!(all["ProblemType"]["enum"], serde_json::json!(types));
    let slug_names: Vec<String> = mlm_http::ProblemType::all()
        .iter()
        .map(|t| t.slug().to_uppercase())
        .collect();
    assert_eq!(names("ProblemType"), serde_json::json!(slug_names));
    assert_eq!(
        all["Problem"]["properties"]["type"]["$ref"],
        "#/components/schemas/ProblemType"
    );
}

/// Descriptions sit on properties, where generators read them, not inside `oneOf` branches.
#[test]
fn no_description_hides_in_a_one_of_branch() {
    let spec = mlm_http::openapi::openapi();
    for (name, schema) in schemas(&spec) {
        for (property, p) in schema["properties"].as_object().into_iter().flatten() {
            for branch in p["oneOf"].as_array().into_iter().flatten() {
                assert!(
                    branch.get("description").is_none(),
                    "{name}.{property}: {branch}"
                );
            }
        }
    }
}

#[test]
fn the_spec_names_its_servers_and_shows_examples() {
    let spec = mlm_http::openapi::openapi();
    assert_eq!(spec["servers"][0]["url"], "/");
    assert_eq!(spec["servers"][1]["url"], "http://127.0.0.1:8080");
    let all = schemas(&spec);
    // Each example is a body the wire types read.
    serde_json::from_value::<mlm_core::Model>(all["Model"]["example"].clone()).unwrap();
    serde_json::from_value::<mlm_core::ModelVersion>(all["ModelVersion"]["example"].clone())
        .unwrap();
    serde_json::from_value::<mlm_core::Endpoint>(all["Endpoint"]["example"].clone()).unwrap();
    serde_json::from_value::<mlm_http::Problem>(all["Problem"]["example"].clone()).unwrap();
    let invoke = &spec["paths"]["/v1/endpoints/{endpoint}/invocations"]["post"];
    assert!(invoke["responses"]["200"]["content"]["application/json"]["example"].is_object());
}
