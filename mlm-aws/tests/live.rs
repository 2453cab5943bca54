//! Live tier: the registry and read paths against real AWS. Opt-in with `MLM_TEST_AWS=1`
//! (uses the default credential chain and region; creates and deletes one model package
//! group, never an endpoint, so it costs nothing). The test is `#[ignore]`d, so every run lists
//! it as ignored with the reason; run it with
//! `MLM_TEST_AWS=1 cargo test -p mlm-aws --test live -- --ignored`.

use mlm_core::{
    CreateModelRequest, CreateVersionRequest, EndpointManager, ModelName, ModelRegistry,
    Observability, PageRequest,
};

fn require_opt_in() {
    assert_eq!(
        std::env::var("MLM_TEST_AWS").as_deref(),
        Ok("1"),
        "the live tier makes real AWS calls: set MLM_TEST_AWS=1 (plus AWS_REGION / AWS_PROFILE \
         as usual) to confirm"
    );
}

#[tokio::test]
#[ignore = "live AWS tier: MLM_TEST_AWS=1 cargo test -p mlm-aws --test live -- --ignored"]
async fn live_registry_round_trip_and_listing() {
    require_opt_in();
    let p = mlm_aws::AwsProviderBuilder::from_env()
        .build()
        .await
        .expect("AWS configuration");
    let name = ModelName::new(format!(
        "mlm-live-{}",
        chrono::Utc::now().timestamp_millis()
    ))
    .unwrap();
    p.create_model(CreateModelRequest::new(name.clone()).with_description("mlm live test"))
        .await
        .expect("create model package group");
    let result = async {
        let v = p
            .create_version(CreateVersionRequest::new(
                name.clone(),
                "s3://mlm-live-test/model.tar.gz",
                "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
            ))
            .await?;
        assert_eq!(v.version, 1);
        let got = p.get_version(&name, 1).await?;
        assert_eq!(got.artifact_uri, "s3://mlm-live-test/model.tar.gz");
        p.list_endpoints(PageRequest::first()).await?;
        p.list_overviews(PageRequest::first().with_page_size(10))
            .await?;
        p.delete_version(&name, 1).await
    }
    .await;
    p.delete_model(&name).await.expect("clean up the model");
    result.expect("live round trip");
}
