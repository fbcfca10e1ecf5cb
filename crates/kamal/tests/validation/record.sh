#!/usr/bin/env bash
# record.sh — (re)record each case's `expected` from the real Kamal 2.11.
#
# Usage: record.sh [CASE...]        (default: every case folder beside this script)
#
# A case folder holds `config/` (and optionally `.kamal/`, anything else the config reads),
# an optional `args` file (extra arguments to `kamal config`, split on whitespace) and the
# recorded `expected`: a first line `exit_code: N`, then Kamal's stdout verbatim, with ANSI
# colours stripped and the sandbox path replaced by `$WORK` (validation.rs does the same).
#
# Each run happens in a fresh copy of the case under a temporary folder, with
#   env -i PATH=/usr/bin:/bin HOME=<empty dir> LANG=C.UTF-8 VERSION=v1
# A case where Kamal dies with a Ruby backtrace (an uncaught exception) is not recorded:
# it is reported as SKIP and its `expected` is removed.
#
# Environment: KAMAL=path (default /opt/kamal-ref/bin/kamal), JOBS=n (default 2).
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAMAL="${KAMAL:-/opt/kamal-ref/bin/kamal}"
JOBS="${JOBS:-2}"

record_one() {
  local case_dir="$HERE/$1" root work home args=() rc
  root="$(mktemp -d)"; work="$root/work"; home="$root/home"
  mkdir -p "$work" "$home"
  (cd "$case_dir" && for f in * .[!.]*; do
     case "$f" in expected|args|'*'|'.[!.]*') continue ;; esac
     cp -R "$f" "$work/$f"
   done)
  if [ -f "$case_dir/args" ]; then read -r -a args < "$case_dir/args"; fi
  (cd "$work" && env -i PATH=/usr/bin:/bin HOME="$home" LANG=C.UTF-8 VERSION=v1 \
      "$KAMAL" config "${args[@]}" > "$root/stdout" 2> "$root/stderr" < /dev/null)
  rc=$?
  if grep -qE '\.rb:[0-9]+:in ' "$root/stderr"; then
    echo "SKIP (backtrace): $1: $(head -n 1 "$root/stderr")"
    rm -f "$case_dir/expected"
  else
    { echo "exit_code: $rc"
      sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e "s#$work#\$WORK#g" "$root/stdout"
    } > "$case_dir/expected"
    echo "$1: exit $rc"
  fi
  rm -rf "$root"
}

if [ "${1:-}" = "--one" ]; then record_one "$2"; exit 0; fi
if [ $# -gt 0 ]; then CASES=("$@"); else
  CASES=(); for d in "$HERE"/*/; do CASES+=("$(basename "$d")"); done
fi
export HERE KAMAL
printf '%s\n' "${CASES[@]}" | xargs -P "$JOBS" -I{} bash "${BASH_SOURCE[0]}" --one {} | sort
