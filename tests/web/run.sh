#!/usr/bin/env bash
# The web console end to end (TAP): corrald's static serving checked with
# curl, then Debian's Chromium driven headless by playwright-core (e2e.mjs):
# login, dashboard, networks, a VM under QEMU/TCG with its console typed
# into, an image imported and a container run (exec, console, live state),
# XSS, roles, logout, CSP.  Screenshots of every view go
# to BUILD_DIR/web-screenshots/.
#   tests/web/run.sh BUILD_DIR
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ASSETS=${CORRAL_ASSETS:-$B/assets}
WEB=$SRC/web
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
n=0 failed=0 PID=
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "#   $2"; }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else nok "$d" "command: $*"; fi; }
. "$SRC/tests/server/lib.sh"

command -v node >/dev/null || { echo "1..0 # SKIP node is not installed"; exit 0; }
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || { echo "1..0 # SKIP playwright-core needs node 20 or later"; exit 0; }
[ -x "$CHROMIUM" ] || { echo "1..0 # SKIP $CHROMIUM is not installed (scripts/deps.sh)"; exit 0; }
"$SRC/scripts/build-web.sh" >&2 || { echo "1..0 # SKIP cannot build web/ (npm ci)"; exit 0; }
[ -f "$WEB/dist/index.html" ] || { echo "1..0 # SKIP web/dist was not built"; exit 0; }

T=$(mktemp -d /var/tmp/cweb.XXXXXX)    # short: VM sockets live under it
cleanup() {
  [ -n "$PID" ] && { kill -9 "$PID"; wait "$PID"; } 2>/dev/null
  # Containers outlive corrald by design: remove any the browser run left.
  for st in "$T"/state/containers/oci/*/state.json; do
    [ -f "$st" ] && "$B/corral-oci" --root "$T/state/containers/oci" delete -f "$(basename "$(dirname "$st")")" >/dev/null 2>&1
  done
  awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for p in $(sqlite3 "$T/state/corral.db" 'SELECT pid FROM vms WHERE pid > 0' 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  net_cleanup "$T/state/corral.db"
  for t in $(sqlite3 "$T/state/corral.db" 'SELECT tag FROM vms' 2>/dev/null); do
    for l in $(ip -br link | awk '{print $1}' | grep "^ctp$t" | sed 's/@.*//'); do ip link del "$l" 2>/dev/null; done
  done
  wait 2>/dev/null; rm -rf "$T"
}
trap cleanup EXIT

PW='correct-horse-battery'
echo "$PW" >"$T/pw"
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
SOCK=$T/c.sock
"$B/corrald" --state-dir "$T/state" --listen "127.0.0.1:$PORT" --socket "$SOCK" --admin-password-file "$T/pw" \
  --web-dir "$WEB/dist" --workers 2 2>>"$T/log" &
PID=$!
corrald_wait "$SOCK"
if kill -0 "$PID" 2>/dev/null; then ok "corrald starts with --web-dir"; else nok "corrald starts" "$(tail -5 "$T/log")"; exit 1; fi

# ---- static serving ------------------------------------------------------------
get() {  # get PATH [curl args] -> "STATUS TYPE"; headers in $T/h, body in $T/b
  local p=$1; shift
  curl -s --path-as-is --cacert "$T/state/tls/server.crt" -D "$T/h" -o "$T/b" -w '%{http_code} %{content_type}' "$@" "$URL$p"
}
hdr() { grep -i "^$1:" "$T/h" | cut -d' ' -f2- | tr -d '\r'; }
JS=$(cd "$WEB/dist" && ls assets/*.js | head -1); CSS=$(cd "$WEB/dist" && ls assets/*.css | head -1)
for p in / /login /vms/vm1; do
  s=$(get "$p")
  check "GET $p is the app's index.html without login ($s)" bash -c "[ '$s' = '200 text/html; charset=utf-8' ] && grep -q '<div id=\"app\">' '$T/b'"
done
get /login >/dev/null
check "HTML carries the strict Content-Security-Policy" test "$(hdr Content-Security-Policy)" = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
check "...X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer" test "$(hdr X-Content-Type-Options):$(hdr Referrer-Policy)" = nosniff:no-referrer
check "index.html has no inline script or style" bash -c "! grep -qE '<script>|<style|style=' '$WEB/dist/index.html'"
s=$(get "/$JS")
check "GET /$JS is JavaScript, cached immutable" bash -c "[ '$s' = '200 text/javascript; charset=utf-8' ] && grep -qi '^cache-control: public, max-age=31536000, immutable' '$T/h'"
check "GET /$CSS is text/css" test "$(get "/$CSS")" = "200 text/css; charset=utf-8"
ETAG=$(hdr ETag)
check "a matching If-None-Match gets 304" test "$(get "/$CSS" -H "If-None-Match: $ETAG" | cut -d' ' -f1)" = 304
check "HEAD / answers 200 with no body" bash -c "[ \"\$(curl -s --cacert '$T/state/tls/server.crt' -I -o /dev/null -w '%{http_code}' '$URL/')\" = 200 ]"
check "a missing asset is 404" test "$(get /assets/nope-123.js | cut -d' ' -f1)" = 404
for p in '/assets/../../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd' '/assets/%2e%2e/index.html' '/.git/config' '/a//b' "/$(head -c 3000 /dev/zero | tr '\0' a)"; do
  s=$(get "$p" | cut -d' ' -f1)
  check "a bad path is refused (${p:0:30}) -> $s" bash -c "[ '$s' = 400 ] && ! grep -q root: '$T/b'"
done
mkdir -p "$T/web/assets" && cp -r "$WEB/dist/." "$T/web/" && ln -sf /etc/passwd "$T/web/assets/leak.js"
check "POST to a page is 405" test "$(get /login -X POST | cut -d' ' -f1)" = 405
check "the API still needs a login (GET /api/v1/host -> 401)" test "$(get /api/v1/host | cut -d' ' -f1)" = 401
kill "$PID"; wait "$PID" 2>/dev/null
"$B/corrald" --state-dir "$T/state" --listen "127.0.0.1:$PORT" --socket "$SOCK" --web-dir "$T/web" --workers 2 2>>"$T/log" &
PID=$!
corrald_wait "$SOCK"
s=$(get /assets/leak.js | cut -d' ' -f1)
check "a symlink out of the web directory is not followed (openat2 RESOLVE_BENEATH) -> $s" bash -c "[ '$s' = 404 ] && ! grep -q root: '$T/b'"
kill "$PID"; wait "$PID" 2>/dev/null
"$B/corrald" --state-dir "$T/state" --listen "127.0.0.1:$PORT" --socket "$SOCK" --web-dir "$WEB/dist" --workers 2 \
  --log-level debug --host-path-allow "$T" 2>>"$T/log" &
PID=$!
corrald_wait "$SOCK"

# ---- the browser ------------------------------------------------------------------
KERN=$ASSETS/cloud/vmlinuz
if ! command -v qemu-system-x86_64 >/dev/null; then KERN=; fi
if [ -n "$KERN" ] && { [ -s "$KERN" ] || "$SRC/scripts/fetch-kernels.sh" "$ASSETS" >&2; } &&
   shell_guest "$SRC" "$ASSETS" "$T" "$T/shell.cpio" 2>/dev/null; then
  # corrald takes host files only from where it is allowed to (--host-path-allow "$T").
  cp "$KERN" "$T/vmlinuz" && KERN=$T/vmlinuz
else KERN=; fi
# A busybox image for the Images view to import (as tests/server/containers.sh
# builds it; no registry); containers need root for overlayfs and cgroups.
IMAGE=
if [ "$(id -u)" -eq 0 ] && [ -x /bin/busybox ] &&
   python3 "$SRC/tests/oci/mkimage.py" docker "$T/bb.tar" --name test/busybox --plain >/dev/null 2>&1; then IMAGE=$T/bb.tar; fi
SHOTS=$B/web-screenshots
rm -rf "$SHOTS"; mkdir -p "$SHOTS"
N0=$n
CORRAL_URL=$URL CORRAL_PW=$PW CORRAL_KERNEL=$KERN CORRAL_INITRD=$T/shell.cpio CORRAL_SHOTS=$SHOTS \
  CORRAL_IMAGE=$IMAGE CORRAL_WEB=$WEB CHROMIUM=$CHROMIUM TAP_START=$n timeout 420 node "$SRC/tests/web/e2e.mjs" >"$T/e2e" 2>"$T/e2e.err"
rc=$?
cat "$T/e2e"
n=$((N0 + $(grep -cE '^(not )?ok ' "$T/e2e")))
failed=$((failed + $(grep -cE '^not ok ' "$T/e2e")))
if [ "$rc" -ne 0 ]; then nok "the browser run ended cleanly (exit $rc)" "$(tail -5 "$T/e2e.err" | tr '\n' ' ')"; fi
check "corrald is still running after the browser run" kill -0 "$PID"
echo "1..$n"
[ "$failed" -eq 0 ] || { cp "$T/log" "$B/web-corrald.log"; cp "$T/e2e.err" "$B/web-e2e.err"; echo "# logs: $B/web-corrald.log, $B/web-e2e.err"; }
[ "$failed" -eq 0 ]
