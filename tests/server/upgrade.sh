#!/usr/bin/env bash
# An existing state directory opens (TAP): the database a released corrald
# left (tests/server/fixtures/state-*.sql, made by that release) is loaded
# and today's corrald must start on it, migrate it and serve what it holds:
# the admin's password, users, the pool and its volume, the network (its
# bridge and DHCP made again) and the VM with its NIC and disk.  corrald runs
# in a network namespace of this test's own, so the bridge stays there.
#   tests/server/upgrade.sh BUILD_DIR
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (network namespaces, bridges)"; exit 0; }
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 is not installed"; exit 0; }
T=$(mktemp -d /var/tmp/cupgrade.XXXXXX)
NS="cupg$$" PID=
cleanup() {
  [ -n "$PID" ] && { kill -9 "$PID"; wait "$PID"; } 2>/dev/null
  net_cleanup "$T/state/corral.db"
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "1..0 # SKIP cannot create a network namespace"; exit 0; }
SOCK=$T/c.sock PORT=18006

for fx in "$SRC"/tests/server/fixtures/state-*.sql; do
  rel=$(basename "$fx" .sql); rel=${rel#state-}
  rm -rf "$T/state"; mkdir -m 0700 "$T/state" "$T/state/pools"; mkdir "$T/state/pools/p1"
  jdir=$(sed 's|/|\\\\/|g' <<<"$T")
  sed "s|@JDIR@|$jdir|g; s|@DIR@|$T|g" "$fx" | sqlite3 "$T/state/corral.db"
  "$B/src/img/corral-img" create -f qcow2 "$T/state/pools/p1/disk1.qcow2" 1M >/dev/null
  echo 'not-the-password-1' >"$T/pw"
  ip netns exec "$NS" "$B/corrald" --state-dir "$T/state" --listen "127.0.0.1:$PORT" --socket "$SOCK" \
    --admin-password-file "$T/pw" --workers 1 2>"$T/log" &
  PID=$!
  if corrald_wait "$SOCK"; then ok "corrald opens the state of release $rel"; else nok "corrald opens the state of release $rel" "$(tail -3 "$T/log")"; continue; fi
  api() { curl -s --unix-socket "$SOCK" "http://x/api/v1$1"; }
  s=$(ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' --cacert "$T/state/tls/server.crt" \
      -H 'Content-Type: application/json' -d '{"username":"admin","password":"old-admin-password-1"}' \
      "https://127.0.0.1:$PORT/api/v1/auth/login")
  check "...the admin logs in with the password of then ($s)" test "$s" = 200
  check "...the users are there" test "$(api /users | jq -c '[.metadata[] | [.name, .role]]')" = '[["admin","admin"],["op1","operator"]]'
  check "...the pool and its volume" test "$(api /pools/p1/volumes/disk1 | jq -r '[.metadata.format, .metadata.size, .metadata.state] | join(" ")')" = "qcow2 1048576 ready"
  check "...the NAT network, its bridge made again and DHCP running" \
    test "$(api /networks/n1 | jq -r '[.metadata.subnet, .metadata.nat, .metadata.bridge_present, .metadata.dhcp.running] | join(" ")')" = "10.77.1.0/24 true true true"
  check "...the VM, stopped, with its disk and NIC" \
    test "$(api /vms/vm1 | jq -c '[.metadata.state, .metadata.disks, .metadata.nics[0].address, .metadata.description]')" = '["stopped",["p1/disk1"],"10.77.1.2","made by corrald 6bd3461"]'
  check "...and the audit log of then" test "$(api '/audit?limit=100' | jq '[.metadata[] | select(.action == "vm.create")] | length')" = 1
  check "corrald's log has no errors" bash -c "! grep -E ' error' '$T/log'"
  kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=
  net_cleanup "$T/state/corral.db"
done
echo "1..$n"
[ "$failed" -eq 0 ]
