#!/usr/bin/env bash
# Print what of the test bed is up. Exits 0 when the registry and every vm
# answer, 1 otherwise (also when the bed is down).
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"

if ! timeout 10 docker info >/dev/null 2>&1; then
    echo "docker: not answering (testbed/install.sh starts it)"
    echo "test bed: down"
    exit 1
fi

healthy=true
printf '%-24s %-12s %-9s %-10s %s\n' CONTAINER IP STATE MEMORY CHECK
containers=$(docker ps -a --filter "label=$NAME" --format '{{.Names}}' | sort -V)
[[ -n $containers ]] || echo "(none)"
for name in $containers; do
    ip=$(docker inspect -f "{{with index .NetworkSettings.Networks \"$NETWORK\"}}{{.IPAddress}}{{end}}" "$name")
    state=$(docker inspect -f '{{.State.Status}}' "$name")
    memory=-
    check=-
    if [[ $state == running ]]; then
        memory=$(docker stats --no-stream --format '{{.MemUsage}}' "$name" | cut -d' ' -f1)
        if [[ $name == "$REGISTRY_CONTAINER" ]]; then
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ip:$REGISTRY_PORT/v2/" || true)
            # 401: it answers and asks for the password, as it should.
            if [[ $code == 401 ]]; then check="registry answers /v2/"; else check="registry: HTTP $code"; healthy=false; fi
        elif [[ -f $STATE/ssh_config ]] &&
            containers_inside=$(vm_ssh "$ip" -o ConnectTimeout=2 'docker ps -q | wc -l' 2>/dev/null); then
            check="ssh + docker answer; $containers_inside containers"
        else
            check="ssh or docker not answering"
            healthy=false
        fi
    else
        healthy=false
    fi
    printf '%-24s %-12s %-9s %-10s %s\n' "$name" "${ip:--}" "$state" "$memory" "$check"
done

if docker network inspect "$NETWORK" >/dev/null 2>&1; then
    echo "network: $NETWORK $SUBNET"
else
    echo "network: none"
fi
echo "vm image: $(vm_image) ($(docker image inspect "$(vm_image)" >/dev/null 2>&1 && echo cached || echo 'not built'))"
if [[ -f $STATE/env ]]; then
    echo "state: $STATE (source $STATE/env)"
else
    echo "state: $STATE (no env: the bed is not up)"
fi
if [[ -z $containers ]]; then
    echo "test bed: down"
    exit 1
elif $healthy; then
    echo "test bed: up"
else
    echo "test bed: degraded (testbed/up.sh repairs it; docker logs NAME tells why)"
    exit 1
fi
