//! HTTP API requests (payload format 2.0) served by the same router as `mlm serve`.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use axum::Router;
use base64::Engine;
use http::header;
use serde_json::Value;
use tower::ServiceExt;

/// Serves one API Gateway request with `router`; the answer is what API Gateway expects:
/// text bodies as they are, others base64, `Set-Cookie` as `cookies`.
pub async fn serve(router: Router, event: Value) -> Result<ApiGatewayV2httpResponse, String> {
    let request = lambda_http::request::from_str(&event.to_string())
        .map_err(|e| format!("not an HTTP API request: {e}"))?;
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => axum::body::Body::empty(),
        Body::Text(text) => axum::body::Body::from(text),
        Body::Binary(bytes) => axum::body::Body::from(bytes),
        _ => axum::body::Body::empty(),
    };
    let response = router
        .oneshot(http::Request::from_parts(parts, body))
        .await
        .map_err(|e| format!("the router failed: {e}"))?;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| format!("the answer could not be read: {e}"))?;
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(parts.status.as_u16());
    let text = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_text);
    answer.cookies = parts
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    answer.headers = parts.headers;
    answer.headers.remove(header::SET_COOKIE);
    if !bytes.is_empty() {
        answer.body = Some(match String::from_utf8(bytes.to_vec()) {
            Ok(s) if text => Body::Text(s),
            _ => {
                answer.is_base64_encoded = true;
                Body::Text(base64::engine::general_purpose::STANDARD.encode(&bytes))
            }
        });
    }
    Ok(answer)
}

/// Media types API Gateway can carry as text.
fn is_text(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.starts_with("text/")
        || essence.ends_with("json")
        || essence.ends_with("+json")
        || essence.ends_with("yaml")
        || essence.ends_with("xml")
        || essence == "application/javascript"
}
