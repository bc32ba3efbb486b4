# Writes seed inputs for fuzz_virtio_mmio (one per device request path);
# run from the repository root.  The input layout is documented in
# tests/fuzz/fuzz_virtio_mmio.c.
import struct, os
def desc(addr, ln, flags, nxt): return struct.pack('<QIHH', addr, ln, flags, nxt)
NEXT, WRITE, IND = 1, 2, 4
def seed(sel, feats, typ, sector, data_write=True, indirect=False, name=''):
    ops = struct.pack('<BBHII', 2, 0, 0x0707, feats, 0)
    ops += struct.pack('<BBHII', 3, 0, 0, 0, 0) + struct.pack('<BBHII', 3, 0, 0, 1, 0)
    ram = bytearray(0x1600)
    chain = desc(0x1000, 16, NEXT, 1) + desc(0x1100, 512, (WRITE if data_write else 0) | NEXT, 2) + desc(0x1400, 1, WRITE, 0)
    if indirect:
        ram[0x1500:0x1500+48] = chain
        ram[0:16] = desc(0x1500, 48, IND, 0)
    else:
        ram[0:48] = chain
    ram[128:134] = struct.pack('<HHH', 0, 1, 0)
    ram[0x800:0x810] = desc(0x1000, 72, 0, 0)
    ram[0x880:0x886] = struct.pack('<HHH', 0, 1, 0)
    ram[0x1000:0x1010] = struct.pack('<IIQ', typ, 0, sector)
    out = bytes([sel, 3]) + ops + bytes(ram)
    open('tests/fuzz/corpus/virtio_mmio/' + name, 'wb').write(out)
seed(0, 0, 0, 1, True, name='blk_in')
seed(0, 1 << 28, 1, 2, False, True, name='blk_out_indirect')
seed(8, 1 << 29, 1, 2, False, name='blk_out_ro_eventidx')
seed(0, 0, 4, 0, name='blk_flush')
seed(0, 0, 8, 0, name='blk_getid')
seed(4, 0, 0, 0, name='rng')
seed(5, 1 << 5, 0, 0, name='net')
seed(6, 0, 0, 0, name='console')
# Bit 6: virtio-blk on a fresh qcow2 image (the guest-driven qcow2 write path).
seed(0x40, 1 << 28, 1, 2, False, True, name='qcow2_blk_out_indirect')
seed(0x40, 0, 1, 100, False, name='qcow2_blk_out_far')
