#!/usr/bin/env bash
# End-to-end tests of networks' DHCP and host isolation (TAP): corrald with
# two networks and a VM that is never started; network namespaces stand in
# for guests (a veth peer on the bridge, with the VM NIC's MAC), busybox
# udhcpc asks the network's dnsmasq for an address.
#   tests/server/net.sh BUILD_DIR
# Runs with umask 077, as `make demo` and root shells often do: corrald must
# open to dnsmasq exactly what it reads, whatever umask it inherits.
set -uo pipefail
umask 077
B=$(cd "${1:-build}" && pwd)
PID=

[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (bridges, namespaces, nftables)"; exit 0; }
for t in dnsmasq nft busybox ip; do
  command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "1..0 # SKIP $t is not installed"; exit 0; }
done
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"
NFT=$(command -v nft || echo /usr/sbin/nft)
RUN=/run/corral/net
T=$(mktemp -d /var/tmp/cnet.XXXXXX)
NS="cnt$$"
SOCK=$T/corrald.sock
DNSMASQ_PIDS=() BRA= BRB= BRN=
cleanup() {
  [ -n "$PID" ] && { kill -9 "$PID"; wait "$PID"; } 2>/dev/null
  net_cleanup "$T/state/corral.db"
  # dnsmasq processes seen by the checks, should a network's row be gone.
  for p in "${DNSMASQ_PIDS[@]}"; do grep -qa dnsmasq "/proc/$p/cmdline" 2>/dev/null && kill "$p"; done
  for br in $BRA $BRB; do ip link del "$br" 2>/dev/null; rm -rf "${RUN:?}/$br"; done
  for l in a0 b0 n0 o0; do ip link del "${NS}$l" 2>/dev/null; done
  for x in a b n o; do ip netns del "${NS}$x" 2>/dev/null; done
  [ -n "$BRN" ] && ip link del "$BRN" 2>/dev/null
  wait 2>/dev/null; rm -rf "$T"
}
trap cleanup EXIT

# start [PATH]: corrald, with that PATH if given (where it looks for dnsmasq and nft).
start() {
  env ${1:+PATH="$1"} "$B/corrald" --state-dir "$T/state" --listen none --socket "$SOCK" --workers 2 \
    --host-path-allow "$T" 2>>"$T/log" &
  PID=$!
  corrald_wait "$SOCK"
}
# api METHOD PATH [BODY]: over the root Unix socket; prints the status, body in $T/body.
api() {
  local m=$1 p=$2 body=${3:-}
  curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" \
    ${body:+-H 'Content-Type: application/json' --data-binary "$body"} "http://x$p"
}
jqb() { jq -r "$1" "$T/body"; }
# dhcp NS MAC: runs udhcpc in the namespace with that MAC; prints "IP ROUTER" of the lease.
dhcp() {
  ip -n "$1" link set eth0 down; ip -n "$1" link set eth0 address "$2"; ip -n "$1" link set eth0 up
  cat >"$T/udhcpc.sh" <<'S'
#!/bin/sh
[ "$1" = bound ] && echo "$ip $router" >"$LEASE_OUT"
exit 0
S
  chmod +x "$T/udhcpc.sh"; rm -f "$T/lease"
  LEASE_OUT=$T/lease ip netns exec "$1" busybox udhcpc -i eth0 -f -q -n -t 3 -T 1 -s "$T/udhcpc.sh" >/dev/null 2>&1
  cat "$T/lease" 2>/dev/null
}
dnsmasq_count() { pgrep -f -- "--interface=$1 " | wc -l; }

# ---- start, two networks ----------------------------------------------------------------
if start; then ok "corrald starts"; else nok "corrald starts" "$(tail -5 "$T/log")"; exit 1; fi
api GET /api/v1/host >/dev/null
check "the host resource says DHCP is available (dnsmasq)" test "$(jqb .metadata.networking.dhcp.available)" = true
check "the host resource says host isolation is available (nft)" test "$(jqb .metadata.networking.isolation.available)" = true
TABLE=$(net_table "$T/state")
check "...in a table of this corrald's own (inet $TABLE, from its state dir)" test "$(jqb .metadata.networking.isolation.table)" = "$TABLE"
s=$(api POST /api/v1/networks '{"name":"na","subnet":"10.231.1.0/24"}'); BRA=$(jqb .metadata.bridge)
check "network na is created (201)" test "$s" = 201
s=$(api POST /api/v1/networks '{"name":"nb","subnet":"10.231.2.0/24"}'); BRB=$(jqb .metadata.bridge)
check "network nb is created (201)" test "$s" = 201
api GET /api/v1/networks/na >/dev/null
PA=$(jqb .metadata.dhcp.pid); DNSMASQ_PIDS+=("$PA")
check "na's view shows its dnsmasq running" test "$(jqb .metadata.dhcp.running)" = true
check "that dnsmasq serves na's bridge only, without DNS" bash -c "tr '\\0' ' ' </proc/$PA/cmdline | grep -- '--interface=$BRA ' | grep -q -- '--port=0'"
check "it runs as nobody" test "$(stat -c %u "/proc/$PA")" = "$(id -u nobody)"
api GET /api/v1/networks >/dev/null
check "the network list shows DHCP running on both" test "$(jq -r '[.metadata[].dhcp.running] | join(",")' "$T/body")" = true,true
check "one dnsmasq per network" test "$(dnsmasq_count "$BRA"):$(dnsmasq_count "$BRB")" = 1:1
check "the table drops other host addresses on both bridges" \
  bash -c "$NFT list table inet $TABLE | grep -q 'iifname \"$BRA\" counter.*drop' && $NFT list table inet $TABLE | grep -q 'iifname \"$BRB\" counter.*drop'"

# ---- a VM with a NIC on na; a namespace with its MAC gets its address --------------------
echo kernel >"$T/kernel"
s=$(api POST /api/v1/vms "{\"name\":\"v1\",\"engine\":\"qemu\",\"boot\":{\"kernel\":\"$T/kernel\"},\"nics\":[{\"network\":\"na\"}]}")
MAC=$(jqb '.metadata.nics[0].mac'); ADDR=$(jqb '.metadata.nics[0].address')
check "VM v1 is created with a NIC on na ($ADDR, $MAC)" test "$s:${ADDR%.*}" = 201:10.231.1
check "na's DHCP hosts file holds the NIC" grep -qx "$MAC,$ADDR" "$RUN/$BRA/hosts"
ip netns add "${NS}a"; ip netns add "${NS}b"
ip link add "${NS}a0" type veth peer name eth0 netns "${NS}a"; ip link set "${NS}a0" master "$BRA" up
ip link add "${NS}b0" type veth peer name eth0 netns "${NS}b"; ip link set "${NS}b0" master "$BRB" up
ip -n "${NS}a" link set lo up; ip -n "${NS}b" link set lo up
lease=$(dhcp "${NS}a" "$MAC")
check "udhcpc with the NIC's MAC gets exactly its address and na's gateway as router ($lease)" test "$lease" = "$ADDR 10.231.1.1"
lease=$(dhcp "${NS}a" 02:00:00:aa:bb:cc)
check "an unknown MAC gets no lease (static addresses only)" test -z "$lease"

s=$(api PATCH /api/v1/vms/v1 "{\"nics\":[{\"network\":\"na\",\"address\":\"10.231.1.77\",\"mac\":\"$MAC\"}]}")
lease=$(dhcp "${NS}a" "$MAC")
check "after the VM's NIC address changes, DHCP hands out the new one ($lease)" test "$s:$lease" = "200:10.231.1.77 10.231.1.1"
api GET /api/v1/networks/na >/dev/null
check "...from the same dnsmasq (re-read on SIGHUP, not restarted)" test "$(jqb .metadata.dhcp.pid)" = "$PA"

# ---- host isolation ---------------------------------------------------------------------
ip -n "${NS}b" addr add 10.231.2.50/24 dev eth0; ip -n "${NS}b" link set eth0 up
ip -n "${NS}b" route add default via 10.231.2.1
check "a peer on nb reaches nb's gateway" ip netns exec "${NS}b" busybox ping -c 1 -W 2 10.231.2.1
check "a peer on nb cannot reach na's gateway address on the host" bash -c "! ip netns exec ${NS}b busybox ping -c 2 -W 2 10.231.1.1"
"$NFT" delete table inet "$TABLE"
check "(control: without the table the host answers it)" ip netns exec "${NS}b" busybox ping -c 1 -W 2 10.231.1.1

# ---- kill -9 and restart: dnsmasq keeps running and is re-adopted --------------------------
{ kill -9 "$PID"; wait "$PID"; } 2>/dev/null; PID=
check "dnsmasq keeps running when corrald is killed" kill -0 "$PA"
lease=$(dhcp "${NS}a" "$MAC")
check "...and keeps answering DHCP" test "$lease" = "10.231.1.77 10.231.1.1"
if start; then ok "corrald restarts"; else nok "corrald restarts" "$(tail -5 "$T/log")"; fi
api GET /api/v1/networks/na >/dev/null
check "the restarted corrald re-adopts na's dnsmasq (same pid)" test "$(jqb .metadata.dhcp.pid):$(jqb .metadata.dhcp.running)" = "$PA:true"
check "no second dnsmasq is started" test "$(dnsmasq_count "$BRA"):$(dnsmasq_count "$BRB")" = 1:1
check "the restart reloads the isolation table" bash -c "! ip netns exec ${NS}b busybox ping -c 2 -W 2 10.231.1.1"

# ---- dnsmasq reads its hosts file as nobody: exactly that is open to it ---------------------
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
check "the run directories let dnsmasq in, list nothing (/run/corral and net 0711, the bridge's 0750 root:nogroup)" \
  test "$(stat -c %a /run/corral):$(stat -c %a $RUN):$(stat -c '%a %U %G' "$RUN/$BRA")" = "711:711:750 root nogroup"
check "the hosts file is 0640 root:nogroup" test "$(stat -c '%a %U %G' "$RUN/$BRA/hosts")" = "640 root nogroup"
check "...which nobody:nogroup (dnsmasq) reads" "${NOBODY[@]}" cat "$RUN/$BRA/hosts"
check "...but not dnsmasq's log or corrald's records" bash -c "! ${NOBODY[*]} cat $RUN/$BRA/dnsmasq.log && ! ${NOBODY[*]} cat $RUN/$BRA/dnsmasq.start"
# A hosts file dnsmasq cannot read (as 2.90 then hands out nothing) is an error, not silence.
chmod 0700 "$RUN/$BRA"
s=$(api PATCH /api/v1/vms/v1 "{\"nics\":[{\"network\":\"na\",\"address\":\"10.231.1.78\",\"mac\":\"$MAC\"}]}")
api GET /api/v1/networks/na >/dev/null
check "a hosts file dnsmasq cannot read is an error on the network ($(jqb .metadata.dhcp.error))" \
  bash -c "[ $s = 200 ] && jq -r .metadata.dhcp.error '$T/body' | grep -q 'cannot read $RUN/$BRA/hosts: Permission denied'"
api GET /api/v1/host >/dev/null
check "...and a problem in the host resource" bash -c "jq -r '.metadata.networking.dhcp.problems[]' '$T/body' | grep -q '^network na: dnsmasq .*cannot read'"
check "...and in corrald's log" grep -q "network na: DHCP hosts not served: dnsmasq (as nobody:nogroup) cannot read" "$T/log"
lease=$(dhcp "${NS}a" "$MAC")
check "(control: dnsmasq then hands out nothing)" test -z "$lease"

# ---- NAT: a network whose guests reach beyond the host, masqueraded --------------------------
# The "outside" is a namespace behind a veth of the host's (10.231.99.1 <-> .2) with no route
# back to any guest subnet: a guest's ping gets an answer only if its address was masqueraded.
s=$(api POST /api/v1/networks '{"name":"nn","subnet":"10.231.9.0/24","nat":true}'); BRN=$(jqb .metadata.bridge)
check "network nn is created with NAT (201, nat true)" test "$s:$(jqb .metadata.nat)" = 201:true
check "...the host forwards IPv4 (net.ipv4.ip_forward=1)" test "$(cat /proc/sys/net/ipv4/ip_forward)" = 1
check "...nn's bridge forwards, na's and nb's still do not" \
  test "$(cat /proc/sys/net/ipv4/conf/$BRN/forwarding):$(cat /proc/sys/net/ipv4/conf/$BRA/forwarding):$(cat /proc/sys/net/ipv4/conf/$BRB/forwarding)" = 1:0:0
ip netns add "${NS}n"; ip netns add "${NS}o"
ip link add "${NS}n0" type veth peer name eth0 netns "${NS}n"; ip link set "${NS}n0" master "$BRN" up
ip -n "${NS}n" addr add 10.231.9.50/24 dev eth0; ip -n "${NS}n" link set eth0 up; ip -n "${NS}n" route add default via 10.231.9.1
ip link add "${NS}o0" type veth peer name eth0 netns "${NS}o"; ip addr add 10.231.99.1/24 dev "${NS}o0"; ip link set "${NS}o0" up
ip -n "${NS}o" addr add 10.231.99.2/24 dev eth0; ip -n "${NS}o" link set eth0 up; ip -n "${NS}o" link set lo up
check "(the outside has no route to nn's subnet)" bash -c "! ip -n ${NS}o route get 10.231.9.50"
check "a guest on nn reaches the outside (ping 10.231.99.2): masqueraded as the host" \
  ip netns exec "${NS}n" busybox ping -c 2 -W 3 10.231.99.2
check "a guest on nb (no NAT) does not" bash -c "! ip netns exec ${NS}b busybox ping -c 2 -W 2 10.231.99.2"
check "a guest on nn cannot reach a guest on nb" bash -c "! ip netns exec ${NS}n busybox ping -c 2 -W 2 10.231.2.50"
check "...nor nb's gateway on the host" bash -c "! ip netns exec ${NS}n busybox ping -c 2 -W 2 10.231.2.1"
ip -n "${NS}o" route add 10.231.9.0/24 via 10.231.99.1
check "the outside cannot open a connection to nn's guest, even with a route to it" \
  bash -c "! ip netns exec ${NS}o busybox ping -c 2 -W 2 10.231.9.50"
check "corral net list shows which network has NAT" bash -c "'$B/corral' --socket '$SOCK' net list | grep -Eq '^nn +10.231.9.0/24 +10.231.9.1 +true '"
s=$(api DELETE /api/v1/networks/nn)
check "deleting nn (200) removes its masquerading" bash -c "[ $s = 200 ] && ! $NFT list table inet $TABLE | grep -q masquerade"
check "...and the outside is out of reach again" bash -c "! ip netns exec ${NS}n busybox ping -c 1 -W 2 10.231.99.2"
s=$(api POST /api/v1/networks '{"name":"nx","subnet":"10.231.8.0/24","nat":"yes"}')
check "nat that is not a boolean: 400" test "$s" = 400

# ---- SIGTERM; a dead dnsmasq is restarted at start ------------------------------------------------
PB=$(cat "$RUN/$BRB/dnsmasq.pid")
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
check "a clean stop (SIGTERM) leaves the networks' dnsmasq running (documented)" test "$rc:$(kill -0 "$PA" && kill -0 "$PB" && echo up)" = 0:up
kill "$PB"; sleep 0.3
start >/dev/null
api GET /api/v1/networks/nb >/dev/null
PB2=$(jqb .metadata.dhcp.pid)
check "a dnsmasq that died is started again at corrald's start" test "$(jqb .metadata.dhcp.running):$((PB2 != PB))" = true:1
api GET /api/v1/networks/na >/dev/null
check "...while a running one is adopted again" test "$(jqb .metadata.dhcp.pid)" = "$PA"
check "...and na's run directory is set right again: no error, the new address is handed out" \
  test "$(stat -c %a "$RUN/$BRA"):$(jqb '.metadata.dhcp.error // "none"'):$(dhcp "${NS}a" "$MAC")" = "750:none:10.231.1.78 10.231.1.1"
# corrald killed between spawning dnsmasq and recording its start time:
{ kill -9 "$PID"; wait "$PID"; } 2>/dev/null; PID=
rm -f "$RUN/$BRB/dnsmasq.start"
start >/dev/null
api GET /api/v1/networks/nb >/dev/null
PB3=$(jqb .metadata.dhcp.pid)
check "a dnsmasq whose start was never recorded is replaced, not doubled" \
  test "$(jqb .metadata.dhcp.running):$((PB3 != PB2)):$(dnsmasq_count "$BRB")" = true:1:1
DNSMASQ_PIDS+=("$PB3")
DNSMASQ_PIDS+=("$PB2")

# ---- deletion ------------------------------------------------------------------------------
s=$(api DELETE /api/v1/networks/na)
check "na cannot be deleted while v1 uses it (409)" test "$s" = 409
check "deleting v1 empties na's DHCP hosts" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' -X DELETE http://x/api/v1/vms/v1) = 200 ] && [ ! -s '$RUN/$BRA/hosts' ]"
lease=$(dhcp "${NS}a" "$MAC")
check "...so the deleted VM's MAC gets no lease any more" test -z "$lease"
s=$(api DELETE /api/v1/networks/na)
check "na is deleted (200)" test "$s" = 200
check "its dnsmasq is stopped" bash -c "! kill -0 $PA 2>/dev/null || grep -q '^State:.*Z' /proc/$PA/status"
check "its run directory is gone" test ! -e "$RUN/$BRA"
check "the table no longer mentions its bridge, still guards nb's" \
  bash -c "! $NFT list table inet $TABLE | grep -q '$BRA' && $NFT list table inet $TABLE | grep -q '$BRB'"
check "corrald's log has no errors but the one caused above" bash -c "! grep -E 'error' '$T/log' | grep -v 'network na: DHCP hosts not served'"

# ---- without dnsmasq and nft: networks still work, the host resource says why -------------
{ kill -9 "$PID"; wait "$PID"; } 2>/dev/null; PID=
: >"$T/log"
if start /nonexistent; then ok "corrald starts without dnsmasq and nft in PATH"; else nok "corrald starts without dnsmasq and nft in PATH" "$(tail -5 "$T/log")"; fi
api GET /api/v1/host >/dev/null
check "the host resource says DHCP is unavailable, and why" \
  bash -c "[ \"\$(jq -r .metadata.networking.dhcp.available '$T/body')\" = false ] && jq -r .metadata.networking.dhcp.reason '$T/body' | grep -q 'dnsmasq is not installed'"
check "...and that host isolation is unavailable, and why" \
  bash -c "[ \"\$(jq -r .metadata.networking.isolation.available '$T/body')\" = false ] && jq -r .metadata.networking.isolation.reason '$T/body' | grep -q 'nft is not installed'"
check "each is logged once" test "$(grep -c 'dnsmasq is not installed' "$T/log"):$(grep -c 'nft is not installed' "$T/log")" = 1:1
s=$(api POST /api/v1/networks '{"name":"nc","subnet":"10.231.3.0/24"}')
check "a network is still created (201), its view says DHCP is unavailable" \
  test "$s:$(jqb .metadata.dhcp.available):$(jqb .metadata.dhcp.running):$(jqb .metadata.dhcp.reason | grep -c dnsmasq-base)" = 201:false:false:1
s=$(api POST /api/v1/vms "{\"name\":\"v2\",\"engine\":\"qemu\",\"boot\":{\"kernel\":\"$T/kernel\"},\"nics\":[{\"network\":\"nc\"}]}")
check "...and a VM on it still gets a static address" test "$s:$(jqb '.metadata.nics[0].address')" = 201:10.231.3.2

echo "1..$n"
[ "$failed" -eq 0 ]
