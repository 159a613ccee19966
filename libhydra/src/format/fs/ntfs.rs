//! NTFS boot sector probe ("NTFS    " at 3) with libblkid's ntfs.c checks, and the volume label from MFT record 3 ($Volume) when it lies in the bytes read.
//!
//! libblkid checks the BIOS parameter block (sector size 256-4096, a valid sectors-
//! per-cluster code, cluster at most 64 KiB, the FAT-only fields zero, a valid
//! clusters-per-MFT-record code, MFT and MFT mirror inside the volume), then reads MFT
//! record 0 and record 3 and requires both to start with "FILE"; the `LABEL` is the
//! `$VOLUME_NAME` attribute (0x60, UTF-16LE) of record 3, read without applying the
//! update-sequence fixups.
//!
//! mkntfs puts the MFT at 16 KiB on small volumes (cluster 4 with 4 KiB clusters),
//! so record 3 (at 19 KiB with 1 KiB records) is inside the first 64 KiB. Windows
//! puts it much further (cluster 786432, i.e. 3 GiB with 4 KiB clusters, on volumes
//! of a few GiB and more): then the records cannot be checked here, and we accept
//! the volume on its boot sector alone and report no `LABEL`. Where record 0 or 3
//! would lie past the end of the volume, blkid rejects the volume, and so do we.
//!
//! `UUID` is the 64-bit volume serial as 16 uppercase hex digits; `BLOCK_SIZE` is the
//! sector size; `fs_size` is the sector count × sector size (NTFS leaves the last
//! sector of its partition, the backup boot sector, outside this count).

use super::{fs_info, utf16_label, Read, Utf16, Vol};
use crate::format::{le16, le32, le64};
use crate::layout::FsInfo;

/// `sizeof(struct ntfs_super_block)`: what libblkid reads at 0.
const SB_LEN: usize = 84;
const MAX_CLUSTER_SIZE: u32 = 64 * 1024;
const MFT_RECORD_VOLUME: u64 = 3;
const ATTR_VOLUME_NAME: u32 = 0x60;
const ATTR_END: u32 = 0xffff_ffff;
/// `sizeof(struct file_attribute)`.
const ATTR_HDR_LEN: u64 = 22;

/// The NTFS probe.
pub(super) fn probe(v: &Vol) -> Option<FsInfo> {
    if !v.magic_at(0, 3, b"NTFS    ") {
        return None;
    }
    let sb = v.get(0, SB_LEN)?;
    let sector_size = u32::from(le16(sb, 11));
    if !(256..=4096).contains(&sector_size) {
        return None;
    }
    let sectors_per_cluster = match sb[13] {
        c @ (1 | 2 | 4 | 8 | 16 | 32 | 64 | 128) => u32::from(c),
        c @ 240..=249 => 1u32 << (256 - u32::from(c)),
        _ => return None,
    };
    if sector_size * sectors_per_cluster > MAX_CLUSTER_SIZE {
        return None;
    }
    // reserved sectors, root entries, sectors, sectors per FAT, large sectors, FATs.
    if le16(sb, 14) != 0
        || le16(sb, 17) != 0
        || le16(sb, 19) != 0
        || le16(sb, 22) != 0
        || le32(sb, 32) != 0
        || sb[16] != 0
    {
        return None;
    }
    let per_record = sb[64] as i8;
    let mft_record_size: u32 = match sb[64] {
        1 | 2 | 4 | 8 | 16 | 32 | 64 => u32::from(sb[64]) * sectors_per_cluster * sector_size,
        // 2^-n bytes for n in 9..=30 (Debian's fix rejects 2^31).
        0xe2..=0xf7 => 1u32 << (-i32::from(per_record)),
        _ => return None,
    };
    let sectors = le64(sb, 40);
    let nr_clusters = sectors / u64::from(sectors_per_cluster);
    let mft_cluster = le64(sb, 48);
    if mft_cluster > nr_clusters || le64(sb, 56) > nr_clusters {
        return None;
    }
    let mft_off = mft_cluster
        .wrapping_mul(u64::from(sector_size))
        .wrapping_mul(u64::from(sectors_per_cluster));
    let rec_len = u64::from(mft_record_size);

    let mut fs = fs_info("ntfs");
    record(v, mft_off, rec_len)?;
    let vol_off = mft_off.wrapping_add(MFT_RECORD_VOLUME * rec_len);
    if let Some(rec) = record(v, vol_off, rec_len)? {
        fs.label = volume_name(rec);
    }
    fs.block_size = Some(sector_size);
    fs.fs_size = sectors.checked_mul(u64::from(sector_size));
    let serial = &sb[72..80];
    if !super::is_zero(serial) {
        fs.uuid = Some(format!("{:016X}", le64(serial, 0)));
    }
    Some(fs)
}

/// An MFT record: `None` (reject) when past the end of the volume or not "FILE";
/// `Some(None)` when it is not in the bytes we have (unchecked).
fn record<'a>(v: &Vol<'a>, off: u64, len: u64) -> Option<Option<&'a [u8]>> {
    match v.read(off, len) {
        Read::Data(rec) if rec.starts_with(b"FILE") => Some(Some(rec)),
        Read::Data(_) | Read::Beyond => None,
        Read::Unread => Some(None),
    }
}

/// The `$VOLUME_NAME` attribute of the `$Volume` record, as libblkid walks it.
fn volume_name(rec: &[u8]) -> Option<String> {
    let size = rec.len() as u64;
    let allocated = u64::from(le32(rec, 28));
    let mut off = u64::from(le16(rec, 20));
    while off + ATTR_HDR_LEN <= size && off <= allocated {
        let a = &rec[off as usize..];
        let attr_len = u64::from(le32(a, 4));
        if attr_len == 0 {
            break;
        }
        let kind = le32(a, 0);
        if kind == ATTR_END {
            break;
        }
        if kind == ATTR_VOLUME_NAME {
            let val_off = u64::from(le16(a, 20));
            let val_len = u64::from(le32(a, 16));
            if off + val_off + val_len <= size {
                let start = (off + val_off) as usize;
                return utf16_label(&rec[start..start + val_len as usize], Utf16::Le);
            }
            break;
        }
        off += attr_len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, padded, Expect};
    use super::super::{identify_head, HEAD_LEN};
    use super::*;
    use proptest::prelude::*;

    const NTFS: &[u8] = include_bytes!("../../../../testdata/samples/fs/ntfs.bin");
    const SIZE: u64 = 16 * 1024 * 1024;

    fn expect(label: Option<&'static str>) -> Expect {
        Expect {
            fs_type: "ntfs",
            uuid: Some("FEDCBA9876543210"),
            label,
            block_size: Some(512),
            fs_size: Some(SIZE - 512),
            ..Expect::default()
        }
    }

    #[test]
    fn sample_matches_blkid() {
        check(identify_head(NTFS, SIZE, 0), expect(Some("Hydra NTFS")), 0);
        check(
            identify_head(&padded(NTFS, HEAD_LEN), SIZE, 0),
            expect(Some("Hydra NTFS")),
            0,
        );
    }

    #[test]
    fn mft_beyond_the_head() {
        // Move the MFT (as Windows places it) far beyond 64 KiB: no label, still ntfs.
        let mut b = padded(NTFS, HEAD_LEN);
        b[48..56].copy_from_slice(&1000u64.to_le_bytes());
        check(identify_head(&b, SIZE, 0), expect(None), 0);
        // Record 3 past the end of the volume: rejected (as blkid's read fails).
        b[48..56].copy_from_slice(&4095u64.to_le_bytes());
        assert!(identify_head(&b, SIZE, 0).is_some());
        assert_eq!(identify_head(&b, SIZE - 1024, 0), None);
        // Record 3 not "FILE": rejected.
        let mut b = NTFS.to_vec();
        b[16384 + 3 * 1024] = b'B';
        assert_eq!(identify_head(&b, SIZE, 0), None);
    }

    #[test]
    fn boot_sector_checks() {
        for (at, val) in [(11, 0u8), (13, 3), (16, 1), (64, 0), (64, 0xe1), (13, 250)] {
            let mut b = NTFS.to_vec();
            b[at] = val;
            if at == 11 {
                b[12] = 0;
            }
            assert_eq!(identify_head(&b, SIZE, 0), None, "byte {at} = {val:#x}");
        }
    }

    proptest! {
        #[test]
        fn flipped_sample_never_panics(
            flips in proptest::collection::vec((0usize..20480, any::<u8>()), 1..32),
            size in prop_oneof![Just(SIZE), any::<u64>()],
        ) {
            let mut b = NTFS.to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
        }

        #[test]
        fn any_volume_record_never_panics(rec in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if rec.len() >= 32 {
                let _ = volume_name(&rec);
            }
        }
    }
}
