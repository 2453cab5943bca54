//! Why `mlm` stopped: the message on stderr (title, detail, hint) and the exit code.
//!
//! The codes are documented in `mlm --help` and docs/cli.md; an error of the core maps to one
//! by its kind, the same way whether it came from a server or from a backend in this process.

use std::process::ExitCode;

use mlm_client::protocol::ProblemType;
use mlm_core::{Error, ErrorKind, ResourceKind};

/// The backend or the server failed, or the operation is unsupported.
pub(crate) const FAILED: u8 = 1;
/// Bad flags, names or input; configuration errors.
pub(crate) const USAGE: u8 = 2;
/// The resource does not exist.
pub(crate) const NOT_FOUND: u8 = 3;
/// Already exists, failed precondition, conflict.
pub(crate) const CONFLICT: u8 = 4;
/// Unauthenticated or permission denied.
pub(crate) const AUTH: u8 = 5;
/// A wait or a request timed out.
pub(crate) const TIMEOUT: u8 = 6;
/// A deployment was rolled back or failed.
pub(crate) const ROLLED_BACK: u8 = 7;
/// Ctrl-C while waiting.
pub(crate) const INTERRUPTED: u8 = 130;

/// A failed command: what to print and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    title: Option<&'static str>,
    message: String,
    hint: Option<String>,
}

impl Failure {
    /// A usage or configuration error (exit code 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }

    /// A failure at run time (exit code 1).
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Self::new(FAILED, message)
    }

    /// A failure with this exit code.
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            title: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint: what to do about it.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Puts `context` in front of the message.
    pub(crate) fn prefix(&mut self, context: &str) {
        self.message = format!("{context}: {}", self.message);
    }

    /// The exit code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> u8 {
        self.code
    }

    /// Prints the failure to stderr and returns the exit code.
    pub(crate) fn report(self) -> ExitCode {
        eprintln!("{}", self.text());
        ExitCode::from(self.code)
    }

    fn text(&self) -> String {
        let mut text = match self.title {
            Some(title) => format!("mlm: {title}: {}", self.message),
            None => format!("mlm: {}", self.message),
        };
        if let Some(hint) = &self.hint {
            text.push_str("\n  hint: ");
            text.push_str(hint);
        }
        text
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        Self {
            code: exit_code(kind),
            title: Some(ProblemType::Kind(kind).title()),
            message: error.message(),
            hint: hint(&error),
        }
    }
}

/// The exit code of an error of `kind`.
pub(crate) fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::InvalidArgument => USAGE,
        ErrorKind::AlreadyExists | ErrorKind::FailedPrecondition | ErrorKind::Conflict => CONFLICT,
        ErrorKind::PermissionDenied | ErrorKind::Unauthenticated => AUTH,
        ErrorKind::Timeout => TIMEOUT,
        ErrorKind::RolledBack | ErrorKind::DeploymentFailed => ROLLED_BACK,
        _ => FAILED,
    }
}

/// What a person can do about `error`.
fn hint(error: &Error) -> Option<String> {
    let text = match error {
        Error::NotFound { kind, .. } => return not_found_hint(*kind).map(str::to_string),
        Error::AlreadyExists { .. } => "names are unique: pick another, or change the existing one",
        Error::FailedPrecondition(_) => "check the resource's status (`mlm endpoints get NAME`)",
        Error::Unauthenticated(_) => "give the server's token in MLM_TOKEN or with --token-file",
        Error::PermissionDenied(_) => "the token's role may not do this (changes need `operator`)",
        Error::Timeout(_) => {
            "the operation goes on: `mlm endpoints wait NAME` waits again, `mlm endpoints get \
             NAME` shows where it is"
        }
        Error::RolledBack(_) | Error::DeploymentFailed(_) => {
            "`mlm deployments list ENDPOINT` shows what happened"
        }
        Error::Throttled { .. } => "the provider is rate limiting: try again shortly",
        Error::Unsupported(_) => "see what the backend supports: the server's /v1/capabilities",
        Error::Provider { message, .. } if message.starts_with("cannot talk to the mlm server") => {
            "is `mlm serve` running there? Start it, or drop --server/MLM_SERVER to open the \
             local backend in this process"
        }
        _ => return None,
    };
    Some(text.to_string())
}

fn not_found_hint(kind: ResourceKind) -> Option<&'static str> {
    Some(match kind {
        ResourceKind::Model => "`mlm models list` shows the models there are",
        ResourceKind::ModelVersion => "`mlm versions list MODEL` shows a model's versions",
        ResourceKind::Endpoint => "`mlm endpoints list` shows the endpoints there are",
        ResourceKind::Alarm => "`mlm alarms list ENDPOINT` shows an endpoint's alarms",
        ResourceKind::Deployment => "`mlm deployments list ENDPOINT` shows its deployments",
        ResourceKind::Instance => "`mlm instances ENDPOINT` shows an endpoint's instances",
        ResourceKind::Baseline => {
            "`mlm drift baselines list ENDPOINT` shows an endpoint's baselines"
        }
        ResourceKind::Dashboard => "`mlm endpoints dashboard ENDPOINT` creates it",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_documented_code() {
        let documented = [
            FAILED,
            USAGE,
            NOT_FOUND,
            CONFLICT,
            AUTH,
            TIMEOUT,
            ROLLED_BACK,
        ];
        for kind in ErrorKind::ALL {
            assert!(documented.contains(&exit_code(kind)), "{kind:?}");
        }
        assert_eq!(exit_code(ErrorKind::NotFound), 3);
        assert_eq!(exit_code(ErrorKind::FailedPrecondition), 4);
        assert_eq!(exit_code(ErrorKind::RolledBack), 7);
    }

    #[test]
    fn errors_print_title_detail_and_hint() {
        let failure = Failure::from(Error::not_found(ResourceKind::Endpoint, "news"));
        assert_eq!(failure.code(), NOT_FOUND);
        assert_eq!(
            failure.text(),
            "mlm: Not Found: endpoint 'news' not found\n  hint: `mlm endpoints list` shows the \
             endpoints there are"
        );
        let failure = Failure::from(Error::timeout("endpoint 'news' was still Creating"));
        assert_eq!(failure.code(), TIMEOUT);
        assert!(
            failure.text().contains("mlm endpoints wait"),
            "{}",
            failure.text()
        );
        let plain = Failure::usage("bad").with_hint("fix it");
        assert_eq!(plain.text(), "mlm: bad\n  hint: fix it");
    }
}
