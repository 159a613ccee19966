//! The sweep of leftovers of killed sessions ([`sweep`]): from the session markers whose owner is dead, unmount their mounts, stop their daemons, detach their loop devices, remove their directories; report, never touch, anything else.
//!
//! For each `/run/hydra/sessions/*/session.json` whose owner pid is dead (no
//! such process, a zombie, or a different start time: the pid was reused):
//!
//! 1. its recorded mounts still in `/proc/self/mountinfo` with the same mount
//!    id, mountpoint and filesystem type (plus, for a recursive bind, the
//!    mounts below it) are unmounted deepest path first, with the same
//!    `EBUSY` retries as [`MountGuard::close`](super::mount::MountGuard::close)
//!    and never with `MNT_DETACH`;
//! 2. then, resource by resource, last made first: its recorded loop devices are
//!    detached (`LOOP_CLR_FD`) only when `/sys/block/loopN/loop/backing_file` is
//!    still the recorded file and no mount uses the device or its partitions;
//!    then its recorded daemons still alive with the recorded start time and
//!    command line get SIGTERM (SIGKILL after a timeout). A qemu-storage-daemon
//!    thus outlives the loop device on its export, and an LV's loop device goes
//!    before the disk it lies on; a daemon whose mount could not be unmounted is
//!    left running (killing it would leave a dead mount);
//! 3. when all of that succeeded, `session.json` is removed and the session
//!    directory is `rmdir`ed (never a recursive delete).
//!
//! Live sessions are left alone. Mounts under a tree root (the default
//! `/mnt/azure_sms_root`, those in markers, and [`SweepOptions::tree_roots`])
//! or under the FUSE staging directory that no marker accounts for are
//! reported in [`SweepReport::unknown_mounts`], never unmounted.

use super::mount::{
    descendants_deepest_first, proc_cmdline, proc_stat, read_mountinfo, umount_verified, MountInfo,
    UmountPolicy, DEFAULT_FUSE_STAGING_DIR,
};
use super::teardown::{
    MarkerFile, MarkerItem, MarkerOwner, DEFAULT_SESSIONS_DIR, MARKER_FILE, MARKER_TMP,
};
use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The default guest tree root.
pub const DEFAULT_TREE_ROOT: &str = "/mnt/azure_sms_root";

/// What to sweep and how.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Where session markers are ([`DEFAULT_SESSIONS_DIR`]).
    pub sessions_dir: PathBuf,
    /// Tree roots to check for unknown mounts, besides those in markers
    /// ([`DEFAULT_TREE_ROOT`]).
    pub tree_roots: Vec<PathBuf>,
    /// The FUSE staging directory, also checked for unknown mounts.
    pub staging_dir: PathBuf,
    /// Only report what would be done.
    pub dry_run: bool,
    /// `EBUSY` retries per unmount.
    pub umount: UmountPolicy,
    /// Release only the session(s) whose tree root is this (`hydra-mount umount`),
    /// persistent or not; `None` sweeps every dead, non-persistent session.
    pub release: Option<PathBuf>,
    /// How long a daemon gets after SIGTERM before SIGKILL.
    pub daemon_timeout: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            sessions_dir: PathBuf::from(DEFAULT_SESSIONS_DIR),
            tree_roots: vec![PathBuf::from(DEFAULT_TREE_ROOT)],
            staging_dir: PathBuf::from(DEFAULT_FUSE_STAGING_DIR),
            dry_run: false,
            umount: UmountPolicy::default(),
            release: None,
            daemon_timeout: Duration::from_secs(5),
        }
    }
}

/// One thing the sweep did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepAction {
    /// Unmounted a mount.
    Unmounted {
        /// Mountpoint.
        path: PathBuf,
        /// Its mount id.
        mount_id: u64,
    },
    /// A recorded daemon had exited by itself once its mount was gone.
    DaemonExited {
        /// Its pid.
        pid: u32,
    },
    /// Stopped a recorded daemon.
    Killed {
        /// Its pid.
        pid: u32,
        /// The signal that ended it (`SIGTERM` or `SIGKILL`).
        signal: &'static str,
    },
    /// Detached a loop device.
    Detached {
        /// `/dev/loopN`.
        device: PathBuf,
        /// Its backing file.
        backing_file: PathBuf,
    },
    /// Deactivated a guest VG (lvm2, scoped to its PVs).
    Deactivated {
        /// VG name.
        vg: String,
    },
    /// Removed the session's marker and directory.
    RemovedSession {
        /// The session directory.
        dir: PathBuf,
    },
    /// Left a recorded item alone, and why (already gone, pid reused, loop
    /// now backed by another file).
    Skipped {
        /// The item.
        item: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for SweepAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepAction::Unmounted { path, mount_id } => {
                write!(f, "unmount {} (mount id {mount_id})", path.display())
            }
            SweepAction::DaemonExited { pid } => {
                write!(f, "daemon pid {pid} exited after its unmount")
            }
            SweepAction::Killed { pid, signal } => write!(f, "stop daemon pid {pid} with {signal}"),
            SweepAction::Detached {
                device,
                backing_file,
            } => write!(
                f,
                "detach {} ({})",
                device.display(),
                backing_file.display()
            ),
            SweepAction::Deactivated { vg } => {
                write!(f, "deactivate VG {vg} (vgchange -an, scoped)")
            }
            SweepAction::RemovedSession { dir } => write!(f, "remove session {}", dir.display()),
            SweepAction::Skipped { item, reason } => write!(f, "leave {item}: {reason}"),
        }
    }
}

/// What the sweep did with one dead session.
#[derive(Debug, Clone, Default)]
pub struct SessionSweep {
    /// Session id.
    pub id: String,
    /// Session directory.
    pub dir: PathBuf,
    /// The dead owner's pid.
    pub owner_pid: u32,
    /// What was done (or would be, in a dry run), in order.
    pub actions: Vec<SweepAction>,
    /// What could not be done; the marker stays when this is not empty.
    pub failures: Vec<String>,
}

/// The outcome of [`sweep`].
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Dead sessions handled.
    pub sessions: Vec<SessionSweep>,
    /// Sessions left alone because their owner runs.
    pub live_sessions: Vec<String>,
    /// Mounts under a tree root or the staging directory that no marker
    /// accounts for: reported, not touched.
    pub unknown_mounts: Vec<PathBuf>,
    /// Markers that could not be read, and other problems.
    pub errors: Vec<String>,
}

impl SweepReport {
    /// Whether every dead session was cleaned and no marker was unreadable.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.sessions.iter().all(|s| s.failures.is_empty())
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { " (dry run)" } else { "" };
        writeln!(f, "sweep{verb}: {} dead session(s)", self.sessions.len())?;
        for s in &self.sessions {
            writeln!(f, "session {} (pid {} gone):", s.id, s.owner_pid)?;
            for a in &s.actions {
                writeln!(f, "  {a}")?;
            }
            for x in &s.failures {
                writeln!(f, "  FAILED: {x}")?;
            }
        }
        for l in &self.live_sessions {
            writeln!(f, "session {l}: owner alive, left alone")?;
        }
        for m in &self.unknown_mounts {
            writeln!(
                f,
                "unknown mount (no session recorded it, left alone): {}",
                m.display()
            )?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}

/// Sweep the default places ([`SweepOptions::default`]).
pub fn sweep(dry_run: bool) -> SweepReport {
    sweep_with(&SweepOptions {
        dry_run,
        ..SweepOptions::default()
    })
}

/// Sweep as `opts` say (see the module docs).
pub fn sweep_with(opts: &SweepOptions) -> SweepReport {
    let mut report = SweepReport {
        dry_run: opts.dry_run,
        ..SweepReport::default()
    };
    let markers = read_markers(&opts.sessions_dir, opts.dry_run, &mut report);
    let infos = match read_mountinfo() {
        Ok(v) => v,
        Err(e) => {
            report
                .errors
                .push(format!("read /proc/self/mountinfo: {e}"));
            return report;
        }
    };
    // Mounts any marker (live or dead) accounts for.
    let mut claimed: HashSet<u64> = HashSet::new();
    for (_, m) in &markers {
        for found in recorded_mounts(m, &infos) {
            claimed.insert(found.id);
        }
    }
    let release = opts
        .release
        .as_ref()
        .map(|r| fs::canonicalize(r).unwrap_or(r.clone()));
    for (dir, m) in &markers {
        let root = m
            .tree_root
            .as_ref()
            .map(|r| fs::canonicalize(r).unwrap_or(r.clone()));
        match &release {
            Some(r) if root.as_ref() != Some(r) => continue,
            None if m.persistent => {
                report.live_sessions.push(m.id.clone());
                continue;
            }
            _ => {}
        }
        // A persisted session has no owner any more: its creator handed it over.
        if m.owner.alive() && !m.persistent {
            report.live_sessions.push(m.id.clone());
            continue;
        }
        report.sessions.push(sweep_session(dir, m, &infos, opts));
    }
    // Unknown mounts: what is left under the roots that nobody recorded.
    let mut roots: Vec<PathBuf> = opts.tree_roots.clone();
    roots.extend(markers.iter().filter_map(|(_, m)| m.tree_root.clone()));
    roots.push(opts.staging_dir.clone());
    let roots: Vec<PathBuf> = roots
        .into_iter()
        .map(|r| fs::canonicalize(&r).unwrap_or(r))
        .collect();
    let after = read_mountinfo().unwrap_or(infos);
    for m in &after {
        if claimed.contains(&m.id) {
            continue;
        }
        if roots.iter().any(|r| m.mount_point.starts_with(r))
            && !report.unknown_mounts.contains(&m.mount_point)
        {
            report.unknown_mounts.push(m.mount_point.clone());
        }
    }
    tracing::info!("{report}");
    report
}

/// The session directories and their markers, sorted by id. A directory
/// without a marker is a session caught between its `mkdir` and its first
/// marker write ([`SessionMarker::create`](super::teardown::SessionMarker::create)):
/// it holds no resource yet, so when its owner (named by the directory) is
/// gone it is removed here, and when the owner runs it is left as live.
fn read_markers(dir: &Path, dry_run: bool, report: &mut SweepReport) -> Vec<(PathBuf, MarkerFile)> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return out,
        Err(e) => {
            report.errors.push(format!("read {}: {e}", dir.display()));
            return out;
        }
    };
    for ent in rd.flatten() {
        let path = ent.path();
        if !ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        match MarkerFile::read(&path.join(MARKER_FILE)) {
            Ok(m) => out.push((path, m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(s) = unborn_session(&path, dry_run, report) {
                    report.sessions.push(s);
                }
            }
            Err(e) => report.errors.push(format!(
                "{}: unreadable marker, left alone: {e}",
                path.join(MARKER_FILE).display()
            )),
        }
    }
    out.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    out
}

/// A session directory with no marker (see [`read_markers`]): `None` when its
/// owner still runs (recorded as live), else its removal. A name that does not
/// say its owner, or a directory holding more than a marker's temp file, is an
/// error and is left alone.
fn unborn_session(path: &Path, dry_run: bool, report: &mut SweepReport) -> Option<SessionSweep> {
    let id = path.file_name()?.to_string_lossy().into_owned();
    let Some(owner) = MarkerOwner::from_session_id(&id) else {
        report.errors.push(format!(
            "{}: no marker and no owner in its name, left alone",
            path.display()
        ));
        return None;
    };
    if owner.alive() {
        report.live_sessions.push(id);
        return None;
    }
    let stray: Vec<_> = fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name() != MARKER_TMP)
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    if !stray.is_empty() {
        report.errors.push(format!(
            "{}: no marker but {} other file(s), left alone",
            path.display(),
            stray.len()
        ));
        return None;
    }
    let mut s = SessionSweep {
        id,
        dir: path.to_path_buf(),
        owner_pid: owner.pid,
        ..SessionSweep::default()
    };
    if !dry_run {
        let _ = fs::remove_file(path.join(MARKER_TMP));
        if let Err(e) = fs::remove_dir(path) {
            s.failures
                .push(format!("remove session directory {}: {e}", path.display()));
            return Some(s);
        }
    }
    s.actions.push(SweepAction::RemovedSession {
        dir: path.to_path_buf(),
    });
    Some(s)
}

/// Mounts below `m`'s tree root that no marker item records but whose source is one
/// of the session's devices: a recorded loop device, a loop backed by a file in the
/// session directory `dir`, or a partition of either.
fn unrecorded_own_mounts(dir: &Path, m: &MarkerFile, infos: &[MountInfo]) -> Vec<MountInfo> {
    let Some(root) = &m.tree_root else {
        return Vec::new();
    };
    let root = fs::canonicalize(root).unwrap_or_else(|_| root.clone());
    let canon = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut devs: Vec<String> = m
        .items()
        .filter_map(|i| match i {
            MarkerItem::Loop { device, .. } => Some(device.display().to_string()),
            _ => None,
        })
        .collect();
    if let Ok(rd) = fs::read_dir("/sys/block") {
        for e in rd.flatten() {
            if let Ok(b) = fs::read_to_string(e.path().join("loop/backing_file")) {
                if Path::new(b.trim_end_matches('\n')).starts_with(&canon) {
                    devs.push(format!("/dev/{}", e.file_name().to_string_lossy()));
                }
            }
        }
    }
    let ours = |src: &str| {
        devs.iter().any(|d| {
            src == d
                || src
                    .strip_prefix(d.as_str())
                    .and_then(|r| r.strip_prefix('p'))
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
    };
    infos
        .iter()
        .filter(|i| i.mount_point.starts_with(&root) && ours(&i.source))
        .cloned()
        .collect()
}

/// The recorded mounts of `m` that are still mounted as recorded, with the
/// submounts of recursive binds.
fn recorded_mounts(m: &MarkerFile, infos: &[MountInfo]) -> Vec<MountInfo> {
    let mut out: Vec<MountInfo> = Vec::new();
    for item in m.items() {
        if let MarkerItem::Mount {
            path,
            mount_id,
            fstype,
            recursive,
            ..
        } = item
        {
            if let Some(found) = find_recorded(infos, path, *mount_id, fstype) {
                if *recursive {
                    for d in descendants_deepest_first(infos, found.id) {
                        if !out.iter().any(|o| o.id == d.id) {
                            out.push(d);
                        }
                    }
                }
                if !out.iter().any(|o| o.id == found.id) {
                    out.push(found.clone());
                }
            }
        }
    }
    out
}

fn find_recorded<'a>(
    infos: &'a [MountInfo],
    path: &Path,
    id: u64,
    fstype: &str,
) -> Option<&'a MountInfo> {
    infos
        .iter()
        .find(|i| i.id == id && i.mount_point == path && i.fstype == fstype)
}

fn sweep_session(
    dir: &Path,
    m: &MarkerFile,
    infos: &[MountInfo],
    opts: &SweepOptions,
) -> SessionSweep {
    let mut s = SessionSweep {
        id: m.id.clone(),
        dir: dir.to_path_buf(),
        owner_pid: m.owner.pid,
        ..SessionSweep::default()
    };
    tracing::info!(session = %m.id, "sweeping a session whose owner (pid {}) is gone", m.owner.pid);
    // Which resources' mounts failed (their daemons are left running).
    let mut failed_resources: HashSet<u64> = HashSet::new();

    // 1. Mounts, deepest path first.
    let mut todo: Vec<(u64, MountInfo)> = Vec::new();
    for entry in &m.resources {
        for item in &entry.items {
            let MarkerItem::Mount {
                path,
                mount_id,
                fstype,
                recursive,
                ..
            } = item
            else {
                continue;
            };
            match find_recorded(infos, path, *mount_id, fstype) {
                None => s.actions.push(SweepAction::Skipped {
                    item: format!("mount {} (id {mount_id})", path.display()),
                    reason: "not mounted any more".into(),
                }),
                Some(found) => {
                    if *recursive {
                        for d in descendants_deepest_first(infos, found.id) {
                            todo.push((entry.seq, d));
                        }
                    }
                    todo.push((entry.seq, found.clone()));
                }
            }
        }
    }
    // A mount below the session's tree root that the marker lacks, of one of the
    // session's own devices, was made by a killed session between mounting and
    // recording: it is the session's. Anything else there is left alone.
    let last_seq = m.resources.last().map_or(0, |e| e.seq);
    for mi in unrecorded_own_mounts(dir, m, infos) {
        if !todo.iter().any(|(_, t)| t.id == mi.id) {
            todo.push((last_seq, mi));
        }
    }
    todo.sort_by(|a, b| {
        let depth = |m: &MountInfo| m.mount_point.components().count();
        depth(&b.1)
            .cmp(&depth(&a.1))
            .then(mount_depth(infos, b.1.id).cmp(&mount_depth(infos, a.1.id)))
    });
    todo.dedup_by_key(|(_, m)| m.id);
    for (seq, mi) in &todo {
        if opts.dry_run {
            s.actions.push(SweepAction::Unmounted {
                path: mi.mount_point.clone(),
                mount_id: mi.id,
            });
            continue;
        }
        match umount_verified(&mi.mount_point, mi.id, &opts.umount) {
            Ok(_) => s.actions.push(SweepAction::Unmounted {
                path: mi.mount_point.clone(),
                mount_id: mi.id,
            }),
            Err(f) => {
                failed_resources.insert(*seq);
                let e = f.into_error(
                    &format!("{} {}", mi.fstype, mi.source),
                    &mi.mount_point,
                    mi.id,
                );
                s.failures.push(e.to_string());
            }
        }
    }

    // 1b. FUSE drivers the session started but had not recorded (killed between
    //     start and record): they hold the partition devices the loops below need
    //     free. Storage daemons wait for step 3 (a loop may sit on their export).
    if !opts.dry_run {
        stop_orphans(dir, &mut s, opts, false);
    }

    // 2. Per resource, last made first: its loop devices, then its daemons. A
    // qemu-storage-daemon must outlive the loop device bound to its export, and an
    // LV mapped over a disk's loop device goes before that disk. (Loop checks see
    // the mounts as they are after step 1; in a dry run, as if it were done.)
    let planned: HashSet<u64> = todo.iter().map(|(_, m)| m.id).collect();
    let now: Vec<MountInfo> = if opts.dry_run {
        infos
            .iter()
            .filter(|m| !planned.contains(&m.id))
            .cloned()
            .collect()
    } else {
        read_mountinfo().unwrap_or_else(|_| infos.to_vec())
    };
    for entry in m.resources.iter().rev() {
        for item in &entry.items {
            let MarkerItem::LvmVg {
                name,
                uuid,
                devices,
            } = item
            else {
                continue;
            };
            if opts.dry_run {
                s.actions
                    .push(SweepAction::Deactivated { vg: name.clone() });
                continue;
            }
            match crate::attach::lvm2::deactivate_recorded(name, uuid, devices) {
                Ok(true) => s
                    .actions
                    .push(SweepAction::Deactivated { vg: name.clone() }),
                Ok(false) => s.actions.push(SweepAction::Skipped {
                    item: format!("VG {name}"),
                    reason: "not active any more".into(),
                }),
                Err(e) => s.failures.push(format!("VG {name}: {e}")),
            }
        }
        for item in &entry.items {
            let MarkerItem::Loop {
                device,
                backing_file,
            } = item
            else {
                continue;
            };
            match check_loop(device, backing_file, &now) {
                Err(reason) => s.actions.push(SweepAction::Skipped {
                    item: format!("loop {}", device.display()),
                    reason,
                }),
                Ok(LoopState::InUse(why)) => s
                    .failures
                    .push(format!("loop {} not detached: {why}", device.display())),
                Ok(LoopState::Ours) if opts.dry_run => s.actions.push(SweepAction::Detached {
                    device: device.clone(),
                    backing_file: backing_file.clone(),
                }),
                Ok(LoopState::Ours) => match detach_loop(device, backing_file) {
                    Ok(()) => s.actions.push(SweepAction::Detached {
                        device: device.clone(),
                        backing_file: backing_file.clone(),
                    }),
                    Err(e) => s
                        .failures
                        .push(format!("loop {}: detach: {e}", device.display())),
                },
            }
        }
        for item in &entry.items {
            let MarkerItem::Daemon {
                pid,
                start_time,
                cmdline,
            } = item
            else {
                continue;
            };
            let label = format!("daemon pid {pid} ({})", cmdline.join(" "));
            if !same_process(*pid, *start_time, cmdline) {
                // A FUSE driver ends when its mount goes: after this sweep's
                // unmounts, that is the expected outcome, not an odd item.
                if !opts.dry_run
                    && s.actions
                        .iter()
                        .any(|a| matches!(a, SweepAction::Unmounted { .. }))
                {
                    let exited = SweepAction::DaemonExited { pid: *pid };
                    if !s.actions.contains(&exited) {
                        s.actions.push(exited);
                    }
                    continue;
                }
                s.actions.push(SweepAction::Skipped {
                    item: label,
                    reason: "not running any more (or the pid now belongs to another program)"
                        .into(),
                });
                continue;
            }
            if failed_resources.contains(&entry.seq) {
                s.actions.push(SweepAction::Skipped {
                    item: label,
                    reason:
                        "its mount could not be unmounted; stopping it would leave a dead mount"
                            .into(),
                });
                s.failures.push(format!(
                    "daemon pid {pid} left running: its mount is still there"
                ));
                continue;
            }
            if opts.dry_run {
                s.actions.push(SweepAction::Killed {
                    pid: *pid,
                    signal: "SIGTERM",
                });
                continue;
            }
            match stop_daemon(*pid, *start_time, cmdline, opts.daemon_timeout) {
                Ok(a) => s.actions.push(a),
                Err(e) => s.failures.push(format!("{label}: {e}")),
            }
        }
    }

    // 3. What lives inside the session's own directory but was not recorded yet
    //    (a kill between making a resource and recording it): loop devices backed
    //    by files there, processes whose command line names it (a storage daemon
    //    exporting into it), mounts inside it. The directory is private to the
    //    session, so all of that is the session's.
    if !opts.dry_run {
        sweep_session_dir(dir, &mut s, opts);
    }

    // 4. The session directory.
    if s.failures.is_empty() {
        if opts.dry_run {
            s.actions.push(SweepAction::RemovedSession {
                dir: dir.to_path_buf(),
            });
        } else {
            let _ = fs::remove_file(dir.join(MARKER_TMP));
            remove_runtime_files(dir);
            match fs::remove_file(dir.join(MARKER_FILE)).and_then(|_| fs::remove_dir(dir)) {
                Ok(()) => s.actions.push(SweepAction::RemovedSession {
                    dir: dir.to_path_buf(),
                }),
                Err(e) => s
                    .failures
                    .push(format!("remove session directory {}: {e}", dir.display())),
            }
        }
    }
    s
}

/// Stop processes whose command line names the session directory `dir` (they were
/// started by the session into it): FUSE drivers (`storage == false`) or
/// qemu-storage-daemons (`storage == true`); after FUSE drivers, unmount what is
/// left in the session's FUSE staging directory.
fn stop_orphans(dir: &Path, s: &mut SessionSweep, opts: &SweepOptions, storage: bool) {
    let canon = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let needle = canon.display().to_string();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            let (Ok(cmd), Ok((state, start))) = (proc_cmdline(pid), proc_stat(pid)) else {
                continue;
            };
            if state == 'Z' || !cmd.iter().any(|a| a.contains(&needle)) {
                continue;
            }
            // Storage daemons (an export or an NBD device under the session's loops,
            // partitions and VGs) go last; FUSE drivers first.
            let is_storage = cmd
                .first()
                .is_some_and(|a| a.contains("qemu-storage-daemon") || a.contains("qemu-nbd"));
            if is_storage != storage {
                continue;
            }
            match stop_daemon(pid, start, &cmd, opts.daemon_timeout) {
                Ok(a) => s.actions.push(a),
                Err(err) => s.failures.push(format!(
                    "process {pid} (unrecorded, {}): {err}",
                    cmd.join(" ")
                )),
            }
        }
    }
    if !storage {
        // Directory mounts inside the session's own directory: FUSE staging mounts
        // and the read-only mounts of the root search (never recorded: each lives
        // for a moment). Export files (regular-file mountpoints) wait for step 3.
        if let Ok(infos) = read_mountinfo() {
            let is_file = |p: &Path| matches!(fs::metadata(p), Ok(md) if md.is_file());
            let mut inside: Vec<&MountInfo> = infos
                .iter()
                .filter(|m| m.mount_point.starts_with(&canon) && !is_file(&m.mount_point))
                .collect();
            inside.sort_by_key(|m| std::cmp::Reverse(m.mount_point.components().count()));
            for m in inside {
                if let Err(f) = umount_verified(&m.mount_point, m.id, &opts.umount) {
                    let e =
                        f.into_error(&format!("{} {}", m.fstype, m.source), &m.mount_point, m.id);
                    s.failures.push(e.to_string());
                }
            }
        }
    }
}

/// Undo what sits in a dead session's directory without a marker entry: loops
/// backed by its files, then processes naming it, then mounts inside it.
fn sweep_session_dir(dir: &Path, s: &mut SessionSweep, opts: &SweepOptions) {
    let canon = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let under = |p: &Path| p.starts_with(&canon) || p.starts_with(dir);
    // Loops first: a storage daemon must outlive the loop on its export.
    if let Ok(rd) = fs::read_dir("/sys/block") {
        for e in rd.flatten() {
            let Ok(b) = fs::read_to_string(e.path().join("loop/backing_file")) else {
                continue;
            };
            let backing = PathBuf::from(b.trim_end_matches('\n'));
            if !under(&backing) {
                continue;
            }
            let dev = PathBuf::from("/dev").join(e.file_name());
            match detach_loop(&dev, &backing) {
                Ok(()) => s.actions.push(SweepAction::Detached {
                    device: dev,
                    backing_file: backing,
                }),
                Err(err) => s.failures.push(format!(
                    "loop {} (unrecorded): detach: {err}",
                    dev.display()
                )),
            }
        }
    }
    stop_orphans(dir, s, opts, true);
    if let Ok(infos) = read_mountinfo() {
        let mut inside: Vec<&MountInfo> = infos.iter().filter(|m| under(&m.mount_point)).collect();
        inside.sort_by_key(|m| std::cmp::Reverse(m.mount_point.components().count()));
        for m in inside {
            match umount_verified(&m.mount_point, m.id, &opts.umount) {
                Ok(_) => s.actions.push(SweepAction::Unmounted {
                    path: m.mount_point.clone(),
                    mount_id: m.id,
                }),
                Err(f) => {
                    let e =
                        f.into_error(&format!("{} {}", m.fstype, m.source), &m.mount_point, m.id);
                    s.failures.push(e.to_string());
                }
            }
        }
    }
}

/// Remove what a killed session's daemons left in its directory: plain files
/// (export files, pid files, logs, LV descriptors) that are not mountpoints, and
/// empty directories (the probe mountpoint). Never recursive, never a mountpoint.
fn remove_runtime_files(dir: &Path) {
    let mounted: HashSet<PathBuf> = read_mountinfo()
        .map(|v| v.into_iter().map(|m| m.mount_point).collect())
        .unwrap_or_default();
    remove_runtime_files_in(dir, &mounted, 3);
}

fn remove_runtime_files_in(dir: &Path, mounted: &HashSet<PathBuf>, depth: u32) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if mounted.contains(&p) || p.file_name().is_some_and(|n| n == MARKER_FILE) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_file() => {
                let _ = fs::remove_file(&p);
            }
            Ok(t) if t.is_dir() && depth > 0 => {
                // Empty it the same way (never recursively deleting), then rmdir.
                remove_runtime_files_in(&p, mounted, depth - 1);
                let _ = fs::remove_dir(&p);
            }
            _ => {}
        }
    }
}

/// Depth of mount `id` in the mount tree.
fn mount_depth(infos: &[MountInfo], id: u64) -> usize {
    let mut d = 0;
    let mut cur = id;
    while let Some(m) = infos.iter().find(|m| m.id == cur) {
        if m.parent == cur || d > infos.len() {
            break;
        }
        d += 1;
        cur = m.parent;
    }
    d
}

/// Whether `pid` is alive (not a zombie) with this start time and command line.
fn same_process(pid: u32, start_time: u64, cmdline: &[String]) -> bool {
    match proc_stat(pid) {
        Ok((state, start)) if state != 'Z' && (start_time == 0 || start == start_time) => {
            proc_cmdline(pid).map(|c| c == cmdline).unwrap_or(false)
        }
        _ => false,
    }
}

/// Give a daemon a moment to exit after its unmount, then SIGTERM, then SIGKILL.
fn stop_daemon(
    pid: u32,
    start_time: u64,
    cmdline: &[String],
    timeout: Duration,
) -> io::Result<SweepAction> {
    let gone_within = |d: Duration| {
        let until = Instant::now() + d;
        loop {
            if !same_process(pid, start_time, cmdline) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    if gone_within(Duration::from_millis(500)) {
        return Ok(SweepAction::DaemonExited { pid });
    }
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")] {
        // Re-check right before signalling (the pid could have been reused).
        if !same_process(pid, start_time, cmdline) {
            return Ok(SweepAction::DaemonExited { pid });
        }
        // SAFETY: plain syscall.
        if unsafe { libc::kill(pid as libc::pid_t, sig) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Ok(SweepAction::DaemonExited { pid });
            }
            return Err(e);
        }
        if gone_within(timeout) {
            return Ok(SweepAction::Killed { pid, signal: name });
        }
    }
    Err(io::Error::other("still running after SIGKILL"))
}

enum LoopState {
    /// Backed by the recorded file, unused: ours to detach.
    Ours,
    /// Ours but in use.
    InUse(String),
}

/// `loopN` of `/dev/loopN`.
fn loop_name(device: &Path) -> Option<String> {
    let n = device.file_name()?.to_str()?;
    (n.starts_with("loop") && n[4..].chars().all(|c| c.is_ascii_digit()) && n.len() > 4)
        .then(|| n.to_string())
}

/// Whether the recorded loop is still ours (Err: not ours or gone, with why).
fn check_loop(device: &Path, backing: &Path, infos: &[MountInfo]) -> Result<LoopState, String> {
    let name = loop_name(device)
        .ok_or_else(|| format!("{} is not a loop device name", device.display()))?;
    let sys = PathBuf::from(format!("/sys/block/{name}"));
    let now = match fs::read_to_string(sys.join("loop/backing_file")) {
        Ok(s) => PathBuf::from(s.trim_end_matches('\n')),
        Err(_) => return Err("not attached any more".into()),
    };
    if now != backing {
        return Err(format!(
            "now backed by {}, not the recorded {}",
            now.display(),
            backing.display()
        ));
    }
    // The device and its partitions.
    let mut devs: Vec<(String, Option<(u32, u32)>)> = vec![(name.clone(), dev_numbers(&sys))];
    if let Ok(rd) = fs::read_dir(&sys) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&name) && n.len() > name.len() {
                devs.push((n, dev_numbers(&e.path())));
            }
        }
    }
    for (n, num) in &devs {
        let dev_path = format!("/dev/{n}");
        if let Some(m) = infos
            .iter()
            .find(|m| m.source == dev_path || (Some(m.dev) == *num && m.dev.0 != 0))
        {
            return Ok(LoopState::InUse(format!(
                "{dev_path} is mounted at {}",
                m.mount_point.display()
            )));
        }
        let holders = PathBuf::from(format!("/sys/class/block/{n}/holders"));
        if let Ok(rd) = fs::read_dir(&holders) {
            let h: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if !h.is_empty() {
                return Ok(LoopState::InUse(format!(
                    "{dev_path} is held by {}",
                    h.join(", ")
                )));
            }
        }
    }
    Ok(LoopState::Ours)
}

fn dev_numbers(sysdir: &Path) -> Option<(u32, u32)> {
    let s = fs::read_to_string(sysdir.join("dev")).ok()?;
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const BLKPG: libc::c_ulong = 0x1269;
const BLKPG_DEL_PARTITION: libc::c_int = 2;

#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

#[repr(C)]
struct BlkpgPartition {
    start: libc::c_longlong,
    length: libc::c_longlong,
    pno: libc::c_int,
    devname: [libc::c_char; 64],
    volname: [libc::c_char; 64],
}

/// Delete the loop's partitions (when the kernel will not: no partscan flag),
/// then `LOOP_CLR_FD`; check the backing file is gone.
fn detach_loop(device: &Path, backing: &Path) -> io::Result<()> {
    let name = loop_name(device).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let sys = PathBuf::from(format!("/sys/block/{name}"));
    let f = fs::OpenOptions::new().read(true).open(device)?;
    // Re-check right before acting, on the opened device.
    let now = fs::read_to_string(sys.join("loop/backing_file")).unwrap_or_default();
    if Path::new(now.trim_end_matches('\n')) != backing {
        return Err(io::Error::other("backing file changed; left alone"));
    }
    let partscan = fs::read_to_string(sys.join("loop/partscan"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    if !partscan {
        if let Ok(rd) = fs::read_dir(&sys) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let Some(pno) = n
                    .strip_prefix(&format!("{name}p"))
                    .and_then(|p| p.parse::<i32>().ok())
                else {
                    continue;
                };
                // SAFETY: zeroed plain struct.
                let mut part: BlkpgPartition = unsafe { std::mem::zeroed() };
                part.pno = pno;
                let mut arg = BlkpgIoctlArg {
                    op: BLKPG_DEL_PARTITION,
                    flags: 0,
                    datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
                    data: &mut part as *mut BlkpgPartition as *mut libc::c_void,
                };
                // SAFETY: valid fd and argument structs that outlive the call.
                if unsafe { libc::ioctl(f.as_raw_fd(), BLKPG as _, &mut arg) } != 0 {
                    return Err(io::Error::other(format!(
                        "delete partition {n}: {}",
                        io::Error::last_os_error()
                    )));
                }
            }
        }
    }
    // SAFETY: valid fd; LOOP_CLR_FD takes no argument.
    if unsafe { libc::ioctl(f.as_raw_fd(), LOOP_CLR_FD as _, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    drop(f);
    // The kernel may defer the detach while the device is open elsewhere.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if !sys.join("loop/backing_file").exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(io::Error::other(
        "detach deferred by the kernel: the device is still open somewhere",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::mount::testutil::{Scratch, TestLoop};
    use crate::assemble::mount::{FsType, MountGuard, MountRequest, MountTarget, SystemMount};
    use crate::assemble::teardown::{CloseError, MarkerOwner, Resource, TeardownStack};
    use crate::guest::GuestRoot;

    /// A resource that only records marker items (decoys for the sweep).
    struct Record(Vec<MarkerItem>);

    impl Resource for Record {
        fn describe(&self) -> String {
            "record".into()
        }
        fn close(self: Box<Self>) -> Result<(), CloseError> {
            Ok(())
        }
        fn marker_items(&self) -> Vec<MarkerItem> {
            self.0.clone()
        }
    }

    /// A pid that is certainly dead now (a reaped child).
    fn dead_owner() -> MarkerOwner {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        let start_time = proc_stat(pid).map(|s| s.1).unwrap_or(1);
        c.wait().unwrap();
        MarkerOwner { pid, start_time }
    }

    /// Rewrite a marker's owner.
    fn set_owner(path: &Path, owner: MarkerOwner) {
        let mut m = MarkerFile::read(path).unwrap();
        m.owner = owner;
        fs::write(path, serde_json::to_vec(&m).unwrap()).unwrap();
    }

    fn mounted(p: &Path) -> bool {
        read_mountinfo().unwrap().iter().any(|m| m.mount_point == p)
    }

    fn attached(lo: &Path) -> bool {
        let n = lo.file_name().unwrap().to_str().unwrap();
        Path::new(&format!("/sys/block/{n}/loop/backing_file")).exists()
    }

    /// Reap a child that exited (a forgotten FUSE driver).
    fn reap(pid: u32) {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let mut status = 0;
            // SAFETY: plain syscall.
            let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
            if r == pid as libc::pid_t || r < 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("child {pid} did not exit");
    }

    #[test]
    fn unknown_sessions_dir_is_empty_report() {
        let d = tempfile::tempdir().unwrap();
        let r = sweep_with(&SweepOptions {
            sessions_dir: d.path().join("none"),
            tree_roots: vec![d.path().to_path_buf()],
            staging_dir: d.path().join("stage"),
            ..SweepOptions::default()
        });
        assert!(r.is_clean());
        assert!(r.sessions.is_empty() && r.unknown_mounts.is_empty());
    }

    #[test]
    fn unreadable_marker_is_reported_and_left() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("sessions/x");
        fs::create_dir_all(&s).unwrap();
        fs::write(s.join(MARKER_FILE), b"{not json").unwrap();
        let r = sweep_with(&SweepOptions {
            sessions_dir: d.path().join("sessions"),
            tree_roots: vec![],
            staging_dir: d.path().join("stage"),
            ..SweepOptions::default()
        });
        assert_eq!(r.errors.len(), 1, "{r}");
        assert!(s.join(MARKER_FILE).exists());
    }

    #[test]
    fn session_killed_before_its_first_marker_write_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let sessions = d.path().join("sessions");
        // Pid 1's start time is not u64::MAX: a dead owner. An owner that
        // runs (this process), and a name that names no owner.
        let me = MarkerOwner::current().unwrap();
        let dead = sessions.join(format!("1-{}-0", u64::MAX));
        let live = sessions.join(format!("{}-{}-77", me.pid, me.start_time));
        let odd = sessions.join("not-a-session");
        for p in [&dead, &live, &odd] {
            fs::create_dir_all(p).unwrap();
        }
        fs::write(dead.join(MARKER_TMP), b"{half").unwrap();
        let opts = SweepOptions {
            sessions_dir: sessions.clone(),
            tree_roots: vec![],
            staging_dir: d.path().join("stage"),
            ..SweepOptions::default()
        };
        let dry = sweep_with(&SweepOptions {
            dry_run: true,
            ..opts.clone()
        });
        assert!(dead.exists(), "a dry run removed {}", dead.display());
        assert_eq!(dry.sessions.len(), 1, "{dry}");
        let r = sweep_with(&opts);
        assert!(!dead.exists(), "{r}");
        assert_eq!(r.sessions.len(), 1, "{r}");
        assert!(live.exists() && r.live_sessions.iter().any(|l| l.ends_with("-77")));
        assert!(odd.exists());
        assert_eq!(r.errors.len(), 1, "{r}");
        assert!(r.errors[0].contains("not-a-session"), "{r}");
    }

    #[test]
    fn killed_session_is_swept_and_nothing_else() {
        let Some(t) = Scratch::new("killed_session_is_swept_and_nothing_else") else {
            return;
        };
        let sessions = t.dir("sessions");
        let tdir = t.dir("tree");
        let other = t.dir("othertree");
        let root_img = t.image("root.img", 64, &["mkfs.ext4", "-q", "-F"]);
        let esp_img = t.image("esp.img", 64, &["mkfs.vfat"]);
        let decoy_img = t.image("decoy.img", 16, &["mkfs.ext4", "-q", "-F"]);

        // The session to be "killed".
        let mut s = TeardownStack::new_session(&sessions, Some(&tdir)).unwrap();
        let marker = s.marker().unwrap().path();
        let sdir = s.marker().unwrap().dir().to_path_buf();
        let l_root = TestLoop::attach(&root_img);
        let l_esp = TestLoop::attach(&esp_img);
        let (d_root, d_esp) = (l_root.dev.clone(), l_esp.dev.clone());
        s.push(l_root);
        s.push(l_esp);
        s.push(
            MountGuard::mount(
                &MountRequest::fs(&d_root, FsType::Ext4),
                MountTarget::Host(&tdir),
            )
            .unwrap(),
        );
        let root = GuestRoot::open(&tdir).unwrap();
        let at = |p: &'static str| MountTarget::Guest {
            root: &root,
            path: Path::new(p),
        };
        s.push(MountGuard::mount(&MountRequest::tmpfs(), at("/boot")).unwrap());
        let esp = MountGuard::mount(
            &MountRequest::fs(&d_esp, FsType::Vfat).staging_dir(t.staging()),
            at("/boot/efi"),
        )
        .unwrap();
        let fuse_pid = esp.daemon_pid();
        fs::write(tdir.join("boot/efi/written-before-kill"), b"esp").unwrap();
        s.push(esp);
        s.push(MountGuard::mount(&MountRequest::system(SystemMount::Dev), at("/dev")).unwrap());
        s.push(MountGuard::mount(&MountRequest::system(SystemMount::Proc), at("/proc")).unwrap());
        drop(root);

        // Decoys: a mount under another tree root, a loop, a process, and
        // marker items that point at them with the wrong identity.
        let decoy_mount =
            MountGuard::mount(&MountRequest::tmpfs(), MountTarget::Host(&other)).unwrap();
        let decoy_loop = TestLoop::attach(&decoy_img);
        let mut decoy_proc = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let decoy_pid = decoy_proc.id();
        let decoy_start = proc_stat(decoy_pid).unwrap().1;
        s.push(Record(vec![
            MarkerItem::Loop {
                device: decoy_loop.dev.clone(),
                backing_file: PathBuf::from("/nonexistent/other.img"),
            },
            MarkerItem::Daemon {
                pid: decoy_pid,
                start_time: decoy_start,
                cmdline: vec!["fusefat".into(), "-f".into()],
            },
            MarkerItem::Mount {
                path: other.clone(),
                mount_id: decoy_mount.mount_id(),
                fstype: "ext4".into(),
                source: "tmpfs".into(),
                recursive: false,
            },
        ]));

        // "Kill" the session: nothing is closed; the owner is dead.
        std::mem::forget(s);
        set_owner(&marker, dead_owner());
        let opts = SweepOptions {
            sessions_dir: sessions.clone(),
            tree_roots: vec![other.clone()],
            staging_dir: t.staging(),
            dry_run: true,
            ..SweepOptions::default()
        };

        // Dry run: reports, touches nothing.
        let r = sweep_with(&opts);
        eprintln!("{r}");
        assert_eq!(r.sessions.len(), 1);
        assert!(r.is_clean(), "{r}");
        assert!(r.sessions[0]
            .actions
            .iter()
            .any(|a| matches!(a, SweepAction::Detached { device, .. } if *device == d_root)));
        assert!(
            mounted(&tdir) && mounted(&tdir.join("boot/efi")) && mounted(&tdir.join("dev/pts"))
        );
        assert!(attached(&d_root) && attached(&d_esp));
        assert!(marker.exists());
        let planned: Vec<String> = r.sessions[0]
            .actions
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert!(
            planned
                .iter()
                .any(|a| a.starts_with("unmount") && a.contains("dev/pts")),
            "{planned:?}"
        );

        // The real sweep.
        let t0 = Instant::now();
        let r = sweep_with(&SweepOptions {
            dry_run: false,
            ..opts.clone()
        });
        eprintln!("MEASURE sweep of a killed session {:?}\n{r}", t0.elapsed());
        assert!(r.is_clean(), "{r}");
        let sw = &r.sessions[0];
        // Unmounted deepest first: the ESP before /boot before the root.
        let order: Vec<PathBuf> = sw
            .actions
            .iter()
            .filter_map(|a| match a {
                SweepAction::Unmounted { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        let pos = |p: &Path| order.iter().position(|o| o == p).unwrap();
        assert!(pos(&tdir.join("boot/efi")) < pos(&tdir.join("boot")));
        assert!(pos(&tdir.join("dev/pts")) < pos(&tdir.join("dev")));
        assert_eq!(*order.last().unwrap(), tdir);
        assert!(!read_mountinfo()
            .unwrap()
            .iter()
            .any(|m| m.mount_point.starts_with(&tdir)));
        assert!(!attached(&d_root) && !attached(&d_esp));
        assert!(!sdir.exists(), "session directory removed");
        assert!(sessions.exists());
        if let Some(pid) = fuse_pid {
            reap(pid);
        }
        // Decoys untouched, the unknown mount reported.
        assert!(mounted(&other), "decoy mount untouched");
        assert!(r.unknown_mounts.contains(&other), "{:?}", r.unknown_mounts);
        assert!(attached(&decoy_loop.dev), "decoy loop untouched");
        assert!(
            decoy_proc.try_wait().unwrap().is_none(),
            "decoy process alive"
        );
        assert!(sw.actions.iter().any(|a| matches!(a, SweepAction::Skipped { reason, .. } if reason.contains("/nonexistent/other.img"))));

        // The ESP's bytes landed before the kill's sweep.
        let out = std::process::Command::new("mtype")
            .args(["-i", esp_img.to_str().unwrap(), "::/written-before-kill"])
            .env("MTOOLS_SKIP_CHECK", "1")
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"esp");

        decoy_proc.kill().unwrap();
        decoy_proc.wait().unwrap();
        decoy_mount.close().unwrap();
        decoy_loop.detach();
        t.assert_clean();
    }

    #[test]
    fn live_session_is_left_alone_and_blocking_unknown_mount_keeps_the_marker() {
        let Some(t) =
            Scratch::new("live_session_is_left_alone_and_blocking_unknown_mount_keeps_the_marker")
        else {
            return;
        };
        let sessions = t.dir("sessions");
        let tdir = t.dir("tree");
        let mut s = TeardownStack::new_session(&sessions, Some(&tdir)).unwrap();
        let marker = s.marker().unwrap().path();
        s.push(MountGuard::mount(&MountRequest::tmpfs(), MountTarget::Host(&tdir)).unwrap());
        let opts = SweepOptions {
            sessions_dir: sessions.clone(),
            tree_roots: vec![],
            staging_dir: t.staging(),
            umount: crate::assemble::mount::UmountPolicy {
                attempts: 2,
                first_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(10),
            },
            ..SweepOptions::default()
        };
        // Owner alive: left alone, its mount is not "unknown".
        let r = sweep_with(&opts);
        assert_eq!(r.live_sessions.len(), 1, "{r}");
        assert!(r.sessions.is_empty() && r.unknown_mounts.is_empty(), "{r}");
        assert!(mounted(&tdir));

        // Somebody else's mount inside the dead session's tree.
        let intruder_dir = tdir.join("intruder");
        fs::create_dir(&intruder_dir).unwrap();
        let intruder =
            MountGuard::mount(&MountRequest::tmpfs(), MountTarget::Host(&intruder_dir)).unwrap();
        let mut s = std::mem::ManuallyDrop::new(s);
        set_owner(&marker, dead_owner());
        let r = sweep_with(&opts);
        eprintln!("{r}");
        assert!(!r.is_clean());
        assert!(r.sessions[0].failures[0].contains("intruder"), "{r}");
        assert!(r.unknown_mounts.contains(&intruder_dir), "{r}");
        assert!(mounted(&intruder_dir) && mounted(&tdir), "nothing forced");
        assert!(marker.exists(), "marker kept for a later sweep");

        // Once the intruder is gone, the next sweep finishes.
        intruder.close().unwrap();
        let r = sweep_with(&opts);
        assert!(r.is_clean(), "{r}");
        assert!(!mounted(&tdir));
        assert!(!marker.exists());
        // The stack's guard still thinks it owns the mount: let it see it gone.
        // SAFETY: taken once; the stack is not used again.
        let s = unsafe { std::mem::ManuallyDrop::take(&mut s) };
        drop(s);
        t.assert_clean();
    }
}
