#!/usr/bin/env bash
# End-to-end tests of corrald and the corral CLI (TAP): a daemon on loopback
# with a temporary state dir, driven through curl and the CLI.
#   tests/server/run.sh BUILD_DIR
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"
T=$(mktemp -d /var/tmp/corrald-test.XXXXXX)
PW='correct-horse-battery'
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT


PORT=$(free_port)
URL=https://127.0.0.1:$PORT
SOCK=$T/corrald.sock
echo "$PW" >"$T/pw"
start() { corrald_start --listen "127.0.0.1:$PORT" --admin-password-file "$T/pw" --workers 2; }
# api METHOD PATH [BODY] [curl args...]: HTTPS; prints the status, body in $T/body.
api() {
  local m=$1 p=$2 body=${3:-}; shift 3 2>/dev/null || shift $#
  curl -s -o "$T/body" -w '%{http_code}' --cacert "$T/state/tls/server.crt" -X "$m" \
    ${body:+-H 'Content-Type: application/json' --data-binary "$body"} "$@" "$URL$p"
}
code() { jq -r .error.code "$T/body"; }
CLI() { "$B/corral" --socket "$SOCK" "$@"; }
jqb() { jq -r "$1" "$T/body"; }
login() {  # login USER PASSWORD JAR -> sets CSRF
  api POST /api/v1/auth/login "{\"username\":\"$1\",\"password\":\"$2\"}" -c "$3" -D "$T/headers" >/dev/null
  CSRF=$(jqb .metadata.csrf_token)
}
as_session() { local m=$1 p=$2 b=${3:-}; shift; shift; shift 2>/dev/null; api "$m" "$p" "$b" -b "$T/jar" -H "X-CSRF-Token: $ACSRF" "$@"; }

# ---- start ---------------------------------------------------------------
if start; then ok "corrald starts on 127.0.0.1:$PORT and $SOCK"; else nok "corrald starts" "$(tail -5 "$T/log")"; exit 1; fi
check "the Unix socket is root-only (0600)" test "$(stat -c %a "$SOCK")" = 600
check "a self-signed certificate was generated, key 0600" test "$(stat -c %a "$T/state/tls/server.key")" = 600
check "the database is in WAL mode" test "$(sqlite3 "$T/state/corral.db" 'PRAGMA journal_mode')" = wal
check "the password from --admin-password-file is not in the log" bash -c "! grep -q '$PW' '$T/log'"

# ---- login, cookie, CSRF -------------------------------------------------
s=$(api POST /api/v1/auth/login '{"username":"admin","password":"wrong-password!"}')
check "a wrong password gets 401" test "$s" = 401
login admin "$PW" "$T/jar"
ACSRF=$CSRF
check "login answers 200 with a csrf_token" test -n "$CSRF" -a "$CSRF" != null
cookie=$(grep -i '^set-cookie:' "$T/headers")
check "the session cookie is HttpOnly; Secure; SameSite=Strict" bash -c "grep -q HttpOnly <<<'$cookie' && grep -q Secure <<<'$cookie' && grep -q SameSite=Strict <<<'$cookie'"
check "the session reads (GET /auth/whoami)" test "$(api GET /api/v1/auth/whoami '' -b "$T/jar")" = 200
s=$(api POST /api/v1/pools '{"name":"nocsrf"}' -b "$T/jar")
check "a write with the cookie but no X-CSRF-Token gets 403 csrf_token_required" test "$s:$(code)" = 403:csrf_token_required
s=$(api POST /api/v1/pools '{"name":"nocsrf"}' -b "$T/jar" -H 'X-CSRF-Token: not-the-token')
check "a wrong X-CSRF-Token gets 403" test "$s" = 403
s=$(as_session POST /api/v1/pools '{"name":"p1","description":"first"}')
check "a write with the CSRF token works (201)" test "$s" = 201

# ---- users, roles, tokens ---------------------------------------------------
check "admin creates an operator" test "$(as_session POST /api/v1/users "{\"name\":\"op1\",\"role\":\"operator\",\"password\":\"$PW\"}")" = 201
check "admin creates an auditor" test "$(as_session POST /api/v1/users "{\"name\":\"aud1\",\"role\":\"auditor\",\"password\":\"$PW\"}")" = 201
check "a short password is refused (400)" test "$(as_session POST /api/v1/users '{"name":"x1","role":"auditor","password":"short"}')" = 400
login op1 "$PW" "$T/jar-op"; api POST /api/v1/tokens '{"name":"t1"}' -b "$T/jar-op" -H "X-CSRF-Token: $CSRF" >/dev/null; OPTOK=$(jqb .metadata.token)
login aud1 "$PW" "$T/jar-aud"; api POST /api/v1/tokens '{"name":"t1"}' -b "$T/jar-aud" -H "X-CSRF-Token: $CSRF" >/dev/null; AUDTOK=$(jqb .metadata.token); AUDTOKID=$(jqb .metadata.id)
check "operator and auditor get API tokens" test "${OPTOK:0:7}" = corral_ -a "${AUDTOK:0:7}" = corral_
check "tokens are stored hashed, not in clear" bash -c "! sqlite3 '$T/state/corral.db' 'SELECT hash FROM tokens' | grep -qF '$OPTOK'"
s=$(api POST /api/v1/tokens '{"name":"t2","role":"admin"}' -H "Authorization: Bearer $OPTOK")
check "a token cannot get more than its owner's role (403)" test "$s" = 403
# Every route, from the route table: anonymous -> 401, too small a role -> 403.
mapfile -t ROUTES < <("$B/corrald" --list-routes)
check "the route table lists routes" test "${#ROUTES[@]}" -gt 20
rank() { case $1 in auditor) echo 1;; operator) echo 2;; admin) echo 3;; *) echo 0;; esac; }
for line in "${ROUTES[@]}"; do
  read -r m p role <<<"$line"
  path=$(sed -E 's/\{[a-z]+\}/x1/g' <<<"$p")
  [ "$role" = none ] && continue
  s=$(api "$m" "$path")
  if [ "$s" = 401 ]; then ok "anonymous $m $p -> 401"; else nok "anonymous $m $p -> 401" "got $s"; fi
  for who in auditor operator; do
    [ "$(rank "$role")" -le "$(rank $who)" ] && continue
    tok=$AUDTOK; [ $who = operator ] && tok=$OPTOK
    s=$(api "$m" "$path" '{}' -H "Authorization: Bearer $tok")
    if [ "$s" = 403 ]; then ok "$who $m $p ($role) -> 403"; else nok "$who $m $p ($role) -> 403" "got $s"; fi
  done
done
check "an auditor token reads pools (200)" test "$(api GET /api/v1/pools '' -H "Authorization: Bearer $AUDTOK")" = 200
check "a bad bearer token gets 401" test "$(api GET /api/v1/pools '' -H 'Authorization: Bearer corral_nope')" = 401
check "revoking a token (its owner)" test "$(api DELETE /api/v1/tokens/$AUDTOKID '' -H "Authorization: Bearer $AUDTOK")" = 200
check "a revoked token gets 401" test "$(api GET /api/v1/pools '' -H "Authorization: Bearer $AUDTOK")" = 401
check "a new password ends the user's sessions" bash -c "[ \$(cd '$T'; curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' -X PATCH -H 'Content-Type: application/json' -d '{\"password\":\"another-password-1\"}' http://x/api/v1/users/aud1) = 200 ]"
check "...so the old session cookie gets 401" test "$(api GET /api/v1/pools '' -b "$T/jar-aud")" = 401
for i in 1 2 3; do api POST /api/v1/auth/login '{"username":"op1","password":"wrong-password!"}' >/dev/null; done
s=$(api POST /api/v1/auth/login "{\"username\":\"op1\",\"password\":\"$PW\"}" -D "$T/headers")
check "repeated failed logins are slowed (429 with Retry-After)" bash -c "[ $s = 429 ] && grep -qi '^retry-after:' '$T/headers'"
check "the last admin cannot be demoted (409)" test "$(sock PATCH /api/v1/users/admin '{"role":"auditor"}')" = 409

# ---- pools and volumes (CLI), linked clone ----------------------------------
check "corral pool list shows p1" bash -c "'$B/corral' --socket '$SOCK' pool list | grep -q '^p1 '"
check "corral volume create base 64M" CLI volume create p1 base --size 64M
POOL=$T/state/pools/p1
check "qemu-io writes a pattern into base" qemu-io -f qcow2 -c 'write -P 0xaa 0 1M' "$POOL/base.qcow2"
check "corral volume clone p1 base c1" CLI volume clone p1 base c1
check "the clone's backing file is base.qcow2" bash -c "qemu-img info --output=json '$POOL/c1.qcow2' | jq -e '.\"backing-filename\" == \"base.qcow2\"'"
check "the fresh clone reads the same as its base (qemu-img compare)" qemu-img compare "$POOL/base.qcow2" "$POOL/c1.qcow2"
check "qemu-io writes into the clone" qemu-io -f qcow2 -c 'write -P 0x55 4M 64k' "$POOL/c1.qcow2"
check "now they differ (qemu-img compare exits 1)" bash -c "qemu-img compare '$POOL/base.qcow2' '$POOL/c1.qcow2'; [ \$? = 1 ]"
check "the clone holds only what it wrote (qemu-img map: one 64k range at depth 0)" bash -c \
  "qemu-img map --output=json '$POOL/c1.qcow2' | jq -e '[.[] | select(.depth == 0 and .data)] == [.[] | select(.depth == 0 and .data and .start == 4194304 and .length == 65536)] and ([.[] | select(.depth == 0 and .data)] | length) == 1'"
check "the base is unchanged where the clone wrote" qemu-io -f qcow2 -r -c 'read -P 0 4M 64k' -c 'read -P 0xaa 0 1M' "$POOL/base.qcow2"
out=$(CLI volume delete p1 base 2>&1); rc=$?
check "deleting a base with clones: exit 1 and a message naming the clone" bash -c "[ $rc = 1 ] && grep -q 'c1' <<<'$out'"
check "corral volume resize p1 c1 128M" CLI volume resize p1 c1 128M
check "the resize shows in the volume" bash -c "[ \$('$B/corral' --socket '$SOCK' --output json volume show p1 c1 | jq .size) = 134217728 ]"
check "corral volume create raw" CLI volume create p1 r1 --size 1M --format raw
check "a raw volume is a raw file of that size" test "$(stat -c %s "$POOL/r1.raw")" = 1048576

# ---- ETag / If-Match -----------------------------------------------------------
api GET /api/v1/pools/p1 '' -b "$T/jar" -D "$T/headers" >/dev/null
ETAG=$(grep -i '^etag:' "$T/headers" | cut -d' ' -f2 | tr -d '\r')
check "GET pool has an ETag" test -n "$ETAG"
check "PATCH with a wrong If-Match gets 412" test "$(as_session PATCH /api/v1/pools/p1 '{"description":"x"}' -H 'If-Match: "0000000000000000"')" = 412
check "PATCH with the right If-Match works" test "$(as_session PATCH /api/v1/pools/p1 '{"description":"second"}' -H "If-Match: $ETAG")" = 200
check "the old ETag is now stale (412)" test "$(as_session PATCH /api/v1/pools/p1 '{"description":"third"}' -H "If-Match: $ETAG")" = 412

# ---- bad requests -------------------------------------------------------------------
t4() { local want=$1 wcode=$2 d=$3; shift 3; local s; s=$(sock "$@"); if [ "$s" = "$want" ] && { [ -z "$wcode" ] || [ "$(code)" = "$wcode" ]; }; then ok "$d -> $want $wcode"; else nok "$d -> $want $wcode" "got $s $(cat "$T/body")"; fi; }
t4 400 bad_json "malformed JSON" POST /api/v1/pools '{"name":'
t4 400 bad_json "single-quoted JSON" POST /api/v1/pools "{'name':'a'}"
t4 400 bad_json "a JSON array body" POST /api/v1/pools '[1]'
t4 400 unknown_field "an unknown field" POST /api/v1/pools '{"name":"p2","colour":"red"}'
t4 400 bad_field "a field of the wrong type" POST /api/v1/pools '{"name":7}'
t4 400 missing_field "a missing field" POST /api/v1/pools/p1/volumes '{"name":"v9"}'
t4 400 bad_name "a bad name" POST /api/v1/pools '{"name":"Bad_Name"}'
t4 400 bad_name "a 64-character name" POST /api/v1/pools "{\"name\":\"$(printf 'a%.0s' $(seq 64))\"}"
t4 400 bad_path "a '..' path" GET /api/v1/pools/..
t4 400 bad_path "a %2f in a name" GET /api/v1/pools/p1%2f..%2fx
t4 400 bad_field "a pool path with '..'" POST /api/v1/pools '{"name":"p3","path":"/tmp/../etc"}'
t4 404 not_found "an unknown pool" GET /api/v1/pools/nope/volumes
t4 404 not_found "an unknown route" GET /api/v1/nothing
t4 405 method_not_allowed "a method a path lacks" PUT /api/v1/pools
t4 409 already_exists "a pool that exists" POST /api/v1/pools '{"name":"p1"}'
t4 400 bad_field "a bad size" POST /api/v1/pools/p1/volumes '{"name":"v9","size":"12Q"}'
s=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type: text/plain' -d '{"name":"p9"}' http://x/api/v1/pools)
check "a body that is not application/json gets 415" test "$s" = 415
head -c 200000 /dev/zero | tr '\0' ' ' >"$T/big"
s=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type: application/json' --data-binary @"$T/big" http://x/api/v1/pools)
check "a 200 kB body gets 413" test "$s" = 413
s=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" http://x/api/v1/pools)
check "a 200 kB chunked body gets 413" test "$s" = 413
check "corrald still answers after all that" test "$(sock GET /api/v1/host)" = 200
check "the host gives CPU time counters that grow (busy and idle seconds)" bash -c "
  a=\$(cd /; curl -s --unix-socket '$SOCK' http://x/api/v1/host | jq -e '.metadata.cpu_time | select(.busy > 0 and .idle > 0) | .busy + .idle') || exit 1
  sleep 0.3
  b=\$(cd /; curl -s --unix-socket '$SOCK' http://x/api/v1/host | jq -e '.metadata.cpu_time | .busy + .idle') || exit 1
  awk -v a=\$a -v b=\$b 'BEGIN { exit !(b > a) }'"

# ---- operations and events -------------------------------------------------------
curl -sN --unix-socket "$SOCK" http://x/api/v1/events >"$T/events" &
EV=$!
sleep 0.3
check "a volume create through the API returns 202 with an operation" bash -c "[ \$(cd /; curl -s -o '$T/op' -w '%{http_code}' --unix-socket '$SOCK' -H 'Content-Type: application/json' -d '{\"name\":\"ev1\",\"size\":\"1M\"}' http://x/api/v1/pools/p1/volumes) = 202 ]"
OP=$(jq -r .metadata.id "$T/op")
s=$(sock GET "/api/v1/operations/$OP/wait?timeout=10")
check "waiting on the operation ends in success" test "$s:$(jqb .metadata.status)" = 200:success
sleep 0.3; kill "$EV" 2>/dev/null; wait "$EV" 2>/dev/null
check "the event stream carried the operation" grep -q "event: operation.*" "$T/events"
check "...with its id and final status" bash -c "grep '^data:' '$T/events' | grep '$OP' | grep -q '\"status\":\"success\"'"
check "...and a lifecycle event for the volume" bash -c "grep '^data:' '$T/events' | grep -q '\"action\":\"volume.create\",\"target\":\"p1\\/ev1\"'"
check "corral volume create --preallocate --no-wait (4G raw) starts" bash -c "'$B/corral' --socket '$SOCK' --output json volume create p1 big --size 4G --format raw --preallocate --no-wait > '$T/op'"
OP=$(jq -r .id "$T/op")
s=$(sock DELETE /api/v1/pools/p1/volumes/big)
check "a second change to a busy volume gets 409 busy" test "$s:$(code)" = 409:busy
check "corral op cancel" CLI op cancel "$OP"
s=$(sock GET "/api/v1/operations/$OP/wait?timeout=30")
check "the cancelled operation ends as cancelled" test "$(jqb .metadata.status)" = cancelled
check "...and leaves no volume or file behind" bash -c "[ \$(cd /; curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://x/api/v1/pools/p1/volumes/big) = 404 ] && ! [ -e '$POOL/big.raw' ]"

# ---- CLI ----------------------------------------------------------------------------
check "corral --help exits 0" CLI --help
check "corral volume create --help exits 0" CLI volume create --help
CLI volume frobnicate >/dev/null 2>&1; check "a usage error exits 2" test $? = 2
CLI pool show nope >/dev/null 2>&1; check "a server error exits 1" test $? = 1
"$B/corral" --socket "$T/nowhere.sock" host show >/dev/null 2>&1; check "no daemon exits 3" test $? = 3
check "corral --output json gives JSON" bash -c "'$B/corral' --socket '$SOCK' --output json pool show p1 | jq -e '.name == \"p1\"'"
RTOK=$(api POST /api/v1/tokens '{"name":"cli","role":"auditor"}' -b "$T/jar" -H "X-CSRF-Token: $ACSRF" >/dev/null; jqb .metadata.token)
check "corral --remote --token --ca-cert lists volumes" bash -c "'$B/corral' --remote '$URL' --token '$RTOK' --ca-cert '$T/state/tls/server.crt' volume list p1 | grep -q '^c1 '"
"$B/corral" --remote "$URL" --token "$RTOK" --ca-cert "$T/state/tls/server.crt" pool delete p1 >/dev/null 2>&1
check "an auditor token cannot delete through the CLI (exit 1)" test $? = 1
"$B/corral" --remote "$URL" --token "$RTOK" host show >/dev/null 2>&1
check "the CLI verifies the certificate (no --ca-cert: exit 3)" test $? = 3

# ---- OpenAPI -----------------------------------------------------------------------------
sock GET /api/v1/openapi.json >/dev/null
check "the served OpenAPI document equals docs/api/openapi.json" cmp "$T/body" "$SRC/docs/api/openapi.json"
missing=0
for line in "${ROUTES[@]}"; do
  read -r m p role <<<"$line"
  jq -e --arg p "$p" --arg m "${m,,}" --arg r "$role" '.paths[$p][$m]["x-corral-role"] == $r' "$SRC/docs/api/openapi.json" >/dev/null || { echo "# not in openapi.json: $m $p ($role)"; missing=1; }
done
check "every route (with its role) is in docs/api/openapi.json" test $missing = 0
check "the audit log has admin's pool.create" bash -c "cd /; curl -s --unix-socket '$SOCK' 'http://x/api/v1/audit?limit=1000' | jq -e '.metadata | any(.actor == \"admin\" and .action == \"pool.create\" and .target == \"p1\")'"
check "the audit log has the failed logins" bash -c "cd /; curl -s --unix-socket '$SOCK' 'http://x/api/v1/audit?limit=1000' | jq -e '.metadata | any(.action == \"auth.login_failed\" and .target == \"op1\")'"

# ---- kill -9 and restart; SIGTERM ------------------------------------------------------------
CLI volume create p1 big2 --size 8G --format raw --preallocate --no-wait --output json >/dev/null 2>&1
CLI --output json volume create p1 big2 --size 8G --format raw --preallocate --no-wait >"$T/op" 2>/dev/null
OP=$(jq -r .id "$T/op")
sleep 0.5
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
if start; then ok "corrald restarts after kill -9"; else nok "corrald restarts after kill -9" "$(tail -5 "$T/log")"; fi
s=$(sock GET "/api/v1/operations/$OP")
check "the interrupted operation is marked failed" test "$s:$(jqb .metadata.status)" = 200:failure
check "...and its half-made volume and file are gone" bash -c "[ \$(cd /; curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' http://x/api/v1/pools/p1/volumes/big2) = 404 ] && ! [ -e '$POOL/big2.raw' ]"
check "pools, volumes and users survived" bash -c "'$B/corral' --socket '$SOCK' volume list p1 | grep -q '^c1 ' && '$B/corral' --socket '$SOCK' user list | grep -q '^op1 '"
check "the session survived the restart" test "$(api GET /api/v1/auth/whoami '' -b "$T/jar")" = 200
check "no admin was re-created and no password printed" test "$(grep -c "created user 'admin'" "$T/log")" = 1
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
check "SIGTERM stops corrald with status 0" test $rc = 0
check "...and removes its socket" test ! -e "$SOCK"
check "the database is consistent (PRAGMA integrity_check)" test "$(sqlite3 "$T/state/corral.db" 'PRAGMA integrity_check')" = ok

echo "1..$n"
[ $failed -eq 0 ]
