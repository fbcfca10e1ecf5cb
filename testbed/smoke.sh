#!/usr/bin/env bash
# Smoke check of a bed that is up: on every vm, over ssh, log in at the bed
# registry, `docker run --rm` the app pulled from it, and reach a published
# port of a container on the vm from here. One PASS/FAIL line per check, then
# `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"

[[ -f $STATE/env ]] || die "the bed is not up (no $STATE/env): run testbed/up.sh"
# shellcheck source=/dev/null
source "$STATE/env"
IFS=, read -r -a hosts <<<"$KAMAL_TESTBED_HOSTS"
image=$KAMAL_TESTBED_REGISTRY/$KAMAL_TESTBED_APP_IMAGE
smoke_port=18080
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# check_host INDEX IP: writes "PASS|FAIL description" lines to $results/INDEX.
check_host() {
    local index=$1 ip=$2 out=$results/$1 output
    local name="vm$index $ip"

    if output=$(vm_ssh "$ip" "docker login --username $KAMAL_TESTBED_REGISTRY_USER --password-stdin $KAMAL_TESTBED_REGISTRY" \
        <<<"$KAMAL_TESTBED_REGISTRY_PASSWORD" 2>&1); then
        echo "PASS $name: docker login $KAMAL_TESTBED_REGISTRY" >>"$out"
    else
        echo "FAIL $name: docker login $KAMAL_TESTBED_REGISTRY: $output" >>"$out"
        return
    fi

    if output=$(vm_ssh "$ip" "docker run --rm --pull always $image:v1 selftest" 2>&1) &&
        [[ $output == *"app v1"* ]]; then
        echo "PASS $name: docker run --rm --pull always $image:v1 answers /up and names v1" >>"$out"
    else
        echo "FAIL $name: docker run --rm $image:v1: $(tail -3 <<<"$output" | tr '\n' ' ')" >>"$out"
    fi

    # A port published by a container on the vm is reachable at the vm's IP
    # (what kamal-proxy's 80/443 rely on).
    local container=$NAME-smoke
    if output=$(vm_ssh "$ip" "docker rm -f $container >/dev/null 2>&1; docker run -d --rm --name $container -p $smoke_port:80 $image:v2" 2>&1) &&
        wait_until_quiet 10 curl -fsS --max-time 1 "http://$ip:$smoke_port/up" &&
        [[ $(curl -fsS --max-time 2 "http://$ip:$smoke_port/") == *"app v2"* ]]; then
        echo "PASS $name: container port $smoke_port published at $ip answers /up and names v2" >>"$out"
    else
        echo "FAIL $name: container port $smoke_port published at $ip: $output" >>"$out"
    fi
    # Leave the vm as found: no container, no stored login.
    vm_ssh "$ip" "docker rm -f $container; docker logout $KAMAL_TESTBED_REGISTRY" >/dev/null 2>&1 || true
}

# Like wait_until, but returns 1 at the deadline instead of ending the script.
wait_until_quiet() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@" >/dev/null 2>&1; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

started=$(now_ms)
for index in "${!hosts[@]}"; do
    check_host "$((index + 1))" "${hosts[$index]}" &
done
wait

passed=0
failed=0
for index in "${!hosts[@]}"; do
    [[ -s $results/$((index + 1)) ]] ||
        echo "FAIL vm$((index + 1)) ${hosts[$index]}: the check itself failed" >"$results/$((index + 1))"
    while read -r line; do
        echo "$line"
        if [[ $line == PASS* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done <"$results/$((index + 1))"
done
log "smoke check of ${#hosts[@]} vms in $(elapsed_since "$started")"
echo "$passed passed, $failed failed"
((failed == 0))
