#!/usr/bin/env python3
"""A minimal WebSocket client for the console tests, independent of corral's:
   ws.py --unix SOCK PATH [--header H]... [--prompt RE] [--send TEXT]... [--expect RE] [--timeout S] [--ping]
Prints the HTTP status line of the handshake, checks Sec-WebSocket-Accept,
sends each --send (masked text frames, one per line, after a short wait),
and exits 0 once the received bytes match --expect (or after --timeout: 1).

corrald replays the console's scrollback on connect, so old output (old
prompts, old answers) arrives first.  With --prompt the replay is read to
its end, then Enter is pressed until a fresh prompt appears; with --send,
--expect looks only at what arrives after the first line is sent.  The
prompt is matched with terminal escape sequences removed: busybox's shell
asks for the cursor position (ESC [ 6 n) after every prompt, and whether
that arrives in the same frame as the prompt is a matter of timing.
On failure the reason goes to stderr; the transcript is always printed."""
import argparse, base64, hashlib, os, re, socket, struct, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--unix", required=True)
ap.add_argument("path")
ap.add_argument("--header", action="append", default=[])
ap.add_argument("--send", action="append", default=[])
ap.add_argument("--expect")
ap.add_argument("--timeout", type=float, default=20)
ap.add_argument("--ping", action="store_true")
ap.add_argument("--prompt", help="press Enter every second until this appears, then send")
a = ap.parse_args()

s = socket.socket(socket.AF_UNIX)
s.connect(a.unix)
key = base64.b64encode(os.urandom(16)).decode()
hdrs = "".join(h + "\r\n" for h in a.header)
s.sendall((f"GET {a.path} HTTP/1.1\r\nHost: corrald\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{hdrs}\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
head, _, rest = buf.partition(b"\r\n\r\n")
lines = head.decode(errors="replace").split("\r\n")
print(lines[0])
if " 101 " not in lines[0]:
    print(rest.decode(errors="replace"))
    sys.exit(2)
want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
got = [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("sec-websocket-accept:")]
if got != [want]:
    print("bad Sec-WebSocket-Accept", got, want)
    sys.exit(3)

def frame(op, payload):
    m = os.urandom(4)
    n = len(payload)
    h = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return h + m + bytes(b ^ m[i % 4] for i, b in enumerate(payload))

data, pong, received = b"", False, 0
def pump(t):
    global rest, data, pong, received
    s.settimeout(t)
    try:
        d = s.recv(65536)
        if not d:
            return False
        rest += d
        received += len(d)
    except socket.timeout:
        pass
    while len(rest) >= 2:
        op, n, hl = rest[0] & 15, rest[1] & 127, 2
        if n == 126:
            if len(rest) < 4: break
            n, hl = struct.unpack(">H", rest[2:4])[0], 4
        if len(rest) < hl + n: break
        p, rest = rest[hl:hl + n], rest[hl + n:]
        if op == 2 or op == 1: data += p
        elif op == 0xA: pong = True
        elif op == 8: return False
    return True

def settle(quiet=0.3, limit=3.0):
    """Reads until nothing has come for `quiet` s: the scrollback replay is in."""
    stop = min(end, time.time() + limit)
    while time.time() < stop:
        n = received
        if not pump(quiet):
            return False
        if received == n:
            break
    return True

CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")
def prompt_seen(since):
    return re.search(a.prompt.encode(), CSI.sub(b"", data[since:])) is not None

def finish(ok, why=""):
    try:
        s.sendall(frame(8, struct.pack(">H", 1000)))
    except OSError:
        pass
    sys.stdout.write(data.decode(errors="replace"))
    print()
    if a.ping:
        print("pong" if pong else "no pong")
    if not ok:
        print(f"ws.py: {why}", file=sys.stderr)
    sys.exit(0 if ok else 1)

if a.ping:
    s.sendall(frame(9, b"hi"))
end = time.time() + a.timeout
open_ = settle() if a.prompt else pump(1.0)
if a.prompt:
    mark = len(data)
    while open_ and not prompt_seen(mark) and time.time() < end:
        s.sendall(frame(1, b"\n"))
        for _ in range(4):
            if prompt_seen(mark) or not (open_ := pump(0.25)):
                break
    if not prompt_seen(mark):
        finish(False, f"no prompt matching {a.prompt!r} after pressing Enter for {a.timeout:g} s"
               + ("" if open_ else " (the console closed)"))
mark = len(data)
for t in a.send:
    s.sendall(frame(1, (t + "\n").encode()))
    pump(0.5)
def expected():
    return not a.expect or re.search(a.expect.encode(), data[mark if a.send else 0:])
while time.time() < end:
    if a.expect and expected() and (pong or not a.ping):
        break
    if not pump(0.3):
        break
ok = bool(expected()) and (pong or not a.ping)
finish(ok, "" if ok else f"no {'pong' if expected() else repr(a.expect)} within {a.timeout:g} s")
