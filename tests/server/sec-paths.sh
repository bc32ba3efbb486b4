#!/usr/bin/env bash
# Host paths and subnets a request may name (TAP): corrald, run as root,
# must not read host files for whoever asks, put pools in system
# directories, or take the host's own subnets for networks.  corrald runs
# in a network namespace of this test's own, whose made-up "LAN"
# (192.168.77.5/24 on a dummy interface, default route via .1, and a route
# to 10.77.0.0/16) stands in for the host's: the real host's routes are
# never touched.
#   tests/server/sec-paths.sh BUILD_DIR
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"
PID=

[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (network namespaces)"; exit 0; }
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || { echo "1..0 # SKIP ip is not installed"; exit 0; }
GUEST=$B/tests/guests/guest-serial.pvh.elf
[ -s "$GUEST" ] || { echo "1..0 # SKIP $GUEST is not built"; exit 0; }
T=$(mktemp -d /var/tmp/cpaths.XXXXXX)
NS="cpth$$"
SOCK=$T/c.sock
PORT=18006    # the namespace is this test's alone: any port is free there
PW='correct-horse-battery'
cleanup() {
  [ -n "$PID" ] && { kill -9 "$PID"; wait "$PID"; } 2>/dev/null
  net_cleanup "$T/state/corral.db"   # dnsmasq and run dirs; the bridges and table go with the namespace
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

ip netns add "$NS" || { echo "1..0 # SKIP cannot create a network namespace"; exit 0; }
# The "LAN": a veth pair inside the namespace (dummy interfaces need a module hosts may lack).
{ ip -n "$NS" link set lo up && ip -n "$NS" link add lan0 type veth peer name lan1 &&
  ip -n "$NS" addr add 192.168.77.5/24 dev lan0 && ip -n "$NS" link set lan0 up && ip -n "$NS" link set lan1 up &&
  ip -n "$NS" route add default via 192.168.77.1 && ip -n "$NS" route add 10.77.0.0/16 via 192.168.77.1; } ||
  { echo "Bail out! cannot set up the namespace's LAN"; exit 1; }

# Files: an allowed directory with a kernel, an initrd, a bootable guest and
# symlinks; a directory outside it with a file of its own.
A=$T/allowed
mkdir -p "$A" "$T/outside"
echo kernel >"$A/kernel"; echo initrd >"$A/initrd"; cp "$GUEST" "$A/guest.elf"
echo secret >"$T/outside/kernel"
ln -s /etc/shadow "$A/shadow"
ln -s kernel "$A/inside-link"
ln -s ../state/tls/server.key "$A/key-link"
echo "$PW" >"$T/pw"

start() {
  ip netns exec "$NS" "$B/corrald" --state-dir "$T/state" --listen "127.0.0.1:$PORT" --socket "$SOCK" \
    --admin-password-file "$T/pw" --workers 2 --host-path-allow "$A" 2>>"$T/log" &
  PID=$!
  corrald_wait "$SOCK"
}
# op METHOD PATH [BODY]: as the operator (its token, HTTPS inside the namespace).
op() {
  ip netns exec "$NS" curl -s -o "$T/body" -w '%{http_code}' --cacert "$T/state/tls/server.crt" -X "$1" \
    -H "Authorization: Bearer $OPTOK" ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
    "https://127.0.0.1:$PORT$2"
}
msg() { jq -r .error.message "$T/body"; }
# same DESC S1 M1 S2 M2: both answers have the status wanted ($WANT) and one message.
same() {
  if [ "$2" = "$WANT" ] && [ "$4" = "$WANT" ] && [ "$3" = "$5" ] && [ -n "$3" ]; then ok "$1 ($WANT: $3)"
  else nok "$1" "got $2 '$3' and $4 '$5', want $WANT twice with one message"; fi
}
# refused WANT GREP DESC METHOD PATH BODY: sock's answer is WANT with a message matching GREP.
refused() {
  local want=$1 re=$2 d=$3 s; shift 3
  s=$(sock "$@")
  if [ "$s" = "$want" ] && msg | grep -Eq -- "$re"; then ok "$d ($s: $(msg))"; else nok "$d" "got $s $(cat "$T/body")"; fi
}

if start; then ok "corrald starts in namespace $NS with --host-path-allow $A"; else nok "corrald starts" "$(tail -5 "$T/log")"; exit 1; fi
sock GET /api/v1/host >/dev/null
check "the host resource shows an admin the allowed directory" test "$(jq -c .metadata.host_path_allow "$T/body")" = "[\"$A\"]"
check "corrald --help documents --host-path-allow" bash -c "'$B/corrald' --help | grep -q -- '--host-path-allow DIR'"
check "corrald refuses --host-path-allow /etc at start" bash -c "! '$B/corrald' --state-dir '$T/s2' --listen none --socket none --host-path-allow /etc"
check "corrald refuses --host-path-allow / at start" bash -c "! '$B/corrald' --state-dir '$T/s2' --listen none --socket none --host-path-allow /"

# ---- an operator and a VM image ---------------------------------------------------------------
sock POST /api/v1/users "{\"name\":\"op1\",\"role\":\"operator\",\"password\":\"$PW\"}" >/dev/null
ip netns exec "$NS" curl -s -o "$T/body" --cacert "$T/state/tls/server.crt" -c "$T/jar" -H 'Content-Type: application/json' \
  -d "{\"username\":\"op1\",\"password\":\"$PW\"}" "https://127.0.0.1:$PORT/api/v1/auth/login"
CSRF=$(jq -r .metadata.csrf_token "$T/body")
ip netns exec "$NS" curl -s -o "$T/body" --cacert "$T/state/tls/server.crt" -b "$T/jar" -H "X-CSRF-Token: $CSRF" \
  -H 'Content-Type: application/json' -d '{"name":"t"}' "https://127.0.0.1:$PORT/api/v1/tokens"
OPTOK=$(jq -r .metadata.token "$T/body")
check "the operator has a token" test "${OPTOK:0:7}" = corral_
s=$(sock POST /api/v1/images "{\"name\":\"img\",\"type\":\"vm\",\"kernel\":\"$A/guest.elf\"}")
OPID=$(jq -r .metadata.id "$T/body")
sock GET "/api/v1/operations/$OPID/wait?timeout=30" >/dev/null
check "an admin imports a VM image from the allowed directory" test "$s:$(jq -r .metadata.status "$T/body")" = 202:success
s=$(op POST /api/v1/vms '{"name":"opvm","memory":"64M","boot":{"image":"img"}}')
check "the operator creates a VM from the imported VM image (201)" test "$s" = 201

op GET /api/v1/host >/dev/null
check "...but not an operator" test "$(jq -r '.metadata | has("host_path_allow")' "$T/body")" = false

# ---- an operator's host paths: one 403, whatever the path ----------------------------------------
WANT=403
s1=$(op POST /api/v1/vms "{\"name\":\"leak\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/kernel\"}}"); m1=$(msg)
s2=$(op POST /api/v1/vms '{"name":"leak","memory":"64M","boot":{"kernel":"/nonexistent/vmlinuz"}}'); m2=$(msg)
same "operator create: boot.kernel existing (even allowed) and missing get one answer" "$s1" "$m1" "$s2" "$m2"
s1=$(op POST /api/v1/vms '{"name":"leak","memory":"64M","boot":{"kernel":"/etc/shadow"}}'); m1=$(msg)
same "operator create: boot.kernel /etc/shadow gets that answer too" "$s1" "$m1" "$s2" "$m2"
s1=$(op POST /api/v1/vms "{\"name\":\"leak\",\"memory\":\"64M\",\"boot\":{\"image\":\"img\",\"initrd\":\"$T/state/tls/server.key\"}}"); m1=$(msg)
s2=$(op POST /api/v1/vms '{"name":"leak","memory":"64M","boot":{"image":"img","initrd":"/nonexistent/initrd"}}'); m2=$(msg)
same "operator create: boot.initrd the TLS key and a missing file get one answer" "$s1" "$m1" "$s2" "$m2"
s1=$(op POST /api/v1/vms "{\"name\":\"leak\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/kernel\",\"initrd\":\"$T/state/corral.db\"}}"); m1=$(msg)
same "operator create: both kernel and initrd, the same answer" "$s1" "$m1" "$s2" "$m2"
s1=$(op PATCH /api/v1/vms/opvm "{\"boot\":{\"kernel\":\"$A/kernel\"}}"); m1=$(msg)
s2=$(op PATCH /api/v1/vms/opvm '{"boot":{"kernel":"/nonexistent/vmlinuz"}}'); m2=$(msg)
same "operator PATCH: boot.kernel existing and missing get one answer" "$s1" "$m1" "$s2" "$m2"
s1=$(op PATCH /api/v1/vms/opvm "{\"boot\":{\"kernel\":\"$A/kernel\",\"initrd\":\"/etc/shadow\"}}"); m1=$(msg)
s2=$(op PATCH /api/v1/vms/opvm '{"boot":{"kernel":"/nonexistent/a","initrd":"/nonexistent/b"}}'); m2=$(msg)
same "operator PATCH: boot.initrd existing and missing get one answer" "$s1" "$m1" "$s2" "$m2"
check "...and no VM 'leak' exists" test "$(sock GET /api/v1/vms/leak)" = 404
sock GET /api/v1/vms/opvm >/dev/null
check "the operator's VM still boots its image (PATCH left it alone)" test "$(jq -r .metadata.boot.image "$T/body")" = img

# ---- an admin's host paths: only under the allowed directory ---------------------------------------
s1=$(sock POST /api/v1/vms "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$T/outside/kernel\"}}"); m1=$(msg | sed "s|$T/outside/kernel|PATH|")
s2=$(sock POST /api/v1/vms "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$T/outside/nope\"}}"); m2=$(msg | sed "s|$T/outside/nope|PATH|")
same "admin: a kernel outside the allowed directory, existing or not, one answer" "$s1" "$m1" "$s2" "$m2"
check "...which says it is not under an allowed directory" grep -q "not under an allowed directory" <<<"$m1"
refused 403 "is in /etc" "admin: boot.kernel /etc/shadow is refused" POST /api/v1/vms '{"name":"a1","memory":"64M","boot":{"kernel":"/etc/shadow"}}'
refused 403 "is in $T/state" "admin: boot.initrd STATE/corral.db is refused" POST /api/v1/vms \
  "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/kernel\",\"initrd\":\"$T/state/corral.db\"}}"
refused 403 "is in /etc" "admin: PATCH boot.kernel /etc/shadow is refused" PATCH /api/v1/vms/opvm '{"boot":{"kernel":"/etc/shadow"}}'
WANT=400
s1=$(sock POST /api/v1/vms "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/shadow\"}}"); m1=$(msg | sed "s|$A/shadow|PATH|")
s2=$(sock POST /api/v1/vms "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/nope\"}}"); m2=$(msg | sed "s|$A/nope|PATH|")
same "admin: a symlink in the allowed directory to /etc/shadow reads like a missing file" "$s1" "$m1" "$s2" "$m2"
s1=$(sock POST /api/v1/vms "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/kernel\",\"initrd\":\"$A/key-link\"}}"); m1=$(msg | sed "s|$A/key-link|PATH|")
s2=$(sock POST /api/v1/vms "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/kernel\",\"initrd\":\"$A/nope\"}}"); m2=$(msg | sed "s|$A/nope|PATH|")
same "admin: a symlink in the allowed directory to the TLS key, likewise" "$s1" "$m1" "$s2" "$m2"
s=$(sock POST /api/v1/vms "{\"name\":\"a1\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/kernel\",\"initrd\":\"$A/initrd\"}}")
check "admin: kernel and initrd in the allowed directory are accepted (201)" test "$s" = 201
s=$(sock POST /api/v1/vms "{\"name\":\"a2\",\"memory\":\"64M\",\"boot\":{\"kernel\":\"$A/inside-link\"}}")
check "admin: a symlink that stays inside the allowed directory is accepted (201)" test "$s" = 201
s=$(op PATCH /api/v1/vms/a1 '{"memory":"128M"}')
check "an operator may still change an admin's host-path VM's memory (boot untouched: 200)" test "$s" = 200

# ---- image imports -------------------------------------------------------------------------
refused 403 "not under an allowed directory" "import: a VM image kernel outside the allowed directory" POST /api/v1/images \
  "{\"name\":\"i2\",\"type\":\"vm\",\"kernel\":\"$T/outside/kernel\"}"
refused 403 "is in /boot|not under an allowed" "import: a VM image kernel from /boot" POST /api/v1/images '{"name":"i2","type":"vm","kernel":"/boot/vmlinuz"}'
refused 403 "is in $T/state" "import: a VM image initrd from the state directory" POST /api/v1/images \
  "{\"name\":\"i2\",\"type\":\"vm\",\"kernel\":\"$A/guest.elf\",\"initrd\":\"$T/state/tls/server.key\"}"
refused 400 "symlinks must stay inside" "import: a VM image initrd through a symlink to /etc/shadow" POST /api/v1/images \
  "{\"name\":\"i2\",\"type\":\"vm\",\"kernel\":\"$A/guest.elf\",\"initrd\":\"$A/shadow\"}"
refused 403 "is in /etc" "import: a container image path /etc" POST /api/v1/images '{"name":"i2","path":"/etc"}'
refused 403 "not under an allowed directory" "import: a container image archive outside the allowed directory" POST /api/v1/images \
  "{\"name\":\"i2\",\"path\":\"$T/outside/kernel\"}"
s=$(op POST /api/v1/images "{\"name\":\"i2\",\"type\":\"vm\",\"kernel\":\"$A/guest.elf\"}")
check "an operator cannot import images at all (403)" test "$s" = 403
if [ -x /bin/busybox ] && python3 "$SRC/tests/oci/mkimage.py" oci "$A/layout" --name t/bb >/dev/null 2>&1; then
  s=$(sock POST /api/v1/images "{\"name\":\"lay\",\"path\":\"$A/layout\"}")
  OPID=$(jq -r .metadata.id "$T/body")
  sock GET "/api/v1/operations/$OPID/wait?timeout=30" >/dev/null
  check "import: an OCI layout directory in the allowed directory (read through its checked fd)" \
    test "$s:$(jq -r .metadata.status "$T/body")" = 202:success
else
  skip "import: an OCI layout directory in the allowed directory" "no /bin/busybox to build one"
fi

# ---- the file used at start is checked again -----------------------------------------------
# A host file swapped for a symlink after create; an operator's VM from before the rules
# (written into the database as an older corrald would have let it).
s=$(sock POST /api/v1/vms "{\"name\":\"swap\",\"memory\":\"64M\",\"engine\":\"qemu\",\"boot\":{\"kernel\":\"$A/kernel\"}}")
rm "$A/kernel"; ln -s /etc/shadow "$A/kernel"
startmsg() {  # startmsg VM: starts it as the operator; the operation's outcome and error
  local s id; s=$(op POST "/api/v1/vms/$1/start")
  id=$(jq -r .metadata.id "$T/body")
  sock GET "/api/v1/operations/$id/wait?timeout=30" >/dev/null
  echo "$s:$(jq -r .metadata.status "$T/body"):$(jq -r .metadata.error "$T/body" | sed "s|$2|PATH|")"
}
r1=$(startmsg swap "$A/kernel")
check "a kernel swapped for a symlink to /etc/shadow after create: start fails ($r1)" grep -q '^202:failure:boot.kernel PATH may not be used' <<<"$r1"
sqlite3 "$T/state/corral.db" "INSERT INTO vms (name, tag, config, description, state, created) VALUES
  ('old1', 'aaaaa1', '{\"vcpus\":1,\"memory\":67108864,\"engine\":\"qemu\",\"boot\":{\"kernel\":\"$T/state/tls/server.key\"},\"disks\":[],\"nics\":[]}', '', 'stopped', 0),
  ('old2', 'aaaaa2', '{\"vcpus\":1,\"memory\":67108864,\"engine\":\"qemu\",\"boot\":{\"kernel\":\"$T/state/nothing\"},\"disks\":[],\"nics\":[]}', '', 'stopped', 0)"
r1=$(startmsg old1 "$T/state/tls/server.key"); r2=$(startmsg old2 "$T/state/nothing")
check "an old operator VM booting the TLS key: start refused ($r1)" grep -q '^202:failure:boot.kernel PATH may not be used' <<<"$r1"
check "...with the message a missing file gets" test "$r1" = "$r2"

# ---- pools ---------------------------------------------------------------------------------
refused 403 "root directory" "pool at / is refused" POST /api/v1/pools '{"name":"px","path":"/"}'
refused 403 "system directory /etc" "pool at /etc is refused" POST /api/v1/pools '{"name":"px","path":"/etc"}'
refused 403 "system directory /proc" "pool at /proc is refused" POST /api/v1/pools '{"name":"px","path":"/proc"}'
refused 403 "system directory /usr" "pool at /usr/lib/x is refused" POST /api/v1/pools '{"name":"px","path":"/usr/lib/x"}'
refused 403 "state directory" "pool at the state directory is refused" POST /api/v1/pools "{\"name\":\"px\",\"path\":\"$T/state\"}"
refused 403 "state directory" "pool at STATE/tls is refused" POST /api/v1/pools "{\"name\":\"px\",\"path\":\"$T/state/tls\"}"
refused 403 "holds corrald's state directory" "pool above the state directory is refused" POST /api/v1/pools "{\"name\":\"px\",\"path\":\"$T\"}"
refused 403 "shared directory" "pool at /tmp itself is refused" POST /api/v1/pools '{"name":"px","path":"/tmp"}'
ln -s /etc "$T/etc-link"
refused 403 "resolves to /etc/px.*system directory /etc" "pool through a symlink to /etc is refused" POST /api/v1/pools \
  "{\"name\":\"px\",\"path\":\"$T/etc-link/px\"}"
check "...and made nothing there" test ! -e /etc/px
s=$(sock POST /api/v1/pools "{\"name\":\"p1\",\"path\":\"$T/pool1\"}")
check "a pool in a directory of its own is created (201)" test "$s:$(jq -r .metadata.path "$T/body")" = "201:$T/pool1"
check "a pool in the state directory (path left out) still works (201)" test "$(sock POST /api/v1/pools '{"name":"p2"}')" = 201
sqlite3 "$T/state/corral.db" "INSERT INTO pools (name, path, managed, description, created) VALUES ('old', '/etc', 0, '', 0)"
refused 409 "is at /etc.*system directory" "an old pool at /etc gets no new volumes" POST /api/v1/pools/old/volumes '{"name":"v","size":"1M"}'

# ---- subnets --------------------------------------------------------------------------------
refused 409 "host's address 192.168.77.5/24 on lan0" "the LAN's subnet is refused, naming the host address" POST /api/v1/networks '{"name":"x1","subnet":"192.168.77.0/24"}'
refused 409 "host's address 192.168.77.5/24 on lan0" "a subnet holding the LAN is refused" POST /api/v1/networks '{"name":"x2","subnet":"192.168.0.0/16"}'
refused 409 "host's route 10.77.0.0/16 on lan0" "a subnet inside a host route is refused, naming the route" POST /api/v1/networks '{"name":"x3","subnet":"10.77.5.0/24"}'
refused 400 "loopback" "127.0.0.0/8 is refused (loopback)" POST /api/v1/networks '{"name":"x4","subnet":"127.0.0.0/8"}'
refused 400 "multicast" "224.0.0.0/24 is refused (multicast)" POST /api/v1/networks '{"name":"x5","subnet":"224.0.0.0/24"}'
refused 400 "unspecified" "0.0.0.0/8 is refused (unspecified)" POST /api/v1/networks '{"name":"x6","subnet":"0.0.0.0/8"}'
refused 400 "link-local" "169.254.0.0/16 is refused (link-local)" POST /api/v1/networks '{"name":"x7","subnet":"169.254.0.0/16"}'
refused 400 "reserved" "240.0.0.0/24 is refused (reserved)" POST /api/v1/networks '{"name":"x8","subnet":"240.0.0.0/24"}'
s=$(sock POST /api/v1/networks '{"name":"n1","subnet":"10.99.1.0/24"}'); BR=$(jq -r .metadata.bridge "$T/body")
check "a free subnet is accepted (201)" test "$s" = 201
check "...its bridge is in the namespace, not on the host" bash -c "ip -n $NS link show $BR && ! ip link show $BR"
refused 409 "overlaps network 'n1'" "a subnet overlapping network n1 is refused, naming n1 (its bridge is corral's, not the host's)" POST /api/v1/networks '{"name":"n2","subnet":"10.99.0.0/16"}'
check "a second free subnet beside n1 is accepted (201)" test "$(sock POST /api/v1/networks '{"name":"n3","subnet":"10.99.2.0/24"}')" = 201

# ---- at start: a bridge whose subnet the host took meanwhile is not recreated ------------------
{ kill -9 "$PID"; wait "$PID"; } 2>/dev/null; PID=
ip -n "$NS" link del "$BR"
ip -n "$NS" addr add 10.99.1.7/24 dev lan0
if start; then ok "corrald restarts"; else nok "corrald restarts" "$(tail -5 "$T/log")"; fi
sock GET /api/v1/networks/n1 >/dev/null
check "n1's bridge is not recreated over the host's new address" bash -c "! ip -n $NS link show $BR"
check "...and n1's view says why" bash -c "[ \"\$(jq -r .metadata.bridge_present '$T/body')\" = false ] && jq -r .metadata.error '$T/body' | grep -q '10.99.1.7/24 on lan0'"
check "...and so does the log" grep -q "network n1: not recreating bridge $BR: .*10.99.1.7/24 on lan0" "$T/log"

echo "1..$n"
[ "$failed" -eq 0 ]
