//! The `mlm` binary end to end: `mlm openapi`, startup refusals, and `mlm serve` with no
//! configuration from the repository root running the quick-start flow (register, deploy,
//! invoke, observe, delete) through `HttpProvider`, then a graceful SIGTERM shutdown.
#![cfg(unix)]

mod common;

use std::path::PathBuf;
use std::process::Command;

const MLM: &str = env!("CARGO_BIN_EXE_mlm");

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

fn mlm() -> Command {
    let mut cmd = Command::new(MLM);
    cmd.current_dir(repo_root())
        .env_remove("MLM_TOKENS")
        .env("RUST_LOG", "info");
    cmd
}

#[test]
fn openapi_prints_the_spec() {
    let out = mlm().arg("openapi").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        mlm_http::openapi::openapi_pretty()
    );
}

#[cfg(not(feature = "aws"))]
#[test]
fn aws_needs_the_aws_feature() {
    let dir = tempfile::tempdir().unwrap();
    let out = mlm()
        .args([
            "serve",
            "--provider",
            "aws",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("built without the AWS backend") && err.contains("--features aws"),
        "{err}"
    );
}

#[test]
fn refuses_public_addresses_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let out = mlm()
        .args(["serve", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without authentication"), "{err}");
}

#[test]
fn bad_config_files_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mlm.toml");
    std::fs::write(&config, "[server]\nbnid = \"127.0.0.1:1\"\n").unwrap();
    let out = mlm()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bnid"), "{err}");
}

#[cfg(feature = "local")]
mod serve {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use mlm_client::HttpProvider;
    use mlm_core::{
        Approval, CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
        EndpointManagerExt, EndpointName, InvokeRequest, ModelName, ModelRegistry, Observability,
        VersionRef, WaitOptions,
    };

    use super::common::{Running, start};
    use super::mlm;

    fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mlm did not stop within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_without_config_runs_the_quick_start_and_stops_on_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = mlm();
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path());
        let (mut running, base, logs) = start(command);
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");

        let plain = reqwest::Client::new();
        let health = plain.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(health.headers().contains_key("x-request-id"));
        let ready = plain.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let docs = plain.get(format!("{base}/docs/")).send().await.unwrap();
        assert_eq!(docs.status(), 200);

        // The quick start, through the client.
        let mlm = HttpProvider::connect(&base, None).await.unwrap();
        assert_eq!(mlm.remote_name(), "local");
        let model = ModelName::new("news").unwrap();
        mlm.create_model(CreateModelRequest::new(model.clone()).with_description("AG News"))
            .await
            .unwrap();
        let version = mlm
            .create_version(
                CreateVersionRequest::new(
                    model.clone(),
                    "examples/agnews-classifier/model",
                    "agnews-classifier",
                )
                .with_approval(Approval::Approved),
            )
            .await
            .unwrap();
        assert_eq!(version.version, 1);
        let endpoint = EndpointName::new("news").unwrap();
        mlm.create_endpoint(CreateEndpointRequest::single(
            endpoint.clone(),
            VersionRef::new(model.clone(), 1),
            "ml.m5.large",
            1,
        ))
        .await
        .unwrap();
        let wait = WaitOptions::with_timeout(Duration::from_secs(90))
            .with_intervals(Duration::from_millis(100), Duration::from_millis(500));
        mlm.wait_until_ready(&endpoint, wait).await.unwrap();
        let answer = mlm
            .invoke(InvokeRequest::json(
                endpoint.clone(),
                &serde_json::json!({
                    "sentence": "Baseball is one of the most popular sports in the United States."
                }),
            ))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        assert!(text.contains("Sports"), "{text}");
        let overview = mlm.endpoint_overview(&endpoint).await.unwrap();
        assert_eq!(overview.instances.len(), 1);
        let instances: serde_json::Value = plain
            .get(format!("{base}/v1/endpoints/news/instances"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(instances["items"][0]["variant"], "primary");
        mlm.delete_endpoint(&endpoint).await.unwrap();
        mlm.wait_until_deleted(&endpoint, wait).await.unwrap();

        // SIGTERM: a clean stop with exit code 0.
        let child = running.0.as_mut().unwrap();
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = wait_for_exit(child, Duration::from_secs(60));
        running.0 = None;
        assert!(status.success(), "{status:?}");
        let logs = logs.join().unwrap();
        assert!(logs.contains("authentication is OFF"), "{logs}");
        assert!(logs.contains("agnews-classifier"), "{logs}");
        assert!(logs.contains("SIGTERM"), "{logs}");
        assert!(logs.contains("stopped"), "{logs}");
    }

    /// Defect A, as probed: under a 256-descriptor limit, 300 idle connections neither starve
    /// the process of descriptors nor keep `/healthz` from answering once the idle timeout
    /// frees connection slots.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_connections_under_a_small_fd_limit_do_not_starve_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("mlm.toml");
        std::fs::write(&config, "[server]\nidle_timeout_secs = 1\n").unwrap();
        // `ulimit -n` sets the hard limit too, so the server cannot raise it.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "ulimit -n 256 && exec \"$0\" \"$@\"",
                env!("CARGO_BIN_EXE_mlm"),
            ])
            .args(["serve", "--bind", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .current_dir(super::repo_root())
            .env_remove("MLM_TOKENS")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let mut running = Running(Some(child));
        let logs = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();

        let started = std::time::Instant::now();
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
        }
        let health = tokio::time::timeout(
            Duration::from_secs(30),
            reqwest::get(format!("http://{addr}/healthz")),
        )
        .await
        .expect("/healthz answered")
        .unwrap();
        assert_eq!(health.status(), 200);
        // Served once idle connections were closed (1 s after the first), not before.
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        drop(idle);

        let child = running.0.as_mut().unwrap();
        assert!(
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let status = wait_for_exit(child, Duration::from_secs(60));
        running.0 = None;
        assert!(status.success(), "{status:?}");
        let logs = logs.join().unwrap();
        assert!(logs.contains("open-file limit"), "{logs}");
        assert!(logs.contains("soft=256"), "{logs}");
        assert!(logs.contains("max_connections=128"), "{logs}");
        assert!(!logs.contains("cannot accept"), "{logs}");
        assert!(!logs.contains("Too many open files"), "{logs}");
    }
}
