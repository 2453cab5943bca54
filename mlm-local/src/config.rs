//! Operator configuration of the local backend.
//!
//! Everything that decides what runs on the machine lives here, set by the operator: which
//! runtimes (commands) exist, which directories artifacts may be read from, which instance
//! types exist. API input only ever names these; it never supplies a command or a path outside
//! the configured roots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mlm_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The example runtime the defaults register when they find it.
pub const EXAMPLE_RUNTIME: &str = "agnews-classifier";

/// A runtime: the command that serves one instance of a model version.
///
/// The process is started with a cleared environment plus `SAGEMAKER_BIND_TO_PORT` (a free
/// loopback port it must bind on 127.0.0.1), `SM_MODEL_DIR` (the unpacked artifact), the
/// runtime's `env` and the version's environment, and must answer `GET /ping` and
/// `POST /invocations` (SageMaker's serving contract). The runtime is trusted (the operator
/// wrote it); a version's environment is not: see [`crate::RESERVED_ENV`] and `allowed_env`.
/// Start interpreters in their isolated mode where they have one (`python3 -I`).
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
    /// The variables a version may set for this runtime: names, or prefixes ending in `*`
    /// (`["MODEL_*", "LOG_LEVEL"]`). Unset: any name that is not reserved. Reserved names are
    /// refused whatever this says.
    #[serde(default)]
    pub allowed_env: Option<Vec<String>>,
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
            allowed_env: None,
        }
    }

    /// Accepts only these version variables (names, or prefixes ending in `*`).
    pub fn with_allowed_env(
        mut self,
        patterns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.allowed_env = Some(patterns.into_iter().map(Into::into).collect());
        self
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
    /// Most instance processes the server runs, over all endpoints (default: four per CPU, at
    /// least 16, and no more than one per 256 MiB of memory). A create or update that would go
    /// beyond it is refused (409) with the figures.
    pub max_instances: u32,
    /// Most instances one endpoint may have, over its variants (default 8). Asking for more is
    /// a 400.
    pub max_instances_per_endpoint: u32,
    /// How many instances may be starting at the same time, across the server (default: the
    /// number of CPUs, at least 2).
    pub max_parallel_starts: u32,
    /// Most requests the router sends one instance at once (default 32); more wait in line
    /// for a free slot, and are throttled (429) when none frees within `invoke_timeout`.
    pub max_in_flight_per_instance: u32,
    /// How often autoscaling policies are evaluated (default 5 s).
    #[serde(with = "millis", rename = "autoscaling_interval_ms")]
    pub autoscaling_interval: Duration,
    /// How far back an autoscaling evaluation reads the metric (default 60 s, as SageMaker's
    /// one-minute metrics); never further back than the endpoint's last change.
    #[serde(with = "secs", rename = "autoscaling_window_secs")]
    pub autoscaling_window: Duration,
    /// Default scale-in cooldown of policies that set none (default 300 s, Application Auto
    /// Scaling's): how long after the endpoint last changed the instance count may go down.
    #[serde(with = "secs", rename = "scale_in_cooldown_secs")]
    pub scale_in_cooldown: Duration,
    /// Default scale-out cooldown of policies that set none (default 300 s, Application Auto
    /// Scaling's): how long after a scale-out the count may go up again.
    #[serde(with = "secs", rename = "scale_out_cooldown_secs")]
    pub scale_out_cooldown: Duration,
    /// How long a serverless variant without provisioned concurrency keeps its instance after
    /// the last request (default 300 s); then the instance is drained and stopped (scale to
    /// zero), and the next request waits for a cold start.
    #[serde(with = "secs", rename = "serverless_idle_secs")]
    pub serverless_idle: Duration,
    /// Data capture: largest capture file (default 16 MiB); a file that reaches it is closed
    /// and the next record starts a new one in the same hour's directory. Captures are written
    /// under `<data_dir>/captures/<endpoint>/<variant>/YYYY/MM/DD/HH/` (SageMaker's layout);
    /// an endpoint's `destination_uri` is only a label locally and never a path.
    pub capture_max_file_bytes: u64,
    /// Data capture quota: most bytes all capture files may take together (default 1 GiB).
    /// Records beyond it are dropped and counted in the `capture_drops` metric; requests are
    /// never failed or slowed by capture.
    pub capture_max_total_bytes: u64,
    /// Records waiting for the capture writer (default 4096); when the queue is full, new
    /// records are dropped and counted rather than making requests wait.
    pub capture_queue: u32,
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
            max_instances: default_max_instances(),
            max_instances_per_endpoint: 8,
            max_parallel_starts: cpus().max(2),
            max_in_flight_per_instance: 32,
            autoscaling_interval: Duration::from_secs(5),
            autoscaling_window: Duration::from_secs(60),
            scale_in_cooldown: Duration::from_secs(300),
            scale_out_cooldown: Duration::from_secs(300),
            serverless_idle: Duration::from_secs(300),
            capture_max_file_bytes: 16 * 1024 * 1024,
            capture_max_total_bytes: 1024 * 1024 * 1024,
            capture_queue: 4096,
        }
    }
}

fn cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Four instances per CPU, at least 16, and at most one per 256 MiB of memory (when known).
fn default_max_instances() -> u32 {
    let by_cpu = (4 * cpus()).max(16);
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    match system.total_memory() / (256 * 1024 * 1024) {
        0 => by_cpu,
        by_memory => by_cpu.min(by_memory.try_into().unwrap_or(u32::MAX)).max(1),
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

    /// The configuration used when none is given, by `mlm serve` and `mlm.Client.local` alike:
    /// the defaults (state in `.mlm`), plus — when `examples/agnews-classifier/serve.py` is
    /// found in `start` or one of its parents — artifacts from that `examples` folder and the
    /// `agnews-classifier` runtime (`python3 -I serve.py`), so the quick start works from
    /// anywhere inside a checkout.
    pub fn discover(start: &Path) -> Self {
        let config = Self::default();
        for dir in start.ancestors() {
            let examples = dir.join("examples");
            let serve = examples.join(EXAMPLE_RUNTIME).join("serve.py");
            if serve.is_file() {
                let runtime =
                    RuntimeConfig::new("python3", ["-I".to_string(), serve.display().to_string()]);
                return config
                    .with_artifact_root(examples)
                    .with_runtime(EXAMPLE_RUNTIME, runtime);
            }
        }
        config
    }

    /// Reads a configuration from TOML: either `LocalConfig`'s fields at the top level, or an
    /// `mlm serve` configuration file, whose `[local]` section is read (an `mlm serve` file
    /// without one gives the defaults). Unknown keys are errors.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| Error::invalid(e.to_string()))?;
        Self::from_toml_table(table)
    }

    /// [`from_toml_str`](Self::from_toml_str) of a file; errors name the file.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(format!("cannot read {}: {e}", path.display())).with_source(e)
        })?;
        Self::from_toml_str(&text)
            .map_err(|e| Error::invalid(format!("{}: {}", path.display(), e.message())))
    }

    /// The `[local]` table of an `mlm serve` file, or `LocalConfig`'s fields themselves.
    pub fn from_toml_table(mut table: toml::Table) -> Result<Self> {
        let server_file = table.contains_key("local") || table.contains_key("server");
        if server_file {
            table = match table.remove("local") {
                Some(toml::Value::Table(local)) => local,
                Some(_) => return Err(Error::invalid("[local] must be a table")),
                None => toml::Table::new(),
            };
        }
        Self::from_local_section(table)
    }

    /// The `[local]` section of an `mlm serve` file, already parsed.
    pub fn from_local_section(section: toml::Table) -> Result<Self> {
        toml::Value::Table(section)
            .try_into::<Self>()
            .map_err(|e| Error::invalid(format!("[local]: {e}")))
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

    /// Sets the instance caps: over the server and per endpoint.
    pub fn with_max_instances(mut self, total: u32, per_endpoint: u32) -> Self {
        self.max_instances = total;
        self.max_instances_per_endpoint = per_endpoint;
        self
    }

    /// Sets how autoscaling runs: the evaluation interval, the metric window, and the default
    /// scale-in and scale-out cooldowns.
    pub fn with_autoscaling(
        mut self,
        interval: Duration,
        window: Duration,
        scale_in_cooldown: Duration,
        scale_out_cooldown: Duration,
    ) -> Self {
        self.autoscaling_interval = interval;
        self.autoscaling_window = window;
        self.scale_in_cooldown = scale_in_cooldown;
        self.scale_out_cooldown = scale_out_cooldown;
        self
    }

    /// Sets how long an idle serverless variant keeps its instance.
    pub fn with_serverless_idle(mut self, idle: Duration) -> Self {
        self.serverless_idle = idle;
        self
    }

    /// Sets the data capture file size cap and quota (`capture_max_file_bytes`,
    /// `capture_max_total_bytes`).
    pub fn with_capture_limits(mut self, max_file_bytes: u64, max_total_bytes: u64) -> Self {
        self.capture_max_file_bytes = max_file_bytes;
        self.capture_max_total_bytes = max_total_bytes;
        self
    }

    /// Sets how long an instance may take to answer its first `/ping`.
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

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_sections_and_fields() {
        let plain =
            LocalConfig::from_toml_str("data_dir = \"/tmp/a\"\nmax_instances = 3\n").unwrap();
        assert_eq!(plain.data_dir, PathBuf::from("/tmp/a"));
        assert_eq!(plain.max_instances, 3);
        let scaling = LocalConfig::from_toml_str(
            "autoscaling_interval_ms = 250\nautoscaling_window_secs = 10\n\
             scale_in_cooldown_secs = 7\nscale_out_cooldown_secs = 0\nserverless_idle_secs = 2\n",
        )
        .unwrap();
        assert_eq!(scaling.autoscaling_interval, Duration::from_millis(250));
        assert_eq!(scaling.autoscaling_window, Duration::from_secs(10));
        assert_eq!(scaling.scale_in_cooldown, Duration::from_secs(7));
        assert_eq!(scaling.scale_out_cooldown, Duration::ZERO);
        assert_eq!(scaling.serverless_idle, Duration::from_secs(2));
        let served = LocalConfig::from_toml_str(
            "[server]\nbind = \"127.0.0.1:1\"\n[local]\ndata_dir = \"/tmp/b\"\n",
        )
        .unwrap();
        assert_eq!(served.data_dir, PathBuf::from("/tmp/b"));
        let server_only = LocalConfig::from_toml_str("[server]\n").unwrap();
        assert_eq!(server_only, LocalConfig::default());
        for bad in [
            "data_dri = 1",
            "[local]\nnope = 1",
            "local = 3",
            "not toml [",
        ] {
            let err = LocalConfig::from_toml_str(bad).unwrap_err();
            assert_eq!(err.kind(), mlm_core::ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn discovery_walks_up_to_the_examples() {
        let root = tempfile::tempdir().unwrap();
        let serve = root.path().join("examples/agnews-classifier/serve.py");
        std::fs::create_dir_all(serve.parent().unwrap()).unwrap();
        std::fs::write(&serve, "").unwrap();
        let deep = root.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        let found = LocalConfig::discover(&deep);
        assert_eq!(found.artifact_roots, [root.path().join("examples")]);
        assert_eq!(found.runtimes[EXAMPLE_RUNTIME].args[0], "-I");
        assert_eq!(found.data_dir, PathBuf::from(".mlm"));
        let elsewhere = tempfile::tempdir().unwrap();
        let none = LocalConfig::discover(elsewhere.path());
        assert!(none.runtimes.is_empty() && none.artifact_roots.is_empty());
    }
}
