#!/usr/bin/env bash
# Gatehouse benchmark: starts the release build on SQLite, then on PostgreSQL + Redis, and
# measures grants per second, latencies at a fixed rate, Gatehouse's CPU per request,
# memory, start-up time and Redis bytes per session, each beside its ceiling measured in
# the same run on the same cores (RSA-2048 and P-256 signatures, argon2id hashes, by
# `examples/loadgen.rs` with the libraries Gatehouse uses). Grants are measured with RS256
# and with ES256 keys.
#
#   examples/benchmark/run.sh            # DURATION=10 seconds per measurement by default
#
# Needs: wrk, curl, python3 (Debian packages); for the second setup a PostgreSQL server
# (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) and Redis
# (BENCH_REDIS_URL, default redis://127.0.0.1:6379) plus psql and redis-cli.
# Other settings: CONNECTIONS (default 8), PORT (default 18080; it and PORT+1, where the
# latency floor server listens, must be free), LOW_RATE (default 1000 requests/s, the
# second fixed rate for latency), GROWTH_SIZES (default "1000 100000 1000000": accounts
# with a session each in the store for "how cost grows", seeded in turn), MFA_ACCOUNTS (default 100 per connection: accounts with
# TOTP, each signing in once with both steps), PAGES (default 2000: enrollment pages with
# their QR code).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=examples/benchmark
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-8}
PG=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
CORES=$(nproc)
TCK=$(getconf CLK_TCK)
PORT=${PORT:-18080}
BASE=http://127.0.0.1:$PORT
LOW_RATE=${LOW_RATE:-1000}
MFA_ACCOUNTS=${MFA_ACCOUNTS:-$((CONNECTIONS * 100))}
PAGES=${PAGES:-2000}
GROWTH_SIZES=${GROWTH_SIZES:-1000 100000 1000000}
FLOOR=http://127.0.0.1:$((PORT + 1))/

cargo build --release --quiet --bin gatehouse --example loadgen
BIN=$PWD/target/release/gatehouse
LOADGEN=$PWD/target/release/examples/loadgen

echo "# Gatehouse benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $CORES cores, ${DURATION}s per run, $CONNECTIONS connections"
echo

# Ceilings on the same cores, in process: ceiling_rsa2048_signatures_per_s,
# ceiling_p256_signatures_per_s, ceiling_argon2id_hashes_per_s.
eval "$("$LOADGEN" ceilings --seconds 3 | sed 's/^/ceiling_/')"
"$LOADGEN" serve --port $((PORT + 1)) &
floor_pid=$!
trap 'kill $floor_pid 2>/dev/null || true' EXIT
rsa=$ceiling_rsa2048_signatures_per_s
p256=$ceiling_p256_signatures_per_s
argon=$ceiling_argon2id_hashes_per_s
echo "Ceilings on $CORES cores: RSA-2048 $rsa signatures/s, P-256 $p256 signatures/s, argon2id (m=19456, t=2, p=1) $argon hashes/s."
# In process, one core, Gatehouse's own code: totp_check_us, qr_svg_us, qr_svg_crate_us.
eval "$("$LOADGEN" second-factor --seconds 2)"
echo "In process on one core: a TOTP code checked (secret unsealed, steps computed) in $totp_check_us µs; an enrollment's QR code drawn as SVG in $qr_svg_us µs (the qrcode crate's own mask choice and SVG: $qr_svg_crate_us µs)."
echo

py() { python3 -c "print($1)"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
stop() { kill -TERM "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
rss_mb() { awk "/^$1:/ {print int(\$2/1024)}" "/proc/$pid/status"; }

# Runs a load command against the server `pid`; sets OUT (its output), RATE (answers/s; 0
# and a message when any answer was an error) and CPU_US (Gatehouse CPU per request).
load() {
  local before; before=$(cpu_ticks)
  OUT=$("$@")
  local after; after=$(cpu_ticks)
  local n
  if echo "$OUT" | grep -q '^requests='; then
    n=$(echo "$OUT" | awk -F= '/^requests=/ {print $2}')
    RATE=$(echo "$OUT" | awk -F= '/^rate_per_s=/ {print $2}')
  else
    n=$(echo "$OUT" | awk '/requests in/ {print $1}')
    RATE=$(echo "$OUT" | awk '/Requests\/sec/ {print int($2)}')
    if echo "$OUT" | grep -q "Non-2xx"; then
      echo "ERROR: $(echo "$OUT" | awk '/Non-2xx/ {print $NF}') non-2xx answers in: $*" >&2
      RATE=0
    fi
  fi
  CPU_US=$(py "round(($after-$before)/$TCK*1e6/max($n,1))")
}
at() { echo "$OUT" | awk -F= "/^$1=/ {print \$2}"; }

# Starts the server (sets pid, READY_MS); settings in the array `env`.
start() {
  local line
  line=$(cd "$dir" && "${env[@]}" python3 "$OLDPWD/$here/start.py" "$BIN" "$PORT" "$dir" "$dir/log") \
    || { echo "gatehouse did not start; see $dir/log" >&2; exit 1; }
  read -r pid READY_MS <<<"$line"
}

# Refresh tokens, one per connection, in $dir/tokens, of bench<i><$1>@example.com.
sign_in() {
  : >"$dir/tokens"
  for i in $(seq 1 "$CONNECTIONS"); do
    curl -fs -X POST "$BASE/oauth2/token" -d grant_type=password -d "username=bench$i${1:-}@example.com" \
      -d password=bench-password-123 | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])' >>"$dir/tokens"
  done
}

# The authorization code flow, code asked for and exchanged, by a signed-in browser with
# the first-party public client bench-app; sets RATE (flows/s) and CPU_US (per flow).
code_flow() {
  local verifier=bench-verifier-0123456789-0123456789-0123456789
  local challenge cb=https%3A%2F%2Fapp.example.com%2Fcb
  challenge=$(python3 -c 'import base64, hashlib, sys
print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b"=").decode())' "$verifier")
  load env BENCH_COOKIE="$(python3 $here/browser.py "$BASE" bench0@example.com bench-password-123)" \
    BENCH_AUTHORIZE_PATH="/oauth2/authorize?response_type=code&client_id=bench-app&redirect_uri=$cb&scope=openid&state=s&code_challenge=$challenge&code_challenge_method=S256" \
    BENCH_EXCHANGE_BODY="grant_type=authorization_code&client_id=bench-app&redirect_uri=$cb&code_verifier=$verifier" \
    wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"${DURATION}s" -s $here/code_flow.lua "$BASE"
  if [ "$(at failures)" != 0 ]; then
    echo "ERROR: $(at failures) failed steps in the code flow" >&2
    RATE=0
  fi
}

# client_credentials, refresh grants and code flows:
# "<cc/s> <cc µs> <refresh/s> <refresh µs> <flows/s> <flow µs>".
grants() {
  load env BENCH_BASIC="$(printf 'bench:%s' "$secret" | base64 -w0)" \
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s $here/client_credentials.lua "$BASE/oauth2/token"
  local cc=$RATE cc_us=$CPU_US
  sign_in
  load env BENCH_TOKENS_FILE="$dir/tokens" \
    wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"${DURATION}s" -s $here/refresh.lua "$BASE"
  local refresh=$RATE refresh_us=$CPU_US
  code_flow
  echo "$cc $cc_us $refresh $refresh_us $RATE $CPU_US"
}

# A row for grants/s against a signature ceiling: rate, % of the ceiling, CPU per grant and
# what share of it its signatures are (the ceiling for the cores Gatehouse got); a code
# flow signs two tokens (access and ID token).
grant_row() {
  local label=$1 rate=$2 us=$3 ceiling=$4 signatures=${5:-1}
  local signature_us; signature_us=$(py "round($CORES*1e6/$ceiling)")
  local share="one signature: $signature_us µs"
  [ "$signatures" = 1 ] || share="$signatures signatures: $((signatures * signature_us)) µs"
  echo "| $label | $rate | $(py "f'{$rate*$signatures/$ceiling:.0%}'") | $us µs | $(py "f'{$signatures*$signature_us/max($us,1):.0%}'") ($share) |"
}

# p50 / p99 / max of `loadgen rate` at a rate, with the p99 of the latency floor (a server
# that only answers 200) at the same rate in brackets; Gatehouse's CPU per request goes to
# $dir/cpu_us.
at_rate() {
  local url=$1 rate=$2; shift 2
  load "$LOADGEN" rate "$url" --rate "$rate" --seconds "$DURATION" "$@"
  echo "$CPU_US" >"$dir/cpu_us"
  at p99_ms >"$dir/p99_ms"
  local result; result="$(at p50_ms) / $(at p99_ms) / $(at max_ms) ms"
  OUT=$("$LOADGEN" rate "$FLOOR" --rate "$rate" --seconds "$DURATION")
  echo "$result (floor p99 $(at p99_ms) ms)"
}

# Closed-loop maximum with wrk, then latency at half that rate and at LOW_RATE, open loop.
latency_row() {
  local label=$1 url=$2; shift 2
  load wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$@" "$url"
  local max=$RATE
  local headers=(); [ $# -gt 0 ] && headers=(--header "$2")
  local half; half=$(at_rate "$url" $((max / 2)) "${headers[@]}")
  local cpu; cpu=$(cat "$dir/cpu_us")
  local low; low=$(at_rate "$url" "$LOW_RATE" "${headers[@]}")
  echo "| $label | $max/s | $((max / 2))/s: $half | $LOW_RATE/s: $low | $cpu µs |"
}

# A new folder and database for a server (sets dir and env; extra settings in "$@").
fresh_setup() {
  dir=$(mktemp -d)
  env=(env GATEHOUSE_LISTEN=127.0.0.1:$PORT GATEHOUSE_RATE_LIMITS=off GATEHOUSE_LOG_LEVEL=warn
       GATEHOUSE_KEYS_DIR="$dir/keys" "$@")
  (cd "$dir" && "${env[@]}" "$BIN" migrate >/dev/null)
}

run_setup() {
  local name=$1; shift
  fresh_setup "$@"
  secret=$(cd "$dir" && "${env[@]}" "$BIN" client create --id bench --grant client_credentials --scope bench:read 2>/dev/null)
  (cd "$dir" && "${env[@]}" "$BIN" client create --id bench-app --public --first-party \
    --redirect-uri https://app.example.com/cb >/dev/null 2>&1)
  # The first start generates the signing key; the second is an ordinary restart.
  start; local first_ms=$READY_MS; stop "$pid"
  start; local ready_ms=$READY_MS
  sleep 1
  local idle_rss; idle_rss=$(rss_mb VmRSS)

  for i in $(seq 0 $((CONNECTIONS > 15 ? CONNECTIONS : 15))); do
    curl -fs -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
      -d "{\"email\":\"bench$i@example.com\",\"name\":\"Bench\",\"password\":\"bench-password-123\"}" >/dev/null
  done
  local access; access=$(curl -fs -X POST "$BASE/oauth2/token" -d grant_type=password -d username=bench0@example.com \
    -d password=bench-password-123 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

  local rs256; rs256=$(grants)
  load wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s $here/password.lua "$BASE"
  local password=$RATE password_us=$CPU_US
  # Sign-ins with TOTP: accounts prepared (not measured), then both steps, each measured.
  CONNECTIONS=$CONNECTIONS python3 $here/second_factor.py prepare "$BASE" "$MFA_ACCOUNTS" "$dir/mfa.json" >/dev/null
  load env CONNECTIONS="$CONNECTIONS" python3 $here/second_factor.py first "$BASE" "$dir/mfa.json" "$dir/mfa_tokens.json"
  local mfa_first=$RATE mfa_first_us=$CPU_US
  load env CONNECTIONS="$CONNECTIONS" python3 $here/second_factor.py second "$BASE" "$dir/mfa.json" "$dir/mfa_tokens.json"
  local mfa_second=$RATE mfa_second_us=$CPU_US
  load python3 $here/second_factor.py page "$BASE" "$PAGES"
  local qr_page=$RATE qr_page_us=$CPU_US
  local me; me=$(latency_row "/me" "$BASE/api/v1/auth/me" -H "authorization: Bearer $access")
  local me_p99; me_p99=$(cat "$dir/p99_ms")
  local jwks; jwks=$(latency_row "JWKS" "$BASE/.well-known/jwks.json")
  local peak_rss; peak_rss=$(rss_mb VmHWM)
  local redis_rows=""
  if [ -n "${BENCH_REDIS_PREFIX:-}" ]; then
    redis_rows=$(python3 "$here/redis_bytes.py" "$REDIS" "$BENCH_REDIS_PREFIX")
  fi
  # Hashing threads end after 10 s without work, and their argon2 memory with them.
  sleep 12
  local idle_after; idle_after=$(rss_mb VmRSS)
  stop "$pid"

  # The same grants with ECDSA P-256 keys.
  env+=(GATEHOUSE_SIGNING_ALG=ES256 GATEHOUSE_KEYS_DIR="$dir/keys-es256")
  start
  local es256; es256=$(grants)
  stop "$pid"

  local cc cc_us refresh refresh_us flows flow_us
  local flow="code flows (authorize + exchange, $CONNECTIONS browsers)"
  echo "## $name"
  echo
  echo "| grants | per second | of the $CORES-core ceiling | Gatehouse CPU per grant | its signatures' share of it (target ≥ 85 %) |"
  echo "| --- | --- | --- | --- | --- |"
  read -r cc cc_us refresh refresh_us flows flow_us <<<"$rs256"
  grant_row "client_credentials, RS256" "$cc" "$cc_us" "$rsa"
  grant_row "refresh ($CONNECTIONS token chains), RS256" "$refresh" "$refresh_us" "$rsa"
  grant_row "$flow, RS256" "$flows" "$flow_us" "$rsa" 2
  summary+=("| /me p99 at $LOW_RATE requests/s, $name | $me_p99 ms | < 2 ms |")
  summary+=("| refresh grants / client_credentials grants, $name | $(py "f'{$refresh/max($cc,1):.2f}'") ($refresh/s, $cc/s) | ≥ 0.7 |")
  summary+=("| client_credentials RS256, $name: one signature's share of Gatehouse's CPU per grant | $(py "f'{$CORES*1e6/$rsa/max($cc_us,1):.0%}'") ($cc_us µs) | ≥ 90 % |")
  read -r cc cc_us refresh refresh_us flows flow_us <<<"$es256"
  summary+=("| client_credentials ES256, $name: Gatehouse CPU per grant | $cc_us µs (one signature: $(py "round($CORES*1e6/$p256)") µs) | ≤ 70 µs |")
  grant_row "client_credentials, ES256" "$cc" "$cc_us" "$p256"
  grant_row "refresh ($CONNECTIONS token chains), ES256" "$refresh" "$refresh_us" "$p256"
  grant_row "$flow, ES256" "$flows" "$flow_us" "$p256" 2
  echo
  echo "| password grants | per second | of the argon2id ceiling (target ≥ 90 %) | Gatehouse CPU per grant | one hash's share of it |"
  echo "| --- | --- | --- | --- | --- |"
  local hash_us; hash_us=$(py "round($CORES*1e6/$argon)")
  echo "| password, RS256 | $password | $(py "f'{$password/$argon:.0%}'") | $password_us µs | $(py "f'{$hash_us/max($password_us,1):.0%}'") (one hash: $hash_us µs) |"
  echo
  local signature_us; signature_us=$(py "round($CORES*1e6/$rsa)")
  echo "| with a second factor ($MFA_ACCOUNTS accounts, $CONNECTIONS at a time) | per second | Gatehouse CPU per request | compared with |"
  echo "| --- | --- | --- | --- |"
  echo "| password step: 403 mfa_required, the sign-in kept waiting | $mfa_first | $mfa_first_us µs | the password grant: $password_us µs |"
  echo "| code step: the mfa-otp grant (code checked, session started, token signed) | $mfa_second | $mfa_second_us µs | one signature: $signature_us µs; a refresh grant: $(echo "$rs256" | awk '{print $4}') µs |"
  echo "| the whole sign-in, both steps | | $((mfa_first_us + mfa_second_us)) µs | one hash and one signature: $((hash_us + signature_us)) µs |"
  echo "| the account's enrollment page with its QR code (a wrong first code shows it again; $PAGES pages, one browser) | $qr_page | $qr_page_us µs | target: under 1 ms |"
  echo
  echo "| latency | closed-loop maximum | p50 / p99 / max at half the maximum (target p99: /me < 2 ms, JWKS < 1 ms) | p50 / p99 / max at a low rate | Gatehouse CPU per request (at half the maximum) |"
  echo "| --- | --- | --- | --- | --- |"
  echo "$me"
  echo "$jwks"
  echo
  echo "| measure | result | target |"
  echo "| --- | --- | --- |"
  echo "| idle RSS, 1 s after start | $idle_rss MB | < 30 MB |"
  echo "| idle RSS, 12 s after the load | $idle_after MB | |"
  echo "| peak RSS | $peak_rss MB | |"
  echo "| start to ready, first start (generates the signing key) | ${first_ms} ms | |"
  echo "| start to ready, restart (migrations applied) | ${ready_ms} ms | < 100 ms |"
  [ -z "$redis_rows" ] || echo "$redis_rows"
  echo
  rm -rf "$dir"
}

summary=()
run_setup "SQLite, sessions in SQLite"
schema="bench_$$"
psql "$PG" -qc "CREATE SCHEMA $schema" >/dev/null
prefix="bench-$$"
BENCH_REDIS_PREFIX=$prefix run_setup "PostgreSQL + Redis" \
  GATEHOUSE_DATABASE_URL="$PG?options=-c%20search_path%3D$schema" \
  GATEHOUSE_REDIS_URL="$REDIS" GATEHOUSE_REDIS_KEY_PREFIX="$prefix"
psql "$PG" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
redis-cli -u "$REDIS" --scan --pattern "$prefix:*" | xargs -r redis-cli -u "$REDIS" del >/dev/null

# Side by side with the baselines (../shared/baselines): the old service's /me and
# oidc-provider's client_credentials grants, measured by baselines.sh, and Gatehouse on
# SQLite measured the same way in the same run (wrk -t1 -c16; for one core each, the
# server pinned to core 0 and wrk to core 1, as baselines.sh pins them).
eval "$(DURATION=$DURATION $here/baselines.sh)"
fresh_setup
secret=$(cd "$dir" && "${env[@]}" "$BIN" client create --id bench --grant client_credentials 2>/dev/null)
env=(taskset -c 0 "${env[@]}")
start
curl -fs -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","name":"Bench","password":"bench-password-123"}' >/dev/null
access=$(curl -fs -X POST "$BASE/oauth2/token" -d grant_type=password -d username=bench@example.com \
  -d password=bench-password-123 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
taskset -c 1 wrk -t1 -c16 -d1s -H "authorization: Bearer $access" "$BASE/api/v1/auth/me" >/dev/null
load taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" -H "authorization: Bearer $access" "$BASE/api/v1/auth/me"
me_one_core=$RATE
stop "$pid"
env=("${env[@]:3}")
start
load env BENCH_BASIC="$(printf 'bench:%s' "$secret" | base64 -w0)" \
  wrk -t1 -c16 -d"${DURATION}s" -s $here/client_credentials.lua "$BASE/oauth2/token"
cc_two_cores=$RATE
load env BENCH_BASIC="$(printf 'bench:%s' "$secret" | base64 -w0)" \
  taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" -s $here/client_credentials.lua "$BASE/oauth2/token"
stop "$pid"
env=(taskset -c 0 "${env[@]}")
start
load env BENCH_BASIC="$(printf 'bench:%s' "$secret" | base64 -w0)" \
  taskset -c 1 wrk -t1 -c16 -d"${DURATION}s" -s $here/client_credentials.lua "$BASE/oauth2/token"
cc_one_core=$RATE
stop "$pid"
rm -rf "$dir"
summary=("| \`GET /api/v1/auth/me\`, one core each, against the old FastAPI service (\`wrk -c16\`) | $me_one_core/s vs $old_me_per_s/s: $(py "f'{$me_one_core/$old_me_per_s:.1f}'")× | ≥ 20× |" "${summary[@]}")
summary+=("| client_credentials against node-oidc-provider, side by side on both cores (shared with wrk) | $cc_two_cores/s vs $node_cc_two_cores_per_s/s: $(py "f'{$cc_two_cores/$node_cc_two_cores_per_s:.1f}'")× | ≥ 2.5× (the RSA ceiling: $(py "f'{$rsa/$node_cc_two_cores_per_s:.1f}'")×) |")
summary+=("| client_credentials against node-oidc-provider, one core each | $cc_one_core/s vs $node_cc_one_core_per_s/s: $(py "f'{$cc_one_core/$node_cc_one_core_per_s:.1f}'")× | |")
echo "## Side by side, and the performance targets"
echo
echo "The old service's password grant (bcrypt, one core): $old_password_per_s/s."
echo
echo "| what | this run | target |"
echo "| --- | --- | --- |"
printf '%s\n' "${summary[@]}"
echo

# How cost grows: refresh grants/s and /me p99 at LOW_RATE with GROWTH_SIZES accounts
# (each with one session) in the store, seeded through Gatehouse's own stores.
growth() {
  local name=$1; shift
  fresh_setup "$@"
  local seeded=0 size rows=()
  for size in $GROWTH_SIZES; do
    OUT=$(cd "$dir" && "${env[@]}" "$LOADGEN" seed --from "$seeded" --count $((size - seeded)))
    local seed_rate; seed_rate=$(at seeded_per_s)
    seeded=$size
    start
    for i in $(seq 1 "$CONNECTIONS"); do
      curl -fs -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
        -d "{\"email\":\"bench$i-$size@example.com\",\"name\":\"Bench\",\"password\":\"bench-password-123\"}" >/dev/null
    done
    sign_in "-$size"
    local access; access=$(curl -fs -X POST "$BASE/oauth2/token" -d grant_type=password \
      -d "username=bench1-$size@example.com" -d password=bench-password-123 \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    load env BENCH_TOKENS_FILE="$dir/tokens" \
      wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"${DURATION}s" -s $here/refresh.lua "$BASE"
    local refresh=$RATE refresh_us=$CPU_US
    local me; me=$(at_rate "$BASE/api/v1/auth/me" "$LOW_RATE" --header "authorization: Bearer $access")
    rows+=("| $name | $size | $refresh/s ($refresh_us µs) | $me | $seed_rate/s |")
    stop "$pid"
  done
  printf '%s\n' "${rows[@]}"
  rm -rf "$dir"
}
echo "## How cost grows"
echo
echo "| setup | accounts, each with a session | refresh grants ($CONNECTIONS token chains; Gatehouse CPU per grant) | /me at $LOW_RATE/s: p50 / p99 / max | seeding rate |"
echo "| --- | --- | --- | --- | --- |"
growth "SQLite"
schema="bench_growth_$$"
psql "$PG" -qc "CREATE SCHEMA $schema" >/dev/null
prefix="bench-growth-$$"
growth "PostgreSQL + Redis" \
  GATEHOUSE_DATABASE_URL="$PG?options=-c%20search_path%3D$schema" \
  GATEHOUSE_REDIS_URL="$REDIS" GATEHOUSE_REDIS_KEY_PREFIX="$prefix"
psql "$PG" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
redis-cli -u "$REDIS" --scan --pattern "$prefix:*" | xargs -r -n 1000 redis-cli -u "$REDIS" del >/dev/null
