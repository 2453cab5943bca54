//! `mlm_http::server::serve` over real loopback sockets: idle and slow connections are closed,
//! and the connection cap holds while the server keeps answering (defect A).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use mlm_http::server::{ConnectionLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves the app over mocks on 127.0.0.1 within `limits`.
async fn start(limits: ConnectionLimits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = open_app(Mocks::default());
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    addr
}

fn limits(header_read: u64, idle: u64, max: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(header_read),
        idle_timeout: Duration::from_secs(idle),
        max_connections: max,
    }
}

/// Reads until the server closes the connection (EOF or reset), within `limit`; returns what
/// was read and when the connection ended.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Instant) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server did not close the connection within {limit:?}; read {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return (seen, Instant::now()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let addr = start(limits(30, 1, 64)).await;
    // Never sends a byte.
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    let waited = closed - started;
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );

    // Kept alive after a request, then quiet.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(HEALTHZ).await.unwrap();
    let answered = Instant::now();
    let (seen, closed) = read_until_closed(&mut kept, Duration::from_secs(10)).await;
    assert!(
        seen.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    let waited = closed - answered;
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_never_ends_is_closed_after_the_header_read_timeout() {
    let addr = start(limits(1, 30, 64)).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // Drip a header byte every 100 ms: activity must not keep the head alive.
    let dripping = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    dripping.abort();
    assert!(ended.is_ok(), "the slow head was not cut off");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

/// With `max_connections` = 2 held by idle clients, a third is not served until the idle
/// timeout frees a slot, and then is; the server keeps answering afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_frees_with_the_idle_timeout() {
    let addr = start(limits(30, 2, 2)).await;
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(800), third.read(&mut buf)).await;
    assert!(early.is_err(), "answered past the cap: {early:?}");
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf))
        .await
        .expect("answered once the idle connections were closed")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    for mut stream in idle {
        read_until_closed(&mut stream, Duration::from_secs(1)).await;
    }
    // A slot is free again: answered at once.
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        reqwest::get(format!("http://{addr}/healthz")),
    )
    .await
    .expect("answered at once")
    .unwrap();
    assert_eq!(answer.status(), 200);
}

/// Shutdown stops accepting and lets the open connections go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        open_app(Mocks::default()),
        limits(30, 30, 8),
        async move {
            let _ = stopped.await;
        },
    ));
    let answer = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stopped")
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

/// Serves the app over TLS (a self-signed certificate for `localhost`) within `limits`,
/// stopping when `stop` fires; returns the address and the certificate (PEM).
async fn start_tls(
    limits: ConnectionLimits,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> (SocketAddr, String, tokio::task::JoinHandle<()>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let tls =
        mlm_http::tls::TlsIdentity::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(mlm_http::server::serve_tls(
        listener,
        open_app(Mocks::default()),
        limits,
        tls,
        async move {
            let _ = stop.await;
        },
    ));
    (addr, cert.pem(), server)
}

/// A client that connects and never starts (or finishes) the TLS handshake is closed after
/// the header-read timeout, well before the idle one, and its slot frees; a stalled
/// handshake does not hold up shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tls_handshakes_are_closed_after_the_header_read_timeout() {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let (addr, cert, server) = start_tls(limits(1, 30, 1), stopped).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    let waited = closed - started;
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "closed after {waited:?}"
    );

    // Half a handshake: a ClientHello record header, then nothing.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x80])
        .await
        .unwrap();
    let started = Instant::now();
    read_until_closed(&mut stalled, Duration::from_secs(10)).await;
    assert!(started.elapsed() >= Duration::from_millis(900));

    // The single slot is free again: an HTTPS request gets through.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://localhost:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    drop(client);

    // Shutdown with a handshake in progress ends promptly.
    let _pending = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_millis(800), server)
        .await
        .expect("the server stopped without waiting for the handshake")
        .unwrap();
}
