"""A first-party app signing a person in with the password grant, keeping the session
alive with refresh tokens, and signing out — Python's standard library only.

    python3 examples/password_client.py http://localhost:8080 ada@example.com 'their password'

What it shows:
- the token endpoint takes a form body and answers JSON; errors are RFC 6749 JSON
  (`error`, `error_description`);
- every refresh returns a NEW refresh token: keep only the newest (the old one is dead,
  and presenting it after the grace window ends the whole session);
- on 503 (`temporarily_unavailable`) or 429 (`slow_down`) wait `Retry-After` seconds and
  retry the same request: tokens stay valid;
- an account with a second factor answers the password with 403 `mfa_required` and an
  `mfa_token`: ask the person for the code of their authenticator app (or a recovery
  code) and send both with the `mfa-otp` grant;
- signing out revokes the refresh token (RFC 7009), which ends the session.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


MFA_OTP = "urn:gatehouse:params:oauth:grant-type:mfa-otp"


class GatehouseError(Exception):
    def __init__(self, message: str, answer: dict | None = None):
        super().__init__(message)
        # The RFC 6749 error answer, when there was one (`error`, `mfa_token`, …).
        self.answer = answer or {}


def call(method: str, url: str, form: dict | None = None, token: str | None = None) -> dict:
    """One request, retried while the server says to wait (503, 429)."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    for _ in range(5):
        request = urllib.request.Request(url, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                return json.loads(body) if body else {}
        except urllib.error.HTTPError as error:
            if error.code in (429, 503):
                time.sleep(int(error.headers.get("Retry-After", "1")))
                continue
            body = error.read().decode(errors="replace")
            try:
                detail = json.loads(body)
                message = detail.get("error_description") or detail.get("detail") or body
            except json.JSONDecodeError:
                detail, message = {}, body
            raise GatehouseError(f"{method} {url}: {error.code} {message}", detail) from None
    raise GatehouseError(f"{method} {url}: still unavailable after retries")


class Session:
    """The tokens of one signed-in person."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.access_token = ""
        self.refresh_token = ""
        self.expires_at = 0.0

    def _keep(self, tokens: dict) -> None:
        self.access_token = tokens["access_token"]
        # Always replace: the previous refresh token no longer works.
        self.refresh_token = tokens["refresh_token"]
        self.expires_at = time.time() + tokens["expires_in"]

    def sign_in(self, email: str, password: str, ask_code=None) -> None:
        """Signs in; `ask_code()` gives the second factor's code when the account has one."""
        url = f"{self.base}/oauth2/token"
        try:
            tokens = call("POST", url,
                          {"grant_type": "password", "username": email, "password": password})
        except GatehouseError as refused:
            if refused.answer.get("error") != "mfa_required" or ask_code is None:
                raise
            # The mfa_token lasts five minutes and survives a wrong code.
            tokens = call("POST", url, {"grant_type": MFA_OTP,
                                        "mfa_token": refused.answer["mfa_token"],
                                        "otp": ask_code()})
        self._keep(tokens)

    def refresh(self) -> None:
        self._keep(call("POST", f"{self.base}/oauth2/token",
                        {"grant_type": "refresh_token", "refresh_token": self.refresh_token}))

    def get(self, path: str) -> dict:
        # Refresh a little before the access token expires rather than after a 401.
        if time.time() > self.expires_at - 30:
            self.refresh()
        return call("GET", f"{self.base}{path}", token=self.access_token)

    def sign_out(self) -> None:
        call("POST", f"{self.base}/oauth2/revoke",
             {"token": self.refresh_token, "token_type_hint": "refresh_token"})
        self.access_token = self.refresh_token = ""


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    base, email, password = sys.argv[1:]
    session = Session(base)
    try:
        session.sign_in(email, password,
                        ask_code=lambda: input("code from your authenticator app: ").strip())
        me = session.get("/api/v1/auth/me")
        print(f"signed in as {me['email']}")
        first = session.refresh_token
        session.refresh()
        assert session.refresh_token != first, "a refresh rotates the refresh token"
        print(f"refreshed; still {session.get('/api/v1/auth/me')['email']}")
        revoked = session.refresh_token
        session.sign_out()
        try:
            call("POST", f"{base.rstrip('/')}/oauth2/token",
                 {"grant_type": "refresh_token", "refresh_token": revoked})
        except GatehouseError:
            print("signed out: the refresh token no longer works")
        else:
            print("the refresh token still works after signing out", file=sys.stderr)
            return 1
    except GatehouseError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
