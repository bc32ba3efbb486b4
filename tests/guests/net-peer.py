#!/usr/bin/env python3
"""The far end for the `net` test guest: answers every Ethernet frame of
type 0x88b5 whose payload starts with b"corral-ping" with a broadcast frame
of the same type whose payload is b"corral-pong from net-peer".

Transports:
  --udp HOST:PORT   raw frames as UDP datagrams, one per frame (QEMU's
                    -netdev socket,udp=... / -netdev dgram); replies go to
                    the sender.  Port 0 picks a free port (see --port-file).
  --iface NAME      an AF_PACKET socket on a host interface, e.g. the tap
                    device or bridge corral-vmm attaches the guest to
                    (needs CAP_NET_RAW).
Stops after --count replies (default 1) or --timeout seconds (default 60)."""
import argparse
import socket
import sys
import time

ETHERTYPE = 0x88B5
PING = b"corral-ping"
PONG = b"corral-pong from net-peer"
PEER_MAC = bytes.fromhex("020000c0ffee")


def pong_for(frame):
    """The reply to a ping frame, or None if the frame is something else."""
    if len(frame) < 14 + len(PING):
        return None
    if int.from_bytes(frame[12:14], "big") != ETHERTYPE or not frame[14:].startswith(PING):
        return None
    src = frame[6:12]
    reply = src + PEER_MAC + ETHERTYPE.to_bytes(2, "big") + PONG
    return reply.ljust(60, b"\0")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--udp", metavar="HOST:PORT")
    ap.add_argument("--iface", metavar="NAME")
    ap.add_argument("--port-file", help="write the bound UDP port here once listening")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    if bool(args.udp) == bool(args.iface):
        ap.error("give exactly one of --udp and --iface")

    if args.udp:
        host, port = args.udp.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, int(port)))
        if args.port_file:
            with open(args.port_file + ".tmp", "w") as f:
                f.write(str(sock.getsockname()[1]))
            import os
            os.rename(args.port_file + ".tmp", args.port_file)
    else:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
        sock.bind((args.iface, 0))
    print(f"net-peer: listening on {sock.getsockname()}", flush=True)

    deadline = time.monotonic() + args.timeout
    replies = 0
    while replies < args.count:
        left = deadline - time.monotonic()
        if left <= 0:
            print("net-peer: timeout", flush=True)
            return 1
        sock.settimeout(left)
        try:
            frame, addr = sock.recvfrom(65536)
        except socket.timeout:
            continue
        reply = pong_for(frame)
        if reply is None:
            print(f"net-peer: ignoring a {len(frame)}-byte frame", flush=True)
            continue
        text = frame[14:].split(b"\0", 1)[0].decode("ascii", "replace")
        print(f"net-peer: got {text!r} from {frame[6:12].hex(':')}, answering", flush=True)
        if args.udp:
            sock.sendto(reply, addr)
        else:
            sock.send(reply)
        replies += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
