//! Per-service settings as a deploy sends them and as the state file stores them.
//!
//! The serde shape here *is* the Go proxy's JSON (snake_case keys, durations in nanoseconds, `null` for unset
//! lists), because the same structs are written to the state file that outlives an image swap. Normalisation and
//! validation follow §3.1 and §3.7 of the spec, with the Go error wording.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// Serde adapter: Go writes a nil slice as `null`; read it as an empty list.
pub mod null_as_empty {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
        Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
    }
}

/// Serde adapter: Go stores `time.Duration` as an integer of nanoseconds.
pub mod nanoseconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(i64::try_from(value.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        // Negative values cannot come from a Go deploy, but an old file should not fail to load over one.
        let nanos = i64::deserialize(deserializer)?;
        Ok(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
    }
}

pub const DEFAULT_HEALTH_CHECK_PATH: &str = "/up";
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_DEPLOY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_PAUSE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_WRITER_AFFINITY_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_MAX_MEMORY_BUFFER_SIZE: i64 = 1 << 20;
pub const ACME_STAGING_DIRECTORY: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceOptions {
    #[serde(deserialize_with = "null_as_empty::deserialize")]
    pub hosts: Vec<String>,
    #[serde(deserialize_with = "null_as_empty::deserialize")]
    pub path_prefixes: Vec<String>,
    pub tls_enabled: bool,
    pub tls_certificate_path: String,
    pub tls_private_key_path: String,
    pub tls_on_demand_url: String,
    pub tls_redirect: bool,
    pub canonical_host: String,
    pub acme_directory: String,
    pub acme_cache_path: String,
    pub error_page_path: String,
    pub strip_prefix: bool,
    #[serde(with = "nanoseconds")]
    pub writer_affinity_timeout: Duration,
    pub read_targets_accept_websockets: bool,
    pub exclude_metrics_paths: Option<Vec<String>>,
    pub client_ip_header: String,
}

impl Default for ServiceOptions {
    /// Zero values, as Go's decoder leaves missing fields: an old state file relies on this.
    fn default() -> Self {
        Self {
            hosts: Vec::new(),
            path_prefixes: Vec::new(),
            tls_enabled: false,
            tls_certificate_path: String::new(),
            tls_private_key_path: String::new(),
            tls_on_demand_url: String::new(),
            tls_redirect: false,
            canonical_host: String::new(),
            acme_directory: String::new(),
            acme_cache_path: String::new(),
            error_page_path: String::new(),
            strip_prefix: false,
            writer_affinity_timeout: Duration::ZERO,
            read_targets_accept_websockets: false,
            exclude_metrics_paths: None,
            client_ip_header: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheckConfig {
    pub path: String,
    pub port: u16,
    #[serde(with = "nanoseconds")]
    pub interval: Duration,
    #[serde(with = "nanoseconds")]
    pub timeout: Duration,
    pub host: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            path: DEFAULT_HEALTH_CHECK_PATH.to_string(),
            port: 0,
            interval: DEFAULT_HEALTH_CHECK_INTERVAL,
            timeout: DEFAULT_HEALTH_CHECK_TIMEOUT,
            host: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetOptions {
    pub health_check_config: HealthCheckConfig,
    #[serde(with = "nanoseconds")]
    pub response_timeout: Duration,
    pub buffer_requests: bool,
    pub buffer_responses: bool,
    pub max_memory_buffer_size: i64,
    pub max_request_body_size: i64,
    pub max_response_body_size: i64,
    pub log_request_headers: Option<Vec<String>>,
    pub log_response_headers: Option<Vec<String>>,
    pub forward_headers: bool,
    pub scope_cookie_paths: bool,
}

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            health_check_config: HealthCheckConfig::default(),
            response_timeout: DEFAULT_TARGET_TIMEOUT,
            buffer_requests: false,
            buffer_responses: false,
            max_memory_buffer_size: DEFAULT_MAX_MEMORY_BUFFER_SIZE,
            max_request_body_size: 0,
            max_response_body_size: 0,
            log_request_headers: None,
            log_response_headers: None,
            forward_headers: false,
            scope_cookie_paths: false,
        }
    }
}

/// What the deploy itself is asked to do (not persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentOptions {
    #[serde(with = "nanoseconds")]
    pub deploy_timeout: Duration,
    #[serde(with = "nanoseconds")]
    pub drain_timeout: Duration,
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("service options invalid: {0}")]
    Invalid(String),
}

impl ServiceOptions {
    /// §3.1: `[""]` for no hosts, `["/"]` for no prefixes, each prefix as `"/" + trim(p, "/")`.
    pub fn normalize(&mut self) {
        if self.hosts.is_empty() {
            self.hosts = vec![String::new()];
        }
        if self.path_prefixes.is_empty() {
            self.path_prefixes = vec!["/".to_string()];
        }
        for prefix in &mut self.path_prefixes {
            *prefix = normalize_prefix(prefix);
        }
    }

    /// True when every host is a real name (no catch-all entry).
    pub fn has_configured_hosts(&self) -> bool {
        !self.hosts.is_empty() && self.hosts.iter().all(|host| !host.is_empty())
    }

    pub fn serves_root(&self) -> bool {
        self.path_prefixes.iter().any(|prefix| prefix == "/")
    }

    /// §3.7, in Go's order and wording. Runs on a normalised copy so callers keep what they sent.
    pub fn validate(&self) -> Result<(), OptionsError> {
        let mut options = self.clone();
        options.normalize();
        let invalid = |message: String| Err(OptionsError::Invalid(message));
        let on_demand = !options.tls_on_demand_url.is_empty();
        if on_demand && !options.tls_enabled {
            return invalid("TLS must be enabled to use a TLS on-demand URL".into());
        }
        if options.tls_enabled && on_demand {
            if options.hosts.iter().any(|host| !host.is_empty()) {
                return invalid("cannot set hosts when using a TLS on-demand URL".into());
            }
            if !options.tls_certificate_path.is_empty() || !options.tls_private_key_path.is_empty() {
                return invalid("cannot use a custom TLS certificate with a TLS on-demand URL".into());
            }
            if !options.canonical_host.is_empty() {
                return invalid("cannot set a canonical host when using a TLS on-demand URL".into());
            }
            validate_on_demand_url(&options.tls_on_demand_url).map_err(OptionsError::Invalid)?;
        }
        if options.tls_enabled && !on_demand && !options.has_configured_hosts() {
            return invalid("host must be set when using TLS".into());
        }
        if options.tls_enabled && !options.serves_root() {
            return invalid("TLS settings must be specified on the root path service".into());
        }
        if !options.canonical_host.is_empty()
            && options.hosts.first().is_some_and(|host| !host.is_empty())
            && !options.hosts.contains(&options.canonical_host)
        {
            return invalid(format!(
                "canonical-host '{}' must be present in the hosts list: [{}]",
                options.canonical_host,
                options.hosts.join(" ")
            ));
        }
        Ok(())
    }
}

impl TargetOptions {
    /// Log header names are stored canonicalised (`x-custom` → `X-Custom`), as Go does when targets are built.
    pub fn normalize(&mut self) {
        for list in [&mut self.log_request_headers, &mut self.log_response_headers]
            .into_iter()
            .flatten()
        {
            for name in list.iter_mut() {
                *name = canonical_header_name(name);
            }
        }
    }
}

pub fn normalize_prefix(prefix: &str) -> String {
    format!("/{}", prefix.trim_matches('/'))
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for the ASCII names that matter here.
pub fn canonical_header_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let mapped = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            mapped
        })
        .collect()
}

/// §6.5 URL validation (the check itself is in [`crate::acme::on_demand`]).
fn validate_on_demand_url(url: &str) -> Result<(), String> {
    if url.starts_with("//") {
        return Err("tls-on-demand-url must be a path or an absolute http(s) URL".into());
    }
    if url.starts_with('/') {
        return Ok(());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "unable to parse tls-on-demand-url: parse \"{url}\": invalid URI for request"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme \"{scheme}\" in tls-on-demand-url"));
    }
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() {
        return Err("missing host in tls-on-demand-url".into());
    }
    Ok(())
}

/// §4.2: `^(\w[-_.\w+]+)(:\d+)?$`, reported as `<value> :invalid host pattern`.
pub fn validate_target(target: &str) -> Result<(), String> {
    let error = || format!("{target} :invalid host pattern");
    let (name, port) = match target.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (target, None),
    };
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut characters = name.chars();
    let first_is_word = characters.next().is_some_and(is_word);
    let rest_valid = name.len() >= 2 && characters.all(|c| is_word(c) || matches!(c, '-' | '.' | '+'));
    let port_valid = port.is_none_or(|port| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
    if first_is_word && rest_valid && port_valid {
        Ok(())
    } else {
        Err(error())
    }
}

/// Human form of a duration for messages, as Go prints it.
pub fn describe(duration: Duration) -> String {
    duration::format(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(hosts: &[&str]) -> ServiceOptions {
        ServiceOptions {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn normalizes_hosts_and_prefixes() {
        let mut options = ServiceOptions {
            path_prefixes: vec!["api/".into(), "/".into(), "//x//".into()],
            ..Default::default()
        };
        options.normalize();
        assert_eq!(options.hosts, vec![String::new()]);
        assert_eq!(options.path_prefixes, vec!["/api", "/", "/x"]);
    }

    #[test]
    fn tls_requires_hosts() {
        for hosts in [&[][..], &[""], &["*.x", ""]] {
            let options = ServiceOptions {
                tls_enabled: true,
                ..options(hosts)
            };
            assert_eq!(
                options.validate().map_err(|e| e.to_string()),
                Err("service options invalid: host must be set when using TLS".to_string())
            );
        }
        for hosts in [&["example.com"][..], &["example.com", "*.example.com"]] {
            assert!(ServiceOptions {
                tls_enabled: true,
                ..options(hosts)
            }
            .validate()
            .is_ok());
        }
    }

    #[test]
    fn tls_must_be_on_root() {
        let options = ServiceOptions {
            tls_enabled: true,
            path_prefixes: vec!["/api".into()],
            ..options(&["example.com"])
        };
        assert!(options
            .validate()
            .is_err_and(|e| e.to_string().ends_with("root path service")));
    }

    #[test]
    fn canonical_host_in_hosts() {
        let listed = ServiceOptions {
            canonical_host: "c.com".into(),
            ..options(&["a.com", "b.com"])
        };
        assert_eq!(
            listed.validate().map_err(|e| e.to_string()),
            Err("service options invalid: canonical-host 'c.com' must be present in the hosts list: [a.com b.com]"
                .to_string())
        );
        assert!(ServiceOptions {
            canonical_host: "c.com".into(),
            ..options(&[])
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn on_demand_rules() {
        let on_demand = |url: &str, hosts: &[&str]| ServiceOptions {
            tls_enabled: true,
            tls_on_demand_url: url.into(),
            ..options(hosts)
        };
        assert!(on_demand("/allow", &[]).validate().is_ok());
        assert!(on_demand("https://auth.example/allow", &[]).validate().is_ok());
        assert!(on_demand("/allow", &["a.com"]).validate().is_err());
        assert!(on_demand("ftp://x/allow", &[])
            .validate()
            .is_err_and(|e| e.to_string().contains("unsupported scheme \"ftp\"")));
    }

    #[test]
    fn target_pattern() {
        for good in [
            "web:3000",
            "app-web-abc123:80",
            "localhost",
            "127.0.0.1:8080",
            "a_b+c.d",
        ] {
            assert_eq!(validate_target(good), Ok(()), "{good}");
        }
        for bad in ["", "_", "/", "a", "http://x", "x:", "x:80/y", "[::1]:80", "-ab"] {
            assert_eq!(
                validate_target(bad),
                Err(format!("{bad} :invalid host pattern")),
                "{bad}"
            );
        }
    }

    #[test]
    fn canonicalizes_header_names() {
        assert_eq!(canonical_header_name("x-custom-HEADER"), "X-Custom-Header");
        assert_eq!(canonical_header_name("cache-control"), "Cache-Control");
    }
}
