#!/usr/bin/env bash
# `make demo` as a new user runs it (TAP): scripts/demo.sh with its own state
# dir, socket, port and subnet, under the umask 077 it sets itself.  Its VM
# must answer on its console, get its address from the network's dnsmasq
# and ping its gateway (the demo checks that in the guest and fails
# otherwise); then `--stop` ends it.
#   tests/server/demo.sh BUILD_DIR
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (bridges, taps, nftables)"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 is not installed"; exit 0; }
ASSETS=${CORRAL_ASSETS:-$B/assets}
[ -s "$ASSETS/cloud/vmlinuz" ] || "$SRC/scripts/fetch-kernels.sh" "$ASSETS" >&2 ||
  { echo "1..0 # SKIP cannot fetch Debian's cloud kernel"; exit 0; }

T=$(mktemp -d /var/tmp/cdemo.XXXXXX)
export DEMO_STATE=$T/state DEMO_SOCKET=$T/corrald.sock DEMO_LISTEN=127.0.0.1:$(free_port)
export DEMO_SUBNET=10.213.252.0/24 CORRAL_ASSETS=$ASSETS
cleanup() {
  local pid
  pid=$(cat "$T/state/demo/corrald.pid" 2>/dev/null) && [ -n "$pid" ] &&
    [ "$(readlink "/proc/$pid/exe")" = "$B/corrald" ] && kill -9 "$pid" 2>/dev/null
  # The VM's engine and the container outlive a killed corrald by design.
  for p in $(pgrep -f -- "$T/state/"); do kill -9 "$p" 2>/dev/null; done
  for st in "$T"/state/containers/oci/*/state.json; do
    [ -f "$st" ] && "$B/corral-oci" --root "$T/state/containers/oci" delete -f "$(basename "$(dirname "$st")")" >/dev/null 2>&1
  done
  net_cleanup "$T/state/corral.db"
  awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

"$SRC/scripts/demo.sh" "$B" >"$T/out" 2>&1; rc=$?
sed 's/^/# /' "$T/out"
check "make demo succeeds (exit $rc)" test "$rc" = 0
check "the demo's container answers exec" grep -q "demo-ct runs: exec answered" "$T/out"
check "the demo's VM answers on its serial console" grep -q "demo-vm booted: its shell answered" "$T/out"
check "the demo's VM has its address by DHCP and pings its gateway (checked in the guest)" \
  grep -q "demo-vm has its address 10.213.252.2 by DHCP and pings its gateway 10.213.252.1" "$T/out"
check "...and answers there from the host" grep -q "demo-vm answers at 10.213.252.2 from the host" "$T/out"
check "the demo prints how to log in and reach the console" \
  bash -c "grep -q 'Log in:     user admin, password in' '$T/out' && grep -q 'vm console demo-vm' '$T/out'"
out=$(CORRAL_SOCKET=$DEMO_SOCKET "$B/corral" --output json host show 2>&1)
check "the host reports no network problems" test "$(jq -c .networking.dhcp.problems <<<"$out")" = "[]"
"$SRC/scripts/demo.sh" "$B" >"$T/out2" 2>&1; rc=$?
check "make demo again reuses what runs (exit $rc)" \
  bash -c "[ $rc = 0 ] && grep -q 'corrald already runs' '$T/out2' && grep -q 'demo-vm already running' '$T/out2'"
pid=$(cat "$T/state/demo/corrald.pid")
"$SRC/scripts/demo.sh" --stop "$B" >"$T/out3" 2>&1; rc=$?
left=$(pgrep -f -- "$T/state/vms/" | wc -l)
check "make demo-stop stops the VM and corrald (exit $rc, $left VM processes left)" \
  bash -c "[ $rc = 0 ] && [ $left = 0 ] && { ! kill -0 $pid || grep -q '^State:.*Z' /proc/$pid/status; } 2>/dev/null"

echo "1..$n"
[ "$failed" -eq 0 ]
