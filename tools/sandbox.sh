# Shell helpers shared by the scripts that start processes on 127.0.0.1 (bench/proxy.sh,
# tools/pgo/build.sh): a temp dir, every started process stopped on exit, free ports, readiness
# waits and a throwaway certificate. Source it from a bash script run with `set -euo pipefail`.

# Makes $TMP (named after $1) and an empty $PIDS; on exit, stops every pid in $PIDS (SIGTERM, then
# SIGKILL after 5 s) and removes $TMP.
sandbox_start() { # name
    TMP=$(mktemp -d -t "$1.XXXXXX")
    PIDS=()
    trap sandbox_cleanup EXIT
    trap 'exit 130' INT TERM
}
sandbox_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}

# Sets the variable named $1 to a port nothing on 127.0.0.1 answers on and no earlier call handed
# out, below the ephemeral range: no client socket of the load (wrk's, or a proxy's to its agent)
# can be holding it when a server binds it later.
SANDBOX_PORTS=" "
free_port() { # variable-name
    local _port _low
    _low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    (( _low > 12000 )) || _low=32768
    for _ in $(seq 100); do
        _port=$((10000 + RANDOM % (_low - 10000)))
        [[ "$SANDBOX_PORTS" != *" $_port "* ]] || continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$_port") 2>/dev/null; then
            SANDBOX_PORTS+="$_port "
            printf -v "$1" '%s' "$_port"
            return 0
        fi
    done
    echo "no free port found on 127.0.0.1" >&2
    exit 1
}

# Waits up to about 30 s for the URL to answer with the status (200 by default), else shows the
# logs in $TMP and exits.
wait_http() { # url what [status]
    local code
    for _ in $(seq 600); do
        code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)
        [[ "$code" == "${3:-200}" ]] && return 0
        sleep 0.05
    done
    echo "$2 did not come up on $1 (logs in $TMP)" >&2
    tail -n 20 "$TMP"/*.log >&2 || true
    exit 1
}

# A self-signed ECDSA P-256 certificate for 127.0.0.1: $TMP/cert.pem and $TMP/key.pem.
self_signed_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >"$TMP/openssl.log" 2>&1 \
        || { echo "openssl could not make a certificate:" >&2; cat "$TMP/openssl.log" >&2; exit 1; }
}
