//! The teardown stack ([`TeardownStack`]: a LIFO of [`Resource`] guards closed in reverse), the session marker under `/run/hydra/sessions/<id>/` that lets a sweep find what a killed session left, and SIGINT/SIGTERM handling.
//!
//! # Stack
//!
//! Every kernel resource a session makes (mounts, loop devices, LV maps,
//! FUSE exports) is a guard implementing [`Resource`], pushed on the stack
//! right after it is made. [`TeardownStack::close_all`] closes them in
//! reverse order, goes on after a failure, and returns every failure in one
//! [`TeardownError`]. Dropping the stack closes what is left (failures are
//! logged).
//!
//! # Session marker
//!
//! A stack made with [`TeardownStack::with_marker`] keeps
//! `/run/hydra/sessions/<id>/session.json` ([`MarkerFile`]) up to date: the
//! owner's pid and start time, the tree root, and for each live resource the
//! [`MarkerItem`]s it reports (mountpoints with mount ids, loop devices with
//! their backing files, daemon pids with their command lines). The file is
//! rewritten atomically (temporary file and rename) on every push and close,
//! and removed with its directory when every resource closed cleanly; after a
//! failed close it stays, listing what is left, for
//! [`sweep`](super::sweep::sweep). A resource is recorded after it is made: a
//! kill between the two leaves it unrecorded (the sweep then reports a mount
//! under the tree root as unknown instead of removing it).
//!
//! # Signals
//!
//! [`install_signal_handlers`] makes SIGINT and SIGTERM set a flag
//! ([`interrupted`], [`check_interrupted`]) that the session polls between
//! steps, so that a Ctrl-C unwinds and the guards drop. Children spawned with
//! `exec::Cmd` run in their own process group and do not see the terminal's
//! Ctrl-C. A second signal restores the default action and re-raises it: the
//! process dies at once, and the sweep cleans up after it.

use super::mount::{proc_cmdline, proc_stat, MountGuard};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where session markers live.
pub const DEFAULT_SESSIONS_DIR: &str = "/run/hydra/sessions";
/// The marker file's name inside a session directory.
pub const MARKER_FILE: &str = "session.json";
/// The temporary name used while rewriting the marker.
pub const MARKER_TMP: &str = "session.json.tmp";
/// Version of the marker format.
pub const MARKER_VERSION: u32 = 1;

/// Why a resource did not close; any error type (downcast to the concrete
/// one, e.g. [`MountError`](super::mount::MountError), to match on it).
pub type CloseError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A kernel resource (or process) that a session made and must undo.
pub trait Resource: Send {
    /// What it is, for messages (`mount xfs /dev/loop3p2 at /mnt/azure_sms_root/boot`).
    fn describe(&self) -> String;
    /// Undo it. Called once.
    fn close(self: Box<Self>) -> Result<(), CloseError>;
    /// What the session marker records about it, so that a sweep can undo it
    /// after the process was killed (default: nothing).
    fn marker_items(&self) -> Vec<MarkerItem> {
        Vec::new()
    }
    /// Leave it in place on purpose ([`TeardownStack::persist`]): let go of it
    /// without undoing it. The default forgets it; guards that hold descriptors
    /// close them (without detaching) so that a later release can undo it.
    fn release(self: Box<Self>) {
        std::mem::forget(self);
    }
}

impl Resource for MountGuard {
    fn describe(&self) -> String {
        MountGuard::describe(self)
    }

    fn close(self: Box<Self>) -> Result<(), CloseError> {
        MountGuard::close(*self).map_err(|e| Box::new(e) as CloseError)
    }

    fn marker_items(&self) -> Vec<MarkerItem> {
        let mut v = vec![MarkerItem::Mount {
            path: self.target().to_path_buf(),
            mount_id: self.mount_id(),
            fstype: self.fstype().to_string(),
            source: self.source().to_string(),
            recursive: self.recursive(),
        }];
        if let (Some(pid), Some(cmdline)) = (self.daemon_pid(), self.daemon_cmdline()) {
            v.push(MarkerItem::Daemon {
                pid,
                start_time: self.daemon_start_time().unwrap_or(0),
                cmdline: cmdline.to_vec(),
            });
        }
        v
    }
}

/// One thing a session made, as recorded in the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MarkerItem {
    /// A mount.
    Mount {
        /// Mountpoint (canonical host path, as in mountinfo).
        path: PathBuf,
        /// Mount id (mountinfo field 1).
        mount_id: u64,
        /// Filesystem type as in mountinfo.
        fstype: String,
        /// Source as in mountinfo.
        source: String,
        /// A recursive bind: its submounts are part of it.
        recursive: bool,
    },
    /// A loop device.
    Loop {
        /// `/dev/loopN`.
        device: PathBuf,
        /// The backing file as `/sys/block/loopN/loop/backing_file` shows it.
        backing_file: PathBuf,
    },
    /// A guest VG activated through lvm2 (the kernel path).
    LvmVg {
        /// VG name.
        name: String,
        /// VG UUID (selects its device-mapper devices).
        uuid: String,
        /// The guest PV devices every lvm command is scoped to.
        devices: Vec<PathBuf>,
    },
    /// A daemon process (FUSE driver, qemu-storage-daemon).
    Daemon {
        /// Its pid.
        pid: u32,
        /// Its start time (`/proc/PID/stat` field 22; 0 when unknown).
        start_time: u64,
        /// Its command line as `/proc/PID/cmdline` showed it.
        cmdline: Vec<String>,
    },
}

/// One recorded resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerEntry {
    /// Push order in the session.
    pub seq: u64,
    /// [`Resource::describe`].
    pub describe: String,
    /// [`Resource::marker_items`].
    pub items: Vec<MarkerItem>,
}

/// The owner of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerOwner {
    /// Its pid.
    pub pid: u32,
    /// Its start time (`/proc/PID/stat` field 22): a reused pid is not the owner.
    pub start_time: u64,
}

impl MarkerOwner {
    /// This process.
    pub fn current() -> io::Result<Self> {
        let pid = std::process::id();
        Ok(MarkerOwner {
            pid,
            start_time: proc_stat(pid)?.1,
        })
    }

    /// A session id (`PID-STARTTIME-N`, see [`SessionMarker::create`]) names
    /// its owner: that owner, or `None` for a name of another shape.
    pub fn from_session_id(id: &str) -> Option<Self> {
        let mut parts = id.splitn(3, '-');
        Some(MarkerOwner {
            pid: parts.next()?.parse().ok()?,
            start_time: parts.next()?.parse().ok()?,
        })
    }

    /// Whether the owner still runs (same pid, same start time, not a zombie).
    pub fn alive(&self) -> bool {
        matches!(proc_stat(self.pid), Ok((state, start)) if state != 'Z' && start == self.start_time)
    }
}

/// The content of `session.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerFile {
    /// [`MARKER_VERSION`].
    pub version: u32,
    /// Session id (also the directory name).
    pub id: String,
    /// Who owns it.
    pub owner: MarkerOwner,
    /// When it was made (seconds since the epoch).
    pub created_unix: u64,
    /// The guest tree root, when the session has one.
    pub tree_root: Option<PathBuf>,
    /// The live resources, in push order.
    pub resources: Vec<MarkerEntry>,
    /// Left in place on purpose (`hydra-mount mount`): a plain sweep leaves it
    /// alone; only a release of its tree root (`hydra-mount umount`) undoes it.
    #[serde(default)]
    pub persistent: bool,
}

impl MarkerFile {
    /// Read and parse a marker file.
    pub fn read(path: &Path) -> io::Result<MarkerFile> {
        let text = fs::read(path)?;
        serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// All items of all resources.
    pub fn items(&self) -> impl Iterator<Item = &MarkerItem> {
        self.resources.iter().flat_map(|r| r.items.iter())
    }
}

static SESSION_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A session's marker directory and file (see the module docs).
#[derive(Debug)]
pub struct SessionMarker {
    dir: PathBuf,
    state: MarkerFile,
}

impl SessionMarker {
    /// Create `<sessions_dir>/<id>/session.json` for this process
    /// (`sessions_dir` is made 0700 when missing).
    pub fn create(sessions_dir: &Path, tree_root: Option<&Path>) -> io::Result<SessionMarker> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(sessions_dir)
            .map_err(|e| annotate(e, "create", sessions_dir))?;
        let owner = MarkerOwner::current()?;
        let created_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for _ in 0..1000 {
            let n = SESSION_COUNTER.fetch_add(1, Ordering::Relaxed);
            // The owner is in the name ([`MarkerOwner::from_session_id`]): a
            // directory killed before its first marker write still says whose it is.
            let id = format!("{}-{}-{n}", owner.pid, owner.start_time);
            let dir = sessions_dir.join(&id);
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(annotate(e, "create", &dir)),
            }
            let m = SessionMarker {
                dir,
                state: MarkerFile {
                    version: MARKER_VERSION,
                    id,
                    owner: owner.clone(),
                    created_unix,
                    tree_root: tree_root.map(Path::to_path_buf),
                    resources: Vec::new(),
                    persistent: false,
                },
            };
            if let Err(e) = m.write() {
                let _ = fs::remove_dir(&m.dir);
                return Err(e);
            }
            tracing::debug!(dir = %m.dir.display(), "session marker created");
            return Ok(m);
        }
        Err(annotate(
            io::Error::from_raw_os_error(libc::EEXIST),
            "create a session directory in",
            sessions_dir,
        ))
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The session directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The marker file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(MARKER_FILE)
    }

    /// What the marker holds now.
    pub fn contents(&self) -> &MarkerFile {
        &self.state
    }

    /// Record a resource (and rewrite the file).
    pub fn add(&mut self, seq: u64, describe: String, items: Vec<MarkerItem>) -> io::Result<()> {
        self.state.resources.push(MarkerEntry {
            seq,
            describe,
            items,
        });
        self.write()
    }

    /// Forget a closed resource (and rewrite the file).
    pub fn remove(&mut self, seq: u64) -> io::Result<()> {
        let before = self.state.resources.len();
        self.state.resources.retain(|e| e.seq != seq);
        if self.state.resources.len() == before {
            return Ok(());
        }
        self.write()
    }

    /// Mark the session as left in place on purpose (see [`MarkerFile::persistent`]).
    pub fn set_persistent(&mut self) -> io::Result<()> {
        self.state.persistent = true;
        self.write()
    }

    /// The clean end: remove the file and the directory (`rmdir`: it fails,
    /// leaving everything, if anything else is in it).
    pub fn finish(self) -> io::Result<()> {
        let _ = fs::remove_file(self.dir.join(MARKER_TMP));
        fs::remove_file(self.path()).map_err(|e| annotate(e, "remove", &self.path()))?;
        fs::remove_dir(&self.dir).map_err(|e| annotate(e, "rmdir", &self.dir))?;
        tracing::debug!(dir = %self.dir.display(), "session marker removed");
        Ok(())
    }

    fn write(&self) -> io::Result<()> {
        let tmp = self.dir.join(MARKER_TMP);
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| annotate(e, "create", &tmp))?;
        f.write_all(&bytes)
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(|e| annotate(e, "write", &tmp))?;
        drop(f);
        fs::rename(&tmp, self.path()).map_err(|e| annotate(e, "rename", &self.path()))
    }
}

fn annotate(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}

/// One resource that failed to close.
#[derive(Debug)]
pub struct CloseFailure {
    /// [`Resource::describe`].
    pub resource: String,
    /// Why.
    pub error: CloseError,
}

impl fmt::Display for CloseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.resource, self.error)
    }
}

/// Every failure of a [`TeardownStack::close_all`].
#[derive(Debug, thiserror::Error)]
#[error("teardown: {} of {total} resources did not close:{}", .failures.len(), list(.failures))]
pub struct TeardownError {
    /// The failures, in closing order.
    pub failures: Vec<CloseFailure>,
    /// How many resources were closed or tried.
    pub total: usize,
}

fn list(f: &[CloseFailure]) -> String {
    let mut s = String::new();
    for x in f {
        s.push_str("\n  - ");
        s.push_str(&x.to_string().replace('\n', "\n    "));
    }
    s
}

struct Entry {
    seq: u64,
    resource: Box<dyn Resource>,
}

/// A LIFO of resources, closed in reverse (see the module docs).
#[derive(Default)]
pub struct TeardownStack {
    entries: Vec<Entry>,
    marker: Option<SessionMarker>,
    next_seq: u64,
    /// A close failed: the marker stays for the sweep.
    failed: bool,
}

impl fmt::Debug for TeardownStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeardownStack")
            .field("resources", &self.describe_all())
            .field(
                "marker",
                &self.marker.as_ref().map(|m| m.dir().to_path_buf()),
            )
            .finish()
    }
}

impl TeardownStack {
    /// An empty stack without a marker.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty stack that keeps `marker` up to date.
    pub fn with_marker(marker: SessionMarker) -> Self {
        TeardownStack {
            entries: Vec::new(),
            marker: Some(marker),
            next_seq: 0,
            failed: false,
        }
    }

    /// An empty stack with a new marker in `sessions_dir`
    /// ([`DEFAULT_SESSIONS_DIR`] normally).
    pub fn new_session(sessions_dir: &Path, tree_root: Option<&Path>) -> io::Result<Self> {
        Ok(Self::with_marker(SessionMarker::create(
            sessions_dir,
            tree_root,
        )?))
    }

    /// The marker, if any.
    pub fn marker(&self) -> Option<&SessionMarker> {
        self.marker.as_ref()
    }

    /// Push a resource (recorded in the marker; a marker write failure is
    /// logged, the resource is kept).
    pub fn push<R: Resource + 'static>(&mut self, resource: R) {
        self.push_boxed(Box::new(resource));
    }

    /// Push a boxed resource.
    pub fn push_boxed(&mut self, resource: Box<dyn Resource>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(m) = self.marker.as_mut() {
            if let Err(e) = m.add(seq, resource.describe(), resource.marker_items()) {
                tracing::warn!(
                    "session marker: could not record {}: {e}",
                    resource.describe()
                );
            }
        }
        tracing::debug!(seq, "pushed {}", resource.describe());
        self.entries.push(Entry { seq, resource });
    }

    /// Number of resources held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the stack is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The resources' descriptions, bottom first.
    pub fn describe_all(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.resource.describe()).collect()
    }

    /// Take the top resource back without closing it (it leaves the marker).
    pub fn pop(&mut self) -> Option<Box<dyn Resource>> {
        let e = self.entries.pop()?;
        self.unrecord(e.seq);
        Some(e.resource)
    }

    /// Close the top resource (e.g. a candidate root mounted only to look
    /// for `etc/fstab`). `None` when empty.
    pub fn close_top(&mut self) -> Option<Result<(), CloseFailure>> {
        let e = self.entries.pop()?;
        Some(self.close_entry(e))
    }

    fn close_entry(&mut self, e: Entry) -> Result<(), CloseFailure> {
        let describe = e.resource.describe();
        tracing::debug!(seq = e.seq, "closing {describe}");
        match e.resource.close() {
            Ok(()) => {
                self.unrecord(e.seq);
                Ok(())
            }
            Err(error) => {
                self.failed = true;
                tracing::error!("teardown: {describe}: {error}");
                Err(CloseFailure {
                    resource: describe,
                    error,
                })
            }
        }
    }

    fn unrecord(&mut self, seq: u64) {
        if let Some(m) = self.marker.as_mut() {
            if let Err(e) = m.remove(seq) {
                tracing::warn!("session marker: {e}");
            }
        }
    }

    /// Close everything in reverse order, going on after failures. When every
    /// close of the stack's life succeeded, the marker is removed; otherwise
    /// it stays, listing what failed to close.
    pub fn close_all(&mut self) -> Result<(), TeardownError> {
        let total = self.entries.len();
        let mut failures = Vec::new();
        while let Some(e) = self.entries.pop() {
            if let Err(f) = self.close_entry(e) {
                failures.push(f);
            }
        }
        if failures.is_empty() && !self.failed {
            if let Some(m) = self.marker.take() {
                if let Err(e) = m.finish() {
                    failures.push(CloseFailure {
                        resource: "session marker".into(),
                        error: Box::new(e),
                    });
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TeardownError { failures, total })
        }
    }
}

impl TeardownStack {
    /// Leave every resource in place on purpose (`hydra-mount mount`): the marker
    /// is kept, flagged persistent, and the guards are forgotten without closing.
    /// Returns the marker's path; `sweep::release` of the tree root undoes it.
    pub fn persist(mut self) -> io::Result<PathBuf> {
        let Some(mut marker) = self.marker.take() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a session without a marker cannot be left in place",
            ));
        };
        marker.set_persistent()?;
        let path = marker.path();
        for e in self.entries.drain(..) {
            // Let go, do not close: the mounts, loops and daemons stay.
            e.resource.release();
        }
        std::mem::forget(marker);
        Ok(path)
    }
}

impl Drop for TeardownStack {
    fn drop(&mut self) {
        if self.entries.is_empty() && (self.marker.is_none() || self.failed) {
            return;
        }
        if let Err(e) = self.close_all() {
            tracing::error!("dropping teardown stack: {e}");
        }
    }
}

// ----- signals ------------------------------------------------------------------------

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    if SIGNAL.swap(sig, Ordering::SeqCst) != 0 {
        // Second signal: the user insists. Default action, now.
        // SAFETY: sigaction and raise are async-signal-safe; the struct is
        // zeroed (SIG_DFL, empty mask).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
            libc::raise(sig);
        }
    }
}

/// A session stopped by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {} (signal {signal}); tearing down", signal_name(*.signal))]
pub struct Interrupted {
    /// The signal number.
    pub signal: i32,
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Make SIGINT, SIGTERM and SIGHUP set the interrupt flag (first signal) or
/// kill the process (second signal). `SA_RESTART` is set, so system calls in
/// progress are not failed with `EINTR`; poll [`check_interrupted`] between steps.
pub fn install_signal_handlers() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: zeroed sigaction is valid; the handler only touches an
        // atomic and async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// The signal that arrived, if one did since the handlers were installed
/// (or since [`reset_interrupted`]).
pub fn interrupted() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// `Err(Interrupted)` once a signal arrived: `?` it between steps.
pub fn check_interrupted() -> Result<(), Interrupted> {
    match interrupted() {
        None => Ok(()),
        Some(signal) => Err(Interrupted { signal }),
    }
}

/// Clear the flag (a long-running caller that handled one interrupt).
pub fn reset_interrupted() {
    SIGNAL.store(0, Ordering::SeqCst);
}

/// Identity of a process: pid, start time, command line (see [`MarkerItem::Daemon`]).
pub fn process_identity(pid: u32) -> io::Result<(u64, Vec<String>)> {
    Ok((proc_stat(pid)?.1, proc_cmdline(pid)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::mount::testutil::{Scratch, TestLoop};
    use crate::assemble::mount::{read_mountinfo, MountRequest, MountTarget, SystemMount};
    use crate::guest::GuestRoot;
    use std::sync::{Arc, Mutex};

    /// A resource that logs its closing and may fail.
    struct Fake {
        name: &'static str,
        log: Arc<Mutex<Vec<&'static str>>>,
        fail: bool,
    }

    impl Resource for Fake {
        fn describe(&self) -> String {
            format!("fake {}", self.name)
        }

        fn close(self: Box<Self>) -> Result<(), CloseError> {
            self.log.lock().unwrap().push(self.name);
            if self.fail {
                Err(format!("{} refused to close", self.name).into())
            } else {
                Ok(())
            }
        }

        fn marker_items(&self) -> Vec<MarkerItem> {
            vec![MarkerItem::Mount {
                path: PathBuf::from(format!("/mnt/t/{}", self.name)),
                mount_id: 1000 + self.name.len() as u64,
                fstype: "tmpfs".into(),
                source: "tmpfs".into(),
                recursive: false,
            }]
        }
    }

    fn fakes(names: &[(&'static str, bool)]) -> (Vec<Fake>, Arc<Mutex<Vec<&'static str>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let v = names
            .iter()
            .map(|&(name, fail)| Fake {
                name,
                log: Arc::clone(&log),
                fail,
            })
            .collect();
        (v, log)
    }

    #[test]
    fn closes_in_reverse_and_goes_on_after_a_failure() {
        let (v, log) = fakes(&[("a", false), ("b", true), ("c", false), ("d", true)]);
        let mut s = TeardownStack::new();
        for f in v {
            s.push(f);
        }
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.describe_all(),
            vec!["fake a", "fake b", "fake c", "fake d"]
        );
        let e = s.close_all().unwrap_err();
        assert_eq!(*log.lock().unwrap(), vec!["d", "c", "b", "a"]);
        assert_eq!(e.total, 4);
        let failed: Vec<&str> = e.failures.iter().map(|f| f.resource.as_str()).collect();
        assert_eq!(failed, vec!["fake d", "fake b"]);
        let text = e.to_string();
        assert!(
            text.contains("2 of 4") && text.contains("b refused to close"),
            "{text}"
        );
        assert!(s.is_empty());
        // Nothing left for Drop.
        drop(s);
        assert_eq!(log.lock().unwrap().len(), 4);
    }

    #[test]
    fn drop_closes_the_rest_in_reverse() {
        let (v, log) = fakes(&[("a", false), ("b", false), ("c", false)]);
        {
            let mut s = TeardownStack::new();
            for f in v {
                s.push(f);
            }
            assert!(s.close_top().unwrap().is_ok());
        }
        assert_eq!(*log.lock().unwrap(), vec!["c", "b", "a"]);
    }

    #[test]
    fn pop_hands_back_without_closing() {
        let (v, log) = fakes(&[("a", false), ("b", false)]);
        let mut s = TeardownStack::new();
        for f in v {
            s.push(f);
        }
        let b = s.pop().unwrap();
        assert_eq!(b.describe(), "fake b");
        assert!(log.lock().unwrap().is_empty());
        s.close_all().unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["a"]);
        b.close().unwrap();
    }

    #[test]
    fn marker_follows_the_stack_and_goes_at_a_clean_end() {
        let sessions = tempfile::tempdir().unwrap();
        let (v, _log) = fakes(&[("a", false), ("bb", false), ("ccc", false)]);
        let mut s = TeardownStack::new_session(sessions.path(), Some(Path::new("/mnt/t"))).unwrap();
        let path = s.marker().unwrap().path();
        let dir = s.marker().unwrap().dir().to_path_buf();
        let m = MarkerFile::read(&path).unwrap();
        assert_eq!(m.version, MARKER_VERSION);
        assert_eq!(m.owner.pid, std::process::id());
        assert!(m.owner.alive());
        assert_eq!(m.tree_root.as_deref(), Some(Path::new("/mnt/t")));
        assert!(m.resources.is_empty());
        for f in v {
            s.push(f);
        }
        let m = MarkerFile::read(&path).unwrap();
        assert_eq!(m.resources.len(), 3);
        assert_eq!(m.resources[1].describe, "fake bb");
        assert_eq!(
            m.resources[1].items,
            vec![MarkerItem::Mount {
                path: PathBuf::from("/mnt/t/bb"),
                mount_id: 1002,
                fstype: "tmpfs".into(),
                source: "tmpfs".into(),
                recursive: false,
            }]
        );
        s.close_top().unwrap().unwrap();
        let m = MarkerFile::read(&path).unwrap();
        assert_eq!(
            m.resources
                .iter()
                .map(|r| r.describe.as_str())
                .collect::<Vec<_>>(),
            vec!["fake a", "fake bb"]
        );
        // The JSON is what a sweep (or a human) reads.
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"kind\": \"mount\""), "{text}");
        s.close_all().unwrap();
        assert!(!dir.exists(), "marker directory removed at the clean end");
        assert!(sessions.path().exists());
    }

    #[test]
    fn marker_stays_listing_what_failed() {
        let sessions = tempfile::tempdir().unwrap();
        let (v, _log) = fakes(&[("a", false), ("bb", true), ("ccc", false)]);
        let mut s = TeardownStack::new_session(sessions.path(), None).unwrap();
        let path = s.marker().unwrap().path();
        for f in v {
            s.push(f);
        }
        assert!(s.close_all().is_err());
        let m = MarkerFile::read(&path).unwrap();
        assert_eq!(
            m.resources
                .iter()
                .map(|r| r.describe.as_str())
                .collect::<Vec<_>>(),
            vec!["fake bb"]
        );
        drop(s);
        assert!(path.exists(), "still there for the sweep");
    }

    #[test]
    fn owner_with_another_start_time_is_dead() {
        let me = MarkerOwner::current().unwrap();
        assert!(me.alive());
        let reused = MarkerOwner {
            pid: me.pid,
            start_time: me.start_time + 1,
        };
        assert!(!reused.alive());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = proc_stat(pid).map(|s| s.1).unwrap_or(0);
        child.wait().unwrap();
        assert!(!MarkerOwner {
            pid,
            start_time: start
        }
        .alive());
    }

    #[test]
    fn signal_sets_the_flag() {
        install_signal_handlers().unwrap();
        reset_interrupted();
        assert!(check_interrupted().is_ok());
        // One signal only: a second would kill the test process by design.
        // SAFETY: raise on the calling thread; the handler is installed.
        unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(interrupted(), Some(libc::SIGTERM));
        let e = check_interrupted().unwrap_err();
        assert!(e.to_string().contains("SIGTERM"), "{e}");
        reset_interrupted();
        assert_eq!(interrupted(), None);
    }

    #[test]
    fn real_stack_tears_down_a_tree() {
        let Some(t) = Scratch::new("real_stack_tears_down_a_tree") else {
            return;
        };
        let img = t.image("root.img", 64, &["mkfs.ext4", "-q", "-F"]);
        let sessions = t.dir("sessions");
        let tdir = t.dir("tree");
        let mut s = TeardownStack::new_session(&sessions, Some(&tdir)).unwrap();
        let lo = TestLoop::attach(&img);
        let dev = lo.dev.clone();
        s.push(lo);
        s.push(
            MountGuard::mount(
                &MountRequest::fs(&dev, crate::assemble::mount::FsType::Ext4),
                MountTarget::Host(&tdir),
            )
            .unwrap(),
        );
        let root = GuestRoot::open(&tdir).unwrap();
        s.push(
            MountGuard::mount(
                &MountRequest::tmpfs(),
                MountTarget::Guest {
                    root: &root,
                    path: Path::new("/boot"),
                },
            )
            .unwrap(),
        );
        for sm in SystemMount::ALL {
            s.push(
                MountGuard::mount(
                    &MountRequest::system(sm),
                    MountTarget::Guest {
                        root: &root,
                        path: Path::new(sm.path()),
                    },
                )
                .unwrap(),
            );
        }
        drop(root);
        let m = MarkerFile::read(&s.marker().unwrap().path()).unwrap();
        assert_eq!(m.resources.len(), 7);
        assert!(matches!(m.resources[0].items[0], MarkerItem::Loop { .. }));
        let mounts: usize = m
            .items()
            .filter(|i| matches!(i, MarkerItem::Mount { .. }))
            .count();
        assert_eq!(mounts, 6);
        let dir = s.marker().unwrap().dir().to_path_buf();
        s.close_all().unwrap();
        assert!(!dir.exists());
        assert!(!read_mountinfo()
            .unwrap()
            .iter()
            .any(|i| i.mount_point.starts_with(&t.path)));
        t.assert_clean();
    }
}
