//! REST hot paths on the local backend, next to a minimal hyper "hello world", measured in the
//! same run with the same load generator on loopback.
//!
//! `cargo bench -p mlm-http --bench http` (add `-- --endpoints 100 --seconds 5 --concurrency 32`).
//! The endpoints' instances run this binary with `--serve-echo` (a tiny SageMaker-contract
//! server), so 100 endpoints cost little; the figures are about the API, not the model.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mlm_core::{
    CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, EndpointManager,
    EndpointManagerExt, EndpointName, ModelName, ModelRegistry, WaitOptions,
};
use mlm_http::{AppState, app};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};

/// A minimal hyper HTTP/1 server answering every request with a fixed body.
async fn serve_fixed(listener: tokio::net::TcpListener, body: &'static [u8]) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(body))))
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

struct Figures {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies[((self.latencies.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// GETs `url` with `concurrency` workers for `seconds` (bounded), keeping connections alive.
async fn load(url: String, concurrency: usize, seconds: u64) -> Figures {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                // Bounded in count as well as time.
                for _ in 0..1_000_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let t = Instant::now();
                    let request = hyper::Request::get(url.as_str())
                        .body(Empty::new())
                        .expect("request");
                    match client.request(request).await {
                        Ok(r) if r.status().is_success() => {
                            if r.into_body().collect().await.is_err() {
                                errors += 1;
                            }
                        }
                        _ => errors += 1,
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, errors)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.expect("worker");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Figures {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn bench() {
    let endpoints = arg("--endpoints", 100) as usize;
    let seconds = arg("--seconds", 5);
    let concurrency = arg("--concurrency", 32) as usize;
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agnews-classifier");
    let dir = tempfile::tempdir().expect("tempdir");
    let me = std::env::current_exe().expect("exe").display().to_string();
    let provider = LocalProvider::open(
        LocalConfig::in_dir(dir.path())
            .with_artifact_root(&root)
            .with_runtime("echo", RuntimeConfig::new(me, ["--serve-echo"])),
    )
    .await
    .expect("open");
    let model = ModelName::new("bench").expect("name");
    provider
        .create_model(CreateModelRequest::new(model.clone()))
        .await
        .expect("model");
    let version = provider
        .create_version(CreateVersionRequest::new(
            model,
            root.join("model").display().to_string(),
            "echo",
        ))
        .await
        .expect("version");
    let names: Vec<EndpointName> = (0..endpoints)
        .map(|i| EndpointName::new(format!("bench-{i:03}")).expect("name"))
        .collect();
    for name in &names {
        provider
            .create_endpoint(CreateEndpointRequest::single(
                name.clone(),
                version.reference(),
                "ml.m5.large",
                1,
            ))
            .await
            .expect("endpoint");
    }
    let wait = WaitOptions::with_timeout(Duration::from_secs(120))
        .with_intervals(Duration::from_millis(50), Duration::from_millis(500));
    for name in &names {
        provider.wait_until_ready(name, wait).await.expect("ready");
    }

    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_addr = api.local_addr().expect("addr");
    let state = AppState::new(Arc::new(provider.clone()));
    tokio::spawn(async move { axum::serve(api, app(state)).await });
    let hello = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hello_addr = hello.local_addr().expect("addr");
    tokio::spawn(serve_fixed(hello, b"hello world"));

    let targets = [
        ("hyper hello world", format!("http://{hello_addr}/")),
        (
            "GET /v1/endpoints/{e}",
            format!("http://{api_addr}/v1/endpoints/{}", names[0]),
        ),
        (
            "GET /v1/overview",
            format!("http://{api_addr}/v1/overview?limit=100"),
        ),
    ];
    println!(
        "\n{endpoints} endpoints x 1 instance, {concurrency} concurrent connections, {seconds} s per target"
    );
    println!(
        "  {:<24} {:>10} {:>9} {:>9} {:>7}",
        "target", "req/s", "p50 µs", "p99 µs", "errors"
    );
    for (label, url) in targets {
        load(url.clone(), concurrency, 1).await; // warm up
        let f = load(url, concurrency, seconds).await;
        println!(
            "  {:<24} {:>10.0} {:>9} {:>9} {:>7}",
            label,
            f.requests as f64 / f.elapsed.as_secs_f64(),
            f.percentile(0.5).as_micros(),
            f.percentile(0.99).as_micros(),
            f.errors
        );
    }
    provider.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().any(|a| a == "--serve-echo") {
        runtime.block_on(async {
            let port: u16 = std::env::var("SAGEMAKER_BIND_TO_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(8080);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            serve_fixed(listener, b"{}").await;
        });
        return;
    }
    runtime.block_on(bench());
}
