#!/usr/bin/env python3
"""Print each metadata area of a PV image: offset, size, header size, raw_locn 0 offset and size, WRAP if the text wraps."""
import struct, sys
f = open(sys.argv[1], 'rb'); head = f.read(2048)
for s in range(4):
    sec = head[s*512:(s+1)*512]
    if sec[:8] == b'LABELONE': lab = sec; break
off = struct.unpack_from('<I', lab, 20)[0]; p = off + 40
lists = [[], []]
for i in range(2):
    while True:
        o, sz = struct.unpack_from('<QQ', lab, p); p += 16
        if o == 0: break
        lists[i].append((o, sz))
for mo, ms in lists[1]:
    f.seek(mo); h = f.read(512)
    size = struct.unpack_from('<Q', h, 32)[0]
    ro, rs, rc, rf = struct.unpack_from('<QQII', h, 40)
    print(mo, ms, size, ro, rs, 'WRAP' if ro + rs > size else '')
