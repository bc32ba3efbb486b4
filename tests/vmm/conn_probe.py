#!/usr/bin/env python3
"""One TCP connection to a guest's echo server, kept busy across migrations.

    conn_probe.py HOST PORT STATUS [IFACE MAC]

Connects (retrying for up to 180 s while the guest boots), then sends a
numbered line every 50 ms and waits for the same line back.  After every
reply it rewrites STATUS with one line,

    lines=N max_gap_ms=G rarp=R

N replies so far, G the longest time between two replies (what a client saw
of a migration's downtime), R the RARP frames from MAC seen on IFACE (the
announcements a moved guest's VMM sends).  A wrong reply, a closed or reset
connection, or no reply within 60 s writes "FAIL <why>" and ends the probe;
SIGTERM ends it quietly.  It never reconnects: a surviving connection is the
point.
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

ETH_P_RARP = 0x8035


def write_status(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def count_rarp(iface, mac, counter):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_RARP))
    s.bind((iface, 0))
    want = bytes.fromhex(mac.replace(":", ""))
    while True:
        frame = s.recv(2048)
        if frame[6:12] == want and struct.unpack("!H", frame[12:14])[0] == ETH_P_RARP:
            counter[0] += 1


def main():
    host, port, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rarp = [0]
    if len(sys.argv) == 6:
        threading.Thread(target=count_rarp, args=(sys.argv[4], sys.argv[5], rarp), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    deadline = time.monotonic() + 180
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=5)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                write_status(status, f"FAIL no connection to {host}:{port}: {e}")
                return 1
            time.sleep(0.5)
    conn.settimeout(60)
    reader = conn.makefile("rb")
    n, last, max_gap = 0, None, 0.0
    while True:
        n += 1
        line = f"{n}\n".encode()
        try:
            conn.sendall(line)
            got = reader.readline()
        except OSError as e:
            write_status(status, f"FAIL after {n - 1} lines: {e}")
            return 1
        if got != line:
            write_status(status, f"FAIL line {n}: got {got!r}")
            return 1
        now = time.monotonic()
        if last is not None:
            max_gap = max(max_gap, now - last)
        last = now
        write_status(status, f"lines={n} max_gap_ms={max_gap * 1000:.0f} rarp={rarp[0]}")
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
