//! Kamal's commands as data: pure functions from the validated configuration to [`Cmd`]
//! values — the exact command lines Kamal runs on hosts (or locally), with sensitive parts
//! marked so every printer redacts them. No I/O here; golden tests pin every shape, since
//! byte-identical command lines are the compatibility contract.

pub mod cmd;

pub use cmd::{Cmd, Part};
