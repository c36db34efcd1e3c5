#!/usr/bin/env bash
# Proxy load benchmark: the same agent reached directly, through nginx, and through the OpenClaw data
# plane, interleaved in one run (each proxy on its own pinned core). nginx runs twice over:
# as a bare reverse proxy (the baseline of the targets) and as "nginx-same", configured to do the
# gateway's per-request header work too (X-Forwarded-For/-Proto/-Host, Via both ways, an x-request-id
# taken from the client or generated, sent to the agent and returned, a route header), so the cost of
# that work can be told apart from the cost of the proxy itself.
#
#   bench/proxy.sh [--rounds 3] [--duration 10] [--warmup 2] [--connections 64] [--idle-conns 6000]
#                  [--no-pgo] [--no-build] [--baseline-bin PATH] [--baseline-flags "FLAGS"] [--plain-only]
#
# - the data plane measured is the one `docker/` ships: the `production` profile built with
#   profile-guided optimisation by tools/pgo/build.sh (its training run is a different, mixed load);
#   `--no-pgo` measures the plain `production` build instead; `--no-build` reuses what was built;
# - the agent (tests/src/bin/bench-agent.rs: keep-alive HTTP/1.1, fixed ~200-byte JSON, one thread) and
#   the load generator run on core 0; each proxy runs alone on core 1 with one worker;
# - per round and target: a warm-up, then `wrk -t1 -cC` with a small JSON POST; each proxy's CPU time
#   (utime+stime from /proc/PID/stat) before and after gives CPU µs per request;
# - then the same over HTTPS (TLS 1.3 only, self-signed ECDSA P-256, keep-alive: wrk, HTTP/1.1) and over
#   h2 (TLS 1.3, ALPN h2: `h2load -c8 -m C/8`), against nginx and a second, TLS data-plane instance;
# - then one-connection latency (`wrk -t1 -c1 --latency`) with everything on core 0;
# - then resident memory: each proxy idle, and its growth per idle keep-alive client connection;
# - `--baseline-bin PATH` adds a second data plane (another build, e.g. the previous commit's) as the
#   target "baseline", with the same config, interleaved in the plain and one-connection rounds, and
#   reports openclaw/baseline ratios: how a change moves CPU per request, side by side;
#   `--baseline-flags "--config.k=v …"` starts the baseline with those settings too (with
#   `--baseline-bin` naming the same binary, it measures what a setting costs); `--plain-only` skips
#   the HTTPS, h2 and memory phases.
# It installs nothing, listens only on 127.0.0.1, bounds every run, and stops what it started on exit.
set -euo pipefail

ROUNDS=3
DURATION=10
WARMUP=2
CONNS=64
IDLE_CONNS=6000
BUILD=1
PGO=1
BASELINE_BIN=""
BASELINE_FLAGS=""
PLAIN_ONLY=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --connections) CONNS="$2"; shift 2 ;;
        --idle-conns) IDLE_CONNS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-pgo) PGO=0; shift ;;
        --baseline-bin) BASELINE_BIN="$2"; shift 2 ;;
        --baseline-flags) BASELINE_FLAGS="$2"; shift 2 ;;
        --plain-only) PLAIN_ONLY=1; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in ROUNDS DURATION WARMUP CONNS IDLE_CONNS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "--${v,,} must be a positive integer" >&2; exit 2; }
done

# --- tools -------------------------------------------------------------------------------------
missing=()
for tool in wrk nginx taskset python3 curl openssl h2load; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "missing: ${missing[*]}" >&2
    echo "install them first, e.g.: apt-get install -y wrk nginx nghttp2-client openssl   (h2load: nghttp2-client; taskset: util-linux; python3, curl)" >&2
    exit 1
fi
NGINX_BIN=$(command -v nginx)
CORES=$(nproc)
if [[ "$CORES" -ge 2 ]]; then
    LOAD_CORE=0
    PROXY_CORE=1
else
    echo "warning: one CPU: the proxy shares core 0 with the agent and wrk; numbers are not comparable" >&2
    LOAD_CORE=0
    PROXY_CORE=0
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ "$BUILD" == 1 ]]; then
    if [[ "$PGO" == 1 ]]; then
        # First, so that a missing tool (llvm-tools) is reported before any long build.
        echo "building the data plane with profile-guided optimisation (tools/pgo/build.sh; ~10 minutes)…" >&2
        "$ROOT/tools/pgo/build.sh" >/dev/null
    fi
    echo "building the production binaries (profile \`production\`: LTO, one codegen unit; a few minutes)…" >&2
    cargo build --profile production --quiet --manifest-path "$ROOT/Cargo.toml" \
        -p openclaw-data-plane -p openclaw-e2e --bin openclaw-data-plane --bin bench-agent
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
AGENT_BIN="$TARGET_DIR/production/bench-agent"
if [[ "$PGO" == 1 ]]; then
    DP_BIN="$TARGET_DIR/pgo/production/openclaw-data-plane"
    DP_BUILD="production + PGO (tools/pgo/build.sh)"
else
    DP_BIN="$TARGET_DIR/production/openclaw-data-plane"
    DP_BUILD="production, no PGO"
fi
for b in "$AGENT_BIN" "$DP_BIN" ${BASELINE_BIN:+"$BASELINE_BIN"}; do
    [[ -x "$b" ]] || { echo "not built: $b (run without --no-build)" >&2; exit 1; }
done
echo "data plane: $DP_BIN ($DP_BUILD)" >&2

# --- sandbox -----------------------------------------------------------------------------------
# shellcheck source=tools/sandbox.sh
source "$ROOT/tools/sandbox.sh"
sandbox_start openclaw-proxy-bench
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port AGENT_PORT
free_port NGINX_PORT
free_port NGINX_SAME_PORT
free_port DP_PORT
free_port NGINX_TLS_PORT
free_port DP_TLS_PORT
free_port BASE_PORT
PATH_="/api/v1/chat"

# A self-signed ECDSA P-256 certificate for 127.0.0.1, for both TLS listeners.
self_signed_cert
# nginx before 1.25.1 enables h2 on the listen line; later versions with `http2 on;`.
NGINX_VERSION=$("$NGINX_BIN" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
if [[ "$(printf '%s\n' "$NGINX_VERSION" 1.25.1 | sort -V | head -1)" == 1.25.1 ]]; then
    NGINX_H2_LISTEN="ssl"; NGINX_H2_DIRECTIVE="http2 on;"
else
    NGINX_H2_LISTEN="ssl http2"; NGINX_H2_DIRECTIVE=""
fi

# The agent, on the load core.
taskset -c "$LOAD_CORE" "$AGENT_BIN" --listen "127.0.0.1:$AGENT_PORT" >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_http "http://127.0.0.1:$AGENT_PORT/health" "bench-agent"

# nginx: one worker, keep-alive upstream, no access log, run as the current user under a temp prefix.
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
USER_LINE=""
if [[ "$(id -u)" == 0 ]]; then USER_LINE="user $(id -un) $(id -gn);"; fi
cat >"$TMP/nginx/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    upstream agent {
        server 127.0.0.1:$AGENT_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://agent;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    map \$http_x_request_id \$openclaw_request_id {
        default \$http_x_request_id;
        "" \$request_id;
    }
    server {
        listen 127.0.0.1:$NGINX_SAME_PORT;
        location / {
            proxy_pass http://agent;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Request-ID \$openclaw_request_id;
            proxy_set_header Via "1.1 openclaw";
            add_header Via "1.1 openclaw" always;
            add_header X-Request-ID \$openclaw_request_id always;
            add_header X-OpenClaw-Route bench always;
        }
    }
    server {
        listen 127.0.0.1:$NGINX_TLS_PORT $NGINX_H2_LISTEN;
        $NGINX_H2_DIRECTIVE
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.3;
        location / {
            proxy_pass http://agent;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
taskset -c "$PROXY_CORE" "$NGINX_BIN" -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" \
    -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$NGINX_PORT$PATH_" "nginx"
wait_http "http://127.0.0.1:$NGINX_SAME_PORT$PATH_" "nginx (same work)"
wait_http "https://127.0.0.1:$NGINX_TLS_PORT$PATH_" "nginx (TLS)"
NGINX_WORKER=$(cat "/proc/$NGINX_PID/task/$NGINX_PID/children" 2>/dev/null | awk '{print $1}')
[[ -n "$NGINX_WORKER" ]] || { echo "cannot find the nginx worker of $NGINX_PID" >&2; exit 1; }

# The data plane, standalone: one worker thread, warn logs, one prefix rule, health checks on, and
# 64 idle upstream connections kept, like nginx's `keepalive 64` above (the default of 10 would make
# it open and close agent connections under 64 concurrent clients).
dp_config() { # listen-port http-extra
cat <<EOF
{"gateway": {
  "http": {"listen": "127.0.0.1:$1"$2},
  "logging": {"level": "warn", "format": "text"},
  "agents": {
    "discovery": {"method": "static", "static": [
      {"id": "bench-agent", "endpoint": "http://127.0.0.1:$AGENT_PORT", "weight": 100}
    ]},
    "healthCheck": {"enabled": true, "path": "/health", "interval": "10s", "timeout": "3s"},
    "connectionPool": {"maxIdleConns": 100, "maxIdleConnsPerHost": 64, "idleTimeout": "90s"}
  },
  "routing": {"rules": [
    {"name": "bench", "match": {"type": "prefix", "pattern": "$PATH_"}, "target": "bench-agent"}
  ]}
}}
EOF
}
dp_config "$DP_PORT" "" >"$TMP/gateway.json"
# The TLS instance: the same, plus TLS 1.3 only (it offers ALPN h2 and http/1.1); started for its phase.
dp_config "$DP_TLS_PORT" ", \"tls\": {\"enabled\": true, \"cert\": \"$TMP/cert.pem\", \"key\": \"$TMP/key.pem\", \"minVersion\": \"TLS1.3\"}" \
    >"$TMP/gateway-tls.json"
OPENCLAW_GLOBAL_CONFIG="$TMP/gateway.json" OPENCLAW_USER_CONFIG= \
    taskset -c "$PROXY_CORE" "$DP_BIN" --config.performance.workerThreads=1 >"$TMP/openclaw.log" 2>&1 &
DP_PID=$!
PIDS+=("$DP_PID")
wait_http "http://127.0.0.1:$DP_PORT/ready" "openclaw-data-plane"
wait_http "http://127.0.0.1:$DP_PORT$PATH_" "openclaw-data-plane (proxying)"
TARGETS=(direct nginx nginx-same openclaw)
BASE_PID=""
if [[ -n "$BASELINE_BIN" ]]; then
    dp_config "$BASE_PORT" "" >"$TMP/gateway-base.json"
    OPENCLAW_GLOBAL_CONFIG="$TMP/gateway-base.json" OPENCLAW_USER_CONFIG= \
        taskset -c "$PROXY_CORE" "$BASELINE_BIN" --config.performance.workerThreads=1 $BASELINE_FLAGS \
        >"$TMP/baseline.log" 2>&1 &
    BASE_PID=$!
    PIDS+=("$BASE_PID")
    wait_http "http://127.0.0.1:$BASE_PORT/ready" "baseline data plane"
    wait_http "http://127.0.0.1:$BASE_PORT$PATH_" "baseline data plane (proxying)"
    TARGETS+=(baseline)
    echo "baseline: $BASELINE_BIN $BASELINE_FLAGS" >&2
fi

cat >"$TMP/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"message": "请帮我优化这段代码的性能", "agent": "agent-chat-001", "stream": false}'
wrk.headers["Content-Type"] = "application/json"
EOF

CLK_TCK=$(getconf CLK_TCK)
# CPU ticks (utime+stime) of the given pids; fields after the ")" that ends the command name.
ticks() {
    local total=0 pid t
    for pid in "$@"; do
        t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
        total=$((total + t))
    done
    echo "$total"
}
# Busy ticks of the whole machine, and CPU ticks of this script's waited children (wrk).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

url_of() {
    case "$1" in
        direct) echo "http://127.0.0.1:$AGENT_PORT$PATH_" ;;
        nginx) echo "http://127.0.0.1:$NGINX_PORT$PATH_" ;;
        nginx-same) echo "http://127.0.0.1:$NGINX_SAME_PORT$PATH_" ;;
        openclaw) echo "http://127.0.0.1:$DP_PORT$PATH_" ;;
        baseline) echo "http://127.0.0.1:$BASE_PORT$PATH_" ;;
        nginx-tls) echo "https://127.0.0.1:$NGINX_TLS_PORT$PATH_" ;;
        openclaw-tls) echo "https://127.0.0.1:$DP_TLS_PORT$PATH_" ;;
    esac
}
pids_of() {
    case "$1" in
        direct) echo "" ;;
        nginx|nginx-same|nginx-tls) echo "$NGINX_PID $NGINX_WORKER" ;;
        openclaw) echo "$DP_PID" ;;
        baseline) echo "$BASE_PID" ;;
        openclaw-tls) echo "$DP_TLS_PID" ;;
    esac
}

RESULTS="$TMP/results.tsv"
: >"$RESULTS"

# One wrk run; appends "test target round rps cpu_us_per_req p50_ms p99_ms errors other_cpu_pct".
measure() { # test target round connections
    local test=$1 target=$2 round=$3 conns=$4 url pids out
    url=$(url_of "$target")
    pids=$(pids_of "$target")
    taskset -c "$LOAD_CORE" wrk -t1 -c"$conns" -d"${WARMUP}s" -s "$TMP/post.lua" "$url" >/dev/null
    local p0 a0 b0 c0 p1 a1 b1 c1
    # shellcheck disable=SC2086
    p0=$(ticks $pids); a0=$(ticks "$AGENT_PID"); b0=$(busy_ticks); c0=$(child_ticks)
    out=$(taskset -c "$LOAD_CORE" wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$TMP/post.lua" "$url")
    # shellcheck disable=SC2086
    p1=$(ticks $pids); a1=$(ticks "$AGENT_PID"); b1=$(busy_ticks); c1=$(child_ticks)
    echo "$out" >"$TMP/wrk-$test-$target-$round.txt"
    python3 - "$test" "$target" "$round" "$((p1 - p0))" "$((a1 - a0))" "$((b1 - b0))" "$((c1 - c0))" \
        "$CLK_TCK" "$DURATION" "$CORES" "$TMP/wrk-$test-$target-$round.txt" >>"$RESULTS" <<'EOF'
import re, sys
test, target, rnd = sys.argv[1:4]
proxy, agent, busy, wrk, hz, dur, cores = map(float, sys.argv[4:11])
text = open(sys.argv[11]).read()
def unit(v, u):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[u]
m = re.search(r"(\d+) requests in", text)
reqs = int(m.group(1)) if m else 0
m = re.search(r"Requests/sec:\s+([\d.]+)", text)
rps = float(m.group(1)) if m else 0.0
pct = {p: unit(v, u) for p, v, u in re.findall(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors += int(m.group(1)) if m else 0
cpu_us = proxy * 1e6 / hz / reqs if reqs and target != "direct" else float("nan")
other = max(0.0, busy - proxy - agent - wrk) / hz / dur / cores * 100
print(f"{test}\t{target}\t{rnd}\t{rps:.0f}\t{cpu_us:.2f}\t{pct.get('50', float('nan')):.3f}\t{pct.get('99', float('nan')):.3f}\t{errors}\t{other:.1f}")
EOF
    tail -1 "$RESULTS" | awk -F'\t' '{printf "  %-9s %-12s round %s: %8s req/s  cpu %6s µs/req  p50 %7s ms  p99 %7s ms  errors %s  other cpu %s%%\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}' >&2
}

# One h2load run (h2 over TLS 1.3, ALPN h2): H2_CLIENTS connections x H2_STREAMS streams = C in flight;
# appends a row like measure's (h2load reports no percentiles: p50/p99 are nan).
H2_CLIENTS=$(( CONNS < 8 ? CONNS : 8 ))
H2_STREAMS=$(( (CONNS + H2_CLIENTS - 1) / H2_CLIENTS ))
sed -n 's/^wrk.body = .\(.*\).$/\1/p' "$TMP/post.lua" | tr -d '\n' >"$TMP/body.json"
measure_h2() { # test target round
    local test=$1 target=$2 round=$3 url pids out
    url=$(url_of "$target-tls")
    pids=$(pids_of "$target-tls")
    local h2=(h2load -t1 -c"$H2_CLIENTS" -m"$H2_STREAMS" -d "$TMP/body.json" -H 'content-type: application/json')
    taskset -c "$LOAD_CORE" "${h2[@]}" -D "$WARMUP" "$url" >/dev/null
    local p0 a0 b0 c0 p1 a1 b1 c1
    # shellcheck disable=SC2086
    p0=$(ticks $pids); a0=$(ticks "$AGENT_PID"); b0=$(busy_ticks); c0=$(child_ticks)
    out=$(taskset -c "$LOAD_CORE" "${h2[@]}" -D "$DURATION" "$url")
    # shellcheck disable=SC2086
    p1=$(ticks $pids); a1=$(ticks "$AGENT_PID"); b1=$(busy_ticks); c1=$(child_ticks)
    echo "$out" >"$TMP/h2load-$test-$target-$round.txt"
    grep -q '^Application protocol: h2$' <<<"$out" \
        || { echo "h2load did not negotiate h2 with $target ($url):" >&2; echo "$out" | tail -20 >&2; exit 1; }
    python3 - "$test" "$target" "$round" "$((p1 - p0))" "$((a1 - a0))" "$((b1 - b0))" "$((c1 - c0))" \
        "$CLK_TCK" "$DURATION" "$CORES" "$TMP/h2load-$test-$target-$round.txt" >>"$RESULTS" <<'EOF'
import re, sys
test, target, rnd = sys.argv[1:4]
proxy, agent, busy, load, hz, dur, cores = map(float, sys.argv[4:11])
text = open(sys.argv[11]).read()
m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
rps = float(m.group(1)) if m else 0.0
m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
done, failed, errored, timeout = (int(x) for x in m.groups()) if m else (0, 0, 0, 0)
m = re.search(r"status codes: (\d+) 2xx", text)
ok = int(m.group(1)) if m else 0
errors = failed + errored + timeout + max(0, done - ok) + (1 if done == 0 else 0)
cpu_us = proxy * 1e6 / hz / done if done else float("nan")
other = max(0.0, busy - proxy - agent - load) / hz / dur / cores * 100
print(f"{test}\t{target}\t{rnd}\t{rps:.0f}\t{cpu_us:.2f}\tnan\tnan\t{errors}\t{other:.1f}")
EOF
    tail -1 "$RESULTS" | awk -F'\t' '{printf "  %-9s %-12s round %s: %8s req/s  cpu %6s µs/req  errors %s  other cpu %s%%\n", $1, $2, $3, $4, $5, $8, $9}' >&2
}

pin() { # pid core: every thread of pid
    taskset -a -p -c "$2" "$1" >/dev/null
}

echo "throughput: ${ROUNDS} round(s) of ${WARMUP}s warm-up + ${DURATION}s wrk -t1 -c${CONNS}; proxies on core $PROXY_CORE, agent and wrk on core $LOAD_CORE" >&2
for round in $(seq "$ROUNDS"); do
    for target in "${TARGETS[@]}"; do
        measure load "$target" "$round" "$CONNS"
    done
done

# HTTPS and h2: nginx's TLS server (same process) and a second data-plane instance with TLS, on the
# proxy core only for this phase.
if [[ "$PLAIN_ONLY" == 0 ]]; then
OPENCLAW_GLOBAL_CONFIG="$TMP/gateway-tls.json" OPENCLAW_USER_CONFIG= \
    taskset -c "$PROXY_CORE" "$DP_BIN" --config.performance.workerThreads=1 >"$TMP/openclaw-tls.log" 2>&1 &
DP_TLS_PID=$!
PIDS+=("$DP_TLS_PID")
wait_http "https://127.0.0.1:$DP_TLS_PORT/ready" "openclaw-data-plane (TLS)"
wait_http "https://127.0.0.1:$DP_TLS_PORT$PATH_" "openclaw-data-plane (TLS, proxying)"
echo "https: ${ROUNDS} round(s) of wrk -t1 -c${CONNS} over TLS 1.3 (HTTP/1.1, keep-alive); h2: h2load -t1 -c${H2_CLIENTS} -m${H2_STREAMS} over TLS 1.3 (ALPN h2)" >&2
for round in $(seq "$ROUNDS"); do
    for target in nginx openclaw; do
        measure https "$target-tls" "$round" "$CONNS"
    done
    for target in nginx openclaw; do
        measure_h2 h2 "$target" "$round"
    done
done
kill -TERM "$DP_TLS_PID" 2>/dev/null || true
wait "$DP_TLS_PID" 2>/dev/null || true
kept=()
for pid in "${PIDS[@]}"; do [[ "$pid" == "$DP_TLS_PID" ]] || kept+=("$pid"); done
PIDS=("${kept[@]}")
fi

echo "latency: wrk -t1 -c1 --latency, everything on core $LOAD_CORE" >&2
pin "$NGINX_PID" "$LOAD_CORE"; pin "$NGINX_WORKER" "$LOAD_CORE"; pin "$DP_PID" "$LOAD_CORE"
[[ -z "$BASE_PID" ]] || pin "$BASE_PID" "$LOAD_CORE"
for round in $(seq "$ROUNDS"); do
    for target in "${TARGETS[@]}"; do
        measure c1 "$target" "$round" 1
    done
done
pin "$NGINX_PID" "$PROXY_CORE"; pin "$NGINX_WORKER" "$PROXY_CORE"; pin "$DP_PID" "$PROXY_CORE"
[[ -z "$BASE_PID" ]] || pin "$BASE_PID" "$PROXY_CORE"

# Memory: idle RSS, then growth per idle keep-alive client connection (each made one request first).
cat >"$TMP/hold.py" <<'EOF'
import resource, socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 100)), hard))
body = b'{"message": "hi"}'
req = (b"POST /api/v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        rest += s.recv(65536)
    held.append(s)
open(ready, "w").write("ready\n")
time.sleep(120)
EOF
mem_growth() { # name pid port
    local before after holder
    sleep 1
    before=$(rss_kb "$2")
    rm -f "$TMP/held"
    python3 "$TMP/hold.py" "$3" "$IDLE_CONNS" "$TMP/held" 2>"$TMP/hold-$1.log" &
    holder=$!
    PIDS+=("$holder")
    for _ in $(seq 600); do
        [[ -f "$TMP/held" ]] && break
        kill -0 "$holder" 2>/dev/null || { echo "connection holder failed:" >&2; cat "$TMP/hold-$1.log" >&2; exit 1; }
        sleep 0.1
    done
    sleep 1
    after=$(rss_kb "$2")
    kill -TERM "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    echo -e "$1\t$before\t$after" >>"$TMP/memory.tsv"
}
: >"$TMP/memory.tsv"
echo "memory: RSS before/after holding $IDLE_CONNS idle keep-alive connections" >&2
if [[ "$PLAIN_ONLY" == 0 ]]; then
    mem_growth nginx "$NGINX_WORKER" "$NGINX_PORT"
    mem_growth openclaw "$DP_PID" "$DP_PORT"
fi
NGINX_IDLE=$(( $(rss_kb "$NGINX_PID") + $(rss_kb "$NGINX_WORKER") ))

# --- report ------------------------------------------------------------------------------------
python3 - "$RESULTS" "$TMP/memory.tsv" "$IDLE_CONNS" "$NGINX_IDLE" "$DP_BUILD" "$PLAIN_ONLY" <<'EOF'
import math, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
mem = {l.split("\t")[0]: l.split() [1:] for l in open(sys.argv[2]) if l.strip()}
conns, nginx_idle = int(sys.argv[3]), int(sys.argv[4])
plain_only = sys.argv[6] == "1"
print()
print(f"openclaw data plane: {sys.argv[5]}")
def col(test, target, i):
    return [float(r[i]) for r in rows if r[0] == test and r[1] == target and not math.isnan(float(r[i]))]
def med(xs):
    return statistics.median(xs) if xs else float("nan")
def rng(xs, fmt):
    return f"{fmt.format(min(xs))}–{fmt.format(max(xs))}" if len(xs) > 1 else ""
targets = ["direct", "nginx", "nginx-same", "openclaw"] + (["baseline"] if col("load", "baseline", 3) else [])
noisy = [r for r in rows if float(r[8]) >= 5.0]
def fmt(x, spec):
    return "–" if math.isnan(x) else format(x, spec)
print()
print(f"{'':16}{'req/s (c64)':>22}{'CPU µs/req':>20}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'c1 p50 µs':>11}{'c1 p99 µs':>11}")
m = {}
for t in targets:
    rps, cpu = col("load", t, 3), col("load", t, 4)
    p50, p99, err = col("load", t, 5), col("load", t, 6), col("load", t, 7)
    l50, l99 = col("c1", t, 5), col("c1", t, 6)
    m[t] = dict(rps=med(rps), cpu=med(cpu), p50=med(p50), p99=med(p99), l50=med(l50) * 1e3, l99=med(l99) * 1e3)
    rps_s = f"{m[t]['rps']:.0f}" + (f" ({rng(rps, '{:.0f}')})" if len(rps) > 1 else "")
    cpu_s = "–" if not cpu else f"{m[t]['cpu']:.1f}" + (f" ({rng(cpu, '{:.1f}')})" if len(cpu) > 1 else "")
    print(f"{t:16}{rps_s:>22}{cpu_s:>20}{m[t]['p50']:>9.2f}{m[t]['p99']:>9.2f}{sum(err):>8.0f}{m[t]['l50']:>11.0f}{m[t]['l99']:>11.0f}")
# HTTPS (TLS 1.3, HTTP/1.1 via wrk) and h2 (TLS 1.3, ALPN h2 via h2load): no one-connection latency run.
extra = {}
for test, t, label in [] if plain_only else [("https", "nginx-tls", "nginx https"), ("https", "openclaw-tls", "openclaw https"),
                       ("h2", "nginx", "nginx h2"), ("h2", "openclaw", "openclaw h2")]:
    rps, cpu = col(test, t, 3), col(test, t, 4)
    p50, p99, err = col(test, t, 5), col(test, t, 6), col(test, t, 7)
    extra[(test, t.split("-")[0])] = e = dict(rps=med(rps), cpu=med(cpu), p50=med(p50), p99=med(p99))
    rps_s = f"{e['rps']:.0f}" + (f" ({rng(rps, '{:.0f}')})" if len(rps) > 1 else "")
    cpu_s = "–" if not cpu else f"{e['cpu']:.1f}" + (f" ({rng(cpu, '{:.1f}')})" if len(cpu) > 1 else "")
    print(f"{label:16}{rps_s:>22}{cpu_s:>20}{fmt(e['p50'], '.2f'):>9}{fmt(e['p99'], '.2f'):>9}{sum(err):>8.0f}{'–':>11}{'–':>11}")
print()
o, n = m["openclaw"], m["nginx"]
def ratio(k):
    return f"{o[k] / n[k]:.2f}" if n[k] and not math.isnan(n[k]) else "n/a"
print(f"openclaw/nginx: req/s {ratio('rps')}, CPU µs/req {ratio('cpu')}, p50 {ratio('p50')}, p99 {ratio('p99')}, "
      f"c1 p50 {ratio('l50')}, c1 p99 {ratio('l99')}   (medians over {len(col('load', 'nginx', 3))} round(s))")
n = m["nginx-same"]
print(f"openclaw/nginx-same (nginx doing the same header work): req/s {ratio('rps')}, CPU µs/req {ratio('cpu')}, "
      f"p50 {ratio('p50')}, p99 {ratio('p99')}, c1 p50 {ratio('l50')}, c1 p99 {ratio('l99')}")
if "baseline" in m:
    n = m["baseline"]
    print(f"openclaw/baseline (--baseline-bin/--baseline-flags, interleaved): req/s {ratio('rps')}, CPU µs/req {ratio('cpu')}, "
          f"p50 {ratio('p50')}, p99 {ratio('p99')}, c1 p50 {ratio('l50')}, c1 p99 {ratio('l99')}")
for test, what in [] if plain_only else [("https", "TLS 1.3, HTTP/1.1"), ("h2", "TLS 1.3, h2")]:
    o, n = extra[(test, "openclaw")], extra[(test, "nginx")]
    parts = [f"req/s {ratio('rps')}", f"CPU µs/req {ratio('cpu')}"]
    if test == "https":
        parts += [f"p50 {ratio('p50')}", f"p99 {ratio('p99')}"]
    print(f"openclaw/nginx {test} ({what}): " + ", ".join(parts))
print()
for name in [] if plain_only else ["nginx", "openclaw"]:
    before, after = (int(x) for x in mem[name])
    idle = nginx_idle if name == "nginx" else before
    which = "master+worker" if name == "nginx" else "process"
    print(f"{name:9} idle RSS {idle / 1024:6.1f} MiB ({which}); +{(after - before) / 1024:6.1f} MiB for {conns} idle keep-alive "
          f"connections = {(after - before) / conns:.2f} kB per connection")
if noisy:
    print()
    print(f"note: {len(noisy)} run(s) saw other processes use >= 5% CPU (last column of the per-run lines); "
          "repeat on a quiet machine before trusting small differences")
EOF
