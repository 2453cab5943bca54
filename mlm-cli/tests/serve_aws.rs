//! `mlm serve --provider aws` against the AWS emulator (built with `--features aws`):
//! the binary picks up the standard AWS configuration and serves the SageMaker backend.
//! Run by the test command as `cargo test -p mlm-cli --features aws --test serve_aws`.
#![cfg(all(unix, feature = "aws"))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_emulator(dir: &std::path::Path) -> (Killed, u16) {
    let python = std::env::var("MLM_EMULATOR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "the AWS emulator needs {} (run scripts/test.sh, or set MLM_EMULATOR_PYTHON)",
        python.display()
    );
    let port_file = dir.join("port");
    let child = Command::new(&python)
        .args([
            "-m",
            "mlm_aws_emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--quiet",
        ])
        .arg("--port-file")
        .arg(&port_file)
        .current_dir(repo_root().join("testing/aws-emulator"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start the emulator");
    let child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            return (child, port);
        }
        assert!(Instant::now() < deadline, "the emulator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `mlm serve --provider aws` against the emulator on `port`, run in `dir` with `args` added:
/// the server (killed when dropped) and its base URL.
fn serve_aws(dir: &std::path::Path, port: u16, args: &[&str]) -> (Killed, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_mlm"))
        .args(["serve", "--provider", "aws", "--bind", "127.0.0.1:0"])
        .args(args)
        .current_dir(dir)
        .env_remove("MLM_TOKENS")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "MLM_SAGEMAKER_EXECUTION_ROLE_ARN",
            "arn:aws:iam::123456789012:role/mlm",
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("start mlm serve");
    let stdout = server.stdout.take().unwrap();
    let server = Killed(server);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_provider_aws_uses_the_standard_aws_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, port) = start_emulator(dir.path());
    let (server, base) = serve_aws(dir.path(), port, &[]);
    let client = mlm_client::HttpProvider::connect(base, None)
        .await
        .expect("connect");
    use mlm_core::{CreateModelRequest, ModelName, ModelRegistry, Provider};
    assert_eq!(client.remote_name(), "aws");
    let name = ModelName::new("served-from-aws").unwrap();
    client
        .create_model(CreateModelRequest::new(name.clone()).with_description("via mlm serve"))
        .await
        .expect("create a model package group through the server");
    let got = client.get_model(&name).await.unwrap();
    assert_eq!(got.description.as_deref(), Some("via mlm serve"));
    assert!(
        client.capabilities().serverless,
        "the AWS backend's capabilities are served"
    );
    drop(server);
}

/// The `[aws]` section reaches the provider's builder: a bad value or an unknown key stops
/// start-up (exit 2) naming the key, before any AWS call.
#[test]
fn the_aws_section_is_checked_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    for (section, named) in [
        ("[aws]\nmax_attempts = 0\n", "max_attempts"),
        ("[aws]\nsecret_access_key = \"x\"\n", "secret_access_key"),
        ("[aws]\nendpoint_url = \"ftp://x\"\n", "endpoint_url"),
        ("[aws]\npipelines_uri = \"ftp://x\"\n", "pipelines_uri"),
        ("[aws]\nartifacts_uri = \"ftp://x\"\n", "artifacts_uri"),
        ("[aws]\npipeline_poll_secs = 0\n", "pipeline_poll_secs"),
    ] {
        let config = dir.path().join("mlm.toml");
        std::fs::write(&config, section).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mlm"))
            .args([
                "serve",
                "--provider",
                "aws",
                "--bind",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config)
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{section}: {stderr}");
        assert!(
            stderr.contains("[aws]") && stderr.contains(named),
            "{section}: {stderr}"
        );
    }
}

/// Issue 13 on AWS: with `pipelines_uri`, `mlm serve` polls the registry, so a version
/// approved in it is deployed by the pipeline with no other call; the run's state is in S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_provider_aws_polls_the_registry_for_pipelines() {
    use mlm_core::pipeline::{ApplyPipelineRequest, PipelineSpec, Pipelines, RunState};
    use mlm_core::{
        Approval, CreateModelRequest, CreateVersionRequest, EndpointManager, EndpointName,
        ModelName, ModelRegistry, PipelineName,
    };
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, port) = start_emulator(dir.path());
    // moto takes an unsigned path-style PUT as CreateBucket.
    let bucket = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/mlm-state"))
        .send()
        .await
        .unwrap();
    assert!(bucket.status().is_success(), "{bucket:?}");
    let config = dir.path().join("mlm.toml");
    let section = "[aws]\npipelines_uri = \"s3://mlm-state/prod\"\npipeline_poll_secs = 0.5\n";
    std::fs::write(&config, section).unwrap();
    let (server, base) = serve_aws(dir.path(), port, &["--config", config.to_str().unwrap()]);
    let client = mlm_client::HttpProvider::connect(base, None).await.unwrap();
    let model = ModelName::new("news").unwrap();
    client
        .create_model(CreateModelRequest::new(model.clone()))
        .await
        .unwrap();
    let spec = PipelineSpec::parse(
        "pipeline: news\nmodel: news\nstages:\n  - name: staging\n    endpoint: news-staging\n    \
         variants: [{name: primary, instance_type: ml.m5.large}]\n    \
         smoke_test: {requests: [{body: {sentence: a}}]}\n",
    )
    .unwrap();
    client
        .apply_pipeline(ApplyPipelineRequest::new(spec))
        .await
        .unwrap();
    let version = CreateVersionRequest::new(model, "s3://models/news.tar.gz", "123.dkr.ecr/x:1")
        .with_approval(Approval::Approved);
    client.create_version(version).await.unwrap();
    let pipeline = PipelineName::new("news").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        match client.get_run(&pipeline, "v1").await {
            Ok(run) if run.state.is_terminal() => break run,
            _ if Instant::now() > deadline => panic!("no run finished in time"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    let staging = client
        .get_endpoint(&EndpointName::new("news-staging").unwrap())
        .await
        .unwrap();
    assert_eq!(
        staging.variants[0].model_version.as_ref().unwrap().version,
        1
    );
    drop(server);
}
