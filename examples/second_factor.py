"""A first-party app turning on a second factor for a person and signing them in with
it — Python's standard library only, the code computed as an authenticator app would.

    python3 examples/second_factor.py http://localhost:8080 ada@example.com 'their password'

It registers the account if it does not exist, signs in with the password, turns on TOTP
(`POST /api/v1/auth/mfa/totp` with the password, then the first code), keeps the ten
recovery codes, then signs in again: the password grant answers 403 `mfa_required` with
an `mfa_token`, and the `mfa-otp` grant with that token and a code gives the tokens. It
prints the access token of that sign-in (its `amr` says `mfa`) on standard output, and
what it did on standard error. An account that already has a second factor is refused:
this is a demonstration, not a way to reset one.
"""

import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

MFA_OTP = "urn:gatehouse:params:oauth:grant-type:mfa-otp"


def totp(secret: str, at: float) -> str:
    """RFC 6238: HMAC-SHA-1 over the 30-second step, six digits (what the apps compute)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def call(method: str, url: str, *, form: dict | None = None, body: dict | None = None,
         token: str | None = None) -> tuple[int, dict]:
    """One request: the status and the JSON answer, errors included."""
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else {}


def expect(answer: tuple[int, dict], status: int, what: str) -> dict:
    if answer[0] != status:
        raise SystemExit(f"{what}: {answer[0]} {answer[1]}")
    return answer[1]


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    base, email, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    token_url = f"{base}/oauth2/token"
    status, _ = call("POST", f"{base}/api/v1/auth/register",
                     body={"email": email, "name": "Second factor example", "password": password})
    if status not in (201, 409):
        raise SystemExit(f"registration: {status}")
    grant = {"grant_type": "password", "username": email, "password": password}
    tokens = expect(call("POST", token_url, form=grant), 200, "password grant")

    mfa = f"{base}/api/v1/auth/mfa"
    enrollment = expect(call("POST", f"{mfa}/totp", body={"password": password},
                             token=tokens["access_token"]), 200, "starting TOTP")
    secret = enrollment["secret"]
    now = time.time()
    confirmed = expect(call("POST", f"{mfa}/totp/confirm", body={"code": totp(secret, now)},
                            token=tokens["access_token"]), 200, "confirming TOTP")
    print(f"TOTP on; {len(confirmed['recovery_codes'])} recovery codes kept", file=sys.stderr)

    status, refused = call("POST", token_url, form=grant)
    if status != 403 or refused.get("error") != "mfa_required":
        raise SystemExit(f"the password alone was not refused: {status} {refused}")
    # The step that confirmed is spent; the next one is accepted early (one step of drift).
    second = {"grant_type": MFA_OTP, "mfa_token": refused["mfa_token"], "otp": totp(secret, now + 30)}
    tokens = expect(call("POST", token_url, form=second), 200, "the mfa-otp grant")
    print("signed in with the password and a code", file=sys.stderr)
    print(tokens["access_token"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
