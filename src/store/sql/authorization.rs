//! Authorization codes and consent in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Database, execute, on_pool};
use crate::domain::{SessionId, UserId};
use crate::store::{AuthCode, AuthorizationStore, Redemption, StoreError};

#[derive(sqlx::FromRow)]
struct CodeRow {
    client_id: String,
    redirect_uri: String,
    user_id: Uuid,
    scope: String,
    nonce: Option<String>,
    code_challenge: String,
    auth_time: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    amr: String,
}

#[async_trait]
impl AuthorizationStore for Database {
    async fn create_code(&self, hash: &[u8; 32], code: &AuthCode) -> Result<(), StoreError> {
        execute!(
            self,
            "INSERT INTO auth_codes (code_hash, client_id, redirect_uri, user_id, scope, nonce, \
             code_challenge, auth_time, expires_at, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &hash[..],
            &code.client_id,
            &code.redirect_uri,
            code.user_id.as_uuid(),
            &code.scope,
            &code.nonce,
            &code.code_challenge,
            code.auth_time,
            code.expires_at,
            code.amr.join(" ")
        )?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError> {
        // One statement spends the code and returns it: of concurrent redemptions, one
        // wins, and no failure can fall between spending and reading.
        let spent: Option<CodeRow> = on_pool!(self, |pool| {
            let query = sqlx::query_as(
                "UPDATE auth_codes SET redeemed_at = $2 WHERE code_hash = $1 AND redeemed_at IS NULL \
                 RETURNING client_id, redirect_uri, user_id, scope, nonce, code_challenge, auth_time, \
                 expires_at, amr",
            )
            .bind(&hash[..])
            .bind(now);
            super::fetch_written(query, pool).await
        })?;
        if let Some(row) = spent {
            if now >= row.expires_at {
                return Ok(Redemption::Unknown);
            }
            return Ok(Redemption::Fresh(AuthCode {
                client_id: row.client_id,
                redirect_uri: row.redirect_uri,
                user_id: UserId::from_uuid(row.user_id),
                scope: row.scope,
                nonce: row.nonce,
                code_challenge: row.code_challenge,
                auth_time: row.auth_time,
                amr: crate::domain::stored_amr(&row.amr),
                expires_at: row.expires_at,
            }));
        }
        // Not fresh: mark the replay and read the session in one statement. The winner's
        // `attach_session` updates the same row, so the database orders the two: either
        // this sees its session (and the caller ends it), or the winner sees the mark.
        let used: Option<(Option<String>,)> = on_pool!(self, |pool| {
            let query = sqlx::query_as(
                "UPDATE auth_codes SET replayed_at = COALESCE(replayed_at, $2) WHERE code_hash = $1 \
                 RETURNING session_id",
            )
            .bind(&hash[..])
            .bind(now);
            super::fetch_written(query, pool).await
        })?;
        Ok(match used {
            Some((session,)) => {
                Redemption::Reused(session.as_deref().and_then(|s| SessionId::parse(s).ok()))
            }
            None => Redemption::Unknown,
        })
    }

    async fn unspend_code(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        execute!(
            self,
            "UPDATE auth_codes SET redeemed_at = NULL \
             WHERE code_hash = $1 AND session_id IS NULL AND replayed_at IS NULL",
            &hash[..]
        )?;
        Ok(())
    }

    async fn attach_session(
        &self,
        hash: &[u8; 32],
        session: &SessionId,
    ) -> Result<bool, StoreError> {
        let replayed: Option<(Option<DateTime<Utc>>,)> = on_pool!(self, |pool| {
            let query = sqlx::query_as(
                "UPDATE auth_codes SET session_id = $2 WHERE code_hash = $1 RETURNING replayed_at",
            )
            .bind(&hash[..])
            .bind(session.as_str());
            super::fetch_written(query, pool).await
        })?;
        Ok(matches!(replayed, Some((Some(_),))))
    }

    async fn consented_scope(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user.as_uuid())
                .bind(client_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(scope,)| scope))
    }

    async fn save_consent(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        execute!(
            self,
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, \
             granted_at = excluded.granted_at",
            user.as_uuid(),
            client_id,
            scope,
            now
        )?;
        Ok(())
    }

    async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Spent codes are kept until they expire, so a replay can still be recognised.
        self.delete_before("DELETE FROM auth_codes WHERE expires_at < $1", now)
            .await
    }
}
