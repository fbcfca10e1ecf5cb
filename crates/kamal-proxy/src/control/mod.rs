//! The control socket: how `kamal-proxy deploy|remove|list|…` reach the running server.

pub mod client;
pub mod protocol;
pub mod server;
