#!/usr/bin/env bash
# Runs the benchmarks (`make bench`): bench/img, bench/oci and bench/api on this host, then the VMM
# ones where a hardware-assisted /dev/kvm exists: on this host if it has one, otherwise inside the nested L1 VM of
# tests/nested/l1.sh (docs/nested-kvm.md).  Usage: run.sh BUILD_DIR
# (run.sh --in-l1 BUILD_DIR WHERE is what it runs inside L1.)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

if [ "${1:-}" = --in-l1 ]; then
  # Inside L1: the VMM benchmarks (start; snapshot and restore), then bench/api's VM row of engine kvm (corral-vmm through corrald's API
  # vs corral-vmm directly), which the host's bench/api run had to leave out.  Exit status: vmm-start's.
  "$here/vmm-start" --build "$2" --where "$3"
  rc=$?
  "$here/vmm-state" --build "$2" --where "$3" || echo "bench: bench/vmm-state failed"
  "$here/api" --build "$2" --only vm-kvm --where "$3" || echo "bench: bench/api --only vm-kvm failed"
  exit $rc
fi
build=$(cd "${1:-build}" && pwd)

# Disk images first: corral-img vs qemu-img on this host (no KVM needed).
"$here/img" --build "$build" || echo "bench: bench/img failed"
# Containers: corral-oci vs runc (and crun where it runs) on this host.
"$here/oci" --build "$build" || echo "bench: bench/oci failed"
# corrald's API on loopback: latency under load, VM and container create+start overhead (the VM row of
# engine kvm, corral-vmm, only where this host has hardware KVM; otherwise it runs in L1, below).
"$here/api" --build "$build" || echo "bench: bench/api failed"

kind=$("$here/../scripts/kvm-kind.sh")
if [ "$kind" = hw ]; then
  "$here/vmm-start" --build "$build"
  rc=$?
  "$here/vmm-state" --build "$build" || echo "bench: bench/vmm-state failed"
  exit $rc
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "bench: skipped: no hardware-assisted /dev/kvm ($kind) and no QEMU for the nested L1 VM"
  exit 0
fi
echo "bench: no hardware-assisted /dev/kvm here ($kind): running inside the nested L1 VM (tests/nested/l1.sh)."
echo "bench: L1 runs under TCG, so absolute times are far slower than on real hardware; the ratios are what count."
exec "$repo/tests/nested/l1.sh" --timeout 1500 --share "$repo" -- \
  "$here/run.sh" --in-l1 "$build" "inside the nested L1 VM (TCG, 2 vCPUs)"
