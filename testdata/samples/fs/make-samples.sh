#!/bin/bash
# Regenerates the filesystem signature samples used by libhydra/src/format/fs tests.
#
# Each sample is the first bytes of a real volume made by the real tool with a fixed
# UUID and label (trimmed to what the probes read); btrfs-second.bin is the 4 KiB at
# 64 KiB. The script prints `blkid -p -o export` for every full image: the tests
# assert exactly those values (`bash make-samples.sh > blkid-export.txt`, lines of
# tool noise removed, is the record kept here). Run as root (pvcreate needs a loop
# device). Not everything can be fixed: btrfs-progs 6.2 picks the device UUID
# (UUID_SUB) at random, and directory timestamps and LUKS salts change, so a re-run
# needs btrfs.rs's expected UUID_SUB updated from the new output.
# Tools used on Debian 12: e2fsprogs 1.47.0, xfsprogs 6.1.0, btrfs-progs 6.2,
# dosfstools 4.2, ntfs-3g 2022.10.3, util-linux 2.38.1, cryptsetup 2.6.1,
# lvm2 2.03.16, xorriso 1.5.4.
set -euo pipefail

out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
loop=""
cleanup() {
    if [ -n "$loop" ]; then losetup -d "$loop" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

keep() { # keep NAME BYTES: the first BYTES of NAME.img as NAME.bin
    head -c "$2" "$1.img" >"$out/$1.bin"
}
show() {
    echo "== $1 (size $(stat -c %s "$1.img"))"
    blkid -p -o export "$1.img" || echo "(blkid rc=$?)"
}

truncate -s 32M ext2.img
mkfs.ext2 -q -F -U 11111111-2222-3333-4444-555555555555 -L hydra-ext2 ext2.img
truncate -s 32M ext3.img
mkfs.ext3 -q -F -U 22222222-3333-4444-5555-666666666666 -L hydra-ext3 ext3.img
truncate -s 64M ext4.img
mkfs.ext4 -q -F -b 4096 -U 33333333-4444-5555-6666-777777777777 -L hydra-ext4 ext4.img
truncate -s 300M xfs.img
mkfs.xfs -q -f -m uuid=44444444-5555-6666-7777-888888888888 -L hydra-xfs xfs.img
truncate -s 128M btrfs.img
mkfs.btrfs -q -f -U 55555555-6666-7777-8888-999999999999 -L hydra-btrfs btrfs.img
for f in ext2 ext3 ext4 xfs; do keep $f 4096; show $f; done
dd if=btrfs.img of="$out/btrfs-second.bin" bs=4096 skip=16 count=1 status=none
show btrfs

# FAT12 (4 MiB), FAT16 with its root directory inside the first 64 KiB (4 MiB,
# 1-sector clusters), FAT16 whose root directory lies beyond 64 KiB (64 MiB),
# a small FAT32 whose root cluster lies inside the first 64 KiB, and an
# ordinary FAT32 (64 MiB).
truncate -s 4M fat12.img
mkfs.fat -F 12 -i 1234abcd -n HYDRA12 fat12.img >/dev/null
truncate -s 4M fat16.img
mkfs.fat -F 16 -s 1 -i 5678ef01 -n "HYDRA 16" fat16.img >/dev/null
truncate -s 64M fat16big.img
mkfs.fat -F 16 -i 0badcafe -n HYDRA16BIG fat16big.img >/dev/null
truncate -s 2M fat32small.img
mkfs.fat -F 32 -s 1 -i deadbeef -n HYDRA32S fat32small.img >/dev/null 2>&1
truncate -s 64M fat32.img
mkfs.fat -F 32 -i c0ffee11 -n HYDRA32 fat32.img >/dev/null
keep fat12 8192; show fat12
keep fat16 40960; show fat16
keep fat16big 4096; show fat16big
keep fat32small 53248; show fat32small
keep fat32 4096; show fat32

truncate -s 16M ntfs.img
mkntfs -q -F -f -L "Hydra NTFS" -s 512 -c 4096 ntfs.img >/dev/null 2>&1
# A fixed volume serial (mkntfs picks a random one), in the boot sector blkid reads.
printf '\x10\x32\x54\x76\x98\xba\xdc\xfe' | dd of=ntfs.img bs=1 seek=72 conv=notrunc status=none
keep ntfs 20480; show ntfs

truncate -s 8M swap.img
mkswap -q -L hydra-swap -U 66666666-7777-8888-9999-aaaaaaaaaaaa swap.img
keep swap 4096; show swap

truncate -s 8M lvm.img
loop=$(losetup -f --show lvm.img)
pvcreate -q --uuid AbCdEf-GhIj-KlMn-OpQr-StUv-WxYz-012345 --norestorefile "$loop" >/dev/null 2>&1
losetup -d "$loop"; loop=""
keep lvm 4096; show lvm

printf 'hydra-test-key' >key
truncate -s 8M luks1.img
cryptsetup luksFormat -q --type luks1 --iter-time 1 --key-file key \
    --uuid 77777777-8888-9999-aaaa-bbbbbbbbbbbb luks1.img
truncate -s 20M luks2.img
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file key --label hydra-luks2 --subsystem hydra \
    --uuid 88888888-9999-aaaa-bbbb-cccccccccccc luks2.img
keep luks1 4096; show luks1
keep luks2 20480; show luks2
# LUKS2 with the primary header wiped: blkid finds the secondary one at 16 KiB.
cp luks2.img luks2sec.img
dd if=/dev/zero of=luks2sec.img bs=4096 count=1 conv=notrunc status=none
show luks2sec

mkdir -p isoroot && echo hello >isoroot/hello.txt
xorriso -as mkisofs -quiet -V HYDRA_ISO -J -joliet-long \
    --modification-date=2024010112345600 -o iso.img isoroot 2>/dev/null
keep iso 40960; show iso
