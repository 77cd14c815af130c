"""A first-party app on the Python client generated from Gatehouse's OpenAPI document.

Registers a fresh account, signs in with the password grant, refreshes, reads /me,
and checks what comes back. run.sh generates the `gatehouse_client` package first
(openapi-python-client) and puts it on PYTHONPATH:

    python3 python_client.py http://localhost:8080
"""

import sys
import uuid

from gatehouse_client import AuthenticatedClient, Client
from gatehouse_client.api.auth import get_me, register
from gatehouse_client.api.oauth import revoke_token, token
from gatehouse_client.models import (
    AccessTokenResponse,
    OAuthError,
    Problem,
    RegisterRequest,
    TokenLookupRequest,
    TokenRequest,
    User,
)


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
    print("python client: register, password grant, refresh, /me, revoke: ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python_client.py BASE_URL")
    main(sys.argv[1].rstrip("/"))
