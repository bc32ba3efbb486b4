#!/usr/bin/env python3
"""Connection-exhaustion clients for tests/server/sec-http.sh.

  flood.py idle PORT SECONDS PER_ADDR ADDR...
      opens PER_ADDR plain TCP connections from each source ADDR, sends
      nothing, and for SECONDS reopens those the server closes; prints a
      JSON line once all are open ({"ready": N}) and one at the end: how
      many it opened in all, the most open at once, and the longest any
      one stayed open.
  flood.py drip PORT SECONDS ADDR
      a TLS client from ADDR that sends a request head one header line a
      second, never finishing it; prints one JSON line: the seconds until
      the server closed the connection (or SECONDS if it never did) and the
      header lines sent.
"""
import json
import select
import socket
import ssl
import sys
import time


def connect(addr, port, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((addr, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed(s):
    """True once the peer closed (EOF or reset); never blocks."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        s.setblocking(False)
        return s.recv(1) == b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True


def idle(port, seconds, per_addr, addrs):
    """Keeps PER_ADDR connections per address open as far as the server
    lets it: one it closes is opened again (at most 10 each 0.2 s)."""
    start = time.monotonic()
    opened, failed, peak, longest = 0, 0, 0, 0.0
    conns = []  # [socket, address, connected at]

    def open_one(a):
        nonlocal opened, failed
        try:
            conns.append([connect(a, port), a, time.monotonic()])
            opened += 1
        except OSError:
            failed += 1

    for _ in range(per_addr):
        for a in addrs:
            open_one(a)
    print(json.dumps({"ready": opened}), flush=True)
    while time.monotonic() - start < seconds:
        time.sleep(0.2)
        now = time.monotonic()
        gone = [c for c in conns if closed(c[0])]
        for c in gone:
            longest = max(longest, now - c[2])
            c[0].close()
            conns.remove(c)
        peak = max(peak, len(conns))
        for c in gone[:10]:
            open_one(c[1])
    now = time.monotonic()
    longest = max([longest] + [now - c[2] for c in conns])
    print(json.dumps({"opened": opened, "failed": failed, "peak_open": peak, "open_at_end": len(conns),
                      "longest_open": round(longest, 1)}))


def drip(port, seconds, addr):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    start = time.monotonic()
    s = ctx.wrap_socket(connect(addr, port), server_hostname="localhost")
    lines = 0
    try:
        s.sendall(b"GET /api/v1 HTTP/1.1\r\nHost: localhost\r\n")
        while time.monotonic() - start < seconds:
            time.sleep(1)
            if closed(s):
                break
            s.setblocking(True)
            s.sendall(b"X-Drip-%d: x\r\n" % lines)
            lines += 1
    except OSError:
        pass
    print(json.dumps({"seconds": round(time.monotonic() - start, 1), "lines": lines}))


if __name__ == "__main__":
    mode, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if mode == "idle":
        idle(port, secs, int(sys.argv[4]), sys.argv[5:])
    else:
        drip(port, secs, sys.argv[4])
