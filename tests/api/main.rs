//! Integration tests: the real server over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod audit;
mod browser;
mod chromium;
mod cli;
mod email;
mod hygiene;
mod input;
mod keys;
mod limits;
mod mail;
mod me;
mod passwords;
mod registration;
mod revocations;
mod sessions;
mod spa;
mod store;
mod token;
