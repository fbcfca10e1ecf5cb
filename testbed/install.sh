#!/usr/bin/env bash
# Install what the test bed needs on a Debian 12 machine and make sure a
# Docker engine answers. Safe to run any number of times.
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"
require_root

packages=(
    docker.io       # the machine's engine: runs the vms and the registry
    openssh-client  # ssh, ssh-keygen
    debootstrap     # builds the vm root file system
    apache2-utils   # htpasswd, for the registry's bcrypt password file
    busybox-static  # the app image's only binary
    curl            # readiness checks against the registry and the app
    iproute2
    util-linux      # flock, setsid
)

missing=()
for package in "${packages[@]}"; do
    if [[ $(dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null) != installed ]]; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"; then
        log "install failed; refreshing the package lists once and retrying"
        apt-get -o DPkg::Lock::Timeout=600 update
        apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
    fi
else
    log "packages present"
fi

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

if docker_answers; then
    log "docker answers"
    exit 0
fi

dockerd_log=/var/log/dockerd.log
if pid=$(cat /var/run/docker.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid $pid) is running but not answering yet; waiting"
else
    log "starting dockerd (log: $dockerd_log)"
    # The bed's subnet is trusted for plain HTTP so that the machine can also
    # push to and log in at the registry's bed address, as Kamal does.
    setsid -f dockerd --insecure-registry "$SUBNET" >>"$dockerd_log" 2>&1 </dev/null
fi
wait_until "$DEADLINE" "dockerd to answer 'docker info' (see $dockerd_log)" docker_answers
log "docker answers"
