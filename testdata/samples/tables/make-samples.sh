#!/bin/bash
# Regenerate the partition-table samples of libhydra/src/probe/table.rs and format/{mbr,gpt}.rs.
# Run as root (loop devices for the 4K-sector disks). The expected values in the tests are
# what `blkid -p -o export /dev/loopNpM` printed for each partition (util-linux 2.38.1);
# mkfs.vfat / mkntfs / pvcreate put random serials in their samples, which no test compares.
#
# Each sample keeps only the sectors that hold tables (every file < 64 KiB):
#   gpt512-{head,tail}.bin   64 MiB disk, 512-byte sectors: LBA 0-33 and the last 33 LBAs
#   gpt4k-{head,tail}.bin    64 MiB disk made on `losetup -b 4096`: 4K-LBA 0-5 and the last 5
#   hybrid-{head,tail}.bin   64 MiB GPT + `sgdisk -h 1:2` hybrid MBR
#   mbr-ext-lba0.bin         64 MiB dos disk: LBA 0; mbr-ext-ebrs.bin: the 5 EBRs at LBA
#                            26624 32768 38912 43008 51200 (512 bytes each)
#   mbr4k-lba0.bin           64 MiB dos disk on a 4K loop device: first 512 bytes;
#                            mbr4k-ebrs.bin: the EBRs at 4K-LBA 2304 and 3584 (512 bytes each)
#   fat32-vbr.bin            sector 0 of a whole-disk FAT32 (blkid: TYPE=vfat, no PTTYPE)
#   ntfs-head.bin            first 20 KiB of a whole-disk NTFS (boot sector + MFT records 0-3)
#   lvm-empty-mbr.bin        first 1 KiB of a whole-disk PV with 0x55AA written at 510
#                            (blkid: LVM2_member, no PTTYPE)
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
loops=()
cleanup() {
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

cut() { # IMAGE OFFSET(negative: from the end) LENGTH OUT
  local size off
  size=$(stat -c %s "$1")
  off=$2
  ((off >= 0)) || off=$((size + off))
  dd if="$1" of="$out/$4" bs=512 skip=$((off / 512)) count=$(($3 / 512)) status=none
}

truncate -s 64M gpt512.img
sgdisk -U 5e6b1b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b \
  -n 1:2048:+32M -t 1:ef00 -c 1:"EFI System Partition" -u 1:11111111-2222-4333-8444-555555555501 -A 1:set:0 \
  -n 3:0:+1M -t 3:ef02 -u 3:11111111-2222-4333-8444-555555555503 \
  -n 4:0:+16M -t 4:8300 -c 4:"root fs  " -u 4:11111111-2222-4333-8444-555555555504 \
  -A 4:set:2 -A 4:set:60 -A 4:set:63 \
  -n 6:0:+4M -t 6:8200 -c 6:"swäp ☃" -u 6:11111111-2222-4333-8444-555555555506 \
  -n 7:0:0 -t 7:8e00 -c 7:lvm -u 7:11111111-2222-4333-8444-555555555507 \
  gpt512.img >/dev/null
cut gpt512.img 0 17408 gpt512-head.bin
cut gpt512.img -16896 16896 gpt512-tail.bin

truncate -s 64M gpt4k.img
l=$(losetup -f --show -b 4096 gpt4k.img)
loops+=("$l")
sgdisk -U 9a8b7c6d-5e4f-4a3b-9c2d-1e0f0a0b0c0d \
  -n 1:0:+16M -t 1:ef00 -c 1:EFI -u 1:22222222-3333-4444-8555-666666666601 \
  -n 2:0:+24M -t 2:8304 -c 2:root -u 2:22222222-3333-4444-8555-666666666602 -A 2:set:59 \
  -n 3:0:0 -t 3:0700 -c 3:data -u 3:22222222-3333-4444-8555-666666666603 \
  "$l" >/dev/null
sync
cut gpt4k.img 0 24576 gpt4k-head.bin
cut gpt4k.img -20480 20480 gpt4k-tail.bin

truncate -s 64M hybrid.img
sgdisk -U 0badc0de-1111-4222-8333-444455556666 \
  -n 1:2048:+8M -t 1:ef00 -c 1:ESP -u 1:aaaaaaaa-0000-4000-8000-000000000001 \
  -n 2:0:+16M -t 2:0700 -c 2:"Basic data" -u 2:aaaaaaaa-0000-4000-8000-000000000002 \
  -n 3:0:0 -t 3:8300 -c 3:linux -u 3:aaaaaaaa-0000-4000-8000-000000000003 \
  hybrid.img >/dev/null
sgdisk -h 1:2 hybrid.img >/dev/null
cut hybrid.img 0 17408 hybrid-head.bin
cut hybrid.img -16896 16896 hybrid-tail.bin

truncate -s 64M mbr.img
sfdisk -q mbr.img <<'EOF'
label: dos
label-id: 0x1a2b3c4d
start=2048, size=16384, type=83, bootable
start=18432, size=8192, type=82
start=26624, type=5
size=4096, type=83
size=4096, type=8e
size=2048, type=c
size=6144, type=7
type=fd
EOF
cut mbr.img 0 512 mbr-ext-lba0.bin
for lba in 26624 32768 38912 43008 51200; do
  dd if=mbr.img bs=512 skip=$lba count=1 status=none
done >"$out/mbr-ext-ebrs.bin"

truncate -s 64M mbr4k.img
l=$(losetup -f --show -b 4096 mbr4k.img)
loops+=("$l")
sfdisk -q "$l" <<'EOF'
label: dos
label-id: 0xcafef00d
start=256, size=2048, type=83
start=2304, type=5
size=1024, type=82
type=83
EOF
sync
cut mbr4k.img 0 512 mbr4k-lba0.bin
for lba in 2304 3584; do
  dd if=mbr4k.img bs=512 skip=$((lba * 8)) count=1 status=none
done >"$out/mbr4k-ebrs.bin"

truncate -s 64M fat.img
mkfs.vfat -F 32 -i 12345678 fat.img >/dev/null
cut fat.img 0 512 fat32-vbr.bin

truncate -s 64M ntfs.img
mkntfs -F -q -s 512 ntfs.img >/dev/null 2>&1
cut ntfs.img 0 20480 ntfs-head.bin

truncate -s 16M lvm.img
l=$(losetup -f --show lvm.img)
loops+=("$l")
pvcreate -q --uuid 0123ab-cdef-ghij-klmn-opqr-stuv-wxyz01 --norestorefile "$l" >/dev/null
sync
printf '\x55\xaa' | dd of=lvm.img bs=1 seek=510 conv=notrunc status=none
cut lvm.img 0 1024 lvm-empty-mbr.bin
