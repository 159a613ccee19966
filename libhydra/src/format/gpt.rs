//! GUID partition table: headers, entry arrays, CRC32 checks, type GUID names.
//!
//! Pure: the caller reads the header sector and the entry array and hands the bytes in.
//! The checks are libblkid's (`partitions/gpt.c`, util-linux 2.38): signature, header size
//! within 92..=sector size, header CRC32 (with its own field zeroed), `MyLBA` equal to the
//! LBA read, first/last usable LBA in range and ordered, the header outside the usable area,
//! entries of exactly 128 bytes, and the entry-array CRC32. Hydra adds one limit of its own:
//! an entry array larger than [`MAX_ENTRY_ARRAY_BYTES`] is refused.

use crate::error::FormatError;
use crate::format::{guid_mixed_endian, le32, le64};

/// The header signature at the start of LBA 1 (primary) and of the last LBA (backup).
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// The smallest valid header size (`HeaderSize` >= 92).
pub const HEADER_MIN_SIZE: u32 = 92;
/// Size of one entry. libblkid (2.38) accepts no other entry size; neither does Hydra.
pub const ENTRY_SIZE: u32 = 128;
/// The largest entry array Hydra reads (8192 entries of 128 bytes); bigger ones are refused.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;
/// Byte offset of the header CRC32 field in the header.
const HEADER_CRC_OFFSET: usize = 16;

const WHAT: &str = "GPT header";

/// A GPT header whose own fields passed the checks (the entry array is checked separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    /// Revision (0x00010000 for 1.0).
    pub revision: u32,
    /// Header size in bytes (usually 92).
    pub header_size: u32,
    /// The stored header CRC32.
    pub header_crc32: u32,
    /// The LBA this header copy says it sits at.
    pub my_lba: u64,
    /// The LBA of the other header copy.
    pub alternate_lba: u64,
    /// First LBA usable by partitions.
    pub first_usable_lba: u64,
    /// Last LBA usable by partitions.
    pub last_usable_lba: u64,
    /// The disk GUID as stored (mixed-endian).
    pub disk_guid: [u8; 16],
    /// LBA of the first entry of the entry array.
    pub entries_lba: u64,
    /// Number of entries in the array.
    pub entry_count: u32,
    /// Size of one entry in bytes.
    pub entry_size: u32,
    /// The stored CRC32 of the entry array.
    pub entries_crc32: u32,
}

/// Whether `sector` starts with `EFI PART`.
pub fn has_signature(sector: &[u8]) -> bool {
    sector.starts_with(SIGNATURE)
}

/// The CRC32 GPT uses (IEEE, as `crc32fast` computes it) of a header sector with the
/// CRC field taken as zero. `sector` must hold at least `header_size` (>= 20) bytes.
fn header_crc(sector: &[u8], header_size: usize) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&sector[..HEADER_CRC_OFFSET]);
    h.update(&[0u8; 4]);
    h.update(&sector[HEADER_CRC_OFFSET + 4..header_size]);
    h.finalize()
}

/// The CRC32 of an entry array (or of a whole array given in one piece).
pub fn entry_array_crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

impl GptHeader {
    /// Parse one logical sector holding a header (`sector.len()` is the sector size) and
    /// check its signature, size and CRC32. Position checks are [`GptHeader::validate`].
    pub fn parse(sector: &[u8]) -> Result<GptHeader, FormatError> {
        FormatError::need(WHAT, sector, HEADER_MIN_SIZE as usize)?;
        if !has_signature(sector) {
            return Err(FormatError::invalid(WHAT, "no \"EFI PART\" signature"));
        }
        let header_size = le32(sector, 12);
        if header_size < HEADER_MIN_SIZE || header_size as usize > sector.len() {
            return Err(FormatError::invalid(
                WHAT,
                format!(
                    "header size {header_size} outside {HEADER_MIN_SIZE}..={}",
                    sector.len()
                ),
            ));
        }
        let stored = le32(sector, HEADER_CRC_OFFSET);
        let computed = header_crc(sector, header_size as usize);
        if stored != computed {
            return Err(FormatError::Checksum {
                what: WHAT,
                stored,
                computed,
            });
        }
        Ok(GptHeader {
            revision: le32(sector, 8),
            header_size,
            header_crc32: stored,
            my_lba: le64(sector, 24),
            alternate_lba: le64(sector, 32),
            first_usable_lba: le64(sector, 40),
            last_usable_lba: le64(sector, 48),
            disk_guid: sector[56..72].try_into().expect("16 bytes"),
            entries_lba: le64(sector, 72),
            entry_count: le32(sector, 80),
            entry_size: le32(sector, 84),
            entries_crc32: le32(sector, 88),
        })
    }

    /// Check the header read at `lba` of a disk of `disk_size` bytes with `sector_size`-byte
    /// sectors: `MyLBA`, the usable range, the entry geometry, and that the entry array
    /// lies inside the disk and within [`MAX_ENTRY_ARRAY_BYTES`].
    pub fn validate(&self, lba: u64, sector_size: u32, disk_size: u64) -> Result<(), FormatError> {
        let ss = u64::from(sector_size.max(1));
        let last_lba = match (disk_size / ss).checked_sub(1) {
            Some(l) => l,
            None => return Err(FormatError::invalid(WHAT, "disk smaller than one sector")),
        };
        if self.my_lba != lba {
            return Err(FormatError::invalid(
                WHAT,
                format!("MyLBA is {} but the header sits at LBA {lba}", self.my_lba),
            ));
        }
        let (fu, lu) = (self.first_usable_lba, self.last_usable_lba);
        if lu < fu || fu > last_lba || lu > last_lba {
            return Err(FormatError::invalid(
                WHAT,
                format!("usable LBAs {fu}..={lu} do not fit a disk whose last LBA is {last_lba}"),
            ));
        }
        if fu < lba && lba < lu {
            return Err(FormatError::invalid(
                WHAT,
                format!("the header (LBA {lba}) lies inside the usable area {fu}..={lu}"),
            ));
        }
        if self.entry_size != ENTRY_SIZE {
            return Err(FormatError::invalid(
                WHAT,
                format!(
                    "entry size {} (libblkid and Hydra accept only {ENTRY_SIZE})",
                    self.entry_size
                ),
            ));
        }
        let bytes = self.entry_array_len();
        if bytes == 0 {
            return Err(FormatError::invalid(WHAT, "the entry array is empty"));
        }
        if bytes > MAX_ENTRY_ARRAY_BYTES {
            return Err(FormatError::invalid(
                WHAT,
                format!(
                    "{} entries of {} bytes exceed the {MAX_ENTRY_ARRAY_BYTES}-byte entry array Hydra reads",
                    self.entry_count, self.entry_size
                ),
            ));
        }
        let fits = self
            .entries_lba
            .checked_mul(ss)
            .and_then(|off| off.checked_add(bytes))
            .is_some_and(|end| end <= disk_size);
        if !fits {
            return Err(FormatError::invalid(
                WHAT,
                format!(
                    "the entry array ({bytes} bytes at LBA {}) lies past the end of the disk",
                    self.entries_lba
                ),
            ));
        }
        Ok(())
    }

    /// Size of the entry array in bytes (`entry_count * entry_size`).
    pub fn entry_array_len(&self) -> u64 {
        u64::from(self.entry_count) * u64::from(self.entry_size)
    }

    /// The disk GUID as blkid prints it (`PTUUID`), lowercase.
    pub fn disk_guid_string(&self) -> String {
        guid_mixed_endian(&self.disk_guid)
    }

    /// Check the CRC32 of a whole entry array held in memory.
    pub fn check_entry_array(&self, bytes: &[u8]) -> Result<(), FormatError> {
        let computed = entry_array_crc32(bytes);
        if computed != self.entries_crc32 || bytes.len() as u64 != self.entry_array_len() {
            return Err(FormatError::Checksum {
                what: "GPT entry array",
                stored: self.entries_crc32,
                computed,
            });
        }
        Ok(())
    }
}

/// Parse and fully check (except the entry array) a header sector read at `lba`.
pub fn parse_header(sector: &[u8], lba: u64, disk_size: u64) -> Result<GptHeader, FormatError> {
    let h = GptHeader::parse(sector)?;
    h.validate(lba, sector.len() as u32, disk_size)?;
    Ok(h)
}

/// One 128-byte entry of the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    /// Partition type GUID as stored (all zero: unused entry).
    pub type_guid: [u8; 16],
    /// Unique partition GUID as stored (blkid's `PART_ENTRY_UUID`, PARTUUID).
    pub unique_guid: [u8; 16],
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA (inclusive).
    pub last_lba: u64,
    /// Attribute flags (blkid's `PART_ENTRY_FLAGS`).
    pub attributes: u64,
    /// The name (PARTLABEL) decoded as blkid does; `None` when empty.
    pub name: Option<String>,
}

impl GptEntry {
    /// Decode one entry from the first 128 bytes of `b`.
    pub fn parse(b: &[u8]) -> Result<GptEntry, FormatError> {
        FormatError::need("GPT entry", b, ENTRY_SIZE as usize)?;
        Ok(GptEntry {
            type_guid: b[0..16].try_into().expect("16 bytes"),
            unique_guid: b[16..32].try_into().expect("16 bytes"),
            first_lba: le64(b, 32),
            last_lba: le64(b, 40),
            attributes: le64(b, 48),
            name: decode_name(&b[56..128]),
        })
    }

    /// An all-zero type GUID marks an unused entry.
    pub fn is_unused(&self) -> bool {
        self.type_guid == [0u8; 16]
    }

    /// The type GUID as blkid prints it (`PART_ENTRY_TYPE`), lowercase.
    pub fn type_guid_string(&self) -> String {
        guid_mixed_endian(&self.type_guid)
    }

    /// The unique GUID as blkid prints it (`PART_ENTRY_UUID`); `None` when all zero,
    /// as blkid then prints none.
    pub fn unique_guid_string(&self) -> Option<String> {
        (self.unique_guid != [0u8; 16]).then(|| guid_mixed_endian(&self.unique_guid))
    }

    /// A human name of the type, if known ([`type_name`]).
    pub fn type_name(&self) -> Option<&'static str> {
        type_name(&self.type_guid_string())
    }
}

/// Decode a UTF-16LE partition name the way libblkid does: stop at the first NUL, join
/// surrogate pairs, trim trailing whitespace; `None` when nothing is left. Unpaired
/// surrogates (which libblkid passes through as invalid UTF-8) become U+FFFD.
pub fn decode_name(raw: &[u8]) -> Option<String> {
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0);
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    let trimmed = s.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// A human name of a GPT type GUID (lowercase, as [`GptEntry::type_guid_string`] gives),
/// as fdisk (`sfdisk --label gpt -T`) names it.
pub fn type_name(type_guid: &str) -> Option<&'static str> {
    let g = type_guid.to_ascii_lowercase();
    TYPE_NAMES
        .iter()
        .find(|(guid, _)| *guid == g)
        .map(|(_, name)| *name)
}

/// Common type GUIDs with fdisk's names.
const TYPE_NAMES: &[(&str, &str)] = &[
    ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System"),
    (
        "024dee41-33e7-11d3-9d69-0008c781f39f",
        "MBR partition scheme",
    ),
    ("21686148-6449-6e6f-744e-656564454649", "BIOS boot"),
    ("9e1a2d38-c612-4316-aa26-8b49521e5a8b", "PowerPC PReP boot"),
    ("e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft reserved"),
    (
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
        "Microsoft basic data",
    ),
    (
        "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3",
        "Microsoft LDM metadata",
    ),
    ("af9b60a0-1431-4f62-bc68-3311714a69ad", "Microsoft LDM data"),
    (
        "de94bba4-06d1-4d40-a16a-bfd50179d6ac",
        "Windows recovery environment",
    ),
    (
        "e75caf8f-f680-4cee-afa3-b001e56efc2d",
        "Microsoft Storage Spaces",
    ),
    ("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap"),
    ("0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem"),
    ("3b8f8425-20e0-4f3b-907f-1a25a76f98e8", "Linux server data"),
    ("44479540-f297-41b2-9af7-d131d5f0458a", "Linux root (x86)"),
    (
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        "Linux root (x86-64)",
    ),
    ("69dad710-2ce4-4e3c-b16c-21a1d49abed3", "Linux root (ARM)"),
    (
        "b921b045-1df0-41c3-af44-4c6f280d3fae",
        "Linux root (ARM-64)",
    ),
    ("993d8d3d-f80e-4225-855a-9daf8ed7ea97", "Linux root (IA-64)"),
    ("1de3f1ef-fa98-47b5-8dcd-4a860a654d78", "Linux root (PPC)"),
    ("912ade1d-a839-4913-8964-a10eee08fbd2", "Linux root (PPC64)"),
    (
        "c31c45e6-3f39-412e-80fb-4809c4980599",
        "Linux root (PPC64LE)",
    ),
    (
        "72ec70a6-cf74-40e6-bd49-4bda08e8f224",
        "Linux root (RISC-V-64)",
    ),
    ("5eead9a9-fe09-4a1e-a1d7-520d00531306", "Linux root (S390X)"),
    ("8da63339-0007-60c0-c436-083ac8230908", "Linux reserved"),
    ("933ac7e1-2eb4-4f13-b844-0e14e2aef915", "Linux home"),
    ("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID"),
    ("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM"),
    (
        "4d21b016-b534-45c2-a9fb-5c16e091fd2d",
        "Linux variable data",
    ),
    (
        "7ec6f557-3bc5-4aca-b293-16ef5df639d1",
        "Linux temporary data",
    ),
    ("75250d76-8cc6-458e-bd66-bd47cc81a812", "Linux /usr (x86)"),
    (
        "8484680c-9521-48c6-9c11-b0720656f69e",
        "Linux /usr (x86-64)",
    ),
    (
        "b0e01050-ee5f-4390-949a-9101b17104e9",
        "Linux /usr (ARM-64)",
    ),
    (
        "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
        "Linux root verity (x86-64)",
    ),
    (
        "77ff5f63-e7b6-4633-acf4-1565b864c0e6",
        "Linux /usr verity (x86-64)",
    ),
    (
        "bc13c2ff-59e6-4262-a352-b275fd6f7172",
        "Linux extended boot",
    ),
    ("773f91ef-66d4-49b5-bd83-d683bf40ad16", "Linux user's home"),
    ("ca7d7ccb-63ed-4c53-861c-1742536059cc", "Linux LUKS"),
    ("7ffec5c9-2d00-49b7-8941-3ea10a5586b7", "Linux dm-crypt"),
    ("516e7cb4-6ecf-11d6-8ff8-00022d09712b", "FreeBSD data"),
    ("83bd6b9d-7f41-11dc-be0b-001560b84f0f", "FreeBSD boot"),
    ("516e7cb5-6ecf-11d6-8ff8-00022d09712b", "FreeBSD swap"),
    ("516e7cb6-6ecf-11d6-8ff8-00022d09712b", "FreeBSD UFS"),
    ("516e7cba-6ecf-11d6-8ff8-00022d09712b", "FreeBSD ZFS"),
    ("48465300-0000-11aa-aa11-00306543ecac", "Apple HFS/HFS+"),
    ("7c3457ef-0000-11aa-aa11-00306543ecac", "Apple APFS"),
    (
        "6a898cc3-1dd2-11b2-99a6-080020736631",
        "Solaris /usr & Apple ZFS",
    ),
    ("aa31e02a-400f-11db-9590-000c2911d1b8", "VMware VMFS"),
    ("9d275380-40ad-11db-bf97-000c2911d1b8", "VMware Diagnostic"),
    ("381cfccc-7288-11e0-92ee-000c2911d0b2", "VMware Virtual SAN"),
    ("77719a0c-a4a0-11e3-a47e-000c29745a24", "VMware Virsto"),
    ("9198effc-31c0-11db-8f78-000c2911d1b8", "VMware Reserved"),
    ("fe3a2a5d-4f32-41a7-b725-accc3285a309", "ChromeOS kernel"),
    ("3cb8e202-3b7e-47dd-8a3c-7ff2a13cfcec", "ChromeOS root fs"),
    ("4fbd7e29-9d25-41b8-afd0-062c0ceff05d", "Ceph OSD"),
];

#[cfg(test)]
mod tests {
    use super::*;

    const DISK: u64 = 64 << 20;
    const HEAD: &[u8] = include_bytes!("../../../testdata/samples/tables/gpt512-head.bin");
    const TAIL: &[u8] = include_bytes!("../../../testdata/samples/tables/gpt512-tail.bin");

    #[test]
    fn parses_the_sgdisk_primary_header() {
        let h = parse_header(&HEAD[512..1024], 1, DISK).unwrap();
        assert_eq!(h.revision, 0x0001_0000);
        assert_eq!(h.header_size, 92);
        assert_eq!(h.my_lba, 1);
        assert_eq!(h.alternate_lba, 131071);
        assert_eq!((h.first_usable_lba, h.last_usable_lba), (34, 131038));
        assert_eq!(h.entries_lba, 2);
        assert_eq!((h.entry_count, h.entry_size), (128, 128));
        assert_eq!(h.disk_guid_string(), "5e6b1b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
        h.check_entry_array(&HEAD[1024..1024 + 16384]).unwrap();
        let e = GptEntry::parse(&HEAD[1024 + 3 * 128..]).unwrap();
        assert_eq!(e.type_guid_string(), "0fc63daf-8483-4772-8e79-3d69d8477de4");
        assert_eq!(e.type_name(), Some("Linux filesystem"));
        assert_eq!(
            e.unique_guid_string().as_deref(),
            Some("11111111-2222-4333-8444-555555555504")
        );
        assert_eq!((e.first_lba, e.last_lba), (69632, 102399));
        assert_eq!(e.attributes, 0x9000_0000_0000_0004);
        // sgdisk wrote "root fs  "; blkid trims trailing blanks.
        assert_eq!(e.name.as_deref(), Some("root fs"));
        let unused = GptEntry::parse(&HEAD[1024 + 128..]).unwrap();
        assert!(unused.is_unused());
        let swap = GptEntry::parse(&HEAD[1024 + 5 * 128..]).unwrap();
        assert_eq!(swap.name.as_deref(), Some("swäp ☃"));
    }

    #[test]
    fn parses_the_backup_header() {
        let last = TAIL.len() - 512;
        let h = parse_header(&TAIL[last..], 131071, DISK).unwrap();
        assert_eq!(h.alternate_lba, 1);
        assert_eq!(h.entries_lba, 131039);
        h.check_entry_array(&TAIL[..16384]).unwrap();
        // The same header is not valid at another LBA.
        assert!(parse_header(&TAIL[last..], 1, DISK).is_err());
    }

    #[test]
    fn header_checks() {
        let good = HEAD[512..1024].to_vec();
        let mut bad = good.clone();
        bad[40] ^= 1;
        assert!(matches!(
            GptHeader::parse(&bad),
            Err(FormatError::Checksum { .. })
        ));
        // Bytes after header_size are not covered by the CRC.
        let mut pad = good.clone();
        pad[200] = 7;
        assert!(GptHeader::parse(&pad).is_ok());
        let mut nosig = good.clone();
        nosig[0] = b'X';
        assert!(GptHeader::parse(&nosig).is_err());
        // Header size larger than the sector.
        assert!(GptHeader::parse(&good[..91]).is_err());
        let h = GptHeader::parse(&good).unwrap();
        // Disk too small for the usable range.
        assert!(h.validate(1, 512, 1 << 20).is_err());
        let mut big = h.clone();
        big.entry_count = 1 << 20;
        assert!(big.validate(1, 512, DISK).is_err());
        let mut es = h.clone();
        es.entry_size = 256;
        es.entry_count = 64;
        assert!(es.validate(1, 512, DISK).is_err());
        let mut inside = h.clone();
        inside.my_lba = 50;
        assert!(inside.validate(50, 512, DISK).is_err());
        assert!(h.check_entry_array(&HEAD[1024..1024 + 16383]).is_err());
    }

    #[test]
    fn names() {
        let mut raw = [0u8; 72];
        for (i, u) in "a😀b \t".encode_utf16().enumerate() {
            raw[2 * i..2 * i + 2].copy_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_name(&raw).as_deref(), Some("a😀b"));
        assert_eq!(decode_name(&[0u8; 72]), None);
        // A lone high surrogate.
        let lone = [0x00, 0xd8, b'x', 0];
        assert_eq!(decode_name(&lone).as_deref(), Some("\u{fffd}x"));
        assert_eq!(
            type_name("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
            Some("EFI System")
        );
        assert_eq!(
            type_name("e3c9e316-0b5c-4db8-817d-f92df00215ae"),
            Some("Microsoft reserved")
        );
        assert_eq!(type_name("00000000-0000-0000-0000-000000000001"), None);
        for (g, _) in TYPE_NAMES {
            assert_eq!(g.len(), 36);
            assert_eq!(*g, g.to_ascii_lowercase());
        }
    }
}
