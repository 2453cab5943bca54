//! `HttpProvider` against the real server on a loopback socket, over mocks: values cross the
//! wire unchanged and every error comes back as the same core error.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mlm_client::HttpProvider;
use mlm_core::{
    Capabilities, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
    EndpointName, Error, ErrorKind, InvokeRequest, InvokeResponse, MetricKind, MetricQuery,
    MetricScope, MetricSeries, ModelName, ModelRegistry, Observability, Page, PageRequest,
    Provider, ResourceKind, Statistic, UpdateEndpointRequest, UpdateVersionRequest, VariantChange,
    VariantName, VersionRef,
};
use mlm_http::{AppState, Auth, app};

/// Serves `mocks` on 127.0.0.1:0 and returns the base URL.
async fn serve(mocks: Mocks, auth: Auth) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(AppState::new(Arc::new(mocks)).with_auth(auth));
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}/")
}

fn error_of(kind: ErrorKind) -> Error {
    match kind {
        ErrorKind::NotFound => Error::not_found(ResourceKind::ModelVersion, "m/7"),
        ErrorKind::AlreadyExists => Error::already_exists(ResourceKind::Endpoint, "prod"),
        ErrorKind::InvalidArgument => Error::invalid("instance_count 0 must be 1-100"),
        ErrorKind::FailedPrecondition => {
            Error::failed_precondition("version m/1 is served by endpoint 'e'")
        }
        ErrorKind::Conflict => Error::conflict("lost a race"),
        ErrorKind::PermissionDenied => Error::permission_denied("no"),
        ErrorKind::Unauthenticated => Error::unauthenticated("expired"),
        ErrorKind::Throttled => Error::throttled("slow down", Some(Duration::from_secs(7))),
        ErrorKind::Timeout => Error::timeout("too slow"),
        ErrorKind::Unsupported => Error::unsupported("serverless variants"),
        ErrorKind::RolledBack => Error::RolledBack("alarm 'errors' fired".into()),
        ErrorKind::DeploymentFailed => Error::DeploymentFailed("never healthy".into()),
        ErrorKind::Provider => Error::provider_msg("internal detail", true),
        other => panic!("unmapped kind {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_kind_survives_the_round_trip() {
    let mut mocks = Mocks::default();
    let kinds = std::sync::Mutex::new(ErrorKind::ALL.to_vec().into_iter());
    mocks.models.expect_get_version().returning(move |_, _| {
        let kind = kinds.lock().unwrap().next().unwrap();
        Err(error_of(kind))
    });
    let base = serve(mocks, Auth::disabled()).await;
    let client = HttpProvider::new(&base, None).unwrap();
    let m = ModelName::new("m").unwrap();
    for kind in ErrorKind::ALL {
        let original = error_of(kind);
        let got = client.get_version(&m, 7).await.unwrap_err();
        assert_eq!(got.kind(), kind, "{got:?}");
        match kind {
            ErrorKind::Provider => {
                assert!(got.is_retryable());
                assert!(!got.to_string().contains("internal detail"));
                assert!(got.to_string().contains("request id"), "{got}");
            }
            _ => assert_eq!(got.to_string(), original.to_string()),
        }
        if let Error::Throttled { retry_after, .. } = got {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_cross_the_wire_unchanged() {
    let mut mocks = Mocks {
        caps: Capabilities::ALL,
        ..Mocks::default()
    };
    mocks
        .models
        .expect_create_model()
        .withf(|r| r.description.as_deref() == Some("d") && r.tags.len() == 1)
        .returning(|r| Ok(model(r.name.as_str())));
    mocks
        .models
        .expect_get_model()
        .returning(|n| Ok(model(n.as_str())));
    mocks.models.expect_list_models().returning(|p| {
        assert_eq!(p.page_size, Some(2));
        Ok(Page {
            items: vec![model("a"), model("b")],
            next_page_token: Some("tok".into()),
        })
    });
    mocks
        .models
        .expect_create_version()
        .withf(|r| r.approval == mlm_core::Approval::Approved && r.environment.len() == 1)
        .returning(|r| Ok(version(r.model.as_str(), 1)));
    mocks
        .models
        .expect_update_version()
        .withf(|_, _, r| r.description.as_deref() == Some(""))
        .returning(|m, v, _| Ok(version(m.as_str(), v)));
    mocks.models.expect_delete_model().returning(|_| Ok(()));
    mocks
        .endpoints
        .expect_create_endpoint()
        .withf(|r| r.variants[0].instance_count == 3 && r.tags.len() == 1)
        .returning(|r| Ok(endpoint(r.name.as_str(), &["primary"])));
    mocks
        .endpoints
        .expect_get_endpoint()
        .returning(|n| Ok(endpoint(n.as_str(), &["blue", "green"])));
    mocks
        .endpoints
        .expect_update_endpoint()
        .withf(|r| r.changes.len() == 1 && r.changes[0].weight == Some(0.25))
        .returning(|r| Ok(endpoint(r.name.as_str(), &["primary"])));
    mocks
        .endpoints
        .expect_delete_endpoint()
        .returning(|_| Ok(()));
    mocks.endpoints.expect_invoke().returning(|r| {
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.target_variant.as_ref().map(|v| v.as_str()), Some("blue"));
        Ok(InvokeResponse::new(
            b"{\"label\":\"Sports\"}".to_vec(),
            "application/json",
            Some(VariantName::new("blue").unwrap()),
        ))
    });
    mocks
        .observe
        .expect_endpoint_overview()
        .returning(|n| Ok(overview(n.as_str())));
    mocks
        .observe
        .expect_list_overviews()
        .returning(|_| Ok(Page::last(vec![overview("a")])));
    mocks.observe.expect_query_metrics().returning(|q| {
        let mut s = MetricSeries::empty(
            q.kinds[0],
            q.statistic_for(q.kinds[0]),
            MetricScope::VariantAggregate,
        );
        s.variant = Some(VariantName::new("blue").unwrap());
        s.points = vec![mlm_core::DataPoint {
            timestamp: q.start,
            value: 1.5,
        }];
        Ok(vec![s])
    });
    let base = serve(mocks, Auth::disabled()).await;
    let client = HttpProvider::connect(&base, None).await.unwrap();
    assert_eq!(client.capabilities(), Capabilities::ALL);
    assert_eq!(client.remote_name(), "mock");
    assert_eq!(client.name(), "http");

    let m = ModelName::new("m").unwrap();
    let created = client
        .create_model(
            CreateModelRequest::new(m.clone())
                .with_description("d")
                .with_tag("team", "ml"),
        )
        .await
        .unwrap();
    assert_eq!(created, model("m"));
    assert_eq!(client.get_model(&m).await.unwrap(), model("m"));
    let page = client
        .list_models(PageRequest::first().with_page_size(2))
        .await
        .unwrap();
    assert_eq!(page.items, vec![model("a"), model("b")]);
    assert_eq!(page.next_page_token.as_deref(), Some("tok"));
    let v = client
        .create_version(
            CreateVersionRequest::new(m.clone(), "s3://b/k", "img")
                .with_env("A", "1")
                .with_approval(mlm_core::Approval::Approved),
        )
        .await
        .unwrap();
    assert_eq!(v, version("m", 1));
    let v = client
        .update_version(&m, 4, UpdateVersionRequest::new().with_description(""))
        .await
        .unwrap();
    assert_eq!(v, version("m", 4));
    client.delete_model(&m).await.unwrap();

    let e = EndpointName::new("e").unwrap();
    let created = client
        .create_endpoint(
            CreateEndpointRequest::single(
                e.clone(),
                VersionRef::new(m.clone(), 1),
                "ml.m5.large",
                3,
            )
            .with_tag("team", "ml"),
        )
        .await
        .unwrap();
    assert_eq!(created, endpoint("e", &["primary"]));
    assert_eq!(
        client.get_endpoint(&e).await.unwrap(),
        endpoint("e", &["blue", "green"])
    );
    client
        .update_endpoint(
            UpdateEndpointRequest::new(e.clone()).with_change(
                VariantChange::new(VariantName::new("blue").unwrap()).with_weight(0.25),
            ),
        )
        .await
        .unwrap();
    let answer = client
        .invoke(
            InvokeRequest::json(e.clone(), &serde_json::json!({"sentence": "x"}))
                .with_target_variant(VariantName::new("blue").unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(answer.json().unwrap()["label"], "Sports");
    assert_eq!(answer.variant.unwrap().as_str(), "blue");
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(client.endpoint_overview(&e).await.unwrap(), overview("e"));
    assert_eq!(
        client
            .list_overviews(PageRequest::first())
            .await
            .unwrap()
            .items,
        vec![overview("a")]
    );
    let q = MetricQuery::last(
        e.clone(),
        vec![MetricKind::Invocations],
        Duration::from_secs(600),
        30,
    )
    .with_statistic(Statistic::Sum)
    .with_variant(VariantName::new("blue").unwrap());
    let series = client.query_metrics(q.clone()).await.unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].kind, MetricKind::Invocations);
    assert_eq!(series[0].statistic, Statistic::Sum);
    assert_eq!(series[0].points[0].value, 1.5);
    assert_eq!(series[0].points[0].timestamp, q.start);
    client.delete_endpoint(&e).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_sent_and_checked() {
    let mut mocks = Mocks::default();
    mocks
        .models
        .expect_list_models()
        .returning(|_| Ok(Page::last(vec![])));
    let tokens = mlm_http::auth::parse_token_list(&format!("{READER}:reader")).unwrap();
    let base = serve(mocks, Auth::new(tokens)).await;
    let anonymous = HttpProvider::new(&base, None).unwrap();
    let err = anonymous
        .list_models(PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    let reader = HttpProvider::new(&base, Some(READER.into())).unwrap();
    reader.list_models(PageRequest::first()).await.unwrap();
    let err = reader
        .create_model(CreateModelRequest::new(ModelName::new("m").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_provider_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = HttpProvider::new(format!("http://{addr}"), None).unwrap();
    let err = client
        .get_model(&ModelName::new("m").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Provider, "{err}");
    assert!(err.is_retryable());
    assert!(HttpProvider::new("ftp://x", None).is_err());
}

/// Defect E: a retryable provider error crosses the wire as `503 unavailable` with
/// `Retry-After`, and `HttpProvider` turns it back into a retryable provider error; one that
/// retrying will not fix stays a `502` and comes back as final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_provider_errors_are_503_and_come_back_retryable() {
    let mut mocks = Mocks::default();
    let retryable = std::sync::Mutex::new([true, true, false].into_iter());
    mocks.endpoints.expect_invoke().returning(move |_| {
        let retryable = retryable.lock().unwrap().next().unwrap();
        Err(Error::provider_msg("no healthy instance", retryable))
    });
    let base = serve(mocks, Auth::disabled()).await;
    let raw = reqwest::Client::new()
        .post(format!("{base}v1/endpoints/e/invocations"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 503);
    assert_eq!(raw.headers()["retry-after"], "1");
    let client = HttpProvider::new(&base, None).unwrap();
    let call = || {
        client.invoke(InvokeRequest::new(
            EndpointName::new("e").unwrap(),
            "text/plain",
            b"x".to_vec(),
        ))
    };
    let err = call().await.unwrap_err();
    assert_eq!(provider_retryable(&err), Some(true), "{err:?}");
    let err = call().await.unwrap_err();
    assert_eq!(provider_retryable(&err), Some(false), "{err:?}");
}

/// Whether a provider error may be retried (`None` for other errors).
fn provider_retryable(err: &Error) -> Option<bool> {
    match err {
        Error::Provider { retryable, .. } => Some(*retryable),
        _ => None,
    }
}
