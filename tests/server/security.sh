#!/usr/bin/env bash
# corrald as an attacker probes it (TAP): the state directory's permissions,
# the login backoff under parallel guessing, bodies that are not UTF-8,
# query parameters out of bounds, and the cap on API tokens.  The TLS and
# connection-exhaustion probes are in sec-http.sh, host paths and subnets
# in sec-paths.sh; docs/security.md says what each boundary is.
#   tests/server/security.sh BUILD_DIR
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"
T=$(mktemp -d /var/tmp/corrald-sec.XXXXXX)
PW='correct-horse-battery'
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
SOCK=$T/corrald.sock
start() { corrald_start --listen "127.0.0.1:$PORT" --admin-password-file "$T/pw" --workers 2; }
# raw METHOD PATH FILE [content type]: a body of exact bytes from FILE.
raw() {
  curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$1" \
    -H "Content-Type: ${4:-application/json}" --data-binary "@$3" "http://x$2"
}
jqb() { jq -r "$1" "$T/body"; }
code() { jq -r .error.code "$T/body"; }
# strict_json FILE: the file is UTF-8 JSON a strict parser accepts.
strict_json() { python3 -c 'import json, sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8", "strict"))' "$1"; }

# ---- the state directory and the password file ------------------------------------------------
mkdir -m 0755 "$T/state"
echo "$PW" >"$T/pw"; chmod 0644 "$T/pw"
if start; then ok "corrald starts on a state dir that exists as 0755"; else nok "corrald starts" "$(tail -5 "$T/log")"; exit 1; fi
check "the state dir is tightened to 0700" test "$(stat -c %a "$T/state")" = 700
check "...and the log says so" grep -q "$T/state was 0755: tightened to 0700" "$T/log"
check "nobody but root reaches the database" bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$T/state/corral.db' >/dev/null"
check "a password file others can read is warned about" grep -q "admin-password-file $T/pw is 0644: others can read" "$T/log"
check "(the password itself is not logged)" bash -c "! grep -q '$PW' '$T/log'"
chmod 0600 "$T/pw"

# ---- the login backoff under 40 parallel guesses -----------------------------------------------
sock POST /api/v1/users "{\"name\":\"op1\",\"role\":\"operator\",\"password\":\"$PW\"}" >/dev/null
pids=()
for i in $(seq 40); do
  curl -s -o /dev/null -D "$T/hdr.$i" -w '%{http_code}\n' --cacert "$T/state/tls/server.crt" -H 'Content-Type: application/json' \
    -d '{"username":"op1","password":"wrong-guess-'"$i"'"}' "$URL/api/v1/auth/login" >"$T/par.$i" &
  pids+=($!)
done
wait "${pids[@]}"
codes=$(cat "$T"/par.* | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
c401=$(cat "$T"/par.* | grep -c 401); c429=$(cat "$T"/par.* | grep -c 429); c000=$(cat "$T"/par.* | grep -c 000)
# (000: past 16 anonymous connections from one address, newcomers are closed
# while all 16 are being served: sec-http.sh proves that limit.)
check "40 parallel wrong logins cost what 40 in a row do: 3 checked, the rest 429 or turned away ($codes)" \
  test "$c401:$((c429 + c000)):$((c429 > 0))" = 3:37:1
check "...each 429 says when to try again (Retry-After)" \
  test "$(grep -l '^HTTP/1.1 429' "$T"/hdr.* | xargs grep -li '^retry-after: [1-9]' | wc -l)" = "$c429"
sleep 2.2   # the backoff after 3 failures is 2 s
s=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/state/tls/server.crt" -H 'Content-Type: application/json' \
  -d "{\"username\":\"op1\",\"password\":\"$PW\"}" "$URL/api/v1/auth/login")
check "after it, the right password logs in (200)" test "$s" = 200

# ---- bodies that are not UTF-8 ------------------------------------------------------------------
sock POST /api/v1/pools '{"name":"p1"}' >/dev/null
bad_body() {  # bad_body DESCRIPTION PRINTF-BYTES [content type] [want status]
  printf '{"description":"%b"}' "$2" >"$T/req"
  local s; s=$(raw PATCH /api/v1/pools/p1 "$T/req" "${3:-application/json}")
  check "$1 -> ${4:-400} ($s $(code))" test "$s" = "${4:-400}"
}
bad_body "a description with an invalid byte pair (c0 af)" '\xc0\xaf'
bad_body "...an overlong '/' (e0 80 af)" '\xe0\x80\xaf'
bad_body "...a UTF-8-encoded surrogate (ed a0 80)" '\xed\xa0\x80'
bad_body "...a lone surrogate escape (\\\\ud800)" '\\ud800'
bad_body "...a high surrogate escape followed by a letter" '\\ud83dx'
bad_body "...a \\\\u0000 escape" 'a\\u0000b'
bad_body "...a code point above U+10FFFF (f4 90 80 80)" '\xf4\x90\x80\x80'
bad_body "...a truncated sequence (e2 82)" '\xe2\x82'
bad_body "a body declared charset=utf-16" 'x' 'application/json; charset=utf-16' 415
bad_body "a body declared charset=latin1" 'x' 'application/json;charset=latin1' 415
s=$(sock GET /api/v1/pools/p1)
check "none of them was stored: the pool's description is still empty" test "$s:$(jqb '.metadata.description // ""')" = 200:
printf '{"description":"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \xf0\x9f\x90\x84"}' >"$T/req"
s=$(raw PATCH /api/v1/pools/p1 "$T/req" 'application/json; charset=UTF-8')
sock GET /api/v1/pools/p1 >/dev/null
check "valid UTF-8 (raw, escaped, a surrogate pair) is stored, with charset=UTF-8 ($s)" \
  test "$s:$(jqb .metadata.description)" = "200:café é 😀 🐄"
check "...and served back as JSON a strict parser reads" strict_json "$T/body"
long=$(printf 'é%.0s' $(seq 100))
s=$(sock POST /api/v1/pools "{\"name\":\"$long\"}")
check "an error echoing a long non-ASCII name cuts it on a character boundary ($s)" \
  bash -c "[ $s = 400 ] && python3 -c 'import json, sys; m = json.loads(open(sys.argv[1], \"rb\").read().decode(\"utf-8\", \"strict\"))[\"error\"][\"message\"]; assert \"é\" * 32 in m' '$T/body'"

# ---- query parameters ---------------------------------------------------------------------------
s=$(sock GET '/api/v1/audit?limit=0000000000000002'); check "?limit= with 16 digits is refused, not ignored ($s)" test "$s:$(code)" = 400:bad_query
s=$(sock GET '/api/v1/audit?limit=2%00'); check "?limit= with a percent escape is refused ($s)" test "$s:$(code)" = 400:bad_query
s=$(sock GET '/api/v1/audit?limit='); check "an empty ?limit= is refused ($s)" test "$s:$(code)" = 400:bad_query
s=$(sock GET '/api/v1/audit?limit=0'); check "?limit=0 is refused ($s)" test "$s:$(code)" = 400:bad_query
s=$(sock GET '/api/v1/audit?limit=2'); check "?limit=2 gives 2 rows ($s)" test "$s:$(jqb '.metadata | length')" = 200:2
s=$(sock GET '/api/v1/operations/x/wait?timeout=99999999999999999'); check "?timeout= too long is refused ($s)" test "$s:$(code)" = 400:bad_query

# ---- the cap on API tokens ------------------------------------------------------------------------
curl -s --cacert "$T/state/tls/server.crt" -c "$T/jar" -H 'Content-Type: application/json' \
  -d "{\"username\":\"op1\",\"password\":\"$PW\"}" "$URL/api/v1/auth/login" >"$T/login"
CSRF=$(jq -r .metadata.csrf_token "$T/login")
tok() { curl -s -o "$T/body" -w '%{http_code}' --cacert "$T/state/tls/server.crt" -b "$T/jar" -H "X-CSRF-Token: $CSRF" \
  -H 'Content-Type: application/json' -X "$1" ${3:+-d "$3"} "$URL$2"; }
made=0
for i in $(seq 64); do [ "$(tok POST /api/v1/tokens "{\"name\":\"t$i\"}")" = 201 ] && made=$((made + 1)); done
check "a user gets 64 tokens ($made)" test "$made" = 64
s=$(tok POST /api/v1/tokens '{"name":"t65"}')
check "...and not a 65th (409, says why)" bash -c "[ $s = 409 ] && jq -r .error.message '$T/body' | grep -q 'the most a user may have'"
id=$(tok GET /api/v1/tokens >/dev/null; jqb '.metadata[] | select(.name == "t1") | .id')
s=$(tok DELETE "/api/v1/tokens/$id")
s2=$(tok POST /api/v1/tokens '{"name":"t65"}')
check "revoking one makes room for another ($s, $s2)" test "$s:$s2" = 200:201

check "corrald's log has no errors" bash -c "! grep -E ' error' '$T/log'"
echo "1..$n"
[ "$failed" -eq 0 ]
