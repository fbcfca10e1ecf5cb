//! Kamal's secrets layer: `.kamal/secrets*` files in dotenv syntax, with `$VAR` and
//! `$(command)` substitution (`kamal secrets ...` commands run in process), the password
//! manager adapters behind `kamal secrets fetch`, and the Docker env-file encoding.
//!
//! Secret values travel as [`Secret`], whose `Debug`/`Display` print `[REDACTED]`. All I/O
//! goes through [`Environment`](crate::environment::Environment).

pub mod adapters;
pub mod cli;
pub mod dotenv;
mod env_file;
mod error;
mod files;
use crate::ruby;
mod sensitive;
pub mod shellwords;
pub mod substitution;

#[cfg(test)]
mod corpus_tests;

pub use env_file::env_file;
pub use error::SecretsError;
pub use files::{SecretFiles, Secrets};
pub use sensitive::Secret;
pub use substitution::CommandFailure;
