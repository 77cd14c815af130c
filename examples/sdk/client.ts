// A first-party app on the TypeScript client generated from Gatehouse's OpenAPI document
// (@hey-api/openapi-ts with its fetch client). Registers a fresh account, signs in with
// the password grant, refreshes, reads /me, turns on a second factor and signs in with
// both steps (403 mfa_required, then the mfa-otp grant), and checks what comes back.
// run.sh generates
// ./generated/ts first, type-checks this file with tsc and runs it with tsx:
//
//     npx tsx client.ts http://localhost:8080

import { createHmac, randomUUID } from "node:crypto";

import { client } from "./generated/ts/client.gen";
import {
  confirmTotp,
  getMe,
  getMySecondFactors,
  register,
  revokeToken,
  startTotpEnrollment,
  token,
} from "./generated/ts/sdk.gen";
import type { AccessTokenResponse } from "./generated/ts/types.gen";

const MFA_OTP = "urn:gatehouse:params:oauth:grant-type:mfa-otp";

/** RFC 6238, as an authenticator app computes it: HMAC-SHA-1 over the 30-second step. */
function totp(secret: string, atSeconds: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "")) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atSeconds / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 1_000_000).padStart(6, "0");
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`typescript client: ${what}`);
  }
}

async function signIn(body: {
  grant_type: "password" | "refresh_token" | typeof MFA_OTP;
  username?: string;
  password?: string;
  refresh_token?: string;
  mfa_token?: string;
  otp?: string;
}): Promise<AccessTokenResponse> {
  const { data, error, response } = await token({ body });
  check(data !== undefined, `${body.grant_type} grant answered ${response.status}: ${JSON.stringify(error)}`);
  return data;
}

async function main(baseUrl: string): Promise<void> {
  client.setConfig({ baseUrl });
  const email = `sdk-ts-${randomUUID().slice(0, 12)}@example.com`;
  const password = `ts ${randomUUID()}`;

  const created = await register({ body: { email, name: "TypeScript SDK", password } });
  check(created.response.status === 201, `register answered ${created.response.status}`);
  check(created.data?.email === email, "register returned another email");

  const taken = await register({ body: { email: email.toUpperCase(), name: "TypeScript SDK", password } });
  check(taken.response.status === 409, `a taken email answered ${taken.response.status}`);
  check(taken.error?.status === 409, "409 is no Problem");

  const wrong = await token({ body: { grant_type: "password", username: email, password: "not the password" } });
  check(wrong.response.status === 400, `a wrong password answered ${wrong.response.status}`);
  check(wrong.error?.error === "invalid_grant", "a wrong password is not invalid_grant");

  const signedIn = await signIn({ grant_type: "password", username: email, password });
  check(signedIn.token_type === "Bearer", "token_type is not Bearer");
  check(typeof signedIn.refresh_token === "string", "no refresh token");

  const refreshed = await signIn({ grant_type: "refresh_token", refresh_token: signedIn.refresh_token });
  check(refreshed.refresh_token !== signedIn.refresh_token, "refresh did not rotate the token");
  check(refreshed.access_token !== signedIn.access_token, "refresh returned the same access token");

  // A retry of the rotated token within GATEHOUSE_REFRESH_REUSE_GRACE (a lost answer on a
  // flaky network) gets the same successor, never a second live token.
  const retried = await signIn({ grant_type: "refresh_token", refresh_token: signedIn.refresh_token });
  check(retried.refresh_token === refreshed.refresh_token, "a retry yielded another successor");

  const me = await getMe({ auth: refreshed.access_token });
  check(me.data !== undefined, `/me answered ${me.response.status}`);
  check(me.data.email === email && me.data.id === created.data.id, "/me is someone else");

  const anonymous = await getMe({ auth: "not-a-token" });
  check(anonymous.response.status === 401, `/me with a bad token answered ${anonymous.response.status}`);
  check(anonymous.error?.status === 401, "401 of /me is no Problem");

  await secondFactor(refreshed.access_token, email, password);

  // Signing out: revoking the refresh token ends the session, so it stops working.
  const revoked = await revokeToken({ body: { token: refreshed.refresh_token! } });
  check(revoked.response.status === 200, `revocation answered ${revoked.response.status}`);
  const refused = await token({ body: { grant_type: "refresh_token", refresh_token: refreshed.refresh_token } });
  check(refused.response.status === 400, `a revoked refresh token answered ${refused.response.status}`);
  check(refused.error?.error === "invalid_grant", "a revoked refresh token is not invalid_grant");

  console.log("typescript client: register, password grant, refresh, /me, second factor, revoke: ok");
}

/** TOTP turned on, then the two-step sign-in: `mfa_required`, then the mfa-otp grant. */
async function secondFactor(accessToken: string, email: string, password: string): Promise<void> {
  const started = await startTotpEnrollment({ auth: accessToken, body: { password } });
  check(started.data !== undefined, `starting TOTP answered ${started.response.status}`);
  const secret = started.data.secret;
  const now = Date.now() / 1000;
  const confirmed = await confirmTotp({ auth: accessToken, body: { code: totp(secret, now) } });
  check(confirmed.data !== undefined, `confirming TOTP answered ${confirmed.response.status}`);
  check(confirmed.data.recovery_codes.length === 10, "not ten recovery codes");

  const asked = await token({ body: { grant_type: "password", username: email, password } });
  check(asked.response.status === 403, `the password alone answered ${asked.response.status}`);
  check(asked.error?.error === "mfa_required", "the password alone is not mfa_required");
  const mfaToken = asked.error.mfa_token;
  check(typeof mfaToken === "string" && mfaToken.length > 0, "mfa_required without an mfa_token");

  const right = new Set([-30, 0, 30, 60].map((drift) => totp(secret, now + drift)));
  const wrongCode = ["000000", "111111", "222222"].find((c) => !right.has(c))!;
  const wrong = await token({ body: { grant_type: MFA_OTP, mfa_token: mfaToken, otp: wrongCode } });
  check(wrong.response.status === 400, `a wrong code answered ${wrong.response.status}`);
  check(wrong.error?.error === "invalid_grant", "a wrong code is not invalid_grant");
  // The same mfa_token; the next step (the confirming one is spent; one step of drift).
  const signedIn = await signIn({ grant_type: MFA_OTP, mfa_token: mfaToken, otp: totp(secret, now + 30) });

  const factors = await getMySecondFactors({ auth: signedIn.access_token });
  check(factors.data?.totp === true, `second factors answered ${factors.response.status}`);
  check(factors.data.recovery_codes_left === 10, "recovery codes were used");
}

const baseUrl = process.argv[2];
if (!baseUrl) {
  console.error("usage: tsx client.ts BASE_URL");
  process.exit(2);
}
main(baseUrl.replace(/\/$/, "")).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
