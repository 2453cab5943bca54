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
             `cargo run -p mlm-http --bin mlm -- openapi > docs/openapi.json`"
        )
    });
    let checked_in: Value = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    assert!(
        generated == checked_in,
        "docs/openapi.json is out of date with the code: regenerate it with \
         `cargo run -p mlm-http --bin mlm -- openapi > docs/openapi.json` and review the diff"
    );
    assert_eq!(
        text,
        mlm_http::openapi::openapi_pretty(),
        "docs/openapi.json is not formatted as `mlm openapi` prints it: regenerate it with \
         `cargo run -p mlm-http --bin mlm -- openapi > docs/openapi.json`"
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
    ("get", "/v1/overview"),
    ("get", "/v1/capabilities"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
];

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
    for (method, path, op) in operations(&spec) {
        let responses = op["responses"].as_object().unwrap();
        let public = ["/healthz", "/readyz", "/openapi.json"].contains(&path.as_str());
        assert!(responses.contains_key("500"), "{method} {path}");
        if public {
            assert_eq!(op["security"], serde_json::json!([]), "{method} {path}");
            continue;
        }
        assert_eq!(
            op["security"],
            serde_json::json!([{"bearer": []}]),
            "{method} {path}"
        );
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
    let answer = send(open_app(Mocks::default()), common::get("/openapi.json")).await;
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
