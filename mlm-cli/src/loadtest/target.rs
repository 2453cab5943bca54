//! Where a load test sends: an endpoint through mlm, or a URL.

use std::sync::Arc;
use std::time::Duration;

use mlm_core::{EndpointName, InvokeRequest, Provider};
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;

use super::LoadTestArgs;
use crate::connect::Backend;
use crate::failure::Failure;

/// How one request ended: `Ok` with a label (`ok`, or the HTTP status), or `Err` with the
/// error's kind (`unavailable`, `timeout`, `503`...).
pub(super) type Outcome = Result<String, String>;

/// Where requests go.
pub(super) enum Target {
    /// `invoke` on the provider.
    Mlm {
        provider: Arc<dyn Provider>,
        endpoint: EndpointName,
        content_type: String,
        timeout: Duration,
    },
    /// `POST` to a URL.
    Url {
        client: reqwest::Client,
        url: Url,
        content_type: String,
    },
}

impl Target {
    pub(super) fn new(args: &LoadTestArgs, backend: &Backend) -> Result<Self, Failure> {
        let content_type = args.body.content_type.clone();
        if let Some(url) = &args.url {
            let url = checked_url(url, args.allow_remote)?;
            let client = reqwest::Client::builder()
                .timeout(args.request_timeout)
                .pool_max_idle_per_host(usize::MAX)
                .build()
                .map_err(|e| Failure::runtime(format!("cannot build the HTTP client: {e}")))?;
            return Ok(Self::Url {
                client,
                url,
                content_type,
            });
        }
        let endpoint = args
            .endpoint
            .clone()
            .ok_or_else(|| Failure::usage("name the endpoint, or give --url"))?;
        Ok(Self::Mlm {
            provider: backend.provider.clone(),
            endpoint,
            content_type,
            timeout: args.request_timeout,
        })
    }

    /// What is tested, for the report.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Mlm { endpoint, .. } => format!("endpoint '{endpoint}'"),
            Self::Url { url, .. } => url.to_string(),
        }
    }

    /// Sends one request.
    pub(super) async fn send(&self, body: Arc<[u8]>) -> Outcome {
        match self {
            Self::Mlm {
                provider,
                endpoint,
                content_type,
                timeout,
            } => {
                let request = InvokeRequest::new(endpoint.clone(), content_type, body.to_vec());
                match tokio::time::timeout(*timeout, provider.invoke(request)).await {
                    Ok(Ok(_)) => Ok("ok".into()),
                    Ok(Err(e)) => Err(e.kind().as_str().into()),
                    Err(_) => Err("timeout".into()),
                }
            }
            Self::Url {
                client,
                url,
                content_type,
            } => {
                let sent = client
                    .post(url.clone())
                    .header(CONTENT_TYPE, content_type.as_str())
                    .body(body.to_vec())
                    .send()
                    .await;
                http_outcome(sent).await
            }
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

async fn http_outcome(sent: reqwest::Result<reqwest::Response>) -> Outcome {
    match sent {
        Ok(response) => {
            let status = response.status();
            // Read the answer: a request is done when its body has arrived.
            let body = response.bytes().await;
            match (status.is_success(), body) {
                (true, Ok(_)) => Ok(status.as_u16().to_string()),
                (false, _) => Err(status.as_u16().to_string()),
                (true, Err(e)) => Err(transport_kind(&e).into()),
            }
        }
        Err(e) => Err(transport_kind(&e).into()),
    }
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

/// An http(s) URL on this machine, unless `allow_remote`.
fn checked_url(text: &str, allow_remote: bool) -> Result<Url, Failure> {
    let url = Url::parse(text).map_err(|e| Failure::usage(format!("--url {text}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::usage(format!(
            "--url {text}: use http:// or https://"
        )));
    }
    let host = url.host_str().unwrap_or_default();
    let local = match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if !local && !allow_remote {
        return Err(Failure::usage(format!(
            "--url {text} is not on this machine: load tests go to loopback addresses unless \
             --allow-remote says otherwise"
        ))
        .with_hint("only load-test servers you run and may load"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_on_this_machine_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8080/invocations",
            "http://localhost:1/x",
            "http://[::1]:9/",
            "https://127.0.0.2/",
        ] {
            assert!(checked_url(ok, false).is_ok(), "{ok}");
        }
        for remote in [
            "http://10.0.0.1/",
            "http://example.com/",
            "https://192.168.1.1:443/",
        ] {
            let err = checked_url(remote, false).unwrap_err();
            assert_eq!(err.code(), 2, "{remote}");
            assert!(checked_url(remote, true).is_ok(), "{remote}");
        }
        assert!(checked_url("ftp://127.0.0.1/", true).is_err());
        assert!(checked_url("not a url", true).is_err());
    }
}
