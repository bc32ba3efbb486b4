#!/bin/bash
# The crash test: a writer (tests/block/crashtool) doing random writes,
# write-zeroes, discards and flushes on a qcow2 image is killed with SIGKILL
# at a random moment, many times, over several image shapes (cluster sizes
# 512 B to 64 KiB, v2 and v3, lazy refcounts, a backing file, internal
# snapshots taken before).  Every other kill comes after a random delay; the
# others right after the writer's Nth pwrite, for a random N (killshim.so,
# preloaded), so that every boundary between two metadata writes is as
# likely to be hit as any other.  After each kill:
#   - qemu-img check finds no corruption (exit 0, or 3: leaks only), and
#     corral-img check reports exactly the same;
#   - every write acknowledged before the last journalled flush reads back,
#     through corral and through qemu-img (convert -O raw), and every other
#     sector holds either its old content or what a later write put there;
#   - corral-img check -r leaks leaves the image clean (and not dirty), with
#     the same content.
# The images live in tmpfs where there is one: a killed process loses
# nothing there that it would not lose on a disk, and with no time spent in
# fdatasync the kills land evenly between the metadata writes.
# TAP output; each line names its seeds.  Usage: crash.sh BUILD_DIR
# CRASH_SEED=N repeats a run (the writer's timing still varies), CRASH_ITERS=N,
# CRASH_DIR=DIR puts the images there (default /dev/shm, else $TMPDIR).
set -u
B=$(realpath "${1:?usage: crash.sh BUILD_DIR}")
T=$B/tests/block/crashtool
shim=$B/tests/block/libkillshim.so
I=$B/src/img/corral-img
. "$(dirname "$0")/../vmm/lib.sh"
dir=$(mktemp -d -p "${CRASH_DIR:-/dev/shm}" 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
log=$dir/log
export LC_ALL=C

if ! command -v qemu-img >/dev/null; then
  skip "crash test" "qemu-img is not installed"
  echo "1..$tap_n"
  exit 0
fi

seed0=${CRASH_SEED:-$((RANDOM << 15 | RANDOM))}
iters=${CRASH_ITERS:-40}
echo "# CRASH_SEED=$seed0"
RANDOM=$seed0   # the kill delays too

# cluster size, compat, lazy refcounts, backing file, snapshots
configs=("512 3 0 0 0" "4096 3 0 1 1" "65536 3 0 1 2" "512 3 1 1 1"
         "4096 2 0 0 1" "4096 3 1 0 0" "512 2 0 1 2" "65536 3 1 0 1")

describe() {  # describe CLUSTER COMPAT LAZY BACKING SNAPSHOTS
  echo "cluster $1, v$2$([ "$3" = 1 ] && echo ", lazy refcounts")$([ "$4" = 1 ] && echo ", backing file"), $5 snapshots"
}

# One prepared image per shape; each iteration works on a copy.
for n in "${!configs[@]}"; do
  mkdir -p "prep$n"
  if ! "$T" prepare "prep$n/img.qcow2" $((seed0 + n)) ${configs[n]} 2>"$log"; then
    echo "Bail out! crashtool prepare failed: $(cat "$log")"
    exit 1
  fi
done

# dirty COMPAT: the image's dirty bit (incompatible feature bit 0, in byte 79
# of a v3 header) is set.
dirty() { [ "$1" = 3 ] && [ $(($(od -An -j79 -N1 -tu1 w/img.qcow2) & 1)) -ne 0 ]; }

iteration() {
  local i=$1 n=$(($1 % ${#configs[@]}))
  local pseed=$((seed0 + n)) wseed=$((seed0 * 1000 + i)) cfg=(${configs[n]})
  local ms=$((10 + RANDOM % 240)) nw=$((1 + (RANDOM << 15 | RANDOM) % 20000)) rc q c out
  rm -rf w && mkdir w && cp --sparse=always prep$n/* w/
  what="$(describe ${configs[n]}), seeds $pseed/$wseed"
  if (((i + i / ${#configs[@]}) % 2)); then   # each shape gets both kinds
    what="$what, killed after $nw writes"
    { LD_PRELOAD=$shim CRASH_KILL_AFTER=$nw "$T" write w/img.qcow2 $pseed $wseed w/journal; } \
      2>>"$log"
    rc=$?
  else
    what="$what, killed after $ms ms"
    "$T" write w/img.qcow2 $pseed $wseed w/journal 2>>"$log" &
    local pid=$!
    sleep "$(printf '0.%03d' $ms)"
    kill -KILL $pid 2>/dev/null
    { wait $pid; } 2>/dev/null
    rc=$?
  fi
  [ $rc -eq 137 ] || { why="the writer exited with $rc before it was killed"; return 1; }
  # (qemu-img lists every leaked cluster on stderr: only the rest is kept.)
  q=$(qemu-img check --output=json w/img.qcow2 2>w/check.err)
  rc=$?
  grep -v "^Leaked cluster" w/check.err >>"$log"
  [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || { why="qemu-img check: exit $rc: $(tr -d ' \n' <<<"$q")"; return 1; }
  c=$("$I" check --output=json w/img.qcow2 2>>"$log")
  [ $? -eq "$rc" ] && [ "$q" = "$c" ] ||
    { why="check results differ: qemu-img $(tr -d ' \n' <<<"$q"), corral-img $(tr -d ' \n' <<<"$c")"; return 1; }
  qemu-img convert -O raw w/img.qcow2 w/img.raw 2>>"$log" || { why="qemu-img convert failed"; return 1; }
  out=$("$T" verify w/img.qcow2 $pseed $wseed w/journal w/img.raw 2>&1) ||
    { why="verify: $out"; return 1; }
  dirty "${cfg[1]}" && what="$what, left dirty"
  "$I" check -q -r leaks w/img.qcow2 >>"$log" 2>&1 || { why="check -r leaks: exit $?"; return 1; }
  qemu-img check w/img.qcow2 >>"$log" 2>&1 || { why="qemu-img check after the repair: exit $?"; return 1; }
  ! dirty "${cfg[1]}" || { why="still dirty after the repair"; return 1; }
  "$T" verify w/img.qcow2 $pseed $wseed w/journal >>"$log" 2>&1 || { why="content changed by the repair"; return 1; }
  local leaks=$(sed -n 's/^ *"leaks": \([0-9]*\).*/\1/p' <<<"$q")
  what="$what: $out, ${leaks:-0} leaked clusters"
}

start=$SECONDS
for ((i = 0; i < iters; i++)); do
  : >"$log"
  why=""
  if iteration $i; then
    ok "$what"
  else
    not_ok "$what"
    echo "#   $why"
    diag "$log" 10
  fi
done
echo "# $iters kills in $((SECONDS - start)) s"
echo "1..$tap_n"
[ "$tap_failed" -eq 0 ]
