#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine, as root: installs what the tests
# need, brings up the test bed (hosts with their own sshd and dockerd, and a registry:
# testbed/up.sh), then
#   1. `cargo test` over the workspace: unit tests, golden command lines, the real-world
#      config corpus and the validation cases compared with Kamal 2.11's own output, the
#      proxy on loopback (then once more through its general pipeline alone), and the
#      end-to-end tests of `kamal` on the bed's hosts;
#   2. testbed/proxy-smoke.sh: our kamal-proxy image, booted and driven on every host with
#      Kamal's exact commands.
# KAMAL_SKIP_TESTBED=1 runs only what needs no hosts (no Docker, no root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (Rust 1.85 or newer)" >&2
  exit 1
fi

bed=false
if [ "${KAMAL_SKIP_TESTBED:-}" != 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "the test bed needs root (or set KAMAL_SKIP_TESTBED=1 to run only the host-free tests)" >&2
    exit 1
  fi
  testbed/up.sh
  # pebble: Let's Encrypt's own ACME test server, for kamal-proxy's certificate issuance test.
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq pebble openssl >/dev/null
  bed=true
  set -a
  # shellcheck disable=SC1091
  . "${KAMAL_TESTBED_STATE:-/var/lib/kamal-testbed}/env"
  set +a
fi

cargo test --workspace --locked "$@"
# kamal-proxy's end-to-end tests again with its HTTP/1.1 fast path off: the general pipeline (hyper) must
# keep answering everything the same way on its own.
KAMAL_PROXY_FAST_PATH=0 cargo test --locked -p kamal-proxy --test proxy --test features --test fast_path \
  --test zero_downtime "$@"

if $bed; then
  testbed/proxy-smoke.sh --build --clean && testbed/kamal-compat.sh
fi
