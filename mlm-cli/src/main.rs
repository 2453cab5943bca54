//! `mlm`: serves the mlm REST API over a backend, or prints its OpenAPI document.
//!
//! ```text
//! mlm serve [--config mlm.toml] [--bind 127.0.0.1:8080] [--provider local|aws] [--data-dir DIR]
//!           [--tls-cert cert.pem --tls-key key.pem]
//! mlm openapi > docs/openapi.json
//! ```
//!
//! Exit codes: 0 after a clean shutdown, 1 when the server fails at run time, 2 for usage and
//! configuration errors (including an unavailable provider).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use mlm_core::Provider;
use mlm_http::config::{ServerConfig, check_exposure, cleartext_token_warning};
use mlm_http::{AppState, SHUTDOWN_GRACE, app, server, shutdown_signal};
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// Model lifecycle management: the REST server.
#[derive(Debug, Parser)]
#[command(name = "mlm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the REST API (OpenAPI at /openapi.json, Swagger UI at /docs).
    Serve(ServeArgs),
    /// Print the OpenAPI 3.1 document.
    Openapi,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML) with `[server]` and `[local]` sections.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `bind` of `[server]`; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first; overrides
    /// `tls_cert` of `[server]`). Needs a key too.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of the HTTPS certificate (overrides `tls_key` of `[server]`).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The backend.
    #[arg(long, value_enum, default_value_t = ProviderKind::Local)]
    provider: ProviderKind,
    /// Where the local backend keeps its state (overrides `data_dir` of `[local]`; default .mlm).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProviderKind {
    /// The embedded backend: local processes, SQLite state.
    Local,
    /// AWS SageMaker.
    Aws,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerConfig,
    /// `mlm_local::LocalConfig`, checked when the local provider is chosen.
    #[serde(default)]
    local: Option<toml::Value>,
    /// `mlm_aws::AwsConfig`, checked when the AWS provider is chosen.
    #[serde(default)]
    aws: Option<toml::Value>,
}

/// Why `mlm` stopped, with the exit code it stops with.
#[derive(Debug)]
enum Failure {
    /// Usage or configuration: exit code 2.
    Config(String),
    /// At run time: exit code 1.
    Runtime(String),
}

impl Failure {
    fn report(self) -> ExitCode {
        match self {
            Self::Config(m) => {
                eprintln!("mlm: {m}");
                ExitCode::from(2)
            }
            Self::Runtime(m) => {
                eprintln!("mlm: {m}");
                ExitCode::from(1)
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", mlm_http::openapi::openapi_pretty());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => {
            init_tracing();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    return Failure::Runtime(format!("cannot start the runtime: {e}")).report();
                }
            };
            match runtime.block_on(serve(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => failure.report(),
            }
        }
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn read_config(path: Option<&Path>) -> Result<FileConfig, Failure> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Config(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Failure::Config(format!("{}: {e}", path.display())))
}

/// A running backend and how to stop it.
struct Backend {
    provider: Arc<dyn Provider>,
    #[cfg(feature = "local")]
    local: Option<mlm_local::LocalProvider>,
}

impl Backend {
    async fn shutdown(self) {
        #[cfg(feature = "local")]
        if let Some(local) = self.local {
            tracing::info!("stopping local instances");
            local.shutdown().await;
        }
    }
}

async fn open_backend(
    kind: ProviderKind,
    file: &FileConfig,
    args: &ServeArgs,
) -> Result<Backend, Failure> {
    match kind {
        ProviderKind::Aws => open_aws(file.aws.clone()).await,
        ProviderKind::Local => open_local(file.local.clone(), args.data_dir.clone()).await,
    }
}

#[cfg(not(feature = "aws"))]
async fn open_aws(_: Option<toml::Value>) -> Result<Backend, Failure> {
    Err(Failure::Config(
        "this mlm binary was built without the AWS backend: build it with `--features aws` \
         (cargo run -p mlm-cli --features aws -- serve --provider aws)"
            .into(),
    ))
}

/// The `[aws]` section (`mlm_aws::AwsConfig`) over the standard AWS configuration chain:
/// `AWS_REGION`, `AWS_PROFILE`, SSO, instance roles, and `AWS_ENDPOINT_URL` for emulators;
/// `MLM_SAGEMAKER_EXECUTION_ROLE_ARN` for the role endpoints' models run as.
#[cfg(feature = "aws")]
async fn open_aws(section: Option<toml::Value>) -> Result<Backend, Failure> {
    let config: mlm_aws::AwsConfig = match section {
        Some(section) => section
            .try_into()
            .map_err(|e| Failure::Config(format!("[aws]: {e}")))?,
        None => mlm_aws::AwsConfig::default(),
    };
    let aws = mlm_aws::AwsProviderBuilder::from_config(&config)
        .map_err(|e| Failure::Config(format!("[aws]: {}", e.message())))?
        .build()
        .await
        .map_err(|e| Failure::Runtime(format!("cannot open the AWS backend: {e}")))?;
    tracing::info!("serving the AWS SageMaker backend");
    Ok(Backend {
        provider: Arc::new(aws),
        #[cfg(feature = "local")]
        local: None,
    })
}

#[cfg(not(feature = "local"))]
async fn open_local(_: Option<toml::Value>, _: Option<PathBuf>) -> Result<Backend, Failure> {
    Err(Failure::Config(
        "the local backend is not built into this binary (build mlm-cli with the `local` \
         feature)"
            .into(),
    ))
}

#[cfg(feature = "local")]
async fn open_local(
    section: Option<toml::Value>,
    data_dir: Option<PathBuf>,
) -> Result<Backend, Failure> {
    let mut config = match section {
        Some(toml::Value::Table(section)) => mlm_local::LocalConfig::from_local_section(section)
            .map_err(|e| Failure::Config(e.message()))?,
        Some(_) => return Err(Failure::Config("[local] must be a table".into())),
        None => default_local_config()?,
    };
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    tracing::info!(
        data_dir = %config.data_dir.display(),
        artifact_roots = ?config.artifact_roots,
        runtimes = ?config.runtimes.keys().collect::<Vec<_>>(),
        "opening the local backend"
    );
    let local = mlm_local::LocalProvider::open(config)
        .await
        .map_err(|e| Failure::Runtime(format!("cannot open the local backend: {e}")))?;
    Ok(Backend {
        provider: Arc::new(local.clone()),
        local: Some(local),
    })
}

/// With no `[local]` section: [`mlm_local::LocalConfig::discover`] from the working directory.
#[cfg(feature = "local")]
fn default_local_config() -> Result<mlm_local::LocalConfig, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::Runtime(format!("cannot read the current directory: {e}")))?;
    let config = mlm_local::LocalConfig::discover(&cwd);
    if config.artifact_roots.is_empty() {
        tracing::warn!(
            "no examples/ folder here or above, and no [local] section: no artifact roots or \
             runtimes are configured"
        );
    }
    for (name, runtime) in &config.runtimes {
        tracing::info!(runtime = %name, command = %runtime.command, args = ?runtime.args, "runtime registered");
    }
    Ok(config)
}

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
    let config = |e: &dyn std::fmt::Display| Failure::Config(e.to_string());
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

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let file = read_config(args.config.as_deref())?;
    let settings = serve_settings(&file, &args)?;
    let addr = settings.addr;
    let backend = open_backend(args.provider, &file, &args).await?;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            backend.shutdown().await;
            return Err(Failure::Runtime(format!("cannot listen on {addr}: {e}")));
        }
    };
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(format!("cannot read the listening address: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "mlm",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--provider",
            "aws",
            "--data-dir",
            "/tmp/x",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        match cli.command {
            Command::Serve(a) => {
                assert_eq!(a.provider, ProviderKind::Aws);
                assert_eq!(a.bind, Some("127.0.0.1:0".parse().unwrap()));
                assert_eq!(a.tls_cert, Some(PathBuf::from("c.pem")));
                assert_eq!(a.tls_key, Some(PathBuf::from("k.pem")));
            }
            Command::Openapi => panic!("parsed the wrong command"),
        }
        assert!(Cli::try_parse_from(["mlm", "serve", "--provider", "gcp"]).is_err());
    }

    #[test]
    fn config_file_is_strict() {
        let ok: FileConfig =
            toml::from_str("[server]\nbind = \"127.0.0.1:9000\"\n[local]\ndata_dir = \"/tmp/m\"\n")
                .unwrap();
        assert!(ok.local.is_some());
        assert!(toml::from_str::<FileConfig>("[srever]\n").is_err());
        assert!(toml::from_str::<FileConfig>("[server]\ntokens = 3\n").is_err());
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../mlm.example.toml");
        let file: FileConfig = toml::from_str(text).unwrap();
        file.server.limits().unwrap();
        file.server.connection_limits(1024).unwrap();
        file.server.allowed_origins().unwrap();
        assert!(file.server.tls_files(None, None).unwrap().is_none());
        #[cfg(feature = "local")]
        file.local
            .expect("the example has a [local] section")
            .try_into::<mlm_local::LocalConfig>()
            .unwrap();
    }
}
