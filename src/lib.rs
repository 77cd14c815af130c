//! Gatehouse: an identity provider and OAuth 2.0 / OpenID Connect authorization server.
//!
//! Modules in the order a request flows through them: `http` (poem) calls the flows
//! (`auth`, `oauth`), which use `token`, `store` and `domain`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod files;
pub mod http;
pub mod limits;
pub mod mail;
pub mod oauth;
pub mod store;
pub mod telemetry;
pub mod token;

pub use app::{Application, Core};
pub use config::Config;
