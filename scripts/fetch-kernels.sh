#!/bin/bash
# Fetch Debian kernels for the nested-KVM test harness (docs/nested-kvm.md).
#   DIR/l1/     generic kernel for the L1 VM: vmlinuz, modules/*.ko, modules.load (load order)
#   DIR/cloud/  cloud kernel for L2 guests: vmlinuz, vmlinux (ELF, with a PVH entry), config
# Downloaded .debs are cached in DIR/debs; a flavour is skipped when DIR/<flavour>/version
# already names the package the metapackage currently depends on.
set -euo pipefail

die() { echo "fetch-kernels: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 DIR"
for t in apt-cache apt-get dpkg-deb; do command -v $t >/dev/null || die "$t not found (Debian host needed)"; done
mkdir -p "$1" && DIR=$(cd "$1" && pwd)

# Modules L1 needs, in load order; their dependencies are resolved with modprobe and put first.
L1_MODULES="irqbypass kvm ccp kvm-amd netfs fscache 9pnet 9p virtio_ring virtio 9pnet_virtio
  virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console"
L1_OPTIONAL="tun bridge veth"

# The versioned package behind a metapackage, e.g. linux-image-amd64 -> linux-image-6.1.0-56-amd64.
resolve() {
	local p
	p=$(apt-cache depends "$1" 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
	[ -n "$p" ] || die "cannot resolve $1 via apt-cache (run apt-get update?)"
	echo "$p"
}

# Download (cached) and unpack a package into a fresh directory; prints that directory.
unpack() {
	local pkg=$1 deb
	mkdir -p "$DIR/debs"
	deb=$(ls "$DIR/debs/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		(cd "$DIR/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
			die "apt-get download $pkg failed"
		deb=$(ls "$DIR/debs/${pkg}_"*.deb | head -n1)
	fi
	rm -rf "$DIR/.unpack-$pkg"
	dpkg-deb -x "$deb" "$DIR/.unpack-$pkg" || die "dpkg-deb -x $deb failed"
	echo "$DIR/.unpack-$pkg"
}

# scripts/extract-vmlinux from the kernel tree, in short: find a compressed stream that
# decompresses to an ELF file.
extract_vmlinux() {
	local in=$1 out=$2 magic cmd off
	while read -r magic cmd; do
		command -v "${cmd%% *}" >/dev/null || continue
		for off in $(LC_ALL=C grep -aboP "$magic" "$in" | cut -d: -f1); do
			tail -c +$((off + 1)) "$in" | $cmd >"$out.tmp" 2>/dev/null || true
			if [ "$(head -c4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
				mv "$out.tmp" "$out"; return 0
			fi
		done
	done <<-'MAGIC'
	\x1f\x8b\x08 gzip -dc
	\xfd7zXZ\x00 xz -dc
	BZh bzip2 -dc
	\x5d\x00\x00\x00 unlzma -c
	\x89LZO lzop -dc
	\x02\x21\x4c\x18 lz4 -dc
	\x28\xb5\x2f\xfd zstd -dc
	MAGIC
	rm -f "$out.tmp"; return 1
}

fetch_l1() {
	local pkg ver root dst m line ko
	pkg=$(resolve linux-image-amd64) ver=${pkg#linux-image-} dst=$DIR/l1
	if [ "$(cat "$dst/version" 2>/dev/null)" = "$pkg" ] && [ -s "$dst/modules.load" ]; then
		echo "l1: $pkg already in $dst (skipped)"; return
	fi
	command -v depmod >/dev/null || { apt-get install -y -q kmod >/dev/null || die "kmod missing and could not be installed"; }
	root=$(unpack "$pkg")
	depmod -b "$root" "$ver" || die "depmod failed for $pkg"
	rm -rf "$dst" && mkdir -p "$dst/modules"
	for m in $L1_MODULES $L1_OPTIONAL; do
		if ! out=$(modprobe -d "$root" -S "$ver" --show-depends "$m" 2>/dev/null); then
			case " $L1_OPTIONAL " in *" $m "*) continue ;; esac
			die "module $m not found in $pkg"
		fi
		while read -r line; do
			case $line in insmod\ *) ko=${line#insmod } ko=${ko%% *} ;; *) continue ;; esac
			[ -e "$dst/modules/${ko##*/}" ] && continue
			cp "$ko" "$dst/modules/" && echo "${ko##*/}" >>"$dst/modules.load"
		done <<<"$out"
	done
	cp "$root/boot/vmlinuz-$ver" "$dst/vmlinuz"
	echo "$pkg" >"$dst/version"
	rm -rf "$root"
	echo "l1: $pkg -> $dst (vmlinuz, $(wc -l <"$dst/modules.load") modules)"
}

fetch_cloud() {
	local pkg ver root dst vmlinux=
	pkg=$(resolve linux-image-cloud-amd64) ver=${pkg#linux-image-} dst=$DIR/cloud
	if [ "$(cat "$dst/version" 2>/dev/null)" = "$pkg" ] && [ -s "$dst/vmlinuz" ]; then
		echo "cloud: $pkg already in $dst (skipped)"; return
	fi
	root=$(unpack "$pkg")
	rm -rf "$dst" && mkdir -p "$dst"
	cp "$root/boot/vmlinuz-$ver" "$dst/vmlinuz"
	cp "$root/boot/config-$ver" "$dst/config"
	if extract_vmlinux "$dst/vmlinuz" "$dst/vmlinux"; then vmlinux=", vmlinux"
	else echo "cloud: warning: could not extract vmlinux (decompressor missing?)" >&2; fi
	echo "$pkg" >"$dst/version"
	rm -rf "$root"
	echo "cloud: $pkg -> $dst (vmlinuz$vmlinux, config)"
}

fetch_l1
fetch_cloud
