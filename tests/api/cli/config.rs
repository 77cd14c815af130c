//! `gatehouse check-config`: what it prints, and what it refuses in production.

use super::gatehouse;

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
    let readme = include_str!("../../../README.md");
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
            .env(
                "GATEHOUSE_MFA_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            )
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
    let no_sealing_key = ("GATEHOUSE_MFA_ENCRYPTION_KEY", "");

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
    let (ok, stderr) = check(&[https, postgres, no_sealing_key]);
    assert!(
        !ok && stderr.contains("GATEHOUSE_MFA_ENCRYPTION_KEY") && stderr.contains("openssl rand"),
        "{stderr}"
    );
    let (ok, stderr) = check(&[https, postgres]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = check(&[https, ("GATEHOUSE_ALLOW_SQLITE", "true")]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = check(&[https, postgres, ("GATEHOUSE_MFA_ENCRYPTION_KEY", "short")]);
    assert!(!ok && stderr.contains("base64url"), "{stderr}");
}
