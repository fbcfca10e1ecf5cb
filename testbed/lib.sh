# shellcheck shell=bash disable=SC2034
# Settings and helpers shared by the test bed scripts. Sourced, never run.
#
# Every docker object the bed owns is named `kamal-testbed*` and carries the
# label `kamal-testbed`, so down.sh and status.sh find exactly those.

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$TESTBED_DIR")

# Absolute: it is bind-mounted into containers.
STATE=$(realpath -m "${KAMAL_TESTBED_STATE:-/var/lib/kamal-testbed}")

NAME=kamal-testbed
NETWORK=$NAME
# A /24 of the bed's own: the registry is .2, vm i is .(10+i).
SUBNET_PREFIX=${KAMAL_TESTBED_SUBNET_PREFIX:-10.213.0}
SUBNET=$SUBNET_PREFIX.0/24
GATEWAY=$SUBNET_PREFIX.1
REGISTRY_IP=$SUBNET_PREFIX.2
REGISTRY_PORT=5000
REGISTRY=$REGISTRY_IP:$REGISTRY_PORT
# The registry is also published on loopback: the machine's dockerd trusts
# plain-HTTP registries on 127.0.0.0/8 without any configuration.
REGISTRY_LOCAL=127.0.0.1:${KAMAL_TESTBED_REGISTRY_LOCAL_PORT:-5050}
REGISTRY_USER=testbed
REGISTRY_CONTAINER=$NAME-registry

APP_SOURCE=$REPO_DIR/examples/app
APP_REPOSITORY=$NAME/app
APP_SERVICE=app
APP_VERSIONS=(v1 v2)

VM_IMAGE_REPOSITORY=$NAME-vm
VM_PACKAGES_FILE=$TESTBED_DIR/vm/packages
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${KAMAL_TESTBED_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Seconds each wait may take before the script gives up.
DEADLINE=${KAMAL_TESTBED_DEADLINE:-60}

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] error: %s\n' "$*" >&2; exit 1; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# elapsed_since START_MS: seconds since START_MS, to a tenth ("7.3s").
elapsed_since() {
    local ms=$(($(now_ms) - $1))
    echo "$((ms / 1000)).$((ms % 1000 / 100))s"
}

# wait_until SECONDS DESCRIPTION COMMAND...: run COMMAND until it succeeds,
# polling every 0.1 s; fail with DESCRIPTION after SECONDS.
wait_until() {
    local seconds=$1 description=$2
    shift 2
    local deadline=$(($(now_ms) + seconds * 1000))
    until "$@" >/dev/null 2>&1; do
        if (($(now_ms) > deadline)); then
            die "timed out after ${seconds}s waiting for $description"
        fi
        sleep 0.1
    done
}

vm_name() { echo "$NAME-vm$1"; }
vm_ip() { echo "$SUBNET_PREFIX.$((10 + $1))"; }
vm_volume() { echo "$NAME-vm$1-docker"; }

# The vm image's tag: a hash of everything that goes into it, so the image is
# rebuilt exactly when its package list, init script or build steps change.
vm_image() {
    local hash
    hash=$(cat "$TESTBED_DIR"/vm/* "$TESTBED_DIR/build-vm-image.sh" |
        sha256sum | cut -c1-12)
    echo "$VM_IMAGE_REPOSITORY:$hash"
}

# vm_ssh IP [SSH ARGS] COMMAND: run COMMAND on a vm with the bed's ssh config.
vm_ssh() {
    local ip=$1
    shift
    ssh -F "$STATE/ssh_config" "root@$ip" "$@"
}

require_root() {
    [[ $(id -u) == 0 ]] || die "run as root (the bed starts containers and writes $STATE)"
}

# Serialise the scripts that change the bed: a second up.sh waits for the first.
take_lock() {
    mkdir -p "$STATE"
    exec {lock_fd}>"$STATE/.lock"
    if ! flock -n "$lock_fd"; then
        log "another test bed script holds $STATE/.lock; waiting"
        flock -w 600 "$lock_fd" || die "could not take $STATE/.lock within 600s"
    fi
}
