//! Kamal's commands as data: pure functions from the validated configuration to [`Cmd`]
//! values — the exact command lines Kamal runs on hosts (or locally), with sensitive parts
//! marked so every printer redacts them. No I/O here; golden tests pin every shape, since
//! byte-identical command lines are the compatibility contract.
//!
//! Modules mirror Kamal's `lib/kamal/commands/*.rb`. What Kamal reads from the world while
//! building a command (the version from git, the clock, the user, Docker's arch, secrets)
//! is passed in.

pub mod accessory;
pub mod app;
pub mod auditor;
pub mod base;
pub mod builder;
pub mod cmd;
pub mod docker;
pub mod hook;
pub mod lock;
pub mod proxy;
pub mod prune;
pub mod registry;
pub mod server;
pub mod tags;

#[cfg(test)]
mod test_support;

pub use cmd::{Cmd, Part};
pub use tags::{Stamp, Tags};
