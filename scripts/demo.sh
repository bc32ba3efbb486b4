#!/usr/bin/env bash
# corral's main job in one command (`make demo`): starts corrald on this host
# with a Linux VM you can reach, built from Debian packages.
#   scripts/demo.sh [BUILD_DIR]      bring the demo up (again: reuses what runs)
#   scripts/demo.sh --stop           stop the demo VM and container, then corrald (`make demo-stop`)
# Environment: DEMO_STATE (corrald's state directory, default /var/lib/corral),
# DEMO_SOCKET (default /run/corral/corrald.sock), DEMO_LISTEN (default
# 0.0.0.0:8006), DEMO_SUBNET (default 10.213.250.0/24), DEMO_IMPORTS (the
# files corrald imports, default STATE-imports), CORRAL_ASSETS (the kernels
# of scripts/fetch-kernels.sh, default BUILD_DIR/assets).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
STATE=${DEMO_STATE:-/var/lib/corral}
SOCK=${DEMO_SOCKET:-/run/corral/corrald.sock}
LISTEN=${DEMO_LISTEN:-0.0.0.0:8006}
SUBNET=${DEMO_SUBNET:-10.213.250.0/24}
DEMO=$STATE/demo                  # the demo's own files: pid, log, password, console check
# What corrald imports (the guest's kernel and initrd, the busybox archive):
# outside the state directory, which corrald never reads for a request, and
# the one directory it may (--host-path-allow).
IMPORTS=${DEMO_IMPORTS:-${STATE%/}-imports}
VM=demo-vm NET=demo-net POOL=demo VOL=demo-root CT=demo-ct IMAGE=demo-busybox VMIMAGE=demo-linux

say() { echo "demo: $*"; }
die() { echo "demo: error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "corrald manages bridges, taps and /var/lib/corral: run as root (sudo make demo)"

stop=0
[ "${1:-}" = --stop ] && { stop=1; shift; }
B=$(cd "${1:-$SRC/build}" 2>/dev/null && pwd) || die "no build directory ${1:-$SRC/build}: run make first"
CLI() { "$B/corral" --socket "$SOCK" "$@"; }
sock_opt=; [ "$SOCK" = /run/corral/corrald.sock ] || sock_opt=" --socket $SOCK"   # for what we print

# The corrald this demo started, if it still runs (the pid file names it;
# the process must still be that corrald, not a reused pid).
running_pid() {
  local pid
  pid=$(cat "$DEMO/corrald.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/exe")" = "$B/corrald" ] && echo "$pid"
}

if [ $stop = 1 ]; then
  pid=$(running_pid) || { say "corrald is not running (no live pid in $DEMO/corrald.pid)"; exit 0; }
  if [ "$(CLI --output json vm show $VM 2>/dev/null | jq -r .state)" != stopped ] && CLI vm show $VM >/dev/null 2>&1; then
    say "stopping $VM (ACPI power button, forced after 5 s)"
    CLI vm shutdown $VM --timeout 5 --force >/dev/null || CLI vm stop $VM >/dev/null || true
  fi
  if [ "$(CLI --output json ct show $CT 2>/dev/null | jq -r .state)" = running ]; then
    say "stopping $CT"
    CLI ct stop $CT --timeout 2 >/dev/null || true
  fi
  say "stopping corrald (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && die "corrald (pid $pid) did not stop within 10 s"
  rm -f "$DEMO/corrald.pid"
  say "stopped; the state stays in $STATE (make demo brings it back)"
  exit 0
fi

for t in corrald corral; do [ -x "$B/$t" ] || die "$B/$t is not built: run make"; done
for t in qemu-system-x86_64 jq curl mkfs.ext4 python3 busybox; do command -v $t >/dev/null || die "$t not found: run make deps"; done
umask 077
mkdir -p "$DEMO" "$IMPORTS/guest" "$(dirname "$SOCK")"

# ---- the guest: Debian's cloud kernel, a busybox shell initramfs --------------------
ASSETS=${CORRAL_ASSETS:-$B/assets}
if [ ! -s "$ASSETS/cloud/vmlinuz" ]; then
  say "fetching Debian's linux-image-cloud-amd64 (apt-get download) into $ASSETS"
  "$SRC/scripts/fetch-kernels.sh" "$ASSETS" >/dev/null
fi
if [ ! -s "$IMPORTS/guest/initrd.cpio" ] || [ "$ASSETS/cloud/vmlinuz" -nt "$IMPORTS/guest/vmlinuz" ]; then
  say "building the guest: $(cat "$ASSETS/cloud/version" 2>/dev/null || echo cloud kernel) + busybox shell initramfs"
  "$SRC/scripts/mkguest.sh" "$ASSETS" "$IMPORTS/guest/initrd.cpio.tmp" >/dev/null
  cp "$ASSETS/cloud/vmlinuz" "$IMPORTS/guest/vmlinuz"
  mv "$IMPORTS/guest/initrd.cpio.tmp" "$IMPORTS/guest/initrd.cpio"
fi

# ---- corrald ----------------------------------------------------------------------------
if pid=$(running_pid); then
  say "corrald already runs (pid $pid): reusing it"
elif curl -s --unix-socket "$SOCK" http://x/api/v1 >/dev/null 2>&1; then
  die "another corrald answers on $SOCK (not started by this demo): stop it or set DEMO_SOCKET"
else
  say "starting corrald (state $STATE, HTTPS $LISTEN, log $DEMO/corrald.log)"
  : >>"$DEMO/corrald.log"
  logstart=$(($(stat -c %s "$DEMO/corrald.log") + 1))
  setsid "$B/corrald" --state-dir "$STATE" --listen "$LISTEN" --socket "$SOCK" --host-path-allow "$IMPORTS" \
    </dev/null >>"$DEMO/corrald.log" 2>&1 &
  pid=$!
  echo "$pid" >"$DEMO/corrald.pid"
  for _ in $(seq 150); do
    curl -s --unix-socket "$SOCK" http://x/api/v1 >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "corrald exited: $(tail -3 "$DEMO/corrald.log")"
    sleep 0.1
  done
  curl -s --unix-socket "$SOCK" http://x/api/v1 >/dev/null 2>&1 || die "corrald does not answer on $SOCK: see $DEMO/corrald.log"
  # On its first start corrald prints the admin's random password once: keep
  # it in a root-only file, and out of the log.
  line=$(tail -c +"$logstart" "$DEMO/corrald.log" | grep -m1 "created user 'admin' with password [^(]" || true)
  if [ -n "$line" ]; then
    sed -E "s/.*with password ([^ ]+) .*/\1/" <<<"$line" >"$DEMO/admin-password"
    sed -E "s/(created user 'admin' with password )[^ ]+/\1(saved in demo\/admin-password)/" "$DEMO/corrald.log" >"$DEMO/log.tmp"
    cat "$DEMO/log.tmp" >"$DEMO/corrald.log"    # same file: corrald appends to it
    rm -f "$DEMO/log.tmp"
  fi
fi

# ---- a network, a disk, the VM -------------------------------------------------------------
CLI net show $NET >/dev/null 2>&1 || { say "creating network $NET ($SUBNET)"; CLI net create $NET --subnet "$SUBNET" >/dev/null; }
CLI pool show $POOL >/dev/null 2>&1 || CLI pool create $POOL >/dev/null
if ! CLI volume show $POOL $VOL >/dev/null 2>&1; then
  say "creating a 64 MiB root disk $POOL/$VOL (ext4)"
  CLI volume create $POOL $VOL --size 64M --format raw >/dev/null
  mkfs.ext4 -q -F -L demo-root "$(CLI --output json pool show $POOL | jq -r .path)/$VOL.raw"
fi
if ! CLI image show $VMIMAGE >/dev/null 2>&1; then
  say "importing VM image $VMIMAGE (the guest's kernel, initrd and command line)"
  CLI image import $VMIMAGE --kernel "$IMPORTS/guest/vmlinuz" --initrd "$IMPORTS/guest/initrd.cpio" \
    --cmdline "console=ttyS0 quiet" >/dev/null
fi
if ! CLI vm show $VM >/dev/null 2>&1; then
  say "creating $VM (engine auto: $(CLI --output json host show | jq -r .engines.default))"
  CLI vm create $VM --image $VMIMAGE --vcpus 1 --memory 256M --disks $POOL/$VOL --nets $NET --description "corral demo: Debian cloud kernel + busybox" >/dev/null
fi
# ---- a container: a busybox image built here (no registry), on the same network ------------
if ! CLI image show $IMAGE >/dev/null 2>&1; then
  say "importing image $IMAGE (built from /bin/busybox by tests/oci/mkimage.py)"
  python3 "$SRC/tests/oci/mkimage.py" docker "$IMPORTS/busybox.tar" --name demo/busybox >/dev/null
  CLI image import $IMAGE "$IMPORTS/busybox.tar" >/dev/null
fi
if ! CLI ct show $CT >/dev/null 2>&1; then
  say "creating container $CT ($IMAGE, 64 MiB, 64 pids, on $NET)"
  CLI ct create $CT --image $IMAGE --net $NET --memory-mib 64 --pids 64 \
    --description "corral demo: busybox container" -- /bin/sh >/dev/null
fi
if [ "$(CLI --output json ct show $CT | jq -r .state)" = stopped ]; then
  say "starting $CT"
  CLI ct start $CT >/dev/null
fi
if [ "$(CLI ct exec $CT -- echo DEMO-CT-$((6 * 7)) 2>/dev/null)" = DEMO-CT-42 ]; then
  say "$CT runs: exec answered"
else
  die "$CT did not answer exec (see: $B/corral$sock_opt ct show $CT)"
fi
state=$(CLI --output json vm show $VM | jq -r .state)
if [ "$state" = stopped ]; then
  say "starting $VM"
  CLI vm start $VM >/dev/null
elif [ "$state" = paused ]; then
  CLI vm resume $VM >/dev/null
else
  say "$VM already $state"
fi

# ---- proof: the guest answers on its serial console, with its address by DHCP ----------------
addr=$(CLI --output json vm show $VM | jq -r '.nics[0].address // empty')
gw=$(CLI --output json net show $NET | jq -r '.gateway // empty')
[ -n "$addr" ] && [ -n "$gw" ] || die "$VM has no address on $NET"
# The guest's udhcpc runs in the background from boot: wait for the lease,
# then ping the gateway.  Each marker is printed by the guest only if its
# check passed ($((6*7)) keeps the typed command itself from matching).
probe="for i in \$(seq 60); do ip -4 addr show eth0 | grep -q 'inet $addr/' && break; sleep 1; done;"
probe+=" ip -4 addr show eth0 | grep -q 'inet $addr/' && echo DEMO-DHCP-\$((6*7));"
probe+=" ping -c 1 -W 3 $gw >/dev/null && echo DEMO-PING-\$((6*7)); uname -r; echo DEMO-\$((6*7))"
python3 "$SRC/tests/server/ws.py" --unix "$SOCK" "/api/v1/vms/$VM/console" --prompt '# $' \
  --send "$probe" --expect 'DEMO-42' --timeout 180 >"$DEMO/console-check.txt" 2>&1 ||
  die "$VM's shell did not answer on its serial console within 180 s (see $DEMO/console-check.txt)"
say "$VM booted: its shell answered on the serial console ($(grep -aom1 '[0-9.]*-[0-9]*-cloud-amd64' "$DEMO/console-check.txt" || echo Linux))"
if ! grep -aq DEMO-DHCP-42 "$DEMO/console-check.txt"; then
  why=$(CLI --output json net show $NET | jq -r '.dhcp.error // .dhcp.reason // "no error reported"')
  die "$VM did not get its address $addr by DHCP within 60 s (network $NET: $why; see $DEMO/console-check.txt)"
fi
grep -aq DEMO-PING-42 "$DEMO/console-check.txt" || die "$VM has $addr but cannot ping its gateway $gw"
say "$VM has its address $addr by DHCP and pings its gateway $gw"
# ...and answers there from the host (busybox's ping: iputils may be missing).
busybox ping -c 1 -W 3 "$addr" >/dev/null 2>&1 || busybox ping -c 2 -W 3 "$addr" >/dev/null 2>&1 ||
  die "$VM does not answer ping at $addr from the host"
say "$VM answers at $addr from the host"

# The address corrald listens on; on all of them, the host's first one.
host=${LISTEN%:*}
case $host in 0.0.0.0|'[::]'|'') host=$(hostname -I 2>/dev/null | awk '{print $1}'); host=${host:-$(hostname)} ;; esac
port=${LISTEN##*:}
ctaddr=$(CLI --output json ct show $CT 2>/dev/null | jq -r '.address // empty')
cat <<EOF

corral demo is up.
  Web:        https://$host:$port/   (the web console; API under /api/v1; self-signed certificate: $STATE/tls/server.crt)
  Log in:     user admin, password $(if [ -s "$DEMO/admin-password" ]; then echo "in $DEMO/admin-password (root only): $(cat "$DEMO/admin-password")"; else echo "set when corrald first started in $STATE (not captured by the demo)"; fi)
  VM:         $VM, Debian cloud kernel + busybox, 256 MiB, disk $POOL/$VOL (/dev/vda, ext4), NIC on $NET (address $addr)
  Console:    $B/corral$sock_opt vm console $VM     (Ctrl-] detaches)
              in the guest: eth0 got $addr by DHCP (checked: ip addr; ping $gw); mkdir -p /mnt; mount /dev/vda /mnt
  Container:  $CT (busybox, 64 MiB, 64 pids) on $NET${ctaddr:+ (address $ctaddr)}: $B/corral$sock_opt ct console $CT
              or $B/corral$sock_opt ct exec $CT -- ip addr
  From here:  $B/corral$sock_opt vm list; $B/corral$sock_opt ct list; $B/corral$sock_opt net list; $B/corral --help
  Stop it:    make demo-stop      (stops $VM and $CT, then corrald, pid $(cat "$DEMO/corrald.pid"); state stays in $STATE)
EOF
