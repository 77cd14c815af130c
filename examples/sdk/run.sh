#!/usr/bin/env bash
# Generates a Python client (openapi-python-client) and a TypeScript client
# (@hey-api/openapi-ts) from the OpenAPI document a running Gatehouse serves, drives
# each through register → password grant → refresh → /me → revoke against BASE_URL,
# then fuzzes the document with Schemathesis (every check) against a second server it
# starts itself from GATEHOUSE_BINARY, with rate limits off and an admin account: once on
# SQLite, and once more on PostgreSQL with sessions in Redis when SDK_POSTGRES_URL and
# SDK_REDIS_URL are set (a schema and a key prefix of its own, removed afterwards).
#
#   examples/sdk/run.sh BASE_URL [GATEHOUSE_BINARY]
#
# GATEHOUSE_BINARY defaults to target/debug/gatehouse. Tools are installed into
# examples/sdk/.venv and examples/sdk/node_modules (versions pinned here and in
# package-lock.json); generated code goes to examples/sdk/generated/. Settings:
# SDK_SCHEMATHESIS_PORT (18480), SDK_MAX_EXAMPLES (30 per operation and phase),
# SDK_SEED (a fixed seed, so a CI run can be replayed; `random` for a new one each run),
# SDK_PYTHON (an interpreter for the venv, 3.12 or newer), SDK_POSTGRES_URL and
# SDK_REDIS_URL (the second run; psql is needed to make its schema).
set -euo pipefail

OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
SCHEMATHESIS_VERSION=4.32.5

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BASE_URL [GATEHOUSE_BINARY]" >&2
  exit 2
fi
base_url=${1%/}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
binary=${2:-$repo/target/debug/gatehouse}
[ -x "$binary" ] || { echo "no gatehouse binary at $binary (cargo build first)" >&2; exit 2; }
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
port=${SDK_SCHEMATHESIS_PORT:-18480}
max_examples=${SDK_MAX_EXAMPLES:-30}
seed=${SDK_SEED:-20261128}
cd "$here"
started=$SECONDS
step() { printf '\n== sdk: %s (%ss)\n' "$*" "$((SECONDS - started))"; }

# Python 3.12 or newer: under 3.11.7 Hypothesis (inside Schemathesis) trips over a CPython
# bug ("AST constructor recursion depth mismatch") and reports runtime errors.
pick_python() {
  local candidates=("${SDK_PYTHON:-}" python3.13 python3.12 python3)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.1[3-9]*/bin/python3 "$(pyenv root)"/versions/3.12*/bin/python3)
  fi
  for py in "${candidates[@]}"; do
    [ -n "$py" ] || continue
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      echo "$py"
      return
    fi
  done
  echo "no Python 3.12 or newer found (set SDK_PYTHON)" >&2
  return 1
}

step "tools"
for tool in node npm curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (Node 20.19 or newer with npm)" >&2; exit 2; }
done
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || { echo "Node $(node --version) is too old: 20.19 or newer is needed" >&2; exit 2; }
pins="openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION schemathesis==$SCHEMATHESIS_VERSION"
if [ "$(cat .venv/pins 2>/dev/null)" != "$pins" ]; then
  rm -rf .venv
  "$(pick_python)" -m venv .venv
  # shellcheck disable=SC2086
  .venv/bin/pip install --quiet --disable-pip-version-check $pins
  echo "$pins" >.venv/pins
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION, schemathesis $SCHEMATHESIS_VERSION," \
  "@hey-api/openapi-ts $(node -p 'require("./node_modules/@hey-api/openapi-ts/package.json").version')"

step "the document served at $base_url/api/v1/openapi.json"
rm -rf generated
mkdir -p generated
curl -fsS "$base_url/api/v1/openapi.json" -o generated/openapi.json

step "Python client"
.venv/bin/openapi-python-client generate --path generated/openapi.json --meta none \
  --config openapi-python-client.yaml --output-path generated/python/gatehouse_client >generated/python.log 2>&1 \
  || { cat generated/python.log >&2; exit 1; }
# The generator warns about anything it had to leave out of the client: none may be.
if grep -q "Warning(s) encountered" generated/python.log; then
  cat generated/python.log >&2
  exit 1
fi
PYTHONPATH=generated/python .venv/bin/python python_client.py "$base_url"

step "TypeScript client"
npx --no-install openapi-ts -i ./generated/openapi.json -o ./generated/ts -c @hey-api/client-fetch \
  >generated/ts.log 2>&1 || { cat generated/ts.log >&2; exit 1; }
npx --no-install tsc -p tsconfig.json
npx --no-install tsx client.ts "$base_url"

work=
server=
pg_schema=
redis_prefix=
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
  [ -z "$work" ] || rm -rf "$work"
  work=
}
cleanup() {
  stop_server
  if [ -n "$pg_schema" ]; then
    psql "$SDK_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null 2>&1 || true
  fi
  if [ -n "$redis_prefix" ] && command -v redis-cli >/dev/null; then
    redis-cli -u "$SDK_REDIS_URL" --scan --pattern "$redis_prefix:*" \
      | xargs -r redis-cli -u "$SDK_REDIS_URL" del >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
# A cancelled run (SIGTERM, Ctrl-C) still stops its server.
trap 'exit 143' TERM
trap 'exit 130' INT
# The server sees no GATEHOUSE_* settings of the caller, only these and those of the
# current run ($server_env). Its issuer names localhost, not 127.0.0.1: passkeys need a
# domain, and their operations are fuzzed too. Call it in a subshell, `(gatehouse …)` or `gatehouse … &`:
# it changes directory and execs, so that the background job's pid is the server's own.
server_env=()
gatehouse() {
  cd "$work"
  # shellcheck disable=SC2046
  exec env $(env | sed -n 's/^\(GATEHOUSE_[A-Z0-9_]*\)=.*/-u \1/p') \
    GATEHOUSE_LISTEN="127.0.0.1:$port" GATEHOUSE_ISSUER="http://localhost:$port" \
    GATEHOUSE_RATE_LIMITS=off GATEHOUSE_LOG_LEVEL=warn "${server_env[@]}" "$binary" "$@"
}
# `user create` reports "created user ID <EMAIL>" on standard error.
user_id() { sed -n 's/^created user \([0-9a-f-]*\) .*/\1/p'; }

# fuzz LABEL [GATEHOUSE_X=value …]: a fresh server with those settings, fuzzed.
fuzz() {
  local label=$1
  shift
  server_env=("$@")
  step "Schemathesis ($label) against a server of its own on 127.0.0.1:$port"
  work=$(mktemp -d)
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "127.0.0.1:$port is already taken (SDK_SCHEMATHESIS_PORT chooses another)" >&2
    exit 1
  fi
  # Random per run; they only guard this throwaway server.
  local admin_password client_secret own_id stand_in_id
  admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  client_secret=$(head -c 36 /dev/urandom | base64 | tr -d '/+=')
  local setup_log="$work/setup.log"
  failed_setup() { echo "could not set up the Schemathesis server:" >&2; cat "$setup_log" >&2; exit 1; }
  echo "$admin_password" | (gatehouse user create --email fuzzer@example.com --name Fuzzer \
    --role admin --password-stdin) >"$setup_log" 2>&1 || failed_setup
  own_id=$(user_id <"$setup_log")
  echo "stand-in $admin_password" | (gatehouse user create --email stand-in@example.com \
    --name Stand-in --password-stdin) >"$setup_log" 2>&1 || failed_setup
  stand_in_id=$(user_id <"$setup_log")
  [ -n "$own_id" ] && [ -n "$stand_in_id" ] || failed_setup
  # Allowed to introspect and read the feed, so Schemathesis reaches their answers, not 403s.
  echo "$client_secret" | (gatehouse client create --id fuzzer-client --secret-stdin \
    --grant client_credentials --allow introspection --allow revocation-feed) >"$setup_log" 2>&1 \
    || failed_setup
  gatehouse serve >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! kill -0 "$server" 2>/dev/null || ! curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "the Schemathesis server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  local seed_args=()
  [ "$seed" = random ] || seed_args=(--seed "$seed")
  GATEHOUSE_ST_EMAIL=fuzzer@example.com GATEHOUSE_ST_PASSWORD="$admin_password" \
    GATEHOUSE_ST_OWN_USER_ID="$own_id" GATEHOUSE_ST_STAND_IN_USER_ID="$stand_in_id" \
    GATEHOUSE_ST_CLIENT_ID=fuzzer-client GATEHOUSE_ST_CLIENT_SECRET="$client_secret" \
    PYTHONPATH="$here" HYPOTHESIS_STORAGE_DIRECTORY="$here/generated/.hypothesis" \
    .venv/bin/schemathesis --no-color --config-file schemathesis.toml run \
    "http://127.0.0.1:$port/api/v1/openapi.json" \
    --checks all --max-examples "$max_examples" --workers 2 --request-timeout 30 \
    "${seed_args[@]}" \
    || { echo "Schemathesis ($label) found problems (server log: below)" >&2; tail -n 50 "$work/server.log" >&2; exit 1; }
  if grep -q "panicked\|handler panicked" "$work/server.log"; then
    echo "the server panicked during the Schemathesis run ($label)" >&2
    exit 1
  fi
  stop_server
}

fuzz SQLite
if [ -n "${SDK_POSTGRES_URL:-}" ] && [ -n "${SDK_REDIS_URL:-}" ]; then
  command -v psql >/dev/null || { echo "psql is needed for the PostgreSQL run" >&2; exit 2; }
  pg_schema="sdk_$(date +%s)_$$"
  redis_prefix="sdk-$pg_schema"
  psql "$SDK_POSTGRES_URL" -qc "CREATE SCHEMA $pg_schema" >/dev/null
  separator='?'
  case "$SDK_POSTGRES_URL" in *\?*) separator='&' ;; esac
  fuzz "PostgreSQL + Redis" \
    GATEHOUSE_DATABASE_URL="$SDK_POSTGRES_URL${separator}options=-c%20search_path%3D$pg_schema" \
    GATEHOUSE_REDIS_URL="$SDK_REDIS_URL" GATEHOUSE_REDIS_KEY_PREFIX="$redis_prefix"
fi

step "done"
