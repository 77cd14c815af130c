//! OAuth clients. For now the registry holds the built-in first-party client.

use std::collections::HashMap;
use std::sync::Arc;

use super::Scopes;

/// The client a request belongs to when it names none (DESIGN: first-party apps).
pub const BUILT_IN_CLIENT_ID: &str = "gatehouse";

/// Scopes every client may ask for.
pub const STANDARD_SCOPES: [&str; 3] = ["openid", "profile", "email"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Password,
}

impl GrantType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            "password" => Some(Self::Password),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
        }
    }
}

/// A registered client.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    /// Public clients (apps on people's devices) hold no secret.
    pub public: bool,
    pub grants: Vec<GrantType>,
    /// Scopes this client may ask for, the standard ones included.
    pub scopes: Scopes,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }

    fn built_in() -> Self {
        Self {
            id: BUILT_IN_CLIENT_ID.into(),
            public: true,
            grants: vec![GrantType::Password, GrantType::RefreshToken],
            scopes: Scopes::from_names(STANDARD_SCOPES),
        }
    }
}

/// Looks clients up by id.
#[derive(Clone, Debug)]
pub struct ClientRegistry {
    clients: Arc<HashMap<String, Client>>,
}

impl Default for ClientRegistry {
    fn default() -> Self {
        let built_in = Client::built_in();
        Self {
            clients: Arc::new(HashMap::from([(built_in.id.clone(), built_in)])),
        }
    }
}

impl ClientRegistry {
    pub fn find(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }
}
