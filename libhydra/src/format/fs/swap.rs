//! Linux swap probes (SWAPSPACE2 / SWAP-SPACE at page size - 10) and hibernation images (swsuspend), as libblkid's swap.c.
//!
//! The magic sits in the last 10 bytes of the first page, for pages of 4, 8, 16,
//! 32 or 64 KiB; the header is always at 1 KiB. Version 1 (`SWAPSPACE2`) needs a
//! header version of 1 (either byte order) and a non-zero last page; its `LABEL` and
//! `UUID` are reported only when two padding words of the header are zero (blkid's
//! "garbage" check). Version 0 (`SWAP-SPACE`) has neither. A TuxOnIce image (its
//! magic at 0) is not swap. Volumes under 10 pages (40 KiB) are not probed.
//!
//! A swap area holding a hibernation image has its magic replaced (`S1SUSPEND`,
//! `S2SUSPEND`, `ULSUSPEND`, `LINHIB0001`, or TuxOnIce's at 0): blkid reports
//! `TYPE=swsuspend` with the image kind as `VERSION`, and so do we.
//!
//! `fs_size` (version 1 only) is `(last_page + 1) × page size`, the page size being
//! where the magic was found.

use super::{fs_info, label, uuid16, Vol};
use crate::format::{be32, le32};
use crate::layout::FsInfo;

/// libblkid's `minsz` for swap and swsuspend: 10 pages of 4 KiB.
pub(super) const MIN_SIZE: u64 = 10 * 4096;

/// Offset of the swap header.
const HDR_OFF: u64 = 1024;
/// `sizeof(struct swap_header_v1_2)`.
const HDR_LEN: usize = 516;

const TOI_MAGIC: &[u8] = b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c";

/// Offsets of the magic for each page size, in libblkid's order.
const PAGE_MAGIC_OFFSETS: [u64; 5] = [0xff6, 0x1ff6, 0x3ff6, 0x7ff6, 0xfff6];

/// The swap probe.
pub(super) fn probe(v: &Vol) -> Option<FsInfo> {
    // libblkid's magic list: for each page size, SWAP-SPACE then SWAPSPACE2.
    let (magic, at) = PAGE_MAGIC_OFFSETS.iter().find_map(|&at| {
        [&b"SWAP-SPACE"[..], &b"SWAPSPACE2"[..]]
            .into_iter()
            .find(|m| v.magic_at(0, at, m))
            .map(|m| (m, at))
    })?;
    if v.get(0, TOI_MAGIC.len())? == TOI_MAGIC {
        return None;
    }
    if magic == b"SWAP-SPACE" {
        let mut fs = fs_info("swap");
        fs.version = Some("0".to_string());
        return Some(fs);
    }
    let hdr = v.get(HDR_OFF, HDR_LEN)?;
    let version = le32(hdr, 0);
    if version != 1 && version.swap_bytes() != 1 {
        return None;
    }
    let last_page = if version == 1 {
        le32(hdr, 4)
    } else {
        be32(hdr, 4)
    };
    if last_page == 0 {
        return None;
    }
    let mut fs = set_info("swap", hdr, "1");
    fs.fs_size = Some((u64::from(last_page) + 1) * (at + 10));
    Some(fs)
}

/// The swsuspend probe: a hibernation image in a swap area.
pub(super) fn probe_swsuspend(v: &Vol) -> Option<FsInfo> {
    let version = if v.magic_at(0, 0, TOI_MAGIC) {
        "tuxonice"
    } else {
        const KINDS: [(&[u8], &str); 4] = [
            (b"S1SUSPEND", "s1suspend"),
            (b"S2SUSPEND", "s2suspend"),
            (b"ULSUSPEND", "ulsuspend"),
            (b"LINHIB0001", "linhib0001"),
        ];
        PAGE_MAGIC_OFFSETS.iter().find_map(|&at| {
            KINDS
                .iter()
                .find(|(m, _)| v.magic_at(0, at, m))
                .map(|&(_, name)| name)
        })?
    };
    let hdr = v.get(HDR_OFF, HDR_LEN)?;
    Some(set_info("swsuspend", hdr, version))
}

/// libblkid's `swap_set_info` after the version checks.
fn set_info(fs_type: &str, hdr: &[u8], version: &str) -> FsInfo {
    let mut fs = fs_info(fs_type);
    // padding[32] and padding[33]: the header is clean when they are zero.
    if le32(hdr, 44 + 32 * 4) == 0 && le32(hdr, 44 + 33 * 4) == 0 {
        if hdr[28] != 0 {
            fs.label = label(&hdr[28..44]);
        }
        fs.uuid = uuid16(&hdr[12..28]);
    }
    fs.version = Some(version.to_string());
    fs
}

#[cfg(test)]
mod tests {
    use super::super::identify_head;
    use super::super::testutil::{check, padded, Expect};
    use super::*;
    use proptest::prelude::*;

    const SWAP: &[u8] = include_bytes!("../../../../testdata/samples/fs/swap.bin");
    const SIZE: u64 = 8 * 1024 * 1024;

    #[test]
    fn sample_matches_blkid() {
        let want = Expect {
            fs_type: "swap",
            uuid: Some("66666666-7777-8888-9999-aaaaaaaaaaaa"),
            label: Some("hydra-swap"),
            version: Some("1"),
            fs_size: Some(SIZE),
            ..Expect::default()
        };
        check(identify_head(SWAP, SIZE, 0), want, 0);
        check(identify_head(&padded(SWAP, 65536), SIZE, 0), want, 0);
    }

    #[test]
    fn variants() {
        // A 64 KiB page: magic at 0xfff6.
        let mut b = padded(SWAP, 65536);
        b[0xff6..0x1000].fill(0);
        b[0xfff6..0x10000].copy_from_slice(b"SWAPSPACE2");
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!(fs.fs_size, Some(2048 * 65536));
        // Old swap: version 0, nothing else.
        let mut b = SWAP.to_vec();
        b[0xff6..0x1000].copy_from_slice(b"SWAP-SPACE");
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!(
            (fs.version.as_deref(), fs.uuid, fs.label),
            (Some("0"), None, None)
        );
        // Garbage in the padding hides label and UUID.
        let mut b = SWAP.to_vec();
        b[1024 + 44 + 128] = 1;
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!((fs.uuid, fs.label), (None, None));
        // Wrong version, zero last page, TuxOnIce, too small: not swap.
        let mut b = SWAP.to_vec();
        b[1024] = 2;
        assert_eq!(identify_head(&b, SIZE, 0), None);
        let mut b = SWAP.to_vec();
        b[1028..1032].fill(0);
        assert_eq!(identify_head(&b, SIZE, 0), None);
        assert_eq!(identify_head(SWAP, MIN_SIZE - 1, 0), None);
        let mut b = SWAP.to_vec();
        b[..8].copy_from_slice(TOI_MAGIC);
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!(
            (fs.fs_type.as_str(), fs.version.as_deref()),
            ("swsuspend", Some("tuxonice"))
        );
        // Big-endian header.
        let mut b = SWAP.to_vec();
        b[1024..1028].copy_from_slice(&1u32.to_be_bytes());
        b[1028..1032].copy_from_slice(&2047u32.to_be_bytes());
        assert_eq!(identify_head(&b, SIZE, 0).unwrap().fs_size, Some(SIZE));
        // A hibernation image.
        let mut b = SWAP.to_vec();
        b[0xff6..0x1000].copy_from_slice(b"S1SUSPEND\0");
        check(
            identify_head(&b, SIZE, 0),
            Expect {
                fs_type: "swsuspend",
                uuid: Some("66666666-7777-8888-9999-aaaaaaaaaaaa"),
                label: Some("hydra-swap"),
                version: Some("s1suspend"),
                ..Expect::default()
            },
            0,
        );
    }

    #[test]
    fn stale_swap_magic_under_ext4_is_ignored() {
        // The swap header would be ext4's superblock: its "version" (the inode count)
        // is not 1, so blkid's swap prober declines and ext4 is the only match.
        let ext4 = include_bytes!("../../../../testdata/samples/fs/ext4.bin");
        let mut b = ext4.to_vec();
        b[0xff6..0x1000].copy_from_slice(b"SWAPSPACE2");
        assert_eq!(
            identify_head(&b, 64 << 20, 0).map(|f| f.fs_type).as_deref(),
            Some("ext4")
        );
    }

    proptest! {
        #[test]
        fn flipped_sample_never_panics(
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            size in prop_oneof![Just(SIZE), any::<u64>()],
        ) {
            let mut b = SWAP.to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
        }
    }
}
