//! `gatehouse client`: register, list, change and delete OAuth clients.

use clap::{Args, Subcommand};

use super::read_line;
use crate::Core;
use crate::auth::Acting;
use crate::config::Config;
use crate::domain::Secret;
use crate::oauth::{ClientError, NewClient, Permission};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client; a generated secret is printed once.
    Create(CreateClient),
    /// List clients, one per line.
    List,
    /// Grant or withdraw a client's permissions.
    Update(UpdateClient),
    /// Delete a client.
    Delete {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Args)]
pub struct CreateClient {
    #[arg(long)]
    pub id: String,
    /// A client on people's devices (no secret; PKCE instead).
    #[arg(long)]
    pub public: bool,
    /// Read the secret (at least 32 characters) from one line of standard input.
    #[arg(long)]
    pub secret_stdin: bool,
    /// An allowed redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// An allowed grant (repeatable): authorization_code, refresh_token,
    /// client_credentials, password. Default: authorization_code and refresh_token.
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// A scope beyond openid, profile and email that the client may ask for (repeatable).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// A client of your own, trusted without a consent screen.
    #[arg(long)]
    pub first_party: bool,
    /// A permission beyond the grants (repeatable): introspection (of other clients'
    /// tokens), revocation-feed. Confidential clients only.
    #[arg(long = "allow")]
    pub permissions: Vec<String>,
}

#[derive(Args)]
pub struct UpdateClient {
    #[arg(allow_hyphen_values = true)]
    pub id: String,
    /// Grant a permission (repeatable): introspection, revocation-feed.
    #[arg(long = "allow")]
    pub allow: Vec<String>,
    /// Withdraw a permission (repeatable).
    #[arg(long = "deny")]
    pub deny: Vec<String>,
}

/// Runs one `gatehouse client` command.
pub async fn run(config: Config, command: ClientCommand) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    match command {
        ClientCommand::Create(args) => {
            let secret = if args.secret_stdin {
                Some(Secret::new(read_line()?))
            } else {
                None
            };
            let new = NewClient {
                id: args.id.clone(),
                public: args.public,
                secret,
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                grants: args.grants,
                scopes: args.scopes,
                permissions: args.permissions,
                first_party: args.first_party,
            };
            let generated = core
                .admin
                .create_client(new, &Acting::cli())
                .await
                .map_err(refused)?;
            eprintln!("created client {}", args.id);
            if let Some(secret) = generated {
                println!("{}", secret.expose());
            }
            Ok(())
        }
        ClientCommand::List => {
            for client in core.clients.list().await? {
                println!(
                    "{}\t{}\tgrants={}\tscopes={}\tredirect_uris={}\tallow={}",
                    client.id,
                    if client.public {
                        "public"
                    } else {
                        "confidential"
                    },
                    client
                        .grants
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    client.scopes.iter().collect::<Vec<_>>().join(","),
                    client.redirect_uris.join(","),
                    Permission::shown(&client.permissions),
                );
            }
            Ok(())
        }
        ClientCommand::Update(args) => {
            if args.allow.is_empty() && args.deny.is_empty() {
                anyhow::bail!("nothing to change: give --allow P or --deny P");
            }
            let Some(client) = core
                .admin
                .change_client_permissions(&args.id, &args.allow, &args.deny, &Acting::cli())
                .await
                .map_err(refused)?
            else {
                anyhow::bail!("no client {}", args.id);
            };
            eprintln!(
                "client {}: allow={}",
                client.id,
                Permission::shown(&client.permissions)
            );
            Ok(())
        }
        ClientCommand::Delete { id } => {
            if !core
                .admin
                .delete_client(&id, &Acting::cli())
                .await
                .map_err(refused)?
            {
                anyhow::bail!("no client {id}");
            }
            eprintln!("deleted client {id}");
            Ok(())
        }
    }
}

/// A refused change says only why; any other failure keeps its cause chain.
fn refused(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Invalid(message) => anyhow::anyhow!("{message}"),
        e => e.into(),
    }
}
