#!/usr/bin/env bash
# Builds `openclaw-data-plane` with profile-guided optimisation (PGO), the binary `docker/` ships:
#   1. an instrumented build (`production` profile plus `-Cprofile-generate`, its own target dir);
#   2. a training run: that binary proxies a mixed load to `bench-agent` over plain HTTP/1.1 (64
#      connections, then one), HTTPS and h2 (TLS 1.3): exact, prefix, regex, tag, semantic and
#      default routes, an API-key route, CORS, JSON and streamed (SSE) replies, access logs on and
#      off, plus /health and /metrics; then a clean SIGTERM;
#   3. `llvm-profdata merge` of the raw profiles (the rustup `llvm-tools` component: its LLVM is
#      rustc's own);
#   4. the final build with `-Cprofile-use`, into `<target>/pgo/production/openclaw-data-plane`.
# The profile is made from the source being built, every time, and never committed: a stale one
# would steer the optimiser by code that no longer exists.
#
#   tools/pgo/build.sh [--locked] [--train-seconds 6]
#
# Needs: wrk, h2load (nghttp2-client), curl, openssl, and `rustup component add llvm-tools`.
# It listens only on 127.0.0.1, bounds every run, stops what it started, and prints the final
# binary's path on stdout.
set -euo pipefail

CARGO_FLAGS=()
TRAIN=6
while [[ $# -gt 0 ]]; do
    case "$1" in
        --locked|--frozen|--offline) CARGO_FLAGS+=("$1"); shift ;;
        --train-seconds) TRAIN="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$TRAIN" =~ ^[1-9][0-9]*$ ]] || { echo "--train-seconds must be a positive integer" >&2; exit 2; }

missing=()
for tool in cargo rustc wrk h2load curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "missing: ${missing[*]} (e.g. apt-get install -y wrk nghttp2-client curl openssl)" >&2
    exit 1
fi
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
if [[ ! -x "$PROFDATA" ]]; then
    echo "missing: $PROFDATA (llvm-profdata matching rustc's LLVM): rustup component add llvm-tools" >&2
    exit 1
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PGO_DIR="$TARGET_DIR/pgo-profiles"
RAW="$PGO_DIR/raw"
build() { # target-dir extra-rustflags package binary
    local flags=${RUSTFLAGS:-}
    [[ -z "$2" ]] || flags="${flags:+$flags }$2"
    echo "pgo: building $4 in $1${2:+ with $2} (a few minutes)…" >&2
    (
        if [[ -n "$flags" ]]; then export RUSTFLAGS="$flags"; fi
        cargo build --profile production --quiet "${CARGO_FLAGS[@]}" \
            --manifest-path "$ROOT/Cargo.toml" --target-dir "$1" -p "$3" --bin "$4"
    )
}

# --- 1. the instrumented data plane, and the (uninstrumented) agent it is trained against ---------
rm -rf "$RAW"
mkdir -p "$RAW"
build "$TARGET_DIR/pgo-generate" "-Cprofile-generate=$RAW" openclaw-data-plane openclaw-data-plane
build "$TARGET_DIR" "" openclaw-e2e bench-agent
DP_BIN="$TARGET_DIR/pgo-generate/production/openclaw-data-plane"
AGENT_BIN="$TARGET_DIR/production/bench-agent"

# --- 2. training -------------------------------------------------------------------------------
# shellcheck source=tools/sandbox.sh
source "$ROOT/tools/sandbox.sh"
sandbox_start openclaw-pgo

free_port AGENT_PORT
"$AGENT_BIN" --listen "127.0.0.1:$AGENT_PORT" >"$TMP/agent.log" 2>&1 &
PIDS+=("$!")
wait_http "http://127.0.0.1:$AGENT_PORT/health" "bench-agent"

self_signed_cert

# The training's API key, and its hash for `gateway.auth.apiKeys`.
API_KEY="pgo-training-key"
KEY_HASH="sha256:$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)"
dp_config() { # port http-extra log-level
cat <<EOF
{"gateway": {
  "http": {"listen": "127.0.0.1:$1"$2,
    "cors": {"allowedOrigins": ["https://app.example"], "allowedMethods": ["GET", "POST"],
             "allowedHeaders": ["content-type", "authorization"]}},
  "logging": {"level": "$3", "format": "json"},
  "auth": {"apiKeys": [{"id": "training", "keyHash": "$KEY_HASH"}]},
  "agents": {
    "discovery": {"method": "static", "static": [
      {"id": "agent-chat", "endpoint": "http://127.0.0.1:$AGENT_PORT", "weight": 100, "tags": ["ai"]},
      {"id": "agent-code", "endpoint": "http://127.0.0.1:$AGENT_PORT", "weight": 100, "tags": ["ai"]}
    ]},
    "healthCheck": {"enabled": true, "path": "/health", "interval": "1s", "timeout": "1s"},
    "connectionPool": {"maxIdleConns": 100, "maxIdleConnsPerHost": 64, "idleTimeout": "90s"}
  },
  "routing": {"rules": [
    {"name": "code", "match": {"type": "exact", "pattern": "/api/v1/code/review"}, "methods": ["POST"], "target": "agent-code", "loadBalancing": {"strategy": "weightedRoundRobin"}},
    {"name": "chat", "match": {"type": "prefix", "pattern": "/api/v1/chat/*"}, "target": "agent-chat"},
    {"name": "admin", "match": {"type": "prefix", "pattern": "/api/v1/admin"}, "target": "agent-code", "requiresAuth": true, "loadBalancing": {"strategy": "leastConnections"}},
    {"name": "data", "match": {"type": "regex", "pattern": "^/api/v1/data/[a-z]+/[0-9]+$"}, "target": "tag:ai", "loadBalancing": {"strategy": "adaptive", "adaptive": {"metrics": ["cpu", "latency", "queue_depth"], "updateInterval": "1s", "historyWindow": "10s"}}},
    {"name": "chat-route", "match": {"type": "semantic", "threshold": 0.82, "categories": ["conversation", "qa", "general"]}, "target": "agent-chat", "fallback": "agent-code", "loadBalancing": {"strategy": "ringHash", "hashOn": "body:session_id"}},
    {"name": "code-route", "match": {"type": "semantic", "threshold": 0.78, "categories": ["code", "programming", "debug"]}, "target": "agent-code", "loadBalancing": {"strategy": "peakEwma"}},
    {"name": "other", "match": {"type": "default"}, "target": "tag:ai", "fallback": "agent-code", "loadBalancing": {"strategy": "stickyCookie"}}
  ]}
}}
EOF
}

# Each wrk connection sends these in turn: chat POSTs with a JSON and a streamed (SSE) reply, a POST
# on an exact route, a GET on a regex route with a tag target, two POSTs routed by meaning (Chinese
# and English), an authenticated GET, a CORS preflight, and a cross-origin GET to the default route.
# The rules balance by round robin (chat, the default), weightedRoundRobin, leastConnections,
# adaptive, ringHash on a body field, peakEwma and stickyCookie, so the profile covers them too.
cat >"$TMP/mix.lua" <<EOF
local reqs = {}
local i = 0
function init(args)
    local json = { ["Content-Type"] = "application/json" }
    reqs[1] = wrk.format("POST", "/api/v1/chat", json,
        '{"message": "请帮我优化这段代码的性能", "agent": "agent-chat-001", "stream": false}')
    reqs[2] = wrk.format("POST", "/api/v1/chat/stream", json, '{"message": "hello", "stream": true}')
    reqs[3] = wrk.format("POST", "/api/v1/code/review", json, '{"code": "fn main() {}"}')
    reqs[4] = wrk.format("GET", "/api/v1/data/items/42", { ["Accept"] = "application/json" })
    reqs[5] = wrk.format("POST", "/api/v1/ask", json, '{"message": "帮我写一个快速排序的Python函数"}')
    reqs[6] = wrk.format("POST", "/api/v1/ask", json,
        '{"message": "What is a good way to spend a rainy afternoon?", "session_id": "conv-42"}')
    reqs[7] = wrk.format("GET", "/api/v1/admin/users", { ["Authorization"] = "Bearer $API_KEY" })
    reqs[8] = wrk.format("OPTIONS", "/api/v1/chat", { ["Origin"] = "https://app.example",
        ["Access-Control-Request-Method"] = "POST", ["Access-Control-Request-Headers"] = "content-type" })
    reqs[9] = wrk.format("GET", "/status", { ["Origin"] = "https://app.example" })
end
function request()
    i = i % #reqs + 1
    return reqs[i]
end
EOF
printf '%s' '{"message": "hello over h2", "stream": false}' >"$TMP/body.json"

train() { # name config-extra scheme worker-threads log-level, then the load command and its args
    local name=$1 extra=$2 scheme=$3 workers=$4 level=$5 port pid base
    free_port port
    dp_config "$port" "$extra" "$level" >"$TMP/$name.json"
    OPENCLAW_GLOBAL_CONFIG="$TMP/$name.json" OPENCLAW_USER_CONFIG= \
        "$DP_BIN" --config.performance.workerThreads="$workers" >"$TMP/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    base="$scheme://127.0.0.1:$port"
    wait_http "$base/ready" "the instrumented data plane ($name)"
    wait_http "$base/api/v1/chat" "the instrumented data plane ($name, proxying)"
    echo "pgo: training ($name)…" >&2
    shift 5
    "$@" "$base"
    for _ in $(seq 20); do
        curl -sk -o /dev/null --max-time 2 "$base/health"
        curl -sk -o /dev/null --max-time 2 "$base/metrics"
    done
    # The profile is written when the process exits normally: a clean SIGTERM shutdown.
    kill -TERM "$pid"
    wait "$pid" || { echo "the instrumented data plane ($name) did not exit cleanly:" >&2; tail -n 20 "$TMP/$name.log" >&2; exit 1; }
}
load_plain() {
    wrk -t1 -c64 -d"${TRAIN}s" -s "$TMP/mix.lua" "$1/" >"$TMP/wrk-c64.txt"
    wrk -t1 -c1 -d"$(( (TRAIN + 1) / 2 ))s" -s "$TMP/mix.lua" "$1/" >"$TMP/wrk-c1.txt"
}
load_tls() {
    wrk -t1 -c32 -d"$(( (TRAIN + 1) / 2 ))s" -s "$TMP/mix.lua" "$1/" >"$TMP/wrk-tls.txt"
    h2load -t1 -c8 -m8 -D "$(( (TRAIN + 1) / 2 ))" -d "$TMP/body.json" \
        -H 'content-type: application/json' "$1/api/v1/chat" >"$TMP/h2load.txt"
    if ! grep -q '^Application protocol: h2$' "$TMP/h2load.txt" \
        || ! grep -qE ' [1-9][0-9]* succeeded, 0 failed, 0 errored, 0 timeout' "$TMP/h2load.txt"; then
        echo "the h2 training load did not negotiate h2 or saw errors:" >&2
        tail -n 20 "$TMP/h2load.txt" >&2
        exit 1
    fi
}
# Plain HTTP with one worker thread and access logs off, TLS with one worker per core and a JSON
# access log line per request: both shapes are common in production.
train plain "" http 1 warn load_plain
train tls ", \"tls\": {\"enabled\": true, \"cert\": \"$TMP/cert.pem\", \"key\": \"$TMP/key.pem\"}" \
    https "$(nproc)" info load_tls
for f in "$TMP"/wrk-*.txt; do
    if grep -qE 'Socket errors|Non-2xx' "$f"; then
        echo "the training load saw errors ($f):" >&2
        cat "$f" >&2
        exit 1
    fi
done

# --- 3. merge ----------------------------------------------------------------------------------
shopt -s nullglob
raws=("$RAW"/*.profraw)
[[ ${#raws[@]} -gt 0 ]] || { echo "the training wrote no profile into $RAW" >&2; exit 1; }
"$PROFDATA" merge -o "$PGO_DIR/merged.profdata" "${raws[@]}"
# The file's name carries its hash, so cargo sees new RUSTFLAGS (and rebuilds) when it changes.
SUM=$(sha256sum "$PGO_DIR/merged.profdata" | cut -c1-16)
PROFILE="$PGO_DIR/data-plane-$SUM.profdata"
find "$PGO_DIR" -maxdepth 1 -name 'data-plane-*.profdata' ! -name "${PROFILE##*/}" -delete
mv "$PGO_DIR/merged.profdata" "$PROFILE"

# --- 4. the optimised build --------------------------------------------------------------------
build "$TARGET_DIR/pgo" "-Cprofile-use=$PROFILE" openclaw-data-plane openclaw-data-plane
echo "$TARGET_DIR/pgo/production/openclaw-data-plane"
