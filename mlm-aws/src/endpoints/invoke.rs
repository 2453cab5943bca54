//! Invocation through the SageMaker runtime.

use mlm_core::{InvokeRequest, InvokeResponse, Result, VariantName};

use super::endpoint_target;
use crate::error::from_sdk;
use crate::provider::Inner;

impl Inner {
    /// InvokeEndpoint.
    pub(super) async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse> {
        let name = request.endpoint.as_str();
        let mut call = self
            .rt
            .invoke_endpoint()
            .endpoint_name(name)
            .content_type(&request.content_type)
            .body(aws_smithy_types::Blob::new(request.body));
        if let Some(a) = &request.accept {
            call = call.accept(a);
        }
        if let Some(v) = &request.target_variant {
            call = call.target_variant(v.as_str());
        }
        let out = call
            .send()
            .await
            .map_err(|e| from_sdk(e, Some(&endpoint_target(name))))?;
        let variant = out
            .invoked_production_variant()
            .and_then(|v| VariantName::new(v).ok());
        let content_type = out
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        Ok(InvokeResponse::new(
            out.body().map(|b| b.as_ref().to_vec()).unwrap_or_default(),
            content_type,
            variant,
        ))
    }
}
