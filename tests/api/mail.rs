//! Outgoing mail through lettre: `.eml` files without an SMTP server, and SMTP against a
//! real server (aiosmtpd, Debian's `python3-aiosmtpd`, started per test on a free port).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gatehouse::domain::Secret;
use gatehouse::mail::{MailSettings, Mailer, Outgoing};

use crate::helpers::free_port;

/// Debian's interpreter, which has the `python3-aiosmtpd` package.
const PYTHON: &str = "/usr/bin/python3";

fn aiosmtpd_installed() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An SMTP server that stores what it receives as a Maildir under `dir`.
struct SmtpServer(Child);

impl SmtpServer {
    fn start(port: u16, dir: &Path) -> Self {
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        Self(child)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn settings(smtp_url: Option<String>, dir: &Path, retry_delays: Vec<Duration>) -> MailSettings {
    MailSettings {
        smtp_url: smtp_url.map(Secret::new),
        from: "Gatehouse <no-reply@gatehouse.test>".parse().unwrap(),
        dir: dir.to_path_buf(),
        retry_delays,
    }
}

fn message(to: &str) -> Outgoing {
    Outgoing {
        to: to.parse().unwrap(),
        subject: "Confirm your address".into(),
        text: "Open https://id.example.com/verify-email?token=abc to confirm.".into(),
        html: "<p><a href=\"https://id.example.com/verify-email?token=abc\">Confirm</a></p>".into(),
    }
}

/// The files that appear in `dir` within a few seconds.
async fn files_in(dir: &Path) -> Vec<PathBuf> {
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            if !files.is_empty() {
                return files;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Vec::new()
}

fn assert_is_our_message(raw: &str, to: &str) {
    assert!(raw.contains("Subject: Confirm your address"), "{raw}");
    assert!(raw.contains(&format!("To: {to}")), "{raw}");
    assert!(
        raw.contains("From: Gatehouse <no-reply@gatehouse.test>"),
        "{raw}"
    );
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("text/plain"), "{raw}");
    assert!(raw.contains("text/html"), "{raw}");
}

#[tokio::test]
async fn without_smtp_messages_are_written_as_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mail");
    let mailer = Mailer::start(settings(None, &folder, vec![])).unwrap();
    assert_eq!(mailer.destination(), folder.display().to_string());

    assert!(mailer.send(message("ada@example.com")));

    let files = files_in(&folder).await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    assert_is_our_message(
        &std::fs::read_to_string(&files[0]).unwrap(),
        "ada@example.com",
    );
}

#[tokio::test]
async fn an_smtp_url_that_lettre_cannot_use_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let error = Mailer::start(settings(
        Some("smtp://user:pass@host:notaport".into()),
        dir.path(),
        vec![],
    ))
    .unwrap_err();
    assert!(error.to_string().contains("GATEHOUSE_SMTP_URL"), "{error}");
    assert!(
        !error.to_string().contains("pass@"),
        "no password in the message: {error}"
    );
}

#[tokio::test]
async fn smtp_delivers_to_a_real_server() {
    if !aiosmtpd_installed() {
        eprintln!("not run: aiosmtpd is not installed (Debian package python3-aiosmtpd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = SmtpServer::start(port, &dir.path().join("box"));
    wait_for_port(port).await;
    let mailer = Mailer::start(settings(
        Some(format!("smtp://127.0.0.1:{port}")),
        &dir.path().join("unused"),
        vec![Duration::from_millis(200)],
    ))
    .unwrap();
    assert_eq!(mailer.destination(), "smtp");

    assert!(mailer.send(message("grace@example.com")));

    let delivered = files_in(&dir.path().join("box/new")).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_is_our_message(
        &std::fs::read_to_string(&delivered[0]).unwrap(),
        "grace@example.com",
    );
    assert!(
        !dir.path().join("unused").exists(),
        "no files when SMTP is set"
    );
}

#[tokio::test]
async fn a_message_waits_for_the_smtp_server_and_goes_out_when_it_returns() {
    if !aiosmtpd_installed() {
        eprintln!("not run: aiosmtpd is not installed (Debian package python3-aiosmtpd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mailer = Mailer::start(settings(
        Some(format!("smtp://127.0.0.1:{port}")),
        dir.path(),
        vec![Duration::from_millis(300); 20],
    ))
    .unwrap();

    // Nothing listens yet: the send is queued and fails, and the caller never waits.
    let started = std::time::Instant::now();
    assert!(mailer.send(message("ada@example.com")));
    assert!(started.elapsed() < Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _server = SmtpServer::start(port, &dir.path().join("box"));

    let delivered = files_in(&dir.path().join("box/new")).await;
    assert_eq!(
        delivered.len(),
        1,
        "delivered once the server is back: {delivered:?}"
    );
}

async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}
