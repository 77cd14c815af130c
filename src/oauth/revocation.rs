//! Token revocation (RFC 7009): a client gives up a refresh or access token it holds.

use std::sync::Arc;

use crate::audit::{Audit, Event, EventType};
use crate::auth::Sessions;
use crate::clock::Clock;
use crate::domain::EndCause;
use crate::token::{RefreshToken, TokenVerifier};

use super::client::Client;
use super::error::OAuthError;

/// The revocation endpoint's use case.
#[derive(Clone)]
pub struct RevocationEndpoint {
    sessions: Sessions,
    audit: Audit,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
}

impl RevocationEndpoint {
    pub fn new(
        sessions: Sessions,
        audit: Audit,
        verifier: TokenVerifier,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sessions,
            audit,
            verifier,
            clock,
        }
    }

    /// RFC 7009: a refresh token ends its session; an access token is remembered as
    /// revoked until it expires. Tokens that are unknown, invalid or another client's are
    /// ignored, so the answer is the same.
    pub async fn revoke(
        &self,
        client: &Client,
        token: &str,
        hint: Option<&str>,
    ) -> Result<(), OAuthError> {
        let try_refresh = || async {
            let Some(parsed) = RefreshToken::parse(token) else {
                return Ok::<bool, OAuthError>(false);
            };
            match self.sessions.by_refresh_token(&parsed).await? {
                Some(session) if session.client_id == client.id => {
                    self.sessions.end(&session.id, EndCause::Revoked).await?;
                    self.audit
                        .record(
                            Event::new(EventType::SessionEnded)
                                .by(&crate::audit::Actor::Client(client.id.clone()))
                                .user(session.user_id)
                                .client(&client.id)
                                .session(&session.id)
                                .detail(serde_json::json!({"cause": "refresh_token_revoked"})),
                        )
                        .await;
                    Ok(true)
                }
                _ => Ok(false),
            }
        };
        if hint != Some("access_token") && try_refresh().await? {
            return Ok(());
        }
        match self.verifier.verify(token, self.clock.now()) {
            Ok(claims) if claims.client_id == client.id => {
                let until = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
                self.sessions
                    .revoke_access_token(&claims.jti, until)
                    .await?;
                tracing::info!(client_id = %client.id, "access token revoked");
                return Ok(());
            }
            _ => {}
        }
        if hint == Some("access_token") {
            try_refresh().await?;
        }
        Ok(())
    }
}
