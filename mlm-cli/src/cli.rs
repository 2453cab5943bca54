//! The command line: every command and flag, as clap reads them.
//!
//! Names given on the command line are the core's validated newtypes, so a bad name is a
//! usage error (exit code 2) before anything is sent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::ArgGroup;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mlm_core::{
    AlarmName, Approval, BaselineName, EndpointName, MetricKind, ModelName, PipelineName,
    StageName, Statistic, VariantName,
};

/// What `mlm --help` ends with: the exit codes scripts can rely on.
const AFTER_HELP: &str = "\
Connecting: --server URL (or MLM_SERVER) talks to a running `mlm serve`, with the bearer token
from MLM_TOKEN or --token-file; otherwise the backend is opened in this process
(--provider local|aws, the same --config and --data-dir as `mlm serve`).

Exit codes:
  0    success
  1    failed (the backend or the server failed, or an operation is unsupported)
  2    usage: bad flags, names or input, or a configuration error
  3    not found
  4    conflict: already exists, failed precondition (e.g. the endpoint is Updating)
  5    authentication or permission
  6    timed out (the operation itself goes on)
  7    the deployment was rolled back or failed
  130  interrupted (Ctrl-C while waiting: the operation goes on)

Docs: docs/cli.md";

/// Model lifecycle management: the REST server and the command line.
#[derive(Debug, Parser)]
#[command(name = "mlm", version, long_about = None, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes: where the backend is and how to print.
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// Output format: aligned tables for people, or the REST API's JSON/YAML shapes.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table,
          help_heading = "Output")]
    pub(crate) output: OutputFormat,
}

/// Where the backend is: a server, or one opened in this process.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectArgs {
    /// Talk to the mlm server at this URL (http:// or https://) instead of opening a backend.
    #[arg(
        long,
        global = true,
        env = "MLM_SERVER",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Connection"
    )]
    pub(crate) server: Option<String>,
    /// Read the server's bearer token from this file (default: the MLM_TOKEN variable).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        requires = "server",
        help_heading = "Connection"
    )]
    pub(crate) token_file: Option<PathBuf>,
    /// Also trust this CA certificate (PEM) for an https:// server.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        requires = "server",
        help_heading = "Connection"
    )]
    pub(crate) ca_certificate: Option<PathBuf>,
    /// The backend to open in this process [default: local].
    #[arg(long, global = true, value_enum, help_heading = "Connection")]
    pub(crate) provider: Option<ProviderKind>,
    /// Configuration file (TOML) with `[server]`, `[local]` and `[aws]` sections.
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub(crate) config: Option<PathBuf>,
    /// Where the local backend keeps its state (overrides `data_dir` of `[local]`; default .mlm).
    #[arg(long, global = true, value_name = "DIR", help_heading = "Connection")]
    pub(crate) data_dir: Option<PathBuf>,
}

/// A backend this binary can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProviderKind {
    /// The embedded backend: local processes, SQLite state.
    Local,
    /// AWS SageMaker.
    Aws,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns (status coloured on a terminal unless NO_COLOR is set).
    Table,
    /// JSON: the REST API's shapes.
    Json,
    /// YAML: the same shapes.
    Yaml,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the REST API (OpenAPI at /openapi.json, Swagger UI at /docs).
    Serve(ServeArgs),
    /// Print the OpenAPI 3.1 document.
    Openapi,
    /// Models: register, describe, list, change, delete.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Versions of a model: register, approve, reject, delete.
    #[command(subcommand)]
    Versions(VersionsCommand),
    /// Endpoints: deploy, scale, change, roll out versions, delete.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
    /// The instances of an endpoint with their latest figures.
    Instances(EndpointArg),
    /// Send one request to an endpoint and print the model's answer.
    Invoke(InvokeArgs),
    /// Status, counts and live figures of every endpoint, or of one.
    Overview(OverviewArgs),
    /// Metric history of an endpoint.
    Metrics(MetricsArgs),
    /// Alarms on endpoint metrics.
    #[command(subcommand)]
    Alarms(AlarmsCommand),
    /// Deployments: an endpoint's creates and updates, and stopping the running one.
    #[command(subcommand)]
    Deployments(DeploymentsCommand),
    /// An endpoint's timeline, newest first (lifecycle, scaling, load tests).
    Events(EventsArgs),
    /// Records data capture wrote for an endpoint (SageMaker's capture format), oldest first.
    Captures(CapturesArgs),
    /// Drift: baselines of an endpoint's traffic, and reports comparing traffic with one.
    #[command(subcommand)]
    Drift(DriftCommand),
    /// Promotion pipelines: the stages approved versions go through, runs and promotions.
    #[command(subcommand)]
    Pipelines(PipelinesCommand),
    /// Load-test an endpoint's inference API and report throughput and latency.
    LoadTest(crate::loadtest::LoadTestArgs),
    /// A live view of every endpoint (q quits, Enter shows instances).
    Top(TopArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the manual page (roff).
    Man,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (overrides `bind` of `[server]`; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first; overrides
    /// `tls_cert` of `[server]`). Needs a key too.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key (PEM) of the HTTPS certificate (overrides `tls_key` of `[server]`).
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_key: Option<PathBuf>,
}

/// Which page of a list; with neither flag, every page.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct PageArgs {
    /// Only this many items (1-100): one page.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) limit: Option<u32>,
    /// The page after the one that returned this token.
    #[arg(long, value_name = "TOKEN")]
    pub(crate) page_token: Option<String>,
}

/// A `KEY=VALUE` pair (tags, environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyValue {
    pub(crate) key: String,
    pub(crate) value: String,
}

impl std::str::FromStr for KeyValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(Self {
                key: key.into(),
                value: value.into(),
            }),
            _ => Err(format!("'{s}' is not KEY=VALUE")),
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// List models by name.
    List(PageArgs),
    /// Describe a model.
    Get(ModelArg),
    /// Register a model.
    Create(ModelFields),
    /// Pack a model directory as a deterministic model.tar.gz, upload it and register it as
    /// the model's next version (the model is created if missing).
    Push(PushArgs),
    /// Change a model's description or tags (given tags replace all tags).
    Update(ModelFields),
    /// Delete a model (it must have no versions left).
    Delete(ModelArg),
}

#[derive(Debug, Args)]
pub(crate) struct ModelArg {
    /// The model.
    pub(crate) model: ModelName,
}

#[derive(Debug, Args)]
pub(crate) struct ModelFields {
    /// The model.
    pub(crate) model: ModelName,
    /// What the model is for.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// A label, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub(crate) tags: Vec<KeyValue>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VersionsCommand {
    /// List a model's versions, oldest first.
    List(VersionsListArgs),
    /// Describe a version.
    Get(VersionArg),
    /// Register the next version of a model.
    Create(VersionCreateArgs),
    /// Approve a version for deployment.
    Approve(VersionArg),
    /// Reject a version.
    Reject(VersionArg),
    /// Delete a version (no endpoint may serve it).
    Delete(VersionArg),
}

#[derive(Debug, Args)]
pub(crate) struct VersionsListArgs {
    /// The model.
    pub(crate) model: ModelName,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VersionArg {
    /// The model.
    pub(crate) model: ModelName,
    /// The version number.
    pub(crate) version: u32,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The model directory: its content becomes the archive's root.
    pub(crate) dir: PathBuf,
    /// The model.
    #[arg(long)]
    pub(crate) model: ModelName,
    #[command(flatten)]
    pub(crate) version: VersionFields,
    /// Upload under this place instead of the backend's configured one (AWS:
    /// s3://bucket/prefix).
    #[arg(long, value_name = "URI")]
    pub(crate) to: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct VersionCreateArgs {
    /// The model.
    pub(crate) model: ModelName,
    /// The artifact: an S3 URI on AWS; a path under an artifact root, or file://, locally.
    #[arg(long, value_name = "URI")]
    pub(crate) artifact: String,
    #[command(flatten)]
    pub(crate) version: VersionFields,
}

/// What a new version is besides its artifact.
#[derive(Debug, Args)]
pub(crate) struct VersionFields {
    /// Container image (AWS) or runtime name (local).
    #[arg(long)]
    pub(crate) image: String,
    /// An environment variable of the serving process, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub(crate) environment: Vec<KeyValue>,
    /// Initial approval.
    #[arg(long, value_parser = clap::value_parser!(Approval))]
    pub(crate) approval: Option<Approval>,
    /// Free text.
    #[arg(long)]
    pub(crate) description: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EndpointsCommand {
    /// List endpoints by name.
    List(PageArgs),
    /// Describe an endpoint.
    Get(EndpointArg),
    /// Create an endpoint serving one version (or the variants of a JSON file).
    Create(EndpointCreateArgs),
    /// Change an endpoint: flags for its only (or one) variant, or a JSON body.
    Update(EndpointUpdateArgs),
    /// Scale a variant to COUNT instances.
    Scale(ScaleArgs),
    /// Move a variant to another instance type.
    SetType(SetTypeArgs),
    /// Roll a variant onto another version, MODEL:VERSION.
    Deploy(DeployArgs),
    /// Set traffic weights, VARIANT=WEIGHT ...
    Weights(WeightsArgs),
    /// Delete an endpoint and stop its instances.
    Delete(EndpointWaitArgs),
    /// Wait until an endpoint is ready (resumes an interrupted --wait).
    Wait(EndpointWaitArgs),
    /// Put the endpoint's CloudWatch dashboard (AWS only) and print its URL.
    ///
    /// Creates the dashboard, or rebuilds it from the endpoint as it is now: invocations,
    /// 4xx/5xx errors, model latency, each variant's CPU/GPU/memory and the endpoint's alarms.
    /// Put it again after changing the endpoint's variants or alarms; deleting the endpoint
    /// deletes it.
    Dashboard(EndpointArg),
}

#[derive(Debug, Args)]
pub(crate) struct EndpointArg {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
}

/// Whether to wait for a long operation, and how long.
#[derive(Debug, Clone, Args)]
pub(crate) struct WaitArgs {
    /// Wait until the operation ends, showing progress (default when stdout is a terminal).
    #[arg(long, overrides_with = "no_wait")]
    pub(crate) wait: bool,
    /// Return at once with the endpoint's current state.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Give up waiting after this long (e.g. 90s, 20m, 1h).
    #[arg(long, value_parser = parse_duration, default_value = "30m")]
    pub(crate) timeout: Duration,
}

impl WaitArgs {
    /// Whether to wait: `--wait`, `--no-wait`, else when stdout is a terminal.
    pub(crate) fn enabled(&self) -> bool {
        if self.wait {
            true
        } else if self.no_wait {
            false
        } else {
            std::io::IsTerminal::is_terminal(&std::io::stdout())
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct EndpointWaitArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct EndpointCreateArgs {
    /// The new endpoint's name.
    pub(crate) endpoint: EndpointName,
    /// The model to serve.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    pub(crate) model: Option<ModelName>,
    /// Its version (default: the model's latest).
    #[arg(long)]
    pub(crate) version: Option<u32>,
    /// Instance type.
    #[arg(long, default_value = "ml.m5.large")]
    pub(crate) instance_type: String,
    /// Instances to run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) instance_count: u32,
    /// The variant's name.
    #[arg(long, default_value = "primary")]
    pub(crate) variant: VariantName,
    /// A label, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub(crate) tags: Vec<KeyValue>,
    /// The request body of `POST /v1/endpoints` (JSON; `-` reads stdin); its `name` may be
    /// left out.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct EndpointUpdateArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The request body of `PATCH /v1/endpoints/{endpoint}` (JSON; `-` reads stdin).
    #[arg(long, short = 'f', value_name = "FILE",
          conflicts_with_all = ["instance_count", "instance_type", "model_version"])]
    pub(crate) file: Option<PathBuf>,
    /// Scale to this many instances.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) instance_count: Option<u32>,
    /// Move to this instance type.
    #[arg(long)]
    pub(crate) instance_type: Option<String>,
    /// Serve this version, MODEL:VERSION.
    #[arg(long, value_parser = parse_version_ref)]
    pub(crate) model_version: Option<mlm_core::VersionRef>,
    #[command(flatten)]
    pub(crate) target: UpdateTarget,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

/// Which variant an update changes, and with which guardrails.
#[derive(Debug, Clone, Args)]
pub(crate) struct UpdateTarget {
    /// The variant to change (default: the endpoint's only variant).
    #[arg(long)]
    pub(crate) variant: Option<VariantName>,
    /// A deployment policy for this update (JSON file: traffic shift, rollback alarms).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ScaleArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The number of instances.
    #[arg(value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) count: u32,
    #[command(flatten)]
    pub(crate) target: UpdateTarget,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SetTypeArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The instance type.
    pub(crate) instance_type: String,
    #[command(flatten)]
    pub(crate) target: UpdateTarget,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The version to serve, MODEL:VERSION.
    #[arg(value_parser = parse_version_ref, value_name = "MODEL:VERSION")]
    pub(crate) version: mlm_core::VersionRef,
    #[command(flatten)]
    pub(crate) target: UpdateTarget,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct WeightsArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// New weights, VARIANT=WEIGHT.
    #[arg(required = true, value_name = "VARIANT=WEIGHT")]
    pub(crate) weights: Vec<KeyValue>,
    /// A deployment policy for this update (JSON file).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct InvokeArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    #[command(flatten)]
    pub(crate) body: BodyArgs,
    /// Ask for this content type back.
    #[arg(long)]
    pub(crate) accept: Option<String>,
    /// Send to this variant instead of choosing by weight.
    #[arg(long)]
    pub(crate) variant: Option<VariantName>,
}

/// The request body of an invocation.
#[derive(Debug, Clone, Args)]
pub(crate) struct BodyArgs {
    /// Read the body from FILE (`-`: standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "data")]
    pub(crate) body: Option<PathBuf>,
    /// The body itself, e.g. '{"sentence": "Stocks rallied."}'.
    #[arg(short, long, value_name = "TEXT")]
    pub(crate) data: Option<String>,
    /// The body's content type.
    #[arg(long, default_value = "application/json")]
    pub(crate) content_type: String,
}

#[derive(Debug, Args)]
pub(crate) struct OverviewArgs {
    /// Only this endpoint.
    pub(crate) endpoint: Option<EndpointName>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The metrics (comma-separated or repeated): invocations, invocation_errors_4xx,
    /// invocation_errors_5xx, model_latency, cpu_utilization, memory_utilization,
    /// gpu_utilization, gpu_memory_utilization, in_flight_requests, drift_score.
    #[arg(long, required = true, value_delimiter = ',',
          value_parser = clap::value_parser!(MetricKind))]
    pub(crate) metric: Vec<MetricKind>,
    /// The window: this long before now (e.g. 15m, 1h, 2d).
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub(crate) since: Duration,
    /// Bucket length in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) period: u32,
    /// How buckets are combined (default: sum for counts, average for the rest): average,
    /// maximum, minimum, sum, sample_count.
    #[arg(long, value_parser = clap::value_parser!(Statistic))]
    pub(crate) statistic: Option<Statistic>,
    /// Only this variant.
    #[arg(long)]
    pub(crate) variant: Option<VariantName>,
    /// Only this instance.
    #[arg(long)]
    pub(crate) instance: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CapturesArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The window: this long before now (e.g. 15m, 1h, 2d; at most 7d).
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub(crate) since: Duration,
    /// Only this variant.
    #[arg(long)]
    pub(crate) variant: Option<VariantName>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlarmsCommand {
    /// List an endpoint's alarms.
    List(EndpointPageArgs),
    /// Describe an alarm with its state.
    Get(AlarmArg),
    /// Create or replace an alarm.
    Put(AlarmPutArgs),
    /// Delete an alarm.
    Delete(AlarmArg),
}

#[derive(Debug, Args)]
pub(crate) struct EndpointPageArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AlarmArg {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The alarm.
    pub(crate) alarm: AlarmName,
}

#[derive(Debug, Args)]
pub(crate) struct AlarmPutArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The alarm.
    pub(crate) alarm: AlarmName,
    /// The request body of `PUT /v1/endpoints/{endpoint}/alarms/{alarm}` (JSON; `-`: stdin).
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with_all = ["metric", "comparison", "threshold"])]
    pub(crate) file: Option<PathBuf>,
    /// The metric watched.
    #[arg(long, required_unless_present = "file", value_parser = clap::value_parser!(MetricKind))]
    pub(crate) metric: Option<MetricKind>,
    /// How the value is compared with the threshold: >, >=, <, <=.
    #[arg(long, required_unless_present = "file", allow_hyphen_values = true)]
    pub(crate) comparison: Option<String>,
    /// The threshold.
    #[arg(long, required_unless_present = "file", allow_hyphen_values = true)]
    pub(crate) threshold: Option<f64>,
    /// How a period's points are combined (default: the metric's own).
    #[arg(long, value_parser = clap::value_parser!(Statistic))]
    pub(crate) statistic: Option<Statistic>,
    /// Period length in seconds (10, 20, 30 or a multiple of 60; default 60).
    #[arg(long)]
    pub(crate) period: Option<u32>,
    /// Periods looked at, N (default 1).
    #[arg(long)]
    pub(crate) evaluation_periods: Option<u32>,
    /// Breaching periods among the last N that fire the alarm, M (default N).
    #[arg(long)]
    pub(crate) datapoints_to_alarm: Option<u32>,
    /// Only this variant's figures.
    #[arg(long)]
    pub(crate) variant: Option<VariantName>,
    /// What the alarm is for.
    #[arg(long)]
    pub(crate) description: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// Only events of this kind (e.g. autoscaled, load_test).
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Only events this recent (e.g. 15m, 1h, 2d).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) since: Option<Duration>,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PipelinesCommand {
    /// Create or replace a pipeline from its file (YAML or JSON) and print the plan.
    #[command(after_help = "\
Smoke-test requests given as a file (`requests: smoke.jsonl`) are read relative to the
pipeline file and sent inline. `mlm pipelines schema` prints the file's JSON Schema.")]
    Apply(PipelineApplyArgs),
    /// List pipelines by name.
    List(PageArgs),
    /// Describe a pipeline: its stages with the version each serves, and its runs.
    Get(PipelineArg),
    /// Delete a pipeline and its runs (the stages' endpoints stay).
    Delete(PipelineArg),
    /// List a pipeline's runs, newest version first.
    Runs(PipelinePageArgs),
    /// Describe a run: its stages and timeline.
    Run(RunArg),
    /// Let a version awaiting promotion go on into a stage.
    Promote(PromoteArgs),
    /// Cancel a run (a running deployment is rolled back).
    Cancel(RunArg),
    /// Print the JSON Schema of the pipeline file.
    Schema,
}

#[derive(Debug, Args)]
pub(crate) struct PipelineApplyArgs {
    /// The pipeline file (YAML or JSON; `-`: stdin, smoke-test files then relative to the
    /// current directory).
    pub(crate) file: PathBuf,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PipelineArg {
    /// The pipeline.
    pub(crate) pipeline: PipelineName,
}

#[derive(Debug, Args)]
pub(crate) struct PipelinePageArgs {
    /// The pipeline.
    pub(crate) pipeline: PipelineName,
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RunArg {
    /// The pipeline.
    pub(crate) pipeline: PipelineName,
    /// The run: `v<version>` (`v3`), or the version (`3`).
    pub(crate) run: String,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The pipeline.
    pub(crate) pipeline: PipelineName,
    /// The version to promote.
    #[arg(long)]
    pub(crate) version: u32,
    /// The stage it enters.
    #[arg(long)]
    pub(crate) stage: StageName,
    /// Wait until the run ends or awaits the next promotion.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Give up waiting after this long (e.g. 90s, 20m, 1h).
    #[arg(long, value_parser = parse_duration, default_value = "30m", requires = "wait")]
    pub(crate) timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DriftCommand {
    /// Baselines: profiles of a sample of an endpoint's traffic.
    #[command(subcommand)]
    Baselines(BaselinesCommand),
    /// Compare a window of traffic with a baseline: one row per field statistic.
    #[command(after_help = "\
Exits 0 whether or not drift was found; with --fail-on-drift, exits 1 when it was (for CI).
The report's drift score is the worst statistic's ratio to its threshold: above 1 when
something drifted.")]
    Report(DriftReportArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum BaselinesCommand {
    /// List an endpoint's baselines by name.
    List(EndpointPageArgs),
    /// Describe a baseline: what it was built from and its fields.
    Get(BaselineArg),
    /// Build a baseline from samples or from a window of captured traffic.
    Create(BaselineCreateArgs),
    /// Delete a baseline.
    Delete(BaselineArg),
}

#[derive(Debug, Args)]
pub(crate) struct BaselineArg {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The baseline.
    #[arg(value_name = "NAME")]
    pub(crate) baseline: BaselineName,
}

#[derive(Debug, Args)]
pub(crate) struct BaselineCreateArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The new baseline's name.
    #[arg(value_name = "NAME")]
    pub(crate) baseline: BaselineName,
    #[command(flatten)]
    pub(crate) source: SampleArgs,
}

/// Where a baseline's or a report's samples come from: a file, or captured traffic.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(false)
    .args(["samples", "since", "start"])))]
pub(crate) struct SampleArgs {
    /// Samples from a JSON Lines file (`-`: stdin): a request body per line, or
    /// {"input": ..., "output": ...}.
    #[arg(long, value_name = "FILE")]
    pub(crate) samples: Option<PathBuf>,
    /// Captured traffic of this long before now (e.g. 10m, 1h, 2d).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) since: Option<Duration>,
    /// Captured traffic from this time (RFC 3339, e.g. 2026-11-30T12:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub(crate) start: Option<DateTime<Utc>>,
    /// Captured traffic until this time (RFC 3339; default now).
    #[arg(long, value_name = "RFC3339", requires = "start", conflicts_with_all = ["samples", "since"])]
    pub(crate) end: Option<DateTime<Utc>>,
    /// Only the captured traffic this variant served.
    #[arg(long, conflicts_with = "samples")]
    pub(crate) variant: Option<VariantName>,
}

#[derive(Debug, Args)]
pub(crate) struct DriftReportArgs {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The baseline to compare with.
    #[arg(long, value_name = "NAME")]
    pub(crate) baseline: BaselineName,
    #[command(flatten)]
    pub(crate) source: SampleArgs,
    /// PSI above which a numeric field has drifted [default: 0.2].
    #[arg(long, value_name = "X")]
    pub(crate) psi: Option<f64>,
    /// Kolmogorov–Smirnov statistic above which a numeric field has drifted [default: 0.1].
    #[arg(long, value_name = "X")]
    pub(crate) ks: Option<f64>,
    /// Jensen–Shannon distance above which a categorical or text field has drifted
    /// [default: 0.1].
    #[arg(long, value_name = "X")]
    pub(crate) js_distance: Option<f64>,
    /// Chi-square p-value below which the predicted labels have drifted [default: 0.05].
    #[arg(long, value_name = "X")]
    pub(crate) label_p_value: Option<f64>,
    /// Exit with code 1 when drift was found (the report is printed either way).
    #[arg(long)]
    pub(crate) fail_on_drift: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeploymentsCommand {
    /// List an endpoint's deployments, newest first.
    List(EndpointPageArgs),
    /// Describe a deployment with its timeline.
    Get(DeploymentArg),
    /// Stop a running deployment: traffic returns to the previous fleet.
    Stop(DeploymentArg),
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentArg {
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// The deployment's id.
    pub(crate) id: String,
}

#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) interval: u64,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Parses `MODEL:VERSION`.
pub(crate) fn parse_version_ref(s: &str) -> Result<mlm_core::VersionRef, String> {
    let (model, version) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}' is not MODEL:VERSION (e.g. news:2)"))?;
    let model = ModelName::new(model).map_err(|e| e.message())?;
    let version = version
        .parse()
        .map_err(|_| format!("'{version}' is not a version number"))?;
    Ok(mlm_core::VersionRef::new(model, version))
}

/// Parses a duration: a number with a unit, `ms`, `s`, `m`, `h` or `d` (`90s`, `15m`, `1h`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 90s, 15m, 1h)"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{s}': the unit must be ms, s, m, h or d")),
    };
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn version_refs_parse() {
        let v = parse_version_ref("news:2").unwrap();
        assert_eq!((v.model.as_str(), v.version), ("news", 2));
        assert!(parse_version_ref("news").is_err());
        assert!(parse_version_ref("news:x").is_err());
        assert!(parse_version_ref("bad name:1").is_err());
    }

    #[test]
    fn serve_takes_the_backend_flags() {
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
        assert_eq!(cli.global.connect.provider, Some(ProviderKind::Aws));
        assert_eq!(cli.global.connect.data_dir, Some(PathBuf::from("/tmp/x")));
        match cli.command {
            Command::Serve(a) => {
                assert_eq!(a.bind, Some("127.0.0.1:0".parse().unwrap()));
                assert_eq!(a.tls_cert, Some(PathBuf::from("c.pem")));
                assert_eq!(a.tls_key, Some(PathBuf::from("k.pem")));
            }
            other => panic!("parsed the wrong command: {other:?}"),
        }
        assert!(Cli::try_parse_from(["mlm", "serve", "--provider", "gcp"]).is_err());
    }

    #[test]
    fn server_flags_need_a_server() {
        let no_server = Cli::try_parse_from(["mlm", "--token-file", "t", "models", "list"]);
        if std::env::var_os("MLM_SERVER").is_none() {
            assert!(no_server.is_err());
        }
    }

    #[test]
    fn bad_names_are_usage_errors() {
        let err = Cli::try_parse_from(["mlm", "models", "get", "not valid!"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
