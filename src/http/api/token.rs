//! The token endpoint over HTTP: form in, RFC 6749 JSON out. Served at `/oauth2/token`
//! and, for existing clients, at `/api/v1/auth/token` — the same operation.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::Request;
use poem::http::header::AUTHORIZATION;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::ApiTags;
use super::security::ClientAuthentication;
use crate::domain::Role;
use crate::domain::Secret;
use crate::http::AppState;
use crate::http::oauth_error::{OAuthErrorBody, OAuthFailure};
use crate::oauth::{
    ClientAuth, ClientCredentials, ErrorCode, Introspection, OAuthError, TokenParams, TokenResponse,
};

#[derive(Default)]
pub struct TokenApi;

/// A token request (`application/x-www-form-urlencoded`, RFC 6749 §3.2). Which fields
/// matter depends on `grant_type`. No field may hold a control character other than tab,
/// line feed and carriage return (400 `invalid_request`); unknown fields are ignored.
#[derive(Object, Deserialize)]
#[oai(rename = "TokenRequest")]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token`, `client_credentials`, `password`,
    /// `urn:gatehouse:params:oauth:grant-type:mfa-otp` (a password grant's second step), or
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (the old service's tokens, when the
    /// server is set up to take them). At
    /// `/api/v1/auth/token` it may be omitted and then means `password`, as for the old
    /// service's clients (FastAPI's `OAuth2PasswordRequestForm`); `/oauth2/token`
    /// requires it (RFC 6749 §4.3.2).
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    grant_type: Option<String>,
    /// The email, for the password grant.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    username: Option<String>,
    /// For the password grant.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    password: Option<String>,
    /// For the refresh_token grant.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    refresh_token: Option<String>,
    /// For the authorization_code grant: the code from the redirect.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    code: Option<String>,
    /// For the authorization_code grant: the redirect URI of the authorization request.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    redirect_uri: Option<String>,
    /// For the authorization_code grant: the PKCE verifier (RFC 7636).
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    code_verifier: Option<String>,
    /// For the `urn:gatehouse:params:oauth:grant-type:mfa-otp` grant: the `mfa_token` of
    /// the password grant's `mfa_required` answer.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    mfa_token: Option<String>,
    /// For the mfa-otp grant: the six digits of the authenticator app.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    otp: Option<String>,
    /// For the mfa-otp grant, in place of `otp`: a recovery code.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    recovery_code: Option<String>,
    /// For token exchange (RFC 8693): the old service's token (its HS256 JWT).
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    subject_token: Option<String>,
    /// For token exchange: `urn:gatehouse:params:oauth:token-type:legacy-jwt`.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    subject_token_type: Option<String>,
    /// For token exchange, optional: `urn:ietf:params:oauth:token-type:access_token`, the
    /// only type issued.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    requested_token_type: Option<String>,
    /// Space-separated scopes; defaults to every scope the client may have.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    scope: Option<String>,
    /// The client; omitted, the built-in first-party client `gatehouse`.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    client_id: Option<String>,
    /// For `client_secret_post` client authentication.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    client_secret: Option<String>,
}

/// A successful token response (RFC 6749 §5.1). Not named `TokenResponse`: generators
/// derive that name from the `token` operation for its union of responses.
#[derive(Object)]
#[oai(rename = "AccessTokenResponse")]
pub struct TokenSuccess {
    /// An RS256-signed JWT (RFC 9068).
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Opaque; rotated on every use. Keep only the newest.
    #[oai(skip_serializing_if_is_none)]
    refresh_token: Option<String>,
    /// An OpenID Connect ID token, when `openid` was granted in the code flow or a token
    /// exchange.
    #[oai(skip_serializing_if_is_none)]
    id_token: Option<String>,
    /// The scopes granted, space-separated.
    scope: String,
    /// Token exchange only (RFC 8693 §2.2.1): `urn:ietf:params:oauth:token-type:access_token`.
    #[oai(skip_serializing_if_is_none)]
    issued_token_type: Option<String>,
}

#[derive(ApiResponse)]
pub enum TokenResult {
    /// Tokens issued.
    #[oai(status = 200)]
    Issued(Json<TokenSuccess>),
    /// The request, grant or scope is not acceptable.
    #[oai(status = 400)]
    BadRequest(Json<OAuthErrorBody>),
    /// Client authentication failed.
    #[oai(status = 401)]
    InvalidClient(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
    ),
    /// `mfa_required`: the password was right and the account has a second factor. No
    /// tokens yet: send the code with the mfa-otp grant and the `mfa_token` given here.
    /// `mfa_enrollment_required` (no `mfa_token`): the person's role requires a second
    /// factor and they have none; they set it up by signing in once on `/login`.
    #[oai(status = 403)]
    MfaRequired(Json<OAuthErrorBody>),
    /// The body is larger than `GATEHOUSE_MAX_BODY` (answered before the handler runs).
    #[oai(status = 413)]
    PayloadTooLarge(Json<OAuthErrorBody>),
    /// Too many attempts; retry after the given seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<OAuthErrorBody>, #[oai(header = "Retry-After")] u64),
    /// An unexpected failure; the body says nothing about its cause.
    #[oai(status = 500)]
    ServerError(Json<OAuthErrorBody>),
    /// A dependency is down. Keep your refresh token and retry.
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>, #[oai(header = "Retry-After")] u64),
}

impl From<OAuthFailure> for TokenResult {
    fn from(failure: OAuthFailure) -> Self {
        match failure {
            OAuthFailure::BadRequest(body) => Self::BadRequest(body),
            OAuthFailure::InvalidClient(body, challenge) => Self::InvalidClient(body, challenge),
            OAuthFailure::Forbidden(body) => Self::MfaRequired(body),
            OAuthFailure::TooManyRequests(body, after) => Self::TooManyRequests(body, after),
            OAuthFailure::ServerError(body) => Self::ServerError(body),
            OAuthFailure::Unavailable(body, after) => Self::Unavailable(body, after),
        }
    }
}

impl TokenResult {
    fn from_error(error: OAuthError, basic_attempted: bool) -> Self {
        OAuthFailure::new(error, basic_attempted).into()
    }
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl TokenApi {
    /// Obtain tokens.
    ///
    /// With `grant_type=password`, `username` (the email) and `password` sign a person in;
    /// at this path a form without `grant_type` is a password grant too. With
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token` (a token
    /// of the old service) and `subject_token_type`
    /// (`urn:gatehouse:params:oauth:token-type:legacy-jwt`) sign its person in once, when
    /// the server is set up for it.
    /// The client authenticates with HTTP Basic or `client_id`/`client_secret` in the form;
    /// a request naming no client belongs to the first-party client `gatehouse`.
    #[oai(path = "/api/v1/auth/token", method = "post", operation_id = "token")]
    async fn token(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
        form: Form<TokenForm>,
    ) -> TokenResult {
        let mut form = form.0;
        form.grant_type.get_or_insert_with(|| "password".into());
        exchange(&state, req, form).await
    }

    /// Revoke a token (RFC 7009).
    ///
    /// A refresh token ends its whole session; an access token is refused by
    /// introspection and Gatehouse's own API until it expires. Unknown tokens, and tokens
    /// of other clients, get the same 200. A confidential client authenticates as at the
    /// token endpoint (HTTP Basic, or `client_id`/`client_secret` in the form).
    #[oai(path = "/oauth2/revoke", method = "post", operation_id = "revokeToken")]
    async fn revoke(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
        form: Form<TokenLookupForm>,
    ) -> Result<RevokeResult, LookupError> {
        if let Some(e) = refused_controls(&*form) {
            return Err(lookup_error(e, false));
        }
        let (client, attempted) = authenticate(&state, req, &form).await?;
        match state
            .oauth
            .revocation
            .revoke(&client, &form.token, form.token_type_hint.as_deref())
            .await
        {
            Ok(()) => Ok(RevokeResult::Revoked),
            Err(e) => Err(lookup_error(e, attempted)),
        }
    }

    /// Introspect a token (RFC 7662); confidential clients only.
    #[oai(
        path = "/oauth2/introspect",
        method = "post",
        operation_id = "introspectToken"
    )]
    async fn introspect(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
        _client: ClientAuthentication,
        form: Form<TokenLookupForm>,
    ) -> Result<IntrospectResult, LookupError> {
        if let Some(e) = refused_controls(&*form) {
            return Err(lookup_error(e, false));
        }
        let (client, attempted) = authenticate(&state, req, &form).await?;
        match state
            .oauth
            .introspection
            .introspect(&client, &form.token, form.token_type_hint.as_deref())
            .await
        {
            Ok(found) => Ok(IntrospectResult::Introspected(Json(Box::new(
                introspection_body(found),
            )))),
            Err(e) => Err(lookup_error(e, attempted)),
        }
    }

    /// The same endpoint at its OAuth path, announced by the discovery document.
    #[oai(path = "/oauth2/token", method = "post", hidden)]
    async fn oauth2_token(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
        form: Form<TokenForm>,
    ) -> TokenResult {
        exchange(&state, req, form.0).await
    }
}

/// A revocation (RFC 7009) or introspection (RFC 7662) request.
#[derive(Object, Deserialize)]
#[oai(rename = "TokenLookupRequest")]
pub struct TokenLookupForm {
    /// An access token or a refresh token.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    token: String,
    /// `access_token` or `refresh_token`: where to look first.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    token_type_hint: Option<String>,
    /// For `client_secret_post`; public clients send only this.
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    client_id: Option<String>,
    #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))]
    client_secret: Option<String>,
}

/// What introspection knows about a token (RFC 7662 §2.2). An inactive token is
/// exactly `{"active": false}`.
#[derive(Object, Default)]
#[oai(rename = "IntrospectionResponse")]
pub struct IntrospectionBody {
    active: bool,
    #[oai(skip_serializing_if_is_none)]
    token_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    scope: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    sub: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    username: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    aud: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    iss: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    iat: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    nbf: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    jti: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    sid: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    roles: Option<Vec<String>>,
    #[oai(skip_serializing_if_is_none)]
    auth_time: Option<i64>,
    /// How the person signed in (RFC 8176): `["pwd"]`, `["pwd", "otp", "mfa"]`.
    #[oai(skip_serializing_if_is_none)]
    amr: Option<Vec<String>>,
    /// How strongly (RFC 9470): `urn:gatehouse:acr:password` or `urn:gatehouse:acr:mfa`.
    #[oai(skip_serializing_if_is_none)]
    acr: Option<String>,
}

#[derive(ApiResponse)]
pub enum IntrospectResult {
    /// The introspection result.
    #[oai(status = 200)]
    Introspected(Json<Box<IntrospectionBody>>),
}

/// The errors of revocation and introspection (RFC 6749 §5.2 bodies). Kept apart from
/// the successes, so that revocation's 200 is not documented as an introspection result.
#[derive(ApiResponse)]
pub enum LookupError {
    /// A malformed request.
    #[oai(status = 400)]
    BadRequest(Json<OAuthErrorBody>),
    /// Client authentication failed.
    #[oai(status = 401)]
    InvalidClient(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
    ),
    /// The body is larger than `GATEHOUSE_MAX_BODY` (answered before the handler runs).
    #[oai(status = 413)]
    PayloadTooLarge(Json<OAuthErrorBody>),
    /// An unexpected failure; the body says nothing about its cause.
    #[oai(status = 500)]
    ServerError(Json<OAuthErrorBody>),
    /// A dependency is down; retry.
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>, #[oai(header = "Retry-After")] u64),
}

#[derive(ApiResponse)]
pub enum RevokeResult {
    /// Revoked, or nothing to revoke: the answer is the same.
    #[oai(status = 200)]
    Revoked,
}

impl From<OAuthFailure> for LookupError {
    fn from(failure: OAuthFailure) -> Self {
        match failure {
            OAuthFailure::InvalidClient(body, challenge) => Self::InvalidClient(body, challenge),
            OAuthFailure::ServerError(body) => Self::ServerError(body),
            OAuthFailure::Unavailable(body, after) => Self::Unavailable(body, after),
            // Nothing here is rate-limited nor signs anyone in; were it, the body would
            // still say what it is.
            OAuthFailure::BadRequest(body)
            | OAuthFailure::TooManyRequests(body, _)
            | OAuthFailure::Forbidden(body) => Self::BadRequest(body),
        }
    }
}

fn lookup_error(error: OAuthError, basic: bool) -> LookupError {
    OAuthFailure::new(error, basic).into()
}

async fn authenticate(
    state: &AppState,
    req: &Request,
    form: &TokenLookupForm,
) -> Result<(Arc<crate::oauth::Client>, bool), LookupError> {
    let basic = basic_credentials(req).map_err(|e| lookup_error(e, true))?;
    let attempted = basic.is_some();
    let client = state
        .oauth
        .clients
        .authenticate_request(ClientAuth {
            basic,
            client_id: form.client_id.clone(),
            client_secret: form.client_secret.clone().map(Secret::new),
        })
        .await
        .map_err(|e| lookup_error(e, attempted))?;
    Ok((client, attempted))
}

/// A form field this endpoint reads that holds a control character (other than tab, line
/// feed and carriage return): bad input, refused before anything is looked up, the same
/// way on every backend. The schema's `pattern` says so; `Form` does not enforce it.
fn refused_controls(form: &impl TextFields) -> Option<OAuthError> {
    let (name, _) = form
        .text_fields()
        .find(|(_, value)| value.chars().any(crate::domain::text::is_forbidden_control))?;
    Some(OAuthError::invalid_request(format!(
        "the parameter {name} must not contain control characters"
    )))
}

/// A form's fields that were sent, by name, in the form's order.
trait TextFields {
    fn text_fields(&self) -> impl Iterator<Item = (&'static str, &str)>;
}

/// Implements [`TextFields`] for a form by naming its fields: destructured without `..`,
/// so a field added to the form and not here does not compile.
macro_rules! text_fields {
    ($form:ident { $($field:ident),* $(,)? }) => {
        impl TextFields for $form {
            fn text_fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
                let $form { $($field),* } = self;
                [$((stringify!($field), FieldText::text($field))),*]
                    .into_iter()
                    .filter_map(|(name, text)| Some((name, text?)))
            }
        }
    };
}

text_fields!(TokenForm {
    grant_type,
    username,
    password,
    refresh_token,
    code,
    redirect_uri,
    code_verifier,
    mfa_token,
    otp,
    recovery_code,
    subject_token,
    subject_token_type,
    requested_token_type,
    scope,
    client_id,
    client_secret,
});
text_fields!(TokenLookupForm {
    token,
    token_type_hint,
    client_id,
    client_secret,
});

/// A form field's text, when it was sent.
trait FieldText {
    fn text(&self) -> Option<&str>;
}

impl FieldText for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl FieldText for Option<String> {
    fn text(&self) -> Option<&str> {
        self.as_deref()
    }
}

async fn exchange(state: &AppState, req: &Request, form: TokenForm) -> TokenResult {
    if let Some(e) = refused_controls(&form) {
        return TokenResult::from_error(e, false);
    }
    let basic = match basic_credentials(req) {
        Ok(basic) => basic,
        Err(e) => return TokenResult::from_error(e, true),
    };
    let basic_attempted = basic.is_some();
    let params = TokenParams {
        grant_type: form.grant_type,
        username: form.username,
        password: form.password.map(Secret::new),
        refresh_token: form.refresh_token.map(Secret::new),
        code: form.code.map(Secret::new),
        redirect_uri: form.redirect_uri,
        code_verifier: form.code_verifier.map(Secret::new),
        mfa_token: form.mfa_token.map(Secret::new),
        otp: form.otp.map(Secret::new),
        recovery_code: form.recovery_code.map(Secret::new),
        subject_token: form.subject_token.map(Secret::new),
        subject_token_type: form.subject_token_type,
        requested_token_type: form.requested_token_type,
        scope: form.scope,
        client_id: form.client_id,
        client_secret: form.client_secret.map(Secret::new),
    };
    let context = crate::http::request_context(req);
    match state.oauth.token.exchange(params, basic, &context).await {
        Ok(response) => TokenResult::Issued(Json(success(response))),
        Err(error) => TokenResult::from_error(error, basic_attempted),
    }
}

fn introspection_body(found: Introspection) -> IntrospectionBody {
    match found {
        Introspection::Inactive => IntrospectionBody::default(),
        Introspection::Access(claims) => IntrospectionBody {
            active: true,
            token_type: Some("Bearer".into()),
            scope: Some(claims.scope),
            client_id: Some(claims.client_id),
            sub: Some(claims.sub),
            aud: Some(match claims.aud {
                crate::token::Audience::One(a) => a,
                crate::token::Audience::Many(all) => all.join(" "),
            }),
            iss: Some(claims.iss),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: Some(claims.nbf),
            jti: Some(claims.jti),
            sid: claims.sid,
            roles: Some(claims.roles),
            auth_time: claims.auth_time,
            amr: (!claims.amr.is_empty()).then_some(claims.amr),
            acr: claims.acr,
            ..Default::default()
        },
        Introspection::Refresh(found) => {
            let (session, user) = *found;
            IntrospectionBody {
                active: true,
                token_type: Some("refresh_token".into()),
                scope: Some(session.scope.to_string()),
                client_id: Some(session.client_id.clone()),
                sub: Some(user.id.to_string()),
                username: Some(user.email.to_string()),
                exp: Some(session.expires_at().timestamp()),
                iat: Some(session.last_used_at.timestamp()),
                sid: Some(session.id.to_string()),
                roles: Some(Role::names(&user.roles)),
                auth_time: Some(session.auth_time.timestamp()),
                acr: Some(crate::domain::Acr::of(&session.amr).as_str().into()),
                amr: Some(session.amr.clone()),
                ..Default::default()
            }
        }
    }
}

fn success(response: TokenResponse) -> TokenSuccess {
    TokenSuccess {
        access_token: response.access_token,
        token_type: "Bearer".into(),
        expires_in: response.expires_in,
        refresh_token: response.refresh_token.map(Secret::into_inner),
        id_token: response.id_token,
        scope: response.scope.to_string(),
        issued_token_type: response.issued_token_type.map(str::to_string),
    }
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(req: &Request) -> Result<Option<ClientCredentials>, OAuthError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || OAuthError::new(ErrorCode::InvalidClient, "malformed client credentials");
    let header = header.to_str().map_err(|_| invalid())?;
    let Some((scheme, encoded)) = header.split_once(' ') else {
        return Err(invalid());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(invalid)
    };
    Ok(Some(ClientCredentials {
        client_id: decode(id)?,
        client_secret: Secret::new(decode(secret)?),
    }))
}
