//! FAT12/FAT16/FAT32 boot sector probe with libblkid's vfat.c checks and label search; also the BitLocker header test that vfat uses (and the BitLocker TYPE blkid reports first).
//!
//! # Recognition
//!
//! libblkid accepts a boot sector by one of its magic strings ("MSWIN"/"FAT32   " at
//! 0x52, "MSDOS"/"FAT16   "/"FAT12   "/"FAT     " at 0x36, or merely a jump byte
//! EB/E9 at 0 or 55 AA at 510; for those last three the sector must end in 55 AA and
//! not be a JFS/HPFS pseudo boot sector), then requires: at least one FAT, reserved
//! sectors, media byte F0 or F8-FF, a power-of-two cluster size, a power-of-two
//! sector size of 512-4096, and a cluster count within the FAT type's maximum (with
//! C's 32-bit wrap-around). A BitLocker volume (whose boot sector looks like FAT) is
//! not vfat. A FAT32 volume's FSInfo sector must carry its signatures or zeros.
//!
//! # Values
//!
//! `VERSION` is FAT12/FAT16 by cluster count (none above FAT16's maximum) or FAT32
//! when the 16-bit FAT length is zero. `UUID` is the volume serial as `XXXX-XXXX`,
//! uppercase (FAT12/16 only with an extended boot signature 0x28/0x29). `BLOCK_SIZE`
//! is the sector size, `fs_size` the sector count × sector size.
//!
//! `LABEL`: libblkid 2.38.1 takes it only from the volume-label entry of the root
//! directory (blkid shows the boot-sector label as `LABEL_FATBOOT`, which we do not
//! report), and reports no label when the root directory has no such entry. For
//! FAT12/16 the root directory follows the FATs; for FAT32 blkid follows the root
//! directory's cluster chain through the FAT (up to 99 clusters). We do the same as
//! far as the bytes we have reach. Where the root directory (or the part of the chain
//! needed) lies beyond the first 64 KiB — every FAT32 volume of normal size and most
//! FAT16 volumes over a few MiB — we fall back to the boot-sector label (when its
//! extended boot signature is 0x29 and it is not "NO NAME"). mkfs.fat and Windows'
//! format write the same label in both places; a label later changed by Windows may
//! differ in the boot sector. Likewise an FSInfo sector beyond 64 KiB is not checked.
//!
//! # BitLocker
//!
//! libblkid probes BitLocker (a "crypto" type, so it ends the search) before vfat:
//! boot sectors starting `EB 52 90 -FVE-FS-` (Vista), `EB 58 90 -FVE-FS-` (Windows 7+)
//! or `EB 58 90 MSWIN4.1` (To Go), the latter two confirmed by the `-FVE-FS-` FVE
//! metadata block the header points to. We report `TYPE=BitLocker` when confirmed in
//! the bytes we have. When the FVE block lies beyond them: a `-FVE-FS-` boot sector is
//! never taken for vfat (no result), a To Go one is taken for vfat as blkid would
//! without its BitLocker test.

use super::{fs_info, is_zero, label, Read, Vol};
use crate::format::{le16, le32, le64};
use crate::layout::FsInfo;

const FAT12_MAX: u32 = 0xff4;
const FAT16_MAX: u32 = 0xfff4;
const FAT32_MAX: u32 = 0x0fff_fff6;

const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIR: u8 = 0x10;
const ATTR_LONG_NAME: u8 = 0x0f;
const ATTR_MASK: u8 = 0x3f;
const ENTRY_FREE: u8 = 0xe5;
const DIR_ENTRY_LEN: u64 = 32;

const NO_NAME: &[u8] = b"NO NAME    ";

/// libblkid's vfat magics: (string, offset in the first KiB).
const MAGICS: [(&[u8], usize); 9] = [
    (b"MSWIN", 0x52),
    (b"FAT32   ", 0x52),
    (b"MSDOS", 0x36),
    (b"FAT16   ", 0x36),
    (b"FAT12   ", 0x36),
    (b"FAT     ", 0x36),
    (b"\xeb", 0),
    (b"\xe9", 0),
    (b"\x55\xaa", 0x1fe),
];

/// The vfat probe.
pub(super) fn probe(v: &Vol) -> Option<FsInfo> {
    let magic_len = magic(v)?;
    let bs = v.get(0, 512)?;
    let geo = valid_superblock(v, magic_len, bs)?;
    let sector_size = u32::from(le16(bs, 0x0b));
    let reserved = u32::from(le16(bs, 0x0e));
    let mut root_label = Search::NotFound;
    let mut boot_label = None;
    let mut serial = None;
    let mut version = None;
    if le16(bs, 0x16) != 0 {
        // FAT12/16: the root directory follows the FATs.
        let root_start = reserved
            .wrapping_add(geo.fat_size)
            .wrapping_mul(sector_size);
        root_label = search_label(v, u64::from(root_start), u32::from(le16(bs, 0x11)));
        let sign = bs[0x26];
        if sign == 0x29 {
            boot_label = Some(&bs[0x2b..0x36]);
        }
        if sign == 0x28 || sign == 0x29 {
            serial = Some(&bs[0x27..0x2b]);
        }
        if geo.cluster_count < FAT12_MAX {
            version = Some("FAT12");
        } else if geo.cluster_count < FAT16_MAX {
            version = Some("FAT16");
        }
    } else if le32(bs, 0x24) != 0 {
        root_label = fat32_root_label(v, bs, geo.fat_size);
        version = Some("FAT32");
        if bs[0x42] == 0x29 {
            boot_label = Some(&bs[0x47..0x52]);
        }
        serial = Some(&bs[0x43..0x47]);
        let fsinfo_sector = u64::from(le16(bs, 0x30));
        if fsinfo_sector != 0 {
            match v.read(fsinfo_sector * u64::from(sector_size), 512) {
                Read::Data(fsinfo) => {
                    let sig1 = &fsinfo[0..4];
                    let sig2 = &fsinfo[484..488];
                    if !matches!(sig1, b"RRaA" | b"RRdA" | b"\0\0\0\0")
                        || !matches!(sig2, b"rrAa" | b"\0\0\0\0")
                    {
                        return None;
                    }
                }
                Read::Beyond => return None,
                // Not in the bytes we have: not checked.
                Read::Unread => {}
            }
        }
    }

    let mut fs = fs_info("vfat");
    fs.label = match root_label {
        Search::Found(name) => label(&name),
        Search::NotFound => None,
        // blkid would read the root directory beyond our bytes; see the module docs.
        Search::Unknown => boot_label.filter(|l| *l != NO_NAME).and_then(label),
    };
    fs.uuid = serial
        .filter(|s| !is_zero(s))
        .map(|s| format!("{:02X}{:02X}-{:02X}{:02X}", s[3], s[2], s[1], s[0]));
    fs.version = version.map(str::to_string);
    fs.block_size = Some(sector_size);
    fs.fs_size = Some(u64::from(geo.sect_count) * u64::from(sector_size));
    Some(fs)
}

/// libblkid's `blkid_probe_is_vfat`.
pub(super) fn is_vfat(v: &Vol) -> bool {
    let Some(magic_len) = magic(v) else {
        return false;
    };
    v.get(0, 512)
        .and_then(|bs| valid_superblock(v, magic_len, bs))
        .is_some()
}

/// The length of the first vfat magic found, in libblkid's order.
fn magic(v: &Vol) -> Option<usize> {
    MAGICS
        .iter()
        .find(|(m, at)| v.magic_at(0, *at as u64, m))
        .map(|(m, _)| m.len())
}

/// What `fat_valid_superblock` computes.
struct Geometry {
    cluster_count: u32,
    fat_size: u32,
    sect_count: u32,
}

/// libblkid's `fat_valid_superblock` (with C's unsigned 32-bit arithmetic).
fn valid_superblock(v: &Vol, magic_len: usize, bs: &[u8]) -> Option<Geometry> {
    if magic_len <= 2 {
        if bs[510] != 0x55 || bs[511] != 0xaa {
            return None;
        }
        let fs_magic = &bs[0x36..0x3e];
        if fs_magic == b"JFS     " || fs_magic == b"HPFS    " {
            return None;
        }
    }
    let fats = u32::from(bs[0x10]);
    let reserved = u32::from(le16(bs, 0x0e));
    let media = bs[0x15];
    let cluster_size = u32::from(bs[0x0d]);
    if fats == 0 || reserved == 0 || !(media >= 0xf8 || media == 0xf0) {
        return None;
    }
    if !cluster_size.is_power_of_two() {
        return None;
    }
    let sector_size = u32::from(le16(bs, 0x0b));
    if !sector_size.is_power_of_two() || !(512..=4096).contains(&sector_size) {
        return None;
    }
    let dir_entries = u64::from(le16(bs, 0x11));
    let mut sect_count = u32::from(le16(bs, 0x13));
    if sect_count == 0 {
        sect_count = le32(bs, 0x20);
    }
    let fat_length16 = u32::from(le16(bs, 0x16));
    let fat32_length = le32(bs, 0x24);
    let fat_length = if fat_length16 == 0 {
        fat32_length
    } else {
        fat_length16
    };
    let fat_size = fat_length.wrapping_mul(fats);
    let dir_size = (dir_entries * DIR_ENTRY_LEN).div_ceil(u64::from(sector_size)) as u32;
    let cluster_count = sect_count
        .wrapping_sub(reserved.wrapping_add(fat_size).wrapping_add(dir_size))
        / cluster_size;
    let max_count = if fat_length16 == 0 && fat32_length != 0 {
        FAT32_MAX
    } else if cluster_count > FAT12_MAX {
        FAT16_MAX
    } else {
        FAT12_MAX
    };
    if cluster_count > max_count {
        return None;
    }
    match bitlocker(v) {
        Bde::Vista | Bde::Win7(Some(_)) | Bde::ToGo(Some(_)) | Bde::Win7(None) => None,
        Bde::NotBitLocker | Bde::ToGo(None) => Some(Geometry {
            cluster_count,
            fat_size,
            sect_count,
        }),
    }
}

/// The result of a root-directory label search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    Found([u8; 11]),
    NotFound,
    /// The answer lies beyond the bytes we have.
    Unknown,
}

/// libblkid's `search_fat_label`: the first volume-label entry of the directory of
/// `entries` entries at `offset`.
fn search_label(v: &Vol, offset: u64, entries: u32) -> Search {
    let len = u64::from(entries) * DIR_ENTRY_LEN;
    // On a volume above 1440 KiB libblkid reads the whole directory at once (and
    // finds nothing if that fails); on a floppy it reads entry by entry.
    if v.size() > super::TINY_SIZE && matches!(v.read(offset, len), Read::Beyond) {
        return Search::NotFound;
    }
    for i in 0..u64::from(entries) {
        let ent = match v.read(offset + i * DIR_ENTRY_LEN, DIR_ENTRY_LEN) {
            Read::Data(e) => e,
            Read::Beyond => return Search::NotFound,
            Read::Unread => return Search::Unknown,
        };
        if ent[0] == 0 {
            return Search::NotFound;
        }
        let attr = ent[11];
        if ent[0] == ENTRY_FREE
            || le16(ent, 20) != 0
            || le16(ent, 26) != 0
            || attr & ATTR_MASK == ATTR_LONG_NAME
        {
            continue;
        }
        if attr & (ATTR_VOLUME_ID | ATTR_DIR) == ATTR_VOLUME_ID {
            let mut name = [0u8; 11];
            name.copy_from_slice(&ent[..11]);
            if name[0] == 0x05 {
                name[0] = 0xe5;
            }
            return Search::Found(name);
        }
    }
    Search::NotFound
}

/// The FAT32 root directory label: libblkid follows the root cluster chain.
fn fat32_root_label(v: &Vol, bs: &[u8], fat_size: u32) -> Search {
    let sector_size = u32::from(le16(bs, 0x0b));
    let reserved = u32::from(le16(bs, 0x0e));
    let cluster_size = u32::from(bs[0x0d]);
    let buf_size = cluster_size * sector_size;
    let start_data_sect = reserved.wrapping_add(fat_size);
    let entries = (u64::from(le32(bs, 0x24)) * u64::from(sector_size) / 4) as u32;
    let mut next = le32(bs, 0x2c);
    let mut maxloop = 100;
    while next != 0 && next < entries {
        maxloop -= 1;
        if maxloop == 0 {
            break;
        }
        let next_sect_off = next.wrapping_sub(2).wrapping_mul(cluster_size);
        let next_off =
            u64::from(start_data_sect.wrapping_add(next_sect_off)) * u64::from(sector_size);
        match search_label(v, next_off, buf_size / DIR_ENTRY_LEN as u32) {
            Search::NotFound => {}
            found => return found,
        }
        let fat_entry_off = u64::from(reserved) * u64::from(sector_size) + u64::from(next) * 4;
        // libblkid reads a whole cluster's worth at the entry (and stops if it can't).
        match v.read(fat_entry_off, u64::from(buf_size)) {
            Read::Beyond => break,
            Read::Data(_) | Read::Unread => {}
        }
        match v.get(fat_entry_off, 4) {
            Some(e) => next = le32(e, 0) & 0x0fff_ffff,
            None => return Search::Unknown,
        }
    }
    Search::NotFound
}

/// What libblkid's BitLocker header test finds. `None` inside: the FVE metadata block
/// lies beyond the bytes we have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bde<'a> {
    NotBitLocker,
    Vista,
    Win7(Option<&'a [u8]>),
    ToGo(Option<&'a [u8]>),
}

/// libblkid's `get_bitlocker_headers`.
fn bitlocker<'a>(v: &Vol<'a>) -> Bde<'a> {
    let Some(hdr) = v.get(0, 512) else {
        return Bde::NotBitLocker;
    };
    let (win7, fve_off) = match &hdr[..11] {
        b"\xeb\x52\x90-FVE-FS-" => return Bde::Vista,
        b"\xeb\x58\x90-FVE-FS-" => (true, le64(hdr, 176)),
        b"\xeb\x58\x90MSWIN4.1" => (false, le64(hdr, 440)),
        _ => return Bde::NotBitLocker,
    };
    if fve_off == 0 {
        return Bde::NotBitLocker;
    }
    let fve = match v.read(fve_off, 12) {
        Read::Data(f) if &f[..8] == b"-FVE-FS-" => Some(f),
        Read::Data(_) | Read::Beyond => return Bde::NotBitLocker,
        Read::Unread => None,
    };
    if win7 {
        Bde::Win7(fve)
    } else {
        Bde::ToGo(fve)
    }
}

/// The BitLocker probe (libblkid's bitlocker.c), reported when confirmed.
pub(super) fn probe_bitlocker(v: &Vol) -> Option<FsInfo> {
    let hdr = v.get(0, 512)?;
    let fve = match bitlocker(v) {
        Bde::Vista => None,
        Bde::Win7(Some(f)) | Bde::ToGo(Some(f)) => Some(f),
        Bde::NotBitLocker | Bde::Win7(None) | Bde::ToGo(None) => return None,
    };
    let mut fs = fs_info("BitLocker");
    if hdr[..11] == *b"\xeb\x58\x90-FVE-FS-" {
        let serial = &hdr[67..71];
        if !is_zero(serial) {
            // C's "%016d" of the serial taken as a signed int.
            fs.uuid = Some(format!("{:016}", le32(serial, 0) as i32));
        }
    }
    if let Some(f) = fve {
        fs.version = Some(le16(f, 10).to_string());
    }
    Some(fs)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, padded, Expect};
    use super::super::{identify_head, is_vfat as pub_is_vfat, HEAD_LEN};
    use super::*;
    use proptest::prelude::*;

    const FAT12: &[u8] = include_bytes!("../../../../testdata/samples/fs/fat12.bin");
    const FAT16: &[u8] = include_bytes!("../../../../testdata/samples/fs/fat16.bin");
    const FAT16BIG: &[u8] = include_bytes!("../../../../testdata/samples/fs/fat16big.bin");
    const FAT32SMALL: &[u8] = include_bytes!("../../../../testdata/samples/fs/fat32small.bin");
    const FAT32: &[u8] = include_bytes!("../../../../testdata/samples/fs/fat32.bin");
    const MIB: u64 = 1024 * 1024;

    fn fat(version: &'static str, uuid: &'static str, label: &'static str, size: u64) -> Expect {
        Expect {
            fs_type: "vfat",
            uuid: Some(uuid),
            label: Some(label),
            version: Some(version),
            block_size: Some(512),
            fs_size: Some(size),
            ..Expect::default()
        }
    }

    #[test]
    fn samples_match_blkid() {
        // Root directory inside the sample: the label comes from its label entry.
        check(
            identify_head(FAT12, 4 * MIB, 0),
            fat("FAT12", "1234-ABCD", "HYDRA12", 4 * MIB),
            0,
        );
        check(
            identify_head(FAT16, 4 * MIB, 2048),
            fat("FAT16", "5678-EF01", "HYDRA 16", 4 * MIB),
            2048,
        );
        check(
            identify_head(FAT32SMALL, 2 * MIB, 0),
            fat("FAT32", "DEAD-BEEF", "HYDRA32S", 2 * MIB),
            0,
        );
        // Root directory beyond 64 KiB: the boot-sector label (blkid read the same
        // label from the root directory).
        check(
            identify_head(&padded(FAT16BIG, HEAD_LEN), 64 * MIB, 0),
            fat("FAT16", "0BAD-CAFE", "HYDRA16BIG", 64 * MIB),
            0,
        );
        check(
            identify_head(&padded(FAT32, HEAD_LEN), 64 * MIB, 0),
            fat("FAT32", "C0FF-EE11", "HYDRA32", 64 * MIB),
            0,
        );
        assert!(pub_is_vfat(FAT32, 64 * MIB));
        assert!(!pub_is_vfat(&[0u8; 512], 64 * MIB));
    }

    #[test]
    fn the_root_directory_label_wins() {
        // Change only the root directory entry: blkid 2.38 reports that one.
        let mut b = FAT16.to_vec();
        b[33280..33291].copy_from_slice(b"OTHER\x20\x20\x20\x20\x20\x20");
        assert_eq!(
            identify_head(&b, 4 * MIB, 0).unwrap().label.as_deref(),
            Some("OTHER")
        );
        // No label entry in the root directory: no LABEL, even with a boot label.
        let mut b = FAT16.to_vec();
        b[33280 + 11] = 0x20;
        assert_eq!(identify_head(&b, 4 * MIB, 0).unwrap().label, None);
        // An empty root directory: no LABEL.
        let mut b = FAT12.to_vec();
        b[6656] = 0;
        assert_eq!(identify_head(&b, 4 * MIB, 0).unwrap().label, None);
        // FAT32: label entry after a deleted one and a long-name entry, 0x05 escape.
        let mut b = FAT32SMALL.to_vec();
        let label_entry: [u8; 32] = b[49152..49184].try_into().unwrap();
        b[49152..49184].fill(0);
        b[49152] = ENTRY_FREE;
        b[49152 + 11] = 0x08;
        b[49184] = b'A';
        b[49184 + 11] = 0x0f;
        b[49216..49248].copy_from_slice(&label_entry);
        b[49216] = 0x05;
        assert_eq!(
            identify_head(&b, 2 * MIB, 0).unwrap().label.as_deref(),
            Some("\u{fffd}YDRA32S")
        );
        // FAT32 root directory partly beyond the bytes we have: boot label.
        assert_eq!(
            identify_head(&FAT32SMALL[..49170], 2 * MIB, 0)
                .unwrap()
                .label
                .as_deref(),
            Some("HYDRA32S")
        );
    }

    #[test]
    fn sanity_checks_reject() {
        for (at, val) in [
            (0x10, 0u8),
            (0x0e, 0),
            (0x15, 0xf1),
            (0x0d, 3),
            (0x0c, 0x01),
        ] {
            let mut b = FAT12.to_vec();
            b[at] = val;
            if at == 0x0e {
                b[0x0f] = 0;
            }
            assert_eq!(
                identify_head(&b, 4 * MIB, 0),
                None,
                "byte {at:#x} = {val:#x}"
            );
        }
        // Too many clusters for FAT12/16.
        let mut b = FAT12.to_vec();
        b[0x0d] = 1;
        b[0x13..0x15].fill(0);
        b[0x20..0x24].copy_from_slice(&200_000u32.to_le_bytes());
        assert_eq!(identify_head(&b, 4 * MIB, 0), None);
        // A bad FSInfo signature on FAT32.
        let mut b = FAT32SMALL.to_vec();
        b[512] = b'X';
        assert_eq!(identify_head(&b, 2 * MIB, 0), None);
        // Only 55 AA and a jump byte: a JFS pseudo boot sector is not FAT.
        let mut b = FAT12.to_vec();
        b[0x36..0x3e].copy_from_slice(b"JFS     ");
        assert_eq!(identify_head(&b, 4 * MIB, 0), None);
    }

    #[test]
    fn bitlocker_is_not_vfat() {
        let mut b = padded(FAT32, HEAD_LEN);
        b[..11].copy_from_slice(b"\xeb\x58\x90-FVE-FS-");
        b[67..71].copy_from_slice(&7u32.to_le_bytes());
        b[176..184].copy_from_slice(&0x8000u64.to_le_bytes());
        b[0x8000..0x8008].copy_from_slice(b"-FVE-FS-");
        b[0x800a] = 2;
        check(
            identify_head(&b, 64 * MIB, 0),
            Expect {
                fs_type: "BitLocker",
                uuid: Some("0000000000000007"),
                version: Some("2"),
                ..Expect::default()
            },
            0,
        );
        // C's "%016d" of a serial above i32::MAX (blkid prints the same).
        b[67..71].fill(0xff);
        let fs = identify_head(&b, 64 * MIB, 0).unwrap();
        assert_eq!(fs.uuid.as_deref(), Some("-000000000000001"));
        // FVE block beyond our bytes: neither BitLocker nor vfat.
        b[176..184].copy_from_slice(&(32 * MIB).to_le_bytes());
        assert_eq!(identify_head(&b, 64 * MIB, 0), None);
        // FVE block missing: a plain FAT with an odd OEM name.
        b[176..184].copy_from_slice(&0x9000u64.to_le_bytes());
        assert_eq!(identify_head(&b, 64 * MIB, 0).unwrap().fs_type, "vfat");
    }

    proptest! {
        #[test]
        fn flipped_samples_never_panic(
            which in 0usize..5,
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            size in prop_oneof![Just(4 * MIB), Just(1440 * 1024), any::<u64>()],
        ) {
            let mut b = [FAT12, FAT16, FAT16BIG, FAT32SMALL, FAT32][which].to_vec();
            for (at, x) in flips {
                b[at] ^= x;
            }
            let _ = identify_head(&b, size, 0);
            let _ = pub_is_vfat(&b, size);
        }
    }
}
