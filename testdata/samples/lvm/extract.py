#!/usr/bin/env python3
"""Extract the LVM-relevant regions of PV images into a sample directory.

usage: extract.py OUTDIR NAME=IMG:DEV[:whole-mda] ...
Writes OUTDIR/NAME@OFFSET.bin regions and OUTDIR/manifest.json.
"""
import json, os, struct, sys

HEAD = 8192

def pv_regions(img, whole_mda):
    data = open(img, 'rb')
    size = os.path.getsize(img)
    head = data.read(2048)
    regions = [(0, HEAD)]
    lab = None
    for s in range(4):
        sec = head[s*512:(s+1)*512]
        if sec[:8] == b'LABELONE':
            lab = sec; break
    if lab is None:
        return size, regions
    off = struct.unpack_from('<I', lab, 20)[0]
    p = off + 32 + 8
    lists = [[], []]
    for i in range(2):
        while True:
            o, sz = struct.unpack_from('<QQ', lab, p); p += 16
            if o == 0: break
            lists[i].append((o, sz))
    for (mo, ms) in lists[1]:
        data.seek(mo); hdr = data.read(512)
        regions.append((mo, 512))
        if whole_mda:
            regions.append((mo, ms))
        msize = struct.unpack_from('<Q', hdr, 32)[0]
        ro, rs = struct.unpack_from('<QQ', hdr, 40)
        if ro == 0: continue
        if ro + rs > msize:
            wrap = ro + rs - msize
            regions.append((mo + ro, rs - wrap)); regions.append((mo + 512, wrap))
        else:
            regions.append((mo + ro, rs))
    # merge
    regions.sort()
    merged = []
    for o, l in regions:
        if merged and o <= merged[-1][0] + merged[-1][1]:
            po, pl = merged[-1]
            merged[-1] = (po, max(po + pl, o + l) - po)
        else:
            merged.append((o, l))
    return size, merged

def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    manifest = []
    for arg in sys.argv[2:]:
        name, rest = arg.split('=', 1)
        parts = rest.split(':')
        img, dev = parts[0], parts[1]
        whole = len(parts) > 2 and parts[2] == 'whole-mda'
        size, regions = pv_regions(img, whole)
        files = []
        with open(img, 'rb') as f:
            for o, l in regions:
                f.seek(o); b = f.read(l)
                fn = f'{name}@{o}.bin'
                open(os.path.join(out, fn), 'wb').write(b)
                files.append({'offset': o, 'file': fn})
        manifest.append({'name': name, 'device': dev, 'size': size, 'regions': files})
    json.dump({'pvs': manifest}, open(os.path.join(out, 'manifest.json'), 'w'), indent=1)

main()
