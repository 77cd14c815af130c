//! `gatehouse keys`: list, rotate, retire and revoke the signing keys in the keys folder.

use clap::Subcommand;

use std::sync::Arc;

use crate::Core;
use crate::auth::{Acting, SigningKeys};
use crate::clock::Clock;
use crate::config::Config;
use crate::token::RotateOutcome;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Every key with its state and planned changes, one per line.
    List {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Add a key that is published now and signs once every cached JWKS has it.
    Rotate {
        /// Do nothing while the active key is younger than this (e.g. 30d).
        #[arg(long, value_parser = crate::config::parse_duration)]
        if_older_than: Option<std::time::Duration>,
    },
    /// Stop publishing a key once the tokens it signed have expired.
    Retire {
        /// A kid may start with `-` (it is base64url).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Emergency: remove a key at once and reject every token it signed.
    Revoke {
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// The key use cases for the command line. The keys folder works without a database, so
/// a database that cannot be reached only costs the audit record (with a warning).
async fn signing_keys(config: &Config, clock: Arc<dyn Clock>) -> SigningKeys {
    let audit = match Core::open(config.clone()).await {
        Ok(core) => Some(core.audit),
        Err(e) => {
            eprintln!("warning: not recorded in the audit log ({e:#})");
            None
        }
    };
    SigningKeys::new(
        config.keys.folder(),
        audit,
        clock,
        config.key_publish_ahead(),
        config.longest_token_lifetime(),
    )
}

/// Runs one `gatehouse keys` command at the time `clock` tells (the keys folder has no
/// `Core`, whose clock the other commands read).
pub async fn run(
    config: Config,
    command: KeysCommand,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let folder = config.keys.folder();
    let now = clock.now();
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
    match command {
        KeysCommand::List { json } => {
            let keys = folder.list(now)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                for k in &keys {
                    println!(
                        "{}\t{}\t{}\t{}\tcreated={}\tactivates={}\tretires={}\tremoved={}\trevoked={}{}",
                        k.kid,
                        k.state,
                        k.algorithm,
                        k.bits.map_or("-".to_string(), |b| b.to_string()),
                        k.created_at.to_rfc3339(),
                        k.activate_at.to_rfc3339(),
                        time(k.retire_at),
                        time(k.remove_at),
                        time(k.revoked_at),
                        k.problem
                            .as_ref()
                            .map(|p| format!("\tproblem={p}"))
                            .unwrap_or_default(),
                    );
                }
            }
            // On standard error, so the list stays one line (or one entry) per key.
            for file in folder.ignored_files(now)? {
                eprintln!("warning: {file}");
            }
            if let Some(broken) = keys.iter().find(|k| k.problem.is_some()) {
                anyhow::bail!(
                    "key {} cannot be used: {}",
                    broken.kid,
                    broken.problem.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { if_older_than } => {
            let keys = signing_keys(&config, clock).await;
            match keys.rotate(if_older_than, &Acting::cli()).await? {
                RotateOutcome::Rotated { kid, activate_at } => {
                    eprintln!(
                        "new key {kid} published now; it signs from {}",
                        activate_at.to_rfc3339()
                    );
                }
                RotateOutcome::Pending { kid, activate_at } => {
                    eprintln!(
                        "a rotation is under way: {kid} signs from {}; nothing to do",
                        activate_at.to_rfc3339()
                    );
                }
                RotateOutcome::Young { kid, created_at } => {
                    eprintln!(
                        "the active key {kid} was created {}; nothing to do",
                        created_at.to_rfc3339()
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Retire { kid } => {
            signing_keys(&config, clock).await.retire(&kid).await?;
            eprintln!("{kid} retired: it leaves the JWKS once the tokens it signed have expired");
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            let keys = signing_keys(&config, clock).await;
            let promoted = keys.revoke(&kid, &Acting::cli()).await?;
            eprintln!("{kid} revoked: removed from the JWKS, its tokens rejected");
            if let Some(promoted) = promoted {
                eprintln!("{promoted} signs from now on");
            }
            Ok(())
        }
    }
}
