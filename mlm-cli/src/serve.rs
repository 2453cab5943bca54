//! `mlm serve`: the REST server over a backend opened in this process.

use std::net::SocketAddr;

use mlm_http::config::{check_exposure, cleartext_token_warning};
use mlm_http::{AppState, SHUTDOWN_GRACE, app, server, shutdown_signal};

use crate::cli::{ConnectArgs, ProviderKind, ServeArgs};
use crate::connect::{FileConfig, open_backend, read_config};
use crate::failure::Failure;

/// What `[server]` and the flags say, checked before anything starts.
struct ServeSettings {
    addr: SocketAddr,
    auth: mlm_http::auth::Auth,
    limits: mlm_http::Limits,
    connections: server::ConnectionLimits,
    origins: mlm_http::origin::AllowedOrigins,
    tls: Option<mlm_http::tls::TlsIdentity>,
}

fn serve_settings(file: &FileConfig, args: &ServeArgs) -> Result<ServeSettings, Failure> {
    let config = |e: &dyn std::fmt::Display| Failure::usage(e.to_string());
    let server = &file.server;
    let auth = server
        .auth(|var| std::env::var(var).ok())
        .map_err(|e| config(&e))?;
    let addr = server.bind(args.bind);
    check_exposure(addr, &auth).map_err(|e| config(&e))?;
    let tls = server
        .tls(args.tls_cert.as_deref(), args.tls_key.as_deref())
        .map_err(|e| config(&e))?;
    if let Some(warning) = cleartext_token_warning(addr, &auth, tls.is_some()) {
        tracing::warn!(%addr, "{warning}");
        // Also when RUST_LOG hides warnings.
        eprintln!("mlm: WARNING: {warning}");
    }
    if !auth.is_enabled() {
        tracing::warn!(
            %addr,
            "no tokens configured: authentication is OFF and the server listens on loopback only \
             (set MLM_TOKENS=\"token:operator\" or [server] tokens to turn it on)"
        );
    }
    Ok(ServeSettings {
        addr,
        auth,
        limits: server.limits().map_err(|e| config(&e))?,
        connections: server
            .connection_limits(fd_limit())
            .map_err(|e| config(&e))?,
        origins: server.allowed_origins().map_err(|e| config(&e))?,
        tls,
    })
}

/// Serves until a shutdown signal.
pub(crate) async fn serve(args: ServeArgs, backend_args: &ConnectArgs) -> Result<(), Failure> {
    let file = read_config(backend_args.config.as_deref())?;
    let settings = serve_settings(&file, &args)?;
    let addr = settings.addr;
    let kind = backend_args.provider.unwrap_or(ProviderKind::Local);
    let backend = open_backend(kind, &file, backend_args.data_dir.clone()).await?;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            backend.shutdown().await;
            return Err(Failure::runtime(format!("cannot listen on {addr}: {e}")));
        }
    };
    let local = listener
        .local_addr()
        .map_err(|e| Failure::runtime(format!("cannot read the listening address: {e}")))?;
    let state = AppState::new(backend.provider.clone())
        .with_auth(settings.auth)
        .with_limits(settings.limits)
        .with_allowed_origins(settings.origins);
    let (tls, connections) = (settings.tls, settings.connections);
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{local}");
    tracing::info!(
        provider = backend.provider.name(),
        tls = tls.is_some(),
        max_connections = connections.max_connections,
        idle_timeout_secs = connections.idle_timeout.as_secs(),
        header_read_timeout_secs = connections.header_read_timeout.as_secs(),
        "listening on {scheme}://{local}"
    );
    backend.start_background_work();
    run_until_stopped(listener, state, connections, tls).await;
    backend.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves until a shutdown signal, then gives in-flight requests [`SHUTDOWN_GRACE`].
async fn run_until_stopped(
    listener: tokio::net::TcpListener,
    state: AppState,
    connections: server::ConnectionLimits,
    tls: Option<mlm_http::tls::TlsIdentity>,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let server: std::pin::Pin<Box<dyn Future<Output = ()>>> = match tls {
        Some(tls) => Box::pin(server::serve_tls(
            listener,
            app(state),
            connections,
            tls,
            signal,
        )),
        None => Box::pin(server::serve(listener, app(state), connections, signal)),
    };
    let mut stop = stop_rx;
    tokio::select! {
        () = server => {}
        () = async {
            let _ = stop.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping anyway");
        }
    }
}

/// The open-file limit the connection cap is derived from, raised to the hard limit first
/// where the system allows.
#[cfg(unix)]
fn fd_limit() -> u64 {
    match server::raise_fd_limit() {
        Ok(limit) => {
            tracing::info!(
                before = limit.before,
                soft = limit.soft,
                hard = limit.hard,
                "open-file limit"
            );
            limit.soft
        }
        Err(e) => {
            tracing::warn!("cannot read the open-file limit ({e}); assuming 1024");
            1024
        }
    }
}

/// Elsewhere the limit is not a process setting: assume the common 1024.
#[cfg(not(unix))]
fn fd_limit() -> u64 {
    1024
}
