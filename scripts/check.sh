#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed, N skipped".
#   unit   cmocka tests under ASan+UBSan           (meson, build dir $1)
#   fuzz   a short libFuzzer run of every target    (meson, build dir $2)
#   guests-qemu  the test guests under QEMU/TCG, validating them   (meson, $1)
#   img    corral-img against qemu-img, command by command (TAP from tests/img/run.sh)
#   block  disk images interoperating with qemu-img (TAP from tests/block/interop.sh)
#   server corrald and the corral CLI end to end (TAP from tests/server/run.sh)
#   sec-http  corrald's HTTPS hardening: TLS versions and suites, the leaf certificate, HSTS,
#          HEAD, request deadlines and connection flooding (TAP from tests/server/sec-http.sh)
#   security  corrald probed as an attacker: state dir, login backoff, UTF-8, queries, token cap
#          (TAP from tests/server/security.sh)
#   upgrade  corrald opens the state a released corrald left (TAP from tests/server/upgrade.sh)
#   net    networks' DHCP (dnsmasq) and host isolation (nftables) with netns peers
#          (TAP from tests/server/net.sh)
#   sec-paths  host paths (admins only, under --host-path-allow), pool directories and subnets
#          a request may name, in a network namespace of its own (TAP from tests/server/sec-paths.sh)
#   oci    corral-oci running real containers (TAP from tests/oci/run.sh)
#   oci-v2 the same suite on a pure cgroup v2 host: this one if it is, else the nested L1
#          VM with cgroup2 mounted at /sys/fs/cgroup (TAP from tests/oci/v2.sh)
#   oci-image  images, bundles, networking (TAP from tests/oci/image.sh)
#   podman podman driving corral-oci (TAP from tests/oci/podman.sh)
#   crash  writers killed at random; images must check clean and keep every flushed write
#          (TAP from tests/img/crash.sh)
#   crash-ops  corral-img's metadata commands (snapshot, commit, resize, rebase, check -r)
#          killed between two writes; images repair to clean and read as before or after
#          (TAP from tests/img/crash-ops.sh)
#   vms    VMs, networks and consoles through corrald (TAP from tests/server/vms.sh)
#   containers  images and containers through corrald (TAP from tests/server/containers.sh)
#   demo   `make demo` as a new user runs it: its VM gets its address by DHCP (tests/server/demo.sh)
#   web    the web console in headless Chromium (TAP from tests/web/run.sh)
#   vmm    corral-vmm booting the test guests and Linux (TAP from tests/vmm/run.sh)
# CHECK_ONLY="NAME..." runs only those (`make check-long` runs the crash tests, longer).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fuzz_build=${2:-build-fuzz}
pass=0 fail=0 skip=0

# Adds up one meson test log (JSON lines) into the counters.
count_meson() {
  local counts
  counts=$(python3 - "$1" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  read -r a b c <<<"$counts"
  pass=$((pass + a)) fail=$((fail + b)) skip=$((skip + c))
}

# wanted NAME: NAME is to run (CHECK_ONLY unset, or NAME in it).
wanted() { [ -z "${CHECK_ONLY:-}" ] || [[ " $CHECK_ONLY " == *" $1 "* ]]; }

run_meson() {
  local dir=$1 suite=$2
  wanted "$suite" || return 0
  echo "== $suite tests"
  meson test -C "$dir" --suite "$suite" --print-errorlogs --no-rebuild --num-processes 2 \
    | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):' || true
  if [ -f "$dir/meson-logs/testlog.json" ]; then
    count_meson "$dir/meson-logs/testlog.json"
  else
    echo "no test log in $dir"; fail=$((fail + 1))
  fi
}

# Counts TAP lines ("ok N", "not ok N", "# SKIP") printed by a test script.
run_tap() {
  local name=$1; shift
  wanted "$name" || return 0
  echo "== $name tests"
  local out rc tmp
  tmp=$(mktemp)
  "$@" 2>&1 | tee "$tmp"; rc=${PIPESTATUS[0]}
  out=$(cat "$tmp"); rm -f "$tmp"
  local p f s
  s=$(grep -cE '^ok\b.*# (SKIP|skip)' <<<"$out" || true)
  p=$(grep -cE '^ok\b' <<<"$out" || true); p=$((p - s))
  f=$(grep -cE '^not ok\b' <<<"$out" || true)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $name runner exited with status $rc"; f=1
  fi
  pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

run_meson "$build" unit
run_meson "$build" guests-qemu
run_meson "$fuzz_build" fuzz
run_tap block tests/block/interop.sh "$build/tests/block/blktool"
run_tap img tests/img/run.sh "$build/src/img/corral-img"
run_tap server tests/server/run.sh "$build"
run_tap sec-http tests/server/sec-http.sh "$build"
run_tap security tests/server/security.sh "$build"
run_tap upgrade tests/server/upgrade.sh "$build"
run_tap net tests/server/net.sh "$build"
run_tap sec-paths tests/server/sec-paths.sh "$build"
run_tap oci tests/oci/run.sh "$build"
run_tap oci-v2 tests/oci/v2.sh "$build"
run_tap oci-image tests/oci/image.sh "$build"
run_tap podman tests/oci/podman.sh "$build"
run_tap crash tests/img/crash.sh "$build"
run_tap crash-ops tests/img/crash-ops.sh "$build"
run_tap vms tests/server/vms.sh "$build"
run_tap containers tests/server/containers.sh "$build"
run_tap demo tests/server/demo.sh "$build"
run_tap web tests/web/run.sh "$build"
run_tap vmm tests/vmm/run.sh "$build"

echo
if [ "$skip" -gt 0 ]; then
  echo "$pass passed, $fail failed, $skip skipped"
else
  echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
