"""An app moving over from the old coaching API without signing its person out: on its
first start with Gatehouse it exchanges the old service's token it kept for a Gatehouse
session (RFC 8693 token exchange), then lives on refresh tokens — Python's standard
library only.

    python3 examples/legacy_exchange.py http://localhost:8080 app-storage.json

`app-storage.json` stands for what the app keeps on the device: before the move it holds
`{"old_token": "<the old service's JWT>"}`; after the first run it holds the Gatehouse
refresh token instead, and the old token is gone. Run it twice to see both starts.

What it shows:
- the exchange is a token request: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
  `subject_token` (the old JWT) and
  `subject_token_type=urn:gatehouse:params:oauth:token-type:legacy-jwt`; the answer is the
  usual one (access and refresh token) plus `issued_token_type`;
- an old token works once: store the refresh token and forget the old token at once;
- any refusal is 400 `invalid_grant` (expired, exchanged already, account unknown or
  disabled, after the server's end date): ask the person for their password, as before;
- an account with a second factor answers 403 `mfa_required` with an `mfa_token`: ask for
  the code and send it with the `mfa-otp` grant, as after a password;
- 429 and 503 mean "wait `Retry-After` seconds and retry": the old token is not spent.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
LEGACY_JWT = "urn:gatehouse:params:oauth:token-type:legacy-jwt"
MFA_OTP = "urn:gatehouse:params:oauth:grant-type:mfa-otp"


class Refused(Exception):
    def __init__(self, status: int, answer: dict):
        super().__init__(f"{status} {answer.get('error')}: {answer.get('error_description', '')}")
        self.status = status
        self.answer = answer


def call(url: str, form: dict | None = None, token: str | None = None) -> dict:
    """One request (a form POST, or a GET with a bearer token), retried while the server
    says to wait."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    for _ in range(5):
        request = urllib.request.Request(url, data=data)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code in (429, 503):
                time.sleep(int(error.headers.get("Retry-After", "1")))
                continue
            try:
                answer = json.loads(error.read())
            except json.JSONDecodeError:
                answer = {}
            raise Refused(error.code, answer) from None
    raise RuntimeError(f"{url}: still unavailable after retries")


def save(path: str, storage: dict) -> None:
    """Replaces the app's storage in one step, so that a crash never keeps both tokens or
    neither."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(storage, file)
    os.replace(temporary, path)


def first_start(base: str, storage: dict) -> dict:
    """The old token for Gatehouse tokens; asks for a code when the account has a second
    factor."""
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": storage["old_token"],
        "subject_token_type": LEGACY_JWT,
        "scope": "openid profile email",
    }
    try:
        return call(f"{base}/oauth2/token", form)
    except Refused as refused:
        if refused.status == 403 and refused.answer.get("error") == "mfa_required":
            code = input("The code of your authenticator app: ").strip()
            return call(
                f"{base}/oauth2/token",
                {"grant_type": MFA_OTP, "mfa_token": refused.answer["mfa_token"], "otp": code},
            )
        raise


def main() -> int:
    base, path = sys.argv[1].rstrip("/"), sys.argv[2]
    with open(path) as file:
        storage = json.load(file)
    if "old_token" in storage:
        try:
            tokens = first_start(base, storage)
        except Refused as refused:
            # Whatever the reason, the old token is of no more use: sign in as before.
            save(path, {})
            print(f"the old token was not exchanged ({refused}); sign in with your password")
            return 2
        print(f"exchanged the old token: {tokens['issued_token_type']}, scope {tokens['scope']}")
    else:
        tokens = call(
            f"{base}/oauth2/token",
            {"grant_type": "refresh_token", "refresh_token": storage["refresh_token"]},
        )
        print("refreshed the session")
    # Only the newest refresh token is kept; the old token, never again.
    save(path, {"refresh_token": tokens["refresh_token"]})
    me = call(f"{base}/api/v1/auth/me", token=tokens["access_token"])
    print(f"signed in as {me['email']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
