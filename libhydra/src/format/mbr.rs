//! MBR / DOS partition table and EBR (logical partition chain) sectors.
//!
//! Pure parsing of one 512-byte sector: the four 16-byte entries at 446, the disk
//! signature at 440 and the `0x55 0xAA` boot signature at 510. The same layout is used
//! by the EBRs of logical partitions. Also the checks libblkid (`partitions/dos.c`)
//! applies to tell a partition table apart from a FAT / exFAT / NTFS boot sector
//! written on the bare disk (those end in `0x55 0xAA` too).
//!
//! Start and size fields are in logical sectors of the disk (512 or 4096 bytes); this
//! module never converts them to bytes.

use crate::error::FormatError;
use crate::format::{le16, le32, le64};
use crate::layout::MbrKind;

/// Size of an MBR / EBR sector as read (always 512 bytes, whatever the logical sector size).
pub const SECTOR_SIZE: usize = 512;
/// Offset of the 32-bit disk signature (blkid's `PTUUID` for dos).
pub const DISK_SIGNATURE_OFFSET: usize = 440;
/// Offset of the first of the four partition entries.
pub const ENTRIES_OFFSET: usize = 446;
/// Size of one partition entry.
pub const ENTRY_SIZE: usize = 16;
/// Offset of the `0x55 0xAA` boot signature.
pub const BOOT_SIGNATURE_OFFSET: usize = 510;
/// Partition type of a GPT protective entry.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xee;
/// Boot indicator of an active (bootable) entry; blkid's `PART_ENTRY_FLAGS=0x80`.
pub const BOOTABLE: u8 = 0x80;

/// One of the four 16-byte entries of an MBR or EBR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MbrEntry {
    /// Boot indicator: `0x80` active, `0x00` inactive (anything else is not a table).
    pub boot_indicator: u8,
    /// Partition type byte (`0x83` Linux, `0x05` extended, `0xee` GPT protective, ...).
    pub type_byte: u8,
    /// First sector (LBA), in logical sectors. In an EBR: relative to the EBR for a data
    /// entry, relative to the start of the extended partition for a link entry.
    pub start_lba: u32,
    /// Number of sectors, in logical sectors.
    pub sectors: u32,
}

impl MbrEntry {
    /// Decode a 16-byte entry (CHS fields are ignored, as blkid and Linux do).
    pub fn parse(b: &[u8; ENTRY_SIZE]) -> MbrEntry {
        MbrEntry {
            boot_indicator: b[0],
            type_byte: b[4],
            start_lba: le32(b, 8),
            sectors: le32(b, 12),
        }
    }

    /// Whether the entry describes a partition: blkid (and Linux) skip entries of size 0,
    /// whatever their type byte.
    pub fn is_used(&self) -> bool {
        self.sectors != 0
    }

    /// Whether the type byte is an extended-partition container (0x05, 0x0f, 0x85).
    pub fn is_extended(&self) -> bool {
        is_extended_type(self.type_byte)
    }

    /// Whether the boot indicator marks the entry active (`0x80`).
    pub fn is_bootable(&self) -> bool {
        self.boot_indicator == BOOTABLE
    }

    /// blkid's `PART_ENTRY_TYPE` spelling: `0x83`, `0x5`, `0xc`.
    pub fn type_id(&self) -> String {
        format!("{:#x}", self.type_byte)
    }

    /// A human name of the type byte (fdisk's names), if known.
    pub fn type_name(&self) -> Option<&'static str> {
        type_name(self.type_byte)
    }
}

/// A parsed MBR (LBA 0) or EBR sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// The 32-bit disk signature at offset 440 (meaningless in an EBR).
    pub disk_signature: u32,
    /// The four entries in slot order.
    pub entries: [MbrEntry; 4],
}

impl Mbr {
    /// Parse a sector that ends in `0x55 0xAA`. Only the first 512 bytes are looked at.
    pub fn parse(sector: &[u8]) -> Result<Mbr, FormatError> {
        FormatError::need("MBR", sector, SECTOR_SIZE)?;
        if !has_boot_signature(sector) {
            return Err(FormatError::invalid(
                "MBR",
                format!(
                    "no 0x55AA boot signature at offset 510 (found {:#04x} {:#04x})",
                    sector[BOOT_SIGNATURE_OFFSET],
                    sector[BOOT_SIGNATURE_OFFSET + 1]
                ),
            ));
        }
        Ok(Mbr::parse_unchecked(sector))
    }

    /// Decode the fields of a sector of at least 512 bytes without checking its signature.
    fn parse_unchecked(sector: &[u8]) -> Mbr {
        let mut entries = [MbrEntry::default(); 4];
        for (i, e) in entries.iter_mut().enumerate() {
            let off = ENTRIES_OFFSET + i * ENTRY_SIZE;
            let raw: &[u8; ENTRY_SIZE] = sector[off..off + ENTRY_SIZE]
                .try_into()
                .expect("16-byte entry");
            *e = MbrEntry::parse(raw);
        }
        Mbr {
            disk_signature: le32(sector, DISK_SIGNATURE_OFFSET),
            entries,
        }
    }

    /// blkid's `PTUUID` for dos: the disk signature as 8 lowercase hex digits.
    /// (blkid prints no `PTUUID` at all when the signature is 0.)
    pub fn table_id(&self) -> String {
        format!("{:08x}", self.disk_signature)
    }

    /// Whether any slot has type 0xEE (libblkid's `is_pmbr_valid`: the size is not looked at).
    pub fn has_protective_entry(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.type_byte == TYPE_GPT_PROTECTIVE)
    }

    /// Whether all four boot indicators are `0x00` or `0x80` (blkid rejects the table otherwise).
    pub fn boot_indicators_valid(&self) -> bool {
        self.entries
            .iter()
            .all(|e| e.boot_indicator == 0 || e.boot_indicator == BOOTABLE)
    }

    /// Whether no entry describes a partition (all sizes 0).
    pub fn is_empty(&self) -> bool {
        !self.entries.iter().any(MbrEntry::is_used)
    }

    /// What this sector is next to a GPT: protective (only 0xEE entries), hybrid (0xEE plus
    /// used entries of other types) or missing (no 0xEE entry).
    pub fn gpt_kind(&self) -> MbrKind {
        if !self.has_protective_entry() {
            MbrKind::Missing
        } else if self
            .entries
            .iter()
            .any(|e| e.type_byte != TYPE_GPT_PROTECTIVE && e.is_used())
        {
            MbrKind::Hybrid
        } else {
            MbrKind::Protective
        }
    }
}

/// Whether `sector` (at least 512 bytes) ends in `0x55 0xAA` at offset 510.
pub fn has_boot_signature(sector: &[u8]) -> bool {
    sector.len() >= SECTOR_SIZE
        && sector[BOOT_SIGNATURE_OFFSET] == 0x55
        && sector[BOOT_SIGNATURE_OFFSET + 1] == 0xaa
}

/// Whether the sector starts with the AIX magic (`0xC9C2D4C1`); blkid ignores such disks.
pub fn is_aix(sector: &[u8]) -> bool {
    sector.starts_with(&[0xc9, 0xc2, 0xd4, 0xc1])
}

/// Whether a type byte is an extended-partition container: 0x05 (DOS), 0x0f (W95 LBA),
/// 0x85 (Linux), the three libblkid and Linux follow.
pub fn is_extended_type(t: u8) -> bool {
    matches!(t, 0x05 | 0x0f | 0x85)
}

/// blkid's `PART_ENTRY_UUID` of an MBR partition: `<disk signature>-<number, 2 hex digits>`
/// (`1a2b3c4d-05`). `None` when the disk signature is 0, as blkid then prints none.
pub fn partition_uuid(disk_signature: u32, number: u32) -> Option<String> {
    (disk_signature != 0).then(|| format!("{disk_signature:08x}-{number:02x}"))
}

/// A human name of an MBR type byte, as fdisk (`sfdisk --label dos -T`) names it.
pub fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0x00 => "Empty",
        0x01 => "FAT12",
        0x02 => "XENIX root",
        0x03 => "XENIX usr",
        0x04 => "FAT16 <32M",
        0x05 => "Extended",
        0x06 => "FAT16",
        0x07 => "HPFS/NTFS/exFAT",
        0x08 => "AIX",
        0x09 => "AIX bootable",
        0x0a => "OS/2 Boot Manager",
        0x0b => "W95 FAT32",
        0x0c => "W95 FAT32 (LBA)",
        0x0e => "W95 FAT16 (LBA)",
        0x0f => "W95 Ext'd (LBA)",
        0x10 => "OPUS",
        0x11 => "Hidden FAT12",
        0x12 => "Compaq diagnostics",
        0x14 => "Hidden FAT16 <32M",
        0x16 => "Hidden FAT16",
        0x17 => "Hidden HPFS/NTFS",
        0x18 => "AST SmartSleep",
        0x1b => "Hidden W95 FAT32",
        0x1c => "Hidden W95 FAT32 (LBA)",
        0x1e => "Hidden W95 FAT16 (LBA)",
        0x24 => "NEC DOS",
        0x27 => "Hidden NTFS WinRE",
        0x39 => "Plan 9",
        0x3c => "PartitionMagic recovery",
        0x40 => "Venix 80286",
        0x41 => "PPC PReP Boot",
        0x42 => "SFS",
        0x4d => "QNX4.x",
        0x4e => "QNX4.x 2nd part",
        0x4f => "QNX4.x 3rd part",
        0x50 => "OnTrack DM",
        0x51 => "OnTrack DM6 Aux1",
        0x52 => "CP/M",
        0x53 => "OnTrack DM6 Aux3",
        0x54 => "OnTrackDM6",
        0x55 => "EZ-Drive",
        0x56 => "Golden Bow",
        0x5c => "Priam Edisk",
        0x61 => "SpeedStor",
        0x63 => "GNU HURD or SysV",
        0x64 => "Novell Netware 286",
        0x65 => "Novell Netware 386",
        0x70 => "DiskSecure Multi-Boot",
        0x75 => "PC/IX",
        0x80 => "Old Minix",
        0x81 => "Minix / old Linux",
        0x82 => "Linux swap / Solaris",
        0x83 => "Linux",
        0x84 => "OS/2 hidden or Intel hibernation",
        0x85 => "Linux extended",
        0x86 | 0x87 => "NTFS volume set",
        0x88 => "Linux plaintext",
        0x8e => "Linux LVM",
        0x93 => "Amoeba",
        0x94 => "Amoeba BBT",
        0x9f => "BSD/OS",
        0xa0 => "IBM Thinkpad hibernation",
        0xa5 => "FreeBSD",
        0xa6 => "OpenBSD",
        0xa7 => "NeXTSTEP",
        0xa8 => "Darwin UFS",
        0xa9 => "NetBSD",
        0xab => "Darwin boot",
        0xaf => "HFS / HFS+",
        0xb7 => "BSDI fs",
        0xb8 => "BSDI swap",
        0xbb => "Boot Wizard hidden",
        0xbc => "Acronis FAT32 LBA",
        0xbe => "Solaris boot",
        0xbf => "Solaris",
        0xc1 => "DRDOS/sec (FAT-12)",
        0xc4 => "DRDOS/sec (FAT-16 < 32M)",
        0xc6 => "DRDOS/sec (FAT-16)",
        0xc7 => "Syrinx",
        0xda => "Non-FS data",
        0xdb => "CP/M / CTOS / ...",
        0xde => "Dell Utility",
        0xdf => "BootIt",
        0xe1 => "DOS access",
        0xe3 => "DOS R/O",
        0xe4 | 0xf1 | 0xf4 => "SpeedStor",
        0xea => "Linux extended boot",
        0xeb => "BeOS fs",
        0xee => "GPT",
        0xef => "EFI (FAT-12/16/32)",
        0xf0 => "Linux/PA-RISC boot",
        0xf2 => "DOS secondary",
        0xf8 => "EBBR protective",
        0xfb => "VMware VMFS",
        0xfc => "VMware VMKCORE",
        0xfd => "Linux raid autodetect",
        0xfe => "LANstep",
        0xff => "BBT",
        _ => return None,
    })
}

/// What libblkid's FAT / exFAT / NTFS checks (`blkid_probe_is_vfat`, `_is_exfat`,
/// `_is_ntfs`, used by `partitions/dos.c`) say of the first sectors of a disk.
/// Some answers need one more small read, which the caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootSectorCheck {
    /// Not a filesystem boot sector: sector 0 may be a partition table.
    NotFilesystem,
    /// A filesystem boot sector (`"vfat"` or `"exfat"`): not a partition table.
    Filesystem(&'static str),
    /// A valid FAT boot sector that starts like a BitLocker one: FAT unless the 8 bytes
    /// at `fve_offset` are `-FVE-FS-` (then it is BitLocker, and not FAT either).
    FatUnlessBitLocker {
        /// Absolute byte offset of the BitLocker FVE metadata block named by the header.
        fve_offset: u64,
    },
    /// An NTFS boot sector whose BPB passes blkid's checks: NTFS when the MFT records at
    /// both offsets lie inside the disk and start with `FILE`.
    NtfsIfMftRecords {
        /// Absolute byte offsets of MFT record 0 and record 3 ($Volume).
        offsets: [u64; 2],
        /// Size of one MFT record in bytes.
        record_size: u32,
    },
}

const FAT12_MAX: u32 = 0xff4;
const FAT16_MAX: u32 = 0xfff4;
const FAT32_MAX: u32 = 0x0fff_fff6;

/// The length of the first vfat magic libblkid matches in `s` (its `vfat_idinfo` list, in order).
fn vfat_magic_len(s: &[u8]) -> Option<usize> {
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
    MAGICS
        .iter()
        .find(|(m, off)| s.get(*off..*off + m.len()) == Some(*m))
        .map(|(m, _)| m.len())
}

/// libblkid's `fat_valid_superblock` without the BitLocker test. `s` is 512 bytes.
fn fat_bpb_valid(s: &[u8], magic_len: usize) -> bool {
    if magic_len <= 2 {
        if !has_boot_signature(s) {
            return false;
        }
        let ms_magic = &s[0x36..0x3e];
        if ms_magic == b"JFS     " || ms_magic == b"HPFS    " {
            return false;
        }
    }
    let fats = s[0x10];
    let reserved = le16(s, 0x0e);
    let media = s[0x15];
    let cluster_size = s[0x0d];
    if fats == 0 || reserved == 0 || !(media >= 0xf8 || media == 0xf0) {
        return false;
    }
    if !cluster_size.is_power_of_two() {
        return false;
    }
    let sector_size = le16(s, 0x0b);
    if !sector_size.is_power_of_two() || !(512..=4096).contains(&sector_size) {
        return false;
    }
    let dir_entries = u32::from(le16(s, 0x11));
    let mut sect_count = u32::from(le16(s, 0x13));
    if sect_count == 0 {
        sect_count = le32(s, 0x20);
    }
    let ms_fat_length = le16(s, 0x16);
    let vs_fat32_length = le32(s, 0x24);
    let fat_length = if ms_fat_length == 0 {
        vs_fat32_length
    } else {
        u32::from(ms_fat_length)
    };
    let fat_size = fat_length.wrapping_mul(u32::from(fats));
    let sector_size = u32::from(sector_size);
    let dir_size = (dir_entries * 32).div_ceil(sector_size);
    let cluster_count = sect_count.wrapping_sub(
        u32::from(reserved)
            .wrapping_add(fat_size)
            .wrapping_add(dir_size),
    ) / u32::from(cluster_size);
    let max_count = if ms_fat_length == 0 && vs_fat32_length != 0 {
        FAT32_MAX
    } else if cluster_count > FAT12_MAX {
        FAT16_MAX
    } else {
        FAT12_MAX
    };
    cluster_count <= max_count
}

/// libblkid's exFAT boot checksum over the 11 sectors of the boot region.
fn exfat_boot_checksum(region: &[u8]) -> u32 {
    region.iter().enumerate().fold(0u32, |sum, (i, &b)| {
        if i == 106 || i == 107 || i == 112 {
            sum
        } else {
            sum.rotate_right(1).wrapping_add(u32::from(b))
        }
    })
}

/// libblkid's `exfat_valid_superblock` on the first sectors of the disk. The checksum
/// needs 12 sectors; when `head` is shorter the answer is "not exFAT".
fn exfat_valid(head: &[u8]) -> bool {
    let s = &head[..SECTOR_SIZE];
    if &s[3..11] != b"EXFAT   " || !has_boot_signature(s) {
        return false;
    }
    let bps_shift = u32::from(s[108]);
    let spc_shift = u32::from(s[109]);
    let block = if bps_shift < 32 { 1u32 << bps_shift } else { 0 };
    // `BLOCK_SIZE << shift` in C keeps the low 32 bits.
    let cluster = if spc_shift < 32 {
        block.wrapping_shl(spc_shift)
    } else {
        0
    };
    if cluster == 0 || s[0..3] != [0xeb, 0x76, 0x90] || s[11..64].iter().any(|&b| b != 0) {
        return false;
    }
    let sector = block as usize;
    let Some(need) = sector.checked_mul(12) else {
        return false;
    };
    if sector == 0 || head.len() < need {
        return false;
    }
    let sum = exfat_boot_checksum(&head[..sector * 11]);
    head[sector * 11..sector * 12]
        .chunks_exact(4)
        .all(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) == sum)
}

/// libblkid's NTFS boot-sector checks short of reading the MFT.
fn ntfs_check(s: &[u8]) -> Option<BootSectorCheck> {
    if &s[3..11] != b"NTFS    " {
        return None;
    }
    let sector_size = le16(s, 0x0b);
    if !(256..=4096).contains(&sector_size) || !sector_size.is_power_of_two() {
        return None;
    }
    let spc_raw = s[0x0d];
    let sectors_per_cluster: u32 = match spc_raw {
        1 | 2 | 4 | 8 | 16 | 32 | 64 | 128 => u32::from(spc_raw),
        240..=249 => 1u32 << (256 - u32::from(spc_raw)),
        _ => return None,
    };
    if u64::from(sector_size) * u64::from(sectors_per_cluster) > 2 * 1024 * 1024 {
        return None;
    }
    // reserved sectors, root entries, sectors, sectors per FAT, large sectors, FATs: all zero
    if le16(s, 0x0e) != 0
        || le16(s, 0x11) != 0
        || le16(s, 0x13) != 0
        || le16(s, 0x16) != 0
        || le32(s, 0x20) != 0
        || s[0x10] != 0
    {
        return None;
    }
    let cpm = s[0x40] as i8;
    if !(0xe1..=0xf7).contains(&(cpm as u8)) && !matches!(cpm, 1 | 2 | 4 | 8 | 16 | 32 | 64) {
        return None;
    }
    let record_size: u32 = if cpm > 0 {
        (cpm as u32)
            .wrapping_mul(sectors_per_cluster)
            .wrapping_mul(u32::from(sector_size))
    } else {
        let shift = -i32::from(cpm);
        if !(0..31).contains(&shift) {
            return None;
        }
        1u32 << shift
    };
    let number_of_sectors = le64(s, 0x28);
    let mft = le64(s, 0x30);
    let mft_mirror = le64(s, 0x38);
    let nr_clusters = number_of_sectors / u64::from(sectors_per_cluster);
    if mft > nr_clusters || mft_mirror > nr_clusters || record_size < 4 {
        return None;
    }
    let off = mft
        .wrapping_mul(u64::from(sector_size))
        .wrapping_mul(u64::from(sectors_per_cluster));
    let off3 = off.wrapping_add(3 * u64::from(record_size));
    Some(BootSectorCheck::NtfsIfMftRecords {
        offsets: [off, off3],
        record_size,
    })
}

/// How sector 0 starts, as libblkid's BitLocker prober sees it.
enum BitLockerStart {
    /// No BitLocker header.
    No,
    /// A Vista header: BitLocker without further reads.
    Vista,
    /// A Windows 7 or To Go header naming its FVE metadata block (absolute byte offset).
    Fve(u64),
}

fn bitlocker_start(s: &[u8]) -> BitLockerStart {
    if s.starts_with(b"\xeb\x52\x90-FVE-FS-") {
        return BitLockerStart::Vista;
    }
    let off = if s.starts_with(b"\xeb\x58\x90-FVE-FS-") {
        le64(s, 176)
    } else if s.starts_with(b"\xeb\x58\x90MSWIN4.1") {
        le64(s, 440)
    } else {
        return BitLockerStart::No;
    };
    // An offset of 0 is "not BitLocker" to libblkid.
    if off == 0 {
        BitLockerStart::No
    } else {
        BitLockerStart::Fve(off)
    }
}

/// Apply libblkid's FAT, exFAT and NTFS boot-sector checks to the first bytes of a disk
/// (`head`: at least 512 bytes; the exFAT checksum needs 12 sectors of it).
pub fn check_boot_sector(head: &[u8]) -> BootSectorCheck {
    if head.len() < SECTOR_SIZE {
        return BootSectorCheck::NotFilesystem;
    }
    let s = &head[..SECTOR_SIZE];
    if let Some(len) = vfat_magic_len(s) {
        if fat_bpb_valid(s, len) {
            return match bitlocker_start(s) {
                BitLockerStart::No => BootSectorCheck::Filesystem("vfat"),
                BitLockerStart::Fve(fve_offset) => {
                    BootSectorCheck::FatUnlessBitLocker { fve_offset }
                }
                // BitLocker (Vista) has neither the exFAT nor the NTFS name at offset 3.
                BitLockerStart::Vista => BootSectorCheck::NotFilesystem,
            };
        }
        if exfat_valid(head) {
            return BootSectorCheck::Filesystem("exfat");
        }
    }
    ntfs_check(s).unwrap_or(BootSectorCheck::NotFilesystem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sector_with(entries: &[(usize, [u8; 16])]) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        s[510] = 0x55;
        s[511] = 0xaa;
        for (slot, e) in entries {
            s[446 + slot * 16..446 + slot * 16 + 16].copy_from_slice(e);
        }
        s
    }

    fn entry(boot: u8, t: u8, start: u32, sectors: u32) -> [u8; 16] {
        let mut e = [0u8; 16];
        e[0] = boot;
        e[4] = t;
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&sectors.to_le_bytes());
        e
    }

    #[test]
    fn parses_the_sfdisk_sample() {
        let s = include_bytes!("../../../testdata/samples/tables/mbr-ext-lba0.bin");
        let m = Mbr::parse(s).unwrap();
        assert_eq!(m.disk_signature, 0x1a2b3c4d);
        assert_eq!(m.table_id(), "1a2b3c4d");
        assert_eq!(
            m.entries[0],
            MbrEntry {
                boot_indicator: 0x80,
                type_byte: 0x83,
                start_lba: 2048,
                sectors: 16384
            }
        );
        assert!(m.entries[0].is_bootable());
        assert_eq!(m.entries[1].type_id(), "0x82");
        assert!(m.entries[2].is_extended());
        assert_eq!(m.entries[2].type_id(), "0x5");
        assert!(!m.entries[3].is_used());
        assert_eq!(m.gpt_kind(), MbrKind::Missing);
        assert!(m.boot_indicators_valid());
        assert_eq!(
            check_boot_sector(s),
            BootSectorCheck::NotFilesystem,
            "an sfdisk MBR is no boot sector"
        );
    }

    #[test]
    fn signature_and_length_are_checked() {
        assert!(matches!(
            Mbr::parse(&[0u8; 100]),
            Err(FormatError::Truncated { need: 512, .. })
        ));
        let mut s = sector_with(&[]);
        s[511] = 0;
        assert!(Mbr::parse(&s).is_err());
        assert!(!has_boot_signature(&s));
    }

    #[test]
    fn protective_and_hybrid() {
        let p = Mbr::parse(&sector_with(&[(0, entry(0, 0xee, 1, u32::MAX))])).unwrap();
        assert_eq!(p.gpt_kind(), MbrKind::Protective);
        let h = Mbr::parse(&sector_with(&[
            (0, entry(0, 0xee, 1, 2047)),
            (1, entry(0x80, 0xef, 2048, 100)),
        ]))
        .unwrap();
        assert_eq!(h.gpt_kind(), MbrKind::Hybrid);
        let hy = include_bytes!("../../../testdata/samples/tables/hybrid-head.bin");
        assert_eq!(Mbr::parse(hy).unwrap().gpt_kind(), MbrKind::Hybrid);
        let pm = include_bytes!("../../../testdata/samples/tables/gpt512-head.bin");
        assert_eq!(Mbr::parse(pm).unwrap().gpt_kind(), MbrKind::Protective);
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(type_name(0x83), Some("Linux"));
        assert_eq!(type_name(0x8e), Some("Linux LVM"));
        assert_eq!(type_name(0x07), Some("HPFS/NTFS/exFAT"));
        assert_eq!(type_name(0xee), Some("GPT"));
        assert_eq!(type_name(0xef), Some("EFI (FAT-12/16/32)"));
        assert_eq!(type_name(0x3a), None);
        assert!(is_extended_type(0x05) && is_extended_type(0x0f) && is_extended_type(0x85));
        assert!(!is_extended_type(0x83));
        assert_eq!(
            partition_uuid(0x1a2b3c4d, 5).as_deref(),
            Some("1a2b3c4d-05")
        );
        assert_eq!(
            partition_uuid(0xcafef00d, 17).as_deref(),
            Some("cafef00d-11")
        );
        assert_eq!(partition_uuid(0, 1), None);
        assert!(is_aix(&[0xc9, 0xc2, 0xd4, 0xc1, 0]));
    }

    #[test]
    fn fat_and_ntfs_boot_sectors_are_not_tables() {
        let fat = include_bytes!("../../../testdata/samples/tables/fat32-vbr.bin");
        assert!(Mbr::parse(fat).unwrap().is_empty());
        assert_eq!(check_boot_sector(fat), BootSectorCheck::Filesystem("vfat"));
        // Zero the FAT count: no longer a FAT BPB.
        let mut f = fat.to_vec();
        f[0x10] = 0;
        assert_eq!(check_boot_sector(&f), BootSectorCheck::NotFilesystem);
        let ntfs = include_bytes!("../../../testdata/samples/tables/ntfs-head.bin");
        // mkntfs on 64 MiB: MFT at cluster 4 of 4 KiB, 1 KiB records.
        assert_eq!(
            check_boot_sector(ntfs),
            BootSectorCheck::NtfsIfMftRecords {
                offsets: [16384, 16384 + 3 * 1024],
                record_size: 1024
            }
        );
    }

    #[test]
    fn exfat_checksum_is_verified() {
        // Build a minimal exFAT boot region (512-byte sectors) with a valid checksum.
        let mut head = vec![0u8; 64 * 1024];
        head[0..3].copy_from_slice(&[0xeb, 0x76, 0x90]);
        head[3..11].copy_from_slice(b"EXFAT   ");
        head[108] = 9; // 512-byte sectors
        head[109] = 3; // 8 sectors per cluster
        head[510] = 0x55;
        head[511] = 0xaa;
        let sum = exfat_boot_checksum(&head[..512 * 11]);
        for c in head[512 * 11..512 * 12].chunks_exact_mut(4) {
            c.copy_from_slice(&sum.to_le_bytes());
        }
        assert_eq!(
            check_boot_sector(&head),
            BootSectorCheck::Filesystem("exfat")
        );
        head[512 * 11] ^= 1;
        assert_eq!(check_boot_sector(&head), BootSectorCheck::NotFilesystem);
    }

    #[test]
    fn bitlocker_headers() {
        let mut s = include_bytes!("../../../testdata/samples/tables/fat32-vbr.bin").to_vec();
        s[0..11].copy_from_slice(b"\xeb\x58\x90-FVE-FS-");
        s[176..184].copy_from_slice(&0x1234u64.to_le_bytes());
        assert_eq!(
            check_boot_sector(&s),
            BootSectorCheck::FatUnlessBitLocker { fve_offset: 0x1234 }
        );
        s[0..11].copy_from_slice(b"\xeb\x52\x90-FVE-FS-");
        assert_eq!(check_boot_sector(&s), BootSectorCheck::NotFilesystem);
    }

    #[test]
    fn boot_indicators() {
        let m = Mbr::parse(&sector_with(&[(2, entry(0x01, 0x83, 1, 1))])).unwrap();
        assert!(!m.boot_indicators_valid());
    }
}
