//! Signing-key rotation, retirement and revocation, seen over HTTP.

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use gatehouse::clock::ManualClock;

use crate::helpers::{Backend, TestApp, spawn_app_with, spawn_app_with_clock};

const PASSWORD: &str = "analytical engine";

/// Short lifetimes: a new key signs 6.2 s after it is made (1 s + 200 ms + a 5 s margin).
const FAST: [(&str, &str); 2] = [
    ("GATEHOUSE_JWKS_MAX_AGE", "1s"),
    ("GATEHOUSE_KEYS_RELOAD_INTERVAL", "200ms"),
];

/// The settings of the load test that found keys signing too early: two instances, a
/// short JWKS lifetime, and 4096-bit keys, whose making takes long enough to matter.
const LOAD_TEST: [(&str, &str); 3] = [
    ("GATEHOUSE_JWKS_MAX_AGE", "2s"),
    ("GATEHOUSE_KEYS_RELOAD_INTERVAL", "500ms"),
    ("GATEHOUSE_SIGNING_KEY_BITS", "4096"),
];

/// `gatehouse keys ARGS` on the test's folder with `settings`.
fn keys_command(app: &TestApp, settings: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        command.env_remove(key);
    }
    for (key, value) in settings {
        command.env(key, value);
    }
    command
        .env("GATEHOUSE_KEYS_DIR", &app.keys_dir)
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .arg("keys")
        .args(args);
    command
}

/// Runs `gatehouse keys ARGS` on the test's folder with the test's timing settings.
fn keys_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    keys_command(app, &FAST, args).output().unwrap()
}

fn kid_of(token: &str) -> String {
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn published(app: &TestApp) -> HashSet<String> {
    app.published_kids().await.into_iter().collect()
}

fn rotate(app: &TestApp) -> String {
    let output = keys_cli(app, &["rotate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = String::from_utf8(keys_cli(app, &["list"]).stdout).unwrap();
    listed
        .lines()
        .find(|l| l.split('\t').nth(1) == Some("next"))
        .expect("a next key")
        .split('\t')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_publishes_first_signs_later_and_revocation_is_immediate() {
    let app = spawn_app_with(Backend::Sqlite, &FAST).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let old_token = app.access_token("ada@example.com", PASSWORD).await;
    let old = kid_of(&old_token);
    assert_eq!(published(&app).await, HashSet::from([old.clone()]));

    let started = Instant::now();
    let new = rotate(&app);

    // The instance picks the new key up within its reload interval and publishes it,
    // while still signing with the old one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        published(&app).await,
        HashSet::from([old.clone(), new.clone()])
    );
    let during = app.access_token("ada@example.com", PASSWORD).await;
    if started.elapsed() < Duration::from_millis(6100) {
        assert_eq!(
            kid_of(&during),
            old,
            "signed with the new key before its time"
        );
    }

    // It signs once its wait is over (counted from when it was made, after `started`).
    let after = loop {
        let token = app.access_token("ada@example.com", PASSWORD).await;
        if kid_of(&token) == new {
            break token;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Tokens of the retired key keep working until they expire.
    assert_eq!(app.me(&old_token).await.status(), 200);
    assert!(published(&app).await.contains(&old));
    let listed = String::from_utf8(keys_cli(&app, &["list"]).stdout).unwrap();
    assert!(
        listed.contains(&format!("{old}\tretired\tRS256\t2048")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{new}\tactive\tRS256\t2048")),
        "{listed}"
    );

    // Emergency: the retired key is revoked; its tokens fail at once everywhere.
    let output = keys_cli(&app, &["revoke", &old]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!published(&app).await.contains(&old));
    assert_eq!(app.me(&old_token).await.status(), 401);
    assert_eq!(app.me(&after).await.status(), 200);
    let json: Value = serde_json::from_slice(&keys_cli(&app, &["list", "--json"]).stdout).unwrap();
    let states: Vec<(&str, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert!(
        states.contains(&(old.as_str(), "revoked")) && states.contains(&(new.as_str(), "active"))
    );

    // Revoking the active key promotes a new one at once.
    let output = keys_cli(&app, &["revoke", &new]);
    assert!(output.status.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replacement = app.access_token("ada@example.com", PASSWORD).await;
    assert_ne!(kid_of(&replacement), new);
    assert_eq!(app.me(&after).await.status(), 401);
    assert_eq!(app.me(&replacement).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_follow_one_folder_and_never_sign_with_an_unpublished_key() {
    let first = spawn_app_with(Backend::Sqlite, &FAST).await;
    let second = first.sibling().await;
    first.register_user("ada@example.com", PASSWORD).await;

    let new = rotate(&first);
    let deadline = Instant::now() + Duration::from_millis(8500);
    let mut signers = HashSet::new();
    while Instant::now() < deadline {
        for (signer, other) in [(&first, &second), (&second, &first)] {
            let token = signer.access_token("ada@example.com", PASSWORD).await;
            let kid = kid_of(&token);
            let published = published(other).await;
            assert!(
                published.contains(&kid),
                "{kid} signs on one instance but {published:?} on the other"
            );
            assert_eq!(other.me(&token).await.status(), 200);
            signers.insert(kid);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        signers.contains(&new),
        "both instances moved to the new key: {signers:?}"
    );
    assert_eq!(signers.len(), 2);
}

/// What one instance was seen doing during a rotation.
#[derive(Default)]
struct Watched {
    /// When the first JWKS listing the new key had arrived (it was published before).
    listed_by: Option<Instant>,
    /// When the last request was sent that still got a token of the old key (the new key
    /// started signing after).
    old_signed_after: Option<Instant>,
    /// The new key, once it signed.
    signed_with: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_signs_a_full_jwks_max_age_after_every_instance_published_it() {
    let max_age = Duration::from_secs(2);
    let first = spawn_app_with(Backend::Sqlite, &LOAD_TEST).await;
    let second = first.sibling().await;
    first.register_user("ada@example.com", PASSWORD).await;
    let old = kid_of(&first.access_token("ada@example.com", PASSWORD).await);

    let mut rotation = keys_command(&first, &LOAD_TEST, &["rotate"]);
    let rotation = tokio::task::spawn_blocking(move || rotation.output().unwrap());
    let instances = [&first, &second];
    let mut watched: [Watched; 2] = Default::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while watched.iter().any(|w| w.signed_with.is_none()) {
        assert!(
            Instant::now() < deadline,
            "both instances moved to the new key"
        );
        for (app, seen) in instances.iter().zip(watched.iter_mut()) {
            let listed = published(app).await.len() > 1;
            if listed && seen.listed_by.is_none() {
                seen.listed_by = Some(Instant::now());
            }
            let asked = Instant::now();
            let kid = kid_of(&app.access_token("ada@example.com", PASSWORD).await);
            if kid == old {
                seen.old_signed_after = Some(asked);
            } else {
                seen.signed_with.get_or_insert(kid);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let output = rotation.await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let new = watched[0].signed_with.clone().unwrap();
    assert!(stderr.contains(&new), "{stderr}");
    assert_eq!(watched[1].signed_with.as_ref(), Some(&new));
    // A resource server may have fetched either instance's JWKS just before it listed the
    // new key: no instance may sign with it until that copy has expired.
    let last_listed = watched.iter().map(|w| w.listed_by.unwrap()).max().unwrap();
    for (i, seen) in watched.iter().enumerate() {
        let activated = seen.old_signed_after.unwrap();
        assert!(
            activated >= last_listed + max_age,
            "instance {i} signed with the new key {:?} after the last instance published it",
            activated.saturating_duration_since(last_listed)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_key_file_is_named_and_does_not_take_a_running_instance_down() {
    let app = spawn_app_with(Backend::Sqlite, &FAST).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let kid = kid_of(&token);
    let path = app.keys_dir.join(format!("{kid}.pem"));
    let pem = std::fs::read(&path).unwrap();

    std::fs::write(&path, &pem[..pem.len() / 3]).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The running instance keeps its keys.
    assert_eq!(app.me(&token).await.status(), 200);
    assert_eq!(
        kid_of(&app.access_token("ada@example.com", PASSWORD).await),
        kid
    );
    assert!(published(&app).await.contains(&kid));
    // The CLI names the file.
    let listed = keys_cli(&app, &["list"]);
    assert!(!listed.status.success());
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(stderr.contains(&format!("{kid}.pem")), "{stderr}");
    // A new instance refuses to start, naming the file.
    let error = match gatehouse::Application::build(app.config.clone()).await {
        Ok(_) => panic!("started with a corrupt key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains(&format!("{kid}.pem")), "{error}");

    // Repaired, everything goes on.
    std::fs::write(&path, &pem).unwrap();
    assert!(keys_cli(&app, &["list"]).status.success());
}

/// The JWKS is served as bytes kept in memory, yet follows time: with nothing changed on
/// disk, the retired key leaves it once its tokens have expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_kept_in_memory_follows_the_clock() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &FAST, clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let old = kid_of(&app.access_token("ada@example.com", PASSWORD).await);
    let new = rotate(&app);
    let both = HashSet::from([old.clone(), new.clone()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while published(&app).await != both {
        assert!(Instant::now() < deadline, "the new key was never published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(published(&app).await, both);

    clock.advance(Duration::from_secs(86_400));
    assert_eq!(published(&app).await, HashSet::from([new.clone()]));
    let token = app.access_token("ada@example.com", PASSWORD).await;
    assert_eq!(kid_of(&token), new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_if_older_than_is_safe_to_run_daily() {
    let app = spawn_app_with(Backend::Sqlite, &FAST).await;

    let young = keys_cli(&app, &["rotate", "--if-older-than", "30d"]);
    assert!(young.status.success());
    assert!(String::from_utf8_lossy(&young.stderr).contains("nothing to do"));
    let listed = String::from_utf8(keys_cli(&app, &["list"]).stdout).unwrap();
    assert_eq!(listed.lines().count(), 1);

    // Concurrent runs make one key.
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let dir = app.keys_dir.clone();
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                    .env("GATEHOUSE_KEYS_DIR", dir)
                    .args(["keys", "rotate", "--if-older-than", "0s"])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for run in runs {
        assert!(run.join().unwrap().status.success());
    }
    let listed = String::from_utf8(keys_cli(&app, &["list"]).stdout).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let unknown = keys_cli(&app, &["retire", "nope"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8(unknown.stderr).unwrap();
    assert!(stderr.contains("no key nope"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_keys_sign_publish_and_verify() {
    let app = spawn_app_with(Backend::Sqlite, &[("GATEHOUSE_SIGNING_ALG", "ES256")]).await;
    app.register_user("ada@example.com", PASSWORD).await;

    let token = app.access_token("ada@example.com", PASSWORD).await;

    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(app.me(&token).await.status(), 200);
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert!(
        jwk.get("d").is_none(),
        "the private part is never published"
    );
    // Verified with the published key alone.
    let key = josekit::jwk::Jwk::from_bytes(jwk.to_string().as_bytes()).unwrap();
    let verifier = josekit::jws::ES256.verifier_from_jwk(&key).unwrap();
    assert!(josekit::jwt::decode_with_verifier(&token, &verifier).is_ok());
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    // A token claiming RS256 for this key is refused (the algorithm belongs to the key).
    let parts: Vec<&str> = token.split('.').collect();
    let forged_header = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": header["kid"]}).to_string(),
    );
    let forged = format!("{forged_header}.{}.{}", parts[1], parts[2]);
    assert_eq!(app.me(&forged).await.status(), 401);
    // Rotation keeps the algorithm.
    let listed = String::from_utf8(keys_cli(&app, &["list"]).stdout).unwrap();
    assert!(listed.contains("\tES256\t256\t"), "{listed}");
}

/// `gatehouse serve` in `dir` (keys in `dir/keys`), its log lines sent to the receiver.
async fn serve_logging(
    dir: &std::path::Path,
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        command.env_remove(key);
    }
    let mut server = command
        .current_dir(dir)
        .arg("serve")
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_KEYS_RELOAD_INTERVAL", "100ms")
        .env("GATEHOUSE_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, receiver) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, base, receiver)
}

/// Collects log lines until one contains `needle` (at most ten seconds).
fn log_until(log: &std::sync::mpsc::Receiver<String>, seen: &mut Vec<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|l| l.contains(needle)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no log line with {needle}: {seen:#?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_placed_beside_keys_json_are_named_in_the_log_and_the_list_and_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base, log) = serve_logging(dir.path()).await;
    let keys_dir = dir.path().join("keys");
    assert!(keys_dir.join("keys.json").exists());
    let jwks = || async {
        let jwks: Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"].as_array().unwrap().len()
    };
    assert_eq!(jwks().await, 1);

    let pem = gatehouse::token::SigningKey::generate_pem(2048).unwrap();
    std::fs::write(keys_dir.join("extra.pem"), &pem).unwrap();
    std::fs::write(
        keys_dir.join("broken.pem"),
        b"-----BEGIN PRIVATE KEY-----\n",
    )
    .unwrap();

    // The reload that sees them names each with its reason.
    let mut seen = Vec::new();
    log_until(&log, &mut seen, "extra.pem");
    log_until(&log, &mut seen, "broken.pem");
    let line = |name: &str| {
        let line = seen.iter().find(|l| l.contains(name)).unwrap();
        serde_json::from_str::<Value>(line).unwrap()
    };
    assert_eq!(line("extra.pem")["message"], "key file ignored");
    assert_eq!(line("extra.pem")["file"], "keys/extra.pem");
    assert!(
        line("extra.pem")["reason"]
            .as_str()
            .unwrap()
            .contains("not in keys.json"),
        "{seen:#?}"
    );
    assert!(
        line("broken.pem")["reason"]
            .as_str()
            .unwrap()
            .contains("not a usable private key"),
        "{seen:#?}"
    );
    // Neither is used: the JWKS still holds the one scheduled key.
    assert_eq!(jwks().await, 1);
    // `keys list` names them too, and still lists the one key.
    let listed = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env("GATEHOUSE_KEYS_DIR", &keys_dir)
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 1);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    for name in ["extra.pem", "broken.pem"] {
        assert!(stderr.contains(&format!("{name} is ignored: ")), "{stderr}");
    }

    // Later reloads do not repeat them.
    std::fs::write(keys_dir.join("third.pem"), b"junk").unwrap();
    log_until(&log, &mut seen, "third.pem");
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = tokio::task::spawn_blocking(move || server.wait()).await;
    seen.extend(log.try_iter());
    for name in ["extra.pem", "broken.pem"] {
        let times = seen.iter().filter(|l| l.contains(name)).count();
        assert_eq!(times, 1, "{name} named {times} times: {seen:#?}");
    }
}
