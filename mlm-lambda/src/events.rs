//! What the function is sent, told apart, and the EventBridge details it acts on: our own
//! serde structs, written from AWS's documented event schemas (`aws_lambda_events` has the
//! envelope only).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `detail` of `SageMaker Model Package State Change` (source `aws.sagemaker`): the fields
/// the function reads; AWS sends more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ModelPackageStateChange {
    /// The model (mlm's model name).
    pub model_package_group_name: String,
    /// The version number.
    pub model_package_version: u32,
    /// `Approved`, `Rejected` or `PendingManualApproval`.
    pub model_approval_status: String,
    /// The package's ARN.
    #[serde(default)]
    pub model_package_arn: Option<String>,
}

/// `detail` of `Object Created` (source `aws.s3`, a bucket with EventBridge notifications).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct ObjectCreated {
    /// The bucket.
    pub bucket: Bucket,
    /// The object.
    pub object: S3Object,
    /// `PutObject`, `CompleteMultipartUpload`, `CopyObject`…
    #[serde(default)]
    pub reason: Option<String>,
}

/// The bucket of an S3 event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Bucket {
    /// Its name.
    pub name: String,
}

/// The object of an S3 event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct S3Object {
    /// Its key (not URL-encoded in EventBridge events).
    pub key: String,
    /// Bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Its ETag, without quotes.
    #[serde(default)]
    pub etag: Option<String>,
    /// Its version, in a versioned bucket.
    #[serde(default)]
    pub version_id: Option<String>,
    /// Orders events of one key.
    #[serde(default)]
    pub sequencer: Option<String>,
}

/// One invocation's payload, told apart.
#[derive(Debug)]
pub enum Incoming {
    /// An API Gateway HTTP API request (payload format 2.0), as sent.
    Http(Value),
    /// A model package changed state.
    Approval(Box<EventBridgeEvent<ModelPackageStateChange>>),
    /// An object landed in S3.
    ObjectCreated(Box<EventBridgeEvent<ObjectCreated>>),
    /// The schedule's tick: move pipelines on, finish deploys that outlived an invocation.
    Tick,
    /// Anything else: logged and ignored.
    Other(String),
}

impl Incoming {
    /// Tells `payload` apart; an event of a known kind whose detail does not parse is an
    /// error naming the field.
    pub fn classify(payload: Value) -> Result<Self, serde_json::Error> {
        let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
        let (Some(source), Some(detail_type)) = (text("source"), text("detail-type")) else {
            let http = payload.get("requestContext").is_some() && payload.get("rawPath").is_some();
            return Ok(if http {
                Self::Http(payload)
            } else {
                Self::Other("neither an HTTP API request nor an EventBridge event".into())
            });
        };
        Ok(match (source.as_str(), detail_type.as_str()) {
            ("aws.sagemaker", "SageMaker Model Package State Change") => {
                Self::Approval(Box::new(serde_json::from_value(payload)?))
            }
            ("aws.s3", "Object Created") => {
                Self::ObjectCreated(Box::new(serde_json::from_value(payload)?))
            }
            ("aws.events", "Scheduled Event") => Self::Tick,
            _ => Self::Other(format!("{source} / {detail_type}")),
        })
    }
}
