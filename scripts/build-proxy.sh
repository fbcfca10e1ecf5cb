#!/usr/bin/env bash
# Builds kamal-proxy for release, profile-guided (PGO) with whole-program LTO, and prints the binary's path
# on stdout:
#
#   scripts/build-proxy.sh [CARGO_BUILD_ARGS…]      e.g. --target x86_64-unknown-linux-gnu
#
# 1. an instrumented build (-Cprofile-generate, same LTO) of kamal-proxy and of its training workload,
#    crates/kamal-proxy-pgo, in one cargo run (they share their dependencies), in
#    $CARGO_TARGET_DIR/pgo-generate so the main cache stays;
# 2. the training: the instrumented proxy in front of a local upstream, a mix of HTTP/1.1, HTTPS and HTTP/2
#    traffic (see crates/kamal-proxy-pgo/src/main.rs);
# 3. the release build with -Cprofile-use of the merged profile, fat LTO and one codegen unit (the
#    workspace's release profile keeps thin LTO, for the build time of everything else).
# The profile comes from this tree's code every time: nothing is checked in, nothing goes stale.
#
# KAMAL_PROXY_PGO=0, or no llvm-profdata (rustup's llvm-tools component, added here when rustup is present):
# the same release build without the profile. RUSTFLAGS, CARGO_TARGET_DIR and the arguments apply to every
# build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-proxy}"
CARGO_TARGET_DIR=$(realpath -m "$CARGO_TARGET_DIR")
rustflags="${RUSTFLAGS:-}"

# The --target triple, if one was given: the binary lives under it.
target_subdir=""
previous=""
for argument in "$@"; do
    case "$argument" in
    --target=*) target_subdir="${argument#--target=}/" ;;
    *) [ "$previous" = --target ] && target_subdir="$argument/" ;;
    esac
    previous="$argument"
done
binary="$CARGO_TARGET_DIR/${target_subdir}release/kamal-proxy"

profdata() {
    local sysroot found
    sysroot=$(rustc --print sysroot)
    found=$(find "$sysroot/lib/rustlib" -name llvm-profdata -type f 2>/dev/null | head -n1)
    if [ -z "$found" ] && command -v rustup >/dev/null; then
        rustup component add llvm-tools >&2 || rustup component add llvm-tools-preview >&2 || true
        found=$(find "$sysroot/lib/rustlib" -name llvm-profdata -type f 2>/dev/null | head -n1)
    fi
    echo "$found"
}

# The final build's code generation: one unit, whole-program LTO (fewer instructions, better layout).
final_build() { # extra-rustflags cargo-args…
    local extra=$1
    shift
    RUSTFLAGS="$rustflags $extra" CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
        cargo build --release --locked -q -p kamal-proxy "$@" >&2
    echo "$binary"
}

plain() {
    final_build "" "$@"
}

if [ "${KAMAL_PROXY_PGO:-1}" = 0 ]; then
    plain "$@"
    exit 0
fi
llvm_profdata=$(profdata)
if [ -z "$llvm_profdata" ]; then
    echo "build-proxy.sh: no llvm-profdata (rustup component add llvm-tools); building without PGO" >&2
    plain "$@"
    exit 0
fi

profiles="$CARGO_TARGET_DIR/pgo-profiles"
# Steps 1 and 2; fails if any does (e.g. a target whose standard library has no profiler runtime).
profile() { # cargo-args…
    rm -rf "$profiles"
    mkdir -p "$profiles"
    echo "build-proxy.sh: instrumented build…" >&2
    # The same code generation as the final build: with thin LTO here the profile matched it less well (the
    # final binary spent ~25 % more user time per request than with a profile from a fat-LTO build).
    RUSTFLAGS="$rustflags -Cprofile-generate=$profiles" CARGO_TARGET_DIR="$CARGO_TARGET_DIR/pgo-generate" \
        CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
        cargo build --release --locked -q -p kamal-proxy -p kamal-proxy-pgo "$@" >&2 || return 1
    local generated="$CARGO_TARGET_DIR/pgo-generate/${target_subdir}release"
    echo "build-proxy.sh: training…" >&2
    # The trainer is instrumented too (same flags, shared dependencies); its own profile goes elsewhere.
    KAMAL_PROXY_PROFILE_FILE="$profiles/kamal-proxy-%p-%m.profraw" LLVM_PROFILE_FILE="$profiles/trainer/%p.profraw" \
        "$generated/kamal-proxy-pgo-train" "$generated/kamal-proxy" >&2 || return 1
    "$llvm_profdata" merge -o "$profiles/merged.profdata" "$profiles"/kamal-proxy-*.profraw >&2
}

# PGO is an optimisation: if it cannot be had here, the build goes on without it, and says so.
if ! profile "$@"; then
    echo "build-proxy.sh: the profile could not be made (see above); building without PGO" >&2
    plain "$@"
    exit 0
fi
echo "build-proxy.sh: profile-guided build…" >&2
final_build "-Cprofile-use=$profiles/merged.profdata" "$@"
