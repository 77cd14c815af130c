//! How a Rust resource server verifies a Gatehouse access token with the JWKS alone.
//!
//! `cargo run --example verify_token -- http://localhost:8080 "$TOKEN"`
//!
//! A real service fetches the JWKS once, caches it for the `max-age` Gatehouse sends,
//! and fetches again only when a token names a `kid` it has not seen.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{JwsVerifier, RS256};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(issuer), Some(token)) = (args.next(), args.next()) else {
        eprintln!("usage: verify_token ISSUER TOKEN [AUDIENCE]");
        std::process::exit(2);
    };
    let audience = args.next().unwrap_or_else(|| issuer.clone());

    let jwks: Value = reqwest::get(format!("{issuer}/.well-known/jwks.json"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    match verify(&token, &jwks, &issuer, &audience) {
        Ok(claims) => {
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(())
        }
        Err(reason) => {
            eprintln!("rejected: {reason}");
            std::process::exit(1);
        }
    }
}

/// RFC 8725 and RFC 9068: pin the algorithm, check the type, the signature, then the claims.
fn verify(token: &str, jwks: &Value, issuer: &str, audience: &str) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err("not a JWS compact token".into());
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| "bad base64url".to_string())
    };
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err("alg is not RS256".into());
    }
    if header["typ"] != "at+jwt" {
        return Err("typ is not at+jwt".into());
    }
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .ok_or("unknown kid: fetch the JWKS again, once")?;
    let jwk = Jwk::from_bytes(jwk.to_string().as_bytes()).map_err(|e| e.to_string())?;
    let verifier = RS256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?;
    let signing_input = &token[..token.len() - signature.len() - 1];
    verifier
        .verify(signing_input.as_bytes(), &decode(signature)?)
        .map_err(|_| "bad signature".to_string())?;

    let claims: Value = serde_json::from_slice(&decode(payload)?).map_err(|e| e.to_string())?;
    // A resource server is a program of its own: it reads its system clock, not Gatehouse's.
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if now >= exp {
        return Err("expired".into());
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + 30) {
        return Err("not valid yet".into());
    }
    if claims["iss"] != issuer {
        return Err("wrong issuer".into());
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == audience,
        Value::Array(all) => all.iter().any(|a| a == audience),
        _ => false,
    };
    if !aud_ok {
        return Err("wrong audience".into());
    }
    Ok(claims)
}
