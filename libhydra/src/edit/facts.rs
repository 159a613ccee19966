//! Facts about the guest's disks that steps need: the root, /boot and ESP filesystems, firmware, and a resolver of guest device names.
//!
//! Built from an assembled [`GuestTree`] (the disks and LVs Hydra attached:
//! `/dev/sda2` means disk 0 partition 2), or from an already-mounted tree
//! (`--root DIR`: the mounts below DIR are probed; on a live system,
//! `--root /`, the guest's own device names are its real devices).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::assemble::resolve::{Resolution, Resolver, Volume};
use crate::assemble::tree::GuestTree;
use crate::format::fstab::Spec;
use crate::format::mountinfo;
use crate::layout::{FsInfo, Layout};

/// A filesystem of the guest and where it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsRef {
    /// The volume as Hydra names it (`disk 0 partition 2`, `LV rhel/root`, or
    /// the host device for `--root`).
    pub volume: String,
    /// The guest disk index (0 = first disk), when it is a partition or disk.
    pub disk: Option<usize>,
    /// The filesystem (type, UUID, label).
    pub fs: FsInfo,
}

/// How a guest device name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// One filesystem.
    Found(FsRef),
    /// Not a block device (nfs, tmpfs, bind, ...).
    NotADisk(String),
    /// No such device among the guest's disks (why).
    Unresolved(String),
}

#[derive(Debug, Clone)]
enum Devices {
    /// Disks and LVs of an assembled tree.
    Layout {
        layout: Layout,
        lv_fs: Vec<(String, String, FsInfo)>,
    },
    /// An already-mounted tree: only its mounts are known (`live`: the
    /// guest's device names are the host's).
    Mounted { live: bool },
}

/// Facts about the guest's disks (see the module docs).
#[derive(Debug, Clone)]
pub struct SystemFacts {
    /// The root filesystem.
    pub root: Option<FsRef>,
    /// Guest mountpoints and their filesystems, in mount order.
    pub mounts: Vec<(String, FsRef)>,
    /// The guest boots with UEFI (an EFI system partition is mounted at
    /// `/boot/efi` or `/efi`, or the tree has `/boot/efi/EFI`).
    pub uefi: bool,
    /// Commands run in the chroot will have `/proc`, `/sys`, `/dev` and `/run`:
    /// the tree is Hydra's (its commit mounts them), or they are mounted.
    pub chroot_ready: bool,
    devices: Devices,
}

impl SystemFacts {
    /// Facts from an assembled tree.
    pub fn from_tree(tree: &GuestTree) -> Self {
        let resolver = tree.resolver();
        let mut mounts = Vec::new();
        for m in &tree.mounts {
            if let Some(r) = fs_ref_by_name(&resolver, &tree.layout, &tree.lv_fs, &m.volume) {
                mounts.push((m.mountpoint.clone(), r));
            }
        }
        let root = tree.root.as_ref().map(|c| FsRef {
            volume: c.volume.clone(),
            disk: mounts
                .iter()
                .find(|(mp, _)| mp == "/")
                .and_then(|(_, r)| r.disk),
            fs: c.fs.clone(),
        });
        let mut f = SystemFacts {
            root,
            mounts,
            uefi: false,
            chroot_ready: true,
            devices: Devices::Layout {
                layout: tree.layout.clone(),
                lv_fs: tree.lv_fs.clone(),
            },
        };
        f.uefi = f.detect_uefi(&tree.root_dir);
        f
    }

    /// Facts from a tree mounted at `root_dir` by someone else (`--root`).
    pub fn from_mounted(root_dir: &Path) -> Self {
        let root_dir = std::fs::canonicalize(root_dir).unwrap_or_else(|_| root_dir.to_path_buf());
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts = Vec::new();
        for m in mountinfo::parse(&text) {
            let Ok(rel) = m.mount_point.strip_prefix(&root_dir) else {
                continue;
            };
            let guest = Path::new("/").join(rel).to_string_lossy().into_owned();
            // Later mounts on the same point hide earlier ones.
            mounts.retain(|(g, _): &(String, FsRef)| *g != guest);
            if let Some(r) = probe_device(&m.source) {
                mounts.push((guest, r));
            }
        }
        let root = mounts
            .iter()
            .find(|(g, _)| g == "/")
            .map(|(_, r)| r.clone());
        let mut f = SystemFacts {
            root,
            mounts,
            uefi: false,
            chroot_ready: root_dir.join("proc/self").exists(),
            devices: Devices::Mounted {
                live: root_dir == Path::new("/"),
            },
        };
        f.uefi = f.detect_uefi(&root_dir);
        f
    }

    /// Facts for a plain directory tree with no disks known (tests, `--root`
    /// on a copy): nothing resolves.
    pub fn none() -> Self {
        SystemFacts {
            root: None,
            mounts: Vec::new(),
            uefi: false,
            chroot_ready: false,
            devices: Devices::Mounted { live: false },
        }
    }

    /// With `uefi` set (tests, or what the caller knows better).
    pub fn with_uefi(mut self, uefi: bool) -> Self {
        self.uefi = uefi;
        self
    }

    fn detect_uefi(&self, root_dir: &Path) -> bool {
        self.mounts
            .iter()
            .any(|(mp, r)| (mp == "/boot/efi" || mp == "/efi") && r.fs.fs_type == "vfat")
            || root_dir.join("boot/efi/EFI").is_dir()
    }

    /// The filesystem mounted at guest path `mountpoint`.
    pub fn mount(&self, mountpoint: &str) -> Option<&FsRef> {
        self.mounts
            .iter()
            .rev()
            .find(|(mp, _)| mp == mountpoint)
            .map(|(_, r)| r)
    }

    /// The filesystem holding `/boot` (its own mount, else the root's).
    pub fn boot(&self) -> Option<&FsRef> {
        self.mount("/boot").or(self.root.as_ref())
    }

    /// Resolve a guest device name (`/dev/sda2`, `UUID=...`, `/dev/mapper/vg-lv`)
    /// as an fstab entry of type `vfstype` with `options`.
    pub fn lookup(&self, spec: &str, vfstype: &str, options: &str) -> Lookup {
        match &self.devices {
            Devices::Layout { layout, lv_fs } => {
                let r = Resolver::with_lvs(layout, lv_fs);
                match r.resolve(&Spec::parse(spec), vfstype, options) {
                    Resolution::Resolved(res) => match r.fs_of(&res.volume) {
                        Some(fs) => Lookup::Found(FsRef {
                            volume: res.volume.to_string(),
                            disk: res.volume.disk(),
                            fs: fs.clone(),
                        }),
                        None => Lookup::Unresolved(format!(
                            "{} holds no filesystem Hydra recognised",
                            res.volume
                        )),
                    },
                    Resolution::Ambiguous { reason, .. } => Lookup::Unresolved(reason),
                    Resolution::Unresolved { reason, .. } => Lookup::Unresolved(reason),
                    Resolution::NotADisk { detail, .. } => Lookup::NotADisk(detail),
                }
            }
            Devices::Mounted { live } => {
                let parsed = Spec::parse(spec);
                if !parsed.names_device() {
                    return Lookup::NotADisk(spec.to_string());
                }
                // By UUID or label among the mounted filesystems.
                let want = |f: &FsInfo| match spec.split_once('=') {
                    Some(("UUID", u)) => {
                        f.uuid.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u))
                    }
                    Some(("LABEL", l)) => f.label.as_deref() == Some(l),
                    _ => false,
                };
                if let Some((_, r)) = self.mounts.iter().find(|(_, r)| want(&r.fs)) {
                    return Lookup::Found(r.clone());
                }
                if *live && spec.starts_with("/dev/") {
                    if let Some(r) = probe_device(spec) {
                        return Lookup::Found(r);
                    }
                }
                Lookup::Unresolved(format!(
                    "{spec} is not among the filesystems mounted in the tree{}",
                    if *live {
                        " nor a device of this system"
                    } else {
                        ""
                    }
                ))
            }
        }
    }
}

/// The filesystem of a volume named as the tree names it (`disk 0 partition 2`).
fn fs_ref_by_name(
    resolver: &Resolver<'_>,
    layout: &Layout,
    lv_fs: &[(String, String, FsInfo)],
    name: &str,
) -> Option<FsRef> {
    let mut vols: Vec<Volume> = Vec::new();
    for d in &layout.disks {
        vols.push(Volume::WholeDisk { disk: d.index });
        for p in &d.partitions {
            vols.push(Volume::Partition {
                disk: d.index,
                number: p.number,
            });
        }
    }
    for (vg, lv, _) in lv_fs {
        vols.push(Volume::Lv {
            vg: vg.clone(),
            lv: lv.clone(),
        });
    }
    let v = vols.into_iter().find(|v| v.to_string() == name)?;
    let fs = resolver.fs_of(&v)?.clone();
    Some(FsRef {
        volume: name.to_string(),
        disk: v.disk(),
        fs,
    })
}

/// Probe a host block device for its filesystem.
fn probe_device(source: &str) -> Option<FsRef> {
    let path = PathBuf::from(source);
    if !source.starts_with("/dev/") || !path.exists() {
        return None;
    }
    let layout = crate::probe::probe(&[&path]).ok()?;
    let disk = layout.disks.first()?;
    let fs = disk.content.as_ref()?.fs()?.clone();
    Some(FsRef {
        volume: source.to_string(),
        disk: None,
        fs,
    })
}
