#!/bin/bash
# Fetch Debian kernels for the nested-KVM test harness (docs/nested-kvm.md).
#   DIR/l1/     generic kernel for the L1 VM: vmlinuz, vmlinux, modules/*.ko, modules.load
#               (the modules L1 needs with their dependencies, in load order)
#   DIR/cloud/  cloud kernel for L2 guests: vmlinuz, vmlinux, config, modules/*.ko, modules.load
#               (the virtio-mmio drivers, which this flavour builds as modules)
# vmlinux is the decompressed ELF kernel; it has a PVH entry point, so QEMU (and any VMM that
# supports PVH) boots it directly, which saves L1 some 5 s of xz decompression under TCG.
# Downloaded .debs are cached in DIR/debs; a flavour is skipped when DIR/<flavour>/version
# already names the package the metapackage currently depends on.
set -euo pipefail

die() { echo "fetch-kernels: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 DIR"
for t in apt-cache apt-get dpkg-deb; do command -v $t >/dev/null || die "$t not found (Debian host needed)"; done
mkdir -p "$1" && DIR=$(cd "$1" && pwd)

# Modules L1 needs, in load order; their dependencies are resolved with modprobe and put first.
L1_MODULES="irqbypass kvm ccp kvm-amd 9pnet 9p virtio_ring virtio 9pnet_virtio
  virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console"
L1_OPTIONAL="tun bridge veth loop overlay"
# Modules an L2 guest under corral-vmm needs for its virtio-mmio devices.
CLOUD_MODULES="virtio_mmio virtio_blk virtio-rng virtio_console virtio_net"

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

# Extracts DIR/FLAVOUR/vmlinux if missing; prints ", vmlinux" on success.
add_vmlinux() {
	[ -s "$1/vmlinux" ] && { echo ", vmlinux"; return; }
	if extract_vmlinux "$1/vmlinuz" "$1/vmlinux"; then echo ", vmlinux"
	else echo "fetch-kernels: warning: could not extract $1/vmlinux (decompressor missing?)" >&2; fi
}

# collect_modules ROOT VER DST "MODULES" "OPTIONAL": copies the modules and their
# dependencies into DST/modules, listing them in load order in DST/modules.load.
collect_modules() {
	local root=$1 ver=$2 dst=$3 m line ko out
	command -v depmod >/dev/null || { apt-get install -y -q kmod >/dev/null || die "kmod missing and could not be installed"; }
	depmod -b "$root" "$ver" || die "depmod failed for $ver"
	mkdir -p "$dst/modules"
	for m in $4 $5; do
		if ! out=$(modprobe -d "$root" -S "$ver" --show-depends "$m" 2>/dev/null); then
			case " $5 " in *" $m "*) continue ;; esac
			die "module $m not found in $ver"
		fi
		while read -r line; do
			case $line in insmod\ *) ko=${line#insmod } ko=${ko%% *} ;; *) continue ;; esac
			# busybox insmod needs plain ELF; newer Debian kernels ship .ko.xz
			m=${ko##*/} m=${m%.xz}
			[ -e "$dst/modules/$m" ] && continue
			case $ko in
			*.xz) xz -dc "$ko" >"$dst/modules/$m" || die "cannot decompress $ko" ;;
			*) cp "$ko" "$dst/modules/" ;;
			esac
			echo "$m" >>"$dst/modules.load"
		done <<<"$out"
	done
}

# fetch FLAVOUR METAPACKAGE "MODULES" "OPTIONAL": DIR/FLAVOUR gets vmlinuz, vmlinux,
# config and the modules, unless it already holds the current package with the same
# module lists (DIR/FLAVOUR/modules.wanted).
fetch() {
	local name=$1 pkg ver root dst vmlinux wanted
	pkg=$(resolve "$2") ver=${pkg#linux-image-} dst=$DIR/$name wanted="$3 / $4"
	if [ "$(cat "$dst/version" 2>/dev/null)" = "$pkg" ] && [ -s "$dst/modules.load" ] &&
		[ "$(cat "$dst/modules.wanted" 2>/dev/null)" = "$wanted" ]; then
		echo "$name: $pkg already in $dst (vmlinuz$(add_vmlinux "$dst"), config, modules)"; return
	fi
	root=$(unpack "$pkg")
	rm -rf "$dst" && mkdir -p "$dst"
	collect_modules "$root" "$ver" "$dst" "$3" "$4"
	cp "$root/boot/vmlinuz-$ver" "$dst/vmlinuz"
	cp "$root/boot/config-$ver" "$dst/config"
	rm -rf "$root"
	vmlinux=$(add_vmlinux "$dst")
	echo "$wanted" >"$dst/modules.wanted"
	echo "$pkg" >"$dst/version"
	echo "$name: $pkg -> $dst (vmlinuz$vmlinux, config, $(wc -l <"$dst/modules.load") modules)"
}

fetch l1 "${CORRAL_L1_KERNEL:-linux-image-amd64}" "$L1_MODULES" "$L1_OPTIONAL"
fetch cloud linux-image-cloud-amd64 "$CLOUD_MODULES" ""
