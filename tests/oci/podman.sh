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
# The second half runs podman as its users do (the default network with a
# published port, --tmpfs, --read-only, --device, --privileged, --timeout,
# --init), each case with corral-oci and then with runc, and compares the
# two: same exit status, same output.  podman 4.3 networks with CNI here
# (containernetworking-plugins; --network-backend cni keeps it so should
# netavark appear); the test's network config dir defines the default
# network "podman" itself, so its bridge, subnet and IPAM state are the
# test's own (the bridge is removed at exit).  Published ports listen on
# 127.0.0.1 only, and the bridge masquerades nothing to the outside.
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
PM0=(podman --root "$T/root" --runroot "$T/runroot" --tmpdir "$T/tmp" --cgroup-manager cgroupfs
     --events-backend file --storage-driver overlay --network-backend cni
     --network-config-dir "$T/net")
PM=("${PM0[@]}" --runtime "$OCI")
STATE=/run/corral-oci
U=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --network none)
UN=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096)   # on the default network
IMG=localhost/cbox:latest
BR=cnicorral$$
BR=${BR:0:15}
ids=()   # every container podman made, to check and clean corral-oci's state
cleanup() {
  local id
  timeout 60 "${PM[@]}" rm -a -f -t 0 >/dev/null 2>&1
  timeout 60 "${PM[@]}" rmi -a -f >/dev/null 2>&1
  for id in "${ids[@]}"; do "$OCI" --root "$STATE" delete -f "$id" >/dev/null 2>&1; done
  awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del "$BR" 2>/dev/null
  # CNI's result cache has no per-test place in podman 4.3: left as found.
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
  $cni_chains_ours && drop_cni_chains
  rm -rf "$T"
}
trap cleanup EXIT

# The portmap and firewall plugins leave their (by then empty) base chains in
# iptables; a run that found none removes them again.
drop_cni_chains() {
  local t rule c
  for t in nat filter; do
    iptables -t "$t" -S 2>/dev/null | grep -E '^-A (PREROUTING|INPUT|OUTPUT|FORWARD|POSTROUTING) .*-j CNI-' |
      while read -r rule; do eval "iptables -t $t ${rule/#-A/-D}"; done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-/ {print $2}'); do
      iptables -t "$t" -F "$c"
    done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-/ {print $2}'); do
      iptables -t "$t" -X "$c"
    done
  done
}
cni_chains_ours=false
command -v iptables >/dev/null && ! { iptables -t nat -S; iptables -S; } 2>/dev/null | grep -q -- '-N CNI-' &&
  cni_chains_ours=true

# The default network: podman's own plugin chain (bridge, portmap, firewall,
# tuning) on a bridge, subnet and IPAM directory of this test's.
mkdir -p "$T/net"
cat >"$T/net/podman.conflist" <<EOF
{ "cniVersion": "0.4.0", "name": "podman",
  "plugins": [
    { "type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$T/cni", "routes": [{ "dst": "0.0.0.0/0" }],
                "ranges": [[{ "subnet": "10.213.77.0/24", "gateway": "10.213.77.1" }]] } },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" }, { "type": "tuning" } ] }
EOF

# pm ARGS: podman with the test's state (60 s at most); output in $out, status in $rc.
pm() { pm_as "$OCI" "$@"; }
# pm_as RUNTIME ARGS: the same with another runtime.
pm_as() {
  local rt=$1
  shift
  rc=0
  timeout 60 "${PM0[@]}" --runtime "$rt" "$@" >"$T/out" 2>&1 </dev/null || rc=$?
  out=$(cat "$T/out")
  echo "\$ podman --runtime ${rt##*/} $* -> $rc: $out" >>"$log"
}
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


# ---- as podman's users run it: each case with corral-oci, then runc ----

have_runc=false
command -v runc >/dev/null && have_runc=true
# same_as_runc NAME PODMAN_RUN_ARGS...: after a `pm run --rm ARGS` (its $rc
# and $out), runs the same with runc; the two must agree in exit status and
# output.  The runtimes take turns: they never share a port or a name.
same_as_runc() {
  local name=$1 orc=$rc oout=$out
  shift
  if ! $have_runc; then
    skip "$name: same as runc" "runc is not installed (scripts/deps.sh installs it)"
    return
  fi
  pm_as runc run --rm "$@"
  local rrc=$rc rout=$out
  rc=$orc out=$oout
  check "$name: same as runc (exit $rrc)" eval '[ "$orc" = "$rrc" ] && [ "$oout" = "$rout" ] ||
    { echo "corral-oci: $orc: $oout"; echo "runc: $rrc: $rout"; false; } >>"$log"'
}
# compared NAME: the same for a case run by a function, whose results for
# corral-oci were saved in $orc and $oout (and runc's are now $rc, $out).
compared() {
  check "$1: same as runc (exit $rc)" eval '[ "$rc" = "$orc" ] && [ "$out" = "$oout" ] ||
    { echo "corral-oci: $orc: $oout"; echo "runc: $rc: $out"; false; } >>"$log"'
}

# The default network: podman joins /run/netns/... and sets
# net.ipv4.ping_group_range there; the container has eth0 on the bridge.
NETRUN=(sh -c 'cat /proc/sys/net/ipv4/ping_group_range; ls /sys/class/net; ip -4 -o addr show eth0 | grep -o "inet 10\.213\.77\."')
t; pm run --rm "${UN[@]}" "$IMG" "${NETRUN[@]}"
check "the default network: eth0 on podman's bridge, ping_group_range set in its netns" \
  eval '[ $rc = 0 ] && has_out "^0[[:space:]]*0$" && has_out "^eth0$" && has_out "^inet 10.213.77.$"'
same_as_runc "the default network" "${UN[@]}" "$IMG" "${NETRUN[@]}"

# A published port on 127.0.0.1: busybox httpd in the container, curl here.
# serve RUNTIME: podman run -d -p, then $rc and $out are curl's (5 s at most).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() {
  local port name=web-${1##*/} i
  port=$(free_port)
  pm_as "$1" run -d --name "$name" "${UN[@]}" -p "127.0.0.1:$port:80" "$IMG" \
    sh -c 'mkdir -p /www && echo "served from the container" >/www/index.html && exec httpd -f -p 80 -h /www'
  [ "$1" = "$OCI" ] && [ $rc = 0 ] && ids+=("$out")
  if [ $rc = 0 ]; then
    for i in $(seq 50); do
      rc=0
      out=$(curl -sS -m 2 "http://127.0.0.1:$port/" 2>&1) && break
      rc=1
      sleep 0.1
    done
    echo "curl 127.0.0.1:$port -> $rc: $out" >>"$log"
  fi
  local r=$rc o=$out
  pm_as "$1" rm -f -t 0 "$name"
  rc=$r out=$o
}
t; serve "$OCI"
check "-p 127.0.0.1:PORT:80: curl on the host reaches httpd in the container" \
  eval '[ $rc = 0 ] && [ "$out" = "served from the container" ]'
orc=$rc oout=$out
if $have_runc; then serve runc; compared "-p 127.0.0.1:PORT:80"; else skip "-p: same as runc" "no runc"; fi

# --tmpfs: a fresh one, and one over /etc (tmpcopyup: the image's files come
# along).  podman orders the two mounts differently from run to run: sorted.
TMPFS=(sh -c 'grep -E " /(etc|scratch) " /proc/mounts | sort; cd /etc && for f in *; do stat -c "%n %a %u:%g %F" "$f"; done; cat passwd; echo x >/scratch/f && cat /scratch/f; stat -c %a /scratch')
t; pm run --rm "${U[@]}" --tmpfs /scratch --tmpfs /etc:size=1m "$IMG" "${TMPFS[@]}"
check "--tmpfs: a fresh tmpfs, and one over /etc that keeps the image's files" \
  eval '[ $rc = 0 ] && has_out "^tmpfs /etc tmpfs rw,nosuid,nodev,relatime,size=1024k" && has_out "^passwd 644 0:0 regular file$" && has_out "^root:x:0:0:" && has_out "^x$" && has_out "^1777$"'
same_as_runc "--tmpfs" "${U[@]}" --tmpfs /scratch --tmpfs /etc:size=1m "$IMG" "${TMPFS[@]}"

# --read-only: the root is read-only, /tmp /var/tmp /run are tmpfs (tmpcopyup).
RO=(sh -c 'touch /bin/x; for d in /tmp /var/tmp /run; do echo w >$d/w && cat $d/w && stat -c "%n %a" $d; done; grep -E " /(tmp|var/tmp|run) " /proc/mounts | sort')
t; pm run --rm "${U[@]}" --read-only "$IMG" "${RO[@]}"
check "--read-only: writes to / fail, /tmp /var/tmp /run are writable tmpfs" \
  eval '[ $rc = 0 ] && has_out "touch: /bin/x: Read-only file system" && [ $(grep -c "^w$" <<<"$out") = 3 ] && has_out "^/var/tmp 1777$" && [ $(grep -c "^tmpfs /" <<<"$out") = 3 ]'
same_as_runc "--read-only" "${U[@]}" --read-only "$IMG" "${RO[@]}"

# --device: podman writes fileMode with the node's type bits (020666).
DEV=(sh -c 'stat -c "%n %a %F %t:%T" /dev/myzero /dev/mynull; head -c 4 /dev/myzero | od -An -tx1; echo w >/dev/mynull && echo wrote')
t; pm run --rm "${U[@]}" --device /dev/zero:/dev/myzero --device /dev/null:/dev/mynull "$IMG" "${DEV[@]}"
check "--device: host nodes under other paths, modes as on the host" \
  eval '[ $rc = 0 ] && has_out "^/dev/myzero 666 character special file 1:5$" && has_out "^/dev/mynull 666 character special file 1:3$" && has_out "^ 00 00 00 00$" && has_out "^wrote$"'
same_as_runc "--device" "${U[@]}" --device /dev/zero:/dev/myzero --device /dev/null:/dev/mynull "$IMG" "${DEV[@]}"

# --privileged: every capability, the host's devices, mount allowed, /proc/sys writable.
hostdevs=$(for d in /dev/null /dev/zero /dev/full /dev/kmsg /dev/loop-control /dev/fuse /dev/net/tun; do [ -c "$d" ] && echo "$d"; done)
want_devs=$(for d in $hostdevs; do stat -c "%n %F %t:%T" "$d"; done)
want_cap=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
PRIV=(sh -c 'grep -E "^Cap(Eff|Bnd)" /proc/self/status; for d in '"$(echo $hostdevs)"'; do stat -c "%n %F %t:%T" $d; done; mkdir -p /m && mount -t tmpfs none /m && echo mounted; echo 1 >/proc/sys/net/ipv4/ip_forward && echo sysctl-rw')
t; pm run --rm "${U[@]}" --privileged "$IMG" "${PRIV[@]}"
check "--privileged: all capabilities, the host's devices, mount and /proc/sys writable" \
  eval '[ $rc = 0 ] && has_out "^CapEff:[[:space:]]*$want_cap$" && [ "$(grep "^/dev/" <<<"$out")" = "$want_devs" ] && has_out "^mounted$" && has_out "^sysctl-rw$"'
same_as_runc "--privileged" "${U[@]}" --privileged "$IMG" "${PRIV[@]}"

# --timeout: conmon kills the container after 2 s, which must not take
# conmon down too; podman returns at once with the status.
# timed NAME RUNTIME: podman run --timeout 2; $took (ms), $st the state after.
timed() {
  local start r
  start=$(date +%s%N)
  pm_as "$2" run --name "$1" "${U[@]}" --timeout 2 "$IMG" sleep 100
  took=$(( ($(date +%s%N) - start) / 1000000 )) r=$rc
  pm_as "$2" inspect "$1" --format '{{.State.Status}} {{.State.ExitCode}} {{.Id}}'
  st=${out% *}
  [ "$2" = "$OCI" ] && ids+=("${out##* }")
  rc=$r out=$st
}
t; timed to1 "$OCI"
check "--timeout 2: back in ${took} ms (exit $rc), the container exited (${st%% *}), no corral-oci state" \
  eval '[ $took -lt 10000 ] && [ "${st%% *}" = exited ] && no_state "${ids[@]}"'
orc=$rc oout=$out
if $have_runc; then timed to2 runc; compared "--timeout"; else skip "--timeout: same as runc" "no runc"; fi
pm rm -f to1 to2

# --init: podman's init (catatonit) is pid 1 and passes on the exit status.
INIT=(sh -c 'tr "\0" " " </proc/1/cmdline; echo; exit 4')
if [ -x /usr/libexec/podman/catatonit ]; then
  t; pm run --rm "${U[@]}" --init "$IMG" "${INIT[@]}"
  check "--init: catatonit is pid 1, the command's exit status (4) comes back" \
    eval '[ $rc = 4 ] && has_out "^/run/podman-init -- sh -c"'
  same_as_runc "--init" "${U[@]}" --init "$IMG" "${INIT[@]}"
else
  skip "--init" "no /usr/libexec/podman/catatonit: Debian's catatonit provides it (scripts/deps.sh)"
fi

t; check "no corral-oci state left for any container" eval 'no_state "${ids[@]}"'

echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
