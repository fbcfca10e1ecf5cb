#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine as root: builds kamal-rs, brings up the test
# bed (two hosts with their own sshd and dockerd, and a registry holding the example app),
# and drives the bundled example app (examples/app) onto those hosts with kamal-rs:
# its configuration, the registry login, the image pulled on every host, a command run on
# every host. The full deploy (app boot behind kamal-proxy) joins as the app-lifecycle
# work lands.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p kamal
kamal="$PWD/target/release/kamal"

testbed/up.sh
set -a
# shellcheck disable=SC1091
. "${KAMAL_TESTBED_STATE:-/var/lib/kamal-testbed}/env"
set +a

cd examples/app
export VERSION="${VERSION:-v1}"
"$kamal" config
"$kamal" registry login
"$kamal" build pull
"$kamal" server exec 'docker image ls --format "{{.Repository}}:{{.Tag}}"'
"$kamal" lock status
