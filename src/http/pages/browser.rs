//! What the pages need from the browser: the session cookie, the CSRF cookie, the
//! language, and where to go after signing in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::Request;
use poem::http::HeaderValue;
use poem::http::header::{ACCEPT_LANGUAGE, COOKIE};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::text::{self, Text};
use crate::domain::{Session, User};
use crate::http::AppState;
use crate::oauth::BROWSER_CLIENT_ID;
use crate::store::StoreError;
use crate::token::RefreshToken;

const SESSION_COOKIE: &str = "gatehouse_session";
const CSRF_COOKIE: &str = "gatehouse_csrf";
/// A sign-in waiting for its second factor, in this browser only.
const MFA_COOKIE: &str = "gatehouse_mfa";

/// Cookie names get the `__Host-` prefix (bound to this host, Secure, path /) whenever
/// the issuer is https.
fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

pub fn secure(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

fn read_cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path /, Secure on https.
fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        cookie.push_str("; Secure");
    }
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&cookie).expect("cookie values are base64url")
}

pub fn session_cookie(state: &AppState, token: &RefreshToken) -> HeaderValue {
    let secure = secure(state);
    set_cookie(
        &cookie_name(SESSION_COOKIE, secure),
        token.reveal().expose(),
        None,
        secure,
    )
}

/// The cookie that holds a sign-in waiting for its second factor: this browser's only,
/// for as long as the wait lasts.
pub fn mfa_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = secure(state);
    let age = crate::auth::mfa::CHALLENGE_TTL.as_secs() as i64;
    set_cookie(&cookie_name(MFA_COOKIE, secure), token, Some(age), secure)
}

pub fn clear_mfa_cookie(state: &AppState) -> HeaderValue {
    let secure = secure(state);
    set_cookie(&cookie_name(MFA_COOKIE, secure), "", Some(0), secure)
}

/// The token of the sign-in this browser is finishing, if any.
pub fn mfa_token(state: &AppState, req: &Request) -> Option<String> {
    read_cookie(req, &cookie_name(MFA_COOKIE, secure(state)))
}

pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    let secure = secure(state);
    set_cookie(&cookie_name(SESSION_COOKIE, secure), "", Some(0), secure)
}

/// The browser's session and its person, if the cookie names a live one.
pub async fn signed_in(
    state: &AppState,
    req: &Request,
) -> Result<Option<(Session, User)>, StoreError> {
    let Some(token) = read_cookie(req, &cookie_name(SESSION_COOKIE, secure(state)))
        .and_then(|c| RefreshToken::parse(&c))
    else {
        return Ok(None);
    };
    let Some(session) = state.sessions.by_refresh_token(&token).await? else {
        return Ok(None);
    };
    if session.client_id != BROWSER_CLIENT_ID {
        return Ok(None);
    }
    match state.accounts.active_user(session.user_id).await {
        Ok(user) => Ok(Some((session, user))),
        Err(crate::auth::AuthError::Store(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

/// Per request: the language and the CSRF token of this browser (double-submit: the
/// same random value in an HttpOnly cookie and in every form).
#[derive(Clone)]
pub struct PageContext {
    pub text: &'static Text,
    pub csrf: String,
    /// Whether the server offers passkeys (pages then load their script).
    pub passkeys_on: bool,
    new_csrf_cookie: Option<HeaderValue>,
}

impl PageContext {
    pub fn new(state: &AppState, req: &Request, user: Option<&User>) -> Self {
        let secure = secure(state);
        let name = cookie_name(CSRF_COOKIE, secure);
        let existing = read_cookie(req, &name).filter(|v| v.len() == 43);
        let (csrf, new_csrf_cookie) = match existing {
            Some(csrf) => (csrf, None),
            None => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let csrf = URL_SAFE_NO_PAD.encode(bytes);
                let cookie = set_cookie(&name, &csrf, None, secure);
                (csrf, Some(cookie))
            }
        };
        let accept = req
            .headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let preferred = user.and_then(|u| u.profile.preferred_language.as_deref());
        Self {
            text: text::choose(preferred, accept),
            csrf,
            passkeys_on: state.second_factors.passkeys_on(),
            new_csrf_cookie,
        }
    }

    /// Whether a posted form carries this browser's CSRF token.
    pub fn csrf_matches(&self, posted: Option<&str>) -> bool {
        self.new_csrf_cookie.is_none()
            && posted.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes())))
    }

    pub fn csrf_cookie(&self) -> Option<&HeaderValue> {
        self.new_csrf_cookie.as_ref()
    }
}

/// A `return_to` is only ever a path on this server: never another origin.
pub fn safe_return_to(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    // Browsers drop tabs and newlines inside URLs, so `/\t/evil.example` would become
    // `//evil.example`: no control characters at all.
    let ok = value.starts_with('/')
        && !value.starts_with("//")
        && !value.contains('\\')
        && !value.chars().any(char::is_control)
        && value.len() <= 4096;
    ok.then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_server() {
        assert_eq!(safe_return_to(Some("/account")), Some("/account".into()));
        assert_eq!(
            safe_return_to(Some("/oauth2/authorize?client_id=x")),
            Some("/oauth2/authorize?client_id=x".into())
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "javascript:alert(1)",
            "account",
        ] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad}");
        }
    }
}
