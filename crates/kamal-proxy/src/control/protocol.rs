//! The control-socket wire format: one JSON request line, one JSON response line, then the connection closes.
//!
//! Kamal always runs the client inside the proxy's own container, so client and server come from the same
//! binary and this format is ours (the Go proxy's gob RPC is not reproduced). Options travel in the state-file
//! shape, which keeps one definition of every field.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::service::options::{nanoseconds, DeploymentOptions, ServiceOptions, TargetOptions};

/// Longest request line the server reads; a deploy is a few KiB.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployArgs {
    pub service: String,
    pub target_urls: Vec<String>,
    pub reader_urls: Vec<String>,
    pub deployment_options: DeploymentOptions,
    pub service_options: ServiceOptions,
    pub target_options: TargetOptions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseArgs {
    pub service: String,
    #[serde(with = "nanoseconds")]
    pub drain_timeout: Duration,
    #[serde(with = "nanoseconds")]
    pub pause_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopArgs {
    pub service: String,
    #[serde(with = "nanoseconds")]
    pub drain_timeout: Duration,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutDeployArgs {
    pub service: String,
    pub target_urls: Vec<String>,
    pub reader_urls: Vec<String>,
    pub deployment_options: DeploymentOptions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSetArgs {
    pub service: String,
    pub percentage: i64,
    pub allowlist: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "args", rename_all = "snake_case")]
pub enum Request {
    Deploy(Box<DeployArgs>),
    Remove { service: String },
    Pause(PauseArgs),
    Stop(StopArgs),
    Resume { service: String },
    List,
    RolloutDeploy(RolloutDeployArgs),
    RolloutSet(RolloutSetArgs),
    RolloutStop { service: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDescription {
    pub host: String,
    pub path: String,
    pub tls: bool,
    pub target: String,
    pub state: String,
    /// `healthy`, or each target that is not, with its state (`web-2:80 unhealthy`).
    #[serde(default)]
    pub health: String,
    /// Settings that were accepted but are not active in this version (TLS, buffering, …).
    #[serde(default)]
    pub inactive: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<BTreeMap<String, ServiceDescription>>,
}

impl Response {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            error: Some(message.into()),
            services: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let request = Request::Stop(StopArgs {
            service: "web".into(),
            drain_timeout: Duration::from_secs(30),
            message: "Back soon".into(),
        });
        let line = serde_json::to_string(&request).expect("encodes");
        assert_eq!(
            line,
            r#"{"method":"stop","args":{"service":"web","drain_timeout":30000000000,"message":"Back soon"}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&line).ok(), Some(request));
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"method":"list"}"#).ok(),
            Some(Request::List)
        );
        assert!(serde_json::from_str::<Request>("garbage").is_err());
    }
}
