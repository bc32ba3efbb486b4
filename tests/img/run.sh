#!/bin/bash
# corral-img against qemu-img: the same commands on the same inputs, outputs
# and exit codes compared where qemu-img's should be reproduced.  TAP output.
# Usage: run.sh PATH/TO/corral-img
#
# A check whose failure comes from a block-layer function that is not
# implemented yet (the library returns ENOTSUP, "not implemented yet") is
# reported as "# SKIP library support pending"; this is decided at run time.
set -u
I=$(realpath "${1:?usage: run.sh CORRAL-IMG}")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../vmm/lib.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
log=$dir/log
rc=0
export TZ=UTC LC_ALL=C

# ci ARGS: corral-img, stdout to c.out, stderr appended to $log, status in $rc_c.
# qi ARGS: qemu-img, the same into q.out and $rc_q.
# Both also keep their stderr in c.err / q.err.
ci() { rc_c=0; "$I" "$@" >c.out 2>c.err || rc_c=$?; cat c.err c.out >>"$log"; }
qi() { rc_q=0; qemu-img "$@" >q.out 2>q.err || rc_q=$?; cat q.err >>"$log"; }
run() { "$@" >>"$log" 2>&1; }
same_out() { diff -u q.out c.out >>"$log"; }
same_rc() { [ "$rc_c" -eq "$rc_q" ] || { echo "corral $rc_c, qemu $rc_q" >>"$log"; false; }; }
same_rc_as() { [ "$rc_c" -eq "$1" ] || { echo "corral exit $rc_c, wanted $1" >>"$log"; false; }; }
pending() { grep -q "not implemented yet\|Operation not supported" "$log"; }
new() { : >"$log"; }

# t NAME COND...: one TAP line; a failure caused by pending library support
# (see above) is a SKIP.
t() {
  local name=$1
  shift
  if "$@"; then
    ok "$name"
  elif pending; then
    skip "$name" "library support pending"
  else
    not_ok "$name"
    echo "#   failed: $*"
    diag "$log" 25
  fi
}

qcheck() { qemu-img check "$1" >>"$log" 2>&1 && qemu-img check "$1" 2>&1 | grep -q "No errors were found"; }
qcmp() { qemu-img compare "$@" >>"$log" 2>&1; }
qfield() { qemu-img info --output=json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)$2)"; }
is() { [ "$1" = "$2" ] || { echo "got '$1', expected '$2'" >>"$log"; false; }; }
# The same first error line, but for the program name.
same_err() { is "$(sed -n '1s/^corral-img: //p' c.err)" "$(sed -n '1s/^qemu-img: //p' q.err)"; }
same_rc_err() { same_rc && same_err; }
# qemu-img splits some messages over two lines; corral's one line starts the same.
same_rc_err_start() {
  local q; q=$(sed -n '1s/^qemu-img: //p' q.err)
  same_rc && [ -n "$q" ] && case "$(sed -n '1s/^corral-img: //p' c.err)" in "$q"*) true ;; *) false ;; esac
}
# A refusal: exit 1 and one error line that names the option.
refused() { [ "$rc_c" -eq 1 ] && [ "$(wc -l <c.err)" -eq 1 ] && grep -q -e "$1" c.err; }
# Host offsets are left out: where a qcow2 writer puts clusters is its own
# business (corral takes single clusters from a preallocated pool, see
# src/block/qcow2_refcount.c); extents, zero/data flags and depth must match.
map_json() { qemu-img map --output=json "$1" | sed -E 's/, "offset": [0-9]+//'; }
same_map() { diff -u <(map_json "$1") <(map_json "$2") >>"$log"; }

# Reference content: a raw file with data here and there, and qcow2 copies.
qemu-img create -q -f raw ref.raw 64M
qemu-io -f raw -c 'write -P 0x11 0 100k' -c 'write -P 0x22 3M 2M' -c 'write -P 0x33 40M 70000' \
  -c 'write -P 0x44 63M 1M' ref.raw >/dev/null
qemu-img convert -O qcow2 ref.raw q3.qcow2
qemu-img convert -O qcow2 -o compat=0.10,cluster_size=4k ref.raw q2.qcow2
qemu-img create -q -f qcow2 -b q3.qcow2 -F qcow2 qtop.qcow2
qemu-io -f qcow2 -c 'write -P 0x55 1M 64k' -c 'write -z 3M 64k' qtop.qcow2 >/dev/null
cp ref.raw top-ref.raw
qemu-io -f raw -c 'write -P 0x55 1M 64k' -c 'write -z 3M 64k' top-ref.raw >/dev/null

# ---- usage ------------------------------------------------------------------
new; ci foo; qi foo
t "unknown command: exit 1 like qemu-img" same_rc
new; ci create -f qcow2; t "create without a file name: exit 1" is "$rc_c" 1
new; ci info --output=xml q3.qcow2; t "info --output=xml refused" is "$rc_c" 1
new; ci info --help; t "info --help" grep -q "Usage: corral-img info" c.out
new; ci --help; t "corral-img --help lists commands" grep -q "convert" c.out

# ---- create -----------------------------------------------------------------
mkdir -p q c
for spec in "raw||16M" "qcow2||1G" "qcow2|-o compat=0.10,cluster_size=4k|100M" \
            "qcow2|-o cluster_size=2M,lazy_refcounts=on|10G" "qcow2|-o cluster_size=512|1M"; do
  IFS='|' read -r f o s <<<"$spec"
  new
  (cd q && qemu-img create -f "$f" $o img "$s") >q.out 2>>"$log"
  (cd c && "$I" create -f "$f" $o img "$s") >c.out 2>>"$log"
  t "create -f $f $o $s: same 'Formatting' line" same_out
  [ "$f" = qcow2 ] && t "create -f $f $o $s: qemu-img check clean" qcheck c/img
  t "create -f $f $o $s: same virtual size" is "$(qfield c/img "['virtual-size']")" "$(qfield q/img "['virtual-size']")"
  [ "$f" = qcow2 ] && t "create -f $f $o $s: same format-specific data" \
    is "$(qfield c/img "['format-specific']")" "$(qfield q/img "['format-specific']")"
done
new
(cd q && qemu-img create -f qcow2 -b ../q3.qcow2 -F qcow2 back) >q.out 2>>"$log"
(cd c && "$I" create -f qcow2 -b ../q3.qcow2 -F qcow2 back) >c.out 2>>"$log"
t "create -b: same 'Formatting' line (size from the backing file)" same_out
t "create -b: qemu-img sees the backing file" is "$(qfield c/back "['backing-filename']")" ../q3.qcow2
t "create -b: reads the backing content" qcmp c/back ref.raw
new; ci create -f qcow2 -b q3.qcow2 nofmt.qcow2; qi create -f qcow2 -b q3.qcow2 nofmt2.qcow2
t "create -b without -F refused like qemu-img" same_rc
new; ci create -f raw nosize; qi create -f raw nosize2
t "create without a size refused like qemu-img" same_rc

# ---- info -------------------------------------------------------------------
qemu-img snapshot -c snap1 q2.qcow2
for img in ref.raw q3.qcow2 q2.qcow2 qtop.qcow2; do
  for o in human json; do
    new; qi info --output=$o "$img"; ci info --output=$o "$img"
    t "info --output=$o $img: same as qemu-img" same_out
  done
done
new; qi info --backing-chain qtop.qcow2; ci info --backing-chain qtop.qcow2
t "info --backing-chain: same as qemu-img" same_out
new; qi info --backing-chain --output=json qtop.qcow2; ci info --backing-chain --output=json qtop.qcow2
t "info --backing-chain --output=json: same as qemu-img" same_out
new; qi info "$dir/qtop.qcow2"; ci info "$dir/qtop.qcow2"
t "info with an absolute path: same (actual path) line" same_out
new; ci info missing.qcow2; qi info missing.qcow2
t "info of a missing file: exit 1" same_rc

# ---- check ------------------------------------------------------------------
# leak.qcow2: an L2 entry cleared (its data cluster leaks);
# bad.qcow2: the refcount of the L2 table set to 0 (a corruption).
qemu-img create -q -f qcow2 leak.qcow2 16M
qemu-io -f qcow2 -c 'write -P 1 0 256k' leak.qcow2 >/dev/null
cp leak.qcow2 bad.qcow2
python3 - leak.qcow2 bad.qcow2 <<'PY'
import struct, sys
def be64(f, off): f.seek(off); return struct.unpack('>Q', f.read(8))[0]
for path, mode in ((sys.argv[1], 'leak'), (sys.argv[2], 'bad')):
    with open(path, 'r+b') as f:
        f.seek(20); cbits = struct.unpack('>I', f.read(4))[0]
        l1 = be64(f, 40)
        l2 = be64(f, l1) & 0x00fffffffffffe00
        if mode == 'leak':
            f.seek(l2); f.write(b'\0' * 8)
        else:
            rt = be64(f, 48)
            rb = be64(f, rt)
            f.seek(rb + 2 * (l2 >> cbits)); f.write(b'\0\0')
PY
for img in q3.qcow2 q2.qcow2 leak.qcow2 bad.qcow2 ref.raw; do
  new; qi check "$img"; ci check "$img"
  t "check $img: exit status $rc_q like qemu-img" same_rc
  t "check $img: same output" same_out
  new; qi check --output=json "$img"; ci check --output=json "$img"
  t "check --output=json $img: same as qemu-img" same_out
done
new; ci check -q leak.qcow2; t "check -q: silent" is "$(cat c.out)" ""
cp leak.qcow2 leak2.qcow2
new; qi check -r leaks leak.qcow2; ci check -r leaks leak2.qcow2
t "check -r leaks: same output as qemu-img" same_out
t "check -r leaks: qemu-img check clean afterwards" qcheck leak2.qcow2

cp bad.qcow2 bad2.qcow2
new; qi check -r all bad.qcow2; ci check -r all bad2.qcow2
t "check -r all: exit $rc_q like qemu-img" same_rc
# qemu-img rebuilds the refcount structure at the end of the file, corral
# repairs it in place: the image end offset may differ, nothing else.
same_but_end() { diff -u <(grep -v "^Image end offset" q.out) <(grep -v "^Image end offset" c.out) >>"$log"; }
t "check -r all: same output as qemu-img (but the end offset)" same_but_end
t "check -r all: qemu-img check clean afterwards" qcheck bad2.qcow2

# ---- dirty and corrupt images -----------------------------------------------
# dirty.qcow2: lazy refcounts, left dirty with a leaked cluster (as a killed
# writer may leave it); corrupt.qcow2: marked corrupt.
qemu-img create -q -f qcow2 -o lazy_refcounts=on,cluster_size=4k dirty.qcow2 16M
qemu-io -f qcow2 -c 'write -P 7 0 256k' dirty.qcow2 >/dev/null
cp dirty.qcow2 corrupt.qcow2
python3 - dirty.qcow2 corrupt.qcow2 <<'PY'
import struct, sys
def be64(f, off): f.seek(off); return struct.unpack('>Q', f.read(8))[0]
for path, bit in ((sys.argv[1], 1), (sys.argv[2], 2)):
    with open(path, 'r+b') as f:
        f.seek(72); f.write(struct.pack('>Q', bit))
        if bit == 1:
            l2 = be64(f, be64(f, 40)) & 0x00fffffffffffe00
            f.seek(l2 + 8 * 63); f.write(b'\0' * 8)
PY
for img in dirty.qcow2 corrupt.qcow2; do
  new; qi info "$img"; ci info "$img"
  t "info $img: same as qemu-img" same_out
  new; qi info --output=json "$img"; ci info --output=json "$img"
  t "info --output=json $img: same as qemu-img" same_out
  new; qi check "$img"; ci check "$img"
  t "check $img: exit $rc_q and output like qemu-img" eval 'same_rc && same_out'
done
cp dirty.qcow2 dirty2.qcow2
new; qi check -r leaks dirty.qcow2; ci check -r leaks dirty2.qcow2
t "check -r leaks of a dirty image: same output as qemu-img" same_out
t "check -r leaks: the dirty flag is gone" is "$(qfield dirty2.qcow2 "['dirty-flag']")" False
new; ci resize corrupt.qcow2 +1M
t "resize of a corrupt image: refused, says why" eval '[ "$rc_c" -eq 1 ] && grep -q "marked corrupt" "$log"'
new; ci convert -O raw corrupt.qcow2 corrupt.raw
t "a corrupt image still opens read-only (convert reads it)" \
  eval 'same_rc_as 0 && qcmp corrupt.raw corrupt.qcow2'
cp dirty2.qcow2 dirty3.qcow2
python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(72); f.write(b'\0'*7+b'\1')" dirty3.qcow2
new; ci resize dirty3.qcow2 +1M
t "resize of a dirty image: repaired first, one line on stderr" \
  eval '[ "$rc_c" -eq 0 ] && [ "$(grep -c "not closed cleanly" "$log")" -eq 1 ]'
t "resize of a dirty image: qemu-img check clean, flag gone" \
  eval 'qcheck dirty3.qcow2 && is "$(qfield dirty3.qcow2 "[\"dirty-flag\"]")" False'

# ---- compare ----------------------------------------------------------------
cp ref.raw diff.raw
qemu-io -f raw -c 'write -P 0x99 40000k 1' diff.raw >/dev/null
qemu-img create -q -f raw short.raw 32M
for pair in "q3.qcow2 ref.raw" "q2.qcow2 q3.qcow2" "ref.raw diff.raw" "qtop.qcow2 top-ref.raw" \
            "qtop.qcow2 ref.raw" "short.raw ref.raw" "missing.raw ref.raw"; do
  for s in "" -s; do
    new; qi compare $s $pair; ci compare $s $pair
    t "compare $s $pair: exit $rc_q like qemu-img" same_rc
    [ "$rc_q" -ne 2 ] && t "compare $s $pair: same output" same_out
  done
done

# A large sparse pair: block status keeps this from reading 20 GiB.
qemu-img create -q -f qcow2 sparse.qcow2 20G
qemu-io -f qcow2 -c 'write -P 1 5G 1M' sparse.qcow2 >/dev/null
qemu-img convert -O raw sparse.qcow2 sparse.raw
qemu-io -f raw -c 'write -P 2 15G 512' sparse.raw >/dev/null
new; qi compare sparse.qcow2 sparse.raw; ci compare sparse.qcow2 sparse.raw
t "compare of 20 GiB sparse images: same mismatch offset as qemu-img" same_out

# ---- map --------------------------------------------------------------------
for img in ref.raw q3.qcow2 q2.qcow2 qtop.qcow2; do
  for o in json human; do
    new; qi map --output=$o "$img"; ci map --output=$o "$img"
    t "map --output=$o $img: same as qemu-img" same_out
  done
done

# ---- convert ----------------------------------------------------------------
new; run "$I" convert -f qcow2 -O raw q3.qcow2 out.raw
t "convert qcow2 -> raw: qemu-img compare equal" qcmp out.raw ref.raw
new; run "$I" convert -O qcow2 out.raw out.qcow2
t "convert raw -> qcow2: qemu-img check clean" qcheck out.qcow2
t "convert raw -> qcow2: qemu-img compare equal" qcmp out.qcow2 ref.raw
new; run "$I" convert -O qcow2 -o compat=0.10,cluster_size=512 qtop.qcow2 flat.qcow2
t "convert chain -> qcow2 v2 512 B clusters: check clean" qcheck flat.qcow2
t "convert chain -> qcow2 v2 512 B clusters: compare equal" qcmp flat.qcow2 top-ref.raw
new; run "$I" convert -c -O qcow2 ref.raw comp.qcow2
t "convert -c: qemu-img check clean" qcheck comp.qcow2
t "convert -c: qemu-img compare equal" qcmp comp.qcow2 ref.raw
t "convert -c: has compressed clusters" grep -q '"compressed-clusters"' <(qemu-img check --output=json comp.qcow2)
new; run "$I" convert -O qcow2 -B q3.qcow2 -F qcow2 top-ref.raw delta.qcow2
t "convert -B: check clean" qcheck delta.qcow2
t "convert -B: compare equal" qcmp delta.qcow2 top-ref.raw
t "convert -B: only the differences are stored" \
  test "$(qfield delta.qcow2 "['actual-size']")" -lt 1000000
new; run "$I" convert -O raw short.raw q3.qcow2 cat.raw
t "convert of two images concatenates them" is "$(qfield cat.raw "['virtual-size']")" $((96 << 20))
new; qemu-img create -q -f qcow2 pre.qcow2 64M; run "$I" convert -n ref.raw pre.qcow2
t "convert -n into an existing qcow2: compare equal" qcmp pre.qcow2 ref.raw
new; ci convert -p -O raw q3.qcow2 p.raw
t "convert -p prints progress" grep -q "100.00/100%" c.out

# ---- resize -----------------------------------------------------------------
for spec in "raw 16M +16M 33554432" "qcow2 16M 1G 1073741824" "qcow2 16M +100k 16879616"; do
  read -r f s arg want <<<"$spec"
  new; qemu-img create -q -f "$f" rs.img "$s"; ci resize rs.img "$arg"
  t "resize $f $s to $arg: 'Image resized.'" grep -qx "Image resized." c.out
  t "resize $f $s to $arg: qemu-img sees $want" is "$(qfield rs.img "['virtual-size']")" "$want"
  [ "$f" = qcow2 ] && t "resize $f $s to $arg: check clean" qcheck rs.img
done
new; qemu-img create -q -f raw rs.img 16M; ci resize rs.img -- -1M; qi resize -f raw rs.img -- -1M
t "resize to a smaller size without --shrink: refused like qemu-img" same_rc
new; ci resize --shrink rs.img 8M
t "resize --shrink raw: qemu-img sees 8M" is "$(qfield rs.img "['virtual-size']")" 8388608

# ---- rebase -----------------------------------------------------------------
cp ref.raw base2.raw
qemu-io -f raw -c 'write -P 0x77 10M 1M' base2.raw >/dev/null
cp qtop.qcow2 rb-u.qcow2
new; ci rebase -u -b base2.raw -F raw rb-u.qcow2
t "rebase -u: qemu-img info shows the new backing file" is "$(qfield rb-u.qcow2 "['backing-filename']")" base2.raw
t "rebase -u: and its format" is "$(qfield rb-u.qcow2 "['backing-filename-format']")" raw
t "rebase -u: check clean" qcheck rb-u.qcow2
cp qtop.qcow2 rb.qcow2
new; ci rebase -b base2.raw -F raw rb.qcow2
t "rebase (safe): new backing recorded" is "$(qfield rb.qcow2 "['backing-filename']")" base2.raw
t "rebase (safe): content unchanged" qcmp rb.qcow2 top-ref.raw
t "rebase (safe): check clean" qcheck rb.qcow2
cp qtop.qcow2 rb0.qcow2
new; ci rebase -b "" rb0.qcow2
t "rebase -b '': standalone image with the same content" qcmp rb0.qcow2 top-ref.raw

# ---- commit -----------------------------------------------------------------
cp q3.qcow2 cbase.qcow2
qemu-img create -q -f qcow2 -b cbase.qcow2 -F qcow2 ctop.qcow2
qemu-io -f qcow2 -c 'write -P 0x55 1M 64k' -c 'write -z 3M 64k' ctop.qcow2 >/dev/null
new; ci commit ctop.qcow2
t "commit: 'Image committed.'" grep -qx "Image committed." c.out
t "commit: the backing file has the top's content" qcmp cbase.qcow2 top-ref.raw
t "commit: the top still reads the same" qcmp ctop.qcow2 top-ref.raw
t "commit: the top is empty afterwards" is "$(qemu-img map --output=json ctop.qcow2 | grep -c '"depth": 0, "present": true')" 0
t "commit: backing check clean" qcheck cbase.qcow2
t "commit: top check clean" qcheck ctop.qcow2

# ---- snapshot ---------------------------------------------------------------
qemu-img snapshot -c second q2.qcow2
new; qi snapshot -l q2.qcow2; ci snapshot -l q2.qcow2
t "snapshot -l on a qemu-made image: same as qemu-img" same_out
cp q3.qcow2 sn.qcow2
new; ci snapshot -c before sn.qcow2
run qemu-io -f qcow2 -c 'write -P 0xee 0 1M' sn.qcow2
t "snapshot -c: qemu-img lists it" grep -q before <(qemu-img snapshot -l sn.qcow2)
t "snapshot -c: check clean" qcheck sn.qcow2
new; ci snapshot -a before sn.qcow2
t "snapshot -a: content reverted" qcmp sn.qcow2 ref.raw
new; ci snapshot -d before sn.qcow2
t "snapshot -d: gone from qemu-img's list" is "$(qemu-img snapshot -l sn.qcow2)" ""
t "snapshot -d: check clean" qcheck sn.qcow2
new; ci snapshot -l ref.raw; qi snapshot -l ref.raw
t "snapshot -l on raw: exit $rc_q like qemu-img" same_rc

# ---- bench ------------------------------------------------------------------
# The summary lines (all but the timing) and exit status match qemu-img's for
# each set of qemu-img's options; the image is a copy per run, for -w.
summary() { grep -v "^Run completed in" "$1"; }
bench_same() {
  local name=$1
  shift
  cp q3.qcow2 bq.qcow2; cp q3.qcow2 bc.qcow2
  new; qi bench "$@" bq.qcow2; ci bench "$@" bc.qcow2
  t "bench $name: exit $rc_q and summary like qemu-img" \
    eval 'same_rc && diff <(summary q.out) <(summary c.out) >>"$log"'
  if [ "$rc_q" -eq 0 ]; then
    t "bench $name: 'Run completed in'" grep -q "^Run completed in [0-9]*\.[0-9][0-9][0-9] seconds\.$" c.out
  fi
}
bench_same "(read)" -c 2000 -s 4k
bench_same "-d -o -S -s" -c 100 -d 4 -o 4096 -S 8192 -s 1k
bench_same "-w --pattern --flush-interval" -w -c 40 -d 8 --pattern=0x5a --flush-interval=8
bench_same "--no-drain" -w -c 40 -d 2 --flush-interval=4 --no-drain
bench_same "-t none -n" -c 50 -t none -n
bench_same "-t directsync -i io_uring" -w -c 20 -t directsync -i io_uring
bench_same "-t writethrough" -w -c 20 -d 2 -t writethrough
bench_same "-t unsafe -i threads" -w -c 20 -t unsafe -i threads
bench_same "-U" -c 20 -U
bench_same "-U -w" -w -c 20 -U
bench_same "-q -f qcow2" -q -f qcow2 -c 10
bench_same "-c 0" -c 0
bench_same "-s 1.5k (unaligned)" -c 30 -s 1.5k -S 3000
bench_same "-c abc" -c abc
bench_same "-s -1" -s -1
bench_same "-t bogus" -t bogus
bench_same "-i bogus" -i bogus
bench_same "--pattern=256" --pattern=256
bench_same "read with --flush-interval" --flush-interval=64
bench_same "--flush-interval below -d" -w --flush-interval=3 -d 4
bench_same "-n without O_DIRECT" -n -c 1
bench_same "-f bogus" -f bogus -c 1
# qemu-img 7.2 loops forever on -d 0; corral refuses it.
new; ci bench -d 0 -c 1 q3.qcow2
t "bench -d 0: one clear error" eval '[ "$rc_c" = 1 ] && grep -q "Invalid queue depth specified" "$log"'
new; ci bench --image-opts -c 1 q3.qcow2
t "bench --image-opts: one clear error" eval '[ "$rc_c" = 1 ] && grep -q "image-opts is not supported" "$log"'

# Writes land: the same write run (sequential, and a scattered walk with a
# step coprime with the number of blocks, 16 in flight) through both tools
# leaves identical images, with the pattern where it should be.
for mode in writeback none; do
  cp q3.qcow2 wq.qcow2; cp q3.qcow2 wc.qcow2
  new
  run qemu-img bench -w -c 300 -s 64k -S 128k -d 16 --pattern=7 -t $mode wq.qcow2
  ci bench -w -c 300 -s 64k -S 128k -d 16 --pattern=7 -t $mode wc.qcow2
  t "bench -w -t $mode: the pattern was written" run qemu-io -f qcow2 -c 'read -P 7 128k 64k' wc.qcow2
  run qemu-img bench -w -c 3000 -s 4k -S $((4096 * 4099)) -d 16 --pattern=9 -t $mode wq.qcow2
  ci bench -w -c 3000 -s 4k -S $((4096 * 4099)) -d 16 --pattern=9 -t $mode wc.qcow2
  t "bench -w -d 16 -t $mode: check clean" qcheck wc.qcow2
  t "bench -w -d 16 -t $mode: same content as qemu-img's run" qcmp wq.qcow2 wc.qcow2
  t "bench -w -d 16 -t $mode: the pattern was written" \
    run qemu-io -f qcow2 -c "read -P 9 $((4096 * 4099)) 4k" wc.qcow2
done
cp ref.raw wr.raw
new; ci bench -w -f raw -c 3000 -s 4k -S $((4096 * 4099)) -d 32 --pattern=3 -t none wr.raw
cp ref.raw wq.raw
run qemu-img bench -w -f raw -c 3000 -s 4k -S $((4096 * 4099)) -d 32 --pattern=3 -t none wq.raw
t "bench -w -d 32 on raw: same content as qemu-img's run" qcmp -f raw -F raw wq.raw wr.raw
new; ci bench --random -c 1000 -o 1M -d 16 q3.qcow2
t "bench --random: runs" grep -q "Run completed" c.out
cp q3.qcow2 rw.qcow2
new; ci bench --random -w -c 2000 -s 8k -d 16 --pattern=0x42 rw.qcow2
t "bench --random -w: check clean" qcheck rw.qcow2

# ---- options of every command, against qemu-img's ---------------------------
. "$here/options.sh"

echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
