#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine: installs what the tests need,
# then `cargo test` over the workspace (unit tests, golden command lines, the real-world
# config corpus compared with Kamal 2.11's own output, proxy tests on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (Rust 1.85 or newer)" >&2
  exit 1
fi
# The corpus harness (../shared/corpus/check.sh) needs only POSIX tools and GNU xargs.
missing=""
for tool in bash xargs diff sed awk timeout; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq coreutils findutils diffutils sed gawk
  else
    echo "missing tools:$missing" >&2; exit 1
  fi
fi

cargo test --workspace --locked "$@"
