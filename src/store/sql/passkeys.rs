//! Passkeys in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Database, execute, on_pool};
use crate::domain::UserId;
use crate::store::{PasskeyStore, StoreError, StoredPasskey};

type Row = (
    Uuid,
    Uuid,
    Vec<u8>,
    String,
    Vec<u8>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn passkey(row: Row) -> StoredPasskey {
    let (id, user_id, credential_id, name, credential, created_at, last_used_at) = row;
    StoredPasskey {
        id,
        user_id: UserId::from_uuid(user_id),
        credential_id,
        name,
        credential,
        created_at,
        last_used_at,
    }
}

#[async_trait]
impl PasskeyStore for Database {
    async fn add_passkey(&self, p: &StoredPasskey) -> Result<(), StoreError> {
        let added = execute!(
            self,
            "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING",
            p.id,
            p.user_id.as_uuid(),
            &p.credential_id,
            &p.name,
            &p.credential,
            p.created_at
        )?;
        if added == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict("this passkey is registered already"))
        }
    }

    async fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>, StoreError> {
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, credential_id, name, credential, created_at, last_used_at \
                 FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
            )
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(passkey).collect())
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<StoredPasskey>, StoreError> {
        let row: Option<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, credential_id, name, credential, created_at, last_used_at \
                 FROM passkeys WHERE credential_id = $1",
            )
            .bind(credential_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(passkey))
    }

    async fn passkey_used(
        &self,
        id: Uuid,
        credential: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = execute!(
            self,
            "UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE id = $1",
            id,
            credential,
            now
        )?;
        Ok(updated == 1)
    }

    async fn remove_passkey(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let removed = execute!(
            self,
            "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
            id,
            user.as_uuid()
        )?;
        Ok(removed == 1)
    }

    async fn remove_passkeys(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(execute!(
            self,
            "DELETE FROM passkeys WHERE user_id = $1",
            user.as_uuid()
        )?)
    }
}
