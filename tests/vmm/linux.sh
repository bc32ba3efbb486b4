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

  # Snapshot a running Linux (2 vCPUs, a virtio disk, rng) that checks 32 MiB
  # of tmpfs every pass, kill it, restore it twice from that snapshot.
  local snap=$work/linux-snap at up0 n
  mkdir -p "$snap"
  sock=$work/linux-snap.sock
  timeout -k 5 300 "$VMM" "${args[@]}" --cmdline "console=ttyS0 panic=-1 corral.exit=memcheck" \
    --disk "$work/linux-disk.img" --rng --console "file=$work/lm1" --api-socket "$sock" </dev/null >"$log" 2>&1 &
  vpid=$!
  for ((i = 0; i < 1200; i++)); do
    grep -q "CORRAL-LINUX-PASS 5 " "$work/lm1" 2>/dev/null && break
    kill -0 $vpid 2>/dev/null || break
    sleep 0.25
  done
  r=$(api "$sock" "{\"cmd\":\"snapshot\",\"path\":\"$snap\"}" 2>&1)
  at=$(grep -a "CORRAL-LINUX-PASS" "$work/lm1" | tail -1)
  kill -9 $vpid; wait $vpid 2>/dev/null
  check "snapshot of a running Linux guest" eval '[ "$(json_get "$r" ok)" = true ] && [ -n "$at" ]'
  up0=${at##*up=}
  for n in 2 3; do
    timeout -k 5 300 "$VMM" --restore "$snap" "${args[@]}" --disk "$work/linux-disk.img" --rng \
      --console "file=$work/lm$n" </dev/null >"$log" 2>&1 &
    vpid=$!
    for ((i = 0; i < 600; i++)); do
      [ "$(grep -ac CORRAL-LINUX-PASS "$work/lm$n" 2>/dev/null)" -ge 3 ] && break
      kill -0 $vpid 2>/dev/null || break
      sleep 0.25
    done
    kill -9 $vpid; wait $vpid 2>/dev/null
    cat "$work/lm$n" >>"$log"
    local first up1
    first=$(grep -a -m1 CORRAL-LINUX-PASS "$work/lm$n")
    up1=${first##*up=}
    check "restored Linux #$((n - 1)) carries on: next pass, memory intact, uptime forward, disk record there" \
      eval '[ "$(grep -ac CORRAL-LINUX-PASS "$work/lm$n")" -ge 3 ] &&
            [ "$(echo "$first" | awk "{print \$2}")" -gt "$(echo "$at" | awk "{print \$2}")" ] &&
            ! grep -aqE "MEMFAIL|TIMEFAIL" "$work/lm$n" &&
            awk -v a="$up0" -v b="$up1" "BEGIN { exit !(b >= a) }" &&
            head -c 12 "$work/linux-disk.img" | grep -q disk-record-'
  done
}
