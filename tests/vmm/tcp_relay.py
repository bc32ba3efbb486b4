#!/usr/bin/env python3
"""A TCP relay that keeps what crosses it, to see what a wire would see.

    tcp_relay.py LISTEN_PORT TARGET_PORT CAPTURE

Accepts one connection on 127.0.0.1:LISTEN_PORT, connects it to
127.0.0.1:TARGET_PORT, copies bytes both ways until both sides close, and
writes everything the first side sent into CAPTURE.  Prints "listening"
once it accepts connections.
"""
import socket
import sys
import threading


def pump(src, dst, keep):
    while True:
        try:
            data = src.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            break
        if keep is not None:
            keep.write(data)
        try:
            dst.sendall(data)
        except OSError:
            break
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    listen_port, target_port, capture = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(1)
    print("listening", flush=True)
    a, _ = srv.accept()
    b = socket.create_connection(("127.0.0.1", target_port))
    with open(capture, "wb") as keep:
        t = threading.Thread(target=pump, args=(b, a, None))
        t.start()
        pump(a, b, keep)
        t.join()


if __name__ == "__main__":
    main()
