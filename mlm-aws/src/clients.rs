//! The one place the AWS SDK clients are made from an [`SdkConfig`].
//!
//! Every client gets the same region, retry policy, endpoint URL and interceptors; they differ
//! only in their timeouts (invocations wait for the model, control-plane calls do not).

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// What the clients share.
pub(crate) struct ClientFactory<'a> {
    pub sdk: &'a SdkConfig,
    pub region: &'a str,
    pub endpoint_url: Option<&'a str>,
    pub retry: RetryConfig,
    pub interceptors: &'a [SharedInterceptor],
}

/// A method building `$sdk::Client`. A macro, because the SDK crates' config builders have the
/// same methods but no common trait.
macro_rules! client {
    ($(#[$doc:meta])* $method:ident, $sdk:ident) => {
        $(#[$doc])*
        pub(crate) fn $method(&self, timeouts: TimeoutConfig) -> $sdk::Client {
            let mut b = $sdk::config::Builder::from(self.sdk)
                .region(Region::new(self.region.to_string()))
                .retry_config(self.retry.clone())
                .timeout_config(timeouts);
            if let Some(url) = self.endpoint_url {
                b = b.endpoint_url(url);
            }
            for i in self.interceptors {
                b.push_interceptor(i.clone());
            }
            $sdk::Client::from_conf(b.build())
        }
    };
}

impl ClientFactory<'_> {
    client!(
        /// SageMaker: registry, endpoints, tags.
        sagemaker,
        aws_sdk_sagemaker
    );
    client!(
        /// SageMaker runtime: invocations.
        runtime,
        aws_sdk_sagemakerruntime
    );
    client!(
        /// CloudWatch: live figures and metric history.
        cloudwatch,
        aws_sdk_cloudwatch
    );
    client!(
        /// Application Auto Scaling: variant autoscaling.
        autoscaling,
        aws_sdk_applicationautoscaling
    );

    /// S3: data capture records. Path-style addressing with an endpoint URL (an emulator or
    /// a private endpoint answers one host, not one per bucket).
    pub(crate) fn s3(&self, timeouts: TimeoutConfig) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(self.sdk)
            .region(Region::new(self.region.to_string()))
            .retry_config(self.retry.clone())
            .timeout_config(timeouts);
        if let Some(url) = self.endpoint_url {
            b = b.endpoint_url(url).force_path_style(true);
        }
        for i in self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }
}
