//! btrfs superblock probe: "_BHRfS_M" at 64 KiB + 0x40, read from the second read.
//!
//! libblkid 2.38.1 checks only the magic (2.39+ also verifies the superblock
//! checksum and rejects a zero sector size), on volumes of at least 1 MiB; zoned
//! devices (superblock in a zone log) are not handled here. `UUID` is the fsid,
//! `UUID_SUB` the device item's UUID, `BLOCK_SIZE` the sector size; `fs_size` is
//! `total_bytes`, the size of the whole filesystem (all its devices).

use super::{fs_info, label, uuid16, Vol, SECOND_OFFSET};
use crate::format::{le32, le64};
use crate::layout::FsInfo;

/// libblkid's `minsz` for btrfs.
pub(super) const MIN_SIZE: u64 = 1024 * 1024;

/// Bytes of the superblock libblkid reads (`sizeof(struct btrfs_super_block)`).
const SB_LEN: usize = 0x12b + 256;

/// The btrfs probe (on the bytes at [`SECOND_OFFSET`]).
pub(super) fn probe(v: &Vol) -> Option<FsInfo> {
    if !v.magic_at(64, 0x40, b"_BHRfS_M") {
        return None;
    }
    let sb = v.get(SECOND_OFFSET, SB_LEN)?;
    let mut fs = fs_info("btrfs");
    fs.label = label(&sb[0x12b..0x12b + 256]);
    fs.uuid = uuid16(&sb[0x20..0x30]);
    fs.uuid_sub = uuid16(&sb[0x10b..0x11b]);
    fs.block_size = Some(le32(sb, 0x90));
    fs.fs_size = Some(le64(sb, 0x70));
    Some(fs)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, Expect};
    use super::super::{identify_head, identify_second, SECOND_LEN};
    use proptest::prelude::*;

    const SECOND: &[u8] = include_bytes!("../../../../testdata/samples/fs/btrfs-second.bin");
    const SIZE: u64 = 128 * 1024 * 1024;

    #[test]
    fn sample_matches_blkid() {
        assert_eq!(SECOND.len(), SECOND_LEN);
        // mkfs.btrfs leaves the first 64 KiB zero.
        assert_eq!(identify_head(&[0u8; 65536], SIZE, 0), None);
        check(
            identify_second(SECOND, SIZE, 512),
            Expect {
                fs_type: "btrfs",
                uuid: Some("55555555-6666-7777-8888-999999999999"),
                uuid_sub: Some("e94b1b98-4912-4752-bf5c-a89065b7ce08"),
                label: Some("hydra-btrfs"),
                block_size: Some(4096),
                fs_size: Some(SIZE),
                ..Expect::default()
            },
            512,
        );
    }

    #[test]
    fn size_and_magic_checks() {
        // Too small a volume (libblkid's 1 MiB minimum), or cut short.
        assert_eq!(identify_second(SECOND, 1024 * 1024 - 1, 0), None);
        assert_eq!(identify_second(&SECOND[..0x200], SIZE, 0), None);
        assert_eq!(identify_second(SECOND, 65536 + 0x200, 0), None);
        let mut b = SECOND.to_vec();
        b[0x40] = b'-';
        assert_eq!(identify_second(&b, SIZE, 0), None);
    }

    proptest! {
        #[test]
        fn flipped_sample_never_panics(
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            size in prop_oneof![Just(SIZE), any::<u64>()],
        ) {
            let mut b = SECOND.to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_second(&b, size, 0);
        }
    }
}
