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

# net_table_existed: whether nftables already has corrald's table (call
# before starting corrald; pass the answer to net_cleanup).
net_table_existed() {
  nft list table inet corral >/dev/null 2>&1 && echo 1 || echo 0
}

# net_cleanup DB TABLE_EXISTED: for each network in corrald's database DB,
# stops its dnsmasq (the pid file's pid, if its command line names the
# bridge), removes its run directory and its bridge; deletes the nftables
# table unless it existed before the test.
net_cleanup() {
  local br p
  for br in $(sqlite3 "$1" 'SELECT bridge FROM networks' 2>/dev/null); do
    p=$(cat "/run/corral/net/$br/dnsmasq.pid" 2>/dev/null)
    [ -n "$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--interface=$br " && kill "$p"
    rm -rf "/run/corral/net/${br:?}"
    ip link del "$br" 2>/dev/null
  done
  [ "$2" = 0 ] && nft delete table inet corral 2>/dev/null
  return 0
}
