#!/usr/bin/env bash
# Proves our kamal-proxy image is a drop-in on the bed's vms: Kamal 2.11's own
# commands, byte for byte (kamal.md §5.2, §5.4, §5.5), against the image.
#
#   testbed/proxy-smoke.sh [--build] [--clean] [IMAGE]
#
#   --build  build the image (images/kamal-proxy/build.sh) and push it to the
#            bed registry as basecamp/kamal-proxy:v0.9.2 and kamal-proxy:dev
#   --clean  first remove a kamal-proxy container, app-web-* containers, the
#            kamal-proxy-config volume and the kamal network left on the vms
#            (without it the script refuses to touch a vm that has them:
#            they may be someone else's Kamal deploy)
#   IMAGE    default $KAMAL_TESTBED_REGISTRY/basecamp/kamal-proxy:v0.9.2
#            (Kamal reads the version from the tag and wants >= v0.9.2)
#
# On every vm in parallel, over ssh: log in at the bed registry, create the
# kamal network, boot the proxy with Kamal's `docker run` line, run app v1 and
# v2 the way Kamal runs app containers and switch to each with Kamal's
# `kamal-proxy deploy` (checking from here that every request during the
# switch is answered 200), a deploy that fails its health check (exit 1, v2
# keeps serving), maintenance and live, `docker restart` and `docker stop` +
# `docker container start` of the proxy and Kamal's `proxy reboot` sequence
# (state restored each time), `kamal-proxy list`, and an upgrade from the Go
# image (a config volume it wrote: restored, and still saved into);
# then remove what it started. One PASS/FAIL line per check, then
# `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"

build=false
clean=false
image=
for argument in "$@"; do
    case $argument in
    --build) build=true ;;
    --clean) clean=true ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) die "unknown option $argument (see --help)" ;;
    *) image=$argument ;;
    esac
done

[[ -f $STATE/env ]] || die "the bed is not up (no $STATE/env): run testbed/up.sh"
# shellcheck source=/dev/null
source "$STATE/env"
IFS=, read -r -a hosts <<<"$KAMAL_TESTBED_HOSTS"
registry=$KAMAL_TESTBED_REGISTRY
image=${image:-$registry/basecamp/kamal-proxy:v0.9.2}
app_image=$registry/$KAMAL_TESTBED_APP_IMAGE
service=$KAMAL_TESTBED_APP_SERVICE-web
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if $build; then
    started=$(now_ms)
    "$REPO_DIR/images/kamal-proxy/build.sh" kamal-proxy:dev >"$work/build.log" 2>&1 ||
        { tail -20 "$work/build.log" >&2; die "images/kamal-proxy/build.sh failed"; }
    for tag in basecamp/kamal-proxy:v0.9.2 kamal-proxy:dev; do
        docker tag kamal-proxy:dev "$KAMAL_TESTBED_REGISTRY_LOCAL/$tag"
        DOCKER_CONFIG=$STATE/docker-config docker push "$KAMAL_TESTBED_REGISTRY_LOCAL/$tag" >>"$work/build.log" 2>&1 ||
            { tail -5 "$work/build.log" >&2; die "push of $tag to $KAMAL_TESTBED_REGISTRY_LOCAL failed"; }
    done
    log "built kamal-proxy:dev and pushed it as $registry/basecamp/kamal-proxy:v0.9.2 and $registry/kamal-proxy:dev in $(elapsed_since "$started")"
fi

# Kamal's commands (2.11), with the values this script uses.
proxy_run="docker run --name kamal-proxy --network kamal --detach --restart unless-stopped --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy --volume \$PWD/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config --publish 80:80 --publish 443:443 --log-opt max-size=10m $image kamal-proxy run"
# app_run HOST VERSION: kamal.md §5.2 (the env file is empty: the app has no secrets).
app_run() {
    local container=$service-$2
    echo "docker run --detach --restart unless-stopped --name $container --network kamal --hostname $1-$(printf '%012x' "$RANDOM$RANDOM") --env KAMAL_CONTAINER_NAME=\"$container\" --env KAMAL_VERSION=\"$2\" --env KAMAL_HOST=\"$1\" --env-file .kamal/apps/$KAMAL_TESTBED_APP_SERVICE/env/roles/web.env --log-opt max-size=\"10m\" --label service=\"$KAMAL_TESTBED_APP_SERVICE\" --label role=\"web\" --label destination $app_image:$2"
}
container_id() { echo "docker container ls --all --filter 'name=^$service-$1\$' --quiet"; }
# deploy VERSION [EXTRA FLAGS]: kamal.md §5.4 for a web role with no host, no TLS, default timeouts.
deploy() {
    echo "docker exec kamal-proxy kamal-proxy deploy $service --target=\"\$($(container_id "$1")):80\" --deploy-timeout=\"${deploy_timeout:-30}s\" --drain-timeout=\"30s\" ${2:-}--buffer-requests --buffer-responses --log-request-header=\"Cache-Control\" --log-request-header=\"Last-Modified\" --log-request-header=\"User-Agent\""
}
maintenance="docker exec kamal-proxy kamal-proxy stop $service --drain-timeout=\"30s\" --message=\"Back soon\""
live="docker exec kamal-proxy kamal-proxy resume $service"
proxy_version="docker inspect kamal-proxy --format '{{.Config.Image}}' | awk -F: '{print \$NF}'"
cleanup="docker rm -f kamal-proxy $service-v1 $service-v2 $service-broken; docker volume rm kamal-proxy-config; docker network rm kamal; rm -rf .kamal/proxy .kamal/apps/$KAMAL_TESTBED_APP_SERVICE; rmdir .kamal/apps .kamal; docker image rm $image $app_image:v1 $app_image:v2; docker logout $registry"

# Like wait_until, but returns 1 at the deadline instead of ending the script.
poll() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@" >/dev/null 2>&1; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

# page_is IP STATUS TEXT: GET http://IP/ answers STATUS with TEXT in the body.
page_is() {
    local body status
    body=$(curl -sS --max-time 2 -w '\n%{http_code}' "http://$1/") || return 1
    status=${body##*$'\n'}
    [[ $status == "$2" && ${body%$'\n'*} == *"$3"* ]]
}

# check_host INDEX IP: writes "PASS|FAIL description" lines to $work/INDEX.
check_host() {
    # Not local: the EXIT trap below needs ip and control after the function has unwound.
    index=$1 ip=$2 control=$work/ssh-$1
    local out=$work/$index name="vm$index $ip" output

    on_vm() { ssh -F "$STATE/ssh_config" -o ControlMaster=auto -o ControlPath="$control" -o ControlPersist=300 "root@$ip" "$@"; }
    pass() { echo "PASS $name: $*" >>"$out"; }
    fail() { echo "FAIL $name: $*" >>"$out"; }
    # step DESCRIPTION COMMAND...: PASS when COMMAND succeeds, else FAIL with its last output lines and status 1
    # (callers say `|| return` when later checks make no sense without it, else `|| true`: this runs under set -e).
    step() {
        local description=$1
        shift
        if output=$("$@" 2>&1); then pass "$description"; else fail "$description: $(tail -3 <<<"$output" | tr '\n' ' ')"; return 1; fi
    }

    local leftovers
    leftovers=$(on_vm "docker ps -a --format '{{.Names}}' --filter name=kamal-proxy --filter name=$service-; docker volume ls -q --filter name=kamal-proxy-config; docker network ls -q --filter name=^kamal\$" 2>&1) || {
        fail "ssh: $leftovers"
        return
    }
    if [[ -n $leftovers ]]; then
        if $clean; then
            on_vm "$cleanup" >/dev/null 2>&1 || true
        else
            fail "the vm has a kamal-proxy, $service-*, kamal-proxy-config or kamal network already (someone's deploy?); rerun with --clean to remove them"
            return
        fi
    fi
    # From here on, whatever happens, the vm is left as found (check_host runs in its own subshell).
    trap 'on_vm "$cleanup" >/dev/null 2>&1 || true; ssh -o ControlPath="$control" -O exit "root@$ip" >/dev/null 2>&1 || true' EXIT

    step "docker login $registry" on_vm "docker login --username $KAMAL_TESTBED_REGISTRY_USER --password-stdin $registry" \
        <<<"$KAMAL_TESTBED_REGISTRY_PASSWORD" || return
    step "docker network create kamal" on_vm "docker network create kamal" || return
    step "proxy booted with Kamal's docker run line" on_vm "mkdir -p .kamal/proxy/apps-config && $proxy_run" || return
    if poll 30 on_vm "docker exec kamal-proxy kamal-proxy list" && poll 10 page_is "$ip" 404 ""; then
        pass "proxy answers its control socket, and http://$ip/ with 404 before any deploy"
    else
        fail "proxy not ready within 30s: $(on_vm 'docker logs --tail 5 kamal-proxy' 2>&1 | tr '\n' ' ')"
        return
    fi
    output=$(on_vm "$proxy_version" 2>&1) || true
    if [[ $output == "${image##*:}" ]]; then pass "Kamal's version probe reads ${image##*:}"; else fail "Kamal's version probe: '$output'"; fi

    step "app v1 runs as Kamal runs it" on_vm "mkdir -p .kamal/apps/$KAMAL_TESTBED_APP_SERVICE/env/roles && touch .kamal/apps/$KAMAL_TESTBED_APP_SERVICE/env/roles/web.env && $(app_run "$ip" v1)" || return
    step "kamal-proxy deploy v1 (Kamal's flags)" on_vm "$(deploy v1)" || return
    if poll 5 page_is "$ip" 200 "app v1"; then pass "http://$ip/ serves v1"; else fail "http://$ip/ does not serve v1: $(curl -sS --max-time 2 "http://$ip/" 2>&1 | tail -1)"; fi

    # Go's status line and canonical header names (curl -i output, scripts that grep it).
    output=$(curl -sS --max-time 2 -D - -o /dev/null "http://$ip/" 2>&1 | tr -d '\r') || true
    if [[ $output == "HTTP/1.1 200 OK"* && $output == *$'\nContent-Type: '* && $output == *$'\nContent-Length: '* ]]; then
        pass "response head as Go writes it (HTTP/1.1, Content-Type, Content-Length)"
    else
        fail "response head: $(tr '\n' '|' <<<"$output")"
    fi

    # Every request while v2 takes over must be answered 200, by v1 or v2.
    step "app v2 runs as Kamal runs it" on_vm "$(app_run "$ip" v2)" || return
    local statuses=$work/statuses-$index stop_load=$work/stop-load-$index
    (
        while [[ ! -e $stop_load ]]; do
            curl -s --max-time 5 -o /dev/null -w '%{http_code}\n' "http://$ip/" || echo "curl-failed"
        done
    ) >"$statuses" &
    local load=$!
    poll 5 test -s "$statuses" || true
    step "kamal-proxy deploy v2 (Kamal's flags)" on_vm "$(deploy v2)" || true
    touch "$stop_load"
    wait "$load"
    local total bad
    total=$(wc -l <"$statuses")
    bad=$(grep -cvx 200 "$statuses" || true)
    if ((total > 0 && bad == 0)); then pass "all $total requests during the v1 → v2 switch answered 200"; else fail "$bad of $total requests during the v1 → v2 switch were not 200: $(sort "$statuses" | uniq -c | tr '\n' ' ')"; fi
    if poll 5 page_is "$ip" 200 "app v2"; then pass "http://$ip/ serves v2"; else fail "http://$ip/ does not serve v2"; fi

    # Kamal relies on exit code 1 when the new container never turns healthy, and on the old one serving on.
    on_vm "docker run --detach --name $service-broken --network kamal $app_image:v1 sh -c 'rm /www/up && exec /entrypoint.sh'" >/dev/null 2>&1 || true
    output=$(on_vm "$(deploy_timeout=3 deploy broken) 2>&1; echo exit=\$?" 2>&1) || true
    if [[ $output == *"target failed to become healthy"* && $output == *exit=1 ]]; then
        pass "a deploy whose target fails /up exits 1 with 'target failed to become healthy'"
    else
        fail "a deploy whose target fails /up: $(tr '\n' ' ' <<<"$output")"
    fi
    if page_is "$ip" 200 "app v2"; then pass "v2 still serves after the failed deploy"; else fail "v2 no longer serves after the failed deploy"; fi

    step "kamal app maintenance (stop --message)" on_vm "$maintenance" || true
    if page_is "$ip" 503 "Back soon"; then pass "maintenance: 503 with the message"; else fail "maintenance: not a 503 with the message: $(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$ip/")"; fi
    if [[ $(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$ip/up") == 200 ]]; then pass "maintenance: /up still 200 for outside health checks"; else fail "maintenance: /up not 200"; fi
    step "kamal app live (resume)" on_vm "$live" || true
    if page_is "$ip" 200 "app v2"; then pass "live: 200 from v2"; else fail "live: not 200 from v2"; fi

    step "docker restart kamal-proxy" on_vm "docker restart kamal-proxy" || return
    if poll 30 page_is "$ip" 200 "app v2"; then pass "after docker restart: state restored, v2 serves"; else fail "after docker restart: v2 does not serve: $(on_vm 'docker logs --tail 5 kamal-proxy' 2>&1 | tr '\n' ' ')"; fi

    # Maintenance survives the proxy being stopped and started again (Kamal's `proxy stop` / `proxy boot`).
    step "maintenance again" on_vm "$maintenance" || true
    step "docker container stop kamal-proxy exits 0" on_vm "docker container stop kamal-proxy && test \"\$(docker inspect kamal-proxy --format '{{.State.ExitCode}}')\" = 0" || return
    step "docker container start kamal-proxy" on_vm "docker container start kamal-proxy" || return
    if poll 30 page_is "$ip" 503 "Back soon"; then pass "after stop + start: still in maintenance with the message"; else fail "after stop + start: not in maintenance"; fi
    step "live again" on_vm "$live" || true
    if page_is "$ip" 200 "app v2"; then pass "live again: v2 serves"; else fail "live again: v2 does not serve"; fi

    # `kamal proxy reboot`: stop, remove by the image's title label (a container without it survives the prune
    # and the new `docker run --name kamal-proxy` clashes with it), run again on the same config volume.
    step "kamal proxy reboot: stop, prune by label, docker run" on_vm "docker container stop kamal-proxy && docker container prune --force --filter label=org.opencontainers.image.title=kamal-proxy && mkdir -p .kamal/proxy/apps-config && $proxy_run" || return
    if poll 30 page_is "$ip" 200 "app v2"; then pass "after reboot: state restored from the volume, v2 serves"; else fail "after reboot: v2 does not serve: $(on_vm 'docker logs --tail 5 kamal-proxy' 2>&1 | tr '\n' ' ')"; fi

    local v2_id
    v2_id=$(on_vm "$(container_id v2)" 2>/dev/null) || true
    output=$(on_vm "docker exec kamal-proxy kamal-proxy list" 2>/dev/null | sed $'s/\e\\[[0-9;]*m//g') || true
    if [[ $output =~ Service\ +Host\ +Path\ +Target\ +State\ +TLS ]] &&
        [[ $output =~ $service\ +\*\ +/\ +$v2_id:80\ +running\ +no ]]; then
        pass "kamal-proxy list: $service * / $v2_id:80 running no"
    else
        fail "kamal-proxy list: $(tr '\n' '|' <<<"$output")"
    fi
    echo "---- vm$index kamal-proxy list ----" >"$work/list-$index"
    on_vm "docker exec kamal-proxy kamal-proxy list" >>"$work/list-$index" 2>&1 || true

    # Upgrade from the Go image: a kamal-proxy-config volume as it leaves it (its user is 1001:1001, a
    # Go-written state file routing to v2). Our image must restore it and keep saving into it.
    local go_state
    go_state='[{"name":"'$service'","options":{"hosts":[""],"path_prefixes":["/"],"tls_enabled":false,"tls_certificate_path":"","tls_private_key_path":"","tls_on_demand_url":"","tls_redirect":true,"canonical_host":"","acme_directory":"","acme_cache_path":"/home/kamal-proxy/.config/kamal-proxy/certs","error_page_path":"","strip_prefix":true,"writer_affinity_timeout":1000000000,"read_targets_accept_websockets":false,"exclude_metrics_paths":null,"client_ip_header":""},"target_options":{"health_check_config":{"path":"/up","port":0,"interval":1000000000,"timeout":5000000000,"host":""},"response_timeout":30000000000,"buffer_requests":true,"buffer_responses":true,"max_memory_buffer_size":1048576,"max_request_body_size":0,"max_response_body_size":0,"log_request_headers":["Cache-Control","Last-Modified","User-Agent"],"log_response_headers":null,"forward_headers":true,"scope_cookie_paths":false},"active_targets":["'$v2_id':80"],"active_readers":[],"rollout_targets":null,"rollout_readers":null,"pause_controller":{"state":0,"stop_message":"","fail_after":0},"rollout_controller":null}]'
    step "a kamal-proxy-config volume as the Go image leaves it (uid 1001, its state file)" on_vm "docker rm -f kamal-proxy && docker volume rm kamal-proxy-config && docker run --rm -i --volume kamal-proxy-config:/seed $app_image:v1 sh -c 'cat >/seed/kamal-proxy.state && mkdir /seed/certs && chmod 700 /seed/certs && chown -R 1001:1001 /seed'" <<<"$go_state" || return
    step "proxy booted on it with Kamal's docker run line" on_vm "$proxy_run" || return
    if poll 30 page_is "$ip" 200 "app v2"; then pass "the Go-written state is restored: v2 serves with no deploy"; else fail "the Go-written state is not restored: $(on_vm 'docker logs --tail 5 kamal-proxy' 2>&1 | tr '\n' ' ')"; fi
    step "kamal-proxy deploy v1 on the Go-written volume" on_vm "$(deploy v1)" || true
    output=$(on_vm "docker logs kamal-proxy 2>&1 | grep 'Unable to save state'" 2>&1) || true
    if [[ -z $output ]]; then pass "the state is saved into the Go-written volume"; else fail "the state is not saved: $output"; fi
    step "docker restart kamal-proxy" on_vm "docker restart kamal-proxy" || return
    if poll 30 page_is "$ip" 200 "app v1"; then pass "after docker restart: v1, as saved into the Go-written volume"; else fail "after docker restart: v1 does not serve"; fi

    output=$(on_vm "{ $cleanup; } >/dev/null 2>&1; docker ps -a -q --filter name=kamal-proxy --filter name=$service-; docker volume ls -q --filter name=kamal-proxy-config; docker network ls -q --filter name=^kamal\$" 2>&1) || true
    if [[ -z $output ]]; then pass "cleaned up: no proxy or app container, volume or network left"; else fail "clean-up left: $(tr '\n' ' ' <<<"$output")"; fi
}

started=$(now_ms)
log "proxy image $image on ${hosts[*]}"
for index in "${!hosts[@]}"; do
    check_host "$((index + 1))" "${hosts[$index]}" &
done
wait

passed=0
failed=0
for index in "${!hosts[@]}"; do
    [[ -s $work/$((index + 1)) ]] ||
        echo "FAIL vm$((index + 1)) ${hosts[$index]}: the check itself failed" >"$work/$((index + 1))"
    while read -r line; do
        echo "$line"
        if [[ $line == PASS* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done <"$work/$((index + 1))"
done
cat "$work"/list-* 2>/dev/null || true
log "proxy smoke check of ${#hosts[@]} vms in $(elapsed_since "$started")"
echo "$passed passed, $failed failed"
((failed == 0))
