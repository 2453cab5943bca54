//! `GET /v1/endpoints/{e}/captures` over a mock provider: the query reaches the core call
//! as given, records come back in SageMaker's format, bad queries are 400s.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use mlm_core::{CaptureMode, CapturePayload, CaptureRecord, CapturedRecord, Page, VariantName};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn records_are_listed_for_the_window_asked() {
    let mut mocks = Mocks::default();
    mocks
        .captures
        .expect_list_captures()
        .times(1)
        .withf(|q, page| {
            q.endpoint.as_str() == "news"
                && q.start == at("2026-01-01T10:00:00Z")
                && q.end == at("2026-01-01T11:00:00Z")
                && q.variant.as_ref().map(VariantName::as_str) == Some("blue")
                && page.page_size == Some(5)
        })
        .returning(|_, _| {
            let record = CaptureRecord::new(
                Some(CapturePayload::new(CaptureMode::Input, "text/csv", b"1,2")),
                None,
                "e-1",
                at("2026-01-01T10:30:00Z"),
            );
            Ok(Page::last(vec![CapturedRecord::new(
                VariantName::new("blue").unwrap(),
                record,
            )]))
        });
    let app = open_app(mocks);
    let answer = send(
        app,
        get(
            "/v1/endpoints/news/captures?start=2026-01-01T10:00:00Z&end=2026-01-01T11:00:00Z\
             &variant=blue&limit=5",
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["items"][0]["variant"], "blue");
    let record = &json["items"][0]["record"];
    assert_eq!(record["captureData"]["endpointInput"]["encoding"], "CSV");
    assert_eq!(record["captureData"]["endpointInput"]["mode"], "INPUT");
    assert_eq!(record["eventMetadata"]["eventId"], "e-1");
    assert_eq!(record["eventVersion"], "0");
    assert!(json["next_page_token"].is_null());
}

#[tokio::test]
async fn bad_queries_are_400s() {
    let app = open_app(Mocks::default());
    for uri in [
        "/v1/endpoints/news/captures",
        "/v1/endpoints/news/captures?start=yesterday",
        "/v1/endpoints/news/captures?start=2026-01-01T10:00:00Z&end=2026-01-01T09:00:00Z",
        "/v1/endpoints/news/captures?start=2026-01-01T00:00:00Z&end=2026-01-09T00:00:00Z",
        "/v1/endpoints/news/captures?start=2026-01-01T10:00:00Z&variant=not%20valid",
        "/v1/endpoints/news/captures?start=2026-01-01T10:00:00Z&colour=red",
    ] {
        let answer = send(app.clone(), get(uri)).await;
        assert_eq!(answer.status, 400, "{uri}: {}", answer.text());
    }
}
