//! The drift routes over a mocked backend: request bodies (JSON samples, a window of
//! captured traffic, JSON Lines) become the core's requests, bad ones are 400s that never reach
//! the backend, and answers (reports computed by the core) come back as the backend gave them.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, TimeDelta, Utc};
use common::{Mocks, send, with_json};
use mlm_core::drift::{
    Baseline, CreateBaselineRequest, DriftReport, DriftReportRequest, DriftWindow, MockDrift,
    Sample, SampleSource, TrafficWindow,
};
use mlm_core::{BaselineName, EndpointName, Error, Page, ResourceKind};
use mlm_http::{AppState, app};
use serde_json::{Value, json};

fn news() -> EndpointName {
    EndpointName::new("news").unwrap()
}

fn app_with(drift: MockDrift) -> axum::Router {
    let mocks = Mocks {
        drift,
        ..Mocks::default()
    };
    app(AppState::new(Arc::new(mocks)))
}

/// A backend that builds any baseline from inline samples and keeps the last request.
fn accepting() -> (MockDrift, Arc<Mutex<Option<CreateBaselineRequest>>>) {
    let kept = Arc::new(Mutex::new(None));
    let mut drift = MockDrift::new();
    let k = kept.clone();
    drift.expect_create_baseline().returning(move |request| {
        *k.lock().unwrap() = Some(request.clone());
        let samples = match &request.source {
            SampleSource::Samples(samples) => samples.clone(),
            _ => vec![Sample::input(json!({"captured": true}))],
        };
        Baseline::build(request.endpoint, request.name, &samples, Utc::now())
    });
    (drift, kept)
}

fn inline(request: &CreateBaselineRequest) -> &[Sample] {
    match &request.source {
        SampleSource::Samples(samples) => samples,
        other => panic!("expected samples, got {other:?}"),
    }
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
    let (drift, kept) = accepting();
    let body = json!({"name": "launch", "samples": [labelled("the team won", 2), labelled("stocks fell", 3)]});
    let answer = send(
        app_with(drift),
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
    let request = kept.lock().unwrap().clone().unwrap();
    assert_eq!(request.endpoint, news());
    assert_eq!(
        inline(&request)[1],
        Sample::with_output(json!({"sentence": "stocks fell"}), json!({"label": 3}))
    );
}

#[tokio::test]
async fn json_lines_uploads_take_the_name_from_the_query() {
    let (drift, kept) = accepting();
    let lines = "{\"sentence\": \"the team won\"}\n\n{\"input\": {\"sentence\": \"stocks fell\"}, \"output\": {\"label\": 3}}\n";
    let answer = send(
        app_with(drift),
        json_lines("/v1/endpoints/news/baselines?name=upload", lines),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let request = kept.lock().unwrap().clone().unwrap();
    assert_eq!(request.name.as_str(), "upload");
    assert_eq!(inline(&request).len(), 2);
    assert_eq!(answer.json()["labels"]["counts"]["3"], 1);
}

#[tokio::test]
async fn samples_hold_any_json_and_json_bodies_may_name_the_baseline_in_the_query() {
    let (drift, kept) = accepting();
    // Arrays anywhere inside a sample: a model's input and answer are whatever it takes.
    let body = json!({"samples": [
        {"input": {"features": [1.5, 2.5], "tags": ["a", "b"]}, "output": [0.1, 0.9]},
        {"input": [[1, 2], [3, 4]], "output": null}
    ]});
    let answer = send(
        app_with(drift),
        with_json("POST", "/v1/endpoints/news/baselines?name=arrays", body),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let request = kept.lock().unwrap().clone().unwrap();
    assert_eq!(request.name.as_str(), "arrays");
    assert_eq!(
        inline(&request),
        [
            Sample::with_output(
                json!({"features": [1.5, 2.5], "tags": ["a", "b"]}),
                json!([0.1, 0.9])
            ),
            Sample::input(json!([[1, 2], [3, 4]])),
        ]
    );
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The window of the last baseline request the backend was given.
fn kept_window(kept: &Mutex<Option<CreateBaselineRequest>>) -> TrafficWindow {
    match kept.lock().unwrap().clone().map(|r| r.source) {
        Some(SampleSource::Window(window)) => window,
        other => panic!("expected a window, got {other:?}"),
    }
}

#[tokio::test]
async fn a_window_of_captured_traffic_is_passed_on_with_end_defaulting_to_now() {
    let (drift, kept) = accepting();
    let router = app_with(drift);
    let body =
        json!({"name": "week", "window": {"start": "2026-11-29T00:00:00Z", "variant": "primary"}});
    let before = Utc::now();
    let answer = send(
        router.clone(),
        with_json("POST", "/v1/endpoints/news/baselines", body),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let window = kept_window(&kept);
    assert_eq!(window.start, time("2026-11-29T00:00:00Z"));
    assert!(
        window.end >= before && window.end <= Utc::now(),
        "{window:?}"
    );
    assert_eq!(window.variant.as_ref().map(|v| v.as_str()), Some("primary"));

    let body = json!({"name": "day", "window": {"start": "2026-11-29T00:00:00Z", "end": "2026-11-30T00:00:00Z"}});
    let answer = send(
        router,
        with_json("POST", "/v1/endpoints/news/baselines", body),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let window = kept_window(&kept);
    assert_eq!(
        (window.end, window.variant.clone()),
        (time("2026-11-30T00:00:00Z"), None)
    );
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
        with_json(
            "POST",
            "/v1/endpoints/news/baselines",
            json!({"name": "x", "samples": [{"input": 1}], "window": {"start": "2026-11-29T00:00:00Z"}}),
        ),
        with_json(
            "POST",
            "/v1/endpoints/news/baselines",
            json!({"name": "x", "window": {"start": "yesterday"}}),
        ),
        with_json(
            "POST",
            "/v1/endpoints/news/baselines",
            json!({"name": "x", "window": {"start": "2026-11-29T00:00:00Z", "variant": "bad_name"}}),
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
        "not both",
        "window.start",
        "variant name",
    ];
    for (request, text) in cases.into_iter().zip(expected) {
        // The backend is never reached.
        let answer = send(app_with(MockDrift::new()), request).await;
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

/// A backend with the baseline `news/launch` that computes reports of inline samples as
/// every backend does.
fn serving_stored() -> MockDrift {
    let mut drift = MockDrift::new();
    drift
        .expect_drift_report()
        .returning(|request: DriftReportRequest| {
            if (request.endpoint.as_str(), request.baseline.as_str()) != ("news", "launch") {
                return Err(Error::not_found(
                    ResourceKind::Baseline,
                    format!("{}/{}", request.endpoint, request.baseline),
                ));
            }
            let SampleSource::Samples(samples) = &request.source else {
                panic!("{request:?}");
            };
            DriftReport::compare(
                &stored(),
                samples,
                request.thresholds,
                DriftWindow::default(),
                Utc::now(),
            )
        });
    drift
        .expect_get_baseline()
        .returning(|endpoint, name| match name.as_str() {
            "launch" if endpoint.as_str() == "news" => Ok(stored()),
            _ => Err(Error::not_found(
                ResourceKind::Baseline,
                format!("{endpoint}/{name}"),
            )),
        });
    drift
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
async fn reports_need_a_known_baseline_valid_thresholds_and_one_window() {
    let uri = "/v1/endpoints/news/drift-reports";
    let window = json!([{"input": {"sentence": "x"}}]);
    let missing = json!({"baseline": "other", "samples": window});
    let answer = send(app_with(serving_stored()), with_json("POST", uri, missing)).await;
    answer.problem(404, "not_found");
    for bad in [
        json!({"baseline": "launch", "samples": window, "thresholds": {"ks": -1}}),
        json!({"baseline": "launch"}),
        json!({"baseline": "launch", "samples": window, "window": {"start": "2026-11-29T00:00:00Z"}}),
    ] {
        // Refused before the backend is asked.
        let answer = send(
            app_with(MockDrift::new()),
            with_json("POST", uri, bad.clone()),
        )
        .await;
        let problem = answer.problem(400, "invalid_argument");
        assert!(problem["detail"].is_string(), "{bad}: {problem}");
    }
}

#[tokio::test]
async fn reports_over_captured_traffic_pass_the_window_on() {
    let mut drift = MockDrift::new();
    drift
        .expect_drift_report()
        .withf(|r| {
            matches!(&r.source, SampleSource::Window(w)
                if w.start == Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
                    && w.end - w.start == TimeDelta::hours(1))
                && r.thresholds.psi == 0.3
        })
        .returning(|r| {
            let samples = [Sample::input(json!({"sentence": "the team won the final"}))];
            let SampleSource::Window(w) = &r.source else {
                unreachable!()
            };
            let window = DriftWindow {
                start: Some(w.start),
                end: Some(w.end),
            };
            DriftReport::compare(&stored(), &samples, r.thresholds, window, Utc::now())
        });
    let start = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let body = json!({"baseline": "launch", "thresholds": {"psi": 0.3},
        "window": {"start": start, "end": start + TimeDelta::hours(1)}});
    let answer = send(
        app_with(drift),
        with_json("POST", "/v1/endpoints/news/drift-reports", body),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report = answer.json();
    assert_eq!(report["window_start"], json!(start));
    assert_eq!(report["sample_count"], 1);
}

#[tokio::test]
async fn baselines_are_listed_described_and_deleted_through_the_backend() {
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
async fn a_backend_without_drift_says_so() {
    let mut drift = MockDrift::new();
    drift
        .expect_list_baselines()
        .returning(|_, _| Err(Error::unsupported("this backend keeps no drift baselines")));
    let answer = send(app_with(drift), common::get("/v1/endpoints/news/baselines")).await;
    let problem = answer.problem(400, "unsupported");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("drift baselines")
    );
}
