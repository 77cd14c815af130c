#!/usr/bin/env bash
# Baselines beside Gatehouse: measures, on this machine and in this run, the two servers
# in shared/baselines (see its README) so that run.sh can compare them with Gatehouse:
# the old service (FastAPI, one uvicorn worker pinned to core 0, wrk on core 1) for
# GET /api/v1/auth/me and its password grant (bcrypt), and panva/oidc-provider for
# client_credentials grants with RS256 JWT access tokens, pinned to core 0 (wrk on core 1)
# and unpinned on both cores (shared with wrk, as run.sh measures Gatehouse).
#
#   examples/benchmark/baselines.sh      # DURATION=10 seconds per measurement by default
#   eval "$(examples/benchmark/baselines.sh)"
#
# Prints only key=value lines on stdout (old_me_per_s, old_password_per_s,
# node_cc_one_core_per_s, node_cc_two_cores_per_s); progress goes to stderr. Fails when
# any wrk answer was an error (non-2xx, timeout, socket error).
# Needs: wrk, curl, taskset, python3 with venv, node and npm (PyPI and the npm registry
# for the first run: the baselines are copied to target/baselines and installed there
# once; shared/ is only read). Other settings: BASELINES_DIR (default
# ../shared/baselines, from the project root), OLD_PORT (default 8077), NODE_PORT
# (default 3900); both ports must be free.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/examples/benchmark
DURATION=${DURATION:-10}
SRC=${BASELINES_DIR:-../shared/baselines}
DIR=$PWD/target/baselines
OLD_PORT=${OLD_PORT:-8077}
NODE_PORT=${NODE_PORT:-3900}
OLD=http://127.0.0.1:$OLD_PORT
NODE=http://127.0.0.1:$NODE_PORT
EMAIL=bench@example.com
PASSWORD=bench-password-123
SECRET=bench-secret-bench-secret-bench-secret

log() { echo "baselines: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Copies the baselines (read-only in shared/) and installs them, each only when its
# pinned list changed since the last install.
mkdir -p "$DIR"
cp -rT --no-preserve=mode "$SRC" "$DIR"
cd "$DIR/old-service"
if ! cmp -s requirements.txt .venv/requirements.txt; then
  log "installing the old service's Python packages"
  rm -rf .venv && python3 -m venv .venv
  .venv/bin/pip install -q -r requirements.txt >&2
  cp requirements.txt .venv/
fi
cd "$DIR/node-oidc-provider"
if ! cmp -s package-lock.json node_modules/.installed-lock.json; then
  log "installing oidc-provider"
  npm ci --no-audit --no-fund >&2
  cp package-lock.json node_modules/.installed-lock.json
fi
cd "$DIR"

# Starts a server in the background (command in "$@", its log in $2.log) and waits until
# URL (on port $3) answers; sets pid.
start() {
  local name=$1 url=$2 port=$3; shift 3
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "port $port is in use; set OLD_PORT / NODE_PORT"
  "$@" >"$DIR/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || die "$name exited; see $DIR/$name.log"
    curl -s -o /dev/null "$url" && return
    sleep 0.2
  done
  die "$name did not answer in 20 s; see $DIR/$name.log"
}
stop() { kill "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

# wrk with 16 connections, on the cores in $1 ("" for unpinned), for $2 seconds with the
# script $3 (its done() prints a RESULT line) against $4; sets RATE (answers per second),
# or fails when any answer was an error.
measure() {
  local cpus=$1 seconds=$2 script=$3 url=$4 pin=() out result
  [ -z "$cpus" ] || pin=(taskset -c "$cpus")
  out=$("${pin[@]}" wrk -t1 -c16 -d"${seconds}s" --timeout 30s -s "$script" "$url")
  result=$(grep '^RESULT' <<<"$out") || die "no RESULT line from wrk $script: $out"
  log "$(basename "$script") ${cpus:+on core $cpus }$result"
  RATE=$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
         if (v["non2xx"] + v["timeouts"] + v["sock_err"] > 0) exit 1
         printf(v["rps"] < 100 ? "%.1f\n" : "%.0f\n", v["rps"]) }' <<<"$result" \
    ) || die "wrk $script against $url had errors: $result"
}

# The old service on core 0, a fresh SQLite database, one account.
rm -f old-service/old-service.db
start old-service "$OLD/docs" "$OLD_PORT" bash -c "cd old-service && exec taskset -c 0 .venv/bin/uvicorn app:app \
  --host 127.0.0.1 --port $OLD_PORT --no-access-log"
curl -fsS -X POST "$OLD/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"name\":\"Bench\",\"password\":\"$PASSWORD\"}" >/dev/null
TOKEN=$(curl -fsS -X POST "$OLD/api/v1/auth/token" --data-urlencode "username=$EMAIL" \
  --data-urlencode "password=$PASSWORD" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fsS -o /dev/null -H "authorization: Bearer $TOKEN" "$OLD/api/v1/auth/me"
export TOKEN EMAIL PASSWORD
measure 1 1 old-service/me.lua "$OLD/api/v1/auth/me"  # warm-up
measure 1 "$DURATION" old-service/me.lua "$OLD/api/v1/auth/me"
echo "old_me_per_s=$RATE"
measure 1 $((DURATION < 5 ? DURATION : 5)) old-service/token.lua "$OLD/api/v1/auth/token"
echo "old_password_per_s=$RATE"
stop "$pid"

# oidc-provider: client_credentials for `bench`; its default resource urn:api makes the
# access token an RS256 JWT.
cat >cc.lua <<EOF
-- client_credentials grants for oidc-provider's client bench (written by baselines.sh).
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:%s' "$SECRET" | base64 -w0)"
$(sed -n '/^function done/,$p' old-service/me.lua)
EOF
# oidc-provider on core 0 (wrk on core 1), or unpinned ("both"); sets RATE.
node_cc() {
  local cpus=$1 pin=() wrk_cpus=""
  [ "$cpus" = both ] || { pin=(taskset -c 0); wrk_cpus=1; }
  start node-oidc-provider "$NODE/.well-known/openid-configuration" "$NODE_PORT" \
    env PORT="$NODE_PORT" "${pin[@]}" node node-oidc-provider/server.mjs
  curl -fsS -u "bench:$SECRET" -d grant_type=client_credentials -d scope=api "$NODE/token" \
    | python3 -c 'import json,sys; t=json.load(sys.stdin)["access_token"]; assert t.count(".") == 2, t' \
    || die "oidc-provider gave no JWT access token"
  measure "$wrk_cpus" 1 cc.lua "$NODE/token"  # warm-up
  measure "$wrk_cpus" "$DURATION" cc.lua "$NODE/token"
  stop "$pid"
}
node_cc 0
echo "node_cc_one_core_per_s=$RATE"
node_cc both
echo "node_cc_two_cores_per_s=$RATE"
