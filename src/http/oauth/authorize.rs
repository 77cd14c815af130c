//! `GET|POST /oauth2/authorize`: the authorization code flow in the browser — sign in
//! (on the login page), consent, then back to the client with a code.

use std::collections::HashMap;

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use crate::http::AppState;
use crate::http::pages::browser::{PageContext, signed_in};
use crate::http::pages::login::{REQUIRED, SECOND_FACTOR};
use crate::http::pages::render::{OrUnavailable, PageError, Stop, encode, page, redirect};
use crate::http::pages::text::Text;
use crate::oauth::{AuthorizeError, AuthorizeRequest, Authorized};

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    client_id: &'a str,
    scopes: Vec<&'a str>,
    email: String,
    params: Vec<(String, String)>,
}

/// The request's parameters, to carry through the consent form.
fn authorize_params(fields: &HashMap<String, String>) -> Vec<(String, String)> {
    const NAMES: [&str; 12] = [
        "client_id",
        "redirect_uri",
        "response_type",
        "response_mode",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "prompt",
        "max_age",
        "acr_values",
    ];
    NAMES
        .iter()
        .filter_map(|n| fields.get(*n).map(|v| (n.to_string(), v.clone())))
        .collect()
}

/// Names that occur more than once among the pairs of a query and a form body.
fn repeated_names(pairs: &[(String, String)]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut repeated: Vec<String> = Vec::new();
    for (name, _) in pairs {
        if !seen.insert(name.as_str()) && !repeated.contains(name) {
            repeated.push(name.clone());
        }
    }
    repeated
}

fn authorize_request(fields: &HashMap<String, String>, repeated: Vec<String>) -> AuthorizeRequest {
    let get = |n: &str| fields.get(n).cloned();
    AuthorizeRequest {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        response_mode: get("response_mode"),
        scope: get("scope"),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        nonce: get("nonce"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        acr_values: get("acr_values"),
        request: get("request"),
        request_uri: get("request_uri"),
        repeated,
    }
}

/// Where a person who must sign in goes: the login page — asked for a second factor when
/// the client asked for one — coming back here without `prompt=login` or `max_age`: the
/// fresh sign-in satisfies both (and a second boundary crossed on the way must not loop).
fn sign_in_first(fields: &HashMap<String, String>, second_factor: bool) -> Response {
    let mut back: Vec<(String, String)> = authorize_params(fields);
    back.retain(|(name, _)| name != "max_age");
    for (name, value) in back.iter_mut() {
        if name == "prompt" {
            *value = value
                .split(' ')
                .filter(|p| *p != "login")
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(back)
        .finish();
    let asked = if second_factor {
        format!("&{SECOND_FACTOR}={REQUIRED}")
    } else {
        String::new()
    };
    redirect(&format!(
        "/login?return_to={}{asked}",
        encode(&format!("/oauth2/authorize?{query}"))
    ))
}

/// The page, or the redirect to the client, that stops a request.
fn stopped(ctx: &PageContext, error: AuthorizeError) -> PageError {
    let stop = match error {
        AuthorizeError::Page(why) => Stop::Untrusted(why),
        AuthorizeError::Redirect(to) => Stop::Redirect(to),
        AuthorizeError::Unavailable => Stop::Unavailable,
    };
    PageError::new(ctx, stop)
}

/// `GET|POST /oauth2/authorize`: the authorization code flow, in the browser.
#[handler]
pub async fn authorization_endpoint(
    state: Data<&AppState>,
    req: &Request,
    body: Body,
) -> Result<Response, PageError> {
    let posted = req.method() == poem::http::Method::POST;
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if posted {
        let bytes = body.into_vec().await.unwrap_or_default();
        pairs.extend(url::form_urlencoded::parse(&bytes).into_owned());
    }
    let repeated = repeated_names(&pairs);
    let fields: HashMap<String, String> = pairs.into_iter().collect();
    let browser = signed_in(&state, req)
        .await
        .or_unavailable(&PageContext::new(&state, req, None))?;
    let ctx = PageContext::new(&state, req, browser.as_ref().map(|(_, u)| u));
    let request = authorize_request(&fields, repeated);
    let valid = state
        .oauth
        .authorization
        .validate(&request)
        .await
        .map_err(|e| stopped(&ctx, e))?;
    let issuer = state.config.issuer.as_str();
    // OpenID Connect Core 3.1.2.1: a client may POST the request itself. Only the consent
    // form's answer (the post carrying `decision`) changes anything, so only it needs
    // this browser's CSRF token.
    let decision = fields.get("decision").filter(|_| posted).cloned();
    if decision.is_some() && !ctx.csrf_matches(fields.get("csrf").map(String::as_str)) {
        return Err(PageError::new(&ctx, Stop::BadForm));
    }
    if posted && decision.is_none() && browser.is_none() {
        // A cross-site POST carries no `SameSite=Lax` cookie; the same request by GET
        // (a top-level navigation) does, so a signed-in person is recognised there.
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(authorize_params(&fields))
            .finish();
        return Ok(redirect(&format!("/oauth2/authorize?{query}")));
    }
    let now = state.clock.now();
    let session_user = browser.filter(|(session, _)| !valid.needs_login(Some(session), now));
    let Some((session, user)) = session_user else {
        if valid.prompt.none {
            let error = valid.error(issuer, "login_required", "the person is not signed in");
            return Err(stopped(&ctx, error));
        }
        return Ok(sign_in_first(&fields, valid.asks_second_factor()));
    };
    if decision.as_deref() == Some("deny") {
        let error = valid.error(issuer, "access_denied", "the person refused");
        return Err(stopped(&ctx, error));
    }
    let consent_given = decision.as_deref() == Some("allow");
    let authorized = state
        .oauth
        .authorization
        .authorize(&valid, &user, &session, consent_given)
        .await
        .map_err(|e| stopped(&ctx, e))?;
    match authorized {
        Authorized::Redirect(to) => Ok(redirect(&to)),
        Authorized::NeedsConsent => {
            let scope = valid.scope.to_string();
            let view = ConsentPage {
                t: ctx.text,
                csrf: &ctx.csrf,
                client_id: &valid.client.id,
                scopes: scope
                    .split(' ')
                    .map(|s| ctx.text.describe_scope(s))
                    .collect(),
                email: user.email.to_string(),
                params: authorize_params(&fields),
            };
            Ok(page(&ctx, StatusCode::OK, view.render()))
        }
    }
}
