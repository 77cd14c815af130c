//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6) and, when
//! `openid` was granted, an ID token (OIDC Core §3.1.3). oxide-auth orders the exchange
//! (`oauth::oxide`); the steps here redeem the code, check the verifier and issue.

use async_trait::async_trait;
use oxide_auth::primitives::grant::Grant;

use super::{GrantContext, TokenParams, TokenResponse};
use crate::auth::{AuthError, RequestContext};
use crate::domain::Scopes;
use crate::domain::{EndCause, SessionId};
use crate::oauth::authorize::code_hash;
use crate::oauth::client::{Client, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::issuer::SignedInAt;
use crate::oauth::oxide::{self, CodeRequest, CodeSteps};
use crate::oauth::pkce;
use crate::store::{AuthCode, Redemption, StoreError};

pub async fn grant(
    cx: &GrantContext,
    client: &Client,
    params: &TokenParams,
    context: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .code
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri = params
        .redirect_uri
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = params
        .code_verifier
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let mut steps = Steps {
        cx,
        client,
        context,
        redirect_uri,
        redeemed: None,
        response: None,
    };
    let request = CodeRequest {
        code: code.expose(),
        redirect_uri,
        code_verifier: verifier.expose(),
    };
    oxide::exchange_code(client, request, &mut steps).await?;
    steps.response.ok_or_else(OAuthError::server_error)
}

fn invalid(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, why)
}

/// One exchange's state between the flow's steps.
struct Steps<'a> {
    cx: &'a GrantContext,
    client: &'a Client,
    context: &'a RequestContext,
    redirect_uri: &'a str,
    /// The spent code: its hash and what it was bound to.
    redeemed: Option<([u8; 32], AuthCode)>,
    response: Option<TokenResponse>,
}

#[async_trait]
impl CodeSteps for Steps<'_> {
    async fn redeem(&mut self, code: &str) -> Result<(Grant, String), OAuthError> {
        let cx = self.cx;
        let hash = code_hash(code);
        let code = match cx.authorizations.redeem_code(&hash, cx.clock.now()).await? {
            Redemption::Fresh(code) => code,
            Redemption::Reused(session) => {
                // RFC 6749 §4.1.2: a code used twice may be stolen; end what its first use
                // started. If that exchange has not recorded its session yet, it ends it
                // itself when it does (the store marked the code).
                if let Some(session) = session {
                    end_replayed(cx, self.client, &session, self.context).await?;
                }
                return Err(invalid("the code was already used"));
            }
            Redemption::Unknown => return Err(invalid("the code is invalid or expired")),
        };
        if code.client_id != self.client.id {
            return Err(invalid("the code was issued to another client"));
        }
        // Exactly as sent in the authorization request (RFC 9700 §2.1).
        if code.redirect_uri != self.redirect_uri {
            return Err(invalid(
                "redirect_uri differs from the authorization request",
            ));
        }
        let grant = oxide::grant(
            code.user_id.to_string(),
            &code.client_id,
            &code.scope,
            &code.redirect_uri,
        )?;
        let challenge = code.code_challenge.clone();
        self.redeemed = Some((hash, code));
        Ok((grant, challenge))
    }

    fn verifier_matches(&self, verifier: &str, challenge: &str) -> bool {
        pkce::verifier_matches(verifier, challenge)
    }

    async fn issue(&mut self) -> Result<(), OAuthError> {
        let (cx, client, context) = (self.cx, self.client, self.context);
        let (hash, code) = self.redeemed.take().ok_or_else(OAuthError::server_error)?;
        // Until a session exists, an outage gives the code back: the client's retry (it
        // was told 503) must not be taken for a replay.
        let unspend = |e: StoreError| async move {
            let _ = cx.authorizations.unspend_code(&hash).await;
            OAuthError::from(e)
        };
        let user = match cx.accounts.active_user(code.user_id).await {
            Ok(user) => user,
            Err(AuthError::Store(e)) => return Err(unspend(e).await),
            Err(_) => return Err(invalid("the account is disabled")),
        };
        let (session, refresh_token) = match cx
            .sessions
            .start_at(
                user.id,
                &client.id,
                &code.scope,
                context,
                code.auth_time,
                code.amr.clone(),
            )
            .await
        {
            Ok(started) => started,
            Err(e) => return Err(unspend(e).await),
        };
        let replayed = cx.authorizations.attach_session(&hash, &session.id).await?;
        if replayed {
            // The code came again while this exchange was starting its session: the
            // session ends as for a later replay, and no token is signed for it — resource
            // servers that check signatures alone would accept them until they expire.
            end_replayed(cx, client, &session.id, context).await?;
            return Err(invalid("the authorization code was already used"));
        }
        let scope = Scopes::parse(&code.scope).unwrap_or_default();
        let refresh_token = client
            .allows(GrantType::RefreshToken)
            .then_some(refresh_token);
        let access = cx.issuer.for_user(&user, client, &session, &scope)?;
        let id_token = if scope.contains("openid") {
            Some(cx.issuer.id_token(
                &user,
                client,
                &session,
                signed_in_at(&code),
                &scope,
                &access.token,
            )?)
        } else {
            None
        };
        self.response = Some(TokenResponse {
            id_token,
            ..TokenResponse::new(access, scope, refresh_token)
        });
        tracing::info!(user_id = %user.id, client_id = %client.id, session_id = %session.id, "code exchanged");
        Ok(())
    }
}

/// Ends the session a replayed code started, and records why.
async fn end_replayed(
    cx: &GrantContext,
    client: &Client,
    session: &SessionId,
    context: &RequestContext,
) -> Result<(), OAuthError> {
    cx.sessions.end(session, EndCause::Revoked).await?;
    tracing::warn!(session_id = %session, "authorization code reused; its session ended");
    cx.audit
        .record(
            crate::audit::Event::new(crate::audit::EventType::SessionEnded)
                .by(&crate::audit::Actor::System)
                .client(&client.id)
                .session(session)
                .from(context)
                .detail(serde_json::json!({"cause": "authorization_code_reused"})),
        )
        .await;
    Ok(())
}

/// When the person a code stands for signed in, and the nonce they came with.
fn signed_in_at(code: &AuthCode) -> SignedInAt {
    SignedInAt {
        auth_time: code.auth_time,
        nonce: code.nonce.clone(),
    }
}
