//! Target health (§4.3): the per-target state machine and one health-check probe.
//!
//! The state machine is pure: a failure while a target is still being added changes nothing, so a slow-booting
//! app is not flapped; after that each result moves it between healthy and unhealthy. The probe is a plain
//! `GET` with `User-Agent: kamal-proxy` that follows redirects and counts any final 2xx as healthy.

use std::time::Duration;

use http::{header, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::body::{self, ProxyBody};
use crate::service::options::HealthCheckConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHealth {
    Adding,
    Healthy,
    Unhealthy,
    Draining,
}

impl TargetHealth {
    pub fn name(self) -> &'static str {
        match self {
            TargetHealth::Adding => "adding",
            TargetHealth::Healthy => "healthy",
            TargetHealth::Unhealthy => "unhealthy",
            TargetHealth::Draining => "draining",
        }
    }

    /// The state after a check, or `None` when it does not change.
    pub fn after_check(self, healthy: bool) -> Option<TargetHealth> {
        match (self, healthy) {
            (TargetHealth::Adding | TargetHealth::Unhealthy, true) => Some(TargetHealth::Healthy),
            (TargetHealth::Healthy, false) => Some(TargetHealth::Unhealthy),
            _ => None,
        }
    }
}

pub type HttpClient = Client<HttpConnector, ProxyBody>;

/// `http://<host>:<port or health port><path>` (Go's `URL.JoinPath`: one slash between the parts).
pub fn check_url(target: &str, config: &HealthCheckConfig) -> String {
    let (host, port) = split_target(target);
    let port = if config.port != 0 { config.port } else { port };
    let path = config.path.trim_start_matches('/');
    format!("http://{host}:{port}/{path}")
}

/// `host[:port]` with port 80 when absent, as the Go proxy builds `http://<target>`.
pub fn split_target(target: &str) -> (&str, u16) {
    match target.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(80)),
        None => (target, 80),
    }
}

/// One probe. `Err` carries the words the Go proxy logs: `unexpected status (500)`, `request timed out`, or the
/// connection error.
pub async fn check(
    client: &HttpClient,
    url: &str,
    host_header: &str,
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, follow(client, url, host_header)).await {
        Ok(result) => result,
        Err(_) => Err("request timed out".to_string()),
    }
}

async fn follow(client: &HttpClient, url: &str, host_header: &str) -> Result<(), String> {
    let mut uri: Uri = url
        .parse()
        .map_err(|error| format!("invalid health check URL {url}: {error}"))?;
    let mut host_header = host_header.to_string();
    // Go's default client follows at most 10 redirects.
    for _ in 0..=10 {
        let mut request = Request::get(uri.clone()).header(header::USER_AGENT, "kamal-proxy");
        if !host_header.is_empty() {
            request = request.header(header::HOST, host_header.as_str());
        }
        let request = request.body(body::empty()).map_err(|error| error.to_string())?;
        let response = client
            .request(request)
            .await
            .map_err(|error| crate::forward::pool::describe(&error))?;
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // Read and discard the body so the connection can be reused.
        let _ = http_body_util::BodyExt::collect(response.into_body()).await;
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let Some(location) = location else {
                return Err(format!("unexpected status ({})", status.as_u16()));
            };
            let next = resolve(&uri, &location)?;
            if next.authority() != uri.authority() {
                host_header.clear();
            }
            uri = next;
            continue;
        }
        return if status.is_success() {
            Ok(())
        } else {
            Err(format!("unexpected status ({})", status.as_u16()))
        };
    }
    Err("stopped after 10 redirects".to_string())
}

fn resolve(base: &Uri, location: &str) -> Result<Uri, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location
            .parse()
            .map_err(|_| format!("invalid redirect location {location}"));
    }
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        format!("/{location}")
    };
    format!("http://{authority}{path}")
        .parse()
        .map_err(|_| format!("invalid redirect location {location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine() {
        assert_eq!(TargetHealth::Adding.after_check(false), None);
        assert_eq!(
            TargetHealth::Adding.after_check(true),
            Some(TargetHealth::Healthy)
        );
        assert_eq!(
            TargetHealth::Healthy.after_check(false),
            Some(TargetHealth::Unhealthy)
        );
        assert_eq!(TargetHealth::Healthy.after_check(true), None);
        assert_eq!(
            TargetHealth::Unhealthy.after_check(true),
            Some(TargetHealth::Healthy)
        );
        assert_eq!(TargetHealth::Draining.after_check(true), None);
    }

    #[test]
    fn builds_check_urls() {
        let config = HealthCheckConfig {
            path: "/status".into(),
            port: 9090,
            ..Default::default()
        };
        assert_eq!(check_url("localhost", &config), "http://localhost:9090/status");
        let config = HealthCheckConfig {
            path: "web/index.html".into(),
            ..Default::default()
        };
        assert_eq!(check_url("app:3000", &config), "http://app:3000/web/index.html");
        assert_eq!(
            check_url("app", &HealthCheckConfig::default()),
            "http://app:80/up"
        );
    }
}
