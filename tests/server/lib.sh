# Helpers shared by the end-to-end scripts that run corrald (source it).

# free_port: a free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# shell_guest SRC ASSETS DIR OUT: builds a busybox shell initramfs (OUT) for
# Debian's cloud kernel in ASSETS: its virtio modules plus virtio-pci (QEMU's
# q35), the ACPI button and evdev (so the guest sees the power button).
# DIR is scratch space.
shell_guest() {
  local src=$1 assets=$2 dir=$3 out=$4 deb m
  local k=$dir/k
  mkdir -p "$k/modules"
  cp "$assets"/cloud/modules/*.ko "$k/modules/"
  deb=$(ls "$assets"/debs/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards '*/virtio_pci*.ko' '*/acpi/button.ko' '*/input/evdev.ko' 2>/dev/null
  find "$dir/lib" -name '*.ko' -exec cp {} "$k/modules/" \; 2>/dev/null
  { echo virtio_ring.ko; echo virtio.ko; for m in virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci evdev button; do
      [ -f "$k/modules/$m.ko" ] && echo "$m.ko"; done; grep -vE '^virtio(_ring)?\.ko$' "$assets/cloud/modules.load"; } >"$k/modules.load"
  "$src/tests/linux/mkinitramfs.sh" --shell --modules "$k" "$out" >&2
}
