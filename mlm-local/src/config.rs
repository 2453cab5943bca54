//! Operator configuration of the local backend.
//!
//! Everything that decides what runs on the machine lives here, set by the operator: which
//! runtimes (commands) exist, which directories artifacts may be read from, which instance
//! types exist. API input only ever names these; it never supplies a command or a path outside
//! the configured roots.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A runtime: the command that serves one instance of a model version.
///
/// The process is started with `SAGEMAKER_BIND_TO_PORT` (a free loopback port), `SM_MODEL_DIR`
/// (the unpacked artifact), the runtime's `env` and then the version's environment, and must
/// answer `GET /ping` and `POST /invocations` (SageMaker's serving contract).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The program to run.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment (the version's environment may not override these).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory; defaults to the server's.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
}

impl RuntimeConfig {
    /// A runtime running `command` with `args`.
    pub fn new(
        command: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            working_dir: None,
        }
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }
}

/// What an instance type means locally. Limits are advisory labels shown to users; the local
/// backend does not sandbox processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InstanceProfile {
    /// Free text shown in listings.
    #[serde(default)]
    pub description: Option<String>,
    /// vCPUs this type stands for (used to normalise CPU %).
    #[serde(default)]
    pub vcpus: Option<u32>,
    /// GPUs this type stands for.
    #[serde(default)]
    pub gpus: Option<u32>,
}

impl InstanceProfile {
    /// A profile with a description.
    pub fn described(description: impl Into<String>) -> Self {
        Self {
            description: Some(description.into()),
            ..Self::default()
        }
    }
}

/// Configuration of [`crate::LocalProvider`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LocalConfig {
    /// Where the SQLite database, artifact store and instance logs live.
    pub data_dir: PathBuf,
    /// Directories artifacts may be imported from.
    pub artifact_roots: Vec<PathBuf>,
    /// Runtimes by name (a version's `image` names one).
    pub runtimes: BTreeMap<String, RuntimeConfig>,
    /// Instance types by name.
    pub instance_types: BTreeMap<String, InstanceProfile>,
    /// How long an instance may take to answer its first `/ping`.
    #[serde(with = "secs", rename = "startup_timeout_secs")]
    pub startup_timeout: Duration,
    /// How often instances are health-checked and sampled.
    #[serde(with = "millis", rename = "health_interval_ms")]
    pub health_interval: Duration,
    /// How long a draining instance may finish in-flight requests before it is stopped.
    #[serde(with = "secs", rename = "drain_timeout_secs")]
    pub drain_timeout: Duration,
    /// How long one invocation may take.
    #[serde(with = "secs", rename = "invoke_timeout_secs")]
    pub invoke_timeout: Duration,
    /// Largest artifact (unpacked bytes) a version may have.
    pub max_artifact_bytes: u64,
    /// Most files and directories an artifact may have.
    pub max_artifact_files: u64,
    /// How much metric history is kept in memory per instance.
    #[serde(with = "secs", rename = "metrics_retention_secs")]
    pub metrics_retention: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".mlm"),
            artifact_roots: Vec::new(),
            runtimes: BTreeMap::new(),
            instance_types: default_instance_types(),
            startup_timeout: Duration::from_secs(60),
            health_interval: Duration::from_millis(1000),
            drain_timeout: Duration::from_secs(30),
            invoke_timeout: Duration::from_secs(60),
            metrics_retention: Duration::from_secs(3 * 3600),
            max_artifact_bytes: 10 * 1024 * 1024 * 1024,
            max_artifact_files: 100_000,
        }
    }
}

impl LocalConfig {
    /// The defaults with `data_dir` set.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Allows importing artifacts from under `root`.
    pub fn with_artifact_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.artifact_roots.push(root.into());
        self
    }

    /// Registers a runtime under `name`.
    pub fn with_runtime(mut self, name: impl Into<String>, runtime: RuntimeConfig) -> Self {
        self.runtimes.insert(name.into(), runtime);
        self
    }

    /// Sets the health-check interval.
    pub fn with_health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// Sets the drain timeout.
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sets the startup timeout.
    pub fn with_startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }
}

/// SageMaker's common instance type names, so requests written for AWS run locally unchanged.
fn default_instance_types() -> BTreeMap<String, InstanceProfile> {
    [
        ("ml.t2.medium", 2, 0),
        ("ml.m5.large", 2, 0),
        ("ml.m5.xlarge", 4, 0),
        ("ml.c5.large", 2, 0),
        ("ml.c5.xlarge", 4, 0),
        ("ml.g4dn.xlarge", 4, 1),
        ("ml.g5.xlarge", 4, 1),
    ]
    .into_iter()
    .map(|(name, vcpus, gpus)| {
        let profile = InstanceProfile {
            description: Some(format!("local stand-in for {name}")),
            vcpus: Some(vcpus),
            gpus: Some(gpus),
        };
        (name.to_string(), profile)
    })
    .collect()
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
