//! The function's configuration, from its environment (the SAM template sets it).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MLM_SAGEMAKER_EXECUTION_ROLE_ARN` | the role SageMaker runs models with | — (required to deploy) |
//! | `MLM_STATE_URI` | `s3://bucket/prefix`: pipeline state and deploy markers | — (pipelines and S3 deploys off) |
//! | `MLM_ARTIFACTS_URI` | `s3://bucket/prefix` for pushed archives | — |
//! | `MLM_TOKENS_SECRET_ARN` | a Secrets Manager secret holding `token:role,…` | — |
//! | `MLM_TOKENS` | the same list, in the environment | — |
//! | `MLM_DEPLOY_IMAGE` | the serving image of versions deployed from S3 | — (S3 deploys off) |
//! | `MLM_DEPLOY_KEY_PATTERN` | which keys deploy, and the model they name | `models/{model}/{anything}/model.tar.gz` |
//! | `MLM_DEPLOY_ENDPOINT` | the endpoint a model deploys to | `{model}` |
//! | `MLM_DEPLOY_MEMORY_MB` | the serverless variant's memory | 2048 |
//! | `MLM_DEPLOY_MAX_CONCURRENCY` | the serverless variant's max concurrency | 5 |
//! | `MLM_NOTIFY_QUEUE_URL` | the SQS queue told of each deploy | — (required for S3 deploys) |
//!
//! Without tokens, the HTTP API relies on API Gateway's authorizer (IAM or JWT, see the
//! README's "Deploy to AWS").

use mlm_core::{EndpointName, Error, ModelName, Result};

/// What the function was configured with.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LambdaConfig {
    /// `s3://bucket/prefix` of pipeline state and deploy markers.
    pub state_uri: Option<String>,
    /// `s3://bucket/prefix` of pushed archives.
    pub artifacts_uri: Option<String>,
    /// The secret with the API tokens.
    pub tokens_secret_arn: Option<String>,
    /// The API tokens, from the environment.
    pub tokens: Option<String>,
    /// Deploys from S3, when configured.
    pub deploy: Option<DeployConfig>,
}

/// How a model archive landing in S3 is deployed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeployConfig {
    /// Which keys deploy, and the model each names.
    pub pattern: KeyPattern,
    /// The serving image of the versions.
    pub image: String,
    /// The endpoint name, `{model}` replaced by the model's.
    pub endpoint: String,
    /// Serverless memory, MB.
    pub memory_mb: u32,
    /// Serverless max concurrency.
    pub max_concurrency: u32,
    /// The queue told of each deploy.
    pub queue_url: String,
}

impl DeployConfig {
    /// Deploys `image` for keys matching `pattern`, telling `queue_url`; seed 004's
    /// defaults otherwise (endpoint named after the model, 2048 MB, concurrency 5).
    pub fn new(
        pattern: KeyPattern,
        image: impl Into<String>,
        queue_url: impl Into<String>,
    ) -> Self {
        Self {
            pattern,
            image: image.into(),
            endpoint: "{model}".into(),
            memory_mb: 2048,
            max_concurrency: 5,
            queue_url: queue_url.into(),
        }
    }

    /// The endpoint `model` deploys to; `InvalidArgument` when the name breaks the rules.
    pub fn endpoint_for(&self, model: &ModelName) -> Result<EndpointName> {
        EndpointName::new(self.endpoint.replace("{model}", model.as_str()))
    }
}

impl LambdaConfig {
    /// Reads the configuration with `var` (the process environment in `main`); a bad value
    /// is an `InvalidArgument` naming its variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: u32| -> Result<u32> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| Error::invalid(format!("{name}: '{v}' is not a whole number"))),
            }
        };
        let deploy = match get("MLM_DEPLOY_IMAGE") {
            None => None,
            Some(image) => {
                let queue = get("MLM_NOTIFY_QUEUE_URL").ok_or_else(|| {
                    Error::invalid("MLM_DEPLOY_IMAGE is set: MLM_NOTIFY_QUEUE_URL is needed too")
                })?;
                let pattern = get("MLM_DEPLOY_KEY_PATTERN")
                    .unwrap_or_else(|| "models/{model}/{anything}/model.tar.gz".into());
                let mut deploy = DeployConfig::new(KeyPattern::parse(&pattern)?, image, queue);
                if let Some(endpoint) = get("MLM_DEPLOY_ENDPOINT") {
                    deploy.endpoint = endpoint;
                }
                deploy.memory_mb = number("MLM_DEPLOY_MEMORY_MB", deploy.memory_mb)?;
                deploy.max_concurrency =
                    number("MLM_DEPLOY_MAX_CONCURRENCY", deploy.max_concurrency)?;
                Some(deploy)
            }
        };
        Ok(Self {
            state_uri: get("MLM_STATE_URI"),
            artifacts_uri: get("MLM_ARTIFACTS_URI"),
            tokens_secret_arn: get("MLM_TOKENS_SECRET_ARN"),
            tokens: get("MLM_TOKENS"),
            deploy,
        })
    }
}

/// Which S3 keys deploy, and the model each names: `/`-separated segments, literal or
/// `{model}` (one segment, exactly once) or `{anything}` (one or more segments, at most once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    /// The segments before `{anything}` (all of them without it).
    head: Vec<Segment>,
    /// The segments after `{anything}`, when there is one.
    tail: Option<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Model,
}

/// What a key is to a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMatch {
    /// Not a model archive the pattern is about (another file under the prefix): ignored.
    Unrelated,
    /// A model archive (it ends like the pattern) whose key does not fit it, or names a
    /// model badly: reported as a failed deploy.
    Bad(String),
    /// A model archive of this model.
    Model(ModelName),
}

impl KeyPattern {
    /// Parses a pattern such as `models/{model}/{anything}/model.tar.gz`.
    pub fn parse(pattern: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid(format!("key pattern '{pattern}': {why}"));
        let parts: Vec<&str> = pattern.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("empty segment"));
        }
        let anything = parts.iter().filter(|p| **p == "{anything}").count();
        let models = parts.iter().filter(|p| **p == "{model}").count();
        if anything > 1 || models != 1 {
            return Err(bad("needs {model} once and {anything} at most once"));
        }
        let segment = |p: &&str| match *p {
            "{model}" => Segment::Model,
            literal => Segment::Literal(literal.to_owned()),
        };
        let (head, tail) = match parts.iter().position(|p| *p == "{anything}") {
            Some(at) => (
                parts[..at].iter().map(segment).collect(),
                Some(parts[at + 1..].iter().map(segment).collect()),
            ),
            None => (parts.iter().map(segment).collect(), None),
        };
        Ok(Self { head, tail })
    }

    /// What `key` is to this pattern.
    pub fn classify(&self, key: &str) -> KeyMatch {
        let last = self.tail.as_ref().unwrap_or(&self.head).last();
        if let Some(Segment::Literal(name)) = last
            && !key.ends_with(&format!("/{name}"))
            && key != name
        {
            return KeyMatch::Unrelated;
        }
        let parts: Vec<&str> = key.split('/').collect();
        let (head_parts, tail_parts) = match &self.tail {
            None if parts.len() == self.head.len() => (&parts[..], &parts[..0]),
            Some(tail) if parts.len() > self.head.len() + tail.len() => (
                &parts[..self.head.len()],
                &parts[parts.len() - tail.len()..],
            ),
            _ => return KeyMatch::Bad(format!("key '{key}' does not fit the key pattern")),
        };
        let mut model = None;
        let segments = self.head.iter().chain(self.tail.iter().flatten());
        for (segment, part) in segments.zip(head_parts.iter().chain(tail_parts)) {
            match segment {
                Segment::Literal(l) if l != part => {
                    return KeyMatch::Bad(format!("key '{key}' does not fit the key pattern"));
                }
                Segment::Literal(_) => {}
                Segment::Model => model = Some(*part),
            }
        }
        match model.map(ModelName::new) {
            Some(Ok(name)) => KeyMatch::Model(name),
            Some(Err(e)) => KeyMatch::Bad(format!("key '{key}': {}", e.message())),
            None => KeyMatch::Bad(format!("key '{key}' names no model")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(pattern: &str, key: &str) -> KeyMatch {
        KeyPattern::parse(pattern).unwrap().classify(key)
    }

    #[test]
    fn the_default_pattern_takes_the_model_and_any_depth() {
        let p = "models/{model}/{anything}/model.tar.gz";
        let news = KeyMatch::Model(ModelName::new("news").unwrap());
        assert_eq!(classify(p, "models/news/v7/model.tar.gz"), news);
        assert_eq!(
            classify(p, "models/news/2024-02-23/output/xgb-1/output/model.tar.gz"),
            news
        );
        assert_eq!(classify(p, "models/news/v7/notes.txt"), KeyMatch::Unrelated);
        for bad in [
            "models/news/model.tar.gz",
            "other/news/v7/model.tar.gz",
            "models/Bad_Name/v7/model.tar.gz",
        ] {
            assert!(matches!(classify(p, bad), KeyMatch::Bad(_)), "{bad}");
        }
        let KeyMatch::Bad(why) = classify(p, "models/Bad_Name/v7/model.tar.gz") else {
            unreachable!()
        };
        assert!(why.contains("Bad_Name"), "{why}");
    }

    #[test]
    fn patterns_without_anything_match_exactly_and_bad_patterns_are_refused() {
        let exact = "incoming/{model}/model.tar.gz";
        let news = KeyMatch::Model(ModelName::new("news").unwrap());
        assert_eq!(classify(exact, "incoming/news/model.tar.gz"), news);
        assert!(matches!(
            classify(exact, "incoming/news/x/model.tar.gz"),
            KeyMatch::Bad(_)
        ));
        for bad in [
            "models/{anything}/model.tar.gz",
            "{model}/{model}/model.tar.gz",
            "a//{model}",
            "{anything}/{model}/{anything}",
            "drop/{model}.d/model.tar.gz",
        ] {
            assert!(KeyPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_environment_configures_deploys_with_defaults() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let none = LambdaConfig::from_vars(vars(&[])).unwrap();
        assert!(none.deploy.is_none() && none.state_uri.is_none());
        let on = LambdaConfig::from_vars(vars(&[
            ("MLM_DEPLOY_IMAGE", "img:1"),
            ("MLM_NOTIFY_QUEUE_URL", "http://q"),
            ("MLM_DEPLOY_MEMORY_MB", "3072"),
        ]))
        .unwrap();
        let deploy = on.deploy.unwrap();
        assert_eq!((deploy.memory_mb, deploy.max_concurrency), (3072, 5));
        let model = ModelName::new("news").unwrap();
        assert_eq!(deploy.endpoint_for(&model).unwrap().as_str(), "news");
        let no_queue = LambdaConfig::from_vars(vars(&[("MLM_DEPLOY_IMAGE", "img:1")]));
        assert!(
            no_queue
                .unwrap_err()
                .message()
                .contains("MLM_NOTIFY_QUEUE_URL")
        );
        let bad = LambdaConfig::from_vars(vars(&[
            ("MLM_DEPLOY_IMAGE", "img:1"),
            ("MLM_NOTIFY_QUEUE_URL", "http://q"),
            ("MLM_DEPLOY_MAX_CONCURRENCY", "lots"),
        ]));
        assert!(
            bad.unwrap_err()
                .message()
                .contains("MLM_DEPLOY_MAX_CONCURRENCY")
        );
    }
}
