#!/bin/bash
# The init of a test bed vm (docker's --init runs it as its only child, and
# forwards `docker stop`'s SIGTERM to it). Starts the vm's own dockerd and
# sshd; on SIGTERM stops sshd, then dockerd (which stops its containers), and
# exits once both are gone.
set -uo pipefail

storage_driver=${TESTBED_STORAGE_DRIVER:-vfs}
insecure_registry=${TESTBED_INSECURE_REGISTRY:-}

mkdir -p /run/sshd /var/log

dockerd_args=(--storage-driver "$storage_driver" --host unix:///var/run/docker.sock)
if [[ -n $insecure_registry ]]; then
    dockerd_args+=(--insecure-registry "$insecure_registry")
fi
# The machine's cgroup tree is mounted here (cgroup v1): nest the inner
# containers under this vm's own cgroup, so the vm's memory and `docker stats`
# include them and they die with the vm.
cgroup_parent=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' /proc/self/cgroup)
if [[ -n $cgroup_parent && $cgroup_parent != / ]]; then
    dockerd_args+=(--cgroup-parent "$cgroup_parent")
fi

dockerd "${dockerd_args[@]}" >>/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
# -e: sshd logs to stderr, which is `docker logs` of the vm.
/usr/sbin/sshd -D -e &
sshd_pid=$!

stop() {
    trap '' TERM INT
    kill -TERM "$sshd_pid" "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    wait "$sshd_pid" 2>/dev/null
    exit "$1"
}
trap 'stop 0' TERM INT

# Either one exiting on its own leaves a broken vm: stop so that it shows.
wait -n "$dockerd_pid" "$sshd_pid"
echo "kamal-testbed-init: dockerd or sshd exited unexpectedly; stopping the vm" >&2
stop 1
