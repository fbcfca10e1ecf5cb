#!/usr/bin/env bash
# Build the vm image (Debian 12 minbase + sshd + docker) unless an image with
# the same content hash exists. Prints the image's name on stdout.
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"
require_root

image=$(vm_image)
if docker image inspect "$image" >/dev/null 2>&1; then
    log "vm image $image is cached"
    echo "$image"
    exit 0
fi

started=$(now_ms)
rootfs=$(mktemp -d /var/tmp/kamal-testbed-rootfs.XXXXXX)
cleanup() {
    # debootstrap may leave /proc or /sys mounted inside after a failure.
    for mount in proc sys dev/pts dev; do
        umount -l "$rootfs/$mount" 2>/dev/null || true
    done
    rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

include=$(grep -v '^#' "$VM_PACKAGES_FILE" | grep -v '^[[:space:]]*$' | paste -sd, -)
log "building vm image $image: debootstrap $DEBIAN_SUITE with $include (1 to 3 minutes)"
mkdir -p "$STATE/logs"
if ! debootstrap --variant=minbase --include="$include" \
    "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$STATE/logs/debootstrap.log" 2>&1; then
    tail -20 "$STATE/logs/debootstrap.log" >&2
    die "debootstrap failed (full log: $STATE/logs/debootstrap.log)"
fi

install -m 0755 "$TESTBED_DIR/vm/init.sh" "$rootfs/usr/local/sbin/kamal-testbed-init"
install -m 0644 "$TESTBED_DIR/vm/sshd_config" "$rootfs/etc/ssh/sshd_config.d/kamal-testbed.conf"
# Each vm gets the bed's one host key and authorized key at run time.
rm -f "$rootfs"/etc/ssh/ssh_host_*
install -d -m 0700 "$rootfs/root/.ssh"
# Nothing in a vm installs packages: drop what only apt and people read.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old

tar --numeric-owner -C "$rootfs" -c . |
    docker import \
        --change 'CMD ["/usr/local/sbin/kamal-testbed-init"]' \
        --change "LABEL $NAME=vm-image" \
        --message "kamal test bed vm" - "$image" >/dev/null

log "built vm image $image in $((($(now_ms) - started) / 1000))s"
echo "$image"
