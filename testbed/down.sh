#!/usr/bin/env bash
# Tear the test bed down: vms (stopped cleanly, so each stops its own dockerd
# first), their docker volumes, the registry and the network. Keeps the cached
# vm image and the state dir's keys and password, so the next up.sh is quick
# and known_hosts stays valid.
#
# usage: testbed/down.sh [--all]
#   --all  also remove the vm image, the app images and the whole state dir
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"

all=false
case "${1:-}" in
"") ;;
--all) all=true ;;
*) die "usage: $0 [--all]" ;;
esac

require_root
started=$(now_ms)
if ! timeout 10 docker info >/dev/null 2>&1; then
    log "docker does not answer: nothing of the bed can be running"
else
    take_lock
    mapfile -t vms < <(docker ps -a --filter "label=$NAME=vm" --format '{{.Names}}')
    if ((${#vms[@]})); then
        log "stopping ${vms[*]}"
        # docker stops them in parallel; each vm's init stops its dockerd.
        docker stop --time 30 "${vms[@]}" >/dev/null
    fi
    mapfile -t containers < <(docker ps -a --filter "label=$NAME" --format '{{.Names}}')
    if ((${#containers[@]})); then
        log "removing ${containers[*]}"
        docker rm --force "${containers[@]}" >/dev/null
    fi
    mapfile -t volumes < <(docker volume ls -q --filter "name=^$NAME-vm[0-9]+-docker$")
    if ((${#volumes[@]})); then
        log "removing volumes ${volumes[*]}"
        docker volume rm --force "${volumes[@]}" >/dev/null
    fi
    if docker network inspect "$NETWORK" >/dev/null 2>&1; then
        log "removing network $NETWORK"
        docker network rm "$NETWORK" >/dev/null
    fi
    if $all; then
        mapfile -t images < <(docker image ls --format '{{.Repository}}:{{.Tag}}' |
            grep -E "^($VM_IMAGE_REPOSITORY|$REGISTRY_LOCAL/$APP_REPOSITORY|$REGISTRY/$APP_REPOSITORY):" || true)
        if ((${#images[@]})); then
            log "removing images ${images[*]}"
            docker rmi --force "${images[@]}" >/dev/null
        fi
    fi
fi

# The bed's facts describe a bed that is up: tests must not find stale ones.
rm -f "$STATE"/{hosts,env,known_hosts,ssh_config,registry,authorized_keys}
if $all && [[ -d $STATE ]]; then
    log "removing $STATE"
    rm -rf "$STATE"
fi
log "test bed down in $(elapsed_since "$started")"
