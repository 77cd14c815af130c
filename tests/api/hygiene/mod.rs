//! What every endpoint owes its callers: headers, limits, error shapes, discovery, health.

mod cors;
mod discovery;
mod headers;
mod health;
mod metrics;
mod requests;
