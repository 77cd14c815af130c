//! OAuth clients in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Database, execute, on_pool};
use crate::store::{ClientStore, StoreError, StoredClient};

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: Json<Vec<String>>,
    post_logout_redirect_uris: Json<Vec<String>>,
    grants: Json<Vec<String>>,
    scopes: Json<Vec<String>>,
    permissions: Json<Vec<String>>,
    first_party: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<ClientRow> for StoredClient {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let secret_hash = row
            .secret_hash
            .map(|h| <[u8; 32]>::try_from(h.as_slice()))
            .transpose()
            .map_err(|_| {
                StoreError::Internal(format!("client {}: bad secret hash", row.id).into())
            })?;
        Ok(Self {
            id: row.id,
            secret_hash,
            redirect_uris: row.redirect_uris.0,
            post_logout_redirect_uris: row.post_logout_redirect_uris.0,
            grants: row.grants.0,
            scopes: row.scopes.0,
            permissions: row.permissions.0,
            first_party: row.first_party,
            created_at: row.created_at,
        })
    }
}

const SELECT: &str = "SELECT id, secret_hash, redirect_uris, post_logout_redirect_uris, grants, scopes, \
     permissions, first_party, created_at FROM clients";

#[async_trait]
impl ClientStore for Database {
    async fn create_client(&self, client: &StoredClient) -> Result<(), StoreError> {
        let result = execute!(
            self,
            "INSERT INTO clients (id, secret_hash, redirect_uris, post_logout_redirect_uris, \
             grants, scopes, permissions, first_party, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &client.id,
            client.secret_hash.as_ref().map(|h| &h[..]),
            Json(&client.redirect_uris),
            Json(&client.post_logout_redirect_uris),
            Json(&client.grants),
            Json(&client.scopes),
            Json(&client.permissions),
            client.first_party,
            client.created_at
        );
        match result {
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::Conflict("clients_pkey"))
            }
            other => {
                other?;
                Ok(())
            }
        }
    }

    async fn find_client(&self, id: &str) -> Result<Option<StoredClient>, StoreError> {
        let row: Option<ClientRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(StoredClient::try_from).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<StoredClient>, StoreError> {
        let rows: Vec<ClientRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY id")))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(StoredClient::try_from).collect()
    }

    async fn set_client_permissions(
        &self,
        id: &str,
        permissions: &[String],
    ) -> Result<bool, StoreError> {
        let updated = execute!(
            self,
            "UPDATE clients SET permissions = $2 WHERE id = $1",
            id,
            Json(permissions)
        )?;
        Ok(updated > 0)
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = execute!(self, "DELETE FROM clients WHERE id = $1", id)?;
        Ok(deleted > 0)
    }
}
