//! What every endpoint owes its callers: headers, limits, error shapes, discovery, health.

use serde_json::Value;

use crate::helpers::{Backend, assert_oauth_error, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(readiness_reports_the_database,);

async fn readiness_reports_the_database(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

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

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = spawn_app_with(Backend::Sqlite, &[("GATEHOUSE_MAX_BODY", "16KiB")]).await;
    let big = "x".repeat(17 * 1024);

    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"email":"a@example.com","name":"{big}","password":"long enough"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", "password"), ("username", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 413, "invalid_request").await;

    // A body streamed without Content-Length is counted as it arrives.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 1024])).collect();
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn malformed_bodies_get_4xx_never_5xx() {
    let app = spawn_app(Backend::Sqlite).await;
    let json_cases: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"\"text\"".to_vec()),
        ("application/json", vec![0xff, 0xfe, 0x00]),
        ("application/json", b"".to_vec()),
        ("text/plain", b"{}".to_vec()),
        ("application/x-www-form-urlencoded", b"email=a".to_vec()),
    ];
    for (content_type, body) in json_cases {
        let response = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{content_type} {body:?}: {status}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    let form_cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "application/x-www-form-urlencoded",
            b"grant_type=password&grant_type=password".to_vec(),
        ),
        ("application/x-www-form-urlencoded", b"%%%".to_vec()),
        ("application/x-www-form-urlencoded", vec![0xff, 0x3d, 0xfe]),
        ("application/x-www-form-urlencoded", b"".to_vec()),
        (
            "application/json",
            b"{\"grant_type\":\"password\"}".to_vec(),
        ),
        ("multipart/form-data", b"--x--".to_vec()),
    ];
    for (content_type, body) in form_cases {
        let response = app
            .client
            .post(app.url("/oauth2/token"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{content_type} {body:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{content_type} {body:?}");
    }
}

#[tokio::test]
async fn discovery_describes_what_exists() {
    let app = spawn_app(Backend::Sqlite).await;

    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200);
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["issuer"], app.issuer.as_str());
        assert_eq!(
            metadata["token_endpoint"],
            format!("{}/oauth2/token", app.issuer)
        );
        assert_eq!(
            metadata["jwks_uri"],
            format!("{}/.well-known/jwks.json", app.issuer)
        );
        assert!(
            metadata["grant_types_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == "password")
        );
        assert_eq!(
            metadata["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"])
        );
    }
}

/// A client validating input against the document must not refuse an address the server
/// accepts: the document states the rule instead of an ASCII-only pattern.
#[tokio::test]
async fn the_documented_email_rule_admits_what_the_server_accepts() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let international = "josé.müller@bücher.example";

    let registered = app
        .register(&serde_json::json!({
            "email": international,
            "name": "José",
            "password": "analytical engine",
        }))
        .await;

    assert_eq!(registered.status(), 201);
    for schema in ["RegisterRequest", "LinkRequest"] {
        let email = &doc["components"]["schemas"][schema]["properties"]["email"];
        assert!(email.get("pattern").is_none(), "{schema}: {email}");
        assert!(
            email["description"]
                .as_str()
                .is_some_and(|d| d.contains("RFC 6531")),
            "{schema}: {email}"
        );
        assert!(international.chars().count() as u64 <= email["maxLength"].as_u64().unwrap());
    }
}

#[tokio::test]
async fn the_openapi_document_names_operations_for_sdks() {
    let app = spawn_app(Backend::Sqlite).await;

    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();

    let op = |path: &str, method: &str| doc["paths"][path][method]["operationId"].clone();
    assert_eq!(op("/api/v1/auth/register", "post"), "register");
    assert_eq!(op("/api/v1/auth/me", "get"), "getMe");
    assert_eq!(op("/api/v1/auth/me", "patch"), "updateMe");
    assert_eq!(op("/api/v1/auth/token", "post"), "token");
    let token_body = &doc["paths"]["/api/v1/auth/token"]["post"]["requestBody"]["content"];
    assert!(
        token_body
            .get("application/x-www-form-urlencoded")
            .is_some()
    );
    let responses = &doc["paths"]["/api/v1/auth/token"]["post"]["responses"];
    assert!(responses.get("200").is_some() && responses.get("400").is_some());
    let register_errors =
        &doc["paths"]["/api/v1/auth/register"]["post"]["responses"]["422"]["content"];
    assert!(register_errors.get("application/problem+json").is_some());
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
    assert_eq!(app.get("/docs").await.status(), 200);
}

#[tokio::test]
async fn the_openapi_document_says_what_each_operation_answers() {
    let app = spawn_app(Backend::Sqlite).await;

    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();

    let revoke = &doc["paths"]["/oauth2/revoke"]["post"]["responses"];
    assert!(
        revoke["200"].get("content").is_none(),
        "revocation answers 200 with no body, not an introspection result"
    );
    let token = &doc["paths"]["/api/v1/auth/token"]["post"];
    assert_eq!(
        token["responses"]["200"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
        "#/components/schemas/AccessTokenResponse"
    );
    assert!(
        token.get("security").is_none(),
        "public clients call it bare"
    );
    let introspect = &doc["paths"]["/oauth2/introspect"]["post"];
    assert_eq!(
        introspect["security"],
        serde_json::json!([{"clientBasic": []}, {}])
    );
    for (path, status) in [
        ("/api/v1/auth/register", "415"),
        ("/api/v1/auth/token", "413"),
    ] {
        let method = &doc["paths"][path]["post"];
        assert!(method["responses"].get(status).is_some(), "{path} {status}");
    }
    let profile = &doc["components"]["schemas"]["Profile"]["properties"];
    assert_eq!(profile["country"]["nullable"], true);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(
        !schemas.contains_key("TokenResponse"),
        "generators name the token operation's responses TokenResponse"
    );
    let names: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "auth", "oauth"]);
}

#[tokio::test]
async fn a_wrong_method_is_answered_with_the_allowed_ones() {
    let app = spawn_app(Backend::Sqlite).await;
    let send = |method: &str, path: &str| {
        app.client
            .request(method.parse().unwrap(), app.url(path))
            .send()
    };

    let user = send("TRACE", "/api/v1/admin/users/42").await.unwrap();
    let token = send("PUT", "/oauth2/token").await.unwrap();
    let page = send("DELETE", "/login").await.unwrap();

    assert_eq!(user.status(), 405);
    assert_eq!(user.headers()["allow"], "GET, HEAD, PATCH");
    assert_eq!(token.status(), 405);
    assert_eq!(token.headers()["allow"], "POST");
    assert_eq!(page.headers()["allow"], "GET, HEAD, POST");

    // Routes outside the API document too, Swagger UI's folder included; HEAD still
    // works wherever GET does.
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/static/gatehouse.css",
        "/docs",
        "/docs/",
        "/api/v1/openapi.json",
    ] {
        for method in ["DELETE", "FOO", "PUT"] {
            let wrong = send(method, path).await.unwrap();
            assert_eq!(wrong.status(), 405, "{method} {path}");
            assert_eq!(wrong.headers()["allow"], "GET, HEAD", "{method} {path}");
        }
        let head = send("HEAD", path).await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(send("GET", path).await.unwrap().status(), 200, "GET {path}");
    }
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_CORS_ORIGINS", "https://app.example.com")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/oauth2/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };

    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503_and_the_server_recovers() {
    let Some(base) = crate::helpers::postgres_url() else {
        eprintln!("not run: GATEHOUSE_TEST_DATABASE_URL is not set");
        return;
    };
    let url = url::Url::parse(&base).unwrap();
    let target = tokio::net::lookup_host((url.host_str().unwrap(), url.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = crate::helpers::TcpProxy::start(target).await;
    let app = crate::helpers::spawn_app_through(Backend::Postgres, &[], Some(&proxy)).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let secret =
        crate::helpers::confidential_client(&app, "resource-server", &["revocation-feed"]).await;
    let feed = || {
        app.client
            .get(app.url("/api/v1/revocations"))
            .basic_auth("resource-server", Some(&secret))
            .send()
    };

    proxy.set_up(false);

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let grant = app
        .password_grant("ada@example.com", "analytical engine")
        .await;
    assert_eq!(grant.status(), 503);
    assert!(grant.headers().contains_key("retry-after"));
    let body: Value = grant.json().await.unwrap();
    assert_eq!(
        body["error"], "temporarily_unavailable",
        "never invalid_grant during an outage"
    );
    let registration = app
        .register(
            &serde_json::json!({"email": "b@example.com", "name": "B", "password": "long enough"}),
        )
        .await;
    assert_eq!(registration.status(), 503);
    assert_eq!(
        registration.headers()["content-type"],
        "application/problem+json"
    );
    let listed = feed().await.unwrap();
    assert_eq!(
        listed.status(),
        503,
        "never 401 or an empty feed during an outage"
    );
    assert!(listed.headers().contains_key("retry-after"));

    proxy.set_up(true);

    let mut recovered = false;
    for _ in 0..50 {
        if app
            .password_grant("ada@example.com", "analytical engine")
            .await
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the server did not recover when the database came back"
    );
    assert_eq!(feed().await.unwrap().status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_request_that_runs_too_long_gets_503() {
    // One argon2 verification takes milliseconds; a 1ms budget cannot hold it.
    let app = spawn_app_with(Backend::Sqlite, &[("GATEHOUSE_REQUEST_TIMEOUT", "1ms")]).await;

    let response = app
        .password_grant("nobody@example.com", "some password")
        .await;

    assert_oauth_error(response, 503, "temporarily_unavailable").await;
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_requests_are_made_and_carry_no_user_data() {
    let app = spawn_app(Backend::Sqlite).await;
    let scrape = || async { app.get("/metrics").await.text().await.unwrap() };
    let requests = r#"gatehouse_http_requests_total{method="GET",route="/healthz",status="200"}"#;
    let logins = r#"gatehouse_logins_total{result="success"}"#;
    let issued = r#"gatehouse_tokens_issued_total{grant="password"}"#;
    let before = scrape().await;

    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.register_user("ada@example.com", "analytical engine")
        .await;
    app.access_token("ada@example.com", "analytical engine")
        .await;
    let id = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/admin/users/{id}")).await;
    app.get("/no/such/path/ada@example.com").await;

    let after = scrape().await;
    assert!(metric(&after, requests) >= metric(&before, requests) + 3.0);
    assert!(metric(&after, logins) >= metric(&before, logins) + 1.0);
    assert!(metric(&after, issued) >= metric(&before, issued) + 1.0);
    assert!(after.contains("gatehouse_http_request_duration_seconds_bucket"));
    assert!(after.contains("gatehouse_password_hash_seconds_count"));
    assert!(after.contains(r#"route="/api/v1/admin/users/{id}""#));
    assert!(!after.contains(&id.to_string()) && !after.contains("ada@example.com"));
}

/// Every route of the API document has a label of its own, the audit log's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_counted_under_its_own_label() {
    let app = spawn_app(Backend::Sqlite).await;
    app.get("/api/v1/admin/audit").await;
    app.get("/api/v1/auth/sessions").await;

    let after = app.get("/metrics").await.text().await.unwrap();
    assert!(after.contains(r#"route="/api/v1/admin/audit""#), "{after}");
    assert!(
        after.contains(r#"route="/api/v1/auth/sessions""#),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_hold_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_MAX_CONNECTIONS", "2"),
            ("GATEHOUSE_REQUEST_TIMEOUT", "1s"),
            // Idle connections are closed after this; the connection-limit check below
            // gives up well before it, or a slot freed by the timeout would be served.
            ("GATEHOUSE_HEADER_TIMEOUT", "1s"),
        ],
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();

    // Headers trickled a line at a time (slowloris) are cut off at the deadline.
    let mut trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut closed = false;
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if trickle.write_all(b"x-pad: 1\r\n").await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(
            std::time::Duration::from_millis(1),
            trickle.read(&mut probe),
        )
        .await
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a trickling client kept its connection for {:?}",
        started.elapsed()
    );
    drop(trickle);

    // A body that never arrives is cut off.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /api/v1/auth/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read(&mut answer))
        .await
        .expect("the server answered the slow body")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 408"));
    drop(slow);

    // Two idle connections fill the server; a third waits until one closes.
    let first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    assert!(
        client.get(app.url("/healthz")).send().await.is_err(),
        "served past the connection limit"
    );
    drop(first);
    let served = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
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

#[tokio::test]
async fn cors_leaves_the_servers_own_forms_and_unlisted_origins_alone() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_CORS_ORIGINS", "https://app.example.com")],
    )
    .await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // A browser posts Gatehouse's own forms with Gatehouse's origin.
    let form = browser.get(app.url("/register")).send().await.unwrap();
    let form = form.text().await.unwrap();
    let marker = r#"name="csrf" value=""#;
    let csrf = form[form.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap();
    let registered = browser
        .post(app.url("/register"))
        .header("origin", &app.base)
        .form(&[
            ("csrf", csrf),
            ("email", "ada@example.com"),
            ("name", "Ada"),
            ("password", "analytical engine"),
            ("password_confirm", "analytical engine"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 303);
    assert!(
        registered
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Another site's page may read nothing, but it is not refused.
    let discovery = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    assert!(
        discovery
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(discovery.headers()["vary"], "Origin");

    // A listed origin reads the answer; caches keep one answer per origin.
    let listed = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(listed.headers()["vary"], "Origin");
}
