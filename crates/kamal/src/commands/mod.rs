//! One module per command, each a function from resolved settings to an outcome.

pub mod config;
pub mod docs;
pub mod init;
pub mod secrets;
pub mod version;
