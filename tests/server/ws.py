#!/usr/bin/env python3
"""A minimal WebSocket client for the console tests, independent of corral's:
   ws.py --unix SOCK PATH [--header H]... [--prompt RE] [--send TEXT]... [--expect RE] [--timeout S] [--ping]
Prints the HTTP status line of the handshake, checks Sec-WebSocket-Accept,
sends each --send (masked text frames, one per line, after a short wait),
and exits 0 once the received bytes match --expect (or after --timeout: 1)."""
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

data, pong = b"", False
def pump(t):
    global rest, data, pong
    s.settimeout(t)
    try:
        d = s.recv(65536)
        if not d:
            return False
        rest += d
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

if a.ping:
    s.sendall(frame(9, b"hi"))
end = time.time() + a.timeout
pump(1.0)
while a.prompt and not re.search(a.prompt.encode(), data) and time.time() < end:
    s.sendall(frame(1, b"\n"))
    for _ in range(4):
        pump(0.25)
for t in a.send:
    s.sendall(frame(1, (t + "\n").encode()))
    pump(0.5)
while time.time() < end:
    if a.expect and re.search(a.expect.encode(), data) and (pong or not a.ping):
        break
    if not pump(0.3):
        break
s.sendall(frame(8, struct.pack(">H", 1000)))
sys.stdout.write(data.decode(errors="replace"))
print()
if a.ping:
    print("pong" if pong else "no pong")
sys.exit(0 if (not a.expect or re.search(a.expect.encode(), data)) and (pong or not a.ping) else 1)
