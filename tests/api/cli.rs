//! The `gatehouse` command line.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeZone, Utc};
use gatehouse::cli::keys::KeysCommand;
use gatehouse::clock::Clock;
use gatehouse::config::{Config, RawSettings};
use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

fn gatehouse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        command.env_remove(key);
    }
    command
}

#[test]
fn check_config_names_every_invalid_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .arg("check-config")
        .env("GATEHOUSE_LISTEN", "nowhere")
        .env("GATEHOUSE_ACCESS_TOKEN_TTL", "forever")
        .env("GATEHOUSE_ENV", "production")
        .env("GATEHOUSE_ISSUER", "http://id.example.com")
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in [
        "GATEHOUSE_LISTEN",
        "GATEHOUSE_ACCESS_TOKEN_TTL",
        "GATEHOUSE_ISSUER",
    ] {
        assert!(
            stderr.contains(variable),
            "{variable} not named in: {stderr}"
        );
    }
}

#[test]
fn check_config_prints_effective_values_with_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .arg("check-config")
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://gatehouse:hunter22@db.internal/gatehouse",
        )
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("GATEHOUSE_ISSUER=http://localhost:8080"));
    assert!(stdout.contains("GATEHOUSE_DATABASE_URL=postgres://gatehouse:"));
    assert!(!stdout.contains("hunter22"));
}

/// `check-config` shows every setting — the ones `serve` reads, no more, no fewer — and
/// the README's table documents exactly those.
#[test]
fn check_config_prints_every_setting_the_readme_documents() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .arg("check-config")
        .env(
            "GATEHOUSE_REDIS_URL",
            "redis://:hunter22@cache.internal:6379/2",
        )
        .env("GATEHOUSE_REDIS_KEY_PREFIX", "gh-test")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let printed: std::collections::BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `GATEHOUSE_"))
        .flat_map(|l| l.split('|').nth(1).unwrap().split('`'))
        .filter(|w| w.starts_with("GATEHOUSE_"))
        // Names the settings file; not a setting of its own.
        .filter(|w| *w != "GATEHOUSE_CONFIG")
        .collect();

    assert_eq!(printed, documented);
    assert!(stdout.contains("GATEHOUSE_REDIS_URL=redis://:<redacted>@cache.internal:6379/2"));
    assert!(stdout.contains("GATEHOUSE_REDIS_KEY_PREFIX=gh-test\n"));
    assert!(!stdout.contains("hunter22"));
}

#[test]
fn production_refusals_each_name_their_setting_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let check = |pairs: &[(&str, &str)]| {
        let output = gatehouse()
            .current_dir(dir.path())
            .arg("check-config")
            .env("GATEHOUSE_ENV", "production")
            .envs(pairs.iter().copied())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let https = ("GATEHOUSE_ISSUER", "https://id.example.com");
    let postgres = (
        "GATEHOUSE_DATABASE_URL",
        "postgres://gatehouse@db/gatehouse",
    );

    let (ok, stderr) = check(&[("GATEHOUSE_ISSUER", "http://id.example.com"), postgres]);
    assert!(
        !ok && stderr.contains("GATEHOUSE_ISSUER") && stderr.contains("https://"),
        "{stderr}"
    );
    let (ok, stderr) = check(&[https]);
    assert!(
        !ok && stderr.contains("GATEHOUSE_DATABASE_URL")
            && stderr.contains("GATEHOUSE_ALLOW_SQLITE"),
        "{stderr}"
    );
    let (ok, stderr) = check(&[https, postgres, ("GATEHOUSE_CORS_ORIGINS", "*")]);
    assert!(!ok && stderr.contains("GATEHOUSE_CORS_ORIGINS"), "{stderr}");
    let (ok, stderr) = check(&[https, postgres]);
    assert!(
        !ok && stderr.contains("GATEHOUSE_KEYS_DIR") && stderr.contains("keys rotate"),
        "{stderr}"
    );

    // A key readable by others is refused with the chmod that fixes it.
    let keys = dir.path().join("keys");
    let made = gatehouse()
        .current_dir(dir.path())
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let pem = std::fs::read_dir(&keys)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, stderr) = check(&[https, postgres]);
        assert!(!ok && stderr.contains("chmod 600"), "{stderr}");
        std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (ok, stderr) = check(&[https, postgres]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = check(&[https, ("GATEHOUSE_ALLOW_SQLITE", "true")]);
    assert!(ok, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_makes_an_account_that_can_sign_in() {
    let app = spawn_app(Backend::Sqlite).await;
    let create = |email: &str, extra: &[&str]| {
        gatehouse()
            .env("GATEHOUSE_DATABASE_URL", &app.database_url)
            .args(["user", "create", "--email", email, "--name", "Admin"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // A given password, read from one line of standard input.
    let mut child = create("root@example.com", &["--role", "admin", "--password-stdin"]);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"  spaces kept  \n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout.is_empty(),
        "a given password is never printed"
    );
    let token = app
        .access_token("root@example.com", "  spaces kept  ")
        .await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["admin"]));

    // A generated password, printed once, alone on its line.
    let output = create("second@example.com", &[])
        .wait_with_output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let password = stdout.trim_end_matches('\n');
    assert_eq!(stdout.lines().count(), 1);
    app.access_token("second@example.com", password).await;

    // The same email again is refused.
    let output = create("SECOND@example.com", &[])
        .wait_with_output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("already exists"), "{stderr}");
}

/// Runs `gatehouse ARGS` against the test's database, with `stdin` as standard input.
fn run(app: &crate::helpers::TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = gatehouse()
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_created_listed_and_deleted() {
    let app = spawn_app(Backend::Sqlite).await;

    let output = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "billing",
            "--grant",
            "client_credentials",
            "--scope",
            "invoices:read",
        ],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the generated secret alone on its line"
    );
    assert!(stdout.trim_end().len() >= 43, "256 random bits");

    let short = run(
        &app,
        &["client", "create", "--id", "short", "--secret-stdin"],
        "too short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("32"));
    let given = run(
        &app,
        &["client", "create", "--id", "given", "--secret-stdin"],
        &format!("{}\n", "s".repeat(32)),
    );
    assert!(given.status.success());
    assert!(given.stdout.is_empty(), "a given secret is never printed");
    let public = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "spa",
            "--public",
            "--redirect-uri",
            "https://app.example.com/cb",
        ],
        "",
    );
    assert!(public.status.success());
    assert!(public.stdout.is_empty());
    let bad_uri = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "bad",
            "--public",
            "--redirect-uri",
            "http://evil.example.com/cb",
        ],
        "",
    );
    assert!(!bad_uri.status.success());
    let stderr = String::from_utf8(bad_uri.stderr).unwrap();
    assert!(stderr.contains("--redirect-uri"), "{stderr}");
    let duplicate = run(&app, &["client", "create", "--id", "billing"], "");
    assert!(!duplicate.status.success());
    let stderr = String::from_utf8(duplicate.stderr).unwrap();
    assert!(stderr.contains("already exists"), "{stderr}");

    let list = String::from_utf8(run(&app, &["client", "list"], "").stdout).unwrap();
    let ids: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, ["gatehouse", "billing", "given", "spa"]);
    assert!(
        list.contains("invoices:read") && list.contains("confidential") && list.contains("public")
    );
    assert!(!list.contains(&"s".repeat(32)));

    assert!(
        run(&app, &["client", "delete", "given"], "")
            .status
            .success()
    );
    assert!(
        !run(&app, &["client", "delete", "given"], "")
            .status
            .success()
    );
    assert!(
        !run(&app, &["client", "delete", "gatehouse"], "")
            .status
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_disabled_and_sessions_revoked_offline() {
    let app = spawn_app(Backend::Sqlite).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let first: Value = app
        .password_grant("ada@example.com", "analytical engine")
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .password_grant("ada@example.com", "analytical engine")
        .await
        .json()
        .await
        .unwrap();
    let refresh = |token: &Value| {
        let token = token["refresh_token"].as_str().unwrap().to_string();
        let app = &app;
        async move {
            app.token(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                .await
                .status()
        }
    };

    let listed =
        String::from_utf8(run(&app, &["sessions", "list", "--user", "ada@example.com"], "").stdout)
            .unwrap();
    assert_eq!(listed.lines().count(), 2);
    let sid = listed
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();

    assert!(
        run(&app, &["sessions", "revoke", "--session", &sid], "")
            .status
            .success()
    );
    assert!(
        !run(&app, &["sessions", "revoke", "--session", &sid], "")
            .status
            .success()
    );
    let survivors =
        String::from_utf8(run(&app, &["sessions", "list", "--user", "ada@example.com"], "").stdout)
            .unwrap();
    assert_eq!(survivors.lines().count(), 1);

    assert!(
        run(
            &app,
            &["sessions", "revoke", "--user", "ada@example.com"],
            ""
        )
        .status
        .success()
    );
    assert_eq!(refresh(&first).await, 400);
    assert_eq!(refresh(&second).await, 400);

    let third: Value = app
        .password_grant("ada@example.com", "analytical engine")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        run(&app, &["user", "disable", "ada@example.com"], "")
            .status
            .success()
    );
    assert_eq!(
        refresh(&third).await,
        400,
        "disabling ends the sessions at once"
    );
    assert_eq!(
        app.password_grant("ada@example.com", "analytical engine")
            .await
            .status(),
        400
    );
    assert!(
        run(&app, &["user", "enable", "ada@example.com"], "")
            .status
            .success()
    );
    assert_eq!(
        app.password_grant("ada@example.com", "analytical engine")
            .await
            .status(),
        200
    );
    assert!(
        !run(&app, &["user", "disable", "nobody@example.com"], "")
            .status
            .success()
    );
    assert!(!run(&app, &["sessions", "revoke"], "").status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = gatehouse()
        .current_dir(dir.path())
        .arg("serve")
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        // A deliberately slow password check keeps the request in flight.
        .env("GATEHOUSE_ARGON2_ITERATIONS", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // Generating the development key can take seconds on a busy machine.
    let mut ready = false;
    for _ in 0..600 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server started within 30 s");

    // The connection is accepted (its first answer came back) before the slow request is
    // written on it, so the request is surely in flight when the signal arrives.
    let mut connection = RawConnection::open(port).await;
    connection.send(HEALTH).await;
    assert_eq!(connection.answer().await.unwrap().status, 200);
    let form = "grant_type=password&username=nobody%40example.com&password=some+password";
    connection
        .send(&format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: gatehouse\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let answer = connection
        .answer()
        .await
        .expect("the request in flight was answered");
    assert_eq!(answer.status, 400);
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "serve exited with {status}");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "no longer accepting"
    );
}

/// One HTTP/1.1 connection read and written by hand, to see exactly what a keep-alive
/// client sees: answers, `Connection` headers, and when the server closes.
struct RawConnection(tokio::io::BufReader<tokio::net::TcpStream>);

/// What came back: the status and whether the server said `Connection: close`.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    close: bool,
}

impl RawConnection {
    async fn open(port: u16) -> Self {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        Self(tokio::io::BufReader::new(stream))
    }

    async fn send(&mut self, request: &str) {
        use tokio::io::AsyncWriteExt;
        self.0
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
    }

    async fn answer(&mut self) -> std::io::Result<RawAnswer> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let read = async {
            let mut status_line = String::new();
            if self.0.read_line(&mut status_line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
            let (mut length, mut close) = (0, false);
            loop {
                let mut line = String::new();
                self.0.read_line(&mut line).await?;
                let line = line.trim_end().to_ascii_lowercase();
                if line.is_empty() {
                    break;
                }
                if let Some(value) = line.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                if let Some(value) = line.strip_prefix("connection:") {
                    close |= value.split(',').any(|o| o.trim() == "close");
                }
            }
            let mut body = vec![0; length];
            self.0.read_exact(&mut body).await?;
            Ok(RawAnswer { status, close })
        };
        tokio::time::timeout(std::time::Duration::from_secs(15), read)
            .await
            .expect("an answer or a close within 15 s")
    }

    /// True when the server closed the connection cleanly (end of stream, nothing more).
    async fn closed(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(15),
            self.0.read_to_end(&mut rest),
        );
        matches!(read.await, Ok(Ok(0)))
    }
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_requests_already_sent_on_keep_alive_connections() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = gatehouse()
        .current_dir(dir.path())
        .arg("serve")
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        // A deliberately slow password check keeps a request in flight.
        .env("GATEHOUSE_ARGON2_ITERATIONS", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Keep-alive connections that have each been answered once, and now sit idle.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut connection = RawConnection::open(port).await;
        connection.send(HEALTH).await;
        let first = connection.answer().await.unwrap();
        assert_eq!((first.status, first.close), (200, false));
        idle.push(connection);
    }
    let [mut later, mut just_before, mut silent] =
        <[RawConnection; 3]>::try_from(idle).ok().unwrap();
    // A busy connection: a request in flight.
    let mut busy = RawConnection::open(port).await;
    let form = "grant_type=password&username=nobody%40example.com&password=some+password";
    busy.send(&format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: gatehouse\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    ))
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // A request written the moment before the signal.
    just_before.send(HEALTH).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // New connections are refused at once.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "still accepting after SIGTERM");
    // A request sent on an open keep-alive connection after the signal, within the grace.
    later.send(HEALTH).await;

    // Each is answered, told that the connection closes, and then closed.
    for (name, connection, status) in [
        ("in flight", &mut busy, 400),
        ("sent after the signal", &mut later, 200),
    ] {
        let answer = connection
            .answer()
            .await
            .unwrap_or_else(|e| panic!("the request {name} got no answer: {e}"));
        assert_eq!(answer.status, status, "{name}");
        assert!(
            answer.close,
            "the answer to the request {name} says Connection: close"
        );
        assert!(connection.closed().await, "then the connection closes");
    }
    // Answered whether the server read it before or after the signal arrived; then closed.
    let answer = just_before
        .answer()
        .await
        .expect("the request sent just before");
    assert_eq!(answer.status, 200);
    assert!(just_before.closed().await);
    // A connection that sends nothing is closed cleanly once the grace has passed.
    assert!(silent.closed().await);
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn a_kid_starting_with_a_hyphen_is_a_kid_not_an_option() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .args([
            "keys",
            "revoke",
            "-rRJlL1Yigek35mDGb6_JyXRLetewFNA1HMg3HwOKh4",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no key -rRJlL1Yigek35mDGb6_JyXRLetewFNA1HMg3HwOKh4"),
        "{stderr}"
    );
}

/// Runs `gatehouse user import FILE` on the test's database.
pub(crate) fn import(
    app: &crate::helpers::TestApp,
    file: &std::path::Path,
) -> std::process::Output {
    gatehouse()
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .args(["user", "import"])
        .arg(file)
        .output()
        .unwrap()
}

crate::on_both_databases!(
    user_import_counts_good_duplicate_and_bad_lines_and_is_idempotent,
    client_permissions_are_granted_listed_and_changed,
);

/// `--allow` at creation and `client update --allow/--deny` later; `client list` shows them,
/// and the server honours them.
async fn client_permissions_are_granted_listed_and_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let ok = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let create = |id: &'static str, allow: &[&'static str]| {
        let mut args = vec![
            "client",
            "create",
            "--id",
            id,
            "--grant",
            "client_credentials",
        ];
        for permission in allow {
            args.extend(["--allow", permission]);
        }
        run(&app, &args, "")
    };
    let feed_secret = ok(create("feed-reader", &["revocation-feed", "introspection"]));
    let plain_secret = ok(create("plain", &[]));
    let allow_of = |id: &str| {
        let list = ok(run(&app, &["client", "list"], ""));
        let line = list
            .lines()
            .find(|l| l.starts_with(&format!("{id}\t")))
            .unwrap_or_else(|| panic!("{id} not listed: {list}"))
            .to_string();
        line.split('\t')
            .find_map(|f| f.strip_prefix("allow="))
            .unwrap()
            .to_string()
    };
    assert_eq!(allow_of("feed-reader"), "introspection,revocation-feed");
    assert_eq!(allow_of("plain"), "-");

    // Refused: an unknown name, a public client, nothing to change, an unknown client.
    let unknown = create("typo", &["revocation_feed"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("revocation-feed"));
    let public = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "spa",
            "--public",
            "--allow",
            "introspection",
        ],
        "",
    );
    assert!(!public.status.success());
    assert!(
        !run(&app, &["client", "update", "plain"], "")
            .status
            .success()
    );
    assert!(
        !run(
            &app,
            &["client", "update", "nobody", "--allow", "introspection"],
            ""
        )
        .status
        .success()
    );

    // The server reads what the CLI wrote (these clients were never looked up before).
    let feed = |id: &str, secret: &str| {
        app.client
            .get(app.url("/api/v1/revocations"))
            .basic_auth(id, Some(secret.trim_end()))
            .send()
    };
    assert_eq!(
        feed("feed-reader", &feed_secret).await.unwrap().status(),
        200
    );
    ok(run(
        &app,
        &["client", "update", "plain", "--allow", "revocation-feed"],
        "",
    ));
    assert_eq!(allow_of("plain"), "revocation-feed");
    assert_eq!(feed("plain", &plain_secret).await.unwrap().status(), 200);
    ok(run(
        &app,
        &["client", "update", "feed-reader", "--deny", "introspection"],
        "",
    ));
    assert_eq!(allow_of("feed-reader"), "revocation-feed");
}

async fn user_import_counts_good_duplicate_and_bad_lines_and_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("taken@example.com", "already here, thanks")
        .await;
    // As the old service's passlib wrote them.
    let old_hash = bcrypt::hash("from the old days", 4).unwrap();
    let other_hash = bcrypt::hash("another old secret", 4).unwrap();
    let lines = [
        format!(
            r#"{{"email":"Old@Example.com","name":"Old Timer","hashed_password":"{old_hash}","profile":{{"country":"France","preferred_language":"fr"}},"created_at":"2023-02-01 09:15:00.5"}}"#
        ),
        format!(
            r#"{{"email":"second@example.com","name":"Second","hashed_password":"{other_hash}"}}"#
        ),
        String::new(),
        format!(
            r#"{{"email":"OLD@example.com","name":"Duplicate","hashed_password":"{other_hash}"}}"#
        ),
        format!(
            r#"{{"email":"taken@example.com","name":"Taken","hashed_password":"{other_hash}"}}"#
        ),
        r#"{"email":"no-hash@example.com","name":"No Hash"}"#.to_string(),
        r#"{"email":"plain@example.com","name":"Plain","hashed_password":"hunter2"}"#.to_string(),
        "this is not json".to_string(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let first = import(&app, &file);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr),
    );
    assert!(
        !first.status.success(),
        "bad lines make the exit status fail"
    );
    assert!(
        stdout.contains("imported 2, already present 2, invalid 3"),
        "{stdout}"
    );
    for line in [
        "line 6: hashed_password: is required",
        "line 7: hashed_password",
        "line 8: not JSON",
    ] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
    assert!(
        !stderr.contains(&old_hash) && !stderr.contains(&other_hash),
        "hashes are never printed: {stderr}"
    );

    let again = import(&app, &file);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("imported 0, already present 4, invalid 3")
    );

    // Imported people sign in with their old password, and are rehashed to argon2id.
    assert_eq!(
        app.password_grant("old@example.com", "wrong")
            .await
            .status(),
        400
    );
    let token = app
        .access_token("old@example.com", "from the old days")
        .await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["name"], "Old Timer");
    assert_eq!(me["profile"]["preferred_language"], "fr");
    assert_eq!(me["email_verified"], false);
    assert!(
        me["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2023-02-01T09:15:00")
    );
    assert!(
        app.stored_hash("old@example.com")
            .await
            .starts_with("$argon2id$")
    );
    // The account that was already there kept its password.
    assert_eq!(
        app.password_grant("taken@example.com", "already here, thanks")
            .await
            .status(),
        200
    );
}

/// Every problem body names its request, and every line logged while serving it does too,
/// so a client's report of an error leads to its cause in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_and_log_lines_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut server = gatehouse()
        .current_dir(dir.path())
        .arg("serve")
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_LOG_FORMAT", "json")
        // The database's own lines are logged from inside the handlers.
        .env("GATEHOUSE_LOG_LEVEL", "info,sqlx::query=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let register = |body: &'static str| {
        client
            .post(format!("{base}/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ada = r#"{"email":"ada@example.com","name":"Ada","password":"analytical engine"}"#;
    assert_eq!(register(ada).await.unwrap().status(), 201);

    let answers = [
        register(ada).await.unwrap(),
        register(r#"{"email":"no","name":"","password":"x"}"#)
            .await
            .unwrap(),
        register("{not json").await.unwrap(),
        client
            .get(format!("{base}/api/v1/auth/me"))
            .send()
            .await
            .unwrap(),
        client
            .get(format!("{base}/api/v1/auth/me"))
            .bearer_auth("not.a.token")
            .send()
            .await
            .unwrap(),
        client
            .delete(format!("{base}/api/v1/auth/me"))
            .send()
            .await
            .unwrap(),
    ];
    let mut conflict_id = String::new();
    for response in answers {
        let status = response.status();
        let header = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json"),
            "{status}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["request_id"],
            header.as_str(),
            "{status}: {problem}"
        );
        assert_eq!(problem["type"], "about:blank", "{status}: {problem}");
        assert_eq!(problem["status"], status.as_u16(), "{problem}");
        if status == 409 {
            conflict_id = header;
        }
    }
    assert!(!conflict_id.is_empty(), "the second registration got 409");

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("server.log"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of_conflict: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == conflict_id.as_str())
        .collect();
    assert!(
        of_conflict
            .iter()
            .any(|l| l["target"].as_str().unwrap_or("").starts_with("sqlx")),
        "no database line of request {conflict_id} carries its id: {of_conflict:?}"
    );
}

/// A clock that stands where the test puts it.
struct At(DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The commands are library code; the key commands run at the time of the clock they are
/// given, so a month-long schedule is tested without waiting a month.
#[tokio::test]
async fn key_commands_run_at_the_time_of_the_clock_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir(&keys_dir).unwrap();
    let config = Config::from_raw(&RawSettings::from_pairs([
        ("GATEHOUSE_KEYS_DIR", keys_dir.display().to_string()),
        (
            "GATEHOUSE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
        ),
    ]))
    .unwrap();
    let folder = config.keys.folder();
    let start = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let day = chrono::Duration::days(1);
    let rotate_after_30_days = || KeysCommand::Rotate {
        if_older_than: Some(std::time::Duration::from_secs(30 * 86_400)),
    };
    let created = |at| {
        let mut times: Vec<_> = folder
            .list(at)
            .unwrap()
            .iter()
            .map(|k| k.created_at)
            .collect();
        times.sort();
        times
    };

    let first = KeysCommand::Rotate {
        if_older_than: None,
    };
    gatehouse::cli::keys::run(config.clone(), first, &At(start))
        .await
        .unwrap();
    gatehouse::cli::keys::run(config.clone(), rotate_after_30_days(), &At(start + day))
        .await
        .unwrap();
    assert_eq!(created(start + day), [start], "a day-old key is young");

    gatehouse::cli::keys::run(config, rotate_after_30_days(), &At(start + day * 31))
        .await
        .unwrap();
    assert_eq!(created(start + day * 31), [start, start + day * 31]);
}
