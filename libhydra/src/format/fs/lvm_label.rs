//! LVM2 physical volume label probe ("LABELONE" in one of sectors 0-3, type "LVM2 001"), as libblkid's lvm.c.
//!
//! libblkid looks for the type string "LVM2 001" at byte 0x18 of sectors 1, 0, 2, 3
//! (in that order); for the first hit it takes the label in the first or second
//! sector of that 1 KiB block, and requires the label's own sector number and its
//! CRC (from byte 20 to the end of the 512-byte sector, LVM's CRC-32 variant seeded
//! with 0xf597a6cf). `UUID` is the PV UUID in LVM's 6-4-4-4-4-4-6 dashed form,
//! `VERSION` is `LVM2 001`. LVM is not probed on volumes of at most 1440 KiB.
//!
//! `fs_size` is the PV size recorded in the PV header (`device_size_xl`), when the
//! header sits where LVM always puts it (right after the 32-byte label header).
//! libblkid also remembers that pvcreate wiped the first 8 KiB, to prefer the PV over
//! a partition table found there; that is the partition-table prober's concern.

use super::{fs_info, is_zero, Vol};
use crate::format::{le32, le64};
use crate::layout::FsInfo;

const SECTOR: u64 = 512;
/// `sizeof(struct lvm2_pv_label_header)`: the label header and the PV UUID.
const LABEL_HDR_LEN: usize = 64;
const ID_LEN: usize = 32;
const TYPE: &[u8] = b"LVM2 001";

/// libblkid's magic list: (kboff, sboff) of the type string.
const MAGICS: [(u64, u64); 4] = [(0, 0x218), (0, 0x018), (1, 0x018), (1, 0x218)];

/// The LVM2 PV probe.
pub(super) fn probe(v: &Vol) -> Option<FsInfo> {
    let &(kboff, _) = MAGICS
        .iter()
        .find(|&&(kboff, sboff)| v.magic_at(kboff, sboff, TYPE))?;
    let mut sector = kboff * 2;
    let buf = v.get(kboff * 1024, SECTOR as usize + LABEL_HDR_LEN)?;
    let label = if buf.starts_with(b"LABELONE") {
        &buf[..SECTOR as usize]
    } else if buf[SECTOR as usize..].starts_with(b"LABELONE") {
        sector += 1;
        // The label may run past what libblkid read; the CRC needs the whole sector.
        v.get(kboff * 1024 + SECTOR, SECTOR as usize)?
    } else {
        return None;
    };
    if le64(label, 8) != sector || lvm_crc(&label[20..]) != le32(label, 16) {
        return None;
    }
    let mut fs = fs_info("LVM2_member");
    let id = &label[32..32 + ID_LEN];
    if !is_zero(id) {
        fs.uuid = Some(format_uuid(id)).filter(|s| !s.is_empty());
    }
    fs.version = Some("LVM2 001".to_string());
    if le32(label, 20) == 32 {
        let dev_size = le64(label, 64);
        fs.fs_size = (dev_size != 0).then_some(dev_size);
    }
    Some(fs)
}

/// LVM's 6-4-4-4-4-4-6 dashed form of a 32-character ID (cut at a NUL, as C's `%s`).
fn format_uuid(id: &[u8]) -> String {
    let mut out = Vec::with_capacity(ID_LEN + 6);
    for (i, &c) in id.iter().enumerate() {
        if matches!(i, 6 | 10 | 14 | 18 | 22 | 26) {
            out.push(b'-');
        }
        out.push(c);
    }
    String::from_utf8_lossy(super::c_str(&out)).into_owned()
}

/// LVM's label CRC (the one implementation lives with the LVM format).
fn lvm_crc(data: &[u8]) -> u32 {
    crate::format::lvm::calc_crc(crate::format::lvm::label::INITIAL_CRC, data)
}

#[cfg(test)]
mod tests {
    use super::super::identify_head;
    use super::super::testutil::{check, Expect};
    use super::*;
    use proptest::prelude::*;

    const LVM: &[u8] = include_bytes!("../../../../testdata/samples/fs/lvm.bin");
    const SIZE: u64 = 8 * 1024 * 1024;

    #[test]
    fn sample_matches_blkid() {
        check(
            identify_head(LVM, SIZE, 1 << 20),
            Expect {
                fs_type: "LVM2_member",
                uuid: Some("AbCdEf-GhIj-KlMn-OpQr-StUv-WxYz-012345"),
                version: Some("LVM2 001"),
                fs_size: Some(SIZE),
                ..Expect::default()
            },
            1 << 20,
        );
    }

    /// The sample's label (in sector 1) moved to `sector`, with its number and CRC fixed.
    fn moved(sector: usize) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        let mut label = LVM[512..1024].to_vec();
        label[8..16].copy_from_slice(&(sector as u64).to_le_bytes());
        let crc = lvm_crc(&label[20..]);
        label[16..20].copy_from_slice(&crc.to_le_bytes());
        b[sector * 512..sector * 512 + 512].copy_from_slice(&label);
        b
    }

    #[test]
    fn label_in_any_of_the_first_four_sectors() {
        for sector in 0..4 {
            let fs = identify_head(&moved(sector), SIZE, 0).unwrap();
            assert_eq!(fs.fs_type, "LVM2_member", "sector {sector}");
        }
        // A wrong sector number, a bad CRC, a floppy-sized volume: not a PV.
        let mut b = moved(2);
        b[1024 + 8] = 3;
        assert_eq!(identify_head(&b, SIZE, 0), None);
        let mut b = LVM.to_vec();
        b[600] ^= 1;
        assert_eq!(identify_head(&b, SIZE, 0), None);
        assert_eq!(identify_head(LVM, 1440 * 1024, 0), None);
    }

    #[test]
    fn lvm_wins_over_a_stale_filesystem() {
        // A PV label over an old ext4 superblock: blkid stops at the RAID member.
        let ext4 = include_bytes!("../../../../testdata/samples/fs/ext4.bin");
        let mut b = ext4.to_vec();
        b[512..1024].copy_from_slice(&LVM[512..1024]);
        assert_eq!(
            identify_head(&b, SIZE, 0).map(|f| f.fs_type).as_deref(),
            Some("LVM2_member")
        );
    }

    proptest! {
        #[test]
        fn flipped_sample_never_panics(
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            size in prop_oneof![Just(SIZE), any::<u64>()],
        ) {
            let mut b = LVM.to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
        }
    }
}
