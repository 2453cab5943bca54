//! [`AwsConfig`]: the AWS backend's settings as data — the `[aws]` section of a server's
//! configuration file, the keywords of `mlm.Client.aws` — applied with
//! [`AwsProviderBuilder::with_config`](crate::AwsProviderBuilder::with_config).

use std::time::Duration;

use mlm_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Settings of the AWS backend that belong in a configuration file.
///
/// Every field is optional: a field left out keeps what
/// [`AwsProviderBuilder::from_env`](crate::AwsProviderBuilder::from_env) gives (the SDK's
/// default chain, `MLM_SAGEMAKER_EXECUTION_ROLE_ARN`, the builder's defaults). Unknown keys are
/// errors, so typos do not go unnoticed. Durations are numbers of seconds (fractions allowed)
/// in keys ending in `_secs`, as elsewhere in mlm's configuration.
///
/// There are **no credentials** here, on purpose: secrets do not belong in configuration
/// files. Credentials come from the SDK's default chain (environment, `profile`, SSO, web
/// identity, container and instance roles).
///
/// Surrounding spaces in strings are ignored; an empty string is an error, not "unset".
///
/// Read it with serde from any format; values are checked when it is applied
/// ([`with_config`](crate::AwsProviderBuilder::with_config)) or by [`validate`](Self::validate).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config: mlm_aws::AwsConfig = serde_json::from_str(
///     r#"{"region": "eu-west-1", "max_attempts": 5, "operation_timeout_secs": 30}"#,
/// )?;
/// let builder = mlm_aws::AwsProviderBuilder::from_env().with_config(&config)?;
/// # drop(builder);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AwsConfig {
    /// AWS region (e.g. `eu-west-1`); default: `AWS_REGION` or the profile's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Named profile of the shared AWS config and credentials files (like `AWS_PROFILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Sends every request to this `http://` or `https://` URL instead of AWS's (an emulator,
    /// a VPC endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// IAM role SageMaker assumes to run the models of new endpoints
    /// (`arn:aws:iam::<account>:role/<name>`); default: `MLM_SAGEMAKER_EXECUTION_ROLE_ARN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Attempts per AWS call in the SDK's standard retry mode, at least 1 (1 = no retries);
    /// default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Timeout of one attempt of a control-plane call, in seconds (> 0); default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_timeout_secs: Option<f64>,
    /// Timeout of a whole control-plane call including retries, in seconds (> 0); default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_timeout_secs: Option<f64>,
    /// Timeout of one invocation attempt, in seconds (> 0); default 70 (SageMaker gives
    /// models 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_timeout_secs: Option<f64>,
    /// Whether new endpoint configurations publish per-instance (enhanced) metrics; default
    /// true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced_metrics: Option<bool>,
    /// How long live figures in overviews are reused, in seconds (≥ 0; 0 re-reads them on
    /// every call); default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_ttl_secs: Option<f64>,
    /// How many describe calls run at once when listing, at least 1; default 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Where promotion pipelines keep their state (`s3://bucket/prefix`); unset: pipelines
    /// are unsupported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipelines_uri: Option<String>,
    /// Where `mlm models push` uploads archives unless given a destination
    /// (`s3://bucket/prefix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts_uri: Option<String>,
    /// How often a long-lived server (`mlm serve`) looks for approvals and moves pipeline
    /// runs on, in seconds (> 0); default 30. A Lambda ticks per event instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_poll_secs: Option<f64>,
}

/// An [`AwsConfig`] checked and converted: what the builder applies.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub execution_role_arn: Option<String>,
    pub max_attempts: Option<u32>,
    pub attempt_timeout: Option<Duration>,
    pub operation_timeout: Option<Duration>,
    pub invoke_timeout: Option<Duration>,
    pub enhanced_metrics: Option<bool>,
    pub metrics_ttl: Option<Duration>,
    pub concurrency: Option<usize>,
    pub pipelines_uri: Option<String>,
    pub artifacts_uri: Option<String>,
    pub pipeline_poll: Option<Duration>,
}

impl AwsConfig {
    /// Checks every set field; an `InvalidArgument` error names the bad field.
    pub fn validate(&self) -> Result<()> {
        self.check().map(drop)
    }

    /// The set fields, checked and converted.
    pub(crate) fn check(&self) -> Result<Checked> {
        let endpoint_url = text("endpoint_url", &self.endpoint_url)?;
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::invalid(format!(
                "endpoint_url must be an http:// or https:// URL, not {url:?}"
            )));
        }
        let execution_role_arn = text("execution_role_arn", &self.execution_role_arn)?;
        if let Some(arn) = &execution_role_arn
            && !(arn.starts_with("arn:") && arn.contains(":role/"))
        {
            return Err(Error::invalid(format!(
                "execution_role_arn must be an IAM role ARN \
                 (arn:aws:iam::<account>:role/<name>), not {arn:?}"
            )));
        }
        if self.max_attempts == Some(0) {
            return Err(Error::invalid(
                "max_attempts must be at least 1 (1 means no retries)",
            ));
        }
        if self.concurrency == Some(0) {
            return Err(Error::invalid("concurrency must be at least 1"));
        }
        let pipelines_uri = s3_uri("pipelines_uri", &self.pipelines_uri)?;
        let artifacts_uri = s3_uri("artifacts_uri", &self.artifacts_uri)?;
        Ok(Checked {
            region: text("region", &self.region)?,
            profile: text("profile", &self.profile)?,
            endpoint_url,
            execution_role_arn,
            max_attempts: self.max_attempts,
            attempt_timeout: seconds("attempt_timeout_secs", self.attempt_timeout_secs, false)?,
            operation_timeout: seconds(
                "operation_timeout_secs",
                self.operation_timeout_secs,
                false,
            )?,
            invoke_timeout: seconds("invoke_timeout_secs", self.invoke_timeout_secs, false)?,
            enhanced_metrics: self.enhanced_metrics,
            metrics_ttl: seconds("metrics_ttl_secs", self.metrics_ttl_secs, true)?,
            concurrency: self
                .concurrency
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            pipelines_uri,
            artifacts_uri,
            pipeline_poll: seconds("pipeline_poll_secs", self.pipeline_poll_secs, false)?,
        })
    }
}

/// An `s3://bucket/prefix` setting.
fn s3_uri(field: &str, value: &Option<String>) -> Result<Option<String>> {
    let uri = text(field, value)?;
    if let Some(uri) = &uri {
        crate::captures::split_s3_uri(uri)
            .map_err(|e| Error::invalid(format!("{field}: {}", e.message())))?;
    }
    Ok(uri)
}

/// A string setting: trimmed, and not empty.
fn text(field: &str, value: &Option<String>) -> Result<Option<String>> {
    match value.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(Error::invalid(format!("{field} must not be empty"))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// A duration in seconds: finite and positive (or zero, when `zero_ok`).
fn seconds(field: &str, value: Option<f64>, zero_ok: bool) -> Result<Option<Duration>> {
    let Some(secs) = value else {
        return Ok(None);
    };
    let bound = if zero_ok { ">= 0" } else { "> 0" };
    if !secs.is_finite() || secs < 0.0 || (secs == 0.0 && !zero_ok) {
        return Err(Error::invalid(format!(
            "{field} must be a finite number of seconds {bound}, not {secs}"
        )));
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|_| Error::invalid(format!("{field} is too large ({secs} seconds)")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlm_core::ErrorKind;

    const FULL_TOML: &str = r#"
        region = "eu-west-1"
        profile = "ml"
        endpoint_url = "http://127.0.0.1:5000"
        execution_role_arn = "arn:aws:iam::123456789012:role/sagemaker-exec"
        max_attempts = 5
        attempt_timeout_secs = 2.5
        operation_timeout_secs = 30
        invoke_timeout_secs = 90
        enhanced_metrics = false
        metrics_ttl_secs = 0
        concurrency = 4
        pipelines_uri = "s3://mlm-state/prod"
        artifacts_uri = "s3://mlm-models/pushed"
        pipeline_poll_secs = 15
    "#;

    fn full() -> AwsConfig {
        AwsConfig {
            region: Some("eu-west-1".into()),
            profile: Some("ml".into()),
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            execution_role_arn: Some("arn:aws:iam::123456789012:role/sagemaker-exec".into()),
            max_attempts: Some(5),
            attempt_timeout_secs: Some(2.5),
            operation_timeout_secs: Some(30.0),
            invoke_timeout_secs: Some(90.0),
            enhanced_metrics: Some(false),
            metrics_ttl_secs: Some(0.0),
            concurrency: Some(4),
            pipelines_uri: Some("s3://mlm-state/prod".into()),
            artifacts_uri: Some("s3://mlm-models/pushed".into()),
            pipeline_poll_secs: Some(15.0),
        }
    }

    fn message(config: &AwsConfig) -> String {
        let err = config.validate().expect_err("invalid");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        err.message()
    }

    #[test]
    fn every_field_reads_from_toml_with_integer_or_fractional_seconds() {
        let config: AwsConfig = toml::from_str(FULL_TOML).unwrap();
        assert_eq!(config, full());
        config.validate().unwrap();
    }

    #[test]
    fn an_aws_section_of_a_server_file_reads_through_its_table() {
        // How `mlm serve` reads its `[aws]` section.
        let mut file: toml::Table =
            toml::from_str("[server]\nbind = \"127.0.0.1:1\"\n[aws]\nregion = \"us-east-2\"\n")
                .unwrap();
        let Some(toml::Value::Table(section)) = file.remove("aws") else {
            panic!("no [aws] table");
        };
        let config: AwsConfig = section.try_into().unwrap();
        assert_eq!(config.region.as_deref(), Some("us-east-2"));
        assert_eq!(
            config,
            AwsConfig {
                region: Some("us-east-2".into()),
                ..AwsConfig::default()
            }
        );
    }

    #[test]
    fn every_field_reads_from_json_and_round_trips() {
        let json = serde_json::to_value(full()).unwrap();
        assert_eq!(json["attempt_timeout_secs"], 2.5);
        assert_eq!(serde_json::from_value::<AwsConfig>(json).unwrap(), full());
        let text = toml::to_string(&full()).unwrap();
        assert_eq!(toml::from_str::<AwsConfig>(&text).unwrap(), full());
    }

    #[test]
    fn an_empty_document_is_the_default_and_unset_fields_are_not_written() {
        assert_eq!(
            serde_json::from_str::<AwsConfig>("{}").unwrap(),
            AwsConfig::default()
        );
        assert_eq!(
            toml::from_str::<AwsConfig>("").unwrap(),
            AwsConfig::default()
        );
        assert_eq!(serde_json::to_string(&AwsConfig::default()).unwrap(), "{}");
        AwsConfig::default().validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = toml::from_str::<AwsConfig>("region = \"eu-west-1\"\nmax_retries = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_retries"), "{err}");
        let err = serde_json::from_str::<AwsConfig>(r#"{"attempt_timeout": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("attempt_timeout"), "{err}");
        // Credentials have no place here.
        let err = toml::from_str::<AwsConfig>("secret_access_key = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret_access_key"), "{err}");
    }

    #[test]
    fn wrong_types_are_refused_with_the_key() {
        let err = toml::from_str::<AwsConfig>("max_attempts = \"3\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_attempts"), "{err}");
        let err = toml::from_str::<AwsConfig>("concurrency = -1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("concurrency"), "{err}");
    }

    #[test]
    fn empty_strings_are_refused_by_field() {
        for field in ["region", "profile", "endpoint_url", "execution_role_arn"] {
            let mut config = AwsConfig::default();
            let slot = match field {
                "region" => &mut config.region,
                "profile" => &mut config.profile,
                "endpoint_url" => &mut config.endpoint_url,
                _ => &mut config.execution_role_arn,
            };
            *slot = Some("  ".into());
            assert_eq!(message(&config), format!("{field} must not be empty"));
        }
    }

    #[test]
    fn a_malformed_url_or_role_is_refused() {
        let config = AwsConfig {
            endpoint_url: Some("localhost:5000".into()),
            ..AwsConfig::default()
        };
        assert!(message(&config).starts_with("endpoint_url must be an http:// or https:// URL"));
        let config = AwsConfig {
            execution_role_arn: Some("sagemaker-exec".into()),
            ..AwsConfig::default()
        };
        assert!(message(&config).starts_with("execution_role_arn must be an IAM role ARN"));
    }

    #[test]
    fn zero_attempts_and_zero_concurrency_are_refused() {
        let config = AwsConfig {
            max_attempts: Some(0),
            ..AwsConfig::default()
        };
        assert!(message(&config).starts_with("max_attempts must be at least 1"));
        let config = AwsConfig {
            concurrency: Some(0),
            ..AwsConfig::default()
        };
        assert_eq!(message(&config), "concurrency must be at least 1");
    }

    #[test]
    fn timeouts_must_be_finite_and_positive() {
        type Slot = fn(&mut AwsConfig) -> &mut Option<f64>;
        let slots: [(&str, Slot); 3] = [
            ("attempt_timeout_secs", |c| &mut c.attempt_timeout_secs),
            ("operation_timeout_secs", |c| &mut c.operation_timeout_secs),
            ("invoke_timeout_secs", |c| &mut c.invoke_timeout_secs),
        ];
        for (field, slot) in slots {
            for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
                let mut config = AwsConfig::default();
                *slot(&mut config) = Some(bad);
                let m = message(&config);
                assert!(
                    m.starts_with(&format!("{field} must be a finite number of seconds > 0")),
                    "{m}"
                );
            }
            let mut config = AwsConfig::default();
            *slot(&mut config) = Some(1e30);
            assert!(message(&config).starts_with(&format!("{field} is too large")));
            *slot(&mut config) = Some(0.25);
            config.validate().unwrap();
        }
    }

    #[test]
    fn the_metrics_ttl_may_be_zero_but_not_negative() {
        let mut config = AwsConfig {
            metrics_ttl_secs: Some(0.0),
            ..AwsConfig::default()
        };
        assert_eq!(config.check().unwrap().metrics_ttl, Some(Duration::ZERO));
        config.metrics_ttl_secs = Some(-0.0);
        assert_eq!(config.check().unwrap().metrics_ttl, Some(Duration::ZERO));
        for bad in [-0.5, f64::NAN] {
            config.metrics_ttl_secs = Some(bad);
            assert!(
                message(&config)
                    .starts_with("metrics_ttl_secs must be a finite number of seconds >= 0"),
            );
        }
    }

    #[test]
    fn strings_are_trimmed_and_seconds_converted() {
        let config = AwsConfig {
            region: Some(" eu-west-1 ".into()),
            attempt_timeout_secs: Some(2.5),
            ..AwsConfig::default()
        };
        let checked = config.check().unwrap();
        assert_eq!(checked.region.as_deref(), Some("eu-west-1"));
        assert_eq!(checked.attempt_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(checked.operation_timeout, None);
    }
}
