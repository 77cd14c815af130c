//! The `gatehouse` command: parses arguments and starts things; the work lives in the library.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gatehouse::audit::{Event, EventType};
use gatehouse::auth::{AuthError, Registration};
use gatehouse::config::{Config, RawSettings};
use gatehouse::domain::{
    Email, EndCause, Password, Profile, Role, Secret, SessionId, User, UserName,
};
use gatehouse::oauth::{ClientError, NewClient};
use gatehouse::{Application, Core, telemetry};
use rand::Rng;
use rand::distr::Alphanumeric;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Identity provider and OAuth 2.0 / OpenID Connect server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and print the effective values (secrets hidden).
    CheckConfig,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage OAuth clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// See and end sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Every key with its state and planned changes, one per line.
    List {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Add a key that is published now and signs once every cached JWKS has it.
    Rotate {
        /// Do nothing while the active key is younger than this (e.g. 30d).
        #[arg(long, value_parser = parse_duration_arg)]
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

fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    gatehouse::config::parse_duration(text)
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; without --password-stdin a random password is printed once.
    Create(CreateUser),
    /// Disable an account and end all its sessions.
    Disable { email: String },
    /// Enable a disabled account.
    Enable { email: String },
    /// Import accounts from JSON Lines exported from the old service (see README);
    /// existing emails are left alone, bad lines are reported by number.
    Import { file: std::path::PathBuf },
}

#[derive(Subcommand)]
enum ClientCommand {
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
struct CreateClient {
    #[arg(long)]
    id: String,
    /// A client on people's devices (no secret; PKCE instead).
    #[arg(long)]
    public: bool,
    /// Read the secret (at least 32 characters) from one line of standard input.
    #[arg(long)]
    secret_stdin: bool,
    /// An allowed redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// An allowed grant (repeatable): authorization_code, refresh_token,
    /// client_credentials, password. Default: authorization_code and refresh_token.
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// A scope beyond openid, profile and email that the client may ask for (repeatable).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// A client of your own, trusted without a consent screen.
    #[arg(long)]
    first_party: bool,
    /// A permission beyond the grants (repeatable): introspection (of other clients'
    /// tokens), revocation-feed. Confidential clients only.
    #[arg(long = "allow")]
    permissions: Vec<String>,
}

#[derive(Args)]
struct UpdateClient {
    #[arg(allow_hyphen_values = true)]
    id: String,
    /// Grant a permission (repeatable): introspection, revocation-feed.
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// Withdraw a permission (repeatable).
    #[arg(long = "deny")]
    deny: Vec<String>,
}

#[derive(Subcommand)]
enum SessionsCommand {
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

#[derive(Args)]
struct CreateUser {
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: String,
    /// A role to give (repeatable), such as `admin`.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// Read the password from one line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format, &config.log_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::CheckConfig => check_config(&config),
            Command::User { command } => match command {
                UserCommand::Create(args) => create_user(config, args).await,
                UserCommand::Disable { email } => set_disabled(config, &email, true).await,
                UserCommand::Enable { email } => set_disabled(config, &email, false).await,
                UserCommand::Import { file } => import_users(config, &file).await,
            },
            Command::Client { command } => client(config, command).await,
            Command::Sessions { command } => sessions(config, command).await,
            Command::Keys { command } => keys(config, command).await,
        }
    });
    // A password hash still running on a blocking thread (its request gave up at the end
    // of the shutdown grace) must not keep the process alive: dropping the runtime would
    // wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config() -> Result<Config, String> {
    let raw = RawSettings::from_environment().map_err(|e| e.to_string())?;
    for unknown in raw.unknown() {
        eprintln!("warning: {unknown} is not a Gatehouse setting and is ignored");
    }
    Config::from_raw(&raw).map_err(|e| e.to_string())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if !config.is_production() {
        tracing::warn!("running in development mode; set GATEHOUSE_ENV=production for real use");
    } else if !config.limits.enabled {
        tracing::warn!("GATEHOUSE_RATE_LIMITS=off in production: sign-ins are not rate limited");
    }
    let app = Application::build(config).await?;
    app.run_until(gatehouse::app::shutdown_signal()).await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    println!("migrations applied ({})", core.db.dialect());
    Ok(())
}

fn check_config(config: &Config) -> anyhow::Result<()> {
    config.check_keys_present()?;
    for (name, value) in config.describe() {
        println!("{name}={value}");
    }
    Ok(())
}

async fn import_users(config: Config, file: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use gatehouse::auth::import::{ImportReport, parse_line};
    let mut reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let argon2 = config.argon2;
    let core = Core::open(config).await?;
    let now = chrono::Utc::now();
    let mut report = ImportReport::default();
    let mut bytes = Vec::new();
    let mut number = 0u64;
    loop {
        bytes.clear();
        if reader
            .read_until(b'\n', &mut bytes)
            .with_context(|| format!("cannot read {}", file.display()))?
            == 0
        {
            break;
        }
        number += 1;
        let parsed = match std::str::from_utf8(&bytes) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => parse_line(line.trim_end_matches(['\n', '\r']), now, &argon2),
            Err(_) => Err("not UTF-8".to_string()),
        };
        match parsed {
            Ok(user) => {
                if core.accounts.import(&user).await? {
                    report.imported += 1;
                } else {
                    report.existing += 1;
                }
            }
            Err(problem) => {
                eprintln!("line {number}: {problem}");
                report.invalid.push((number, problem));
            }
        }
    }
    println!(
        "imported {}, already present {}, invalid {}",
        report.imported,
        report.existing,
        report.invalid.len()
    );
    if !report.invalid.is_empty() {
        anyhow::bail!(
            "{} line(s) were not imported; fix them and run the import again (it skips what is already there)",
            report.invalid.len()
        );
    }
    Ok(())
}

async fn create_user(config: Config, args: CreateUser) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let email = Email::parse(&args.email)
        .map_err(|e| problems.push(format!("--email: {e}")))
        .ok();
    let name = UserName::parse(&args.name)
        .map_err(|e| problems.push(format!("--name: {e}")))
        .ok();
    let roles: Vec<Role> = args
        .roles
        .iter()
        .filter_map(|r| {
            Role::parse(r)
                .map_err(|e| problems.push(format!("--role {r}: {e}")))
                .ok()
        })
        .collect();
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        (
            Password::parse(line)
                .map_err(|e| problems.push(format!("password: {e}")))
                .ok(),
            None,
        )
    } else {
        let generated: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        (Password::parse(&generated).ok(), Some(generated))
    };
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        anyhow::bail!("{}", problems.join("\n"));
    };
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("\n"));
    }
    let core = Core::open(config).await?;
    let registration = Registration {
        email,
        name,
        password,
        profile: Profile::default(),
    };
    match core.accounts.create(registration, roles).await {
        Ok(user) => {
            core.audit
                .record(
                    Event::new(EventType::UserRegistered)
                        .actor("cli")
                        .user(user.id)
                        .detail(serde_json::json!({"via": "cli", "roles": user.roles})),
                )
                .await;
            eprintln!("created user {} <{}>", user.id, user.email);
            if let Some(password) = generated {
                println!("{password}");
            }
            Ok(())
        }
        Err(AuthError::EmailTaken) => anyhow::bail!("an account with this email already exists"),
        Err(e) => Err(e.into()),
    }
}

fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

async fn user_by_email(core: &Core, email: &str) -> anyhow::Result<User> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("email: {e}"))?;
    core.accounts
        .find_by_email(&email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account with the email {email}"))
}

async fn set_disabled(config: Config, email: &str, disabled: bool) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    let user = user_by_email(&core, email).await?;
    core.accounts
        .set_disabled(&core.sessions, user.id, disabled)
        .await?;
    let kind = if disabled {
        EventType::UserDisabled
    } else {
        EventType::UserEnabled
    };
    core.audit
        .record(Event::new(kind).actor("cli").user(user.id))
        .await;
    eprintln!(
        "{} {}",
        user.email,
        if disabled {
            "disabled; its sessions ended"
        } else {
            "enabled"
        }
    );
    Ok(())
}

async fn client(config: Config, command: ClientCommand) -> anyhow::Result<()> {
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
            match core.clients.create(new, core.clock.now()).await {
                Ok(generated) => {
                    core.audit
                        .record(
                            Event::new(EventType::ClientCreated)
                                .actor("cli")
                                .client(&args.id),
                        )
                        .await;
                    eprintln!("created client {}", args.id);
                    if let Some(secret) = generated {
                        println!("{}", secret.expose());
                    }
                    Ok(())
                }
                Err(ClientError::Invalid(message)) => anyhow::bail!("{message}"),
                Err(e) => Err(e.into()),
            }
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
                    permission_names(&client.permissions),
                );
            }
            Ok(())
        }
        ClientCommand::Update(args) => {
            if args.allow.is_empty() && args.deny.is_empty() {
                anyhow::bail!("nothing to change: give --allow P or --deny P");
            }
            match core
                .clients
                .change_permissions(&args.id, &args.allow, &args.deny)
                .await
            {
                Ok(Some(client)) => {
                    core.audit
                        .record(
                            Event::new(EventType::ClientUpdated)
                                .actor("cli")
                                .client(&client.id)
                                .detail(serde_json::json!({
                                    "permissions": permission_names(&client.permissions),
                                })),
                        )
                        .await;
                    eprintln!(
                        "client {}: allow={}",
                        client.id,
                        permission_names(&client.permissions)
                    );
                    Ok(())
                }
                Ok(None) => anyhow::bail!("no client {}", args.id),
                Err(ClientError::Invalid(message)) => anyhow::bail!("{message}"),
                Err(e) => Err(e.into()),
            }
        }
        ClientCommand::Delete { id } => match core.clients.delete(&id).await {
            Ok(true) => {
                core.audit
                    .record(
                        Event::new(EventType::ClientDeleted)
                            .actor("cli")
                            .client(&id),
                    )
                    .await;
                eprintln!("deleted client {id}");
                Ok(())
            }
            Ok(false) => anyhow::bail!("no client {id}"),
            Err(ClientError::Invalid(message)) => anyhow::bail!("{message}"),
            Err(e) => Err(e.into()),
        },
    }
}

/// Permissions as `client list` shows them: comma-separated, `-` for none.
fn permission_names(permissions: &[gatehouse::oauth::Permission]) -> String {
    if permissions.is_empty() {
        return "-".into();
    }
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    names.join(",")
}

async fn sessions(config: Config, command: SessionsCommand) -> anyhow::Result<()> {
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
            if core.sessions.end(&sid, EndCause::Admin).await? {
                core.audit
                    .record(
                        Event::new(EventType::SessionEnded)
                            .actor("cli")
                            .session(&sid)
                            .detail(serde_json::json!({"cause": "admin"})),
                    )
                    .await;
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
                .sessions
                .end_all(user.id, None, EndCause::Admin)
                .await?;
            core.audit
                .record(
                    Event::new(EventType::SessionEnded)
                        .actor("cli")
                        .user(user.id)
                        .detail(serde_json::json!({"cause": "admin", "count": ended})),
                )
                .await;
            eprintln!("{ended} session(s) of {} ended", user.email);
            Ok(())
        }
        SessionsCommand::Revoke { .. } => anyhow::bail!("give --session SID or --user EMAIL"),
    }
}

/// Records a key event; the keys folder works without a database, so a database that
/// cannot be reached only costs the audit record (with a warning).
async fn audit_key_event(config: Config, kind: EventType, kid: &str) {
    match Core::open(config).await {
        Ok(core) => {
            core.audit
                .record(
                    Event::new(kind)
                        .actor("cli")
                        .detail(serde_json::json!({"kid": kid})),
                )
                .await
        }
        Err(e) => eprintln!("warning: not recorded in the audit log ({e:#})"),
    }
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    use gatehouse::token::{KeyFolder, RotateOutcome};
    let folder =
        KeyFolder::new(&config.keys_dir, config.signing_key_bits).with_alg(config.signing_alg);
    let now = chrono::Utc::now();
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
            match folder.rotate(
                &gatehouse::clock::SystemClock,
                config.key_publish_ahead(),
                config.longest_token_lifetime(),
                if_older_than,
            )? {
                RotateOutcome::Rotated { kid, activate_at } => {
                    eprintln!(
                        "new key {kid} published now; it signs from {}",
                        activate_at.to_rfc3339()
                    );
                    audit_key_event(config.clone(), EventType::KeyRotated, &kid).await;
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
            folder.retire(&kid, now, config.longest_token_lifetime())?;
            eprintln!("{kid} retired: it leaves the JWKS once the tokens it signed have expired");
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            let promoted = folder.revoke(&kid, now)?;
            audit_key_event(config.clone(), EventType::KeyRevoked, &kid).await;
            eprintln!("{kid} revoked: removed from the JWKS, its tokens rejected");
            if let Some(promoted) = promoted {
                eprintln!("{promoted} signs from now on");
            }
            Ok(())
        }
    }
}
