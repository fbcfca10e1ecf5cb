#!/usr/bin/env bash
# Benchmark: kamal-proxy (Rust) against nginx and Caddy, same run, same upstream, all on 127.0.0.1.
# One command: `bench/proxy.sh`. Writes bench/results-proxy.md and prints the table.
#
#   small   GET of a 13-byte file over HTTP/1.1 keep-alive (wrk, $KAMAL_BENCH_CONNECTIONS connections)
#   1mb     GET of a 1 MiB file (16 connections)
#
# The upstream is one nginx worker serving static files (so it is never the bottleneck; the 1 MiB file by
# sendfile(2)). Each proxy keeps
# keep-alive connections to it: nginx with `upstream { keepalive 100; }` and `proxy_http_version 1.1`, Caddy's
# `reverse_proxy` as it comes, kamal-proxy as Kamal deploys it (buffering off here; a second row turns on
# Kamal's default request/response buffering). Access logs: off for nginx, Caddy's default (off); kamal-proxy
# always logs one JSON line per request, which goes to /dev/null. A second nginx row, nginx-logging, does
# kamal-proxy's per-request work too (the same JSON line, buffered, to /dev/null; request ID, X-Request-Start
# and X-Forwarded-* to the upstream): the like-for-like comparison. nginx runs `worker_processes auto` (2 here).
#
# Requests/s and p50/p99 latency are wrk's (`--latency`); the table has each cell's median over the rounds, and
# a summary the round-by-round ratios that the targets name, with a 95% confidence interval. CPU µs/req is the proxy's own user+system time
# (all its processes, from /proc) over the requests wrk completed: the cost per request, which other load on
# a shared machine disturbs far less than throughput. RSS is /proc's VmRSS summed over the proxy's
# processes: idle (after start and one deploy, before any load) and after the load.
#
# Needs: nginx-light caddy wrk (Debian). Bounded: each run lasts $KAMAL_BENCH_DURATION (10s) per proxy and
# size; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
results="$root/bench/results-proxy.md"
duration="${KAMAL_BENCH_DURATION:-10s}"
connections="${KAMAL_BENCH_CONNECTIONS:-64}"
threads="${KAMAL_BENCH_THREADS:-1}"
rounds="${KAMAL_BENCH_ROUNDS:-3}"
upstream_port=18180
nginx_port=18181
nginx_logging_port=18185
caddy_port=18182
kamal_port=18183
kamal_https_port=18443
kamal_buffered_port=18184
kamal_buffered_https_port=18444

for tool in nginx caddy wrk; do
    command -v "$tool" >/dev/null || {
        echo "bench/proxy.sh: $tool is missing: apt-get -o DPkg::Lock::Timeout=600 install -y nginx-light caddy wrk" >&2
        exit 1
    }
done

echo "building kamal-proxy (release, profile-guided as the image's: scripts/build-proxy.sh)…" >&2
binary=$(scripts/build-proxy.sh)

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_scratch bench

# CPU time in clock ticks (utime + stime) of a process and all its descendants.
cpu_tree() { # pid
    local total=0 pid
    for pid in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# RSS in KiB of a process and all its descendants.
rss_tree() { # pid
    local total=0 pid
    for pid in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

mkdir -p "$work/www"
printf 'Hello, world\n' >"$work/www/small"
printf 'ok\n' >"$work/www/up"
head -c 1048576 /dev/zero | tr '\0' 'x' >"$work/www/1mb"

nginx_conf "$work/nginx-upstream" 1 "server {
        listen 127.0.0.1:$upstream_port; root $work/www;
        # The large file leaves by sendfile(2), as Debian's stock nginx.conf has it: the upstream's cost per
        # MiB halves, so more of the machine goes to the proxies, whose differences are what is measured.
        location = /1mb { sendfile on; tcp_nopush on; }
    }"
nginx_start "$work/nginx-upstream"

nginx_conf "$work/nginx-proxy" auto "upstream app { server 127.0.0.1:$upstream_port; keepalive 100; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; }
    }"
nginx_start "$work/nginx-proxy"
nginx_pid=${pids[-1]}

# nginx doing kamal-proxy's per-request work as well: the same JSON request line (batched, as ours is, to
# /dev/null), a request ID, X-Request-Start and the X-Forwarded-* headers to the upstream.
nginx_conf "$work/nginx-logging" auto "log_format kamal escape=json '{\"time\":\"\$time_iso8601\",\"level\":\"INFO\",\"msg\":\"Request\",\"host\":\"\$host\",'
        '\"port\":\$server_port,\"path\":\"\$uri\",\"request_id\":\"\$request_id\",\"status\":\$status,\"service\":\"bench\",'
        '\"target\":\"\$upstream_addr\",\"duration\":\$request_time,\"method\":\"\$request_method\",'
        '\"req_content_length\":\"\$content_length\",\"req_content_type\":\"\$content_type\",'
        '\"resp_content_length\":\$body_bytes_sent,\"resp_content_type\":\"\$sent_http_content_type\",'
        '\"client_addr\":\"\$remote_addr\",\"client_port\":\"\$remote_port\",\"remote_addr\":\"\$remote_addr\",'
        '\"user_agent\":\"\$http_user_agent\",\"proto\":\"\$server_protocol\",\"scheme\":\"\$scheme\",\"query\":\"\$args\"}';
    access_log /dev/null kamal buffer=64k flush=5s;
    upstream app { server 127.0.0.1:$upstream_port; keepalive 100; }
    server {
        listen 127.0.0.1:$nginx_logging_port;
        location / {
            proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\";
            proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Host \$host; proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Request-Id \$request_id; proxy_set_header X-Request-Start \"t=\${msec}\";
        }
    }"
nginx_start "$work/nginx-logging"
nginx_logging_pid=${pids[-1]}

cat >"$work/Caddyfile" <<EOF
{
    admin off
    auto_https off
}
http://127.0.0.1:$caddy_port {
    reverse_proxy 127.0.0.1:$upstream_port
}
EOF
XDG_DATA_HOME="$work/caddy-data" XDG_CONFIG_HOME="$work/caddy-config" \
    caddy run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
pids+=("$caddy_pid")

start_kamal() { # name http-port https-port deploy-flags…
    local name=$1 http=$2 https=$3
    shift 3
    mkdir -p "$work/$name"
    HOME="$work/$name" KAMAL_PROXY_SOCKET="$work/$name/kamal-proxy.sock" \
        "$binary" run --http-port="$http" --https-port="$https" >/dev/null 2>"$work/$name/stderr" &
    pids+=($!)
    wait_for_port "$http"
    HOME="$work/$name" KAMAL_PROXY_SOCKET="$work/$name/kamal-proxy.sock" \
        "$binary" deploy bench --target="127.0.0.1:$upstream_port" "$@" >/dev/null
}
wait_for_port "$upstream_port"
start_kamal kamal "$kamal_port" "$kamal_https_port"
kamal_pid=${pids[-1]}
start_kamal kamal-buffered "$kamal_buffered_port" "$kamal_buffered_https_port" \
    --buffer-requests --buffer-responses --max-request-body=0 --max-response-body=0
kamal_buffered_pid=${pids[-1]}
wait_for_port "$nginx_port"
wait_for_port "$nginx_logging_port"
wait_for_port "$caddy_port"

# One request through each proxy, so idle RSS includes a live upstream connection.
for port in $nginx_port $nginx_logging_port $caddy_port $kamal_port $kamal_buffered_port; do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/small"
done
sleep 1 # let allocators settle before the idle reading (a measurement pause, not a readiness wait)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A idle_rss after_rss
names=(nginx nginx-logging caddy kamal-proxy kamal-proxy-buffered)
declare -A pid_of=([nginx]=$nginx_pid [nginx-logging]=$nginx_logging_pid [caddy]=$caddy_pid [kamal-proxy]=$kamal_pid [kamal-proxy-buffered]=$kamal_buffered_pid)
declare -A port_of=([nginx]=$nginx_port [nginx-logging]=$nginx_logging_port [caddy]=$caddy_port [kamal-proxy]=$kamal_port [kamal-proxy-buffered]=$kamal_buffered_port)
for name in "${names[@]}"; do idle_rss[$name]=$(rss_tree "${pid_of[$name]}"); done

# wrk's latency lines are like "50%  412.00us"; normalise to milliseconds.
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 } printf "%.2f", v }'; }

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A rps p50 p99 cpu
ticks=$(getconf CLK_TCK)
for round in $(seq 1 "$rounds"); do
    for size in small 1mb; do
        for name in "${names[@]}"; do
            conns=$connections
            [[ $size == 1mb ]] && conns=16
            echo "round $round/$rounds wrk: $name $size ($conns connections, $duration)…" >&2
            cpu_before=$(cpu_tree "${pid_of[$name]}")
            output=$(wrk -t"$threads" -c"$conns" -d"$duration" --latency "http://127.0.0.1:${port_of[$name]}/$size")
            cpu_used=$(($(cpu_tree "${pid_of[$name]}") - cpu_before))
            requests=$(awk '/requests in/ {print $1}' <<<"$output")
            cpu[$name,$size]+="$(echo "$cpu_used * 1000000 / $ticks / $requests" | bc -l | xargs printf '%.1f') "
            rps[$name,$size]+="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$output") "
            p50[$name,$size]+="$(awk '$1 == "50%" {print $2}' <<<"$output" | to_ms) "
            p99[$name,$size]+="$(awk '$1 == "99%" {print $2}' <<<"$output" | to_ms) "
            if grep -q "Non-2xx" <<<"$output"; then
                echo "bench/proxy.sh: $name answered errors: $(grep Non-2xx <<<"$output")" >&2
            fi
        done
    done
done
# Round by round, the ratio of two proxies' figures (each pair measured minutes apart, so slow drifts in the
# machine's load cancel): "mean (95% CI low–high; min–max; N of M rounds at or past 1)". `better` says which
# side of 1 counts: ge for throughput, le for latency.
paired() { # list-a list-b better
    paste -d' ' <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk -v better="$3" '
        { r[NR] = $1 / $2; sum += r[NR]; if ((better == "ge" && r[NR] >= 1) || (better == "le" && r[NR] <= 1)) won++ }
        END {
            n = NR; mean = sum / n; min = max = r[1]
            for (i = 1; i <= n; i++) { ss += (r[i] - mean) ^ 2; if (r[i] < min) min = r[i]; if (r[i] > max) max = r[i] }
            split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13 2.12 2.11 2.10 2.09", t, " ")
            half = n > 1 ? (n - 1 <= 19 ? t[n - 1] : 2.0) * sqrt(ss / (n - 1) / n) : 0
            printf "%.3f (95%% CI %.3f–%.3f; %.3f–%.3f; %d of %d rounds)", mean, mean - half, mean + half, min, max, won + 0, n
        }'
}
paired_small_rps=$(paired "${rps[kamal-proxy,small]}" "${rps[nginx,small]}" ge)
paired_small_p99=$(paired "${p99[kamal-proxy,small]}" "${p99[nginx,small]}" le)
paired_large_caddy=$(paired "${rps[kamal-proxy,1mb]}" "${rps[caddy,1mb]}" ge)
for key in "${!rps[@]}"; do
    rps[$key]=$(tr ' ' '\n' <<<"${rps[$key]}" | grep . | median)
    p50[$key]=$(tr ' ' '\n' <<<"${p50[$key]}" | grep . | median)
    p99[$key]=$(tr ' ' '\n' <<<"${p99[$key]}" | grep . | median)
    cpu[$key]=$(tr ' ' '\n' <<<"${cpu[$key]}" | grep . | median)
done
for name in "${names[@]}"; do after_rss[$name]=$(rss_tree "${pid_of[$name]}"); done

{
    echo "# kamal-proxy vs nginx vs Caddy"
    echo
    echo "\`bench/proxy.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores shared by wrk, the upstream and the proxy;"
    echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), Caddy $(caddy version | cut -d' ' -f1), wrk -t$threads, $duration per cell,"
    echo "median of $rounds interleaved rounds; load average before the run: $load_before."
    echo "Small: 13-byte body, $connections keep-alive connections. 1 MiB: 16 connections."
    echo
    echo "| proxy | small req/s | small p50 ms | small p99 ms | small CPU µs/req | 1 MiB req/s | 1 MiB p50 ms | 1 MiB p99 ms | 1 MiB CPU µs/req | idle RSS MiB | RSS after load MiB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for name in "${names[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f |\n' "$name" \
            "${rps[$name,small]}" "${p50[$name,small]}" "${p99[$name,small]}" "${cpu[$name,small]}" \
            "${rps[$name,1mb]}" "${p50[$name,1mb]}" "${p99[$name,1mb]}" "${cpu[$name,1mb]}" \
            "$(echo "${idle_rss[$name]} / 1024" | bc -l)" "$(echo "${after_rss[$name]} / 1024" | bc -l)"
    done
    echo
    small_vs_nginx=$(echo "${rps[kamal-proxy,small]} / ${rps[nginx,small]}" | bc -l)
    small_vs_logging=$(echo "${rps[kamal-proxy,small]} / ${rps[nginx-logging,small]}" | bc -l)
    small_vs_caddy=$(echo "${rps[kamal-proxy,small]} / ${rps[caddy,small]}" | bc -l)
    large_vs_caddy=$(echo "${rps[kamal-proxy,1mb]} / ${rps[caddy,1mb]}" | bc -l)
    printf 'kamal-proxy small-response throughput: %.2f× nginx, %.2f× nginx-logging, %.2f× Caddy; 1 MiB: %.2f× Caddy.\n' \
        "$small_vs_nginx" "$small_vs_logging" "$small_vs_caddy" "$large_vs_caddy"
    echo
    echo "Paired by round, mean (95% CI; min–max; rounds where kamal-proxy was ahead: ratio ≥ 1 for req/s, ≤ 1 for p99):"
    echo "- small req/s, kamal-proxy ÷ nginx: $paired_small_rps"
    echo "- small p99, kamal-proxy ÷ nginx: $paired_small_p99"
    echo "- 1 MiB req/s, kamal-proxy ÷ Caddy: $paired_large_caddy"
} >"$results"
cat "$results"
