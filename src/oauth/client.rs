//! OAuth clients: the built-in first-party client and those registered with
//! `gatehouse client create`, and how they authenticate (RFC 6749 §2.3).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ErrorCode, OAuthError};
use crate::domain::Scopes;
use crate::domain::{Invalid, Secret};
use crate::store::{ClientStore, StoreError, StoredClient};

/// Client credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1).
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret<String>,
}

/// How a request identifies its client: Basic, form fields, or nothing (built-in client).
#[derive(Clone, Debug, Default)]
pub struct ClientAuth {
    pub basic: Option<ClientCredentials>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret<String>>,
}

/// The client a request belongs to when it names none (first-party apps).
pub const BUILT_IN_CLIENT_ID: &str = "gatehouse";

/// Scopes every client may ask for.
pub const STANDARD_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// The shortest client secret accepted when one is given.
pub const MIN_SECRET_CHARS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Password,
    /// RFC 8693, for the old service's tokens: a client that may use the password grant
    /// may use this one too (both sign a person in at the token endpoint).
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::Password,
        Self::TokenExchange,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }
}

/// What a confidential client may do beyond its grants, each granted by name with
/// `gatehouse client create --allow` or `client update --allow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Introspect tokens issued to other clients (RFC 7662 §4: callers SHOULD be
    /// specifically authorized); a client's own tokens need no permission.
    Introspection,
    /// Read the revocation feed (`/api/v1/revocations`), which lists every ended session.
    RevocationFeed,
}

impl Permission {
    pub const ALL: [Permission; 2] = [Self::Introspection, Self::RevocationFeed];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Introspection => "introspection",
            Self::RevocationFeed => "revocation-feed",
        }
    }

    /// Permissions as `client list` and the audit log show them: names joined by commas,
    /// `-` for none.
    pub fn shown(permissions: &[Permission]) -> String {
        if permissions.is_empty() {
            return "-".into();
        }
        let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
        names.join(",")
    }

    /// Parses names as given on the command line; an unknown one is refused by name.
    fn parse_all(names: &[String]) -> Result<Vec<Self>, ClientError> {
        let mut parsed = names
            .iter()
            .map(|name| {
                Self::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
                    ClientError::Invalid(format!(
                        "unknown permission `{name}` (known: {})",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort_by_key(|p| Self::ALL.iter().position(|q| q == p));
        parsed.dedup();
        Ok(parsed)
    }
}

/// A client, ready to authenticate and authorize.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    /// Public clients (apps on people's devices) hold no secret.
    pub public: bool,
    secret_hash: Option<[u8; 32]>,
    pub grants: Vec<GrantType>,
    /// Scopes this client may ask for, the standard ones included.
    pub scopes: Scopes,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub permissions: Vec<Permission>,
    pub first_party: bool,
    pub created_at: Option<DateTime<Utc>>,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
            || (grant == GrantType::TokenExchange && self.grants.contains(&GrantType::Password))
    }

    /// Whether the client was granted `permission` (public clients never are).
    pub fn may(&self, permission: Permission) -> bool {
        !self.public && self.permissions.contains(&permission)
    }

    /// RFC 9700 §4.1.3: exact string match; only loopback IP redirects may use any port
    /// (RFC 8252 §7.3), as native apps bind whatever port is free.
    pub fn accepts_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri || same_but_loopback_port(registered, uri))
    }

    pub fn accepts_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    pub(crate) fn built_in() -> Self {
        Self {
            id: BUILT_IN_CLIENT_ID.into(),
            public: true,
            secret_hash: None,
            grants: vec![GrantType::Password, GrantType::RefreshToken],
            scopes: Scopes::from_names(STANDARD_SCOPES),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            permissions: Vec::new(),
            first_party: true,
            created_at: None,
        }
    }

    fn from_stored(stored: StoredClient) -> Self {
        let mut scopes = Scopes::from_names(STANDARD_SCOPES);
        scopes.extend(stored.scopes.iter().map(String::as_str));
        Self {
            public: stored.secret_hash.is_none(),
            secret_hash: stored.secret_hash,
            grants: stored
                .grants
                .iter()
                .filter_map(|g| GrantType::parse(g))
                .collect(),
            scopes,
            // Names this version does not know grant nothing.
            permissions: stored
                .permissions
                .iter()
                .filter_map(|p| Permission::parse(p))
                .collect(),
            redirect_uris: stored.redirect_uris,
            post_logout_redirect_uris: stored.post_logout_redirect_uris,
            first_party: stored.first_party,
            created_at: Some(stored.created_at),
            id: stored.id,
        }
    }

    /// Constant-time check of a presented secret against the stored hash.
    fn secret_matches(&self, secret: &str) -> bool {
        let Some(stored) = &self.secret_hash else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        presented.ct_eq(stored).into()
    }
}

/// What `client create` asks for.
#[derive(Clone, Debug)]
pub struct NewClient {
    pub id: String,
    pub public: bool,
    /// A secret to use; `None` generates one (confidential clients only).
    pub secret: Option<Secret<String>>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    /// Permission names (`introspection`, `revocation-feed`); confidential clients only.
    pub permissions: Vec<String>,
    pub first_party: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("a client with this id already exists")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a client lookup is remembered. Changes made by this process apply at once;
/// a client deleted elsewhere (the CLI, another instance) stops working within this.
pub const CLIENT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Looks clients up (through a small cache) and authenticates them.
#[derive(Clone)]
pub struct ClientRegistry {
    store: Arc<dyn ClientStore>,
    built_in: Arc<Client>,
    /// Known and unknown ids alike, so a token request costs no database round trip.
    cache: moka::future::Cache<String, Option<Arc<Client>>>,
}

impl ClientRegistry {
    pub fn new(store: Arc<dyn ClientStore>) -> Self {
        Self {
            store,
            built_in: Arc::new(Client::built_in()),
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CLIENT_CACHE_TTL)
                .build(),
        }
    }

    /// The client, shared with the cache (a request reads it, nothing changes it).
    pub async fn find(&self, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        if id == BUILT_IN_CLIENT_ID {
            return Ok(Some(self.built_in.clone()));
        }
        if let Some(cached) = self.cache.get(id).await {
            return Ok(cached);
        }
        let found = self
            .store
            .find_client(id)
            .await?
            .map(|c| Arc::new(Client::from_stored(c)));
        self.cache.insert(id.to_string(), found.clone()).await;
        Ok(found)
    }

    /// RFC 6749 §2.3: exactly one way of authenticating; no client named means the
    /// built-in first-party client.
    pub async fn authenticate_request(&self, auth: ClientAuth) -> Result<Arc<Client>, OAuthError> {
        if auth.basic.is_some() && auth.client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both",
            ));
        }
        let (client_id, secret) = match &auth.basic {
            Some(basic) => {
                if auth
                    .client_id
                    .as_deref()
                    .is_some_and(|id| id != basic.client_id)
                {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the authenticated client",
                    ));
                }
                (basic.client_id.as_str(), Some(&basic.client_secret))
            }
            None => (
                auth.client_id.as_deref().unwrap_or(BUILT_IN_CLIENT_ID),
                auth.client_secret.as_ref(),
            ),
        };
        self.authenticate(client_id, secret).await
    }

    /// RFC 6749 §2.3: a confidential client proves its secret; a public client sends none.
    pub async fn authenticate(
        &self,
        id: &str,
        secret: Option<&Secret<String>>,
    ) -> Result<Arc<Client>, OAuthError> {
        let invalid = || OAuthError::new(ErrorCode::InvalidClient, "client authentication failed");
        let client = self.find(id).await?.ok_or_else(invalid)?;
        let authenticated = match (client.public, secret) {
            (true, None) => true,
            (false, Some(secret)) => client.secret_matches(secret.expose()),
            _ => false,
        };
        if authenticated {
            Ok(client)
        } else {
            Err(invalid())
        }
    }

    /// Registers a client; returns the secret when one was generated (shown once).
    pub async fn create(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> Result<Option<Secret<String>>, ClientError> {
        validate_id(&new.id)?;
        let mut grants = Vec::new();
        for grant in &new.grants {
            let parsed = GrantType::parse(grant)
                .ok_or_else(|| ClientError::Invalid(format!("unknown grant `{grant}`")))?;
            if parsed == GrantType::ClientCredentials && new.public {
                return Err(ClientError::Invalid(
                    "a public client cannot use client_credentials".into(),
                ));
            }
            grants.push(parsed.as_str().to_string());
        }
        if grants.is_empty() {
            grants = vec!["authorization_code".into(), "refresh_token".into()];
        }
        for uri in &new.redirect_uris {
            validate_redirect_uri(uri)
                .map_err(|e| ClientError::Invalid(format!("--redirect-uri {uri}: {e}")))?;
        }
        for uri in &new.post_logout_redirect_uris {
            validate_redirect_uri(uri).map_err(|e| {
                ClientError::Invalid(format!("--post-logout-redirect-uri {uri}: {e}"))
            })?;
        }
        for scope in &new.scopes {
            let parsed = Scopes::parse(scope)
                .map_err(|e| ClientError::Invalid(format!("--scope {scope}: {e}")))?;
            if parsed.iter().count() != 1 {
                return Err(ClientError::Invalid(format!(
                    "--scope {scope}: give one scope per --scope"
                )));
            }
        }
        let permissions = Permission::parse_all(&new.permissions)?;
        if new.public && !permissions.is_empty() {
            return Err(ClientError::Invalid(
                "a public client cannot be given permissions (it has no secret to prove it)".into(),
            ));
        }
        let (secret_hash, generated) = match (new.public, new.secret) {
            (true, Some(_)) => {
                return Err(ClientError::Invalid("a public client has no secret".into()));
            }
            (true, None) => (None, None),
            (false, Some(secret)) => {
                if secret.expose().chars().count() < MIN_SECRET_CHARS {
                    return Err(ClientError::Invalid(format!(
                        "a client secret must be at least {MIN_SECRET_CHARS} characters"
                    )));
                }
                (
                    Some(Sha256::digest(secret.expose().as_bytes()).into()),
                    None,
                )
            }
            (false, None) => {
                let secret = generate_secret();
                (
                    Some(Sha256::digest(secret.expose().as_bytes()).into()),
                    Some(secret),
                )
            }
        };
        let stored = StoredClient {
            id: new.id,
            secret_hash,
            redirect_uris: new.redirect_uris,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            grants,
            scopes: new.scopes,
            permissions: names(&permissions),
            first_party: new.first_party,
            created_at: now,
        };
        self.store
            .create_client(&stored)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ClientError::Exists,
                other => other.into(),
            })?;
        // A lookup of this id made before it existed must not linger.
        self.cache.invalidate(&stored.id).await;
        Ok(generated)
    }

    /// Registered clients (the built-in one first).
    pub async fn list(&self) -> Result<Vec<Client>, StoreError> {
        let mut clients = vec![(*self.built_in).clone()];
        clients.extend(
            self.store
                .list_clients()
                .await?
                .into_iter()
                .map(Client::from_stored),
        );
        Ok(clients)
    }

    /// Grants the permissions in `allow` and withdraws those in `deny`; the client as it
    /// is then, or `None` when there is none. Other instances see the change within
    /// [`CLIENT_CACHE_TTL`].
    pub async fn change_permissions(
        &self,
        id: &str,
        allow: &[String],
        deny: &[String],
    ) -> Result<Option<Client>, ClientError> {
        let (allow, deny) = (Permission::parse_all(allow)?, Permission::parse_all(deny)?);
        if let Some(both) = allow.iter().find(|p| deny.contains(p)) {
            return Err(ClientError::Invalid(format!(
                "`{}` is both allowed and denied",
                both.as_str()
            )));
        }
        if id == BUILT_IN_CLIENT_ID {
            return Err(ClientError::Invalid(
                "the built-in client is public and has no permissions".into(),
            ));
        }
        let Some(stored) = self.store.find_client(id).await? else {
            return Ok(None);
        };
        let mut client = Client::from_stored(stored);
        if client.public && !allow.is_empty() {
            return Err(ClientError::Invalid(
                "a public client cannot be given permissions (it has no secret to prove it)".into(),
            ));
        }
        client.permissions.retain(|p| !deny.contains(p));
        for permission in allow {
            if !client.permissions.contains(&permission) {
                client.permissions.push(permission);
            }
        }
        client
            .permissions
            .sort_by_key(|p| Permission::ALL.iter().position(|q| q == p));
        let changed = self
            .store
            .set_client_permissions(id, &names(&client.permissions))
            .await?;
        self.cache.invalidate(id).await;
        Ok(changed.then_some(client))
    }

    pub async fn delete(&self, id: &str) -> Result<bool, ClientError> {
        if id == BUILT_IN_CLIENT_ID {
            return Err(ClientError::Invalid(
                "the built-in client cannot be deleted".into(),
            ));
        }
        let deleted = self.store.delete_client(id).await?;
        self.cache.invalidate(id).await;
        Ok(deleted)
    }
}

fn names(permissions: &[Permission]) -> Vec<String> {
    permissions.iter().map(|p| p.as_str().to_string()).collect()
}

fn same_but_loopback_port(registered: &str, presented: &str) -> bool {
    let (Ok(mut a), Ok(mut b)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    let loopback = |u: &url::Url| matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"));
    if a.scheme() != "http" || !loopback(&a) || !loopback(&b) {
        return false;
    }
    let _ = a.set_port(None);
    let _ = b.set_port(None);
    a == b
}

/// 256 random bits, base64url.
fn generate_secret() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

fn validate_id(id: &str) -> Result<(), ClientError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok {
        return Err(ClientError::Invalid(
            "a client id is 1 to 64 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    if id == BUILT_IN_CLIENT_ID {
        return Err(ClientError::Exists);
    }
    // A client's id is the `sub` of its client-credentials tokens; it must never be
    // mistaken for a user's.
    if uuid::Uuid::parse_str(id).is_ok() {
        return Err(ClientError::Invalid(
            "a client id must not look like a user id (a UUID)".into(),
        ));
    }
    Ok(())
}

/// RFC 9700 §2.1: absolute, no fragment; plain http only for loopback.
fn validate_redirect_uri(uri: &str) -> Result<(), Invalid> {
    let url = url::Url::parse(uri).map_err(|_| Invalid::new("not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(Invalid::new("must not have a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host_str() {
            Some("127.0.0.1") | Some("[::1]") | Some("localhost") => Ok(()),
            _ => Err(Invalid::new(
                "plain http is allowed only for loopback addresses",
            )),
        },
        // Private-use schemes of native apps (RFC 8252 §7.1) must be reverse domain names.
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(Invalid::new(
            "use https, http on loopback, or a reverse-domain private scheme",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_the_security_bcp() {
        assert!(validate_redirect_uri("https://app.example.com/callback").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:8000/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(validate_redirect_uri("http://app.example.com/cb").is_err());
        assert!(validate_redirect_uri("https://app.example.com/cb#x").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }
}
