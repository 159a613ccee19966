//! Assembling a guest tree (L1, L2): attach the disks, map the LVs, find the root, mount fstab in path order, give the chroot its /dev and binds; and take it all apart.

use super::devfs::{self, DevNode};
use super::mount::{BtrfsSubvol, FsType, MountGuard, MountRequest, MountTarget, SystemMount};
use super::resolve::{FsRole, Resolution, Resolver, RootSigns, Volume};
use super::teardown::{CloseError, MarkerItem, Resource, TeardownError, TeardownStack};
use crate::attach::kernel::{attach_disk_with, AttachPath, DiskDevice, PathChoice};
use crate::attach::lvm2::{self, ActiveVg, Lvm2Options};
use crate::attach::lvmap::{map_lv, plan_lv, MappedLv};
use crate::attach::partitions::PartitionSet;
use crate::attach::{AttachOptions, AttachedDisk};
use crate::format::fstab::Fstab;
use crate::guest::GuestRoot;
use crate::layout::{Content, FsInfo, Layout};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default tree root (the user's design: `/mnt/azure_sms_root`).
pub const DEFAULT_TREE_ROOT: &str = "/mnt/azure_sms_root";
/// Where sessions keep their markers and runtime files.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/hydra";

/// How to assemble.
#[derive(Debug, Clone)]
pub struct AssembleOptions {
    /// Where the guest's root is mounted (one per session).
    pub tree_root: PathBuf,
    /// Attach and mount read-write (hydration); else read-only (inspection).
    pub read_write: bool,
    /// Pick the root among several: a volume as printed (`disk0p2`, `rhel/root`)
    /// or a filesystem UUID.
    pub root: Option<String>,
    /// Give the tree what a chroot needs: its own `/dev` (nodes, by-uuid links,
    /// mapper names) and binds of `/proc`, `/sys`, `/run`.
    pub chroot: bool,
    /// Session markers and runtime files (`/run/hydra`).
    pub runtime_dir: PathBuf,
    /// Fault injection for tests: fail, as if the step had failed, right after
    /// this many resources (disks, LV maps, mounts, directories) were made.
    #[doc(hidden)]
    pub fail_after: Option<usize>,
    /// Kernel path (NBD, lvm2), userspace path, or what the kernel offers
    /// (see [`crate::attach::kernel`]); `None`: `HYDRA_ATTACH_PATH`, else auto.
    pub attach_path: Option<AttachPath>,
}

impl Default for AssembleOptions {
    fn default() -> Self {
        AssembleOptions {
            tree_root: PathBuf::from(DEFAULT_TREE_ROOT),
            read_write: false,
            root: None,
            chroot: false,
            runtime_dir: PathBuf::from(DEFAULT_RUNTIME_DIR),
            fail_after: None,
            attach_path: None,
        }
    }
}

/// Why a tree could not be assembled. Names the object; the session is torn down.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// Attaching a disk or mapping an LV failed.
    #[error(transparent)]
    Attach(Box<crate::attach::AttachError>),
    /// A mount failed.
    #[error(transparent)]
    Mount(Box<super::mount::MountError>),
    /// No candidate holds an OS.
    #[error("no guest OS found: {tried}")]
    NoRoot {
        /// Every candidate and what it looked like.
        tried: String,
    },
    /// Several candidates hold an OS and none was picked.
    #[error("several guest OS roots: {roots}; pick one with --root")]
    SeveralRoots {
        /// The roots found.
        roots: String,
    },
    /// `--root` names no root.
    #[error("--root {wanted}: no such root among {roots}")]
    NoSuchRoot {
        /// What was asked.
        wanted: String,
        /// The roots found.
        roots: String,
    },
    /// Guest files could not be read.
    #[error(transparent)]
    Guest(Box<crate::guest::GuestError>),
    /// The tree root is unusable (not empty, already a mountpoint, ...).
    #[error("{path}: {what}")]
    TreeRoot {
        /// The tree root.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Scanning an attached disk failed.
    #[error(transparent)]
    Probe(Box<crate::Error>),
    /// Session bookkeeping failed.
    #[error("session: {0}")]
    Session(String),
    /// Interrupted by a signal; everything made so far was torn down.
    #[error("interrupted; the session was torn down")]
    Interrupted,
}

impl From<crate::attach::AttachError> for AssembleError {
    fn from(e: crate::attach::AttachError) -> Self {
        AssembleError::Attach(Box::new(e))
    }
}

impl From<super::mount::MountError> for AssembleError {
    fn from(e: super::mount::MountError) -> Self {
        AssembleError::Mount(Box::new(e))
    }
}

impl From<crate::guest::GuestError> for AssembleError {
    fn from(e: crate::guest::GuestError) -> Self {
        AssembleError::Guest(Box::new(e))
    }
}

/// A volume that holds a mountable filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Which volume (`disk0p2`, `rhel/root`).
    pub volume: String,
    /// Its block device here.
    pub device: PathBuf,
    /// Its filesystem.
    pub fs: FsInfo,
    /// What it looked like when mounted read-only.
    pub role: String,
}

/// One mount of the assembled tree.
#[derive(Debug, Clone, Serialize)]
pub struct TreeMount {
    /// Guest path (`/`, `/boot`).
    pub mountpoint: String,
    /// Which volume.
    pub volume: String,
    /// Its device here.
    pub device: PathBuf,
    /// Filesystem type.
    pub fs_type: String,
}

/// What became of one fstab entry.
#[derive(Debug, Clone, Serialize)]
pub struct FstabOutcome {
    /// Line number in the guest's fstab.
    pub line: usize,
    /// The entry's first field as written.
    pub spec: String,
    /// Its mountpoint.
    pub target: String,
    /// Its type.
    pub vfstype: String,
    /// The volume it resolved to.
    pub volume: Option<String>,
    /// `mounted`, `root`, `swap`, or why it was not mounted.
    pub outcome: String,
}

/// A guest tree: mounted, owned by this session until [`GuestTree::close`]
/// (or [`GuestTree::persist`]).
pub struct GuestTree {
    /// The tree root on the helper.
    pub root_dir: PathBuf,
    /// The root volume, when one was mounted.
    pub root: Option<Candidate>,
    /// `linux` or `windows`.
    pub kind: String,
    /// Every candidate filesystem and its role.
    pub candidates: Vec<Candidate>,
    /// What is mounted where, in mount order.
    pub mounts: Vec<TreeMount>,
    /// The guest's fstab, entry by entry.
    pub fstab: Vec<FstabOutcome>,
    /// Things the user should know (unmapped LVs, unresolved entries, ...).
    pub warnings: Vec<String>,
    /// The layout, completed with what was scanned through attached devices.
    pub layout: Layout,
    /// The filesystems found on mapped LVs: (VG, LV, filesystem).
    pub lv_fs: Vec<(String, String, FsInfo)>,
    stack: TeardownStack,
}

impl std::fmt::Debug for GuestTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestTree")
            .field("root_dir", &self.root_dir)
            .field("root", &self.root)
            .field("mounts", &self.mounts)
            .finish_non_exhaustive()
    }
}

impl GuestTree {
    /// Confined access to the guest's files.
    pub fn guest(&self) -> Result<GuestRoot, crate::guest::GuestError> {
        GuestRoot::open(&self.root_dir)
    }

    /// A resolver of the guest's device names (fstab specs, `root=`) against
    /// this tree's disks and mapped LVs.
    pub fn resolver(&self) -> Resolver<'_> {
        Resolver::with_lvs(&self.layout, &self.lv_fs)
    }

    /// Tear everything down in reverse: unmount, unmap LVs, detach disks, stop
    /// daemons, remove the session marker. Reports every failure.
    pub fn close(mut self) -> Result<(), TeardownError> {
        self.stack.close_all()
    }

    /// Leave the tree mounted on purpose (`hydra-mount mount`); returns the session
    /// marker that `hydra-mount umount` uses to take it apart.
    pub fn persist(self) -> std::io::Result<PathBuf> {
        self.stack.persist()
    }
}

// ----- resources ------------------------------------------------------------------

fn loop_item(dev: &Path) -> Option<MarkerItem> {
    let name = dev.file_name()?.to_str()?;
    let backing = std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
    Some(MarkerItem::Loop {
        device: dev.to_path_buf(),
        backing_file: PathBuf::from(backing.trim_end()),
    })
}

fn daemon_item(pid: u32) -> Option<MarkerItem> {
    let (start_time, cmdline) = super::teardown::process_identity(pid).ok()?;
    Some(MarkerItem::Daemon {
        pid,
        start_time,
        cmdline,
    })
}

impl Resource for AttachedDisk {
    fn describe(&self) -> String {
        format!(
            "disk {} ({}) on {}",
            self.index(),
            self.image_path().display(),
            self.device().display()
        )
    }
    fn close(self: Box<Self>) -> Result<(), CloseError> {
        AttachedDisk::close(*self).map_err(|e| Box::new(e) as CloseError)
    }
    fn release(self: Box<Self>) {
        AttachedDisk::release(*self)
    }
    fn marker_items(&self) -> Vec<MarkerItem> {
        // The loop first, then its daemon: a sweep detaches before it stops.
        let mut v: Vec<MarkerItem> = loop_item(self.device()).into_iter().collect();
        v.extend(self.export().and_then(|x| x.pid()).and_then(daemon_item));
        v
    }
}

impl Resource for MappedLv {
    fn describe(&self) -> String {
        format!("LV {} on {}", self.name(), self.device().display())
    }
    fn close(self: Box<Self>) -> Result<(), CloseError> {
        MappedLv::close(*self).map_err(|e| Box::new(e) as CloseError)
    }
    fn release(self: Box<Self>) {
        MappedLv::release(*self)
    }
    fn marker_items(&self) -> Vec<MarkerItem> {
        let (lo, x) = self.parts();
        let mut v: Vec<MarkerItem> = lo.and_then(|l| loop_item(l.path())).into_iter().collect();
        v.extend(x.and_then(|x| x.pid()).and_then(daemon_item));
        v
    }
}

impl Resource for PartitionSet {
    fn describe(&self) -> String {
        format!("partitions added to {}", self.device().display())
    }
    fn close(self: Box<Self>) -> Result<(), CloseError> {
        PartitionSet::close(*self).map_err(|e| Box::new(e) as CloseError)
    }
    fn release(self: Box<Self>) {
        PartitionSet::release(*self)
    }
}

impl Resource for DiskDevice {
    fn describe(&self) -> String {
        format!(
            "disk {} ({}) on {}",
            self.index(),
            self.image_path().display(),
            self.device().display()
        )
    }
    fn close(self: Box<Self>) -> Result<(), CloseError> {
        DiskDevice::close(*self).map_err(|e| Box::new(e) as CloseError)
    }
    fn release(self: Box<Self>) {
        DiskDevice::release(*self)
    }
    fn marker_items(&self) -> Vec<MarkerItem> {
        match self {
            DiskDevice::Loop(a) => Resource::marker_items(a),
            // SIGTERM from a sweep makes qemu-nbd disconnect the device.
            DiskDevice::Nbd { .. } => self.nbd_pid().and_then(daemon_item).into_iter().collect(),
        }
    }
}

impl Resource for ActiveVg {
    fn describe(&self) -> String {
        format!(
            "VG {} active (lvm2, on {})",
            self.name(),
            self.devices()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn close(self: Box<Self>) -> Result<(), CloseError> {
        ActiveVg::close(*self).map_err(|e| Box::new(e) as CloseError)
    }
    fn marker_items(&self) -> Vec<MarkerItem> {
        vec![MarkerItem::LvmVg {
            name: self.name().to_string(),
            uuid: self.uuid().to_string(),
            devices: self.devices().to_vec(),
        }]
    }
    fn release(self: Box<Self>) {
        ActiveVg::release(*self)
    }
}

/// A directory the session created (the tree root), removed with rmdir at the end.
struct CreatedDir(PathBuf);

impl Resource for CreatedDir {
    fn describe(&self) -> String {
        format!("directory {}", self.0.display())
    }
    fn close(self: Box<Self>) -> Result<(), CloseError> {
        std::fs::remove_dir(&self.0).map_err(|e| {
            Box::new(std::io::Error::new(
                e.kind(),
                format!("rmdir {}: {e}", self.0.display()),
            )) as CloseError
        })
    }
}

// ----- assembly -------------------------------------------------------------------

/// Mountable filesystem types.
fn fs_type(f: &FsInfo) -> Option<FsType> {
    FsType::from_name(&f.fs_type)
}

/// Options for a read-only mount that never writes (no journal replay).
fn ro_options(t: FsType) -> &'static str {
    match t {
        FsType::Ext3 | FsType::Ext4 => "noload",
        FsType::Xfs => "norecovery",
        FsType::Btrfs => "rescue=nologreplay",
        _ => "",
    }
}

/// The volume's printed name.
fn volume_name(v: &Volume) -> String {
    v.to_string()
}

struct Session<'a> {
    /// The layout, completed with the disks scanned once attached.
    layout: Layout,
    opts: &'a AssembleOptions,
    stack: TeardownStack,
    session_dir: PathBuf,
    devices: BTreeMap<String, PathBuf>,
    lv_fs: Vec<(String, String, FsInfo)>,
    nodes: Vec<DevNode>,
    warnings: Vec<String>,
    /// How disks and LVs are attached (kernel or userspace pieces).
    choice: PathChoice,
}

/// Assemble the guest tree of `layout` (from [`crate::probe::probe`]).
///
/// On any error, everything made so far is torn down before returning.
pub fn assemble(layout: &Layout, opts: &AssembleOptions) -> Result<GuestTree, AssembleError> {
    let asked = match opts.attach_path {
        Some(p) => p,
        None => AttachPath::from_env()?,
    };
    let choice = PathChoice::resolve(asked)?;
    tracing::info!(%choice, "attach path");
    // One run per tree root, decided before anything is made.
    let lock = super::lock::TreeLock::acquire(&opts.runtime_dir, &opts.tree_root).map_err(|e| {
        AssembleError::TreeRoot {
            path: opts.tree_root.clone(),
            what: e.to_string(),
        }
    })?;
    let sessions = opts.runtime_dir.join("sessions");
    let mut stack = TeardownStack::new_session(&sessions, Some(&opts.tree_root))
        .map_err(|e| AssembleError::Session(format!("{}: {e}", sessions.display())))?;
    stack.push(lock);
    let session_dir = stack
        .marker()
        .map(|m| m.dir().to_path_buf())
        .ok_or_else(|| AssembleError::Session("no marker".into()))?;
    let mut s = Session {
        layout: layout.clone(),
        opts,
        stack,
        session_dir,
        devices: BTreeMap::new(),
        lv_fs: Vec::new(),
        nodes: Vec::new(),
        warnings: Vec::new(),
        choice,
    };
    match s.run() {
        Ok(tree) => Ok(tree),
        Err(e) => {
            if let Err(t) = s.stack.close_all() {
                tracing::error!("teardown after a failed assembly: {t}");
            }
            Err(e)
        }
    }
}

impl Session<'_> {
    /// Keep a resource for teardown (and the marker); the fault-injection point.
    fn push<R: Resource + 'static>(&mut self, r: R) -> Result<(), AssembleError> {
        self.stack.push(r);
        // The tree root's lock is on the stack first; it is not a step.
        if Some(self.stack.len() - 1) == self.opts.fail_after {
            return Err(AssembleError::Session(format!(
                "injected failure after {} resources",
                self.stack.len() - 1
            )));
        }
        Ok(())
    }

    fn check_signal(&self) -> Result<(), AssembleError> {
        if super::teardown::interrupted().is_some() {
            return Err(AssembleError::Interrupted);
        }
        Ok(())
    }

    fn run(&mut self) -> Result<GuestTree, AssembleError> {
        // FUSE drivers mount in here first: inside the session's own directory, so
        // a sweep can tell a killed session's half-made FUSE mount as its own.
        let staging = self.session_dir.join("fuse");
        std::fs::create_dir_all(&staging).map_err(|e| AssembleError::TreeRoot {
            path: staging.clone(),
            what: e.to_string(),
        })?;
        self.push(CreatedDir(staging))?;
        self.attach()?;
        self.map_lvs()?;
        let candidates = self.classify()?;
        let roots: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.role == "linux-root" || c.role == "windows-system")
            .collect();
        let list = |v: &[&Candidate]| {
            v.iter()
                .map(|c| format!("{} ({} {})", c.volume, c.fs.fs_type, c.role))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let root = match (&self.opts.root, roots.as_slice()) {
            (_, []) => {
                let tried: Vec<&Candidate> = candidates.iter().collect();
                return Err(AssembleError::NoRoot {
                    tried: if tried.is_empty() {
                        "no partition or LV holds a mountable filesystem".into()
                    } else {
                        format!("looked at {}", list(&tried))
                    },
                });
            }
            (Some(want), _) => roots
                .iter()
                .find(|c| &c.volume == want || c.fs.uuid.as_deref() == Some(want.as_str()))
                .copied()
                .ok_or_else(|| AssembleError::NoSuchRoot {
                    wanted: want.clone(),
                    roots: list(&roots),
                })?,
            (None, [one]) => one,
            (None, _) => {
                return Err(AssembleError::SeveralRoots {
                    roots: list(&roots),
                })
            }
        }
        .clone();
        let kind = if root.role == "windows-system" {
            "windows"
        } else {
            "linux"
        };
        let mut tree = GuestTree {
            root_dir: self.opts.tree_root.clone(),
            root: Some(root.clone()),
            kind: kind.into(),
            candidates: candidates.clone(),
            mounts: Vec::new(),
            fstab: Vec::new(),
            warnings: Vec::new(),
            layout: Layout {
                disks: Vec::new(),
                volume_groups: Vec::new(),
            },
            lv_fs: Vec::new(),
            stack: TeardownStack::new(),
        };
        self.mount_root(&root, None, &mut tree)?;
        if kind == "linux" {
            self.mount_fstab(&root, &mut tree)?;
            if self.opts.chroot {
                self.chroot_mounts()?;
            }
        }
        tree.warnings = std::mem::take(&mut self.warnings);
        tree.layout = self.layout.clone();
        tree.lv_fs = self.lv_fs.clone();
        tree.stack = std::mem::take(&mut self.stack);
        Ok(tree)
    }

    /// Attach every disk Hydra can, in order, and name their devices.
    fn attach(&mut self) -> Result<(), AssembleError> {
        let aopts = AttachOptions {
            read_only: !self.opts.read_write,
            runtime_dir: self.session_dir.clone(),
        };
        // Attach in order, each recorded (pushed) as soon as it exists.
        let mut devices: Vec<PathBuf> = Vec::with_capacity(self.layout.disks.len());
        let mut part_paths: BTreeMap<(usize, u32), PathBuf> = BTreeMap::new();
        let disks = self.layout.disks.clone();
        for d in &disks {
            self.check_signal()?;
            let a = attach_disk_with(&d.path, d, &aopts, &self.choice)?;
            devices.push(a.device().to_path_buf());
            for p in &d.partitions {
                if let Some(dev) = a.partition_path(p.number) {
                    part_paths.insert((d.index, p.number), dev);
                }
            }
            self.push(a)?;
        }
        // Formats the prober cannot read from the file (qcow2, sparse VMDK, VHDX,
        // dynamic VHD) are scanned now, through their attached device; the LVM
        // volume groups are assembled again with them, and their partitions added.
        if disks.iter().any(|d| !d.image.readable) {
            let paths: Vec<PathBuf> = disks
                .iter()
                .zip(&devices)
                .map(|(d, dev)| {
                    if d.image.readable {
                        d.path.clone()
                    } else {
                        dev.clone()
                    }
                })
                .collect();
            let mut fresh =
                crate::probe::probe(&paths).map_err(|e| AssembleError::Probe(Box::new(e)))?;
            for (f, orig) in fresh.disks.iter_mut().zip(&disks) {
                f.path = orig.path.clone();
                f.image = orig.image.clone();
            }
            for (d, dev) in fresh.disks.iter().zip(&devices) {
                if disks[d.index].image.readable || d.partitions.is_empty() {
                    continue;
                }
                let file = std::fs::File::open(dev)
                    .map_err(|e| crate::attach::AttachError::os(dev, "open for partitions", e))?;
                let name = dev.file_name().and_then(|n| n.to_str()).unwrap_or("disk");
                let set = PartitionSet::add(&file, dev, name, &d.partitions)?;
                for p in &d.partitions {
                    if let Some(pp) = set.path(p.number) {
                        part_paths.insert((d.index, p.number), pp.to_path_buf());
                    }
                }
                self.push(set)?;
            }
            self.layout = fresh;
        }
        let layout = self.layout.clone();
        for (d, dev) in layout.disks.iter().zip(&devices) {
            self.devices.insert(format!("disk{}", d.index), dev.clone());
            let mut whole = DevNode {
                host: dev.clone(),
                links: Vec::new(),
            };
            if let Some(fs) = d.content.as_ref().and_then(Content::fs) {
                whole.links = fs_links(fs);
                let v = Volume::WholeDisk { disk: d.index };
                self.devices.insert(volume_name(&v), dev.clone());
            }
            self.nodes.push(whole);
            for p in &d.partitions {
                if let Some(pdev) = part_paths.get(&(d.index, p.number)) {
                    let v = Volume::Partition {
                        disk: d.index,
                        number: p.number,
                    };
                    self.devices.insert(volume_name(&v), pdev.clone());
                    self.nodes.push(DevNode {
                        host: pdev.clone(),
                        links: fs_links_part(p),
                    });
                }
            }
        }
        Ok(())
    }

    /// Map every visible LV of every complete VG that can be mapped here.
    fn map_lvs(&mut self) -> Result<(), AssembleError> {
        let disk_devices: BTreeMap<usize, PathBuf> = self
            .layout
            .disks
            .iter()
            .filter_map(|d| {
                Some((
                    d.index,
                    self.devices.get(&format!("disk{}", d.index))?.clone(),
                ))
            })
            .collect();
        let vgs = self.layout.volume_groups.clone();
        for vg in &vgs {
            if self.choice.lvm2 && self.activate_vg(vg)? {
                continue;
            }
            for lv in vg.lvs.iter().filter(|l| l.visible) {
                self.check_signal()?;
                if let Err(e) = plan_lv(vg, lv) {
                    self.warnings.push(format!("not mapped: {e}"));
                    continue;
                }
                let m = map_lv(
                    vg,
                    lv,
                    &disk_devices,
                    &self.session_dir,
                    !self.opts.read_write,
                )?;
                let dev = m.device().to_path_buf();
                self.push(m)?;
                self.add_lv(&vg.name, &lv.name, dev);
            }
        }
        Ok(())
    }

    /// Activate `vg` with lvm2, scoped to its PVs on the attached disks; `false`
    /// when it clashes with the helper on the auto path (then mapped as on the
    /// userspace path, see [`crate::attach::lvm2`]).
    fn activate_vg(&mut self, vg: &crate::layout::VolumeGroup) -> Result<bool, AssembleError> {
        self.check_signal()?;
        if let Some(clash) = lvm2::check_clash(vg)? {
            if self.choice.asked == AttachPath::Kernel {
                return Err(crate::attach::AttachError::from(clash).into());
            }
            self.warnings.push(format!(
                "{}: its LVs are mapped by Hydra instead of lvm2 (linear LVs only)",
                clash.summary()
            ));
            return Ok(false);
        }
        let pvs: Vec<PathBuf> = vg
            .pvs
            .iter()
            .filter_map(|pv| {
                let at = pv.location.as_ref()?;
                let key = match at.partition {
                    Some(number) => volume_name(&Volume::Partition {
                        disk: at.disk,
                        number,
                    }),
                    None => format!("disk{}", at.disk),
                };
                self.devices.get(&key).cloned()
            })
            .collect();
        let opts = Lvm2Options {
            read_only: !self.opts.read_write,
            ..Lvm2Options::default()
        };
        let active = lvm2::activate(vg, &pvs, &opts)?;
        let lvs: Vec<(String, PathBuf)> = active
            .lvs()
            .iter()
            .map(|l| (l.name.clone(), l.path.clone()))
            .collect();
        self.warnings.extend(active.notes().iter().cloned());
        self.push(active)?;
        for (lv, dev) in lvs {
            self.add_lv(&vg.name, &lv, dev);
        }
        Ok(true)
    }

    /// Name an LV's block device: probe what it holds, give the chroot its
    /// mapper and `VG/LV` names and by-uuid links.
    fn add_lv(&mut self, vg: &str, lv: &str, dev: PathBuf) {
        let name = volume_name(&Volume::Lv {
            vg: vg.to_string(),
            lv: lv.to_string(),
        });
        let mut links = vec![
            format!("mapper/{}", devfs::dm_name(vg, lv)),
            format!("{vg}/{lv}"),
        ];
        // What the LV holds (the layout does not know: probe it now).
        match crate::probe::probe(&[&dev]) {
            Ok(l) => {
                if let Some(fs) = l.disks[0].content.as_ref().and_then(Content::fs) {
                    links.extend(fs_links(fs));
                    self.lv_fs
                        .push((vg.to_string(), lv.to_string(), fs.clone()));
                }
            }
            Err(e) => self.warnings.push(format!("LV {name}: probe failed: {e}")),
        }
        self.nodes.push(DevNode {
            host: dev.clone(),
            links,
        });
        self.devices.insert(name, dev);
    }

    /// Every mountable filesystem, mounted read-only in turn and classified.
    fn classify(&mut self) -> Result<Vec<Candidate>, AssembleError> {
        let mut out = Vec::new();
        let mut vols: Vec<(String, FsInfo)> = self
            .layout
            .filesystems()
            .map(|(r, f)| {
                let v = match r.partition {
                    Some(number) => Volume::Partition {
                        disk: r.disk,
                        number,
                    },
                    None => Volume::WholeDisk { disk: r.disk },
                };
                (volume_name(&v), f.clone())
            })
            .collect();
        vols.extend(self.lv_fs.iter().map(|(vg, lv, f)| {
            let v = Volume::Lv {
                vg: vg.clone(),
                lv: lv.clone(),
            };
            (volume_name(&v), f.clone())
        }));
        let scratch = self.session_dir.join("probe");
        std::fs::create_dir_all(&scratch).map_err(|e| AssembleError::TreeRoot {
            path: scratch.clone(),
            what: e.to_string(),
        })?;
        // Removed (rmdir) at teardown, also when a probe mount fails half-way.
        self.push(CreatedDir(scratch.clone()))?;
        for (volume, fs) in vols {
            self.check_signal()?;
            let (Some(t), Some(dev)) = (fs_type(&fs), self.devices.get(&volume).cloned()) else {
                continue;
            };
            let req = MountRequest::fs(&dev, t)
                .staging_dir(self.session_dir.join("fuse"))
                .read_only(true)
                .options(ro_options(t));
            let role = match MountGuard::mount(&req, MountTarget::Host(&scratch)) {
                Ok(m) => {
                    let role = GuestRoot::open(&scratch)
                        .map(|g| classify_tree(&g))
                        .unwrap_or(FsRole::Unknown);
                    if let Err(e) = m.close() {
                        return Err(e.into());
                    }
                    role_name(role)
                }
                Err(e) => {
                    self.warnings
                        .push(format!("{volume} ({}): not mountable: {e}", fs.fs_type));
                    "unmountable".to_string()
                }
            };
            out.push(Candidate {
                volume,
                device: dev,
                fs,
                role,
            });
        }
        Ok(out)
    }

    fn mount_root(
        &mut self,
        root: &Candidate,
        subvol: Option<BtrfsSubvol>,
        tree: &mut GuestTree,
    ) -> Result<(), AssembleError> {
        let dir = &self.opts.tree_root;
        match std::fs::symlink_metadata(dir) {
            Err(_) => {
                std::fs::create_dir_all(dir).map_err(|e| AssembleError::TreeRoot {
                    path: dir.clone(),
                    what: format!("create: {e}"),
                })?;
                self.push(CreatedDir(dir.clone()))?;
            }
            Ok(m) if !m.is_dir() => {
                return Err(AssembleError::TreeRoot {
                    path: dir.clone(),
                    what: "not a directory".into(),
                })
            }
            Ok(_) => {
                let busy = super::mount::read_mountinfo()
                    .map(|v| v.iter().any(|i| &i.mount_point == dir))
                    .unwrap_or(false);
                let empty = std::fs::read_dir(dir).map(|mut r| r.next().is_none());
                if busy || !matches!(empty, Ok(true)) {
                    return Err(AssembleError::TreeRoot {
                        path: dir.clone(),
                        what: "already in use (a mountpoint, or not empty): \
                               pick another with --tree-root, or hydra-mount umount it"
                            .into(),
                    });
                }
            }
        }
        let t = fs_type(&root.fs).expect("candidates are mountable");
        let mut req = MountRequest::fs(&root.device, t)
            .staging_dir(self.session_dir.join("fuse"))
            .read_only(!self.opts.read_write);
        if !self.opts.read_write {
            req = req.options(ro_options(t));
        }
        if let Some(sv) = subvol {
            req = req.btrfs_subvol(sv);
        }
        let m = MountGuard::mount(&req, MountTarget::Host(dir))?;
        self.push(m)?;
        tree.mounts.push(TreeMount {
            mountpoint: "/".into(),
            volume: root.volume.clone(),
            device: root.device.clone(),
            fs_type: root.fs.fs_type.clone(),
        });
        Ok(())
    }

    /// Mount the guest's fstab entries below the root, in path order.
    fn mount_fstab(&mut self, root: &Candidate, tree: &mut GuestTree) -> Result<(), AssembleError> {
        let guest = GuestRoot::open(&self.opts.tree_root)?;
        let text = guest.read("etc/fstab")?;
        let fstab = Fstab::parse(&text);
        let layout = self.layout.clone();
        let resolver = Resolver::with_lvs(&layout, &self.lv_fs);
        // Remount the root with the subvolume its fstab line names (Ubuntu's `@`).
        let root_sub = fstab
            .entries()
            .find(|(_, e)| e.target() == "/")
            .and_then(|(_, e)| {
                match resolver.resolve(&e.spec(), e.vfstype(), e.options().as_str()) {
                    Resolution::Resolved(r) => r.subvolume,
                    _ => None,
                }
            });
        let mut guest = guest;
        if let Some(sv) = root_sub.filter(|_| root.fs.fs_type == "btrfs") {
            let want = match (sv.path, sv.id) {
                (Some(p), _) => BtrfsSubvol::Path(p),
                (None, Some(id)) => BtrfsSubvol::Id(id),
                (None, None) => BtrfsSubvol::Id(5),
            };
            drop(guest);
            // The root mount is the last thing pushed; close it and mount again.
            if let Some(Err(e)) = self.stack.close_top() {
                return Err(AssembleError::Session(e.to_string()));
            }
            tree.mounts.pop();
            self.mount_root(root, Some(want), tree)?;
            guest = GuestRoot::open(&self.opts.tree_root)?;
        }
        let mut todo: Vec<(String, Volume, FsInfo, Option<BtrfsSubvol>, String)> = Vec::new();
        for (line, e) in fstab.entries() {
            let mut out = FstabOutcome {
                line,
                spec: e.spec_field().raw().to_string(),
                target: e.target().to_string(),
                vfstype: e.vfstype().to_string(),
                volume: None,
                outcome: String::new(),
            };
            let r = resolver.resolve(&e.spec(), e.vfstype(), e.options().as_str());
            out.volume = r.volume().map(volume_name);
            out.outcome = if e.is_swap() {
                "swap (not mounted)".into()
            } else if e.target() == "/" {
                match r.volume() {
                    Some(v) if volume_name(v) == root.volume => "root".into(),
                    Some(v) => {
                        self.warnings.push(format!(
                            "fstab line {line}: / is {} but the root found is {}",
                            volume_name(v),
                            root.volume
                        ));
                        "root (fstab names another volume)".into()
                    }
                    None => "root".into(),
                }
            } else if e.noauto() {
                "noauto (not mounted)".into()
            } else {
                match &r {
                    Resolution::Resolved(res) => {
                        self.warnings.extend(
                            res.warnings
                                .iter()
                                .map(|w| format!("fstab line {line}: {w}")),
                        );
                        let fs = match &res.volume {
                            Volume::Lv { vg, lv } => self
                                .lv_fs
                                .iter()
                                .find(|(a, b, _)| a == vg && b == lv)
                                .map(|x| x.2.clone()),
                            v => v.fs(&layout).cloned(),
                        };
                        match fs {
                            Some(fs) if fs_type(&fs).is_some() => {
                                let sv = res.subvolume.clone().and_then(|s| match (s.path, s.id) {
                                    (Some(p), _) => Some(BtrfsSubvol::Path(p)),
                                    (None, Some(id)) => Some(BtrfsSubvol::Id(id)),
                                    _ => None,
                                });
                                todo.push((
                                    e.target().to_string(),
                                    res.volume.clone(),
                                    fs,
                                    sv,
                                    e.options().as_str().to_string(),
                                ));
                                "mounted".into()
                            }
                            Some(fs) => {
                                format!("not mounted: {} is not mountable here", fs.fs_type)
                            }
                            None => "not mounted: no filesystem found on it".into(),
                        }
                    }
                    Resolution::Ambiguous { reason, .. } => {
                        self.warnings.push(format!("fstab line {line}: {reason}"));
                        format!("not mounted: ambiguous: {reason}")
                    }
                    Resolution::Unresolved { reason, .. } => {
                        self.warnings.push(format!(
                            "fstab line {line} ({}): unresolved: {reason}",
                            e.target()
                        ));
                        format!("unresolved: {reason}")
                    }
                    Resolution::NotADisk { detail, kind } => {
                        format!("not a disk ({kind:?}): {detail}")
                    }
                }
            };
            tree.fstab.push(out);
        }
        // Parents before children: sort by the number of path components, then path.
        todo.sort_by(|a, b| {
            let depth = |p: &str| Path::new(p).components().count();
            depth(&a.0).cmp(&depth(&b.0)).then(a.0.cmp(&b.0))
        });
        for (target, volume, fs, sv, options) in todo {
            self.check_signal()?;
            let name = volume_name(&volume);
            let Some(dev) = self.devices.get(&name).cloned() else {
                self.warnings.push(format!(
                    "{target}: {name} is not attached here; not mounted"
                ));
                continue;
            };
            let t = fs_type(&fs).expect("checked mountable");
            let mut req = MountRequest::fs(&dev, t)
                .staging_dir(self.session_dir.join("fuse"))
                .read_only(!self.opts.read_write);
            let opts = if self.opts.read_write {
                options
            } else {
                format!("{options},{}", ro_options(t))
            };
            req = req.options(opts.trim_matches(','));
            if let Some(sv) = sv {
                req = req.btrfs_subvol(sv);
            }
            let m = MountGuard::mount(
                &req,
                MountTarget::Guest {
                    root: &guest,
                    path: Path::new(&target),
                },
            )?;
            self.push(m)?;
            tree.mounts.push(TreeMount {
                mountpoint: target,
                volume: name,
                device: dev,
                fs_type: fs.fs_type.clone(),
            });
        }
        Ok(())
    }

    /// The chroot's /dev (own tmpfs with by-uuid links), /proc, /sys, /run.
    fn chroot_mounts(&mut self) -> Result<(), AssembleError> {
        let guest = GuestRoot::open(&self.opts.tree_root)?;
        let dev = MountGuard::mount(
            &MountRequest::tmpfs().options("mode=0755,size=16m,dev"),
            MountTarget::Guest {
                root: &guest,
                path: Path::new("/dev"),
            },
        )?;
        let at = dev.target().to_path_buf();
        self.push(dev)?;
        devfs::populate(&at, &self.nodes).map_err(|e| AssembleError::TreeRoot {
            path: at.clone(),
            what: format!("populate /dev: {e}"),
        })?;
        for which in [SystemMount::Proc, SystemMount::Sys, SystemMount::Run] {
            let m = MountGuard::mount(
                &MountRequest::system(which),
                MountTarget::Guest {
                    root: &guest,
                    path: Path::new(match which {
                        SystemMount::Proc => "/proc",
                        SystemMount::Sys => "/sys",
                        _ => "/run",
                    }),
                },
            )?;
            self.push(m)?;
        }
        Ok(())
    }
}

/// `disk/by-uuid/...` and `disk/by-label/...` names of a filesystem.
fn fs_links(fs: &FsInfo) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(u) = &fs.uuid {
        v.push(format!("disk/by-uuid/{}", devfs::udev_escape(u)));
    }
    if let Some(l) = &fs.label {
        v.push(format!("disk/by-label/{}", devfs::udev_escape(l)));
    }
    v
}

/// The filesystem names plus `by-partuuid` / `by-partlabel` of a partition.
fn fs_links_part(p: &crate::layout::Partition) -> Vec<String> {
    let mut v = p.content.fs().map(fs_links).unwrap_or_default();
    if let Some(u) = &p.uuid {
        v.push(format!("disk/by-partuuid/{}", devfs::udev_escape(u)));
    }
    if let Some(n) = p.name.as_ref().filter(|n| !n.is_empty()) {
        v.push(format!("disk/by-partlabel/{}", devfs::udev_escape(n)));
    }
    v
}

/// Look for the signs of an OS in a mounted filesystem (confined).
fn classify_tree(g: &GuestRoot) -> FsRole {
    let mut present: Vec<String> = RootSigns::probes()
        .filter(|p| g.exists(p).unwrap_or(false))
        .map(|p| p.to_string())
        .collect();
    for dir in ["", "EFI", "efi"] {
        if let Ok(entries) = g.read_dir(if dir.is_empty() { "." } else { dir }) {
            for e in entries {
                let name = e.name.to_string_lossy();
                present.push(if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
    }
    if g.find_case_insensitive("Windows/System32/config/SYSTEM")
        .is_ok()
    {
        present.push("Windows/System32/config/SYSTEM".into());
    }
    RootSigns::from_paths(present).classify()
}

fn role_name(r: FsRole) -> String {
    match r {
        FsRole::LinuxRoot => "linux-root",
        FsRole::LinuxRootWithoutFstab => "linux-root-without-fstab",
        FsRole::WindowsSystem => "windows-system",
        FsRole::Boot => "boot",
        FsRole::Esp => "esp",
        FsRole::Usr => "usr",
        FsRole::Var => "var",
        _ => "data",
    }
    .to_string()
}
