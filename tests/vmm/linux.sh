# Debian's stock cloud kernel under corral-vmm: boots to user space with two
# vCPUs, finds its virtio disk and rng, and powers off cleanly.  Sourced by
# suite.sh (uses its TAP helpers, $VMM, $work, $log).  The kernel and the
# busybox initramfs are prepared on the host by run.sh in $CORRAL_ASSETS.

linux_tests() {
  local assets=${CORRAL_ASSETS:-$build/assets}
  local kernel=$assets/cloud/vmlinuz initrd=$assets/linux-initramfs.cpio
  if [ ! -s "$kernel" ] || [ ! -s "$initrd" ]; then
    not_ok "Linux boots to user space with 2 vCPUs"
    echo "#   missing $kernel or $initrd (run.sh prepares them)"
    return
  fi
  truncate -s 8M "$work/linux-disk.img"
  vmm "$log" 300 --kernel "$kernel" --initrd "$initrd" --memory 512M --cpus 2 --no-reboot \
    --cmdline "console=ttyS0 reboot=k panic=-1 corral.exit=reboot" \
    --disk "$work/linux-disk.img" --rng
  check "Linux (Debian cloud kernel, bzImage) boots to user space with 2 vCPUs" \
    eval 'has "CORRAL-LINUX-OK cpus=2"'
  check "Linux sees the virtio disk and rng" eval 'has "vda=yes" && has "hwrng=virtio"'
  check "Linux reboot -f ends the VMM with 0 under --no-reboot" eval 'status_is 0'
}
