//! `mlm serve` without a configuration uses `LocalConfig::discover`, the rule
//! `mlm.Client.local()` uses too: started anywhere inside the checkout (here from `docs/`), it
//! registers the example runtime and the examples folder. (Python's side of the same case:
//! `test_default_config_finds_the_example_runtime`.)
#![cfg(all(unix, feature = "local"))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_from_a_subfolder_finds_the_example_runtime() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlm"))
        .current_dir(root.join("docs"))
        .env_remove("MLM_TOKENS")
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _running = Running(child);
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/v1/models"))
        .json(&serde_json::json!({ "name": "news" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let model_dir = root
        .join("examples/agnews-classifier/model")
        .canonicalize()
        .unwrap();
    let version = http
        .post(format!("{base}/v1/models/news/versions"))
        .json(&serde_json::json!({
            "artifact_uri": model_dir.display().to_string(),
            "image": "agnews-classifier",
        }))
        .send()
        .await
        .unwrap();
    let status = version.status();
    assert_eq!(status, 201, "{}", version.text().await.unwrap());
}
