#!/bin/bash
# corral-oci end to end: real containers from a busybox rootfs, one TAP line
# per check.  Usage: run.sh BUILD_DIR   (needs root: namespaces, mounts)
#
# Everything lives in one temporary directory (rootfs, bundles, the state
# root); the EXIT trap force-deletes every container, removes the network
# namespace and the host mount it made, and the directory.
set -u
B=$(realpath "${1:?usage: run.sh BUILD_DIR}")
OCI=$B/corral-oci
. "$(dirname "$0")/../vmm/lib.sh"
export LC_ALL=C

if [ "$(id -u)" -ne 0 ] || [ ! -x "$OCI" ] || [ ! -x /bin/busybox ]; then
  skip "corral-oci tests" "need root, $OCI and /bin/busybox (busybox-static)"
  echo "1..$tap_n"
  exit 0
fi

T=$(mktemp -d /tmp/corral-oci-test.XXXXXX)
chmod 755 "$T"   # the user-namespace test's mapped root must reach the bundle
STATE=$T/state
NETNS=corral-oci-test-$$
log=$T/log
# Every bundle's cgroups go under this parent, apart from other runs'.
export CGP=/corral-oci-test-$$
# The host's cgroups: pure v2 (cgroup2 at /sys/fs/cgroup; tests/oci/v2.sh
# makes one) or v1/hybrid (a tmpfs of hierarchies).  CGH, unquoted, globs
# the hierarchies a container's cgroup directories are in.
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  cgv=2 CGH=/sys/fs/cgroup
else
  cgv=1 CGH='/sys/fs/cgroup/*'
fi
cleanup() {
  local id
  for id in $(ls "$STATE" 2>/dev/null); do "$OCI" --root "$STATE" delete -f "$id" >/dev/null 2>&1; done
  ip netns del "$NETNS" 2>/dev/null
  umount "$T/hostonly" 2>/dev/null
  rm -rf "$T"
  rmdir $CGH/"${CGP#/}" 2>/dev/null
}
trap cleanup EXIT

# ---- the rootfs: busybox-static and its applet links, shared read-only ----
R=$T/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,data}
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
  [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"
done
echo "root:x:0:0:root:/:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
echo marker >"$R/etc/marker"
echo secret >"$R/data/secret"
chmod 1777 "$R/tmp"
# Symlinks that point out of the rootfs: mounts through them must stay inside
# (the relative one resolves to the rootfs's /tmp, the absolute one to a
# directory that exists on the host only).
mkdir -p "$T/hostside"
ln -s ../../../../../../../../tmp "$R/escape"
ln -s "$T/hostside" "$R/escape2"

# bundle NAME PYTHON: a bundle whose config.json is `corral-oci spec`'s with
# the rootfs above, no terminal, and PYTHON applied to the dict c.
bundle() {
  local b=$T/$1
  mkdir -p "$b"
  rm -f "$b/config.json"
  "$OCI" spec --bundle "$b" || return 1
  python3 - "$b/config.json" "$R" "$2" <<'PY'
import json, os, sys
path, rootfs, code = sys.argv[1:4]
c = json.load(open(path))
c["linux"]["cgroupsPath"] = os.environ["CGP"] + "/" + os.path.basename(os.path.dirname(path))
c["root"]["path"] = rootfs
c["process"]["terminal"] = False
p = c["process"]
def ns(t):
    return [n for n in c["linux"]["namespaces"] if n["type"] == t]
exec(code)
json.dump(c, open(path, "w"), indent=1)
PY
  echo "$b"
}

# oci ARGS: corral-oci with the test state root; output in $out, status in $rc.
oci() { rc=0; "$OCI" --root "$STATE" "$@" >"$T/out" 2>&1 || rc=$?; out=$(cat "$T/out"); echo "\$ corral-oci $* -> $rc: $out" >>"$log"; }
# crun NAME PYTHON: runs a container to completion from a fresh bundle.
crun() { local b; b=$(bundle "$1" "$2") && oci run --bundle "$b" "$1"; }
is() { [ "$1" = "$2" ] || { echo "got '$1', expected '$2'" >>"$log"; false; }; }
has_out() { grep -q -- "$1" <<<"$out" || { echo "missing '$1'" >>"$log"; false; }; }
# state_of ID FIELD: one field of `corral-oci state` (pretty-printed JSON).
state_of() { "$OCI" --root "$STATE" state "$1" 2>/dev/null | sed -nE 's/^ *"'"$2"'": *"?([^",]*)"?,?$/\1/p'; }
t() { : >"$log"; }   # starts a new check's log

# ---- basics ----
t; crun true 'p["args"] = ["/bin/true"]'
check "run /bin/true exits 0" status_is 0
t; crun exit7 'p["args"] = ["sh", "-c", "exit 7"]'
check "run propagates the exit status (7)" status_is 7
t; crun notfound 'p["args"] = ["nosuchprog"]'
check "a missing program fails at create with runc's message" \
  eval '[ $rc = 1 ] && has_out "exec: \"nosuchprog\": executable file not found in \$PATH"'
t; check "a failed run leaves no state behind" eval '[ -z "$(ls "$STATE")" ]'

# ---- lifecycle ----
t; b=$(bundle life 'p["args"] = ["sleep", "100"]')
oci create --bundle "$b" --pid-file "$T/life.pid" life
check "create succeeds" status_is 0
check "state after create is created" eval '[ "$(state_of life status)" = created ]'
check "the pid file holds the state's pid" eval '[ "$(cat "$T/life.pid")" = "$(state_of life pid)" ]'
check "state JSON has the spec's fields" eval '"$OCI" --root "$STATE" state life | python3 -c "
import json,sys; s=json.load(sys.stdin)
assert s[\"ociVersion\"] and s[\"id\"]==\"life\" and s[\"bundle\"]==\"$b\" and \"annotations\" in s"'
oci create --bundle "$b" life
check "create of an existing id fails" eval '[ $rc = 1 ] && has_out "already exists"'
check "... and the first container is untouched" eval '[ "$(state_of life status)" = created ]'
oci delete life
check "delete of a created container without --force fails" eval '[ $rc = 1 ] && [ "$(state_of life status)" = created ]'
oci start life
check "start succeeds" status_is 0
check "state after start is running" eval '[ "$(state_of life status)" = running ]'
pid=$(state_of life pid)
check "the container runs sleep" eval 'grep -q "^sleep" /proc/$pid/cmdline 2>/dev/null || tr "\0" " " </proc/$pid/cmdline | grep -q sleep'
oci start life
check "start twice fails and leaves it running" eval '[ $rc = 1 ] && has_out "not created" && [ "$(state_of life status)" = running ]'
oci delete life
check "delete of a running container without --force fails" eval '[ $rc = 1 ] && [ "$(state_of life status)" = running ]'
oci list
check "list shows it in the table" eval 'has_out "^ID" && has_out "^life .*running"'
oci list --format json
check "list --format json" eval 'python3 -c "import json,sys; l=json.loads(sys.argv[1]); assert l[0][\"id\"]==\"life\"" "$out"'
oci kill life KILL
check "kill KILL succeeds" status_is 0
for i in $(seq 50); do [ "$(state_of life status)" = stopped ] && break; sleep 0.05; done
check "state after kill is stopped" eval '[ "$(state_of life status)" = stopped ]'
oci kill life KILL
check "kill of a stopped container fails" eval '[ $rc = 1 ] && has_out "stopped"'
oci delete life
check "delete of a stopped container" eval '[ $rc = 0 ] && [ ! -e "$STATE/life" ]'
oci state life
check "state of an unknown id fails" eval '[ $rc = 1 ] && has_out "does not exist"'
oci start nosuch
check "start of an unknown id fails" eval '[ $rc = 1 ] && has_out "does not exist"'
oci delete -f nosuch
check "delete --force of an unknown id: exit 0, silent (as runc)" eval '[ $rc = 0 ] && [ -z "$out" ]'
oci delete nosuch
check "... without --force it fails" eval '[ $rc = 1 ] && has_out "does not exist"'
oci state ../etc
check "an id with a slash or .. is refused" eval '[ $rc = 1 ] && has_out "invalid container id"'

t; b=$(bundle trap 'p["args"] = ["sh", "-c", "trap \"exit 3\" TERM; while :; do sleep 0.05; done"]')
"$OCI" --root "$STATE" run --bundle "$b" trapper >/dev/null 2>>"$log" & runpid=$!
for i in $(seq 100); do [ "$(state_of trapper status)" = running ] && break; sleep 0.05; done
sleep 0.2
oci kill trapper SIGTERM
wait $runpid; rc=$?
check "kill by name reaches the init's handler; run exits with its status" status_is 3
check "foreground run deletes the container afterwards" eval '[ ! -e "$STATE/trapper" ]'

t; b=$(bundle fg 'p["args"] = ["sleep", "100"]')
"$OCI" --root "$STATE" run --bundle "$b" fg >/dev/null 2>>"$log" & runpid=$!
for i in $(seq 100); do [ "$(state_of fg status)" = running ] && break; sleep 0.05; done
oci delete -f fg
wait $runpid; rc=$?
check "delete --force kills a running container (run exits 137)" eval '[ $rc = 137 ] && [ ! -e "$STATE/fg" ]'

t; b=$(bundle det 'p["args"] = ["sleep", "100"]')
oci run -d --bundle "$b" det
check "run --detach returns with the container running" eval '[ $rc = 0 ] && [ "$(state_of det status)" = running ]'
oci kill --all det KILL
for i in $(seq 50); do [ "$(state_of det status)" = stopped ] && break; sleep 0.05; done
check "kill --all stops it" eval '[ "$(state_of det status)" = stopped ]'
oci delete det

# ---- namespaces ----
t; crun pidns 'p["args"] = ["sh", "-c", "echo pid=$$"]'
check "pid namespace: the init is pid 1" eval '[ $rc = 0 ] && has_out "^pid=1$"'
t; crun uts 'c["hostname"] = "box1"; c["domainname"] = "dom1"; p["args"] = ["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"]'
check "uts namespace: hostname and domainname set" eval '[ $rc = 0 ] && has_out "^box1$" && has_out "^dom1$" && [ "$(hostname)" != box1 ]'
mkdir -p "$T/hostonly" && mount -t tmpfs corral-oci-hostonly "$T/hostonly"
t; crun mnt 'p["args"] = ["cat", "/proc/self/mountinfo"]'
check "mount namespace: host mounts are not visible" eval '[ $rc = 0 ] && has_out " / " && ! has_out hostonly'
umount "$T/hostonly"
hostipc=$(readlink /proc/self/ns/ipc)
t; crun ipc 'p["args"] = ["readlink", "/proc/self/ns/ipc"]'
check "ipc namespace: a new one" eval '[ $rc = 0 ] && has_out "^ipc:" && ! has_out "^$hostipc$"'
t; crun net 'p["args"] = ["ls", "/sys/class/net"]'
check "network namespace: only lo" eval '[ $rc = 0 ] && [ "$out" = lo ]'
t; crun user 'c["linux"]["namespaces"].append({"type": "user"}); c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]; p["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map"]'
check "user namespace: mapped root" eval '[ $rc = 0 ] && has_out "^0$" && has_out "0 *100000 *65536"'
t; crun usernomap 'c["linux"]["namespaces"].append({"type": "user"})'
check "a user namespace without mappings is refused" eval '[ $rc = 1 ] && has_out "uidMappings"'
ip netns add "$NETNS" && ip -n "$NETNS" link add corral0 type veth peer name corral1
t; crun joinnet 'ns("network")[0]["path"] = "/var/run/netns/'"$NETNS"'"; p["args"] = ["ls", "/sys/class/net"]'
check "joining a network namespace by path" eval '[ $rc = 0 ] && has_out "^corral0$" && has_out "^corral1$"'
t; crun sysctl 'c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}; p["args"] = ["cat", "/proc/sys/net/ipv4/ip_forward"]'
check "linux.sysctl sets a namespaced sysctl" eval '[ $rc = 0 ] && [ "$out" = 1 ] && [ "$(cat /proc/sys/net/ipv4/ip_forward)" != x ]'
t; crun sysctlbad 'c["linux"]["sysctl"] = {"kernel.panic": "1"}'
check "a non-namespaced sysctl is refused" eval '[ $rc = 1 ] && has_out "kernel.panic.*not namespaced"'
# podman joins a network namespace by path and sets net.* sysctls in it.
t; crun joinsysctl 'ns("network")[0]["path"] = "/var/run/netns/'"$NETNS"'"; c["linux"]["sysctl"] = {"net.ipv4.ping_group_range": "0 7"}; p["args"] = ["cat", "/proc/sys/net/ipv4/ping_group_range"]'
check "linux.sysctl in a network namespace joined by path" \
  eval '[ $rc = 0 ] && [ "$(echo $out)" = "0 7" ] && [ "$(ip netns exec "$NETNS" cat /proc/sys/net/ipv4/ping_group_range | tr -s "\t " " ")" = "0 7" ]'
t; crun hostsysctl 'ns("network")[0]["path"] = "/proc/self/ns/net"; c["linux"]["sysctl"] = {"net.ipv4.ping_group_range": "0 7"}'
check "... but not in the runtime's own (the host's)" \
  eval '[ $rc = 1 ] && has_out "not allowed in the host.s network namespace" && [ "$(tr -s "\t " " " </proc/sys/net/ipv4/ping_group_range)" != "0 7" ]'
t; crun setsid 'p["args"] = ["sh", "-c", "cut -d\" \" -f6 /proc/1/stat"]'
check "the init leads its own session (setsid, as runc)" eval '[ $rc = 0 ] && [ "$out" = 1 ]'

# ---- filesystem ----
t; crun rofs 'p["args"] = ["sh", "-c", "touch /newfile"]'
check "readonly root: writes fail" eval '[ $rc != 0 ] && has_out "Read-only file system" && [ ! -e "$R/newfile" ]'
t; crun rwfs 'c["root"]["readonly"] = False; p["args"] = ["sh", "-c", "touch /tmp/rwtest && rm /tmp/rwtest"]'
check "a writable root accepts writes" status_is 0
t; crun masked 'c["linux"]["maskedPaths"] += ["/data", "/etc/marker"]; p["args"] = ["sh", "-c", "ls /data | wc -l; wc -c </etc/marker; wc -c </proc/timer_list"]'
check "maskedPaths hide a directory and files" eval '[ $rc = 0 ] && [ "$(echo $out)" = "0 0 0" ] && [ "$(head -c1 /proc/timer_list | wc -c)" = 1 ]'
t; crun ropath 'c["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}); c["linux"]["readonlyPaths"] = ["/data"]; p["args"] = ["sh", "-c", "touch /data/x"]'
check "readonlyPaths make a path read-only" eval '[ $rc != 0 ] && has_out "Read-only file system"'
t; crun tmpfs 'c["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "mode=1777", "size=1m"]}); p["args"] = ["sh", "-c", "grep \" /data \" /proc/mounts; stat -c %a /data"]'
check "tmpfs mount options (nosuid,nodev,noexec,mode,size)" eval '[ $rc = 0 ] && has_out "nosuid,nodev,noexec" && has_out "size=1024k" && has_out "^1777$"'
t; crun bindro 'c["mounts"].append({"destination": "/host/etc", "source": "/etc", "options": ["rbind", "ro"]}); p["args"] = ["sh", "-c", "test -f /host/etc/hostname && ! touch /host/etc/x 2>/dev/null && echo fine"]'
check "a read-only bind mount of a host directory" eval '[ $rc = 0 ] && [ "$out" = fine ] && [ ! -e /etc/x ]'
t; crun escape 'c["root"]["readonly"] = False; c["mounts"].append({"destination": "/escape/inner-'$$'", "type": "tmpfs", "source": "tmpfs"}); p["args"] = ["true"]'
check "a mount through a ../../ symlink stays inside the rootfs" eval '[ $rc = 0 ] && [ ! -e /tmp/inner-$$ ] && [ -d "$R/tmp/inner-$$" ]'
rm -rf "$R/tmp/"*
t; crun escape2 'c["root"]["readonly"] = False; c["mounts"].append({"destination": "/escape2/inner", "type": "tmpfs", "source": "tmpfs"}); p["args"] = ["true"]'
check "a mount through an absolute symlink never reaches the host" eval '[ ! -e "$T/hostside/inner" ] && { [ $rc = 0 ] || has_out "mount /escape2/inner"; }'
rm -rf "${R:?}/${T#/}"
# tmpcopyup (podman's --tmpfs, --read-only): the tmpfs starts with a copy of
# what the image has there: nested directories, a symlink (not followed), a
# fifo, a set-gid file of another owner, an xattr; modes, owners and times.
mkdir -p "$R/cu/sub/deep" && echo top >"$R/cu/f" && echo deep >"$R/cu/sub/deep/g"
ln -s /etc/marker "$R/cu/link" && mkfifo "$R/cu/fifo" && chown 1000:50 "$R/cu/sub/deep/g"
chmod 2750 "$R/cu/sub/deep/g" && chmod 0710 "$R/cu/sub" && chmod 0751 "$R/cu"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.corral", b"kept")' "$R/cu/f" 2>/dev/null
# (a directory's size is the filesystem's business)
cu_list() { find . | sort | while read -r f; do stat -c "%n %a %u:%g %F %Y" "$f"; [ -d "$f" ] || stat -c %s "$f"; done; }
cu_want=$(cd "$R/cu" && cu_list)
t; b=$(bundle copyup 'c["mounts"].append({"destination": "/cu", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "tmpcopyup", "size=1m"]}); p["args"] = ["sleep", "100"]')
oci run -d --bundle "$b" copyup
cu_root=/proc/$(state_of copyup pid)/root/cu
cu_got=$(cd "$cu_root" && cu_list)
echo "$cu_got" >>"$log"
check "tmpcopyup: a tmpfs with a copy of the image's directory (modes, owners, types, times)" \
  eval '[ $rc = 0 ] && [ "$(stat -fc %T "$cu_root")" = tmpfs ] && [ "$cu_got" = "$cu_want" ] && [ "$(readlink "$cu_root/link")" = /etc/marker ]'
echo new >"$cu_root/f"
check "... writes go to the tmpfs, not the image" eval '[ "$(cat "$cu_root/f")" = new ] && [ "$(cat "$R/cu/f")" = top ]'
xattr() { python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.corral").decode())' "$1" 2>/dev/null; }
if [ "$(xattr "$R/cu/f")" = kept ] && [ "$(printf '%s\n' 6.6 "$(uname -r)" | sort -V | head -1)" = 6.6 ]; then
  check "... with the file's xattrs" eval '[ "$(xattr "$cu_root/f")" = kept ]'
else
  skip "tmpcopyup keeps xattrs" "needs user.* xattrs on $T and on tmpfs (Linux 6.6+)"
fi
oci delete -f copyup
t; crun copyupro 'c["mounts"].append({"destination": "/cu", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "tmpcopyup", "mode=700"]}); c["mounts"].append({"destination": "/fresh", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}); p["args"] = ["sh", "-c", "cat /cu/f; stat -c %a /cu /fresh; touch /cu/x"]'
check "tmpcopyup read-only: copied, then read-only; mode= wins; a new directory stays empty" \
  eval '[ $rc != 0 ] && has_out "^top$" && [ "$(grep "^[0-7]*$" <<<"$out" | tr "\n" " ")" = "700 1777 " ] && has_out "Read-only file system"'
rm -rf "${R:?}/cu"
t; crun devs 'c["linux"]["devices"] = [{"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 438}]; p["args"] = ["sh", "-c", "test -c /dev/null && test -c /dev/urandom && test -c /dev/mydev && test -L /dev/ptmx && test -L /dev/fd && echo x >/dev/mydev && echo devs-ok"]'
check "default devices, symlinks and linux.devices" eval '[ $rc = 0 ] && [ "$out" = devs-ok ]'
# podman puts the node's type bits in fileMode (020666); a umask of the
# caller must not change the mode (runc sets it exactly).
t; umask 077; crun devmode 'c["linux"]["devices"] = [{"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 8630}]; p["args"] = ["stat", "-c", "%a %F %t:%T", "/dev/myzero", "/dev/null"]'; umask 022
check "fileMode with type bits (020666): mode 666 whatever the umask" \
  eval '[ $rc = 0 ] && [ "$(echo $out)" = "666 character special file 1:5 666 character special file 1:3" ]'
t; crun devmodebad 'c["linux"]["devices"] = [{"path": "/dev/x", "type": "c", "major": 1, "minor": 5, "fileMode": 25014}]'
check "... but a block device's type bits on a char device are refused" \
  eval '[ $rc = 1 ] && has_out "fileMode: 60666 is not a permission mode"'

# ---- the process ----
t; crun envcwd 'p["env"] = ["FOO=bar baz", "PATH=/bin"]; p["cwd"] = "/tmp"; p["args"] = ["sh", "-c", "echo \"$FOO\"; pwd"]'
check "env and cwd" eval '[ $rc = 0 ] && [ "$(echo $out)" = "bar baz /tmp" ]'
t; crun user1000 'p["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 23}; p["args"] = ["sh", "-c", "id; umask"]'
check "user uid/gid/additionalGids/umask" eval '[ $rc = 0 ] && has_out "uid=1000 gid=1001 groups=10,20" && has_out "^0027$"'
t; crun capsnone 'p["args"] = ["sh", "-c", "grep CapEff /proc/self/status; ip link add d0 type veth peer name d1"]'
check "capabilities dropped: CapEff is the configured set, ip link add fails" \
  eval '[ $rc != 0 ] && has_out "CapEff:.*0000000020000420" && has_out "Operation not permitted"'
t; crun capsnet 'p["capabilities"]["effective"].append("CAP_NET_ADMIN"); p["capabilities"]["permitted"].append("CAP_NET_ADMIN"); p["capabilities"]["bounding"].append("CAP_NET_ADMIN"); p["args"] = ["sh", "-c", "ip link add d0 type veth peer name d1 && echo added"]'
check "... and with CAP_NET_ADMIN it works" eval '[ $rc = 0 ] && has_out added'
t; crun bounding 'p["args"] = ["grep", "CapBnd", "/proc/self/status"]'
check "the bounding set is the configured one" eval '[ $rc = 0 ] && has_out "0000000020000420"'
t; crun rlimit 'p["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]; p["args"] = ["sh", "-c", "ulimit -n; ulimit -Hn"]'
check "rlimits (RLIMIT_NOFILE 123/456)" eval '[ $rc = 0 ] && [ "$(echo $out)" = "123 456" ]'
t; crun nnp 'p["args"] = ["grep", "NoNewPrivs", "/proc/self/status"]'
check "noNewPrivileges: NoNewPrivs is 1" eval '[ $rc = 0 ] && has_out "NoNewPrivs:.*1"'
t; crun nnp0 'p["noNewPrivileges"] = False; p["args"] = ["grep", "NoNewPrivs", "/proc/self/status"]'
check "... and 0 when false" eval '[ $rc = 0 ] && has_out "NoNewPrivs:.*0"'
t; crun oom 'p["oomScoreAdj"] = 500; p["args"] = ["cat", "/proc/self/oom_score_adj"]'
check "oomScoreAdj" eval '[ $rc = 0 ] && [ "$out" = 500 ]'
t; crun fds 'p["args"] = ["ls", "/proc/self/fd"]'
check "only fds 0-2 reach the container (3 is ls's own)" eval '[ $rc = 0 ] && [ "$(echo $out)" = "0 1 2 3" ]'

t; crun seccomp 'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}; p["args"] = ["sh", "-c", "mkdir /dev/shm/x; echo after"]'
check "linux.seccomp: a rule's errno reaches the program" eval '[ $rc = 0 ] && has_out "Operation not permitted" && has_out after'
t; crun seccompnnp 'p["noNewPrivileges"] = False; c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"}]}; p["args"] = ["sh", "-c", "mkdir /dev/shm/x"]'
check "... also without noNewPrivileges" eval '[ $rc != 0 ] && has_out "Operation not permitted"'
t; crun seccompbad 'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}'
check "... and a bad action is named" eval '[ $rc = 1 ] && has_out "linux.seccomp.syscalls\[0\].action: unknown action"'

# ---- terminal over --console-socket ----
t; b=$(bundle tty 'p["terminal"] = True; p["args"] = ["sh", "-c", "tty; echo tty-ok"]')
python3 - "$T/console.sock" >"$T/console.out" 2>>"$log" <<'PY' & conspid=$!
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(10)
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 256, 1)
data = b""
while True:
    try:
        d = os.read(fds[0], 4096)
    except OSError:
        break
    if not d:
        break
    data += d
print(msg.decode(), data.decode(errors="replace").replace("\r", ""))
PY
for i in $(seq 50); do [ -S "$T/console.sock" ] && break; sleep 0.05; done
oci run --bundle "$b" --console-socket "$T/console.sock" tty
wait $conspid
cat "$T/console.out" >>"$log"
check "process.terminal: the pty master arrives over --console-socket" \
  eval '[ $rc = 0 ] && grep -q "^/dev/pts/0 /dev/pts/0" "$T/console.out" && grep -q tty-ok "$T/console.out"'
t; b=$(bundle ttynosock 'p["terminal"] = True')
oci create --bundle "$b" ttynosock
check "create: terminal without --console-socket is refused" eval '[ $rc = 1 ] && has_out "console-socket" && [ -z "$(ls "$STATE")" ]'
oci run -d --bundle "$b" ttynosock
check "run -d: terminal without --console-socket is refused" eval '[ $rc = 1 ] && has_out "console-socket"'

# ---- terminal relayed to the caller's (run in the foreground) ----
# ptyrun CMD: runs the shell command on a new pty, types "hello" into it and
# prints everything it shows; the exit status is the command's.
ptyrun() {
  python3 - "$1" <<'PY'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", sys.argv[1]])
out, sent, end = b"", False, time.time() + 20
while time.time() < end:
    if not sent and b"ready" in out:
        os.write(fd, b"hello\r")
        sent = True
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
sys.stdout.write(out.decode(errors="replace"))
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
PY
}
t; b=$(bundle ttyrelay 'p["terminal"] = True; p["args"] = ["sh", "-c", "tty; stty size; echo ready; read x; echo got-$x; exit 3"]')
rc=0; out=$(ptyrun "stty rows 33 cols 77; $OCI --root $STATE run --bundle $b ttyrelay; echo status=\$?; stty -a") || rc=$?
echo "$out" >>"$log"
check "run with process.terminal and no --console-socket: the pty is relayed" \
  eval 'has_out "^/dev/pts/0" && has_out "^33 77" && has_out "got-hello"'
check "... with the container's exit status" eval 'has_out "^status=3"'
check "... and the caller's terminal restored (not raw)" eval 'has_out " icanon " && has_out " echo " && [ -z "$(ls "$STATE")" ]'

# ---- bad input ----
t; crun badrl 'p["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}, {"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]'
check "an invalid field is named in the error" \
  eval '[ $rc = 1 ] && [ "$out" = "corral-oci: config.json: process.rlimits[1].type: unknown rlimit \"RLIMIT_FOO\"" ]'
t; crun badns 'c["linux"]["namespaces"].append({"type": "bogus"})'
check "an unknown namespace type" eval '[ $rc = 1 ] && has_out "linux.namespaces\[6\].type: unknown namespace"'
t; crun badcap 'p["capabilities"]["bounding"].append("CAP_FLY")'
check "an unknown capability" eval '[ $rc = 1 ] && has_out "process.capabilities.bounding\[3\]: unknown capability"'
t; b=$(bundle badjson 'pass'); echo '{"ociVersion": "1.0.0", ' >"$b/config.json"; oci run --bundle "$b" badjson
check "truncated JSON" eval '[ $rc = 1 ] && has_out "config.json: not valid JSON"'
check "bad configs leave no state behind" eval '[ -z "$(ls "$STATE")" ]'
oci --frobnicate list
check "an unknown option: one line, exit 1" eval '[ $rc = 1 ] && [ $(wc -l <<<"$out") = 1 ] && has_out frobnicate'
oci delete --bogus x
check "an unknown command option: one line, exit 1" eval '[ $rc = 1 ] && [ $(wc -l <<<"$out") = 1 ]'
oci --log "$T/oci.log" --log-format json state nosuch
check "--log --log-format json records the error" \
  eval 'python3 -c "import json; e=json.loads(open(\"$T/oci.log\").readline()); assert e[\"level\"]==\"error\" and \"does not exist\" in e[\"msg\"]"'
oci features
check "features prints JSON" eval 'python3 -c "import json,sys; f=json.loads(sys.argv[1]); assert \"pid\" in f[\"linux\"][\"namespaces\"]" "$out"'
check "features: annotations name the image and net extensions" eval 'python3 -c "
import json,sys; a=json.loads(sys.argv[1])[\"annotations\"]
assert \"bundle\" in a[\"org.corral.oci.image\"].split(\",\") and \"attach\" in a[\"org.corral.oci.net\"].split(\",\")
assert \"relay\" in a[\"org.corral.oci.terminal\"]" "$out" 2>>"$log"'

# ---- concurrency: start and delete -f racing on one container ----
alive() { [ -e "/proc/$1" ] && ! grep -q "^State:.*Z" "/proc/$1/status" 2>/dev/null; }
t; b=$(bundle race 'p["args"] = ["sleep", "100"]')
bad=0
for i in $(seq 10); do
  oci create --bundle "$b" race
  [ $rc = 0 ] || { bad=1; break; }
  pid=$(state_of race pid)
  "$OCI" --root "$STATE" start race >/dev/null 2>&1 & a=$!
  "$OCI" --root "$STATE" delete -f race >/dev/null 2>&1 & d=$!
  wait $a; wait $d; rd=$?
  # delete -f must win or fail cleanly; either way a second one finishes the job.
  [ $rd = 0 ] || oci delete -f race
  # A zombie is dead: reaping it is the host's pid 1's business.
  for j in $(seq 50); do alive "$pid" || break; sleep 0.02; done
  if [ -e "$STATE/race" ] || alive "$pid"; then bad=1; echo "iteration $i: leftover" >>"$log"; break; fi
done
check "concurrent start/delete -f: no leftover state or process (10 rounds)" is "$bad" 0

# ---- cgroups (issue 4 step 2) ----
# cg NAME FILE: a file of bundle NAME's cgroup, in whichever hierarchy has it.
cg() { cat $CGH/"${CGP#/}/$1/$2" 2>/dev/null | head -1; }
cg_dirs() { ls -d $CGH/"${CGP#/}/$1" 2>/dev/null; }
# cg_line CTRL: the start of /proc/PID/cgroup's line for a controller's
# hierarchy (v2: the one "0::" line).
cg_line() { if [ $cgv = 2 ]; then echo "0::"; else echo "[0-9]*:$1:"; fi; }
wait_status() { for i in $(seq 100); do [ "$(state_of "$1" status)" = "$2" ] && return 0; sleep 0.05; done; false; }
wait_cg() { for i in $(seq 100); do [ "$(cg "$1" "$2")" = "$3" ] && return 0; sleep 0.05; done; false; }

t; crun oomhog 'c["linux"]["resources"] = {"memory": {"limit": 16777216, "swap": 16777216}}; p["args"] = ["sh", "-c", "a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done"]'
check "memory.limit: a memory hog is OOM-killed (SIGKILL, 137)" status_is 137
# The bomb is a child shell (a shell exits when it cannot fork): the outer
# shell, it and 8 sleeps fill the 10; then only the outer shell and the sleeps remain.
t; crun forkbomb 'c["linux"]["resources"] = {"pids": {"limit": 10}}; p["args"] = ["sh", "-c", "sh -c \"for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do sleep 2 & done\"; set -- /proc/[0-9]*; echo n=$#"]'
check "pids.limit 10: the forks beyond it fail" eval '[ $rc = 0 ] && has_out "can.t fork" && has_out "^n=9$"'
t; crun cgbad 'c["linux"]["resources"] = {"memory": {"limit": "lots"}}'
check "a bad resource value is named" eval '[ $rc = 1 ] && has_out "linux.resources.memory.limit: must be an integer"'
t; crun cgunified 'c["linux"]["resources"] = {"unified": {"memory.nosuchfile": "1"}}'
check "unified: a missing cgroup2 file is named, nothing left behind" \
  eval '[ $rc = 1 ] && has_out "linux.resources.unified.memory.nosuchfile" && [ -z "$(ls "$STATE")" ] && [ -z "$(cg_dirs cgunified)" ]'

# Device rules.  On a pure v2 host they can only be a cgroup2 device filter
# (BPF_CGROUP_DEVICE): corral-oci picks it by itself.  A v1/hybrid host has a
# v1 devices hierarchy: the rules go to devices.allow/deny there, and the env
# forces the BPF path, which needs only the cgroup2 hierarchy, so that it is
# tested too.  The host's /dev/net/tun (c 10:200) is bound in: not among the
# default devices.
devrun() {
  local b; b=$(bundle "$1" 'c["mounts"].append({"destination": "/dev/tun", "type": "bind", "source": "/dev/net/tun", "options": ["bind"]}); c["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}] + '"$2"'}; p["args"] = ["sh", "-c", "(: </dev/tun) 2>/dev/null && echo tun-read || echo tun-noread; (: >/dev/tun) 2>/dev/null && echo tun-write || echo tun-nowrite; (: </dev/null) && echo null-ok"]') &&
  rc=0 && out=$(env -u CORRAL_OCI_DEVICE_FILTER ${3:+CORRAL_OCI_DEVICE_FILTER=$3} "$OCI" --root "$STATE" run --bundle "$b" "$1" 2>&1) || rc=$?
  echo "$1 -> $rc: $out" >>"$log"
}
if [ ! -c /dev/net/tun ]; then
  for n in 1 2 3 4; do skip "device rules ($n)" "this host has no /dev/net/tun to deny"; done
else
  if [ $cgv = 2 ]; then
    dv=v2 force= what="cgroup2 device filter (pure v2 host, chosen by itself)"
    skip "v1 devices controller: a device outside the rules is denied" "this host has no cgroup v1 devices hierarchy"
    skip "v1 devices controller: an \"r\" rule allows reading only" "this host has no cgroup v1 devices hierarchy"
  else
    dv=v1 force=bpf what="cgroup2 device filter (forced on a v1/hybrid host)"
    t; devrun devv1a '[]'
    check "v1 devices controller: a device outside the rules is denied, defaults allowed" \
      eval '[ $rc = 0 ] && has_out "^tun-noread$" && has_out "^tun-nowrite$" && has_out "^null-ok$"'
    t; devrun devv1b '[{"allow": True, "type": "c", "major": 10, "minor": 200, "access": "r"}]'
    check "v1 devices controller: an \"r\" rule allows reading only" \
      eval '[ $rc = 0 ] && has_out "^tun-read$" && has_out "^tun-nowrite$"'
  fi
  t; devrun devbpf0 '[]' $force
  if [ $rc != 0 ] && grep -q "device filter.*Operation not permitted" <<<"$out"; then
    skip "$what" "bpf() refused here: $(grep -o 'device filter.*' <<<"$out" | head -1)"
    skip "$what: rule access" "as above"
  else
    check "$what: a device outside the rules is denied, defaults allowed" \
      eval '[ $rc = 0 ] && has_out "^tun-noread$" && has_out "^tun-nowrite$" && has_out "^null-ok$"'
    t; devrun devbpf1 '[{"allow": True, "type": "c", "major": 10, "minor": 200, "access": "r"}]' $force
    check "$what: an \"r\" rule allows reading only; nothing left attached" \
      eval '[ $rc = 0 ] && has_out "^tun-read$" && has_out "^tun-nowrite$" && [ -z "$(cg_dirs devbpf1)" ]'
  fi
fi
# The "cgroup" mount.  A host with v1 hierarchies: a tmpfs with one
# directory per hierarchy, each the container's own cgroup, read-only.  A
# pure v2 host: cgroup2 itself, its root the container's own cgroup (pids.max
# exists in no root cgroup), read-only.
if [ $cgv = 1 ]; then
  cgmount_cmd='grep " /sys/fs/cgroup " /proc/mounts | cut -d" " -f3; cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/unified/cgroup.procs; echo 1 >/sys/fs/cgroup/pids/pids.max 2>/dev/null || echo ro-ok'
  t; crun cgmount 'c["linux"]["resources"] = {"pids": {"limit": 7}}; p["args"] = ["sh", "-c", '"'$cgmount_cmd'"']'
  check "cgroup mount (v1 host, cgroup namespace): tmpfs + the container's own hierarchies, read-only" \
    eval '[ $rc = 0 ] && has_out "^tmpfs$" && has_out "^7$" && has_out "memory.limit_in_bytes" && has_out "unified/cgroup.procs" && has_out "^ro-ok$"'
  t; crun cgmountb 'c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]; c["linux"]["resources"] = {"pids": {"limit": 7}}; p["args"] = ["sh", "-c", '"'$cgmount_cmd'"']'
  check "cgroup mount (v1 host) without a cgroup namespace: binds of the container's cgroup dirs" \
    eval '[ $rc = 0 ] && has_out "^tmpfs$" && has_out "^7$" && has_out "memory.limit_in_bytes" && has_out "^ro-ok$"'
else
  cgmount_cmd='grep " /sys/fs/cgroup " /proc/mounts | cut -d" " -f3; cat /sys/fs/cgroup/pids.max; ls /sys/fs/cgroup/memory.max /sys/fs/cgroup/cgroup.procs; ls /sys/fs/cgroup | grep -c corral-oci-test; echo 1 >/sys/fs/cgroup/pids.max 2>/dev/null || echo ro-ok'
  t; crun cgmount 'c["linux"]["resources"] = {"pids": {"limit": 7}}; p["args"] = ["sh", "-c", '"'$cgmount_cmd'"']'
  check "cgroup mount (v2 host, cgroup namespace): cgroup2 rooted at the container's cgroup, read-only" \
    eval '[ $rc = 0 ] && has_out "^cgroup2$" && has_out "^7$" && has_out "/memory.max$" && has_out "/cgroup.procs$" && has_out "^0$" && has_out "^ro-ok$"'
  t; crun cgmountb 'c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]; c["linux"]["resources"] = {"pids": {"limit": 7}}; p["args"] = ["sh", "-c", '"'$cgmount_cmd'"']'
  check "cgroup mount (v2 host) without a cgroup namespace: the container's own cgroup, not the host's tree" \
    eval '[ $rc = 0 ] && has_out "^cgroup2$" && has_out "^7$" && has_out "/memory.max$" && has_out "^0$" && has_out "^ro-ok$"'
fi
# cpuset, memory reservation and hugetlb: v1's files or v2's (cpuset.cpus,
# memory.low, hugetlb.2MB.max; a hybrid host's hugetlb is on cgroup2).
t; b=$(bundle cgmore 'c["linux"]["resources"] = {"cpu": {"cpus": "0", "mems": "0"}, "memory": {"limit": 67108864, "reservation": 8388608}, "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}; p["args"] = ["sleep", "100"]')
if [ ! -d /sys/kernel/mm/hugepages/hugepages-2048kB ]; then
  skip "cpuset, memory reservation and hugetlb applied" "this host has no 2 MB huge pages"
else
  oci run -d --bundle "$b" cgmore
  hug=$(cg cgmore hugetlb.2MB.max); [ -n "$hug" ] || hug=$(cg cgmore hugetlb.2MB.limit_in_bytes)
  if [ $cgv = 2 ]; then low=$(cg cgmore memory.low); else low=$(cg cgmore memory.soft_limit_in_bytes); fi
  echo "cpus=$(cg cgmore cpuset.cpus) mems=$(cg cgmore cpuset.mems) low=$low hugetlb=$hug" >>"$log"
  check "cpuset, memory reservation and hugetlb applied" \
    eval '[ $rc = 0 ] && [ "$(cg cgmore cpuset.cpus)" = 0 ] && [ "$(cg cgmore cpuset.mems)" = 0 ] && [ "$low" = 8388608 ] && [ "$hug" = 4194304 ]'
  oci delete -f cgmore
fi
# A read bps throttle on the first block device: blkio.throttle.* or io.max.
blkdev=$(cat /sys/block/*/dev 2>/dev/null | head -1)
if [ -z "$blkdev" ]; then
  skip "blockIO throttle applied" "this host has no block device"
else
  t; b=$(bundle cgio 'c["linux"]["resources"] = {"blockIO": {"throttleReadBpsDevice": [{"major": '"${blkdev%:*}"', "minor": '"${blkdev#*:}"', "rate": 1048576}]}}; p["args"] = ["sleep", "100"]')
  oci run -d --bundle "$b" cgio
  if [ $cgv = 2 ]; then io=$(cat /sys/fs/cgroup/"${CGP#/}"/cgio/io.max 2>/dev/null); want="$blkdev rbps=1048576 wbps=max riops=max wiops=max"
  else io=$(cg cgio blkio.throttle.read_bps_device); want="$blkdev 1048576"; fi
  echo "throttle: '$io'" >>"$log"
  check "blockIO throttle applied ($blkdev)" eval '[ $rc = 0 ] && [ "$io" = "$want" ]'
  oci delete -f cgio
fi
mkdir -p "$T/cgout"
t; b=$(bundle cglive 'c["linux"]["resources"] = {"cpu": {"quota": 20000, "period": 100000, "shares": 512}, "pids": {"limit": 50}}; c["mounts"].append({"destination": "/out", "type": "bind", "source": "'"$T/cgout"'", "options": ["rbind", "rw"]}); p["args"] = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >/out/count; sleep 0.05; done"]')
oci run -d --bundle "$b" cglive
if [ $cgv = 2 ]; then   # shares 512 is cpu.weight 20, as runc converts it
  check "cpu quota, period and shares applied (cpu.max, cpu.weight)" eval '[ $rc = 0 ] && [ "$(cg cglive cpu.max)" = "20000 100000" ] && [ "$(cg cglive cpu.weight)" = 20 ]'
else
  check "cpu quota, period and shares applied" eval '[ $rc = 0 ] && [ "$(cg cglive cpu.cfs_quota_us)" = 20000 ] && [ "$(cg cglive cpu.shares)" = 512 ]'
fi
pid=$(state_of cglive pid)
check "the init is in the container's cgroups" eval 'grep -q "^$(cg_line pids)${CGP}/cglive$" /proc/$pid/cgroup && grep -q "^$(cg_line memory)${CGP}/cglive$" /proc/$pid/cgroup'
# memlim NAME, quota NAME: the memory limit and the cpu quota, v1's or v2's files.
memlim() { if [ $cgv = 2 ]; then cg "$1" memory.max; else cg "$1" memory.limit_in_bytes; fi; }
quota() { if [ $cgv = 2 ]; then cg "$1" cpu.max | cut -d" " -f1; else cg "$1" cpu.cfs_quota_us; fi; }
oci update --pids-limit 7 --memory 64m --cpu-quota 30000 cglive
check "update --pids-limit/--memory/--cpu-quota change the files" \
  eval '[ $rc = 0 ] && [ "$(cg cglive pids.max)" = 7 ] && [ "$(memlim cglive)" = 67108864 ] && [ "$(quota cglive)" = 30000 ]'
echo '{"pids": {"limit": 9}, "memory": {"limit": 50331648}}' >"$T/res.json"
oci update -r "$T/res.json" cglive
check "update -r resources.json" eval '[ $rc = 0 ] && [ "$(cg cglive pids.max)" = 9 ] && [ "$(memlim cglive)" = 50331648 ]'
echo '{"pids": {"limit": "x"}}' >"$T/res.json"
oci update -r "$T/res.json" cglive
check "... a bad one names the field and changes nothing" eval '[ $rc = 1 ] && has_out "res.json.pids.limit" && [ "$(cg cglive pids.max)" = 9 ]'
oci update --pids-limit abc cglive
check "update with a bad flag value fails" eval '[ $rc = 1 ] && has_out "pids-limit"'
oci pause cglive
check "pause: state is paused" eval '[ $rc = 0 ] && [ "$(state_of cglive status)" = paused ]'
c1=$(cat "$T/cgout/count"); sleep 0.4; c2=$(cat "$T/cgout/count")
check "... and the processes are frozen (the counter stops)" eval '[ -n "$c1" ] && [ "$c1" = "$c2" ]'
oci exec cglive true
check "exec into a paused container is refused" eval '[ $rc = 1 ] && has_out paused'
oci resume cglive
sleep 0.3; c3=$(cat "$T/cgout/count")
check "resume: running again, the counter moves" eval '[ $rc = 0 ] && [ "$(state_of cglive status)" = running ] && [ "$c3" -gt "$c2" ]'
oci resume cglive
check "resume of a running container fails" eval '[ $rc = 1 ] && has_out "not paused"'
oci ps --format json cglive
check "ps --format json lists the init's pid" eval '[ $rc = 0 ] && python3 -c "import json,sys; assert $pid in json.loads(sys.argv[1])" "$out"'
oci ps cglive
check "ps prints the ps -ef lines of the container's processes only" \
  eval '[ $rc = 0 ] && has_out "PID" && has_out "^root *$pid " && [ $(wc -l <<<"$out") -le 4 ]'

# ---- exec ----
oci exec cglive sh -c 'hostname; tr "\0" " " </proc/1/cmdline; echo; readlink /proc/self/ns/net; readlink /proc/self/ns/mnt'
check "exec: same uts, pid, net and mount namespaces as the init" \
  eval '[ $rc = 0 ] && has_out "^corral$" && has_out "^sh -c i=0" && grep -qxF "$(readlink /proc/$pid/ns/net)" <<<"$out" && grep -qxF "$(readlink /proc/$pid/ns/mnt)" <<<"$out"'
oci exec cglive sh -c 'exit 5'
check "exec: the exit status propagates" status_is 5
oci exec -e FOO=bar --cwd /tmp --user 1000:1001 cglive sh -c 'echo "$FOO $(pwd) $(id -u):$(id -g)"'
check "exec -e, --cwd, --user" eval '[ $rc = 0 ] && [ "$out" = "bar /tmp 1000:1001" ]'
oci exec cglive sh -c 'cat /proc/self/cgroup; grep CapEff /proc/self/status'
check "exec: in the container's cgroups (namespace root) with its capabilities" \
  eval '[ $rc = 0 ] && has_out "^$(cg_line pids)/$" && ! has_out "$CGP" && has_out "CapEff:.*0000000020000420"'
echo '{"args": ["sh", "-c", "echo from-json $X"], "cwd": "/", "env": ["X=1"]}' >"$T/proc.json"
oci exec -p "$T/proc.json" cglive
check "exec -p process.json" eval '[ $rc = 0 ] && [ "$out" = "from-json 1" ]'
# exec reads the config create kept, not the bundle's current one (runc
# keeps it in its state too): change the bundle's env, then remove it.
cp "$T/cglive/config.json" "$T/cglive.json"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["process"]["env"].append("LATE=changed"); json.dump(c, open(sys.argv[1], "w"))' "$T/cglive/config.json"
oci exec cglive sh -c 'echo "late=${LATE:-unset}"'
check "exec uses the config.json kept at create, not the bundle's edited one" \
  eval '[ $rc = 0 ] && [ "$out" = "late=unset" ]'
rm "$T/cglive/config.json"
oci exec cglive true
check "... and works with the bundle's config.json gone" status_is 0
mv "$T/cglive.json" "$T/cglive/config.json"
oci exec cglive nosuchprog
check "exec of a missing program: runc's message" eval '[ $rc = 1 ] && has_out "executable file not found"'
oci exec -d --pid-file "$T/exec.pid" cglive sleep 30
check "exec --detach writes the pid file and returns" eval '[ $rc = 0 ] && kill -0 "$(cat "$T/exec.pid")"'
oci kill --all cglive KILL
check "kill --all: every process in the cgroup dies" eval '[ $rc = 0 ] && wait_status cglive stopped && wait_cg cglive pids.current 0'
oci exec cglive true
check "exec into a stopped container fails" eval '[ $rc = 1 ] && has_out "stopped"'
oci delete cglive
check "delete removes the cgroup directories" eval '[ $rc = 0 ] && [ -z "$(cg_dirs cglive)" ]'

t; b=$(bundle nopidns 'c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]; p["args"] = ["sh", "-c", "sleep 100 & sleep 100 & wait"]')
oci run -d --bundle "$b" nopidns
for i in $(seq 50); do [ "$(cg nopidns pids.current)" = 3 ] && break; sleep 0.05; done
oci kill --all nopidns KILL
check "kill --all without a pid namespace reaches the children too" eval '[ $rc = 0 ] && wait_cg nopidns pids.current 0'
oci delete nopidns
check "... and delete cleans up" eval '[ $rc = 0 ] && [ -z "$(cg_dirs nopidns)" ]'

t; crun cgns 'p["args"] = ["cat", "/proc/self/cgroup"]'
check "cgroup namespace: the container's cgroup is its root" eval '[ $rc = 0 ] && has_out "^$(cg_line memory)/$" && ! has_out "$CGP"'
t; crun nocgns 'c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]; p["args"] = ["cat", "/proc/self/cgroup"]'
check "... without one, the full path shows" eval '[ $rc = 0 ] && has_out "^$(cg_line memory)$CGP/nocgns$"'

# ---- hooks ----
printf '#!/bin/sh\n{ cat; echo; readlink /proc/self/ns/mnt; } >"%s/hook-$1"\n' "$T" >"$T/hook.sh"
printf '#!/bin/sh\n{ cat; echo; echo in-container; } >/out/hook-startContainer\n' >"$R/tmp/start-hook"
chmod +x "$T/hook.sh" "$R/tmp/start-hook"
rm -f "$T/cgout/"*
t; crun hooks 'c["mounts"].append({"destination": "/out", "type": "bind", "source": "'"$T/cgout"'", "options": ["rbind", "rw"]}); c["hooks"] = {k: [{"path": "'"$T/hook.sh"'", "args": ["hook.sh", k]}] for k in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]}; c["hooks"]["startContainer"] = [{"path": "/tmp/start-hook"}]; p["args"] = ["true"]'
hook_status() { python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).readline()); print(s["status"], s["id"], s["pid"] > 0)' "$1" 2>>"$log"; }
mntns=$(readlink /proc/self/ns/mnt)
check "hooks: prestart and createRuntime see creating, in the runtime's namespace" \
  eval '[ $rc = 0 ] && [ "$(hook_status "$T/hook-prestart")" = "creating hooks True" ] && [ "$(hook_status "$T/hook-createRuntime")" = "creating hooks True" ] && grep -qxF "$mntns" "$T/hook-createRuntime"'
check "createContainer sees creating, in the container's mount namespace" \
  eval '[ "$(hook_status "$T/hook-createContainer")" = "creating hooks True" ] && ! grep -qxF "$mntns" "$T/hook-createContainer"'
check "startContainer runs inside the container (path resolved there) and sees created" \
  eval '[ "$(hook_status "$T/cgout/hook-startContainer")" = "created hooks True" ] && grep -q in-container "$T/cgout/hook-startContainer"'
check "poststart sees running, poststop stopped" \
  eval '[ "$(hook_status "$T/hook-poststart")" = "running hooks True" ] && [ "$(hook_status "$T/hook-poststop")" = "stopped hooks False" ]'
t; crun hookfail 'c["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}'
check "a failing createRuntime hook fails create and leaves nothing behind" \
  eval '[ $rc = 1 ] && has_out "hooks.createRuntime\[0\]: /bin/false exited with status 1" && [ -z "$(ls "$STATE")" ] && [ -z "$(cg_dirs hookfail)" ]'
t; s0=$(date +%s); crun hooktimeout 'c["hooks"] = {"createContainer": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}'
check "a hook that outlives its timeout is killed and fails create" \
  eval '[ $rc = 1 ] && has_out "hooks.createContainer\[0\]: /bin/sleep timed out after 1 s" && [ $(( $(date +%s) - s0 )) -lt 10 ] && [ -z "$(ls "$STATE")" ]'
t; crun hookpost 'c["hooks"] = {"poststart": [{"path": "/bin/false"}]}; p["args"] = ["true"]'
check "a failing poststart hook is only a warning" eval '[ $rc = 0 ] && has_out "warning.*poststart"'
rm -f "$R/tmp/start-hook"
t; ls -d $CGH/"${CGP#/}"/*/ >>"$log" 2>/dev/null
check "no cgroup directory is left behind" eval 'ls -d $CGH/"${CGP#/}" >/dev/null && [ -z "$(ls -d $CGH/"${CGP#/}"/*/ 2>/dev/null)" ]'

echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
