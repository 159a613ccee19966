//! ISO 9660 probe ("CD001" at 32 KiB + 1, or High Sierra "CDROM" at 32 KiB + 9): primary and Joliet volume descriptors, as libblkid's iso9660.c.
//!
//! libblkid reads up to 16 volume descriptors from 32 KiB (all inside the first
//! 64 KiB) until the terminator, keeping the first primary descriptor (PVD), boot
//! record and Joliet supplementary descriptor (escape sequence `%/@`, `%/C` or `%/E`).
//!
//! * `LABEL`: without Joliet, the PVD volume identifier (32 bytes, trailing spaces
//!   trimmed). With Joliet, blkid rebuilds the label from both: the Joliet name
//!   (UTF-16BE, at most 16 characters) when the PVD name matches it as a prefix
//!   (case-insensitively, `_` standing for a character ASCII cannot hold), followed
//!   by the rest of the PVD name; else the Joliet name alone.
//! * `UUID`: the modification date as `YYYY-MM-DD-HH-MM-SS-hh`, or the creation date
//!   when the modification date is unset (all '0' digits and a zero time zone).
//! * `VERSION`: `Joliet Extension` when there is a Joliet descriptor; `High Sierra`
//!   for the old format. `BLOCK_SIZE` is always 2048.
//! * `fs_size`: the PVD's volume space size × logical block size.
//!
//! blkid also reports SYSTEM_ID, VOLUME_SET_ID, PUBLISHER_ID, DATA_PREPARER_ID,
//! APPLICATION_ID and BOOT_SYSTEM_ID; we do not. Multi-session offsets (a hint
//! from the CD-ROM driver) do not apply to disk images.

use super::{fs_info, label, utf16_label, Read, Utf16, Vol};
use crate::format::{le16, le32};
use crate::layout::FsInfo;

const SUPERBLOCK_OFF: u64 = 0x8000;
const SECTOR: u64 = 0x800;
/// `sizeof(struct iso_volume_descriptor)`: what libblkid reads per descriptor.
const DESC_LEN: u64 = 847;
const MAX_DESCRIPTORS: u64 = 16;

const VD_BOOT_RECORD: u8 = 0;
const VD_PRIMARY: u8 = 1;
const VD_SUPPLEMENTARY: u8 = 2;
const VD_END: u8 = 0xff;

/// The iso9660 probe.
pub(super) fn probe(v: &Vol) -> Option<FsInfo> {
    if v.magic_at(32, 1, b"CD001") {
        probe_iso(v)
    } else if v.magic_at(32, 9, b"CDROM") {
        let hs = v.get(SUPERBLOCK_OFF, 80)?;
        let mut fs = fs_info("iso9660");
        fs.block_size = Some(SECTOR as u32);
        fs.version = Some("High Sierra".to_string());
        fs.label = label(&hs[48..80]);
        Some(fs)
    } else {
        None
    }
}

fn probe_iso(v: &Vol) -> Option<FsInfo> {
    let mut boot = false;
    let mut pvd: Option<&[u8]> = None;
    let mut joliet: Option<&[u8]> = None;
    for i in 0..MAX_DESCRIPTORS {
        if boot && pvd.is_some() && joliet.is_some() {
            break;
        }
        let desc = match v.read(SUPERBLOCK_OFF + i * SECTOR, DESC_LEN) {
            Read::Data(d) => d,
            // All 16 descriptors lie inside 64 KiB; only a short volume ends early.
            Read::Beyond | Read::Unread => break,
        };
        match desc[0] {
            VD_END => break,
            VD_BOOT_RECORD if !boot => boot = true,
            VD_PRIMARY if pvd.is_none() => pvd = Some(desc),
            VD_SUPPLEMENTARY if joliet.is_none() => {
                if matches!(&desc[88..91], b"%/@" | b"%/C" | b"%/E") {
                    joliet = Some(desc);
                }
            }
            _ => {}
        }
    }
    let pvd = pvd?;
    let mut fs = fs_info("iso9660");
    fs.block_size = Some(SECTOR as u32);
    fs.uuid = match date_uuid(&pvd[830..847]) {
        DateUuid::Unset => date_uuid(&pvd[813..830]).value(),
        d => d.value(),
    };
    if joliet.is_some() {
        fs.version = Some("Joliet Extension".to_string());
    }
    let pvd_name = &pvd[40..72];
    fs.label = match joliet {
        Some(j) => match merge_utf16be_ascii(&j[40..72], pvd_name) {
            Some(merged) => utf16_label(&merged, Utf16::Be),
            None => utf16_label(&j[40..72], Utf16::Be),
        },
        None => label(pvd_name),
    };
    let block = u64::from(le16(pvd, 128));
    fs.fs_size = u64::from(le32(pvd, 80)).checked_mul(block);
    Some(fs)
}

/// What libblkid's `probe_iso9660_set_uuid` does with one date.
enum DateUuid {
    /// All digits '0' and a zero time zone: try the other date.
    Unset,
    /// Used (possibly producing no value, e.g. all NUL bytes).
    Used(Option<String>),
}

impl DateUuid {
    fn value(self) -> Option<String> {
        match self {
            DateUuid::Unset => None,
            DateUuid::Used(v) => v,
        }
    }
}

fn date_uuid(date: &[u8]) -> DateUuid {
    let digits = &date[..16];
    if digits.iter().all(|&c| c == b'0') && date[16] == 0 {
        return DateUuid::Unset;
    }
    if super::is_zero(digits) {
        return DateUuid::Used(None);
    }
    let mut s = Vec::with_capacity(22);
    for (i, &c) in digits.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10 | 12 | 14) {
            s.push(b'-');
        }
        s.push(c);
    }
    // C's %c of a NUL ends the string blkid prints.
    let s = super::c_str(&s);
    DateUuid::Used((!s.is_empty()).then(|| String::from_utf8_lossy(s).into_owned()))
}

/// libblkid's `merge_utf16be_ascii`: rebuild a UTF-16BE identifier from the Joliet
/// one (`utf16`) and the PVD one (`ascii`), or `None` when the Joliet one is not a
/// prefix of the PVD one.
fn merge_utf16be_ascii(utf16: &[u8], ascii: &[u8]) -> Option<Vec<u8>> {
    let len = ascii.len().min(utf16.len());
    let mut out = Vec::with_capacity(4 * len);
    let (mut a, mut u) = (0, 0);
    while u + 1 < len && a < len {
        // A surrogate pair (a code point above U+FFFF) is copied as is.
        if (0xd8..=0xdb).contains(&utf16[u]) && u + 3 < len && (0xdc..=0xdf).contains(&utf16[u + 2])
        {
            out.extend_from_slice(&utf16[u..u + 2]);
            u += 2;
        }
        let (hi, lo, c) = (utf16[u], utf16[u + 1], ascii[a]);
        if c == b'_' {
            out.extend_from_slice(&[hi, lo]);
        } else if hi == 0 && lo == b'_' {
            out.extend_from_slice(&[0, c]);
        } else if hi == 0 && c.eq_ignore_ascii_case(&lo) {
            out.extend_from_slice(&[0, if c.is_ascii_uppercase() { lo } else { c }]);
        } else {
            return None;
        }
        a += 1;
        u += 2;
    }
    for &c in &ascii[a..] {
        out.extend_from_slice(&[0, c]);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, padded, Expect};
    use super::super::{identify_head, HEAD_LEN};
    use super::*;
    use proptest::prelude::*;

    const ISO: &[u8] = include_bytes!("../../../../testdata/samples/fs/iso.bin");
    const SIZE: u64 = 376_832;

    fn expect(label: &'static str, uuid: &'static str) -> Expect {
        Expect {
            fs_type: "iso9660",
            uuid: Some(uuid),
            label: Some(label),
            version: Some("Joliet Extension"),
            block_size: Some(2048),
            fs_size: Some(SIZE),
            ..Expect::default()
        }
    }

    #[test]
    fn sample_matches_blkid() {
        let want = expect("HYDRA_ISO", "2024-01-01-12-34-56-00");
        check(identify_head(ISO, SIZE, 0), want, 0);
        check(identify_head(&padded(ISO, HEAD_LEN), SIZE, 0), want, 0);
    }

    fn set_names(b: &mut [u8], pvd: &[u8], joliet: &str) {
        b[0x8000 + 40..0x8000 + 72].fill(b' ');
        b[0x8000 + 40..0x8000 + 40 + pvd.len()].copy_from_slice(pvd);
        let j: Vec<u8> = joliet
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .chain([0, b' '].into_iter().cycle())
            .take(32)
            .collect();
        b[0x8800 + 40..0x8800 + 72].copy_from_slice(&j);
    }

    #[test]
    fn joliet_and_pvd_names_are_merged() {
        let mut b = ISO.to_vec();
        // A long ASCII name: Joliet holds its first 16 characters.
        set_names(
            &mut b,
            b"A_LONG_VOLUME_NAME_OF_30_CHARS",
            "A_LONG_VOLUME_NA",
        );
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!(fs.label.as_deref(), Some("A_LONG_VOLUME_NAME_OF_30_CHARS"));
        // Non-ASCII characters: '_' in the PVD, the real ones from Joliet.
        set_names(&mut b, b"CAF_ 1", "Café 1");
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!(fs.label.as_deref(), Some("Café 1"));
        // Lower case in Joliet, upper case in the PVD: Joliet's case.
        set_names(&mut b, b"DATA", "Data");
        assert_eq!(
            identify_head(&b, SIZE, 0).unwrap().label.as_deref(),
            Some("Data")
        );
        // Different names: the Joliet one.
        set_names(&mut b, b"PVDNAME", "Joliet");
        assert_eq!(
            identify_head(&b, SIZE, 0).unwrap().label.as_deref(),
            Some("Joliet")
        );
        // No Joliet (bad escape sequence): the PVD name, no VERSION.
        b[0x8800 + 88] = b'X';
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!((fs.label.as_deref(), fs.version), (Some("PVDNAME"), None));
    }

    #[test]
    fn dates() {
        let mut b = ISO.to_vec();
        // Unset modification date: the creation date.
        b[0x8000 + 830..0x8000 + 846].fill(b'0');
        b[0x8000 + 846] = 0;
        b[0x8000 + 813..0x8000 + 829].copy_from_slice(b"2023123123595999");
        let fs = identify_head(&b, SIZE, 0).unwrap();
        assert_eq!(fs.uuid.as_deref(), Some("2023-12-31-23-59-59-99"));
        // All-NUL modification date: no UUID at all (blkid does not try the other).
        b[0x8000 + 830..0x8000 + 846].fill(0);
        assert_eq!(identify_head(&b, SIZE, 0).unwrap().uuid, None);
    }

    #[test]
    fn high_sierra() {
        let mut b = vec![0u8; 0x8800];
        b[0x8009..0x800e].copy_from_slice(b"CDROM");
        b[0x8000 + 48..0x8000 + 56].copy_from_slice(b"OLDDISC ");
        check(
            identify_head(&b, SIZE, 0),
            Expect {
                fs_type: "iso9660",
                label: Some("OLDDISC"),
                version: Some("High Sierra"),
                block_size: Some(2048),
                ..Expect::default()
            },
            0,
        );
    }

    proptest! {
        #[test]
        fn flipped_sample_never_panics(
            flips in proptest::collection::vec((0x8000usize..0x9800, any::<u8>()), 1..32),
            size in prop_oneof![Just(SIZE), any::<u64>()],
        ) {
            let mut b = ISO.to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
        }

        #[test]
        fn merge_never_panics(
            u in proptest::collection::vec(any::<u8>(), 32),
            a in proptest::collection::vec(any::<u8>(), 32),
        ) {
            if let Some(m) = merge_utf16be_ascii(&u, &a) {
                let _ = utf16_label(&m, Utf16::Be);
            }
        }
    }
}
