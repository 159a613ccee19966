//! One mount as a guard ([`MountGuard`]): kernel filesystems with `mount(2)`, vfat and NTFS through FUSE (`fusefat`, `ntfs-3g`), bind mounts and tmpfs, on a mountpoint resolved inside the guest tree; unmount with `EBUSY` retries and a report of who holds it.
//!
//! # Where a mount goes
//!
//! Mountpoints come from the guest's fstab, so they are untrusted: a guest
//! symlink `boot -> /` would make the host path `/mnt/azure_sms_root/boot`
//! name the host's root. A [`MountTarget::Guest`] is therefore created with
//! the confined [`GuestRoot::create_dir_all`] and then resolved with
//! `openat2(tree, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` to an
//! `O_PATH` descriptor; the mount goes onto `/proc/self/fd/N` of that
//! descriptor, so the kernel mounts on exactly the directory that was
//! resolved inside the tree, never on a host path re-resolved by name. A
//! mountpoint that resolves to the tree root itself (`boot -> /`, `/..`) is
//! refused: it would hide the guest's root. Needs `openat2` (Linux 5.6).
//! [`MountTarget::Host`] is for the tree root itself, a host directory Hydra
//! chose.
//!
//! # Kinds
//!
//! - ext2/3/4, xfs, btrfs (and vfat or NTFS (`ntfs3`) when the kernel has the
//!   driver): `mount(2)`. xfs always gets `nouuid` (a cloned guest shares its
//!   UUID with the helper or with another disk); btrfs takes `subvol=` or
//!   `subvolid=` ([`BtrfsSubvol`]). Guest filesystems are mounted `nosuid,nodev`
//!   unless the options say `suid`/`dev`: a device node planted in an image
//!   cannot reach a host device through the tree. Userspace-only fstab options
//!   (`defaults`, `nofail`, `x-systemd.*`, `_netdev`, ...) are dropped; when the
//!   kernel refuses the remaining filesystem options with `EINVAL` (an option
//!   of the guest's older kernel, such as xfs `nobarrier`), the mount is
//!   retried once with only the options Hydra needs, and a note says so
//!   ([`MountGuard::notes`]).
//! - vfat without a kernel driver: `fusefat -f -o rw+|ro DEV DIR`; NTFS:
//!   `ntfs-3g -o ro|rw,no_detach DEV DIR` (read-only unless read-write is
//!   asked). Both run in the foreground as children (`Cmd::spawn_guarded`), so
//!   the daemon's pid is known (by default both daemonize; fusefat then gives
//!   no way to learn its pid). A FUSE driver is handed a path, not a
//!   descriptor (libfuse 2 `realpath`s it and mounts by name), so it mounts on
//!   a private staging directory (`/run/hydra/fuse/PID-N`, mode 0700, no guest
//!   path in it); when the mount shows in `/proc/self/mountinfo` (within
//!   [`MountRequest::start_timeout`]) it is bind-mounted onto the resolved
//!   descriptor and the staging mount is unmounted. [`MountBackend`] picks the
//!   kernel when `/proc/filesystems` lists the driver, else FUSE; either can
//!   be forced.
//! - bind mounts and tmpfs; [`SystemMount`] gives the chroot's `/dev`,
//!   `/proc`, `/sys`, `/run`:
//!   - `/dev`: the host's `/dev`, recursively (`MS_BIND|MS_REC`): guest tools
//!     need `/dev/null`, `/dev/urandom`, `/dev/pts` (apt, script) and
//!     `/dev/shm`, and `grub-probe` must see the loop devices that hold the
//!     guest. The guest therefore sees every host device, like any chroot
//!     does. Anything a step writes into the chroot's `/dev` (for example
//!     `/dev/disk/by-uuid` links for `grub-mkconfig`) lands in the *host's*
//!     devtmpfs: mount a tmpfs over `<tree>/dev/disk` first for such links.
//!   - `/proc`: non-recursive bind (no `binfmt_misc` or other submounts).
//!   - `/sys`: non-recursive bind: without `efivarfs` and cgroups, so that
//!     `grub-install` or `efibootmgr` in the chroot cannot write the helper's
//!     own EFI variables.
//!   - `/run`: non-recursive bind (the guest's `resolv.conf` often points at
//!     `/run/systemd/resolve/...`).
//!
//! Every mount made here is set `MS_PRIVATE` (recursive binds
//! `MS_REC|MS_PRIVATE`) right after it is made: unmounting the chroot's
//! `/dev/pts` must never propagate to the host's `/dev/pts` (the classic
//! shared-subtree chroot accident), and mounts made below the tree are not
//! copied into other mount namespaces.
//!
//! # Unmount
//!
//! [`MountGuard::close`] unmounts the mount it made, identified by its mount
//! id (checked against the topmost mount at the path before each attempt, so
//! it never unmounts something stacked on top of it); a recursive bind's
//! submounts go first, deepest first. `EBUSY` is retried with a doubling
//! back-off ([`UmountPolicy`]); it never falls back to `MNT_DETACH`. Still busy:
//! [`MountError::Busy`] lists the processes whose cwd, root, open files or
//! mappings are under the mount ([`find_holders`]) and the mounts below it.
//! For FUSE, `close` then waits for the daemon to exit (a `fuse` unmount
//! returns before fusefat has written its FAT back). If unmounting fails the
//! daemon is left running, so that the mount stays usable and a later sweep
//! can unmount it cleanly. `Drop` does the same as `close`, logging failures.

use crate::exec::{ChildGuard, Cmd, ExecError};
use crate::guest::{GuestError, GuestRoot};
use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where FUSE drivers mount before the mount is bound into the tree.
pub const DEFAULT_FUSE_STAGING_DIR: &str = "/run/hydra/fuse";
/// How long a FUSE driver may take to show its mount.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a FUSE driver may take to exit after its filesystem is unmounted.
pub const DEFAULT_DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many holders [`find_holders`] reports at most.
pub const MAX_HOLDERS: usize = 64;

/// Counter for staging directory names.
static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A filesystem type Hydra mounts from a block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsType {
    /// ext2.
    Ext2,
    /// ext3.
    Ext3,
    /// ext4.
    Ext4,
    /// XFS (always mounted with `nouuid`).
    Xfs,
    /// btrfs.
    Btrfs,
    /// FAT12/16/32 (EFI system partitions).
    Vfat,
    /// NTFS.
    Ntfs,
}

impl FsType {
    /// The type for a name as found in fstab or blkid (`ext4`, `xfs`,
    /// `btrfs`, `vfat`/`msdos`/`fat`, `ntfs`/`ntfs-3g`/`ntfs3`).
    pub fn from_name(name: &str) -> Option<FsType> {
        Some(match name {
            "ext2" => FsType::Ext2,
            "ext3" => FsType::Ext3,
            "ext4" => FsType::Ext4,
            "xfs" => FsType::Xfs,
            "btrfs" => FsType::Btrfs,
            "vfat" | "msdos" | "fat" | "fat12" | "fat16" | "fat32" => FsType::Vfat,
            "ntfs" | "ntfs-3g" | "ntfs3" => FsType::Ntfs,
            _ => return None,
        })
    }

    /// The usual name (`ext4`, `vfat`, `ntfs`).
    pub fn name(self) -> &'static str {
        match self {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
            FsType::Btrfs => "btrfs",
            FsType::Vfat => "vfat",
            FsType::Ntfs => "ntfs",
        }
    }

    /// The kernel driver's name (`ntfs3` for NTFS).
    pub fn kernel_name(self) -> &'static str {
        match self {
            FsType::Ntfs => "ntfs3",
            other => other.name(),
        }
    }

    /// The FUSE driver, for the types that have one (`fusefat`, `ntfs-3g`).
    pub fn fuse_program(self) -> Option<&'static str> {
        match self {
            FsType::Vfat => Some("fusefat"),
            FsType::Ntfs => Some("ntfs-3g"),
            _ => None,
        }
    }

    /// Whether a mount defaults to read-only (NTFS: Windows volumes are only
    /// written when asked).
    pub fn default_read_only(self) -> bool {
        self == FsType::Ntfs
    }
}

impl fmt::Display for FsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kernel driver or FUSE driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MountBackend {
    /// The kernel when `/proc/filesystems` lists the driver, else FUSE
    /// (vfat, NTFS); ext/xfs/btrfs always use the kernel.
    #[default]
    Auto,
    /// `mount(2)` only.
    Kernel,
    /// The FUSE driver only (vfat, NTFS).
    Fuse,
}

/// A btrfs subvolume to mount instead of the default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtrfsSubvol {
    /// `subvol=PATH` (as in fstab: `@`, `/@/.snapshots/1/snapshot`, `root`).
    Path(String),
    /// `subvolid=ID` (5 is the top level).
    Id(u64),
}

/// The mounts a chroot needs besides the guest's filesystems (see the module
/// docs for the choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemMount {
    /// The host's `/dev`, recursive bind.
    Dev,
    /// The host's `/proc`, non-recursive bind.
    Proc,
    /// The host's `/sys`, non-recursive bind (no efivarfs, no cgroups).
    Sys,
    /// The host's `/run`, non-recursive bind.
    Run,
}

impl SystemMount {
    /// All four, in mount order.
    pub const ALL: [SystemMount; 4] = [
        SystemMount::Dev,
        SystemMount::Proc,
        SystemMount::Sys,
        SystemMount::Run,
    ];

    /// The host directory bound, also the guest path it goes to.
    pub fn path(self) -> &'static str {
        match self {
            SystemMount::Dev => "/dev",
            SystemMount::Proc => "/proc",
            SystemMount::Sys => "/sys",
            SystemMount::Run => "/run",
        }
    }

    /// Whether the bind is recursive.
    pub fn recursive(self) -> bool {
        self == SystemMount::Dev
    }
}

/// How hard [`MountGuard::close`] (and the sweep) try an unmount that fails
/// with `EBUSY`: `attempts` tries, sleeping `first_delay`, doubling, at most
/// `max_delay` between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UmountPolicy {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// Sleep after the first `EBUSY`.
    pub first_delay: Duration,
    /// Longest sleep between tries.
    pub max_delay: Duration,
}

impl Default for UmountPolicy {
    /// 8 tries over about 1.6 s (20, 40, 80, 160, 320, 500, 500 ms).
    fn default() -> Self {
        UmountPolicy {
            attempts: 8,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
        }
    }
}

impl UmountPolicy {
    /// The sleep after failed try `n` (0-based).
    fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// What to mount, and how. Build with [`MountRequest::fs`],
/// [`MountRequest::bind`], [`MountRequest::rbind`], [`MountRequest::tmpfs`] or
/// [`MountRequest::system`], then adjust with the setters.
#[derive(Debug, Clone)]
pub struct MountRequest {
    kind: Kind,
    read_only: Option<bool>,
    options: String,
    fuse_options: Vec<String>,
    backend: MountBackend,
    subvol: Option<BtrfsSubvol>,
    start_timeout: Duration,
    daemon_exit_timeout: Duration,
    umount: UmountPolicy,
    staging_dir: PathBuf,
}

#[derive(Debug, Clone)]
enum Kind {
    Fs { device: PathBuf, fstype: FsType },
    Bind { source: PathBuf, recursive: bool },
    Tmpfs,
}

impl MountRequest {
    fn new(kind: Kind) -> Self {
        MountRequest {
            kind,
            read_only: None,
            options: String::new(),
            fuse_options: Vec::new(),
            backend: MountBackend::Auto,
            subvol: None,
            start_timeout: DEFAULT_START_TIMEOUT,
            daemon_exit_timeout: DEFAULT_DAEMON_EXIT_TIMEOUT,
            umount: UmountPolicy::default(),
            staging_dir: PathBuf::from(DEFAULT_FUSE_STAGING_DIR),
        }
    }

    /// The filesystem of type `fstype` on the block device `device`
    /// (read-write, except NTFS which is read-only unless
    /// [`MountRequest::read_only`]`(false)`).
    pub fn fs(device: impl Into<PathBuf>, fstype: FsType) -> Self {
        Self::new(Kind::Fs {
            device: device.into(),
            fstype,
        })
    }

    /// A non-recursive bind of the host path `source`.
    pub fn bind(source: impl Into<PathBuf>) -> Self {
        Self::new(Kind::Bind {
            source: source.into(),
            recursive: false,
        })
    }

    /// A recursive bind (`MS_REC`) of the host path `source`, with its submounts.
    pub fn rbind(source: impl Into<PathBuf>) -> Self {
        Self::new(Kind::Bind {
            source: source.into(),
            recursive: true,
        })
    }

    /// A fresh tmpfs (`nosuid,nodev`, mode 0755 unless the options say otherwise).
    pub fn tmpfs() -> Self {
        Self::new(Kind::Tmpfs)
    }

    /// One of the chroot's system mounts; mount it at [`SystemMount::path`]
    /// in the guest.
    pub fn system(which: SystemMount) -> Self {
        Self::new(Kind::Bind {
            source: PathBuf::from(which.path()),
            recursive: which.recursive(),
        })
    }

    /// Mount read-only (`true`) or read-write (`false`); wins over `ro`/`rw`
    /// in the options.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// Options as in fstab (`defaults,noatime,errors=remount-ro`):
    /// flags become `mount(2)` flags, userspace-only options are dropped, the
    /// rest go to the filesystem (or to `ntfs-3g`; fusefat takes none of them).
    pub fn options(mut self, options: impl Into<String>) -> Self {
        self.options = options.into();
        self
    }

    /// Extra `-o` options passed verbatim to the FUSE driver.
    pub fn fuse_option(mut self, option: impl Into<String>) -> Self {
        self.fuse_options.push(option.into());
        self
    }

    /// Choose the kernel or the FUSE driver (default [`MountBackend::Auto`]).
    pub fn backend(mut self, backend: MountBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Mount this btrfs subvolume (replaces `subvol=`/`subvolid=` in the options).
    pub fn btrfs_subvol(mut self, subvol: BtrfsSubvol) -> Self {
        self.subvol = Some(subvol);
        self
    }

    /// How long a FUSE driver may take to mount (default 10 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long a FUSE driver may take to exit after the unmount (default 10 s).
    pub fn daemon_exit_timeout(mut self, timeout: Duration) -> Self {
        self.daemon_exit_timeout = timeout;
        self
    }

    /// The `EBUSY` retry policy of [`MountGuard::close`].
    pub fn umount_policy(mut self, policy: UmountPolicy) -> Self {
        self.umount = policy;
        self
    }

    /// Directory for FUSE staging mounts (default [`DEFAULT_FUSE_STAGING_DIR`]).
    pub fn staging_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.staging_dir = dir.into();
        self
    }

    /// What is mounted, for messages (`xfs /dev/loop3p2`, `bind /dev (recursive)`).
    pub fn what(&self) -> String {
        match &self.kind {
            Kind::Fs { device, fstype } => format!("{fstype} {}", device.display()),
            Kind::Bind {
                source,
                recursive: true,
            } => format!("bind {} (recursive)", source.display()),
            Kind::Bind { source, .. } => format!("bind {}", source.display()),
            Kind::Tmpfs => "tmpfs".to_string(),
        }
    }

    fn effective_read_only(&self, parsed: &ParsedOptions) -> bool {
        match (self.read_only, parsed.read_only) {
            (Some(ro), _) => ro,
            (None, Some(ro)) => ro,
            (None, None) => {
                matches!(&self.kind, Kind::Fs { fstype, .. } if fstype.default_read_only())
            }
        }
    }
}

/// Where a mount goes.
#[derive(Debug, Clone, Copy)]
pub enum MountTarget<'a> {
    /// A host directory Hydra chose, trusted (the tree root, e.g.
    /// `/mnt/azure_sms_root`). It must exist.
    Host(&'a Path),
    /// A guest path (from the guest's fstab) inside the tree `root`: created
    /// confined and resolved with `RESOLVE_IN_ROOT` (see the module docs).
    /// Open `root` after the tree's root filesystem is mounted.
    Guest {
        /// The guest tree.
        root: &'a GuestRoot,
        /// The guest path (`/boot/efi`).
        path: &'a Path,
    },
}

/// A process that keeps a mount busy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
    /// How it holds the mount: `cwd`, `root`, `fd N`, `mmap`.
    pub how: String,
    /// The path it holds.
    pub path: PathBuf,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} ({}) {} {}",
            self.pid,
            self.command,
            self.how,
            self.path.display()
        )
    }
}

/// Errors of mounting and unmounting. Each names the mount and its path.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The guest mountpoint could not be created or resolved inside the tree.
    #[error("{what}: mountpoint {path} in {root}: {source}")]
    Mountpoint {
        /// What was being mounted.
        what: String,
        /// The tree root (host path).
        root: PathBuf,
        /// The guest path.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<GuestError>,
    },
    /// The mountpoint resolves somewhere Hydra will not mount (the tree root
    /// itself, or outside the tree).
    #[error("{what}: mountpoint {path} in {root}: refused: {reason}")]
    Refused {
        /// What was being mounted.
        what: String,
        /// The tree root (host path).
        root: PathBuf,
        /// The guest path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A system call failed (`openat2`, `mount`, remount, reading mountinfo).
    #[error("{what}: {op} {path}: {source}{}", errno_hint(.source))]
    Os {
        /// What was being mounted or unmounted.
        what: String,
        /// The operation.
        op: String,
        /// The host path (mountpoint, device, staging directory).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The request cannot be served here.
    #[error("{what}: {detail}")]
    Unsupported {
        /// What was being mounted.
        what: String,
        /// Why, and what to do.
        detail: String,
    },
    /// The FUSE driver could not be started or stopped.
    #[error("{what}: {source}")]
    Daemon {
        /// What was being mounted.
        what: String,
        /// The process error (its description and stderr tail).
        #[source]
        source: Box<ExecError>,
    },
    /// The FUSE driver did not mount (it exited, or the mount did not appear in time).
    #[error("{what}: {program} did not mount {staging}: {detail}{}", tail(.stderr_tail))]
    FuseStart {
        /// What was being mounted.
        what: String,
        /// The driver.
        program: String,
        /// The staging directory it was to mount on.
        staging: PathBuf,
        /// What happened.
        detail: String,
        /// The driver's last lines of stderr.
        stderr_tail: String,
    },
    /// The mount stayed busy through every retry.
    #[error("unmount {what} at {target}: busy after {attempts} attempts over {elapsed:?}; {}", busy_detail(.holders, .submounts))]
    Busy {
        /// What is mounted.
        what: String,
        /// The mountpoint (host path).
        target: PathBuf,
        /// Tries made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// Processes holding files under it.
        holders: Vec<Holder>,
        /// Mounts below it that are still mounted.
        submounts: Vec<PathBuf>,
    },
    /// Something else is mounted on top of this mount; unmounting by path
    /// would unmount that instead.
    #[error("unmount {what} at {target}: covered by another mount (id {top}, ours is {ours}); unmount it first")]
    Covered {
        /// What is mounted.
        what: String,
        /// The mountpoint.
        target: PathBuf,
        /// Our mount id.
        ours: u64,
        /// The mount id on top.
        top: u64,
    },
    /// The FUSE driver did not exit cleanly after the unmount.
    #[error("{what}: FUSE driver {program} (pid {pid}) {detail}{}", tail(.stderr_tail))]
    DaemonStop {
        /// What was mounted.
        what: String,
        /// The driver.
        program: String,
        /// Its pid.
        pid: u32,
        /// What happened.
        detail: String,
        /// The driver's last lines of stderr.
        stderr_tail: String,
    },
}

impl MountError {
    /// Whether the error is [`MountError::Busy`].
    pub fn is_busy(&self) -> bool {
        matches!(self, MountError::Busy { .. })
    }

    /// Whether the error is [`MountError::Refused`].
    pub fn is_refused(&self) -> bool {
        matches!(self, MountError::Refused { .. })
    }

    fn os(what: &str, op: impl Into<String>, path: impl Into<PathBuf>, source: io::Error) -> Self {
        MountError::Os {
            what: what.to_string(),
            op: op.into(),
            path: path.into(),
            source,
        }
    }
}

fn errno_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENODEV) => " (the kernel has no driver for this filesystem type)",
        Some(libc::EPERM) | Some(libc::EACCES) => " (mounting needs root, CAP_SYS_ADMIN)",
        Some(libc::ENOSYS) => " (the kernel lacks this system call; openat2 needs Linux 5.6)",
        _ => "",
    }
}

fn tail(t: &str) -> String {
    if t.trim().is_empty() {
        String::new()
    } else {
        let mut s = String::from("; last lines of its output:");
        for l in t.lines() {
            s.push_str("\n    ");
            s.push_str(l);
        }
        s
    }
}

fn busy_detail(holders: &[Holder], submounts: &[PathBuf]) -> String {
    let mut parts = Vec::new();
    if !submounts.is_empty() {
        parts.push(format!(
            "mounts still below it: {}",
            submounts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !holders.is_empty() {
        parts.push(format!(
            "held by: {}",
            holders
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if parts.is_empty() {
        "no holder found in /proc (a process in another mount namespace, a kernel user such as a loop device or swap, or a bind of it elsewhere)".to_string()
    } else {
        parts.join("; ")
    }
}

/// The FUSE driver behind a mount.
#[derive(Debug)]
struct FuseDaemon {
    guard: Option<ChildGuard>,
    device: PathBuf,
    program: &'static str,
    pid: u32,
    start_time: u64,
    cmdline: Vec<String>,
}

/// One mount made by Hydra; unmounts on [`MountGuard::close`] or, best
/// effort, on drop (see the module docs).
#[derive(Debug)]
pub struct MountGuard {
    target: PathBuf,
    mount_id: u64,
    fstype: String,
    source: String,
    what: String,
    recursive: bool,
    read_only: bool,
    fuse: Option<FuseDaemon>,
    policy: UmountPolicy,
    daemon_exit_timeout: Duration,
    notes: Vec<String>,
    closed: bool,
}

/// A mountpoint resolved to a descriptor.
struct Resolved {
    fd: OwnedFd,
    /// Canonical host path of the directory (from the kernel).
    host: PathBuf,
    /// Mount id of the mount holding the directory.
    parent_mnt: u64,
}

impl Resolved {
    fn proc_path(&self) -> CString {
        proc_fd_path(self.fd.as_raw_fd())
    }
}

impl MountGuard {
    /// Mount `req` at `target` (see the module docs).
    pub fn mount(req: &MountRequest, target: MountTarget<'_>) -> Result<MountGuard, MountError> {
        let what = req.what();
        let started = Instant::now();
        let resolved = resolve_target(&what, target)?;
        let guard = match &req.kind {
            Kind::Fs { device, fstype } => {
                let fuse = match (req.backend, fstype.fuse_program()) {
                    (MountBackend::Fuse, None) => {
                        return Err(MountError::Unsupported {
                            what,
                            detail: format!("no FUSE driver for {fstype}; use the kernel"),
                        })
                    }
                    (MountBackend::Fuse, Some(_)) => true,
                    (MountBackend::Kernel, _) => false,
                    (MountBackend::Auto, None) => false,
                    (MountBackend::Auto, Some(_)) => !kernel_supports(fstype.kernel_name()),
                };
                if fuse {
                    mount_fuse(req, &what, device, *fstype, &resolved)?
                } else {
                    mount_kernel(req, &what, device, *fstype, &resolved)?
                }
            }
            Kind::Bind { source, recursive } => {
                mount_bind(req, &what, source, *recursive, &resolved)?
            }
            Kind::Tmpfs => mount_tmpfs(req, &what, &resolved)?,
        };
        tracing::info!(
            mount_id = guard.mount_id,
            elapsed = ?started.elapsed(),
            "mounted {} at {}",
            guard.what,
            guard.target.display()
        );
        Ok(guard)
    }

    /// The mountpoint (canonical host path).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The mount id (first field of `/proc/self/mountinfo`).
    pub fn mount_id(&self) -> u64 {
        self.mount_id
    }

    /// The filesystem type as the kernel shows it (`ext4`, `fuse.fusefat`, `fuseblk`).
    pub fn fstype(&self) -> &str {
        &self.fstype
    }

    /// The mount source as the kernel shows it (`/dev/loop3p1`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What is mounted, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// `mount WHAT at TARGET`.
    pub fn describe(&self) -> String {
        format!("mount {} at {}", self.what, self.target.display())
    }

    /// Whether this is a recursive bind.
    pub fn recursive(&self) -> bool {
        self.recursive
    }

    /// Whether the mount is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether a FUSE driver serves the mount.
    pub fn is_fuse(&self) -> bool {
        self.fuse.is_some()
    }

    /// The FUSE driver's pid.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.fuse.as_ref().map(|d| d.pid)
    }

    /// The FUSE driver's start time (clock ticks since boot, `/proc/PID/stat` field 22).
    pub fn daemon_start_time(&self) -> Option<u64> {
        self.fuse.as_ref().map(|d| d.start_time)
    }

    /// The FUSE driver's command line as `/proc/PID/cmdline` shows it once mounted.
    pub fn daemon_cmdline(&self) -> Option<&[String]> {
        self.fuse.as_ref().map(|d| d.cmdline.as_slice())
    }

    /// Things worth knowing about how the mount was made (dropped options).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Unmount (submounts of a recursive bind first), retrying `EBUSY`; for
    /// FUSE, wait for the driver to exit.
    pub fn close(mut self) -> Result<(), MountError> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<(), MountError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let started = Instant::now();
        let r = self.unmount_all();
        if let Err(e) = r {
            if let Some(d) = self.fuse.as_mut() {
                if let Some(g) = d.guard.take() {
                    tracing::warn!(
                        pid = d.pid,
                        "{}: leaving the FUSE driver running so that the mount stays usable; \
                         `hydra sweep` can unmount it later",
                        self.what
                    );
                    std::mem::forget(g);
                }
            }
            return Err(e);
        }
        if let Some(d) = self.fuse.as_mut() {
            wait_daemon(&self.what, d, self.daemon_exit_timeout)?;
            if !self.read_only {
                flush_device(&d.device).map_err(|e| {
                    MountError::os(&self.what, "flush (fsync) the device", &d.device, e)
                })?;
            }
        }
        tracing::info!(elapsed = ?started.elapsed(), "unmounted {} at {}", self.what, self.target.display());
        Ok(())
    }

    fn unmount_all(&mut self) -> Result<(), MountError> {
        let infos = read_mountinfo()
            .map_err(|e| MountError::os(&self.what, "read", "/proc/self/mountinfo", e))?;
        let Some(me) = infos.iter().find(|m| m.id == self.mount_id) else {
            tracing::warn!(
                "{} at {}: already unmounted",
                self.what,
                self.target.display()
            );
            return Ok(());
        };
        if me.mount_point != self.target {
            tracing::warn!(
                "{}: mount id {} is now at {} (not {}): already unmounted, id reused",
                self.what,
                self.mount_id,
                me.mount_point.display(),
                self.target.display()
            );
            return Ok(());
        }
        if self.recursive {
            for sub in descendants_deepest_first(&infos, self.mount_id) {
                umount_verified(&sub.mount_point, sub.id, &self.policy).map_err(|f| {
                    f.into_error(
                        &format!("{} (submount)", self.what),
                        &sub.mount_point,
                        sub.id,
                    )
                })?;
            }
        }
        umount_verified(&self.target, self.mount_id, &self.policy)
            .map(drop)
            .map_err(|f| f.into_error(&self.what, &self.target, self.mount_id))
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if !self.closed {
            if let Err(e) = self.close_inner() {
                tracing::error!("dropping mount guard: {e}");
            }
        }
    }
}

/// Why [`umount_verified`] failed.
#[derive(Debug)]
pub(crate) enum UmountFail {
    /// Still `EBUSY` after every try.
    Busy { attempts: u32, elapsed: Duration },
    /// Another mount is on top of ours.
    Covered { top: u64 },
    /// Another error.
    Os { op: &'static str, source: io::Error },
}

impl UmountFail {
    pub(crate) fn into_error(self, what: &str, target: &Path, id: u64) -> MountError {
        match self {
            UmountFail::Busy { attempts, elapsed } => MountError::Busy {
                what: what.to_string(),
                target: target.to_path_buf(),
                attempts,
                elapsed,
                holders: find_holders(target),
                submounts: submounts_of(id),
            },
            UmountFail::Covered { top } => MountError::Covered {
                what: what.to_string(),
                target: target.to_path_buf(),
                ours: id,
                top,
            },
            UmountFail::Os { op, source } => MountError::os(what, op, target, source),
        }
    }
}

/// Unmount the mount `id` at `path` (no `MNT_DETACH`), checking before each
/// try that it is the topmost mount there; `EBUSY` is retried per `policy`.
/// A mount that is already gone is success. Returns the tries made.
pub(crate) fn umount_verified(
    path: &Path,
    id: u64,
    policy: &UmountPolicy,
) -> Result<u32, UmountFail> {
    let started = Instant::now();
    let cpath = cstring(path.as_os_str()).map_err(|e| UmountFail::Os {
        op: "umount",
        source: e,
    })?;
    let attempts = policy.attempts.max(1);
    for n in 0..attempts {
        match topmost_mount_id(path) {
            Ok(top) if top == id => {}
            Ok(top) => {
                if mount_exists(id, path) {
                    return Err(UmountFail::Covered { top });
                }
                return Ok(n);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(n),
            Err(e) => {
                return Err(UmountFail::Os {
                    op: "open mountpoint",
                    source: e,
                })
            }
        }
        // SAFETY: NUL-terminated path; plain syscall.
        let r = unsafe { libc::umount2(cpath.as_ptr(), libc::UMOUNT_NOFOLLOW) };
        if r == 0 {
            tracing::debug!(path = %path.display(), tries = n + 1, "unmounted");
            return Ok(n + 1);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EBUSY) => {
                if n + 1 < attempts {
                    let d = policy.delay(n);
                    tracing::debug!(path = %path.display(), "EBUSY, retrying in {d:?}");
                    std::thread::sleep(d);
                }
            }
            Some(libc::EINVAL) if !mount_exists(id, path) => return Ok(n + 1),
            Some(libc::EINTR) => {}
            _ => {
                return Err(UmountFail::Os {
                    op: "umount",
                    source: e,
                })
            }
        }
    }
    Err(UmountFail::Busy {
        attempts,
        elapsed: started.elapsed(),
    })
}

/// Whether mount `id` is mounted at `path` now.
fn mount_exists(id: u64, path: &Path) -> bool {
    read_mountinfo()
        .map(|v| v.iter().any(|m| m.id == id && m.mount_point == path))
        .unwrap_or(true)
}

/// The mount points still mounted below mount `id`.
fn submounts_of(id: u64) -> Vec<PathBuf> {
    read_mountinfo()
        .map(|v| {
            descendants_deepest_first(&v, id)
                .into_iter()
                .map(|m| m.mount_point)
                .collect()
        })
        .unwrap_or_default()
}

/// All mounts below mount `id` (children, their children, ...), the deepest
/// in the mount tree first (so stacked mounts come off top first).
pub(crate) fn descendants_deepest_first(infos: &[MountInfo], id: u64) -> Vec<MountInfo> {
    let mut out: Vec<(usize, MountInfo)> = Vec::new();
    let mut frontier = vec![(id, 0usize)];
    while let Some((p, depth)) = frontier.pop() {
        for m in infos.iter().filter(|m| m.parent == p && m.id != p) {
            if out.iter().any(|(_, o)| o.id == m.id) {
                continue;
            }
            out.push((depth + 1, m.clone()));
            frontier.push((m.id, depth + 1));
        }
    }
    out.sort_by(|a, b| {
        b.0.cmp(&a.0).then(
            b.1.mount_point
                .components()
                .count()
                .cmp(&a.1.mount_point.components().count()),
        )
    });
    out.into_iter().map(|(_, m)| m).collect()
}

/// Wait for a FUSE driver to exit after its unmount; SIGTERM then SIGKILL
/// when it does not.
fn wait_daemon(what: &str, d: &mut FuseDaemon, timeout: Duration) -> Result<(), MountError> {
    let Some(mut g) = d.guard.take() else {
        return Ok(());
    };
    let stop_err = |detail: String, g: &ChildGuard| MountError::DaemonStop {
        what: what.to_string(),
        program: d.program.to_string(),
        pid: d.pid,
        detail,
        stderr_tail: g.stderr_tail(),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match g.try_wait() {
            Ok(Some(status)) => {
                tracing::debug!(pid = d.pid, %status, "FUSE driver exited");
                if status.success() {
                    return Ok(());
                }
                // fusefat answers a request still in flight at unmount time on the
                // closed /dev/fuse and exits 255 ("write() error: Bad file
                // descriptor"); the unmount itself succeeded and it writes through
                // to the device, which is fsynced after this. Not a failure.
                if d.program == "fusefat" && status.code() == Some(255) {
                    tracing::debug!(pid = d.pid, %status, "fusefat exited with 255 after a clean unmount");
                    return Ok(());
                }
                return Err(stop_err(
                    format!("exited with {status} after the unmount"),
                    &g,
                ));
            }
            Ok(None) => {}
            Err(e) => {
                return Err(MountError::Daemon {
                    what: what.to_string(),
                    source: Box::new(e),
                })
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: plain syscall on our unreaped child.
    unsafe { libc::kill(d.pid as libc::pid_t, libc::SIGTERM) };
    let term_deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < term_deadline {
        if let Ok(Some(_)) = g.try_wait() {
            return Err(stop_err(
                format!("did not exit within {timeout:?} after the unmount; stopped with SIGTERM"),
                &g,
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let tail = g.stderr_tail();
    g.kill();
    Err(MountError::DaemonStop {
        what: what.to_string(),
        program: d.program.to_string(),
        pid: d.pid,
        detail: format!("did not exit within {timeout:?} after the unmount nor on SIGTERM; killed"),
        stderr_tail: tail,
    })
}

// ----- resolving the mountpoint ---------------------------------------------

fn resolve_target(what: &str, target: MountTarget<'_>) -> Result<Resolved, MountError> {
    match target {
        MountTarget::Host(dir) => {
            let fd = open_path(dir, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|e| MountError::os(what, "open mountpoint", dir, e))?;
            finish_resolve(what, fd, dir)
        }
        MountTarget::Guest { root, path } => {
            let tree = root.host_path();
            let refused = |reason: String| MountError::Refused {
                what: what.to_string(),
                root: tree.to_path_buf(),
                path: path.to_path_buf(),
                reason,
            };
            root.create_dir_all(path, 0o755)
                .map_err(|e| MountError::Mountpoint {
                    what: what.to_string(),
                    root: tree.to_path_buf(),
                    path: path.to_path_buf(),
                    source: Box::new(e),
                })?;
            let tree_fd = open_path(tree, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|e| MountError::os(what, "open tree root", tree, e))?;
            let rel = path.as_os_str().as_bytes();
            let rel = {
                let t: &[u8] = {
                    let mut r = rel;
                    while let [b'/', rest @ ..] = r {
                        r = rest;
                    }
                    r
                };
                if t.is_empty() {
                    &b"."[..]
                } else {
                    t
                }
            };
            let crel = CString::new(rel).map_err(|_| refused("path contains a NUL byte".into()))?;
            let fd = crate::guest::sys::openat2(
                std::os::fd::AsFd::as_fd(&tree_fd),
                &crel,
                libc::O_PATH | libc::O_DIRECTORY,
                0,
                libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
            )
            .map_err(|e| {
                MountError::os(
                    what,
                    format!(
                        "resolve {} inside the tree with openat2(RESOLVE_IN_ROOT)",
                        path.display()
                    ),
                    tree,
                    e,
                )
            })?;
            let st_root = fstat(&tree_fd).map_err(|e| MountError::os(what, "stat", tree, e))?;
            let st = fstat(&fd).map_err(|e| MountError::os(what, "stat mountpoint", tree, e))?;
            let same = st.st_dev == st_root.st_dev
                && st.st_ino == st_root.st_ino
                && mnt_id(&fd).ok() == mnt_id(&tree_fd).ok();
            if same {
                return Err(refused(
                    "it resolves to the root of the tree itself (a symlink such as `boot -> /`, or `..`); \
                     mounting there would hide the guest's root"
                        .into(),
                ));
            }
            let r = finish_resolve(what, fd, tree)?;
            let canon_tree = fs::canonicalize(tree)
                .map_err(|e| MountError::os(what, "canonicalize tree root", tree, e))?;
            if !r.host.starts_with(&canon_tree) || r.host == canon_tree {
                return Err(refused(format!(
                    "it resolves to {}, outside the tree {}",
                    r.host.display(),
                    canon_tree.display()
                )));
            }
            tracing::debug!(guest = %path.display(), host = %r.host.display(), "mountpoint resolved inside the tree");
            Ok(r)
        }
    }
}

fn finish_resolve(what: &str, fd: OwnedFd, shown: &Path) -> Result<Resolved, MountError> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let host = fs::read_link(&link).map_err(|e| MountError::os(what, "readlink", &link, e))?;
    let parent_mnt = mnt_id(&fd).map_err(|e| MountError::os(what, "read mount id", shown, e))?;
    Ok(Resolved {
        fd,
        host,
        parent_mnt,
    })
}

/// After a mount on `r`, find the new mount: the topmost mount at `r.host`,
/// whose parent is the mount that held the directory. Then make it private.
fn adopt_new_mount(what: &str, r: &Resolved, recursive: bool) -> Result<MountInfo, MountError> {
    let fd = open_path(&r.host, libc::O_PATH | libc::O_NOFOLLOW)
        .map_err(|e| MountError::os(what, "open new mount", &r.host, e))?;
    let id = mnt_id(&fd).map_err(|e| MountError::os(what, "read mount id", &r.host, e))?;
    let infos =
        read_mountinfo().map_err(|e| MountError::os(what, "read", "/proc/self/mountinfo", e))?;
    let Some(me) = infos.iter().find(|m| m.id == id) else {
        return Err(MountError::os(
            what,
            "find the new mount",
            &r.host,
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("mount id {id} not in mountinfo"),
            ),
        ));
    };
    if me.parent != r.parent_mnt || me.mount_point != r.host {
        return Err(MountError::os(
            what,
            "find the new mount",
            &r.host,
            io::Error::other(format!(
                "the topmost mount there (id {id}, at {}, parent {}) is not the one just made on mount {}; \
                 something else mounted concurrently; it is left in place",
                me.mount_point.display(),
                me.parent,
                r.parent_mnt
            )),
        ));
    }
    let flags = libc::MS_PRIVATE | if recursive { libc::MS_REC } else { 0 };
    sys_mount(None, &proc_fd_path(fd.as_raw_fd()), None, flags, None)
        .map_err(|e| MountError::os(what, "make the mount private", &r.host, e))?;
    Ok(me.clone())
}

// ----- kernel mounts --------------------------------------------------------

fn mount_kernel(
    req: &MountRequest,
    what: &str,
    device: &Path,
    fstype: FsType,
    r: &Resolved,
) -> Result<MountGuard, MountError> {
    let kname = fstype.kernel_name();
    if matches!(fstype, FsType::Vfat | FsType::Ntfs) && !kernel_supports(kname) {
        return Err(MountError::Unsupported {
            what: what.to_string(),
            detail: format!(
                "the kernel has no {kname} driver (not in /proc/filesystems); use MountBackend::Auto or Fuse ({})",
                fstype.fuse_program().unwrap_or("a FUSE driver")
            ),
        });
    }
    if fstype != FsType::Btrfs && req.subvol.is_some() {
        return Err(MountError::Unsupported {
            what: what.to_string(),
            detail: "a btrfs subvolume was asked for a filesystem that is not btrfs".into(),
        });
    }
    let parsed = parse_options(&req.options);
    let read_only = req.effective_read_only(&parsed);
    let mut flags = parsed.flags(libc::MS_NOSUID | libc::MS_NODEV);
    if read_only {
        flags |= libc::MS_RDONLY;
    } else {
        flags &= !libc::MS_RDONLY;
    }
    let mut essential: Vec<String> = Vec::new();
    let mut data: Vec<String> = parsed.data.clone();
    if fstype == FsType::Xfs && !data.iter().any(|o| o == "nouuid") {
        essential.push("nouuid".into());
    }
    if fstype == FsType::Btrfs {
        if let Some(sv) = &req.subvol {
            data.retain(|o| !o.starts_with("subvol=") && !o.starts_with("subvolid="));
            essential.push(match sv {
                BtrfsSubvol::Path(p) => format!("subvol={p}"),
                BtrfsSubvol::Id(id) => format!("subvolid={id}"),
            });
        } else {
            essential.extend(
                data.iter()
                    .filter(|o| o.starts_with("subvol=") || o.starts_with("subvolid="))
                    .cloned(),
            );
            data.retain(|o| !o.starts_with("subvol=") && !o.starts_with("subvolid="));
        }
    }
    let mut notes: Vec<String> = parsed
        .dropped
        .iter()
        .map(|o| format!("option `{o}` dropped (userspace-only)"))
        .collect();
    let src = cstring(device.as_os_str()).map_err(|e| MountError::os(what, "mount", device, e))?;
    let ty = CString::new(kname).expect("no NUL in a type name");
    let full: Vec<String> = data.iter().chain(essential.iter()).cloned().collect();
    let attempt = |opts: &[String]| -> io::Result<()> {
        let d =
            CString::new(opts.join(",")).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        retry_ebusy(&req.umount, || {
            sys_mount(Some(&src), &r.proc_path(), Some(&ty), flags, Some(&d))
        })
    };
    tracing::debug!(device = %device.display(), target = %r.host.display(), fstype = kname, flags, data = %full.join(","), "mount(2)");
    match attempt(&full) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && !data.is_empty() => {
            tracing::warn!(
                "{what}: the kernel refused options `{}` (EINVAL); retrying with only `{}`",
                data.join(","),
                essential.join(",")
            );
            attempt(&essential).map_err(|e2| {
                MountError::os(
                    what,
                    format!(
                        "mount (with `{}`: {e}; again with only `{}`)",
                        full.join(","),
                        essential.join(",")
                    ),
                    &r.host,
                    e2,
                )
            })?;
            notes.push(format!(
                "the kernel refused options `{}` (EINVAL): mounted without them",
                data.join(",")
            ));
        }
        Err(e) => {
            return Err(MountError::os(
                what,
                format!("mount -t {kname} -o {}", full.join(",")),
                &r.host,
                e,
            ))
        }
    }
    let me = adopt_new_mount(what, r, false)?;
    Ok(MountGuard {
        target: r.host.clone(),
        mount_id: me.id,
        fstype: me.fstype,
        source: me.source,
        what: what.to_string(),
        recursive: false,
        read_only,
        fuse: None,
        policy: req.umount,
        daemon_exit_timeout: req.daemon_exit_timeout,
        notes,
        closed: false,
    })
}

fn mount_bind(
    req: &MountRequest,
    what: &str,
    source: &Path,
    recursive: bool,
    r: &Resolved,
) -> Result<MountGuard, MountError> {
    let parsed = parse_options(&req.options);
    let read_only = req.read_only.or(parsed.read_only).unwrap_or(false);
    let src = cstring(source.as_os_str()).map_err(|e| MountError::os(what, "bind", source, e))?;
    let flags = libc::MS_BIND | if recursive { libc::MS_REC } else { 0 };
    sys_mount(Some(&src), &r.proc_path(), None, flags, None)
        .map_err(|e| MountError::os(what, format!("bind {} onto", source.display()), &r.host, e))?;
    let me = adopt_new_mount(what, r, recursive)?;
    let mut guard = MountGuard {
        target: r.host.clone(),
        mount_id: me.id,
        fstype: me.fstype,
        source: me.source,
        what: what.to_string(),
        recursive,
        read_only,
        fuse: None,
        policy: req.umount,
        daemon_exit_timeout: req.daemon_exit_timeout,
        notes: Vec::new(),
        closed: false,
    };
    let extra = parsed.flags(0) & !libc::MS_RDONLY;
    if read_only || extra != 0 {
        let mut f = libc::MS_REMOUNT | libc::MS_BIND | extra;
        if read_only {
            f |= libc::MS_RDONLY;
        }
        let fd = open_path(&r.host, libc::O_PATH | libc::O_NOFOLLOW)
            .map_err(|e| MountError::os(what, "open new mount", &r.host, e))?;
        if let Err(e) = sys_mount(None, &proc_fd_path(fd.as_raw_fd()), None, f, None) {
            drop(fd);
            let err = MountError::os(what, "remount bind with flags", &r.host, e);
            if let Err(e2) = guard.close_inner() {
                tracing::error!("{e2}");
            }
            return Err(err);
        }
        if recursive && read_only {
            guard
                .notes
                .push("read-only applies to the top of the recursive bind only".into());
        }
    }
    Ok(guard)
}

fn mount_tmpfs(req: &MountRequest, what: &str, r: &Resolved) -> Result<MountGuard, MountError> {
    let parsed = parse_options(&req.options);
    let read_only = req.read_only.or(parsed.read_only).unwrap_or(false);
    let mut flags = parsed.flags(libc::MS_NOSUID | libc::MS_NODEV);
    if read_only {
        flags |= libc::MS_RDONLY;
    }
    let mut data = parsed.data.clone();
    if !data.iter().any(|o| o.starts_with("mode=")) {
        data.push("mode=0755".into());
    }
    let d = CString::new(data.join(",")).map_err(|_| MountError::Unsupported {
        what: what.to_string(),
        detail: "NUL byte in options".into(),
    })?;
    sys_mount(
        Some(c"tmpfs"),
        &r.proc_path(),
        Some(c"tmpfs"),
        flags,
        Some(&d),
    )
    .map_err(|e| MountError::os(what, "mount tmpfs on", &r.host, e))?;
    let me = adopt_new_mount(what, r, false)?;
    Ok(MountGuard {
        target: r.host.clone(),
        mount_id: me.id,
        fstype: me.fstype,
        source: me.source,
        what: what.to_string(),
        recursive: false,
        read_only,
        fuse: None,
        policy: req.umount,
        daemon_exit_timeout: req.daemon_exit_timeout,
        notes: parsed
            .dropped
            .iter()
            .map(|o| format!("option `{o}` dropped (userspace-only)"))
            .collect(),
        closed: false,
    })
}

// ----- FUSE mounts ------------------------------------------------------------

/// A staging directory, removed (rmdir, never recursive) on drop.
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir(&self.0) {
            tracing::warn!("remove FUSE staging directory {}: {e}", self.0.display());
        }
    }
}

fn make_staging(what: &str, dir: &Path) -> Result<StagingDir, MountError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| MountError::os(what, "create staging directory", dir, e))?;
    let meta = fs::metadata(dir).map_err(|e| MountError::os(what, "stat", dir, e))?;
    if meta.uid() != 0 && meta.uid() != geteuid() {
        return Err(MountError::Unsupported {
            what: what.to_string(),
            detail: format!(
                "staging directory {} is owned by uid {}, not by us",
                dir.display(),
                meta.uid()
            ),
        });
    }
    if meta.permissions().mode() & 0o022 != 0 {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    let canon = fs::canonicalize(dir).map_err(|e| MountError::os(what, "canonicalize", dir, e))?;
    for _ in 0..1000 {
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = canon.join(format!("{}-{n}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&p) {
            Ok(()) => return Ok(StagingDir(p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(MountError::os(what, "create staging directory", &p, e)),
        }
    }
    Err(MountError::os(
        what,
        "create staging directory",
        &canon,
        io::Error::from_raw_os_error(libc::EEXIST),
    ))
}

fn geteuid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}

fn mount_fuse(
    req: &MountRequest,
    what: &str,
    device: &Path,
    fstype: FsType,
    r: &Resolved,
) -> Result<MountGuard, MountError> {
    let program = fstype.fuse_program().expect("caller checked");
    if req.subvol.is_some() {
        return Err(MountError::Unsupported {
            what: what.to_string(),
            detail: "a btrfs subvolume was asked for a FUSE filesystem".into(),
        });
    }
    let parsed = parse_options(&req.options);
    let read_only = req.effective_read_only(&parsed);
    let mut notes: Vec<String> = parsed
        .dropped
        .iter()
        .map(|o| format!("option `{o}` dropped (userspace-only)"))
        .collect();
    let mut opts: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    match fstype {
        FsType::Vfat => {
            args.push("-f".into());
            opts.push(if read_only { "ro" } else { "rw+" }.into());
            // The mount's source in mountinfo is then the device, as for a kernel
            // mount (and ntfs-3g): a sweep can tell the mount as one of the
            // session's own even when it was never recorded.
            opts.push(format!("fsname={}", device.display()));
            // Keep the type `fuse.fusefat` (fsname alone drops libfuse's default subtype).
            opts.push("subtype=fusefat".into());
            if !parsed.data.is_empty() {
                notes.push(format!(
                    "vfat options `{}` not passed to fusefat (it takes none of them)",
                    parsed.data.join(",")
                ));
            }
        }
        FsType::Ntfs => {
            opts.push(if read_only { "ro" } else { "rw" }.into());
            opts.push("no_detach".into());
            opts.extend(parsed.data.iter().cloned());
        }
        _ => unreachable!("only vfat and NTFS have FUSE drivers"),
    }
    opts.extend(req.fuse_options.iter().cloned());
    let staging = make_staging(what, &req.staging_dir)?;
    args.push("-o".into());
    args.push(opts.join(","));
    args.push(device.to_string_lossy().into_owned());
    args.push(staging.0.to_string_lossy().into_owned());
    let mut child = Cmd::new(program)
        .args(&args)
        .describe(format!("mount {what} with {program}"))
        .spawn_guarded()
        .map_err(|e| MountError::Daemon {
            what: what.to_string(),
            source: Box::new(e),
        })?;
    let pid = child.pid();
    let started = Instant::now();
    // Wait for the mount to show.
    let staged = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                // `wait` drains the output pipes (the tail may still be in flight).
                let stderr_tail = match child.wait() {
                    Err(e) => e.stderr_tail().unwrap_or_default().to_string(),
                    Ok(out) => {
                        let text = out.stderr_lossy();
                        let lines: Vec<&str> = text.trim_end().lines().collect();
                        lines[lines.len().saturating_sub(20)..].join("\n")
                    }
                };
                return Err(MountError::FuseStart {
                    what: what.to_string(),
                    program: program.to_string(),
                    staging: staging.0.clone(),
                    detail: format!("it exited ({status}) before the mount appeared"),
                    stderr_tail,
                });
            }
            Ok(None) => {}
            Err(e) => {
                return Err(MountError::Daemon {
                    what: what.to_string(),
                    source: Box::new(e),
                })
            }
        }
        let infos = read_mountinfo()
            .map_err(|e| MountError::os(what, "read", "/proc/self/mountinfo", e))?;
        if let Some(m) = infos
            .iter()
            .rev()
            .find(|m| m.mount_point == staging.0 && (m.fstype.starts_with("fuse")))
        {
            break m.clone();
        }
        if started.elapsed() > req.start_timeout {
            let tail = child.stderr_tail();
            child.kill();
            // A mount that appeared just now goes with the daemon.
            cleanup_staging_mount(&staging.0);
            return Err(MountError::FuseStart {
                what: what.to_string(),
                program: program.to_string(),
                staging: staging.0.clone(),
                detail: format!("the mount did not appear within {:?}", req.start_timeout),
                stderr_tail: tail,
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let fuse_started = started.elapsed();
    let cmdline = proc_cmdline(pid).unwrap_or_default();
    let start_time = proc_start_time(pid).unwrap_or(0);
    let mut daemon = FuseDaemon {
        guard: Some(child),
        device: device.to_path_buf(),
        program,
        pid,
        start_time,
        cmdline,
    };
    // Bind the staged mount onto the resolved mountpoint, then drop the staging mount.
    let cstage =
        cstring(staging.0.as_os_str()).map_err(|e| MountError::os(what, "bind", &staging.0, e))?;
    if let Err(e) = sys_mount(Some(&cstage), &r.proc_path(), None, libc::MS_BIND, None) {
        let err = MountError::os(
            what,
            format!("bind the FUSE mount {} onto", staging.0.display()),
            &r.host,
            e,
        );
        abort_fuse(what, &staging.0, staged.id, &mut daemon, req);
        return Err(err);
    }
    let me = match adopt_new_mount(what, r, false) {
        Ok(m) => m,
        Err(e) => {
            abort_fuse(what, &staging.0, staged.id, &mut daemon, req);
            return Err(e);
        }
    };
    let mut guard = MountGuard {
        target: r.host.clone(),
        mount_id: me.id,
        fstype: me.fstype,
        source: me.source,
        what: what.to_string(),
        recursive: false,
        read_only,
        fuse: Some(daemon),
        policy: req.umount,
        daemon_exit_timeout: req.daemon_exit_timeout,
        notes,
        closed: false,
    };
    let flags = (parsed.flags(libc::MS_NOSUID | libc::MS_NODEV) & !libc::MS_RDONLY)
        | if read_only { libc::MS_RDONLY } else { 0 };
    let remount = open_path(&r.host, libc::O_PATH | libc::O_NOFOLLOW).and_then(|fd| {
        sys_mount(
            None,
            &proc_fd_path(fd.as_raw_fd()),
            None,
            libc::MS_REMOUNT | libc::MS_BIND | flags,
            None,
        )
    });
    let staged_off = umount_verified(&staging.0, staged.id, &UmountPolicy::default());
    drop(staging);
    if let Err(e) = remount {
        let err = MountError::os(what, "remount bind with flags", &r.host, e);
        if let Err(e2) = guard.close_inner() {
            tracing::error!("{e2}");
        }
        return Err(err);
    }
    if let Err(f) = staged_off {
        let err = f.into_error(&format!("{what} (staging mount)"), &guard.target, staged.id);
        if let Err(e2) = guard.close_inner() {
            tracing::error!("{e2}");
        }
        return Err(err);
    }
    tracing::debug!(pid, ?fuse_started, "{program} mounted");
    Ok(guard)
}

/// After a failed bind of a staged FUSE mount: unmount it and stop the driver.
fn abort_fuse(what: &str, staging: &Path, id: u64, d: &mut FuseDaemon, req: &MountRequest) {
    if let Err(f) = umount_verified(staging, id, &UmountPolicy::default()) {
        tracing::error!("{}", f.into_error(what, staging, id));
        if let Some(g) = d.guard.take() {
            g.kill();
        }
        return;
    }
    if let Err(e) = wait_daemon(what, d, req.daemon_exit_timeout) {
        tracing::error!("{e}");
    }
}

/// Unmount whatever FUSE mount sits on a staging directory after its driver was killed.
fn cleanup_staging_mount(staging: &Path) {
    if let Ok(infos) = read_mountinfo() {
        for m in infos.iter().rev().filter(|m| m.mount_point == staging) {
            let _ = umount_verified(staging, m.id, &UmountPolicy::default());
        }
    }
}

// ----- options ------------------------------------------------------------------

/// Options split into `mount(2)` flags and filesystem data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ParsedOptions {
    set: libc::c_ulong,
    clear: libc::c_ulong,
    read_only: Option<bool>,
    data: Vec<String>,
    dropped: Vec<String>,
}

impl ParsedOptions {
    /// `base` with the options' flags applied (later options win).
    fn flags(&self, base: libc::c_ulong) -> libc::c_ulong {
        (base & !self.clear) | self.set
    }
}

/// Split fstab-style options.
fn parse_options(s: &str) -> ParsedOptions {
    let mut p = ParsedOptions::default();
    let set = |p: &mut ParsedOptions, f: libc::c_ulong| {
        p.set |= f;
        p.clear &= !f;
    };
    let clear = |p: &mut ParsedOptions, f: libc::c_ulong| {
        p.clear |= f;
        p.set &= !f;
    };
    for o in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "ro" => p.read_only = Some(true),
            "rw" => p.read_only = Some(false),
            "nosuid" => set(&mut p, libc::MS_NOSUID),
            "suid" => clear(&mut p, libc::MS_NOSUID),
            "nodev" => set(&mut p, libc::MS_NODEV),
            "dev" => clear(&mut p, libc::MS_NODEV),
            "noexec" => set(&mut p, libc::MS_NOEXEC),
            "exec" => clear(&mut p, libc::MS_NOEXEC),
            "sync" => set(&mut p, libc::MS_SYNCHRONOUS),
            "async" => clear(&mut p, libc::MS_SYNCHRONOUS),
            "dirsync" => set(&mut p, libc::MS_DIRSYNC),
            "noatime" => set(&mut p, libc::MS_NOATIME),
            "atime" => clear(&mut p, libc::MS_NOATIME),
            "nodiratime" => set(&mut p, libc::MS_NODIRATIME),
            "diratime" => clear(&mut p, libc::MS_NODIRATIME),
            "relatime" => set(&mut p, libc::MS_RELATIME),
            "norelatime" => clear(&mut p, libc::MS_RELATIME),
            "strictatime" => set(&mut p, libc::MS_STRICTATIME),
            "lazytime" => set(&mut p, libc::MS_LAZYTIME),
            "nolazytime" => clear(&mut p, libc::MS_LAZYTIME),
            "mand" => set(&mut p, libc::MS_MANDLOCK),
            "nomand" => clear(&mut p, libc::MS_MANDLOCK),
            "nosymfollow" => set(&mut p, libc::MS_NOSYMFOLLOW),
            "silent" => set(&mut p, libc::MS_SILENT),
            "loud" => clear(&mut p, libc::MS_SILENT),
            "defaults" | "auto" | "noauto" | "user" | "nouser" | "users" | "owner" | "group"
            | "nofail" | "_netdev" | "_rnetdev" | "nobootwait" | "bootwait" | "loop" | "bind"
            | "rbind" => p.dropped.push(o.to_string()),
            _ if o.starts_with("x-")
                || o.starts_with("comment=")
                || o.starts_with("loop=")
                || o.starts_with("offset=")
                || o.starts_with("sizelimit=")
                || o.starts_with("encryption=")
                || o.starts_with("helper=")
                || o.starts_with("uhelper=")
                || o.starts_with("X-") =>
            {
                p.dropped.push(o.to_string())
            }
            _ => p.data.push(o.to_string()),
        }
    }
    p
}

// ----- /proc/filesystems, mountinfo, holders ---------------------------------------

/// Whether `/proc/filesystems` lists `fstype` (a kernel driver is available).
pub fn kernel_supports(fstype: &str) -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some(fstype))
        })
        .unwrap_or(false)
}

pub use crate::format::mountinfo::{parse as parse_mountinfo, MountInfo};

/// Read and parse `/proc/self/mountinfo`.
pub fn read_mountinfo() -> io::Result<Vec<MountInfo>> {
    Ok(parse_mountinfo(&fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

/// The processes whose cwd, root, open files or file mappings are at or
/// under `mountpoint` (at most [`MAX_HOLDERS`]). Processes that cannot be
/// inspected (gone, other namespaces) are skipped.
pub fn find_holders(mountpoint: &Path) -> Vec<Holder> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    let under = |p: &Path| p.starts_with(mountpoint);
    for ent in dir.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let base = PathBuf::from(format!("/proc/{pid}"));
        let command = fs::read_to_string(base.join("comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default();
        let mut push = |how: String, path: PathBuf| {
            if out.len() < MAX_HOLDERS {
                out.push(Holder {
                    pid,
                    command: command.clone(),
                    how,
                    path,
                });
            }
        };
        for what in ["cwd", "root"] {
            if let Ok(p) = fs::read_link(base.join(what)) {
                if under(&p) {
                    push(what.to_string(), p);
                }
            }
        }
        if let Ok(fds) = fs::read_dir(base.join("fd")) {
            for fd in fds.flatten() {
                if let Ok(p) = fs::read_link(fd.path()) {
                    if under(&p) {
                        push(format!("fd {}", fd.file_name().to_string_lossy()), p);
                    }
                }
            }
        }
        if let Ok(maps) = fs::read_to_string(base.join("maps")) {
            let mut seen: Vec<PathBuf> = Vec::new();
            for l in maps.lines() {
                // address perms offset dev inode path
                let path = l.splitn(6, ' ').nth(5).map(str::trim_start);
                if let Some(p) = path.filter(|p| p.starts_with('/')) {
                    let p = PathBuf::from(p);
                    if under(&p) && !seen.contains(&p) {
                        seen.push(p.clone());
                        push("mmap".to_string(), p);
                    }
                }
            }
        }
        if out.len() >= MAX_HOLDERS {
            break;
        }
    }
    out
}

// ----- process identity -------------------------------------------------------------

/// `/proc/PID/cmdline` split at NULs (empty for a zombie or kernel thread).
pub(crate) fn proc_cmdline(pid: u32) -> io::Result<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline"))?;
    let mut v: Vec<String> = raw
        .split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if raw.last() == Some(&0) {
        v.pop();
    }
    Ok(v)
}

/// Start time of `pid` in clock ticks since boot (`/proc/PID/stat` field 22)
/// and its state letter.
pub(crate) fn proc_stat(pid: u32) -> io::Result<(char, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = s
        .rfind(')')
        .map(|i| &s[i + 1..])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state); field 22 is fields[19].
    let state = fields
        .first()
        .and_then(|f| f.chars().next())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short stat"))?;
    let start = fields
        .get(19)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short stat"))?;
    Ok((state, start))
}

/// Start time of `pid` (see [`proc_stat`]).
pub(crate) fn proc_start_time(pid: u32) -> io::Result<u64> {
    proc_stat(pid).map(|(_, t)| t)
}

// ----- syscalls ------------------------------------------------------------------------

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn proc_fd_path(fd: RawFd) -> CString {
    CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL")
}

fn sys_mount(
    src: Option<&std::ffi::CStr>,
    target: &std::ffi::CStr,
    fstype: Option<&std::ffi::CStr>,
    flags: libc::c_ulong,
    data: Option<&std::ffi::CStr>,
) -> io::Result<()> {
    let p = |c: Option<&std::ffi::CStr>| c.map_or(std::ptr::null(), |c| c.as_ptr());
    loop {
        // SAFETY: NUL-terminated strings or null pointers; data is a C string.
        let r = unsafe {
            libc::mount(
                p(src),
                target.as_ptr(),
                p(fstype),
                flags,
                p(data) as *const libc::c_void,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Run `f` again while it fails with `EBUSY`, sleeping per `policy`: a block
/// device can be held for a moment by another program (`mke2fs` on an image
/// file opens every mounted loop device to compare backing files; `blkid -p`,
/// `mkfs.btrfs` open devices exclusively).
fn retry_ebusy(policy: &UmountPolicy, mut f: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    let attempts = policy.attempts.max(1);
    let mut n = 0;
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && n + 1 < attempts => {
                let d = policy.delay(n);
                tracing::debug!("mount: EBUSY, retrying in {d:?}");
                std::thread::sleep(d);
                n += 1;
            }
            r => return r,
        }
    }
}

/// `fsync` a block device: push what a FUSE driver wrote through the
/// device's page cache down to it (the driver's last close would, but
/// another program holding the device open makes that close not the last).
fn flush_device(device: &Path) -> io::Result<()> {
    let fd = open_path(device, libc::O_RDONLY | libc::O_NONBLOCK)?;
    // SAFETY: valid fd.
    if unsafe { libc::fsync(fd.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `open(path, flags | O_CLOEXEC)`.
fn open_path(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstring(path.as_os_str())?;
    // SAFETY: NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: zeroed stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// The mount id of the mount holding `fd` (`/proc/self/fdinfo/N`; unlike
/// `statx` this does not ask the filesystem, so it works on a dead FUSE mount).
fn mnt_id(fd: &OwnedFd) -> io::Result<u64> {
    let text = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no mnt_id in fdinfo"))
}

/// The id of the topmost mount at `path` (`ENOENT` when the path is gone).
fn topmost_mount_id(path: &Path) -> io::Result<u64> {
    let fd = open_path(path, libc::O_PATH | libc::O_NOFOLLOW)?;
    mnt_id(&fd)
}

/// Test helpers shared by the assemble tests: the root gate, images, a
/// `losetup` loop guard, and the leak check.
#[cfg(test)]
pub(crate) mod testutil {
    use crate::assemble::teardown::{CloseError, MarkerItem, Resource};
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// True when the test may run: root. Otherwise prints a loud skip, or
    /// panics when `HYDRA_REQUIRE_ROOT_TESTS` is set.
    pub(crate) fn root(test: &str) -> bool {
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return true;
        }
        if std::env::var_os("HYDRA_REQUIRE_ROOT_TESTS").is_some() {
            panic!("{test}: needs root, and HYDRA_REQUIRE_ROOT_TESTS is set");
        }
        eprintln!("!!!!! SKIPPED {test}: needs root (mounts, loop devices, FUSE) !!!!!");
        false
    }

    /// Run a tool; panic with its stderr on failure; return stdout.
    pub(crate) fn run(cmd: &str, args: &[&str]) -> String {
        let out = Command::new(cmd)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .unwrap_or_else(|e| panic!("spawn {cmd}: {e}"));
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A scratch directory (canonical path) with a leak check.
    ///
    /// Dropping it never deletes recursively through a mount: mounts left
    /// under it (a failed test) are unmounted, deepest first, without
    /// `MNT_DETACH`; if any stay, the directory is kept, not deleted (a
    /// recursive delete would cross into a bound host `/dev` or `/run`).
    pub(crate) struct Scratch {
        dir: Option<tempfile::TempDir>,
        /// Canonical path of the directory.
        pub path: PathBuf,
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let under = |p: &Path| -> Vec<super::MountInfo> {
                let mut v: Vec<super::MountInfo> = super::read_mountinfo()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| m.mount_point.starts_with(p))
                    .collect();
                v.sort_by(|a, b| {
                    b.mount_point
                        .components()
                        .count()
                        .cmp(&a.mount_point.components().count())
                        .then(b.id.cmp(&a.id))
                });
                v
            };
            let left = under(&self.path);
            if left.is_empty() {
                return;
            }
            let policy = super::UmountPolicy {
                attempts: 5,
                ..super::UmountPolicy::default()
            };
            for m in &left {
                eprintln!(
                    "test cleanup: unmounting leftover {}",
                    m.mount_point.display()
                );
                if let Err(e) = super::umount_verified(&m.mount_point, m.id, &policy) {
                    eprintln!("test cleanup: {}: {e:?}", m.mount_point.display());
                }
            }
            let still = under(&self.path);
            if !still.is_empty() {
                let kept = self.dir.take().map(|d| d.keep());
                eprintln!(
                    "!!!!! mounts still under {}: {:?}; the directory is KEPT ({kept:?}), not deleted",
                    self.path.display(),
                    still.iter().map(|m| &m.mount_point).collect::<Vec<_>>()
                );
            }
        }
    }

    impl Scratch {
        /// A scratch dir when running as root; `None` (after the loud skip) otherwise.
        pub(crate) fn new(test: &str) -> Option<Scratch> {
            if !root(test) {
                return None;
            }
            let dir = tempfile::Builder::new()
                .prefix("hydra-assemble-")
                .tempdir()
                .unwrap();
            let path = fs::canonicalize(dir.path()).unwrap();
            Some(Scratch {
                dir: Some(dir),
                path,
            })
        }

        /// `path/name`, created as a directory.
        pub(crate) fn dir(&self, name: &str) -> PathBuf {
            let p = self.path.join(name);
            fs::create_dir_all(&p).unwrap();
            p
        }

        /// A sparse image `name` of `mib` MiB formatted with `mkfs ARGS... IMG`.
        pub(crate) fn image(&self, name: &str, mib: u64, mkfs: &[&str]) -> PathBuf {
            let p = self.path.join(name);
            fs::File::create(&p).unwrap().set_len(mib << 20).unwrap();
            let mut args: Vec<&str> = mkfs[1..].to_vec();
            args.push(p.to_str().unwrap());
            run(mkfs[0], &args);
            p
        }

        /// The FUSE staging directory for this test.
        pub(crate) fn staging(&self) -> PathBuf {
            self.path.join("stage")
        }

        /// Nothing of this test is left: no mount under the dir, no loop
        /// device backed by a file in it, no process naming it.
        pub(crate) fn assert_clean(&self) {
            let mounts: Vec<String> = super::read_mountinfo()
                .unwrap()
                .into_iter()
                .filter(|m| m.mount_point.starts_with(&self.path))
                .map(|m| m.mount_point.display().to_string())
                .collect();
            assert!(mounts.is_empty(), "mounts left: {mounts:?}");
            // A detach is deferred while another program (mke2fs of a
            // concurrent test) has the device open: give it a moment.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let mut loops = loops_backed_under(&self.path);
            while !loops.is_empty() && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(50));
                loops = loops_backed_under(&self.path);
            }
            assert!(loops.is_empty(), "loop devices left: {loops:?}");
            let procs = processes_naming(&self.path);
            assert!(procs.is_empty(), "processes left: {procs:?}");
        }
    }

    /// Loop devices whose backing file is under `dir`.
    pub(crate) fn loops_backed_under(dir: &Path) -> Vec<String> {
        let mut v = Vec::new();
        for e in fs::read_dir("/sys/block").unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Ok(b) = fs::read_to_string(e.path().join("loop/backing_file")) {
                if Path::new(b.trim_end()).starts_with(dir) {
                    v.push(format!("{n}: {}", b.trim_end()));
                }
            }
        }
        v
    }

    /// Live (non-zombie) processes whose command line mentions `dir`.
    pub(crate) fn processes_naming(dir: &Path) -> Vec<String> {
        let needle = dir.to_string_lossy().into_owned();
        let mut v = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(c) = super::proc_cmdline(pid) {
                let line = c.join(" ");
                if line.contains(&needle) {
                    v.push(format!("{pid}: {line}"));
                }
            }
        }
        v
    }

    /// A loop device made with `losetup -f --show`, detached with `losetup -d` on drop.
    #[derive(Debug)]
    pub(crate) struct TestLoop {
        /// `/dev/loopN`.
        pub dev: PathBuf,
        /// The backing file.
        pub backing: PathBuf,
        detached: bool,
    }

    impl TestLoop {
        pub(crate) fn attach(img: &Path) -> TestLoop {
            let out = run("losetup", &["-f", "--show", img.to_str().unwrap()]);
            TestLoop {
                dev: PathBuf::from(out.trim()),
                backing: fs::canonicalize(img).unwrap(),
                detached: false,
            }
        }

        /// Detach now.
        pub(crate) fn detach(mut self) {
            self.detach_inner().unwrap();
        }

        fn detach_inner(&mut self) -> Result<(), String> {
            if self.detached {
                return Ok(());
            }
            self.detached = true;
            let out = Command::new("losetup")
                .arg("-d")
                .arg(&self.dev)
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "losetup -d {}: {}",
                    self.dev.display(),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        }

        /// The device path as a str.
        pub(crate) fn dev_str(&self) -> &str {
            self.dev.to_str().unwrap()
        }
    }

    impl Drop for TestLoop {
        fn drop(&mut self) {
            if let Err(e) = self.detach_inner() {
                eprintln!("{e}");
            }
        }
    }

    impl Resource for TestLoop {
        fn describe(&self) -> String {
            format!(
                "test loop {} on {}",
                self.dev.display(),
                self.backing.display()
            )
        }

        fn close(mut self: Box<Self>) -> Result<(), CloseError> {
            self.detach_inner().map_err(CloseError::from)
        }

        fn marker_items(&self) -> Vec<MarkerItem> {
            vec![MarkerItem::Loop {
                device: self.dev.clone(),
                backing_file: self.backing.clone(),
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::assemble::teardown::TeardownStack;
    use std::io::{Read, Write};

    fn measure(kind: &str, mount: Duration, umount: Duration) {
        eprintln!("MEASURE {kind:<28} mount {mount:>10.1?}  umount {umount:>10.1?}");
    }

    fn write_file(p: &Path, bytes: &[u8]) {
        let mut f = fs::File::create(p).unwrap();
        f.write_all(bytes).unwrap();
        f.sync_all().unwrap();
    }

    /// Mount, time it, return the guard.
    fn timed_mount(req: &MountRequest, target: MountTarget<'_>) -> (MountGuard, Duration) {
        let t = Instant::now();
        let g = MountGuard::mount(req, target).unwrap_or_else(|e| panic!("{e}"));
        (g, t.elapsed())
    }

    fn timed_close(g: MountGuard) -> Duration {
        let t = Instant::now();
        g.close().unwrap_or_else(|e| panic!("{e}"));
        t.elapsed()
    }

    // ----- without root --------------------------------------------------------

    #[test]
    fn fstype_names_round_trip() {
        for t in [
            FsType::Ext2,
            FsType::Ext3,
            FsType::Ext4,
            FsType::Xfs,
            FsType::Btrfs,
            FsType::Vfat,
            FsType::Ntfs,
        ] {
            assert_eq!(FsType::from_name(t.name()), Some(t));
        }
        assert_eq!(FsType::from_name("msdos"), Some(FsType::Vfat));
        assert_eq!(FsType::from_name("ntfs-3g"), Some(FsType::Ntfs));
        assert_eq!(FsType::from_name("nfs"), None);
        assert_eq!(FsType::Ntfs.kernel_name(), "ntfs3");
        assert!(FsType::Ntfs.default_read_only());
        assert!(!FsType::Ext4.default_read_only());
        assert_eq!(FsType::Vfat.fuse_program(), Some("fusefat"));
        assert_eq!(FsType::Xfs.fuse_program(), None);
    }

    #[test]
    fn options_split_into_flags_data_and_dropped() {
        let p = parse_options(
            "defaults,noatime,errors=remount-ro,nofail,x-systemd.device-timeout=0,ro,dev,subvol=@,_netdev,comment=x",
        );
        assert_eq!(p.read_only, Some(true));
        assert_eq!(p.data, vec!["errors=remount-ro", "subvol=@"]);
        assert_eq!(
            p.dropped,
            vec![
                "defaults",
                "nofail",
                "x-systemd.device-timeout=0",
                "_netdev",
                "comment=x"
            ]
        );
        let f = p.flags(libc::MS_NOSUID | libc::MS_NODEV);
        assert_eq!(f & libc::MS_NOATIME, libc::MS_NOATIME);
        assert_eq!(f & libc::MS_NODEV, 0, "`dev` clears the default nodev");
        assert_eq!(f & libc::MS_NOSUID, libc::MS_NOSUID);
        // Later options win.
        let p = parse_options("nosuid,suid,rw");
        assert_eq!(p.flags(0) & libc::MS_NOSUID, 0);
        assert_eq!(p.read_only, Some(false));
        assert_eq!(parse_options(""), ParsedOptions::default());
    }

    #[test]
    fn read_only_defaults() {
        let p = ParsedOptions::default();
        assert!(MountRequest::fs("/dev/x", FsType::Ntfs).effective_read_only(&p));
        assert!(!MountRequest::fs("/dev/x", FsType::Ntfs)
            .read_only(false)
            .effective_read_only(&p));
        assert!(!MountRequest::fs("/dev/x", FsType::Ext4).effective_read_only(&p));
        assert!(MountRequest::fs("/dev/x", FsType::Ext4).effective_read_only(&parse_options("ro")));
        assert!(!MountRequest::fs("/dev/x", FsType::Ext4)
            .read_only(false)
            .effective_read_only(&parse_options("ro")));
    }

    #[test]
    fn mountinfo_parses_escapes_and_optional_fields() {
        let text = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n\
                    42 27 0:39 / /tmp/m rw,nosuid,nodev,relatime - fuse.fusefat fusefat rw,user_id=0\n\
                    garbage\n";
        let v = parse_mountinfo(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].id, 36);
        assert_eq!(v[0].parent, 35);
        assert_eq!(v[0].dev, (98, 0));
        assert_eq!(v[0].root, Path::new("/mnt1"));
        assert_eq!(v[0].mount_point, Path::new("/mnt/a b"));
        assert_eq!(v[0].fstype, "ext3");
        assert_eq!(v[0].source, "/dev/root");
        assert_eq!(v[0].super_options, "rw,errors=continue");
        assert_eq!(v[1].fstype, "fuse.fusefat");
        assert_eq!(
            crate::format::mountinfo::unescape(r"/a\134b\011c\012"),
            b"/a\\b\tc\n"
        );
    }

    #[test]
    fn descendants_come_deepest_first() {
        let text = "10 1 0:1 / /t rw - tmpfs t rw\n\
                    11 10 0:2 / /t/dev rw - devtmpfs d rw\n\
                    12 11 0:3 / /t/dev/pts rw - devpts p rw\n\
                    13 12 0:4 / /t/dev/pts rw - devpts p rw\n\
                    14 11 0:5 / /t/dev/shm rw - tmpfs s rw\n\
                    15 1 0:6 / /other rw - tmpfs o rw\n";
        let v = parse_mountinfo(text);
        let ids: Vec<u64> = descendants_deepest_first(&v, 11)
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec![13, 12, 14]);
        let ids: Vec<u64> = descendants_deepest_first(&v, 10)
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec![13, 12, 14, 11]);
    }

    #[test]
    fn umount_policy_backs_off_and_caps() {
        let p = UmountPolicy::default();
        let d: Vec<u128> = (0..8).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(d, vec![20, 40, 80, 160, 320, 500, 500, 500]);
        assert_eq!(p.delay(40), p.max_delay);
    }

    #[test]
    fn forcing_kernel_vfat_without_driver_is_unsupported() {
        if kernel_supports("vfat") {
            eprintln!("this kernel has vfat; nothing to check");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let e = MountGuard::mount(
            &MountRequest::fs("/dev/null", FsType::Vfat).backend(MountBackend::Kernel),
            MountTarget::Host(dir.path()),
        )
        .unwrap_err();
        assert!(matches!(e, MountError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("fusefat"), "{e}");
        let e = MountGuard::mount(
            &MountRequest::fs("/dev/null", FsType::Ext4).backend(MountBackend::Fuse),
            MountTarget::Host(dir.path()),
        )
        .unwrap_err();
        assert!(matches!(e, MountError::Unsupported { .. }), "{e}");
    }

    // ----- with root -------------------------------------------------------------

    #[test]
    fn ext_family_write_unmount_remount() {
        let Some(t) = Scratch::new("ext_family_write_unmount_remount") else {
            return;
        };
        let m = t.dir("m");
        for (fs_type, mkfs) in [
            (FsType::Ext2, "mkfs.ext2"),
            (FsType::Ext3, "mkfs.ext3"),
            (FsType::Ext4, "mkfs.ext4"),
        ] {
            let img = t.image(&format!("{fs_type}.img"), 64, &[mkfs, "-q", "-F"]);
            let lo = TestLoop::attach(&img);
            let (g, mt) = timed_mount(&MountRequest::fs(&lo.dev, fs_type), MountTarget::Host(&m));
            assert_eq!(g.fstype(), fs_type.name());
            assert_eq!(g.source(), lo.dev_str());
            assert!(!g.read_only());
            let info = read_mountinfo().unwrap();
            let me = info.iter().find(|i| i.id == g.mount_id()).unwrap();
            assert!(
                me.options.contains("nosuid") && me.options.contains("nodev"),
                "{me:?}"
            );
            write_file(&m.join("hello"), b"hydra ext");
            let ut = timed_close(g);
            measure(fs_type.name(), mt, ut);
            assert!(!m.join("hello").exists(), "unmounted");
            // Remount read-only: the bytes landed.
            let g = MountGuard::mount(
                &MountRequest::fs(&lo.dev, fs_type).read_only(true),
                MountTarget::Host(&m),
            )
            .unwrap();
            assert!(g.read_only());
            assert_eq!(fs::read(m.join("hello")).unwrap(), b"hydra ext");
            let e = fs::File::create(m.join("nope")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EROFS));
            g.close().unwrap();
            lo.detach();
        }
        t.assert_clean();
    }

    #[test]
    fn xfs_clones_with_duplicate_uuid_mount_together() {
        let Some(t) = Scratch::new("xfs_clones_with_duplicate_uuid_mount_together") else {
            return;
        };
        let a = t.image("a.img", 320, &["mkfs.xfs", "-q", "-f"]);
        let b = t.path.join("b.img");
        run(
            "cp",
            &["--sparse=always", a.to_str().unwrap(), b.to_str().unwrap()],
        );
        let (la, lb) = (TestLoop::attach(&a), TestLoop::attach(&b));
        let (ma, mb) = (t.dir("ma"), t.dir("mb"));
        // A mounted the plain way (registers its UUID, as the helper's own
        // xfs would): the clone is refused without nouuid...
        let ca = CString::new(la.dev_str()).unwrap();
        let cb = CString::new(lb.dev_str()).unwrap();
        let tma = CString::new(ma.to_str().unwrap()).unwrap();
        let tmb = CString::new(mb.to_str().unwrap()).unwrap();
        sys_mount(Some(&ca), &tma, Some(c"xfs"), 0, Some(c"")).unwrap();
        let e = sys_mount(Some(&cb), &tmb, Some(c"xfs"), 0, Some(c"")).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EINVAL),
            "duplicate UUID refused: {e}"
        );
        // ... and mounts with it.
        let (gb, mt) = timed_mount(
            &MountRequest::fs(&lb.dev, FsType::Xfs),
            MountTarget::Host(&mb),
        );
        let info = read_mountinfo().unwrap();
        let sb = info.iter().find(|i| i.id == gb.mount_id()).unwrap();
        assert!(sb.super_options.contains("nouuid"), "{sb:?}");
        write_file(&ma.join("a"), b"clone a");
        write_file(&mb.join("b"), b"clone b");
        let ut = timed_close(gb);
        measure("xfs", mt, ut);
        // SAFETY: NUL-terminated path.
        assert_eq!(unsafe { libc::umount2(tma.as_ptr(), 0) }, 0);
        for (lo, m, name, want) in [(&la, &ma, "a", b"clone a"), (&lb, &mb, "b", b"clone b")] {
            let g = MountGuard::mount(
                &MountRequest::fs(&lo.dev, FsType::Xfs).read_only(true),
                MountTarget::Host(m),
            )
            .unwrap();
            assert_eq!(fs::read(m.join(name)).unwrap(), want);
            assert!(!m.join(if name == "a" { "b" } else { "a" }).exists());
            g.close().unwrap();
        }
        drop((la, lb));
        t.assert_clean();
    }

    #[test]
    fn btrfs_subvolumes_by_path_id_and_options() {
        let Some(t) = Scratch::new("btrfs_subvolumes_by_path_id_and_options") else {
            return;
        };
        let img = t.image("b.img", 256, &["mkfs.btrfs", "-q", "-f"]);
        let lo = TestLoop::attach(&img);
        let m = t.dir("m");
        let (g, mt) = timed_mount(
            &MountRequest::fs(&lo.dev, FsType::Btrfs),
            MountTarget::Host(&m),
        );
        run(
            "btrfs",
            &["-q", "subvolume", "create", m.join("@").to_str().unwrap()],
        );
        let ut = timed_close(g);
        measure("btrfs", mt, ut);
        // subvol=@ by request.
        let g = MountGuard::mount(
            &MountRequest::fs(&lo.dev, FsType::Btrfs).btrfs_subvol(BtrfsSubvol::Path("@".into())),
            MountTarget::Host(&m),
        )
        .unwrap();
        write_file(&m.join("in-subvol"), b"btrfs @");
        assert!(!m.join("@").exists());
        g.close().unwrap();
        // Top level by id: the file is inside @.
        let g = MountGuard::mount(
            &MountRequest::fs(&lo.dev, FsType::Btrfs)
                .btrfs_subvol(BtrfsSubvol::Id(5))
                .read_only(true),
            MountTarget::Host(&m),
        )
        .unwrap();
        assert_eq!(fs::read(m.join("@/in-subvol")).unwrap(), b"btrfs @");
        g.close().unwrap();
        // subvol= from fstab options.
        let g = MountGuard::mount(
            &MountRequest::fs(&lo.dev, FsType::Btrfs).options("defaults,subvol=@,noatime"),
            MountTarget::Host(&m),
        )
        .unwrap();
        assert_eq!(fs::read(m.join("in-subvol")).unwrap(), b"btrfs @");
        let info = read_mountinfo().unwrap();
        let me = info.iter().find(|i| i.id == g.mount_id()).unwrap();
        assert!(me.super_options.contains("subvol=/@"), "{me:?}");
        g.close().unwrap();
        lo.detach();
        t.assert_clean();
    }

    /// Build a tree: a tmpfs at `<scratch>/tree` and a confined root on it.
    fn tree(t: &Scratch) -> (MountGuard, GuestRoot, PathBuf) {
        let dir = t.dir("tree");
        let g = MountGuard::mount(&MountRequest::tmpfs(), MountTarget::Host(&dir)).unwrap();
        let root = GuestRoot::open(&dir).unwrap();
        (g, root, dir)
    }

    #[test]
    fn vfat_through_fusefat_in_the_tree() {
        let Some(t) = Scratch::new("vfat_through_fusefat_in_the_tree") else {
            return;
        };
        let img = t.image("esp.img", 64, &["mkfs.vfat"]);
        let lo = TestLoop::attach(&img);
        let (tg, root, tdir) = tree(&t);
        let req = MountRequest::fs(&lo.dev, FsType::Vfat)
            .options("umask=0077,shortname=winnt")
            .staging_dir(t.staging());
        let (g, mt) = timed_mount(
            &req,
            MountTarget::Guest {
                root: &root,
                path: Path::new("/boot/efi"),
            },
        );
        assert_eq!(g.target(), tdir.join("boot/efi"));
        assert!(g.is_fuse() != kernel_supports("vfat"));
        if g.is_fuse() {
            assert_eq!(g.fstype(), "fuse.fusefat");
            assert!(g.daemon_cmdline().unwrap()[0].contains("fusefat"));
            assert!(
                g.notes().iter().any(|n| n.contains("umask=0077")),
                "{:?}",
                g.notes()
            );
        }
        let pid = g.daemon_pid();
        // The staging mount is gone, only the bind in the tree is left.
        let staged: Vec<_> = read_mountinfo()
            .unwrap()
            .into_iter()
            .filter(|m| m.mount_point.starts_with(t.staging()))
            .collect();
        assert!(staged.is_empty(), "{staged:?}");
        fs::create_dir_all(tdir.join("boot/efi/EFI/hydra")).unwrap();
        write_file(&tdir.join("boot/efi/EFI/hydra/grub.cfg"), b"set root=hd0\n");
        let ut = timed_close(g);
        measure("vfat (fusefat)", mt, ut);
        if let Some(pid) = pid {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "fusefat exited and was reaped"
            );
        }
        drop(root);
        tg.close().unwrap();
        lo.detach();
        // Read the image without mounting (fusefat leaves FAT[1] at 0x8000,
        // which mtools' strict check rejects).
        let out = Command::new("mtype")
            .args(["-i", img.to_str().unwrap(), "::/EFI/hydra/grub.cfg"])
            .env("MTOOLS_SKIP_CHECK", "1")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "set root=hd0\n");
        run("fsck.vfat", &["-n", img.to_str().unwrap()]);
        t.assert_clean();
    }

    use std::process::Command;

    #[test]
    fn fuse_driver_failure_is_reported_with_its_stderr() {
        let Some(t) = Scratch::new("fuse_driver_failure_is_reported_with_its_stderr") else {
            return;
        };
        // An ext4 image is no FAT: fusefat exits.
        let img = t.image("notfat.img", 16, &["mkfs.ext4", "-q", "-F"]);
        let lo = TestLoop::attach(&img);
        let m = t.dir("m");
        let e = MountGuard::mount(
            &MountRequest::fs(&lo.dev, FsType::Ntfs)
                .backend(MountBackend::Fuse)
                .staging_dir(t.staging()),
            MountTarget::Host(&m),
        )
        .unwrap_err();
        assert!(matches!(e, MountError::FuseStart { .. }), "{e}");
        assert!(e.to_string().contains("ntfs-3g"), "{e}");
        eprintln!("{e}");
        drop(lo);
        t.assert_clean();
    }

    #[test]
    fn ntfs_read_only_unless_asked() {
        let Some(t) = Scratch::new("ntfs_read_only_unless_asked") else {
            return;
        };
        let img = t.path.join("n.img");
        fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
        run("mkntfs", &["-Q", "-F", "-q", img.to_str().unwrap()]);
        let lo = TestLoop::attach(&img);
        let m = t.dir("m");
        let (g, mt) = timed_mount(
            &MountRequest::fs(&lo.dev, FsType::Ntfs).staging_dir(t.staging()),
            MountTarget::Host(&m),
        );
        assert!(g.read_only());
        assert_eq!(g.fstype(), "fuseblk");
        let e = fs::File::create(m.join("x")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
        let ut = timed_close(g);
        measure("ntfs (ntfs-3g, ro)", mt, ut);
        let (g, mt) = timed_mount(
            &MountRequest::fs(&lo.dev, FsType::Ntfs)
                .read_only(false)
                .fuse_option("windows_names")
                .staging_dir(t.staging()),
            MountTarget::Host(&m),
        );
        assert!(!g.read_only());
        fs::create_dir_all(m.join("Windows/System32")).unwrap();
        write_file(&m.join("Windows/System32/hydra.txt"), b"ntfs bytes");
        let ut = timed_close(g);
        measure("ntfs (ntfs-3g, rw)", mt, ut);
        let g = MountGuard::mount(
            &MountRequest::fs(&lo.dev, FsType::Ntfs).staging_dir(t.staging()),
            MountTarget::Host(&m),
        )
        .unwrap();
        assert_eq!(
            fs::read(m.join("Windows/System32/hydra.txt")).unwrap(),
            b"ntfs bytes"
        );
        g.close().unwrap();
        lo.detach();
        t.assert_clean();
    }

    #[test]
    fn malicious_symlink_mountpoints_stay_inside_the_tree() {
        let Some(t) = Scratch::new("malicious_symlink_mountpoints_stay_inside_the_tree") else {
            return;
        };
        let victim = t.dir("victim");
        fs::write(victim.join("precious"), b"host file").unwrap();
        let (tg, root, tdir) = tree(&t);
        std::os::unix::fs::symlink("/", tdir.join("boot")).unwrap();
        std::os::unix::fs::symlink(&victim, tdir.join("efi")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../..", tdir.join("up")).unwrap();
        std::os::unix::fs::symlink("/proc/self/root", tdir.join("magic")).unwrap();
        let victim_mounted = || {
            read_mountinfo()
                .unwrap()
                .iter()
                .any(|m| m.mount_point.starts_with(&victim))
        };
        let before_root = read_mountinfo()
            .unwrap()
            .iter()
            .filter(|m| m.mount_point == Path::new("/"))
            .count();
        let mount_at = |p: &str| {
            MountGuard::mount(
                &MountRequest::tmpfs(),
                MountTarget::Guest {
                    root: &root,
                    path: Path::new(p),
                },
            )
        };
        // `boot -> /`: resolves to the tree root itself: refused.
        for p in ["/boot", "boot/", "/boot/..", "/..", "/", "/up"] {
            let e = mount_at(p).unwrap_err();
            assert!(e.is_refused(), "{p}: {e}");
        }
        // `efi -> /abs/host/victim`: re-rooted inside the tree. (A dangling
        // link is not created through: make its target exist in the tree.)
        let inside = tdir.join(victim.strip_prefix("/").unwrap());
        let e = mount_at("/efi").unwrap_err();
        assert!(matches!(e, MountError::Mountpoint { .. }), "{e}");
        assert!(!victim_mounted());
        fs::create_dir_all(&inside).unwrap();
        let g = mount_at("/efi").unwrap();
        assert_eq!(g.target(), inside);
        assert!(!victim_mounted());
        assert!(victim.join("precious").exists());
        // `up/x` climbs no higher than the tree root.
        let g2 = mount_at("/up/x").unwrap();
        assert_eq!(g2.target(), tdir.join("x"));
        // `boot/efi` with `boot -> /`: the tree's /efi (itself re-rooted).
        let g3 = mount_at("/boot/sub").unwrap();
        assert_eq!(g3.target(), tdir.join("sub"));
        // A link to a magic link: /proc is not mounted in the tree, so it is
        // an ordinary link re-rooted inside (dangling: not created through).
        assert!(mount_at("/magic").is_err());
        fs::create_dir_all(tdir.join("proc/self/root")).unwrap();
        let g4 = mount_at("/magic").unwrap();
        assert_eq!(g4.target(), tdir.join("proc/self/root"));
        let after_root = read_mountinfo()
            .unwrap()
            .iter()
            .filter(|m| m.mount_point == Path::new("/"))
            .count();
        assert_eq!(
            before_root, after_root,
            "nothing mounted over the host root"
        );
        for g in [g4, g3, g2, g] {
            g.close().unwrap();
        }
        drop(root);
        tg.close().unwrap();
        assert_eq!(fs::read(victim.join("precious")).unwrap(), b"host file");
        t.assert_clean();
    }

    #[test]
    fn magic_link_through_bound_proc_is_refused() {
        let Some(t) = Scratch::new("magic_link_through_bound_proc_is_refused") else {
            return;
        };
        let (tg, root, tdir) = tree(&t);
        let p = MountGuard::mount(
            &MountRequest::system(SystemMount::Proc),
            MountTarget::Guest {
                root: &root,
                path: Path::new("/proc"),
            },
        )
        .unwrap();
        std::os::unix::fs::symlink("/proc/self/root/tmp", tdir.join("evil")).unwrap();
        let e = MountGuard::mount(
            &MountRequest::tmpfs(),
            MountTarget::Guest {
                root: &root,
                path: Path::new("/evil"),
            },
        )
        .unwrap_err();
        eprintln!("{e}");
        assert!(!read_mountinfo()
            .unwrap()
            .iter()
            .any(|m| m.mount_point == Path::new("/tmp")));
        p.close().unwrap();
        drop(root);
        tg.close().unwrap();
        t.assert_clean();
    }

    #[test]
    fn ebusy_is_retried_until_the_holder_lets_go() {
        let Some(t) = Scratch::new("ebusy_is_retried_until_the_holder_lets_go") else {
            return;
        };
        let m = t.dir("m");
        let (g, mt) = timed_mount(&MountRequest::tmpfs(), MountTarget::Host(&m));
        let f = fs::File::create(m.join("held")).unwrap();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(f);
        });
        let started = Instant::now();
        g.close().unwrap();
        let took = started.elapsed();
        h.join().unwrap();
        assert!(took >= Duration::from_millis(150), "{took:?}");
        measure("tmpfs (busy 200 ms)", mt, took);
        t.assert_clean();
    }

    #[test]
    fn busy_forever_names_the_holder() {
        let Some(t) = Scratch::new("busy_forever_names_the_holder") else {
            return;
        };
        let m = t.dir("m");
        let g = MountGuard::mount(
            &MountRequest::tmpfs().umount_policy(UmountPolicy {
                attempts: 3,
                first_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
            }),
            MountTarget::Host(&m),
        )
        .unwrap();
        let id = g.mount_id();
        let mut f = fs::File::create(m.join("held")).unwrap();
        f.write_all(b"x").unwrap();
        let e = g.close().unwrap_err();
        let text = e.to_string();
        eprintln!("{text}");
        let MountError::Busy {
            holders, attempts, ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(*attempts, 3);
        let me = std::process::id();
        assert!(
            holders
                .iter()
                .any(|h| h.pid == me && h.how.starts_with("fd ") && h.path == m.join("held")),
            "{holders:?}"
        );
        assert!(text.contains(&format!("pid {me}")), "{text}");
        assert!(
            text.contains(&m.join("held").display().to_string()),
            "{text}"
        );
        drop(f);
        umount_verified(&m, id, &UmountPolicy::default()).unwrap();
        t.assert_clean();
    }

    #[test]
    fn system_mounts_and_recursive_dev() {
        let Some(t) = Scratch::new("system_mounts_and_recursive_dev") else {
            return;
        };
        let (tg, root, tdir) = tree(&t);
        let mut stack = TeardownStack::new();
        stack.push(tg);
        for s in SystemMount::ALL {
            let (g, mt) = timed_mount(
                &MountRequest::system(s),
                MountTarget::Guest {
                    root: &root,
                    path: Path::new(s.path()),
                },
            );
            assert_eq!(g.recursive(), s == SystemMount::Dev);
            eprintln!("MEASURE bind {:<23} mount {mt:>10.1?}", s.path());
            stack.push(g);
        }
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(tdir.join("dev/null"))
            .unwrap()
            .file_type()
            .is_char_device());
        let mut buf = [0u8; 8];
        fs::File::open(tdir.join("dev/urandom"))
            .unwrap()
            .read_exact(&mut buf)
            .unwrap();
        assert!(fs::read_to_string(tdir.join("proc/self/status"))
            .unwrap()
            .contains("Pid:"));
        let info = read_mountinfo().unwrap();
        let under: Vec<&MountInfo> = info
            .iter()
            .filter(|m| m.mount_point.starts_with(&tdir))
            .collect();
        assert!(
            under.iter().any(|m| m.mount_point == tdir.join("dev/pts")),
            "recursive /dev brings /dev/pts: {under:?}"
        );
        assert!(
            !under
                .iter()
                .any(|m| m.mount_point.starts_with(tdir.join("sys/fs"))),
            "/sys is not recursive (no cgroups, no efivarfs)"
        );
        for m in &under {
            assert!(!m.options.contains("shared:"), "private: {m:?}");
        }
        drop(root);
        let host_before: Vec<u64> = info
            .iter()
            .filter(|m| m.mount_point.starts_with("/dev"))
            .map(|m| m.id)
            .collect();
        let t0 = Instant::now();
        stack.close_all().unwrap();
        eprintln!("MEASURE system mounts close_all {:?}", t0.elapsed());
        let host_after: Vec<u64> = read_mountinfo()
            .unwrap()
            .iter()
            .filter(|m| m.mount_point.starts_with("/dev"))
            .map(|m| m.id)
            .collect();
        for id in host_before {
            assert!(host_after.contains(&id), "host /dev mount {id} untouched");
        }
        t.assert_clean();
    }

    #[test]
    fn options_the_kernel_refuses_are_dropped_with_a_note() {
        let Some(t) = Scratch::new("options_the_kernel_refuses_are_dropped_with_a_note") else {
            return;
        };
        let img = t.image("e.img", 32, &["mkfs.ext4", "-q", "-F"]);
        let lo = TestLoop::attach(&img);
        let m = t.dir("m");
        let g = MountGuard::mount(
            &MountRequest::fs(&lo.dev, FsType::Ext4)
                .options("defaults,nofail,noatime,hydra_no_such_option,x-systemd.automount"),
            MountTarget::Host(&m),
        )
        .unwrap();
        let notes = g.notes().join("\n");
        assert!(
            notes.contains("hydra_no_such_option") && notes.contains("EINVAL"),
            "{notes}"
        );
        assert!(notes.contains("`nofail` dropped"), "{notes}");
        let info = read_mountinfo().unwrap();
        let me = info.iter().find(|i| i.id == g.mount_id()).unwrap();
        assert!(me.options.contains("noatime"), "{me:?}");
        g.close().unwrap();
        lo.detach();
        t.assert_clean();
    }

    #[test]
    fn scratch_drop_never_deletes_through_a_bound_dev() {
        let Some(t) = Scratch::new("scratch_drop_never_deletes_through_a_bound_dev") else {
            return;
        };
        let (tg, root, tdir) = tree(&t);
        let dev = MountGuard::mount(
            &MountRequest::system(SystemMount::Dev),
            MountTarget::Guest {
                root: &root,
                path: Path::new("/dev"),
            },
        )
        .unwrap();
        assert!(tdir.join("dev/null").exists());
        // A "failed test": the guards are gone without closing.
        std::mem::forget(dev);
        std::mem::forget(tg);
        drop(root);
        let path = t.path.clone();
        drop(t);
        assert!(Path::new("/dev/null").exists(), "host /dev intact");
        assert!(!read_mountinfo()
            .unwrap()
            .iter()
            .any(|m| m.mount_point.starts_with(&path)));
        assert!(!path.exists());
    }

    #[test]
    fn read_only_bind_of_a_host_dir() {
        let Some(t) = Scratch::new("read_only_bind_of_a_host_dir") else {
            return;
        };
        let src = t.dir("src");
        fs::write(src.join("f"), b"bound").unwrap();
        let m = t.dir("m");
        let g = MountGuard::mount(
            &MountRequest::bind(&src).read_only(true).options("noexec"),
            MountTarget::Host(&m),
        )
        .unwrap();
        assert!(g.read_only() && !g.recursive());
        assert_eq!(fs::read(m.join("f")).unwrap(), b"bound");
        let e = fs::write(m.join("g"), b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
        let info = read_mountinfo().unwrap();
        let me = info.iter().find(|i| i.id == g.mount_id()).unwrap();
        assert!(
            me.options.starts_with("ro") && me.options.contains("noexec"),
            "{me:?}"
        );
        g.close().unwrap();
        fs::write(src.join("g"), b"source still writable").unwrap();
        t.assert_clean();
    }

    #[test]
    fn drop_unmounts() {
        let Some(t) = Scratch::new("drop_unmounts") else {
            return;
        };
        let m = t.dir("m");
        let g = MountGuard::mount(&MountRequest::tmpfs(), MountTarget::Host(&m)).unwrap();
        let id = g.mount_id();
        drop(g);
        assert!(!read_mountinfo()
            .unwrap()
            .iter()
            .any(|i| i.id == id && i.mount_point == m));
        t.assert_clean();
    }
}
