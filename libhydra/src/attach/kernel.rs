//! Kernel capability detection and the choice of attach path: [`KernelCaps`] (device-mapper, NBD, kernel partition scan, vfat), [`AttachPath`] (auto, kernel, userspace), the [`PathChoice`] made from both, and [`DiskDevice`]: one disk attached the way the choice says.
//!
//! Two paths attach a guest (see `docs/DESIGN.md`, "Attach and assemble"):
//!
//! - **userspace** (what a kernel without modules offers, like our CI
//!   machines): loop devices, partitions added with BLKPG from Hydra's scan,
//!   container formats through qemu-storage-daemon FUSE exports, linear LVs
//!   mapped by Hydra from the scanned metadata ([`super::lvmap`]);
//! - **kernel** (a full distribution kernel, what most helpers run): loop
//!   devices with the kernel's own partition scan (checked against Hydra's scan
//!   by [`super::partitions`]), container formats through `qemu-nbd`
//!   ([`super::nbd`]), volume groups activated by lvm2 scoped to the guest's
//!   PVs ([`super::lvm2`]), vfat with the kernel driver.
//!
//! [`AttachPath::Auto`] (the default) takes each kernel piece the kernel
//! offers: NBD when the `nbd` module loads with partitions enabled and
//! `qemu-nbd` is installed, lvm2 when device-mapper is there and `lvm` is
//! installed; the rest stays userspace. [`AttachPath::Kernel`] insists on both
//! and fails up front when one is missing; [`AttachPath::Userspace`] never
//! probes the kernel (no module is loaded) and attaches exactly as before.
//! `HYDRA_ATTACH_PATH` (`auto`, `kernel`, `userspace`) sets it for tests and
//! scripts; `AssembleOptions::attach_path` overrides the variable.
//!
//! Detection ([`detect`]) has side effects by design: it loads `dm_mod`,
//! `nbd max_part=63`, `loop` and `vfat` with `modprobe` when they are not
//! loaded (failures are ignored and explained in [`KernelCaps::notes`]), and
//! makes `/dev/mapper/control` with `dmsetup mknodes` when it is missing.
//!
//! Partition scanning is decided by a probe, not from the kernel
//! configuration: `/boot/config-*` and `/proc/config.gz` are often absent
//! (this machine has neither), and a parser built in is not the same as a
//! loop device that scans. The probe binds a read-only loop device with
//! `LO_FLAGS_PARTSCAN` to a 1 MiB memfd holding an MBR with one partition and
//! looks for `loopNp1` in sysfs (the scan runs inside `LOOP_CONFIGURE`, so the
//! answer is there when the bind returns); about a millisecond, no file, the
//! device is detached before returning. Only the MBR parser is probed: GPT and
//! MBR parsers come together in every distribution kernel, and the answer is
//! advisory anyway, since [`super::partitions`] adds with BLKPG whatever
//! partition the kernel did not make.

use super::loopdev::{LoopDevice, LoopOptions};
use super::nbd::{NbdDevice, NbdOptions};
use super::partitions::PartitionNode;
use super::{attach_disk, plan_attach, AttachError, AttachOptions, AttachPlan, AttachedDisk};
use crate::exec::Cmd;
use crate::layout::{Disk, Partition};
use std::fmt;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The environment variable that picks the attach path (`auto`, `kernel`, `userspace`).
pub const ATTACH_PATH_ENV: &str = "HYDRA_ATTACH_PATH";
/// `max_part` given to `modprobe nbd`: partitions per NBD device. 15 would cut
/// off GPT disks with more partitions (Windows recovery layouts, the
/// multi-disk fixture's 14); 63 leaves room at no cost (16 devices x 64 minors).
pub const NBD_MAX_PART: u32 = 63;
/// How long one `modprobe` or `dmsetup` call may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the running kernel (and the helper's tools) offer to the kernel path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelCaps {
    /// device-mapper is loaded (`device-mapper` in `/proc/misc`) and
    /// `/dev/mapper/control` exists.
    pub device_mapper: bool,
    /// The `nbd` module is loaded with partitions enabled (`max_part` > 0) and
    /// `/sys/block/nbd0` exists.
    pub nbd: bool,
    /// A loop device bound with `LO_FLAGS_PARTSCAN` gets its partitions from
    /// the kernel (see the module docs for the probe).
    pub partition_scan: bool,
    /// The kernel has a vfat driver (`vfat` in `/proc/filesystems`).
    pub vfat: bool,
    /// `lvm` is installed (in `PATH`).
    pub lvm_tool: bool,
    /// `qemu-nbd` is installed (in `PATH`).
    pub qemu_nbd_tool: bool,
    /// Why each missing capability is missing, for messages.
    pub notes: Vec<String>,
}

impl KernelCaps {
    /// Whether lvm2 activation can be used (device-mapper and the `lvm` tool).
    pub fn lvm2_usable(&self) -> bool {
        self.device_mapper && self.lvm_tool
    }

    /// Whether `qemu-nbd` devices can be used (the module and the tool).
    pub fn nbd_usable(&self) -> bool {
        self.nbd && self.qemu_nbd_tool
    }
}

impl fmt::Display for KernelCaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yn = |b: bool| if b { "yes" } else { "no" };
        write!(
            f,
            "device-mapper {}, NBD {}, partition scan {}, vfat {}, lvm {}, qemu-nbd {}",
            yn(self.device_mapper),
            yn(self.nbd),
            yn(self.partition_scan),
            yn(self.vfat),
            yn(self.lvm_tool),
            yn(self.qemu_nbd_tool)
        )?;
        if !self.notes.is_empty() {
            write!(f, " ({})", self.notes.join("; "))?;
        }
        Ok(())
    }
}

/// Probe the kernel (loading modules as needed, see the module docs).
pub fn detect() -> KernelCaps {
    let mut notes = Vec::new();
    let device_mapper = detect_device_mapper(&mut notes);
    let nbd = detect_nbd(&mut notes);
    let partition_scan = probe_partition_scan(&mut notes);
    let vfat = detect_vfat(&mut notes);
    let lvm_tool = in_path("lvm");
    if !lvm_tool {
        notes.push("lvm: not installed (Debian package lvm2)".into());
    }
    let qemu_nbd_tool = in_path("qemu-nbd");
    if !qemu_nbd_tool {
        notes.push("qemu-nbd: not installed (Debian package qemu-utils)".into());
    }
    let caps = KernelCaps {
        device_mapper,
        nbd,
        partition_scan,
        vfat,
        lvm_tool,
        qemu_nbd_tool,
        notes,
    };
    tracing::debug!(%caps, "kernel capabilities");
    caps
}

/// Run `modprobe ARGS`, ignoring failure (logged at debug).
fn modprobe(args: &[&str]) {
    let r = Cmd::new("modprobe")
        .args(args)
        .describe(format!("load kernel module {}", args.join(" ")))
        .timeout(TOOL_TIMEOUT)
        .run();
    if let Err(e) = r {
        tracing::debug!(error = %e, "modprobe failed (ignored)");
    }
}

/// The minor of a misc device named `name` in `/proc/misc`, if registered.
fn misc_minor(name: &str) -> Option<u32> {
    parse_misc(&std::fs::read_to_string("/proc/misc").ok()?, name)
}

fn parse_misc(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        let minor = it.next()?.parse().ok()?;
        (it.next()? == name).then_some(minor)
    })
}

fn detect_device_mapper(notes: &mut Vec<String>) -> bool {
    if misc_minor("device-mapper").is_none() {
        modprobe(&["dm_mod"]);
    }
    if misc_minor("device-mapper").is_none() {
        notes.push("device-mapper: not in /proc/misc and `modprobe dm_mod` did not load it".into());
        return false;
    }
    let control = Path::new("/dev/mapper/control");
    let is_char = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.file_type().is_char_device())
            .unwrap_or(false)
    };
    if !is_char(control) {
        let r = Cmd::new("dmsetup")
            .arg("mknodes")
            .env("DM_DISABLE_UDEV", "1")
            .describe("create /dev/mapper/control")
            .timeout(TOOL_TIMEOUT)
            .run();
        if let Err(e) = r {
            tracing::debug!(error = %e, "dmsetup mknodes failed");
        }
    }
    if !is_char(control) {
        notes.push("device-mapper: loaded, but /dev/mapper/control is missing".into());
        return false;
    }
    true
}

fn detect_nbd(notes: &mut Vec<String>) -> bool {
    let module = Path::new("/sys/module/nbd");
    if !module.exists() {
        modprobe(&["nbd", &format!("max_part={NBD_MAX_PART}")]);
    }
    if !Path::new("/sys/block/nbd0").exists() {
        notes.push(format!(
            "NBD: no /sys/block/nbd0 (`modprobe nbd max_part={NBD_MAX_PART}` did not load it)"
        ));
        return false;
    }
    let max_part = std::fs::read_to_string(module.join("parameters/max_part"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if max_part == 0 {
        notes.push(format!(
            "NBD: the nbd module is loaded with max_part=0 (its devices cannot have \
             partitions); reload it with `modprobe -r nbd; modprobe nbd max_part={NBD_MAX_PART}`"
        ));
        return false;
    }
    true
}

fn detect_vfat(notes: &mut Vec<String>) -> bool {
    let has = || {
        std::fs::read_to_string("/proc/filesystems")
            .map(|t| {
                t.lines()
                    .any(|l| l.split_whitespace().last() == Some("vfat"))
            })
            .unwrap_or(false)
    };
    if !has() {
        modprobe(&["vfat"]);
    }
    let ok = has();
    if !ok {
        notes.push("vfat: no kernel driver (FAT volumes go through fusefat)".into());
    }
    ok
}

/// A 1 MiB disk image with an MBR holding one Linux partition (sectors 64..320).
fn probe_image() -> Vec<u8> {
    let mut img = vec![0u8; 1 << 20];
    let e = &mut img[446..462];
    e[4] = 0x83; // type: Linux
    e[8..12].copy_from_slice(&64u32.to_le_bytes());
    e[12..16].copy_from_slice(&256u32.to_le_bytes());
    img[510] = 0x55;
    img[511] = 0xAA;
    img
}

/// Whether a loop device bound with `LO_FLAGS_PARTSCAN` gets its partitions from the kernel.
fn probe_partition_scan(notes: &mut Vec<String>) -> bool {
    if !Path::new("/dev/loop-control").exists() {
        modprobe(&["loop"]);
    }
    match partition_scan_probe() {
        Ok(true) => true,
        Ok(false) => {
            notes.push(
                "partition scan: a loop device with LO_FLAGS_PARTSCAN got no partition from an \
                 MBR (the kernel has no partition parsers; Hydra adds them with BLKPG)"
                    .into(),
            );
            false
        }
        Err(e) => {
            notes.push(format!("partition scan: probe failed: {e}"));
            false
        }
    }
}

fn partition_scan_probe() -> Result<bool, AttachError> {
    let name = c"hydra-partscan-probe";
    // SAFETY: a valid NUL-terminated name; the new fd is owned by `file` below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    let memfd_path = Path::new("memfd:hydra-partscan-probe");
    if fd < 0 {
        return Err(AttachError::os(
            memfd_path,
            "memfd_create",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(&probe_image())
        .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()))
        .map_err(|e| AttachError::os(memfd_path, "write probe image", e))?;
    let backing = PathBuf::from(format!("/proc/self/fd/{fd}"));
    let dev = LoopDevice::attach(
        &backing,
        &LoopOptions {
            read_only: true,
            partscan: true,
            ..LoopOptions::default()
        },
    )?;
    let found = Path::new(&format!("/sys/block/{0}/{0}p1", dev.name())).exists();
    dev.close()?;
    drop(file);
    Ok(found)
}

/// Whether `program` is an executable file in one of `PATH`'s directories.
fn in_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(program))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Which attach path to take (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AttachPath {
    /// Each kernel piece the kernel offers, userspace for the rest.
    #[default]
    Auto,
    /// NBD and lvm2 activation, or fail up front.
    Kernel,
    /// Loop + BLKPG, FUSE exports, Hydra's own LV mapping; the kernel is not probed.
    Userspace,
}

impl AttachPath {
    /// From [`ATTACH_PATH_ENV`]; unset or empty is [`AttachPath::Auto`], anything
    /// else that does not parse is an error naming the variable.
    pub fn from_env() -> Result<AttachPath, AttachError> {
        match std::env::var(ATTACH_PATH_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(AttachPath::Auto),
            Err(e) => Err(AttachError::Invalid {
                object: PathBuf::from(ATTACH_PATH_ENV),
                what: e.to_string(),
            }),
            Ok(v) if v.trim().is_empty() => Ok(AttachPath::Auto),
            Ok(v) => v.parse().map_err(|what| AttachError::Invalid {
                object: PathBuf::from(ATTACH_PATH_ENV),
                what,
            }),
        }
    }

    /// The name as written in [`ATTACH_PATH_ENV`].
    pub fn as_str(self) -> &'static str {
        match self {
            AttachPath::Auto => "auto",
            AttachPath::Kernel => "kernel",
            AttachPath::Userspace => "userspace",
        }
    }
}

impl FromStr for AttachPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(AttachPath::Auto),
            "kernel" => Ok(AttachPath::Kernel),
            "userspace" => Ok(AttachPath::Userspace),
            other => Err(format!(
                "unknown attach path {other:?} (want auto, kernel or userspace)"
            )),
        }
    }
}

impl fmt::Display for AttachPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The attach path decided for one session: which kernel pieces are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChoice {
    /// What was asked.
    pub asked: AttachPath,
    /// Container formats through `qemu-nbd` (else qemu-storage-daemon FUSE exports).
    pub nbd: bool,
    /// Volume groups activated by lvm2 (else linear LVs mapped by Hydra).
    pub lvm2: bool,
    /// What the kernel offered (`None` when not probed: userspace).
    pub caps: Option<KernelCaps>,
}

impl PathChoice {
    /// The userspace path, without probing the kernel.
    pub fn userspace() -> PathChoice {
        PathChoice {
            asked: AttachPath::Userspace,
            nbd: false,
            lvm2: false,
            caps: None,
        }
    }

    /// Decide from `asked` and the capabilities (pure). [`AttachPath::Kernel`]
    /// on a kernel without device-mapper or NBD (or without `lvm` or
    /// `qemu-nbd`) is an error saying what is missing and why.
    pub fn from_caps(asked: AttachPath, caps: KernelCaps) -> Result<PathChoice, AttachError> {
        let (nbd, lvm2) = match asked {
            AttachPath::Userspace => (false, false),
            AttachPath::Auto => (caps.nbd_usable(), caps.lvm2_usable()),
            AttachPath::Kernel => {
                if !caps.nbd_usable() || !caps.lvm2_usable() {
                    return Err(AttachError::Invalid {
                        object: PathBuf::from(format!("{ATTACH_PATH_ENV}=kernel")),
                        what: format!(
                            "the kernel path needs device-mapper, NBD, lvm and qemu-nbd; this \
                             helper has {caps}; use `auto` or `userspace`"
                        ),
                    });
                }
                (true, true)
            }
        };
        Ok(PathChoice {
            asked,
            nbd,
            lvm2,
            caps: Some(caps),
        })
    }

    /// Decide for `asked`, probing the kernel unless it is [`AttachPath::Userspace`].
    pub fn resolve(asked: AttachPath) -> Result<PathChoice, AttachError> {
        if asked == AttachPath::Userspace {
            return Ok(PathChoice::userspace());
        }
        PathChoice::from_caps(asked, detect())
    }

    /// Whether any kernel piece is used.
    pub fn is_kernel(&self) -> bool {
        self.nbd || self.lvm2
    }
}

impl fmt::Display for PathChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (asked {}): formats through {}, LVs through {}",
            if self.is_kernel() {
                "kernel"
            } else {
                "userspace"
            },
            self.asked,
            if self.nbd { "qemu-nbd" } else { "FUSE exports" },
            if self.lvm2 {
                "lvm2 activation"
            } else {
                "Hydra's own mapping"
            }
        )
    }
}

/// One disk attached as the [`PathChoice`] says: a loop device (on the file, or
/// on a FUSE export) or an NBD device. Detach with [`DiskDevice::close`];
/// dropping it detaches too.
#[derive(Debug)]
pub enum DiskDevice {
    /// A loop device, as [`attach_disk`] makes it (the userspace path, and raw
    /// images on the kernel path).
    Loop(AttachedDisk),
    /// A container format connected with `qemu-nbd`.
    Nbd {
        /// Disk index in the layout.
        index: usize,
        /// The NBD device.
        device: NbdDevice,
    },
}

/// Attach `disk` whose image is at `path`: with `qemu-nbd` when the choice takes
/// NBD and the disk needs qemu (container formats, multi-extent VMDK), else as
/// [`attach_disk`] does.
pub fn attach_disk_with(
    path: &Path,
    disk: &Disk,
    opts: &AttachOptions,
    choice: &PathChoice,
) -> Result<DiskDevice, AttachError> {
    if choice.nbd {
        if let AttachPlan::Export {
            image,
            format,
            read_only,
            note,
        } = plan_attach(path, disk, opts.read_only)?
        {
            let mut no = NbdOptions::new(
                format,
                read_only,
                &opts.runtime_dir,
                format!("disk{}", disk.index),
            );
            no.note = note;
            let device = NbdDevice::connect(&image, &no, &disk.partitions).map_err(|e| {
                AttachError::Invalid {
                    object: path.to_path_buf(),
                    what: format!("disk {}: attach through NBD: {e}", disk.index),
                }
            })?;
            if let Ok(size) = device.size() {
                if size != disk.size {
                    tracing::warn!(
                        disk = disk.index,
                        "the NBD device has {size} bytes, the scan says {}",
                        disk.size
                    );
                }
            }
            return Ok(DiskDevice::Nbd {
                index: disk.index,
                device,
            });
        }
    }
    attach_disk(path, disk, opts).map(DiskDevice::Loop)
}

impl DiskDevice {
    /// Disk index in the layout.
    pub fn index(&self) -> usize {
        match self {
            DiskDevice::Loop(a) => a.index(),
            DiskDevice::Nbd { index, .. } => *index,
        }
    }

    /// The image path that was attached.
    pub fn image_path(&self) -> &Path {
        match self {
            DiskDevice::Loop(a) => a.image_path(),
            DiskDevice::Nbd { device, .. } => device.image(),
        }
    }

    /// The whole-disk block device (`/dev/loopN`, `/dev/nbdN`).
    pub fn device(&self) -> &Path {
        match self {
            DiskDevice::Loop(a) => a.device(),
            DiskDevice::Nbd { device, .. } => device.path(),
        }
    }

    /// The block device of partition `number`, if set up.
    pub fn partition_path(&self, number: u32) -> Option<PathBuf> {
        match self {
            DiskDevice::Loop(a) => a.partition_path(number),
            DiskDevice::Nbd { device, .. } => device.partition_path(number),
        }
    }

    /// Every partition set up, in scan order.
    pub fn partitions(&self) -> &[PartitionNode] {
        match self {
            DiskDevice::Loop(a) => a.partitions(),
            DiskDevice::Nbd { device, .. } => device.partitions(),
        }
    }

    /// Add (or check and reuse) the partitions of a scan of the attached device.
    pub fn add_partitions(&mut self, parts: &[Partition]) -> Result<(), AttachError> {
        match self {
            DiskDevice::Loop(a) => a.add_partitions(parts),
            DiskDevice::Nbd { device, .. } => device.add_partitions(parts),
        }
    }

    /// Whether the disk is attached read-only.
    pub fn read_only(&self) -> bool {
        match self {
            DiskDevice::Loop(a) => a.read_only(),
            DiskDevice::Nbd { device, .. } => device.read_only(),
        }
    }

    /// The `qemu-nbd` daemon's pid, for an NBD disk.
    pub fn nbd_pid(&self) -> Option<u32> {
        match self {
            DiskDevice::Loop(_) => None,
            DiskDevice::Nbd { device, .. } => device.pid(),
        }
    }

    /// Detach. Reports every failure.
    pub fn close(self) -> Result<(), AttachError> {
        match self {
            DiskDevice::Loop(a) => a.close(),
            DiskDevice::Nbd { device, .. } => device.close(),
        }
    }

    /// Leave the disk attached but let go of it (`hydra-mount mount`).
    pub fn release(self) {
        match self {
            DiskDevice::Loop(a) => a.release(),
            DiskDevice::Nbd { device, .. } => device.release(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(dm: bool, nbd: bool) -> KernelCaps {
        KernelCaps {
            device_mapper: dm,
            nbd,
            partition_scan: dm,
            vfat: dm,
            lvm_tool: true,
            qemu_nbd_tool: true,
            notes: vec!["because".into()],
        }
    }

    #[test]
    fn attach_path_parses_and_prints() {
        for p in [AttachPath::Auto, AttachPath::Kernel, AttachPath::Userspace] {
            assert_eq!(p.to_string().parse::<AttachPath>(), Ok(p));
        }
        assert_eq!(" Kernel\n".parse::<AttachPath>(), Ok(AttachPath::Kernel));
        let e = "nbd".parse::<AttachPath>().unwrap_err();
        assert!(e.contains("\"nbd\"") && e.contains("userspace"), "{e}");
        assert_eq!(AttachPath::default(), AttachPath::Auto);
    }

    #[test]
    fn choice_from_caps() {
        let full = caps(true, true);
        let c = PathChoice::from_caps(AttachPath::Auto, full.clone()).unwrap();
        assert!(c.nbd && c.lvm2 && c.is_kernel());
        assert!(c.to_string().starts_with("kernel (asked auto)"), "{c}");
        let c = PathChoice::from_caps(AttachPath::Kernel, full.clone()).unwrap();
        assert!(c.nbd && c.lvm2);
        let c = PathChoice::from_caps(AttachPath::Userspace, full.clone()).unwrap();
        assert!(!c.is_kernel());

        // Auto takes what there is, piece by piece.
        let c = PathChoice::from_caps(AttachPath::Auto, caps(true, false)).unwrap();
        assert!(!c.nbd && c.lvm2);
        let c = PathChoice::from_caps(AttachPath::Auto, caps(false, false)).unwrap();
        assert!(!c.is_kernel());
        assert!(c.to_string().starts_with("userspace"), "{c}");
        let mut no_tool = full;
        no_tool.lvm_tool = false;
        let c = PathChoice::from_caps(AttachPath::Auto, no_tool.clone()).unwrap();
        assert!(c.nbd && !c.lvm2);

        // Kernel insists, and says what is missing.
        let e = PathChoice::from_caps(AttachPath::Kernel, caps(true, false)).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("HYDRA_ATTACH_PATH=kernel") && m.contains("NBD no") && m.contains("because"),
            "{m}"
        );
        assert!(PathChoice::from_caps(AttachPath::Kernel, no_tool).is_err());
    }

    #[test]
    fn userspace_is_not_probed() {
        let c = PathChoice::resolve(AttachPath::Userspace).unwrap();
        assert_eq!(c, PathChoice::userspace());
        assert!(c.caps.is_none());
    }

    #[test]
    fn misc_and_probe_image() {
        let misc = " 58 kvm\n236 device-mapper\n183 hw_random\n";
        assert_eq!(parse_misc(misc, "device-mapper"), Some(236));
        assert_eq!(parse_misc(misc, "nbd"), None);
        // One Linux partition at sector 64, 256 sectors long.
        let img = probe_image();
        assert_eq!(&img[510..512], &[0x55, 0xAA]);
        assert_eq!(u32::from_le_bytes(img[454..458].try_into().unwrap()), 64);
        assert_eq!(u32::from_le_bytes(img[458..462].try_into().unwrap()), 256);
        assert_eq!(img[450], 0x83);
    }

    /// On this kernel (modules or not) detection answers, and agrees with the
    /// facts it is built from.
    #[test]
    fn detect_agrees_with_the_kernel() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED detect_agrees_with_the_kernel: needs root (loop devices)");
            return;
        }
        let t = std::time::Instant::now();
        let c = detect();
        eprintln!("measured: detect() took {:?}: {c}", t.elapsed());
        assert_eq!(c.device_mapper, misc_minor("device-mapper").is_some());
        assert!(!c.nbd || Path::new("/sys/block/nbd0").exists());
        assert!(
            !c.device_mapper || Path::new("/dev/mapper/control").exists(),
            "{c}"
        );
        assert_eq!(
            c.notes.is_empty(),
            c.device_mapper && c.nbd && c.partition_scan && c.vfat && c.lvm_tool && c.qemu_nbd_tool
        );
    }
}
