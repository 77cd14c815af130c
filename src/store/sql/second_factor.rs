//! Second factors in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Database, execute, on_pool};
use crate::domain::UserId;

use crate::store::{SecondFactorStore, StoreError, StoredTotp};

/// Inserts a set of recovery codes inside the transaction `tx`, after removing the old set.
macro_rules! replace_codes {
    ($tx:expr, $user:expr, $hashes:expr) => {{
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($user.as_uuid())
            .execute(&mut *$tx)
            .await?;
        for hash in $hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind($user.as_uuid())
                .bind(&hash[..])
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

#[async_trait]
impl SecondFactorStore for Database {
    async fn totp(&self, user: UserId) -> Result<Option<StoredTotp>, StoreError> {
        let row: Option<(Vec<u8>, Option<DateTime<Utc>>, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT secret, confirmed_at, last_step FROM totp_factors WHERE user_id = $1",
            )
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await
        })?;
        Ok(
            row.map(|(sealed_secret, confirmed_at, last_step)| StoredTotp {
                sealed_secret,
                confirmed_at,
                last_step,
            }),
        )
    }

    async fn start_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let started = execute!(
            self,
            "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at WHERE totp_factors.confirmed_at IS NULL",
            user.as_uuid(),
            sealed_secret,
            now
        )?;
        Ok(started == 1)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let confirmed = sqlx::query(
                "UPDATE totp_factors SET confirmed_at = $2, last_step = $3 \
                 WHERE user_id = $1 AND confirmed_at IS NULL",
            )
            .bind(user.as_uuid())
            .bind(now)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if confirmed {
                replace_codes!(tx, user, recovery_hashes);
            }
            tx.commit().await?;
            Ok(confirmed)
        })
    }

    async fn accept_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let accepted = execute!(
            self,
            "UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 \
             AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
            user.as_uuid(),
            step
        )?;
        Ok(accepted == 1)
    }

    async fn remove_second_factors(&self, user: UserId) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(removed == 1)
        })
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            replace_codes!(tx, user, hashes);
            tx.commit().await?;
            Ok(())
        })
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let used = execute!(
            self,
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            user.as_uuid(),
            &hash[..],
            now
        )?;
        Ok(used == 1)
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let (left,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user.as_uuid())
            .fetch_one(pool)
            .await
        })?;
        Ok(u32::try_from(left).unwrap_or_default())
    }
}
