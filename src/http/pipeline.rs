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
use super::problem::{BASIC_CHALLENGE, Problem};
use super::routes::{Challenge, RouteTable, Surface};
use crate::config::{Config, TrustedProxy};

/// The request id, also sent back as `X-Request-Id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

impl RequestId {
    /// A random (v4) UUID, written straight into its shared string.
    fn new() -> Self {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        Self(Arc::from(
            &*Uuid::new_v4().hyphenated().encode_lower(&mut text),
        ))
    }
}

/// The method as a metric label, without an allocation for the standard ones.
fn method_label(method: &Method) -> metrics::SharedString {
    // Their names are static, but `Method::as_str` borrows from the method.
    let name = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => return method.to_string().into(),
    };
    metrics::SharedString::const_str(name)
}

/// The status as a metric label, without an allocation: every code from 100 to 999 is
/// written once into one static string.
fn status_label(status: StatusCode) -> metrics::SharedString {
    static CODES: std::sync::LazyLock<&'static str> = std::sync::LazyLock::new(|| {
        (100..1000)
            .map(|c| c.to_string())
            .collect::<String>()
            .leak()
    });
    let start = (usize::from(status.as_u16()) - 100) * 3;
    metrics::SharedString::const_str(&CODES[start..start + 3])
}

/// Settings of the pipeline, taken from the configuration once.
#[derive(Clone)]
pub struct Pipeline {
    max_body: usize,
    timeout: Duration,
    trusted_proxies: Arc<[TrustedProxy]>,
    hsts: bool,
    /// CORS is on (`GATEHOUSE_CORS_ORIGINS`): every answer varies on Origin.
    vary_origin: bool,
    routes: RouteTable,
}

impl Pipeline {
    pub fn new(config: &Config, routes: RouteTable) -> Self {
        Self {
            max_body: config.http.max_body,
            timeout: config.http.request_timeout,
            trusted_proxies: config.http.trusted_proxies.clone().into(),
            hsts: config.issuer.starts_with("https://"),
            vary_origin: !config.oauth.cors_origins.is_empty(),
            routes,
        }
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

impl<E: Endpoint> Endpoint for PipelineEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let started = Instant::now();
        let request_id = RequestId::new();
        let client_ip = client_ip(&req, &self.settings.trusted_proxies);
        let method = req.method().clone();
        // Only the path is logged: query strings can carry codes and tokens. (A URI's
        // clone shares its bytes.)
        let uri = req.uri().clone();
        let path = uri.path();
        let matched = self.settings.routes.find(path);
        let style = ErrorStyle::of(matched.surface);
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
            Ok(body)
                if let Some(refused) = refused_text(&req, matched.surface, body.as_deref()) =>
            {
                refused.response(style, &request_id)
            }
            Ok(_) => {
                let call =
                    AssertUnwindSafe(self.next.call(req).instrument(span.clone())).catch_unwind();
                match tokio::time::timeout(self.settings.timeout, call).await {
                    Ok(Ok(Ok(output))) => output.into_response(),
                    Ok(Ok(Err(err))) => shape_error(err, matched.surface, &request_id),
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
            && let Some(route) = matched.route
            && let Ok(value) = HeaderValue::from_str(&route.allow)
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        add_security_headers(response.headers_mut(), self.settings.hsts);
        if self.settings.vary_origin {
            vary_on_origin(response.headers_mut());
        }
        if let Ok(value) = HeaderValue::from_str(&request_id.0) {
            response.headers_mut().insert("x-request-id", value);
        }
        let route = matched.label();
        let method_label = method_label(&method);
        metrics::counter!("gatehouse_http_requests_total", "method" => method_label.clone(), "route" => route, "status" => status_label(response.status()))
            .increment(1);
        metrics::histogram!("gatehouse_http_request_duration_seconds", "method" => method_label, "route" => route)
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
                    HeaderValue::from_static(BASIC_CHALLENGE),
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
fn refused_text(req: &Request, surface: Surface, body: Option<&[u8]>) -> Option<RefusedText> {
    use crate::domain::text::is_forbidden_control;
    let bad = |text: &str| text.chars().any(is_forbidden_control);
    if let Some(refused) = refused_credentials(req, &bad) {
        return Some(refused);
    }
    if surface != Surface::Page {
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
/// With CORS on, an answer depends on the request's Origin, so shared caches (the JWKS
/// and discovery are cacheable) must not hand one origin's answer to another — error
/// answers included.
fn vary_on_origin(headers: &mut poem::http::HeaderMap) {
    let varies = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("origin"))
    });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn shape_error(err: poem::Error, surface: Surface, request_id: &RequestId) -> Response {
    let style = ErrorStyle::of(surface);
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
        let challenge = match surface {
            Surface::Api(Challenge::Basic) => BASIC_CHALLENGE,
            _ => "Bearer",
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// The kinds of error body, by the surface of the route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ErrorStyle {
    /// RFC 6749 §5.2 JSON.
    OAuth,
    /// RFC 9457 problem details.
    Problem,
}

impl ErrorStyle {
    fn of(surface: Surface) -> Self {
        match surface {
            Surface::OAuth => Self::OAuth,
            Surface::Api(_) | Surface::Page => Self::Problem,
        }
    }
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
        ErrorStyle::OAuth => super::oauth_error::before_handler(status, &detail),
        ErrorStyle::Problem => {
            let mut problem = Problem::new(status, Some(detail));
            problem.request_id = Some(request_id.0.to_string());
            problem.response()
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
