//! The discovery and OpenAPI documents.

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

#[tokio::test]
async fn discovery_describes_what_exists() {
    let app = spawn_app(Backend::Sqlite).await;

    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200);
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["issuer"], app.issuer.as_str());
        assert_eq!(
            metadata["token_endpoint"],
            format!("{}/oauth2/token", app.issuer)
        );
        assert_eq!(
            metadata["jwks_uri"],
            format!("{}/.well-known/jwks.json", app.issuer)
        );
        assert!(
            metadata["grant_types_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == "password")
        );
        assert_eq!(
            metadata["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"])
        );
    }
}

/// A client validating input against the document must not refuse an address the server
/// accepts: the document states the rule instead of an ASCII-only pattern.
#[tokio::test]
async fn the_documented_email_rule_admits_what_the_server_accepts() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let international = "josé.müller@bücher.example";

    let registered = app
        .register(&serde_json::json!({
            "email": international,
            "name": "José",
            "password": "analytical engine",
        }))
        .await;

    assert_eq!(registered.status(), 201);
    for schema in ["RegisterRequest", "LinkRequest"] {
        let email = &doc["components"]["schemas"][schema]["properties"]["email"];
        assert!(email.get("pattern").is_none(), "{schema}: {email}");
        assert!(
            email["description"]
                .as_str()
                .is_some_and(|d| d.contains("RFC 6531")),
            "{schema}: {email}"
        );
        assert!(international.chars().count() as u64 <= email["maxLength"].as_u64().unwrap());
    }
}

#[tokio::test]
async fn the_openapi_document_names_operations_for_sdks() {
    let app = spawn_app(Backend::Sqlite).await;

    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();

    let op = |path: &str, method: &str| doc["paths"][path][method]["operationId"].clone();
    assert_eq!(op("/api/v1/auth/register", "post"), "register");
    assert_eq!(op("/api/v1/auth/me", "get"), "getMe");
    assert_eq!(op("/api/v1/auth/me", "patch"), "updateMe");
    assert_eq!(op("/api/v1/auth/token", "post"), "token");
    let token_body = &doc["paths"]["/api/v1/auth/token"]["post"]["requestBody"]["content"];
    assert!(
        token_body
            .get("application/x-www-form-urlencoded")
            .is_some()
    );
    let responses = &doc["paths"]["/api/v1/auth/token"]["post"]["responses"];
    assert!(responses.get("200").is_some() && responses.get("400").is_some());
    let register_errors =
        &doc["paths"]["/api/v1/auth/register"]["post"]["responses"]["422"]["content"];
    assert!(register_errors.get("application/problem+json").is_some());
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
    assert_eq!(app.get("/docs").await.status(), 200);
}

#[tokio::test]
async fn the_openapi_document_says_what_each_operation_answers() {
    let app = spawn_app(Backend::Sqlite).await;

    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();

    let revoke = &doc["paths"]["/oauth2/revoke"]["post"]["responses"];
    assert!(
        revoke["200"].get("content").is_none(),
        "revocation answers 200 with no body, not an introspection result"
    );
    let token = &doc["paths"]["/api/v1/auth/token"]["post"];
    assert_eq!(
        token["responses"]["200"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
        "#/components/schemas/AccessTokenResponse"
    );
    assert!(
        token.get("security").is_none(),
        "public clients call it bare"
    );
    let introspect = &doc["paths"]["/oauth2/introspect"]["post"];
    assert_eq!(
        introspect["security"],
        serde_json::json!([{"clientBasic": []}, {}])
    );
    for (path, status) in [
        ("/api/v1/auth/register", "415"),
        ("/api/v1/auth/token", "413"),
    ] {
        let method = &doc["paths"][path]["post"];
        assert!(method["responses"].get(status).is_some(), "{path} {status}");
    }
    let profile = &doc["components"]["schemas"]["Profile"]["properties"];
    assert_eq!(profile["country"]["nullable"], true);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(
        !schemas.contains_key("TokenResponse"),
        "generators name the token operation's responses TokenResponse"
    );
    let names: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "auth", "oauth"]);
}
