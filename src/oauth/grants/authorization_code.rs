//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6) and, when
//! `openid` was granted, an ID token (OIDC Core §3.1.3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::super::authorize::code_hash;
use super::super::token_endpoint::{TokenEndpoint, TokenParams, TokenResponse};
use super::super::{Client, ErrorCode, GrantType, OAuthError, Scopes};
use crate::auth::{AuthError, RequestContext};
use crate::domain::{EndCause, SessionId};
use crate::store::Redemption;
use crate::token::{IdClaims, at_hash};

pub async fn grant(
    endpoint: &TokenEndpoint,
    client: &Client,
    params: &TokenParams,
    context: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let invalid = |why: &'static str| OAuthError::new(ErrorCode::InvalidGrant, why);
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
    let hash = code_hash(code.expose());
    let store = |e: crate::store::StoreError| OAuthError::from_store(&e);
    let now = endpoint.clock.now();
    let code = match endpoint
        .authorizations
        .redeem_code(&hash, now)
        .await
        .map_err(store)?
    {
        Redemption::Fresh(code) => code,
        Redemption::Reused(session) => {
            // RFC 6749 §4.1.2: a code used twice may be stolen; end what its first use
            // started. If that exchange has not recorded its session yet, it ends it itself
            // when it does (the store marked the code).
            if let Some(session) = session {
                end_replayed(endpoint, client, &session, context).await?;
            }
            return Err(invalid("the code was already used"));
        }
        Redemption::Unknown => return Err(invalid("the code is invalid or expired")),
    };
    if code.client_id != client.id {
        return Err(invalid("the code was issued to another client"));
    }
    if code.redirect_uri != redirect_uri {
        return Err(invalid(
            "redirect_uri differs from the authorization request",
        ));
    }
    let verifier_ok = (43..=128).contains(&verifier.expose().len())
        && verifier
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()));
    if !verifier_ok || !bool::from(computed.as_bytes().ct_eq(code.code_challenge.as_bytes())) {
        return Err(invalid(
            "the code_verifier does not match the code_challenge",
        ));
    }
    // Until a session exists, an outage gives the code back: the client's retry (it was
    // told 503) must not be taken for a replay.
    let unspend = |e: crate::store::StoreError| async move {
        let _ = endpoint.authorizations.unspend_code(&hash).await;
        store(e)
    };
    let user = match endpoint.accounts.active_user(code.user_id).await {
        Ok(user) => user,
        Err(AuthError::Store(e)) => return Err(unspend(e).await),
        Err(_) => return Err(invalid("the account is disabled")),
    };
    let (session, refresh_token) = match endpoint
        .sessions
        .start_at(user.id, &client.id, &code.scope, context, code.auth_time)
        .await
    {
        Ok(started) => started,
        Err(e) => return Err(unspend(e).await),
    };
    let replayed = endpoint
        .authorizations
        .attach_session(&hash, &session.id)
        .await
        .map_err(store)?;
    if replayed {
        // The code came again while this exchange was starting its session: the session
        // ends as for a later replay, and no token is signed for it — resource servers
        // that check signatures alone would accept them until they expire.
        end_replayed(endpoint, client, &session.id, context).await?;
        return Err(OAuthError::new(
            ErrorCode::InvalidGrant,
            "the authorization code was already used",
        ));
    }
    let scope = Scopes::parse(&code.scope).unwrap_or_default();
    let refresh_token = client
        .allows(GrantType::RefreshToken)
        .then_some(refresh_token);
    let mut response = endpoint.issue(&user, client, &session, scope.clone(), refresh_token)?;
    if scope.contains("openid") {
        let issued = endpoint.clock.now();
        let claims = IdClaims {
            iss: endpoint.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: client.id.clone(),
            exp: issued.timestamp() + endpoint.settings.access_token_ttl.as_secs() as i64,
            iat: issued.timestamp(),
            auth_time: code.auth_time.timestamp(),
            nonce: code.nonce.clone(),
            at_hash: at_hash(&response.access_token),
            sid: session.id.to_string(),
            name: scope.contains("profile").then(|| user.name.clone()),
            email: scope.contains("email").then(|| user.email.to_string()),
            email_verified: scope.contains("email").then_some(user.email_verified),
        };
        response.id_token = Some(
            endpoint
                .signer
                .sign_id_token(&claims, issued)
                .map_err(|e| {
                    tracing::error!(error = %e, "signing an ID token failed");
                    OAuthError::server_error()
                })?,
        );
    }
    tracing::info!(user_id = %user.id, client_id = %client.id, session_id = %session.id, "code exchanged");
    Ok(response)
}

/// Ends the session a replayed code started, and records why.
async fn end_replayed(
    endpoint: &TokenEndpoint,
    client: &Client,
    session: &SessionId,
    context: &RequestContext,
) -> Result<(), OAuthError> {
    endpoint
        .sessions
        .end(session, EndCause::Revoked)
        .await
        .map_err(|e| OAuthError::from_store(&e))?;
    tracing::warn!(session_id = %session, "authorization code reused; its session ended");
    endpoint
        .audit
        .record(
            crate::audit::Event::new(crate::audit::EventType::SessionEnded)
                .actor("system")
                .client(&client.id)
                .session(session)
                .from(context)
                .detail(serde_json::json!({"cause": "authorization_code_reused"})),
        )
        .await;
    Ok(())
}
