# Shared by the corral-vmm end-to-end tests: TAP output and a way to run the
# VMM with a deadline and capture what it printed.  Sourced, not run.

tap_n=0
tap_failed=0

ok() {
  tap_n=$((tap_n + 1))
  echo "ok $tap_n - $*"
}

not_ok() {
  tap_n=$((tap_n + 1))
  tap_failed=$((tap_failed + 1))
  echo "not ok $tap_n - $*"
}

skip() {
  tap_n=$((tap_n + 1))
  echo "ok $tap_n - $1 # SKIP $2"
}

# Prints a file's last lines as TAP diagnostics.
diag() {
  [ -f "$1" ] && tail -n "${2:-15}" "$1" | tr -d '\r' | sed 's/^/#   /'
  return 0
}

# vmm OUT TIMEOUT ARGS...: runs corral-vmm with stdin from $VMM_STDIN (default
# /dev/null); stdout+stderr go to OUT; sets $rc to its exit status.
vmm() {
  local out=$1 t=$2
  shift 2
  rc=0
  timeout -k 5 "$t" "$VMM" "$@" <"${VMM_STDIN:-/dev/null}" >"$out" 2>&1 || rc=$?
}

# The nested L1 runs KVM on QEMU's emulated SVM (svm without nrip_save in
# /proc/cpuinfo), where now and then a guest dies in a triple fault that is
# the emulator's, not the guest's or corral-vmm's: about one Linux boot in 40,
# more often around a live migration, QEMU's own guests too (docs/nested-kvm.md,
# "Rare guest failures").  There a run that ends so is tried once more and
# the TAP output says so; anywhere else a triple fault fails the test at once.
emulated_svm() { grep -qw svm /proc/cpuinfo && ! grep -qw nrip_save /proc/cpuinfo; }
# emulator_fault LOG...: one of these VMM logs shows the emulated SVM's triple fault.
emulator_fault() { emulated_svm && grep -qa "triple-faulted" "$@" 2>/dev/null; }
# emulator_retry "LOG..." CMD ARGS...: CMD, and once more if it hit emulator_fault
# (the first attempt's logs kept as LOG.fault).
emulator_retry() {
  local logs=($1) f
  shift
  "$@"
  emulator_fault "${logs[@]}" || return 0
  echo "# $1 ${2:-}: a VMM ended in the emulated SVM's triple fault ($(grep -ah -m1 'rip=' "${logs[@]}" 2>/dev/null | head -1 | head -c 80)); once more"
  for f in "${logs[@]}"; do [ -e "$f" ] && mv "$f" "$f.fault"; done
  "$@"
}

# check NAME COND...: one TAP line from a shell condition; on failure shows $log.
check() {
  local name=$1
  shift
  if "$@"; then
    ok "$name"
  else
    not_ok "$name"
    echo "#   failed: $*; exit status $rc"
    diag "$log"
  fi
}

has() { grep -qa -- "$1" "$log"; }
status_is() { [ "$rc" -eq "$1" ]; }

# Waits until a file exists (a socket, a pid file), up to $2 seconds.
wait_for() {
  local i
  for ((i = 0; i < ${2:-10} * 10; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# api SOCK JSON: one request, prints the response line.
api() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
try:
    s.connect(sys.argv[1])
except OSError as e:   # the VMM has gone: one line, not a traceback
    sys.exit(f"api: {sys.argv[1]}: {e.strerror}")
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode().strip())
PY
}

# json_get JSON PATH: a field of a response ("result.state").
json_get() {
  python3 -c 'import json,sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) else v)' "$1" "$2" 2>/dev/null
}
