#!/usr/bin/env bash
# On a PVM /dev/kvm (guest ring 0 emulated instruction by instruction) a stock
# kernel cannot reach user space, but it must get far enough to print its
# banner: proof that corral-vmm's bzImage path works there too.  TAP, one line.
set -uo pipefail
build=$1
kernel=$CORRAL_ASSETS/cloud/vmlinuz
out=$(mktemp)
timeout -k 5 300 "$build/corral-vmm" --kernel "$kernel" --memory 256M --no-reboot \
  --cmdline "earlyprintk=serial,ttyS0 console=ttyS0" </dev/null >"$out" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q "Linux version" "$out" && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.5
done
if grep -q "Linux version" "$out"; then
  echo "ok - Debian kernel prints its banner on this host's PVM /dev/kvm"
else
  echo "not ok - Debian kernel prints its banner on this host's PVM /dev/kvm"
  tail -5 "$out" | sed 's/^/#   /'
fi
kill $pid 2>/dev/null; wait $pid 2>/dev/null
rm -f "$out"
