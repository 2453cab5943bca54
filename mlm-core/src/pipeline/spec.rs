//! The pipeline file: a model, and the stages each approved version of it goes through.
//!
//! Read from YAML or JSON with [`PipelineSpec::parse`]; unknown fields are refused and every
//! error names the field (`stages[0].deployment.percent`) and, for text, the line.

use serde::{Deserialize, Serialize};

use crate::alarm::{AlarmDefinition, Comparison, TreatMissingData};
use crate::endpoint::{
    AutoscalingPolicy, DeploymentPolicy, ServerlessConfig, TrafficShift, VariantShapeRef,
    VariantSpec, validate_variants,
};
use crate::error::{Error, Result};
use crate::model::VersionRef;
use crate::names::{AlarmName, EndpointName, ModelName, PipelineName, StageName, VariantName};
use crate::observability::{MetricKind, Statistic};

/// Most stages a pipeline has.
pub const MAX_STAGES: usize = 5;
/// Most smoke-test requests a stage sends.
pub const MAX_SMOKE_REQUESTS: usize = 100;
/// Longest a stage soaks after its smoke test (one day).
pub const MAX_SOAK_SECONDS: u32 = 86_400;
/// Longest one smoke-test request may take.
pub const MAX_SMOKE_TIMEOUT_SECONDS: u32 = 300;

/// A promotion pipeline: where approved versions of `model` are deployed, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PipelineSpec {
    /// The pipeline's name.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pipeline: PipelineName,
    /// The model whose approved versions it deploys.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub model: ModelName,
    /// The stages in order, 1–5; a version reaches a stage only after the one before.
    pub stages: Vec<StageSpec>,
}

/// One stage: an endpoint, its shape, how a new version rolls out and how it is checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StageSpec {
    /// Unique within the pipeline.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: StageName,
    /// The endpoint this stage deploys to (created if missing).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub endpoint: EndpointName,
    /// A version enters this stage only when a user promotes it; otherwise it follows the
    /// previous stage as soon as that one succeeded.
    #[serde(default)]
    pub requires_approval: bool,
    /// The endpoint's variants; each serves the version being deployed.
    pub variants: Vec<StageVariant>,
    /// How traffic moves to a new version on an existing endpoint; none: all at once.
    #[serde(default)]
    pub deployment: Option<TrafficShift>,
    /// Alarms put on the endpoint; while a deployment runs they roll it back.
    #[serde(default)]
    pub alarms: Vec<StageAlarm>,
    /// Requests sent once the version serves; any failure rolls the stage back.
    #[serde(default)]
    pub smoke_test: Option<SmokeTest>,
    /// How long the stage watches its alarms after the smoke test before it succeeds.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 86400))]
    pub soak_seconds: u32,
}

/// A variant of a stage's endpoint, without the version (the pipeline fills it in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StageVariant {
    /// Unique within the endpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: VariantName,
    /// Instance type; omit for serverless.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Instances to run; omit for serverless (default 1 otherwise).
    #[serde(default)]
    pub instance_count: Option<u32>,
    /// Relative traffic weight (default 1).
    #[serde(default)]
    pub weight: Option<f32>,
    /// Serverless capacity instead of instances.
    #[serde(default)]
    pub serverless: Option<ServerlessConfig>,
    /// Autoscaling of the instance count.
    #[serde(default)]
    pub autoscaling: Option<AutoscalingPolicy>,
}

/// An alarm of a stage's endpoint (the endpoint is the stage's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StageAlarm {
    /// Unique within the endpoint; default `<pipeline>-<stage>-<metric>` (hyphens for
    /// underscores).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<AlarmName>,
    /// The metric.
    pub metric: MetricKind,
    /// How a period's data points are combined; default: the metric's own.
    #[serde(default)]
    pub statistic: Option<Statistic>,
    /// How the value is compared with `threshold`.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// Length of one period (default 60).
    #[serde(default)]
    pub period_seconds: Option<u32>,
    /// Periods looked at (default 1).
    #[serde(default)]
    pub evaluation_periods: Option<u32>,
    /// Breaching periods that fire it (default: all of them).
    #[serde(default)]
    pub datapoints_to_alarm: Option<u32>,
    /// How periods with no data count (default `missing`).
    #[serde(default)]
    pub treat_missing_data: Option<TreatMissingData>,
}

/// Requests sent to a stage's endpoint once the new version serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SmokeTest {
    /// The requests, 1–100. In a pipeline file this may name a JSON Lines file (one
    /// `{"body": …, "expect": …}` per line) relative to the file; `mlm pipelines apply` and
    /// the Python client read it and send the requests inline, because the server never
    /// reads paths it is given.
    pub requests: SmokeRequests,
    /// Longest one request may take (default 30 s).
    #[serde(default = "default_smoke_timeout")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 300))]
    pub timeout_seconds: u32,
}

fn default_smoke_timeout() -> u32 {
    30
}

/// Smoke-test requests, inline or (in a file, before it is applied) the path of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
#[non_exhaustive]
pub enum SmokeRequests {
    /// The requests.
    Inline(Vec<SmokeRequest>),
    /// A JSON Lines file relative to the pipeline file; resolved by the client.
    File(String),
}

/// One smoke-test request and, optionally, the answer it must get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SmokeRequest {
    /// The JSON body sent to the endpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub body: serde_json::Value,
    /// The answer must contain this: equal for scalars and arrays, every key equal (the same
    /// rule inside) for objects. None: any 2xx answer passes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub expect: Option<serde_json::Value>,
}

impl SmokeRequest {
    /// A request that passes with any successful answer.
    pub fn new(body: serde_json::Value) -> Self {
        Self { body, expect: None }
    }

    /// The answer must contain `expect`.
    pub fn expecting(mut self, expect: serde_json::Value) -> Self {
        self.expect = Some(expect);
        self
    }
}

/// Whether `answer` contains `expected` (see [`SmokeRequest::expect`]).
pub fn answer_matches(expected: &serde_json::Value, answer: &serde_json::Value) -> bool {
    match (expected, answer) {
        (serde_json::Value::Object(want), serde_json::Value::Object(got)) => want
            .iter()
            .all(|(k, v)| got.get(k).is_some_and(|g| answer_matches(v, g))),
        _ => expected == answer,
    }
}

impl SmokeTest {
    /// Inline requests.
    pub fn new(requests: Vec<SmokeRequest>) -> Self {
        Self {
            requests: SmokeRequests::Inline(requests),
            timeout_seconds: default_smoke_timeout(),
        }
    }
}

/// Reads smoke-test requests from JSON Lines text: one `{"body": …, "expect": …}` per line,
/// blank lines skipped; errors name the line.
pub fn parse_smoke_requests(text: &str) -> Result<Vec<SmokeRequest>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| Error::invalid(format!("smoke-test requests, line {}: {e}", i + 1)))
        })
        .collect()
}

impl PipelineSpec {
    /// Reads a pipeline from YAML or JSON text (JSON is YAML) and validates it. Errors name
    /// the field and the line: `stages[0].deployment: unknown variant `canery` … at line 7`.
    pub fn parse(text: &str) -> Result<Self> {
        let deserializer = serde_norway::Deserializer::from_str(text);
        let spec: Self = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            Error::invalid(format!("pipeline file: {at}{}", e.inner()))
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Replaces every smoke test's file with its requests, reading it with `read` (given the
    /// path as written). Clients call it before sending a file's pipeline to a server.
    pub fn inline_files(&mut self, read: impl Fn(&str) -> Result<String>) -> Result<()> {
        for stage in &mut self.stages {
            if let Some(smoke) = &mut stage.smoke_test
                && let SmokeRequests::File(path) = &smoke.requests
            {
                let text = read(path)?;
                let requests = parse_smoke_requests(&text).map_err(|e| {
                    Error::invalid(format!("stage '{}': {path}: {}", stage.name, e.message()))
                })?;
                smoke.requests = SmokeRequests::Inline(requests);
            }
        }
        self.validate()
    }

    /// Checks the whole pipeline: stage count, unique stage names and endpoints, variants,
    /// deployment policies and alarms with the same rules as the calls the stages make.
    pub fn validate(&self) -> Result<()> {
        if self.stages.is_empty() || self.stages.len() > MAX_STAGES {
            return Err(Error::invalid(format!(
                "pipeline '{}': stages: give 1-{MAX_STAGES} stages, not {}",
                self.pipeline,
                self.stages.len()
            )));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let earlier = &self.stages[..i];
            if earlier.iter().any(|s| s.name == stage.name) {
                return Err(Error::invalid(format!(
                    "stages[{i}].name: stage '{}' appears twice",
                    stage.name
                )));
            }
            if earlier.iter().any(|s| s.endpoint == stage.endpoint) {
                return Err(Error::invalid(format!(
                    "stages[{i}].endpoint: endpoint '{}' is already used by an earlier stage",
                    stage.endpoint
                )));
            }
            stage.validate(self).map_err(|e| {
                Error::invalid(format!("stages[{i}] ('{}'): {}", stage.name, e.message()))
            })?;
        }
        Ok(())
    }

    /// The stage named `name`.
    pub fn stage(&self, name: &StageName) -> Result<&StageSpec> {
        self.stages.iter().find(|s| &s.name == name).ok_or_else(|| {
            Error::invalid(format!(
                "pipeline '{}' has no stage '{name}' (stages: {})",
                self.pipeline,
                self.stages
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

impl StageSpec {
    fn validate(&self, pipeline: &PipelineSpec) -> Result<()> {
        let probe = VersionRef::new(pipeline.model.clone(), 1);
        let variants = self.variant_specs(&probe);
        validate_variants(&variants)?;
        self.deployment_policy(pipeline)?.validate_for(
            &variants
                .iter()
                .map(VariantShapeRef::from)
                .collect::<Vec<_>>(),
        )?;
        for alarm in self.alarm_definitions(pipeline)? {
            alarm.validate()?;
        }
        if self.soak_seconds > MAX_SOAK_SECONDS {
            return Err(Error::invalid(format!(
                "soak_seconds: at most {MAX_SOAK_SECONDS}, not {}",
                self.soak_seconds
            )));
        }
        if let Some(smoke) = &self.smoke_test {
            smoke.validate()?;
        }
        Ok(())
    }

    /// The endpoint's variants serving `version`.
    pub fn variant_specs(&self, version: &VersionRef) -> Vec<VariantSpec> {
        self.variants
            .iter()
            .map(|v| {
                let mut spec = match &v.serverless {
                    Some(config) => {
                        VariantSpec::serverless(v.name.clone(), version.clone(), *config)
                    }
                    None => VariantSpec::new(
                        v.name.clone(),
                        version.clone(),
                        v.instance_type.clone().unwrap_or_default(),
                        v.instance_count.unwrap_or(1),
                    ),
                };
                if v.serverless.is_some() {
                    spec.instance_type = v.instance_type.clone();
                    spec.instance_count = v.instance_count.unwrap_or(0);
                }
                spec.weight = v.weight.unwrap_or(1.0);
                spec.autoscaling = v.autoscaling.clone();
                spec
            })
            .collect()
    }

    /// The deployment policy of an update: the stage's traffic shift, rolled back by its
    /// alarms.
    pub fn deployment_policy(&self, pipeline: &PipelineSpec) -> Result<DeploymentPolicy> {
        let mut policy =
            DeploymentPolicy::new(self.deployment.clone().unwrap_or(TrafficShift::AllAtOnce));
        for alarm in self.alarm_definitions(pipeline)? {
            policy = policy.with_rollback_alarm(alarm.name);
        }
        Ok(policy)
    }

    /// The stage's alarms as definitions on its endpoint.
    pub fn alarm_definitions(&self, pipeline: &PipelineSpec) -> Result<Vec<AlarmDefinition>> {
        self.alarms
            .iter()
            .map(|a| a.definition(pipeline, self))
            .collect()
    }
}

impl StageAlarm {
    fn definition(&self, pipeline: &PipelineSpec, stage: &StageSpec) -> Result<AlarmDefinition> {
        let name = match &self.name {
            Some(name) => name.clone(),
            None => AlarmName::new(
                format!(
                    "{}-{}-{}",
                    pipeline.pipeline,
                    stage.name,
                    self.metric.as_str()
                )
                .replace('_', "-"),
            )?,
        };
        let evaluation = self.evaluation_periods.unwrap_or(1);
        let mut definition = AlarmDefinition::new(
            name,
            stage.endpoint.clone(),
            self.metric,
            self.statistic
                .unwrap_or_else(|| self.metric.default_statistic()),
            self.comparison,
            self.threshold,
            self.period_seconds.unwrap_or(60),
        )
        .with_datapoints(self.datapoints_to_alarm.unwrap_or(evaluation), evaluation);
        if let Some(treatment) = self.treat_missing_data {
            definition = definition.with_missing_data(treatment);
        }
        definition.description = Some(format!(
            "put by pipeline '{}' for stage '{}'",
            pipeline.pipeline, stage.name
        ));
        Ok(definition)
    }
}

impl SmokeTest {
    fn validate(&self) -> Result<()> {
        if !(1..=MAX_SMOKE_TIMEOUT_SECONDS).contains(&self.timeout_seconds) {
            return Err(Error::invalid(format!(
                "smoke_test.timeout_seconds: 1-{MAX_SMOKE_TIMEOUT_SECONDS}, not {}",
                self.timeout_seconds
            )));
        }
        match &self.requests {
            SmokeRequests::Inline(requests)
                if requests.is_empty() || requests.len() > MAX_SMOKE_REQUESTS =>
            {
                Err(Error::invalid(format!(
                    "smoke_test.requests: give 1-{MAX_SMOKE_REQUESTS} requests, not {}",
                    requests.len()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The inline requests; `InvalidArgument` for a file that was not read (a server is
    /// never given paths to read).
    pub fn inline_requests(&self) -> Result<&[SmokeRequest]> {
        match &self.requests {
            SmokeRequests::Inline(requests) => Ok(requests),
            SmokeRequests::File(path) => Err(Error::invalid(format!(
                "smoke_test.requests names a file ({path}); the server does not read files it \
                 is given: send the requests inline (`mlm pipelines apply FILE` and Python's \
                 `apply_pipeline(path)` read the file for you)"
            ))),
        }
    }
}

impl PipelineSpec {
    /// Reads a pipeline file as clients do before sending it: [`Self::parse`], then
    /// [`Self::inline_files`] with the smoke-test files read relative to the file's directory.
    pub fn read_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        Self::parse_in(&text, dir)
    }

    /// Reads a pipeline from text whose smoke-test files are relative to `dir`.
    pub fn parse_in(text: &str, dir: &std::path::Path) -> Result<Self> {
        let mut spec = Self::parse(text)?;
        spec.inline_files(|file| {
            std::fs::read_to_string(dir.join(file)).map_err(|e| {
                Error::invalid(format!("cannot read the smoke-test requests {file}: {e}"))
            })
        })?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
pipeline: news
model: news
stages:
  - name: staging
    endpoint: news-staging
    variants: [{name: primary, instance_type: ml.m5.large, instance_count: 1}]
    deployment: {type: canary, percent: 10, bake_seconds: 60}
    alarms: [{metric: invocation_errors_5xx, statistic: sum, comparison: ">", threshold: 0, period_seconds: 60}]
    smoke_test: {requests: smoke.jsonl}
  - name: production
    endpoint: news-prod
    requires_approval: true
    variants: [{name: primary, serverless: {memory_mb: 2048, max_concurrency: 2}}]
"#;

    #[test]
    fn the_issue_example_parses_and_fills_defaults() {
        let spec = PipelineSpec::parse(SEED).unwrap();
        assert_eq!(spec.stages.len(), 2);
        let staging = &spec.stages[0];
        assert!(!staging.requires_approval);
        let alarms = staging.alarm_definitions(&spec).unwrap();
        assert_eq!(
            alarms[0].name.as_str(),
            "news-staging-invocation-errors-5xx"
        );
        assert_eq!(alarms[0].endpoint.as_str(), "news-staging");
        let v1 = VersionRef::new(ModelName::new("news").unwrap(), 1);
        let prod = spec.stages[1].variant_specs(&v1);
        assert_eq!(prod[0].serverless.as_ref().unwrap().max_concurrency, 2);
        assert_eq!(prod[0].instance_count, 0);
        assert!(matches!(
            staging.smoke_test.as_ref().unwrap().requests,
            SmokeRequests::File(_)
        ));
    }

    #[test]
    fn errors_name_the_field_and_the_line() {
        let bad = SEED.replace("type: canary", "type: canery");
        let e = PipelineSpec::parse(&bad).unwrap_err().message();
        assert!(e.contains("stages[0].deployment"), "{e}");
        assert!(e.contains("line 8"), "{e}");
        let unknown = SEED.replace("requires_approval: true", "requires_aproval: true");
        let e = PipelineSpec::parse(&unknown).unwrap_err().message();
        assert!(
            e.contains("stages[1]") && e.contains("requires_aproval"),
            "{e}"
        );
        let name = SEED.replace("name: staging", "name: Staging_1");
        let e = PipelineSpec::parse(&name).unwrap_err().message();
        assert!(e.contains("stages[0].name"), "{e}");
    }

    #[test]
    fn stage_rules_are_the_calls_rules() {
        let twice = SEED.replace("endpoint: news-prod", "endpoint: news-staging");
        let e = PipelineSpec::parse(&twice).unwrap_err().message();
        assert!(e.contains("already used"), "{e}");
        let canary = SEED.replace("percent: 10", "percent: 100");
        assert!(PipelineSpec::parse(&canary).is_err());
        let no_type = SEED.replace("instance_type: ml.m5.large, ", "");
        assert!(PipelineSpec::parse(&no_type).is_err());
        let period = SEED.replace("period_seconds: 60", "period_seconds: 61");
        let e = PipelineSpec::parse(&period).unwrap_err().message();
        assert!(e.contains("period_seconds"), "{e}");
    }

    #[test]
    fn files_are_inlined_by_the_client_and_refused_by_the_server() {
        let mut spec = PipelineSpec::parse(SEED).unwrap();
        let smoke = spec.stages[0].smoke_test.as_ref().unwrap();
        assert!(smoke.inline_requests().is_err());
        spec.inline_files(|path| {
            assert_eq!(path, "smoke.jsonl");
            Ok("{\"body\": {\"text\": \"a\"}, \"expect\": {\"label\": \"World\"}}\n\n{\"body\": 1}\n".into())
        })
        .unwrap();
        let requests = spec.stages[0]
            .smoke_test
            .as_ref()
            .unwrap()
            .inline_requests()
            .unwrap();
        assert_eq!(requests.len(), 2);
        let e = spec
            .clone()
            .inline_files(|_| Ok("{\"bod\": 1}".into()))
            .map(|_| ());
        assert!(e.is_ok(), "already inline: nothing is read");
        let mut again = PipelineSpec::parse(SEED).unwrap();
        let e = again
            .inline_files(|_| Ok("{}\n{\"bod\": 1}".into()))
            .unwrap_err();
        assert!(e.message().contains("line 1"), "{}", e.message());
    }

    #[test]
    fn expected_answers_match_by_containment() {
        let answer = serde_json::json!({"label": "World", "scores": [0.9, 0.1]});
        assert!(answer_matches(
            &serde_json::json!({"label": "World"}),
            &answer
        ));
        assert!(!answer_matches(
            &serde_json::json!({"label": "Sports"}),
            &answer
        ));
        assert!(!answer_matches(
            &serde_json::json!({"scores": [0.9]}),
            &answer
        ));
        assert!(answer_matches(&serde_json::json!(3), &serde_json::json!(3)));
    }
}
