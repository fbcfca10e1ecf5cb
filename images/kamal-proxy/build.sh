#!/usr/bin/env bash
# Builds the kamal-proxy image FROM scratch with one command:
#
#   images/kamal-proxy/build.sh [TAG]          # default tag: kamal-proxy:dev
#   STAGE_ONLY=1 images/kamal-proxy/build.sh   # build the binary and stage the context, skip `docker build`
#
# The binary is profile-guided (scripts/build-proxy.sh) and static: a musl target when one is installed, otherwise glibc with +crt-static. (glibc 2.34+
# has the dns and files NSS modules built in, so resolving container names through Docker's DNS works in a
# scratch image; Docker provides /etc/resolv.conf and /etc/hosts.)
set -euo pipefail

repository_root="$(cd "$(dirname "$0")/../.." && pwd)"
tag="${1:-kamal-proxy:dev}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repository_root/target-proxy}"

architecture="$(uname -m)"
musl_target="${architecture}-unknown-linux-musl"
if rustup target list --installed 2>/dev/null | grep -qx "$musl_target"; then
  target="$musl_target"
  rustflags="${RUSTFLAGS:-}"
else
  target="${architecture}-unknown-linux-gnu"
  rustflags="${RUSTFLAGS:-} -C target-feature=+crt-static"
  echo "build.sh: no $musl_target target installed; building a static glibc binary (+crt-static)" >&2
fi

cd "$repository_root"
# Profile-guided (scripts/build-proxy.sh; KAMAL_PROXY_PGO=0 for a plain release build).
binary=$(RUSTFLAGS="$rustflags" scripts/build-proxy.sh --target "$target")

# ldd lists "lib => path" lines only for dynamic executables (a static-pie prints "statically linked").
if ldd "$binary" 2>&1 | grep -q '=>'; then
  echo "build.sh: $binary is dynamically linked; refusing to put it in a scratch image" >&2
  exit 1
fi

context="$CARGO_TARGET_DIR/image-context"
rm -rf "$context"
mkdir -p "$context/root/etc/ssl/certs" "$context/root/tmp" "$context/home/home/kamal-proxy/.config/kamal-proxy"
cp "$binary" "$context/kamal-proxy"
cp "$repository_root/images/kamal-proxy/Dockerfile" "$context/Dockerfile"
# uid/gid 1001 as in the Go image (`useradd kamal-proxy` on ubuntu:noble, whose `ubuntu` user is 1000): the
# kamal-proxy-config volume outlives image swaps, and a volume written as another uid cannot take the state file.
printf 'root:x:0:0:root:/root:/sbin/nologin\nkamal-proxy:x:1001:1001::/home/kamal-proxy:/sbin/nologin\n' \
  >"$context/root/etc/passwd"
printf 'root:x:0:\nkamal-proxy:x:1001:\n' >"$context/root/etc/group"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$context/root/etc/ssl/certs/ca-certificates.crt"
fi
chmod 1777 "$context/root/tmp"
chmod 0755 "$context/home/home" "$context/home/home/kamal-proxy" "$context/home/home/kamal-proxy/.config"
chmod 0700 "$context/home/home/kamal-proxy/.config/kamal-proxy"
tar --numeric-owner --owner=0 --group=0 -C "$context/root" -cf "$context/root.tar" .
tar --numeric-owner --owner=1001 --group=1001 -C "$context/home" -cf "$context/home.tar" home/kamal-proxy
rm -rf "$context/root" "$context/home"

if [ -n "${STAGE_ONLY:-}" ]; then
  echo "build.sh: context staged in $context (STAGE_ONLY set, skipping docker build)"
  exit 0
fi
if ! docker info >/dev/null 2>&1; then
  echo "build.sh: no Docker engine reachable; context staged in $context, run: docker build -t $tag $context" >&2
  exit 2
fi
docker build -t "$tag" "$context"
echo "build.sh: built $tag"
