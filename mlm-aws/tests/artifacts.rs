//! Pushing a model directory on AWS, against the emulator (issue 14): an archive larger than
//! one part uploads in parts with progress, lands in S3 byte for byte under its digest, and is
//! not uploaded again; without a place for artifacts a push is refused before anything is
//! sent.

mod common;

use std::sync::{Arc, Mutex};

use common::{Account, IMAGE};
use mlm_core::archive::{PushRequest, push_version};
use mlm_core::{CreateVersionRequest, ErrorKind, ModelName, ModelRegistry, UploadOptions};
use sha2::{Digest, Sha256};

const MIB: u64 = 1024 * 1024;

/// A model directory of about 11 MiB that does not compress: three parts of 5 MiB.
fn big_model_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = vec![0u8; (11 * MIB) as usize];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    std::fs::write(dir.path().join("weights.bin"), bytes).unwrap();
    std::fs::write(dir.path().join("config.json"), b"{\"layers\": 2}").unwrap();
    dir
}

fn request(dir: &std::path::Path) -> PushRequest {
    let model = ModelName::new("news").unwrap();
    PushRequest::new(dir, CreateVersionRequest::new(model, "", IMAGE))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_archive_uploads_in_parts_with_progress_once() {
    let account = Account::new();
    let place = account
        .capture_destination()
        .await
        .replace("/captures", "/models");
    let provider = account
        .builder()
        .with_artifacts_uri(&place)
        .with_upload_part_bytes(5 * MIB)
        .build()
        .await
        .unwrap();
    let dir = big_model_dir();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let progress =
        Arc::new(move |sent: u64, total: u64| record.lock().unwrap().push((sent, total)));
    let pushed = push_version(
        &provider,
        request(dir.path()).with_options(UploadOptions::default().with_progress(progress)),
    )
    .await
    .unwrap();
    assert_eq!(pushed.artifact.parts, 3, "{pushed:?}");
    assert!(!pushed.artifact.reused && pushed.model_created);
    let hex = pushed.artifact.digest.strip_prefix("sha256:").unwrap();
    let bucket_and_key = pushed.artifact.uri.strip_prefix("s3://").unwrap();
    let (bucket, key) = bucket_and_key.split_once('/').unwrap();
    assert_eq!(key, format!("models/news/sha256-{hex}/model.tar.gz"));
    assert_eq!(pushed.version.artifact_uri, pushed.artifact.uri);
    assert_eq!(
        pushed.version.artifact_digest.as_ref(),
        Some(&pushed.artifact.digest)
    );

    // Progress: once per part, growing, ending at the whole archive.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert_eq!(
        seen.last().copied(),
        Some((pushed.artifact.bytes, pushed.artifact.bytes))
    );

    // The object is the archive, byte for byte.
    let object = account
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len() as u64, pushed.artifact.bytes);
    let digest: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, hex);

    // Again: the same digest, nothing sent, the next version.
    let again = push_version(&provider, request(dir.path())).await.unwrap();
    assert!(
        again.artifact.reused && again.version.version == 2,
        "{again:?}"
    );
    assert_eq!(again.artifact.digest, pushed.artifact.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_place_for_artifacts_a_push_is_refused_and_leaves_no_model() {
    let account = Account::new();
    let provider = account.provider().await;
    let dir = big_model_dir();
    let refused = push_version(&provider, request(dir.path()))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidArgument, "{refused}");
    assert!(refused.message().contains("artifacts_uri"), "{refused}");
    // A bucket that does not exist: S3's answer, and no model is left behind.
    let elsewhere = UploadOptions::default().with_destination("s3://mlm-no-such-bucket/models");
    let missing = request(dir.path()).with_options(elsewhere);
    let failed = push_version(&provider, missing).await.unwrap_err();
    assert_ne!(failed.kind(), ErrorKind::InvalidArgument, "{failed}");
    let model = ModelName::new("news").unwrap();
    assert_eq!(
        provider.get_model(&model).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
