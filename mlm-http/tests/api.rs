//! Handler tests against mocks of the core traits, through `tower::ServiceExt::oneshot`.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::*;
use mlm_core::{
    Error, ErrorKind, InvokeResponse, MetricKind, MetricScope, MetricSeries, Page, ResourceKind,
    Statistic, VariantName,
};
use serde_json::json;

fn error_of(kind: ErrorKind) -> Error {
    match kind {
        ErrorKind::NotFound => Error::not_found(ResourceKind::Model, "m"),
        ErrorKind::AlreadyExists => Error::already_exists(ResourceKind::Model, "m"),
        ErrorKind::InvalidArgument => Error::invalid("bad field"),
        ErrorKind::FailedPrecondition => Error::failed_precondition("still has versions"),
        ErrorKind::Conflict => Error::conflict("someone else won"),
        ErrorKind::PermissionDenied => Error::permission_denied("no"),
        ErrorKind::Unauthenticated => Error::unauthenticated("who are you"),
        ErrorKind::Throttled => Error::throttled("slow down", Some(Duration::from_millis(2500))),
        ErrorKind::Timeout => Error::timeout("took too long"),
        ErrorKind::Unsupported => Error::unsupported("serverless"),
        ErrorKind::RolledBack => Error::RolledBack("alarm 'errors' fired".into()),
        ErrorKind::DeploymentFailed => Error::DeploymentFailed("never healthy".into()),
        // Retrying will not fix it: a 502 (a retryable one is a 503, tested below).
        ErrorKind::Provider => Error::provider(
            "SECRET-MESSAGE at db.internal:5432",
            "SECRET-SOURCE password=hunter2",
        ),
        other => panic!("unmapped kind {other:?}"),
    }
}

fn expected(kind: ErrorKind) -> (u16, &'static str) {
    match kind {
        ErrorKind::NotFound => (404, "not_found"),
        ErrorKind::AlreadyExists => (409, "already_exists"),
        ErrorKind::InvalidArgument => (400, "invalid_argument"),
        ErrorKind::FailedPrecondition => (409, "failed_precondition"),
        ErrorKind::Conflict => (409, "conflict"),
        ErrorKind::PermissionDenied => (403, "permission_denied"),
        ErrorKind::Unauthenticated => (401, "unauthenticated"),
        ErrorKind::Throttled => (429, "throttled"),
        ErrorKind::Timeout => (504, "timeout"),
        ErrorKind::Unsupported => (400, "unsupported"),
        ErrorKind::RolledBack => (409, "rolled_back"),
        ErrorKind::DeploymentFailed => (409, "deployment_failed"),
        ErrorKind::Provider => (502, "provider"),
        other => panic!("unmapped kind {other:?}"),
    }
}

#[tokio::test]
async fn every_error_kind_maps_to_its_status_and_type() {
    for kind in ErrorKind::ALL {
        let mut mocks = Mocks::default();
        mocks
            .models
            .expect_get_model()
            .returning(move |_| Err(error_of(kind)));
        let answer = send(open_app(mocks), get("/v1/models/m")).await;
        let (status, slug) = expected(kind);
        let p = answer.problem(status, slug);
        assert_eq!(p["instance"], "/v1/models/m");
        match kind {
            ErrorKind::Throttled => assert_eq!(answer.header("retry-after"), Some("3")),
            ErrorKind::Unauthenticated => {
                assert!(
                    answer
                        .header("www-authenticate")
                        .unwrap()
                        .starts_with("Bearer")
                )
            }
            ErrorKind::NotFound | ErrorKind::AlreadyExists => {
                assert_eq!(p["resource_kind"], "model");
                assert_eq!(p["resource_name"], "m");
            }
            ErrorKind::Provider => {
                assert!(!answer.text().contains("SECRET"), "{}", answer.text());
                assert!(!answer.text().contains("hunter2"));
                assert_eq!(p["retryable"], false);
                assert_eq!(answer.header("retry-after"), None);
            }
            _ => {}
        }
        if status < 500 {
            let detail = p["detail"].as_str().unwrap();
            assert!(!detail.is_empty());
        }
    }
}

/// Defect E: "no healthy instance right now, retry shortly" (a retryable provider error) was a
/// 502 without `Retry-After`.
#[tokio::test]
async fn retryable_provider_errors_are_503_with_retry_after() {
    let mut mocks = Mocks::default();
    mocks.endpoints.expect_invoke().returning(|_| {
        Err(Error::provider_msg(
            "endpoint 'e' has no healthy instance (SECRET-INSTANCE 10.0.0.7)",
            true,
        ))
    });
    let request = Request::post("/v1/endpoints/e/invocations")
        .header("content-type", "text/plain")
        .body(Body::from("hi"))
        .unwrap();
    let answer = send(open_app(mocks), request).await;
    let p = answer.problem(503, "unavailable");
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert_eq!(p["retryable"], true);
    assert!(!answer.text().contains("SECRET"), "{}", answer.text());
    assert!(p["detail"].as_str().unwrap().contains("retry"), "{p}");
}

/// A provider error AWS answered: the body carries AWS's request id (what AWS support asks
/// for) but neither the message nor the source.
#[tokio::test]
async fn provider_errors_send_the_aws_request_id_but_not_the_source() {
    let mut mocks = Mocks::default();
    mocks.models.expect_get_model().returning(|_| {
        Err(Error::provider(
            "SECRET-MESSAGE from sagemaker.internal",
            "SECRET-SOURCE: InternalFailure: stack trace",
        )
        .with_request_id("5b1a9e0c-aws-req"))
    });
    let answer = send(open_app(mocks), get("/v1/models/m")).await;
    let p = answer.problem(502, "provider");
    assert_eq!(p["aws_request_id"], "5b1a9e0c-aws-req");
    assert!(p["request_id"].is_string(), "{p}");
    assert!(!answer.text().contains("SECRET"), "{}", answer.text());
    assert!(
        !answer.text().contains("InternalFailure"),
        "{}",
        answer.text()
    );
    assert!(
        p["detail"].as_str().unwrap().contains("server log"),
        "the detail stays generic: {p}"
    );
}

#[tokio::test]
async fn errors_without_a_provider_request_id_have_no_aws_request_id() {
    for kind in ErrorKind::ALL {
        let mut mocks = Mocks::default();
        mocks
            .models
            .expect_get_model()
            .returning(move |_| Err(error_of(kind)));
        let answer = send(open_app(mocks), get("/v1/models/m")).await;
        assert!(
            !answer.text().contains("aws_request_id"),
            "{}",
            answer.text()
        );
    }
}

#[tokio::test]
async fn throttled_without_delay_still_says_when_to_retry() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_get_model()
        .returning(|_| Err(Error::throttled("x", None)));
    let answer = send(open_app(mocks), get("/v1/models/m")).await;
    answer.problem(429, "throttled");
    assert_eq!(answer.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn panics_become_internal_problems_without_details() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_get_model()
        .returning(|_| panic!("SECRET-PANIC"));
    let answer = send(open_app(mocks), get("/v1/models/m")).await;
    answer.problem(500, "internal");
    assert!(!answer.text().contains("SECRET"));
}

// ---------------------------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------------------------

fn bearer(
    uri: &str,
    method: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

#[tokio::test]
async fn missing_and_unknown_tokens_are_401() {
    let answer = send(secured_app(Mocks::default()), get("/v1/models")).await;
    answer.problem(401, "unauthenticated");
    assert_eq!(
        answer.header("www-authenticate"),
        Some(r#"Bearer realm="mlm""#)
    );

    let answer = send(
        secured_app(Mocks::default()),
        bearer("/v1/models", "GET", Some("not-a-token-at-all"), None),
    )
    .await;
    answer.problem(401, "unauthenticated");
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    let answer = send(
        secured_app(Mocks::default()),
        Request::get("/v1/models")
            .header("authorization", format!("Basic {OPERATOR}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    answer.problem(401, "unauthenticated");
}

#[tokio::test]
async fn readers_read_and_operators_write() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_list_models()
        .returning(|_| Ok(Page::last(vec![model("m")])));
    mocks.models.expect_create_model().times(1).returning(|r| {
        Ok(mlm_core::Model::new(
            r.name,
            None,
            Default::default(),
            now(),
        ))
    });
    let app = secured_app(mocks);

    let answer = send(app.clone(), bearer("/v1/models", "GET", Some(READER), None)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    let body = json!({"name": "new-model"});
    let answer = send(
        app.clone(),
        bearer("/v1/models", "POST", Some(READER), Some(body.clone())),
    )
    .await;
    let p = answer.problem(403, "permission_denied");
    assert!(p["detail"].as_str().unwrap().contains("operator"));

    let answer = send(
        app.clone(),
        bearer(
            "/v1/endpoints/e/invocations",
            "POST",
            Some(READER),
            Some(json!({})),
        ),
    )
    .await;
    answer.problem(403, "permission_denied");

    let answer = send(
        app,
        bearer("/v1/models", "POST", Some(OPERATOR), Some(body)),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
}

#[tokio::test]
async fn public_routes_need_no_token() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_list_models()
        .returning(|_| Ok(Page::last(vec![])));
    let app = secured_app(mocks);
    for uri in ["/healthz", "/readyz", "/openapi.json"] {
        let answer = send(app.clone(), get(uri)).await;
        assert_eq!(answer.status, 200, "{uri}: {}", answer.text());
        assert!(answer.header("x-request-id").is_some());
    }
    let answer = send(app, get("/docs/")).await;
    assert_eq!(answer.status, 200, "/docs/");
    assert!(answer.text().contains("swagger"), "swagger UI page");
}

// ---------------------------------------------------------------------------------------------
// Pagination and query strings
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn limit_is_checked_and_passed_through() {
    for bad in ["0", "101", "abc", "-1", "1.5"] {
        let answer = send(
            open_app(Mocks::default()),
            get(&format!("/v1/models?limit={bad}")),
        )
        .await;
        let p = answer.problem(400, "invalid_argument");
        assert!(p["detail"].as_str().unwrap().contains("limit"), "{p}");
    }
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_list_models()
        .withf(|p| p.page_size == Some(100) && p.page_token.as_deref() == Some("6162"))
        .times(1)
        .returning(|_| {
            Ok(Page {
                items: vec![model("a")],
                next_page_token: Some("61".into()),
            })
        });
    mocks
        .endpoints
        .expect_list_endpoints()
        .withf(|p| p.page_size.is_none() && p.page_token.is_none())
        .times(1)
        .returning(|_| Ok(Page::last(vec![])));
    let app = open_app(mocks);
    let answer = send(app.clone(), get("/v1/models?limit=100&page_token=6162")).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["next_page_token"], "61");
    assert_eq!(body["items"][0]["name"], "a");
    let answer = send(app, get("/v1/endpoints")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"items": [], "next_page_token": null}));
}

#[tokio::test]
async fn unknown_and_repeated_query_parameters_are_400() {
    let answer = send(open_app(Mocks::default()), get("/v1/models?limt=5")).await;
    let p = answer.problem(400, "invalid_argument");
    assert!(p["detail"].as_str().unwrap().contains("'limt'"));
    let answer = send(
        open_app(Mocks::default()),
        get("/v1/models?limit=5&limit=6"),
    )
    .await;
    answer.problem(400, "invalid_argument");
    let answer = send(open_app(Mocks::default()), get("/v1/models?page_token=")).await;
    answer.problem(400, "invalid_argument");
    // Not lowercase hex of even length: never issued, and never handed to the provider.
    for bad in ["%F0%AA%82%AB%20x", "abc", "6G", "6A", "%2061"] {
        let answer = send(
            open_app(Mocks::default()),
            get(&format!("/v1/models?page_token={bad}")),
        )
        .await;
        answer.problem(400, "invalid_argument");
    }
    let long = "61".repeat(2049);
    let answer = send(
        open_app(Mocks::default()),
        get(&format!("/v1/models?page_token={long}")),
    )
    .await;
    answer.problem(400, "invalid_argument");
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bodies_are_read_as_the_spec_states_them() {
    // Objects are objects: serde would take a struct as the array of its fields.
    for body in [
        json!([null, null]),
        json!({"tags": [["a", "b"]]}),
        json!({"description": "x", "description2": 1}),
    ] {
        let answer = send(
            open_app(Mocks::default()),
            with_json("PATCH", "/v1/models/m", body.clone()),
        )
        .await;
        answer.problem(400, "invalid_argument");
    }
    // `2.0` is an integer, as in JSON Schema; a weight is a number from 0 to f32::MAX.
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_create_endpoint()
        .withf(|r| {
            r.variants[0].instance_count == 2
                && r.variants[0].model_version.version == 1
                && r.variants[0].weight == f32::MAX
        })
        .times(1)
        .returning(|_| Ok(endpoint("e", &["primary"])));
    let app = open_app(mocks);
    let body = |count: serde_json::Value, weight: serde_json::Value| {
        json!({"name": "e", "variants": [{
            "name": "primary", "instance_type": "ml.m5.large", "instance_count": count,
            "weight": weight, "model_version": {"model": "m", "version": 1.0}
        }]})
    };
    let answer = send(
        app.clone(),
        with_json(
            "POST",
            "/v1/endpoints",
            body(json!(2.0), json!(f64::from(f32::MAX))),
        ),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    for (count, weight, needle) in [
        (json!(2.5), json!(1), "variants[0].instance_count"),
        (json!(2), json!(-1e-50), "weight"),
        (json!(2), json!(3.4028236e38), "weight"),
    ] {
        let answer = send(
            app.clone(),
            with_json("POST", "/v1/endpoints", body(count, weight)),
        )
        .await;
        let p = answer.problem(400, "invalid_argument");
        assert!(p["detail"].as_str().unwrap().contains(needle), "{p}");
    }
    // `changes` has at least one item (minItems 1), like `variants`.
    let answer = send(
        open_app(Mocks::default()),
        with_json(
            "PATCH",
            "/v1/endpoints/e",
            json!({"changes": [], "variants": [{"name": "a", "instance_type": "ml.m5.large",
                    "model_version": {"model": "m", "version": 1}}]}),
        ),
    )
    .await;
    let p = answer.problem(400, "invalid_argument");
    assert!(
        p["detail"].as_str().unwrap().contains("changes is empty"),
        "{p}"
    );
}

#[tokio::test]
async fn oversize_bodies_are_413() {
    let big = json!({"name": "m", "description": "x".repeat(300)});
    let answer = send(
        limited_app(Mocks::default(), 100, 200),
        with_json("POST", "/v1/models", big.clone()),
    )
    .await;
    answer.problem(413, "payload_too_large");

    // Without Content-Length (streamed), the limit still holds.
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.to_string())]);
    let request = Request::post("/v1/models")
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    let answer = send(limited_app(Mocks::default(), 100, 200), request).await;
    answer.problem(413, "payload_too_large");

    // Invocations have their own, larger limit.
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_invoke()
        .times(1)
        .returning(|r| Ok(InvokeResponse::new(r.body, "text/plain", None)));
    let app = limited_app(mocks, 100, 200);
    let invoke = |n: usize| {
        Request::post("/v1/endpoints/e/invocations")
            .header("content-type", "text/plain")
            .body(Body::from("y".repeat(n)))
            .unwrap()
    };
    let answer = send(app.clone(), invoke(150)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = send(app, invoke(300)).await;
    answer.problem(413, "payload_too_large");
}

#[tokio::test]
async fn the_default_limits_are_1_and_6_mib() {
    let answer = send(
        open_app(Mocks::default()),
        with_json(
            "POST",
            "/v1/models",
            json!({"name": "m", "description": "x".repeat(1024 * 1024)}),
        ),
    )
    .await;
    answer.problem(413, "payload_too_large");
    let limits = mlm_http::Limits::default();
    assert_eq!(limits.max_body_bytes, 1024 * 1024);
    assert_eq!(limits.max_invoke_body_bytes, 6 * 1024 * 1024);
}

#[tokio::test]
async fn bad_bodies_are_400_or_415() {
    let app = open_app(Mocks::default());
    let answer = send(
        app.clone(),
        with_json("POST", "/v1/models", json!({"name": "m", "colour": "red"})),
    )
    .await;
    let p = answer.problem(400, "invalid_argument");
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");

    let request = Request::post("/v1/models")
        .header("content-type", "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    let p = send(app.clone(), request)
        .await
        .problem(400, "invalid_argument");
    assert!(
        p["detail"].as_str().unwrap().contains("not valid JSON"),
        "{p}"
    );

    let answer = send(
        app.clone(),
        with_json("POST", "/v1/models", json!({"name": 5})),
    )
    .await;
    answer.problem(400, "invalid_argument");

    let answer = send(app.clone(), with_json("POST", "/v1/models", json!({}))).await;
    let p = answer.problem(400, "invalid_argument");
    assert!(p["detail"].as_str().unwrap().contains("name"), "{p}");

    let request = Request::post("/v1/models")
        .header("content-type", "text/plain")
        .body(Body::from("{\"name\":\"m\"}"))
        .unwrap();
    send(app.clone(), request)
        .await
        .problem(415, "unsupported_media_type");
    let request = Request::post("/v1/models")
        .body(Body::from("{\"name\":\"m\"}"))
        .unwrap();
    send(app, request)
        .await
        .problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn invalid_names_are_400_with_the_rule() {
    let app = open_app(Mocks::default());
    for uri in [
        "/v1/models/bad_name",
        "/v1/models/-x",
        "/v1/endpoints/a%20b",
        "/v1/models/m/versions/x",
        "/v1/models/m/versions/-1",
    ] {
        let answer = send(app.clone(), get(uri)).await;
        answer.problem(400, "invalid_argument");
    }
    let answer = send(app.clone(), get("/v1/models/bad_name")).await;
    let p = answer.json();
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("is not a valid name"),
        "{p}"
    );
    let answer = send(
        app,
        with_json("POST", "/v1/models", json!({"name": "no spaces"})),
    )
    .await;
    let p = answer.problem(400, "invalid_argument");
    assert!(p["detail"].as_str().unwrap().contains("model name"), "{p}");
}

#[tokio::test]
async fn version_artifacts_are_immutable() {
    let answer = send(
        open_app(Mocks::default()),
        with_json(
            "PATCH",
            "/v1/models/m/versions/1",
            json!({"approval": "approved", "artifact_uri": "s3://other"}),
        ),
    )
    .await;
    let p = answer.problem(400, "invalid_argument");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("immutable"), "{detail}");
    assert!(detail.contains("new version"), "{detail}");

    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_update_version()
        .withf(|m, v, r| {
            m.as_str() == "m" && *v == 1 && r.approval == Some(mlm_core::Approval::Approved)
        })
        .times(1)
        .returning(|_, _, _| Ok(version("m", 1)));
    let answer = send(
        open_app(mocks),
        with_json(
            "PATCH",
            "/v1/models/m/versions/1",
            json!({"approval": "approved"}),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["approval"], "approved");
}

// ---------------------------------------------------------------------------------------------
// Creation, long-running operations, ETags
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creation_answers_201_with_location_and_etag() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_create_model()
        .withf(|r| r.name.as_str() == "m" && r.tags.get("team").map(String::as_str) == Some("ml"))
        .returning(|_| Ok(model("m")));
    mocks
        .models
        .expect_create_version()
        .withf(|r| r.model.as_str() == "m" && r.image == "img" && r.environment.len() == 1)
        .returning(|_| Ok(version("m", 3)));
    let app = open_app(mocks);
    let answer = send(
        app.clone(),
        with_json(
            "POST",
            "/v1/models",
            json!({"name": "m", "tags": {"team": "ml"}}),
        ),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.header("location"), Some("/v1/models/m"));
    assert!(answer.header("etag").unwrap().starts_with('"'));
    assert_eq!(answer.json()["latest_version"], 2);

    let answer = send(
        app,
        with_json(
            "POST",
            "/v1/models/m/versions",
            json!({"artifact_uri": "s3://b/k", "image": "img", "environment": {"A": "1"}}),
        ),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.header("location"), Some("/v1/models/m/versions/3"));
}

#[tokio::test]
async fn endpoint_operations_are_202() {
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_create_endpoint()
        .withf(|r| {
            r.name.as_str() == "e"
                && r.variants.len() == 1
                && r.variants[0].instance_count == 1
                && r.variants[0].weight == 1.0
                && r.variants[0].instance_type.as_deref() == Some("ml.m5.large")
        })
        .returning(|_| Ok(endpoint("e", &["primary"])));
    mocks
        .endpoints
        .expect_delete_endpoint()
        .times(1)
        .returning(|_| Ok(()));
    let app = open_app(mocks);
    let answer = send(
        app.clone(),
        with_json(
            "POST",
            "/v1/endpoints",
            json!({"name": "e", "variants": [{"name": "primary",
                "model_version": {"model": "m", "version": 1}, "instance_type": "ml.m5.large"}]}),
        ),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert_eq!(answer.header("location"), Some("/v1/endpoints/e"));
    assert!(answer.header("etag").is_some());
    let body = answer.json();
    assert_eq!(body["status"], "InService");
    assert_eq!(
        body["variants"][0]["autoscaling"]["metric"],
        "invocations_per_instance"
    );
    assert_eq!(body["deployment"]["traffic"]["type"], "canary");

    let answer = send(
        app,
        Request::delete("/v1/endpoints/e")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 202);
    assert!(answer.body.is_empty());
}

#[tokio::test]
async fn endpoint_update_forms() {
    // Explicit changes.
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_update_endpoint()
        .withf(|r| {
            r.changes.len() == 1
                && r.changes[0].variant.as_ref().map(|v| v.as_str()) == Some("blue")
                && r.changes[0].weight == Some(0.0)
                && r.retain_autoscaled_counts
        })
        .times(1)
        .returning(|_| Ok(endpoint("e", &["blue", "green"])));
    let answer = send(
        open_app(mocks),
        with_json(
            "PATCH",
            "/v1/endpoints/e",
            json!({"changes": [{"variant": "blue", "weight": 0.0}]}),
        ),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert_eq!(answer.header("location"), Some("/v1/endpoints/e"));

    // The shorthand is a change to the only variant, whatever its name: the core resolves it
    // when the provider plans the update, so REST needs no read of the endpoint.
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_update_endpoint()
        .withf(|r| {
            r.changes.len() == 1
                && r.changes[0].variant.is_none()
                && r.changes[0].instance_count == Some(3)
                && r.changes[0].model_version.as_ref().map(|v| v.version) == Some(2)
                && !r.retain_autoscaled_counts
        })
        .times(1)
        .returning(|_| Ok(endpoint("e", &["primary"])));
    let answer = send(
        open_app(mocks),
        with_json(
            "PATCH",
            "/v1/endpoints/e",
            // 3: within the fixture's autoscaling bounds (1-3), which the update is planned
            // against before it reaches the provider.
            json!({"instance_count": 3, "model_version": {"model": "m", "version": 2},
                   "retain_autoscaled_counts": false}),
        ),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());

    // The shorthand on a two-variant endpoint asks to name the variant (the provider plans
    // the update, as every backend does).
    let mut mocks = Mocks::default();
    mocks.endpoints.expect_update_endpoint().returning(|r| {
        let current = endpoint("e", &["blue", "green"]);
        r.plan(&current)?;
        Ok(current)
    });
    let answer = send(
        open_app(mocks),
        with_json("PATCH", "/v1/endpoints/e", json!({"instance_count": 4})),
    )
    .await;
    let p = answer.problem(400, "invalid_argument");
    assert!(p["detail"].as_str().unwrap().contains("blue, green"), "{p}");

    // Shorthand mixed with changes.
    let mocks = Mocks::default();
    let answer = send(
        open_app(mocks),
        with_json(
            "PATCH",
            "/v1/endpoints/e",
            json!({"instance_count": 4, "changes": [{"variant": "primary", "weight": 1.0}]}),
        ),
    )
    .await;
    answer.problem(400, "invalid_argument");

    // Full replacement.
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_update_endpoint()
        .withf(|r| r.changes.is_empty() && r.replace_variants.as_ref().map(Vec::len) == Some(2))
        .times(1)
        .returning(|_| Ok(endpoint("e", &["a", "b"])));
    let spec = |n: &str| {
        json!({"name": n, "model_version": {"model": "m", "version": 1},
        "instance_type": "ml.m5.large", "instance_count": 1})
    };
    let answer = send(
        open_app(mocks),
        with_json(
            "PATCH",
            "/v1/endpoints/e",
            json!({"variants": [spec("a"), spec("b")]}),
        ),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
}

#[tokio::test]
async fn etags_and_if_match() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_get_model()
        .returning(|_| Ok(model("m")));
    mocks
        .models
        .expect_update_model()
        .times(2)
        .returning(|_, _| Ok(model("m")));
    mocks
        .models
        .expect_delete_model()
        .times(0)
        .returning(|_| Ok(()));
    let app = open_app(mocks);

    let first = send(app.clone(), get("/v1/models/m")).await;
    let etag = first.header("etag").unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    let again = send(app.clone(), get("/v1/models/m")).await;
    assert_eq!(
        again.header("etag"),
        Some(etag.as_str()),
        "same body, same ETag"
    );

    let patch = |if_match: &str| {
        Request::patch("/v1/models/m")
            .header("content-type", "application/json")
            .header("if-match", if_match)
            .body(Body::from(r#"{"description":"x"}"#))
            .unwrap()
    };
    let answer = send(app.clone(), patch(&etag)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.header("etag").is_some());
    let answer = send(app.clone(), patch("*")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = send(app.clone(), patch("\"0000\"")).await;
    let p = answer.problem(412, "etag_mismatch");
    assert!(p["detail"].as_str().unwrap().contains(&etag), "{p}");
    let answer = send(app.clone(), patch(&format!("W/{etag}"))).await;
    answer.problem(412, "etag_mismatch");
    let answer = send(app.clone(), patch("garbage")).await;
    answer.problem(400, "invalid_argument");

    let answer = send(
        app,
        Request::delete("/v1/models/m")
            .header("if-match", "\"0000\"")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    answer.problem(412, "etag_mismatch");
}

/// Defect F1: a body the server would refuse without `If-Match` is refused the same way with
/// a stale one (RFC 9110 section 13.2.1): `400`, not `412`, and without reading the resource.
#[tokio::test]
async fn invalid_bodies_are_400_before_if_match_is_evaluated() {
    let mut mocks = Mocks::default();
    mocks.models.expect_get_model().times(0);
    mocks.models.expect_get_version().times(0);
    mocks.models.expect_update_model().times(0);
    mocks.models.expect_update_version().times(0);
    let app = open_app(mocks);
    let long = "x".repeat(1025);
    for (uri, body) in [
        ("/v1/models/m", json!({"description": long})),
        ("/v1/models/m", json!({"tags": {"": "empty key"}})),
        ("/v1/models/m/versions/1", json!({"description": long})),
    ] {
        send(app.clone(), stale_patch(uri, body))
            .await
            .problem(400, "invalid_argument");
    }
}

/// A `PATCH` of `body` whose `If-Match` can never match.
fn stale_patch(uri: &str, body: serde_json::Value) -> Request<Body> {
    let mut request = with_json("PATCH", uri, body);
    request
        .headers_mut()
        .insert("if-match", "\"stale\"".parse().unwrap());
    request
}

/// Defect F1 for endpoints: the update is checked against the endpoint (as the provider
/// would) before the tag is compared.
#[tokio::test]
async fn invalid_endpoint_updates_are_400_before_if_match_is_evaluated() {
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_get_endpoint()
        .returning(|n| match n.as_str() {
            "gone" => Err(Error::not_found(ResourceKind::Endpoint, n)),
            _ => Ok(endpoint(n.as_str(), &["blue", "green"])),
        });
    mocks.endpoints.expect_update_endpoint().times(0);
    let app = open_app(mocks);
    for body in [
        json!({"changes": [{"variant": "blue", "weight": 1}, {"variant": "blue", "weight": 2}]}),
        json!({"changes": [{"variant": "red", "weight": 1}]}),
        json!({"changes": [{"variant": "blue", "instance_count": 0}]}),
        json!({"instance_count": 2}),
        json!({"deployment": {"traffic": {"type": "canary", "percent": 0, "bake_seconds": 1}},
               "changes": [{"variant": "blue", "weight": 1}]}),
    ] {
        let answer = send(app.clone(), stale_patch("/v1/endpoints/e", body.clone())).await;
        answer.problem(400, "invalid_argument");
    }
    // On an endpoint that does not exist: the body on its own, then the 412.
    let bad = json!({"instance_count": 2, "changes": [{"variant": "blue", "weight": 1}]});
    send(app.clone(), stale_patch("/v1/endpoints/gone", bad))
        .await
        .problem(400, "invalid_argument");
    send(
        app,
        stale_patch("/v1/endpoints/gone", json!({"instance_count": 2})),
    )
    .await
    .problem(412, "etag_mismatch");
}

#[tokio::test]
async fn if_match_on_a_missing_resource_is_412() {
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_get_endpoint()
        .returning(|n| Err(Error::not_found(ResourceKind::Endpoint, n)));
    let answer = send(
        open_app(mocks),
        Request::delete("/v1/endpoints/e")
            .header("if-match", "*")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    answer.problem(412, "etag_mismatch");
}

#[tokio::test]
async fn versions_and_endpoints_carry_etags_that_if_match_checks() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_get_version()
        .returning(|m, v| Ok(version(m.as_str(), v)));
    mocks
        .models
        .expect_delete_version()
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .endpoints
        .expect_get_endpoint()
        .returning(|n| Ok(endpoint(n.as_str(), &["primary"])));
    mocks
        .endpoints
        .expect_update_endpoint()
        .times(1)
        .returning(|r| Ok(endpoint(r.name.as_str(), &["primary"])));
    let app = open_app(mocks);
    let v = send(app.clone(), get("/v1/models/m/versions/1")).await;
    let vtag = v.header("etag").unwrap().to_string();
    let answer = send(
        app.clone(),
        Request::delete("/v1/models/m/versions/1")
            .header("if-match", vtag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.text());

    let e = send(app.clone(), get("/v1/endpoints/e")).await;
    let etag = e.header("etag").unwrap().to_string();
    let answer = send(
        app.clone(),
        Request::patch("/v1/endpoints/e")
            .header("content-type", "application/json")
            .header("if-match", format!("\"nope\", {etag}"))
            .body(Body::from(r#"{"instance_count": 3}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let answer = send(
        app,
        Request::patch("/v1/endpoints/e")
            .header("content-type", "application/json")
            .header("if-match", "\"nope\"")
            .body(Body::from(r#"{"instance_count": 3}"#))
            .unwrap(),
    )
    .await;
    answer.problem(412, "etag_mismatch");
}

// ---------------------------------------------------------------------------------------------
// Host and Origin (defect B)
// ---------------------------------------------------------------------------------------------

fn from_browser(method: &str, uri: &str, host: &str, origin: Option<&str>) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.body(Body::empty()).unwrap()
}

fn create_model_from(host: &str, origin: &str) -> Request<Body> {
    let mut request = with_json("POST", "/v1/models", json!({"name": "m"}));
    request.headers_mut().insert("host", host.parse().unwrap());
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    request
}

/// Without tokens, a request addressed to another name (DNS rebinding) reaches nothing.
#[tokio::test]
async fn foreign_hosts_are_refused_without_tokens() {
    let mut mocks = Mocks::default();
    mocks.models.expect_create_model().times(0);
    let app = open_app(mocks);
    for host in [
        "evil.example",
        "evil.example:8080",
        "localhost.evil.example",
        "10.0.0.1:8080",
    ] {
        let answer = send(app.clone(), from_browser("GET", "/healthz", host, None)).await;
        let p = answer.problem(421, "host_not_allowed");
        assert!(p["detail"].as_str().unwrap().contains("loopback"), "{p}");
    }
    let answer = send(
        app,
        create_model_from("evil.example", "http://evil.example"),
    )
    .await;
    answer.problem(421, "host_not_allowed");
}

#[tokio::test]
async fn loopback_hosts_are_served_without_tokens() {
    let app = open_app(Mocks::default());
    for host in [
        "localhost",
        "localhost:8080",
        "localhost.:8080",
        "127.0.0.1:8080",
        "127.3.2.1",
        "[::1]:8080",
        "[::ffff:127.0.0.1]:8080",
    ] {
        let answer = send(app.clone(), from_browser("GET", "/healthz", host, None)).await;
        assert_eq!(answer.status, 200, "{host}: {}", answer.text());
    }
}

/// Without tokens, a page of another origin cannot create a model, nor invoke an endpoint
/// with a `text/plain` body (a "simple" request no preflight guards).
#[tokio::test]
async fn foreign_origins_are_refused_without_tokens() {
    let mut mocks = Mocks::default();
    mocks.models.expect_create_model().times(0);
    mocks.endpoints.expect_invoke().times(0);
    let app = open_app(mocks);
    for origin in [
        "http://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
    ] {
        let answer = send(app.clone(), create_model_from("127.0.0.1:8080", origin)).await;
        let p = answer.problem(403, "origin_not_allowed");
        assert!(p["detail"].as_str().unwrap().contains(origin), "{p}");
        assert!(answer.header("access-control-allow-origin").is_none());
    }
    let invoke = Request::post("/v1/endpoints/e/invocations")
        .header("host", "localhost:8080")
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(Body::from("hi"))
        .unwrap();
    send(app, invoke).await.problem(403, "origin_not_allowed");
}

/// Loopback and configured origins are served, with CORS headers (and preflights answered).
#[tokio::test]
async fn allowed_origins_get_cors_answers() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_create_model()
        .times(2)
        .returning(|r| Ok(model(r.name.as_str())));
    let origins = mlm_http::origin::AllowedOrigins::new(["https://ui.example.com"]).unwrap();
    let app = mlm_http::app(
        mlm_http::AppState::new(std::sync::Arc::new(mocks)).with_allowed_origins(origins),
    );
    for origin in ["http://localhost:3000", "https://ui.example.com"] {
        let answer = send(app.clone(), create_model_from("127.0.0.1:8080", origin)).await;
        assert_eq!(answer.status, 201, "{origin}: {}", answer.text());
        assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
        let exposed = answer.header("access-control-expose-headers").unwrap();
        assert!(
            exposed.contains("etag") && exposed.contains("location"),
            "{exposed}"
        );
    }
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/v1/models/m")
        .header("host", "127.0.0.1:8080")
        .header("origin", "https://ui.example.com")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "if-match, content-type")
        .body(Body::empty())
        .unwrap();
    let answer = send(app, preflight).await;
    assert!(
        answer.status == 200 || answer.status == 204,
        "{}",
        answer.status
    );
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://ui.example.com")
    );
    assert!(
        answer
            .header("access-control-allow-methods")
            .unwrap()
            .contains("PATCH")
    );
    assert!(
        answer
            .header("access-control-allow-headers")
            .unwrap()
            .contains("if-match")
    );
}

/// With tokens, the token is the protection: other names and origins are served (the token
/// decides), but only allowed origins get CORS answers.
#[tokio::test]
async fn with_tokens_hosts_and_origins_are_not_refused() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_list_models()
        .returning(|_| Ok(Page::last(vec![])));
    let app = secured_app(mocks);
    let mut request = from_browser(
        "GET",
        "/v1/models",
        "mlm.internal:8080",
        Some("https://evil.example"),
    );
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {READER}").parse().unwrap());
    let answer = send(app.clone(), request).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.header("access-control-allow-origin").is_none());
    let answer = send(
        app,
        from_browser(
            "GET",
            "/v1/models",
            "evil.example",
            Some("http://localhost:3000"),
        ),
    )
    .await;
    answer.problem(401, "unauthenticated");
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
}

// ---------------------------------------------------------------------------------------------
// Request ids, routing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let app = open_app(Mocks::default());
    let answer = send(app.clone(), get("/healthz")).await;
    let id = answer.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let answer = send(
        app.clone(),
        Request::get("/healthz")
            .header("x-request-id", "client-id.42:a_b")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.header("x-request-id"), Some("client-id.42:a_b"));

    for bad in ["has space", "x".repeat(129).as_str(), "semi;colon"] {
        let answer = send(
            app.clone(),
            Request::get("/v1/models/bad_name")
                .header("x-request-id", bad)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let id = answer.header("x-request-id").unwrap().to_string();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36);
        answer.problem(400, "invalid_argument");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = open_app(Mocks::default());
    send(app.clone(), get("/v2/models"))
        .await
        .problem(404, "no_route");
    send(app, Request::put("/v1/models").body(Body::empty()).unwrap())
        .await
        .problem(405, "method_not_allowed");
}

// ---------------------------------------------------------------------------------------------
// Invocations, observability, system
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invocations_pass_bodies_and_headers_through() {
    let mut mocks = Mocks::default();
    mocks
        .endpoints
        .expect_invoke()
        .withf(|r| {
            r.endpoint.as_str() == "e"
                && r.content_type == "application/json; charset=utf-8"
                && r.accept.as_deref() == Some("application/json")
                && r.target_variant.as_ref().map(VariantName::as_str) == Some("green")
                && r.body == br#"{"sentence":"hi"}"#
        })
        .times(1)
        .returning(|_| {
            Ok(InvokeResponse::new(
                br#"{"label":"Sports"}"#.to_vec(),
                "application/json",
                Some(VariantName::new("green").unwrap()),
            ))
        });
    let answer = send(
        open_app(mocks),
        Request::post("/v1/endpoints/e/invocations")
            .header("content-type", "application/json; charset=utf-8")
            .header("accept", "application/json")
            .header("x-mlm-target-variant", "green")
            .body(Body::from(r#"{"sentence":"hi"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("x-mlm-variant"), Some("green"));
    assert_eq!(answer.text(), r#"{"label":"Sports"}"#);

    let answer = send(
        open_app(Mocks::default()),
        Request::post("/v1/endpoints/e/invocations")
            .header("x-mlm-target-variant", "not valid")
            .body(Body::from("x"))
            .unwrap(),
    )
    .await;
    answer.problem(400, "invalid_argument");
}

#[tokio::test]
async fn instances_report_figures_with_scope() {
    let mut mocks = Mocks::default();
    mocks
        .observe
        .expect_endpoint_overview()
        .returning(|n| Ok(overview(n.as_str())));
    let app = open_app(mocks);
    let answer = send(app.clone(), get("/v1/endpoints/e/instances")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["endpoint"], "e");
    let a = &body["items"][0];
    assert_eq!(a["id"], "primary-1");
    assert_eq!(a["variant"], "primary");
    assert_eq!(a["status"], "InService");
    assert_eq!(
        a["cpu_utilization"],
        json!({"value": 12.5, "scope": "instance"})
    );
    assert_eq!(a["memory_utilization"]["scope"], "variant_aggregate");
    assert_eq!(a["gpu_utilization"], serde_json::Value::Null);
    assert_eq!(a["gpu_memory_utilization"], serde_json::Value::Null);
    assert_eq!(a["in_flight_requests"]["value"], 0.0);
    assert_eq!(body["items"][1]["status"], "Pending");

    let answer = send(app, get("/v1/endpoints/e/overview")).await;
    let body = answer.json();
    assert_eq!(body["instance_count"], 2);
    assert_eq!(body["variants"][0]["desired_instance_count"], 2);
}

#[tokio::test]
async fn overview_lists_pages() {
    let mut mocks = Mocks::default();
    mocks
        .observe
        .expect_list_overviews()
        .withf(|p| p.page_size == Some(10))
        .returning(|_| Ok(Page::last(vec![overview("a"), overview("b")])));
    let answer = send(open_app(mocks), get("/v1/overview?limit=10")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_eq!(body["items"][1]["name"], "b");
    assert_eq!(body["next_page_token"], serde_json::Value::Null);
}

#[tokio::test]
async fn metric_queries_parse_lists_and_defaults() {
    let mut mocks = Mocks::default();
    mocks
        .observe
        .expect_query_metrics()
        .withf(|q| {
            q.kinds
                == [
                    MetricKind::CpuUtilization,
                    MetricKind::Invocations,
                    MetricKind::ModelLatency,
                ]
                && q.period_seconds == 60
                && q.statistic.is_none()
                && (q.end - q.start) == chrono::Duration::hours(1)
                && q.variant.is_none()
        })
        .times(1)
        .returning(|q| {
            Ok(q.kinds
                .iter()
                .map(|k| MetricSeries::empty(*k, q.statistic_for(*k), MetricScope::Instance))
                .collect())
        });
    mocks
        .observe
        .expect_query_metrics()
        .withf(|q| {
            q.kinds == [MetricKind::InvocationErrors5xx]
                && q.period_seconds == 300
                && q.statistic == Some(Statistic::SampleCount)
                && q.start.to_rfc3339() == "2024-01-01T10:00:00+00:00"
                && q.end.to_rfc3339() == "2024-01-01T12:00:00+00:00"
                && q.variant.as_ref().map(VariantName::as_str) == Some("blue")
                && q.instance.as_deref() == Some("blue-1")
        })
        .times(1)
        .returning(|_| Ok(vec![]));
    let app = open_app(mocks);
    let answer = send(
        app.clone(),
        get("/v1/endpoints/e/metrics?metric=cpu_utilization,invocations&metric=model_latency"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["period_seconds"], 60);
    // No statistic asked for: each metric's own (a sum for counts, an average otherwise).
    assert_eq!(body["statistic"], serde_json::Value::Null);
    assert_eq!(body["series"][0]["statistic"], "average");
    assert_eq!(body["series"][1]["statistic"], "sum");
    assert_eq!(body["series"][1]["metric"], "invocations");
    assert_eq!(body["series"][1]["unit"], "count");
    assert_eq!(body["series"][0]["points"], json!([]));

    let answer = send(
        app.clone(),
        get("/v1/endpoints/e/metrics?metric=invocation_errors_5xx&start=2024-01-01T11:00:00%2B01:00\
             &end=2024-01-01T12:00:00Z&period=300&statistic=sample_count&variant=blue&instance=blue-1"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    for (query, needle) in [
        ("", "at least one metric"),
        ("metric=gpu", "gpu_utilization"),
        ("metric=invocations&start=yesterday", "RFC 3339"),
        ("metric=invocations&statistic=median", "sample_count"),
        ("metric=invocations&period=0", "period"),
        ("metric=invocations&period=1296001", "longest window"),
        ("metric=invocations&instance=", "'instance' is empty"),
        ("metric=invocations&metric=", "empty metric name"),
        ("metric=invocations,", "empty metric name"),
        ("metric=invocations&period=2147483648", "longest window"),
        (
            "metric=invocations&start=2024-01-01T12:00:00Z&end=2024-01-01T11:00:00Z",
            "after",
        ),
        ("metric=invocations&variant=no%20pe", "variant name"),
        ("metric=invocations&bogus=1", "bogus"),
    ] {
        let answer = send(
            app.clone(),
            get(&format!("/v1/endpoints/e/metrics?{query}")),
        )
        .await;
        let p = answer.problem(400, "invalid_argument");
        assert!(
            p["detail"].as_str().unwrap().contains(needle),
            "{query}: {p}"
        );
    }
}

#[tokio::test]
async fn readiness_follows_the_provider() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_list_models()
        .withf(|p| p.page_size == Some(1))
        .returning(|_| Ok(Page::last(vec![])));
    let answer = send(open_app(mocks), get("/readyz")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["status"], "ready");

    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_list_models()
        .returning(|_| Err(Error::provider_msg("SECRET database is locked", true)));
    let answer = send(open_app(mocks), get("/readyz")).await;
    answer.problem(503, "not_ready");
    assert!(!answer.text().contains("SECRET"));

    let answer = send(open_app(Mocks::default()), get("/healthz")).await;
    assert_eq!(answer.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn capabilities_name_the_backend() {
    let mocks = Mocks {
        caps: mlm_core::Capabilities::ALL,
        ..Mocks::default()
    };
    let answer = send(open_app(mocks), get("/v1/capabilities")).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["provider"], "mock");
    assert_eq!(body["capabilities"]["serverless"], true);
    assert_eq!(body["capabilities"]["per_instance_metrics"], true);
}

/// An endpoint made outside mlm whose model is not from the registry: its variant has no
/// version, sent as `"model_version": null` (the key is always there).
#[tokio::test]
async fn variants_without_a_version_are_null() {
    let mut mocks = Mocks::default();
    mocks.endpoints.expect_get_endpoint().returning(|_| {
        let mut e = endpoint("raw", &["primary"]);
        e.managed = false;
        e.variants[0].model_version = None;
        Ok(e)
    });
    let app = open_app(mocks);
    let answer = send(app, get("/v1/endpoints/raw")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    let variant = body["variants"][0].as_object().unwrap();
    assert_eq!(variant.get("model_version"), Some(&serde_json::Value::Null));
    assert_eq!(body["managed"], false);
}

/// `POST /v1/models/{model}/artifacts`: the body goes to the backend as a file with its digest
/// checked first; a body that is not its digest, a missing or malformed digest, unknown
/// parameters and bodies over `max_artifact_bytes` never reach it.
#[tokio::test]
async fn uploaded_archives_reach_the_backend_only_whole() {
    use sha2::Digest;
    let body = b"pretend this is a model.tar.gz".to_vec();
    let hex: String = sha2::Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digest = format!("sha256:{hex}");
    let upload = |query: &str, bytes: &[u8]| {
        Request::post(format!("/v1/models/news/artifacts?{query}"))
            .header("content-type", "application/gzip")
            .body(Body::from(bytes.to_vec()))
            .unwrap()
    };
    let mut mocks = Mocks::default();
    let (expected, sent) = (digest.clone(), body.clone());
    mocks
        .artifacts
        .expect_upload_artifact()
        .times(1)
        .returning(move |u| {
            assert_eq!(std::fs::read(&u.file).unwrap(), sent);
            assert_eq!((u.digest.as_str(), u.bytes), (expected.as_str(), 30));
            assert_eq!(u.options.destination.as_deref(), Some("s3://b/p"));
            Ok(mlm_core::UploadedArtifact::new(
                "s3://b/p/x",
                u.digest,
                u.bytes,
            ))
        });
    let app = open_app(mocks);
    let query = format!("digest={digest}&destination=s3://b/p");
    let answer = send(app.clone(), upload(&query, &body)).await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.json()["uri"], "s3://b/p/x");
    assert_eq!(answer.json()["reused"], false);

    let other = format!("sha256:{}", "0".repeat(64));
    let problem = send(app.clone(), upload(&format!("digest={other}"), &body)).await;
    let detail = problem.problem(400, "invalid_argument")["detail"].to_string();
    assert!(detail.contains("cut short"), "{detail}");
    for query in ["", "digest=md5:abc", &format!("digest={digest}&to=x")] {
        send(app.clone(), upload(query, &body))
            .await
            .problem(400, "invalid_argument");
    }
    let small = mlm_http::Limits::default().with_max_artifact_bytes(10);
    let limited = mlm_http::app(
        mlm_http::AppState::new(std::sync::Arc::new(Mocks::default())).with_limits(small),
    );
    send(limited, upload(&format!("digest={digest}"), &body))
        .await
        .problem(413, "payload_too_large");
}

/// `PUT /v1/endpoints/{e}/dashboard` is one core call (an operator's), answers the dashboard
/// with what it did; `GET` reads it; backends without dashboards answer `unsupported`.
#[tokio::test]
async fn dashboards_are_put_by_operators_and_read_by_anyone() {
    let dashboard = || {
        mlm_core::Dashboard::new(
            "mlm-news",
            mlm_core::EndpointName::new("news").unwrap(),
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/mlm-news",
            vec!["Invocations".into(), "Alarms".into()],
        )
    };
    let mut mocks = Mocks::default();
    mocks
        .dashboards
        .expect_put_dashboard()
        .withf(|e| e.as_str() == "news")
        .times(1)
        .returning(move |_| Ok(dashboard().put(false)));
    mocks
        .dashboards
        .expect_get_dashboard()
        .returning(move |_| Ok(dashboard()));
    let app = secured_app(mocks);
    let path = "/v1/endpoints/news/dashboard";
    let answer = send(app.clone(), bearer(path, "PUT", Some(READER), None)).await;
    answer.problem(403, "permission_denied");
    let answer = send(app.clone(), bearer(path, "PUT", Some(OPERATOR), None)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["name"], "mlm-news");
    assert_eq!(body["endpoint"], "news");
    assert_eq!(body["action"], "created");
    assert_eq!(body["widgets"], json!(["Invocations", "Alarms"]));
    let answer = send(app, bearer(path, "GET", Some(READER), None)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["action"], serde_json::Value::Null);

    let mut mocks = Mocks::default();
    mocks
        .dashboards
        .expect_put_dashboard()
        .returning(|_| Err(Error::unsupported("the local backend has no dashboards")));
    mocks
        .dashboards
        .expect_get_dashboard()
        .returning(|e| Err(Error::not_found(ResourceKind::Dashboard, e)));
    let app = open_app(mocks);
    let answer = send(app.clone(), Request::put(path).body(Body::empty()).unwrap()).await;
    answer.problem(400, "unsupported");
    let problem = send(app, get(path)).await.problem(404, "not_found");
    assert_eq!(problem["resource_kind"], "dashboard");
    assert_eq!(problem["resource_name"], "news");
}
