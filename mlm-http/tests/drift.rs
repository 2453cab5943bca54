//! The drift routes over a mocked baseline store: baselines are built from JSON or JSON Lines
//! uploads, reports are computed by the core from the stored baseline and the window sent,
//! and a server without a baseline store says so.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use common::{Mocks, send, with_json};
use mlm_core::drift::{Baseline, MockDriftBaselines, Sample};
use mlm_core::{BaselineName, EndpointName, Error, Page, ResourceKind};
use mlm_http::{AppState, app};
use serde_json::{Value, json};

fn news() -> EndpointName {
    EndpointName::new("news").unwrap()
}

fn app_with(baselines: MockDriftBaselines) -> axum::Router {
    app(AppState::new(Arc::new(Mocks::default())).with_drift_baselines(Arc::new(baselines)))
}

/// A store that accepts any baseline and keeps the last one it was given.
fn accepting() -> (MockDriftBaselines, Arc<Mutex<Option<Baseline>>>) {
    let kept = Arc::new(Mutex::new(None));
    let mut store = MockDriftBaselines::new();
    let k = kept.clone();
    store.expect_create_baseline().returning(move |b| {
        *k.lock().unwrap() = Some(b.clone());
        Ok(b)
    });
    (store, kept)
}

fn json_lines(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/x-ndjson")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn labelled(text: &str, label: u32) -> Value {
    json!({"input": {"sentence": text}, "output": {"label": label}})
}

#[tokio::test]
async fn a_json_body_builds_and_stores_a_baseline() {
    let (store, kept) = accepting();
    let body = json!({"name": "launch", "samples": [labelled("the team won", 2), labelled("stocks fell", 3)]});
    let answer = send(
        app_with(store),
        with_json("POST", "/v1/endpoints/news/baselines", body),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let baseline: Baseline = serde_json::from_value(answer.json()).unwrap();
    assert_eq!(
        (baseline.name.as_str(), baseline.sample_count),
        ("launch", 2)
    );
    assert_eq!(baseline.labels.as_ref().unwrap().counts.len(), 2);
    assert_eq!(kept.lock().unwrap().as_ref(), Some(&baseline));
}

#[tokio::test]
async fn json_lines_uploads_take_the_name_from_the_query() {
    let (store, kept) = accepting();
    let lines = "{\"sentence\": \"the team won\"}\n\n{\"input\": {\"sentence\": \"stocks fell\"}, \"output\": {\"label\": 3}}\n";
    let answer = send(
        app_with(store),
        json_lines("/v1/endpoints/news/baselines?name=upload", lines),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let kept = kept.lock().unwrap().clone().unwrap();
    assert_eq!((kept.name.as_str(), kept.sample_count), ("upload", 2));
    assert_eq!(kept.labels.unwrap().counts["3"], 1);
}

#[tokio::test]
async fn samples_hold_any_json_and_json_bodies_may_name_the_baseline_in_the_query() {
    let (store, kept) = accepting();
    // Arrays anywhere inside a sample: a model's input and answer are whatever it takes.
    let body = json!({"samples": [
        {"input": {"features": [1.5, 2.5], "tags": ["a", "b"]}, "output": [0.1, 0.9]},
        {"input": [[1, 2], [3, 4]], "output": null}
    ]});
    let answer = send(
        app_with(store),
        with_json("POST", "/v1/endpoints/news/baselines?name=arrays", body),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let kept = kept.lock().unwrap().clone().unwrap();
    assert_eq!((kept.name.as_str(), kept.sample_count), ("arrays", 2));
}

#[tokio::test]
async fn bad_uploads_are_400s_that_say_why() {
    let cases = [
        json_lines("/v1/endpoints/news/baselines?name=x", "{}\n{not json\n"),
        json_lines("/v1/endpoints/news/baselines", "{}\n"),
        json_lines("/v1/endpoints/news/baselines?name=x&other=1", "{}\n"),
        json_lines("/v1/endpoints/news/baselines?name=bad_name", "{\"a\": 1}\n"),
        with_json(
            "POST",
            "/v1/endpoints/news/baselines",
            json!({"name": "x", "samples": []}),
        ),
        with_json(
            "POST",
            "/v1/endpoints/news/baselines",
            json!({"name": "x", "samples": [{"inputs": 1}]}),
        ),
        with_json(
            "POST",
            "/v1/endpoints/news/baselines?name=y",
            json!({"name": "x", "samples": [{"input": 1}]}),
        ),
        with_json(
            "POST",
            "/v1/endpoints/news/baselines",
            json!({"samples": [{"input": 1}]}),
        ),
        with_json(
            "POST",
            "/v1/endpoints/news/baselines",
            json!({"name": "x", "samples": [[1]]}),
        ),
    ];
    let expected = [
        "line 2: not JSON",
        "?name=",
        "other",
        "baseline name",
        "no samples",
        "inputs",
        "give one name",
        "name the baseline",
        "samples[0]: invalid type: sequence",
    ];
    for (request, text) in cases.into_iter().zip(expected) {
        // The store is never reached.
        let answer = send(app_with(MockDriftBaselines::new()), request).await;
        let problem = answer.problem(400, "invalid_argument");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(text), "{detail:?} should mention {text:?}");
    }
}

fn stored() -> Baseline {
    let samples: Vec<Sample> = (0..40)
        .map(|i| {
            Sample::with_output(
                json!({"sentence": if i % 2 == 0 { "the team won the final" } else { "stocks fell on wall street" }}),
                json!({"label": if i % 2 == 0 { 2 } else { 3 }}),
            )
        })
        .collect();
    Baseline::build(
        news(),
        BaselineName::new("launch").unwrap(),
        &samples,
        Utc::now(),
    )
    .unwrap()
}

fn serving_stored() -> MockDriftBaselines {
    let mut store = MockDriftBaselines::new();
    store.expect_record_drift_score().returning(|_| Ok(()));
    store
        .expect_get_baseline()
        .returning(|endpoint, name| match name.as_str() {
            "launch" if endpoint.as_str() == "news" => Ok(stored()),
            _ => Err(Error::not_found(
                ResourceKind::Baseline,
                format!("{endpoint}/{name}"),
            )),
        });
    store
}

#[tokio::test]
async fn drift_reports_compare_the_window_with_the_stored_baseline() {
    let sports: Vec<Value> = (0..20)
        .map(|_| labelled("the team won the final", 2))
        .collect();
    let body = json!({"baseline": "launch", "samples": sports});
    let uri = "/v1/endpoints/news/drift-reports";
    let answer = send(app_with(serving_stored()), with_json("POST", uri, body)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report = answer.json();
    assert_eq!(report["drifted"], true, "{report}");
    assert_eq!(report["labels"]["window"], json!({"2": 20}));
    assert_eq!(report["fields"][0]["field"], "sentence");
    assert_eq!(report["fields"][0]["checks"][0]["statistic"], "js_distance");

    // The same mix of sentences and labels, with a threshold of its own: nothing moved.
    let same: Vec<Value> = (0..10)
        .flat_map(|_| {
            [
                labelled("the team won the final", 2),
                labelled("stocks fell on wall street", 3),
            ]
        })
        .collect();
    let body = json!({"baseline": "launch", "samples": same, "thresholds": {"js_distance": 0.2}});
    let report = send(app_with(serving_stored()), with_json("POST", uri, body))
        .await
        .json();
    assert_eq!(report["drifted"], false, "{report}");
    assert_eq!(report["drift_score"], 0.0);
    assert_eq!(report["thresholds"]["js_distance"], 0.2);
    assert_eq!(report["thresholds"]["psi"], 0.2);
}

#[tokio::test]
async fn reports_need_a_known_baseline_and_valid_thresholds() {
    let uri = "/v1/endpoints/news/drift-reports";
    let window = json!([{"input": {"sentence": "x"}}]);
    let missing = json!({"baseline": "other", "samples": window});
    let answer = send(app_with(serving_stored()), with_json("POST", uri, missing)).await;
    answer.problem(404, "not_found");
    let bad = json!({"baseline": "launch", "samples": window, "thresholds": {"ks": -1}});
    let answer = send(app_with(serving_stored()), with_json("POST", uri, bad)).await;
    answer.problem(400, "invalid_argument");
}

#[tokio::test]
async fn baselines_are_listed_described_and_deleted_through_the_store() {
    let mut store = serving_stored();
    store
        .expect_list_baselines()
        .withf(|endpoint, page| endpoint.as_str() == "news" && page.page_size == Some(1))
        .returning(|_, _| {
            Ok(Page {
                items: vec![stored()],
                next_page_token: Some("6c61756e6368".into()),
            })
        });
    store
        .expect_delete_baseline()
        .withf(|endpoint, name| endpoint.as_str() == "news" && name.as_str() == "launch")
        .returning(|_, _| Ok(()));
    let router = app_with(store);
    let page = send(
        router.clone(),
        common::get("/v1/endpoints/news/baselines?limit=1"),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.json()["items"][0]["name"], "launch");
    assert_eq!(page.json()["next_page_token"], "6c61756e6368");
    let one = send(
        router.clone(),
        common::get("/v1/endpoints/news/baselines/launch"),
    )
    .await;
    // Two sentences, each repeated: a categorical field.
    assert_eq!(one.json()["fields"]["sentence"]["kind"], "categorical");
    let delete = Request::delete("/v1/endpoints/news/baselines/launch")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(router, delete).await.status, 204);
}

#[tokio::test]
async fn a_server_without_a_baseline_store_says_so() {
    let router = app(AppState::new(Arc::new(Mocks::default())));
    let answer = send(router, common::get("/v1/endpoints/news/baselines")).await;
    let problem = answer.problem(400, "unsupported");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("drift baselines")
    );
}
