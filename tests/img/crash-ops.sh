#!/bin/bash
# The crash test of corral-img's metadata-changing commands: snapshot -c,
# -a and -d, commit, resize (grow and shrink), rebase (safe and -u) and
# check -r all, each
# killed with SIGKILL right after its Nth write to an image (killshim.so,
# preloaded; N drawn among the writes an uninterrupted run makes), on v3, v2
# and lazy-refcount images with a backing file and internal snapshots.
# After each kill:
#   - qemu-img check finds at most leaks, and corral-img check the same;
#     or the image is marked dirty (v3: an operation was walking its
#     references), which QEMU and corral repair when they open it
#     read-write: `corral-img check -r all` must then leave at most leaks;
#     on a v2 image (no dirty bit) the same repair is accepted for the
#     snapshot commands, whose COPIED flags cannot follow their references
#     in one write (docs/img.md);
#   - after `check -r leaks` qemu-img finds nothing and the image is clean;
#   - the active disk reads as before the command or as after it (an
#     uninterrupted run on a copy), every snapshot left reads as before,
#     and the snapshot list is the one before or the one after.
# TAP; each line names its seed.  Usage: crash-ops.sh BUILD_DIR
# CRASH_SEED=N repeats a run, CRASH_OPS_ITERS=N kills per command and shape
# (default 2: 54 kills; `make check-long` runs 12: 324).
set -u
B=$(realpath "${1:?usage: crash-ops.sh BUILD_DIR}")
shim=$B/tests/block/libkillshim.so
I=$B/src/img/corral-img
. "$(dirname "$0")/../vmm/lib.sh"
dir=$(mktemp -d -p "${CRASH_DIR:-/dev/shm}" 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
log=$dir/log
export LC_ALL=C

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
  skip "crash test of the image commands" "qemu-img/qemu-io are not installed"
  echo "1..$tap_n"
  exit 0
fi
seed0=${CRASH_SEED:-$((RANDOM << 15 | RANDOM))}
iters=${CRASH_OPS_ITERS:-2}
echo "# CRASH_SEED=$seed0"
RANDOM=$seed0

# compat, cluster size, lazy refcounts
shapes=("1.1 4096 off" "0.10 4096 off" "1.1 65536 on")
# name|command (run in the image's directory; img.qcow2 is the image)
ops=("snapshot -c|snapshot -c s3 img.qcow2"
     "snapshot -d|snapshot -d s1 img.qcow2"
     "snapshot -a|snapshot -a s1 img.qcow2"
     "commit|commit img.qcow2"
     "resize grow|resize img.qcow2 +3M"
     "resize shrink|resize --shrink img.qcow2 3670016"
     "rebase|rebase -F qcow2 -b base2.qcow2 img.qcow2"
     "rebase -u|rebase -u -F qcow2 -b base2.qcow2 img.qcow2"
     "check -r all|check -q -r all img.qcow2")

# prepare DIR "SHAPE": base.qcow2 (and base2.qcow2, the same data with one
# range changed) under img.qcow2, which holds data, snapshots s1 and s2
# (each followed by more writes) and, for `check -r all`, leaked clusters.
prepare() {
  local d=$1 compat cs lazy o
  read -r compat cs lazy <<<"$2"
  o="compat=$compat,cluster_size=$cs"
  [ "$lazy" = on ] && o="$o,lazy_refcounts=on"
  mkdir -p "$d" && cd "$d" || return 1
  qemu-img create -q -f qcow2 -o "$o" base.qcow2 4M &&
    qemu-io -c 'write -P 0x11 0 4M' base.qcow2 &&
    qemu-img create -q -f qcow2 -o "$o" base2.qcow2 4M &&
    qemu-io -c 'write -P 0x11 0 4M' -c 'write -P 0x12 1M 256k' base2.qcow2 &&
    qemu-img create -q -f qcow2 -o "$o" -b base.qcow2 -F qcow2 img.qcow2 &&
    qemu-io -c 'write -P 0x21 64k 640k' -c 'write -P 0x22 2M 96k' img.qcow2 &&
    qemu-img snapshot -c s1 img.qcow2 &&
    qemu-io -c 'write -P 0x31 128k 128k' -c 'write -z 2M 32k' img.qcow2 &&
    qemu-img snapshot -c s2 img.qcow2 &&
    qemu-io -c 'write -P 0x41 3M 300k' -c 'discard 64k 64k' img.qcow2 || return 1
  cd - >/dev/null
} >/dev/null 2>>"$log"

# state DIR OUT: OUT.raw (the active disk), OUT.list (the snapshot names)
# and OUT.SNAP.raw for each snapshot.
state() {
  local s
  qemu-img convert -U -O raw "$1/img.qcow2" "$2.raw" || return 1
  qemu-img snapshot -U -l "$1/img.qcow2" | awk 'NR > 2 {print $2}' >"$2.list"
  for s in $(cat "$2.list"); do
    qemu-img convert -U -l "snapshot.name=$s" -O raw "$1/img.qcow2" "$2.$s.raw" || return 1
  done
} 2>>"$log"

# dirty DIR: the image's dirty bit (incompatible feature bit 0, byte 79 of a
# v3 header) is set.
dirty() { [ "$v2" = 0 ] && [ $(($(od -An -j79 -N1 -tu1 "$1/img.qcow2") & 1)) -ne 0 ]; }

# checked DIR FILE: qemu-img check of FILE finds at most leaks and
# corral-img check the same, and `check -r leaks` leaves it clean.  A dirty
# image (v3: an operation was walking its references) is repaired as QEMU
# and corral do when they open it read-write, with `check -r all`, and may
# show COPIED flags that disagree with refcounts before that; so may a v2
# image (no dirty bit) after a snapshot command.  Sets $note.
checked() {
  local q c rc mode=leaks
  if [ "$2" = img.qcow2 ] && dirty "$1"; then mode=all note="$note, left dirty"
  elif [ "$2" = img.qcow2 ] && [ "$v2" = 1 ] && [ "${op%% *}" = snapshot ]; then mode=all
  fi
  q=$(cd "$1" && qemu-img check -U --output=json "$2" 2>check.err); rc=$?
  grep -v "^Leaked cluster" "$1/check.err" >>"$log"
  if [ $rc -eq 2 ] && [ $mode = all ]; then
    [ "$v2" = 1 ] && note="$note, v2 flags repaired"
  elif [ $rc -eq 0 ] || [ $rc -eq 3 ]; then
    c=$(cd "$1" && "$I" check --output=json "$2" 2>>"$log")
    [ $? -eq $rc ] && [ "$q" = "$c" ] ||
      { why="check results of $2 differ: qemu-img $(tr -d ' \n' <<<"$q"), corral-img $(tr -d ' \n' <<<"$c")"; return 1; }
  else
    why="qemu-img check $2: exit $rc: $(tr -d ' \n' <<<"$q")"; return 1
  fi
  (cd "$1" && "$I" check -q -r $mode "$2") >>"$log" 2>&1 || { why="check -r $mode $2: exit $?"; return 1; }
  (cd "$1" && qemu-img check "$2") >>"$log" 2>&1 || { why="qemu-img check $2 after the repair: exit $?"; return 1; }
  ! { [ "$2" = img.qcow2 ] && dirty "$1"; } || { why="still dirty after the repair"; return 1; }
}

# One prepared directory per shape, and per command the state after an
# uninterrupted run and the number of writes it makes.
for n in "${!shapes[@]}"; do
  p=prep$n
  prepare "$dir/$p/d" "${shapes[n]}" || { echo "Bail out! cannot prepare ${shapes[n]}: $(tail -3 "$log")"; exit 1; }
  state $p/d $p/before || { echo "Bail out! qemu-img cannot read $p"; exit 1; }
  for k in "${!ops[@]}"; do
    rm -rf w && cp -a $p/d w
    # check -r all needs something to repair: a leaked cluster.
    [ "${ops[k]%%|*}" = "check -r all" ] && python3 - w/img.qcow2 <<-'PY'
	import struct, sys
	f = open(sys.argv[1], "r+b")
	h = f.read(104)
	cs = 1 << struct.unpack(">I", h[20:24])[0]
	rt = struct.unpack(">Q", h[48:56])[0]
	f.seek(rt); rb = struct.unpack(">Q", f.read(8))[0] & ~0x1ff
	f.seek(0, 2); end = f.tell() // cs
	f.truncate((end + 1) * cs)
	f.seek(rb + 2 * end); f.write(struct.pack(">H", 1))   # counted, used by nothing
	PY
    cp w/img.qcow2 $p/img.$k
    (cd w && CRASH_COUNT=$dir/count LD_PRELOAD=$shim "$I" ${ops[k]#*|}) >>"$log" 2>&1 ||
      { echo "Bail out! ${ops[k]#*|} failed on ${shapes[n]}: $(tail -3 "$log")"; exit 1; }
    [ "$(cat count)" -gt 0 ] || { echo "Bail out! ${ops[k]#*|} wrote nothing"; exit 1; }
    cp count $p/writes.$k
    state w $p/after.$k || { echo "Bail out! qemu-img cannot read the result of ${ops[k]#*|}"; exit 1; }
  done
done

describe() {  # describe COMPAT CLUSTER LAZY
  echo "v$([ "$1" = 1.1 ] && echo 3 || echo 2), cluster $2$([ "$3" = on ] && echo ", lazy refcounts")"
}

iteration() {  # iteration SHAPE OP
  local n=$1 k=$2 writes nw rc s
  op=${ops[k]%%|*}
  v2=0; [ "${shapes[n]%% *}" = 0.10 ] && v2=1
  writes=$(cat "prep$n/writes.$k")
  nw=$((1 + (RANDOM << 15 | RANDOM) % writes))
  what="$op, $(describe ${shapes[n]}), killed after write $nw of $writes (seed $seed0)"
  note=""
  rm -rf w && cp -a "prep$n/d" w && cp "prep$n/img.$k" w/img.qcow2
  { (cd w && CRASH_KILL_AFTER=$nw LD_PRELOAD=$shim "$I" ${ops[k]#*|}) >>"$log" 2>&1; } 2>/dev/null
  rc=$?
  [ $rc -eq 137 ] || { why="the command exited with $rc before it was killed"; return 1; }
  rm -f w/img.qcow2.commit-*   # a killed commit's unfinished new overlay (never renamed into place)
  checked w base.qcow2 && checked w img.qcow2 || return 1
  state w w/now || { why="qemu-img cannot read the image"; return 1; }
  if cmp -s w/now.raw "prep$n/before.raw"; then note="$note, reads as before"
  elif cmp -s w/now.raw "prep$n/after.$k.raw"; then note="$note, reads as after"
  else why="the disk reads as neither before nor after the command"; return 1
  fi
  cmp -s w/now.list "prep$n/before.list" || cmp -s w/now.list "prep$n/after.$k.list" ||
    { why="snapshots: $(tr '\n' ' ' <w/now.list), neither the list before nor after"; return 1; }
  what="$what$note"
  # commit and rebase change what the backing chain reads, and so what a
  # snapshot reads wherever it has no data of its own: by design, not by the kill.
  case $op in commit | rebase*) return 0 ;; esac
  for s in $(cat w/now.list); do
    cmp -s "w/now.$s.raw" "prep$n/before.$s.raw" || cmp -s "w/now.$s.raw" "prep$n/after.$k.$s.raw" ||
      { why="snapshot $s reads differently"; return 1; }
  done
}

start=$SECONDS
for ((i = 0; i < iters; i++)); do
  for n in "${!shapes[@]}"; do
    for k in "${!ops[@]}"; do
      : >"$log"
      why=""
      if iteration "$n" "$k"; then
        ok "$what"
      else
        not_ok "$what"
        echo "#   $why"
        diag "$log" 10
      fi
    done
  done
done
echo "# $((iters * ${#shapes[@]} * ${#ops[@]})) kills in $((SECONDS - start)) s"
echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
