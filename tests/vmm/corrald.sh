# corrald's kvm engine end to end, where a hardware-assisted /dev/kvm exists
# (suite.sh runs it last, inside the nested L1 on hosts without one): a VM
# running a test guest under corral-vmm, created, started and reached through
# corrald's API and CLI; its engine jailed under a uid of its own; kill -9 of
# corrald, also between spawning the engine and its answering, and
# re-adoption.  Sourced by suite.sh (uses lib.sh); defines corrald_tests.

corrald_tests() {
  local repo cw sock pid= cvpid
  rc=0
  repo=$(cd "$here/../.." && pwd)
  # Unix sockets cannot live on L1's 9p share: everything under /tmp (tmpfs in L1).
  cw=$(mktemp -d /tmp/ckvm.XXXXXX)
  sock=$cw/c.sock
  log=$cw/corrald.log
  echo 'correct-horse-battery' >"$cw/pw"
  cd_start() {  # cd_start [VMM]: corrald on the Unix socket only
    "$build/corrald" --state-dir "$cw/state" --listen none --socket "$sock" --admin-password-file "$cw/pw" \
      --workers 2 --vmm "${1:-$VMM}" --host-path-allow "$G" 2>>"$log" &
    pid=$!
    for _ in $(seq 100); do curl -s --unix-socket "$sock" http://x/api/v1 >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
  }
  cd_kill() { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; }
  C() { "$build/corral" --socket "$sock" "$@"; }
  vmj() { C --output json vm show "$1" | jq -r "$2"; }
  # type VM LINE: types LINE on the console; the guest answers "echo: LINE"
  # (tests/guests/serial.c), then powers off.
  type_line() {
    python3 "$repo/tests/server/ws.py" --unix "$sock" "/api/v1/vms/$1/console" --send "$2" \
      --expect "echo: $2" --timeout 20 >"$cw/console" 2>&1 && return 0
    { echo "console:"; cat "$cw/console"; tail -3 "$cw/state/vms/1/engine.log"; } >>"$log"
    return 1
  }
  stopped() { for _ in $(seq 50); do [ "$(vmj "$1" .state)" = stopped ] && return 0; sleep 0.2; done; return 1; }

  check "corrald starts with --vmm $VMM" cd_start
  check "the host says auto means kvm here" eval '[ "$(C --output json host show | jq -r .engines.default)" = kvm ]'
  C vm create k1 --engine kvm --memory 64M --kernel "$G/guest-serial.pvh.elf" >/dev/null
  check "corral vm start k1 (kvm engine, test guest)" eval 'C vm start k1 >/dev/null && [ "$(vmj k1 .running_engine)" = kvm ]'
  cvpid=$(vmj k1 .pid)
  check "its corral-vmm runs jailed: its own uid, chrooted, no capabilities" \
    eval 'grep -q "^Uid:.*$((0x60000000 + 1))" /proc/$cvpid/status && [ "$(readlink /proc/$cvpid/root)" = "$cw/state/vms/1/jail" ] && grep -q "^CapEff:[[:space:]]*0*$" /proc/$cvpid/status'
  # Nobody reads the pty for a while: the guest must not block on its output.
  sleep 1
  check "k1 still runs with nobody on its console" eval '[ "$(vmj k1 .state)" = running ] && kill -0 $cvpid'
  check "the console replays the banner written while nobody was attached, echoes a typed line" \
    eval 'type_line k1 "hello corrald" && grep -qa "hello from the corral serial test guest" "$cw/console"'
  check "the guest powered off: corrald notices k1 stopped" stopped k1

  # kill -9 corrald; the VM runs on; a new corrald re-adopts it.
  C vm start k1 >/dev/null
  cvpid=$(vmj k1 .pid)
  cd_kill
  check "after kill -9 of corrald the kvm engine still runs" kill -0 "$cvpid"
  check "corrald restarts" cd_start
  check "it re-adopted k1 (same pid, running)" eval '[ "$(vmj k1 .pid):$(vmj k1 .state)" = "$cvpid:running" ]'
  check "the re-adopted VM's console works" type_line k1 "after adoption"
  check "...and k1 stops when its guest powers off" stopped k1

  # kill -9 between spawning the engine and its answering: an engine that
  # takes 2 s to start (a wrapper that sleeps, then execs corral-vmm).
  printf '#!/bin/sh\nsleep 2\nexec %s "$@"\n' "$VMM" >"$cw/slow-vmm"
  chmod +x "$cw/slow-vmm"
  cd_kill
  cd_start "$cw/slow-vmm"
  C vm start k1 --no-wait >/dev/null
  cvpid=
  for _ in $(seq 50); do
    cvpid=$(sqlite3 "$cw/state/corral.db" "SELECT pid FROM vms WHERE name = 'k1' AND pid > 0" 2>/dev/null)
    [ -n "$cvpid" ] && break
    sleep 0.05
  done
  cd_kill
  check "the engine's pid is recorded before it answers" eval '[ -n "$cvpid" ] && kill -0 $cvpid'
  check "corrald restarted in that window" cd_start
  check "...waits for that engine and adopts it" eval '[ "$(vmj k1 .pid):$(vmj k1 .state)" = "$cvpid:running" ]'
  check "...and its console works" type_line k1 "window closed"
  stopped k1 >/dev/null
  check "corral vm delete k1" C vm delete k1

  # The same guest as a VM image (a copy of the kernel in corrald's state).
  check "corral image import pvh --kernel (a VM image)" eval 'C image import pvh --kernel "$G/guest-serial.pvh.elf" >/dev/null'
  C vm create k2 --engine kvm --memory 64M --image pvh >/dev/null
  check "a kvm-engine VM booting that image runs the guest" \
    eval 'C vm start k2 >/dev/null && type_line k2 "from an image" && stopped k2'
  check "corral vm delete k2; corral image delete pvh" eval 'C vm delete k2 && C image delete pvh'

  # An engine that exits before it is ready (its --ready-fd pipe ends
  # without a line): the start fails at once with the engine's last words.
  printf '#!/bin/sh\necho "corral-vmm: cannot open /dev/kvm: boom" >&2\nexit 2\n' >"$cw/dead-vmm"
  chmod +x "$cw/dead-vmm"
  cd_kill
  cd_start "$cw/dead-vmm"
  C vm create k3 --engine kvm --memory 64M --kernel "$G/guest-serial.pvh.elf" >/dev/null
  out=$(C vm start k3 2>&1)
  check "an engine that exits before it is ready: the start fails with its words" \
    eval 'printf "%s" "$out" | grep -q "kvm exited at once: corral-vmm: cannot open /dev/kvm: boom" &&
          [ "$(vmj k3 .state)" = stopped ] && [ "$(vmj k3 .pid)" = null ]'
  C vm delete k3 >/dev/null
  kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
  check "corrald stops cleanly" status_is 0
  rm -rf "$cw"
}
