#!/bin/bash
# corral-oci images, bundles and networking end to end, one TAP line per
# check.  Usage: image.sh BUILD_DIR   (needs root: overlayfs, netns, veth)
#
# Images are built here by tests/oci/mkimage.py from /bin/busybox (no
# registry).  Everything lives in one temporary directory (store, bundles,
# state root); the EXIT trap deletes the containers, unmounts the bundles,
# removes the bridge and veths it made, and the directory.
set -u
B=$(realpath "${1:?usage: image.sh BUILD_DIR}")
OCI=$B/corral-oci
HERE=$(cd "$(dirname "$0")" && pwd)
MK="python3 $HERE/mkimage.py"
. "$HERE/../vmm/lib.sh"
export LC_ALL=C

if [ "$(id -u)" -ne 0 ] || [ ! -x "$OCI" ] || [ ! -x /bin/busybox ]; then
  skip "corral-oci image tests" "need root, $OCI and /bin/busybox (busybox-static)"
  echo "1..$tap_n"
  exit 0
fi

T=$(mktemp -d /tmp/corral-oci-image.XXXXXX)
STORE=$T/store
STATE=$T/state
BR=cobr$$
V1=cova$$
V2=covb$$
log=$T/log
cleanup() {
  local id b
  for id in $(ls "$STATE" 2>/dev/null); do "$OCI" --root "$STATE" delete -f "$id" >/dev/null 2>&1; done
  for b in "$T"/b-*; do [ -d "$b" ] && "$OCI" image unbundle "$b" >/dev/null 2>&1; done
  for b in "$V1" "$V2" "$BR"; do ip link del "$b" 2>/dev/null; done
  grep -q " $T/" /proc/self/mountinfo && awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | xargs -r -n1 umount -l
  rm -rf "$T"
}
trap cleanup EXIT

# oci ARGS / img ARGS: corral-oci (img: its image command on the test store);
# output in $out, status in $rc.
oci() { rc=0; "$OCI" --root "$STATE" "$@" >"$T/out" 2>&1 || rc=$?; out=$(cat "$T/out"); echo "\$ corral-oci $* -> $rc: $out" >>"$log"; }
img() { oci image --store "$STORE" "$@"; }
has_out() { grep -q -- "$1" <<<"$out" || { echo "missing '$1'" >>"$log"; false; }; }
t() { : >"$log"; }
nlayers() { ls "$STORE/layers" | wc -l; }
# cfg BUNDLE PYTHON: edits BUNDLE/config.json (dict c).
cfg() {
  python3 - "$1/config.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); p = c["process"]
exec(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"))
PY
}

# ---- import ----
$MK docker "$T/two.tar" --layers base,extra --user app --name test/two
t; img import "$T/two.tar"
check "import a docker-archive (two layers)" eval '[ $rc = 0 ] && [ "$out" = test/two:latest ]'
img list
check "image list shows it with 2 layers" eval 'has_out "^test/two:latest  *sha256:[0-9a-f]*  *2$"'
check "the store holds one directory per layer (2)" eval '[ $(nlayers) = 2 ]'
$MK oci "$T/layout" --layers base,note --gzip --name oci/shared
t; img import "$T/layout"
check "import an OCI layout directory (gzip layers) sharing the base layer" \
  eval '[ $rc = 0 ] && [ "$out" = oci/shared:latest ]'
check "... the shared layer is stored once (3 layer directories)" eval '[ $(nlayers) = 3 ]'
$MK oci-tar "$T/layout.tar" --layers base,note --name ignored
t; img import --name again "$T/layout.tar"
check "import an OCI layout tarball under another name (--name)" \
  eval '[ $rc = 0 ] && [ "$out" = again:latest ] && [ $(nlayers) = 3 ]'
img list --format json
check "image list --format json" eval 'python3 -c "import json,sys; l=json.loads(sys.argv[1]); assert sorted(i[\"name\"] for i in l)==[\"again:latest\",\"oci/shared:latest\",\"test/two:latest\"]" "$out"'

# ---- bundles and containers ----
t; img bundle test/two "$T/b-two"
check "image bundle creates config.json and an overlay rootfs" \
  eval '[ $rc = 0 ] && [ -f "$T/b-two/config.json" ] && grep -q " $T/b-two/rootfs .* - overlay " /proc/self/mountinfo'
check "config.json: Entrypoint+Cmd, Env, WorkingDir, User (name resolved, groups)" eval '
  python3 - "$T/b-two/config.json" <<"PY"
import json, sys
p = json.load(open(sys.argv[1]))["process"]
assert p["args"] == ["/bin/sh", "-c", "echo \"$GREETING\"; id; pwd"], p["args"]
assert "GREETING=hello world" in p["env"] and p["cwd"] == "/home/app", p
assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [50]}, p["user"]
PY'
t; oci run --bundle "$T/b-two" two
check "a container from the bundle runs the image's command as its user" eval '[ $rc = 0 ] &&
  [ "$(echo $out)" = "hello world uid=1000(app) gid=1000(app) groups=50(staff) /home/app" ]'
t; img bundle test/two "$T/b-wh" -- 'test -e /etc/gone && echo gone-visible; ls /opq | tr "\n" " "; echo; stat -c %a /bin/suid; cat /home/app/hello'
oci run --bundle "$T/b-wh" wh
check "whiteout hides /etc/gone, the opaque /opq shows only the upper layer's c" \
  eval '[ $rc = 0 ] && ! has_out gone-visible && has_out "^c $" '
check "setuid bits survive (4755) and the layer's files are there" \
  eval 'has_out "^4755$" && has_out "hello from the extra layer"'
t; img bundle oci/shared "$T/b-w1" -- 'echo private >/written; cat /note'
img bundle oci/shared "$T/b-w2" -- 'test -e /written && echo leaked; echo clean'
oci run --bundle "$T/b-w1" w1; out1=$out
oci run --bundle "$T/b-w2" w2
check "writes go to the bundle's own upper, not to the shared layers or other bundles" \
  eval 'grep -q "a shared layer" <<<"$out1" && [ -f "$T/b-w1/upper/written" ] && [ "$out" = clean ] &&
        ! ls "$STORE"/layers/*/written 2>/dev/null'
t; img bundle oci/shared "$T/b-w1"
check "bundle into a non-empty directory is refused" eval '[ $rc = 1 ] && has_out "not an empty directory"'
img bundle nosuch "$T/b-none"
check "bundle of an unknown image is refused, nothing created" eval '[ $rc = 1 ] && has_out "not in the store" && [ ! -e "$T/b-none" ]'
"$OCI" image unbundle "$T/b-two" && "$OCI" image unbundle "$T/b-wh"
img rm test/two
check "image rm: the name goes, its own layer goes, the shared one stays" \
  eval '[ $rc = 0 ] && [ $(nlayers) = 2 ] && ! grep -q test/two "$STORE/images.json"'
t; oci image unbundle "$T/b-w1"
check "image unbundle unmounts and deletes the bundle and its upper" \
  eval '[ $rc = 0 ] && [ ! -e "$T/b-w1" ] && ! grep -q "$T/b-w1/" /proc/self/mountinfo'
oci image unbundle "$T"
check "unbundle refuses a directory it did not make" eval '[ $rc = 1 ] && has_out "not a bundle" && [ -d "$T/store" ]'
img rm oci/shared; img rm again
check "layers still mounted by a bundle survive the removal of every name" \
  eval '[ $rc = 0 ] && [ $(nlayers) = 2 ] && [ -z "$(ls "$STORE/blobs/sha256")" ]'
"$OCI" image unbundle "$T/b-w2" 2>>"$log"
img import "$T/layout"; img rm oci/shared
check "with the bundle gone, the next rm empties the store" eval '[ $rc = 0 ] && [ $(nlayers) = 0 ]'

# ---- hostile archives: one clear line, nothing left behind ----
img import "$T/layout"   # a good image, which must survive every refusal
before=$(nlayers)
mkdir -p "$T/hostdir"
hostile() {   # hostile FORMAT KIND MESSAGE [IMPORT ARGS]
  local f=$1 k=$2 msg=$3; shift 3
  t; $MK "$f" "$T/h-$k-$f" --layers base --hostile "$k" --target "$T/hostdir" --gzip --name "h/$k"
  img import "$@" "$T/h-$k-$f"
  check "hostile $f archive ($k) refused: $msg" eval '[ $rc = 1 ] && [ $(wc -l <<<"$out") = 1 ] && has_out "$msg" &&
    [ $(nlayers) = $before ] && [ -z "$(ls "$STORE/tmp")" ] && ! grep -q "h/$k" "$STORE/images.json" &&
    [ -z "$(ls "$T/hostdir")" ]'
}
hostile docker dotdot '".." in the path'
hostile oci abs '"/abs": absolute path'
hostile oci symlink '"escape" is a symlink or not a directory: refusing to write through it'
hostile docker symlink 'refusing to write through it'
hostile docker device 'device nodes are not allowed in images (char 1:1)'
hostile oci hardlink 'hard link to "etc/passwd", which is not in this layer'
hostile docker xattr 'xattr trusted.overlay.redirect is not allowed'
hostile docker size 'Truncated tar archive'
hostile oci digest 'digest mismatch (the content is sha256:'
hostile docker digest "digest mismatch: the config's diff_id is"
hostile oci missing 'blob sha256:[0-9a-f]*: missing from the archive'
hostile docker missing 'layer.tar: missing from the archive'
hostile oci bomb 'expands to more than' --max-size 16M
hostile oci opqname 'an invalid whiteout name'
t; head -c 4096 /dev/urandom >"$T/junk"; img import "$T/junk"
check "a file that is no archive: one line" eval '[ $rc = 1 ] && [ $(wc -l <<<"$out") = 1 ] && [ $(nlayers) = $before ]'
t; mkdir -p "$T/empty"; img import "$T/empty"
check "a directory that is no image: one line" eval '[ $rc = 1 ] && has_out "neither an OCI image layout"'
t; img import --name 'bad"name' "$T/layout"
check "an invalid --name is refused" eval '[ $rc = 1 ] && has_out "invalid character"'
check "the good image survived every refusal" eval 'img list; has_out "^oci/shared:latest "'

# ---- networking: two containers on one bridge ----
net_bundle() {   # net_bundle NAME SCRIPT: CAP_NET_RAW added (busybox ping)
  "$OCI" image --store "$STORE" bundle oci/shared "$T/b-$1" -- "$2" >>"$log" 2>&1 &&
  cfg "$T/b-$1" 'for k in ("bounding", "effective", "permitted"): p["capabilities"][k].append("CAP_NET_RAW")'
}
pid_of() { "$OCI" --root "$STATE" state "$1" 2>/dev/null | sed -nE 's/.*"pid": *([0-9]+).*/\1/p'; }
running() { "$OCI" --root "$STATE" state "$1" 2>/dev/null | grep -Eq '"status": *"running"'; }
t; net_bundle n2 'sleep 100'
# n1 waits for its address, then pings n2: the exit status says if it got through.
net_bundle n1 'for i in $(seq 100); do ip -o addr show eth0 2>/dev/null | grep -q 10.199 && break; sleep 0.1; done; ping -c 1 -W 5 10.199.0.3; r=$?; sleep 2; exit $r'
oci run -d --bundle "$T/b-n2" n2
"$OCI" --root "$STATE" run --bundle "$T/b-n1" n1 >"$T/ping.out" 2>&1 & runpid=$!
for i in $(seq 100); do running n1 && break; sleep 0.05; done
pid1=$(pid_of n1); pid2=$(pid_of n2)
oci net attach --pid "$pid2" --host-if "$V2" --bridge "$BR"
check "net attach to a missing bridge without --create-bridge fails, nothing created" \
  eval '[ $rc = 1 ] && has_out "bridge $BR does not exist" && ! ip link show "$V2" >/dev/null 2>&1'
oci net attach --netns /proc/$pid2/ns/net --host-if "$V2" --bridge "$BR" --create-bridge --address 10.199.0.3/24 --gateway 10.199.0.1 --address6 fd99:c0::3/64 --gateway6 fd99:c0::1
check "net attach by netns path: bridge created, veth attached, address and default route" eval '[ $rc = 0 ] &&
  ip -o link show master "$BR" | grep -q "$V2" && nsenter -t $pid2 -n ip -o addr show eth0 | grep -q 10.199.0.3/24 &&
  nsenter -t $pid2 -n ip route | grep -q "default via 10.199.0.1 dev eth0"'
check "net attach --address6/--gateway6: IPv6 address and default route" eval '
  nsenter -t $pid2 -n ip -o -6 addr show eth0 | grep -q "fd99:c0::3/64" &&
  nsenter -t $pid2 -n ip -6 route | grep -q "default via fd99:c0::1 dev eth0"'
oci net attach --pid "$pid1" --host-if "$V1" --bridge "$BR" --address 10.199.0.2/24
check "net attach by pid" eval '[ $rc = 0 ] && ip -o link show master "$BR" | grep -q "$V1"'
t; wait $runpid; rc=$?; out=$(cat "$T/ping.out"); echo "$out" >>"$log"
check "one container pings the other over the bridge" eval '[ $rc = 0 ] && has_out "1 packets received"'
oci net attach --pid "$pid2" --host-if "$V2" --bridge "$BR"
check "an attach with a host name in use fails clearly" eval '[ $rc = 1 ] && has_out "exists"'
oci net attach --pid "$pid2" --host-if "cox$$" --address 10.1.2.3/40
check "a bad address is refused before anything is made" eval '[ $rc = 1 ] && has_out "not an IPv4 address" && ! ip link show "cox$$" >/dev/null 2>&1'
oci net attach --pid "$pid2" --host-if "cox$$" --address6 fd99::3/129
check "a bad IPv6 address is refused before anything is made" eval '[ $rc = 1 ] && has_out "not an IPv6 address" && ! ip link show "cox$$" >/dev/null 2>&1'
oci net detach "$V2"
check "net detach removes the pair (both ends)" eval '[ $rc = 0 ] && ! ip link show "$V2" >/dev/null 2>&1 &&
  ! nsenter -t $pid2 -n ip link show eth0 >/dev/null 2>&1'
oci net detach "$V2"
check "net detach of a missing interface: one line" eval '[ $rc = 1 ] && has_out "no such interface"'
oci delete -f n2
check "no veth of n1 is left (its namespace went with the container)" eval '! ip link show "$V1" >/dev/null 2>&1'
oci net rm-bridge "$BR"
check "net rm-bridge" eval '[ $rc = 0 ] && ! ip link show "$BR" >/dev/null 2>&1'

echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
