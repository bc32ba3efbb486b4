#!/bin/bash
# podman driving corral-oci end to end (podman's own conmon as the monitor),
# one TAP line per check.  Usage: podman.sh BUILD_DIR   (needs root)
#
# The image is a docker-archive (and an OCI archive) built by
# tests/oci/mkimage.py from /bin/busybox and loaded with `podman load`: no
# registry.  podman runs with its root, runroot and tmpdir in one temporary
# directory, so the host's podman state is never touched; the EXIT trap
# removes every container and image, unmounts what podman mounted there and
# deletes the directory.  corral-oci keeps its state in its default root
# (/run/corral-oci): podman 4.3 does not pass --runtime-flag to the cleanup
# process conmon starts when a container exits, so a state root given that
# way would miss the final delete; each container's state is checked by id.
#
# Limits: the host's hard RLIMIT_NOFILE is 20000 and podman's own nproc limit
# is lower than its default container limit, and without CAP_SYS_RESOURCE
# no runtime may raise them: every container gets --ulimit nofile=20000:20000
# --ulimit nproc=4096:4096 (runc fails the same way without them).
set -u
B=$(realpath "${1:?usage: podman.sh BUILD_DIR}")
OCI=$B/corral-oci
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../vmm/lib.sh"
export LC_ALL=C

if [ "$(id -u)" -ne 0 ] || [ ! -x "$OCI" ] || ! command -v podman >/dev/null ||
   ! command -v conmon >/dev/null && [ ! -x /usr/bin/conmon ] && [ ! -x /usr/libexec/podman/conmon ]; then
  skip "podman with corral-oci" "need root, $OCI, podman and conmon"
  echo "1..$tap_n"
  exit 0
fi

T=$(mktemp -d /tmp/corral-oci-podman.XXXXXX)
log=$T/log
PM=(podman --root "$T/root" --runroot "$T/runroot" --tmpdir "$T/tmp" --cgroup-manager cgroupfs
    --events-backend file --storage-driver overlay --network-config-dir "$T/net"
    --runtime "$OCI")
STATE=/run/corral-oci
U=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --network none)
IMG=localhost/cbox:latest
ids=()   # every container podman made, to check and clean corral-oci's state
cleanup() {
  local id
  timeout 60 "${PM[@]}" rm -a -f -t 0 >/dev/null 2>&1
  timeout 60 "${PM[@]}" rmi -a -f >/dev/null 2>&1
  for id in "${ids[@]}"; do "$OCI" --root "$STATE" delete -f "$id" >/dev/null 2>&1; done
  awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

# pm ARGS: podman with the test's state (60 s at most); output in $out, status in $rc.
pm() { rc=0; timeout 60 "${PM[@]}" "$@" >"$T/out" 2>&1 </dev/null || rc=$?; out=$(cat "$T/out"); echo "\$ podman $* -> $rc: $out" >>"$log"; }
# no_state ID...: corral-oci has no state left for these containers.
no_state() { local id; for id in "$@"; do [ ! -e "$STATE/$id" ] || { echo "state left: $id" >>"$log"; return 1; }; done; }
has_out() { grep -q -- "$1" <<<"$out" || { echo "missing '$1'" >>"$log"; false; }; }
t() { : >"$log"; }

python3 "$HERE/mkimage.py" docker "$T/cbox.tar" --plain --name "$IMG"
python3 "$HERE/mkimage.py" oci-tar "$T/cbox-oci.tar" --plain --name localhost/cbox-oci:latest
t; pm load -i "$T/cbox.tar"
check "podman load of a docker-archive built from busybox-static" eval '[ $rc = 0 ] && has_out "Loaded image: $IMG"'
t; pm run --rm --cidfile "$T/r1.cid" "${U[@]}" "$IMG" sh -c 'echo hello from corral-oci; id -u; cat /proc/1/cmdline | tr "\0" " "'
check "podman run --rm: output, pid 1 is the command" \
  eval '[ $rc = 0 ] && has_out "^hello from corral-oci$" && has_out "^0$" && has_out "^sh -c echo hello"'
t; pm run --rm --cidfile "$T/r2.cid" "${U[@]}" "$IMG" sh -c 'exit 7'
check "podman run reports the exit status (7)" eval '[ $rc = 7 ]'
t; pm run --rm --cidfile "$T/r3.cid" "${U[@]}" "$IMG" nosuchprogram
check "a missing program: podman reports the runtime's error" eval '[ $rc != 0 ] && has_out "nosuchprogram"'
t; pm run -d --name s1 "${U[@]}" "$IMG" sh -c 'trap "echo got-term; exit 3" TERM; echo up; while :; do sleep 0.1; done'
check "podman run -d starts a container" eval '[ $rc = 0 ]'
s1=$out; ids+=("$s1" $(cat "$T"/r*.cid 2>/dev/null))
for i in $(seq 50); do "${PM[@]}" logs s1 2>/dev/null | grep -q up && break; sleep 0.1; done
pm ps
check "podman ps shows it up" eval 'has_out " Up .* s1$"'
check "corral-oci's state says running" \
  eval '"$OCI" --root "$STATE" state "$s1" | grep -Eq "\"status\": *\"running\""'
t; pm exec s1 sh -c 'echo in-exec; echo $$'
check "podman exec runs a process in the container (needs corral-oci exec, branch oci-cg)" \
  eval '[ $rc = 0 ] && has_out "^in-exec$"'
t; start=$(date +%s%N); pm stop -t 10 s1; took=$(( ($(date +%s%N) - start) / 1000000 ))
check "podman stop: SIGTERM reaches the trap, no 10 s timeout (${took} ms)" \
  eval '[ $rc = 0 ] && [ $took -lt 8000 ]'
pm logs s1
check "... the container saw the signal" eval 'has_out "^got-term$"'
pm inspect s1 --format '{{.State.Status}} {{.State.ExitCode}}'
check "... and exited with its status (exited 3)" eval '[ "$out" = "exited 3" ]'
t; pm rm s1
check "podman rm removes it, corral-oci keeps no state (nor for the --rm runs)" \
  eval '[ $rc = 0 ] && no_state "${ids[@]}" && ! "${PM[@]}" ps -a | grep -q s1'
t; pm run -d --name k1 "${U[@]}" "$IMG" sleep 100
k1=$out; ids+=("$k1")
pm rm -f -t 0 k1
check "podman rm -f of a running container (kill + delete --force)" \
  eval '[ $rc = 0 ] && no_state "$k1"'
t; pm run --rm -t "${U[@]}" "$IMG" sh -c 'tty; echo tty-ok'
check "podman run -t: a terminal over --console-socket" eval '[ $rc = 0 ] && has_out "/dev/pts/0" && has_out tty-ok'
t; pm load -i "$T/cbox-oci.tar"
pm run --rm "${U[@]}" localhost/cbox-oci:latest echo from-oci-archive
check "an OCI archive loads and runs too" eval '[ $rc = 0 ] && has_out "^from-oci-archive$"'

echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
