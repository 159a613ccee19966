#!/bin/bash
# Regenerates the container samples used by libhydra/src/format/image.rs tests.
#
# qemu-made samples are trimmed to what format::image::detect reads (headers,
# footers, descriptors); CIDs, UUIDs and timestamps change on every run, the tests
# assert only structure, sizes and names. The hand-written ESXi/VMware descriptors
# (esxi-*.vmdk, custom-*.vmdk) are not regenerated here.
# Tool: qemu-img 10.0.2 (Debian 12 backports).
set -euo pipefail

out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

mib=1048576
qemu-img create -q -f qcow2 base.qcow2 $((64 * mib))
qemu-img create -q -f qcow2 -o compat=0.10 v2.qcow2 $((64 * mib))
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
head -c 512 base.qcow2 >"$out/qcow2-v3.head"
head -c 512 v2.qcow2 >"$out/qcow2-v2.head"
head -c 1024 overlay.qcow2 >"$out/qcow2-overlay.head"

qemu-img create -q -f vhdx x.vhdx $((64 * mib))
head -c 512 x.vhdx >"$out/vhdx.head"

qemu-img create -q -f vpc -o subformat=fixed fixed.vhd $((64 * mib))
tail -c 512 fixed.vhd >"$out/vhd-fixed.footer"
qemu-img create -q -f vpc -o subformat=dynamic dyn.vhd $((64 * mib))
head -c 1536 dyn.vhd >"$out/vhd-dynamic.head"
tail -c 512 dyn.vhd >"$out/vhd-dynamic.footer"

for s in monolithicSparse streamOptimized; do
    qemu-img create -q -f vmdk -o subformat=$s $s.vmdk $((64 * mib))
    head -c 512 $s.vmdk >"$out/vmdk-$s.head"
done
qemu-img create -q -f vmdk -b monolithicSparse.vmdk -F vmdk child.vmdk
# The embedded descriptor of a child delta (sector 1, NUL padding dropped).
dd if=child.vmdk bs=512 skip=1 count=20 status=none | tr -d '\0' >"$out/vmdk-sparse-child.desc"

for s in monolithicFlat twoGbMaxExtentFlat twoGbMaxExtentSparse; do
    # 3 GiB: two extents for the twoGb subformats.
    qemu-img create -q -f vmdk -o subformat=$s $s.vmdk $((3072 * mib))
    cp $s.vmdk "$out/qemu-$s.vmdk"
done
ls -l "$out"
