//! The alarm, deployment and event routes against mocks: bodies become the core definitions (with
//! their defaults), rules are checked before the provider is called, and answers are the core
//! types.

mod common;

use chrono::Utc;
use common::*;
use mlm_core::{
    Alarm, AlarmName, AlarmState, Comparison, Deployment, DeploymentKind, DeploymentPhase,
    EndpointName, Error, MetricKind, Page, ResourceKind, Statistic, TreatMissingData,
};
use serde_json::json;

fn alarm_from(d: mlm_core::AlarmDefinition) -> Alarm {
    Alarm::new(d, Utc::now())
}

/// Only the required fields: the metric's own statistic, one 60 s period, M = N, `missing`.
#[tokio::test]
async fn put_alarm_fills_cloudwatch_defaults() {
    let mut mocks = Mocks::default();
    mocks.alarms.expect_put_alarm().times(1).returning(|d| {
        assert_eq!(d.endpoint.as_str(), "news");
        assert_eq!(d.name.as_str(), "errors");
        assert_eq!(d.metric, MetricKind::InvocationErrors5xx);
        assert_eq!(d.statistic, Statistic::Sum);
        assert_eq!(d.comparison, Comparison::GreaterThan);
        assert_eq!((d.period_seconds, d.evaluation_periods), (60, 1));
        assert_eq!(d.datapoints_to_alarm, 1);
        assert_eq!(d.treat_missing_data, TreatMissingData::Missing);
        Ok(alarm_from(d))
    });
    let body = json!({"metric": "invocation_errors_5xx", "comparison": ">", "threshold": 0});
    let answer = send(
        open_app(mocks),
        with_json("PUT", "/v1/endpoints/news/alarms/errors", body),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let a = answer.json();
    assert_eq!(a["name"], "errors");
    assert_eq!(a["state"], "INSUFFICIENT_DATA");
    assert_eq!(a["comparison"], ">");
    assert!(a["state_since"].is_string());
}

/// Bad definitions are `400`s naming the rule, and never reach the provider.
#[tokio::test]
async fn bad_alarms_are_400_naming_the_rule() {
    let cases = [
        (
            json!({"metric": "invocations", "comparison": ">", "threshold": 1, "period_seconds": 45}),
            "period_seconds 45",
        ),
        (
            json!({"metric": "invocations", "comparison": ">", "threshold": 1,
                   "evaluation_periods": 2, "datapoints_to_alarm": 3}),
            "datapoints_to_alarm",
        ),
        (
            json!({"metric": "invocations", "comparison": "=", "threshold": 1}),
            "comparison",
        ),
        (
            json!({"metric": "invocations", "comparison": ">", "threshold": 1,
                   "actions": ["https://example.com/hook"]}),
            "SNS topic ARN",
        ),
        (
            json!({"metric": "invocations", "comparison": ">", "threshold": 1, "extra": 1}),
            "extra",
        ),
    ];
    for (body, says) in cases {
        let answer = send(
            open_app(Mocks::default()),
            with_json("PUT", "/v1/endpoints/news/alarms/errors", body.clone()),
        )
        .await;
        let p = answer.problem(400, "invalid_argument");
        assert!(p["detail"].as_str().unwrap().contains(says), "{body}: {p}");
    }
    let answer = send(
        open_app(Mocks::default()),
        with_json(
            "PUT",
            "/v1/endpoints/news/alarms/not_valid",
            json!({"metric": "invocations", "comparison": ">", "threshold": 1}),
        ),
    )
    .await;
    answer.problem(400, "invalid_argument");
}

#[tokio::test]
async fn alarms_are_listed_read_and_deleted() {
    let mut mocks = Mocks::default();
    let definition = |name: &str| {
        mlm_core::AlarmDefinition::new(
            AlarmName::new(name).unwrap(),
            EndpointName::new("news").unwrap(),
            MetricKind::ModelLatency,
            Statistic::Average,
            Comparison::GreaterThanOrEqual,
            1e6,
            60,
        )
    };
    let listed = definition("latency");
    mocks.alarms.expect_list_alarms().returning(move |e, page| {
        assert_eq!(e.as_str(), "news");
        assert_eq!(page.page_size, Some(1));
        let mut a = alarm_from(listed.clone());
        a.transition(AlarmState::Alarm, "3 of 3 periods".into(), Utc::now());
        Ok(Page {
            items: vec![a],
            next_page_token: Some("0a".into()),
        })
    });
    mocks
        .alarms
        .expect_get_alarm()
        .returning(|_, n| Err(Error::not_found(ResourceKind::Alarm, n)));
    mocks
        .alarms
        .expect_delete_alarm()
        .times(1)
        .returning(|_, _| Ok(()));
    let app = open_app(mocks);
    let page = send(app.clone(), get("/v1/endpoints/news/alarms?limit=1")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.json();
    assert_eq!(page["items"][0]["state"], "ALARM");
    assert_eq!(page["items"][0]["metric"], "model_latency");
    assert_eq!(page["next_page_token"], "0a");
    let missing = send(app.clone(), get("/v1/endpoints/news/alarms/gone")).await;
    let p = missing.problem(404, "not_found");
    assert_eq!(p["resource_kind"], "alarm");
    let request = http::Request::delete("/v1/endpoints/news/alarms/latency")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app, request).await.status, 204);
}

fn deployment(id: &str) -> Deployment {
    let mut d = Deployment::start(
        id,
        EndpointName::new("news").unwrap(),
        DeploymentKind::Update,
        vec![],
        None,
        Utc::now(),
    );
    d.enter(DeploymentPhase::Shifting { percent: 10 }, Utc::now());
    d
}

/// Deployments read as flat objects (`phase` next to `id`), and stopping one answers `202`
/// with it rolling back.
#[tokio::test]
async fn deployments_are_listed_read_and_stopped() {
    let mut mocks = Mocks::default();
    mocks
        .deployments
        .expect_list_deployments()
        .returning(|_, _| {
            Ok(Page {
                items: vec![deployment("2")],
                next_page_token: None,
            })
        });
    mocks
        .deployments
        .expect_get_deployment()
        .returning(|_, id| Ok(deployment(id)));
    mocks
        .deployments
        .expect_stop_deployment()
        .times(1)
        .returning(|_, id| {
            let mut d = deployment(id);
            d.enter(
                DeploymentPhase::RollingBack {
                    reason: "stopped by a user".into(),
                    alarm: None,
                },
                Utc::now(),
            );
            Ok(d)
        });
    let app = open_app(mocks);
    let list = send(app.clone(), get("/v1/endpoints/news/deployments")).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let first = &list.json()["items"][0];
    assert_eq!(first["id"], "2");
    assert_eq!(first["phase"], "shifting");
    assert_eq!(first["percent"], 10);
    assert_eq!(first["timeline"][0]["phase"], "provisioning");
    let one = send(app.clone(), get("/v1/endpoints/news/deployments/2")).await;
    assert_eq!(one.json()["kind"], "update");
    let stop = http::Request::post("/v1/endpoints/news/deployments/2/stop")
        .body(axum::body::Body::empty())
        .unwrap();
    let stopped = send(app.clone(), stop).await;
    assert_eq!(stopped.status, 202, "{}", stopped.text());
    assert_eq!(stopped.json()["phase"], "rolling_back");
    assert_eq!(stopped.json()["reason"], "stopped by a user");
    let bad = send(app, get("/v1/endpoints/news/deployments/..")).await;
    assert!(bad.status == 400 || bad.status == 404, "{}", bad.status);
}

/// Filters reach the provider as an `EventQuery`; a recorded event is `201` with the core's
/// answer; a malformed kind, a non-object `data` or an unknown filter is a `400` before the
/// provider is called.
#[tokio::test]
async fn events_are_filtered_and_recorded() {
    let mut mocks = Mocks::default();
    mocks
        .events
        .expect_list_events()
        .times(1)
        .returning(|query, page| {
            assert_eq!(query.endpoint.as_str(), "news");
            assert_eq!(query.kind.as_deref(), Some("load_test"));
            assert_eq!(
                query.since.map(|t| t.to_rfc3339()).as_deref(),
                Some("2026-01-02T03:04:05+00:00")
            );
            assert_eq!(page.page_size, Some(5));
            Ok(Page {
                items: vec![],
                next_page_token: None,
            })
        });
    mocks
        .events
        .expect_record_event()
        .times(1)
        .returning(|endpoint, event| {
            assert_eq!(event.data, Some(json!({"p50_ms": 3.5})));
            Ok(mlm_core::EndpointEvent::recorded(
                "7".into(),
                endpoint.clone(),
                Utc::now(),
                mlm_core::EventSource::User,
                event,
            ))
        });
    let app = open_app(mocks);
    let uri = "/v1/endpoints/news/events?kind=load_test&since=2026-01-02T03:04:05Z&limit=5";
    let list = send(app.clone(), get(uri)).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let body = json!({"kind": "load_test", "message": "p50 3.5 ms", "data": {"p50_ms": 3.5}});
    let recorded = send(
        app.clone(),
        with_json("POST", "/v1/endpoints/news/events", body),
    )
    .await;
    assert_eq!(recorded.status, 201, "{}", recorded.text());
    assert_eq!(
        (
            recorded.json()["id"].as_str(),
            recorded.json()["source"].as_str()
        ),
        (Some("7"), Some("user"))
    );

    for body in [
        json!({"kind": "Load Test", "message": "x"}),
        json!({"kind": "load_test", "message": "x", "data": [1]}),
        json!({"kind": "load_test", "message": "x", "source": "system"}),
    ] {
        let bad = send(
            app.clone(),
            with_json("POST", "/v1/endpoints/news/events", body),
        )
        .await;
        bad.problem(400, "invalid_argument");
    }
    let unknown = send(app.clone(), get("/v1/endpoints/news/events?sinse=1h")).await;
    let problem = unknown.problem(400, "invalid_argument");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("kind, since, limit"),
        "{problem}"
    );
    let bad_time = send(app, get("/v1/endpoints/news/events?since=yesterday")).await;
    bad_time.problem(400, "invalid_argument");
}
