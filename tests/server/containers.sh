#!/usr/bin/env bash
# Containers and images through corrald (TAP): a busybox image built by
# tests/oci/mkimage.py (no registry) imported, a container created, started,
# exec'd into, limited, its console over the WebSocket, roles, bad input,
# and kill -9 of corrald: the container keeps running and is re-adopted.
#   tests/server/containers.sh BUILD_DIR     (needs root: overlayfs, cgroups)
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"
PID=
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else nok "$d" "command: $* $(head -c 400 "$T/body" 2>/dev/null)"; fi; }
finish() { echo "1..$n"; echo "# $((n - failed)) passed, $failed failed"; [ $failed -eq 0 ]; exit $?; }

if [ "$(id -u)" -ne 0 ] || [ ! -x /bin/busybox ] || [ ! -x "$B/corrald" ]; then
  T=/nonexistent; ok "containers through corrald # SKIP need root, /bin/busybox and $B/corrald"; finish
fi
T=$(mktemp -d /var/tmp/corrald-ct.XXXXXX)
PW='correct-horse-battery'
cleanup() {
  # Containers outlive corrald by design: stop them through it, then by hand.
  [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null && for c in $(CLI --output json ct list 2>/dev/null | jq -r '.[] | select(.state == "running") | .name'); do CLI ct kill "$c" >/dev/null 2>&1; done
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null
  for st in "$T"/state/containers/oci/*/state.json; do
    [ -f "$st" ] && "$B/corral-oci" --root "$T/state/containers/oci" delete -f "$(basename "$(dirname "$st")")" >/dev/null 2>&1
  done
  awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  net_cleanup "$T/state/corral.db"
  rm -rf "$T"
}
trap cleanup EXIT
echo "$PW" >"$T/pw"
SOCK=$T/corrald.sock
start() {
  corrald_start --listen none --admin-password-file "$T/pw" --workers 2 --host-path-allow "$T" \
    --host-path-allow "$B/tests/guests"
}
code() { jq -r .error.code "$T/body"; }
jqb() { jq -r "$1" "$T/body"; }
CLI() { "$B/corral" --socket "$SOCK" "$@"; }
# wait_op: waits for the operation in $T/body; its status into $T/body.
wait_op() { local op; op=$(jqb .operation); sock GET "$op/wait?timeout=60" >/dev/null; jqb .metadata.status; }
ct_state() { sock GET "/api/v1/containers/$1" >/dev/null; jqb .metadata.state; }

if start; then ok "corrald starts"; else nok "corrald starts" "$(tail -5 "$T/log")"; finish; fi

# ---- images -----------------------------------------------------------------------------
python3 "$SRC/tests/oci/mkimage.py" docker "$T/bb.tar" --name test/busybox >/dev/null
s=$(sock POST /api/v1/images "{\"name\":\"busybox\",\"path\":\"$T/bb.tar\"}")
check "POST /images answers 202 with an operation" test "$s" = 202
check "...which succeeds" test "$(wait_op)" = success
check "GET /images lists busybox with its layer" bash -c "[ $(sock GET /api/v1/images) = 200 ] && jq -e '.metadata | any(.name == \"busybox\" and (.layers | length) == 1)' '$T/body'"
check "GET /images/busybox" test "$(sock GET /api/v1/images/busybox)" = 200
check "the store is under the state dir" test -f "$T/state/images/images.json"
s=$(sock POST /api/v1/images "{\"name\":\"busybox\",\"path\":\"$T/bb.tar\"}")
check "importing a name twice: 409 already_exists" test "$s:$(code)" = 409:already_exists
s=$(sock POST /api/v1/images "{\"name\":\"Bad_Name\",\"path\":\"$T/bb.tar\"}")
check "a bad image name: 400 bad_name" test "$s:$(code)" = 400:bad_name
s=$(sock POST /api/v1/images "{\"name\":\"nope\",\"path\":\"$T/nonexistent.tar\"}")
check "a missing path: 400 bad_field" test "$s:$(code)" = 400:bad_field
s=$(sock POST /api/v1/images '{"name":"nope","path":"/nonexistent/x.tar"}')
check "a path outside the allowed directories (--host-path-allow): 403 forbidden" test "$s:$(code)" = 403:forbidden
echo "not a tar" >"$T/junk.tar"
sock POST /api/v1/images "{\"name\":\"junk\",\"path\":\"$T/junk.tar\"}" >/dev/null
check "a junk archive: the import operation fails" test "$(wait_op)" = failure
check "...and leaves no image" test "$(sock GET /api/v1/images/junk)" = 404
check "corral image list shows busybox" bash -c "CLI() { '$B/corral' --socket '$SOCK' \"\$@\"; }; CLI image list | grep -q '^busybox '"
# VM boot images share the names: the project's PVH test guest as a kernel.
GUEST=$B/tests/guests/guest-serial.pvh.elf
s=$(sock POST /api/v1/images "{\"name\":\"busybox\",\"type\":\"vm\",\"kernel\":\"$GUEST\"}")
check "a VM image named like a container image: 409 already_exists" test "$s:$(code)" = 409:already_exists
s=$(sock POST /api/v1/images "{\"name\":\"pvh\",\"type\":\"vm\",\"kernel\":\"$GUEST\"}")
check "a VM image (the PVH test guest) imports" test "$s:$(wait_op)" = 202:success
check "...listed with the container image, each with its type (ELF64 kernel, no initrd)" bash -c "[ $(sock GET /api/v1/images) = 200 ] && jq -e '[.metadata[] | .name + \":\" + .type] == [\"busybox:container\", \"pvh:vm\"] and (.metadata[1] | .kernel.format == \"ELF64\" and .initrd == null)' '$T/body'"
s=$(sock POST /api/v1/images "{\"name\":\"pvh\",\"path\":\"$T/bb.tar\"}")
check "a container image named like a VM image: 409 already_exists" test "$s:$(code)" = 409:already_exists
s=$(sock POST /api/v1/containers '{"name":"cx","image":"pvh"}')
check "a container from a VM image: 400 saying so" bash -c "[ $s:$(code) = 400:bad_field ] && grep -q 'is a VM boot image' '$T/body'"
check "deleting the unused VM image" test "$(sock DELETE /api/v1/images/pvh)" = 200

sock POST /api/v1/users "{\"name\":\"op1\",\"role\":\"operator\",\"password\":\"$PW\"}" >/dev/null
sock POST /api/v1/users "{\"name\":\"aud1\",\"role\":\"auditor\",\"password\":\"$PW\"}" >/dev/null

# ---- create -----------------------------------------------------------------------------
s=$(sock POST /api/v1/containers '{"name":"c1","image":"busybox","cmd":["/bin/sh"],"memory_mib":64,"pids":20,"env":["HELLO=world"]}')
check "POST /containers creates c1 (201, stopped)" test "$s:$(jqb .metadata.state)" = 201:stopped
check "its bundle is an overlay mount" grep -q " $T/state/containers/.*/bundle/rootfs " /proc/self/mountinfo
s=$(sock POST /api/v1/containers '{"name":"c1","image":"busybox"}')
check "the same name again: 409 already_exists" test "$s:$(code)" = 409:already_exists
s=$(sock POST /api/v1/containers '{"name":"Bad_Name","image":"busybox"}')
check "a bad container name: 400 bad_name" test "$s:$(code)" = 400:bad_name
s=$(sock GET /api/v1/containers/Bad_Name)
check "GET of a bad name: 400 bad_name" test "$s:$(code)" = 400:bad_name
s=$(sock POST /api/v1/containers '{"name":"c2","image":"nosuch"}')
check "an unknown image: 400 bad_field" test "$s:$(code)" = 400:bad_field
s=$(sock POST /api/v1/containers '{"name":"c2","image":"busybox","colour":"red"}')
check "an unknown field: 400 unknown_field" test "$s:$(code)" = 400:unknown_field
s=$(sock POST /api/v1/containers '{"name":"c2","image":"busybox","env":["NOEQUALS"]}')
check "an env entry without '=': 400 bad_field" test "$s:$(code)" = 400:bad_field
check "GET /containers/nosuch: 404" test "$(sock GET /api/v1/containers/nosuch):$(code)" = 404:not_found

# ---- roles: anonymous, auditor, operator (the Unix socket's root peer is admin: use HTTPS) ---
kill "$PID"; wait "$PID" 2>/dev/null; PID=
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/corrald" --state-dir "$T/state" --listen "127.0.0.1:$PORT" --socket "$SOCK" --workers 2 2>>"$T/log" &
PID=$!
corrald_wait "$SOCK"
api() { local m=$1 p=$2 body=${3:-}; shift 3 2>/dev/null || shift $#
  curl -s -o "$T/body" -w '%{http_code}' --cacert "$T/state/tls/server.crt" -X "$m" \
    ${body:+-H 'Content-Type: application/json' --data-binary "$body"} "$@" "https://127.0.0.1:$PORT$p"; }
tok() {  # tok USER -> an API token of that user (over a session)
  api POST /api/v1/auth/login "{\"username\":\"$1\",\"password\":\"$PW\"}" -c "$T/jar-$1" >/dev/null
  api POST /api/v1/tokens '{"name":"t"}' -b "$T/jar-$1" -H "X-CSRF-Token: $(jqb .metadata.csrf_token)" >/dev/null
  jqb .metadata.token
}
OPTOK=$(tok op1); AUDTOK=$(tok aud1)
check "operator and auditor have tokens" test "${OPTOK:0:7}:${AUDTOK:0:7}" = corral_:corral_
check "anonymous GET /containers: 401" test "$(api GET /api/v1/containers)" = 401
check "anonymous POST /containers/c1/start: 401" test "$(api POST /api/v1/containers/c1/start '{}')" = 401
check "anonymous GET /images: 401" test "$(api GET /api/v1/images)" = 401
check "an auditor reads containers (200)" test "$(api GET /api/v1/containers '' -H "Authorization: Bearer $AUDTOK")" = 200
check "an auditor cannot start one (403)" test "$(api POST /api/v1/containers/c1/start '{}' -H "Authorization: Bearer $AUDTOK")" = 403
check "an auditor cannot exec (403)" test "$(api POST /api/v1/containers/c1/exec '{"cmd":["true"]}' -H "Authorization: Bearer $AUDTOK")" = 403
check "an auditor cannot create one (403)" test "$(api POST /api/v1/containers '{"name":"x","image":"busybox"}' -H "Authorization: Bearer $AUDTOK")" = 403
check "an operator cannot import images (403)" test "$(api POST /api/v1/images "{\"name\":\"x\",\"path\":\"$T/bb.tar\"}" -H "Authorization: Bearer $OPTOK")" = 403
check "an operator cannot delete images (403)" test "$(api DELETE /api/v1/images/busybox '' -H "Authorization: Bearer $OPTOK")" = 403

# ---- start, exec, limits ------------------------------------------------------------------
s=$(api POST /api/v1/containers/c1/start '{}' -H "Authorization: Bearer $OPTOK")
check "an operator starts c1 (202)" test "$s" = 202
op=$(jqb .operation); sock GET "$op/wait?timeout=60" >/dev/null
check "...the start succeeds" test "$(jqb .metadata.status)" = success
check "c1 is running" test "$(ct_state c1)" = running
CPID=$(jqb .metadata.pid)
check "its init is a live process (pid $CPID)" kill -0 "$CPID"
check "GET of a running container has its cgroup's usage counters (cpu_seconds, memory_bytes > 0)" \
  jq -e '.metadata.usage | (.cpu_seconds | type) == "number" and .memory_bytes > 0' "$T/body"
s=$(sock POST /api/v1/containers/c1/exec '{"cmd":["echo","hi"]}')
check "exec echo hi: exit 0, output hi" test "$s:$(jqb .metadata.exit_code):$(jqb .metadata.output)" = "200:0:hi"
sock POST /api/v1/containers/c1/exec '{"cmd":["sh","-c","echo $HELLO; exit 3"]}' >/dev/null
check "exec sees the env and returns the exit code (3)" test "$(jqb .metadata.exit_code):$(jqb .metadata.output)" = "3:world"
sock POST /api/v1/containers/c1/exec '{"cmd":["hostname"]}' >/dev/null
check "exec runs in the container's own namespaces (hostname differs)" test "$(jqb .metadata.output)" != "$(hostname)"
s=$(sock POST /api/v1/containers/c1/exec '{"cmd":["sleep","30"],"timeout":1}')
check "a command outliving its timeout: 409 conflict" test "$s:$(code)" = 409:conflict
sock POST /api/v1/containers/c1/exec '{"cmd":["sh","-c","ps | grep -c \"[s]leep 30\""]}' >/dev/null
check "...and it was killed" test "$(jqb .metadata.output)" = 0
t0=$SECONDS
sock POST /api/v1/containers/c1/exec '{"cmd":["sh","-c","sleep 20 & echo started"],"timeout":15}' >/dev/null
check "exec returns when the command ends, though a background child holds its output" test "$(jqb .metadata.output):$((SECONDS - t0 < 10))" = started:1
sock POST /api/v1/containers/c1/exec '{"cmd":["killall","sleep"]}' >/dev/null
mem_file() {  # the memory limit file of the container's cgroup (v2 or v1)
  local cg
  cg=$(awk -F: '$2 == "" || $2 ~ /(^|,)memory(,|$)/ {print $2 "|" $3}' "/proc/$CPID/cgroup" | head -1)
  case $cg in
    \|*) echo "/sys/fs/cgroup${cg#|}/memory.max" ;;
    *) echo "/sys/fs/cgroup/memory${cg#*|}/memory.limit_in_bytes" ;;
  esac
}
MF=$(mem_file)
check "the memory limit is set in the container's cgroup (64 MiB)" test "$(cat "$MF" 2>/dev/null)" = 67108864
# 40 background children against a limit of 20 pids: each one that got
# forked leaves a file behind (counted with builtins: no fork needed).
sock POST /api/v1/containers/c1/exec '{"cmd":["sh","-c","for i in $(seq 40); do (: >/tmp/p$i; exec sleep 2) & done 2>/dev/null; wait"],"timeout":30}' >/dev/null
sock POST /api/v1/containers/c1/exec '{"cmd":["sh","-c","set -- /tmp/p*; echo $#"]}' >/dev/null
procs=$(jqb .metadata.output | grep . | tail -1)
check "the pids limit (20) caps a fork loop of 40 (forked: $procs)" test "${procs:-99}" -gt 0 -a "${procs:-99}" -lt 20

# ---- PATCH limits with ETag ----------------------------------------------------------------
sock GET /api/v1/containers/c1 '' -D "$T/headers" >/dev/null
ETAG=$(grep -i '^etag:' "$T/headers" | cut -d' ' -f2 | tr -d '\r')
check "GET container has an ETag" test -n "$ETAG"
check "PATCH with a wrong If-Match: 412" test "$(sock PATCH /api/v1/containers/c1 '{"memory_mib":96}' -H 'If-Match: "0000000000000000"')" = 412
check "PATCH memory_mib 96 with the right If-Match (200)" test "$(sock PATCH /api/v1/containers/c1 '{"memory_mib":96}' -H "If-Match: $ETAG")" = 200
check "...applied live to the cgroup" test "$(cat "$MF" 2>/dev/null)" = 100663296
check "the old ETag is now stale (412)" test "$(sock PATCH /api/v1/containers/c1 '{"description":"x"}' -H "If-Match: $ETAG")" = 412

# ---- console -----------------------------------------------------------------------------
WS() { python3 "$SRC/tests/server/ws.py" --unix "$SOCK" "$@"; }
check "the console (WebSocket) answers a shell command" WS /api/v1/containers/c1/console --prompt '#' --send 'echo con$((6*7))sole' --expect 'con42sole' --timeout 20
out=$( (sleep 1; echo 'echo CLI-$((6*7))'; sleep 2) | CLI ct console c1 2>&1)
check "corral ct console relays stdin and prints the answer" grep -q CLI-42 <<<"$out"
out=$( (sleep 1; echo 'echo TLS-$((6*7))'; sleep 2) | "$B/corral" --remote "https://127.0.0.1:$PORT" --token "$OPTOK" \
  --ca-cert "$T/state/tls/server.crt" ct console c1 2>&1)
check "corral --remote --token ct console works over HTTPS (operator token)" grep -q TLS-42 <<<"$out"
check "the audit log keeps no env values or exec arguments" bash -c "! curl -s --unix-socket '$SOCK' 'http://x/api/v1/audit?limit=1000' | grep -q 'HELLO=world\\|echo hi'"
check "the console attach is audited" bash -c "curl -s --unix-socket '$SOCK' 'http://x/api/v1/audit?limit=100' | jq -e '.metadata | any(.action == \"container.console\")'"

# ---- pause and resume: a ticker in the container stops and goes on ----------------------------
sock POST /api/v1/containers/c1/exec '{"cmd":["sh","-c","(i=0; while :; do i=$((i+1)); echo $i >/tmp/t.new; mv /tmp/t.new /tmp/tick; sleep 0.1; done) >/dev/null 2>&1 &"]}' >/dev/null
TICK=/proc/$CPID/root/tmp/tick
ticking() { local a; a=$(cat "$TICK" 2>/dev/null); sleep 1; [ -n "$a" ] && [ "$(cat "$TICK" 2>/dev/null)" != "$a" ]; }
check "a ticker runs in c1" ticking
check "corral ct pause c1" CLI ct pause c1
check "...c1 is paused" test "$(ct_state c1)" = paused
still() { local a; a=$(cat "$TICK" 2>/dev/null); sleep 1; [ -n "$a" ] && [ "$(cat "$TICK" 2>/dev/null)" = "$a" ]; }
check "...and its processes are frozen (the ticker stands still)" still
check "exec on a paused container: 409 conflict" test "$(sock POST /api/v1/containers/c1/exec '{"cmd":["true"]}'):$(code)" = 409:conflict
check "...saying to resume it" grep -q 'resume it first' "$T/body"
check "pausing a paused container: 409 conflict" test "$(sock POST /api/v1/containers/c1/pause):$(code)" = 409:conflict
check "an auditor cannot resume it (403)" test "$(api POST /api/v1/containers/c1/resume '' -H "Authorization: Bearer $AUDTOK")" = 403
check "corral ct resume c1" CLI ct resume c1
check "...c1 is running again" test "$(ct_state c1)" = running
check "...and so is the ticker" ticking
check "resuming a running container: 409 conflict" test "$(sock POST /api/v1/containers/c1/resume):$(code)" = 409:conflict

# ---- kill -9 of corrald (c1 paused), re-adoption -----------------------------------------------
CLI ct pause c1 >/dev/null
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
sleep 0.5
check "after kill -9 of corrald the container's init still runs" kill -0 "$CPID"
start >/dev/null || true
check "corrald restarts" test -n "$PID"
check "c1 is re-adopted as paused, as it was" test "$(ct_state c1)" = paused
CLI ct resume c1 >/dev/null
check "...and resumes: running" test "$(ct_state c1)" = running
check "...with the same pid" test "$(jqb .metadata.pid)" = "$CPID"
check "the log says so" grep -q "container c1: re-adopted" "$T/log"
sock POST /api/v1/containers/c1/exec '{"cmd":["echo","again"]}' >/dev/null
check "exec still works after the restart" test "$(jqb .metadata.output)" = again
check "the console is back too (scrollback from the keeper's pty)" WS /api/v1/containers/c1/console --prompt '#' --send 'echo re$((1+1))adopted' --expect 're2adopted' --timeout 20

# ---- events, stop, delete -------------------------------------------------------------------
curl -sN --unix-socket "$SOCK" http://x/api/v1/events >"$T/events" 2>/dev/null &
EV=$!
sleep 0.3
s=$(sock POST /api/v1/containers/c1/stop '{"timeout":1}')
check "stop (202)" test "$s" = 202
check "...succeeds" test "$(wait_op)" = success
check "c1 is stopped" test "$(ct_state c1)" = stopped
check "its init is gone" bash -c "! kill -0 $CPID 2>/dev/null || grep -q '^State:.*Z' /proc/$CPID/status"
sleep 0.3; kill "$EV" 2>/dev/null; wait "$EV" 2>/dev/null
check "the event stream carried container.stop" grep -q '"action":"container.stop"' "$T/events"
check "exec on a stopped container: 409 conflict" test "$(sock POST /api/v1/containers/c1/exec '{"cmd":["true"]}'):$(code)" = 409:conflict
s=$(sock POST /api/v1/containers/c1/start '{}'); st=$(wait_op)
check "it starts again" test "$s:$st:$(ct_state c1)" = 202:success:running
check "deleting a running container: 409 conflict" test "$(sock DELETE /api/v1/containers/c1):$(code)" = 409:conflict
CLI ct pause c1 >/dev/null
check "corral ct kill c1 (paused: thawed, then killed)" CLI ct kill c1
check "c1 is stopped again" test "$(ct_state c1)" = stopped
R=$(awk -v t="$T/state/containers/" 'index($5, t) == 1 && $5 ~ /bundle\/rootfs$/ {print $5}' /proc/self/mountinfo | head -1)
umount "$R"
s=$(sock POST /api/v1/containers/c1/start '{}'); st=$(wait_op)
sock POST /api/v1/containers/c1/exec '{"cmd":["cat","/tmp/p1"]}' >/dev/null
check "after its rootfs is unmounted (a host reboot), start mounts it again, writes kept" test "$s:$st:$(jqb .metadata.exit_code)" = 202:success:0
CLI ct kill c1 >/dev/null
check "deleting an image in use: 409 conflict" test "$(sock DELETE /api/v1/images/busybox):$(code)" = 409:conflict
check "corral ct delete c1" CLI ct delete c1
check "its bundle is unmounted" bash -c "! grep -q ' $T/state/containers/[0-9]*/bundle/rootfs ' /proc/self/mountinfo"
check "GET c1: 404" test "$(sock GET /api/v1/containers/c1)" = 404

# ---- a container whose command ends shows as stopped by itself ----------------------------------
sock POST /api/v1/containers '{"name":"short","image":"busybox","cmd":["sleep","1"]}' >/dev/null
sock POST /api/v1/containers/short/start '{}' >/dev/null; wait_op >/dev/null
for _ in $(seq 50); do [ "$(ct_state short)" = stopped ] && break; sleep 0.1; done
check "a container whose command exits is stopped within seconds" test "$(ct_state short)" = stopped
check "...recorded as container.stopped by corrald" bash -c "curl -s --unix-socket '$SOCK' 'http://x/api/v1/audit?limit=100' | jq -e '.metadata | any(.action == \"container.stopped\" and .actor == \"corrald\" and .target == \"short\")'"
check "...and it starts again" bash -c "[ \$(curl -s --unix-socket '$SOCK' -X POST http://x/api/v1/containers/short/start | jq -r .status_code) = 202 ]"
sleep 2; CLI ct kill short >/dev/null 2>&1; sleep 0.5
check "delete it" CLI ct delete short

# ---- a network: veth on the bridge, an address from its subnet ---------------------------------
NETN=ctn$$
SUB="10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).0/24"
if [ "$(sock POST /api/v1/networks "{\"name\":\"$NETN\",\"subnet\":\"$SUB\"}")" = 201 ]; then
  GW=$(jqb .metadata.gateway)
  s=$(sock POST /api/v1/containers "{\"name\":\"cn\",\"image\":\"busybox\",\"cmd\":[\"/bin/sh\"],\"network\":\"$NETN\"}")
  ADDR=$(jqb .metadata.address)
  check "a container on network $NETN gets an address of $SUB ($ADDR)" test "$s:${ADDR%.*}" = "201:${GW%.*}"
  sock POST /api/v1/containers/cn/start '{}' >/dev/null
  check "it starts" test "$(wait_op)" = success
  sock POST /api/v1/containers/cn/exec '{"cmd":["ip","-4","addr","show","eth0"]}' >/dev/null
  check "eth0 inside holds $ADDR" grep -q "inet $ADDR/" <(jqb .metadata.output)
  check "the network lists it; deleting the network meanwhile: 409 conflict" bash -c "[ \$(curl -s --unix-socket '$SOCK' http://x/api/v1/networks/$NETN | jq -r '.metadata.containers[0].container') = cn ] && [ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' -X DELETE http://x/api/v1/networks/$NETN) = 409 ]"
  check "the host reaches it over the bridge (ping $ADDR)" /bin/busybox ping -c1 -W2 "$ADDR"
  CLI ct kill cn >/dev/null 2>&1
  check "after kill its veth is gone from the host" bash -c "! ip -o link | grep -q 'cve.*master $(sock GET /api/v1/networks/$NETN >/dev/null; jqb .metadata.bridge)'"
  CLI ct delete cn >/dev/null 2>&1
  check "the network can be deleted again" test "$(sock DELETE /api/v1/networks/$NETN)" = 200
else
  nok "create network $NETN ($SUB)" "$(cat "$T/body")"
fi

# ---- the CLI ------------------------------------------------------------------------------------
check "corral ct create c3 --cmd sleep 300 --pids 10" CLI ct create c3 --image busybox --pids 10 -- sleep 300
check "corral ct start c3" CLI ct start c3
check "corral --output json ct show c3: running" test "$(CLI --output json ct show c3 | jq -r .state)" = running
check "corral ct list shows c3" bash -c "'$B/corral' --socket '$SOCK' ct list | grep -q '^c3 .*running'"
check "corral ct exec c3 -- echo hi prints hi" test "$(CLI ct exec c3 -- echo hi)" = hi
CLI ct exec c3 -- sh -c 'exit 5' >/dev/null 2>&1
check "corral ct exec exits with the command's code (5)" test $? = 5
check "corral ct stop c3" CLI ct stop c3 --timeout 1
check "corral ct delete c3" CLI ct delete c3
check "corral image delete busybox" CLI image delete busybox
check "the store dropped its layers" test -z "$(ls "$T/state/images/layers" 2>/dev/null)" ||
  { grep "$T" /proc/self/mountinfo; ls -la "$T/state/images/layers"; pgrep -a corrald-ct; } 2>&1 | sed 's/^/#   /'
check "corral ct --help" bash -c "'$B/corral' ct --help | grep -q exec"

finish
