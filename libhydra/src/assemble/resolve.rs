//! Which volume of the [`Layout`] an fstab entry names, and what a mounted
//! filesystem looks like (root, /boot, ESP, ...). Pure: no I/O.
//!
//! # Resolution rules
//!
//! - `UUID=`, `/dev/disk/by-uuid/` match a filesystem UUID, `LABEL=`,
//!   `/dev/disk/by-label/` a filesystem label; `PARTUUID=`, `/dev/disk/by-partuuid/`
//!   and `PARTLABEL=`, `/dev/disk/by-partlabel/` a partition's GPT GUID (or MBR
//!   `<signature>-<NN>`) and GPT name. `/dev/disk/by-*` names are udev-escaped
//!   (`\x20` for a space) and decoded first.
//! - UUIDs and PARTUUIDs match exactly first. A match that differs only in ASCII
//!   case (a vfat `ABCD-1234` written `abcd-1234`) is accepted with a warning:
//!   udev's `/dev/disk/by-uuid` links and libblkid compare case-sensitively in the
//!   versions these guests ship, so the guest itself may not find such a device.
//!   Labels match exactly.
//! - The same UUID on several volumes is [`Resolution::Ambiguous`] (cloned disks,
//!   RAID1 members with metadata at the end), never a silent pick, except a
//!   multi-device btrfs: one filesystem UUID, distinct device UUIDs
//!   (`UUID_SUB`), which resolves to its first device with the others listed.
//! - LVM: `/dev/mapper/VG-LV` (device-mapper escaping: a `-` inside a name is
//!   doubled, `my--vg-my--lv`), `/dev/VG/LV`, `/dev/disk/by-id/dm-name-VG-LV` and
//!   `/dev/disk/by-id/dm-uuid-LVM-<vg uuid><lv uuid>` (what Ubuntu's installer
//!   writes). A VG missing a PV, two VGs with one name, a hidden LV: unresolved,
//!   with the reason.
//! - Kernel names map by **disk order**: the disks given to Hydra are assumed to be in
//!   the guest's order. `sd`, `hd`, `vd`, `xvd` + letters (`a` = disk 0, `z` = 25,
//!   `aa` = 26, ...) + optional partition number (MBR logical partitions are 5..);
//!   `/dev/cciss/c0dKpN` and `/dev/ida/c0dKpN`: disk K on controller 0;
//!   `/dev/nvme0nKpN`: namespace K = disk K-1 (VMware's virtual NVMe controller
//!   puts every disk on it as a namespace). Other controllers (`c1d0`,
//!   `nvme1n1`) depend on the source VM's controller layout: unresolved. Mixing
//!   kinds (an IDE `hda` and a SCSI `sda`) is not detected: [`Via::DiskOrder`]
//!   tells the caller the answer is a heuristic, and a type mismatch between the
//!   entry and the filesystem found becomes a warning.
//! - `/dev/disk/by-id/` (hardware serials, WWNs), `/dev/disk/by-path/` (PCI and
//!   SCSI addresses of the source hypervisor), `/dev/dm-N` (numbered at boot),
//!   `/dev/mdN` (RAID not assembled here), `/dev/root` (a kernel alias):
//!   unresolved, with the reason (and the partition number, when the name has one).
//! - Network filesystems, pseudo filesystems (proc, tmpfs, ...), bind mounts, files
//!   (swap files, loop images) and removable media (`/dev/sr0`, `/dev/fd0`) are
//!   [`Resolution::NotADisk`], saying which.
//!
//! LV contents are not in the [`Layout`] (they are probed once the LV is mapped):
//! [`Resolver::with_lv_fs`] adds them so that `UUID=` and `LABEL=` reach
//! filesystems on LVs too.
//!
//! # Filesystem roles
//!
//! [`RootSigns`] classifies a mounted filesystem from the relative paths the caller
//! found in it, after libguestfs (`inspection_fs.ml`, `check_filesystem`): Linux
//! root, Windows system volume, /boot, ESP, /usr, /var.

use std::collections::BTreeSet;
use std::fmt;

use crate::format::fstab::{is_network_fstype, Options, Spec};
use crate::layout::{Content, FsInfo, Layout, PartitionRole, VolumeGroup};

/// A block device of the guest that a filesystem can live on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Volume {
    /// Partition `number` (blkid's `PART_ENTRY_NUMBER`) of disk `disk`.
    Partition {
        /// Disk index in [`Layout::disks`].
        disk: usize,
        /// Partition number (1-4 primary, 5.. MBR logical, GPT entry + 1).
        number: u32,
    },
    /// The whole disk (a filesystem or PV written without a partition table).
    WholeDisk {
        /// Disk index in [`Layout::disks`].
        disk: usize,
    },
    /// A logical volume.
    Lv {
        /// VG name.
        vg: String,
        /// LV name.
        lv: String,
    },
}

impl Volume {
    /// The filesystem the layout records on this volume. `None` for an LV (its
    /// content is probed after mapping) and for a volume with no recognised
    /// filesystem.
    pub fn fs<'a>(&self, layout: &'a Layout) -> Option<&'a FsInfo> {
        match self {
            Volume::Partition { disk, number } => layout
                .disks
                .get(*disk)?
                .partitions
                .iter()
                .find(|p| p.number == *number)?
                .content
                .fs(),
            Volume::WholeDisk { disk } => layout.disks.get(*disk)?.content.as_ref()?.fs(),
            Volume::Lv { .. } => None,
        }
    }

    /// The disk index, for a partition or whole disk.
    pub fn disk(&self) -> Option<usize> {
        match self {
            Volume::Partition { disk, .. } | Volume::WholeDisk { disk } => Some(*disk),
            Volume::Lv { .. } => None,
        }
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Volume::Partition { disk, number } => write!(f, "disk {disk} partition {number}"),
            Volume::WholeDisk { disk } => write!(f, "disk {disk} (whole disk)"),
            Volume::Lv { vg, lv } => write!(f, "LV {vg}/{lv}"),
        }
    }
}

/// How a resolved entry was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// Filesystem UUID (`UUID=`, `/dev/disk/by-uuid/`).
    FsUuid,
    /// Filesystem label (`LABEL=`, `/dev/disk/by-label/`).
    FsLabel,
    /// Partition GUID / MBR id (`PARTUUID=`, `/dev/disk/by-partuuid/`).
    PartUuid,
    /// GPT partition name (`PARTLABEL=`, `/dev/disk/by-partlabel/`).
    PartLabel,
    /// VG and LV names (`/dev/mapper/VG-LV`, `/dev/VG/LV`, `by-id/dm-name-`).
    LvName,
    /// VG and LV UUIDs (`/dev/disk/by-id/dm-uuid-LVM-...`).
    LvUuid,
    /// A kernel name (`/dev/sdb1`, `/dev/nvme0n1p2`) mapped by disk order: a
    /// heuristic that assumes the disks were given in the guest's order. L7
    /// rewrites these to `UUID=`.
    DiskOrder,
}

/// btrfs subvolume selected by the entry's options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subvolume {
    /// `subvol=` (path inside the filesystem, as written: `@`, `/@/var`).
    pub path: Option<String>,
    /// `subvolid=`.
    pub id: Option<u64>,
}

/// A successful resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The volume to mount.
    pub volume: Volume,
    /// How it was found.
    pub via: Via,
    /// btrfs subvolume from `subvol=` / `subvolid=`, when given.
    pub subvolume: Option<Subvolume>,
    /// Other devices of the same multi-device btrfs (all must be attached).
    pub other_devices: Vec<Volume>,
    /// Things to tell the user (case-only UUID match, type mismatch, ...).
    pub warnings: Vec<String>,
}

/// Why an entry names no volume of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnresolvedKind {
    /// Nothing in the layout carries that UUID / label / name.
    NotFound,
    /// The name depends on the source hypervisor (by-id serials, by-path addresses,
    /// other controllers): map it with the source VM's configuration.
    HypervisorSpecific,
    /// The name is assigned at boot (`/dev/dm-N`, `/dev/root`, `/dev/loopN`).
    Unstable,
    /// The name is of a disk that was not given (`/dev/sdc` with two disks).
    DiskMissing,
    /// The VG is incomplete, duplicated, or the LV is hidden / not there.
    Lvm,
    /// A layer Hydra does not assemble (MD RAID, LUKS, multipath).
    NotAssembled,
    /// No `UUID=`/`LABEL=` match on partitions and disks, but the layout has LVs
    /// whose contents were not given: probe them and resolve again.
    NeedsLvProbe,
    /// The spec is not understood.
    Unsupported,
}

/// What kind of thing a non-disk entry mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotADiskKind {
    /// A network filesystem (nfs, cifs, ...).
    Network,
    /// A kernel pseudo filesystem (proc, sysfs, tmpfs, devpts, ...).
    Pseudo,
    /// A bind mount of a directory.
    Bind,
    /// A file on another filesystem (swap file, loop image).
    File,
    /// Removable media (CD-ROM, floppy).
    Removable,
    /// A FUSE filesystem that is not a known network one.
    Fuse,
}

/// The result of resolving one fstab entry against a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Found exactly one volume.
    Resolved(Resolved),
    /// Several volumes match (duplicate UUIDs, cloned disks): reported, never picked.
    Ambiguous {
        /// Every match.
        candidates: Vec<Volume>,
        /// What was matched.
        reason: String,
    },
    /// Names a block device that cannot be found in the layout.
    Unresolved {
        /// Why, as a matchable kind.
        kind: UnresolvedKind,
        /// Why, for a human.
        reason: String,
    },
    /// Not a disk at all.
    NotADisk {
        /// Which kind.
        kind: NotADiskKind,
        /// Human detail (`nfs server:/export`).
        detail: String,
    },
}

impl Resolution {
    /// The resolved volume, if any.
    pub fn volume(&self) -> Option<&Volume> {
        match self {
            Resolution::Resolved(r) => Some(&r.volume),
            _ => None,
        }
    }

    fn unresolved(kind: UnresolvedKind, reason: impl Into<String>) -> Self {
        Resolution::Unresolved {
            kind,
            reason: reason.into(),
        }
    }

    fn not_a_disk(kind: NotADiskKind, detail: impl Into<String>) -> Self {
        Resolution::NotADisk {
            kind,
            detail: detail.into(),
        }
    }
}

/// Resolve one fstab entry (`spec`, `vfstype`, options string) against `layout`.
/// Same as `Resolver::new(layout).resolve(...)`.
pub fn resolve(spec: &Spec, vfstype: &str, options: &str, layout: &Layout) -> Resolution {
    Resolver::new(layout).resolve(spec, vfstype, options)
}

/// Resolves fstab entries against a layout, plus filesystems found on LVs.
#[derive(Debug, Clone)]
pub struct Resolver<'a> {
    layout: &'a Layout,
    lv_fs: Vec<(String, String, FsInfo)>,
}

/// Pseudo filesystem types (libmount's `mnt_fstype_is_pseudofs` and a few more).
const PSEUDO_FSTYPES: &[&str] = &[
    "anon_inodefs",
    "autofs",
    "bdev",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "cpuset",
    "debugfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "dlmfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nfsd",
    "none",
    "nsfs",
    "overlay",
    "pipefs",
    "proc",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sockfs",
    "spufs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "usbfs",
    "fuse.gvfs-fuse-daemon",
];

impl<'a> Resolver<'a> {
    /// A resolver over `layout` (no LV contents known yet).
    pub fn new(layout: &'a Layout) -> Self {
        Resolver {
            layout,
            lv_fs: Vec::new(),
        }
    }

    /// A resolver over `layout` that knows the filesystems probed on mapped
    /// LVs: (VG, LV, filesystem) as the assembly records them.
    pub fn with_lvs(layout: &'a Layout, lv_fs: &[(String, String, FsInfo)]) -> Self {
        Resolver {
            layout,
            lv_fs: lv_fs.to_vec(),
        }
    }

    /// Add what was probed on LV `vg`/`lv` after mapping it, so that `UUID=` and
    /// `LABEL=` can match it.
    pub fn with_lv_fs(mut self, vg: &str, lv: &str, fs: FsInfo) -> Self {
        self.lv_fs.push((vg.to_string(), lv.to_string(), fs));
        self
    }

    /// The filesystem on `volume`: from the layout for partitions and whole
    /// disks, from what was added with [`Resolver::with_lv_fs`] for LVs.
    pub fn fs_of(&self, volume: &Volume) -> Option<&FsInfo> {
        match volume {
            Volume::Lv { vg, lv } => self
                .lv_fs
                .iter()
                .find(|(g, l, _)| g == vg && l == lv)
                .map(|(_, _, f)| f),
            v => v.fs(self.layout),
        }
    }

    /// Resolve one entry. See the module documentation for the rules.
    pub fn resolve(&self, spec: &Spec, vfstype: &str, options: &str) -> Resolution {
        let opts = Options::new(options);
        if is_network_fstype(vfstype) || (vfstype == "fuse" && spec.to_string().contains('#')) {
            return Resolution::not_a_disk(NotADiskKind::Network, format!("{vfstype} {spec}"));
        }
        if opts.bind() {
            return Resolution::not_a_disk(NotADiskKind::Bind, format!("bind mount of {spec}"));
        }
        if PSEUDO_FSTYPES.contains(&vfstype) {
            return Resolution::not_a_disk(NotADiskKind::Pseudo, format!("{vfstype} ({spec})"));
        }
        let res = match spec {
            Spec::Uuid(u) => self.by_fs_uuid(u),
            Spec::Label(l) => self.by_fs_label(l),
            Spec::PartUuid(u) => self.by_part_uuid(u),
            Spec::PartLabel(l) => self.by_part_label(l),
            Spec::Id(id) => by_id(id),
            Spec::DevPath(p) => self.by_dev_path(p),
            Spec::Path(p) => {
                Resolution::not_a_disk(NotADiskKind::File, format!("file {p} ({vfstype})"))
            }
            Spec::Other(o) => {
                if vfstype.starts_with("fuse") && vfstype != "fuseblk" {
                    Resolution::not_a_disk(NotADiskKind::Fuse, format!("{vfstype} {o}"))
                } else if o.starts_with("//") || o.contains(":/") {
                    Resolution::not_a_disk(NotADiskKind::Network, format!("{vfstype} {o}"))
                } else {
                    Resolution::unresolved(
                        UnresolvedKind::Unsupported,
                        format!("{o:?} ({vfstype}) names no block device"),
                    )
                }
            }
        };
        match res {
            Resolution::Resolved(mut r) => {
                let subvolume = Subvolume {
                    path: opts.subvol().map(str::to_string),
                    id: opts.subvolid(),
                };
                if subvolume != Subvolume::default() {
                    r.subvolume = Some(subvolume);
                }
                self.check_type(&mut r, vfstype);
                Resolution::Resolved(r)
            }
            other => other,
        }
    }

    /// Warn when the entry's type does not fit the filesystem found.
    fn check_type(&self, r: &mut Resolved, vfstype: &str) {
        let fs = match &r.volume {
            Volume::Lv { vg, lv } => self
                .lv_fs
                .iter()
                .find(|(g, l, _)| g == vg && l == lv)
                .map(|(_, _, f)| f),
            v => v.fs(self.layout),
        };
        if let (Volume::Partition { .. } | Volume::WholeDisk { .. }, None) = (&r.volume, fs) {
            r.warnings.push(format!(
                "{} holds no recognised filesystem ({})",
                r.volume,
                self.content_name(&r.volume)
            ));
            return;
        }
        let Some(fs) = fs else { return };
        if !type_fits(vfstype, &fs.fs_type) {
            r.warnings.push(format!(
                "fstab says {vfstype} but {} holds {}{}",
                r.volume,
                fs.fs_type,
                if r.via == Via::DiskOrder {
                    ": the disk order may not be the guest's"
                } else {
                    ""
                }
            ));
        }
    }

    fn content_name(&self, v: &Volume) -> &'static str {
        let content = match v {
            Volume::Partition { disk, number } => self
                .layout
                .disks
                .get(*disk)
                .and_then(|d| d.partitions.iter().find(|p| p.number == *number))
                .map(|p| &p.content),
            Volume::WholeDisk { disk } => self
                .layout
                .disks
                .get(*disk)
                .and_then(|d| d.content.as_ref()),
            Volume::Lv { .. } => None,
        };
        match content {
            Some(Content::Filesystem(_)) => "filesystem",
            Some(Content::ExtendedContainer) => "an extended partition",
            Some(Content::Empty) => "empty",
            Some(Content::Unknown { .. }) => "unknown content",
            Some(Content::Unreadable { .. }) => "unreadable",
            None => "a partition table or nothing",
        }
    }

    /// Every filesystem with the volume holding it (disks, partitions, LVs given).
    fn all_fs(&self) -> Vec<(Volume, &FsInfo)> {
        let mut v: Vec<(Volume, &FsInfo)> = self
            .layout
            .filesystems()
            .map(|(r, f)| {
                let vol = match r.partition {
                    Some(number) => Volume::Partition {
                        disk: r.disk,
                        number,
                    },
                    None => Volume::WholeDisk { disk: r.disk },
                };
                (vol, f)
            })
            .collect();
        v.extend(self.lv_fs.iter().map(|(g, l, f)| {
            (
                Volume::Lv {
                    vg: g.clone(),
                    lv: l.clone(),
                },
                f,
            )
        }));
        v
    }

    fn unprobed_lvs(&self) -> usize {
        self.layout
            .volume_groups
            .iter()
            .filter(|vg| !vg.partial)
            .flat_map(|vg| vg.lvs.iter().filter(|l| l.visible).map(move |l| (vg, l)))
            .filter(|(vg, l)| {
                !self
                    .lv_fs
                    .iter()
                    .any(|(g, n, _)| *g == vg.name && *n == l.name)
            })
            .count()
    }

    fn by_fs_uuid(&self, uuid: &str) -> Resolution {
        let all = self.all_fs();
        let exact: Vec<_> = all
            .iter()
            .filter(|(_, f)| f.uuid.as_deref() == Some(uuid))
            .collect();
        let (found, case_only) = if exact.is_empty() {
            let ci: Vec<_> = all
                .iter()
                .filter(|(_, f)| {
                    f.uuid
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(uuid))
                })
                .collect();
            (ci, true)
        } else {
            (exact, false)
        };
        if found.is_empty() {
            return self.not_found_fs(format!("filesystem UUID {uuid}"));
        }
        let mut res = pick_fs(&found, Via::FsUuid, &format!("filesystem UUID {uuid}"));
        if case_only {
            if let Resolution::Resolved(r) = &mut res {
                r.warnings.push(format!(
                    "UUID {uuid} matches {} only when case is ignored: the guest's udev \
                     links are case-sensitive, so the guest may not find it",
                    found[0].1.uuid.as_deref().unwrap_or("")
                ));
            }
        }
        res
    }

    fn by_fs_label(&self, label: &str) -> Resolution {
        let all = self.all_fs();
        let found: Vec<_> = all
            .iter()
            .filter(|(_, f)| f.label.as_deref() == Some(label))
            .collect();
        if found.is_empty() {
            return self.not_found_fs(format!("filesystem label {label:?}"));
        }
        pick_fs(&found, Via::FsLabel, &format!("filesystem label {label:?}"))
    }

    fn not_found_fs(&self, what: String) -> Resolution {
        let n = self.unprobed_lvs();
        if n > 0 {
            Resolution::unresolved(
                UnresolvedKind::NeedsLvProbe,
                format!(
                    "no partition or disk has {what}; {n} LV(s) not probed yet: \
                     map and probe them, then resolve again"
                ),
            )
        } else {
            let partial: Vec<&str> = self
                .layout
                .volume_groups
                .iter()
                .filter(|g| g.partial)
                .map(|g| g.name.as_str())
                .collect();
            let note = if partial.is_empty() {
                String::new()
            } else {
                format!(
                    " (the LVs of partial VG(s) {} could not be searched: give every disk)",
                    partial.join(", ")
                )
            };
            Resolution::unresolved(
                UnresolvedKind::NotFound,
                format!("no volume on the given disks has {what}{note}"),
            )
        }
    }

    fn partitions(&self) -> impl Iterator<Item = (usize, &crate::layout::Partition)> {
        self.layout
            .disks
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.partitions.iter().map(move |p| (i, p)))
    }

    fn by_part_uuid(&self, uuid: &str) -> Resolution {
        let exact: Vec<Volume> = self
            .partitions()
            .filter(|(_, p)| p.uuid.as_deref() == Some(uuid))
            .map(|(d, p)| part_volume(d, p.number))
            .collect();
        let (found, case_only) = if exact.is_empty() {
            let ci: Vec<Volume> = self
                .partitions()
                .filter(|(_, p)| {
                    p.uuid
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(uuid))
                })
                .map(|(d, p)| part_volume(d, p.number))
                .collect();
            (ci, true)
        } else {
            (exact, false)
        };
        let mut res = pick_volume(found, Via::PartUuid, &format!("partition UUID {uuid}"));
        if case_only {
            if let Resolution::Resolved(r) = &mut res {
                r.warnings.push(format!(
                    "PARTUUID {uuid} matches only when case is ignored: the guest may not find it"
                ));
            }
        }
        res
    }

    fn by_part_label(&self, label: &str) -> Resolution {
        let found: Vec<Volume> = self
            .partitions()
            .filter(|(_, p)| p.name.as_deref() == Some(label))
            .map(|(d, p)| part_volume(d, p.number))
            .collect();
        pick_volume(found, Via::PartLabel, &format!("partition label {label:?}"))
    }

    fn by_dev_path(&self, path: &str) -> Resolution {
        let rest = path.strip_prefix("/dev/").unwrap_or(path);
        let rest = rest.trim_end_matches('/');
        if let Some(by) = rest.strip_prefix("disk/") {
            return self.by_disk_link(path, by);
        }
        if let Some(name) = rest.strip_prefix("mapper/") {
            return self.by_dm_name(path, name);
        }
        if rest == "root" {
            return Resolution::unresolved(
                UnresolvedKind::Unstable,
                "/dev/root is the kernel's alias for its root= device: resolve root= from \
                 the boot loader configuration instead",
            );
        }
        if rest.starts_with("dm-") {
            return Resolution::unresolved(
                UnresolvedKind::Unstable,
                format!("{path}: device-mapper numbers are assigned at boot"),
            );
        }
        if rest.starts_with("md") {
            return Resolution::unresolved(
                UnresolvedKind::NotAssembled,
                format!("{path}: MD RAID arrays are not assembled by Hydra"),
            );
        }
        if rest.starts_with("loop") {
            return Resolution::unresolved(
                UnresolvedKind::Unstable,
                format!("{path}: loop devices are set up at boot"),
            );
        }
        if rest.starts_with("zram") {
            return Resolution::not_a_disk(NotADiskKind::Pseudo, format!("{path}: zram"));
        }
        if is_removable(rest) {
            return Resolution::not_a_disk(NotADiskKind::Removable, path.to_string());
        }
        if let Some(k) = parse_kernel_name(rest) {
            return self.by_kernel_name(path, k);
        }
        if rest.starts_with("nvme") || rest.starts_with("cciss/") || rest.starts_with("ida/") {
            return Resolution::unresolved(
                UnresolvedKind::HypervisorSpecific,
                format!(
                    "{path}: only controller 0 maps to disk order; other controllers \
                     depend on the source VM's controller layout"
                ),
            );
        }
        if let Some((vg, lv)) = rest.split_once('/') {
            if !lv.contains('/') && self.layout.volume_groups.iter().any(|g| g.name == vg) {
                return self.by_vg_lv(path, vg, lv, Via::LvName);
            }
            if !lv.contains('/') && !vg.is_empty() && !lv.is_empty() {
                return Resolution::unresolved(
                    UnresolvedKind::NotFound,
                    format!("{path}: no volume group named {vg:?} on the given disks"),
                );
            }
        }
        Resolution::unresolved(
            UnresolvedKind::Unsupported,
            format!("{path}: not a device name Hydra can map to the given disks"),
        )
    }

    fn by_disk_link(&self, path: &str, by: &str) -> Resolution {
        let Some((kind, name)) = by.split_once('/') else {
            return Resolution::unresolved(UnresolvedKind::Unsupported, format!("{path}: ?"));
        };
        let name = udev_unescape(name);
        match kind {
            "by-uuid" => self.by_fs_uuid(&name),
            "by-label" => self.by_fs_label(&name),
            "by-partuuid" => self.by_part_uuid(&name),
            "by-partlabel" => self.by_part_label(&name),
            "by-id" => {
                if let Some(dm) = name.strip_prefix("dm-name-") {
                    self.by_dm_name(path, dm)
                } else if let Some(u) = name.strip_prefix("dm-uuid-LVM-") {
                    self.by_lvm_dm_uuid(path, u)
                } else {
                    by_id(&name)
                }
            }
            "by-path" => Resolution::unresolved(
                UnresolvedKind::HypervisorSpecific,
                format!(
                    "{path}: a bus address of the source hypervisor{}; map it with the \
                     source VM's controller layout",
                    part_suffix_note(&name)
                ),
            ),
            _ => Resolution::unresolved(
                UnresolvedKind::Unsupported,
                format!("{path}: /dev/disk/{kind} links are not mapped"),
            ),
        }
    }

    fn by_dm_name(&self, path: &str, name: &str) -> Resolution {
        if name.starts_with("luks-") && !self.layout.volume_groups.iter().any(|g| g.name == "luks")
        {
            return Resolution::unresolved(
                UnresolvedKind::NotAssembled,
                format!("{path}: a LUKS mapping; Hydra does not open LUKS volumes"),
            );
        }
        match split_dm_name(name) {
            Some((vg, _, _)) if !self.layout.volume_groups.iter().any(|g| g.name == vg) => {
                Resolution::unresolved(
                    UnresolvedKind::NotFound,
                    format!(
                        "{path}: no volume group {vg:?} on the given disks; if {name:?} is \
                         LUKS or multipath, Hydra does not assemble it"
                    ),
                )
            }
            Some((vg, lv, None)) => self.by_vg_lv(path, &vg, &lv, Via::LvName),
            Some((vg, lv, Some(layer))) => Resolution::unresolved(
                UnresolvedKind::Lvm,
                format!("{path}: internal layer {layer:?} of LV {vg}/{lv}, not a mountable LV"),
            ),
            None => Resolution::unresolved(
                UnresolvedKind::NotAssembled,
                format!(
                    "{path}: device-mapper name {name:?} is not VG-LV (LUKS, multipath?): \
                     not assembled by Hydra"
                ),
            ),
        }
    }

    fn by_lvm_dm_uuid(&self, path: &str, u: &str) -> Resolution {
        // 32 chars of VG UUID, 32 of LV UUID, dashes removed; "-layer" may follow.
        let (ids, layer) = match u.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (u, None),
        };
        if ids.len() != 64 || !ids.is_ascii() {
            return Resolution::unresolved(
                UnresolvedKind::Unsupported,
                format!("{path}: malformed LVM device-mapper UUID"),
            );
        }
        let (vgu, lvu) = ids.split_at(32);
        let undash = |s: &str| s.replace('-', "");
        let vgs: Vec<&VolumeGroup> = self
            .layout
            .volume_groups
            .iter()
            .filter(|g| undash(&g.uuid) == vgu)
            .collect();
        let Some(vg) = vgs.first() else {
            return Resolution::unresolved(
                UnresolvedKind::NotFound,
                format!("{path}: no VG with UUID {vgu} on the given disks"),
            );
        };
        let Some(lv) = vg.lvs.iter().find(|l| undash(&l.uuid) == lvu) else {
            return Resolution::unresolved(
                UnresolvedKind::NotFound,
                format!("{path}: VG {} has no LV with UUID {lvu}", vg.name),
            );
        };
        if let Some(layer) = layer {
            return Resolution::unresolved(
                UnresolvedKind::Lvm,
                format!(
                    "{path}: internal layer {layer:?} of LV {}/{}",
                    vg.name, lv.name
                ),
            );
        }
        if vgs.len() > 1 {
            return Resolution::unresolved(
                UnresolvedKind::Lvm,
                format!(
                    "{path}: {} VGs carry UUID {} (cloned disks?)",
                    vgs.len(),
                    vg.uuid
                ),
            );
        }
        let (vg_name, lv_name) = (vg.name.clone(), lv.name.clone());
        self.by_vg_lv(path, &vg_name, &lv_name, Via::LvUuid)
    }

    fn by_vg_lv(&self, path: &str, vg: &str, lv: &str, via: Via) -> Resolution {
        let vgs: Vec<&VolumeGroup> = self
            .layout
            .volume_groups
            .iter()
            .filter(|g| g.name == vg)
            .collect();
        let g = match vgs.as_slice() {
            [] => {
                return Resolution::unresolved(
                    UnresolvedKind::NotFound,
                    format!("{path}: no volume group named {vg:?} on the given disks"),
                )
            }
            [g] => *g,
            many => {
                let uuids: Vec<&str> = many.iter().map(|g| g.uuid.as_str()).collect();
                return Resolution::unresolved(
                    UnresolvedKind::Lvm,
                    format!(
                        "{path}: {} volume groups are named {vg:?} (UUIDs {}): cloned disks?",
                        many.len(),
                        uuids.join(", ")
                    ),
                );
            }
        };
        let Some(l) = g.lvs.iter().find(|l| l.name == lv) else {
            return Resolution::unresolved(
                UnresolvedKind::NotFound,
                format!("{path}: volume group {vg:?} has no LV {lv:?}"),
            );
        };
        if g.partial {
            let missing: Vec<String> = g
                .pvs
                .iter()
                .filter(|p| p.location.is_none())
                .map(|p| match &p.device_hint {
                    Some(h) => format!("{} ({}, last seen as {h})", p.id, p.uuid),
                    None => format!("{} ({})", p.id, p.uuid),
                })
                .collect();
            return Resolution::unresolved(
                UnresolvedKind::Lvm,
                format!(
                    "{path}: volume group {vg:?} is partial, missing PV(s) {}: give every disk of the VM",
                    missing.join(", ")
                ),
            );
        }
        if !l.visible {
            return Resolution::unresolved(
                UnresolvedKind::Lvm,
                format!("{path}: LV {vg}/{lv} is hidden (an internal LV, not mountable)"),
            );
        }
        Resolution::Resolved(Resolved {
            volume: Volume::Lv {
                vg: vg.to_string(),
                lv: lv.to_string(),
            },
            via,
            subvolume: None,
            other_devices: Vec::new(),
            warnings: Vec::new(),
        })
    }

    fn by_kernel_name(&self, path: &str, k: KernelName) -> Resolution {
        let ndisks = self.layout.disks.len();
        if k.disk >= ndisks {
            return Resolution::unresolved(
                UnresolvedKind::DiskMissing,
                format!(
                    "{path}: names disk {} by disk order, but {ndisks} disk(s) were given",
                    k.disk
                ),
            );
        }
        let volume = match k.partition {
            None => Volume::WholeDisk { disk: k.disk },
            Some(n) => {
                let disk = &self.layout.disks[k.disk];
                let Some(p) = disk.partitions.iter().find(|p| p.number == n) else {
                    return Resolution::unresolved(
                        UnresolvedKind::NotFound,
                        format!("{path}: disk {} has no partition {n}", k.disk),
                    );
                };
                if p.role == PartitionRole::Extended {
                    return Resolution::unresolved(
                        UnresolvedKind::NotFound,
                        format!(
                            "{path}: partition {n} of disk {} is the extended container",
                            k.disk
                        ),
                    );
                }
                part_volume(k.disk, n)
            }
        };
        Resolution::Resolved(Resolved {
            volume,
            via: Via::DiskOrder,
            subvolume: None,
            other_devices: Vec::new(),
            warnings: Vec::new(),
        })
    }
}

fn part_volume(disk: usize, number: u32) -> Volume {
    Volume::Partition { disk, number }
}

fn resolved(volume: Volume, via: Via) -> Resolution {
    Resolution::Resolved(Resolved {
        volume,
        via,
        subvolume: None,
        other_devices: Vec::new(),
        warnings: Vec::new(),
    })
}

/// One volume, or ambiguity. `found` is never empty here for filesystem matches.
fn pick_fs(found: &[&(Volume, &FsInfo)], via: Via, what: &str) -> Resolution {
    if found.len() == 1 {
        return resolved(found[0].0.clone(), via);
    }
    // A multi-device btrfs: same filesystem UUID, one distinct device UUID each.
    let all_btrfs = found.iter().all(|(_, f)| f.fs_type == "btrfs");
    let subs: BTreeSet<Option<&str>> = found.iter().map(|(_, f)| f.uuid_sub.as_deref()).collect();
    if via == Via::FsUuid && all_btrfs && subs.len() == found.len() && !subs.contains(&None) {
        let mut vols: Vec<Volume> = found.iter().map(|(v, _)| v.clone()).collect();
        let first = vols.remove(0);
        return Resolution::Resolved(Resolved {
            volume: first,
            via,
            subvolume: None,
            other_devices: vols,
            warnings: Vec::new(),
        });
    }
    Resolution::Ambiguous {
        candidates: found.iter().map(|(v, _)| v.clone()).collect(),
        reason: format!(
            "{} volumes carry {what} (cloned disks or RAID members?)",
            found.len()
        ),
    }
}

fn pick_volume(found: Vec<Volume>, via: Via, what: &str) -> Resolution {
    match found.len() {
        0 => Resolution::unresolved(
            UnresolvedKind::NotFound,
            format!("no partition on the given disks has {what}"),
        ),
        1 => resolved(found.into_iter().next().expect("one"), via),
        n => Resolution::Ambiguous {
            candidates: found,
            reason: format!("{n} partitions carry {what} (cloned disks?)"),
        },
    }
}

fn by_id(name: &str) -> Resolution {
    if name.starts_with("md-uuid-") || name.starts_with("md-name-") {
        return Resolution::unresolved(
            UnresolvedKind::NotAssembled,
            format!("by-id {name}: MD RAID arrays are not assembled by Hydra"),
        );
    }
    if name.starts_with("lvm-pv-uuid-") {
        return Resolution::unresolved(
            UnresolvedKind::Unsupported,
            format!("by-id {name}: an LVM physical volume, not a mountable volume"),
        );
    }
    Resolution::unresolved(
        UnresolvedKind::HypervisorSpecific,
        format!(
            "by-id {name}: a hardware id (serial, WWN) that only the source hypervisor \
             knows{}; map it with the source VM's disk serials",
            part_suffix_note(name)
        ),
    )
}

fn part_suffix_note(name: &str) -> String {
    match name.rsplit_once("-part") {
        Some((_, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!(" (partition {n} of that disk)")
        }
        _ => String::new(),
    }
}

/// Decode udev's `\xNN` escapes in a `/dev/disk/by-*` link name.
pub fn udev_unescape(name: &str) -> String {
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            if let (Some(h), Some(l)) = (hex(b[i + 2]), hex(b[i + 3])) {
                out.push(h << 4 | l);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Split a device-mapper name into VG, LV and an optional layer (`-real`, `-cow`,
/// `-tpool`): single dashes separate, double dashes are dashes inside a name.
pub fn split_dm_name(name: &str) -> Option<(String, String, Option<String>)> {
    let mut parts = vec![String::new()];
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' {
            if chars.peek() == Some(&'-') {
                chars.next();
                parts.last_mut().expect("non-empty").push('-');
            } else {
                parts.push(String::new());
            }
        } else {
            parts.last_mut().expect("non-empty").push(c);
        }
    }
    if parts.iter().any(String::is_empty) {
        return None;
    }
    let mut it = parts.into_iter();
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(vg), Some(lv), layer, None) => Some((vg, lv, layer)),
        _ => None,
    }
}

/// A kernel disk name mapped to disk order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KernelName {
    disk: usize,
    partition: Option<u32>,
}

fn parse_kernel_name(rest: &str) -> Option<KernelName> {
    for prefix in ["xvd", "sd", "hd", "vd"] {
        if let Some(s) = rest.strip_prefix(prefix) {
            let letters = s.bytes().take_while(u8::is_ascii_lowercase).count();
            if letters == 0 {
                return None;
            }
            let (l, n) = s.split_at(letters);
            let mut disk: usize = 0;
            for c in l.bytes() {
                disk = disk
                    .checked_mul(26)?
                    .checked_add(usize::from(c - b'a') + 1)?;
            }
            return Some(KernelName {
                disk: disk - 1,
                partition: parse_part(n, false)?,
            });
        }
    }
    if let Some(s) = rest.strip_prefix("nvme") {
        // nvme<ctrl>n<ns>[p<part>]
        let (ctrl, s) = split_num(s)?;
        let s = s.strip_prefix('n')?;
        let (ns, s) = split_num(s)?;
        if ctrl != 0 || ns == 0 {
            return None;
        }
        return Some(KernelName {
            disk: usize::try_from(ns - 1).ok()?,
            partition: parse_part(s, true)?,
        });
    }
    for prefix in ["cciss/c", "ida/c"] {
        if let Some(s) = rest.strip_prefix(prefix) {
            let (ctrl, s) = split_num(s)?;
            let s = s.strip_prefix('d')?;
            let (d, s) = split_num(s)?;
            if ctrl != 0 {
                return None;
            }
            return Some(KernelName {
                disk: usize::try_from(d).ok()?,
                partition: parse_part(s, true)?,
            });
        }
    }
    None
}

/// `""` -> whole disk; `"3"` (or `"p3"` when `p` is required) -> partition 3.
/// Returns `None` for anything else (not a kernel name), `Some(None)` for a disk.
fn parse_part(s: &str, with_p: bool) -> Option<Option<u32>> {
    if s.is_empty() {
        return Some(None);
    }
    let s = if with_p { s.strip_prefix('p')? } else { s };
    let (n, rest) = split_num(s)?;
    if !rest.is_empty() || n == 0 || s.starts_with('0') {
        return None;
    }
    Some(Some(u32::try_from(n).ok()?))
}

fn split_num(s: &str) -> Option<(u64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

fn is_removable(rest: &str) -> bool {
    ["sr", "scd", "cdrom", "cdrw", "dvd", "fd", "floppy"]
        .iter()
        .any(|p| {
            rest.strip_prefix(p)
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// Whether an fstab type accepts a filesystem blkid calls `found`.
fn type_fits(vfstype: &str, found: &str) -> bool {
    vfstype.split(',').any(|t| {
        let t = t.strip_prefix("fuse.").unwrap_or(t);
        t == found
            || matches!(t, "auto" | "none" | "")
            || matches!(
                (t, found),
                ("ext2" | "ext3" | "ext4", "ext2" | "ext3" | "ext4")
            )
            || matches!(
                (t, found),
                ("vfat" | "msdos" | "fat" | "umsdos", "vfat")
                    | ("ntfs" | "ntfs-3g" | "ntfs3" | "fuseblk", "ntfs")
                    | ("udf", "udf")
                    | ("iso9660", "iso9660")
                    | ("ext4dev", "ext4")
                    | ("reiserfs", "reiserfs")
            )
    })
}

/// What a mounted filesystem is, from the paths found in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsRole {
    /// A Linux root: `etc/fstab` and at least one other sign of an OS.
    LinuxRoot,
    /// Looks like a Linux root but has no `etc/fstab` (Hydra needs one, L1).
    LinuxRootWithoutFstab,
    /// A Windows system volume (`Windows/System32/config/SYSTEM`, any case).
    WindowsSystem,
    /// A separate `/boot` (kernels, GRUB or BLS entries at its top).
    Boot,
    /// An EFI system partition (an `EFI/` directory with something in it).
    Esp,
    /// A separate `/usr`.
    Usr,
    /// A separate `/var`.
    Var,
    /// None of these.
    Unknown,
}

/// The paths found in one mounted filesystem, classified into [`FsRole`]s.
///
/// The caller checks each path of [`RootSigns::probes`] (with `lstat`: a dangling
/// symlink such as `bin -> usr/bin` counts) and passes those that exist, plus the
/// names of the top-level entries (for `vmlinuz-*`, `initramfs-*`) and of the
/// entries of a top-level `EFI` directory (as `EFI/<name>`). Paths are relative to
/// the filesystem's top; a leading `/` or `./` and a trailing `/` are ignored.
/// Windows paths match case-insensitively (NTFS, FAT), Linux ones exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootSigns {
    paths: BTreeSet<String>,
    lower: BTreeSet<String>,
}

const LINUX_SIGNS: &[&str] = &[
    "bin",
    "usr/bin",
    "sbin",
    "usr/sbin",
    "sbin/init",
    "usr/sbin/init",
    "lib/systemd/systemd",
    "usr/lib/systemd/systemd",
    "etc/os-release",
    "usr/lib/os-release",
    "etc/redhat-release",
    "etc/SuSE-release",
    "etc/debian_version",
    "etc/lsb-release",
    "etc/hosts",
    "etc/passwd",
    "etc/inittab",
    "lib/modules",
    "usr/lib/modules",
];

const BOOT_FILES: &[&str] = &[
    "grub/grub.cfg",
    "grub/menu.lst",
    "grub/grub.conf",
    "grub2/grub.cfg",
    "grub2/grubenv",
    "loader/entries",
];

const BOOT_PREFIXES: &[&str] = &[
    "vmlinuz-",
    "vmlinux-",
    "initramfs-",
    "initrd.img-",
    "initrd-",
];

const WINDOWS_HIVE: &str = "windows/system32/config/system";

impl RootSigns {
    /// The fixed paths the caller should look for (see the type's documentation for
    /// the directory listings to add): the signs of a Linux root, the bootloader
    /// files, and the other names the roles are decided by.
    pub fn probes() -> impl Iterator<Item = &'static str> {
        const OTHERS: &[&str] = &[
            "etc",
            "etc/fstab",
            "usr",
            "boot",
            "grub",
            "grub2",
            "EFI",
            "Windows/System32/config/SYSTEM",
            "share",
            "lib",
            "lib64",
            "libexec",
            "local",
            "log",
            "spool",
            "cache",
            "run",
        ];
        OTHERS.iter().chain(LINUX_SIGNS).chain(BOOT_FILES).copied()
    }

    /// Collect the paths that exist.
    pub fn from_paths<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut s = RootSigns::default();
        for p in paths {
            let p = normalize_rel(p.as_ref());
            if p.is_empty() {
                continue;
            }
            s.lower.insert(p.to_ascii_lowercase());
            s.paths.insert(p);
        }
        s
    }

    /// Whether `path` exists (exact case).
    pub fn has(&self, path: &str) -> bool {
        self.paths.contains(&normalize_rel(path))
    }

    /// Whether `path` exists, ignoring ASCII case.
    pub fn has_nocase(&self, path: &str) -> bool {
        self.lower
            .contains(&normalize_rel(path).to_ascii_lowercase())
    }

    fn linux_signs(&self) -> usize {
        LINUX_SIGNS.iter().filter(|p| self.has(p)).count()
    }

    fn looks_like_os_tree(&self) -> bool {
        self.has("etc") || self.has("usr") || self.has("etc/fstab")
    }

    /// Every role the paths fit, most specific first (a `/boot` that is also an
    /// ESP gives both).
    pub fn roles(&self) -> Vec<FsRole> {
        let mut r = Vec::new();
        if self.has("etc/fstab") && self.linux_signs() >= 1 {
            r.push(FsRole::LinuxRoot);
        }
        if self.has_nocase(WINDOWS_HIVE) {
            r.push(FsRole::WindowsSystem);
        }
        if !self.has("etc/fstab") && self.has("etc") && self.linux_signs() >= 2 {
            r.push(FsRole::LinuxRootWithoutFstab);
        }
        let kernels = self
            .paths
            .iter()
            .any(|p| !p.contains('/') && BOOT_PREFIXES.iter().any(|b| p.starts_with(b)));
        if !self.looks_like_os_tree() && (kernels || BOOT_FILES.iter().any(|p| self.has(p))) {
            r.push(FsRole::Boot);
        }
        if self.lower.iter().any(|p| p.starts_with("efi/")) {
            r.push(FsRole::Esp);
        }
        let libs = ["lib", "lib64", "libexec", "local"]
            .iter()
            .any(|p| self.has(p));
        if !self.has("etc/fstab")
            && !self.has("usr")
            && self.has("bin")
            && self.has("share")
            && libs
        {
            r.push(FsRole::Usr);
        }
        if !self.looks_like_os_tree()
            && self.has("log")
            && self.has("spool")
            && ["lib", "cache", "run"].iter().any(|p| self.has(p))
        {
            r.push(FsRole::Var);
        }
        r
    }

    /// The one role to act on: the first of [`RootSigns::roles`], or
    /// [`FsRole::Unknown`].
    pub fn classify(&self) -> FsRole {
        self.roles().first().copied().unwrap_or(FsRole::Unknown)
    }
}

fn normalize_rel(p: &str) -> String {
    let mut p = p;
    loop {
        if let Some(x) = p.strip_prefix("./") {
            p = x;
        } else if let Some(x) = p.strip_prefix('/') {
            p = x;
        } else {
            break;
        }
    }
    p.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::fstab::Fstab;
    use crate::layout::{
        Disk, ImageFormat, ImageInfo, LogicalVolume, Partition, PartitionTable, PhysicalVolume,
        Scheme, VolumeRef,
    };
    use std::path::PathBuf;

    const U_BOOT: &str = "0f9b8e7a-2c4d-4e6f-8a1b-3c5d7e9f1a2b";
    const U_DATA: &str = "15fbc63d-3d37-40fb-8578-5ef7f467bc6c";
    const U_SWAP: &str = "b84f39d8-c6f7-4d71-9509-a4d20a1179fb";
    const U_DUP: &str = "2d4e6f80-1a2b-3c4d-5e6f-708192a3b4c5";
    const U_BTRFS: &str = "8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8";
    const ESP_GUID: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
    const VG_UUID: &str = "Kx3bYw-Qb1r-X0yC-9p0a-Z6Qe-F7wT-2uV8sL";
    const LV_UUID: &str = "d4kR5m-N1oP-3qS6-tU9v-W0xY-2zA4-bC6dE8";

    fn fs(t: &str, uuid: &str, label: Option<&str>) -> Content {
        Content::Filesystem(FsInfo {
            fs_type: t.into(),
            uuid: Some(uuid.into()),
            uuid_sub: None,
            label: label.map(str::to_string),
            version: None,
            block_size: None,
            fs_size: None,
            offset: 0,
        })
    }

    fn btrfs(sub: &str) -> Content {
        let Content::Filesystem(mut f) = fs("btrfs", U_BTRFS, None) else {
            unreachable!()
        };
        f.uuid_sub = Some(sub.into());
        Content::Filesystem(f)
    }

    fn part(
        number: u32,
        scheme: Scheme,
        role: PartitionRole,
        uuid: Option<&str>,
        name: Option<&str>,
        content: Content,
    ) -> Partition {
        Partition {
            number,
            scheme,
            role,
            offset: u64::from(number) << 20,
            size: 1 << 20,
            type_id: String::new(),
            type_name: None,
            uuid: uuid.map(str::to_string),
            name: name.map(str::to_string),
            flags: 0,
            content,
        }
    }

    fn disk(
        index: usize,
        scheme: Option<Scheme>,
        partitions: Vec<Partition>,
        content: Option<Content>,
    ) -> Disk {
        Disk {
            index,
            path: PathBuf::from(format!("/images/disk{index}.vmdk")),
            image: ImageInfo {
                format: ImageFormat::Raw,
                readable: true,
                extents: Vec::new(),
                note: None,
            },
            size: 1 << 30,
            sector_size: 512,
            table: scheme.map(|scheme| PartitionTable {
                scheme,
                id: Some("5e3da5c1".into()),
                gpt: None,
                mbr_kind: None,
            }),
            partitions,
            content,
            warnings: Vec::new(),
        }
    }

    fn lv(name: &str, uuid: &str, visible: bool) -> LogicalVolume {
        LogicalVolume {
            name: name.into(),
            uuid: uuid.into(),
            status: Vec::new(),
            visible,
            size: 1 << 20,
            segments: Vec::new(),
        }
    }

    fn pv(id: &str, location: Option<VolumeRef>) -> PhysicalVolume {
        PhysicalVolume {
            id: id.into(),
            uuid: format!("{id}-uuid"),
            device_hint: Some("/dev/sdz2".into()),
            location,
            pe_start: 1 << 20,
            pe_count: 100,
            dev_size: 1 << 28,
        }
    }

    fn vg(name: &str, uuid: &str, lvs: Vec<LogicalVolume>, partial: bool) -> VolumeGroup {
        VolumeGroup {
            name: name.into(),
            uuid: uuid.into(),
            seqno: 1,
            extent_size: 4 << 20,
            status: Vec::new(),
            pvs: vec![pv(
                "pv0",
                (!partial).then_some(VolumeRef {
                    disk: 0,
                    partition: Some(3),
                    offset: 3 << 20,
                    size: 1 << 20,
                }),
            )],
            lvs,
            partial,
        }
    }

    /// Disk 0: GPT (ESP, /boot, LVM PV). Disk 1: MBR with logicals. Disk 2: a
    /// whole-disk ext4 that is a clone of disk 1 partition 6. Disk 3: a two-device
    /// btrfs.
    fn layout() -> Layout {
        use PartitionRole::*;
        use Scheme::*;
        Layout {
            disks: vec![
                disk(
                    0,
                    Some(Gpt),
                    vec![
                        part(
                            1,
                            Gpt,
                            Primary,
                            Some(ESP_GUID),
                            Some("EFI System Partition"),
                            fs("vfat", "7C3A-1F2B", None),
                        ),
                        part(
                            2,
                            Gpt,
                            Primary,
                            Some("9a0b1c2d-3e4f-5061-7283-94a5b6c7d8e9"),
                            Some("boot"),
                            fs("xfs", U_BOOT, Some("boot")),
                        ),
                        part(
                            3,
                            Gpt,
                            Primary,
                            Some("11111111-2222-3333-4444-555555555555"),
                            None,
                            fs("LVM2_member", "pv0-uuid", None),
                        ),
                    ],
                    None,
                ),
                disk(
                    1,
                    Some(Dos),
                    vec![
                        part(
                            1,
                            Dos,
                            Primary,
                            Some("5e3da5c1-01"),
                            None,
                            fs("ext4", U_DATA, Some("data disk")),
                        ),
                        part(
                            2,
                            Dos,
                            Extended,
                            Some("5e3da5c1-02"),
                            None,
                            Content::ExtendedContainer,
                        ),
                        part(
                            5,
                            Dos,
                            Logical,
                            Some("5e3da5c1-05"),
                            None,
                            fs("swap", U_SWAP, None),
                        ),
                        part(
                            6,
                            Dos,
                            Logical,
                            Some("5e3da5c1-06"),
                            None,
                            fs("ext4", U_DUP, None),
                        ),
                        part(7, Dos, Logical, Some("5e3da5c1-07"), None, Content::Empty),
                    ],
                    None,
                ),
                disk(2, None, Vec::new(), Some(fs("ext4", U_DUP, None))),
                disk(
                    3,
                    Some(Gpt),
                    vec![
                        part(1, Gpt, Primary, None, Some("data"), btrfs("aaaa")),
                        part(2, Gpt, Primary, None, Some("data"), btrfs("bbbb")),
                    ],
                    None,
                ),
            ],
            volume_groups: vec![
                vg(
                    "my-vg",
                    VG_UUID,
                    vec![
                        lv("my-lv", LV_UUID, true),
                        lv("swap", "sw", true),
                        lv("root_rimage_0", "ri", false),
                    ],
                    false,
                ),
                vg("rhel", "RH", vec![lv("root", "rr", true)], true),
            ],
        }
    }

    fn ok(r: &Resolution) -> &Resolved {
        match r {
            Resolution::Resolved(x) => x,
            other => panic!("not resolved: {other:?}"),
        }
    }

    fn kind(r: &Resolution) -> UnresolvedKind {
        match r {
            Resolution::Unresolved { kind, .. } => *kind,
            other => panic!("not unresolved: {other:?}"),
        }
    }

    fn p(disk: usize, number: u32) -> Volume {
        Volume::Partition { disk, number }
    }

    fn lvv(vg: &str, lv: &str) -> Volume {
        Volume::Lv {
            vg: vg.into(),
            lv: lv.into(),
        }
    }

    fn dm_uuid() -> String {
        format!(
            "/dev/disk/by-id/dm-uuid-LVM-{}{}",
            VG_UUID.replace('-', ""),
            LV_UUID.replace('-', "")
        )
    }

    #[test]
    fn resolution_table() {
        let l = layout();
        let dm = dm_uuid();
        let cases: Vec<(&str, &str, &str, Volume, Via)> = vec![
            (
                "UUID=0f9b8e7a-2c4d-4e6f-8a1b-3c5d7e9f1a2b",
                "xfs",
                "defaults",
                p(0, 2),
                Via::FsUuid,
            ),
            ("UUID=7C3A-1F2B", "vfat", "umask=0077", p(0, 1), Via::FsUuid),
            (
                "/dev/disk/by-uuid/7C3A-1F2B",
                "vfat",
                "",
                p(0, 1),
                Via::FsUuid,
            ),
            ("LABEL=data\\040disk", "ext4", "", p(1, 1), Via::FsLabel),
            (
                "/dev/disk/by-label/data\\x20disk",
                "ext4",
                "",
                p(1, 1),
                Via::FsLabel,
            ),
            ("LABEL=boot", "xfs", "", p(0, 2), Via::FsLabel),
            ("PARTUUID=5e3da5c1-05", "swap", "", p(1, 5), Via::PartUuid),
            (
                "/dev/disk/by-partuuid/4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
                "vfat",
                "",
                p(0, 1),
                Via::PartUuid,
            ),
            ("PARTLABEL=boot", "xfs", "", p(0, 2), Via::PartLabel),
            (
                "/dev/disk/by-partlabel/EFI\\x20System\\x20Partition",
                "vfat",
                "",
                p(0, 1),
                Via::PartLabel,
            ),
            (
                "/dev/mapper/my--vg-my--lv",
                "ext4",
                "",
                lvv("my-vg", "my-lv"),
                Via::LvName,
            ),
            (
                "/dev/my-vg/my-lv",
                "ext4",
                "",
                lvv("my-vg", "my-lv"),
                Via::LvName,
            ),
            (
                "/dev/my-vg/swap",
                "swap",
                "",
                lvv("my-vg", "swap"),
                Via::LvName,
            ),
            (
                "/dev/disk/by-id/dm-name-my--vg-my--lv",
                "ext4",
                "",
                lvv("my-vg", "my-lv"),
                Via::LvName,
            ),
            (&dm, "ext4", "", lvv("my-vg", "my-lv"), Via::LvUuid),
            ("/dev/sda2", "xfs", "", p(0, 2), Via::DiskOrder),
            ("/dev/sdb1", "ext4", "", p(1, 1), Via::DiskOrder),
            ("/dev/sdb5", "swap", "", p(1, 5), Via::DiskOrder),
            ("/dev/hda1", "vfat", "", p(0, 1), Via::DiskOrder),
            ("/dev/vdb6", "ext4", "", p(1, 6), Via::DiskOrder),
            ("/dev/xvda2", "xfs", "", p(0, 2), Via::DiskOrder),
            (
                "/dev/sdc",
                "ext4",
                "",
                Volume::WholeDisk { disk: 2 },
                Via::DiskOrder,
            ),
            ("/dev/nvme0n2p5", "swap", "", p(1, 5), Via::DiskOrder),
            (
                "/dev/nvme0n3",
                "ext4",
                "",
                Volume::WholeDisk { disk: 2 },
                Via::DiskOrder,
            ),
            ("/dev/cciss/c0d1p1", "ext4", "", p(1, 1), Via::DiskOrder),
            ("/dev/ida/c0d0p2", "xfs", "", p(0, 2), Via::DiskOrder),
        ];
        for (spec, t, o, want, via) in cases {
            let spec_value =
                String::from_utf8(crate::format::fstab::unmangle(spec.as_bytes())).unwrap();
            let r = resolve(&Spec::parse(&spec_value), t, o, &l);
            let got = ok(&r);
            assert_eq!((&got.volume, got.via), (&want, via), "{spec}");
            assert!(got.warnings.is_empty(), "{spec}: {:?}", got.warnings);
            assert!(got.subvolume.is_none() && got.other_devices.is_empty());
        }
    }

    #[test]
    fn unresolved_table() {
        use UnresolvedKind::*;
        let l = layout();
        let cases = [
            ("/dev/mapper/rhel-root", Lvm, "partial"),
            (
                "/dev/rhel/root",
                Lvm,
                "pv0 (pv0-uuid, last seen as /dev/sdz2)",
            ),
            ("/dev/mapper/my--vg-root_rimage_0", Lvm, "hidden"),
            ("/dev/mapper/my--vg-my--lv-real", Lvm, "layer"),
            ("/dev/mapper/my--vg-nope", NotFound, "no LV"),
            (
                "/dev/mapper/centos-root",
                NotFound,
                "no volume group \"centos\"",
            ),
            ("/dev/mapper/cryptroot", NotAssembled, "LUKS"),
            ("/dev/mapper/luks-0f9b8e7a-2c4d", NotAssembled, "LUKS"),
            (
                "/dev/mapper/luks-0f9b8e7a-2c4d-4e6f-8a1b-3c5d7e9f1a2b",
                NotAssembled,
                "LUKS",
            ),
            ("/dev/mapper/mpatha1", NotAssembled, "multipath"),
            ("/dev/centos/root", NotFound, "no volume group"),
            ("/dev/dm-0", Unstable, "boot"),
            ("/dev/root", Unstable, "root="),
            ("/dev/loop0", Unstable, "loop"),
            ("/dev/md0", NotAssembled, "MD RAID"),
            ("/dev/md/boot", NotAssembled, "MD RAID"),
            ("/dev/disk/by-id/md-uuid-1234:5678", NotAssembled, "MD RAID"),
            (
                "/dev/disk/by-id/scsi-36000c29a1b2c3d4e5f60718293a4b5c6-part2",
                HypervisorSpecific,
                "partition 2 of that disk",
            ),
            (
                "/dev/disk/by-id/wwn-0x6000c29a1b2c3d4e",
                HypervisorSpecific,
                "serial",
            ),
            (
                "/dev/disk/by-id/lvm-pv-uuid-abc",
                Unsupported,
                "physical volume",
            ),
            (
                "/dev/disk/by-path/pci-0000:00:10.0-scsi-0:0:1:0-part1",
                HypervisorSpecific,
                "partition 1",
            ),
            (
                "ID=scsi-36000c29a1b2c3d4e5f60718293a4b5c6",
                HypervisorSpecific,
                "serial",
            ),
            ("/dev/nvme1n1p1", HypervisorSpecific, "controller"),
            ("/dev/cciss/c1d0p1", HypervisorSpecific, "controller"),
            ("/dev/sde1", DiskMissing, "4 disk(s) were given"),
            ("/dev/sdaa1", DiskMissing, "disk 26"),
            ("/dev/sdb2", NotFound, "extended"),
            ("/dev/sdb9", NotFound, "no partition 9"),
            ("/dev/sda0", Unsupported, "not a device name"),
            ("/dev/mmcblk0p1", Unsupported, "not a device name"),
            ("PARTUUID=5e3da5c1-09", NotFound, "partition UUID"),
            ("PARTLABEL=nope", NotFound, "partition label"),
            ("LABEL=Boot", NeedsLvProbe, "LV(s) not probed"),
            (
                "UUID=00000000-0000-0000-0000-000000000000",
                NeedsLvProbe,
                "2 LV(s)",
            ),
        ];
        for (spec, want, text) in cases {
            let r = resolve(&Spec::parse(spec), "ext4", "", &l);
            assert_eq!(kind(&r), want, "{spec}: {r:?}");
            let Resolution::Unresolved { reason, .. } = &r else {
                unreachable!()
            };
            assert!(reason.contains(text), "{spec}: {reason}");
        }
    }

    #[test]
    fn not_a_disk_table() {
        use NotADiskKind::*;
        let l = layout();
        let cases = [
            ("nfs.example.com:/export/home", "nfs", "rw,_netdev", Network),
            ("filer:/vol", "nfs4", "", Network),
            ("//fileserver/share name", "cifs", "", Network),
            ("sshfs#me@host:/", "fuse", "", Network),
            ("host:/x", "auto", "", Network),
            ("tmpfs", "tmpfs", "", Pseudo),
            ("proc", "proc", "defaults", Pseudo),
            ("devpts", "devpts", "gid=5,mode=620", Pseudo),
            ("/swap.img", "swap", "sw", File),
            ("/srv/data", "none", "bind", Bind),
            ("/dev/sr0", "udf,iso9660", "user,noauto", Removable),
            ("/dev/scd0", "iso9660", "", Removable),
            ("/dev/fd0", "auto", "rw,user,noauto", Removable),
            ("/dev/cdrom", "auto", "", Removable),
            ("/dev/zram0", "swap", "", Pseudo),
            ("gvfsd-fuse", "fuse.gvfsd-fuse", "", Fuse),
        ];
        for (spec, t, o, want) in cases {
            match resolve(&Spec::parse(spec), t, o, &l) {
                Resolution::NotADisk { kind, .. } => assert_eq!(kind, want, "{spec}"),
                other => panic!("{spec}: {other:?}"),
            }
        }
        assert!(matches!(
            resolve(&Spec::parse("weird"), "ext4", "", &l),
            Resolution::Unresolved {
                kind: UnresolvedKind::Unsupported,
                ..
            }
        ));
    }

    #[test]
    fn duplicate_uuid_is_ambiguous_never_picked() {
        let l = layout();
        for spec in [
            format!("UUID={U_DUP}"),
            format!("/dev/disk/by-uuid/{U_DUP}"),
        ] {
            match resolve(&Spec::parse(&spec), "ext4", "", &l) {
                Resolution::Ambiguous { candidates, reason } => {
                    assert_eq!(candidates, vec![p(1, 6), Volume::WholeDisk { disk: 2 }]);
                    assert!(reason.contains("2 volumes"));
                }
                other => panic!("{other:?}"),
            }
        }
        // Duplicate partition labels too.
        assert!(matches!(
            resolve(&Spec::parse("PARTLABEL=data"), "btrfs", "", &l),
            Resolution::Ambiguous { .. }
        ));
        // Two VGs with one name.
        let mut l2 = layout();
        l2.volume_groups.push(l2.volume_groups[0].clone());
        let r = resolve(&Spec::parse("/dev/mapper/my--vg-my--lv"), "ext4", "", &l2);
        assert_eq!(kind(&r), UnresolvedKind::Lvm);
        let r = resolve(&Spec::parse(&dm_uuid()), "ext4", "", &l2);
        assert_eq!(kind(&r), UnresolvedKind::Lvm);
    }

    #[test]
    fn multi_device_btrfs_and_subvolumes() {
        let l = layout();
        let r = resolve(
            &Spec::Uuid(U_BTRFS.into()),
            "btrfs",
            "subvol=/@/var,subvolid=261",
            &l,
        );
        let r = ok(&r);
        assert_eq!(r.volume, p(3, 1));
        assert_eq!(r.other_devices, vec![p(3, 2)]);
        assert_eq!(
            r.subvolume,
            Some(Subvolume {
                path: Some("/@/var".into()),
                id: Some(261)
            })
        );
        // A cloned btrfs (same UUID_SUB twice) is ambiguous.
        let mut l2 = layout();
        l2.disks[3].partitions[1].content = btrfs("aaaa");
        assert!(matches!(
            resolve(&Spec::Uuid(U_BTRFS.into()), "btrfs", "", &l2),
            Resolution::Ambiguous { .. }
        ));
    }

    #[test]
    fn case_only_matches_warn() {
        let l = layout();
        let r = resolve(&Spec::parse("UUID=7c3a-1f2b"), "vfat", "", &l);
        let r = ok(&r);
        assert_eq!(r.volume, p(0, 1));
        assert!(r.warnings[0].contains("only when case is ignored"));
        let r = resolve(
            &Spec::parse("PARTUUID=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
            "vfat",
            "",
            &l,
        );
        assert!(ok(&r).warnings[0].contains("case"));
        // Labels are exact.
        assert!(matches!(
            resolve(&Spec::parse("LABEL=BOOT"), "xfs", "", &l),
            Resolution::Unresolved { .. }
        ));
    }

    #[test]
    fn type_mismatch_and_empty_volume_warn() {
        let l = layout();
        let r = resolve(&Spec::parse("/dev/sdb5"), "ext4", "", &l);
        let w = &ok(&r).warnings;
        assert!(w[0].contains("fstab says ext4 but disk 1 partition 5 holds swap"));
        assert!(w[0].contains("disk order"));
        let r = resolve(&Spec::parse("/dev/sdb7"), "ext4", "", &l);
        assert!(ok(&r).warnings[0].contains("holds no recognised filesystem (empty)"));
        // Compatible names do not warn.
        for (t, spec) in [
            ("ext3", "/dev/sdb1"),
            ("auto", "/dev/sdb1"),
            ("msdos", "/dev/sda1"),
            ("udf,vfat", "/dev/sda1"),
        ] {
            let r = resolve(&Spec::parse(spec), t, "", &l);
            assert!(ok(&r).warnings.is_empty(), "{t} {spec}");
        }
    }

    #[test]
    fn lv_contents_given_after_probing() {
        let l = layout();
        let Content::Filesystem(root) =
            fs("ext4", "aaaaaaaa-1111-2222-3333-444444444444", Some("root"))
        else {
            unreachable!()
        };
        let Content::Filesystem(sw) = fs("swap", "bbbbbbbb-1111-2222-3333-444444444444", None)
        else {
            unreachable!()
        };
        let r = Resolver::new(&l)
            .with_lv_fs("my-vg", "my-lv", root)
            .with_lv_fs("my-vg", "swap", sw);
        let got = r.resolve(
            &Spec::parse("UUID=aaaaaaaa-1111-2222-3333-444444444444"),
            "ext4",
            "",
        );
        assert_eq!(ok(&got).volume, lvv("my-vg", "my-lv"));
        let got = r.resolve(&Spec::parse("LABEL=root"), "xfs", "");
        assert!(ok(&got).warnings[0].contains("fstab says xfs but LV my-vg/my-lv holds ext4"));
        // Every LV that can be mapped was probed: not found, and the partial VG is named.
        let got = r.resolve(&Spec::parse("UUID=nope"), "ext4", "");
        assert_eq!(kind(&got), UnresolvedKind::NotFound);
        let Resolution::Unresolved { reason, .. } = got else {
            unreachable!()
        };
        assert!(reason.contains("partial VG(s) rhel"), "{reason}");
        // Only one LV probed: the other must be probed first.
        let Content::Filesystem(x) = fs("xfs", "cccccccc", None) else {
            unreachable!()
        };
        let r = Resolver::new(&l).with_lv_fs("my-vg", "swap", x);
        let got = r.resolve(&Spec::parse("UUID=nope"), "ext4", "");
        assert_eq!(kind(&got), UnresolvedKind::NeedsLvProbe);
    }

    #[test]
    fn volume_helpers() {
        let l = layout();
        assert_eq!(p(0, 2).fs(&l).map(|f| f.fs_type.as_str()), Some("xfs"));
        assert_eq!(
            Volume::WholeDisk { disk: 2 }
                .fs(&l)
                .map(|f| f.fs_type.as_str()),
            Some("ext4")
        );
        assert!(Volume::WholeDisk { disk: 0 }.fs(&l).is_none());
        assert!(lvv("my-vg", "my-lv").fs(&l).is_none());
        assert!(p(1, 2).fs(&l).is_none());
        assert!(p(9, 1).fs(&l).is_none());
        assert_eq!(p(1, 5).disk(), Some(1));
        assert_eq!(lvv("a", "b").disk(), None);
        assert_eq!(p(1, 5).to_string(), "disk 1 partition 5");
        assert_eq!(lvv("a", "b").to_string(), "LV a/b");
        let r = resolve(&Spec::parse("/dev/sda1"), "vfat", "", &l);
        assert_eq!(r.volume(), Some(&p(0, 1)));
    }

    #[test]
    fn kernel_names() {
        let k = |s: &str| parse_kernel_name(s).map(|k| (k.disk, k.partition));
        assert_eq!(k("sda"), Some((0, None)));
        assert_eq!(k("sdz"), Some((25, None)));
        assert_eq!(k("sdaa"), Some((26, None)));
        assert_eq!(k("sdaz3"), Some((51, Some(3))));
        assert_eq!(k("sdba"), Some((52, None)));
        assert_eq!(k("sdzz"), Some((701, None)));
        assert_eq!(k("sdaaa"), Some((702, None)));
        assert_eq!(k("sdb15"), Some((1, Some(15))));
        assert_eq!(k("nvme0n1"), Some((0, None)));
        assert_eq!(k("nvme0n1p3"), Some((0, Some(3))));
        assert_eq!(k("cciss/c0d0p1"), Some((0, Some(1))));
        for bad in [
            "sd",
            "sdA1",
            "sda01",
            "sda1x",
            "nvme0n0",
            "nvme0n1p",
            "nvme1n1",
            "cciss/c1d0",
            "sr0",
        ] {
            assert_eq!(k(bad), None, "{bad}");
        }
    }

    #[test]
    fn dm_names_and_udev_escapes() {
        let s = |n: &str| split_dm_name(n);
        assert_eq!(s("rhel-root"), Some(("rhel".into(), "root".into(), None)));
        assert_eq!(
            s("my--vg-my--lv"),
            Some(("my-vg".into(), "my-lv".into(), None))
        );
        assert_eq!(
            s("ubuntu--vg-ubuntu--lv"),
            Some(("ubuntu-vg".into(), "ubuntu-lv".into(), None))
        );
        assert_eq!(
            s("vg-lv-real"),
            Some(("vg".into(), "lv".into(), Some("real".into())))
        );
        assert_eq!(s("a---b"), Some(("a-".into(), "b".into(), None)));
        assert_eq!(s("cryptroot"), None);
        assert_eq!(s("a--b"), None);
        assert_eq!(s("-x"), None);
        assert_eq!(s("a-b-c-d"), None);
        assert_eq!(udev_unescape("data\\x20disk"), "data disk");
        assert_eq!(udev_unescape("a\\x2fb\\xzz\\x4"), "a/b\\xzz\\x4");
    }

    #[test]
    fn whole_fstabs_resolve() {
        // Debian 7 style fstab against the layout: every line gets an answer.
        let text = "proc /proc proc defaults 0 0\n/dev/sdb1 / ext4 errors=remount-ro 0 1\n\
                    UUID=b84f39d8-c6f7-4d71-9509-a4d20a1179fb none swap sw 0 0\n\
                    /dev/sr0 /media/cdrom0 udf,iso9660 user,noauto 0 0\n";
        let f = Fstab::parse(text.as_bytes());
        let l = layout();
        let got: Vec<Option<Volume>> = f
            .entries()
            .map(|(_, e)| {
                resolve(&e.spec(), e.vfstype(), e.options().as_str(), &l)
                    .volume()
                    .cloned()
            })
            .collect();
        assert_eq!(got, vec![None, Some(p(1, 1)), Some(p(1, 5)), None]);
    }

    fn roles(paths: &[&str]) -> Vec<FsRole> {
        RootSigns::from_paths(paths).roles()
    }

    #[test]
    fn root_signs() {
        use FsRole::*;
        let rhel = [
            "etc",
            "etc/fstab",
            "bin",
            "usr",
            "usr/bin",
            "sbin/init",
            "etc/redhat-release",
            "etc/os-release",
            "boot",
        ];
        assert_eq!(RootSigns::from_paths(rhel).classify(), LinuxRoot);
        // Ubuntu root: top-level vmlinuz symlinks do not make it a /boot.
        let ubuntu = [
            "/etc/",
            "./etc/fstab",
            "bin",
            "usr",
            "vmlinuz",
            "initrd.img",
            "vmlinuz.old",
        ];
        assert_eq!(roles(&ubuntu), vec![LinuxRoot]);
        // fstab alone is not enough.
        assert_eq!(roles(&["etc", "etc/fstab"]), Vec::<FsRole>::new());
        assert_eq!(
            RootSigns::from_paths(["etc", "etc/fstab"]).classify(),
            Unknown
        );
        assert_eq!(
            roles(&["etc", "bin", "etc/os-release"]),
            vec![LinuxRootWithoutFstab]
        );
        // RHEL /boot with the ESP mount point (empty efi/).
        let boot = [
            "efi",
            "grub2",
            "grub2/grub.cfg",
            "grub2/grubenv",
            "loader/entries",
            "vmlinuz-5.14.0-70.el9.x86_64",
            "initramfs-5.14.0-70.el9.x86_64.img",
        ];
        assert_eq!(roles(&boot), vec![Boot]);
        let debian_boot = [
            "grub",
            "grub/grub.cfg",
            "vmlinuz-3.2.0-4-amd64",
            "initrd.img-3.2.0-4-amd64",
        ];
        assert_eq!(roles(&debian_boot), vec![Boot]);
        assert_eq!(roles(&["grub", "grub/menu.lst"]), vec![Boot]);
        let esp = ["EFI", "EFI/BOOT", "EFI/redhat"];
        assert_eq!(roles(&esp), vec![Esp]);
        assert_eq!(roles(&["efi", "efi/Microsoft"]), vec![Esp]);
        // systemd-boot ESP that is also /boot.
        assert_eq!(
            roles(&["EFI", "EFI/systemd", "loader/entries", "vmlinuz-6.1"]),
            vec![Boot, Esp]
        );
        let win = ["WINDOWS/system32/CONFIG/SYSTEM", "Program Files"];
        assert_eq!(RootSigns::from_paths(win).classify(), WindowsSystem);
        assert!(RootSigns::from_paths(win).has_nocase("Windows/System32/config/SYSTEM"));
        assert!(!RootSigns::from_paths(win).has("Windows/System32/config/SYSTEM"));
        assert_eq!(roles(&["bin", "share", "lib", "local", "sbin"]), vec![Usr]);
        assert_eq!(roles(&["log", "spool", "lib", "cache", "tmp"]), vec![Var]);
        assert_eq!(roles(&["lost+found", "data"]), Vec::<FsRole>::new());
        assert_eq!(roles(&[]), Vec::<FsRole>::new());
        let probes: Vec<&str> = RootSigns::probes().collect();
        assert!(probes.contains(&"etc/fstab") && probes.contains(&"grub2/grubenv"));
        assert!(probes.contains(&"usr/lib/systemd/systemd"));
    }
}
