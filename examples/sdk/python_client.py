"""A first-party app on the Python client generated from Gatehouse's OpenAPI document.

Registers a fresh account, signs in with the password grant, refreshes, reads /me,
turns on a second factor and signs in with both steps (403 `mfa_required`, then the
mfa-otp grant), and checks what comes back. run.sh generates the `gatehouse_client` package first
(openapi-python-client) and puts it on PYTHONPATH:

    python3 python_client.py http://localhost:8080
"""

import base64
import hashlib
import hmac
import struct
import sys
import time
import uuid

from gatehouse_client import AuthenticatedClient, Client
from gatehouse_client.api.auth import (
    confirm_totp,
    get_me,
    get_my_second_factors,
    register,
    start_totp_enrollment,
)
from gatehouse_client.api.oauth import revoke_token, token
from gatehouse_client.models import (
    AccessTokenResponse,
    OAuthError,
    Problem,
    RecoveryCodes,
    RegisterRequest,
    SecondFactorCode,
    SecondFactors,
    StartTotpRequest,
    TokenLookupRequest,
    TokenRequest,
    TotpEnrollment,
    User,
)

MFA_OTP = "urn:gatehouse:params:oauth:grant-type:mfa-otp"


def totp(secret: str, at: float) -> str:
    """RFC 6238, as an authenticator app computes it."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"python client: {what}")


def main(base_url: str) -> None:
    client = Client(base_url=base_url, raise_on_unexpected_status=True)
    email = f"sdk-py-{uuid.uuid4().hex[:12]}@example.com"
    password = f"py {uuid.uuid4().hex}"

    created = register.sync_detailed(
        client=client,
        body=RegisterRequest(email=email, name="Python SDK", password=password),
    )
    check(created.status_code == 201, f"register answered {created.status_code}")
    check(isinstance(created.parsed, User), "register did not return a User")
    check(created.parsed.email == email, "register returned another email")

    again = register.sync_detailed(
        client=client,
        body=RegisterRequest(email=email.upper(), name="Python SDK", password=password),
    )
    check(again.status_code == 409, f"a taken email answered {again.status_code}")
    check(isinstance(again.parsed, Problem) and again.parsed.status == 409, "409 is no Problem")

    wrong = token.sync_detailed(
        client=client,
        body=TokenRequest(grant_type="password", username=email, password="not the password"),
    )
    check(wrong.status_code == 400, f"a wrong password answered {wrong.status_code}")
    check(
        isinstance(wrong.parsed, OAuthError) and wrong.parsed.error == "invalid_grant",
        "a wrong password is not invalid_grant",
    )

    signed_in = token.sync(
        client=client,
        body=TokenRequest(grant_type="password", username=email, password=password),
    )
    check(isinstance(signed_in, AccessTokenResponse), f"password grant failed: {signed_in}")
    check(signed_in.token_type == "Bearer", "token_type is not Bearer")
    check(isinstance(signed_in.refresh_token, str), "no refresh token")

    refreshed = token.sync(
        client=client,
        body=TokenRequest(grant_type="refresh_token", refresh_token=signed_in.refresh_token),
    )
    check(isinstance(refreshed, AccessTokenResponse), f"refresh failed: {refreshed}")
    check(refreshed.refresh_token != signed_in.refresh_token, "refresh did not rotate the token")
    check(refreshed.access_token != signed_in.access_token, "refresh returned the same access token")

    # A retry of the rotated token within GATEHOUSE_REFRESH_REUSE_GRACE (a lost answer on
    # a flaky network) gets the same successor, never a second live token.
    retried = token.sync(
        client=client,
        body=TokenRequest(grant_type="refresh_token", refresh_token=signed_in.refresh_token),
    )
    check(isinstance(retried, AccessTokenResponse), f"retry within the grace failed: {retried}")
    check(retried.refresh_token == refreshed.refresh_token, "a retry yielded another successor")

    authed = AuthenticatedClient(
        base_url=base_url, token=refreshed.access_token, raise_on_unexpected_status=True
    )
    me = get_me.sync(client=authed)
    check(isinstance(me, User), f"/me failed: {me}")
    check(me.email == email and me.id == created.parsed.id, "/me is someone else")

    anonymous = get_me.sync_detailed(
        client=AuthenticatedClient(base_url=base_url, token="not-a-token")
    )
    check(anonymous.status_code == 401, f"/me with a bad token answered {anonymous.status_code}")
    check(isinstance(anonymous.parsed, Problem), "401 of /me is no Problem")

    second_factor(base_url, client, authed, email, password)

    # Signing out: revoking the refresh token ends the session, so it stops working.
    revoked = revoke_token.sync_detailed(
        client=client, body=TokenLookupRequest(token=refreshed.refresh_token)
    )
    check(revoked.status_code == 200, f"revocation answered {revoked.status_code}")
    refused = token.sync_detailed(
        client=client,
        body=TokenRequest(grant_type="refresh_token", refresh_token=refreshed.refresh_token),
    )
    check(refused.status_code == 400, f"a revoked refresh token answered {refused.status_code}")
    check(
        isinstance(refused.parsed, OAuthError) and refused.parsed.error == "invalid_grant",
        "a revoked refresh token is not invalid_grant",
    )
    print("python client: register, password grant, refresh, /me, second factor, revoke: ok")


def second_factor(
    base_url: str, client: Client, authed: AuthenticatedClient, email: str, password: str
) -> None:
    """TOTP turned on, then the two-step sign-in: `mfa_required`, then the mfa-otp grant."""
    enrollment = start_totp_enrollment.sync(client=authed, body=StartTotpRequest(password=password))
    check(isinstance(enrollment, TotpEnrollment), f"starting TOTP failed: {enrollment}")
    check(enrollment.otpauth_uri.startswith("otpauth://totp/"), "no otpauth URI")
    now = time.time()
    confirmed = confirm_totp.sync(
        client=authed, body=SecondFactorCode(code=totp(enrollment.secret, now))
    )
    check(isinstance(confirmed, RecoveryCodes), f"confirming TOTP failed: {confirmed}")
    check(len(confirmed.recovery_codes) == 10, "not ten recovery codes")

    password_grant = TokenRequest(grant_type="password", username=email, password=password)
    asked = token.sync_detailed(client=client, body=password_grant)
    check(asked.status_code == 403, f"the password alone answered {asked.status_code}")
    check(
        isinstance(asked.parsed, OAuthError) and asked.parsed.error == "mfa_required",
        "the password alone is not mfa_required",
    )
    mfa_token = asked.parsed.mfa_token
    check(isinstance(mfa_token, str) and mfa_token, "mfa_required without an mfa_token")

    right = {totp(enrollment.secret, now + drift) for drift in (-30, 0, 30, 60)}
    wrong_code = next(c for c in ("000000", "111111", "222222") if c not in right)
    wrong = token.sync_detailed(
        client=client, body=TokenRequest(grant_type=MFA_OTP, mfa_token=mfa_token, otp=wrong_code)
    )
    check(wrong.status_code == 400, f"a wrong code answered {wrong.status_code}")
    check(isinstance(wrong.parsed, OAuthError) and wrong.parsed.error == "invalid_grant",
          "a wrong code is not invalid_grant")
    # The same mfa_token, and the next step (the one that confirmed is spent; one step of
    # drift is accepted).
    signed_in = token.sync(
        client=client,
        body=TokenRequest(grant_type=MFA_OTP, mfa_token=mfa_token, otp=totp(enrollment.secret, now + 30)),
    )
    check(isinstance(signed_in, AccessTokenResponse), f"the mfa-otp grant failed: {signed_in}")

    # A recovery code in place of the app, once.
    asked = token.sync_detailed(client=client, body=password_grant)
    recovered = token.sync(
        client=client,
        body=TokenRequest(grant_type=MFA_OTP, mfa_token=asked.parsed.mfa_token,
                          recovery_code=confirmed.recovery_codes[0]),
    )
    check(isinstance(recovered, AccessTokenResponse), f"a recovery code failed: {recovered}")
    factors = get_my_second_factors.sync(
        client=AuthenticatedClient(base_url=base_url, token=recovered.access_token)
    )
    check(isinstance(factors, SecondFactors), f"the second factors: {factors}")
    check(factors.totp and factors.recovery_codes_left == 9, "not nine recovery codes left")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python_client.py BASE_URL")
    main(sys.argv[1].rstrip("/"))
