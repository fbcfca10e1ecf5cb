//! Kamal configuration: from `config/deploy.yml` (ERB + YAML 1.1 + destinations) and
//! `.kamal/secrets*` (dotenv) to a typed, validated model.
//!
//! Pure by design: every side effect the Ruby original performs while loading (reading
//! `ENV`, shelling out from ERB backticks, reading project files) goes through the
//! [`Environment`](environment::Environment) passed in, so loading is testable with a map.

pub mod configuration;
pub mod environment;
pub mod erb;
pub mod ruby;
pub mod secrets;
pub mod yaml;

pub use environment::{Environment, MapEnvironment};
