//! Requests the server refuses without harm: too big, malformed, the wrong method, or too
//! slow.

use serde_json::Value;

use crate::helpers::{Backend, assert_oauth_error, spawn_app, spawn_app_with};

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
