//! LVM2 binary structures: the PV label (`LABELONE` + `pv_header`) and the metadata
//! area header (`mda_header` + `raw_locn` list), as lvm2's `label.h` and
//! `format_text/layout.h` define them. All fields are little-endian.

use crate::error::FormatError;
use crate::format::{le32, le64};

/// Size of a sector as LVM addresses it (labels, `pe_start`, `extent_size`).
pub const SECTOR_SIZE: usize = 512;
/// LVM looks for the label in the first this many sectors.
pub const LABEL_SCAN_SECTORS: usize = 4;
/// Bytes of the volume that hold every possible label position.
pub const LABEL_SCAN_SIZE: usize = LABEL_SCAN_SECTORS * SECTOR_SIZE;
/// The label identifier at the start of the label sector.
pub const LABEL_ID: &[u8; 8] = b"LABELONE";
/// The label type of an LVM2 text-format PV.
pub const LVM2_LABEL_TYPE: &[u8; 8] = b"LVM2 001";
/// Initial value of LVM's CRC ([`calc_crc`]).
pub const INITIAL_CRC: u32 = 0xf597_a6cf;
/// Size of the metadata area header (one sector).
pub const MDA_HEADER_SIZE: usize = 512;
/// The metadata area header magic (`FMTT_MAGIC`).
pub const FMTT_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
/// The only metadata area header version there is (`FMTT_VERSION`).
pub const FMTT_VERSION: u32 = 1;
/// `raw_locn.flags` bit: this copy of the metadata is ignored (not kept up to date).
pub const RAW_LOCN_IGNORED: u32 = 1;
/// Length of an LVM UUID without dashes.
pub const ID_LEN: usize = 32;

const LABEL_HEADER_SIZE: usize = 32;
const PV_HEADER_FIXED: usize = ID_LEN + 8;
const DISK_LOCN_SIZE: usize = 16;
const RAW_LOCN_SIZE: usize = 24;
const MDA_HEADER_FIXED: usize = 40;

/// LVM's CRC-32 (`calc_crc`): the reflected CRC-32 polynomial 0xEDB88320, started from
/// `initial` (LVM passes [`INITIAL_CRC`]) and without the final inversion. Chainable:
/// `calc_crc(calc_crc(i, a), b) == calc_crc(i, a ++ b)`.
pub fn calc_crc(initial: u32, data: &[u8]) -> u32 {
    // crc32fast computes !raw(!init, data); LVM's value is raw(initial, data).
    let mut h = crc32fast::Hasher::new_with_initial(!initial);
    h.update(data);
    !h.finalize()
}

/// A `disk_locn`: a byte range on the PV (offsets from the start of the PV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLocn {
    /// Byte offset from the start of the PV.
    pub offset: u64,
    /// Size in bytes (0 for a data area means "to the end of the device").
    pub size: u64,
}

/// A parsed PV label: `label_header` plus `pv_header` (and its extension if present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLabel {
    /// Sector (0-3) the label was found in.
    pub sector: u64,
    /// PV UUID in LVM's dashed 6-4-4-4-4-4-6 form.
    pub pv_uuid: String,
    /// Device size recorded in the label, in bytes.
    pub device_size: u64,
    /// Data areas (normally one: the PE area starting at `pe_start`).
    pub data_areas: Vec<DiskLocn>,
    /// Metadata areas (zero, one or two).
    pub metadata_areas: Vec<DiskLocn>,
    /// `pv_header_extension` version (0 when absent, 1 or 2 on lvm2 >= 2.02.110).
    pub ext_version: u32,
    /// `pv_header_extension` flags (bit 0: PV_EXT_USED, the PV belongs to a VG).
    pub ext_flags: u32,
    /// Bootloader areas from the extension.
    pub bootloader_areas: Vec<DiskLocn>,
}

/// Why a sector holding `LABELONE` was not accepted.
fn label_in_sector(sec: &[u8], index: usize) -> Option<Result<PvLabel, FormatError>> {
    const WHAT: &str = "LVM2 label";
    if &sec[0..8] != LABEL_ID {
        return None;
    }
    let sector_xl = le64(sec, 8);
    if sector_xl != index as u64 {
        // lvm2: "label ... found in wrong sector": ignored.
        return None;
    }
    if &sec[24..32] != LVM2_LABEL_TYPE {
        // Another labeller's label (not an LVM2 text-format PV).
        return None;
    }
    let stored = le32(sec, 16);
    let computed = calc_crc(INITIAL_CRC, &sec[20..SECTOR_SIZE]);
    if stored != computed {
        return Some(Err(FormatError::Checksum {
            what: WHAT,
            stored,
            computed,
        }));
    }
    Some(parse_pv_header(sec, index))
}

/// Read a zero-terminated `disk_locn` list starting at `*pos`, never past `sec.len()`.
fn read_locn_list(
    sec: &[u8],
    pos: &mut usize,
    what: &'static str,
    list: &str,
) -> Result<Vec<DiskLocn>, FormatError> {
    let mut out = Vec::new();
    loop {
        if *pos + DISK_LOCN_SIZE > sec.len() {
            return Err(FormatError::invalid(
                what,
                format!("{list} list is not terminated inside the label sector"),
            ));
        }
        let offset = le64(sec, *pos);
        let size = le64(sec, *pos + 8);
        *pos += DISK_LOCN_SIZE;
        if offset == 0 {
            return Ok(out);
        }
        out.push(DiskLocn { offset, size });
    }
}

fn parse_pv_header(sec: &[u8], index: usize) -> Result<PvLabel, FormatError> {
    const WHAT: &str = "LVM2 pv_header";
    let off = le32(sec, 20) as usize;
    if !(LABEL_HEADER_SIZE..=SECTOR_SIZE - PV_HEADER_FIXED - DISK_LOCN_SIZE * 2).contains(&off) {
        return Err(FormatError::invalid(
            WHAT,
            format!("pv_header offset {off} does not fit in the label sector"),
        ));
    }
    let uuid_raw = &sec[off..off + ID_LEN];
    let pv_uuid = format_uuid_bytes(uuid_raw).ok_or_else(|| {
        FormatError::invalid(
            WHAT,
            format!(
                "PV UUID is not 32 LVM id characters: {:?}",
                String::from_utf8_lossy(uuid_raw)
            ),
        )
    })?;
    let device_size = le64(sec, off + ID_LEN);
    let mut pos = off + PV_HEADER_FIXED;
    let data_areas = read_locn_list(sec, &mut pos, WHAT, "data area")?;
    let metadata_areas = read_locn_list(sec, &mut pos, WHAT, "metadata area")?;
    // Optional pv_header_extension (zeros on PVs written before it existed).
    let (mut ext_version, mut ext_flags, mut bootloader_areas) = (0, 0, Vec::new());
    if pos + 8 <= sec.len() {
        ext_version = le32(sec, pos);
        if ext_version != 0 {
            ext_flags = le32(sec, pos + 4);
            let mut p = pos + 8;
            bootloader_areas = read_locn_list(sec, &mut p, WHAT, "bootloader area")?;
        }
    }
    Ok(PvLabel {
        sector: index as u64,
        pv_uuid,
        device_size,
        data_areas,
        metadata_areas,
        ext_version,
        ext_flags,
        bootloader_areas,
    })
}

/// Find and parse the LVM2 label in the first [`LABEL_SCAN_SECTORS`] sectors of `head`
/// (the start of the volume). `Ok(None)` when no sector holds an LVM2 label; an error
/// when a sector holds one whose checksum or `pv_header` is bad.
///
/// Like lvm2, a `LABELONE` sector whose recorded sector number is not its own, or whose
/// type is not `LVM2 001`, is not a label. `head` may be shorter than 2048 bytes: only
/// the whole sectors it holds are scanned.
pub fn find_label(head: &[u8]) -> Result<Option<PvLabel>, FormatError> {
    let mut first_err = None;
    for (index, sec) in head
        .chunks_exact(SECTOR_SIZE)
        .take(LABEL_SCAN_SECTORS)
        .enumerate()
    {
        match label_in_sector(sec, index) {
            None => {}
            Some(Ok(l)) => return Ok(Some(l)),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// Characters LVM allows in an id (`lib/uuid/uuid.c`).
fn valid_id_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'!' || c == b'#'
}

/// Format 32 raw id characters as LVM prints them: 6-4-4-4-4-4-6 with dashes.
/// `None` when `raw` is not 32 valid id characters.
pub fn format_uuid_bytes(raw: &[u8]) -> Option<String> {
    if raw.len() != ID_LEN || !raw.iter().all(|&c| valid_id_char(c)) {
        return None;
    }
    let s = std::str::from_utf8(raw).ok()?;
    let mut out = String::with_capacity(38);
    let mut at = 0;
    for (i, n) in [6usize, 4, 4, 4, 4, 4, 6].into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.push_str(&s[at..at + n]);
        at += n;
    }
    Some(out)
}

/// Normalise an LVM id written with or without dashes (as in the metadata text) to the
/// dashed form. `None` when it is not 32 valid id characters once dashes are removed.
pub fn normalize_uuid(s: &str) -> Option<String> {
    if s.len() > 64 {
        return None;
    }
    let raw: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
    format_uuid_bytes(&raw)
}

/// One `raw_locn` of a metadata area header: where a copy of the metadata text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLocn {
    /// Offset of the text from the start of the metadata area, in bytes.
    pub offset: u64,
    /// Size of the text in bytes (it includes the terminating NUL).
    pub size: u64,
    /// [`calc_crc`] of the text.
    pub checksum: u32,
    /// Flags ([`RAW_LOCN_IGNORED`]).
    pub flags: u32,
}

impl RawLocn {
    /// Whether this copy is marked ignored (`pvchange --metadataignore y`).
    pub fn ignored(&self) -> bool {
        self.flags & RAW_LOCN_IGNORED != 0
    }

    /// The one or two byte ranges of the text, relative to the start of the metadata area
    /// of `mda_size` bytes: the text runs from `offset` and, when it passes the end of the
    /// area, continues just after the header (the circular buffer wraps).
    pub fn text_ranges(&self, mda_size: u64) -> Result<[(u64, u64); 2], FormatError> {
        const WHAT: &str = "LVM2 raw_locn";
        let hdr = MDA_HEADER_SIZE as u64;
        if mda_size <= hdr || self.offset < hdr || self.offset >= mda_size {
            return Err(FormatError::invalid(
                WHAT,
                format!(
                    "metadata offset {} outside the metadata area ({} bytes)",
                    self.offset, mda_size
                ),
            ));
        }
        if self.size == 0 {
            return Err(FormatError::invalid(WHAT, "metadata size is 0"));
        }
        let end = self.offset.checked_add(self.size).ok_or_else(|| {
            FormatError::invalid(WHAT, format!("metadata size {} overflows", self.size))
        })?;
        if end <= mda_size {
            return Ok([(self.offset, self.size), (hdr, 0)]);
        }
        let wrap = end - mda_size;
        // The wrapped part runs from just after the header and must not reach the start.
        if wrap > self.offset - hdr {
            return Err(FormatError::invalid(
                WHAT,
                format!(
                    "metadata of {} bytes at {} does not fit in the {}-byte circular buffer",
                    self.size, self.offset, mda_size
                ),
            ));
        }
        Ok([(self.offset, self.size - wrap), (hdr, wrap)])
    }
}

/// A parsed metadata area header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdaHeader {
    /// Checksum of the header (verified).
    pub checksum: u32,
    /// Header version (always [`FMTT_VERSION`]).
    pub version: u32,
    /// Byte offset of the metadata area from the start of the PV.
    pub start: u64,
    /// Size of the metadata area in bytes (header included).
    pub size: u64,
    /// The `raw_locn` slots: slot 0 is the committed metadata; slot 1, if present, is
    /// precommitted metadata (normally absent on disk).
    pub raw_locns: Vec<RawLocn>,
}

impl MdaHeader {
    /// The committed metadata location (slot 0), if the area holds metadata at all.
    pub fn committed(&self) -> Option<RawLocn> {
        self.raw_locns
            .first()
            .copied()
            .filter(|r| r.offset != 0 || r.size != 0)
    }
}

/// Parse a metadata area header from its first sector. `expected_start` is the area's
/// offset on the PV from the label; lvm2 rejects headers recording another one.
pub fn parse_mda_header(sector: &[u8], expected_start: u64) -> Result<MdaHeader, FormatError> {
    const WHAT: &str = "LVM2 metadata area header";
    FormatError::need(WHAT, sector, MDA_HEADER_SIZE)?;
    let sector = &sector[..MDA_HEADER_SIZE];
    let stored = le32(sector, 0);
    let computed = calc_crc(INITIAL_CRC, &sector[4..]);
    if stored != computed {
        return Err(FormatError::Checksum {
            what: WHAT,
            stored,
            computed,
        });
    }
    if &sector[4..20] != FMTT_MAGIC {
        return Err(FormatError::invalid(WHAT, "wrong magic"));
    }
    let version = le32(sector, 20);
    if version != FMTT_VERSION {
        return Err(FormatError::invalid(
            WHAT,
            format!("unsupported version {version}"),
        ));
    }
    let start = le64(sector, 24);
    if start != expected_start {
        return Err(FormatError::invalid(
            WHAT,
            format!("records start {start}, but the label puts it at {expected_start}"),
        ));
    }
    let size = le64(sector, 32);
    let mut raw_locns = Vec::new();
    let mut pos = MDA_HEADER_FIXED;
    // Zero-terminated (by offset), bounded by the sector.
    while pos + RAW_LOCN_SIZE <= MDA_HEADER_SIZE {
        let r = RawLocn {
            offset: le64(sector, pos),
            size: le64(sector, pos + 8),
            checksum: le32(sector, pos + 16),
            flags: le32(sector, pos + 20),
        };
        if r.offset == 0 {
            break;
        }
        raw_locns.push(r);
        pos += RAW_LOCN_SIZE;
    }
    Ok(MdaHeader {
        checksum: stored,
        version,
        start,
        size,
        raw_locns,
    })
}

/// Verify the checksum of metadata text read in one or two parts (see
/// [`RawLocn::text_ranges`]).
pub fn check_text_checksum(locn: &RawLocn, parts: &[&[u8]]) -> Result<(), FormatError> {
    let computed = parts
        .iter()
        .fold(INITIAL_CRC, |crc, part| calc_crc(crc, part));
    if computed != locn.checksum {
        return Err(FormatError::Checksum {
            what: "LVM2 metadata text",
            stored: locn.checksum,
            computed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::lvm::samples;
    use proptest::prelude::*;

    fn pv_uuids(dir: &str) -> Vec<String> {
        samples::report(&format!("{dir}/pvs.json"), "pv")
            .iter()
            .map(|r| r["pv_uuid"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn crc_matches_real_label_and_known_vectors() {
        let pvs = samples::pvs("two_pv");
        let head = pvs[0].region(0);
        let sec = &head[512..1024];
        // The CRC lvm2 2.03.16 wrote into a real label, over offset_xl..end of sector.
        assert_eq!(calc_crc(INITIAL_CRC, &sec[20..]), le32(sec, 16));
        // Chaining is the same as one pass.
        let (a, b) = sec.split_at(100);
        assert_eq!(
            calc_crc(calc_crc(INITIAL_CRC, a), b),
            calc_crc(INITIAL_CRC, sec)
        );
        // No data: the initial value comes back unchanged (no final inversion).
        assert_eq!(calc_crc(INITIAL_CRC, &[]), INITIAL_CRC);
        // With an all-ones start and a final inversion it is the ordinary CRC-32.
        assert_eq!(!calc_crc(!0, b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn real_labels() {
        let pvs = samples::pvs("two_pv");
        let uuids = pv_uuids("two_pv");
        let l0 = find_label(pvs[0].region(0)).unwrap().unwrap();
        assert_eq!(l0.sector, 1);
        assert_eq!(l0.pv_uuid, uuids[0]);
        assert_eq!(l0.device_size, 128 << 20);
        assert_eq!(
            l0.data_areas,
            [DiskLocn {
                offset: 1 << 20,
                size: 0
            }]
        );
        assert_eq!(
            l0.metadata_areas,
            [DiskLocn {
                offset: 4096,
                size: (1 << 20) - 4096
            }]
        );
        assert_eq!((l0.ext_version, l0.ext_flags), (2, 1));
        assert!(l0.bootloader_areas.is_empty());

        let l1 = find_label(pvs[1].region(0)).unwrap().unwrap();
        assert_eq!(l1.pv_uuid, uuids[1]);
        assert_eq!(l1.metadata_areas.len(), 2);
        assert_eq!(l1.metadata_areas[0].offset, 4096);
        // The second copy sits at the end of the device.
        let m1 = l1.metadata_areas[1];
        assert!(m1.offset + m1.size <= 128 << 20 && m1.offset > 100 << 20);

        let orphan = samples::pvs("orphan");
        let lo = find_label(orphan[0].region(0)).unwrap().unwrap();
        assert_eq!(lo.pv_uuid, pv_uuids("orphan")[0]);
        assert_eq!(lo.ext_flags, 0, "an orphan PV is not in use");
    }

    #[test]
    fn real_mda_headers_and_text_checksums() {
        let pvs = samples::pvs("two_pv");
        let head = pvs[0].region(0);
        let h = parse_mda_header(&head[4096..4608], 4096).unwrap();
        assert_eq!(h.size, (1 << 20) - 4096);
        let r = h.committed().unwrap();
        assert!(!r.ignored());
        let [(off, len), (_, wrap)] = r.text_ranges(h.size).unwrap();
        assert_eq!(wrap, 0);
        let text = pvs[0].region(4096 + off);
        assert_eq!(text.len() as u64, len);
        assert_eq!(*text.last().unwrap(), 0, "the stored text ends in NUL");
        check_text_checksum(&r, &[text]).unwrap();
        assert!(check_text_checksum(&r, &[&text[1..]]).is_err());
        // The header checks where it claims to be.
        assert!(parse_mda_header(&head[4096..4608], 8192).is_err());

        // Wrapped text: two parts, checksum chained over both.
        let w = samples::pvs("wrap");
        let img = w[0].region(0);
        let h = parse_mda_header(&img[4096..4608], 4096).unwrap();
        let r = h.committed().unwrap();
        assert!(r.offset + r.size > h.size, "the sample wraps");
        let [(o1, l1), (o2, l2)] = r.text_ranges(h.size).unwrap();
        assert_eq!((o1 + l1, o2), (h.size, 512));
        assert_eq!(l1 + l2, r.size);
        let p1 = &img[(4096 + o1) as usize..(4096 + o1 + l1) as usize];
        let p2 = &img[(4096 + o2) as usize..(4096 + o2 + l2) as usize];
        check_text_checksum(&r, &[p1, p2]).unwrap();
    }

    #[test]
    fn damaged_or_misplaced_labels() {
        let pvs = samples::pvs("two_pv");
        let mut head = pvs[0].region(0)[..2048].to_vec();
        // A flipped byte in the pv_header breaks the label CRC.
        head[512 + 40] ^= 1;
        assert!(matches!(
            find_label(&head),
            Err(FormatError::Checksum { .. })
        ));
        // A label copied to sector 2 still names sector 1: not a label there.
        let good = &pvs[0].region(0)[512..1024];
        let mut moved = vec![0u8; 2048];
        moved[1024..1536].copy_from_slice(good);
        assert_eq!(find_label(&moved).unwrap(), None);
        // Nothing but zeros, or too little data.
        assert_eq!(find_label(&[0u8; 2048]).unwrap(), None);
        assert_eq!(find_label(&good[..100]).unwrap(), None);
        // A label whose metadata list never ends inside the sector.
        let mut endless = vec![0u8; 1024];
        endless[512..1024].copy_from_slice(good);
        for i in (512 + 72..1024).step_by(8) {
            endless[i] = 1;
        }
        let crc = calc_crc(INITIAL_CRC, &endless[512 + 20..]);
        endless[512 + 16..512 + 20].copy_from_slice(&crc.to_le_bytes());
        let e = find_label(&endless).unwrap_err();
        assert!(e.to_string().contains("not terminated"), "{e}");
    }

    #[test]
    fn uuid_formatting() {
        assert_eq!(
            format_uuid_bytes(b"YbgG0lLkUBMgsAu8O70lKPZLGL2EF1Rb").unwrap(),
            "YbgG0l-LkUB-MgsA-u8O7-0lKP-ZLGL-2EF1Rb"
        );
        assert_eq!(
            normalize_uuid("YbgG0l-LkUB-MgsA-u8O7-0lKP-ZLGL-2EF1Rb").unwrap(),
            "YbgG0l-LkUB-MgsA-u8O7-0lKP-ZLGL-2EF1Rb"
        );
        assert_eq!(
            normalize_uuid("YbgG0lLkUBMgsAu8O70lKPZLGL2EF1Rb").unwrap(),
            "YbgG0l-LkUB-MgsA-u8O7-0lKP-ZLGL-2EF1Rb"
        );
        assert_eq!(format_uuid_bytes(b"short"), None);
        assert_eq!(format_uuid_bytes(&[0u8; 32]), None);
        assert_eq!(
            normalize_uuid("YbgG0l-LkUB-MgsA-u8O7-0lKP-ZLGL-2EF1R"),
            None
        );
    }

    #[test]
    fn text_ranges_are_checked() {
        let r = |offset, size| RawLocn {
            offset,
            size,
            checksum: 0,
            flags: 0,
        };
        assert_eq!(
            r(512, 100).text_ranges(4096).unwrap(),
            [(512, 100), (512, 0)]
        );
        assert_eq!(
            r(4000, 200).text_ranges(4096).unwrap(),
            [(4000, 96), (512, 104)]
        );
        assert!(r(100, 10).text_ranges(4096).is_err(), "inside the header");
        assert!(r(5000, 10).text_ranges(4096).is_err(), "beyond the area");
        assert!(r(1024, 0).text_ranges(4096).is_err(), "empty");
        assert!(r(1024, 4000).text_ranges(4096).is_err(), "overlaps itself");
        assert!(r(1024, u64::MAX).text_ranges(4096).is_err(), "overflow");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_label_parser(
            mut b in proptest::collection::vec(any::<u8>(), 0..2200),
            sector in 0usize..4,
            seed in any::<bool>(),
        ) {
            // Half the time make it look like a label so the deeper code runs.
            if seed && b.len() >= (sector + 1) * 512 {
                let s = sector * 512;
                b[s..s + 8].copy_from_slice(LABEL_ID);
                b[s + 8..s + 16].copy_from_slice(&(sector as u64).to_le_bytes());
                b[s + 24..s + 32].copy_from_slice(LVM2_LABEL_TYPE);
                let crc = calc_crc(INITIAL_CRC, &b[s + 20..s + 512]);
                b[s + 16..s + 20].copy_from_slice(&crc.to_le_bytes());
            }
            let _ = find_label(&b);
        }

        #[test]
        fn random_bytes_never_panic_the_mda_parser(
            mut b in proptest::collection::vec(any::<u8>(), 0..600),
            fix in any::<bool>(),
            size in any::<u64>(),
        ) {
            if fix && b.len() >= 512 {
                b[4..20].copy_from_slice(FMTT_MAGIC);
                b[20..24].copy_from_slice(&1u32.to_le_bytes());
                b[24..32].copy_from_slice(&4096u64.to_le_bytes());
                let crc = calc_crc(INITIAL_CRC, &b[4..512]);
                b[0..4].copy_from_slice(&crc.to_le_bytes());
            }
            if let Ok(h) = parse_mda_header(&b, 4096) {
                for r in &h.raw_locns {
                    let _ = r.text_ranges(h.size);
                    let _ = r.text_ranges(size);
                }
            }
        }
    }
}
