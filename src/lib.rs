//! Gatehouse: an identity provider and OAuth 2.0 / OpenID Connect authorization server.
//!
//! Modules in the order a request flows through them: `http` (poem) calls the flows
//! (`auth`, `oauth`), which use `token`, `store` and `domain`; the wiring and the
//! services the flows share follow.

// The flow, in the order above; the blank lines keep rustfmt from sorting it.
pub mod http;

pub mod auth;

pub mod oauth;

pub mod token;

pub mod store;

pub mod domain;

// Where a process starts: the commands, the wiring, the settings.
pub mod app;
pub mod cli;
pub mod config;

// What the flows share: the audit trail, rate limits, mail, time, files, telemetry.
pub mod audit;
pub mod clock;
pub mod files;
pub mod limits;
pub mod mail;
pub mod telemetry;

pub use app::{Application, Core};
pub use config::Config;
