#!/usr/bin/env bash
# Installs the Debian packages corral builds and tests with, skipping what
# is already installed.  Safe to run again; does nothing when all are there.
set -euo pipefail

packages=(
  # build
  gcc clang libclang-rt-14-dev meson ninja-build pkg-config
  libjson-c-dev libseccomp-dev libcap-dev libcmocka-dev liburing-dev
  # corral-oci images (tar, gzip/zstd; sha256) and container networking (netlink)
  # (libarchive is linked statically: its shared form drags in libxml2 and ICU,
  # which doubled the start-up time of every corral-oci command)
  libarchive-dev libzstd-dev liblz4-dev libacl1-dev liblzma-dev libbz2-dev libmnl-dev
  # corrald and the corral CLI
  libmicrohttpd-dev libsqlite3-dev libsodium-dev libgnutls28-dev libcurl4-openssl-dev
  # corrald's networks at run time: DHCP (one dnsmasq per network) and host isolation (nft)
  dnsmasq-base nftables
  # tests: guests, the nested KVM harness, Linux boot, tap networking
  qemu-system-x86 qemu-utils busybox-static cpio kmod iproute2 procps python3 socat curl
  # tests: corral-oci compared with the reference runtimes (bench), driven by podman
  runc crun podman conmon
  # podman's default network: CNI, which tests/oci/podman.sh configures (podman
  # would take netavark instead if that were what the host has), and --init's
  # init (/usr/libexec/podman/catatonit), only recommended by podman
  containernetworking-plugins catatonit
  # tests: the web console in a headless browser (tests/web/run.sh)
  chromium
)
# The web console is bundled with node and npm (web/); Debian's do, unless
# the machine already has a node of its own (it ships npm too).
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: need root to install packages (run: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
