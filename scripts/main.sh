#!/usr/bin/env bash
# The main job: builds kamal-rs and runs it on the bundled example app
# (examples/app). Today that is `kamal config` (the configuration layer is what has landed);
# it becomes a real deploy to local test hosts as the host and app-lifecycle work lands.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p kamal
kamal="$PWD/target/release/kamal"
cd examples/app
VERSION="${VERSION:-v1}" "$kamal" config
