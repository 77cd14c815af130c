#!/usr/bin/env bash
# Gatehouse benchmark: starts the release build on SQLite, then on PostgreSQL + Redis, and
# measures grants per second, latencies, CPU per request, memory, start-up time and Redis
# bytes per session, each beside its ceiling measured on the same cores (RSA-2048
# signatures with `openssl speed`, argon2id hashes with the `argon2` tool).
#
#   examples/benchmark/run.sh            # DURATION=10 seconds per measurement by default
#   SIGNING_ALG=ES256 examples/benchmark/run.sh   # the same with ECDSA P-256 keys
#
# Needs: wrk, argon2, openssl, curl, python3; for the second setup a PostgreSQL server
# (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) and Redis
# (BENCH_REDIS_URL, default redis://127.0.0.1:6379) plus psql and redis-cli.
# Other settings: CONNECTIONS (default 8), PORT (default 18080, must be free).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=examples/benchmark
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-8}
PG=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
CORES=$(nproc)
PORT=${PORT:-18080}
BASE=http://127.0.0.1:$PORT

cargo build --release --quiet
BIN=$PWD/target/release/gatehouse

echo "# Gatehouse benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $CORES cores, ${DURATION}s per run, $CONNECTIONS connections"
echo

# Ceilings on the same cores.
rsa=$(openssl speed -seconds 3 -multi "$CORES" rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $(NF-1)}')
argon_start=$(date +%s%N)
for _ in $(seq 1 "$CORES"); do
  (for _ in $(seq 1 40); do echo -n bench-password-123 | argon2 saltsaltsalt -id -t 2 -k 19456 -p 1 -e >/dev/null; done) &
done
wait
argon_end=$(date +%s%N)
argon=$(python3 -c "print(round($CORES*40/(($argon_end-$argon_start)/1e9)))")
echo "ceilings: RSA-2048 signatures/s = $rsa; argon2id (m=19456,t=2,p=1) hashes/s = $argon (the argon2 tool, process start-up included: a slight underestimate)"
echo

# Requests per second; refuses to report a run in which any answer was an error.
rate() {
  local out; out=$(cat)
  if echo "$out" | grep -q "Non-2xx"; then
    echo "ERROR: $(echo "$out" | awk '/Non-2xx/ {print $NF}') non-2xx answers" >&2
    echo 0
  else
    echo "$out" | awk '/Requests\/sec/ {print int($2)}'
  fi
}
percentile() { python3 -c "
import sys
for line in sys.stdin:
    parts = line.split()
    if len(parts) == 2 and parts[0] == '$1%': print(parts[1])"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
stop() { kill -TERM "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
rss() { awk "/^$2:/ {print \$2}" "/proc/$1/status"; }

run_setup() {
  local name=$1; shift
  local dir; dir=$(mktemp -d)
  local env=(env GATEHOUSE_LISTEN=127.0.0.1:$PORT GATEHOUSE_RATE_LIMITS=off GATEHOUSE_LOG_LEVEL=warn
             GATEHOUSE_SIGNING_ALG="${SIGNING_ALG:-RS256}"
             GATEHOUSE_KEYS_DIR="$dir/keys" "$@")
  (cd "$dir" && "${env[@]}" "$BIN" migrate >/dev/null)
  local secret; secret=$(cd "$dir" && "${env[@]}" "$BIN" client create --id bench --grant client_credentials --scope bench:read 2>/dev/null)
  # The first start generates the signing key; the second is an ordinary restart.
  local pid first_ms ready_ms
  read -r pid first_ms < <(cd "$dir" && "${env[@]}" python3 "$OLDPWD/$here/start.py" "$BIN" "$PORT" "$dir" "$dir/log")
  [ -n "${pid:-}" ] || { echo "gatehouse did not start; see $dir/log" >&2; exit 1; }
  stop "$pid"
  read -r pid ready_ms < <(cd "$dir" && "${env[@]}" python3 "$OLDPWD/$here/start.py" "$BIN" "$PORT" "$dir" "$dir/log")
  [ -n "${pid:-}" ] || { echo "gatehouse did not start; see $dir/log" >&2; exit 1; }
  sleep 1
  local idle_rss; idle_rss=$(rss "$pid" VmRSS)

  for i in $(seq 0 $((CONNECTIONS > 15 ? CONNECTIONS : 15))); do
    curl -fs -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
      -d "{\"email\":\"bench$i@example.com\",\"name\":\"Bench\",\"password\":\"bench-password-123\"}" >/dev/null
  done
  local tokens="$dir/tokens"
  for i in $(seq 1 "$CONNECTIONS"); do
    curl -fs -X POST "$BASE/oauth2/token" -d grant_type=password -d "username=bench$i@example.com" \
      -d password=bench-password-123 | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])' >>"$tokens"
  done
  local access; access=$(curl -fs -X POST "$BASE/oauth2/token" -d grant_type=password -d username=bench0@example.com \
    -d password=bench-password-123 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

  local before; before=$(cpu_ticks "$pid")
  local out; out=$(BENCH_BASIC=$(printf 'bench:%s' "$secret" | base64 -w0) wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s $here/client_credentials.lua "$BASE/oauth2/token")
  local cc; cc=$(echo "$out" | rate)
  local cc_requests; cc_requests=$(echo "$out" | awk '/requests in/ {print $1}')
  local cpu_us; cpu_us=$(python3 -c "print(round(($(cpu_ticks "$pid")-$before)/$(getconf CLK_TCK)*1e6/$cc_requests))")
  local refresh; refresh=$(BENCH_TOKENS_FILE=$tokens wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"${DURATION}s" -s $here/refresh.lua "$BASE" | rate)
  local password; password=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s $here/password.lua "$BASE" | rate)
  local me; me=$(wrk -t1 -c2 -d"${DURATION}s" --latency -H "authorization: Bearer $access" "$BASE/api/v1/auth/me")
  local jwks; jwks=$(wrk -t1 -c2 -d"${DURATION}s" --latency "$BASE/.well-known/jwks.json")
  local peak_rss; peak_rss=$(rss "$pid" VmHWM)

  echo "## $name"
  echo
  echo "| measure | result | ceiling / target |"
  echo "| --- | --- | --- |"
  echo "| client_credentials grants/s | $cc | $(python3 -c "print(f'{$cc/$rsa:.0%} of $rsa RSA signatures/s (load generator on the same cores)')") |"
  echo "| refresh grants/s ($CONNECTIONS connections, each its own token chain) | $refresh | $(python3 -c "print(f'{$refresh/$rsa:.0%} of the RSA ceiling')") |"
  echo "| password grants/s | $password | $(python3 -c "print(f'{$password/$argon:.0%} of $argon argon2id hashes/s')") |"
  echo "| Gatehouse CPU per client_credentials grant | ${cpu_us} µs | one RSA signature ≈ $(python3 -c "print(round(1e6/($rsa/$CORES)))") µs |"
  echo "| /me latency p50 / p99 (2 connections, closed loop) | $(echo "$me" | percentile 50) / $(echo "$me" | percentile 99) | p99 < 2 ms |"
  echo "| JWKS latency p50 / p99 (2 connections, closed loop) | $(echo "$jwks" | percentile 50) / $(echo "$jwks" | percentile 99) | p99 < 1 ms |"
  echo "| idle RSS | $((idle_rss / 1024)) MB | < 30 MB |"
  echo "| peak RSS | $((peak_rss / 1024)) MB | |"
  echo "| start to ready, first start (generates the signing key) | ${first_ms} ms | |"
  echo "| start to ready, restart (migrations applied) | ${ready_ms} ms | < 100 ms |"
  if [ -n "${BENCH_REDIS_PREFIX:-}" ]; then
    local key; key=$(redis-cli -u "$REDIS" --scan --pattern "$BENCH_REDIS_PREFIX:s:*" | awk 'NR == 1')
    echo "| Redis bytes per session record, without its refresh token (MEMORY USAGE) | $(redis-cli -u "$REDIS" memory usage "$key") | < 400 |"
  fi
  echo
  stop "$pid"
  rm -rf "$dir"
}

run_setup "SQLite, sessions in SQLite"
schema="bench_$$"
psql "$PG" -qc "CREATE SCHEMA $schema" >/dev/null
prefix="bench-$$"
BENCH_REDIS_PREFIX=$prefix run_setup "PostgreSQL + Redis" \
  GATEHOUSE_DATABASE_URL="$PG?options=-c%20search_path%3D$schema" \
  GATEHOUSE_REDIS_URL="$REDIS" GATEHOUSE_REDIS_KEY_PREFIX="$prefix"
psql "$PG" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
redis-cli -u "$REDIS" --scan --pattern "$prefix:*" | xargs -r redis-cli -u "$REDIS" del >/dev/null
