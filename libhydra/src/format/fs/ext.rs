//! ext2/ext3/ext4 superblock probes (also ext4dev and jbd), deciding the TYPE from the feature flags as libblkid's ext.c does.
//!
//! The superblock is at 1 KiB; libblkid reads its first 512 bytes and checks only the
//! magic `53 EF` at 0x438 and the feature flags (no checksum, no other sanity check):
//!
//! * `jbd`: an external journal (`INCOMPAT_JOURNAL_DEV`);
//! * `ext4dev`: the "test filesystem" flag in `s_flags`;
//! * `ext4`: a feature ext3 does not know (any incompat bit but filetype, recover and
//!   meta_bg, e.g. extents, 64bit, flex_bg; or any ro_compat bit but sparse_super,
//!   large_file and btree_dir, e.g. huge_file, dir_nlink, metadata_csum);
//! * `ext3`: a journal and only features ext3 knows;
//! * `ext2`: no journal and only features ext2 knows (filetype, meta_bg incompat).
//!
//! libblkid runs them as separate probers (ext4dev, ext4, ext3, ext2, jbd), so a
//! test-flagged ext3 matches both ext4dev and ext3 and blkid reports an ambivalent
//! result; we keep that. (Old libblkid versions also asked the running kernel whether
//! it had an ext2 or ext4 driver; 2.38.1 no longer does.) `SEC_TYPE` is not reported.
//!
//! `VERSION` is `rev_level.minor_rev_level`; `BLOCK_SIZE` is `1024 << s_log_block_size`
//! (computed in 32 bits as blkid does); `fs_size` is the block count (with the high
//! half when the 64bit feature is on) times the block size.

use super::{fs_info, label, uuid16, Vol};
use crate::format::{le16, le32};
use crate::layout::FsInfo;

/// Offset of the superblock on the volume.
const SB_OFF: u64 = 0x400;
/// Bytes of it libblkid reads.
const SB_LEN: usize = 0x200;

const COMPAT_HAS_JOURNAL: u32 = 0x0004;

const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
const RO_COMPAT_BTREE_DIR: u32 = 0x0004;

const INCOMPAT_FILETYPE: u32 = 0x0002;
const INCOMPAT_RECOVER: u32 = 0x0004;
const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
const INCOMPAT_META_BG: u32 = 0x0010;
const INCOMPAT_64BIT: u32 = 0x0080;

const FLAGS_TEST_FILESYS: u32 = 0x0004;

const EXT2_RO_COMPAT_SUPP: u32 =
    RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_BTREE_DIR;
const EXT2_INCOMPAT_SUPP: u32 = INCOMPAT_FILETYPE | INCOMPAT_META_BG;
const EXT3_RO_COMPAT_SUPP: u32 = EXT2_RO_COMPAT_SUPP;
const EXT3_INCOMPAT_SUPP: u32 = INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG;

/// The parts of the superblock the probes use.
struct Super<'a> {
    sb: &'a [u8],
    compat: u32,
    incompat: u32,
    ro_compat: u32,
    flags: u32,
}

fn get_super<'a>(v: &Vol<'a>) -> Option<Super<'a>> {
    if !v.magic_at(1, 0x38, b"\x53\xef") {
        return None;
    }
    let sb = v.get(SB_OFF, SB_LEN)?;
    Some(Super {
        sb,
        compat: le32(sb, 0x5c),
        incompat: le32(sb, 0x60),
        ro_compat: le32(sb, 0x64),
        flags: le32(sb, 0x160),
    })
}

/// libblkid's `ext_get_info`: the values every ext type reports.
fn info(fs_type: &str, s: &Super) -> FsInfo {
    let sb = s.sb;
    let mut fs = fs_info(fs_type);
    fs.label = label(&sb[0x78..0x88]);
    fs.uuid = uuid16(&sb[0x68..0x78]);
    fs.version = Some(format!("{}.{}", le32(sb, 0x4c), le16(sb, 0x3e)));
    let log = le32(sb, 0x18);
    if log < 32 {
        // `1024U << log` in C: bits shifted out of 32 are lost.
        let block_size = 1024u32.wrapping_shl(log);
        fs.block_size = Some(block_size);
        let mut blocks = u64::from(le32(sb, 0x04));
        if s.incompat & INCOMPAT_64BIT != 0 {
            blocks |= u64::from(le32(sb, 0x150)) << 32;
        }
        if block_size != 0 {
            fs.fs_size = blocks.checked_mul(u64::from(block_size));
        }
    }
    fs
}

/// `jbd`: an ext3/ext4 external journal device.
pub(super) fn probe_jbd(v: &Vol) -> Option<FsInfo> {
    let s = get_super(v)?;
    if s.incompat & INCOMPAT_JOURNAL_DEV == 0 {
        return None;
    }
    Some(info("jbd", &s))
}

/// `ext2`: no journal, only ext2 features.
pub(super) fn probe_ext2(v: &Vol) -> Option<FsInfo> {
    let s = get_super(v)?;
    if s.compat & COMPAT_HAS_JOURNAL != 0
        || s.ro_compat & !EXT2_RO_COMPAT_SUPP != 0
        || s.incompat & !EXT2_INCOMPAT_SUPP != 0
    {
        return None;
    }
    Some(info("ext2", &s))
}

/// `ext3`: a journal, only ext3 features.
pub(super) fn probe_ext3(v: &Vol) -> Option<FsInfo> {
    let s = get_super(v)?;
    if s.compat & COMPAT_HAS_JOURNAL == 0
        || s.ro_compat & !EXT3_RO_COMPAT_SUPP != 0
        || s.incompat & !EXT3_INCOMPAT_SUPP != 0
    {
        return None;
    }
    Some(info("ext3", &s))
}

/// `ext4dev`: marked as a test filesystem.
pub(super) fn probe_ext4dev(v: &Vol) -> Option<FsInfo> {
    let s = get_super(v)?;
    if s.incompat & INCOMPAT_JOURNAL_DEV != 0 || s.flags & FLAGS_TEST_FILESYS == 0 {
        return None;
    }
    Some(info("ext4dev", &s))
}

/// `ext4`: some feature ext3 does not understand, not a test filesystem.
pub(super) fn probe_ext4(v: &Vol) -> Option<FsInfo> {
    let s = get_super(v)?;
    if s.incompat & INCOMPAT_JOURNAL_DEV != 0 {
        return None;
    }
    if s.ro_compat & !EXT3_RO_COMPAT_SUPP == 0 && s.incompat & !EXT3_INCOMPAT_SUPP == 0 {
        return None;
    }
    if s.flags & FLAGS_TEST_FILESYS != 0 {
        return None;
    }
    Some(info("ext4", &s))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, padded, Expect};
    use super::super::{identify_head, identify_head_all, HEAD_LEN};
    use proptest::prelude::*;

    const EXT2: &[u8] = include_bytes!("../../../../testdata/samples/fs/ext2.bin");
    const EXT3: &[u8] = include_bytes!("../../../../testdata/samples/fs/ext3.bin");
    const EXT4: &[u8] = include_bytes!("../../../../testdata/samples/fs/ext4.bin");
    const MIB: u64 = 1024 * 1024;

    #[test]
    fn samples_match_blkid() {
        // blkid -p -o export on the full images (see make-samples.sh).
        check(
            identify_head(EXT2, 32 * MIB, 0),
            Expect {
                fs_type: "ext2",
                uuid: Some("11111111-2222-3333-4444-555555555555"),
                label: Some("hydra-ext2"),
                version: Some("1.0"),
                block_size: Some(1024),
                fs_size: Some(32 * MIB),
                ..Expect::default()
            },
            0,
        );
        check(
            identify_head(EXT3, 32 * MIB, 1_048_576),
            Expect {
                fs_type: "ext3",
                uuid: Some("22222222-3333-4444-5555-666666666666"),
                label: Some("hydra-ext3"),
                version: Some("1.0"),
                block_size: Some(1024),
                fs_size: Some(32 * MIB),
                ..Expect::default()
            },
            1_048_576,
        );
        check(
            identify_head(&padded(EXT4, HEAD_LEN), 64 * MIB, 0),
            Expect {
                fs_type: "ext4",
                uuid: Some("33333333-4444-5555-6666-777777777777"),
                label: Some("hydra-ext4"),
                version: Some("1.0"),
                block_size: Some(4096),
                fs_size: Some(64 * MIB),
                ..Expect::default()
            },
            0,
        );
    }

    fn with(sample: &[u8], f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut v = sample.to_vec();
        f(&mut v);
        v
    }

    #[test]
    fn feature_flags_decide_the_type() {
        let t = |b: &[u8]| identify_head(b, 32 * MIB, 0).map(|f| f.fs_type);
        // ext2 + has_journal = ext3; ext3 + extents = ext4.
        let b = with(EXT2, |b| b[0x45c] |= 0x04);
        assert_eq!(t(&b).as_deref(), Some("ext3"));
        let b = with(EXT3, |b| b[0x460] |= 0x40);
        assert_eq!(t(&b).as_deref(), Some("ext4"));
        // ext2 with recover only: no prober accepts it (as in blkid).
        let b = with(EXT2, |b| b[0x460] |= 0x04);
        assert_eq!(t(&b), None);
        // A journal device.
        let b = with(EXT3, |b| b[0x460] |= 0x08);
        assert_eq!(t(&b).as_deref(), Some("jbd"));
        // Test-flagged ext4 is ext4dev; test-flagged ext3 is ambivalent.
        let b = with(EXT4, |b| b[0x560] |= 0x04);
        assert_eq!(t(&b).as_deref(), Some("ext4dev"));
        let b = with(EXT3, |b| b[0x560] |= 0x04);
        assert_eq!(t(&b), None);
        let all: Vec<String> = identify_head_all(&b, 32 * MIB, 0)
            .into_iter()
            .map(|f| f.fs_type)
            .collect();
        assert_eq!(all, ["ext4dev", "ext3"]);
        // Zero UUID and blank label are not reported; a huge block size wraps as in C.
        let b = with(EXT2, |b| {
            b[0x468..0x478].fill(0);
            b[0x478..0x488].copy_from_slice(b"   \0xxxxxxxxxxxx");
            b[0x418] = 22;
        });
        let fs = identify_head(&b, 32 * MIB, 0).unwrap();
        assert_eq!((fs.uuid, fs.label, fs.block_size), (None, None, Some(0)));
        // Without the magic, nothing.
        let b = with(EXT2, |b| b[0x438] = 0);
        assert_eq!(t(&b), None);
        // The superblock must fit in the volume.
        assert_eq!(identify_head(EXT2, 0x5ff, 0), None);
    }

    proptest! {
        #[test]
        fn flipped_samples_never_panic(
            which in 0usize..3,
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            size in prop_oneof![Just(32 * MIB), any::<u64>()],
        ) {
            let mut b = [EXT2, EXT3, EXT4][which].to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
        }
    }
}
