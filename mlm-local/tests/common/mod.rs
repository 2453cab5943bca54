//! Shared setup: a `LocalProvider` in a temporary data directory running the example AG_NEWS
//! classifier (`examples/agnews-classifier`) as its runtime, with real processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlm_core::WaitOptions;
use mlm_core::conformance::{Fixture, SampleInvocation};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};

pub const RUNTIME: &str = "agnews-classifier";
pub const SPORTS: &str = "Baseball is one of the most popular sports in the United States.";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

pub fn example_dir() -> PathBuf {
    repo_root().join("examples").join("agnews-classifier")
}

pub fn model_dir() -> PathBuf {
    example_dir().join("model")
}

/// The configuration tests use: the example runtime, artifacts from the example folder, fast
/// health checks and drains.
pub fn config(data_dir: &Path) -> LocalConfig {
    LocalConfig::in_dir(data_dir)
        .with_artifact_root(example_dir())
        .with_runtime(
            RUNTIME,
            RuntimeConfig::new(
                "python3",
                [
                    "-I".to_string(),
                    example_dir().join("serve.py").display().to_string(),
                ],
            ),
        )
        .with_health_interval(Duration::from_millis(200))
        .with_drain_timeout(Duration::from_secs(10))
        .with_startup_timeout(Duration::from_secs(30))
}

pub fn wait() -> WaitOptions {
    WaitOptions::with_timeout(Duration::from_secs(60))
        .with_intervals(Duration::from_millis(50), Duration::from_millis(300))
}

pub fn sample() -> SampleInvocation {
    SampleInvocation {
        content_type: "application/json".into(),
        body: serde_json::json!({ "sentence": SPORTS })
            .to_string()
            .into_bytes(),
        expected: "Sports".into(),
    }
}

/// A fresh provider in its own temporary data directory.
pub async fn provider() -> (tempfile::TempDir, LocalProvider) {
    let dir = tempfile::tempdir().expect("temp dir");
    let provider = LocalProvider::open(config(dir.path()))
        .await
        .expect("open the local provider");
    (dir, provider)
}

pub async fn fixture() -> Fixture {
    let (dir, provider) = provider().await;
    Fixture::new(
        Arc::new(provider),
        model_dir().display().to_string(),
        RUNTIME,
        ["ml.m5.large".to_string(), "ml.c5.xlarge".to_string()],
        sample(),
    )
    .with_wait(wait())
    .keep(dir)
}
