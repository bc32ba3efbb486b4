#!/bin/bash
# Interop between corral's block layer (through blktool) and qemu-img/qemu-io,
# both ways.  TAP output.  Usage: interop.sh PATH/TO/blktool
set -u
T=$(realpath "${1:?usage: interop.sh BLKTOOL}")
. "$(dirname "$0")/../vmm/lib.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
log=$dir/log
rc=0

run() { "$@" >>"$log" 2>&1; }

# qcheck IMG: qemu-img check reports neither errors nor leaks.
qcheck() { qemu-img check "$1" >"$log" 2>&1 && grep -q "No errors were found" "$log"; }

# The same writes as qemu-io commands and as blktool invocations.
WRITES=("171 0 64K" "18 100000 3000000" "7 50M 4097" "99 63M 1M")
ref_raw() {  # ref_raw FILE SIZE: the expected content, written by qemu-io
  qemu-img create -q -f raw "$1" "$2" && qemu_io_writes "$1"
}
qemu_io_writes() {
  local w f=$1 a=()
  for w in "${WRITES[@]}"; do set -- $w; a+=(-c "write -P $1 $2 $3"); done
  qemu-io -f raw "${a[@]}" "$f" >>"$log" 2>&1
}
blk_writes() {
  local w
  for w in "${WRITES[@]}"; do set -- $w; "$T" write "$img" "$2" "$3" "$1" || return 1; done
}

# ---- (1) corral writes, qemu-img checks and compares ----------------------
ref_raw ref.raw 64M
for v in 2 3; do
  for cs in 512 64K 2M; do
    img=c-$v-$cs.qcow2
    name="corral v$v cluster $cs"
    : >"$log"
    if run "$T" create qcow2 "$img" 64M "$cs" "$v" && blk_writes; then
      check "$name: qemu-img check clean" qcheck "$img"
      check "$name: qemu-img compare = expected" run qemu-img compare "$img" ref.raw
    else
      not_ok "$name: create/write"; diag "$log"
    fi
  done
done

# Growing the refcount table: 512-byte clusters, 40 MiB of data.
img=grow.qcow2
: >"$log"
qemu-img create -q -f raw grow.raw 64M
run qemu-io -f raw -c 'write -P 5 1M 40M' grow.raw
run "$T" create qcow2 "$img" 64M 512 3 && "$T" write "$img" 1M 40M 5
check "corral refcount table growth: check clean" qcheck "$img"
check "corral refcount table growth: compare" run qemu-img compare "$img" grow.raw

# A three-level chain written by corral: base (raw) <- mid <- top.
: >"$log"
qemu-img create -q -f raw base.raw 64M
run qemu-io -f raw -c 'write -P 1 0 64M' base.raw
cp base.raw chain-ref.raw
run "$T" create qcow2 mid.qcow2 0 64K 3 base.raw raw
img=mid.qcow2; run "$T" write mid.qcow2 10000 200000 2
run "$T" create qcow2 top.qcow2 0 4K 2 mid.qcow2 qcow2
img=top.qcow2; run "$T" write top.qcow2 150000 100 3
run "$T" write top.qcow2 60M 70000 4
run qemu-io -f raw -c 'write -P 2 10000 200000' -c 'write -P 3 150000 100' \
  -c 'write -P 4 60M 70000' chain-ref.raw
check "corral chain: mid check clean" qcheck mid.qcow2
check "corral chain: top check clean" qcheck top.qcow2
check "corral chain: qemu-img compare = expected" run qemu-img compare top.qcow2 chain-ref.raw
check "corral chain: backing recorded" run qemu-img info --backing-chain top.qcow2

# ---- (2) qemu writes, corral reads ---------------------------------------
same() {  # same IMG: corral's view equals qemu-img's
  : >"$log"
  run qemu-img convert -O raw "$1" q.raw && run "$T" dump "$1" c.raw && cmp q.raw c.raw >>"$log" 2>&1
}
for v in 0.10 1.1; do
  for cs in 512 64k 2M; do
    img=q-$v-$cs.qcow2
    qemu-img create -q -f qcow2 -o compat=$v,cluster_size=$cs "$img" 64M
    run qemu-io -f qcow2 -c 'write -P 0xab 0 64k' -c 'write -P 0x12 100000 3000000' \
      -c 'write -P 0x7 63M 1M' "$img"
    [ "$v" = 1.1 ] && run qemu-io -f qcow2 -c 'write -z 32k 64k' -c 'write -z 2M 4M' "$img"
    check "qemu v$v cluster $cs: corral reads the same" same "$img"
  done
done
for ro in 0 1 2 3 5 6; do
  img=q-rc$ro.qcow2
  qemu-img create -q -f qcow2 -o refcount_bits=$((1 << ro)),cluster_size=4k "$img" 16M
  run qemu-io -f qcow2 -c 'write -P 0x5a 4k 1M' "$img"
  check "qemu refcount_bits=$((1 << ro)): corral reads the same" same "$img"
  run "$T" write "$img" 2M 100000 9
  check "qemu refcount_bits=$((1 << ro)): corral writes, check clean" qcheck "$img"
done
# Compressed clusters (qemu-img convert -c), then corral overwrites some.
qemu-img create -q -f raw src.raw 32M
run qemu-io -f raw -c 'write -P 0x33 0 5M' -c 'write -P 0x44 9M 3M' src.raw
for cs in 512 64k 2M; do
  img=comp-$cs.qcow2
  run qemu-img convert -c -O qcow2 -o cluster_size=$cs src.raw "$img"
  check "qemu compressed cluster $cs: corral reads the same" same "$img"
  run "$T" write "$img" 1000 5000 1
  check "compressed cluster $cs after corral write: check clean" qcheck "$img"
  check "compressed cluster $cs after corral write: corral = qemu" same "$img"
done
# A chain made by qemu-img, with a raw base and a zeroed range on top.
img=qtop.qcow2
qemu-img create -q -f raw qbase.raw 32M
run qemu-io -f raw -c 'write -P 0x61 0 32M' qbase.raw
qemu-img create -q -f qcow2 -b qbase.raw -F raw qmid.qcow2
run qemu-io -f qcow2 -c 'write -P 0x62 1M 1M' qmid.qcow2
qemu-img create -q -f qcow2 -b qmid.qcow2 -F qcow2 -o cluster_size=4k qtop.qcow2
run qemu-io -f qcow2 -c 'write -P 0x63 1500k 8k' -c 'write -z 20M 1M' qtop.qcow2
check "qemu chain: corral reads the same" same qtop.qcow2
run "$T" write qtop.qcow2 1100k 3000 9
check "qemu chain: corral COW write, check clean" qcheck qtop.qcow2
check "qemu chain: corral COW write, corral = qemu" same qtop.qcow2

echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
