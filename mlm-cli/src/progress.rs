//! Waiting for long operations with progress on stderr: a spinner with the endpoint's status
//! and deployment phase on a terminal, a line per change otherwise. Ctrl-C stops the waiting,
//! never the operation, and says how to resume.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use mlm_core::{DeploymentPhase, Endpoint, EndpointManagerExt, EndpointName};

use crate::connect::Backend;
use crate::failure::{Failure, INTERRUPTED};
use crate::output::endpoint_counts;

/// What progress looks like: a spinner, or plain lines when stderr is not a terminal.
#[derive(Debug)]
struct Progress {
    bar: Option<ProgressBar>,
    name: EndpointName,
    last: Mutex<String>,
}

impl Progress {
    fn start(name: &EndpointName, doing: &str) -> Self {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = terminal.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(format!("{doing} endpoint '{name}'"));
            bar
        });
        Self {
            bar,
            name: name.clone(),
            last: Mutex::new(String::new()),
        }
    }

    /// Shows the endpoint's state when it changed.
    fn update(&self, endpoint: &Endpoint) {
        let line = describe(endpoint);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if *last == line {
            return;
        }
        match &self.bar {
            Some(bar) => bar.set_message(format!("endpoint '{}': {line}", self.name)),
            None => eprintln!("endpoint '{}': {line}", self.name),
        }
        *last = line;
    }

    /// The last state shown.
    fn last(&self) -> String {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `InService · 2/2 instances · deployment 3: baking 10%`.
pub(crate) fn describe(endpoint: &Endpoint) -> String {
    let mut line = format!(
        "{} · {} instances",
        endpoint.status,
        endpoint_counts(endpoint)
    );
    if let Some(d) = &endpoint.last_deployment
        && !d.phase.is_terminal()
    {
        line.push_str(&format!(" · deployment {}: {}", d.id, d.phase.as_str()));
        if let DeploymentPhase::Shifting { percent } | DeploymentPhase::Baking { percent } = d.phase
        {
            line.push_str(&format!(" {percent}%"));
        }
    }
    line
}

/// Waits until `name` is ready (`InService`, its deployment ended), showing progress.
pub(crate) async fn wait_ready(
    backend: &Backend,
    name: &EndpointName,
    timeout: Duration,
) -> Result<Endpoint, Failure> {
    let progress = Progress::start(name, "waiting for");
    let options = backend.wait_options(timeout);
    let mut on_poll = |e: &Endpoint| progress.update(e);
    let waiting = backend
        .provider
        .wait_until_ready_with(name, options, &mut on_poll);
    until_done(&progress, waiting, format!("mlm endpoints wait {name}")).await
}

/// Waits until `name` is gone, showing progress.
pub(crate) async fn wait_deleted(
    backend: &Backend,
    name: &EndpointName,
    timeout: Duration,
) -> Result<(), Failure> {
    let progress = Progress::start(name, "deleting");
    let options = backend.wait_options(timeout);
    let mut on_poll = |e: &Endpoint| progress.update(e);
    let waiting = backend
        .provider
        .wait_until_deleted_with(name, options, &mut on_poll);
    until_done(&progress, waiting, format!("mlm endpoints get {name}")).await
}

/// `waiting`'s result, or on Ctrl-C how to follow the operation (`resume`).
async fn until_done<T>(
    progress: &Progress,
    waiting: impl Future<Output = mlm_core::Result<T>>,
    resume: String,
) -> Result<T, Failure> {
    let result = tokio::select! {
        result = waiting => result.map_err(Failure::from),
        _ = tokio::signal::ctrl_c() => Err(interrupted(progress, resume)),
    };
    progress.finish();
    result
}

fn interrupted(progress: &Progress, resume: String) -> Failure {
    let last = progress.last();
    let state = if last.is_empty() {
        String::new()
    } else {
        format!(" (last seen: {last})")
    };
    Failure::new(
        INTERRUPTED,
        format!(
            "stopped waiting for endpoint '{}'{state}; the operation goes on",
            progress.name
        ),
    )
    .with_hint(format!("follow it with `{resume}`"))
}

/// Upload progress on stderr: a byte bar on a terminal, otherwise a line per tenth uploaded.
pub(crate) struct UploadBar {
    bar: Option<ProgressBar>,
    /// Tenths already shown as lines.
    tenths: std::sync::atomic::AtomicU64,
}

impl UploadBar {
    pub(crate) fn start(what: &str) -> std::sync::Arc<Self> {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(format!("uploading {what}"));
            bar
        });
        std::sync::Arc::new(Self {
            bar,
            tenths: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The callback the upload reports to.
    pub(crate) fn callback(self: &std::sync::Arc<Self>) -> mlm_core::UploadProgress {
        let me = self.clone();
        std::sync::Arc::new(move |sent, total| me.update(sent, total))
    }

    fn update(&self, sent: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(sent);
            return;
        }
        let tenth = sent.saturating_mul(10) / total.max(1);
        if self
            .tenths
            .fetch_max(tenth, std::sync::atomic::Ordering::Relaxed)
            < tenth
        {
            eprintln!(
                "uploaded {} of {} ({}%)",
                indicatif::HumanBytes(sent),
                indicatif::HumanBytes(total),
                tenth * 10
            );
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
