#!/bin/bash
# Regenerate the LVM2 samples in this directory with real lvm2 (run as root).
# Needs loop devices, not device-mapper: LVs are created with activation disabled.
# Every lvm command is scoped to this script's loop devices with --devices, and a trap
# removes the VGs and detaches the loop devices.
#
# usage: gen.sh [OUTDIR]   (default: the directory of this script)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
W=$(mktemp -d /tmp/hydra-lvm-gen.XXXXXX)
CFG='global{activation=0} backup{backup=0 archive=0} activation{udev_sync=0 udev_rules=0}'
export LVM_SUPPRESS_FD_WARNINGS=1
LOOPS=(); VGS=(); ALLDEVS=""
cleanup() {
  set +e
  for vg in "${VGS[@]}"; do lvm vgremove -q -f --config "$CFG" --devices "$ALLDEVS" "$vg" >/dev/null 2>&1; done
  for l in "${LOOPS[@]}"; do losetup -d "$l"; done
  rm -rf "$W"
}
trap cleanup EXIT
mkloop() { # name sizeMiB -> LOOP
  truncate -s "$2M" "$W/$1.img"
  LOOP=$(losetup -f --show "$W/$1.img"); LOOPS+=("$LOOP")
  ALLDEVS=${ALLDEVS:+$ALLDEVS,}$LOOP
}
L() { lvm "$@" --config "$CFG" --devices "$DEVS"; }
report() { # dir vg devs...
  local d=$1 vg=$2; shift 2
  L pvs --reportformat json --units b -o pv_name,pv_uuid,pe_start,dev_size,pv_pe_count,vg_name,pv_mda_count "$@" > "$d/pvs.json"
  L vgs --reportformat json --units b -o vg_name,vg_uuid,vg_extent_size,vg_seqno,vg_attr,pv_count,lv_count "$vg" > "$d/vgs.json"
  L lvs -a --reportformat json --units b -o lv_name,lv_uuid,lv_size,lv_attr,seg_pe_ranges,segtype,seg_start_pe,seg_size_pe,vg_extent_size,stripes,stripe_size,devices "$vg" > "$d/lvs.json"
}

# 1. two PVs (the second with two metadata areas): a striped LV (-i2 -I64k), an LV made
#    of two segments (create a, create b, extend a) and a linear LV spanning both PVs.
mkloop two_pv0 128; A=$LOOP; mkloop two_pv1 128; B=$LOOP; DEVS="$A,$B"
L pvcreate -q "$A"
L pvcreate -q --metadatacopies 2 "$B"
L vgcreate -q -s 4m hlvm_two "$A" "$B"; VGS+=(hlvm_two)
L lvcreate -q -an -Zn -n st -i2 -I64k -l 4 hlvm_two
L lvcreate -q -an -Zn -n a -l 2 hlvm_two "$A"
L lvcreate -q -an -Zn -n b -l 2 hlvm_two "$A"
L lvextend -q -l +3 hlvm_two/a "$A"
L lvcreate -q -an -Zn -n lin -l 30 hlvm_two
D=$OUT/two_pv; mkdir -p "$D"; report "$D" hlvm_two "$A" "$B"
sync
python3 "$HERE/extract.py" "$D" "pv0=$W/two_pv0.img:$A" "pv1=$W/two_pv1.img:$B"

# 2. metadata wrapping around the end of a 32 KiB circular buffer (pe_start 36 KiB).
mkloop wrap0 32; C=$LOOP; DEVS="$C"
L pvcreate -q --metadatasize 32k --dataalignment 4k "$C"
L vgcreate -q -s 1m hlvm_wrap "$C"; VGS+=(hlvm_wrap)
L lvcreate -q -an -Zn -n data -l 3 hlvm_wrap
i=0
until python3 "$HERE/mdainfo.py" "$W/wrap0.img" | grep -q WRAP; do
  i=$((i+1)); [ $i -gt 200 ] && { echo "metadata never wrapped" >&2; exit 1; }
  L lvchange -q --addtag "tag$i" hlvm_wrap/data >/dev/null
done
echo "wrapped after $i updates:"; python3 "$HERE/mdainfo.py" "$W/wrap0.img"
D=$OUT/wrap; mkdir -p "$D"; report "$D" hlvm_wrap "$C"
sync
python3 "$HERE/extract.py" "$D" "pv0=$W/wrap0.img:$C:whole-mda"

# 3. an orphan PV (pvcreate only, no VG, empty metadata area).
mkloop orphan0 16; E=$LOOP; DEVS="$E"
L pvcreate -q "$E"
D=$OUT/orphan; mkdir -p "$D"
L pvs --reportformat json --units b -o pv_name,pv_uuid,pe_start,dev_size,pv_mda_count "$E" > "$D/pvs.json"
sync
python3 "$HERE/extract.py" "$D" "pv0=$W/orphan0.img:$E"
