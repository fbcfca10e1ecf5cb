#!/usr/bin/env bash
# Bring up the test bed: N vms (containers with their own IP, sshd and
# dockerd), a registry with htpasswd auth, and the example app pushed to it.
# Idempotent: what is already up as asked stays up; what differs is rebuilt.
#
# usage: testbed/up.sh [N]    (N vms, default 2)
set -euo pipefail
# shellcheck source=testbed/lib.sh
source "$(dirname "$0")/lib.sh"

count=${1:-2}
if ! [[ $count =~ ^[0-9]+$ ]] || ((count < 1 || count > 50)); then
    die "usage: $0 [N]   (N vms, 1 to 50; got '$count')"
fi

require_root
started=$(now_ms)
phase_started=$started
phase() {
    log "$1 in $(elapsed_since "$phase_started")"
    phase_started=$(now_ms)
}

"$TESTBED_DIR/install.sh"
take_lock
mkdir -p "$STATE/logs"
chmod 0700 "$STATE"
phase "machine ready"

# --- Secrets that outlive the bed: keys and the registry password ------------
[[ -f $STATE/ssh_key ]] ||
    ssh-keygen -q -t ed25519 -N '' -C kamal-testbed-client -f "$STATE/ssh_key"
# One host key for every vm, kept here so known_hosts stays valid across rebuilds.
[[ -f $STATE/ssh_host_ed25519_key ]] ||
    ssh-keygen -q -t ed25519 -N '' -C kamal-testbed-host -f "$STATE/ssh_host_ed25519_key"
cp "$STATE/ssh_key.pub" "$STATE/authorized_keys"

echo "$REGISTRY_USER" >"$STATE/registry_user"
if [[ ! -s $STATE/registry_password ]]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$STATE/registry_password")
fi
registry_password=$(cat "$STATE/registry_password")
mkdir -p "$STATE/registry-config"
cp "$TESTBED_DIR/registry/config.yml" "$STATE/registry-config/config.yml"
# bcrypt cost 4: the registry checks the hash on every request, and the
# default cost adds ~0.2 s to each. Rewritten only when the password changed.
if ! htpasswd -vbB "$STATE/registry-config/htpasswd" "$REGISTRY_USER" "$registry_password" >/dev/null 2>&1; then
    htpasswd -cbB -C 4 "$STATE/registry-config/htpasswd" "$REGISTRY_USER" "$registry_password" 2>/dev/null
fi

# --- Images and network ------------------------------------------------------
vm_image=$("$TESTBED_DIR/build-vm-image.sh")
phase "vm image $vm_image ready"

if subnet=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NETWORK" 2>/dev/null); then
    [[ $subnet == "$SUBNET" ]] ||
        die "network $NETWORK has subnet $subnet, not $SUBNET: run testbed/down.sh first"
else
    docker network create --driver bridge --subnet "$SUBNET" --gateway "$GATEWAY" \
        --label "$NAME=network" "$NETWORK" >/dev/null ||
        die "could not create network $NETWORK ($SUBNET); another network may use that range (KAMAL_TESTBED_SUBNET_PREFIX picks another)"
fi

# ensure_container NAME ROLE DOCKER_RUN_ARGS...: make container NAME run with
# exactly these arguments. A running container created from the same
# arguments (hashed into a label) is left alone; a stopped one is started;
# one created differently is replaced.
ensure_container() {
    local name=$1 role=$2
    shift 2
    local hash current state
    hash=$(printf '%s\n' "$@" | sha256sum | cut -c1-16)
    current=$(docker inspect -f "{{index .Config.Labels \"$NAME.config\"}} {{.State.Status}}" "$name" 2>/dev/null || true)
    state=${current#* }
    if [[ -n $current && ${current%% *} == "$hash" ]]; then
        if [[ $state != running ]]; then
            log "starting $name (was $state)"
            docker start "$name" >/dev/null
        fi
        return
    fi
    if [[ -n $current ]]; then
        log "replacing $name (its settings changed)"
        docker rm -f "$name" >/dev/null
        [[ $role != vm ]] || docker volume rm -f "$name-docker" >/dev/null
    else
        log "creating $name"
    fi
    docker run --detach --name "$name" --init \
        --label "$NAME=$role" --label "$NAME.config=$hash" \
        --network "$NETWORK" "$@" >/dev/null
}

ensure_container "$REGISTRY_CONTAINER" registry \
    --ip "$REGISTRY_IP" --hostname registry \
    --publish "$REGISTRY_LOCAL:$REGISTRY_PORT" \
    --volume "$STATE/registry-config:/etc/kamal-testbed-registry:ro" \
    --label "$NAME.registry-files=$(cat "$STATE/registry-config/config.yml" "$STATE/registry-config/htpasswd" | sha256sum | cut -c1-16)" \
    "$vm_image" /usr/bin/docker-registry serve /etc/kamal-testbed-registry/config.yml

if [[ -c /dev/fuse ]]; then
    storage=(--device /dev/fuse --env TESTBED_STORAGE_DRIVER=fuse-overlayfs)
else
    storage=(--env TESTBED_STORAGE_DRIVER=vfs)
fi
for ((i = 1; i <= count; i++)); do
    ensure_container "$(vm_name "$i")" vm \
        --ip "$(vm_ip "$i")" --hostname "vm$i" \
        --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add SYS_PTRACE --cap-add MKNOD \
        --cap-add NET_RAW --cap-add IPC_LOCK --cap-add SYS_CHROOT \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --device-cgroup-rule 'a *:* rwm' \
        --volume /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp \
        --volume "$(vm_volume "$i"):/var/lib/docker" \
        --sysctl net.ipv4.ip_forward=1 \
        "${storage[@]}" --env "TESTBED_INSECURE_REGISTRY=$REGISTRY" \
        --volume "$STATE/ssh_host_ed25519_key:/etc/ssh/ssh_host_ed25519_key:ro" \
        --volume "$STATE/ssh_host_ed25519_key.pub:/etc/ssh/ssh_host_ed25519_key.pub:ro" \
        --volume "$STATE/authorized_keys:/root/.ssh/authorized_keys:ro" \
        --stop-timeout 30 \
        "$vm_image"
done
# Fewer vms than last time: remove the rest.
for name in $(docker ps -a --filter "label=$NAME=vm" --format '{{.Names}}'); do
    index=${name#"$NAME-vm"}
    if ((index > count)); then
        log "removing $name (asked for $count vms)"
        docker stop "$name" >/dev/null
        docker rm -f "$name" >/dev/null
        docker volume rm -f "$name-docker" >/dev/null
    fi
done
# Older vm images are dead weight once no container uses them.
docker image ls --filter "reference=$VM_IMAGE_REPOSITORY" --format '{{.Repository}}:{{.Tag}}' |
    grep -vxF "$vm_image" | xargs -r docker rmi >/dev/null 2>&1 || true
phase "containers started"

# --- What clients need: hosts, ssh config, known_hosts, env -------------------
hosts=()
for ((i = 1; i <= count; i++)); do hosts+=("$(vm_ip "$i")"); done
printf '%s\n' "${hosts[@]}" >"$STATE/hosts"
echo "$REGISTRY" >"$STATE/registry"
host_key=$(cut -d' ' -f1,2 "$STATE/ssh_host_ed25519_key.pub")
for ((i = 1; i <= count; i++)); do
    echo "$(vm_ip "$i") $host_key"
done >"$STATE/known_hosts"
{
    echo "# Written by testbed/up.sh. Usage: ssh -F $STATE/ssh_config vm1"
    for ((i = 1; i <= count; i++)); do
        printf 'Host vm%d\n    HostName %s\n' "$i" "$(vm_ip "$i")"
    done
    cat <<EOF
Host $SUBNET_PREFIX.* vm*
    User root
    IdentityFile $STATE/ssh_key
    IdentitiesOnly yes
    UserKnownHostsFile $STATE/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
    LogLevel ERROR
EOF
} >"$STATE/ssh_config"
{
    echo "# Written by testbed/up.sh; source it: . $STATE/env"
    for pair in \
        "KAMAL_TESTBED_STATE=$STATE" \
        "KAMAL_TESTBED_HOSTS=$(IFS=,; echo "${hosts[*]}")" \
        "KAMAL_TESTBED_SSH_USER=root" \
        "KAMAL_TESTBED_SSH_KEY=$STATE/ssh_key" \
        "KAMAL_TESTBED_SSH_CONFIG=$STATE/ssh_config" \
        "KAMAL_TESTBED_KNOWN_HOSTS=$STATE/known_hosts" \
        "KAMAL_TESTBED_REGISTRY=$REGISTRY" \
        "KAMAL_TESTBED_REGISTRY_LOCAL=$REGISTRY_LOCAL" \
        "KAMAL_TESTBED_REGISTRY_USER=$REGISTRY_USER" \
        "KAMAL_TESTBED_REGISTRY_PASSWORD=$registry_password" \
        "KAMAL_TESTBED_APP_IMAGE=$APP_REPOSITORY" \
        "KAMAL_TESTBED_APP_SERVICE=$APP_SERVICE" \
        "KAMAL_TESTBED_APP_VERSIONS=$(IFS=,; echo "${APP_VERSIONS[*]}")"; do
        # Plain KEY=value lines, so that other tools can read them too.
        [[ ${pair#*=} =~ ^[A-Za-z0-9_.,:/@+-]*$ ]] || die "unsafe value in env: $pair"
        echo "export $pair"
    done
} >"$STATE/env"

# --- Readiness, each with a deadline ---------------------------------------
registry_answers() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        -u "$REGISTRY_USER:$registry_password" "http://$1/v2/") == 200 ]]
}
wait_until "$DEADLINE" "the registry to answer /v2/ at $REGISTRY" registry_answers "$REGISTRY"
wait_until "$DEADLINE" "the registry to answer /v2/ at $REGISTRY_LOCAL" registry_answers "$REGISTRY_LOCAL"
phase "registry answers"

vm_ready() {
    # One connection: sshd answers, the vm's docker answers, and the registry
    # is reachable from the vm (401 without credentials is an answer).
    vm_ssh "$1" "docker info >/dev/null &&
        [ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://$REGISTRY/v2/)\" = 401 ]"
}
for ((i = 1; i <= count; i++)); do
    wait_until "$DEADLINE" "vm$i ($(vm_ip "$i")) to answer ssh and docker and reach the registry (docker logs $(vm_name "$i"))" \
        vm_ready "$(vm_ip "$i")"
done
phase "$count vms answer ssh and docker"

# --- The example app, pushed to the registry --------------------------------
build_context=$STATE/app-build
rm -rf "$build_context"
cp -r "$APP_SOURCE" "$build_context"
cp /bin/busybox "$build_context/busybox"
export DOCKER_CONFIG=$STATE/docker-config # keeps the bed's login out of ~/.docker
docker login --username "$REGISTRY_USER" --password-stdin "$REGISTRY_LOCAL" \
    <<<"$registry_password" >/dev/null 2>&1 || die "docker login at $REGISTRY_LOCAL failed"
for version in "${APP_VERSIONS[@]}"; do
    local_image=$REGISTRY_LOCAL/$APP_REPOSITORY:$version
    DOCKER_BUILDKIT=0 docker build --quiet \
        --build-arg "VERSION=$version" --build-arg "SERVICE=$APP_SERVICE" \
        --tag "$local_image" --tag "$REGISTRY/$APP_REPOSITORY:$version" \
        "$build_context" >"$STATE/logs/app-build-$version.log" 2>&1 ||
        die "building the app failed: $STATE/logs/app-build-$version.log"
    docker push --quiet "$local_image" >"$STATE/logs/app-push-$version.log" 2>&1 ||
        die "pushing $local_image failed: $STATE/logs/app-push-$version.log"
done
rm -rf "$build_context"
phase "app ${APP_VERSIONS[*]} built and pushed"

log "test bed up in $(elapsed_since "$started"): ${hosts[*]}; registry $REGISTRY ($REGISTRY_LOCAL from here)"
log "next: source $STATE/env; testbed/smoke.sh; ssh -F $STATE/ssh_config vm1"
