# Debian's stock cloud kernel under corral-vmm: boots to user space with two
# vCPUs, finds its virtio disk and rng, powers off through ACPI, and shuts
# down gracefully when asked through the control API.  Sourced by suite.sh
# (uses its TAP helpers, $VMM, $work, $log).  The kernel and the busybox
# initramfs are prepared on the host by run.sh in $CORRAL_ASSETS.

# linux_passes FILE N PID SECONDS: until FILE shows N memcheck passes, PID
# exits or SECONDS pass.
linux_passes() {
  local i n
  for ((i = 0; i < $4 * 4; i++)); do
    n=$(grep -ac CORRAL-LINUX-PASS "$1" 2>/dev/null)
    [ "${n:-0}" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}

# linux_vmm LOG SECONDS ARGS...: vmm, once more after the emulated SVM's fault (lib.sh).
linux_vmm() { emulator_retry "$1" vmm "$@"; }

# linux_hosts: the namespaces lxA and lxB ("hosts": a bridge with the
# host's address and a tap "lxtap" each, joined by veth) and lxC (a client on
# lxA's bridge, 10.77.0.9).  Their names are in LXA, LXB, LXC.
linux_hosts() {
  LXA=corral-lxa-$$ LXB=corral-lxb-$$ LXC=corral-lxc-$$
  local h
  for h in "$LXA" "$LXB" "$LXC"; do ip netns add "$h" || return 1; done
  ip link add lxab netns "$LXA" type veth peer name lxba netns "$LXB" &&
    ip link add lxca netns "$LXA" type veth peer name lxc0 netns "$LXC" || return 1
  for h in "$LXA:lxab:10.77.0.11" "$LXB:lxba:10.77.0.12"; do
    set -- ${h//:/ }
    ip -n "$1" link add br0 type bridge &&
      ip -n "$1" tuntap add dev lxtap mode tap &&
      ip -n "$1" link set lxtap master br0 && ip -n "$1" link set "$2" master br0 &&
      ip -n "$1" addr add "$3/24" dev br0 &&
      ip -n "$1" link set lo up && ip -n "$1" link set br0 up && ip -n "$1" link set lxtap up &&
      ip -n "$1" link set "$2" up || return 1
  done
  ip -n "$LXA" link set lxca master br0 && ip -n "$LXA" link set lxca up &&
    ip -n "$LXC" addr add 10.77.0.9/24 dev lxc0 && ip -n "$LXC" link set lxc0 up &&
    ip -n "$LXC" link set lo up
}
linux_hosts_down() {
  local h
  for h in "${LXA:-}" "${LXB:-}" "${LXC:-}"; do [ -n "$h" ] && ip netns del "$h" 2>/dev/null; done
  return 0
}
# listening NS PORT: until a TCP socket listens on PORT in NS (20 s at most).
listening() {
  local i
  for ((i = 0; i < 200; i++)); do
    [ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  return 1
}
# img_sound QCOW2: both checkers find no corruption.  Leaked clusters (exit
# 3) are allowed: a VMM killed with -9 while writing may leave them, never more.
img_sound() {
  local r
  qemu-img check -q "$1" >/dev/null 2>&1; r=$?
  [ $r = 0 ] || [ $r = 3 ] || return 1
  "$build/src/img/corral-img" check "$1" >/dev/null 2>&1; r=$?
  [ $r = 0 ] || [ $r = 3 ]
}
# probe_get KEY: a value from conn_probe.py's status line ("" if it failed).
probe_get() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" "$probe" 2>/dev/null; }
# probe_lines N SECONDS: until the probe counted N echoed lines (or failed).
probe_lines() {
  local i n
  for ((i = 0; i < $2 * 4; i++)); do
    n=$(probe_get lines)
    [ "${n:-0}" -ge "$1" ] && return 0
    grep -q FAIL "$probe" 2>/dev/null && return 1
    sleep 0.25
  done
  return 1
}

# linux_chain: the memcheck Linux's life (linux_tests says what and keeps its
# variables), from a fresh disk and snapshot directories.
linux_chain() {
  rm -rf "$snap" "$snap2" "$qcow" "$qcow2" "$probe" "$sock" "$dsock" "$d2sock" "$rsock" "$work"/lm1 "$work"/lmd \
    "$work"/lmd2 "$work"/lmr
  mkdir -p "$snap" "$snap2"
  "$build/src/img/corral-img" create -q -f qcow2 "$qcow" 8M
  $na timeout -k 5 300 "$VMM" "${args[@]}" --cmdline "console=ttyS0 panic=-1 corral.exit=memcheck $ip" \
    --disk "$qcow" --rng "${net[@]}" --console "file=$work/lm1" --api-socket "$sock" </dev/null >"$log" 2>&1 &
  vpid=$!
  if ! linux_passes "$work/lm1" 5 $vpid 300 && ! kill -0 $vpid 2>/dev/null; then
    wait $vpid; rc=$?
    cat "$work/lm1" >>"$log"
    return 1
  fi
  mac=$(json_get "$(api "$sock" '{"cmd":"describe"}' 2>&1)" result.config.nets.0.mac)
  $nc python3 "$here/conn_probe.py" 10.77.0.2 7000 "$probe" lxc0 "${mac:-00:00:00:00:00:00}" 2>>"$work/probe.err" &
  ppid=$!
  probe_lines 20 60
  p0=$(probe_get lines)
  # The last pass printed before the request: the snapshot holds this one
  # or a later one (the guest runs on while it is taken).
  at=$(grep -a "CORRAL-LINUX-PASS" "$work/lm1" | tail -1)
  r=$(api "$sock" "{\"cmd\":\"snapshot\",\"path\":\"$snap\"}" 2>&1)
  # Then it migrates over TCP (same qcow2 disk, shared) to a second
  # corral-vmm in lxB, given no mac=: memory, clock, disk, devices and the
  # NIC's address carried over live, announced from there by RARP.
  $nb timeout -k 5 300 "$VMM" --incoming tcp:10.77.0.12:4444 --memory 512M --cpus 2 --no-reboot --disk "$qcow" \
    --rng "${net[@]}" --console "file=$work/lmd" --api-socket "$dsock" </dev/null >"$work/lmd.err" 2>&1 &
  dpid=$!
  listening "$LXB" 4444
  mat=$(grep -a "CORRAL-LINUX-PASS" "$work/lm1" | tail -1)
  m=$(api "$sock" '{"cmd":"migrate","uri":"tcp:10.77.0.12:4444"}' 2>&1)
  wait $vpid; src_rc=$?
  linux_passes "$work/lmd" 3 $dpid 60
  dmac=$(json_get "$(api "$dsock" '{"cmd":"describe"}' 2>&1)" result.config.nets.0.mac)
  probe_lines $(($(probe_get lines) + 10)) 30
  p1=$(probe_get lines); r1=$(probe_get rarp)
  # From there it moves back to lxA, to a third corral-vmm, without shared
  # storage: its disk's contents go along into a fresh image of the same size.
  "$build/src/img/corral-img" create -q -f qcow2 "$qcow2" 8M
  $na timeout -k 5 300 "$VMM" --incoming tcp:10.77.0.11:4445 --memory 512M --cpus 2 --no-reboot --disk "$qcow2" \
    --rng "${net[@]}" --console "file=$work/lmd2" --api-socket "$d2sock" </dev/null >"$work/lmd2.err" 2>&1 &
  d2pid=$!
  listening "$LXA" 4445
  m2=$(api "$dsock" '{"cmd":"migrate","uri":"tcp:10.77.0.11:4445","copy_disks":true}' 2>&1)
  wait $dpid; mid_rc=$?
  linux_passes "$work/lmd2" 3 $d2pid 60
  probe_lines $(($(probe_get lines) + 10)) 30
  p2=$(probe_get lines); r2=$(probe_get rarp)
  # There it is saved paused, its VMM killed, and restored (MAC adopted, the
  # client's connection waiting meanwhile), then shut down through the API.
  s2=$(api "$d2sock" "{\"cmd\":\"snapshot\",\"path\":\"$snap2\",\"resume\":false}" 2>&1)
  pkill -9 -P $d2pid; kill -9 $d2pid; wait $d2pid 2>/dev/null
  # The copy as that VMM left it (the restored one writes on).
  c1=$(grep -a CORRAL-LINUX-PASS "$work/lmd" | tail -1)
  c2=$(grep -a -m1 CORRAL-LINUX-PASS "$work/lmd2")
  clast=$(grep -a CORRAL-LINUX-PASS "$work/lmd2" | tail -1 | awk '{print $2}')
  qemu-img convert -U -O raw "$qcow2" "$work/linux-copy.raw"
  $na timeout -k 5 300 "$VMM" --restore "$snap2" "${args[@]}" --disk "$qcow2" --rng "${net[@]}" \
    --console "file=$work/lmr" --api-socket "$rsock" </dev/null >"$work/lmr.err" 2>&1 &
  rpid=$!
  linux_passes "$work/lmr" 3 $rpid 150
  probe_lines $(($(probe_get lines) + 10)) 30
  p3=$(probe_get lines); r3=$(probe_get rarp)
  cad=$(api "$rsock" '{"cmd":"shutdown"}' 2>&1)
  wait $rpid; rc=$?
  pst=$(cat "$probe" 2>/dev/null)
  kill $ppid 2>/dev/null; wait $ppid 2>/dev/null
  cat "$work/lm1" "$work/lmd" "$work/lmd.err" "$work/lmd2" "$work/lmd2.err" "$work/lmr" "$work/lmr.err" \
    "$work/probe.err" >>"$log"
  echo "# TCP client in lxC: $p0 lines before the migrations, $p1 after lxA->lxB, $p2 after lxB->lxA, $p3 after the restore; RARP frames seen $r1, $r2, $r3; last: $pst"
  mfirst=$(grep -a -m1 CORRAL-LINUX-PASS "$work/lmd")
  mlast=$(grep -a CORRAL-LINUX-PASS "$work/lmd" | tail -1 | awk '{print $2}')
  # The pass number the destination wrote last is on the shared image, which
  # both checkers find consistent.
  qemu-img convert -O raw "$qcow" "$work/linux-disk.raw" &&
    dd if="$work/linux-disk.raw" of="$work/linux-pass.raw" bs=4096 skip=1 count=1 2>/dev/null
  echo "# migration: ok=$(json_get "$m" ok); source exit $src_rc; passes $mat -> $mfirst .. $mlast; on disk: $(head -c 16 "$work/linux-pass.raw" | tr -c '[:print:]' .); MAC $mac -> $dmac"
}

# linux_restore N: the first snapshot restored (console lm$N), after its disk
# was overwritten, then shut down through the API (linux_tests' variables).
linux_restore() {
  local n=$1 i vpid
  rm -f "$work/lm$n" "$work/lr$n.sock"
  qemu-io -c "write -P 0x55 0 64k" "$qcow" >/dev/null    # written after the snapshot: must go
  $na timeout -k 5 300 "$VMM" --restore "$snap" "${args[@]}" --disk "$qcow" --rng "${net[@]}" \
    --console "file=$work/lm$n" --api-socket "$work/lr$n.sock" </dev/null >"$log" 2>&1 &
  vpid=$!
  linux_passes "$work/lm$n" 3 $vpid 150
  # The restored guest's keyboard, interrupt and ACPI paths: a clean shutdown.
  [ -S "$work/lr$n.sock" ] && api "$work/lr$n.sock" '{"cmd":"shutdown"}' >/dev/null
  for ((i = 0; i < 240; i++)); do kill -0 $vpid 2>/dev/null || break; sleep 0.25; done
  kill -9 $vpid 2>/dev/null
  wait $vpid; rc=$?
  cat "$work/lm$n" >>"$log"
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
  linux_vmm "$log" 300 "${args[@]}" --cmdline "console=ttyS0 panic=-1" --disk "$work/linux-disk.img" --rng
  check "Linux (Debian cloud kernel, bzImage) boots to user space with 2 vCPUs" \
    eval 'has "CORRAL-LINUX-OK cpus=2"'
  check "Linux sees the virtio disk and rng" eval 'has "vda=yes" && has "hwrng=virtio"'
  check "Linux poweroff (ACPI S5) ends the VMM with status 0" eval 'status_is 0 && has "Power down"'

  if [ -s "$assets/cloud/vmlinux" ]; then
    linux_vmm "$log" 300 --kernel "$assets/cloud/vmlinux" --initrd "$initrd" --memory 512M --cpus 2 \
      --cmdline "console=ttyS0 panic=-1" --rng
    check "Linux boots the same way from its ELF vmlinux through the PVH entry point" \
      eval 'has "CORRAL-LINUX-OK cpus=2" && has "hwrng=virtio" && status_is 0'
  else
    not_ok "Linux through the PVH entry point"
    echo "#   missing $assets/cloud/vmlinux (scripts/fetch-kernels.sh extracts it)"
  fi

  # Two "hosts" are two network namespaces, lxA and lxB, each with a bridge
  # (the host's address on it: 10.77.0.11 and .12) and a tap for the guest,
  # joined by a veth link; a client in a third, lxC, on lxA's bridge.
  if ! linux_hosts; then
    not_ok "three network namespaces with bridges, taps and veth links for the Linux migration tests"
    linux_hosts_down
    return
  fi
  local na="ip netns exec $LXA" nb="ip netns exec $LXB" nc="ip netns exec $LXC"
  # One more boot (each costs a chance of the emulated SVM's rare fault,
  # docs/nested-kvm.md) serves the rest: a running Linux (2 vCPUs, a qcow2
  # virtio disk, rng, a NIC with 10.77.0.2 that echoes TCP) that checks 32 MiB
  # of tmpfs every pass, while a client in lxC keeps one TCP connection to it
  # busy.  It is snapshotted, then migrated live over TCP to lxB sharing its
  # disk, and from there back to lxA without shared storage; saved there
  # paused, its VMM killed, restored and shut down through the API.  Then the
  # first snapshot is restored twice, after its disk was overwritten: memory
  # and disk come back together.
  local snap=$work/linux-snap at up0 n qcow=$work/linux-disk.qcow2 sock=$work/linux.sock vpid i r mac
  local net=(--net tap=lxtap) ip="corral.ip=10.77.0.2/24" probe=$work/probe ppid p0 p1 p2 p3 r1 r2 r3 pst
  local dsock=$work/linux-dst.sock dpid m mat dmac src_rc mfirst mlast
  local qcow2=$work/linux-copy.qcow2 d2sock=$work/linux-dst2.sock d2pid m2 mid_rc c1 c2 clast
  local snap2=$work/linux-snap2 s2 rsock=$work/linux-r.sock rpid cad
  emulator_retry "$log $work/lmd.err $work/lmd2.err $work/lmr.err" linux_chain
  check "live migration of Linux over TCP between two network namespaces (2 vCPUs, qcow2 disk shared): the source exits 0, the destination carries on with memory intact, the clock forward, its disk writes on the image" \
    eval '[ "$(json_get "$m" ok)" = true ] && [ "$src_rc" = 0 ] && grep -q "now runs at its migration" "$log" &&
          grep -aqE "^pass-($mlast|$((mlast - 1)))\\." "$work/linux-pass.raw" && qemu-img check -q "$qcow" &&
          "$build/src/img/corral-img" check "$qcow" >/dev/null &&
          [ "$(echo "$mfirst" | awk "{print \$2}")" -gt "$(echo "$mat" | awk "{print \$2}")" ] &&
          [ "$(grep -ac CORRAL-LINUX-PASS "$work/lmd")" -ge 3 ] && ! grep -aqE "MEMFAIL|TIMEFAIL" "$work/lmd" &&
          awk -v a="${mat##*up=}" -v b="${mfirst##*up=}" "BEGIN { exit !(b >= a) }"'
  check "the migrated guest keeps its MAC address (the destination, given none, adopts it) and is announced by RARP where it now runs" \
    eval '[ -n "$mac" ] && [ "$dmac" = "$mac" ] && [ "${r1:-0}" -ge 1 ] && grep -q "announced the guest" "$work/lmd.err"'
  echo "# migration without shared storage: ok=$(json_get "$m2" ok); source exit $mid_rc; passes $c1 -> $c2 .. $clast; copy: $(head -c 12 "$work/linux-copy.raw" | tr -c '[:print:]' .) $(dd if="$work/linux-copy.raw" bs=4096 skip=1 count=1 2>/dev/null | head -c 10 | tr -c '[:print:]' .)"
  check "live migration back without shared storage: the disk's contents move too (the boot record, every later pass), the guest carries on, the source exits 0" \
    eval '[ "$(json_get "$m2" ok)" = true ] && [ "$mid_rc" = 0 ] &&
          [ "$(echo "$c2" | awk "{print \$2}")" -gt "$(echo "$c1" | awk "{print \$2}")" ] &&
          [ "$(grep -ac CORRAL-LINUX-PASS "$work/lmd2")" -ge 3 ] && ! grep -aqE "MEMFAIL|TIMEFAIL" "$work/lmd2" &&
          head -c 12 "$work/linux-copy.raw" | grep -q disk-record- &&
          dd if="$work/linux-copy.raw" bs=4096 skip=1 count=1 2>/dev/null | grep -aqE "^pass-($clast|$((clast - 1)))\." &&
          img_sound "$qcow2"'
  check "a TCP connection from a third namespace survives both migrations and a snapshot, kill -9 and restore: every line echoed, in order" \
    eval '[ "${p0:-0}" -ge 20 ] && [ "${p1:-0}" -ge $((p0 + 10)) ] && [ "${p2:-0}" -ge $((p1 + 10)) ] &&
          [ "${p3:-0}" -ge $((p2 + 10)) ] && [ "${r2:-0}" -gt "${r1:-0}" ] && [ "${r3:-0}" -gt "${r2:-0}" ] &&
          [ "${pst#lines=}" != "$pst" ]'
  check "the guest saved paused, its VMM killed, restored: it carries on (memory intact) and shuts down gracefully through the API" \
    eval '[ "$(json_get "$s2" ok)" = true ] && [ "$(json_get "$cad" ok)" = true ] && grep -aq CORRAL-LINUX-CAD "$work/lmr" &&
          [ "$(grep -ac CORRAL-LINUX-PASS "$work/lmr")" -ge 3 ] && ! grep -aqE "MEMFAIL|TIMEFAIL" "$work/lmr" && status_is 0'
  check "snapshot of a running Linux guest, its qcow2 disk snapshotted at the same instant" \
    eval '[ "$(json_get "$r" ok)" = true ] && [ -n "$at" ] &&
          "$build/src/img/corral-img" snapshot -l "$qcow" | grep -q "$(json_get "$r" result.disks.0.snapshot)"'
  up0=${at##*up=}
  disk_head() { qemu-img convert -O raw "$qcow" "$work/linux-disk.raw" && head -c 12 "$work/linux-disk.raw"; }
  for n in 2 3; do
    emulator_retry "$log" linux_restore $n
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
  linux_hosts_down
}
