#!/usr/bin/env bash
# A/B of kamal-proxy builds, with nginx beside them: `bench/proxy-ab.sh [ROUNDS] BINARY…`
# (e.g. a copy of an earlier build and the current one). Each binary runs as `kamal-proxy run` with one service
# deployed in front of the same upstream (one nginx worker serving a 13-byte file); nginx proxies to it too
# (`worker_processes auto`, keep-alive upstream). Every round runs wrk (-t1 -c64, $KAMAL_BENCH_DURATION, 8s)
# against each in turn and prints req/s and the proxy's user and system CPU µs per request, from /proc
# (all its processes), then the mean of each over the rounds. CPU per request moves far less with the
# machine's other load than req/s does; user time is where builds differ.
#
# Needs: nginx-light wrk curl (Debian). Bounded; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
rounds=5
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
    rounds=$1
    shift
fi
[ $# -gt 0 ] || { echo "usage: bench/proxy-ab.sh [ROUNDS] BINARY…" >&2; exit 2; }
duration="${KAMAL_BENCH_DURATION:-8s}"
upstream_port=18380
nginx_port=18390

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_scratch ab

mkdir -p "$work/www"
printf 'Hello, world\n' >"$work/www/small"
printf 'ok\n' >"$work/www/up"
nginx_conf "$work/upstream" 1 "server { listen 127.0.0.1:$upstream_port; root $work/www; }"
nginx_start "$work/upstream"
nginx_conf "$work/nginx" auto "upstream app { server 127.0.0.1:$upstream_port; keepalive 100; }
    server { listen 127.0.0.1:$nginx_port; location / { proxy_pass http://app; proxy_http_version 1.1;
    proxy_set_header Connection \"\"; proxy_set_header Host \$host; } }"
nginx_start "$work/nginx"

declare -A port_of pid_of
names=(nginx)
port_of[nginx]=$nginx_port
pid_of[nginx]=${pids[-1]}
wait_for_port "$upstream_port"
index=0
for binary in "$@"; do
    index=$((index + 1))
    name="$index-$(basename "$binary")"
    port=$((nginx_port + index))
    mkdir -p "$work/$name"
    HOME="$work/$name" KAMAL_PROXY_SOCKET="$work/$name/kamal-proxy.sock" \
        "$binary" run --http-port="$port" --https-port=$((port + 100)) >/dev/null 2>"$work/$name/stderr" &
    pids+=("$!")
    pid_of[$name]=$!
    port_of[$name]=$port
    names+=("$name")
    wait_for_port "$port"
    HOME="$work/$name" KAMAL_PROXY_SOCKET="$work/$name/kamal-proxy.sock" \
        "$binary" deploy bench --target="127.0.0.1:$upstream_port" >/dev/null
done
wait_for_port "$nginx_port"
for name in "${names[@]}"; do curl -fsS -o /dev/null "http://127.0.0.1:${port_of[$name]}/small"; done

ticks() { # pid: "user system" clock ticks of it and its children
    local user=0 system=0 pid u s
    for pid in $1 $(pgrep -P "$1" || true); do
        read -r u s < <(awk '{print $14, $15}' "/proc/$pid/stat")
        user=$((user + u))
        system=$((system + s))
    done
    echo "$user $system"
}

hertz=$(getconf CLK_TCK)
results="$work/results"
for round in $(seq 1 "$rounds"); do
    for name in "${names[@]}"; do
        read -r user0 system0 < <(ticks "${pid_of[$name]}")
        output=$(wrk -t1 -c64 -d"$duration" "http://127.0.0.1:${port_of[$name]}/small")
        read -r user1 system1 < <(ticks "${pid_of[$name]}")
        requests=$(awk '/requests in/ {print $1}' <<<"$output")
        rate=$(awk '/Requests\/sec/ {print $2}' <<<"$output")
        awk -v round="$round" -v name="$name" -v rate="$rate" -v requests="$requests" -v hz="$hertz" \
            -v user=$((user1 - user0)) -v sys=$((system1 - system0)) \
            'BEGIN { printf "%d %-24s %8.0f req/s  user %6.2f  system %6.2f  µs/req\n", round, name, rate,
                     user * 1e6 / hz / requests, sys * 1e6 / hz / requests }' | tee -a "$results"
    done
done
echo "mean of $rounds rounds:"
awk '{ rate[$2] += $3; user[$2] += $6; sys[$2] += $8; count[$2]++ }
     END { for (name in rate) printf "  %-24s %8.0f req/s  user %6.2f  system %6.2f  µs/req\n", name,
           rate[name] / count[name], user[name] / count[name], sys[name] / count[name] }' "$results" | sort
