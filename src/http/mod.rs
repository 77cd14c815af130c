//! HTTP: routes, middleware and the mapping of core results to responses. Only this
//! module knows poem.

// Error responses are built once per failed request and returned by value, as
// poem-openapi expects of response enums; boxing them would buy nothing measurable.
#![allow(clippy::result_large_err)]

mod admin;
mod api;
pub mod connections;
mod cors;
mod health;
mod oauth;
mod oauth_error;
mod pages;
mod pipeline;
mod problem;
mod routes;
pub mod tls;
mod wellknown;

/// The enrollment pages' QR codes, for the benchmark to time.
pub use pages::qr;

use std::net::IpAddr;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, RouteMethod};
use poem_openapi::OpenApiService;

use crate::auth::{Accounts, Sessions};
use crate::clock::Clock;
use crate::config::Config;
use crate::oauth::OAuth;
use crate::store::Database;
use crate::token::Keys;

/// Everything handlers need, shared: one clone is one reference count (the router hands
/// every request its own clone).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The use cases and settings behind [`AppState`].
pub struct Services {
    pub config: Arc<Config>,
    /// The JWKS and discovery answers, kept as bytes.
    pub well_known: wellknown::WellKnown,
    pub db: Database,
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub limiter: crate::limits::Limiter,
    pub audit: crate::audit::Audit,
    pub login: crate::auth::Login,
    /// Whether sessions live in Redis (reported by readiness).
    pub redis: bool,
    pub oauth: OAuth,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    /// Mailed links: asked for, sent, followed.
    pub links: crate::auth::MailedLinks,
    /// What a signed-in person does to their own account.
    pub self_service: crate::auth::SelfService,
    /// Registration by the person themselves.
    pub signup: crate::auth::SignUp,
    /// What administrators do to accounts and sessions.
    pub admin: crate::auth::Administration,
    /// Second factors: enrolling, removing, checking codes.
    pub second_factors: crate::auth::SecondFactors,
    /// The signing keys, as administrators rotate and revoke them.
    pub signing_keys: crate::auth::SigningKeys,
    /// The admin console's figures.
    pub dashboard: crate::auth::Dashboard,
}

/// The client's address: the peer, or the `X-Forwarded-For` entry a trusted proxy added.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

/// Who is asking, for sessions and the log: address and (bounded) user agent.
pub fn request_context(req: &poem::Request) -> crate::auth::RequestContext {
    crate::auth::RequestContext {
        ip: req.extensions().get::<ClientIp>().and_then(|ip| ip.0),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    }
}

/// A route outside the OpenAPI document: its path, whether it is a folder (every path
/// under it belongs to it), its surface, and the handler of each method it answers. The
/// router and the [`routes::RouteTable`] are both built from one list of these, so a route
/// answers exactly the methods it lists (and `HEAD` where it lists `GET`).
struct OtherRoute {
    path: &'static str,
    folder: bool,
    surface: routes::Surface,
    methods: Vec<(Method, BoxEndpoint<'static>)>,
}

impl OtherRoute {
    fn at(path: &'static str) -> Self {
        Self {
            path,
            folder: false,
            surface: routes::Surface::Page,
            methods: Vec::new(),
        }
    }

    /// A route of the API's surface (problem details, parameters its own to check).
    fn api(path: &'static str) -> Self {
        Self {
            surface: routes::Surface::API,
            ..Self::at(path)
        }
    }

    fn folder(path: &'static str) -> Self {
        Self {
            folder: true,
            ..Self::at(path)
        }
    }

    fn on<E>(mut self, method: Method, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        let ep = ep.into_endpoint().map_to_response().boxed();
        self.methods.push((method, ep));
        self
    }

    fn get<E: IntoEndpoint>(self, ep: E) -> Self
    where
        E::Endpoint: 'static,
    {
        self.on(Method::GET, ep)
    }

    fn post<E: IntoEndpoint>(self, ep: E) -> Self
    where
        E::Endpoint: 'static,
    {
        self.on(Method::POST, ep)
    }

    /// The path templates, method names and surface, for the [`routes::RouteTable`]
    /// (which writes a parameter `{id}` where the router takes `:id`).
    fn entries(&self) -> Vec<(String, Vec<String>, routes::Surface)> {
        let methods: Vec<String> = self.methods.iter().map(|(m, _)| m.to_string()).collect();
        let template = self
            .path
            .split('/')
            .map(|s| match s.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => s.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut paths = vec![(template, methods.clone(), self.surface)];
        if self.folder {
            paths.push((format!("{}/*", self.path), methods, self.surface));
        }
        paths
    }
}

/// Every route outside the OpenAPI document.
fn other_routes(state: &AppState, api: &OpenApiService<api::Api, ()>) -> Vec<OtherRoute> {
    let mut routes = vec![
        OtherRoute::at("/.well-known/openid-configuration").get(wellknown::openid_configuration),
        OtherRoute::at("/.well-known/oauth-authorization-server")
            .get(wellknown::authorization_server_metadata),
        OtherRoute::at("/.well-known/jwks.json").get(wellknown::jwks),
        OtherRoute::at("/healthz").get(health::healthz),
        OtherRoute::at("/readyz").get(health::readyz),
        OtherRoute::at("/metrics").get(health::metrics),
        OtherRoute::api("/api/v1/openapi.json").get(api.spec_endpoint()),
        OtherRoute::at("/login")
            .get(pages::login_form)
            .post(pages::login_submit),
        OtherRoute::at("/register")
            .get(pages::register_form)
            .post(pages::register_submit),
        OtherRoute::at("/logout")
            .get(pages::logout_form)
            .post(pages::logout_submit),
        OtherRoute::at("/account").get(pages::account_page),
        OtherRoute::at("/verify-email")
            .get(pages::verify_email)
            .post(pages::verify_email_submit),
        OtherRoute::at("/forgot-password")
            .get(pages::forgot_password_form)
            .post(pages::forgot_password_submit),
        OtherRoute::at("/reset-password")
            .get(pages::reset_password_form)
            .post(pages::reset_password_submit),
        OtherRoute::at("/account/profile").post(pages::account_profile),
        OtherRoute::at("/account/password").post(pages::account_password),
        OtherRoute::at("/account/sessions/end").post(pages::account_end_session),
        OtherRoute::at("/account/mfa/totp").post(pages::account_totp_start),
        OtherRoute::at("/account/mfa/totp/confirm").post(pages::account_totp_confirm),
        OtherRoute::at("/account/mfa/totp/remove").post(pages::account_totp_remove),
        OtherRoute::at("/account/mfa/recovery-codes").post(pages::account_recovery_codes),
        OtherRoute::at("/account/passkeys").post(pages::account_passkey_start),
        OtherRoute::at("/account/passkeys/finish").post(pages::account_passkey_finish),
        OtherRoute::at("/account/passkeys/remove").post(pages::account_passkey_remove),
        OtherRoute::at("/login/passkey").post(pages::passkey_sign_in_start),
        OtherRoute::at("/login/passkey/finish").post(pages::passkey_sign_in_finish),
        OtherRoute::at("/login/passkey/step").post(pages::passkey_step_start),
        OtherRoute::at("/login/passkey/step/finish").post(pages::passkey_step_finish),
        OtherRoute::at("/account/sessions/end-others").post(pages::account_end_others),
        OtherRoute::at("/oauth2/authorize")
            .get(oauth::authorization_endpoint)
            .post(oauth::authorization_endpoint),
        OtherRoute::at("/oauth2/logout")
            .get(oauth::end_session_endpoint)
            .post(oauth::end_session_endpoint),
        OtherRoute::at("/admin").get(admin::admin_dashboard),
        OtherRoute::at("/admin/users").get(admin::admin_people),
        OtherRoute::at("/admin/users/:id")
            .get(admin::admin_person)
            .post(admin::admin_person_action),
        OtherRoute::at("/admin/clients")
            .get(admin::admin_clients)
            .post(admin::admin_client_create),
        OtherRoute::at("/admin/clients/:id/delete").post(admin::admin_client_delete),
        OtherRoute::at("/admin/keys").get(admin::admin_keys),
        OtherRoute::at("/admin/keys/rotate").post(admin::admin_key_rotate),
        OtherRoute::at("/admin/keys/:kid/revoke").post(admin::admin_key_revoke),
        OtherRoute::at("/admin/audit").get(admin::admin_audit),
        OtherRoute::at("/static/gatehouse.css").get(pages::stylesheet),
        OtherRoute::at("/static/passkeys.js").get(pages::passkeys_script),
    ];
    if state.config.http.swagger_ui {
        routes.push(OtherRoute::folder("/docs").get(api.swagger_ui()));
    }
    routes
}

/// Every route with its methods and surface: the documented operations, the hidden ones
/// (both with the surface [`routes::OPERATIONS`] gives them), and `other`.
fn route_table(other: &[OtherRoute]) -> routes::RouteTable {
    use poem_openapi::OpenApi;
    let surface = |path: &str| {
        routes::OPERATIONS
            .iter()
            .find(|(p, _, _)| *p == path)
            .map_or(routes::Surface::API, |(_, surface, _)| *surface)
    };
    let documented = <api::Api as OpenApi>::meta()
        .into_iter()
        .flat_map(|api| api.paths)
        .map(|path| {
            let methods = path.operations.iter().map(|op| op.method.to_string());
            let surface = surface(&path.path);
            (path.path, methods.collect::<Vec<_>>(), surface)
        });
    let hidden = routes::OPERATIONS
        .iter()
        .filter_map(|(path, surface, hidden)| {
            hidden.map(|methods| {
                let methods = methods.iter().map(|m| m.to_string()).collect();
                (path.to_string(), methods, *surface)
            })
        });
    let other = other.iter().flat_map(OtherRoute::entries);
    routes::RouteTable::new(documented.chain(hidden).chain(other))
}

/// The complete HTTP application.
pub fn routes(state: AppState) -> impl Endpoint {
    let api = api::service(&state);
    let other = other_routes(&state, &api);
    let table = route_table(&other);
    let mut route = Route::new();
    for entry in other {
        let methods = entry
            .methods
            .into_iter()
            .fold(RouteMethod::new(), |methods, (method, ep)| {
                methods.method(method, ep)
            });
        route = if entry.folder {
            route.nest(entry.path, methods)
        } else {
            route.at(entry.path, methods)
        };
    }
    let route = route.nest("/", api);

    let cors = cors::AllowedOrigins::new(&state.config.oauth.cors_origins);
    let pipeline = pipeline::Pipeline::new(&state.config, table);
    route
        .with_if(!state.config.oauth.cors_origins.is_empty(), cors)
        .data(state)
        .with(pipeline)
}
