"""A Python resource server that trusts Gatehouse's access tokens with the JWKS alone:
a plain ASGI application (no framework) verifying with PyJWT's PyJWKClient, the way the
coaching API does.

    pip install "pyjwt[crypto]" uvicorn
    GATEHOUSE_ISSUER=http://localhost:8080 python3 -m uvicorn --app-dir examples resource_server:app --port 8090
    curl -H "authorization: Bearer $ACCESS_TOKEN" http://localhost:8090/whoami

Settings: GATEHOUSE_ISSUER (the issuer, also where the JWKS is), GATEHOUSE_AUDIENCE (the
audience this API accepts; the issuer by default). Routes: /health (open), /whoami (any
valid token), /admin (a token with the `admin` role), /sensitive (a token of a sign-in
with a second factor: `mfa` in `amr`; else 401 `insufficient_user_authentication`, RFC
9470, telling the client which `acr_values` to ask for). Keys are cached for five minutes
and fetched again when a token names a kid not seen yet; the fetch runs on a worker
thread so the event loop never waits for the network.
"""

import asyncio
import json
import os

import jwt

ISSUER = os.environ.get("GATEHOUSE_ISSUER", "http://localhost:8080").rstrip("/")
AUDIENCE = os.environ.get("GATEHOUSE_AUDIENCE", ISSUER)
JWKS = jwt.PyJWKClient(f"{ISSUER}/.well-known/jwks.json", cache_keys=True, lifespan=300)


def verify(token: str) -> dict:
    """The token's claims, or `jwt.PyJWTError`."""
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    key = JWKS.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256", "ES256"],  # never taken from the token itself
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=30,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


async def respond(send, status: int, body: dict, headers: list | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode())] + (headers or []),
    })
    await send({"type": "http.response.body", "body": payload})


def challenge(error: str, description: str, extra: str = "") -> list:
    value = f'Bearer error="{error}", error_description="{description}"{extra}'
    return [(b"www-authenticate", value.encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/health":
        return await respond(send, 200, {"status": "ok"})
    if path not in ("/whoami", "/admin", "/sensitive"):
        return await respond(send, 404, {"error": "not_found"})
    authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    if not authorization.lower().startswith("bearer "):
        return await respond(send, 401, {"error": "unauthorized"},
                             [(b"www-authenticate", b"Bearer")])
    try:
        claims = await asyncio.to_thread(verify, authorization[7:].strip())
    except jwt.PyJWTError as error:
        return await respond(send, 401, {"error": "invalid_token"},
                             challenge("invalid_token", type(error).__name__))
    roles = claims.get("roles", [])
    if path == "/admin" and "admin" not in roles:
        return await respond(send, 403, {"error": "insufficient_scope"},
                             challenge("insufficient_scope", "the admin role is required"))
    if path == "/sensitive" and "mfa" not in claims.get("amr", []):
        # RFC 9470: sign the person in again, asking Gatehouse for a second factor.
        return await respond(send, 401, {"error": "insufficient_user_authentication"},
                             challenge("insufficient_user_authentication",
                                       "a sign-in with a second factor is required",
                                       ', acr_values="urn:gatehouse:acr:mfa"'))
    return await respond(send, 200, {
        "sub": claims["sub"],
        "scope": claims.get("scope", "").split(),
        "roles": roles,
        "client_id": claims.get("client_id"),
        "amr": claims.get("amr", []),
    })
