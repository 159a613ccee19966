//! The data model of what is on a VM's disks: the one `Layout` value every later layer consumes.
//!
//! Pure data (serde), no I/O. `format/` parsers produce pieces of it, `probe/`
//! fills it from real disks. Byte offsets are always absolute on the disk's
//! *virtual* address space (what the guest sees), never on a container file.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything found on a set of disks that belong to one VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The disks in the order they were given (index = guest disk order).
    pub disks: Vec<Disk>,
    /// LVM volume groups assembled from the PVs found on those disks.
    pub volume_groups: Vec<VolumeGroup>,
}

/// One disk of the VM: an image file (raw or container) or a block device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Position in the list given to the prober (0 = first disk).
    pub index: usize,
    /// The path given by the user.
    pub path: PathBuf,
    /// What the path holds and whether Hydra reads it directly.
    pub image: ImageInfo,
    /// Size of the disk as the guest sees it, in bytes.
    pub size: u64,
    /// Logical sector size used to interpret the partition table (512 or 4096).
    pub sector_size: u32,
    /// The partition table, if any.
    pub table: Option<PartitionTable>,
    /// Partitions in table order (primary 1-4, then logical 5.. for MBR).
    pub partitions: Vec<Partition>,
    /// What the whole disk holds when there is no partition table
    /// (a filesystem or PV written on the bare disk), else `None`.
    pub content: Option<Content>,
    /// Things a migration engineer should know (fallbacks used, oddities).
    pub warnings: Vec<String>,
}

/// The container format of a disk image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// A raw image file.
    Raw,
    /// A block device (read as raw).
    BlockDevice,
    /// VHD with a footer only (raw data followed by a 512-byte footer).
    VhdFixed,
    /// Dynamic (sparse) VHD.
    VhdDynamic,
    /// Differencing VHD (needs its parent).
    VhdDifferencing,
    /// VHDX.
    Vhdx,
    /// qcow2 (or qcow v1).
    Qcow2,
    /// VMDK descriptor with one FLAT extent.
    VmdkMonolithicFlat,
    /// VMDK descriptor with FLAT extents of at most 2 GB each.
    VmdkTwoGbMaxExtentFlat,
    /// VMDK descriptor whose extents are VMFS / raw device mappings / other flat kinds.
    VmdkOtherFlat,
    /// Hosted sparse VMDK ("KDMV"), monolithicSparse or twoGbMaxExtentSparse.
    VmdkSparse,
    /// streamOptimized VMDK (compressed grains; read-only in practice).
    VmdkStreamOptimized,
    /// ESXi sparse (COWD / SESparse) VMDK.
    VmdkEsxSparse,
}

impl ImageFormat {
    /// Whether the prober reads this format itself (the others come with attach).
    pub fn directly_readable(self) -> bool {
        matches!(
            self,
            ImageFormat::Raw
                | ImageFormat::BlockDevice
                | ImageFormat::VhdFixed
                | ImageFormat::VmdkMonolithicFlat
                | ImageFormat::VmdkTwoGbMaxExtentFlat
                | ImageFormat::VmdkOtherFlat
        )
    }

    /// The name `qemu-img` uses for this format (for attach).
    pub fn qemu_driver(self) -> &'static str {
        match self {
            ImageFormat::Raw | ImageFormat::BlockDevice => "raw",
            ImageFormat::VhdFixed | ImageFormat::VhdDynamic | ImageFormat::VhdDifferencing => "vpc",
            ImageFormat::Vhdx => "vhdx",
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::VmdkMonolithicFlat
            | ImageFormat::VmdkTwoGbMaxExtentFlat
            | ImageFormat::VmdkOtherFlat
            | ImageFormat::VmdkSparse
            | ImageFormat::VmdkStreamOptimized
            | ImageFormat::VmdkEsxSparse => "vmdk",
        }
    }
}

/// The container of one disk and the files that hold its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Container format.
    pub format: ImageFormat,
    /// True when Hydra reads the guest bytes itself (else only recognised).
    pub readable: bool,
    /// Extents of the virtual disk in data files (raw: one; VMDK flat: one per line).
    pub extents: Vec<Extent>,
    /// A human note (e.g. "qcow2 v3: read through attach").
    pub note: Option<String>,
}

/// A run of the virtual disk stored in a data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// Byte offset in the virtual disk.
    pub virtual_offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// The file holding it; `None` for a ZERO extent (reads as zeros).
    pub file: Option<PathBuf>,
    /// Byte offset in that file.
    pub file_offset: u64,
    /// Read-only extent (VMDK `RDONLY`).
    pub read_only: bool,
}

/// Partition table scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// MBR / DOS partition table.
    Dos,
    /// GUID partition table.
    Gpt,
}

impl Scheme {
    /// blkid's name for the scheme (`PTTYPE`, `PART_ENTRY_SCHEME`).
    pub fn blkid_name(self) -> &'static str {
        match self {
            Scheme::Dos => "dos",
            Scheme::Gpt => "gpt",
        }
    }
}

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionTable {
    /// dos or gpt.
    pub scheme: Scheme,
    /// blkid's `PTUUID`: GPT disk GUID (lowercase) or the MBR disk signature as 8 hex
    /// digits; `None` for an MBR whose signature is 0 (blkid prints no PTUUID then).
    pub id: Option<String>,
    /// GPT details; `None` for MBR.
    pub gpt: Option<GptInfo>,
    /// MBR flavour seen at LBA 0 next to a GPT (protective or hybrid), or `None`.
    pub mbr_kind: Option<MbrKind>,
}

/// What sits at LBA 0 of a GPT disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MbrKind {
    /// One 0xEE entry covering the disk (the normal case).
    Protective,
    /// A 0xEE entry plus real MBR entries mirroring some GPT partitions.
    Hybrid,
    /// No valid MBR signature or no 0xEE entry at LBA 0.
    Missing,
}

/// GPT header facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptInfo {
    /// Which header the partitions were read from.
    pub used: GptHeaderChoice,
    /// Primary header (LBA 1) valid, CRCs included.
    pub primary_valid: bool,
    /// Backup header (last LBA) valid, CRCs included.
    pub backup_valid: bool,
    /// First usable LBA.
    pub first_usable_lba: u64,
    /// Last usable LBA.
    pub last_usable_lba: u64,
    /// Number of entries in the entry array (usually 128).
    pub entry_count: u32,
    /// Size of one entry in bytes (usually 128).
    pub entry_size: u32,
}

/// Which GPT header was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GptHeaderChoice {
    /// The primary header at LBA 1.
    Primary,
    /// The backup header at the last LBA (primary corrupt).
    Backup,
}

/// Role of an MBR partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionRole {
    /// A GPT entry or an MBR primary entry.
    Primary,
    /// An MBR extended partition (container of logical partitions).
    Extended,
    /// An MBR logical partition inside the extended one.
    Logical,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// blkid's `PART_ENTRY_NUMBER` (GPT entry index + 1; MBR 1-4 primary, 5.. logical).
    pub number: u32,
    /// Scheme of the table it came from.
    pub scheme: Scheme,
    /// Primary, extended or logical.
    pub role: PartitionRole,
    /// Absolute byte offset on the disk.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// blkid's `PART_ENTRY_TYPE`: GPT type GUID (lowercase) or `0x83`-style MBR type.
    pub type_id: String,
    /// A human name of the type when known ("Linux filesystem", "EFI System", "Linux LVM").
    pub type_name: Option<String>,
    /// blkid's `PART_ENTRY_UUID` (PARTUUID): GPT unique GUID, or `<disksig>-<NN>` for MBR.
    pub uuid: Option<String>,
    /// GPT partition name (PARTLABEL); `None` for MBR.
    pub name: Option<String>,
    /// blkid's `PART_ENTRY_FLAGS`: GPT attribute bits, or `0x80` for a bootable MBR entry.
    pub flags: u64,
    /// What the partition holds.
    pub content: Content,
}

/// What a volume (partition, whole disk or LV) holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Content {
    /// A recognised signature.
    Filesystem(FsInfo),
    /// An MBR extended partition: a container of logical partitions.
    ExtendedContainer,
    /// Only zeros where signatures would be.
    Empty,
    /// Some bytes that match no known signature. Never guessed.
    Unknown {
        /// Absolute byte offset on the disk of the volume that was probed.
        offset: u64,
    },
    /// The volume could not be read (short disk, I/O error).
    Unreadable {
        /// Why.
        reason: String,
    },
}

impl Content {
    /// The filesystem info, if a signature was recognised.
    pub fn fs(&self) -> Option<&FsInfo> {
        match self {
            Content::Filesystem(f) => Some(f),
            _ => None,
        }
    }
}

/// A recognised signature on a volume, with blkid's spelling of each field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsInfo {
    /// blkid's `TYPE`: ext2, ext3, ext4, xfs, btrfs, vfat, ntfs, swap,
    /// LVM2_member, crypto_LUKS, iso9660.
    pub fs_type: String,
    /// blkid's `UUID`, formatted as blkid does.
    pub uuid: Option<String>,
    /// blkid's `UUID_SUB` (btrfs device UUID, LUKS2 none).
    pub uuid_sub: Option<String>,
    /// blkid's `LABEL`.
    pub label: Option<String>,
    /// blkid's `VERSION` (FAT12/FAT16/FAT32, LUKS 1/2, LVM2 001, swap 1, ...).
    pub version: Option<String>,
    /// blkid's `BLOCK_SIZE` where it reports one.
    pub block_size: Option<u32>,
    /// Size of the filesystem in bytes, from its superblock, where known.
    pub fs_size: Option<u64>,
    /// Absolute byte offset on the disk of the volume that holds it.
    pub offset: u64,
}

/// An LVM2 volume group assembled from the PVs found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeGroup {
    /// VG name.
    pub name: String,
    /// VG UUID (LVM's 32-char form with dashes, as `vgs -o vg_uuid` prints).
    pub uuid: String,
    /// Metadata sequence number used (the highest seen).
    pub seqno: u64,
    /// Extent size in bytes.
    pub extent_size: u64,
    /// VG status flags from the metadata (READ, WRITE, RESIZEABLE, ...).
    pub status: Vec<String>,
    /// Every PV the metadata names, found or not.
    pub pvs: Vec<PhysicalVolume>,
    /// Logical volumes, in metadata order.
    pub lvs: Vec<LogicalVolume>,
    /// True when some PV named by the metadata was not found on the given disks.
    pub partial: bool,
}

/// A physical volume named by a VG's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysicalVolume {
    /// The name inside the metadata (pv0, pv1, ...).
    pub id: String,
    /// PV UUID (LVM's dashed form).
    pub uuid: String,
    /// The device path the metadata last saw (a hint only, never trusted).
    pub device_hint: Option<String>,
    /// Where it was found on the given disks; `None` = missing.
    pub location: Option<VolumeRef>,
    /// Start of the data area, in bytes from the start of the PV.
    pub pe_start: u64,
    /// Number of physical extents.
    pub pe_count: u64,
    /// Size of the PV device recorded in the metadata, in bytes.
    pub dev_size: u64,
}

/// Where a volume sits: a disk and (optionally) one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRef {
    /// Disk index in `Layout::disks`.
    pub disk: usize,
    /// Partition number, or `None` for the whole disk.
    pub partition: Option<u32>,
    /// Absolute byte offset of the volume on the disk.
    pub offset: u64,
    /// Size of the volume in bytes.
    pub size: u64,
}

/// A logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogicalVolume {
    /// LV name.
    pub name: String,
    /// LV UUID (dashed form).
    pub uuid: String,
    /// Status flags (READ, WRITE, VISIBLE, ...).
    pub status: Vec<String>,
    /// Whether the LV is user-visible (has VISIBLE).
    pub visible: bool,
    /// Size in bytes (sum of its segments).
    pub size: u64,
    /// Segments in logical order.
    pub segments: Vec<Segment>,
}

/// A run of extents of an LV with one mapping type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// First logical extent of this segment in the LV.
    pub start_extent: u64,
    /// Number of logical extents.
    pub extent_count: u64,
    /// Mapping type.
    pub kind: SegmentKind,
    /// Stripe size in bytes for striped segments.
    pub stripe_size: Option<u64>,
    /// Where the data lives: one area per stripe (linear: one).
    pub areas: Vec<SegmentArea>,
}

/// One area of a segment: a run on a PV, or a reference to another LV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "lowercase")]
pub enum SegmentArea {
    /// Extents on a physical volume.
    Pv {
        /// PV id in the metadata (pv0, ...).
        pv: String,
        /// First physical extent on that PV.
        start_extent: u64,
        /// Disk index where this area lives, if the PV was found.
        disk: Option<usize>,
        /// Absolute byte offset of the area on that disk, if found.
        disk_offset: Option<u64>,
        /// Length of this area in bytes.
        length: u64,
    },
    /// Another LV (raid images, thin pool data, ...).
    Lv {
        /// LV name.
        lv: String,
        /// Offset in extents inside that LV.
        start_extent: u64,
    },
}

/// Segment mapping types: linear and striped are mapped by Hydra itself;
/// the rest are recognised and named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentKind {
    /// `striped` with one stripe.
    Linear,
    /// `striped` with more than one stripe.
    Striped,
    /// `thin` (a thin LV in a pool).
    Thin,
    /// `thin-pool`.
    ThinPool,
    /// `raid0`, `raid1`, `raid4`, `raid5_*`, `raid6_*`, `raid10`: the level as written.
    Raid(String),
    /// `mirror`.
    Mirror,
    /// `cache`.
    Cache,
    /// `cache-pool`.
    CachePool,
    /// `writecache`.
    Writecache,
    /// `snapshot` (old-style COW snapshot).
    Snapshot,
    /// `vdo` / `vdo-pool`.
    Vdo(String),
    /// `error` or `zero` targets.
    Virtual(String),
    /// Anything else, named as in the metadata.
    Other(String),
}

impl SegmentKind {
    /// Parse the metadata's `type = "..."` with the stripe count.
    pub fn from_metadata(kind: &str, stripe_count: usize) -> SegmentKind {
        match kind {
            "striped" if stripe_count <= 1 => SegmentKind::Linear,
            "striped" => SegmentKind::Striped,
            "thin" => SegmentKind::Thin,
            "thin-pool" => SegmentKind::ThinPool,
            "mirror" => SegmentKind::Mirror,
            "cache" => SegmentKind::Cache,
            "cache-pool" => SegmentKind::CachePool,
            "writecache" => SegmentKind::Writecache,
            "snapshot" => SegmentKind::Snapshot,
            "error" | "zero" => SegmentKind::Virtual(kind.to_string()),
            k if k.starts_with("raid") => SegmentKind::Raid(k.to_string()),
            k if k.starts_with("vdo") => SegmentKind::Vdo(k.to_string()),
            k => SegmentKind::Other(k.to_string()),
        }
    }

    /// The name as LVM writes it (`lvs -o segtype`).
    pub fn lvm_name(&self) -> &str {
        match self {
            SegmentKind::Linear => "linear",
            SegmentKind::Striped => "striped",
            SegmentKind::Thin => "thin",
            SegmentKind::ThinPool => "thin-pool",
            SegmentKind::Raid(s) | SegmentKind::Vdo(s) | SegmentKind::Virtual(s) => s,
            SegmentKind::Mirror => "mirror",
            SegmentKind::Cache => "cache",
            SegmentKind::CachePool => "cache-pool",
            SegmentKind::Writecache => "writecache",
            SegmentKind::Snapshot => "snapshot",
            SegmentKind::Other(s) => s,
        }
    }
}

impl Layout {
    /// Every recognised filesystem signature with where it sits.
    pub fn filesystems(&self) -> impl Iterator<Item = (VolumeRef, &FsInfo)> {
        self.disks.iter().flat_map(|d| {
            let whole = d.content.as_ref().and_then(Content::fs).map(|f| {
                (
                    VolumeRef {
                        disk: d.index,
                        partition: None,
                        offset: 0,
                        size: d.size,
                    },
                    f,
                )
            });
            whole
                .into_iter()
                .chain(d.partitions.iter().filter_map(move |p| {
                    p.content.fs().map(|f| {
                        (
                            VolumeRef {
                                disk: d.index,
                                partition: Some(p.number),
                                offset: p.offset,
                                size: p.size,
                            },
                            f,
                        )
                    })
                }))
        })
    }
}
