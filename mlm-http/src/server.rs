//! The accept loop `mlm serve` runs: HTTP/1.1 on hyper, with limits that keep idle and slow
//! clients from holding the process's file descriptors, and graceful shutdown; over TLS too
//! ([`serve_tls`], with a [`TlsIdentity`]).
//!
//! - **Idle timeout**: a connection with no request in progress and no bytes moving either way
//!   (just accepted, between keep-alive requests, or a client that stopped reading its
//!   response) is closed after [`ConnectionLimits::idle_timeout`]; a request body that stops
//!   arriving for as long fails with a `400`.
//! - **Header-read timeout**: once the first byte of a request has arrived, the whole head
//!   must arrive within [`ConnectionLimits::header_read_timeout`], however slowly it drips.
//! - **Connection cap**: at most [`ConnectionLimits::max_connections`] connections are open.
//!   At the cap the server stops accepting until one closes: newcomers wait in the kernel's
//!   listen backlog (holding no descriptor of ours) and are served in turn once the timeouts
//!   above free a slot, instead of being accepted just to be dropped.
//! - **TLS handshake timeout** ([`serve_tls`]): the handshake must finish within
//!   [`ConnectionLimits::header_read_timeout`] of the connection being accepted, so a client
//!   that connects and stalls cannot hold a slot for longer; a failed handshake (a plain-HTTP
//!   client, an untrusted certificate) just closes the connection. Shutdown abandons
//!   handshakes in progress. After the handshake the limits above apply to the decrypted
//!   stream.
//!
//! hyper's own `header_read_timeout` starts when the connection starts waiting for a request,
//! so it cannot tell an idle keep-alive connection from a slow head; the small watchdog here
//! does, with what the connection's socket and service see.
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> std::io::Result<()> {
//! use mlm_http::server::{ConnectionLimits, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, app, ConnectionLimits::default(), std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use crate::tls::TlsIdentity;

/// The default [`ConnectionLimits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`ConnectionLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most connections [`default_max_connections`] allows, whatever the descriptor limit:
/// each connection also holds buffers and a task.
pub const MAX_DEFAULT_CONNECTIONS: usize = 16_384;

/// How long connections may idle or dawdle, and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client has to send a whole request head once its first byte has arrived.
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in progress and no bytes moving,
    /// and how long a request body may stall.
    pub idle_timeout: Duration,
    /// Open connections at most; at the cap, the server stops accepting until one closes.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// The default timeouts, and [`default_max_connections`] of 1024 descriptors.
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: default_max_connections(1024),
        }
    }
}

/// The connection cap for a process that may open `fd_limit` files: half of them, so the
/// backend's instance processes, logs, database and outgoing sockets keep the other half;
/// at most [`MAX_DEFAULT_CONNECTIONS`], at least 1.
pub fn default_max_connections(fd_limit: u64) -> usize {
    usize::try_from(fd_limit / 2)
        .unwrap_or(usize::MAX)
        .clamp(1, MAX_DEFAULT_CONNECTIONS)
}

/// The open-file limit of the process, before and after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit found at start-up.
    pub before: u64,
    /// The soft limit in force now.
    pub soft: u64,
    /// The hard limit (the most the soft limit may be raised to).
    pub hard: u64,
}

/// Raises the soft open-file limit (`RLIMIT_NOFILE`) to the hard limit where the system
/// allows it, so the connection cap can be generous; a refusal keeps the current limit.
#[cfg(unix)]
pub fn raise_fd_limit() -> io::Result<FdLimit> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    let raised = soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok();
    Ok(FdLimit {
        before: soft,
        soft: if raised { hard } else { soft },
        hard,
    })
}

/// What one connection is doing, as far as its timeouts care.
#[derive(Debug)]
struct Activity {
    /// Requests whose handler has not answered yet.
    in_flight: usize,
    /// Since when no request has been in progress, or when the last byte went out since.
    quiet_since: Instant,
    /// When the first byte of the next request head arrived (no request in progress).
    head_since: Option<Instant>,
}

/// Shared by a connection's socket, its service and its watchdog.
#[derive(Debug)]
struct Tracker {
    activity: Mutex<Activity>,
    changed: Notify,
}

impl Tracker {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            activity: Mutex::new(Activity {
                in_flight: 0,
                quiet_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        })
    }

    fn update<T>(&self, f: impl FnOnce(&mut Activity) -> T) -> T {
        f(&mut self.activity.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn read(&self, bytes: usize) {
        let started = bytes > 0
            && self.update(|a| {
                let starts = a.in_flight == 0 && a.head_since.is_none();
                if starts {
                    a.head_since = Some(Instant::now());
                }
                starts
            });
        // The header-read deadline may come before the idle one the watchdog sleeps towards.
        if started {
            self.changed.notify_one();
        }
    }

    fn wrote(&self, bytes: usize) {
        if bytes > 0 {
            self.update(|a| {
                if a.in_flight == 0 {
                    let now = Instant::now();
                    a.quiet_since = now;
                    // A pipelined head waits for the response still going out: its clock
                    // starts once the server can read it.
                    if let Some(since) = a.head_since.as_mut() {
                        *since = now;
                    }
                }
            });
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.update(|a| {
            a.in_flight += 1;
            a.head_since = None;
        });
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the connection is to be closed and why; `None` while a request is in progress.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, &'static str)> {
        self.update(|a| match (a.in_flight, a.head_since) {
            (0, Some(since)) => Some((since + limits.header_read_timeout, "header-read")),
            (0, None) => Some((a.quiet_since + limits.idle_timeout, "idle")),
            _ => None,
        })
    }
}

/// A request in progress; dropping it (the handler answered) lets the idle clock run again.
struct InFlight(Arc<Tracker>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|a| {
            a.in_flight -= 1;
            a.quiet_since = Instant::now();
            a.head_since = None;
        });
        self.0.changed.notify_one();
    }
}

/// Ends when `tracker`'s connection has passed a deadline, saying which.
async fn watchdog(tracker: &Tracker, limits: &ConnectionLimits) -> &'static str {
    loop {
        match tracker.deadline(limits) {
            None => tracker.changed.notified().await,
            Some((at, why)) if at <= Instant::now() => return why,
            Some((at, _)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = tracker.changed.notified() => {}
                }
            }
        }
    }
}

/// A stream (the socket, or the TLS session over it) that tells its [`Tracker`] when bytes
/// move.
struct Tracked<S> {
    io: S,
    tracker: Arc<Tracker>,
}

impl<S> Tracked<S> {
    /// `polled`, a write's outcome, after telling the tracker the bytes it wrote.
    fn count_written(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = polled {
            self.tracker.wrote(n);
        }
        polled
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.tracker.read(buf.filled().len() - before);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, data);
        this.count_written(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, data);
        this.count_written(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves one connection until it ends, the watchdog closes it, or shutdown finishes it.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    watcher: Watcher,
    _slot: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tracker = Tracker::new();
    let io = TokioIo::new(Tracked {
        io: stream,
        tracker: tracker.clone(),
    });
    let requests = tracker.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = requests.request_started();
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            drop(in_flight);
            response
        }
    });
    let connection = watcher.watch(http1::Builder::new().serve_connection(io, service));
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        }
        why = watchdog(&tracker, &limits) => {
            tracing::debug!(%peer, "closing the connection: {why} timeout");
        }
    }
}

/// Completes the TLS handshake within the header-read timeout, then serves the connection;
/// shutdown (`stop` turning true) abandons a handshake in progress.
#[allow(clippy::too_many_arguments)]
async fn serve_tls_connection(
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    mut stop: watch::Receiver<bool>,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    watcher: Watcher,
    slot: OwnedSemaphorePermit,
) {
    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%peer, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "closing the connection: TLS handshake timeout");
                return;
            }
        },
        _ = stop.wait_for(|stopping| *stopping) => return,
    };
    serve_connection(stream, peer, app, limits, watcher, slot).await;
}

/// Whether an accept error concerns only the connection being accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting and waits for the open connections to finish their requests (idle ones close at
/// once). Bound the wait yourself if it must not take long (`mlm serve` gives it
/// [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE)).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, app, limits, None, shutdown).await;
}

/// [`serve`] over HTTPS: each accepted connection first completes a TLS handshake with
/// `tls` (within [`ConnectionLimits::header_read_timeout`]).
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: TlsIdentity,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, app, limits, Some(tls), shutdown).await;
}

async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<TlsIdentity>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(|tls| tls.acceptor());
    let (stopping, stop) = watch::channel(false);
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.idle_timeout));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "every connection slot is taken: new connections wait until one closes"
                );
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore stays open"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: back off instead of spinning.
                    tracing::error!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let watcher = graceful.watcher();
        match &acceptor {
            None => {
                tokio::spawn(serve_connection(
                    stream,
                    peer,
                    app.clone(),
                    limits,
                    watcher,
                    slot,
                ));
            }
            Some(acceptor) => {
                tokio::spawn(serve_tls_connection(
                    stream,
                    acceptor.clone(),
                    stop.clone(),
                    peer,
                    app.clone(),
                    limits,
                    watcher,
                    slot,
                ));
            }
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_half_the_descriptors() {
        assert_eq!(default_max_connections(256), 128);
        assert_eq!(default_max_connections(1), 1);
        assert_eq!(default_max_connections(u64::MAX), MAX_DEFAULT_CONNECTIONS);
    }
}
