//! `gatehouse serve` as a process: shutting down on SIGTERM, and request ids in problems
//! and log lines.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::gatehouse;
use crate::helpers::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, port) = slow_server(&dir);
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
    sigterm(&server);

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

/// `gatehouse serve` in `dir` on a free port, with a deliberately slow password check that
/// keeps a request in flight.
fn slow_server(dir: &tempfile::TempDir) -> (std::process::Child, u16) {
    let port = free_port();
    let server = gatehouse()
        .current_dir(dir.path())
        .arg("serve")
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_ARGON2_ITERATIONS", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (server, port)
}

fn sigterm(server: &std::process::Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_requests_already_sent_on_keep_alive_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, port) = slow_server(&dir);
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
    sigterm(&server);

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
