//! Accounts in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Database, execute, on_pool};
use crate::domain::text::fold;
use crate::domain::{Email, NewUser, Profile, ProfilePatch, Role, Secret, User, UserId, UserName};
use crate::store::{StoreError, UserCredentials, UserStore};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    password_hash: String,
    roles: Json<Vec<String>>,
    disabled: bool,
    email_verified: bool,
    country: Option<String>,
    city: Option<String>,
    business_context: Option<Json<Value>>,
    preferred_language: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    legacy_id: Option<i64>,
}

impl UserRow {
    fn into_credentials(self) -> Result<UserCredentials, StoreError> {
        let email = Email::from_stored(self.email);
        Ok(UserCredentials {
            password_hash: Secret::new(self.password_hash),
            user: User {
                id: UserId::from_uuid(self.id),
                email,
                name: UserName::from_stored(self.name),
                email_verified: self.email_verified,
                roles: self.roles.0.into_iter().map(Role::from_stored).collect(),
                disabled: self.disabled,
                created_at: self.created_at,
                updated_at: self.updated_at,
                legacy_id: self.legacy_id,
                profile: Profile {
                    country: self.country,
                    city: self.city,
                    business_context: self.business_context.map(|j| j.0),
                    preferred_language: self.preferred_language,
                },
            },
        })
    }
}

/// `SELECT` of every user column with the given condition, as one static string.
macro_rules! select_users_where {
    ($condition:literal) => {
        concat!(
            "SELECT id, email, name, password_hash, roles, disabled, email_verified, country, \
             city, business_context, preferred_language, created_at, updated_at, legacy_id \
             FROM users WHERE ",
            $condition
        )
    };
}

#[async_trait]
impl UserStore for Database {
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let roles: Vec<String> = user.roles.iter().map(|r| r.as_str().to_string()).collect();
        let result = execute!(
            self,
            "INSERT INTO users (id, email, name, password_hash, roles, disabled, email_verified, \
             country, city, business_context, preferred_language, created_at, updated_at, \
             email_key, name_key, legacy_id) \
             VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14)",
            user.id.as_uuid(),
            user.email.as_str(),
            user.name.as_str(),
            user.password_hash.expose(),
            Json(&roles),
            user.email_verified,
            &user.profile.country,
            &user.profile.city,
            user.profile.business_context.as_ref().map(Json),
            &user.profile.preferred_language,
            user.created_at,
            user.email.key(),
            fold(user.name.as_str()),
            user.legacy_id
        );
        match result {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict(unique_index(db.message())));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(User {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            email_verified: user.email_verified,
            roles: user.roles.clone(),
            disabled: false,
            // Read back through the same precision the database keeps.
            created_at: user.created_at,
            updated_at: user.created_at,
            profile: user.profile.clone(),
            legacy_id: user.legacy_id,
        })
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = select_users_where!("id = $1");
        let row: Option<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await
        })?;
        row.map(|r| r.into_credentials().map(|c| c.user))
            .transpose()
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError> {
        // A row whose folded address collided with another's when the keys were first
        // filled in has none, and is found by its exact address.
        let sql = select_users_where!("email_key = $1 OR (email_key IS NULL AND email = $2)");
        let row: Option<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(email.key())
                .bind(email.as_str())
                .fetch_optional(pool)
                .await
        })?;
        row.map(UserRow::into_credentials).transpose()
    }

    async fn update_user_profile(
        &self,
        id: UserId,
        name: Option<&UserName>,
        patch: &ProfilePatch,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        // One statement, so two concurrent changes of different fields both survive.
        let updated = execute!(
            self,
            "UPDATE users SET \
             name = CASE WHEN $2 THEN $3 ELSE name END, \
             name_key = CASE WHEN $2 THEN $13 ELSE name_key END, \
             country = CASE WHEN $4 THEN $5 ELSE country END, \
             city = CASE WHEN $6 THEN $7 ELSE city END, \
             business_context = CASE WHEN $8 THEN $9 ELSE business_context END, \
             preferred_language = CASE WHEN $10 THEN $11 ELSE preferred_language END, \
             updated_at = $12 \
             WHERE id = $1",
            id.as_uuid(),
            name.is_some(),
            name.map(UserName::as_str),
            patch.country.is_some(),
            patch.country.clone().flatten(),
            patch.city.is_some(),
            patch.city.clone().flatten(),
            patch.business_context.is_some(),
            patch.business_context.clone().flatten().map(Json),
            patch.preferred_language.is_some(),
            patch.preferred_language.clone().flatten(),
            now,
            name.map(|n| fold(n.as_str()))
        )?;
        self.user_if_updated(id, updated).await
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &Secret<String>,
        new_hash: &Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = execute!(
            self,
            "UPDATE users SET password_hash = $3, updated_at = $4 \
             WHERE id = $1 AND password_hash = $2",
            id.as_uuid(),
            expected.expose(),
            new_hash.expose(),
            now
        )?;
        Ok(updated == 1)
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<Secret<String>>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(hash,)| Secret::new(hash)))
    }

    async fn slowest_bcrypt_cost(&self) -> Result<Option<u32>, StoreError> {
        // The cost is the two digits after `$2b$`; as text they sort like numbers.
        let (cost,): (Option<String>,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT MAX(substr(password_hash, 5, 2)) FROM users \
                 WHERE password_hash LIKE '$2%'",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(cost.and_then(|c| c.parse().ok()))
    }

    async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<UserId>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        // Both sides folded by one rule, so both databases find the same users; LIKE
        // wildcards in the query are matched literally.
        let pattern = query.map(|q| {
            let escaped = fold(q)
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let rows: Vec<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_users_where!(
                "($1 IS NULL OR email_key LIKE $1 ESCAPE '\\' OR name_key LIKE $1 ESCAPE '\\') \
                 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3 OFFSET $4"
            ))
            .bind(pattern.as_deref())
            .bind(after.map(|a| a.as_uuid()))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|r| r.into_credentials().map(|c| c.user))
            .collect()
    }

    async fn users_changed_since(&self, since: DateTime<Utc>) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(uuid::Uuid,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM users WHERE updated_at >= $1")
                .bind(since)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id,)| UserId::from_uuid(id))
            .collect())
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let (count,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let updated = execute!(
            self,
            "UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1",
            id.as_uuid(),
            disabled,
            now
        )?;
        self.user_if_updated(id, updated).await
    }

    async fn set_user_roles(
        &self,
        id: UserId,
        roles: &[Role],
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let roles: Vec<&str> = roles.iter().map(Role::as_str).collect();
        let updated = execute!(
            self,
            "UPDATE users SET roles = $2, updated_at = $3 WHERE id = $1",
            id.as_uuid(),
            Json(roles),
            now
        )?;
        self.user_if_updated(id, updated).await
    }

    async fn find_user_by_legacy_id(&self, legacy_id: i64) -> Result<Option<User>, StoreError> {
        let sql = select_users_where!("legacy_id = $1");
        let row: Option<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(legacy_id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(|r| r.into_credentials().map(|c| c.user))
            .transpose()
    }

    async fn set_legacy_id(&self, id: UserId, legacy_id: i64) -> Result<bool, StoreError> {
        let set = execute!(
            self,
            "UPDATE users SET legacy_id = $2 WHERE id = $1 AND legacy_id IS NULL",
            id.as_uuid(),
            legacy_id
        );
        match set {
            Ok(updated) => Ok(updated == 1),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::Conflict("users_legacy_id"))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The unique index an insert into `users` ran into, as both databases name it in their
/// messages (`users.legacy_id` / `users_legacy_id`): the old id, else the address.
fn unique_index(message: &str) -> &'static str {
    if message.contains("legacy_id") {
        "users_legacy_id"
    } else {
        "users_email_key"
    }
}

impl Database {
    /// The user after an update that changed `updated` rows: `None` when no account has
    /// the id.
    async fn user_if_updated(&self, id: UserId, updated: u64) -> Result<Option<User>, StoreError> {
        if updated == 0 {
            return Ok(None);
        }
        self.find_user(id).await
    }

    /// Fills in the folded address and name of accounts stored before they were kept
    /// (migration `folded_keys`). Two old accounts whose addresses fold alike keep their
    /// exact addresses for signing in, and a warning names them, until one is changed.
    pub(super) async fn fill_folded_keys(&self) -> Result<(), StoreError> {
        let rows: Vec<(Uuid, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, email, name FROM users WHERE email_key IS NULL OR name_key IS NULL",
            )
            .fetch_all(pool)
            .await
        })?;
        for (id, email, name) in rows {
            let email_key = Email::from_stored(email).key();
            let name_key = fold(&name);
            let both = execute!(
                self,
                "UPDATE users SET email_key = $2, name_key = $3 WHERE id = $1",
                id,
                &email_key,
                &name_key
            );
            match both {
                Ok(_) => {}
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    tracing::warn!(
                        user_id = %id,
                        "another account's address folds to the same form as this one's; \
                         it signs in with its exact address until one of them is changed"
                    );
                    execute!(
                        self,
                        "UPDATE users SET name_key = $2 WHERE id = $1",
                        id,
                        &name_key
                    )?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
