//! The `mlm` command line as a person (or a script) uses it: the newcomer's flow against a
//! live `mlm serve` on the local backend, the same commands with the backend opened in the
//! command's own process, exit codes, `-o json` shapes against the REST API, and the help
//! text, completions and manual page.
#![cfg(all(unix, feature = "local"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SENTENCE: &str =
    r#"{"sentence": "Baseball is one of the most popular sports in the United States."}"#;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// `mlm` from the repository root (where the example model is), with no connection settings
/// from the environment.
fn mlm_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlm"));
    cmd.current_dir(repo_root())
        .env_remove("MLM_SERVER")
        .env_remove("MLM_TOKEN")
        .env_remove("MLM_TOKENS")
        .env_remove("RUST_LOG");
    cmd
}

/// How a run of `mlm` ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Exit code `code`, or a panic that shows what `mlm` printed.
    fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: not JSON:\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `mlm` with `connection` (`--server URL` or `--data-dir DIR`) and `args`.
fn mlm(connection: &[&str], args: &[&str]) -> Run {
    Run::of(mlm_command().args(connection).args(args).output().unwrap())
}

/// A temporary data directory for the local backend, and the flag that names it.
fn local_data_dir() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let flag = vec!["--data-dir".into(), dir.path().display().to_string()];
    (dir, flag)
}

/// `mlm serve` on a free loopback port over the local backend in `dir`: the process, its
/// URL and its logs.
fn serve_local(dir: &Path) -> (common::Running, String, std::thread::JoinHandle<String>) {
    let mut serve = mlm_command();
    serve
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir);
    common::start(serve)
}

/// Registers the example model `news` with version 1, approved.
fn register_example(c: &[&str]) {
    let model = mlm(c, &["models", "create", "news", "--description", "AG News"]).expect(0);
    assert!(model.stdout.contains("AG News"), "{}", model.stdout);
    let version = mlm(
        c,
        &[
            "versions",
            "create",
            "news",
            "--artifact",
            "examples/agnews-classifier/model",
            "--image",
            "agnews-classifier",
        ],
    )
    .expect(0);
    assert!(version.stdout.contains("pending"), "{}", version.stdout);
    let approved = mlm(c, &["versions", "approve", "news", "1", "-o", "json"]).expect(0);
    assert_eq!(approved.json()["approval"], "approved");
}

/// The issue's scripted newcomer: `mlm serve`, then register, deploy with 2 instances and
/// wait, invoke, scale, look, load-test, delete — all with `mlm`.
#[test]
fn newcomer_flow_through_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _logs) = serve_local(dir.path());
    let c: &[&str] = &["--server", &base];

    register_example(c);
    let created = mlm(
        c,
        &[
            "endpoints",
            "create",
            "news",
            "--model",
            "news",
            "--instance-count",
            "2",
            "--wait",
            "-o",
            "json",
        ],
    )
    .expect(0);
    let endpoint = created.json();
    assert_eq!(endpoint["status"], "InService", "{endpoint}");
    assert_eq!(endpoint["variants"][0]["current_instance_count"], 2);
    assert_eq!(endpoint["variants"][0]["model_version"]["version"], 1);
    assert!(
        created.stderr.contains("InService · 2/2 instances"),
        "{}",
        created.stderr
    );

    let answer = mlm(c, &["invoke", "news", "--data", SENTENCE]).expect(0);
    assert!(answer.stdout.contains("Sports"), "{}", answer.stdout);

    let scaled = mlm(c, &["endpoints", "scale", "news", "3", "--wait"]).expect(0);
    let row = scaled.stdout.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("InService") && row.contains("3/3"),
        "{}",
        scaled.stdout
    );

    check_views(c, &base);
    check_alarms_and_deployments(c, &base);
    let closed = check_load_tests(c);
    check_metrics(c, closed);
    check_errors(c);

    let deleted = mlm(c, &["endpoints", "delete", "news", "--wait"]).expect(0);
    assert!(deleted.stdout.contains("deleted endpoint 'news'"));
    mlm(c, &["endpoints", "get", "news"]).expect(3);
    mlm(c, &["versions", "delete", "news", "1"]).expect(0);
    mlm(c, &["models", "delete", "news"]).expect(0);
    let empty = mlm(c, &["models", "list", "-o", "json"]).expect(0);
    assert_eq!(empty.json()["items"], serde_json::json!([]));
}

/// Instances, overview and endpoints as tables and as the REST API's JSON.
fn check_views(c: &[&str], base: &str) {
    let table = mlm(c, &["instances", "news"]).expect(0);
    assert_eq!(table.stdout.lines().count(), 4, "{}", table.stdout);
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    let instances = mlm(c, &["instances", "news", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(instances["endpoint"], "news");
    assert_eq!(instances["items"].as_array().unwrap().len(), 3);

    let overview = mlm(c, &["overview"]).expect(0);
    let row = overview.stdout.lines().find(|l| l.starts_with("news"));
    assert!(
        row.is_some_and(|r| r.contains("3/3")),
        "{}",
        overview.stdout
    );
    let one = mlm(c, &["overview", "news", "-o", "json"]).expect(0).json();
    assert_eq!(one["instance_count"], 3);

    // `-o json` is the REST API's answer, field for field.
    let cli = mlm(c, &["endpoints", "get", "news", "-o", "json"])
        .expect(0)
        .json();
    let rest = rest_get(base, "/v1/endpoints/news");
    assert_eq!(cli, rest);
    let cli = mlm(c, &["models", "list", "-o", "json"]).expect(0).json();
    assert_eq!(cli, rest_get(base, "/v1/models"));
    let yaml = mlm(c, &["versions", "get", "news", "1", "-o", "yaml"]).expect(0);
    let yaml: Value = serde_norway::from_str(&yaml.stdout).unwrap();
    assert_eq!(yaml, rest_get(base, "/v1/models/news/versions/1"));
}

fn rest_get(base: &str, path: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// Alarms and deployments: put, read as the REST API does, delete; the endpoint's history.
fn check_alarms_and_deployments(c: &[&str], base: &str) {
    let put = mlm(
        c,
        &[
            "alarms",
            "put",
            "news",
            "errors",
            "--metric",
            "invocation_errors_5xx",
            "--comparison",
            ">",
            "--threshold",
            "0",
            "--period",
            "60",
        ],
    )
    .expect(0);
    assert!(
        put.stdout.contains("sum > 0 for 1/1 x 60s"),
        "{}",
        put.stdout
    );
    let listed = mlm(c, &["alarms", "list", "news", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(listed["items"][0]["name"], "errors", "{listed}");
    let cli = mlm(c, &["alarms", "get", "news", "errors", "-o", "json"])
        .expect(0)
        .json();
    // The same alarm as REST answers it; its first evaluation may land in between and change
    // only the reason.
    let mut rest = rest_get(base, "/v1/endpoints/news/alarms/errors");
    rest["state_reason"] = cli["state_reason"].clone();
    assert_eq!(cli, rest);
    mlm(c, &["alarms", "delete", "news", "errors"]).expect(0);
    mlm(c, &["alarms", "get", "news", "errors"]).expect(3);

    // Created, then scaled: newest first.
    let history = mlm(c, &["deployments", "list", "news", "-o", "json"])
        .expect(0)
        .json();
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["update", "create"], "{history}");
    let first = mlm(c, &["deployments", "get", "news", "1", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(first["phase"], "completed", "{first}");
    let ended = mlm(c, &["deployments", "stop", "news", "1"]).expect(4);
    assert!(ended.stderr.contains("nothing to stop"), "{}", ended.stderr);
    mlm(c, &["deployments", "get", "news", "99"]).expect(3);
}

/// The load tester's counts add up, closed loop and open loop; returns the closed loop's
/// request count.
fn check_load_tests(c: &[&str]) -> u64 {
    let closed = mlm(
        c,
        &[
            "load-test",
            "news",
            "--clients",
            "4",
            "--duration",
            "2s",
            "--data",
            SENTENCE,
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    let requests = closed["requests"].as_u64().unwrap();
    assert!(requests > 0, "{closed}");
    assert_eq!(closed["failed"], 0, "{closed}");
    assert_eq!(closed["succeeded"].as_u64(), Some(requests));
    assert_eq!(
        closed["outcomes"]["ok"].as_u64(),
        Some(requests),
        "{closed}"
    );
    assert_eq!(closed["clients"], 4);
    let l = &closed["latency_ms"];
    let figure = |k: &str| l[k].as_f64().unwrap();
    assert!(
        figure("p50") <= figure("p90") && figure("p90") <= figure("p99"),
        "{l}"
    );
    assert!(figure("p99") <= figure("max") && figure("min") > 0.0, "{l}");
    check_recorded_load_test(c, &closed);

    check_open_loop(c);
    requests
}

/// The closed loop's report is the newest `load_test` event of the endpoint, figures and all;
/// `mlm events` lists it for people too.
fn check_recorded_load_test(c: &[&str], report: &Value) {
    let events = mlm(c, &["events", "news", "--kind", "load_test", "-o", "json"])
        .expect(0)
        .json();
    let newest = &events["items"][0];
    assert_eq!(newest["source"], "user", "{events}");
    assert_eq!(&newest["data"], report, "{events}");
    let requests = report["requests"].as_u64().unwrap();
    let message = newest["message"].as_str().unwrap();
    assert!(message.starts_with("closed loop, 4 clients"), "{message}");
    assert!(
        message.contains(&format!("{requests} requests (0 failed)")),
        "{message}"
    );
    let table = mlm(c, &["events", "news", "--since", "1h"]).expect(0);
    assert!(
        table.stdout.contains("load_test") && table.stdout.contains("in_service"),
        "{}",
        table.stdout
    );
}

/// An open loop over rotated JSON Lines bodies sends exactly `--requests`.
fn check_open_loop(c: &[&str]) {
    let bodies = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        bodies.path(),
        format!("{SENTENCE}\n\n{{\"sentence\": \"Stocks fell.\"}}\n"),
    )
    .unwrap();
    let path = bodies.path().display().to_string();
    let open = mlm(
        c,
        &[
            "load-test",
            "news",
            "--rate",
            "200",
            "--requests",
            "50",
            "--bodies",
            &path,
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(open["requests"], 50, "{open}");
    assert_eq!(open["outcomes"]["ok"], 50, "{open}");
    assert_eq!(open["mode"], "open_loop");

    let table = mlm(
        c,
        &[
            "load-test",
            "news",
            "--requests",
            "5",
            "--warmup",
            "3",
            "--data",
            SENTENCE,
        ],
    )
    .expect(0);
    assert!(
        table.stdout.contains("5 (5 ok, 0 failed)"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("p99"), "{}", table.stdout);
}

/// The metrics count every request the flow sent: `closed` load-test requests, 50 + 5 more
/// load-test requests, 3 of warm-up (left out of the report, not of the traffic) and one
/// invocation.
fn check_metrics(c: &[&str], closed: u64) {
    let metrics = mlm(
        c,
        &[
            "metrics",
            "news",
            "--metric",
            "invocations",
            "--since",
            "10m",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    let counted: f64 = metrics["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .sum();
    let sent = (closed + 50 + 5 + 3 + 1) as f64;
    assert_eq!(counted, sent, "{metrics}");
}

/// Failures print a title and a hint to stderr and exit with their documented code.
fn check_errors(c: &[&str]) {
    let missing = mlm(c, &["endpoints", "get", "nope"]).expect(3);
    assert!(
        missing
            .stderr
            .contains("Not Found: endpoint 'nope' not found"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains("hint: `mlm endpoints list`"),
        "{}",
        missing.stderr
    );
    let taken = mlm(c, &["models", "create", "news"]).expect(4);
    assert!(taken.stderr.contains("already exists"), "{}", taken.stderr);
    let served = mlm(c, &["versions", "delete", "news", "1"]).expect(4);
    assert!(served.stderr.contains("news"), "{}", served.stderr);
    let bad_count = mlm(c, &["endpoints", "scale", "news", "0"]).expect(2);
    assert!(bad_count.stderr.contains("0"), "{}", bad_count.stderr);
    let unknown = mlm(c, &["endpoints", "deploy", "news", "news:9", "--no-wait"]).expect(3);
    assert!(
        unknown.stderr.contains("model version 'news/9' not found"),
        "{}",
        unknown.stderr
    );
    // Dashboards are CloudWatch's: the local backend says so.
    let dashboard = mlm(c, &["endpoints", "dashboard", "news"]).expect(1);
    assert!(
        dashboard.stderr.contains("no dashboards"),
        "{}",
        dashboard.stderr
    );
}

/// The same commands with the local backend opened by each command itself: the endpoint
/// comes back when the next command opens the data directory.
#[test]
fn the_local_backend_directly() {
    let (_dir, flag) = local_data_dir();
    let c: Vec<&str> = flag.iter().map(String::as_str).collect();
    register_example(&c);
    let created = mlm(
        &c,
        &[
            "endpoints",
            "create",
            "news",
            "--model",
            "news",
            "--version",
            "1",
            "--wait",
        ],
    )
    .expect(0);
    assert!(created.stdout.contains("InService"), "{}", created.stdout);
    let answer = mlm(&c, &["invoke", "news", "--data", SENTENCE]).expect(0);
    assert!(answer.stdout.contains("Sports"), "{}", answer.stdout);
    // An update waits for the endpoint to come back first (it reopens `SystemUpdating`).
    let scaled = mlm(
        &c,
        &["endpoints", "scale", "news", "2", "--wait", "-o", "json"],
    )
    .expect(0);
    assert_eq!(scaled.json()["variants"][0]["current_instance_count"], 2);
    // An update waits for the endpoint to come back first (it reopens `SystemUpdating`).
    let scaled = mlm(
        &c,
        &["endpoints", "scale", "news", "2", "--wait", "-o", "json"],
    )
    .expect(0);
    assert_eq!(scaled.json()["variants"][0]["current_instance_count"], 2);
    let load = mlm(
        &c,
        &[
            "load-test",
            "news",
            "--requests",
            "20",
            "--clients",
            "2",
            "--data",
            SENTENCE,
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(
        (load["requests"].as_u64(), load["failed"].as_u64()),
        (Some(20), Some(0))
    );
    let listed = mlm(&c, &["endpoints", "list", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(listed["items"][0]["name"], "news");
    assert_eq!(listed["next_page_token"], Value::Null);
    mlm(&c, &["endpoints", "delete", "news", "--wait"]).expect(0);
    let empty = mlm(&c, &["endpoints", "list"]).expect(0);
    assert_eq!(
        empty.stdout.lines().count(),
        1,
        "only the header: {}",
        empty.stdout
    );
}

/// Creates endpoint `news` of the example model with data capture at 100 %, from a body file
/// in `dir`.
fn create_capturing_endpoint(c: &[&str], dir: &Path) {
    let body = dir.join("endpoint.json");
    let json = serde_json::json!({
        "variants": [{
            "name": "primary",
            "model_version": {"model": "news", "version": 1},
            "instance_type": "ml.m5.large",
            "instance_count": 1
        }],
        "data_capture": {"destination_uri": "file:news-captures", "sampling_percent": 100}
    });
    std::fs::write(&body, json.to_string()).unwrap();
    let file = body.display().to_string();
    let args = ["endpoints", "create", "news", "--file", &file, "--wait"];
    let created = mlm(c, &args).expect(0);
    assert!(created.stdout.contains("InService"), "{}", created.stdout);
}

/// Sentences of the topics the model knows: the baseline's traffic.
const NEWS: [&str; 4] = [
    "Baseball is one of the most popular sports in the United States.",
    "The home team won the final match of the season.",
    "Stocks rallied as investors cheered strong quarterly earnings.",
    "The prime minister called for peace talks in the capital.",
];

/// Baselines from captured traffic, reports from the same traffic (no drift) and from a file
/// of unrelated inputs (drift, exit 1 with `--fail-on-drift`), bad input, delete.
fn check_drift(c: &[&str], dir: &Path) {
    for sentence in NEWS {
        let body = serde_json::json!({ "sentence": sentence }).to_string();
        mlm(c, &["invoke", "news", "--data", &body]).expect(0);
    }
    let create = [
        "drift",
        "baselines",
        "create",
        "news",
        "launch",
        "--since",
        "10m",
    ];
    let created = mlm(c, &create).expect(0);
    assert!(
        created.stdout.contains("Baseline:  launch"),
        "{}",
        created.stdout
    );
    mlm(c, &create).expect(4);
    let listed = mlm(c, &["drift", "baselines", "list", "news"]).expect(0);
    let row = listed.stdout.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..4], ["launch", "4", "1", "yes"], "{}", listed.stdout);
    let got = mlm(c, &["drift", "baselines", "get", "news", "launch"]).expect(0);
    assert!(
        got.stdout.contains("Samples:   4 (captured traffic"),
        "{}",
        got.stdout
    );
    let field = got.stdout.lines().find(|l| l.starts_with("sentence"));
    assert!(field.is_some_and(|l| l.contains("text")), "{}", got.stdout);

    let same = [
        "drift",
        "report",
        "news",
        "--baseline",
        "launch",
        "--since",
        "10m",
    ];
    let same = mlm(c, &[&same[..], &["--fail-on-drift"]].concat()).expect(0);
    assert!(!same.stdout.contains("DRIFTED"), "{}", same.stdout);
    assert!(
        same.stdout.ends_with("drift score 0.00 (no drift)\n"),
        "{}",
        same.stdout
    );

    let samples = dir.join("unrelated.jsonl");
    let unrelated = "{\"sentence\": \"Quantum chips and semiconductor lasers\"}\n\
                     {\"input\": {\"sentence\": \"Neural networks on graphics processors\"}}\n";
    std::fs::write(&samples, unrelated).unwrap();
    let file = samples.display().to_string();
    let report = [
        "drift",
        "report",
        "news",
        "--baseline",
        "launch",
        "--samples",
        &file,
    ];
    let drifted = mlm(c, &report).expect(0);
    assert!(drifted.stdout.contains("(drifted)"), "{}", drifted.stdout);
    let failed = mlm(c, &[&report[..], &["--fail-on-drift"]].concat()).expect(1);
    let row = failed.stdout.lines().find(|l| l.starts_with("sentence"));
    assert!(
        row.is_some_and(|r| r.ends_with("DRIFTED")),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stderr.contains("drifted from baseline 'launch'"),
        "{}",
        failed.stderr
    );
    let json = mlm(c, &[&report[..], &["-o", "json"]].concat())
        .expect(0)
        .json();
    assert!(json["drift_score"].as_f64().unwrap() > 1.0, "{json}");
    assert_eq!(json["drifted"], true);

    check_drift_usage(c, dir, &file);
    let deleted = mlm(c, &["drift", "baselines", "delete", "news", "launch"]).expect(0);
    assert!(
        deleted.stdout.contains("deleted baseline 'launch'"),
        "{}",
        deleted.stdout
    );
    let gone = mlm(c, &["drift", "baselines", "get", "news", "launch"]).expect(3);
    assert!(
        gone.stderr.contains("mlm drift baselines list"),
        "{}",
        gone.stderr
    );
}

/// Both a file and a window, a malformed file, a bad threshold: usage errors (exit code 2).
fn check_drift_usage(c: &[&str], dir: &Path, samples: &str) {
    let report = ["drift", "report", "news", "--baseline", "launch"];
    let both = [&report[..], &["--samples", samples, "--since", "1h"]].concat();
    let both = mlm(c, &both).expect(2);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
    mlm(c, &report).expect(2);
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"sentence\": \"fine\"}\n{\"sentence\": \n").unwrap();
    let bad = bad.display().to_string();
    let malformed = mlm(c, &[&report[..], &["--samples", &bad]].concat()).expect(2);
    assert!(
        malformed.stderr.contains("bad.jsonl: line 2: not JSON"),
        "{}",
        malformed.stderr
    );
    let threshold = [&report[..], &["--samples", samples, "--ks", "0"]].concat();
    mlm(c, &threshold).expect(2);
}

/// `mlm drift` through a server: `-o json` is the REST API's baseline.
#[test]
fn drift_through_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _logs) = serve_local(dir.path());
    let c: &[&str] = &["--server", &base];
    register_example(c);
    create_capturing_endpoint(c, dir.path());
    check_drift_rest_shape(c, &base, dir.path());
    check_drift(c, dir.path());
    mlm(c, &["endpoints", "delete", "news", "--wait"]).expect(0);
}

/// A baseline from a file, read back as `GET /v1/endpoints/news/baselines/{name}` answers.
fn check_drift_rest_shape(c: &[&str], base: &str, dir: &Path) {
    let samples = dir.join("sent.jsonl");
    std::fs::write(&samples, format!("{SENTENCE}\n")).unwrap();
    let file = samples.display().to_string();
    let args = [
        "drift",
        "baselines",
        "create",
        "news",
        "sent",
        "--samples",
        &file,
    ];
    mlm(c, &args).expect(0);
    let cli = mlm(
        c,
        &["drift", "baselines", "get", "news", "sent", "-o", "json"],
    )
    .expect(0)
    .json();
    assert_eq!(cli, rest_get(base, "/v1/endpoints/news/baselines/sent"));
    let yaml = mlm(c, &["drift", "baselines", "list", "news", "-o", "yaml"]).expect(0);
    let yaml: Value = serde_norway::from_str(&yaml.stdout).unwrap();
    assert_eq!(yaml, rest_get(base, "/v1/endpoints/news/baselines"));
    mlm(c, &["drift", "baselines", "delete", "news", "sent"]).expect(0);
}

/// `mlm pipelines` through a server: the example file (its smoke tests read beside it) takes
/// an approved version to staging; a promotion with `--wait` takes it to production.
#[test]
fn pipelines_through_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _logs) = serve_local(dir.path());
    let c: &[&str] = &["--server", &base];
    let file = "examples/agnews-classifier/pipeline.yml";
    mlm(c, &["models", "create", "news"]).expect(0);
    let plan = mlm(c, &["pipelines", "apply", file, "--dry-run"]).expect(0);
    assert!(plan.stdout.contains("dry run"), "{}", plan.stdout);
    mlm(c, &["pipelines", "get", "news"]).expect(3);
    let plan = mlm(c, &["pipelines", "apply", file, "-o", "json"]).expect(0);
    assert_eq!(plan.json()["action"], "created");
    register_example_version(c);
    let run = wait_for_run(c, "awaiting_promotion");
    assert_eq!(run["stages"][0]["state"], "succeeded", "{run}");
    let got = mlm(c, &["pipelines", "get", "news", "-o", "json"]).expect(0);
    assert_eq!(got.json(), rest_get(&base, "/v1/pipelines/news"));
    let table = mlm(c, &["pipelines", "get", "news"]).expect(0).stdout;
    assert!(
        table.contains("news-staging") && table.contains("v1"),
        "{table}"
    );
    let args = [
        "pipelines",
        "promote",
        "news",
        "--version",
        "1",
        "--stage",
        "production",
    ];
    let promoted = mlm(c, &[&args[..], &["--wait", "--timeout", "2m"]].concat()).expect(0);
    assert!(promoted.stdout.contains("succeeded"), "{}", promoted.stdout);
    assert!(promoted.stdout.contains("promoted"), "{}", promoted.stdout);
    let again = mlm(c, &args).expect(4);
    assert!(again.stderr.contains("succeeded"), "{}", again.stderr);
    let runs = mlm(c, &["pipelines", "runs", "news", "-o", "json"]).expect(0);
    assert_eq!(runs.json()["items"][0]["state"], "succeeded");
    mlm(c, &["pipelines", "cancel", "news", "1"]).expect(4);
    mlm(c, &["pipelines", "delete", "news"]).expect(0);
    for endpoint in ["news-staging", "news-prod"] {
        mlm(c, &["endpoints", "delete", endpoint, "--wait"]).expect(0);
    }
    let schema = mlm(&[], &["pipelines", "schema"]).expect(0).stdout;
    let checked_in = std::fs::read_to_string(repo_root().join("docs/pipeline.schema.json"));
    assert_eq!(schema, checked_in.unwrap());
}

/// Version 1 of `news`, registered and approved.
fn register_example_version(c: &[&str]) {
    let artifact = "examples/agnews-classifier/model";
    let args = ["versions", "create", "news", "--artifact", artifact];
    mlm(c, &[&args[..], &["--image", "agnews-classifier"]].concat()).expect(0);
    mlm(c, &["versions", "approve", "news", "1"]).expect(0);
}

/// Polls run v1 of `news` until it is in `state`.
fn wait_for_run(c: &[&str], state: &str) -> Value {
    for _ in 0..240 {
        let run = mlm(c, &["pipelines", "run", "news", "v1", "-o", "json"]);
        if run.code == Some(0) && run.json()["state"] == state {
            return run.json();
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("run v1 never reached {state}");
}

/// `mlm drift` with the local backend opened by each command: captures outlive the process.
#[test]
fn drift_on_the_local_backend_directly() {
    let (dir, flag) = local_data_dir();
    let c: Vec<&str> = flag.iter().map(String::as_str).collect();
    register_example(&c);
    create_capturing_endpoint(&c, dir.path());
    check_drift(&c, dir.path());
    mlm(&c, &["endpoints", "delete", "news", "--wait"]).expect(0);
}

/// Exit codes that need no endpoint: not found, usage, a server that is not there.
#[test]
fn exit_codes() {
    let (dir, flag) = local_data_dir();
    let c: Vec<&str> = flag.iter().map(String::as_str).collect();
    let missing = mlm(&c, &["models", "get", "nope"]).expect(3);
    assert!(
        missing.stderr.contains("hint: `mlm models list`"),
        "{}",
        missing.stderr
    );
    mlm(&c, &["versions", "list", "nope"]).expect(3);
    mlm(&c, &["models", "get", "not a name"]).expect(2);
    mlm(&c, &["endpoints", "scale", "news"]).expect(2);
    mlm(&c, &["models", "update", "nope"]).expect(2);
    mlm(&c, &["no-such-command"]).expect(2);

    let body = dir.path().join("bad.json");
    std::fs::write(&body, "{\"variants\": [], \"surprise\": 1}").unwrap();
    let file = body.display().to_string();
    let bad = mlm(
        &c,
        &["endpoints", "create", "news", "--file", &file, "--no-wait"],
    )
    .expect(2);
    assert!(bad.stderr.contains("surprise"), "{}", bad.stderr);

    let remote = mlm(
        &c,
        &[
            "load-test",
            "--url",
            "http://10.1.2.3/invocations",
            "-d",
            "{}",
        ],
    );
    let remote = remote.expect(2);
    assert!(
        remote.stderr.contains("not on this machine"),
        "{}",
        remote.stderr
    );

    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let down = mlm(&["--server", &url], &["models", "list"]).expect(1);
    assert!(
        down.stderr.contains("is `mlm serve` running there?"),
        "{}",
        down.stderr
    );
    let both = mlm(
        &["--server", &url],
        &["--data-dir", "/tmp/x", "models", "list"],
    )
    .expect(2);
    assert!(both.stderr.contains("choose one"), "{}", both.stderr);

    let token = dir.path().join("token");
    std::fs::write(&token, "never-printed-token\n").unwrap();
    let token = token.display().to_string();
    let with_token = mlm(
        &["--server", &url, "--token-file", &token],
        &["models", "list"],
    );
    assert!(
        !with_token.stderr.contains("never-printed-token"),
        "{}",
        with_token.stderr
    );

    let top = mlm(&c, &["top"]).expect(2);
    assert!(top.stderr.contains("needs a terminal"), "{}", top.stderr);
}

/// The help text is reviewed: a change to it fails here until `tests/snapshots/help.txt` is
/// updated (`UPDATE_SNAPSHOTS=1 cargo test -p mlm-cli --test cli help`).
#[test]
fn help_text_matches_the_snapshot() {
    let mut text = String::new();
    for args in [
        vec!["--help"],
        vec!["endpoints", "--help"],
        vec!["endpoints", "create", "--help"],
        vec!["load-test", "--help"],
        vec!["drift", "report", "--help"],
        vec!["pipelines", "--help"],
    ] {
        let run = mlm(&[], &args).expect(0);
        text.push_str(&format!("$ mlm {}\n{}\n", args.join(" "), run.stdout));
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == text,
        "`mlm --help` changed: review it, then run with UPDATE_SNAPSHOTS=1\n{text}"
    );
}

#[test]
fn completions_and_the_manual_page_generate() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef mlm"),
        ("fish", "complete -c mlm"),
    ] {
        let run = mlm(&[], &["completions", shell]).expect(0);
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("load-test"), "{shell}");
    }
    mlm(&[], &["completions", "tcsh"]).expect(2);
    let man = mlm(&[], &["man"]).expect(0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH mlm"),
        "{}",
        man.stdout
    );
    assert!(man.stdout.contains("endpoints"));
}

/// `mlm models push` (issue 14): the example model directory packed, uploaded and registered
/// through a server (the model created on the way) and on the local backend directly; the same
/// directory again gives the same digest and is not stored twice.
#[test]
fn push_a_model_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _logs) = serve_local(dir.path());
    let (_local_dir, local) = local_data_dir();
    let local: Vec<&str> = local.iter().map(String::as_str).collect();
    let push = [
        "models",
        "push",
        "examples/agnews-classifier/model",
        "--model",
        "news",
        "--image",
        "agnews-classifier",
        "--approval",
        "approved",
    ];
    let mut digests = Vec::new();
    for c in [&["--server", base.as_str()][..], &local[..]] {
        let first = mlm(c, &[&push[..], &["-o", "json"]].concat()).expect(0);
        // Not a terminal: progress is a line per tenth on stderr.
        assert!(first.stderr.contains("(100%)"), "{}", first.stderr);
        let first = first.json();
        assert_eq!(first["version"]["version"], 1, "{first}");
        assert_eq!(first["version"]["approval"], "approved", "{first}");
        assert_eq!(first["artifact"]["reused"], false, "{first}");
        assert_eq!(first["version"]["artifact_uri"], first["artifact"]["uri"]);
        digests.push(first["artifact"]["digest"].clone());
        let again = mlm(c, &push).expect(0);
        assert!(
            again.stdout.contains("already stored") && again.stdout.contains("sha256:"),
            "{}",
            again.stdout
        );
        let version = mlm(c, &["versions", "get", "news", "2", "-o", "json"]).expect(0);
        assert_eq!(version.json()["artifact_uri"], first["artifact"]["uri"]);
    }
    assert_eq!(
        digests[0], digests[1],
        "the same directory, the same archive"
    );
    let missing = [&push[..2], &["no/such/dir"], &push[3..]].concat();
    let refused = mlm(&local, &missing).expect(2);
    assert!(
        refused.stderr.contains("not a directory"),
        "{}",
        refused.stderr
    );
}
