# Debian's stock cloud kernel under corral-vmm: boots to user space with two
# vCPUs, finds its virtio disk and rng, powers off through ACPI, and shuts
# down gracefully when asked through the control API.  Sourced by suite.sh
# (uses its TAP helpers, $VMM, $work, $log).  The kernel and the busybox
# initramfs are prepared on the host by run.sh in $CORRAL_ASSETS.

# linux_passes FILE N PID SECONDS: until FILE shows N memcheck passes, PID
# exits or SECONDS pass.
linux_passes() {
  local i
  for ((i = 0; i < $4 * 4; i++)); do
    [ "$(grep -ac CORRAL-LINUX-PASS "$1" 2>/dev/null)" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}

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

  # One more boot (each costs a chance of the emulated SVM's rare fault,
  # docs/nested-kvm.md) serves the rest: a running Linux (2 vCPUs, a qcow2
  # virtio disk, rng) that checks 32 MiB of tmpfs every pass is snapshotted,
  # then migrated live to a second corral-vmm sharing its disk and shut down
  # there through the API; its disk is overwritten; it is restored twice
  # from the snapshot: memory and disk come back together.
  local snap=$work/linux-snap at up0 n qcow=$work/linux-disk.qcow2 sock=$work/linux.sock vpid i r
  mkdir -p "$snap"
  "$build/src/img/corral-img" create -q -f qcow2 "$qcow" 8M
  timeout -k 5 300 "$VMM" "${args[@]}" --cmdline "console=ttyS0 panic=-1 corral.exit=memcheck" \
    --disk "$qcow" --rng --console "file=$work/lm1" --api-socket "$sock" </dev/null >"$log" 2>&1 &
  vpid=$!
  linux_passes "$work/lm1" 5 $vpid 300
  # The last pass printed before the request: the snapshot holds this one
  # or a later one (the guest runs on while it is taken).
  at=$(grep -a "CORRAL-LINUX-PASS" "$work/lm1" | tail -1)
  r=$(api "$sock" "{\"cmd\":\"snapshot\",\"path\":\"$snap\"}" 2>&1)
  # Then it migrates (same qcow2 disk, shared) to a second corral-vmm and
  # is shut down there: memory, clock, disk and devices carried over live.
  local dsock=$work/linux-dst.sock mig=$work/linux-mig.sock dpid m mat
  timeout -k 5 300 "$VMM" --incoming "unix:$mig" --memory 512M --cpus 2 --no-reboot --disk "$qcow" --rng \
    --console "file=$work/lmd" --api-socket "$dsock" </dev/null >"$work/lmd.err" 2>&1 &
  dpid=$!
  wait_for "$mig" 20
  mat=$(grep -a "CORRAL-LINUX-PASS" "$work/lm1" | tail -1)
  m=$(api "$sock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$mig\"}" 2>&1)
  wait $vpid; local src_rc=$?
  linux_passes "$work/lmd" 3 $dpid 60
  # From there it moves on to a third corral-vmm without shared storage:
  # its disk's contents go along into a fresh image of the same size.
  local qcow2=$work/linux-copy.qcow2 d2sock=$work/linux-dst2.sock mig2=$work/linux-mig2.sock d2pid m2 cad
  "$build/src/img/corral-img" create -q -f qcow2 "$qcow2" 8M
  timeout -k 5 300 "$VMM" --incoming "unix:$mig2" --memory 512M --cpus 2 --no-reboot --disk "$qcow2" --rng \
    --console "file=$work/lmd2" --api-socket "$d2sock" </dev/null >"$work/lmd2.err" 2>&1 &
  d2pid=$!
  wait_for "$mig2" 20
  m2=$(api "$dsock" "{\"cmd\":\"migrate\",\"uri\":\"unix:$mig2\",\"copy_disks\":true}" 2>&1)
  wait $dpid; local mid_rc=$?
  linux_passes "$work/lmd2" 3 $d2pid 60
  cad=$(api "$d2sock" '{"cmd":"shutdown"}' 2>&1)
  wait $d2pid; rc=$?
  cat "$work/lm1" "$work/lmd" "$work/lmd.err" "$work/lmd2" "$work/lmd2.err" >>"$log"
  local mfirst mlast
  mfirst=$(grep -a -m1 CORRAL-LINUX-PASS "$work/lmd")
  mlast=$(grep -a CORRAL-LINUX-PASS "$work/lmd" | tail -1 | awk '{print $2}')
  # The pass number the destination wrote last is on the shared image, which
  # both checkers find consistent.
  qemu-img convert -O raw "$qcow" "$work/linux-disk.raw" &&
    dd if="$work/linux-disk.raw" of="$work/linux-pass.raw" bs=4096 skip=1 count=1 2>/dev/null
  echo "# migration: ok=$(json_get "$m" ok); source exit $src_rc; passes $mat -> $mfirst .. $mlast; on disk: $(head -c 16 "$work/linux-pass.raw" | tr -c '[:print:]' .)"
  check "live migration of Linux (2 vCPUs, qcow2 disk shared): the source exits 0, the destination carries on with memory intact, the clock forward, its disk writes on the image" \
    eval '[ "$(json_get "$m" ok)" = true ] && [ "$src_rc" = 0 ] && grep -q "now runs at its migration" "$log" &&
          grep -aqE "^pass-($mlast|$((mlast - 1)))\\." "$work/linux-pass.raw" && qemu-img check -q "$qcow" &&
          "$build/src/img/corral-img" check "$qcow" >/dev/null &&
          [ "$(echo "$mfirst" | awk "{print \$2}")" -gt "$(echo "$mat" | awk "{print \$2}")" ] &&
          [ "$(grep -ac CORRAL-LINUX-PASS "$work/lmd")" -ge 3 ] && ! grep -aqE "MEMFAIL|TIMEFAIL" "$work/lmd" &&
          awk -v a="${mat##*up=}" -v b="${mfirst##*up=}" "BEGIN { exit !(b >= a) }"'
  local c1 c2 clast
  c1=$(grep -a CORRAL-LINUX-PASS "$work/lmd" | tail -1)
  c2=$(grep -a -m1 CORRAL-LINUX-PASS "$work/lmd2")
  clast=$(grep -a CORRAL-LINUX-PASS "$work/lmd2" | tail -1 | awk '{print $2}')
  qemu-img convert -O raw "$qcow2" "$work/linux-copy.raw"
  echo "# migration without shared storage: ok=$(json_get "$m2" ok); source exit $mid_rc; passes $c1 -> $c2 .. $clast; copy: $(head -c 12 "$work/linux-copy.raw" | tr -c '[:print:]' .) $(dd if="$work/linux-copy.raw" bs=4096 skip=1 count=1 2>/dev/null | head -c 10 | tr -c '[:print:]' .)"
  check "live migration without shared storage: the disk's contents move too (the boot record, every later pass), the guest carries on, the source exits 0" \
    eval '[ "$(json_get "$m2" ok)" = true ] && [ "$mid_rc" = 0 ] &&
          [ "$(echo "$c2" | awk "{print \$2}")" -gt "$(echo "$c1" | awk "{print \$2}")" ] &&
          [ "$(grep -ac CORRAL-LINUX-PASS "$work/lmd2")" -ge 3 ] && ! grep -aqE "MEMFAIL|TIMEFAIL" "$work/lmd2" &&
          head -c 12 "$work/linux-copy.raw" | grep -q disk-record- &&
          dd if="$work/linux-copy.raw" bs=4096 skip=1 count=1 2>/dev/null | grep -aqE "^pass-($clast|$((clast - 1)))\." &&
          qemu-img check -q "$qcow2" && "$build/src/img/corral-img" check "$qcow2" >/dev/null'
  check "graceful shutdown of the migrated Linux through the API: Ctrl-Alt-Del reaches its init, exit 0" \
    eval '[ "$(json_get "$cad" ok)" = true ] && grep -aq CORRAL-LINUX-CAD "$work/lmd2" && status_is 0'
  check "snapshot of a running Linux guest, its qcow2 disk snapshotted at the same instant" \
    eval '[ "$(json_get "$r" ok)" = true ] && [ -n "$at" ] &&
          "$build/src/img/corral-img" snapshot -l "$qcow" | grep -q "$(json_get "$r" result.disks.0.snapshot)"'
  up0=${at##*up=}
  disk_head() { qemu-img convert -O raw "$qcow" "$work/linux-disk.raw" && head -c 12 "$work/linux-disk.raw"; }
  for n in 2 3; do
    qemu-io -c "write -P 0x55 0 64k" "$qcow" >/dev/null    # written after the snapshot: must go
    timeout -k 5 300 "$VMM" --restore "$snap" "${args[@]}" --disk "$qcow" --rng \
      --console "file=$work/lm$n" --api-socket "$work/lr$n.sock" </dev/null >"$log" 2>&1 &
    vpid=$!
    linux_passes "$work/lm$n" 3 $vpid 150
    # The restored guest's keyboard, interrupt and ACPI paths: a clean shutdown.
    [ -S "$work/lr$n.sock" ] && api "$work/lr$n.sock" '{"cmd":"shutdown"}' >/dev/null
    for ((i = 0; i < 240; i++)); do kill -0 $vpid 2>/dev/null || break; sleep 0.25; done
    kill -9 $vpid 2>/dev/null
    wait $vpid; rc=$?
    cat "$work/lm$n" >>"$log"
    local first up1
    first=$(grep -a -m1 CORRAL-LINUX-PASS "$work/lm$n")
    up1=${first##*up=}
    check "restored Linux #$((n - 1)) carries on: next pass, memory intact, uptime forward, disk record there, clean shutdown" \
      eval 'status_is 0 && grep -aq CORRAL-LINUX-CAD "$work/lm$n" && [ "$(grep -ac CORRAL-LINUX-PASS "$work/lm$n")" -ge 3 ] &&
            [ "$(echo "$first" | awk "{print \$2}")" -gt "$(echo "$at" | awk "{print \$2}")" ] &&
            ! grep -aqE "MEMFAIL|TIMEFAIL" "$work/lm$n" &&
            awk -v a="$up0" -v b="$up1" "BEGIN { exit !(b >= a) }" &&
            disk_head | grep -q disk-record-'
  done
}
