# Helpers shared by the end-to-end scripts that run corrald (source it).

# free_port: a free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# shell_guest SRC ASSETS DIR OUT: builds a busybox shell initramfs (OUT) for
# Debian's cloud kernel in ASSETS (scripts/mkguest.sh, which `make demo`
# uses too).  DIR (scratch space) is unused: mkguest.sh has its own.
shell_guest() {
  "$1/scripts/mkguest.sh" "$2" "$4" >&2
}
