# Helpers shared by the end-to-end scripts that run corrald (source it).

# TAP: ok DESC; nok DESC [DETAIL]; skip DESC WHY; check DESC COMMAND... (ok
# if it succeeds).  $n counts the lines, $failed the failures.
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "#   $2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else nok "$d" "command: $*"; fi; }

# corrald_wait SOCK: until a corrald answers on SOCK (10 s at most).
corrald_wait() {
  for _ in $(seq 100); do curl -s --unix-socket "$1" http://x/api/v1 >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# corrald_start [ARGS...]: corrald from $B with state $T/state and socket
# $SOCK (plus ARGS: --listen, --admin-password-file, ...), its stderr
# appended to $T/log, its pid in $PID; true once it answers on $SOCK.
corrald_start() {
  "$B/corrald" --state-dir "$T/state" --socket "$SOCK" "$@" 2>>"$T/log" &
  PID=$!
  corrald_wait "$SOCK"
}

# sock METHOD PATH [BODY [curl args...]]: as root over $SOCK; prints the
# status, the body is in $T/body.
sock() {
  local m=$1 p=$2 body=${3:-}; shift 3 2>/dev/null || shift $#
  curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" \
    ${body:+-H 'Content-Type: application/json' --data-binary "$body"} "$@" "http://x$p"
}

# free_port: a free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# shell_guest SRC ASSETS DIR OUT: builds a busybox shell initramfs (OUT) for
# Debian's cloud kernel in ASSETS (scripts/mkguest.sh, which `make demo`
# uses too).  DIR (scratch space) is unused: mkguest.sh has its own.
shell_guest() {
  "$1/scripts/mkguest.sh" "$2" "$4" >&2
}

# net_table STATE_DIR: the nftables table of the corrald using STATE_DIR
# (inet corral_ and the first 8 hex digits of its real path's SHA-256).
net_table() {
  echo "corral_$(printf %s "$(realpath "$1")" | sha256sum | cut -c1-8)"
}

# net_cleanup DB: for each network in corrald's database DB, stops its
# dnsmasq (the pid file's pid, if its command line names the bridge),
# removes its run directory and its bridge; deletes that corrald's nftables
# table.
net_cleanup() {
  local br p
  for br in $(sqlite3 "$1" 'SELECT bridge FROM networks' 2>/dev/null); do
    p=$(cat "/run/corral/net/$br/dnsmasq.pid" 2>/dev/null)
    [ -n "$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--interface=$br " && kill "$p"
    rm -rf "/run/corral/net/${br:?}"
    ip link del "$br" 2>/dev/null
  done
  nft delete table inet "$(net_table "$(dirname "$1")")" 2>/dev/null
  return 0
}
