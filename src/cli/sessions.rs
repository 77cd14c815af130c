//! `gatehouse sessions`: list a user's live sessions, end one or all of them.

use clap::Subcommand;

use super::user_by_email;
use crate::Core;
use crate::auth::Acting;
use crate::config::Config;
use crate::domain::SessionId;

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// A user's live sessions, one per line.
    List {
        #[arg(long)]
        user: String,
    },
    /// End one session, or every session of a user.
    Revoke {
        /// A session id may start with `-` (it is base64url).
        #[arg(
            long,
            conflicts_with = "user",
            required_unless_present = "user",
            allow_hyphen_values = true
        )]
        session: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
}

/// Runs one `gatehouse sessions` command.
pub async fn run(config: Config, command: SessionsCommand) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    match command {
        SessionsCommand::List { user } => {
            let user = user_by_email(&core, &user).await?;
            for s in core.sessions.list(user.id).await? {
                println!(
                    "{}\t{}\tcreated={}\tlast_used={}\texpires={}\tip={}\tuser_agent={}",
                    s.id,
                    s.client_id,
                    s.created_at.to_rfc3339(),
                    s.last_used_at.to_rfc3339(),
                    s.expires_at().to_rfc3339(),
                    s.ip.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }
        SessionsCommand::Revoke {
            session: Some(sid), ..
        } => {
            let sid = SessionId::parse(&sid).map_err(|e| anyhow::anyhow!("--session: {e}"))?;
            if core.admin.end_session(&sid, &Acting::cli()).await? {
                eprintln!("session {sid} ended");
                Ok(())
            } else {
                anyhow::bail!("no live session {sid}")
            }
        }
        SessionsCommand::Revoke {
            user: Some(email), ..
        } => {
            let user = user_by_email(&core, &email).await?;
            let ended = core
                .admin
                .end_user_sessions(user.id, &Acting::cli())
                .await?;
            eprintln!("{ended} session(s) of {} ended", user.email);
            Ok(())
        }
        SessionsCommand::Revoke { .. } => anyhow::bail!("give --session SID or --user EMAIL"),
    }
}
