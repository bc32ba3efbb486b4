#!/usr/bin/env python3
"""The host end of the virtio-net test: on tap IFACE, waits for the guest's
"corral-ping" frame (ethertype 0x88b5), answers with "corral-pong" to the
sender, and exits 0; exits 1 after TIMEOUT seconds without a ping."""
import socket
import sys
import time

iface, timeout = sys.argv[1], float(sys.argv[2])
ETHERTYPE = 0x88B5
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
s.bind((iface, 0))
host_mac = bytes.fromhex("0200c0ffee01")
deadline = time.time() + timeout
while time.time() < deadline:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        frame = s.recv(2048)
    except socket.timeout:
        break
    if b"corral-ping" not in frame[14:]:
        continue
    src = frame[6:12]
    print("got corral-ping from " + ":".join("%02x" % b for b in src), flush=True)
    reply = src + host_mac + ETHERTYPE.to_bytes(2, "big") + b"corral-pong"
    reply += b"\0" * max(0, 60 - len(reply))
    for _ in range(3):  # the guest may post its receive buffers a bit later
        s.send(reply)
        time.sleep(0.2)
    sys.exit(0)
print("no corral-ping within %.0fs" % timeout, flush=True)
sys.exit(1)
