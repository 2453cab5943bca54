//! Reaching a backend: an mlm server through `HttpProvider`, or a backend opened in this
//! process from the configuration file `mlm serve` reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlm_core::{Provider, WaitOptions};
use mlm_http::config::ServerConfig;
use serde::Deserialize;

use crate::cli::{ConnectArgs, ProviderKind};
use crate::failure::Failure;

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) server: ServerConfig,
    /// `mlm_local::LocalConfig`, checked when the local provider is chosen.
    #[serde(default)]
    pub(crate) local: Option<toml::Value>,
    /// `mlm_aws::AwsConfig`, checked when the AWS provider is chosen.
    #[serde(default)]
    pub(crate) aws: Option<toml::Value>,
}

/// Reads the configuration file, or the defaults without one.
pub(crate) fn read_config(path: Option<&Path>) -> Result<FileConfig, Failure> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// A backend and how to stop it.
pub(crate) struct Backend {
    pub(crate) provider: Arc<dyn Provider>,
    /// Whether SageMaker is behind it (directly or behind the server): waits poll slower.
    aws: bool,
    #[cfg(feature = "local")]
    local: Option<mlm_local::LocalProvider>,
    /// The AWS backend opened in this process (a server polls for its pipelines).
    #[cfg(feature = "aws")]
    aws_provider: Option<mlm_aws::AwsProvider>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("provider", &self.provider.name())
            .finish()
    }
}

impl Backend {
    /// Stops what this process started (the local backend's instances).
    /// In a long-lived server: starts what runs in the background for the backend (the
    /// pipeline poller of an AWS backend with `pipelines_uri`; the local backend runs its own).
    pub(crate) fn start_background_work(&self) {
        #[cfg(feature = "aws")]
        if let Some(aws) = &self.aws_provider
            && aws.spawn_pipeline_poller(None).is_some()
        {
            tracing::info!("polling the registry for pipeline approvals");
        }
    }

    pub(crate) async fn shutdown(self) {
        #[cfg(feature = "local")]
        if let Some(local) = self.local {
            tracing::info!("stopping local instances");
            local.shutdown().await;
        }
    }

    /// Whether this is the local backend opened in this process, whose instances run only
    /// while the command runs (its endpoints come back when it opens).
    pub(crate) fn runs_local_instances(&self) -> bool {
        #[cfg(feature = "local")]
        return self.local.is_some();
        #[cfg(not(feature = "local"))]
        false
    }

    /// How often to poll while waiting: AWS throttles describe calls account-wide.
    pub(crate) fn wait_options(&self, timeout: Duration) -> WaitOptions {
        let (first, most) = if self.aws {
            (Duration::from_secs(5), Duration::from_secs(30))
        } else {
            (Duration::from_millis(250), Duration::from_secs(2))
        };
        WaitOptions::with_timeout(timeout).with_intervals(first, most)
    }
}

/// Opens what the flags say: `--server` through `HttpProvider`, else `--provider`.
pub(crate) async fn connect(args: &ConnectArgs) -> Result<Backend, Failure> {
    match &args.server {
        Some(_) if args.provider.is_some() || args.data_dir.is_some() || args.config.is_some() => {
            Err(Failure::usage(
                "--provider, --data-dir and --config open a backend in this process, and a \
                 server is given too (--server or MLM_SERVER): choose one",
            ))
        }
        Some(url) => connect_server(url, args).await,
        None => {
            let file = read_config(args.config.as_deref())?;
            let kind = args.provider.unwrap_or(ProviderKind::Local);
            open_backend(kind, &file, args.data_dir.clone()).await
        }
    }
}

/// The server's token: `--token-file`, else `MLM_TOKEN`. Never printed.
fn token(args: &ConnectArgs) -> Result<Option<String>, Failure> {
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(Failure::usage(format!(
                "the token file {} is empty",
                path.display()
            )));
        }
        return Ok(Some(token.to_string()));
    }
    Ok(std::env::var("MLM_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

async fn connect_server(url: &str, args: &ConnectArgs) -> Result<Backend, Failure> {
    let mut builder = mlm_client::HttpProvider::builder(url).token(token(args)?);
    if let Some(path) = &args.ca_certificate {
        let pem = std::fs::read(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the CA certificate {}: {e}",
                path.display()
            ))
        })?;
        builder = builder.ca_certificate_pem(pem);
    }
    let provider = builder.connect().await.map_err(Failure::from)?;
    let aws = provider.remote_name() == "aws";
    Ok(Backend {
        provider: Arc::new(provider),
        aws,
        #[cfg(feature = "local")]
        local: None,
        #[cfg(feature = "aws")]
        aws_provider: None,
    })
}

/// Opens backend `kind` with the file's section for it.
pub(crate) async fn open_backend(
    kind: ProviderKind,
    file: &FileConfig,
    data_dir: Option<PathBuf>,
) -> Result<Backend, Failure> {
    match kind {
        ProviderKind::Aws => open_aws(file.aws.clone()).await,
        ProviderKind::Local => open_local(file.local.clone(), data_dir).await,
    }
}

#[cfg(not(feature = "aws"))]
async fn open_aws(_: Option<toml::Value>) -> Result<Backend, Failure> {
    Err(Failure::usage(
        "this mlm binary was built without the AWS backend: build it with `--features aws` \
         (cargo run -p mlm-cli --features aws -- serve --provider aws)",
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
            .map_err(|e| Failure::usage(format!("[aws]: {e}")))?,
        None => mlm_aws::AwsConfig::default(),
    };
    let aws = mlm_aws::AwsProviderBuilder::from_config(&config)
        .map_err(|e| Failure::usage(format!("[aws]: {}", e.message())))?
        .build()
        .await
        .map_err(|e| Failure::runtime(format!("cannot open the AWS backend: {e}")))?;
    tracing::info!("opened the AWS SageMaker backend");
    Ok(Backend {
        provider: Arc::new(aws.clone()),
        aws: true,
        #[cfg(feature = "local")]
        local: None,
        aws_provider: Some(aws),
    })
}

#[cfg(not(feature = "local"))]
async fn open_local(_: Option<toml::Value>, _: Option<PathBuf>) -> Result<Backend, Failure> {
    Err(Failure::usage(
        "the local backend is not built into this binary (build mlm-cli with the `local` \
         feature)",
    ))
}

#[cfg(feature = "local")]
async fn open_local(
    section: Option<toml::Value>,
    data_dir: Option<PathBuf>,
) -> Result<Backend, Failure> {
    let mut config = match section {
        Some(toml::Value::Table(section)) => mlm_local::LocalConfig::from_local_section(section)
            .map_err(|e| Failure::usage(e.message()))?,
        Some(_) => return Err(Failure::usage("[local] must be a table")),
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
    let local = mlm_local::LocalProvider::open(config).await.map_err(|e| {
        let mut failure = Failure::from(e);
        failure.prefix("cannot open the local backend");
        failure
    })?;
    Ok(Backend {
        provider: Arc::new(local.clone()),
        aws: false,
        local: Some(local),
        #[cfg(feature = "aws")]
        aws_provider: None,
    })
}

/// With no `[local]` section: [`mlm_local::LocalConfig::discover`] from the working directory.
#[cfg(feature = "local")]
fn default_local_config() -> Result<mlm_local::LocalConfig, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::runtime(format!("cannot read the current directory: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_token_comes_from_a_file_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let args = ConnectArgs {
            server: Some("http://127.0.0.1:1".into()),
            token_file: Some(path.clone()),
            ca_certificate: None,
            provider: None,
            config: None,
            data_dir: None,
        };
        assert_eq!(token(&args).unwrap().as_deref(), Some("s3cret"));
        std::fs::write(&path, "  \n").unwrap();
        let err = token(&args).unwrap_err();
        assert_eq!(err.code(), 2);
        assert!(!format!("{err:?}").contains("s3cret"));
    }
}
