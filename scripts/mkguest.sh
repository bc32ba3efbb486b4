#!/usr/bin/env bash
# Builds the Linux guest corrald's qemu engine boots in the demo and the
# tests: a busybox initramfs with a root shell on the serial console
# (tests/linux/mkinitramfs.sh --shell) holding Debian's cloud kernel's virtio
# modules plus virtio-pci (QEMU's q35), the ACPI button and evdev (so the
# guest sees the power button).  The kernel is ASSETS/cloud/vmlinuz, from
# scripts/fetch-kernels.sh ASSETS.
#   scripts/mkguest.sh ASSETS OUT.cpio
set -euo pipefail
die() { echo "mkguest: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 ASSETS OUT.cpio"
ASSETS=$1 OUT=$2
SRC=$(cd "$(dirname "$0")/.." && pwd)
[ -s "$ASSETS/cloud/modules.load" ] || die "$ASSETS/cloud has no kernel modules: run scripts/fetch-kernels.sh $ASSETS"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
K=$W/k; mkdir -p "$K/modules"
cp "$ASSETS"/cloud/modules/*.ko "$K/modules/"
deb=$(ls "$ASSETS"/debs/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$W" --wildcards '*/virtio_pci*.ko' '*/acpi/button.ko' '*/input/evdev.ko' 2>/dev/null
find "$W/lib" -name '*.ko' -exec cp {} "$K/modules/" \; 2>/dev/null || true
{ echo virtio_ring.ko; echo virtio.ko; for m in virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci evdev button; do
    [ -f "$K/modules/$m.ko" ] && echo "$m.ko"; done; grep -vE '^virtio(_ring)?\.ko$' "$ASSETS/cloud/modules.load"; } >"$K/modules.load"
"$SRC/tests/linux/mkinitramfs.sh" --shell --modules "$K" "$OUT"
