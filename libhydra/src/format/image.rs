//! Disk image containers: magic detection, VMDK descriptors, VHD footers.
//!
//! Pure: [`detect`] looks at the first bytes of a file and its last 512 bytes and
//! says which container it is; the parsers below give the facts a caller needs
//! (virtual size, parent/backing file, extent lines). No file is opened here:
//! `probe::disk::open_disk` does the I/O and builds the readers.
//!
//! Decisions, each with its reason:
//! - **Magic first.** qcow ("QFI\xfb"), VHDX ("vhdxfile"), hosted sparse VMDK
//!   ("KDMV"), ESXi COWD ("COWD") and SESparse (0xcafebabe) are recognised by the
//!   bytes at offset 0; then VHD; then VMDK text descriptors; raw otherwise.
//! - **VHD.** A footer ("conectix") in the last 512 bytes decides: disk type 2 =
//!   fixed, 3 = dynamic, 4 = differencing. A dynamic/differencing VHD whose last
//!   512 bytes are not a valid footer (truncated copy) is still recognised from
//!   the footer copy at offset 0, with a warning. **A footer whose checksum does
//!   not match is not a VHD**: the file is raw (its last 512 bytes stay part of
//!   the disk) and a warning says so. Reason: the footer is the only structure of
//!   a fixed VHD; with a wrong checksum nothing tells it from guest data that
//!   happens to contain the string, and qemu's vpc driver refuses it as well.
//! - **Descriptors.** A file is a VMDK descriptor only when it is smaller than
//!   [`DESCRIPTOR_MAX`], looks like one ([`looks_like_descriptor`]) and its text
//!   parses ([`parse_vmdk_descriptor`]). Text that looks like a descriptor but does
//!   not parse is raw with a warning naming the line at fault. The text must be
//!   UTF-8 (VMware writes `encoding="UTF-8"`); NUL padding at the end is ignored.
//! - **Sizes** in descriptors are 512-byte sectors, whatever the disk's logical
//!   sector size.

use crate::error::FormatError;
use crate::format::{be16, be32, be64, le16, le32, le64, uuid_be};
use crate::layout::ImageFormat;

/// How many bytes from the start of a large file [`detect`] wants.
pub const HEAD_LEN: usize = 4096;
/// How many bytes from the end of the file [`detect`] wants (one VHD footer).
pub const TAIL_LEN: usize = 512;
/// Files strictly smaller than this may be VMDK text descriptors; pass the whole
/// file as `head` to [`detect`] for them.
pub const DESCRIPTOR_MAX: usize = 64 * 1024;
/// The unit of VMDK descriptor sizes and sparse VMDK capacities.
pub const SECTOR: u64 = 512;
/// Size of a VHD footer.
pub const VHD_FOOTER_LEN: usize = 512;

const QCOW_MAGIC: &[u8] = b"QFI\xfb";
const VHDX_MAGIC: &[u8] = b"vhdxfile";
const KDMV_MAGIC: &[u8] = b"KDMV";
const COWD_MAGIC: &[u8] = b"COWD";
const SESPARSE_MAGIC: u64 = 0xcafe_babe;
const VHD_COOKIE: &[u8] = b"conectix";
const VHD_DYN_COOKIE: &[u8] = b"cxsparse";
/// `parentCID` value meaning "no parent".
const NO_PARENT_CID: &str = "ffffffff";

// ---------------------------------------------------------------------------
// qcow / qcow2

/// The facts of a qcow (v1) or qcow2 (v2, v3) header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qcow2Header {
    /// Header version: 1 (qcow), 2 or 3 (qcow2).
    pub version: u32,
    /// Virtual disk size in bytes (offset 24, big-endian).
    pub size: u64,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// The image is encrypted (crypt_method != 0).
    pub encrypted: bool,
    /// The image names a backing file (it is an overlay and needs it).
    pub has_backing_file: bool,
    /// The backing file name, when it lies inside the bytes given.
    pub backing_file: Option<String>,
    /// qcow2 v3 incompatible feature "external data file": guest data lives in another file.
    pub external_data_file: bool,
    /// qcow2 v3 incompatible feature "corrupt".
    pub corrupt: bool,
}

/// Parse a qcow/qcow2 header from the first bytes of a file.
pub fn parse_qcow2_header(b: &[u8]) -> Result<Qcow2Header, FormatError> {
    const WHAT: &str = "qcow2 header";
    FormatError::need(WHAT, b, 32)?;
    if &b[0..4] != QCOW_MAGIC {
        return Err(FormatError::invalid(WHAT, "no QFI\\xfb magic"));
    }
    let version = be32(b, 4);
    let backing_offset = be64(b, 8);
    let backing_size = be32(b, 16);
    let size = be64(b, 24);
    let (cluster_bits, crypt) = if version == 1 {
        FormatError::need(WHAT, b, 48)?;
        (u32::from(b[32]), be32(b, 36))
    } else {
        FormatError::need(WHAT, b, 72)?;
        (be32(b, 20), be32(b, 32))
    };
    let incompatible = if version >= 3 && b.len() >= 80 {
        be64(b, 72)
    } else {
        0
    };
    let backing_file = if backing_offset != 0 && backing_size > 0 && backing_size <= 1023 {
        let start = usize::try_from(backing_offset).ok();
        start
            .and_then(|s| Some(s..s.checked_add(backing_size as usize)?))
            .and_then(|r| b.get(r))
            .map(|n| String::from_utf8_lossy(n).into_owned())
    } else {
        None
    };
    Ok(Qcow2Header {
        version,
        size,
        cluster_bits,
        encrypted: crypt != 0,
        has_backing_file: backing_offset != 0,
        backing_file,
        external_data_file: incompatible & 0b100 != 0,
        corrupt: incompatible & 0b10 != 0,
    })
}

// ---------------------------------------------------------------------------
// VHDX

/// The facts of a VHDX file identifier (the virtual size needs the metadata region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdxInfo {
    /// The creator string of the file type identifier (UTF-16LE at offset 8).
    pub creator: Option<String>,
}

/// Parse a VHDX file type identifier.
pub fn parse_vhdx_identifier(b: &[u8]) -> Result<VhdxInfo, FormatError> {
    const WHAT: &str = "VHDX file identifier";
    FormatError::need(WHAT, b, 8)?;
    if &b[0..8] != VHDX_MAGIC {
        return Err(FormatError::invalid(WHAT, "no vhdxfile signature"));
    }
    let end = b.len().min(8 + 512);
    let units: Vec<u16> = b[8..end]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let creator = String::from_utf16(&units).ok().filter(|s| !s.is_empty());
    Ok(VhdxInfo { creator })
}

// ---------------------------------------------------------------------------
// Hosted sparse VMDK (KDMV) and ESXi sparse (COWD, SESparse)

/// The facts of a hosted sparse VMDK header ("KDMV", SparseExtentHeader, little-endian).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseVmdkHeader {
    /// Header version (1, 2 or 3; 3 for streamOptimized).
    pub version: u32,
    /// Flags (bit 16 compressed grains, bit 17 markers).
    pub flags: u32,
    /// Capacity in 512-byte sectors (offset 12).
    pub capacity_sectors: u64,
    /// Grain size in sectors.
    pub grain_sectors: u64,
    /// Sector of the embedded descriptor (0 = none).
    pub descriptor_offset_sectors: u64,
    /// Size of the embedded descriptor area in sectors.
    pub descriptor_size_sectors: u64,
    /// compressAlgorithm (1 = deflate).
    pub compress_algorithm: u16,
}

impl SparseVmdkHeader {
    /// Compressed grains (flags bit 16 or a compression algorithm): streamOptimized.
    pub fn stream_optimized(&self) -> bool {
        self.flags & (1 << 16) != 0 || self.compress_algorithm != 0
    }

    /// Capacity in bytes (saturating).
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_sectors.saturating_mul(SECTOR)
    }

    /// Byte range of the embedded descriptor, if there is one of at most
    /// [`DESCRIPTOR_MAX`] bytes inside a file of `file_size` bytes.
    pub fn embedded_descriptor(&self, file_size: u64) -> Option<(u64, usize)> {
        if self.descriptor_offset_sectors == 0 || self.descriptor_size_sectors == 0 {
            return None;
        }
        let off = self.descriptor_offset_sectors.checked_mul(SECTOR)?;
        let len = self.descriptor_size_sectors.checked_mul(SECTOR)?;
        if len > DESCRIPTOR_MAX as u64 || off.checked_add(len)? > file_size {
            return None;
        }
        Some((off, len as usize))
    }
}

/// Parse a hosted sparse VMDK header ("KDMV").
pub fn parse_sparse_vmdk_header(b: &[u8]) -> Result<SparseVmdkHeader, FormatError> {
    const WHAT: &str = "sparse VMDK header";
    FormatError::need(WHAT, b, 79)?;
    if &b[0..4] != KDMV_MAGIC {
        return Err(FormatError::invalid(WHAT, "no KDMV magic"));
    }
    Ok(SparseVmdkHeader {
        version: le32(b, 4),
        flags: le32(b, 8),
        capacity_sectors: le64(b, 12),
        grain_sectors: le64(b, 20),
        descriptor_offset_sectors: le64(b, 28),
        descriptor_size_sectors: le64(b, 36),
        compress_algorithm: le16(b, 77),
    })
}

/// Which ESXi sparse format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsxSparseKind {
    /// "COWD": vmfsSparse / redo-log deltas.
    Cowd,
    /// SESparse (magic 0xcafebabe): space-efficient sparse deltas.
    SeSparse,
}

impl EsxSparseKind {
    /// The usual name.
    pub fn name(self) -> &'static str {
        match self {
            EsxSparseKind::Cowd => "COWD (vmfsSparse)",
            EsxSparseKind::SeSparse => "SESparse",
        }
    }
}

/// The facts of an ESXi sparse extent header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsxSparseHeader {
    /// COWD or SESparse.
    pub kind: EsxSparseKind,
    /// Header version as stored.
    pub version: u64,
    /// Capacity in 512-byte sectors.
    pub capacity_sectors: u64,
}

impl EsxSparseHeader {
    /// Capacity in bytes (saturating).
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_sectors.saturating_mul(SECTOR)
    }
}

/// Parse an ESXi sparse header: COWD (u32 fields, capacity at 12) or SESparse
/// (u64 fields, capacity at 16), little-endian.
pub fn parse_esx_sparse_header(b: &[u8]) -> Result<EsxSparseHeader, FormatError> {
    const WHAT: &str = "ESXi sparse header";
    FormatError::need(WHAT, b, 24)?;
    if &b[0..4] == COWD_MAGIC {
        Ok(EsxSparseHeader {
            kind: EsxSparseKind::Cowd,
            version: u64::from(le32(b, 4)),
            capacity_sectors: u64::from(le32(b, 12)),
        })
    } else if le64(b, 0) == SESPARSE_MAGIC {
        Ok(EsxSparseHeader {
            kind: EsxSparseKind::SeSparse,
            version: le64(b, 8),
            capacity_sectors: le64(b, 16),
        })
    } else {
        Err(FormatError::invalid(WHAT, "no COWD or SESparse magic"))
    }
}

// ---------------------------------------------------------------------------
// VHD

/// VHD disk type (footer offset 60).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VhdDiskType {
    /// 2: the data precedes the footer.
    Fixed,
    /// 3: sparse, block allocation table.
    Dynamic,
    /// 4: sparse delta over a parent.
    Differencing,
    /// Anything else (0 none, 1/5/6 reserved).
    Other(u32),
}

impl VhdDiskType {
    fn from_u32(v: u32) -> Self {
        match v {
            2 => VhdDiskType::Fixed,
            3 => VhdDiskType::Dynamic,
            4 => VhdDiskType::Differencing,
            n => VhdDiskType::Other(n),
        }
    }
}

/// VHD CHS geometry (footer offset 56).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhdGeometry {
    /// Cylinders.
    pub cylinders: u16,
    /// Heads.
    pub heads: u8,
    /// Sectors per track.
    pub sectors_per_track: u8,
}

impl VhdGeometry {
    /// C*H*S*512 bytes (what Virtual PC shows as the disk size).
    pub fn size(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors_per_track) * 512
    }
}

/// A VHD hard disk footer (big-endian), validated (cookie and checksum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdFooter {
    /// Features (bit 1 is always set; bit 0 = temporary).
    pub features: u32,
    /// File format version (0x00010000).
    pub format_version: u32,
    /// Offset of the dynamic header; all ones for fixed disks.
    pub data_offset: u64,
    /// Seconds since 2000-01-01 UTC.
    pub timestamp: u32,
    /// Creator application ("vpc ", "qemu", "win ", ...).
    pub creator_app: [u8; 4],
    /// Creator version.
    pub creator_version: u32,
    /// Creator host OS ("Wi2k", "Mac ").
    pub creator_host_os: [u8; 4],
    /// Size at creation, bytes.
    pub original_size: u64,
    /// Current virtual size, bytes (what Hyper-V/Azure show).
    pub current_size: u64,
    /// CHS geometry.
    pub geometry: VhdGeometry,
    /// Disk type.
    pub disk_type: VhdDiskType,
    /// The stored checksum (verified).
    pub checksum: u32,
    /// Unique id, big-endian UUID form.
    pub uuid: String,
    /// The saved-state flag.
    pub saved_state: bool,
}

/// The VHD checksum of a footer: the one's complement of the sum of all its
/// bytes, with the checksum field (offset 64..68) counted as zero.
pub fn vhd_checksum(footer: &[u8]) -> u32 {
    let sum = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .fold(0u32, |s, (_, &b)| s.wrapping_add(u32::from(b)));
    !sum
}

/// Parse and validate a 512-byte VHD footer (cookie "conectix" and checksum).
pub fn parse_vhd_footer(b: &[u8]) -> Result<VhdFooter, FormatError> {
    const WHAT: &str = "VHD footer";
    FormatError::need(WHAT, b, VHD_FOOTER_LEN)?;
    let b = &b[..VHD_FOOTER_LEN];
    if &b[0..8] != VHD_COOKIE {
        return Err(FormatError::invalid(WHAT, "no conectix cookie"));
    }
    let stored = be32(b, 64);
    let computed = vhd_checksum(b);
    if stored != computed {
        return Err(FormatError::Checksum {
            what: WHAT,
            stored,
            computed,
        });
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&b[68..84]);
    Ok(VhdFooter {
        features: be32(b, 8),
        format_version: be32(b, 12),
        data_offset: be64(b, 16),
        timestamp: be32(b, 24),
        creator_app: b[28..32].try_into().expect("4 bytes"),
        creator_version: be32(b, 32),
        creator_host_os: b[36..40].try_into().expect("4 bytes"),
        original_size: be64(b, 40),
        current_size: be64(b, 48),
        geometry: VhdGeometry {
            cylinders: be16(b, 56),
            heads: b[58],
            sectors_per_track: b[59],
        },
        disk_type: VhdDiskType::from_u32(be32(b, 60)),
        checksum: stored,
        uuid: uuid_be(&uuid),
        saved_state: b[84] != 0,
    })
}

/// The parent's name from a differencing VHD's dynamic header (at `data_offset`
/// in `head`): "cxsparse" cookie, parent unicode name (UTF-16BE, 512 bytes at 64).
fn vhd_parent_name(head: &[u8], data_offset: u64) -> Option<String> {
    let off = usize::try_from(data_offset).ok()?;
    let dh = head.get(off..off.checked_add(1024)?)?;
    if &dh[0..8] != VHD_DYN_COOKIE {
        return None;
    }
    let units: Vec<u16> = dh[64..576]
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16(&units).ok().filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------
// VMDK text descriptors

/// Access of a VMDK extent line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtentAccess {
    /// `RW`.
    ReadWrite,
    /// `RDONLY`.
    ReadOnly,
    /// `NOACCESS`: the bytes must not be read.
    NoAccess,
}

/// Type of a VMDK extent line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmdkExtentKind {
    /// `FLAT`: raw bytes in a file at an offset.
    Flat,
    /// `ZERO`: reads as zeros, no file.
    Zero,
    /// `VMFS`: a flat file on a VMFS datastore.
    Vmfs,
    /// `VMFSRAW`: raw device (read as flat).
    VmfsRaw,
    /// `VMFSRDM`: raw device map (read as flat: the file or device named holds the LUN bytes).
    VmfsRdm,
    /// `SPARSE`: a hosted sparse ("KDMV") extent.
    Sparse,
    /// `VMFSSPARSE`: an ESXi COWD delta.
    VmfsSparse,
    /// `SESPARSE`: an ESXi SESparse delta.
    SeSparse,
    /// `VSANSPARSE`: a vSAN delta object.
    VsanSparse,
}

impl VmdkExtentKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "FLAT" => VmdkExtentKind::Flat,
            "ZERO" => VmdkExtentKind::Zero,
            "VMFS" => VmdkExtentKind::Vmfs,
            "VMFSRAW" => VmdkExtentKind::VmfsRaw,
            "VMFSRDM" => VmdkExtentKind::VmfsRdm,
            "SPARSE" => VmdkExtentKind::Sparse,
            "VMFSSPARSE" => VmdkExtentKind::VmfsSparse,
            "SESPARSE" => VmdkExtentKind::SeSparse,
            "VSANSPARSE" => VmdkExtentKind::VsanSparse,
            _ => return None,
        })
    }

    /// The keyword as written in descriptors.
    pub fn name(self) -> &'static str {
        match self {
            VmdkExtentKind::Flat => "FLAT",
            VmdkExtentKind::Zero => "ZERO",
            VmdkExtentKind::Vmfs => "VMFS",
            VmdkExtentKind::VmfsRaw => "VMFSRAW",
            VmdkExtentKind::VmfsRdm => "VMFSRDM",
            VmdkExtentKind::Sparse => "SPARSE",
            VmdkExtentKind::VmfsSparse => "VMFSSPARSE",
            VmdkExtentKind::SeSparse => "SESPARSE",
            VmdkExtentKind::VsanSparse => "VSANSPARSE",
        }
    }

    /// Bytes stored as-is in a file at an offset (FLAT, VMFS, VMFSRAW, VMFSRDM).
    pub fn is_flat(self) -> bool {
        matches!(
            self,
            VmdkExtentKind::Flat
                | VmdkExtentKind::Vmfs
                | VmdkExtentKind::VmfsRaw
                | VmdkExtentKind::VmfsRdm
        )
    }

    /// A sparse extent of any kind (Hydra does not read these itself).
    pub fn is_sparse(self) -> bool {
        matches!(
            self,
            VmdkExtentKind::Sparse
                | VmdkExtentKind::VmfsSparse
                | VmdkExtentKind::SeSparse
                | VmdkExtentKind::VsanSparse
        )
    }
}

/// One extent line of a descriptor: `ACCESS SECTORS TYPE ["FILE" [OFFSET]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmdkExtentLine {
    /// 1-based line number in the descriptor.
    pub line: usize,
    /// RW, RDONLY or NOACCESS.
    pub access: ExtentAccess,
    /// Length in 512-byte sectors (> 0).
    pub sectors: u64,
    /// Extent type.
    pub kind: VmdkExtentKind,
    /// The file name as written (quotes removed); `None` for ZERO.
    pub file: Option<String>,
    /// Offset in the file in 512-byte sectors (FLAT-like extents; 0 when absent).
    pub offset_sectors: u64,
}

impl VmdkExtentLine {
    /// Length in bytes (checked at parse time not to overflow).
    pub fn length_bytes(&self) -> u64 {
        self.sectors * SECTOR
    }

    /// Offset in the file in bytes (checked at parse time not to overflow).
    pub fn file_offset_bytes(&self) -> u64 {
        self.offset_sectors * SECTOR
    }
}

impl std::fmt::Display for VmdkExtentLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let access = match self.access {
            ExtentAccess::ReadWrite => "RW",
            ExtentAccess::ReadOnly => "RDONLY",
            ExtentAccess::NoAccess => "NOACCESS",
        };
        write!(f, "{access} {} {}", self.sectors, self.kind.name())?;
        if let Some(name) = &self.file {
            write!(f, " \"{name}\"")?;
            if self.kind.is_flat() {
                write!(f, " {}", self.offset_sectors)?;
            }
        }
        Ok(())
    }
}

/// A parsed VMDK text descriptor (stand-alone file or embedded in a sparse VMDK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmdkDescriptor {
    /// `version=`.
    pub version: Option<String>,
    /// `CID=` (content id, hex).
    pub cid: Option<String>,
    /// `parentCID=` (`ffffffff` = no parent).
    pub parent_cid: Option<String>,
    /// `createType=` (monolithicFlat, twoGbMaxExtentFlat, vmfs, vmfsSparse, ...).
    pub create_type: Option<String>,
    /// `parentFileNameHint=`: the parent of a child delta.
    pub parent_file_name_hint: Option<String>,
    /// Extent lines in order (at least one).
    pub extents: Vec<VmdkExtentLine>,
}

impl VmdkDescriptor {
    /// Sum of the extents, bytes (checked at parse time not to overflow).
    pub fn capacity_bytes(&self) -> u64 {
        self.extents.iter().map(VmdkExtentLine::length_bytes).sum()
    }

    /// A child delta: it names a parent (`parentFileNameHint`, or a `parentCID`
    /// other than `ffffffff`) and is meaningless without it.
    pub fn has_parent(&self) -> bool {
        self.parent_file_name_hint.is_some()
            || self
                .parent_cid
                .as_deref()
                .is_some_and(|c| !c.eq_ignore_ascii_case(NO_PARENT_CID))
    }

    /// The container format the descriptor describes: any ESXi sparse extent →
    /// [`ImageFormat::VmdkEsxSparse`]; any hosted SPARSE extent → sparse (or
    /// streamOptimized by `createType`); all FLAT with `createType` monolithicFlat
    /// and one extent → monolithicFlat; all FLAT with twoGbMaxExtentFlat → that;
    /// any other flat mix (VMFS, VMFSRDM, ZERO, custom, ...) → [`ImageFormat::VmdkOtherFlat`].
    pub fn format(&self) -> ImageFormat {
        let kinds = || self.extents.iter().map(|e| e.kind);
        let ct = self
            .create_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        if kinds().any(|k| {
            matches!(
                k,
                VmdkExtentKind::VmfsSparse | VmdkExtentKind::SeSparse | VmdkExtentKind::VsanSparse
            )
        }) {
            ImageFormat::VmdkEsxSparse
        } else if kinds().any(|k| k == VmdkExtentKind::Sparse) {
            if ct == "streamoptimized" {
                ImageFormat::VmdkStreamOptimized
            } else {
                ImageFormat::VmdkSparse
            }
        } else if ct == "monolithicflat"
            && self.extents.len() == 1
            && self.extents[0].kind == VmdkExtentKind::Flat
        {
            ImageFormat::VmdkMonolithicFlat
        } else if ct == "twogbmaxextentflat" && kinds().all(|k| k == VmdkExtentKind::Flat) {
            ImageFormat::VmdkTwoGbMaxExtentFlat
        } else {
            ImageFormat::VmdkOtherFlat
        }
    }
}

/// Strip trailing NUL padding (embedded descriptors are padded to their area).
fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    &b[..end]
}

/// Whether `bytes` look like a VMDK text descriptor (then they must parse):
/// no NUL byte before the trailing padding, and the first line that is not blank
/// is `# Disk DescriptorFile`, or the first line that is neither blank nor a
/// comment is `version=N` (qemu's probe), or some line sets `createType`.
pub fn looks_like_descriptor(bytes: &[u8]) -> bool {
    let b = trim_nul(bytes);
    if b.is_empty() || b.contains(&0) {
        return false;
    }
    let b = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
    let lines = || {
        b.split(|&c| c == b'\n')
            .map(|l| l.trim_ascii())
            .filter(|l| !l.is_empty())
    };
    let starts_ci = |l: &[u8], p: &[u8]| l.len() >= p.len() && l[..p.len()].eq_ignore_ascii_case(p);
    if lines()
        .next()
        .is_some_and(|l| starts_ci(l, b"# Disk DescriptorFile"))
    {
        return true;
    }
    if lines()
        .find(|l| !l.starts_with(b"#"))
        .is_some_and(|l| starts_ci(l, b"version="))
    {
        return true;
    }
    lines()
        .any(|l| starts_ci(l, b"createType") && l[10..].trim_ascii_start().first() == Some(&b'='))
}

/// Parse a VMDK text descriptor: comment (`#`) and blank lines are skipped, CRLF
/// line ends accepted, `key = "value"` lines give the header fields (the DDB and
/// unknown keys are ignored), extent lines are `ACCESS SECTORS TYPE ["FILE" [OFFSET]]`
/// with a quoted file name (spaces allowed) and offsets and sizes in 512-byte
/// sectors. Anything else, an unknown extent type, a zero or overflowing size, or
/// no extent at all is an error naming the line. Trailing NUL padding is ignored.
pub fn parse_vmdk_descriptor(bytes: &[u8]) -> Result<VmdkDescriptor, FormatError> {
    const WHAT: &str = "VMDK descriptor";
    let b = trim_nul(bytes);
    let text = std::str::from_utf8(b).map_err(|e| {
        FormatError::invalid(
            WHAT,
            format!("not UTF-8 text (bad byte at {})", e.valid_up_to()),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = VmdkDescriptor {
        version: None,
        cid: None,
        parent_cid: None,
        create_type: None,
        parent_file_name_hint: None,
        extents: Vec::new(),
    };
    let mut total: u64 = 0;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains('\0') {
            return Err(FormatError::invalid(WHAT, format!("line {n}: NUL byte")));
        }
        let first = line.split_ascii_whitespace().next().unwrap_or("");
        let access = match first.to_ascii_uppercase().as_str() {
            "RW" => Some(ExtentAccess::ReadWrite),
            "RDONLY" => Some(ExtentAccess::ReadOnly),
            "NOACCESS" => Some(ExtentAccess::NoAccess),
            _ => None,
        };
        if let Some(access) = access {
            let e = parse_extent_line(n, access, line[first.len()..].trim_start())
                .map_err(|detail| FormatError::invalid(WHAT, format!("line {n}: {detail}")))?;
            total = total.checked_add(e.length_bytes()).ok_or_else(|| {
                FormatError::invalid(WHAT, format!("line {n}: total size overflows"))
            })?;
            d.extents.push(e);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(FormatError::invalid(
                WHAT,
                format!("line {n}: neither key=value nor an extent line: {line:?}"),
            ));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
        {
            return Err(FormatError::invalid(
                WHAT,
                format!("line {n}: bad key {key:?}"),
            ));
        }
        let value = unquote(value.trim())
            .ok_or_else(|| FormatError::invalid(WHAT, format!("line {n}: unbalanced quotes")))?
            .to_string();
        let slot = match key.to_ascii_lowercase().as_str() {
            "version" => &mut d.version,
            "cid" => &mut d.cid,
            "parentcid" => &mut d.parent_cid,
            "createtype" => &mut d.create_type,
            "parentfilenamehint" => &mut d.parent_file_name_hint,
            _ => continue,
        };
        *slot = Some(value);
    }
    if d.extents.is_empty() {
        return Err(FormatError::invalid(WHAT, "no extent line"));
    }
    Ok(d)
}

/// `"x"` → `x`; `x` → `x`; a value with one quote only → `None`.
fn unquote(v: &str) -> Option<&str> {
    match (v.starts_with('"'), v.len() >= 2 && v.ends_with('"')) {
        (true, true) => Some(&v[1..v.len() - 1]),
        (false, _) if !v.contains('"') => Some(v),
        _ => None,
    }
}

fn parse_sectors(s: &str, what: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("{what} {s:?} is not a decimal number"));
    }
    s.parse::<u64>()
        .ok()
        .filter(|v| v.checked_mul(SECTOR).is_some())
        .ok_or_else(|| format!("{what} {s} is too large"))
}

/// The part of an extent line after the access keyword.
fn parse_extent_line(
    line: usize,
    access: ExtentAccess,
    rest: &str,
) -> Result<VmdkExtentLine, String> {
    let mut it = rest.splitn(2, |c: char| c.is_ascii_whitespace());
    let size = it.next().unwrap_or("");
    let rest = it.next().unwrap_or("").trim_start();
    let sectors = parse_sectors(size, "size")?;
    if sectors == 0 {
        return Err("size 0".into());
    }
    let mut it = rest.splitn(2, |c: char| c.is_ascii_whitespace());
    let kind_s = it.next().unwrap_or("");
    let rest = it.next().unwrap_or("").trim();
    if kind_s.is_empty() {
        return Err("no extent type".into());
    }
    let kind =
        VmdkExtentKind::parse(kind_s).ok_or_else(|| format!("unknown extent type {kind_s:?}"))?;
    let (file, rest) = if let Some(q) = rest.strip_prefix('"') {
        let end = q
            .find('"')
            .ok_or_else(|| "file name has no closing quote".to_string())?;
        (Some(q[..end].to_string()), q[end + 1..].trim())
    } else {
        (None, rest)
    };
    if file.as_deref() == Some("") {
        return Err("empty file name".into());
    }
    let offset_sectors = if rest.is_empty() {
        0
    } else if file.is_none() {
        return Err(format!("file name must be quoted: {rest:?}"));
    } else if kind.is_flat() {
        let mut parts = rest.split_ascii_whitespace();
        let off = parse_sectors(parts.next().unwrap_or(""), "offset")?;
        if let Some(extra) = parts.next() {
            return Err(format!("unexpected {extra:?} after the offset"));
        }
        off
    } else {
        return Err(format!(
            "unexpected {rest:?} after the file name of a {} extent",
            kind.name()
        ));
    };
    if kind != VmdkExtentKind::Zero && file.is_none() {
        return Err(format!("{} extent without a file name", kind.name()));
    }
    Ok(VmdkExtentLine {
        line,
        access,
        sectors,
        kind,
        file: if kind == VmdkExtentKind::Zero {
            None
        } else {
            file
        },
        offset_sectors,
    })
}

// ---------------------------------------------------------------------------
// Detection

/// What a file holds, with the parsed header of its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// No container: the bytes are the disk.
    Raw,
    /// qcow / qcow2.
    Qcow2(Qcow2Header),
    /// VHDX.
    Vhdx(VhdxInfo),
    /// VHD (fixed, dynamic or differencing: see `footer.disk_type`).
    Vhd {
        /// The valid footer used (from the end, or the copy at offset 0).
        footer: VhdFooter,
        /// Parent name of a differencing VHD, when its dynamic header lies in `head`.
        parent_name: Option<String>,
    },
    /// Hosted sparse VMDK ("KDMV": monolithicSparse, a twoGbMaxExtentSparse extent, streamOptimized).
    VmdkSparse(SparseVmdkHeader),
    /// ESXi sparse extent (COWD or SESparse) opened directly.
    EsxSparse(EsxSparseHeader),
    /// A VMDK text descriptor.
    VmdkDescriptor(VmdkDescriptor),
}

/// The result of [`detect`]: the container and what looked wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The container recognised.
    pub container: Container,
    /// Oddities a migration engineer should know (damaged footer, unparsable descriptor, ...).
    pub warnings: Vec<String>,
}

impl Detection {
    fn raw(warning: Option<String>) -> Self {
        Detection {
            container: Container::Raw,
            warnings: warning.into_iter().collect(),
        }
    }

    /// The [`ImageFormat`] of the container (never `BlockDevice`: that comes from `fstat`).
    pub fn format(&self) -> ImageFormat {
        match &self.container {
            Container::Raw => ImageFormat::Raw,
            Container::Qcow2(_) => ImageFormat::Qcow2,
            Container::Vhdx(_) => ImageFormat::Vhdx,
            Container::Vhd { footer, .. } => match footer.disk_type {
                VhdDiskType::Fixed => ImageFormat::VhdFixed,
                VhdDiskType::Differencing => ImageFormat::VhdDifferencing,
                // `detect` only keeps types 2, 3 and 4.
                VhdDiskType::Dynamic | VhdDiskType::Other(_) => ImageFormat::VhdDynamic,
            },
            Container::VmdkSparse(h) if h.stream_optimized() => ImageFormat::VmdkStreamOptimized,
            Container::VmdkSparse(_) => ImageFormat::VmdkSparse,
            Container::EsxSparse(_) => ImageFormat::VmdkEsxSparse,
            Container::VmdkDescriptor(d) => d.format(),
        }
    }
}

/// Detect the container of a file of `file_size` bytes from `head` (its first
/// [`HEAD_LEN`] bytes, or the whole file when it is smaller than
/// [`DESCRIPTOR_MAX`]) and `tail` (its last [`TAIL_LEN`] bytes, fewer for a
/// smaller file). Never fails: what is not recognised is raw, with a warning
/// when something looked like a container but was damaged.
pub fn detect(head: &[u8], tail: &[u8], file_size: u64) -> Detection {
    let magic = |m: &[u8]| head.starts_with(m);
    if magic(QCOW_MAGIC) {
        return match parse_qcow2_header(head) {
            Ok(h) => Detection {
                container: Container::Qcow2(h),
                warnings: Vec::new(),
            },
            Err(e) => Detection::raw(Some(format!(
                "qcow magic at offset 0 but {e}: treated as raw"
            ))),
        };
    }
    if magic(VHDX_MAGIC) {
        return match parse_vhdx_identifier(head) {
            Ok(v) => Detection {
                container: Container::Vhdx(v),
                warnings: Vec::new(),
            },
            Err(e) => Detection::raw(Some(format!("{e}: treated as raw"))),
        };
    }
    if magic(KDMV_MAGIC) {
        return match parse_sparse_vmdk_header(head) {
            Ok(h) => {
                let mut warnings = Vec::new();
                if !(1..=3).contains(&h.version) {
                    warnings.push(format!(
                        "sparse VMDK header version {} is unknown",
                        h.version
                    ));
                }
                Detection {
                    container: Container::VmdkSparse(h),
                    warnings,
                }
            }
            Err(e) => Detection::raw(Some(format!(
                "KDMV magic at offset 0 but {e}: treated as raw"
            ))),
        };
    }
    if head.len() >= 8 && (magic(COWD_MAGIC) || le64(head, 0) == SESPARSE_MAGIC) {
        return match parse_esx_sparse_header(head) {
            Ok(h) => Detection {
                container: Container::EsxSparse(h),
                warnings: Vec::new(),
            },
            Err(e) => Detection::raw(Some(format!(
                "ESXi sparse magic at offset 0 but {e}: treated as raw"
            ))),
        };
    }
    if let Some(d) = detect_vhd(head, tail, file_size) {
        return d;
    }
    if file_size < DESCRIPTOR_MAX as u64
        && head.len() as u64 == file_size
        && looks_like_descriptor(head)
    {
        return match parse_vmdk_descriptor(head) {
            Ok(d) => Detection {
                container: Container::VmdkDescriptor(d),
                warnings: Vec::new(),
            },
            Err(e) => Detection::raw(Some(format!(
                "looks like a VMDK descriptor but does not parse ({e}): treated as a raw disk of {file_size} bytes"
            ))),
        };
    }
    Detection::raw(None)
}

/// VHD detection; `None` when neither end of the file has the cookie.
fn detect_vhd(head: &[u8], tail: &[u8], file_size: u64) -> Option<Detection> {
    let tail_cookie = tail.len() >= VHD_FOOTER_LEN
        && file_size >= VHD_FOOTER_LEN as u64
        && tail[tail.len() - VHD_FOOTER_LEN..].starts_with(VHD_COOKIE);
    let head_cookie = head.starts_with(VHD_COOKIE);
    if !tail_cookie && !head_cookie {
        if tail.starts_with(VHD_COOKIE) || tail.ends_with(VHD_COOKIE) {
            // Too short for a footer (a truncated VHD): say so, stay raw.
            return Some(Detection::raw(Some(format!(
                "\"conectix\" near the end but the file ({file_size} bytes) is too short for a VHD footer: treated as raw"
            ))));
        }
        return None;
    }
    let with_parent = |footer: VhdFooter, warnings: Vec<String>| {
        let parent_name = if footer.disk_type == VhdDiskType::Differencing {
            vhd_parent_name(head, footer.data_offset)
        } else {
            None
        };
        Detection {
            container: Container::Vhd {
                footer,
                parent_name,
            },
            warnings,
        }
    };
    let sparse = |f: &VhdFooter| {
        matches!(
            f.disk_type,
            VhdDiskType::Dynamic | VhdDiskType::Differencing
        )
    };
    let tail_res = tail_cookie.then(|| parse_vhd_footer(&tail[tail.len() - VHD_FOOTER_LEN..]));
    let head_res = head_cookie.then(|| parse_vhd_footer(head));
    match (tail_res, head_res) {
        (Some(Ok(f)), _) => match f.disk_type {
            VhdDiskType::Fixed | VhdDiskType::Dynamic | VhdDiskType::Differencing => {
                Some(with_parent(f, Vec::new()))
            }
            VhdDiskType::Other(t) => Some(Detection::raw(Some(format!(
                "VHD footer at the end with unknown disk type {t}: treated as raw"
            )))),
        },
        (Some(Err(e)), Some(Ok(h))) if sparse(&h) => Some(with_parent(
            h,
            vec![format!(
                "the footer at the end is damaged ({e}); using the footer copy at offset 0"
            )],
        )),
        (Some(Err(e)), _) => Some(Detection::raw(Some(format!(
            "the last 512 bytes look like a VHD footer but {e}: not a VHD, treated as raw (the footer bytes stay part of the disk)"
        )))),
        (None, Some(Ok(h))) if sparse(&h) => Some(with_parent(
            h,
            vec!["no VHD footer at the end of the file (truncated copy?); using the footer copy at offset 0".into()],
        )),
        (None, Some(Ok(h))) => Some(Detection::raw(Some(format!(
            "a VHD footer of disk type {:?} at offset 0 but none at the end: treated as raw",
            h.disk_type
        )))),
        (None, Some(Err(e))) => Some(Detection::raw(Some(format!(
            "\"conectix\" at offset 0 but {e}: not a VHD, treated as raw"
        )))),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    macro_rules! sample {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../testdata/samples/images/",
                $name
            ))
            .as_slice()
        };
    }

    const MIB: u64 = 1 << 20;

    /// A large file whose head is `head` and whose tail is not a VHD footer.
    fn big(head: &[u8]) -> Detection {
        detect(head, &[0u8; 512], 256 * MIB)
    }

    /// A small file given whole.
    fn whole(b: &[u8]) -> Detection {
        let tail = &b[b.len().saturating_sub(TAIL_LEN)..];
        detect(b, tail, b.len() as u64)
    }

    fn descriptor(d: &Detection) -> &VmdkDescriptor {
        match &d.container {
            Container::VmdkDescriptor(v) => v,
            other => panic!("not a descriptor: {other:?} {:?}", d.warnings),
        }
    }

    #[test]
    fn qemu_samples_are_recognised() {
        let d = big(sample!("qcow2-v3.head"));
        assert_eq!(d.format(), ImageFormat::Qcow2);
        let Container::Qcow2(h) = &d.container else {
            panic!()
        };
        assert_eq!((h.version, h.size, h.cluster_bits), (3, 64 * MIB, 16));
        assert!(!h.has_backing_file && !h.encrypted && !h.external_data_file);

        let Container::Qcow2(h) = big(sample!("qcow2-v2.head")).container else {
            panic!()
        };
        assert_eq!((h.version, h.size), (2, 64 * MIB));

        let Container::Qcow2(h) = big(sample!("qcow2-overlay.head")).container else {
            panic!()
        };
        assert!(h.has_backing_file);
        assert_eq!(h.backing_file.as_deref(), Some("base.qcow2"));
        assert_eq!(h.size, 64 * MIB);

        let d = big(sample!("vhdx.head"));
        assert_eq!(d.format(), ImageFormat::Vhdx);
        let Container::Vhdx(v) = &d.container else {
            panic!()
        };
        assert!(v.creator.as_deref().unwrap().starts_with("QEMU"), "{v:?}");

        let d = big(sample!("vmdk-monolithicSparse.head"));
        assert_eq!(d.format(), ImageFormat::VmdkSparse);
        let Container::VmdkSparse(h) = &d.container else {
            panic!()
        };
        assert_eq!(h.capacity_sectors, 64 * MIB / 512);
        assert_eq!(h.capacity_bytes(), 64 * MIB);
        assert_eq!(h.embedded_descriptor(64 * MIB), Some((512, 20 * 512)));
        assert!(d.warnings.is_empty());

        let d = big(sample!("vmdk-streamOptimized.head"));
        assert_eq!(d.format(), ImageFormat::VmdkStreamOptimized);
        let Container::VmdkSparse(h) = &d.container else {
            panic!()
        };
        assert_eq!((h.version, h.compress_algorithm), (3, 1));
        assert!(h.flags & (1 << 16) != 0);
    }

    #[test]
    fn vhd_samples() {
        let footer = sample!("vhd-fixed.footer");
        let f = parse_vhd_footer(footer).unwrap();
        assert_eq!(f.disk_type, VhdDiskType::Fixed);
        assert_eq!(f.data_offset, u64::MAX);
        assert_eq!(&f.creator_app, b"qemu");
        assert_eq!(f.current_size, 67_125_248);
        assert_eq!(f.geometry.size(), f.current_size);
        assert_eq!(f.features, 2);
        assert_eq!(f.format_version, 0x0001_0000);
        assert_eq!(f.uuid.len(), 36);
        let d = detect(&[0u8; 4096], footer, f.current_size + 512);
        assert_eq!(d.format(), ImageFormat::VhdFixed);
        assert!(d.warnings.is_empty());

        let head = sample!("vhd-dynamic.head");
        let tail = sample!("vhd-dynamic.footer");
        let d = detect(head, tail, 20 * 1024);
        assert_eq!(d.format(), ImageFormat::VhdDynamic, "{:?}", d.warnings);
        let Container::Vhd {
            footer,
            parent_name,
        } = &d.container
        else {
            panic!()
        };
        assert_eq!(footer.data_offset, 512);
        assert_eq!(footer.current_size, 67_125_248);
        assert_eq!(parent_name, &None);
        assert!(d.warnings.is_empty());
    }

    /// A synthetic footer with a valid checksum.
    fn footer(disk_type: u32, current_size: u64, data_offset: u64) -> Vec<u8> {
        let mut f = vec![0u8; 512];
        f[0..8].copy_from_slice(b"conectix");
        f[8..12].copy_from_slice(&2u32.to_be_bytes());
        f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        f[16..24].copy_from_slice(&data_offset.to_be_bytes());
        f[28..32].copy_from_slice(b"win ");
        f[40..48].copy_from_slice(&current_size.to_be_bytes());
        f[48..56].copy_from_slice(&current_size.to_be_bytes());
        f[56..60].copy_from_slice(&[0x04, 0x00, 0x10, 0x3f]);
        f[60..64].copy_from_slice(&disk_type.to_be_bytes());
        f[68..84].copy_from_slice(&[0xab; 16]);
        let c = vhd_checksum(&f);
        f[64..68].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn vhd_checksum_is_ones_complement_of_the_byte_sum() {
        let mut f = vec![0u8; 512];
        f[0] = 1;
        f[511] = 2;
        f[64..68].copy_from_slice(&[0xff; 4]); // ignored
        assert_eq!(vhd_checksum(&f), !3u32);
        assert_eq!(vhd_checksum(&[0u8; 512]), u32::MAX);

        let good = footer(2, 10 * MIB, u64::MAX);
        assert!(parse_vhd_footer(&good).is_ok());
        for (i, byte) in [(40usize, 1u8), (64, 0), (511, 9), (60, 7)] {
            let mut bad = good.clone();
            bad[i] ^= byte.max(1);
            match parse_vhd_footer(&bad) {
                Err(FormatError::Checksum {
                    what,
                    stored,
                    computed,
                }) => {
                    assert_eq!(what, "VHD footer");
                    assert_ne!(stored, computed);
                }
                other => panic!("byte {i}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_vhd_footer(&good[..511]),
            Err(FormatError::Truncated {
                need: 512,
                have: 511,
                ..
            })
        ));
        let mut no_cookie = good.clone();
        no_cookie[0] = b'C';
        assert!(matches!(
            parse_vhd_footer(&no_cookie),
            Err(FormatError::Invalid { .. })
        ));
    }

    #[test]
    fn vhd_detection_table() {
        let data = vec![0x11u8; 4096];
        let fixed = footer(2, 4096, u64::MAX);
        let d = detect(&data, &fixed, 4096 + 512);
        assert_eq!(d.format(), ImageFormat::VhdFixed);

        // Bad checksum on a fixed VHD: not a VHD, raw, with a warning.
        let mut bad = fixed.clone();
        bad[100] = 1;
        let d = detect(&data, &bad, 4096 + 512);
        assert_eq!(d.container, Container::Raw);
        assert!(
            d.warnings[0].contains("checksum mismatch"),
            "{:?}",
            d.warnings
        );
        assert!(d.warnings[0].contains("treated as raw"));

        // Unknown disk type with a good checksum: raw with a warning.
        let d = detect(&data, &footer(5, 4096, u64::MAX), 4096 + 512);
        assert_eq!(d.container, Container::Raw);
        assert!(d.warnings[0].contains("unknown disk type 5"));

        // Dynamic: good footer at both ends.
        let dynf = footer(3, 100 * MIB, 512);
        let mut head = dynf.clone();
        head.resize(4096, 0);
        let d = detect(&head, &dynf, 1 << 20);
        assert_eq!(d.format(), ImageFormat::VhdDynamic);
        assert!(d.warnings.is_empty());
        // Dynamic with a damaged footer at the end: the copy at 0 is used, with a warning.
        let mut dmg = dynf.clone();
        dmg[200] ^= 1;
        let d = detect(&head, &dmg, 1 << 20);
        assert_eq!(d.format(), ImageFormat::VhdDynamic);
        assert!(d.warnings[0].contains("damaged"));
        // Dynamic truncated (no footer at the end).
        let d = detect(&head, &[0u8; 512], 1 << 20);
        assert_eq!(d.format(), ImageFormat::VhdDynamic);
        assert!(d.warnings[0].contains("truncated"));
        // Both copies damaged: raw.
        let mut hd = head.clone();
        hd[200] ^= 1;
        let d = detect(&hd, &dmg, 1 << 20);
        assert_eq!(d.container, Container::Raw);
        assert!(!d.warnings.is_empty());
        // A fixed-type footer at offset 0 only: raw with a warning.
        let mut h2 = fixed.clone();
        h2.resize(4096, 0);
        let d = detect(&h2, &[0u8; 512], 1 << 20);
        assert_eq!(d.container, Container::Raw);
        assert_eq!(d.warnings.len(), 1);
    }

    #[test]
    fn differencing_vhd_names_its_parent() {
        let f = footer(4, 8 * MIB, 512);
        let mut head = f.clone();
        head.resize(4096, 0);
        head[512..520].copy_from_slice(b"cxsparse");
        for (i, u) in "parent disk.vhd".encode_utf16().enumerate() {
            head[512 + 64 + 2 * i..512 + 66 + 2 * i].copy_from_slice(&u.to_be_bytes());
        }
        let d = detect(&head, &f, 1 << 20);
        assert_eq!(d.format(), ImageFormat::VhdDifferencing);
        let Container::Vhd {
            parent_name,
            footer,
        } = &d.container
        else {
            panic!()
        };
        assert_eq!(parent_name.as_deref(), Some("parent disk.vhd"));
        assert_eq!(footer.current_size, 8 * MIB);
        // A dynamic header offset outside the head: no name, no panic.
        let far = footer_with_offset(4, 1 << 40);
        let mut h = far.clone();
        h.resize(4096, 0);
        let Container::Vhd { parent_name, .. } = detect(&h, &far, 1 << 20).container else {
            panic!()
        };
        assert_eq!(parent_name, None);
    }

    fn footer_with_offset(t: u32, off: u64) -> Vec<u8> {
        footer(t, MIB, off)
    }

    #[test]
    fn truncated_files() {
        // Empty and tiny files are raw without warnings.
        for b in [&b""[..], b"x", &[0u8; 511][..], &[0xffu8; 600][..]] {
            let d = whole(b);
            assert_eq!(d.container, Container::Raw);
            assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        }
        // Shorter than a footer but starting with the cookie: raw, with a warning.
        let f = footer(2, 0, u64::MAX);
        for n in [8usize, 100, 511] {
            let d = whole(&f[..n]);
            assert_eq!(d.container, Container::Raw, "{n}");
            assert_eq!(d.warnings.len(), 1, "{n}: {:?}", d.warnings);
        }
        // Exactly one footer: a fixed VHD of 0 bytes.
        assert_eq!(whole(&f).format(), ImageFormat::VhdFixed);
        // Truncated headers behind a magic: raw with a warning naming the format.
        for (b, what) in [
            (&b"QFI\xfb\0\0\0\x03"[..], "qcow"),
            (b"KDMV\x01\0\0\0", "KDMV"),
            (b"COWD\x01\0\0\0", "ESXi"),
            (b"vhdxfil", ""),
        ] {
            let d = whole(b);
            assert_eq!(d.container, Container::Raw);
            if !what.is_empty() {
                assert!(d.warnings[0].contains(what), "{:?}", d.warnings);
            }
        }
        assert_eq!(whole(b"vhdxfile").format(), ImageFormat::Vhdx);
    }

    #[test]
    fn esx_sparse_headers() {
        let mut cowd = vec![0u8; 2048];
        cowd[0..4].copy_from_slice(b"COWD");
        cowd[4..8].copy_from_slice(&1u32.to_le_bytes());
        cowd[8..12].copy_from_slice(&3u32.to_le_bytes());
        cowd[12..16].copy_from_slice(&41_943_040u32.to_le_bytes());
        let d = big(&cowd);
        assert_eq!(d.format(), ImageFormat::VmdkEsxSparse);
        let Container::EsxSparse(h) = &d.container else {
            panic!()
        };
        assert_eq!(
            (h.kind, h.capacity_sectors),
            (EsxSparseKind::Cowd, 41_943_040)
        );
        assert_eq!(h.capacity_bytes(), 20 << 30);

        let mut se = vec![0u8; 2048];
        se[0..8].copy_from_slice(&0xcafe_babeu64.to_le_bytes());
        se[8..16].copy_from_slice(&0x2_0000_0001u64.to_le_bytes());
        se[16..24].copy_from_slice(&(1u64 << 31).to_le_bytes());
        let Container::EsxSparse(h) = big(&se).container else {
            panic!()
        };
        assert_eq!(h.kind, EsxSparseKind::SeSparse);
        assert_eq!(h.version, 0x2_0000_0001);
        assert_eq!(h.capacity_bytes(), 1 << 40);
    }

    #[test]
    fn descriptor_samples() {
        let d = whole(sample!("qemu-monolithicFlat.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkMonolithicFlat);
        let v = descriptor(&d);
        assert_eq!(v.capacity_bytes(), 3 << 30);
        assert_eq!(
            v.extents[0].file.as_deref(),
            Some("monolithicFlat-flat.vmdk")
        );
        assert!(!v.has_parent());
        assert_eq!(v.version.as_deref(), Some("1"));

        let d = whole(sample!("qemu-twoGbMaxExtentFlat.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkTwoGbMaxExtentFlat);
        let v = descriptor(&d);
        let lens: Vec<u64> = v.extents.iter().map(|e| e.length_bytes()).collect();
        assert_eq!(lens, [2 << 30, 1 << 30]);
        assert_eq!(
            v.extents[1].file.as_deref(),
            Some("twoGbMaxExtentFlat-f002.vmdk")
        );

        let d = whole(sample!("qemu-twoGbMaxExtentSparse.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkSparse);
        assert!(descriptor(&d)
            .extents
            .iter()
            .all(|e| e.kind == VmdkExtentKind::Sparse));

        let d = whole(sample!("esxi-vmfs.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkOtherFlat);
        let v = descriptor(&d);
        assert_eq!(v.create_type.as_deref(), Some("vmfs"));
        assert_eq!(v.extents[0].kind, VmdkExtentKind::Vmfs);
        assert_eq!(
            (v.extents[0].offset_sectors, v.capacity_bytes()),
            (0, 20 << 30)
        );
        assert_eq!(v.cid.as_deref(), Some("fffffffe"));

        let d = whole(sample!("esxi-rdmp.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkOtherFlat);
        assert_eq!(descriptor(&d).extents[0].kind, VmdkExtentKind::VmfsRdm);

        let d = whole(sample!("esxi-vmfssparse-child.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkEsxSparse);
        let v = descriptor(&d);
        assert!(v.has_parent());
        assert_eq!(v.parent_file_name_hint.as_deref(), Some("web01.vmdk"));

        let d = whole(sample!("esxi-sesparse-child.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkEsxSparse);
        assert_eq!(
            descriptor(&d).parent_file_name_hint.as_deref(),
            Some("/vmfs/volumes/5f1e2d3c-4b5a6978/web01/web01-000001.vmdk")
        );

        let d = whole(sample!("custom-crlf.vmdk"));
        assert_eq!(d.format(), ImageFormat::VmdkOtherFlat);
        let v = descriptor(&d);
        let got: Vec<_> = v
            .extents
            .iter()
            .map(|e| {
                (
                    e.line,
                    e.access,
                    e.sectors,
                    e.kind,
                    e.file.as_deref(),
                    e.offset_sectors,
                )
            })
            .collect();
        use ExtentAccess::*;
        use VmdkExtentKind::*;
        assert_eq!(
            got,
            [
                (10, ReadOnly, 2048, Flat, Some("My Disk part 1.img"), 0),
                (11, ReadWrite, 4096, Zero, None, 0),
                (12, ReadWrite, 2048, Flat, Some("My Disk part 2.img"), 2048),
                (13, NoAccess, 1024, Flat, Some("hidden.img"), 0),
            ]
        );
        assert_eq!(v.create_type.as_deref(), Some("custom"));

        let v = parse_vmdk_descriptor(sample!("vmdk-sparse-child.desc")).unwrap();
        assert!(v.has_parent());
        assert_eq!(
            v.parent_file_name_hint.as_deref(),
            Some("monolithicSparse.vmdk")
        );
        assert_eq!(v.format(), ImageFormat::VmdkSparse);
    }

    const HDR: &str = "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n";

    #[test]
    fn descriptor_table() {
        struct Case {
            body: &'static str,
            format: Option<ImageFormat>,
            check: fn(&VmdkDescriptor),
        }
        let nop: fn(&VmdkDescriptor) = |_| {};
        let cases = [
            Case {
                body: "createType=\"monolithicFlat\"\nRW 8 FLAT \"a b  c.vmdk\" 0\n",
                format: Some(ImageFormat::VmdkMonolithicFlat),
                check: |d| assert_eq!(d.extents[0].file.as_deref(), Some("a b  c.vmdk")),
            },
            Case {
                body: "createType = \"monolithicFlat\"\r\nRW 8 FLAT \"x.img\"\r\n",
                format: Some(ImageFormat::VmdkMonolithicFlat),
                check: |d| assert_eq!(d.extents[0].offset_sectors, 0),
            },
            Case {
                // monolithicFlat with two extents is not "monolithic".
                body: "createType=monolithicFlat\nRW 8 FLAT \"x\" 0\nRW 8 FLAT \"y\" 0\n",
                format: Some(ImageFormat::VmdkOtherFlat),
                check: nop,
            },
            Case {
                body: "createType=\"twoGbMaxExtentFlat\"\nRW 8 FLAT \"x\" 0\nRW 8 ZERO\n",
                format: Some(ImageFormat::VmdkOtherFlat),
                check: |d| assert_eq!(d.extents[1].file, None),
            },
            Case {
                body: "createType=\"vmfsRaw\"\nRW 20 VMFSRAW \"/dev/disk/by-id/wwn-0x5000\"\n",
                format: Some(ImageFormat::VmdkOtherFlat),
                check: |d| assert_eq!(d.extents[0].kind, VmdkExtentKind::VmfsRaw),
            },
            Case {
                body: "createType=\"streamOptimized\"\nRW 8 SPARSE \"s.vmdk\"\n",
                format: Some(ImageFormat::VmdkStreamOptimized),
                check: nop,
            },
            Case {
                body: "createType=\"vsanSparse\"\nRW 8 VSANSPARSE \"vsan://abc\"\n",
                format: Some(ImageFormat::VmdkEsxSparse),
                check: nop,
            },
            Case {
                // lowercase keywords, tabs, trailing comment lines and NUL padding.
                body: "createType=\"custom\"\n\trdonly\t16\tflat\t\"t.img\"\t4\n# end\n\0\0\0",
                format: Some(ImageFormat::VmdkOtherFlat),
                check: |d| {
                    assert_eq!(d.extents[0].access, ExtentAccess::ReadOnly);
                    assert_eq!(d.extents[0].file_offset_bytes(), 2048);
                    assert_eq!(d.extents[0].line, 6);
                },
            },
            Case {
                body: "parentCID=1234abcd\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"x\" 0\n",
                format: Some(ImageFormat::VmdkMonolithicFlat),
                check: |d| {
                    assert!(d.has_parent());
                    assert_eq!(d.parent_file_name_hint, None);
                },
            },
            Case {
                body: "parentFileNameHint=\"../base dir/base.vmdk\"\ncreateType=\"vmfsSparse\"\nRW 8 VMFSSPARSE \"d.vmdk\"\n",
                format: Some(ImageFormat::VmdkEsxSparse),
                check: |d| {
                    assert!(d.has_parent());
                    assert_eq!(d.parent_file_name_hint.as_deref(), Some("../base dir/base.vmdk"));
                },
            },
            Case {
                body: "createType=\"monolithicFlat\"\nddb.uuid = \"60 00 C2 9a\"\nddb.encoding=UTF-8\nisNativeSnapshot=\"no\"\nRW 8 FLAT \"x\" 0\n",
                format: Some(ImageFormat::VmdkMonolithicFlat),
                check: |d| assert!(!d.has_parent()),
            },
            // Errors.
            Case { body: "createType=x\n", format: None, check: nop },
            Case { body: "createType=x\nRW 0 FLAT \"x\" 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW -8 FLAT \"x\" 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8k FLAT \"x\" 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 FOO \"x\" 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 FLAT \"x 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 FLAT x.vmdk 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 FLAT\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 FLAT \"\" 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 FLAT \"x\" zero\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 FLAT \"x\" 0 junk\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8 SPARSE \"x\" 0\n", format: None, check: nop },
            Case { body: "createType=x\nRW\n", format: None, check: nop },
            Case { body: "createType=x\nRW 8\n", format: None, check: nop },
            Case { body: "createType=x\nhello world\nRW 8 ZERO\n", format: None, check: nop },
            Case { body: "createType=\"x\nRW 8 ZERO\n", format: None, check: nop },
            Case {
                body: "createType=x\nRW 36028797018963968 FLAT \"x\" 0\n",
                format: None,
                check: nop,
            },
            Case {
                body: "createType=x\nRW 36028797018963967 ZERO\nRW 36028797018963967 ZERO\n",
                format: None,
                check: nop,
            },
        ];
        for c in cases {
            let text = format!("{HDR}{}", c.body);
            let parsed = parse_vmdk_descriptor(text.as_bytes());
            match (c.format, parsed) {
                (Some(f), Ok(d)) => {
                    assert_eq!(d.format(), f, "{:?}", c.body);
                    (c.check)(&d);
                    // And detect() agrees, for a small file.
                    assert_eq!(whole(text.as_bytes()).format(), f, "{:?}", c.body);
                }
                (None, Err(e)) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with("VMDK descriptor"), "{msg}");
                    // detect(): raw with a warning that says why.
                    let d = whole(text.as_bytes());
                    assert_eq!(d.container, Container::Raw, "{:?}", c.body);
                    assert!(d.warnings[0].contains("does not parse"), "{:?}", d.warnings);
                }
                (want, got) => panic!("{:?}: want {want:?}, got {got:?}", c.body),
            }
        }
    }

    #[test]
    fn descriptor_errors_name_the_line() {
        let e = parse_vmdk_descriptor(
            b"# Disk DescriptorFile\nversion=1\n\nRW 8 FLAT \"x\" 0\nRW 8 BOGUS \"y\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 5") && e.contains("BOGUS"), "{e}");
        let e = parse_vmdk_descriptor(b"version=1\ncreateType=\"a\"\n\xff\xfe\nRW 8 ZERO\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");
        let d = parse_vmdk_descriptor("\u{feff}version=1\nRW 8 ZERO\n".as_bytes()).unwrap();
        assert_eq!(d.capacity_bytes(), 4096);
        let line = &parse_vmdk_descriptor(b"RDONLY 8 VMFS \"a b\"\n")
            .unwrap()
            .extents[0];
        assert_eq!(line.to_string(), "RDONLY 8 VMFS \"a b\" 0");
    }

    #[test]
    fn what_is_not_a_descriptor() {
        // Plain small text and binary: raw, no warning.
        for b in [
            &b"hello\nworld\n"[..],
            b"RW 8 FLAT \"x\" 0\n",
            &[7u8; 300][..],
        ] {
            let d = whole(b);
            assert_eq!(d.container, Container::Raw);
            assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        }
        // qemu's probe rule: a first non-comment line version=N is enough.
        assert!(looks_like_descriptor(b"# x\n\nversion=1\nRW 8 ZERO\n"));
        assert!(looks_like_descriptor(b"\n  createType = \"vmfs\"\n"));
        assert!(!looks_like_descriptor(
            b"# Disk DescriptorFile\0\nversion=1"
        ));
        assert!(!looks_like_descriptor(b"\0\0\0"));
        // A descriptor must be smaller than 64 KiB, and given whole.
        let mut text =
            format!("{HDR}createType=\"monolithicFlat\"\nRW 8 FLAT \"x\" 0\n").into_bytes();
        assert_eq!(whole(&text).format(), ImageFormat::VmdkMonolithicFlat);
        assert_eq!(
            detect(&text, &text, text.len() as u64 + 1).container,
            Container::Raw,
            "head shorter than the file"
        );
        while text.len() < DESCRIPTOR_MAX {
            text.extend_from_slice(b"# padding comment line ..............................\n");
        }
        text.truncate(DESCRIPTOR_MAX);
        assert_eq!(whole(&text).container, Container::Raw);
        text.truncate(DESCRIPTOR_MAX - 1);
        *text.last_mut().unwrap() = b'\n';
        assert_eq!(whole(&text).format(), ImageFormat::VmdkMonolithicFlat);
    }

    #[test]
    fn magic_wins_over_a_vhd_footer_and_text() {
        // A qcow2 whose last 512 bytes happen to be a VHD footer is still qcow2.
        let d = detect(
            sample!("qcow2-v3.head"),
            &footer(2, 4096, u64::MAX),
            1 << 20,
        );
        assert_eq!(d.format(), ImageFormat::Qcow2);
    }

    #[test]
    fn embedded_descriptor_range_is_bounded() {
        let mut h = parse_sparse_vmdk_header(sample!("vmdk-monolithicSparse.head")).unwrap();
        assert_eq!(
            h.embedded_descriptor(4096),
            None,
            "past the end of the file"
        );
        h.descriptor_size_sectors = 129;
        assert_eq!(h.embedded_descriptor(1 << 30), None, "over 64 KiB");
        h.descriptor_offset_sectors = u64::MAX;
        h.descriptor_size_sectors = 1;
        assert_eq!(h.embedded_descriptor(u64::MAX), None);
        h.descriptor_offset_sectors = 0;
        assert_eq!(h.embedded_descriptor(1 << 30), None);
    }

    fn descriptor_line() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            Just("RW".to_string()),
            Just("RDONLY".to_string()),
            Just("NOACCESS".to_string()),
            Just("FLAT".to_string()),
            Just("ZERO".to_string()),
            Just("SPARSE".to_string()),
            Just("VMFSRDM".to_string()),
            Just("\"".to_string()),
            Just("=".to_string()),
            Just("#".to_string()),
            Just("createType".to_string()),
            Just("parentFileNameHint".to_string()),
            "[0-9]{1,22}",
            "\"[ -~]{0,12}\"",
            "[ -~]{0,6}",
            "\\PC{0,3}",
        ];
        proptest::collection::vec(word, 0..7).prop_map(|w| w.join(" "))
    }

    proptest! {
        #[test]
        fn detect_never_panics(
            head in proptest::collection::vec(any::<u8>(), 0..2048),
            tail in proptest::collection::vec(any::<u8>(), 0..600),
            size in any::<u64>(),
            magic in 0usize..8,
        ) {
            let mut head = head;
            let se = 0xcafe_babeu64.to_le_bytes();
            let m: &[u8] = [&b"QFI\xfb"[..], b"vhdxfile", b"KDMV", b"COWD", b"conectix",
                &se, b"# Disk DescriptorFile\n", b""][magic];
            if head.len() >= m.len() {
                head[..m.len()].copy_from_slice(m);
            }
            let d = detect(&head, &tail, size);
            let _ = d.format();
            let _ = detect(&head, &head, head.len() as u64);
        }

        #[test]
        fn header_parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = parse_qcow2_header(&b);
            let _ = parse_vhdx_identifier(&b);
            let _ = parse_sparse_vmdk_header(&b);
            let _ = parse_esx_sparse_header(&b);
            let _ = parse_vhd_footer(&b);
            let _ = vhd_checksum(&b);
            let _ = vhd_parent_name(&b, 0);
            if let Ok(h) = parse_sparse_vmdk_header(&b) {
                let _ = (h.embedded_descriptor(u64::MAX), h.capacity_bytes(), h.stream_optimized());
            }
            if let Ok(h) = parse_esx_sparse_header(&b) {
                let _ = h.capacity_bytes();
            }
        }

        #[test]
        fn vhd_footer_with_a_fixed_checksum_parses(mut b in proptest::collection::vec(any::<u8>(), 512)) {
            b[0..8].copy_from_slice(b"conectix");
            let c = vhd_checksum(&b);
            b[64..68].copy_from_slice(&c.to_be_bytes());
            let f = parse_vhd_footer(&b).unwrap();
            prop_assert_eq!(f.checksum, c);
            let _ = f.geometry.size();
        }

        #[test]
        fn descriptor_parser_never_panics(lines in proptest::collection::vec(descriptor_line(), 0..12), crlf in any::<bool>()) {
            let sep = if crlf { "\r\n" } else { "\n" };
            let text = format!("# Disk DescriptorFile{sep}{}", lines.join(sep));
            if let Ok(d) = parse_vmdk_descriptor(text.as_bytes()) {
                let _ = (d.format(), d.capacity_bytes(), d.has_parent());
                for e in &d.extents {
                    let _ = (e.length_bytes(), e.file_offset_bytes(), e.to_string());
                }
            }
            let _ = whole(text.as_bytes());
        }

        #[test]
        fn descriptor_parser_never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_vmdk_descriptor(&b);
            let _ = looks_like_descriptor(&b);
        }
    }
}
