"""How a Python resource server verifies a Gatehouse access token with the JWKS alone.

    pip install "pyjwt[crypto]"
    python3 examples/verify_token.py http://localhost:8080 "$TOKEN"

PyJWKClient caches the keys and fetches them again when a token names an unknown kid.
"""

import sys

import jwt


def verify(token: str, issuer: str, audience: str, jwks_client: jwt.PyJWKClient) -> dict:
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],  # pinned: never taken from the token
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


def main() -> int:
    if len(sys.argv) < 3:
        print("usage: verify_token.py ISSUER TOKEN [AUDIENCE]", file=sys.stderr)
        return 2
    issuer, token = sys.argv[1], sys.argv[2]
    audience = sys.argv[3] if len(sys.argv) > 3 else issuer
    client = jwt.PyJWKClient(f"{issuer}/.well-known/jwks.json", cache_keys=True, lifespan=300)
    try:
        claims = verify(token, issuer, audience, client)
    except jwt.PyJWTError as error:
        print(f"rejected: {error}", file=sys.stderr)
        return 1
    print(claims)
    return 0


if __name__ == "__main__":
    sys.exit(main())
