//! OAuth clients registered straight through the library, as the CLI would.

use super::TestApp;

impl TestApp {
    /// Registers a public client for the code flow (with refresh tokens), as an app in a
    /// browser or on a device is.
    pub async fn register_public_app(
        &self,
        id: &str,
        redirect_uri: &str,
        post_logout_redirect_uris: &[&str],
        first_party: bool,
    ) {
        self.core()
            .await
            .clients
            .create(
                gatehouse::oauth::NewClient {
                    id: id.into(),
                    public: true,
                    secret: None,
                    redirect_uris: vec![redirect_uri.into()],
                    post_logout_redirect_uris: post_logout_redirect_uris
                        .iter()
                        .map(|u| u.to_string())
                        .collect(),
                    grants: vec!["authorization_code".into(), "refresh_token".into()],
                    scopes: vec![],
                    permissions: vec![],
                    first_party,
                },
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    }
}

/// Registers a confidential client with the permissions `allow` and returns its secret.
pub async fn confidential_client(app: &TestApp, id: &str, allow: &[&str]) -> String {
    let secret = app
        .core()
        .await
        .clients
        .create(
            gatehouse::oauth::NewClient {
                id: id.into(),
                public: false,
                secret: None,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grants: vec!["refresh_token".into(), "password".into()],
                scopes: vec![],
                permissions: allow.iter().map(|p| p.to_string()).collect(),
                first_party: false,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .expect("a generated secret");
    secret.expose().clone()
}
