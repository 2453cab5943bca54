//! The `bootstrap` binary of the `provided.al2023` runtime: builds the [`Handler`] once per
//! cold start and serves invocations on `lambda_runtime`.

use lambda_runtime::{LambdaEvent, service_fn};
use mlm_lambda::Handler;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .without_time()
        .init();
    let handler = Handler::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // A failed invocation is reported with the error's message (and retried by EventBridge).
        handler
            .handle(event)
            .await
            .map_err(|e| -> lambda_runtime::Error { Box::new(e) })
    }))
    .await
}
