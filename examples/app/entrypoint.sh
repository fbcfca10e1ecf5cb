#!/bin/sh
# No arguments: serve /www on port $PORT (default 80) until SIGTERM.
# `selftest`: serve on loopback, print /up and /, exit (the bed's smoke check).
# Anything else: run it (`kamal app exec`).
set -eu
port=${PORT:-80}

case "${1:-}" in
"")
    httpd -f -p "$port" -h /www &
    pid=$!
    # As PID 1 the shell ignores SIGTERM unless it traps it, and `docker stop`
    # would then wait out its whole timeout.
    trap 'kill "$pid"; wait "$pid"; exit 0' TERM INT
    wait "$pid"
    ;;
selftest)
    # Without -f httpd binds its port before it forks into the background.
    httpd -p "127.0.0.1:$port" -h /www
    # busybox's `wget -T` crashes here; `timeout` bounds it instead.
    timeout 5 wget -q -O - "http://127.0.0.1:$port/up"
    timeout 5 wget -q -O - "http://127.0.0.1:$port/"
    ;;
*)
    exec "$@"
    ;;
esac
