//! `boot:` as Kamal reads it at run time (`Kamal::Configuration::Boot`): how many hosts boot
//! at once (a count, or a percentage of all hosts), the pause after each group, and whether
//! roles boot in parallel.

use super::{raw, Configuration};
use crate::yaml::Value;

impl Configuration {
    /// `boot.limit`: a number as written, or `"N%"` of `all_hosts` (accessory hosts
    /// included), rounded down and at least 1. `None` means all hosts at once.
    pub fn boot_limit(&self) -> Option<i64> {
        let boot = raw::get_mapping(self.root(), "boot");
        let limit = raw::get_value(boot, "limit")?;
        let text = raw::to_s(limit);
        if text.ends_with('%') {
            let host_count = self.all_host_entries().len() as i64;
            return Some((host_count * ruby_to_i(&text) / 100).max(1));
        }
        match limit {
            Value::Null => None,
            Value::Integer(count) => Some(*count),
            _ => Some(ruby_to_i(&text)),
        }
    }

    /// `boot.wait`: seconds slept after each group's post-app-boot hook.
    pub fn boot_wait(&self) -> Option<i64> {
        raw::get_integer(raw::get_mapping(self.root(), "boot"), "wait")
    }

    /// `boot.parallel_roles` (default false).
    pub fn boot_parallel_roles(&self) -> bool {
        raw::get_bool(raw::get_mapping(self.root(), "boot"), "parallel_roles") == Some(true)
    }
}

/// Ruby's `String#to_i`: optional sign and leading digits, else 0.
fn ruby_to_i(text: &str) -> i64 {
    let trimmed = text.trim_start();
    let (sign, digits) = match trimmed.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let digits: String = digits.chars().take_while(char::is_ascii_digit).collect();
    sign * digits.parse::<i64>().unwrap_or(0)
}
