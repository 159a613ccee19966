//! Read a disk's partition table (GPT with backup fallback, MBR with logical chains) into partitions.
//!
//! The decisions are libblkid's (util-linux 2.38, `partitions/dos.c` and `gpt.c`), in its
//! order: a sector 0 with an 0xEE entry is a protective MBR and only the GPT is read
//! (dos is skipped); a GPT without an 0xEE entry at LBA 0 is ignored (libblkid and the
//! Linux kernel ignore it, so the guest would not see it either); a sector 0 ending in
//! 0x55AA is a dos table unless it is an AIX disk, has a boot indicator other than 0x00 /
//! 0x80, is a FAT / exFAT / NTFS boot sector, or is an empty MBR on an LVM PV.
//!
//! Where Hydra differs from libblkid, on purpose:
//! - an image file without a sector-size hint is tried with 512- and 4096-byte sectors
//!   (libblkid uses 512 for files and would report a 4K GPT image as `PMBR`);
//! - a protective MBR with no valid GPT header is an error (libblkid: `PTTYPE=PMBR`);
//! - MBR partitions reaching past the end of the disk are clipped to it (as the Linux
//!   kernel does) and ones starting past it dropped, each with a warning (libblkid lists
//!   them as written); GPT entries ending before they start are skipped (libblkid lists
//!   them with a wrapped, huge size);
//! - the GPT entry array is limited to 1 MiB; an EBR chain to 128 logical partitions and
//!   256 EBRs, and it ends at the first EBR read twice (libblkid re-reads a looping chain
//!   until 100 EBRs in a row held nothing new: the same partitions, more reads).
//!
//! Units: `Partition::offset` and `size` are bytes. blkid prints `PART_ENTRY_OFFSET` and
//! `PART_ENTRY_SIZE` in 512-byte sectors even on 4096-byte-sector disks (checked on a
//! `losetup -b 4096` loop device: a GPT partition of 4096 4K-sectors at 4K-LBA 256 is
//! printed `PART_ENTRY_OFFSET=2048`, `PART_ENTRY_SIZE=32768`; the same for dos).

use super::reader::{ReadAt, MAX_READ};
use super::{read_at, ScanError};
use crate::error::FormatError;
use crate::format::gpt::{self, GptEntry, GptHeader};
use crate::format::mbr::{self, BootSectorCheck, Mbr};
use crate::layout::{
    Content, GptHeaderChoice, GptInfo, MbrKind, Partition, PartitionRole, PartitionTable, Scheme,
};

/// What the partition-table scan of one disk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableScan {
    /// Logical sector size the table was read with (512 or 4096).
    pub sector_size: u32,
    /// The table, or `None` when the disk has none.
    pub table: Option<PartitionTable>,
    /// Partitions in table order; `content` is left as `Content::Empty` for the caller to fill.
    pub partitions: Vec<Partition>,
    /// Notes for the user (backup GPT used, hybrid MBR, odd entries skipped, ...).
    pub warnings: Vec<String>,
}

/// libblkid skips the GPT prober on disks of at most 1440 KiB (floppies).
const GPT_MIN_DISK_SIZE: u64 = 1024 * 1440 + 1;
/// The most logical partitions read from an EBR chain.
const MAX_LOGICAL: u32 = 128;
/// The most EBRs read from one extended partition.
const MAX_EBRS: u32 = 2 * MAX_LOGICAL;
/// libblkid stops an EBR chain after this many EBRs in a row without a data partition.
const MAX_EBRS_WITHOUT_DATA: u32 = 100;
/// Entry array size assumed for the backup read when the primary header is unusable.
const DEFAULT_ENTRY_ARRAY: u64 = 128 * 128;

/// Scan the partition table of `disk`. `head` is the first `min(64 KiB, size)` bytes of
/// the disk, already read. `sector_size_hint` is the device's logical sector size when
/// known (block devices); for image files it is `None` and both 512 and 4096 are tried.
pub fn scan_table(
    disk: &dyn ReadAt,
    head: &[u8],
    sector_size_hint: Option<u32>,
) -> Result<TableScan, ScanError> {
    let size = disk.size();
    let mut warnings = Vec::new();
    let hint = match sector_size_hint {
        Some(s) if s.is_power_of_two() && (512..=MAX_READ as u32).contains(&s) => Some(s),
        Some(s) => {
            warnings.push(format!(
                "ignored the device's logical sector size {s}: not a power of two in 512..=65536"
            ));
            None
        }
        None => None,
    };
    let default_ss = hint.unwrap_or(512);
    // Never trust `head` beyond the disk's end.
    let head = &head[..head.len().min(usize::try_from(size).unwrap_or(usize::MAX))];
    if head.len() < mbr::SECTOR_SIZE {
        return Ok(no_table(default_ss, warnings));
    }
    let lba0 = Mbr::parse(head).ok();

    if let Some(pmbr) = lba0.as_ref().filter(|m| m.has_protective_entry()) {
        if size < GPT_MIN_DISK_SIZE {
            warnings.push(format!(
                "LBA 0 has a GPT protective entry but the disk ({size} bytes) is floppy-sized; \
                 libblkid reads no GPT on it and neither does Hydra"
            ));
            return Ok(no_table(default_ss, warnings));
        }
        return scan_gpt(disk, head, hint, pmbr, warnings);
    }

    if let Some(m) = lba0.as_ref() {
        if is_dos_table(disk, head, m)? {
            let mut scan = scan_dos(disk, head, default_ss, m, warnings)?;
            if let Some(ss) = gpt_signature_at_lba1(head, hint) {
                scan.warnings.push(format!(
                    "a GPT header sits at LBA 1 ({ss}-byte sectors) but LBA 0 is a DOS table \
                     without a protective (0xEE) entry: the DOS table is used, as libblkid and \
                     Linux do"
                ));
            }
            return Ok(scan);
        }
    }

    if let Some(ss) = gpt_signature_at_lba1(head, hint) {
        warnings.push(format!(
            "a GPT header sits at LBA 1 ({ss}-byte sectors) but LBA 0 has no protective MBR \
             (no 0xEE entry): libblkid and the Linux kernel ignore such a GPT, and so does \
             Hydra (repair with `sgdisk`, which rewrites the protective MBR)"
        ));
    }
    Ok(no_table(default_ss, warnings))
}

fn no_table(sector_size: u32, warnings: Vec<String>) -> TableScan {
    TableScan {
        sector_size,
        table: None,
        partitions: Vec::new(),
        warnings,
    }
}

/// The sector size at which `head` holds an `EFI PART` signature at LBA 1.
fn gpt_signature_at_lba1(head: &[u8], hint: Option<u32>) -> Option<u32> {
    let sizes: &[u32] = match &hint {
        Some(s) => std::slice::from_ref(s),
        None => &[512, 4096],
    };
    sizes
        .iter()
        .copied()
        .find(|&ss| head.get(ss as usize..).is_some_and(gpt::has_signature))
}

/// Bytes `[off, off + len)` of the disk, from `head` when they lie in it, else read
/// (`len` <= `MAX_READ`, range inside the disk: checked by the caller).
fn bytes_at(disk: &dyn ReadAt, head: &[u8], off: u64, len: usize) -> Result<Vec<u8>, ScanError> {
    if let Ok(start) = usize::try_from(off) {
        if let Some(b) = start.checked_add(len).and_then(|end| head.get(start..end)) {
            return Ok(b.to_vec());
        }
    }
    debug_assert!(len <= MAX_READ);
    let b = read_at(disk, off, len)?;
    if b.len() < len {
        return Err(ScanError::Read {
            offset: off,
            len,
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "past the end of the disk",
            ),
        });
    }
    Ok(b)
}

// ---------------------------------------------------------------------------------------
// DOS / MBR
// ---------------------------------------------------------------------------------------

/// libblkid's `probe_dos_pt` rejections, for a sector 0 that ends in 0x55AA and has no
/// 0xEE entry.
fn is_dos_table(disk: &dyn ReadAt, head: &[u8], m: &Mbr) -> Result<bool, ScanError> {
    if mbr::is_aix(head) || !m.boot_indicators_valid() || m.has_protective_entry() {
        return Ok(false);
    }
    let size = disk.size();
    let starts_with_at = |off: u64, len: u64, magic: &[u8]| -> Result<bool, ScanError> {
        match off.checked_add(len) {
            Some(end) if end <= size => {}
            _ => return Ok(false),
        }
        let b = bytes_at(disk, head, off, magic.len())?;
        Ok(b == magic)
    };
    let filesystem = match mbr::check_boot_sector(head) {
        BootSectorCheck::NotFilesystem => false,
        BootSectorCheck::Filesystem(_) => true,
        BootSectorCheck::FatUnlessBitLocker { fve_offset } => {
            // libblkid reads the 12-byte FVE header; BitLocker means "not FAT".
            !starts_with_at(fve_offset, 12, b"-FVE-FS-")?
        }
        BootSectorCheck::NtfsIfMftRecords {
            offsets,
            record_size,
        } => {
            starts_with_at(offsets[0], u64::from(record_size), b"FILE")?
                && starts_with_at(offsets[1], u64::from(record_size), b"FILE")?
        }
    };
    if filesystem {
        return Ok(false);
    }
    // "an empty MBR on an LVM PV is LVM": libblkid's is_lvm() && is_empty_mbr().
    if m.is_empty() && has_lvm_label(head) {
        return Ok(false);
    }
    Ok(true)
}

/// LVM2's label CRC: the IEEE CRC32 polynomial, seed 0xf597a6cf, no final inversion.
fn lvm_crc(bytes: &[u8]) -> u32 {
    const SEED: u32 = 0xf597_a6cf;
    let mut h = crc32fast::Hasher::new_with_initial(!SEED);
    h.update(bytes);
    !h.finalize()
}

/// libblkid's lvm2 prober: a valid `LABELONE` ... `LVM2 001` label in one of sectors 0-3.
fn has_lvm_label(head: &[u8]) -> bool {
    (0..4u64).any(|i| {
        let off = i as usize * 512;
        let Some(s) = head.get(off..off + 512) else {
            return false;
        };
        &s[0..8] == b"LABELONE"
            && &s[24..32] == b"LVM2 001"
            && crate::format::le64(s, 8) == i
            && lvm_crc(&s[20..512]) == crate::format::le32(s, 16)
    })
}

/// Where a partition read from a table lies, checked against the disk.
fn fit_to_disk(
    what: &str,
    offset: u64,
    size: u64,
    disk_size: u64,
    warnings: &mut Vec<String>,
) -> Option<u64> {
    if offset >= disk_size {
        warnings.push(format!(
            "{what} starts at byte {offset}, past the end of the disk ({disk_size} bytes): skipped"
        ));
        return None;
    }
    let end = offset.saturating_add(size);
    if end > disk_size {
        warnings.push(format!(
            "{what} ({size} bytes at {offset}) reaches past the end of the disk ({disk_size} \
             bytes): clipped to {} bytes, as the Linux kernel does (the image may be truncated)",
            disk_size - offset
        ));
        return Some(disk_size - offset);
    }
    Some(size)
}

fn scan_dos(
    disk: &dyn ReadAt,
    head: &[u8],
    ss: u32,
    m: &Mbr,
    mut warnings: Vec<String>,
) -> Result<TableScan, ScanError> {
    let size = disk.size();
    let ssz = u64::from(ss);
    let mut parts: Vec<Partition> = Vec::new();
    let new_part = |number: u32, role: PartitionRole, e: &mbr::MbrEntry, offset, len| Partition {
        number,
        scheme: Scheme::Dos,
        role,
        offset,
        size: len,
        type_id: e.type_id(),
        type_name: e.type_name().map(str::to_string),
        uuid: mbr::partition_uuid(m.disk_signature, number),
        name: None,
        flags: u64::from(e.boot_indicator),
        content: if role == PartitionRole::Extended {
            Content::ExtendedContainer
        } else {
            Content::Empty
        },
    };
    for (i, e) in m.entries.iter().enumerate() {
        if !e.is_used() {
            continue;
        }
        let number = i as u32 + 1;
        let role = if e.is_extended() {
            PartitionRole::Extended
        } else {
            PartitionRole::Primary
        };
        let offset = u64::from(e.start_lba) * ssz;
        let what = format!("MBR partition {number}");
        if let Some(len) = fit_to_disk(
            &what,
            offset,
            u64::from(e.sectors) * ssz,
            size,
            &mut warnings,
        ) {
            parts.push(new_part(number, role, e, offset, len));
        }
    }
    let mut next_number = 5u32;
    // (An extended partition starting past the end of the disk was dropped above.)
    for e in m
        .entries
        .iter()
        .filter(|e| e.is_used() && e.is_extended() && u64::from(e.start_lba) * ssz < size)
    {
        read_ebr_chain(
            disk,
            head,
            ss,
            m.disk_signature,
            u64::from(e.start_lba),
            u64::from(e.sectors),
            &mut next_number,
            &mut parts,
            &mut warnings,
        )?;
    }
    Ok(TableScan {
        sector_size: ss,
        table: Some(PartitionTable {
            scheme: Scheme::Dos,
            id: (m.disk_signature != 0).then(|| m.table_id()),
            gpt: None,
            mbr_kind: None,
        }),
        partitions: parts,
        warnings,
    })
}

/// Follow the EBR chain of the extended partition `[ex_start, ex_start + ex_size)` (in
/// logical sectors) as libblkid 2.38's `parse_dos_extended` (and Linux) do, adding logical
/// partitions numbered from `next_number`. Like libblkid: data entries in slots 1-2 are
/// taken even when they leave the extended partition (with a warning here), entries in
/// slots 3-4 only when inside it; a partition starting where a listed one starts is
/// skipped; a link may go backwards (a chain need not be in disk order). Hydra stops at
/// the first EBR read twice (libblkid would re-read it until its 100-EBRs-without-data
/// limit, finding nothing new), after [`MAX_EBRS`] EBRs and after [`MAX_LOGICAL`] logical
/// partitions.
#[allow(clippy::too_many_arguments)]
fn read_ebr_chain(
    disk: &dyn ReadAt,
    head: &[u8],
    ss: u32,
    disk_signature: u32,
    ex_start: u64,
    ex_size: u64,
    next_number: &mut u32,
    parts: &mut Vec<Partition>,
    warnings: &mut Vec<String>,
) -> Result<(), ScanError> {
    let size = disk.size();
    let ssz = u64::from(ss);
    if ex_start == 0 {
        warnings.push(
            "the extended partition starts at LBA 0: its logical partitions are not read"
                .to_string(),
        );
        return Ok(());
    }
    let ex_end = ex_start + ex_size;
    let (mut cur_start, mut cur_size) = (ex_start, ex_size);
    let mut without_data = 0u32;
    let mut visited: Vec<u64> = Vec::new();
    loop {
        without_data += 1;
        if without_data > MAX_EBRS_WITHOUT_DATA {
            warnings.push(format!(
                "{MAX_EBRS_WITHOUT_DATA} EBRs in a row hold no logical partition: the chain \
                 is not followed further (as libblkid)"
            ));
            break;
        }
        if visited.contains(&cur_start) {
            warnings.push(format!(
                "the EBR chain loops back to the EBR at LBA {cur_start}: it is not followed \
                 further"
            ));
            break;
        }
        if visited.len() >= MAX_EBRS as usize {
            warnings.push(format!(
                "more than {MAX_EBRS} EBRs in the extended partition: the rest is not read"
            ));
            break;
        }
        visited.push(cur_start);
        let off = cur_start * ssz;
        if off
            .checked_add(mbr::SECTOR_SIZE as u64)
            .map_or(true, |end| end > size)
        {
            warnings.push(format!(
                "the EBR at LBA {cur_start} lies past the end of the disk: logical partitions \
                 from there on are missing"
            ));
            break;
        }
        let sector = bytes_at(disk, head, off, mbr::SECTOR_SIZE)?;
        let ebr = match Mbr::parse(&sector) {
            Ok(e) => e,
            Err(_) => {
                // An all-zero first EBR is an extended partition without logical ones.
                if cur_start != ex_start || sector.iter().any(|&b| b != 0) {
                    warnings.push(format!(
                        "the EBR at LBA {cur_start} has no 0x55AA signature: the logical \
                         partition chain ends there"
                    ));
                }
                break;
            }
        };
        for (i, e) in ebr.entries.iter().enumerate() {
            if !e.is_used() || e.is_extended() {
                continue;
            }
            let start = u64::from(e.start_lba);
            let len = u64::from(e.sectors);
            let abs = cur_start + start;
            let outside = abs < ex_start || abs + len > ex_end;
            if i >= 2 {
                // libblkid's extra checks for real data in the 3rd and 4th slots.
                if start + len > cur_size || outside {
                    continue;
                }
            } else if outside {
                warnings.push(format!(
                    "the logical partition in slot {} of the EBR at LBA {cur_start} ({len} \
                     sectors at LBA {abs}) leaves the extended partition (LBA {ex_start}..{ex_end}); \
                     kept, as libblkid and Linux do",
                    i + 1
                ));
            }
            if parts.iter().any(|p| p.offset == abs * ssz) {
                warnings.push(format!(
                    "the EBR at LBA {cur_start} names a partition at LBA {abs}, where a listed \
                     one starts: skipped, as libblkid does"
                ));
                continue;
            }
            if *next_number - 4 > MAX_LOGICAL {
                warnings.push(format!(
                    "more than {MAX_LOGICAL} logical partitions: the rest is not read"
                ));
                return Ok(());
            }
            let number = *next_number;
            *next_number += 1;
            without_data = 0;
            let what = format!("logical partition {number}");
            if let Some(bytes) = fit_to_disk(&what, abs * ssz, len * ssz, size, warnings) {
                parts.push(Partition {
                    number,
                    scheme: Scheme::Dos,
                    role: PartitionRole::Logical,
                    offset: abs * ssz,
                    size: bytes,
                    type_id: e.type_id(),
                    type_name: e.type_name().map(str::to_string),
                    uuid: mbr::partition_uuid(disk_signature, number),
                    name: None,
                    flags: u64::from(e.boot_indicator),
                    content: Content::Empty,
                });
            }
        }
        // The first extended entry with a non-zero start links to the next EBR, relative
        // to the start of the extended partition.
        let Some(link) = ebr
            .entries
            .iter()
            .find(|e| e.is_used() && e.is_extended() && e.start_lba != 0)
        else {
            break;
        };
        cur_start = ex_start + u64::from(link.start_lba);
        cur_size = u64::from(link.sectors);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// GPT
// ---------------------------------------------------------------------------------------

/// A header that passed every check, with the used entries of its array.
struct GptSide {
    header: GptHeader,
    /// (entry index + 1, entry) of every entry with a non-zero type GUID.
    entries: Vec<(u32, GptEntry)>,
}

/// A header at `lba` checked like libblkid's `get_gpt_header`, entry array included.
/// `Ok(Err(why))` when invalid; `Err` on a read error.
fn read_side(
    disk: &dyn ReadAt,
    head: &[u8],
    tail: &(u64, Vec<u8>),
    ss: u32,
    lba: u64,
) -> Result<Result<GptSide, String>, ScanError> {
    let size = disk.size();
    let ssz = u64::from(ss);
    let off = lba * ssz;
    let sector = slice_in(head, 0, off, ss as usize)
        .or_else(|| slice_in(&tail.1, tail.0, off, ss as usize))
        .map(<[u8]>::to_vec);
    let sector = match sector {
        Some(s) => s,
        None => {
            if off.checked_add(ssz).map_or(true, |end| end > size) {
                return Ok(Err("the disk is too small".to_string()));
            }
            bytes_at(disk, head, off, ss as usize)?
        }
    };
    let header = match gpt::parse_header(&sector, lba, size) {
        Ok(h) => h,
        Err(e) => return Ok(Err(describe(&e))),
    };
    // The array is at most MAX_ENTRY_ARRAY_BYTES and inside the disk (validated).
    let array_off = header.entries_lba * ssz;
    let array_len = header.entry_array_len();
    let mut crc = crc32fast::Hasher::new();
    let mut entries = Vec::new();
    let mut pos = 0u64;
    while pos < array_len {
        let n = (array_len - pos).min(MAX_READ as u64) as usize;
        let at = array_off + pos;
        let chunk = match slice_in(head, 0, at, n).or_else(|| slice_in(&tail.1, tail.0, at, n)) {
            Some(c) => std::borrow::Cow::Borrowed(c),
            None => std::borrow::Cow::Owned(bytes_at(disk, head, at, n)?),
        };
        crc.update(&chunk);
        for (k, raw) in chunk.chunks_exact(gpt::ENTRY_SIZE as usize).enumerate() {
            let index = (pos / u64::from(gpt::ENTRY_SIZE)) as u32 + k as u32;
            let e = GptEntry::parse(raw).expect("128-byte chunk");
            if !e.is_unused() {
                entries.push((index + 1, e));
            }
        }
        pos += n as u64;
    }
    let computed = crc.finalize();
    if computed != header.entries_crc32 {
        return Ok(Err(describe(&FormatError::Checksum {
            what: "GPT entry array",
            stored: header.entries_crc32,
            computed,
        })));
    }
    Ok(Ok(GptSide { header, entries }))
}

/// Why a header or entry array was refused, in words.
fn describe(e: &FormatError) -> String {
    match e {
        FormatError::Checksum {
            what,
            stored,
            computed,
        } => format!("{what} CRC32 mismatch (stored {stored:#010x}, computed {computed:#010x})"),
        FormatError::Invalid { detail, .. } => detail.clone(),
        FormatError::Truncated { .. } => e.to_string(),
    }
}

/// `buf` holds the disk's bytes from `buf_off`: the `len` bytes at `off`, if inside it.
fn slice_in(buf: &[u8], buf_off: u64, off: u64, len: usize) -> Option<&[u8]> {
    let start = usize::try_from(off.checked_sub(buf_off)?).ok()?;
    buf.get(start..start.checked_add(len)?)
}

/// The outcome of reading the GPT with one sector size.
struct GptAttempt {
    ss: u32,
    last_lba: u64,
    primary: Result<GptSide, String>,
    backup: Result<GptSide, String>,
}

fn attempt_gpt(disk: &dyn ReadAt, head: &[u8], ss: u32) -> Result<GptAttempt, ScanError> {
    let size = disk.size();
    let ssz = u64::from(ss);
    let last_lba = (size / ssz).saturating_sub(1);
    let no_tail = (0u64, Vec::new());
    let primary = read_side(disk, head, &no_tail, ss, 1)?;
    // One read at the end of the disk for the backup header and (normally) its array.
    let array = match &primary {
        Ok(p) => p.header.entry_array_len(),
        Err(_) => GptHeader::parse(head.get(ss as usize..2 * ss as usize).unwrap_or(&[]))
            .map(|h| h.entry_array_len())
            .unwrap_or(DEFAULT_ENTRY_ARRAY),
    };
    let end = (last_lba + 1) * ssz;
    let want = array
        .min(gpt::MAX_ENTRY_ARRAY_BYTES)
        .div_ceil(ssz)
        .saturating_mul(ssz)
        .saturating_add(ssz)
        .min(MAX_READ as u64)
        .min(end);
    let tail_off = end - want;
    let backup = if last_lba <= 1 {
        Err("the disk is too small".to_string())
    } else {
        let read_backup = || -> Result<Result<GptSide, String>, ScanError> {
            let tail = match slice_in(head, 0, tail_off, want as usize) {
                Some(b) => b.to_vec(),
                None => read_at(disk, tail_off, want as usize)?,
            };
            read_side(disk, head, &(tail_off, tail), ss, last_lba)
        };
        match read_backup() {
            // With a valid primary, a read error at the end only costs the backup.
            Err(e) if primary.is_ok() => Err(format!("unreadable ({e})")),
            other => other?,
        }
    };
    Ok(GptAttempt {
        ss,
        last_lba,
        primary,
        backup,
    })
}

fn scan_gpt(
    disk: &dyn ReadAt,
    head: &[u8],
    hint: Option<u32>,
    pmbr: &Mbr,
    mut warnings: Vec<String>,
) -> Result<TableScan, ScanError> {
    let size = disk.size();
    let sizes: Vec<u32> = match hint {
        Some(s) => vec![s],
        None => match gpt_signature_at_lba1(head, None) {
            Some(s) => vec![s],
            None => vec![512, 4096],
        },
    };
    let mut failures = Vec::new();
    let mut found = None;
    for ss in sizes {
        if size / u64::from(ss) < 3 {
            failures.push(format!("{ss}-byte sectors: the disk is too small"));
            continue;
        }
        let a = attempt_gpt(disk, head, ss)?;
        if a.primary.is_ok() || a.backup.is_ok() {
            found = Some(a);
            break;
        }
        failures.push(format!(
            "{ss}-byte sectors: primary header at LBA 1: {}; backup header at LBA {}: {}",
            a.primary.as_ref().err().map_or("", String::as_str),
            a.last_lba,
            a.backup.as_ref().err().map_or("", String::as_str),
        ));
    }
    let Some(a) = found else {
        return Err(ScanError::Format(FormatError::invalid(
            "GPT",
            format!(
                "LBA 0 holds a protective MBR (0xEE) but neither GPT header is valid: {}",
                failures.join("; ")
            ),
        )));
    };

    let ss = a.ss;
    let mbr_kind = pmbr.gpt_kind();
    if mbr_kind == MbrKind::Hybrid {
        let others = pmbr
            .entries
            .iter()
            .filter(|e| e.is_used() && e.type_byte != mbr::TYPE_GPT_PROTECTIVE)
            .count();
        warnings.push(format!(
            "LBA 0 holds a hybrid MBR (a GPT protective entry plus {others} other \
             entr{}): the partitions are read from the GPT, as libblkid and Linux do; \
             BIOS-booted or older Windows guests may use the MBR entries instead",
            if others == 1 { "y" } else { "ies" }
        ));
    }
    let (used, side, primary_valid, backup_valid) = match (a.primary, a.backup) {
        (Ok(p), backup) => {
            let backup_valid = match &backup {
                Ok(b) => {
                    if b.header.disk_guid != p.header.disk_guid
                        || b.header.entries_crc32 != p.header.entries_crc32
                    {
                        warnings.push(format!(
                            "the backup GPT (LBA {}) differs from the primary (disk GUID or \
                             entries): the primary was used",
                            a.last_lba
                        ));
                    }
                    true
                }
                Err(why) => {
                    let moved = if p.header.alternate_lba != a.last_lba {
                        format!(
                            " (the primary places the backup at LBA {}: the disk was probably \
                             resized after partitioning; `sgdisk -e` moves the backup to the end)",
                            p.header.alternate_lba
                        )
                    } else {
                        String::new()
                    };
                    warnings.push(format!(
                        "the backup GPT header at the last LBA ({}) is invalid: {why}{moved}; \
                         the primary was used",
                        a.last_lba
                    ));
                    false
                }
            };
            (GptHeaderChoice::Primary, p, true, backup_valid)
        }
        (Err(why), Ok(b)) => {
            warnings.push(format!(
                "the primary GPT header (LBA 1) is corrupt: {why}; the backup header at LBA {} \
                 was used",
                a.last_lba
            ));
            (GptHeaderChoice::Backup, b, false, true)
        }
        (Err(_), Err(_)) => unreachable!("an attempt is kept only when one side is valid"),
    };

    let h = &side.header;
    let ssz = u64::from(ss);
    let mut partitions = Vec::with_capacity(side.entries.len());
    for (number, e) in side.entries {
        if e.first_lba < h.first_usable_lba || e.last_lba > h.last_usable_lba {
            warnings.push(format!(
                "GPT entry {number} (LBA {}..={}) lies outside the usable area {}..={}: \
                 skipped, as libblkid does",
                e.first_lba, e.last_lba, h.first_usable_lba, h.last_usable_lba
            ));
            continue;
        }
        if e.last_lba < e.first_lba {
            warnings.push(format!(
                "GPT entry {number} ends (LBA {}) before it starts (LBA {}): skipped",
                e.last_lba, e.first_lba
            ));
            continue;
        }
        partitions.push(Partition {
            number,
            scheme: Scheme::Gpt,
            role: PartitionRole::Primary,
            offset: e.first_lba * ssz,
            size: (e.last_lba - e.first_lba + 1) * ssz,
            type_id: e.type_guid_string(),
            type_name: e.type_name().map(str::to_string),
            uuid: e.unique_guid_string(),
            name: e.name,
            flags: e.attributes,
            content: Content::Empty,
        });
    }
    warn_overlaps(&partitions, &mut warnings);

    Ok(TableScan {
        sector_size: ss,
        table: Some(PartitionTable {
            scheme: Scheme::Gpt,
            id: Some(h.disk_guid_string()),
            gpt: Some(GptInfo {
                used,
                primary_valid,
                backup_valid,
                first_usable_lba: h.first_usable_lba,
                last_usable_lba: h.last_usable_lba,
                entry_count: h.entry_count,
                entry_size: h.entry_size,
            }),
            mbr_kind: Some(mbr_kind),
        }),
        partitions,
        warnings,
    })
}

/// Warn about GPT partitions that overlap (libblkid and Linux keep them all; so does Hydra).
fn warn_overlaps(parts: &[Partition], warnings: &mut Vec<String>) {
    const SHOWN: usize = 16;
    let mut by_start: Vec<&Partition> = parts.iter().collect();
    by_start.sort_by_key(|p| (p.offset, p.number));
    let mut reported = 0usize;
    // The partition reaching furthest among those seen so far.
    let mut furthest: Option<&Partition> = None;
    for p in by_start {
        if let Some(f) = furthest {
            if p.offset < f.offset + f.size {
                reported += 1;
                if reported <= SHOWN {
                    warnings.push(format!(
                        "GPT partitions {} and {} overlap (bytes {}..{} and {}..{}); both are \
                         kept, as libblkid and Linux do",
                        f.number,
                        p.number,
                        f.offset,
                        f.offset + f.size,
                        p.offset,
                        p.offset + p.size
                    ));
                }
            }
        }
        if furthest.map_or(true, |f| p.offset + p.size > f.offset + f.size) {
            furthest = Some(p);
        }
    }
    if reported > SHOWN {
        warnings.push(format!(
            "{} more overlapping GPT partition pairs",
            reported - SHOWN
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::reader::{Counting, MemReader, ReadStats, SparseMemReader};
    use proptest::prelude::*;
    use std::sync::Arc;

    const MIB64: u64 = 64 << 20;

    macro_rules! sample {
        ($name:literal) => {
            include_bytes!(concat!("../../../testdata/samples/tables/", $name)).as_slice()
        };
    }

    fn disk(size: u64, regions: &[(u64, &[u8])]) -> SparseMemReader {
        let mut d = SparseMemReader::new(size);
        for (off, bytes) in regions {
            d.write(*off, bytes);
        }
        d
    }

    fn head_of(d: &dyn ReadAt) -> Vec<u8> {
        read_at(d, 0, MAX_READ).unwrap()
    }

    fn scan(d: &dyn ReadAt, hint: Option<u32>) -> Result<TableScan, ScanError> {
        scan_table(d, &head_of(d), hint)
    }

    /// Scan with a read counter; returns the reads made beyond the head: (reads, bytes, largest).
    fn scan_counted<R: ReadAt>(d: R, hint: Option<u32>) -> (TableScan, (u64, u64, u64)) {
        let stats = Arc::new(ReadStats::default());
        let c = Counting::new(d, stats.clone());
        let head = read_at(&c, 0, MAX_READ).unwrap();
        let before = stats.snapshot();
        let s = scan_table(&c, &head, hint).unwrap();
        let after = stats.snapshot();
        (s, (after.0 - before.0, after.1 - before.1, after.2))
    }

    /// One partition as `blkid -p -o export /dev/loopNpM` printed it when the sample was
    /// made: NUMBER, OFFSET and SIZE (512-byte sectors), TYPE, UUID, NAME, FLAGS.
    type Blkid = (
        u32,
        u64,
        u64,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        u64,
    );

    fn assert_blkid(parts: &[Partition], want: &[Blkid]) {
        let got: Vec<Blkid> = parts
            .iter()
            .map(|p| {
                assert_eq!(p.offset % 512, 0);
                (
                    p.number,
                    p.offset / 512,
                    p.size / 512,
                    leak(p.type_id.clone()),
                    p.uuid.clone().map(leak),
                    p.name.clone().map(leak),
                    p.flags,
                )
            })
            .collect();
        assert_eq!(got, want);
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn gpt512() -> SparseMemReader {
        let tail = sample!("gpt512-tail.bin");
        disk(
            MIB64,
            &[
                (0, sample!("gpt512-head.bin")),
                (MIB64 - tail.len() as u64, tail),
            ],
        )
    }

    const GPT512_BLKID: &[Blkid] = &[
        (
            1,
            2048,
            65536,
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            Some("11111111-2222-4333-8444-555555555501"),
            Some("EFI System Partition"),
            0x1,
        ),
        (
            3,
            67584,
            2048,
            "21686148-6449-6e6f-744e-656564454649",
            Some("11111111-2222-4333-8444-555555555503"),
            None,
            0,
        ),
        (
            4,
            69632,
            32768,
            "0fc63daf-8483-4772-8e79-3d69d8477de4",
            Some("11111111-2222-4333-8444-555555555504"),
            Some("root fs"),
            0x9000_0000_0000_0004,
        ),
        (
            6,
            102400,
            8192,
            "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f",
            Some("11111111-2222-4333-8444-555555555506"),
            Some("swäp ☃"),
            0,
        ),
        (
            7,
            110592,
            20447,
            "e6d6d379-f507-44c2-a23c-238f2a3df928",
            Some("11111111-2222-4333-8444-555555555507"),
            Some("lvm"),
            0,
        ),
    ];

    #[test]
    fn gpt_made_by_sgdisk_matches_blkid() {
        for hint in [None, Some(512)] {
            let (s, (reads, _, largest)) = scan_counted(gpt512(), hint);
            assert_eq!(s.sector_size, 512);
            assert!(s.warnings.is_empty(), "{:?}", s.warnings);
            let t = s.table.unwrap();
            assert_eq!(t.scheme, Scheme::Gpt);
            assert_eq!(
                t.id.as_deref(),
                Some("5e6b1b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
            );
            assert_eq!(t.mbr_kind, Some(MbrKind::Protective));
            assert_eq!(
                t.gpt,
                Some(GptInfo {
                    used: GptHeaderChoice::Primary,
                    primary_valid: true,
                    backup_valid: true,
                    first_usable_lba: 34,
                    last_usable_lba: 131038,
                    entry_count: 128,
                    entry_size: 128,
                })
            );
            assert_blkid(&s.partitions, GPT512_BLKID);
            let names: Vec<_> = s
                .partitions
                .iter()
                .map(|p| p.type_name.as_deref())
                .collect();
            assert_eq!(
                names,
                [
                    Some("EFI System"),
                    Some("BIOS boot"),
                    Some("Linux filesystem"),
                    Some("Linux swap"),
                    Some("Linux LVM")
                ]
            );
            assert!(s
                .partitions
                .iter()
                .all(|p| p.role == PartitionRole::Primary && p.content == Content::Empty));
            // The primary array comes from the head; one read checks the backup and its array.
            assert_eq!(reads, 1);
            assert!(largest <= MAX_READ as u64);
        }
        // A 4096-byte device sector size finds no GPT behind the protective MBR.
        assert!(matches!(
            scan(&gpt512(), Some(4096)),
            Err(ScanError::Format(_))
        ));
    }

    #[test]
    fn gpt_on_a_4k_loop_device_matches_blkid() {
        // Made with `losetup -b 4096` + sgdisk; blkid printed offsets in 512-byte sectors.
        let tail = sample!("gpt4k-tail.bin");
        let d = disk(
            MIB64,
            &[
                (0, sample!("gpt4k-head.bin")),
                (MIB64 - tail.len() as u64, tail),
            ],
        );
        for hint in [None, Some(4096)] {
            let (s, (reads, _, _)) = scan_counted(d.clone(), hint);
            assert_eq!(s.sector_size, 4096);
            assert!(s.warnings.is_empty(), "{:?}", s.warnings);
            let t = s.table.unwrap();
            assert_eq!(
                t.id.as_deref(),
                Some("9a8b7c6d-5e4f-4a3b-9c2d-1e0f0a0b0c0d")
            );
            let g = t.gpt.unwrap();
            assert_eq!((g.first_usable_lba, g.last_usable_lba), (6, 16378));
            assert!(g.primary_valid && g.backup_valid);
            assert_blkid(
                &s.partitions,
                &[
                    (
                        1,
                        2048,
                        32768,
                        "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
                        Some("22222222-3333-4444-8555-666666666601"),
                        Some("EFI"),
                        0,
                    ),
                    (
                        2,
                        34816,
                        49152,
                        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
                        Some("22222222-3333-4444-8555-666666666602"),
                        Some("root"),
                        0x800_0000_0000_0000,
                    ),
                    (
                        3,
                        83968,
                        47064,
                        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
                        Some("22222222-3333-4444-8555-666666666603"),
                        Some("data"),
                        0,
                    ),
                ],
            );
            assert_eq!(
                s.partitions[1].type_name.as_deref(),
                Some("Linux root (x86-64)")
            );
            assert_eq!(reads, 1);
        }
        // As a 512-byte device: protective MBR, no GPT at 512 => error (blkid: PTTYPE=PMBR).
        assert!(scan(&d, Some(512)).is_err());
    }

    #[test]
    fn hybrid_mbr_reads_the_gpt_with_a_warning() {
        let tail = sample!("hybrid-tail.bin");
        let d = disk(
            MIB64,
            &[
                (0, sample!("hybrid-head.bin")),
                (MIB64 - tail.len() as u64, tail),
            ],
        );
        let s = scan(&d, None).unwrap();
        let t = s.table.unwrap();
        assert_eq!(t.mbr_kind, Some(MbrKind::Hybrid));
        assert_eq!(
            t.id.as_deref(),
            Some("0badc0de-1111-4222-8333-444455556666")
        );
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("hybrid MBR"), "{:?}", s.warnings);
        assert_blkid(
            &s.partitions,
            &[
                (
                    1,
                    2048,
                    16384,
                    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
                    Some("aaaaaaaa-0000-4000-8000-000000000001"),
                    Some("ESP"),
                    0,
                ),
                (
                    2,
                    18432,
                    32768,
                    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
                    Some("aaaaaaaa-0000-4000-8000-000000000002"),
                    Some("Basic data"),
                    0,
                ),
                (
                    3,
                    51200,
                    79839,
                    "0fc63daf-8483-4772-8e79-3d69d8477de4",
                    Some("aaaaaaaa-0000-4000-8000-000000000003"),
                    Some("linux"),
                    0,
                ),
            ],
        );
    }

    fn mbr_ext() -> SparseMemReader {
        let ebrs = sample!("mbr-ext-ebrs.bin");
        let mut d = disk(MIB64, &[(0, sample!("mbr-ext-lba0.bin"))]);
        for (i, lba) in [26624u64, 32768, 38912, 43008, 51200].iter().enumerate() {
            d.write(lba * 512, &ebrs[i * 512..(i + 1) * 512]);
        }
        d
    }

    #[test]
    fn mbr_with_five_logical_partitions_matches_blkid() {
        let (s, (reads, bytes, _)) = scan_counted(mbr_ext(), None);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.sector_size, 512);
        let t = s.table.unwrap();
        assert_eq!(t.scheme, Scheme::Dos);
        assert_eq!(t.id.as_deref(), Some("1a2b3c4d"));
        assert_eq!((t.gpt, t.mbr_kind), (None, None));
        assert_blkid(
            &s.partitions,
            &[
                (1, 2048, 16384, "0x83", Some("1a2b3c4d-01"), None, 0x80),
                (2, 18432, 8192, "0x82", Some("1a2b3c4d-02"), None, 0),
                (3, 26624, 104448, "0x5", Some("1a2b3c4d-03"), None, 0),
                (5, 28672, 4096, "0x83", Some("1a2b3c4d-05"), None, 0),
                (6, 34816, 4096, "0x8e", Some("1a2b3c4d-06"), None, 0),
                (7, 40960, 2048, "0xc", Some("1a2b3c4d-07"), None, 0),
                (8, 45056, 6144, "0x7", Some("1a2b3c4d-08"), None, 0),
                (9, 53248, 77824, "0xfd", Some("1a2b3c4d-09"), None, 0),
            ],
        );
        let roles: Vec<_> = s.partitions.iter().map(|p| p.role).collect();
        use PartitionRole::*;
        assert_eq!(
            roles,
            [Primary, Primary, Extended, Logical, Logical, Logical, Logical, Logical]
        );
        assert_eq!(s.partitions[2].content, Content::ExtendedContainer);
        assert_eq!(s.partitions[3].content, Content::Empty);
        assert_eq!(s.partitions[2].type_name.as_deref(), Some("Extended"));
        assert_eq!(s.partitions[4].type_name.as_deref(), Some("Linux LVM"));
        // One 512-byte read per EBR.
        assert_eq!((reads, bytes), (5, 5 * 512));
    }

    #[test]
    fn mbr_on_a_4k_loop_device_matches_blkid() {
        let ebrs = sample!("mbr4k-ebrs.bin");
        let d = disk(
            MIB64,
            &[
                (0, sample!("mbr4k-lba0.bin")),
                (2304 * 4096, &ebrs[..512]),
                (3584 * 4096, &ebrs[512..]),
            ],
        );
        let s = scan(&d, Some(4096)).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.sector_size, 4096);
        assert_eq!(s.table.unwrap().id.as_deref(), Some("cafef00d"));
        // The extended partition (no loop device was made for it) from `sfdisk -d`:
        // start=2304, size=14080 4K sectors.
        assert_blkid(
            &s.partitions,
            &[
                (1, 2048, 16384, "0x83", Some("cafef00d-01"), None, 0),
                (2, 2304 * 8, 14080 * 8, "0x5", Some("cafef00d-02"), None, 0),
                (5, 20480, 8192, "0x82", Some("cafef00d-05"), None, 0),
                (6, 30720, 100352, "0x83", Some("cafef00d-06"), None, 0),
            ],
        );
    }

    #[test]
    fn filesystem_boot_sectors_are_not_tables() {
        let fat = disk(MIB64, &[(0, sample!("fat32-vbr.bin"))]);
        let s = scan(&fat, None).unwrap();
        assert_eq!((s.table, s.partitions.len()), (None, 0));
        // NTFS made by mkntfs: the MFT records lie in the head.
        let ntfs = disk(MIB64, &[(0, sample!("ntfs-head.bin"))]);
        assert_eq!(scan(&ntfs, None).unwrap().table, None);
        // Without the MFT records libblkid does not call it NTFS: an empty dos table.
        let mut h = sample!("ntfs-head.bin").to_vec();
        h[16384] = b'X';
        let s = scan(&disk(MIB64, &[(0, &h)]), None).unwrap();
        assert_eq!(s.table.unwrap().scheme, Scheme::Dos);
        assert!(s.partitions.is_empty());
    }

    #[test]
    fn empty_mbr_on_an_lvm_pv_is_no_table() {
        // pvcreate on a loop device, then 0x55AA written at 510: blkid says LVM2_member only.
        let pv = sample!("lvm-empty-mbr.bin");
        assert!(has_lvm_label(pv));
        assert_eq!(scan(&disk(MIB64, &[(0, pv)]), None).unwrap().table, None);
        // With one partition entry blkid reports PTTYPE=dos.
        let mut p = pv.to_vec();
        p[446 + 4] = 0x83;
        p[446 + 12] = 1;
        let s = scan(&disk(MIB64, &[(0, &p)]), None).unwrap();
        assert_eq!(s.table.unwrap().scheme, Scheme::Dos);
        // A bad label CRC is no label.
        let mut bad = pv.to_vec();
        bad[600] ^= 1;
        assert!(!has_lvm_label(&bad));
    }

    /// Recompute the CRCs of the header at `hdr` (its array at `arr` in the same buffer).
    fn fix_crcs(buf: &mut [u8], hdr: usize, arr: usize) {
        let n = crate::format::le32(buf, hdr + 80) as usize * 128;
        let ecrc = crc32fast::hash(&buf[arr..arr + n]);
        buf[hdr + 88..hdr + 92].copy_from_slice(&ecrc.to_le_bytes());
        buf[hdr + 16..hdr + 20].fill(0);
        let hcrc = crc32fast::hash(&buf[hdr..hdr + 92]);
        buf[hdr + 16..hdr + 20].copy_from_slice(&hcrc.to_le_bytes());
    }

    fn gpt512_with(head: &[u8], tail: &[u8]) -> SparseMemReader {
        disk(MIB64, &[(0, head), (MIB64 - tail.len() as u64, tail)])
    }

    #[test]
    fn corrupt_primary_uses_the_backup() {
        let tail = sample!("gpt512-tail.bin");
        // Header CRC.
        let mut head = sample!("gpt512-head.bin").to_vec();
        head[512 + 40] ^= 1;
        let s = scan(&gpt512_with(&head, tail), None).unwrap();
        let g = s.table.as_ref().unwrap().gpt.clone().unwrap();
        assert_eq!(g.used, GptHeaderChoice::Backup);
        assert!(!g.primary_valid && g.backup_valid);
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].contains("primary GPT header (LBA 1) is corrupt")
                && s.warnings[0].contains("GPT header CRC32 mismatch")
                && s.warnings[0].contains("backup header at LBA 131071 was used"),
            "{:?}",
            s.warnings
        );
        assert_blkid(&s.partitions, GPT512_BLKID);
        // Entry array CRC.
        let mut head = sample!("gpt512-head.bin").to_vec();
        head[1024 + 60] ^= 1;
        let s = scan(&gpt512_with(&head, tail), None).unwrap();
        assert!(
            s.warnings[0].contains("entry array CRC32 mismatch"),
            "{:?}",
            s.warnings
        );
        assert_blkid(&s.partitions, GPT512_BLKID);
        // No primary at all.
        let mut head = sample!("gpt512-head.bin").to_vec();
        head[512..1024].fill(0);
        let s = scan(&gpt512_with(&head, tail), None).unwrap();
        assert_eq!(s.table.unwrap().gpt.unwrap().used, GptHeaderChoice::Backup);
        assert_blkid(&s.partitions, GPT512_BLKID);
    }

    #[test]
    fn both_headers_corrupt_is_an_error() {
        let mut head = sample!("gpt512-head.bin").to_vec();
        head[512 + 40] ^= 1;
        let mut tail = sample!("gpt512-tail.bin").to_vec();
        let last = tail.len() - 512;
        tail[last + 40] ^= 1;
        let err = scan(&gpt512_with(&head, &tail), None).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ScanError::Format(_)));
        assert!(
            msg.contains("protective MBR")
                && msg.contains("primary header at LBA 1: GPT header CRC32 mismatch")
                && msg.contains("backup header at LBA 131071: GPT header CRC32 mismatch"),
            "{msg}"
        );
    }

    #[test]
    fn corrupt_backup_is_reported() {
        let mut tail = sample!("gpt512-tail.bin").to_vec();
        tail[100] ^= 1; // inside the backup entry array
        let s = scan(&gpt512_with(sample!("gpt512-head.bin"), &tail), None).unwrap();
        let g = s.table.unwrap().gpt.unwrap();
        assert!(g.primary_valid && !g.backup_valid);
        assert_eq!(g.used, GptHeaderChoice::Primary);
        assert!(
            s.warnings[0].contains("backup GPT header"),
            "{:?}",
            s.warnings
        );
        assert_blkid(&s.partitions, GPT512_BLKID);
    }

    #[test]
    fn enlarged_disk_has_no_backup_at_the_end() {
        let tail = sample!("gpt512-tail.bin");
        let d = disk(
            2 * MIB64,
            &[
                (0, sample!("gpt512-head.bin")),
                (MIB64 - tail.len() as u64, tail),
            ],
        );
        let s = scan(&d, None).unwrap();
        assert!(!s.table.unwrap().gpt.unwrap().backup_valid);
        assert!(s.warnings[0].contains("resized"), "{:?}", s.warnings);
        assert_blkid(&s.partitions, GPT512_BLKID);
    }

    #[test]
    fn gpt_without_protective_mbr_is_ignored_like_blkid() {
        let mut head = sample!("gpt512-head.bin").to_vec();
        head[..512].fill(0);
        let s = scan(&gpt512_with(&head, sample!("gpt512-tail.bin")), None).unwrap();
        assert_eq!(s.table, None);
        assert!(
            s.warnings[0].contains("no protective MBR"),
            "{:?}",
            s.warnings
        );
        // A DOS table at LBA 0 wins over the GPT.
        head[..512].copy_from_slice(sample!("mbr-ext-lba0.bin"));
        let s = scan(&gpt512_with(&head, sample!("gpt512-tail.bin")), None).unwrap();
        assert_eq!(s.table.unwrap().scheme, Scheme::Dos);
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("GPT header sits at LBA 1")));
    }

    #[test]
    fn gpt_entries_outside_the_usable_area_or_overlapping() {
        let mut head = sample!("gpt512-head.bin").to_vec();
        // Entry 7 (index 6) ends one LBA past last usable; entry 6 starts inside entry 4.
        let e7 = 1024 + 6 * 128;
        head[e7 + 40..e7 + 48].copy_from_slice(&131039u64.to_le_bytes());
        let e6 = 1024 + 5 * 128;
        head[e6 + 32..e6 + 40].copy_from_slice(&102000u64.to_le_bytes());
        fix_crcs(&mut head, 512, 1024);
        let s = scan(&gpt512_with(&head, sample!("gpt512-tail.bin")), None).unwrap();
        let numbers: Vec<u32> = s.partitions.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 3, 4, 6]);
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("entry 7") && w.contains("usable")));
        assert!(s.warnings.iter().any(|w| w.contains("4 and 6 overlap")));
        // The backup differs from the primary now.
        assert!(s.warnings.iter().any(|w| w.contains("differs")));
    }

    #[test]
    fn floppy_sized_disk_with_protective_mbr_has_no_gpt() {
        let mut h = sample!("gpt512-head.bin").to_vec();
        h.resize(1 << 20, 0);
        let s = scan(&MemReader(h), None).unwrap();
        assert_eq!(s.table, None);
        assert!(s.warnings[0].contains("floppy"));
    }

    #[test]
    fn no_table_at_all() {
        let s = scan(&SparseMemReader::new(MIB64), None).unwrap();
        assert_eq!(s, no_table(512, vec![]));
        let s = scan(&MemReader(vec![0; 100]), Some(4096)).unwrap();
        assert_eq!(s.sector_size, 4096);
        assert_eq!(s.table, None);
        let s = scan(&MemReader(vec![0; 1024]), Some(1000)).unwrap();
        assert_eq!(s.warnings.len(), 1);
    }

    fn sector(sig: u32, entries: &[(usize, u8, u8, u32, u32)]) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        s[440..444].copy_from_slice(&sig.to_le_bytes());
        s[510] = 0x55;
        s[511] = 0xaa;
        for &(slot, boot, t, start, n) in entries {
            let o = 446 + slot * 16;
            s[o] = boot;
            s[o + 4] = t;
            s[o + 8..o + 12].copy_from_slice(&start.to_le_bytes());
            s[o + 12..o + 16].copy_from_slice(&n.to_le_bytes());
        }
        s
    }

    #[test]
    fn looped_ebr_chain_stops_with_a_warning() {
        // Expected partitions checked with `partx -g` (libblkid 2.38.1) on the same bytes.
        let mbr = sector(0xabcd, &[(0, 0, 0x05, 2048, 100_000)]);
        let logical = |link: u32| sector(0, &[(0, 0, 0x83, 63, 100), (1, 0, 0x05, link, 500)]);
        let starts = |s: &TableScan| -> Vec<(u32, u64)> {
            s.partitions
                .iter()
                .map(|p| (p.number, p.offset / 512))
                .collect()
        };
        // EBR 2 links to itself.
        let d = disk(
            MIB64,
            &[
                (0, &mbr),
                (2048 * 512, &logical(1000)),
                (3048 * 512, &logical(1000)),
            ],
        );
        let (s, (reads, _, _)) = scan_counted(d, None);
        assert_eq!(starts(&s), [(1, 2048), (5, 2111), (6, 3111)]);
        assert_eq!(s.partitions[2].uuid.as_deref(), Some("0000abcd-06"));
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("loops back"), "{:?}", s.warnings);
        assert_eq!(reads, 2);
        // 2048 -> 3048 -> 4048 -> 3048: partx -g lists 5, 6, 7.
        let d = disk(
            MIB64,
            &[
                (0, &mbr),
                (2048 * 512, &logical(1000)),
                (3048 * 512, &logical(2000)),
                (4048 * 512, &logical(1000)),
            ],
        );
        let s = scan(&d, None).unwrap();
        assert_eq!(starts(&s), [(1, 2048), (5, 2111), (6, 3111), (7, 4111)]);
        assert!(s.warnings[0].contains("loops back"));
        // A chain out of disk order is no loop: 2048 -> 5048 -> 3048 (partx -g: 5, 6, 7).
        let last = sector(0, &[(0, 0, 0x83, 63, 100)]);
        let d = disk(
            MIB64,
            &[
                (0, &mbr),
                (2048 * 512, &logical(3000)),
                (5048 * 512, &logical(1000)),
                (3048 * 512, &last),
            ],
        );
        let s = scan(&d, None).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(starts(&s), [(1, 2048), (5, 2111), (6, 5111), (7, 3111)]);
    }

    #[test]
    fn ebr_chain_is_capped() {
        let n = 200u32;
        let mbr = sector(1, &[(0, 0, 0x0f, 2048, n * 10 + 10)]);
        let mut d = disk(MIB64, &[(0, &mbr)]);
        for k in 0..n {
            let ebr = sector(0, &[(0, 0, 0x83, 1, 5), (1, 0, 0x05, (k + 1) * 10, 10)]);
            d.write(u64::from(2048 + k * 10) * 512, &ebr);
        }
        let (s, (reads, _, _)) = scan_counted(d, None);
        assert_eq!(s.partitions.len(), 1 + 128);
        assert_eq!(s.partitions.last().unwrap().number, 132);
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("more than 128 logical")));
        assert!(reads <= 130);
    }

    #[test]
    fn ebr_entries_outside_the_extended_partition() {
        // Checked with `partx -g`: 1, 2 and 5 (the slot-3 entry outside is dropped).
        let mbr = sector(0, &[(0, 0, 0x05, 2048, 1000), (1, 0, 0x83, 4000, 100)]);
        let ebr1 = sector(
            0,
            &[
                (0, 0, 0x83, 2000, 100),
                (2, 0, 0x83, 3000, 10),
                (1, 0, 0x05, 500, 5000),
            ],
        );
        let d = disk(MIB64, &[(0, &mbr), (2048 * 512, &ebr1)]);
        let s = scan(&d, None).unwrap();
        let starts: Vec<(u32, u64)> = s
            .partitions
            .iter()
            .map(|p| (p.number, p.offset / 512))
            .collect();
        assert_eq!(starts, [(1, 2048), (2, 4000), (5, 4048)]);
        assert!(s.partitions.iter().all(|p| p.uuid.is_none()));
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("leaves the extended partition"));
        // The link leads to LBA 2548, which holds no EBR.
        assert!(s.warnings[1].contains("no 0x55AA"));
    }

    #[test]
    fn mbr_partitions_past_the_end_of_the_disk() {
        let mbr = sector(
            7,
            &[
                (0, 0x80, 0x83, 2048, 4096),
                (1, 0, 0x83, 6144, 1 << 20),
                (2, 0, 0x05, 1 << 30, 100),
                (3, 0, 0x07, 0x8000_0000, 1),
            ],
        );
        let size = 8 << 20;
        let s = scan(&disk(size, &[(0, &mbr)]), None).unwrap();
        assert_eq!(s.partitions.len(), 2);
        assert_eq!(s.partitions[1].size, size - 6144 * 512);
        assert!(s.warnings.iter().any(|w| w.contains("clipped")));
        assert_eq!(
            s.warnings
                .iter()
                .filter(|w| w.contains("past the end"))
                .count(),
            3
        );
        // Boot indicator 0x01 is no table (blkid), and neither is AIX.
        let bad = sector(7, &[(0, 0x01, 0x83, 2048, 4096)]);
        assert_eq!(scan(&disk(size, &[(0, &bad)]), None).unwrap().table, None);
        let mut aix = mbr.clone();
        aix[..4].copy_from_slice(&[0xc9, 0xc2, 0xd4, 0xc1]);
        assert_eq!(scan(&disk(size, &[(0, &aix)]), None).unwrap().table, None);
    }

    fn check_inside(d: &dyn ReadAt, s: &TableScan) {
        let size = d.size();
        for p in &s.partitions {
            assert!(p.size > 0, "{p:?}");
            assert!(
                p.offset < size && p.offset + p.size <= size,
                "{p:?} on {size}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn random_bytes_never_panic(
            mut head in proptest::collection::vec(any::<u8>(), 0..9000),
            size in 0u64..(1u64 << 42),
            sig in any::<bool>(),
            ee in any::<bool>(),
            hint in proptest::option::of(prop_oneof![Just(512u32), Just(4096), any::<u32>()]),
        ) {
            if head.len() >= 512 {
                if sig { head[510] = 0x55; head[511] = 0xaa; }
                if ee { head[446 + 4] = 0xee; }
            }
            let size = size.max(head.len() as u64);
            let d = disk(size, &[(0, &head)]);
            if let Ok(s) = scan_table(&d, &head, hint) {
                check_inside(&d, &s);
            }
        }

        #[test]
        fn mutated_gpt_never_panics(
            muts in proptest::collection::vec((0usize..17408, any::<u8>()), 1..8),
            tail_muts in proptest::collection::vec((0usize..16896, any::<u8>()), 0..4),
            fix in any::<bool>(),
            grow in 0u64..(1 << 30),
            shrink in any::<bool>(),
        ) {
            let mut head = sample!("gpt512-head.bin").to_vec();
            let mut tail = sample!("gpt512-tail.bin").to_vec();
            for (i, v) in muts { head[i] = v; }
            for (i, v) in tail_muts { tail[i] = v; }
            if fix {
                let n = (crate::format::le32(&head, 512 + 80) as usize).min(128);
                head[512 + 80..512 + 84].copy_from_slice(&(n as u32).to_le_bytes());
                fix_crcs(&mut head, 512, 1024);
            }
            let size = if shrink { MIB64 - grow % (MIB64 / 2) } else { MIB64 + grow };
            let mut d = disk(size, &[(0, &head)]);
            if size >= MIB64 {
                d.write(MIB64 - tail.len() as u64, &tail);
            }
            let h = head_of(&d);
            if let Ok(s) = scan_table(&d, &h, None) {
                check_inside(&d, &s);
            }
        }

        #[test]
        fn mutated_mbr_never_panics(
            muts in proptest::collection::vec((0usize..6, 440usize..512, any::<u8>()), 1..10),
            size in (1u64 << 20)..(1u64 << 34),
            hint in proptest::option::of(Just(4096u32)),
        ) {
            let mut sectors: Vec<Vec<u8>> = vec![sample!("mbr-ext-lba0.bin").to_vec()];
            let ebrs = sample!("mbr-ext-ebrs.bin");
            sectors.extend(ebrs.chunks(512).map(<[u8]>::to_vec));
            for (s, i, v) in muts { sectors[s][i] = v; }
            let lbas = [0u64, 26624, 32768, 38912, 43008, 51200];
            let mut d = SparseMemReader::new(size);
            for (lba, s) in lbas.iter().zip(&sectors) {
                if lba * 512 + 512 <= size { d.write(lba * 512, s); }
            }
            let stats = Arc::new(ReadStats::default());
            let c = Counting::new(d, stats.clone());
            let h = head_of(&c);
            if let Ok(s) = scan_table(&c, &h, hint) {
                check_inside(&c, &s);
            }
            let (reads, _, largest) = stats.snapshot();
            prop_assert!(reads <= 1 + 4 * (u64::from(MAX_EBRS) + 1));
            prop_assert!(largest <= MAX_READ as u64);
        }
    }
}
