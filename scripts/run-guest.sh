#!/usr/bin/env bash
# Boots Debian's stock cloud kernel with a busybox initramfs under corral-vmm:
# two vCPUs, a virtio disk and a virtio rng.  With --shell you get a shell on
# the guest's serial console (type `poweroff` to leave); without, the guest
# prints one CORRAL-LINUX-OK line and powers off.
#   scripts/run-guest.sh [--shell] [BUILD_DIR]
# Without a hardware-assisted /dev/kvm it boots inside the nested L1 VM.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shell=
[ "${1:-}" = --shell ] && { shell=--shell; shift; }
build=$(cd "${1:-$repo/build}" && pwd)
assets=${CORRAL_ASSETS:-$build/assets}

"$repo/scripts/fetch-kernels.sh" "$assets"
initrd=$assets/linux-initramfs${shell:+-shell}.cpio
if ! [ "$initrd" -nt "$repo/tests/linux/mkinitramfs.sh" ]; then
  "$repo/tests/linux/mkinitramfs.sh" $shell --modules "$assets/cloud" "$initrd"
fi
disk=$build/run-guest-disk.img
[ -e "$disk" ] || truncate -s 64M "$disk"

vmm=("$build/corral-vmm" --kernel "$assets/cloud/vmlinuz" --initrd "$initrd"
     --memory 512M --cpus 2 --cmdline "console=ttyS0 quiet" --disk "$disk" --rng)
kind=$("$repo/scripts/kvm-kind.sh")
if [ "$kind" = hw ]; then
  exec "${vmm[@]}"
fi
echo "run-guest: no hardware-assisted /dev/kvm here ($kind); booting inside a nested L1 VM (docs/nested-kvm.md)"
interactive=
[ -n "$shell" ] && interactive=-i
exec "$repo/tests/nested/l1.sh" $interactive --timeout 1800 -- "${vmm[@]}"
