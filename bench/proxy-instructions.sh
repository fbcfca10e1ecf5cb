#!/usr/bin/env bash
# CPU cost per proxied request as instruction counts (valgrind's callgrind), which stay the same whatever else
# the machine is doing, unlike wall-clock benchmarks on a shared machine.
# One command: `bench/proxy-instructions.sh [BASELINE_BINARY]`. Prints instructions per request for the
# current kamal-proxy (built here), for BASELINE_BINARY when given (e.g. a copy of an earlier build), and for
# nginx as a proxy, each in front of the same nginx upstream on 127.0.0.1.
#
# Each proxy runs under callgrind with one worker (KAMAL_PROXY_WORKERS=1; nginx: master_process off, one
# worker). After a warm-up the counters are zeroed, a fixed load runs (wrk -t1 -c$KAMAL_INSTR_CONNECTIONS for
# $KAMAL_INSTR_DURATION), the counters are dumped, and the total (Ir) is divided by the requests wrk completed.
# Sizes: small (13-byte body) and 1mb (1 MiB body).
#
# Needs: valgrind nginx-light wrk curl (Debian). Bounded; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
baseline="${1:-}"
duration="${KAMAL_INSTR_DURATION:-5s}"
connections="${KAMAL_INSTR_CONNECTIONS:-8}"
sizes="${KAMAL_INSTR_SIZES:-small 1mb}"
upstream_port=18280
proxy_port=18281

for tool in valgrind callgrind_control nginx wrk curl; do
    command -v "$tool" >/dev/null || {
        echo "bench/proxy-instructions.sh: $tool is missing: apt-get install -y valgrind nginx-light wrk curl" >&2
        exit 1
    }
done

echo "building kamal-proxy (release, profile-guided: scripts/build-proxy.sh)…" >&2
# Absolute: the proxies run from their own directory.
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-$root/target-proxy}")
# As the image's binary is built (profile-guided: scripts/build-proxy.sh).
current=$(CARGO_TARGET_DIR="$target_dir" scripts/build-proxy.sh)

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_scratch instr

mkdir -p "$work/www"
printf 'Hello, world\n' >"$work/www/small"
printf 'ok\n' >"$work/www/up"
head -c 1048576 /dev/zero | tr '\0' 'x' >"$work/www/1mb"
nginx_conf "$work/upstream" 1 "server { listen 127.0.0.1:$upstream_port; root $work/www; }"
nginx_start "$work/upstream"
nginx_conf "$work/nginx-proxy" 1 "upstream app { server 127.0.0.1:$upstream_port; keepalive 100; }
    server { listen 127.0.0.1:$proxy_port;
        location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; } }"
wait_for_port "$upstream_port"

# Zeroes the counters, runs the load, dumps; prints "Ir requests".
measure() { # pid size name
    local pid=$1 size=$2 name=$3 output requests dump
    for _ in 1 2 3 4 5 6 7 8 9 10; do curl -fsS -o /dev/null "http://127.0.0.1:$proxy_port/$size"; done
    wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$proxy_port/$size" >/dev/null # warm-up
    callgrind_control -z "$pid" >/dev/null
    output=$(wrk -t1 -c"$connections" -d"$duration" --timeout 30s "http://127.0.0.1:$proxy_port/$size")
    requests=$(awk '/requests in/ {print $1}' <<<"$output")
    if grep -q "Non-2xx\|Socket errors" <<<"$output" || [[ ${requests:-0} == 0 ]]; then
        echo "bench/proxy-instructions.sh: errors: $output" >&2
    fi
    rm -f "$work"/callgrind.out.*
    callgrind_control -d "$pid" >/dev/null
    # shellcheck disable=SC2012 # the newest dump; the names are callgrind's own
    dump=$(ls -t "$work"/callgrind.out.* | head -n1)
    # KAMAL_INSTR_KEEP=DIR keeps each dump (for callgrind_annotate) as DIR/<proxy>-<size>.callgrind.
    if [[ -n ${KAMAL_INSTR_KEEP:-} ]]; then mkdir -p "$KAMAL_INSTR_KEEP" && cp "$dump" "$KAMAL_INSTR_KEEP/$name-$size.callgrind"; fi
    echo "$(awk '/^(summary|totals):/ {print $2; exit}' "$dump") $requests"
}

declare -A result
run_proxy() { # name command… (environment for the proxy in $proxy_env)
    local name=$1 pid size measured
    shift
    (cd "$work" && exec env "${proxy_env[@]}" valgrind -q --tool=callgrind \
        --callgrind-out-file="$work/callgrind.out.%p" "$@") >/dev/null 2>"$work/$name.stderr" &
    pid=$!
    pids+=("$pid")
    wait_for_port "$proxy_port" 60 # valgrind starts slowly
    if [[ $name != nginx ]]; then
        wait_until 60 test -S "$work/$name/kamal-proxy.sock"
        HOME="$work/$name" KAMAL_PROXY_SOCKET="$work/$name/kamal-proxy.sock" \
            "$current" deploy bench --target="127.0.0.1:$upstream_port" >/dev/null
    fi
    for size in $sizes; do
        echo "measuring $name $size…" >&2
        measured=$(measure "$pid" "$size" "$name")
        result[$name,$size]=$(awk '{printf "%.0f (%d requests)", $1 / $2, $2}' <<<"$measured")
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    wait_until 10 port_closed "$proxy_port" || true
}

kamal() { # name binary
    mkdir -p "$work/$1"
    proxy_env=(HOME="$work/$1" KAMAL_PROXY_SOCKET="$work/$1/kamal-proxy.sock" KAMAL_PROXY_WORKERS=1)
    run_proxy "$1" "$2" run --http-port="$proxy_port" --https-port=$((proxy_port + 1))
}

names=()
if [[ -n $baseline ]]; then
    kamal baseline "$baseline"
    names+=(baseline)
fi
kamal current "$current"
names+=(current)
proxy_env=(HOME="$work")
run_proxy nginx nginx -p "$work/nginx-proxy" -c "$work/nginx-proxy/nginx.conf" -g 'daemon off; master_process off;'
names+=(nginx)

echo "instructions per request (callgrind Ir / requests; wrk -t1 -c$connections -d$duration; one worker)"
for name in "${names[@]}"; do
    for size in $sizes; do
        printf '%-10s %-6s %s\n' "$name" "$size" "${result[$name,$size]}"
    done
done
