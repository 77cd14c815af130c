//! Security headers on every response, and HTTPS served directly.

use crate::helpers::{Backend, spawn_app, spawn_app_with};

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_ISSUER", "https://id.example.com")],
    )
    .await;

    for path in [
        "/healthz",
        "/api/v1/auth/me",
        "/.well-known/jwks.json",
        "/no-such-page",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            headers["content-security-policy"], "frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(
            headers["strict-transport-security"]
                .to_str()
                .unwrap()
                .contains("max-age="),
            "{path}"
        );
        assert_eq!(headers["x-request-id"].len(), 36, "{path}");
    }
}

#[tokio::test]
async fn an_http_issuer_gets_no_hsts() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/healthz").await;
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_directly_with_a_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (cert_path, key_path) = (cert.display().to_string(), key.display().to_string());
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_TLS_CERT", &cert_path),
            ("GATEHOUSE_TLS_KEY", &key_path),
            ("GATEHOUSE_ISSUER", "https://127.0.0.1"),
        ],
    )
    .await;
    let url = app.url("/healthz").replace("http://", "https://");

    let output = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &cert_path,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{scheme}",
            &url,
        ])
        .output()
        .await
        .unwrap();

    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "200 HTTPS",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plain = app.client.get(app.url("/healthz")).send().await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP is not served on a TLS port"
    );
}
