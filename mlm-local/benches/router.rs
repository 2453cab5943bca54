//! Router overhead: the same load sent straight to an instance and through
//! `LocalProvider::invoke`, in one run, with one load generator.
//!
//! `cargo bench -p mlm-local --bench router` (add `-- --requests 20000 --concurrency 16`).
//! For each upstream, a further comparison routes the load to two endpoints, one capturing
//! 100 % of its requests and responses (data capture), one not: the cost of capture.
//! Two upstreams: a minimal Rust echo server (this binary re-run with `--serve-echo`, so the
//! figures show the router's own cost) and the example AG_NEWS classifier (Python, what a
//! newcomer runs). Loopback only.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mlm_core::{
    CreateEndpointRequest, CreateModelRequest, CreateVersionRequest, DataCaptureConfig,
    EndpointManager, EndpointManagerExt, EndpointName, InvokeRequest, ModelName, ModelRegistry,
    Observability, WaitOptions,
};
use mlm_local::{LocalConfig, LocalProvider, RuntimeConfig};

const BODY: &str =
    r#"{"sentence": "Baseball is one of the most popular sports in the United States."}"#;

/// The echo runtime: answers /ping and echoes /invocations bodies.
async fn serve_echo() {
    let port: u16 = std::env::var("SAGEMAKER_BIND_TO_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Ok::<_, Infallible>(
                    hyper::Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(body))
                        .expect("response"),
                )
            });
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
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }

    fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `requests` calls of `call` with `concurrency` workers; latencies sorted.
async fn measure<F, Fut>(requests: usize, concurrency: usize, call: F) -> Figures
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let per_worker = requests / concurrency;
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker);
                let mut errors = 0;
                for _ in 0..per_worker {
                    let t = Instant::now();
                    if !call().await {
                        errors += 1;
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
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

async fn compare(name: &str, runtime: RuntimeConfig, requests: usize, concurrency: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (provider, endpoint) = serve_one_instance(dir.path(), runtime, None).await;
    let overview = provider
        .endpoint_overview(&endpoint)
        .await
        .expect("overview");
    let instance = &overview.instances[0].id;
    let port = instance_port(&provider, &endpoint);

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let url = format!("http://127.0.0.1:{port}/invocations");
    let direct_call = {
        let client = client.clone();
        move || {
            let client = client.clone();
            let request = hyper::Request::post(url.clone())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                .expect("request");
            async move {
                match client.request(request).await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        ok && r.into_body().collect().await.is_ok()
                    }
                    Err(_) => false,
                }
            }
        }
    };
    let routed = routed_call(&provider, &endpoint);
    let (direct, routed) = measure_both(requests, concurrency, direct_call, routed).await;
    println!(
        "\n{name} upstream (instance {instance}), {requests} requests, {concurrency} concurrent:"
    );
    print_comparison(("direct", &direct), ("router", &routed));
    provider.shutdown().await;
}

/// One call of the benchmark's body through `provider`'s router to `endpoint`.
fn routed_call(
    provider: &LocalProvider,
    endpoint: &EndpointName,
) -> impl Fn() -> futures::future::BoxFuture<'static, bool> + Clone + Send + Sync + 'static {
    let (provider, endpoint) = (provider.clone(), endpoint.clone());
    move || {
        let provider = provider.clone();
        let request = InvokeRequest::new(
            endpoint.clone(),
            "application/json",
            BODY.as_bytes().to_vec(),
        );
        Box::pin(async move { provider.invoke(request).await.is_ok() })
    }
}

/// Routed throughput with data capture at 100 % against capture off, same upstream.
async fn compare_capture(name: &str, runtime: RuntimeConfig, requests: usize, concurrency: usize) {
    let off_dir = tempfile::tempdir().expect("tempdir");
    let on_dir = tempfile::tempdir().expect("tempdir");
    let (off, off_endpoint) = serve_one_instance(off_dir.path(), runtime.clone(), None).await;
    let capture = DataCaptureConfig::new("file:bench", 100);
    let (on, on_endpoint) = serve_one_instance(on_dir.path(), runtime, Some(capture)).await;
    let (without, with) = measure_both(
        requests,
        concurrency,
        routed_call(&off, &off_endpoint),
        routed_call(&on, &on_endpoint),
    )
    .await;
    println!("\ndata capture, {name} upstream, {requests} requests, {concurrency} concurrent:");
    print_comparison(("off", &without), ("100 %", &with));
    off.shutdown().await;
    on.shutdown().await;
}

/// A provider in `dir` serving the example model with `runtime` on one instance, ready.
async fn serve_one_instance(
    dir: &std::path::Path,
    runtime: RuntimeConfig,
    capture: Option<DataCaptureConfig>,
) -> (LocalProvider, EndpointName) {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agnews-classifier");
    let config = LocalConfig::in_dir(dir)
        .with_artifact_root(&root)
        .with_runtime("bench", runtime);
    let provider = LocalProvider::open(config).await.expect("open");
    let model = ModelName::new("bench").expect("name");
    provider
        .create_model(CreateModelRequest::new(model.clone()))
        .await
        .expect("model");
    let version = provider
        .create_version(CreateVersionRequest::new(
            model,
            root.join("model").display().to_string(),
            "bench",
        ))
        .await
        .expect("version");
    let endpoint = EndpointName::new("bench").expect("name");
    let mut request =
        CreateEndpointRequest::single(endpoint.clone(), version.reference(), "ml.m5.large", 1);
    if let Some(capture) = capture {
        request = request.with_data_capture(capture);
    }
    provider.create_endpoint(request).await.expect("endpoint");
    provider
        .wait_until_ready(
            &endpoint,
            WaitOptions::with_timeout(Duration::from_secs(60))
                .with_intervals(Duration::from_millis(20), Duration::from_millis(200)),
        )
        .await
        .expect("ready");
    (provider, endpoint)
}

/// Warms both paths, then measures them back to back, twice, keeping the better run of each
/// so a background hiccup does not decide the comparison.
async fn measure_both<D, DFut, R, RFut>(
    requests: usize,
    concurrency: usize,
    direct_call: D,
    routed_call: R,
) -> (Figures, Figures)
where
    D: Fn() -> DFut + Clone + Send + Sync + 'static,
    DFut: Future<Output = bool> + Send,
    R: Fn() -> RFut + Clone + Send + Sync + 'static,
    RFut: Future<Output = bool> + Send,
{
    measure(200, concurrency, direct_call.clone()).await;
    measure(200, concurrency, routed_call.clone()).await;
    let mut direct = measure(requests, concurrency, direct_call.clone()).await;
    let mut routed = measure(requests, concurrency, routed_call.clone()).await;
    let direct2 = measure(requests, concurrency, direct_call).await;
    let routed2 = measure(requests, concurrency, routed_call).await;
    if direct2.throughput() > direct.throughput() {
        direct = direct2;
    }
    if routed2.throughput() > routed.throughput() {
        routed = routed2;
    }
    (direct, routed)
}

/// Prints both paths' figures and the second's overhead over the first.
fn print_comparison(first: (&str, &Figures), second: (&str, &Figures)) {
    let (direct, routed) = (first.1, second.1);
    println!(
        "  {:<8} {:>10} {:>10} {:>10} {:>7}",
        "path", "req/s", "p50 µs", "p99 µs", "errors"
    );
    for (label, f) in [first, second] {
        println!(
            "  {:<8} {:>10.0} {:>10} {:>10} {:>7}",
            label,
            f.throughput(),
            f.percentile(0.50).as_micros(),
            f.percentile(0.99).as_micros(),
            f.errors
        );
    }
    println!(
        "  {} overhead: p50 {:+} µs, p99 {:+} µs, throughput {:.1}% of {}",
        second.0,
        routed.percentile(0.50).as_micros() as i64 - direct.percentile(0.50).as_micros() as i64,
        routed.percentile(0.99).as_micros() as i64 - direct.percentile(0.99).as_micros() as i64,
        routed.throughput() / direct.throughput() * 100.0,
        first.0
    );
}

fn instance_port(provider: &LocalProvider, endpoint: &EndpointName) -> u16 {
    provider
        .instance_ports(endpoint)
        .first()
        .copied()
        .expect("one instance")
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().any(|a| a == "--serve-echo") {
        runtime.block_on(serve_echo());
        return;
    }
    let requests = arg("--requests", 20_000);
    let concurrency = arg("--concurrency", 16);
    let me = std::env::current_exe()
        .expect("current exe")
        .display()
        .to_string();
    let python = RuntimeConfig::new(
        "python3",
        [
            "-I".to_string(),
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/agnews-classifier/serve.py")
                .display()
                .to_string(),
        ],
    );
    runtime.block_on(async {
        let echo = RuntimeConfig::new(me, ["--serve-echo"]);
        compare("echo (Rust, hyper)", echo.clone(), requests, concurrency).await;
        compare_capture("echo (Rust, hyper)", echo, requests, concurrency).await;
        compare(
            "agnews-classifier (Python)",
            python.clone(),
            requests / 4,
            concurrency,
        )
        .await;
        compare_capture(
            "agnews-classifier (Python)",
            python,
            requests / 4,
            concurrency,
        )
        .await;
    });
}
