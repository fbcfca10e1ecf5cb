#!/usr/bin/env bash
# Records the golden help texts from the real Kamal 2.11 (KAMAL_REF, default
# /opt/kamal-ref/bin/kamal) for every line of cases.txt:
#   <name>.txt  stdout, when Kamal exits 0 (its stderr is then empty)
#   <name>.err  stderr, when it fails (its stdout is then empty)
# <name> is `kamal` and the words joined by `_`, characters other than [A-Za-z0-9._=-]
# made `_` (the rule tests/help.rs uses).
#
# Our one deliberate difference: the class options end in our `[--dry-run]` line, aligned
# with the rest of its table. It is inserted after `-H, [--skip-hooks]`'s `# Default: false`.
#
# Run from anywhere; Kamal runs in a scratch directory without a config, with stdin from
# /dev/null, TERM=dumb and no COLUMNS/THOR_COLUMNS, so tables are cut at 80 columns, as in
# the test.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ref="${KAMAL_REF:-/opt/kamal-ref/bin/kamal}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

name_for() {
  local name="kamal"
  local word
  for word in "$@"; do
    name="${name}_$(printf '%s' "$word" | tr -c 'A-Za-z0-9._=-' '_')"
  done
  printf '%s' "$name"
}

with_dry_run() {
  awk '
    { print }
    skip_hooks && /# Default: false$/ {
      column = index($0, "#") - 1
      line = "      [--dry-run]"
      while (length(line) < column) line = line " "
      print line "# Print, per host, every command that would run; change nothing"
    }
    { skip_hooks = ($0 ~ /^  -H, \[--skip-hooks\] /) }
  '
}

rm -f "$here"/*.txt.tmp
find "$here" -maxdepth 1 \( -name 'kamal*.txt' -o -name 'kamal*.err' \) -delete

while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  environment=()
  words=()
  if [[ "$line" != "-" ]]; then
    read -r -a all <<<"$line"
    for word in "${all[@]}"; do
      if [[ ${#words[@]} -eq 0 && "$word" =~ ^[A-Z_]+= ]]; then
        environment+=("$word")
      else
        words+=("$word")
      fi
    done
  fi
  name="$(name_for ${environment[@]+"${environment[@]}"} ${words[@]+"${words[@]}"})"
  status=0
  (cd "$scratch" && env -u COLUMNS -u THOR_COLUMNS TERM=dumb NO_COLOR=1 \
    ${environment[@]+"${environment[@]}"} "$ref" ${words[@]+"${words[@]}"} \
    </dev/null >"$scratch/out" 2>"$scratch/err") || status=$?
  if [[ $status -eq 0 ]]; then
    [[ -s "$scratch/err" ]] && { echo "$line: stderr on success" >&2; exit 1; }
    with_dry_run <"$scratch/out" >"$here/$name.txt"
  else
    [[ -s "$scratch/out" ]] && { echo "$line: stdout on failure" >&2; exit 1; }
    cp "$scratch/err" "$here/$name.err"
  fi
done <"$here/cases.txt"
echo "recorded $(ls "$here" | grep -c '^kamal') golden files"
