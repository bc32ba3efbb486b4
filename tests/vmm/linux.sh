# Debian's stock cloud kernel under corral-vmm: boots to user space with two
# vCPUs, finds its virtio disk and rng, powers off through ACPI, and shuts
# down gracefully when asked through the control API.  Sourced by suite.sh
# (uses its TAP helpers, $VMM, $work, $log).  The kernel and the busybox
# initramfs are prepared on the host by run.sh in $CORRAL_ASSETS.

linux_tests() {
  local assets=${CORRAL_ASSETS:-$build/assets}
  local kernel=$assets/cloud/vmlinuz initrd=$assets/linux-initramfs.cpio
  if [ ! -s "$kernel" ] || [ ! -s "$initrd" ]; then
    not_ok "Linux boots to user space with 2 vCPUs"
    echo "#   missing $kernel or $initrd (run.sh prepares them)"
    return
  fi
  local args=(--kernel "$kernel" --initrd "$initrd" --memory 512M --cpus 2 --no-reboot)
  truncate -s 8M "$work/linux-disk.img"
  vmm "$log" 300 "${args[@]}" --cmdline "console=ttyS0 panic=-1" --disk "$work/linux-disk.img" --rng
  check "Linux (Debian cloud kernel, bzImage) boots to user space with 2 vCPUs" \
    eval 'has "CORRAL-LINUX-OK cpus=2"'
  check "Linux sees the virtio disk and rng" eval 'has "vda=yes" && has "hwrng=virtio"'
  check "Linux poweroff (ACPI S5) ends the VMM with status 0" eval 'status_is 0 && has "Power down"'

  if [ -s "$assets/cloud/vmlinux" ]; then
    vmm "$log" 300 --kernel "$assets/cloud/vmlinux" --initrd "$initrd" --memory 512M --cpus 2 \
      --cmdline "console=ttyS0 panic=-1" --rng
    check "Linux boots the same way from its ELF vmlinux through the PVH entry point" \
      eval 'has "CORRAL-LINUX-OK cpus=2" && has "hwrng=virtio" && status_is 0'
  else
    not_ok "Linux through the PVH entry point"
    echo "#   missing $assets/cloud/vmlinux (scripts/fetch-kernels.sh extracts it)"
  fi

  local sock=$work/linux.sock
  timeout -k 5 300 "$VMM" "${args[@]}" --cmdline "console=ttyS0 panic=-1 corral.exit=cad" \
    --api-socket "$sock" </dev/null >"$log" 2>&1 &
  local vpid=$! i
  for ((i = 0; i < 1200; i++)); do
    has CORRAL-LINUX-WAITING && break
    kill -0 $vpid 2>/dev/null || break
    sleep 0.25
  done
  local r
  r=$(api "$sock" '{"cmd":"shutdown"}' 2>&1)
  wait $vpid; rc=$?
  check "graceful shutdown through the API: Ctrl-Alt-Del reaches Linux's init, exit 0" \
    eval '[ "$(json_get "$r" ok)" = true ] && has CORRAL-LINUX-CAD && status_is 0'
}
