// A browser single-page app signing in with Gatehouse: the authorization code flow with
// PKCE (RFC 7636), as RFC 9700 and "OAuth 2.0 for Browser-Based Applications" describe it
// for a public client. Plain ES module, no dependencies, no build step.
//
// - No client secret: anything shipped to a browser is public. PKCE (S256) binds the code
//   to this tab instead, so a stolen code is useless without the verifier.
// - `state` and `nonce` are random per sign-in, kept in sessionStorage (this tab only) for
//   the round trip to Gatehouse, and deleted as soon as the callback reads them, so a
//   callback is accepted once at most.
// - Tokens live in this module's variables only, never in localStorage or sessionStorage,
//   and are gone when the tab closes or reloads (the next sign-in is one redirect, since
//   Gatehouse remembers the person and their consent).

import { config } from "./config.js";

const issuer = config.issuer.replace(/\/$/, "");
const PENDING_SIGN_IN = "gatehouse-spa.sign-in";
const PENDING_SIGN_OUT = "gatehouse-spa.sign-out";
const CLOCK_SKEW_SECONDS = 60;

/** Gatehouse's endpoints, from its discovery document. */
let metadata = null;
/** `{accessToken, refreshToken, idToken, claims, expiresAt}` of the signed-in person, or null. */
let tokens = null;
/** What /oauth2/userinfo said about them. */
let user = null;
let refreshes = 0;

class SignInError extends Error {}

// ---- encoding and randomness ----

function base64url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlDecode(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** `bytes` random bytes, base64url: 32 give 43 characters, 256 bits. */
function randomToken(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function sha256(text) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

// ---- talking to Gatehouse ----

async function discover() {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`discovery answered ${response.status}`);
  const document = await response.json();
  // The document must describe the issuer we trust, or every endpoint in it is suspect.
  if (document.issuer !== issuer) throw new Error(`discovery names issuer ${document.issuer}`);
  if (!document.code_challenge_methods_supported?.includes("S256")) {
    throw new Error("the server does not support PKCE with S256");
  }
  return document;
}

/** POSTs a form (a CORS "simple" request: no preflight) and returns the JSON answer. */
async function postForm(url, fields) {
  const response = await fetch(url, {
    method: "POST",
    body: new URLSearchParams(fields),
    headers: { accept: "application/json" },
    // The token endpoint needs no cookies; none should travel.
    credentials: "omit",
  });
  const body = await response.json().catch(() => ({}));
  return { response, body };
}

async function tokenRequest(fields) {
  const { response, body } = await postForm(metadata.token_endpoint, {
    ...fields,
    client_id: config.clientId,
  });
  if (!response.ok) {
    const error = new Error(`${body.error ?? response.status}: ${body.error_description ?? "token request refused"}`);
    error.code = body.error;
    throw error;
  }
  if (body.token_type?.toLowerCase() !== "bearer" || !body.access_token) {
    throw new Error("the token endpoint's answer has no bearer token");
  }
  return body;
}

async function loadUser() {
  const response = await fetch(metadata.userinfo_endpoint, {
    headers: { authorization: `Bearer ${tokens.accessToken}` },
    credentials: "omit",
  });
  if (!response.ok) throw new Error(`userinfo answered ${response.status}`);
  const info = await response.json();
  // OIDC Core §5.3.2: the UserInfo subject must be the ID token's.
  if (tokens.claims && info.sub !== tokens.claims.sub) throw new Error("userinfo is about someone else");
  user = info;
}

// ---- ID token ----

/**
 * Checks the ID token as OIDC Core §3.1.3.7 asks: signature against Gatehouse's JWKS (with
 * WebCrypto), `iss`, `aud`, `exp`, the `nonce` this tab sent, and `at_hash`. The token came
 * straight from the token endpoint, so the signature check is defence in depth here; an app
 * that passes ID tokens on to anyone else must never skip it.
 */
async function verifyIdToken(idToken, nonce, accessToken) {
  const [headerPart, payloadPart, signaturePart] = idToken.split(".");
  if (!signaturePart) throw new SignInError("the ID token is not a signed JWT");
  const header = JSON.parse(new TextDecoder().decode(base64urlDecode(headerPart)));
  const claims = JSON.parse(new TextDecoder().decode(base64urlDecode(payloadPart)));

  const algorithms = {
    RS256: { import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, verify: { name: "RSASSA-PKCS1-v1_5" } },
    ES256: { import: { name: "ECDSA", namedCurve: "P-256" }, verify: { name: "ECDSA", hash: "SHA-256" } },
  };
  // The algorithm must be one the server announced, never just what the token says.
  const allowed = metadata.id_token_signing_alg_values_supported ?? ["RS256"];
  const algorithm = allowed.includes(header.alg) ? algorithms[header.alg] : undefined;
  if (!algorithm) throw new SignInError(`ID token algorithm ${header.alg} is not accepted`);
  const jwks = await (await fetch(metadata.jwks_uri, { credentials: "omit" })).json();
  const jwk = jwks.keys?.find((k) => k.kid === header.kid);
  if (!jwk) throw new SignInError("the ID token's key is not in the JWKS");
  const { kid, use, key_ops, x5c, x5t, ...material } = jwk;
  const key = await crypto.subtle.importKey("jwk", material, algorithm.import, false, ["verify"]);
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  if (!(await crypto.subtle.verify(algorithm.verify, key, base64urlDecode(signaturePart), signed))) {
    throw new SignInError("the ID token's signature is wrong");
  }

  const now = Date.now() / 1000;
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== metadata.issuer) throw new SignInError("the ID token is from another issuer");
  if (!audiences.includes(config.clientId)) throw new SignInError("the ID token is for another client");
  if (audiences.length > 1 && claims.azp !== config.clientId) throw new SignInError("the ID token's azp is wrong");
  if (!(claims.exp > now - CLOCK_SKEW_SECONDS)) throw new SignInError("the ID token has expired");
  // The nonce ties this token to the sign-in this tab started (replay of an old ID token).
  if (claims.nonce !== nonce) throw new SignInError("the ID token's nonce does not match this sign-in");
  if (claims.at_hash !== undefined) {
    const digest = await sha256(accessToken);
    if (claims.at_hash !== base64url(digest.slice(0, digest.length / 2))) {
      throw new SignInError("the ID token's at_hash does not match the access token");
    }
  }
  return claims;
}

// ---- the flow ----

async function signIn() {
  const pending = { state: randomToken(), nonce: randomToken(), codeVerifier: randomToken(32) };
  sessionStorage.setItem(PENDING_SIGN_IN, JSON.stringify(pending));
  const url = new URL(metadata.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: base64url(await sha256(pending.codeVerifier)),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

/** The browser came back from /oauth2/authorize with `params` (a code or an error). */
async function completeSignIn(params) {
  // Read and forget at once: whatever happens next, this sign-in cannot be completed twice.
  const stored = sessionStorage.getItem(PENDING_SIGN_IN);
  sessionStorage.removeItem(PENDING_SIGN_IN);
  const pending = stored ? JSON.parse(stored) : null;
  if (!pending) {
    throw new SignInError("refused a sign-in response: no sign-in was in progress in this tab (replayed or forged)");
  }
  if (params.get("state") !== pending.state) {
    throw new SignInError("refused a sign-in response: its state does not match the sign-in this tab started");
  }
  // RFC 9207: the response names the server that sent it (mix-up attacks).
  if (metadata.authorization_response_iss_parameter_supported && params.get("iss") !== metadata.issuer) {
    throw new SignInError("refused a sign-in response from another issuer");
  }
  if (params.has("error")) {
    throw new SignInError(`sign-in failed: ${params.get("error")} ${params.get("error_description") ?? ""}`.trim());
  }
  const code = params.get("code");
  if (!code) throw new SignInError("the sign-in response has no code");

  const body = await tokenRequest({
    grant_type: "authorization_code",
    code,
    redirect_uri: config.redirectUri,
    code_verifier: pending.codeVerifier,
  });
  if (config.scope.split(" ").includes("openid") && !body.id_token) {
    throw new SignInError("no ID token came back for the openid scope");
  }
  const claims = body.id_token ? await verifyIdToken(body.id_token, pending.nonce, body.access_token) : null;
  keepTokens(body, claims);
  await loadUser();
}

function keepTokens(body, claims) {
  tokens = {
    accessToken: body.access_token,
    // Each refresh rotates it: only the newest works.
    refreshToken: body.refresh_token ?? tokens?.refreshToken ?? null,
    idToken: body.id_token ?? tokens?.idToken ?? null,
    claims: claims ?? tokens?.claims ?? null,
    expiresAt: Date.now() + (body.expires_in ?? 0) * 1000,
  };
}

async function refresh() {
  try {
    const body = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refreshToken });
    // A refresh answer may carry a new ID token; this app keeps the one it verified at sign-in.
    keepTokens({ ...body, id_token: undefined }, null);
    refreshes += 1;
    await loadUser();
    notice(`Tokens refreshed at ${new Date().toLocaleTimeString()}.`);
  } catch (error) {
    if (error.code === "invalid_grant") {
      // The session ended at Gatehouse (signed out elsewhere, revoked, expired).
      forget();
      notice("Your session has ended; sign in again.");
    } else {
      throw error;
    }
  }
}

async function signOut() {
  const { refreshToken, accessToken, idToken } = tokens;
  forget();
  // RFC 7009: revoking the refresh token ends the session at Gatehouse, and with it the
  // access token. Without a refresh token, revoke the access token itself.
  await postForm(metadata.revocation_endpoint, {
    token: refreshToken ?? accessToken,
    token_type_hint: refreshToken ? "refresh_token" : "access_token",
    client_id: config.clientId,
  });
  if (metadata.end_session_endpoint && idToken) {
    // RP-initiated logout also ends the person's sign-in at Gatehouse itself, then
    // Gatehouse sends the browser back here with our state.
    const state = randomToken();
    sessionStorage.setItem(PENDING_SIGN_OUT, state);
    const url = new URL(metadata.end_session_endpoint);
    url.search = new URLSearchParams({
      id_token_hint: idToken,
      client_id: config.clientId,
      post_logout_redirect_uri: config.postLogoutRedirectUri,
      state,
    }).toString();
    location.assign(url.href);
    return;
  }
  notice("You are signed out.");
}

/** The browser came back from the logout endpoint. */
function completeSignOut(params) {
  const expected = sessionStorage.getItem(PENDING_SIGN_OUT);
  sessionStorage.removeItem(PENDING_SIGN_OUT);
  if (expected && params.get("state") === expected) notice("You are signed out.");
}

function forget() {
  tokens = null;
  user = null;
  refreshes = 0;
}

// ---- the page ----

const $ = (id) => document.getElementById(id);

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function showError(error) {
  console.error(error);
  $("error").textContent = error.message ?? String(error);
  $("error").hidden = false;
}

// Everything from the server goes in with textContent, never as HTML.
function render() {
  const signedIn = tokens !== null && user !== null;
  $("status").dataset.state = signedIn ? "signed-in" : "signed-out";
  $("status").textContent = signedIn ? `Signed in as ${user.email ?? user.sub}` : "Signed out";
  $("user").hidden = !signedIn;
  $("sign-in").hidden = signedIn;
  $("sign-in").disabled = metadata === null;
  $("refresh").hidden = !signedIn || !tokens.refreshToken;
  $("sign-out").hidden = !signedIn;
  if (signedIn) {
    $("email").textContent = user.email ?? "";
    $("name").textContent = user.name ?? "";
    $("sub").textContent = user.sub;
    $("sid").textContent = tokens.claims?.sid ?? "";
    $("expires").textContent = new Date(tokens.expiresAt).toLocaleTimeString();
    $("refreshes").textContent = String(refreshes);
  }
}

function action(button, run) {
  $(button).addEventListener("click", async () => {
    $(button).disabled = true;
    $("error").hidden = true;
    notice("");
    try {
      await run();
    } catch (error) {
      showError(error);
    } finally {
      $(button).disabled = false;
      render();
    }
  });
}

async function main() {
  action("sign-in", signIn);
  action("refresh", refresh);
  action("sign-out", signOut);

  const params = new URLSearchParams(location.search);
  // Take the code and state out of the address bar (and history) before anything else.
  if (location.search) history.replaceState(null, "", config.redirectUri);
  try {
    metadata = await discover();
    if (params.has("code") || params.has("error")) {
      await completeSignIn(params);
    } else if (params.has("state")) {
      completeSignOut(params);
    }
  } catch (error) {
    forget();
    showError(error);
  }
  render();
}

main();
