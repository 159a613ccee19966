//! XFS superblock probe ("XFSB" at 0) with libblkid's xfs.c sanity checks.
//!
//! libblkid 2.38.1 accepts the magic only when the geometry is consistent (sector,
//! block and inode sizes and their logs, realtime extent size, AG count × AG size
//! against the data block count); it does not verify the v5 CRC (2.39+ does).
//! `BLOCK_SIZE` is the sector size (`sb_sectsize`), not the filesystem block size.
//! `fs_size` is `sb_dblocks × sb_blocksize`, the whole data device including an
//! internal log (newer libblkid's `FSSIZE` subtracts the internal log).

use super::{fs_info, label, uuid16, Vol};
use crate::format::{be16, be32, be64};
use crate::layout::FsInfo;

/// Bytes of the superblock libblkid reads (`sizeof(struct xfs_super_block)`).
const SB_LEN: usize = 272;

/// The XFS probe.
pub(super) fn probe(v: &Vol) -> Option<FsInfo> {
    if !v.magic_at(0, 0, b"XFSB") {
        return None;
    }
    let sb = v.get(0, SB_LEN)?;
    if !sane(sb) {
        return None;
    }
    let mut fs = fs_info("xfs");
    fs.label = label(&sb[108..120]);
    fs.uuid = uuid16(&sb[32..48]);
    fs.block_size = Some(u32::from(be16(sb, 102)));
    fs.fs_size = be64(sb, 8).checked_mul(u64::from(be32(sb, 4)));
    Some(fs)
}

/// libblkid's `xfs_verify_sb`, with C's 32-bit arithmetic where it has it.
fn sane(sb: &[u8]) -> bool {
    let blocksize = be32(sb, 4);
    let dblocks = be64(sb, 8);
    let rextsize = be32(sb, 80);
    let agblocks = be32(sb, 84);
    let agcount = be32(sb, 88);
    let sectsize = be16(sb, 102);
    let inodesize = be16(sb, 104);
    let (blocklog, sectlog, inodelog, inopblog) = (sb[120], sb[121], sb[122], sb[123]);
    let imax_pct = sb[127];

    let rtext = rextsize.wrapping_mul(blocksize);
    let max_dblocks = u64::from(agcount) * u64::from(agblocks);
    agcount != 0
        && (512..=32768).contains(&sectsize)
        && (9..=15).contains(&sectlog)
        && u32::from(sectsize) == 1u32 << sectlog
        && (512..=65536).contains(&blocksize)
        && (9..=16).contains(&blocklog)
        && u64::from(blocksize) == 1u64 << blocklog
        && (256..=2048).contains(&inodesize)
        && (8..=11).contains(&inodelog)
        && u32::from(inodesize) == 1u32 << inodelog
        && i32::from(blocklog) - i32::from(inodelog) == i32::from(inopblog)
        && (4 * 1024..=1024 * 1024 * 1024).contains(&rtext)
        && imax_pct <= 100
        && dblocks != 0
        && dblocks <= max_dblocks
        && dblocks >= u64::from(agcount - 1) * u64::from(agblocks) + 64
}

#[cfg(test)]
mod tests {
    use super::super::identify_head;
    use super::super::testutil::{check, Expect};
    use proptest::prelude::*;

    const XFS: &[u8] = include_bytes!("../../../../testdata/samples/fs/xfs.bin");
    const SIZE: u64 = 300 * 1024 * 1024;

    #[test]
    fn sample_matches_blkid() {
        check(
            identify_head(XFS, SIZE, 4096),
            Expect {
                fs_type: "xfs",
                uuid: Some("44444444-5555-6666-7777-888888888888"),
                label: Some("hydra-xfs"),
                block_size: Some(512),
                fs_size: Some(SIZE),
                ..Expect::default()
            },
            4096,
        );
    }

    #[test]
    fn insane_geometry_is_rejected() {
        for (at, val) in [(88, 0u8), (121, 8), (120, 17), (127, 101), (104, 0)] {
            let mut b = XFS.to_vec();
            b[at] = val;
            if at == 88 {
                b[88..92].fill(0);
            }
            assert_eq!(identify_head(&b, SIZE, 0), None, "byte {at} = {val}");
        }
        // An empty label is not reported.
        let mut b = XFS.to_vec();
        b[108..120].fill(0);
        assert_eq!(identify_head(&b, SIZE, 0).unwrap().label, None);
    }

    proptest! {
        #[test]
        fn flipped_sample_never_panics(
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            size in prop_oneof![Just(SIZE), any::<u64>()],
        ) {
            let mut b = XFS.to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
        }
    }
}
