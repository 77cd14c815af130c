//! What every request goes through: a request id, the client's address, a body limit, a
//! timeout, panics caught, errors given their documented shape, security headers, and
//! one log line.

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use poem::http::header::{self, HeaderValue};
use poem::http::{HeaderMap, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;
use uuid::Uuid;

use super::ClientIp;
use super::problem::Problem;
use crate::config::{Config, TrustedProxy};

/// The request id, also sent back as `X-Request-Id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

/// Settings of the pipeline, taken from the configuration once.
#[derive(Clone)]
pub struct Pipeline {
    max_body: usize,
    timeout: Duration,
    trusted_proxies: Arc<[TrustedProxy]>,
    hsts: bool,
    allowed: AllowedMethods,
}

impl Pipeline {
    pub fn new(config: &Config, allowed: AllowedMethods) -> Self {
        Self {
            max_body: config.http.max_body,
            timeout: config.http.request_timeout,
            trusted_proxies: config.http.trusted_proxies.clone().into(),
            hsts: config.issuer.starts_with("https://"),
            allowed,
        }
    }
}

/// The methods each route answers, so that a 405 carries the `Allow` header RFC 9110
/// §15.5.6 requires (poem's router does not say which methods it has).
#[derive(Clone, Default)]
pub struct AllowedMethods(Arc<[(Vec<String>, String)]>);

impl AllowedMethods {
    /// Route templates (`/api/v1/admin/users/{id}`) with their methods.
    pub fn new(routes: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        let mut merged: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for (path, methods) in routes {
            let segments: Vec<String> = path.split('/').map(str::to_string).collect();
            match merged.iter_mut().find(|(s, _)| *s == segments) {
                Some((_, known)) => known.extend(methods),
                None => merged.push((segments, methods)),
            }
        }
        let table = merged
            .into_iter()
            .map(|(segments, mut methods)| {
                // poem answers HEAD wherever it answers GET.
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                methods.sort();
                methods.dedup();
                (segments, methods.join(", "))
            })
            .collect();
        Self(table)
    }

    /// The `Allow` value for a request path, if a route has that shape. A last template
    /// segment `*` stands for any rest of the path (a folder such as `/docs/*`).
    fn for_path(&self, path: &str) -> Option<&str> {
        let parts: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(segments, _)| {
                let folder = segments.last().is_some_and(|s| s == "*");
                let fixed = &segments[..segments.len() - usize::from(folder)];
                (parts.len() == segments.len() || folder && parts.len() > fixed.len())
                    && fixed.iter().zip(&parts).all(|(template, part)| {
                        template == part
                            || (template.starts_with('{')
                                && template.ends_with('}')
                                && !part.is_empty())
                    })
            })
            .map(|(_, allow)| allow.as_str())
    }
}

impl<E: Endpoint> Middleware<E> for Pipeline {
    type Output = PipelineEndpoint<E>;

    fn transform(&self, next: E) -> Self::Output {
        PipelineEndpoint {
            next,
            settings: self.clone(),
        }
    }
}

pub struct PipelineEndpoint<E> {
    next: E,
    settings: Pipeline,
}

/// The kinds of error body, by where the request went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ErrorStyle {
    /// RFC 6749 §5.2 JSON.
    OAuth,
    /// RFC 9457 problem details.
    Problem,
}

fn error_style(path: &str) -> ErrorStyle {
    const OAUTH_PATHS: [&str; 4] = [
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/api/v1/auth/token",
    ];
    if OAUTH_PATHS.contains(&path) {
        ErrorStyle::OAuth
    } else {
        ErrorStyle::Problem
    }
}

impl<E: Endpoint> Endpoint for PipelineEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let started = Instant::now();
        let request_id = RequestId(Uuid::new_v4().to_string().into());
        let client_ip = client_ip(&req, &self.settings.trusted_proxies);
        let method = req.method().clone();
        // Only the path: query strings can carry codes and tokens.
        let path = req.uri().path().to_string();
        let style = error_style(&path);
        req.extensions_mut().insert(request_id.clone());
        req.extensions_mut().insert(ClientIp(client_ip));

        // Every line logged while serving the request carries its id.
        // At error level, so that no log filter drops the span from the warnings and
        // errors that most need it (a span's level only decides whether it exists).
        let span = tracing::error_span!("request", request_id = %request_id.0);
        // A client that sends its body slowly is cut off like a slow handler.
        let body = tokio::time::timeout(self.settings.timeout, self.limit_body(&mut req))
            .instrument(span.clone())
            .await;
        let mut response = match body.unwrap_or(Err(StatusCode::REQUEST_TIMEOUT)) {
            Err(StatusCode::REQUEST_TIMEOUT) => error_response(
                style,
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
                &request_id,
            ),
            Err(status) => {
                error_response(style, status, "the request body is too large", &request_id)
            }
            Ok(body) if let Some(refused) = refused_text(&req, body.as_deref()) => {
                refused.response(style, &request_id)
            }
            Ok(_) => {
                let call =
                    AssertUnwindSafe(self.next.call(req).instrument(span.clone())).catch_unwind();
                match tokio::time::timeout(self.settings.timeout, call).await {
                    Ok(Ok(Ok(output))) => output.into_response(),
                    Ok(Ok(Err(err))) => shape_error(err, style, &path, &request_id),
                    Ok(Err(_panic)) => {
                        tracing::error!(request_id = %request_id.0, "handler panicked");
                        error_response(style, StatusCode::INTERNAL_SERVER_ERROR, "", &request_id)
                    }
                    Err(_elapsed) => {
                        tracing::warn!(request_id = %request_id.0, "request timed out");
                        error_response(
                            style,
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the request took too long; try again",
                            &request_id,
                        )
                    }
                }
            }
        };

        if response.status().is_server_error() && !has_json_body(&response) {
            response = error_response(style, response.status(), "", &request_id);
        }
        if is_problem(&response) {
            response = with_request_id(response, &request_id).await;
        }
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Some(allow) = self.settings.allowed.for_path(&path)
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        add_security_headers(response.headers_mut(), self.settings.hsts);
        if let Ok(value) = HeaderValue::from_str(&request_id.0) {
            response.headers_mut().insert("x-request-id", value);
        }
        let route = route_label(&path);
        let status = response.status().as_u16().to_string();
        metrics::counter!("gatehouse_http_requests_total", "method" => method.to_string(), "route" => route, "status" => status)
            .increment(1);
        metrics::histogram!("gatehouse_http_request_duration_seconds", "method" => method.to_string(), "route" => route)
            .record(started.elapsed().as_secs_f64());
        tracing::info!(
            target: "gatehouse::http",
            request_id = %request_id.0,
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            client_ip = ?client_ip,
            "request"
        );
        Ok(response)
    }
}

impl<E> PipelineEndpoint<E> {
    /// Reads the body up to the limit, so no handler ever sees more (a `Content-Length`
    /// over the limit is refused before reading).
    /// Returns the body read, if any.
    async fn limit_body(&self, req: &mut Request) -> Result<Option<Bytes>, StatusCode> {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
            && !req.headers().contains_key(header::CONTENT_LENGTH)
            && !req.headers().contains_key(header::TRANSFER_ENCODING)
        {
            return Ok(None);
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.settings.max_body as u64) {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        match req
            .take_body()
            .into_bytes_limit(self.settings.max_body)
            .await
        {
            Ok(bytes) => {
                req.set_body(Body::from_bytes(bytes.clone()));
                Ok(Some(bytes))
            }
            Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(StatusCode::PAYLOAD_TOO_LARGE),
            Err(_) => Err(StatusCode::BAD_REQUEST),
        }
    }
}

/// Text of a request that no handler gets to see (see
/// [`crate::domain::text::is_forbidden_control`]): refused here, once, with the same
/// answer whichever database is behind.
enum RefusedText {
    /// In the path, the query or a form body: 400 (`invalid_request`).
    Parameter(String),
    /// In HTTP Basic client credentials: 401 (`invalid_client`).
    Credentials,
}

impl RefusedText {
    fn response(self, style: ErrorStyle, request_id: &RequestId) -> Response {
        match self {
            Self::Parameter(detail) => {
                error_response(style, StatusCode::BAD_REQUEST, &detail, request_id)
            }
            Self::Credentials => {
                let mut response = error_response(
                    style,
                    StatusCode::UNAUTHORIZED,
                    "malformed client credentials",
                    request_id,
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="gatehouse", charset="UTF-8""#),
                );
                response
            }
        }
    }
}

/// Looks for forbidden control characters in HTTP Basic credentials and — on the pages
/// and the other endpoints outside the OpenAPI document — in the decoded path and every
/// query and form parameter (names and values). Operations of the document check their
/// own parameters by their schema (a `pattern` on each string), and JSON bodies are
/// checked by their reader, which can name the field; both ignore unknown fields whatever
/// they hold, as RFC 6749 §3.1 asks of unrecognized parameters.
fn refused_text(req: &Request, body: Option<&[u8]>) -> Option<RefusedText> {
    use crate::domain::text::is_forbidden_control;
    let bad = |text: &str| text.chars().any(is_forbidden_control);
    if let Some(refused) = refused_credentials(req, &bad) {
        return Some(refused);
    }
    let documented = req.uri().path().starts_with("/api/")
        || error_style(req.uri().path()) == ErrorStyle::OAuth
        || req.uri().path() == "/oauth2/userinfo";
    if documented {
        return None;
    }
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy();
    if bad(&path) {
        return Some(RefusedText::Parameter(
            "the path must not contain control characters".into(),
        ));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let query = req.uri().query().unwrap_or("").as_bytes();
    let form = body.filter(|_| is_form).unwrap_or_default();
    for (name, value) in url::form_urlencoded::parse(query).chain(url::form_urlencoded::parse(form))
    {
        if bad(&name) {
            return Some(RefusedText::Parameter(
                "a parameter name must not contain control characters".into(),
            ));
        }
        if bad(&value) {
            return Some(RefusedText::Parameter(format!(
                "the parameter {name} must not contain control characters"
            )));
        }
    }
    None
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`. What cannot be
/// decoded at all is left to the handler to refuse.
fn refused_credentials(req: &Request, bad: &dyn Fn(&str) -> bool) -> Option<RefusedText> {
    let credentials = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        });
    if let Some(decoded) = credentials {
        let decoded = String::from_utf8_lossy(&decoded);
        let encoded_bad = bad(&decoded);
        let decoded_bad = decoded.split(':').any(|part| {
            url::form_urlencoded::parse(format!("x={part}").as_bytes()).any(|(_, v)| bad(&v))
        });
        if encoded_bad || decoded_bad {
            return Some(RefusedText::Credentials);
        }
    }
    None
}

/// The route template of a path, for metric labels: ids never become label values, and
/// unknown paths share one label so probes cannot create unbounded series.
fn route_label(path: &str) -> &'static str {
    const FIXED: &[&str] = &[
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/oauth2/authorize",
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/oauth2/userinfo",
        "/oauth2/logout",
        "/api/v1/auth/token",
        "/api/v1/auth/register",
        "/api/v1/auth/me",
        "/api/v1/auth/password",
        "/api/v1/auth/sessions",
        "/api/v1/admin/users",
        "/api/v1/openapi.json",
        "/api/v1/revocations",
        "/login",
        "/register",
        "/logout",
        "/account",
        "/verify-email",
        "/forgot-password",
        "/reset-password",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/verify-email",
        "/account/profile",
        "/account/password",
        "/account/sessions/end",
        "/account/sessions/end-others",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/gatehouse.css",
    ];
    if let Some(fixed) = FIXED.iter().find(|f| **f == path) {
        return fixed;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v1", "auth", "sessions", _] => "/api/v1/auth/sessions/{sid}",
        ["api", "v1", "admin", "users", _] => "/api/v1/admin/users/{id}",
        ["api", "v1", "admin", "users", _, "sessions"] => "/api/v1/admin/users/{id}/sessions",
        ["api", "v1", "admin", "sessions", _] => "/api/v1/admin/sessions/{sid}",
        ["docs", ..] => "/docs",
        _ => "other",
    }
}

/// The peer address, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
fn client_ip(req: &Request, trusted: &[TrustedProxy]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(**ip))
        .copied()
        .or(Some(peer))
}

fn has_json_body(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// Stamps the request id into a problem body, whoever made it, so that any error a client
/// reports can be found in the log (the same value as `X-Request-Id`).
async fn with_request_id(response: Response, request_id: &RequestId) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body.into_bytes().await {
        Ok(bytes) => bytes,
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    let stamped = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem.insert("request_id".into(), request_id.0.as_ref().into());
            serde_json::to_vec(&problem).map(Body::from_vec).ok()
        }
        _ => None,
    };
    let mut response = Response::from_parts(parts, stamped.unwrap_or_else(|| bytes.into()));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

/// Gives an error from poem or an extractor the body documented for the path. Errors
/// built from our own responses already have one.
fn shape_error(
    err: poem::Error,
    style: ErrorStyle,
    path: &str,
    request_id: &RequestId,
) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(request_id = %request_id.0, error = %err, "request failed");
        return error_response(style, status, "", request_id);
    }
    let mut response = error_response(style, status, &err.to_string(), request_id);
    if status == StatusCode::UNAUTHORIZED && style == ErrorStyle::Problem {
        // RFC 6750 §3: no credentials at all gets a bare challenge; the revocation feed
        // asks a client for HTTP Basic, like the introspection endpoint.
        let challenge = if path == "/api/v1/revocations" {
            r#"Basic realm="gatehouse", charset="UTF-8""#
        } else {
            "Bearer"
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// An error body in the given style. Server errors say nothing but the request id.
fn error_response(
    style: ErrorStyle,
    status: StatusCode,
    detail: &str,
    request_id: &RequestId,
) -> Response {
    let detail = if status.is_server_error() && detail.is_empty() {
        "the server could not handle the request".to_string()
    } else {
        detail.to_string()
    };
    match style {
        ErrorStyle::OAuth => {
            let (code, status) = match status {
                StatusCode::SERVICE_UNAVAILABLE => ("temporarily_unavailable", status),
                s if s.is_server_error() => ("server_error", s),
                StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request", status),
                StatusCode::UNAUTHORIZED => ("invalid_client", status),
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                    ("invalid_request", status)
                }
                _ => ("invalid_request", StatusCode::BAD_REQUEST),
            };
            let body = serde_json::json!({"error": code, "error_description": detail});
            Response::builder()
                .status(status)
                .content_type("application/json")
                .body(body.to_string())
        }
        ErrorStyle::Problem => {
            let mut problem = Problem::new(status, Some(detail));
            problem.request_id = Some(request_id.0.to_string());
            let body = serde_json::json!({
                "type": problem.kind,
                "title": problem.title,
                "status": problem.status,
                "detail": problem.detail,
                "request_id": problem.request_id,
            });
            Response::builder()
                .status(status)
                .content_type("application/problem+json")
                .body(body.to_string())
        }
    }
}

fn add_security_headers(headers: &mut HeaderMap, hsts: bool) {
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // Responses carry tokens or personal data unless a handler says otherwise.
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    if headers
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.as_bytes() == b"no-store")
    {
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}
