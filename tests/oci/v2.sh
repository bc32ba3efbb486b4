#!/usr/bin/env bash
# corral-oci's suite (run.sh) on a pure cgroup v2 host.  Prints TAP.
#   v2.sh BUILD_DIR
# On a host whose /sys/fs/cgroup already is cgroup2 it just runs run.sh.
# Elsewhere (a v1 or hybrid host) it runs itself in the nested L1 VM of
# tests/nested/l1.sh (docs/nested-kvm.md): /sys there is L1's own sysfs, so
# mounting cgroup2 at /sys/fs/cgroup and enabling the controllers in the
# root's cgroup.subtree_control, as a v2 host's init does, makes L1 a pure
# cgroup2 host; run.sh then runs against BUILD_DIR (shared read-write).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
build=$(cd "${1:?usage: v2.sh BUILD_DIR}" && pwd -P)
export CORRAL_ASSETS=${CORRAL_ASSETS:-$build/assets}

skip_all() {
  echo "1..1"
  echo "ok 1 - corral-oci on a pure cgroup v2 host # SKIP $1"
  exit 0
}
is_v2() { [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; }

if is_v2; then
  [ -n "${CORRAL_L1:-}" ] && echo "# L1: $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)" >&2
  exec "$here/run.sh" "$build"
fi

if [ -n "${CORRAL_L1:-}" ] && [ -z "${CORRAL_L1_ROOT:-}" ]; then
  # L1's init runs the command chrooted into the host's / (/host in its
  # initramfs), and a chrooted process may not create user namespaces; and
  # in a container's mount namespace, setns() (exec) would put a process at
  # the initramfs's root, not the container's.  So leave the chroot (setns
  # to our own mount namespace lands at its root) and, in a new mount
  # namespace, move /host over / as switch_root does: / is then the root.
  # The initramfs's busybox does it (the host's binaries are under /host).
  # shellcheck disable=SC2016 # (the inner sh expands them)
  exec nsenter --mount=/proc/1/ns/mnt -- /bin/busybox unshare -m /bin/busybox sh -c \
    'cd /host && mount --move . / && exec chroot . /usr/bin/env CORRAL_L1_ROOT=1 "$0" "$@"' "$0" "$@"
fi
if [ -n "${CORRAL_L1:-}" ]; then
  # Inside L1: nothing is mounted at /sys/fs/cgroup yet; make it a v2 host.
  if grep -q " /sys/fs/cgroup/" /proc/mounts; then
    echo "not ok 1 - L1 has cgroup hierarchies under /sys/fs/cgroup already"; exit 1
  fi
  mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || { echo "not ok 1 - mount cgroup2 in L1"; exit 1; }
  for c in cpuset cpu io memory hugetlb pids misc rdma; do
    grep -qw "$c" /sys/fs/cgroup/cgroup.controllers &&
      { echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "# L1: cannot enable $c" >&2; }
  done
  is_v2 || { echo "not ok 1 - /sys/fs/cgroup is not cgroup2 after mounting it"; exit 1; }
  exec "$0" "$build"
fi

[ "$(id -u)" = 0 ] || skip_all "needs root (L1 VM, namespaces, mounts)"
command -v qemu-system-x86_64 >/dev/null || skip_all "this host is not pure cgroup v2 and has no QEMU for the nested L1 VM"
case $build/ in
"$repo"/*) ;;
*) echo "not ok 1 - BUILD_DIR $build is outside $repo, the share L1 sees"; exit 1 ;;
esac
echo "# this host's cgroups are not pure v2: running the suite in the nested L1 VM" >&2
# A broken L1 (no status) is one failure, not a silent pass.
"$repo/tests/nested/l1.sh" --mem 2G --timeout 1800 --share "$repo" -- \
  env CORRAL_ASSETS="$CORRAL_ASSETS" "$here/v2.sh" "$build"
rc=$?
[ $rc -lt 123 ] || echo "not ok - the L1 VM failed (l1.sh exit status $rc)"
exit $rc
