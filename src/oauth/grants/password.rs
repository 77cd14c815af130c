//! The resource owner password credentials grant (RFC 6749 §4.3), for first-party apps.

use super::{GrantContext, TokenParams, TokenResponse};
use crate::auth::{
    Answer, LoginOutcome, LoginRequest, Method, Refusal, RequestContext, SecondStepRequest,
    SignedIn,
};
use crate::domain::{Scopes, Session, User};
use crate::oauth::client::{Client, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};

pub async fn grant(
    cx: &GrantContext,
    client: &Client,
    params: &TokenParams,
    context: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    if !cx.password_grant {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the password grant is turned off on this server",
        ));
    }
    let username = params
        .username
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("username is required"))?;
    let password = params
        .password
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("password is required"))?;
    let scope = requested_scope(client, params.scope.as_deref())?;

    let outcome = cx
        .login
        .login(LoginRequest {
            email: username,
            password,
            client_id: &client.id,
            scope: &scope.to_string(),
            method: Method::PasswordGrant,
            second_factor_asked: false,
            context,
        })
        .await?;
    tokens(cx, client, outcome, scope)
}

/// The grant type of a password grant's second step.
pub const MFA_OTP: &str = "urn:gatehouse:params:oauth:grant-type:mfa-otp";

/// The second step of a password grant (`mfa-otp`): the `mfa_token` of the `mfa_required`
/// answer and a TOTP code (`otp`) or a recovery code. A wrong code is `invalid_grant` and
/// leaves the token good.
pub async fn second_step(
    cx: &GrantContext,
    client: &Client,
    params: &TokenParams,
    context: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let mfa_token = params
        .mfa_token
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("mfa_token is required"))?;
    let code = match (&params.otp, &params.recovery_code) {
        (Some(code), None) | (None, Some(code)) => code,
        (None, None) => {
            return Err(OAuthError::invalid_request(
                "otp or recovery_code is required",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "send otp or recovery_code, not both",
            ));
        }
    };
    let outcome = cx
        .login
        .second_step(SecondStepRequest {
            mfa_token: mfa_token.expose(),
            answer: Answer::Code(code.expose()),
            client_id: &client.id,
            context,
        })
        .await?;
    let scope = match &outcome {
        LoginOutcome::SignedIn(signed_in) => signed_in.session.scope.clone(),
        _ => Scopes::default(),
    };
    tokens(cx, client, outcome, scope)
}

/// The answer to a sign-in's outcome: tokens, or why not.
pub(super) fn tokens(
    cx: &GrantContext,
    client: &Client,
    outcome: LoginOutcome,
    scope: Scopes,
) -> Result<TokenResponse, OAuthError> {
    let (response, _) = signed_in_tokens(cx, client, outcome, scope)?;
    Ok(response)
}

/// [`tokens`], with whom they were issued to.
pub(super) fn signed_in_tokens(
    cx: &GrantContext,
    client: &Client,
    outcome: LoginOutcome,
    scope: Scopes,
) -> Result<(TokenResponse, (User, Session)), OAuthError> {
    let signed_in = match outcome {
        LoginOutcome::SignedIn(signed_in) => signed_in,
        LoginOutcome::Limited(limited) => return Err(OAuthError::slow_down(limited)),
        LoginOutcome::Refused(refusal) => return Err(refused(refusal)),
        LoginOutcome::WrongCode(_) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                "the code is not right, or has been used already",
            ));
        }
        LoginOutcome::NeedsSecondFactor(step) => {
            return Err(OAuthError::mfa_required(step.mfa_token));
        }
    };
    let SignedIn {
        user,
        session,
        refresh_token,
        ..
    } = *signed_in;
    let refresh_token = client
        .allows(GrantType::RefreshToken)
        .then_some(refresh_token);
    let access = cx.issuer.for_user(&user, client, &session, &scope)?;
    let response = TokenResponse::new(access, scope, refresh_token);
    Ok((response, (user, session)))
}

/// RFC 6749 §5.2 `invalid_grant`, with an unknown address and a wrong password alike;
/// `mfa_enrollment_required` for a person who must set up a second factor first.
fn refused(refusal: Refusal) -> OAuthError {
    let description = match refusal {
        Refusal::SecondFactorNotSetUp => return OAuthError::mfa_enrollment_required(),
        // The password grant takes no passkeys.
        Refusal::PasskeyRefused => "the passkey was refused",
        Refusal::NoCodeFactor => {
            "this account's second factor is a passkey, which needs a browser: sign in \
             through the authorization code flow (the pages), or set up TOTP there"
        }
        Refusal::InvalidCredentials => "invalid username or password",
        Refusal::AccountDisabled => "the account is disabled",
        Refusal::EmailNotVerified => {
            "the email address is not verified: open the link mailed to it, or ask for a \
             new one (POST /api/v1/auth/verify-email or the page /verify-email)"
        }
        Refusal::UnknownMfaToken => {
            "the mfa_token is unknown, expired or used: sign in with the password again"
        }
        Refusal::LegacyTokenRefused => super::token_exchange::REFUSED,
    };
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// The scope asked for, checked against what the client may have; when none is asked
/// for, everything the client may have.
pub(crate) fn requested_scope(client: &Client, scope: Option<&str>) -> Result<Scopes, OAuthError> {
    let Some(text) = scope else {
        return Ok(client.scopes.clone());
    };
    let scopes = Scopes::parse(text).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
    if scopes.is_empty() {
        return Ok(client.scopes.clone());
    }
    if let Some(unknown) = scopes.not_in(&client.scopes).next() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("this client may not ask for the scope `{unknown}`"),
        ));
    }
    Ok(scopes)
}
