//! The HTTP requests most tests make: registering, signing in, and asking who they are.

use serde_json::{Value, json};

use super::TestApp;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A plain GET of one of the server's paths.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn register(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/register"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers `email` with `password`, asserting success.
    pub async fn register_user(&self, email: &str, password: &str) -> Value {
        let response = self
            .register(&json!({"email": email, "name": "Test Person", "password": password}))
            .await;
        assert_eq!(response.status(), 201, "registration of {email} failed");
        response.json().await.unwrap()
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/oauth2/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A form POST to one of the server's paths, with HTTP Basic client credentials when
    /// `client` is given (RFC 6749 §2.3.1).
    pub async fn post_form<T: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        form: &T,
        client: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).form(form);
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    pub async fn password_grant(&self, email: &str, password: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ])
        .await
    }

    /// Signs in, asserting success, and returns the access token.
    pub async fn access_token(&self, email: &str, password: &str) -> String {
        let response = self.password_grant(email, password).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Revokes a token at `/oauth2/revoke` as the built-in public client (200 expected).
    pub async fn revoke(&self, token: &str) {
        let response = self
            .client
            .post(self.url("/oauth2/revoke"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// The key ids the JWKS publishes, in its order.
    pub async fn published_kids(&self) -> Vec<String> {
        let jwks: Value = self
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with a bearer token, its body read as JSON (whatever the status).
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
