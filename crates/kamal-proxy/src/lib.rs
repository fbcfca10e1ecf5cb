//! kamal-proxy: a zero-downtime HTTP reverse proxy, command- and state-compatible with Basecamp's Go proxy.
//!
//! Pure core: [`routing`] (the table), [`service::options`] and [`service::pause`] (settings and maintenance
//! state machine), [`health`]'s target state, [`state`] (the persisted format), [`pages`] (error pages),
//! [`cli`]'s flag parsing. I/O shell: [`server`] (listeners, shutdown), [`proxy`] and [`forward`] (requests with
//! hyper), the balancer's health-check tasks, [`control`] (the unix socket) and [`router`] (the registry the
//! control commands change).

pub mod acme;
pub mod body;
pub mod buffer;
pub mod calendar;
pub mod cli;
pub mod control;
pub mod cookie_scope;
pub mod duration;
pub mod forward;
pub mod h1;
pub mod health;
pub mod http3;
pub mod logging;
pub mod metrics;
pub mod pages;
pub mod paths;
pub mod proxy;
pub mod request_log;
pub mod router;
pub mod routing;
pub mod server;
pub mod service;
pub mod state;
pub mod tls;
