#!/usr/bin/env bash
# corrald's HTTPS hardening (TAP): TLS 1.2/1.3 with AEAD suites only, the
# generated certificate (a leaf, not a CA, naming the host's addresses; an
# old CA-style one replaced, an operator's kept), HSTS, HEAD on GET routes,
# and connection exhaustion: a flood of idle and slow-header connections
# from 127.0.0.31-35 while logged-in clients keep getting answers.
#   tests/server/sec-http.sh BUILD_DIR
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/server/lib.sh"
PID= BG=

for tool in openssl curl python3 jq ss; do
  command -v $tool >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done
T=$(mktemp -d /var/tmp/csec.XXXXXX)
cleanup() { kill -9 $PID $BG 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

PW='correct-horse-battery'
echo "$PW" >"$T/pw"
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
SOCK=$T/c.sock
CRT=$T/state/tls/server.crt
start() { corrald_start --listen "127.0.0.1:$PORT" --admin-password-file "$T/pw" --workers 1 --log-level debug "$@"; }
stop() { kill "$PID"; wait "$PID" 2>/dev/null; PID=; }
# handshake ARGS...: the cipher openssl s_client agreed on, or "(NONE)".
handshake() {
  timeout 10 openssl s_client -connect "127.0.0.1:$PORT" "$@" </dev/null 2>&1 | sed -n 's/^New, .*Cipher is //p' | head -1
}
# The host's global addresses (not loopback or IPv6 link-local).
host_addrs() { ip -o addr show | awk '{print $4}' | cut -d/ -f1 | grep -vE '^(127\.|::1$|fe80:)' | sort; }
addrs_before=$(host_addrs)

if start; then ok "corrald starts on 127.0.0.1:$PORT"; else nok "corrald starts" "$(tail -5 "$T/log")"; exit 1; fi

# ---- TLS versions and suites ------------------------------------------------
# SECLEVEL=0 makes OpenSSL 3 offer TLS 1.0/1.1 at all: the server must say no.
for v in tls1 tls1_1; do
  c=$(handshake -$v -cipher 'DEFAULT@SECLEVEL=0')
  check "a -$v handshake fails (cipher: ${c:-none})" test "$c" = "(NONE)"
done
c12=$(handshake -tls1_2)
check "a TLS 1.2 handshake works, with an AEAD suite ($c12)" bash -c "[[ '$c12' =~ (GCM|CHACHA20) ]]"
c13=$(handshake -tls1_3)
check "a TLS 1.3 handshake works ($c13)" bash -c "[[ '$c13' =~ ^TLS_(AES_.*_GCM|CHACHA20) ]]"
for cbc in AES128-SHA AES256-SHA256 ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384; do
  c=$(handshake -tls1_2 -cipher "$cbc@SECLEVEL=0")
  check "the CBC suite $cbc is refused under TLS 1.2 ($c)" test "$c" = "(NONE)"
done

# ---- the generated certificate ------------------------------------------------
openssl x509 -in "$CRT" -noout -text >"$T/x509"
check "the certificate is not a CA (Basic Constraints: critical, CA:FALSE)" \
  bash -c "grep -A1 'Basic Constraints: critical' '$T/x509' | grep -q 'CA:FALSE'"
ku=$(grep -A1 'X509v3 Key Usage' "$T/x509" | tail -1 | xargs)
check "its key usage is digitalSignature only, no keyCertSign ($ku)" test "$ku" = "Digital Signature"
check "its extended key usage is serverAuth" grep -q 'TLS Web Server Authentication' "$T/x509"
check "it names the host name and localhost" bash -c "grep -q 'DNS:$(hostname)' '$T/x509' && grep -q 'DNS:localhost' '$T/x509'"
# Addresses present both before corrald started and now (other tests may
# add or remove bridges meanwhile) must all be named.
want=$(comm -12 <(echo "$addrs_before") <(host_addrs) | tr '\n' ' ')
missing=$(python3 - "$T/x509" $want 127.0.0.1 ::1 <<'PY'
import ipaddress, re, sys
text = open(sys.argv[1]).read()
have = {ipaddress.ip_address(a) for a in re.findall(r"IP Address:([0-9A-Fa-f:.]+)", text)}
print(" ".join(a for a in sys.argv[2:] if ipaddress.ip_address(a) not in have))
PY
)
check "it names 127.0.0.1, ::1 and the host's addresses (${want:-none besides loopback})" test -z "$missing"
check "curl --cacert (OpenSSL) accepts the pinned leaf" \
  bash -c "[ \"\$(curl -s --cacert '$CRT' -o /dev/null -w '%{http_code}' '$URL/api/v1')\" = 401 ]"
if command -v wget >/dev/null && wget --version 2>/dev/null | grep -q '+ssl/gnutls'; then
  check "wget --ca-certificate (GnuTLS) accepts the pinned leaf" \
    wget -q --ca-certificate="$CRT" -O /dev/null "https://localhost:$PORT/"
else
  ok "wget --ca-certificate (GnuTLS) accepts the pinned leaf # SKIP no wget built with GnuTLS"
fi
check "openssl s_client -verify_return_error verifies it against itself" \
  bash -c "timeout 10 openssl s_client -connect 127.0.0.1:$PORT -CAfile '$CRT' -verify_return_error -verify_hostname localhost </dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" -out "$T/other.crt" \
  -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
check "another certificate as --cacert is refused (the pin means something)" \
  bash -c "! curl -s --cacert '$T/other.crt' -o /dev/null '$URL/api/v1'"

# ---- logged in: a session and a token ----------------------------------------
curl -s --cacert "$CRT" -c "$T/jar" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PW\"}" "$URL/api/v1/auth/login" >"$T/login"
CSRF=$(jq -r .metadata.csrf_token "$T/login")
TOK=$(curl -s --cacert "$CRT" -b "$T/jar" -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' \
  -d '{"name":"sec"}' "$URL/api/v1/tokens" | jq -r .metadata.token)
check "admin logs in and gets a token" test "${TOK:0:7}" = corral_
check "corral --remote --ca-cert (libcurl) accepts the pinned leaf" \
  "$B/corral" --remote "$URL" --token "$TOK" --ca-cert "$CRT" pool list

# ---- HSTS and HEAD ------------------------------------------------------------
hdr() { grep -i "^$1:" "$2" | cut -d' ' -f2- | tr -d '\r'; }
curl -s --cacert "$CRT" -D "$T/h-api" -o /dev/null "$URL/api/v1"
curl -s --cacert "$CRT" -D "$T/h-web" -o /dev/null "$URL/login"
check "HTTPS answers carry Strict-Transport-Security: max-age=31536000 (API and web)" \
  test "$(hdr Strict-Transport-Security "$T/h-api"):$(hdr Strict-Transport-Security "$T/h-web")" = max-age=31536000:max-age=31536000
curl -s --unix-socket "$SOCK" -D "$T/h-unix" -o /dev/null http://x/api/v1
check "the Unix socket's answers do not" bash -c "! grep -qi strict-transport '$T/h-unix'"
head_vs_get() {  # head_vs_get PATH [curl args]: "GETSTATUS GETLEN HEADSTATUS HEADLEN HEADBODYBYTES"
  local p=$1; shift
  local g h
  g=$(curl -s --cacert "$CRT" "$@" -o "$T/gb" -w '%{http_code}' "$URL$p")
  h=$(curl -s --cacert "$CRT" "$@" -I -o "$T/hh" -w '%{http_code} %{size_download}' "$URL$p")
  echo "$g $(wc -c <"$T/gb") ${h%% *} $(hdr Content-Length "$T/hh") ${h##* }"
}
for p in /api/v1/pools /api/v1/auth/whoami /api/v1/openapi.json; do
  r=$(head_vs_get $p -H "Authorization: Bearer $TOK"); read -r gs gl hs hl hb <<<"$r"
  check "HEAD $p answers like GET without the body ($r)" test "$gs:$hs:$hl:$hb" = "200:200:$gl:0"
done
r=$(head_vs_get /login); read -r gs gl hs hl hb <<<"$r"
check "HEAD on a web page answers like GET without the body ($r)" test "$gs:$hs:$hl:$hb" = "200:200:$gl:0"
r=$(head_vs_get /api/v1/pools); read -r gs gl hs hl hb <<<"$r"
check "HEAD without a login gets GET's 401 ($r)" test "$gs:$hs:$hl" = "401:401:$gl"
s=$(curl -s --cacert "$CRT" -I -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" "$URL/api/v1/auth/login")
check "HEAD on a POST-only route is still 405 ($s)" test "$s" = 405

# ---- connection exhaustion ------------------------------------------------------
# An event stream opened before the flood must outlive the request deadline.
curl -sN --cacert "$CRT" -H "Authorization: Bearer $TOK" --max-time 60 "$URL/api/v1/events" >"$T/sse" &
SSE=$!
BG="$BG $SSE"
ATTACKERS="127.0.0.31 127.0.0.32 127.0.0.33 127.0.0.34 127.0.0.35"
FLOOD=$SRC/tests/server/flood.py
t0=$(date +%s.%N)
python3 "$FLOOD" idle "$PORT" 16 60 $ATTACKERS >"$T/idle" &
BG="$BG $!"
for a in $ATTACKERS; do for _ in 1 2 3 4; do python3 "$FLOOD" drip "$PORT" 20 "$a" >>"$T/drips" & BG="$BG $!"; done; done
python3 "$FLOOD" drip "$PORT" 25 127.0.0.40 >"$T/drip" &
BG="$BG $!"
python3 "$FLOOD" idle "$PORT" 14 1 127.0.0.41 >"$T/idle1" &
BG="$BG $!"
for _ in $(seq 100); do grep -q ready "$T/idle" && break; sleep 0.1; done
sleep 1
per_addr=$(ss -Htn state established "( sport = :$PORT )" | awk '{print $4}' | grep -E '^127\.0\.0\.3[1-5]:' | cut -d: -f1 | sort | uniq -c | sort -rn)
held=$(awk '{s += $1} END {print s + 0}' <<<"$per_addr"); most=$(awk 'NR == 1 {print $1 + 0}' <<<"$per_addr")
check "$(head -1 "$T/idle" | jq .ready) idle connections from 127.0.0.31-35: $held held, at most ${most:-0} per address (limit 16)" \
  test "$(head -1 "$T/idle" | jq .ready)" = 300 -a "$held" -ge 40 -a "${most:-0}" -le 16
worst=0 bad= good=0
for i in 1 2 3 4 5 6 7 8; do
  r=$(curl -s --cacert "$CRT" -H "Authorization: Bearer $TOK" -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$URL/api/v1/host")
  [ "${r%% *}" = 200 ] && good=$((good + 1)) || bad="$bad $r"
  worst=$(awk -v a="$worst" -v b="${r##* }" 'BEGIN {print (b + 0 > a + 0) ? b : a}')
  s=$(curl -s --cacert "$CRT" -b "$T/jar" -o /dev/null -w '%{http_code}' --max-time 5 "$URL/api/v1/auth/whoami")
  [ "$s" = 200 ] && good=$((good + 1)) || bad="$bad session:$s"
  sleep 1
done
check "under the flood a token and a session get answers: $good of 16 are 200, slowest ${worst} s" \
  bash -c "[ -z '$bad' ] && awk 'BEGIN {exit !($worst < 2)}'"
s=$(curl -s --cacert "$CRT" -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$URL/api/v1")
check "a new anonymous client is still answered ($s)" test "${s%% *}" = 401
elapsed=$(python3 -c "import time; print(round(time.time() - $t0))")
curl -s --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' -d '{"name":"late"}' http://x/api/v1/pools >/dev/null
sleep 1; kill $SSE
wait $BG 2>/dev/null; BG=
idle=$(tail -1 "$T/idle"); drip=$(cat "$T/drip")
check "no flood connection stayed open past the deadline ($idle)" \
  awk "BEGIN {exit !($(jq .longest_open <<<"$idle") <= 12)}"
idle1=$(tail -1 "$T/idle1" | jq .longest_open)
check "a lone connection that sends nothing is cut after $idle1 s (deadline 10 s)" awk "BEGIN {exit !(9 <= $idle1 && $idle1 <= 12)}"
secs=$(jq .seconds <<<"$drip")
check "a slow-header client (a line a second) is cut after $secs s (deadline 10 s)" \
  awk "BEGIN {exit !(9 <= $secs && $secs <= 12.5)}"
check "the slow-header clients from 127.0.0.31-35 were all cut ($(jq -s 'map(.seconds) | max' "$T/drips") s at most)" \
  test "$(jq -s 'map(select(.seconds >= 20)) | length' "$T/drips")" = 0
check "the event stream opened before the flood still delivered an event after ${elapsed} s" \
  bash -c "grep '^data:' '$T/sse' | grep -q 'late'"
check "corrald still runs" kill -0 "$PID"

# ---- an old generated CA certificate is replaced; an operator's is kept ------
stop
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/state/tls/server.key" -out "$CRT" \
  -days 3650 -subj "/CN=$(hostname)/O=corrald" -addext 'basicConstraints=critical,CA:TRUE' \
  -addext 'keyUsage=critical,digitalSignature,keyCertSign' 2>/dev/null
check "(setup) an old-style CA certificate of corrald's" bash -c "openssl x509 -in '$CRT' -noout -text | grep -q CA:TRUE"
start
check "at start corrald replaces it with a leaf (CA:FALSE) and says so" \
  bash -c "openssl x509 -in '$CRT' -noout -text | grep -q CA:FALSE && grep -q 'replacing it with a leaf' '$T/log'"
check "the new leaf is served" \
  bash -c "[ \"\$(curl -s --cacert '$CRT' -o /dev/null -w '%{http_code}' '$URL/api/v1')\" = 401 ]"
stop
mkdir -p "$T/op"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/op/k.pem" -out "$T/op/c.pem" \
  -days 30 -subj "/CN=localhost/O=corrald" -addext 'basicConstraints=critical,CA:TRUE' \
  -addext 'subjectAltName=IP:127.0.0.1' 2>/dev/null
sum=$(sha256sum <"$T/op/c.pem")
start --tls-cert "$T/op/c.pem" --tls-key "$T/op/k.pem"
served=$(timeout 10 openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)
check "an operator's --tls-cert (even CA:TRUE, O=corrald) is served and left alone" \
  test "$served:$(sha256sum <"$T/op/c.pem")" = "$(openssl x509 -in "$T/op/c.pem" -noout -fingerprint -sha256):$sum"
stop

echo "1..$n"
[ "$failed" -eq 0 ] || { cp "$T/log" "$B/sec-http-corrald.log"; echo "# log: $B/sec-http-corrald.log"; }
[ "$failed" -eq 0 ]
