//! The persisted state file (§2.3–2.4): the same JSON array the Go proxy writes, read back at start.
//!
//! Field order, key names, nanosecond durations, `null` versus `[]` and the legacy keys all follow the Go
//! encoder, because the file lives on Kamal's `kamal-proxy-config` volume across an image swap in either
//! direction. Unlike Go we write through a temporary file and rename it, so a crash never leaves half a file.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::service::options::{null_as_empty, ServiceOptions, TargetOptions};
use crate::service::pause::SavedPauseState;

/// The canary split as Go stores it; kept verbatim (rollout routing is not active in this version).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedRolloutController {
    pub percentage: i64,
    pub percentage_split_point: f64,
    pub allowlist: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedService {
    pub name: String,
    pub options: ServiceOptions,
    pub target_options: TargetOptions,
    #[serde(deserialize_with = "null_as_empty::deserialize")]
    pub active_targets: Vec<String>,
    #[serde(deserialize_with = "null_as_empty::deserialize")]
    pub active_readers: Vec<String>,
    pub rollout_targets: Option<Vec<String>>,
    pub rollout_readers: Option<Vec<String>>,
    pub pause_controller: SavedPauseState,
    pub rollout_controller: Option<SavedRolloutController>,

    // Legacy keys, accepted on read and never written.
    #[serde(skip_serializing)]
    pub active_target: String,
    #[serde(skip_serializing)]
    pub rollout_target: String,
    #[serde(skip_serializing, deserialize_with = "null_as_empty::deserialize")]
    pub hosts: Vec<String>,
    #[serde(skip_serializing, deserialize_with = "null_as_empty::deserialize")]
    pub path_prefixes: Vec<String>,
}

impl SavedService {
    /// Folds the legacy top-level keys into their current places (§2.4).
    pub fn upgrade_legacy(&mut self) {
        if self.active_targets.is_empty() && !self.active_target.is_empty() {
            self.active_targets = vec![std::mem::take(&mut self.active_target)];
        }
        if self
            .rollout_targets
            .as_ref()
            .is_none_or(|targets| targets.is_empty())
            && !self.rollout_target.is_empty()
        {
            self.rollout_targets = Some(vec![std::mem::take(&mut self.rollout_target)]);
        }
        if self.options.hosts.is_empty() && !self.hosts.is_empty() {
            self.options.hosts = std::mem::take(&mut self.hosts);
        }
        if self.options.path_prefixes.is_empty() && !self.path_prefixes.is_empty() {
            self.options.path_prefixes = std::mem::take(&mut self.path_prefixes);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("unable to read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("unable to decode {path}: {source}")]
    Decode { path: String, source: serde_json::Error },
    #[error("unable to write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Reads the file. `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<Vec<SavedService>>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    // Go writes `null` for an empty map of services.
    let services: Option<Vec<SavedService>> =
        serde_json::from_str(&text).map_err(|source| StateError::Decode {
            path: path.display().to_string(),
            source,
        })?;
    let mut services = services.unwrap_or_default();
    for service in &mut services {
        service.upgrade_legacy();
    }
    Ok(Some(services))
}

/// Encodes like Go's `json.Encoder` (compact, trailing newline).
pub fn encode(services: &[SavedService]) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec(services)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes `services` to a temporary file beside `path`, syncs it and renames it into place.
pub fn save(path: &Path, services: &[SavedService]) -> Result<(), StateError> {
    let failure = |source: std::io::Error| StateError::Write {
        path: path.display().to_string(),
        source,
    };
    let bytes = encode(services).map_err(|error| failure(std::io::Error::other(error)))?;
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(failure)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Written by hand from the spec's example of a Go-written file (§2.4).
    const GO_STATE: &str = r#"[{"name":"app-web","options":{"hosts":["app.example.com"],"path_prefixes":["/"],"tls_enabled":true,"tls_certificate_path":"","tls_private_key_path":"","tls_on_demand_url":"","tls_redirect":true,"canonical_host":"","acme_directory":"","acme_cache_path":"/home/kamal-proxy/.config/kamal-proxy/certs","error_page_path":"","strip_prefix":true,"writer_affinity_timeout":1000000000,"read_targets_accept_websockets":false,"exclude_metrics_paths":null,"client_ip_header":""},"target_options":{"health_check_config":{"path":"/up","port":0,"interval":1000000000,"timeout":5000000000,"host":""},"response_timeout":30000000000,"buffer_requests":true,"buffer_responses":true,"max_memory_buffer_size":1048576,"max_request_body_size":0,"max_response_body_size":0,"log_request_headers":["Cache-Control"],"log_response_headers":null,"forward_headers":false,"scope_cookie_paths":false},"active_targets":["app-web-abc123:80"],"active_readers":[],"rollout_targets":null,"rollout_readers":null,"pause_controller":{"state":0,"stop_message":"","fail_after":0},"rollout_controller":null}]
"#;

    #[test]
    fn reads_and_rewrites_the_go_format_byte_for_byte() {
        let services: Vec<SavedService> = serde_json::from_str(GO_STATE).expect("decodes");
        let service = &services[0];
        assert_eq!(service.name, "app-web");
        assert_eq!(service.options.writer_affinity_timeout, Duration::from_secs(1));
        assert_eq!(
            service.target_options.health_check_config.timeout,
            Duration::from_secs(5)
        );
        assert_eq!(
            service.target_options.log_request_headers,
            Some(vec!["Cache-Control".to_string()])
        );
        assert_eq!(
            String::from_utf8(encode(&services).expect("encodes"))
                .ok()
                .as_deref(),
            Some(GO_STATE)
        );
    }

    #[test]
    fn reads_the_legacy_shape() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("kamal-proxy.state");
        std::fs::write(
            &path,
            r#"[{"name":"old","hosts":["old.example.com"],"active_target":"old-web:3000","options":{"tls_enabled":false},
               "target_options":{"health_check_config":{"path":"/health","interval":2000000000,"timeout":1000000000},
               "response_timeout":10000000000},"pause_controller":{"state":2,"stop_message":"gone","fail_after":0}}]"#,
        )
        .expect("write");
        let services = load(&path).expect("loads").expect("present");
        assert_eq!(services[0].active_targets, vec!["old-web:3000"]);
        assert_eq!(services[0].options.hosts, vec!["old.example.com"]);
        assert!(services[0].options.path_prefixes.is_empty());
        assert!(!services[0].options.strip_prefix);
        assert_eq!(services[0].pause_controller.state, 2);
        let rewritten = String::from_utf8(encode(&services).expect("encodes")).expect("utf8");
        assert!(!rewritten.contains("active_target\""));
    }

    #[test]
    fn missing_file_is_none_and_save_replaces_atomically() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("kamal-proxy.state");
        assert!(load(&path).expect("no error").is_none());
        let services: Vec<SavedService> = serde_json::from_str(GO_STATE).expect("decodes");
        save(&path, &services).expect("saves");
        save(&path, &services).expect("saves again");
        assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some(GO_STATE));
        let leftovers: Vec<_> = std::fs::read_dir(directory.path()).expect("lists").collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
        assert_eq!(load(&path).expect("loads"), Some(services));
    }
}
