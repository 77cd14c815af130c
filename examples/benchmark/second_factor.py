"""Drives the second-factor parts of the benchmark; run.sh measures Gatehouse's CPU around
each phase. Standard library only.

    second_factor.py prepare BASE N FILE    # N accounts mfa0… with TOTP on; secrets to FILE
    second_factor.py first BASE FILE TOKENS # their password grants: 403 mfa_required, the
                                            # mfa_tokens to TOKENS
    second_factor.py second BASE FILE TOKENS # the mfa-otp grants with each account's code
    second_factor.py page BASE N            # a browser with a TOTP enrollment started on
                                            # /account sends N wrong first codes: each
                                            # answer is the enrollment page with its QR code

Each phase prints `requests=<n>`, `seconds=<s>` and `rate_per_s=<r>`, and exits non-zero on any unexpected
answer. Requests go out on CONNECTIONS threads (8 by default), each with a keep-alive
connection.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import struct
import sys
import threading
import time
import urllib.parse

PASSWORD = "bench-password-123"
MFA_OTP = "urn:gatehouse:params:oauth:grant-type:mfa-otp"
CONNECTIONS = int(os.environ.get("CONNECTIONS", "8"))


def totp(secret: str, at: float) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


class Connection:
    """One keep-alive connection to BASE."""

    def __init__(self, base: str):
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, *, form=None, body=None, token=None):
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, raw


def expect(answer, status: int, what: str) -> bytes:
    if answer[0] != status:
        sys.exit(f"{what}: {answer[0]} {answer[1][:200]!r}")
    return answer[1]


def in_parallel(work: list, task) -> None:
    """Runs `task(connection, item)` for every item, on CONNECTIONS threads."""
    failures = []

    def worker(items):
        conn = Connection(BASE)
        try:
            for item in items:
                task(conn, item)
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(work[i::CONNECTIONS],))
               for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def prepare(n: int, path: str) -> None:
    secrets = [None] * n
    confirmed_at = [0.0] * n

    def enroll(conn, i):
        email = f"mfa{i}@example.com"
        expect(conn.send("POST", "/api/v1/auth/register",
                         body={"email": email, "name": "Bench", "password": PASSWORD}), 201, "register")
        tokens = json.loads(expect(conn.send("POST", "/oauth2/token", form={
            "grant_type": "password", "username": email, "password": PASSWORD}), 200, "sign in"))
        token = tokens["access_token"]
        secret = json.loads(expect(conn.send("POST", "/api/v1/auth/mfa/totp",
                                             body={"password": PASSWORD}, token=token), 200, "start"))["secret"]
        at = time.time()
        expect(conn.send("POST", "/api/v1/auth/mfa/totp/confirm",
                         body={"code": totp(secret, at)}, token=token), 200, "confirm")
        secrets[i] = secret
        confirmed_at[i] = at

    in_parallel(list(range(n)), enroll)
    with open(path, "w") as f:
        json.dump({"confirmed_at": confirmed_at, "secrets": secrets}, f)


def first(path: str, out: str) -> int:
    secrets = json.load(open(path))["secrets"]
    tokens = [None] * len(secrets)

    def password_step(conn, i):
        answer = json.loads(expect(conn.send("POST", "/oauth2/token", form={
            "grant_type": "password", "username": f"mfa{i}@example.com", "password": PASSWORD}),
            403, "password step"))
        tokens[i] = answer["mfa_token"]

    in_parallel(list(range(len(secrets))), password_step)
    json.dump(tokens, open(out, "w"))
    return len(secrets)


def second(path: str, tokens_path: str) -> int:
    enrolled = json.load(open(path))
    tokens = json.load(open(tokens_path))
    def code_step(conn, i):
        # The confirming step is spent; the next one is accepted (one step of drift), and
        # later ones as time goes on: whichever is current and later than the confirming one.
        confirmed_step = int(enrolled["confirmed_at"][i] // 30)
        at = max(time.time(), (confirmed_step + 1) * 30)
        code = totp(enrolled["secrets"][i], at)
        expect(conn.send("POST", "/oauth2/token", form={
            "grant_type": MFA_OTP, "mfa_token": tokens[i], "otp": code}), 200, "code step")

    in_parallel(list(range(len(tokens))), code_step)
    return len(tokens)


def page(n: int) -> int:
    conn = Connection(BASE)
    email = "mfa-page@example.com"
    expect(conn.send("POST", "/api/v1/auth/register",
                     body={"email": email, "name": "Bench", "password": PASSWORD}), 201, "register")
    login = conn.send("GET", "/login")[1].decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
    expect(conn.send("POST", "/login", form={"csrf": csrf, "return_to": "/account",
                                             "email": email, "password": PASSWORD}), 303, "sign in")
    started = expect(conn.send("POST", "/account/mfa/totp", form={"csrf": csrf, "password": PASSWORD}),
                     200, "start").decode()
    secret = re.search(r"<code>([A-Z2-7]+)</code>", started).group(1)
    right = {totp(secret, time.time() + d) for d in (-60, -30, 0, 30, 60)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in right)
    for _ in range(n):
        body = expect(conn.send("POST", "/account/mfa/totp/confirm",
                                form={"csrf": csrf, "code": wrong}), 422, "wrong code")
        if b"<svg" not in body:
            sys.exit("the enrollment page has no QR code")
    return n


if __name__ == "__main__":
    mode, BASE = sys.argv[1], sys.argv[2].rstrip("/")
    started = time.monotonic()
    if mode == "prepare":
        prepare(int(sys.argv[3]), sys.argv[4])
        count = int(sys.argv[3])
    elif mode == "first":
        count = first(sys.argv[3], sys.argv[4])
    elif mode == "second":
        count = second(sys.argv[3], sys.argv[4])
    elif mode == "page":
        count = page(int(sys.argv[3]))
    else:
        sys.exit(__doc__)
    seconds = time.monotonic() - started
    print(f"requests={count}")
    print(f"seconds={seconds:.3f}")
    print(f"rate_per_s={count / seconds:.0f}")
