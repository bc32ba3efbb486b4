#!/usr/bin/env bash
# Runs the corral-vmm end-to-end suite (suite.sh) where a hardware-assisted
# /dev/kvm exists: on this host if it has one, otherwise inside the nested
# L1 VM of tests/nested/l1.sh.  On a PVM /dev/kvm (ring 0 emulated, see
# ENVIRONMENT.md) it also checks that Debian's kernel boots far enough there
# to print its banner.  Prints TAP.  Usage: run.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
export CORRAL_ASSETS=${CORRAL_ASSETS:-$build/assets}

# Kernel and initramfs for the Linux tests, prepared here on the host.
"$repo/scripts/fetch-kernels.sh" "$CORRAL_ASSETS" >&2 || echo "# could not fetch Debian kernels" >&2
initrd=$CORRAL_ASSETS/linux-initramfs.cpio
if ! [ "$initrd" -nt "$repo/tests/linux/mkinitramfs.sh" ] || ! [ "$initrd" -nt "$CORRAL_ASSETS/cloud/modules.load" ]; then
  "$repo/tests/linux/mkinitramfs.sh" --modules "$CORRAL_ASSETS/cloud" "$initrd" >&2 || echo "# could not build the Linux initramfs" >&2
fi

kind=$("$repo/scripts/kvm-kind.sh")
case $kind in
hw)
  exec "$here/suite.sh" "$build"
  ;;
*)
  if [ "$kind" = pvm ]; then
    "$here/pvm-banner.sh" "$build"
  else
    why="this host has no /dev/kvm"
    [ "$kind" = none ] || why="this host's /dev/kvm is not PVM"
    echo "ok - Debian kernel prints its banner on a PVM /dev/kvm # SKIP $why"
  fi
  if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "1..1"
    echo "ok 1 - corral-vmm end-to-end tests # SKIP no hardware-assisted /dev/kvm and no QEMU for the nested harness"
    exit 0
  fi
  echo "# no hardware-assisted /dev/kvm here ($kind): running the suite in a nested L1 VM" >&2
  # Two L1 vCPUs: with one, the Linux tests run several times slower.  A frozen
  # L1 (bench/README.md) is reported by l1.sh after 240 s without a heartbeat.
  # L1 itself (its kernel on TCG's emulated SVM) now and then dies under the
  # suite's migrations: a panic, a reset (QEMU then exits without a word) or
  # a freeze; l1.sh says so with 125 or 123, never a test's own status.  The
  # suite then runs once more, said so with the end of the first attempt, so
  # the TAP counted is one whole run's (docs/nested-kvm.md has the figures).
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  for attempt in 1 2; do
    "$repo/tests/nested/l1.sh" --mem 3G --timeout 1500 --share "$repo" -- \
      env CORRAL_ASSETS="$CORRAL_ASSETS" "$here/suite.sh" "$build" >"$out" 2>&1
    rc=$?
    if [ $attempt = 1 ] && { [ $rc = 123 ] || [ $rc = 125 ]; }; then
      echo "# the nested L1 itself died (l1.sh exit $rc: $(grep -m1 -oE "Kernel panic.*|L1 froze.*|L1 ended without.*" "$out")); the suite runs once more; the end of that attempt:"
      grep -v "^ok \|^not ok \|^1\.\." "$out" | tail -25 | sed 's/^/#   /'
      continue
    fi
    cat "$out"
    exit $rc
  done
  ;;
esac
