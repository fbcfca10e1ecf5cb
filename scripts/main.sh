#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine as root: builds kamal-rs and our kamal-proxy
# image, brings up the test bed (two hosts with their own sshd and dockerd, and a registry
# holding the example app's v1 and v2), and deploys the bundled example app
# (examples/app) to both hosts with kamal-rs: v1, then v2, each behind kamal-proxy with
# zero downtime, then answers each host's `curl`.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
cargo build --release --locked -p kamal
kamal="$root/target/release/kamal"

testbed/up.sh
set -a
# shellcheck disable=SC1091
. "${KAMAL_TESTBED_STATE:-/var/lib/kamal-testbed}/env"
set +a

# Our kamal-proxy image, where examples/app's proxy.run looks for it.
images/kamal-proxy/build.sh kamal-proxy:dev
docker tag kamal-proxy:dev "$KAMAL_TESTBED_REGISTRY_LOCAL/basecamp/kamal-proxy:v0.9.2"
DOCKER_CONFIG="$KAMAL_TESTBED_STATE/docker-config" docker push -q "$KAMAL_TESTBED_REGISTRY_LOCAL/basecamp/kamal-proxy:v0.9.2"

cd examples/app
"$kamal" config --version v1
for version in v1 v2; do
  VERSION="$version" "$kamal" deploy --skip-push
  for host in ${KAMAL_TESTBED_HOSTS//,/ }; do
    echo "$host answers: $(curl -fsS "http://$host/version")"
  done
done
"$kamal" app containers -q
