//! Integration tests: the real server over HTTP, on SQLite and on PostgreSQL.

// The tests compare what the server answers with the time outside it (token `exp`,
// rows written by hand), so they may read the system time; the server reads its `Clock`.
#![allow(clippy::disallowed_methods)]

mod helpers;

mod admin;
mod audit;
mod browser;
mod caches;
mod chromium;
mod cli;
mod console;
mod email;
mod hygiene;
mod input;
mod introspection;
mod keys;
mod legacy;
mod limits;
mod mail;
mod me;
mod mfa;
mod passwords;
mod redis_outage;
mod registration;
mod revocations;
mod sessions;
mod spa;
mod store;
mod token;
