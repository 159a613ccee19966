//! LUKS1/LUKS2 header probe ("LUKS\xba\xbe" at 0, or a LUKS2 secondary header "SKUL\xba\xbe"), as libblkid's luks.c.
//!
//! libblkid takes the primary header at 0 when its magic is there; only when it is
//! not does it look for a LUKS2 secondary header at 16, 32, 64, 128, 256, 512 KiB,
//! 1, 2 and 4 MiB, stopping at the first hit or at the first offset past the end
//! of the volume. We search 16 and 32 KiB in the head and 64 KiB in the second read;
//! a secondary header at 128 KiB or beyond (LUKS2 with a large metadata area whose
//! primary header was wiped) is not found here.
//!
//! `VERSION` is the header version (big-endian u16) as a number; `UUID` is the
//! header's UUID string (up to 40 bytes, trailing white space trimmed); LUKS2 also
//! has a `LABEL` (48 bytes). blkid's `SUBSYSTEM` (LUKS2) is not reported. LUKS has no
//! `BLOCK_SIZE` and no filesystem size.

use super::{fs_info, label, Vol};
use crate::format::be16;
use crate::layout::FsInfo;

const MAGIC: &[u8] = b"LUKS\xba\xbe";
const MAGIC_SECONDARY: &[u8] = b"SKUL\xba\xbe";
/// `sizeof(struct luks2_phdr)`: what libblkid reads at each offset.
const HDR_LEN: usize = 512;
/// Where a LUKS2 secondary header may be, in libblkid's order.
const SECONDARY_OFFSETS: [u64; 9] = [
    0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
];

/// The LUKS probe on the head: the primary header, else a secondary one at 16/32 KiB.
pub(super) fn probe_head(v: &Vol) -> Option<FsInfo> {
    let hdr = v.get(0, HDR_LEN)?;
    if hdr.starts_with(MAGIC) {
        return Some(attributes(hdr));
    }
    secondary(v)
}

/// The LUKS probe on the second read: a secondary header at 64 KiB (the caller only
/// asks when the head had no LUKS header).
pub(super) fn probe_second(v: &Vol) -> Option<FsInfo> {
    secondary(v)
}

fn secondary(v: &Vol) -> Option<FsInfo> {
    for off in SECONDARY_OFFSETS {
        match v.read(off, HDR_LEN as u64) {
            super::Read::Data(hdr) if hdr.starts_with(MAGIC_SECONDARY) => {
                return Some(attributes(hdr));
            }
            super::Read::Data(_) | super::Read::Unread => {}
            super::Read::Beyond => return None,
        }
    }
    None
}

/// libblkid's `luks_attributes`.
fn attributes(hdr: &[u8]) -> FsInfo {
    let mut fs = fs_info("crypto_LUKS");
    let version = be16(hdr, 6);
    fs.version = Some(version.to_string());
    if version == 1 || version == 2 {
        // The UUID string is at 168 in both versions.
        fs.uuid = label(&hdr[168..208]);
    }
    if version == 2 {
        fs.label = label(&hdr[24..72]);
    }
    fs
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, padded, Expect};
    use super::super::{identify_head, identify_second, HEAD_LEN};
    use proptest::prelude::*;

    const LUKS1: &[u8] = include_bytes!("../../../../testdata/samples/fs/luks1.bin");
    const LUKS2: &[u8] = include_bytes!("../../../../testdata/samples/fs/luks2.bin");
    const MIB: u64 = 1024 * 1024;

    fn luks2_expect() -> Expect {
        Expect {
            fs_type: "crypto_LUKS",
            uuid: Some("88888888-9999-aaaa-bbbb-cccccccccccc"),
            label: Some("hydra-luks2"),
            version: Some("2"),
            ..Expect::default()
        }
    }

    #[test]
    fn samples_match_blkid() {
        check(
            identify_head(LUKS1, 8 * MIB, 0),
            Expect {
                fs_type: "crypto_LUKS",
                uuid: Some("77777777-8888-9999-aaaa-bbbbbbbbbbbb"),
                version: Some("1"),
                ..Expect::default()
            },
            0,
        );
        check(identify_head(LUKS2, 20 * MIB, 0), luks2_expect(), 0);
    }

    #[test]
    fn secondary_header() {
        // Primary wiped (blkid -p still reports the same values, see make-samples.sh).
        let mut b = padded(LUKS2, HEAD_LEN);
        b[..4096].fill(0);
        check(identify_head(&b, 20 * MIB, 0), luks2_expect(), 0);
        // The secondary header at 64 KiB (a LUKS2 with 32 KiB metadata areas).
        let mut second = vec![0u8; 4096];
        second[..4096].copy_from_slice(&LUKS2[16384..20480]);
        let mut head = padded(LUKS2, HEAD_LEN);
        head[..20480].fill(0);
        assert_eq!(identify_head(&head, 20 * MIB, 0), None);
        check(identify_second(&second, 20 * MIB, 0), luks2_expect(), 0);
        // Past the end of a small volume the search stops.
        assert_eq!(identify_head(&b[..16384], 16384, 0), None);
    }

    #[test]
    fn luks_wins_over_anything_else() {
        // An ext4 superblock inside a LUKS header area is never looked at.
        let ext4 = include_bytes!("../../../../testdata/samples/fs/ext4.bin");
        let mut b = ext4.to_vec();
        b[..512].copy_from_slice(&LUKS1[..512]);
        assert_eq!(
            identify_head(&b, 64 * MIB, 0).map(|f| f.fs_type).as_deref(),
            Some("crypto_LUKS")
        );
        // An unknown version reports only VERSION.
        let mut b = LUKS1.to_vec();
        b[7] = 9;
        let fs = identify_head(&b, 8 * MIB, 0).unwrap();
        assert_eq!((fs.version.as_deref(), fs.uuid), (Some("9"), None));
    }

    proptest! {
        #[test]
        fn flipped_samples_never_panic(
            which in 0usize..2,
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            size in prop_oneof![Just(20 * MIB), any::<u64>()],
        ) {
            let mut b = [LUKS1, LUKS2][which].to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
            let _ = identify_second(&b, size, 0);
        }
    }
}
