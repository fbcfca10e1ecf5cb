//! `proxy:` (root, per role, per accessory): how kamal-proxy routes to the app.
//! Validation mirrors `Validator::Proxy`.

use super::error::Result;
use super::raw;
use super::schema::{Shape, PROXY};
use super::validator::Validator;
use crate::yaml::{Mapping, Value};

/// Validates a proxy Hash (nil is allowed: no proxy settings).
pub fn validate(value: Option<&Value>, context: &str) -> Result<()> {
    let Some(value) = value else { return Ok(()) };
    if value.is_null() {
        return Ok(());
    }
    let mut validator = Validator::new(&[context]);
    validator.validate_against(value, &Shape::Hash(PROXY))?;
    validate_semantics(value.as_mapping(), context)
}

/// The cross-key rules, applied to the effective (merged) settings.
pub fn validate_semantics(config: Option<&Mapping>, context: &str) -> Result<()> {
    let validator = Validator::new(&[context]);
    let has_host =
        raw::present(raw::get_value(config, "host")) || raw::present(raw::get_value(config, "hosts"));
    let ssl = raw::get_value(config, "ssl");
    if !has_host && truthy(ssl) {
        return Err(validator.error("Must set a host to enable automatic SSL"));
    }
    if raw::has_key(config, "host") && raw::has_key(config, "hosts") {
        return Err(validator.error("Specify one of 'host' or 'hosts', not both"));
    }
    if let Some(Value::Mapping(ssl)) = ssl {
        let certificate = raw::present(raw::get_value(Some(ssl), "certificate_pem"));
        let private_key = raw::present(raw::get_value(Some(ssl), "private_key_pem"));
        if certificate && !private_key {
            return Err(
                validator.error("Missing private_key_pem setting (required when certificate_pem is present)")
            );
        }
        if private_key && !certificate {
            return Err(
                validator.error("Missing certificate_pem setting (required when private_key_pem is present)")
            );
        }
    }
    if let Some(run) = raw::get_mapping(config, "run") {
        if raw::get_bool(Some(run), "publish") == Some(false)
            && ["http_port", "https_port", "bind_ips"]
                .iter()
                .any(|key| raw::has_key(Some(run), key))
        {
            return Err(Validator::new(&[context])
                .error("Cannot set http_port, https_port or bind_ips when publish is false"));
        }
    }
    Ok(())
}

/// `ssl` is on (true, or custom certificates): Ruby truthiness, so even `{}` counts.
pub fn ssl(config: Option<&Mapping>) -> bool {
    truthy(raw::get_value(config, "ssl"))
}

fn truthy(value: Option<&Value>) -> bool {
    !matches!(value, None | Some(Value::Null) | Some(Value::Bool(false)))
}

/// `Proxy#hosts`: `hosts`, else `host` split on commas (trailing empty parts dropped, as
/// Ruby's `split` does).
pub fn hosts(config: Option<&Mapping>) -> Vec<String> {
    if let Some(hosts) = raw::get(config, "hosts").filter(|node| !node.value.is_null()) {
        return raw::strings(Some(hosts));
    }
    let Some(host) = raw::get_string(config, "host") else {
        return Vec::new();
    };
    let mut parts: Vec<String> = host.split(',').map(str::to_string).collect();
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

/// Custom certificates given (`ssl: {certificate_pem, private_key_pem}`).
pub fn custom_ssl_certificate(config: Option<&Mapping>) -> bool {
    matches!(raw::get_value(config, "ssl"), Some(Value::Mapping(_)))
}
