//! One endpoint instance: a local process speaking SageMaker's serving contract.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mlm_core::{Environment, Error, InstanceStatus, Result, VariantName};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::config::RuntimeConfig;

/// The HTTP client used for health checks and invocations (loopback only).
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// Why a connection to an instance could not be made, as far as it decides what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    /// Nothing listens on the instance's port (or it reset the connection): it is gone.
    Refused,
    /// This server ran out of its own resources (file descriptors, ports, memory): the
    /// instance may be perfectly healthy, so it must not be blamed.
    LocalResources,
    /// Anything else (a connect timeout, …): try elsewhere, but don't condemn the instance.
    Other,
}

/// Classifies a connection error by the OS error at the bottom of its source chain.
pub(crate) fn connect_failure(error: &(dyn std::error::Error + 'static)) -> ConnectFailure {
    use nix::errno::Errno;
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let local = [
                Errno::EMFILE,
                Errno::ENFILE,
                Errno::ENOBUFS,
                Errno::ENOMEM,
                Errno::EADDRNOTAVAIL,
            ];
            if io
                .raw_os_error()
                .is_some_and(|code| local.iter().any(|l| *l as i32 == code))
            {
                return ConnectFailure::LocalResources;
            }
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => {
                    ConnectFailure::Refused
                }
                _ => ConnectFailure::Other,
            };
        }
        current = e.source();
    }
    ConnectFailure::Other
}

/// What one health check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `GET /ping` answered 2xx.
    Healthy,
    /// No answer, or not a 2xx.
    Unhealthy,
    /// The check could not even be made: this server is out of file descriptors or ports.
    LocalResources,
}

/// Variables a runtime process inherits from the server; everything else (credentials, tokens)
/// stays out of model code.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "SYSTEMROOT",
];

/// Where a failed start's output is: model output may carry data and secrets, so it goes to
/// the operator's logs (server log, endpoint events), not into `failure_reason`, which every
/// reader of the API sees.
const LOG_HINT: &str = " (its last output is in the server log and the endpoint's events)";

/// What it takes to start one instance.
pub(crate) struct Launch<'a> {
    pub id: String,
    pub variant: VariantName,
    pub runtime: &'a RuntimeConfig,
    pub model_dir: &'a Path,
    pub environment: &'a Environment,
    pub log_path: PathBuf,
}

/// A running (or exited) instance process.
pub(crate) struct InstanceHandle {
    pub id: String,
    /// `id`, shared cheaply with every metric sample.
    pub key: Arc<str>,
    /// `variant`, shared cheaply with every metric sample.
    pub variant_key: Arc<str>,
    /// `http://127.0.0.1:<port>/invocations`, parsed once.
    pub invocations_uri: hyper::Uri,
    pub variant: VariantName,
    pub port: u16,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub log_path: PathBuf,
    /// Requests routed to this instance and not yet answered.
    pub in_flight: AtomicU32,
    /// When a request last started or ended here (a serverless instance stops when idle).
    last_request: Mutex<std::time::Instant>,
    status: AtomicU8,
    child: tokio::sync::Mutex<Child>,
    exit: Mutex<Option<String>>,
}

fn encode(status: InstanceStatus) -> u8 {
    match status {
        InstanceStatus::Pending => 0,
        InstanceStatus::InService => 1,
        InstanceStatus::Draining => 2,
        InstanceStatus::Failed => 3,
        _ => 4,
    }
}

fn decode(value: u8) -> InstanceStatus {
    match value {
        0 => InstanceStatus::Pending,
        1 => InstanceStatus::InService,
        2 => InstanceStatus::Draining,
        3 => InstanceStatus::Failed,
        _ => InstanceStatus::Unknown,
    }
}

/// A free loopback port. The port is released before the child binds it; a collision with
/// another process in that gap shows up as a failed start and is retried by the caller.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::provider("no free loopback port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::provider("no free loopback port", e))
}

impl InstanceHandle {
    /// Starts the process. It is killed if the handle is dropped.
    pub(crate) fn launch(launch: Launch<'_>) -> Result<Arc<Self>> {
        let port = free_port()?;
        if let Some(dir) = launch.log_path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::provider("cannot create the instance log directory", e))?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log_path)
            .map_err(|e| Error::provider("cannot open the instance log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::provider("cannot open the instance log", e))?;
        let mut command = Command::new(&launch.runtime.command);
        command
            .args(&launch.runtime.args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        for key in INHERITED_ENV {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        // Precedence: the serving contract, then the operator's runtime env, then the version.
        command
            .envs(launch.environment)
            .envs(&launch.runtime.env)
            .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
            .env("SM_MODEL_DIR", launch.model_dir)
            .env("MLM_INSTANCE_ID", &launch.id);
        if let Some(dir) = &launch.runtime.working_dir {
            command.current_dir(dir);
        }
        end_with_this_server(&mut command);
        let child = command.spawn().map_err(|e| {
            Error::failed_precondition(format!(
                "runtime command '{}' could not be started: {e}",
                launch.runtime.command
            ))
            .with_source(e)
        })?;
        let pid = child.id().unwrap_or_default();
        let invocations_uri = format!("http://127.0.0.1:{port}/invocations")
            .parse()
            .map_err(|e| Error::provider("invalid instance address", e))?;
        Ok(Arc::new(Self {
            key: Arc::from(launch.id.as_str()),
            variant_key: Arc::from(launch.variant.as_str()),
            invocations_uri,
            id: launch.id,
            variant: launch.variant,
            port,
            pid,
            started_at: Utc::now(),
            log_path: launch.log_path,
            in_flight: AtomicU32::new(0),
            last_request: Mutex::new(std::time::Instant::now()),
            status: AtomicU8::new(encode(InstanceStatus::Pending)),
            child: tokio::sync::Mutex::new(child),
            exit: Mutex::new(None),
        }))
    }

    /// Notes that a request started or ended now.
    pub(crate) fn touch(&self) {
        *self.last_request.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
    }

    /// How long the instance has had no request (zero while one is in flight).
    pub(crate) fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        self.last_request
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    pub(crate) fn status(&self) -> InstanceStatus {
        decode(self.status.load(Ordering::Acquire))
    }

    pub(crate) fn set_status(&self, status: InstanceStatus) {
        self.status.store(encode(status), Ordering::Release);
    }

    /// How the process ended, once it has.
    pub(crate) fn exit_reason(&self) -> Option<String> {
        self.exit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Checks, without blocking, whether the process has exited; records why.
    pub(crate) async fn has_exited(&self) -> Option<String> {
        if let Some(reason) = self.exit_reason() {
            return Some(reason);
        }
        let status = self.child.lock().await.try_wait().ok().flatten()?;
        let reason = format!("process exited with {status}");
        *self.exit.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
        Some(reason)
    }

    /// The last lines the process wrote, for failure reasons.
    pub(crate) fn output_tail(&self) -> String {
        log_tail(&self.log_path, 1024)
    }

    /// Whether `GET /ping` answers 2xx within `timeout`, telling a check this server could not
    /// make (out of descriptors) apart from an instance that does not answer.
    pub(crate) async fn ping(&self, client: &HttpClient, timeout: Duration) -> Probe {
        let request = hyper::Request::get(format!("http://127.0.0.1:{}/ping", self.port))
            .body(Full::new(Bytes::new()));
        let Ok(request) = request else {
            return Probe::Unhealthy;
        };
        match tokio::time::timeout(timeout, client.request(request)).await {
            Ok(Ok(response)) => {
                let ok = response.status().is_success();
                // Read the body so the connection can be reused.
                let _ = response.into_body().collect().await;
                if ok { Probe::Healthy } else { Probe::Unhealthy }
            }
            Ok(Err(e)) if connect_failure(&e) == ConnectFailure::LocalResources => {
                Probe::LocalResources
            }
            _ => Probe::Unhealthy,
        }
    }

    /// Waits until the instance answers `/ping`, failing with the process's own words when it
    /// exits or takes longer than `timeout`, and at once when `cancelled` is set.
    pub(crate) async fn wait_ready(
        &self,
        client: &HttpClient,
        timeout: Duration,
        cancelled: &AtomicBool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(25);
        loop {
            if cancelled.load(Ordering::SeqCst) {
                self.set_status(InstanceStatus::Failed);
                return Err(Error::failed_precondition(format!(
                    "instance {} was stopped before it was ready: its endpoint is being \
                     deleted, or its deployment was stopped",
                    self.id
                )));
            }
            if let Some(reason) = self.has_exited().await {
                self.set_status(InstanceStatus::Failed);
                return Err(Error::failed_precondition(format!(
                    "instance {} {reason} before answering /ping{LOG_HINT}",
                    self.id
                )));
            }
            if self.ping(client, Duration::from_secs(1)).await == Probe::Healthy {
                self.set_status(InstanceStatus::InService);
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.set_status(InstanceStatus::Failed);
                self.kill().await;
                return Err(Error::failed_precondition(format!(
                    "instance {} did not answer /ping within {}s{LOG_HINT}",
                    self.id,
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Stops taking traffic, lets in-flight requests finish (up to `drain_timeout`), then asks
    /// the process to stop (SIGTERM) and kills it if it does not within 10 s.
    pub(crate) async fn drain_and_stop(&self, drain_timeout: Duration) {
        self.set_status(InstanceStatus::Draining);
        let deadline = Instant::now() + drain_timeout;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.terminate(Duration::from_secs(10)).await;
    }

    /// SIGTERM to the instance's process group, then SIGKILL after `grace`.
    pub(crate) async fn terminate(&self, grace: Duration) {
        let mut child = self.child.lock().await;
        if child.try_wait().ok().flatten().is_none() {
            signal_group(self.pid, nix::sys::signal::Signal::SIGTERM);
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                signal_group(self.pid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.kill().await;
            }
        }
        let _ = child.wait().await;
        // Whatever the runtime forked and left behind goes with it.
        signal_group(self.pid, nix::sys::signal::Signal::SIGKILL);
    }

    /// Kills the process and its group at once.
    pub(crate) async fn kill(&self) {
        let mut child = self.child.lock().await;
        signal_group(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.kill().await;
    }
}

/// Ties an instance's life to this server's: its own process group (so stopping it reaches
/// whatever it forked, and a Ctrl-C in the server's terminal reaches only the server, which
/// drains it), and on Linux a parent-death signal, so `kill -9` of the server ends it too.
fn end_with_this_server(command: &mut Command) {
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let server = nix::unistd::getpid();
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: prctl(2) and getppid(2) are plain system calls
        // and nothing here allocates or takes a lock.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
                // The server may have died before the signal was armed.
                if nix::unistd::getppid() != server {
                    return Err(std::io::Error::other("the server exited during the start"));
                }
                Ok(())
            });
        }
    }
}

/// Sends `signal` to an instance's process group (see [`end_with_this_server`]).
fn signal_group(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), signal);
}

/// The last `max_bytes` of a log file, trimmed to whole lines, on one line.
pub(crate) fn log_tail(path: &Path, max_bytes: u64) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return "(no output)".into();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max_bytes);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return "(no output)".into();
    }
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let text = if start > 0 {
        text.split_once('\n').map_or(&*text, |(_, rest)| rest)
    } else {
        &text
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "(no output)".into();
    }
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = log_tail(&path, 60);
        assert!(tail.ends_with("line 99"), "{tail}");
        assert!(!tail.contains("line 1 "), "{tail}");
        assert_eq!(log_tail(&dir.path().join("missing"), 10), "(no output)");
    }

    #[test]
    fn status_encoding_round_trips() {
        for s in [
            InstanceStatus::Pending,
            InstanceStatus::InService,
            InstanceStatus::Draining,
            InstanceStatus::Failed,
            InstanceStatus::Unknown,
        ] {
            assert_eq!(decode(encode(s)), s);
        }
    }
}
