// Passkeys on Gatehouse's pages (WebAuthn): sign in with one — from a button, or from the
// address field's autofill where the browser offers it — use one as the second step
// after a password, and add one on the account page. A plain ES module, loaded under the
// pages' Content-Security-Policy (script-src 'self'); every call is a same-origin form
// post carrying the page's CSRF token, answered in JSON. Without it the pages still
// work, with passwords and codes.

const supported = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

/** base64url (no padding) to bytes, and back: how WebAuthn's JSON carries binary. */
function bytes(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function base64url(buffer) {
  let binary = "";
  for (const b of new Uint8Array(buffer)) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The server's options (`{publicKey: …}` as JSON) as the browser's API takes them. */
function creationOptions(options) {
  const publicKey = { ...options.publicKey };
  publicKey.challenge = bytes(publicKey.challenge);
  publicKey.user = { ...publicKey.user, id: bytes(publicKey.user.id) };
  publicKey.excludeCredentials = (publicKey.excludeCredentials || []).map((c) => ({ ...c, id: bytes(c.id) }));
  return publicKey;
}

function requestOptions(options) {
  const publicKey = { ...options.publicKey };
  publicKey.challenge = bytes(publicKey.challenge);
  publicKey.allowCredentials = (publicKey.allowCredentials || []).map((c) => ({ ...c, id: bytes(c.id) }));
  return publicKey;
}

/** The authenticator's answer as the server reads it (WebAuthn's JSON encoding). */
function credentialJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: base64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = base64url(r.attestationObject);
    if (typeof r.getTransports === "function") response.transports = r.getTransports();
  } else {
    response.authenticatorData = base64url(r.authenticatorData);
    response.signature = base64url(r.signature);
    if (r.userHandle) response.userHandle = base64url(r.userHandle);
  }
  return JSON.stringify({
    id: credential.id,
    rawId: base64url(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
  });
}

/** A form post to `path`; its JSON answer, or an Error with the server's words. */
async function post(path, fields) {
  const answer = await fetch(path, {
    method: "POST",
    body: new URLSearchParams(fields),
    credentials: "same-origin",
    headers: { accept: "application/json" },
  });
  let json = {};
  try {
    json = await answer.json();
  } catch {
    // An answer without JSON: its status says enough.
  }
  if (!answer.ok) throw new Error(json.error || `HTTP ${answer.status}`);
  return json;
}

function field(name, scope = document) {
  const input = scope.querySelector(`input[name="${name}"]`);
  return input ? input.value : "";
}

/** Shows what went wrong next to the button; the browser's own errors (a dialog
 * dismissed, no passkey on this device) read as the page's general message. */
function show(error, scope = document) {
  const place = scope.querySelector("[data-passkey-error]");
  if (!place) return;
  const fromServer = !(error instanceof DOMException);
  place.textContent = fromServer ? error.message : place.dataset.failed || error.message;
  place.hidden = false;
}

/** The autofill request, aborted when the button asks instead. */
let autofill = null;

async function signIn(mediation) {
  const csrf = field("csrf");
  const begun = await post("/login/passkey", { csrf, conditional: String(mediation === "conditional") });
  const request = { publicKey: requestOptions(begun.options) };
  if (mediation === "conditional") {
    autofill = new AbortController();
    request.mediation = "conditional";
    request.signal = autofill.signal;
  }
  const credential = await navigator.credentials.get(request);
  const done = await post("/login/passkey/finish", {
    csrf,
    ceremony: begun.ceremony,
    credential: credentialJSON(credential),
    return_to: field("return_to"),
  });
  window.location.assign(done.redirect);
}

async function secondStep() {
  const csrf = field("csrf");
  const begun = await post("/login/passkey/step", { csrf });
  const credential = await navigator.credentials.get({ publicKey: requestOptions(begun.options) });
  const done = await post("/login/passkey/step/finish", {
    csrf,
    credential: credentialJSON(credential),
    return_to: field("return_to"),
  });
  window.location.assign(done.redirect);
}

async function register(form) {
  const csrf = field("csrf", form);
  const begun = await post("/account/passkeys", {
    csrf,
    name: field("name", form),
    password: field("password", form),
  });
  const credential = await navigator.credentials.create({ publicKey: creationOptions(begun.options) });
  const done = await post("/account/passkeys/finish", {
    csrf,
    ceremony: begun.ceremony,
    credential: credentialJSON(credential),
  });
  window.location.assign(done.redirect);
}

if (supported) {
  for (const button of document.querySelectorAll("[data-passkey]")) {
    button.hidden = false;
    button.disabled = false;
    const kind = button.dataset.passkey;
    const scope = button.closest("form, main") || document;
    if (kind === "register") {
      button.form.addEventListener("submit", (event) => {
        event.preventDefault();
        register(button.form).catch((e) => show(e, scope));
      });
    } else {
      button.addEventListener("click", () => {
        if (autofill) autofill.abort();
        (kind === "sign-in" ? signIn("modal") : secondStep()).catch((e) => show(e, scope));
      });
    }
  }
  // Offer passkeys in the address field's autofill where the browser can.
  if (document.querySelector('[data-passkey="sign-in"]') && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
      if (available) {
        signIn("conditional").catch((e) => {
          if (!(e instanceof DOMException && e.name === "AbortError")) show(e);
        });
      }
    });
  }
}
