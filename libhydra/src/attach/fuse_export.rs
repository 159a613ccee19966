//! qemu-storage-daemon FUSE exports: the [`QsdExport`] guard runs one daemon that shows a disk image of any qemu format as a raw regular file, and stops it.
//!
//! This kernel has no NBD, so images Hydra cannot loop directly (qcow2, sparse
//! VMDK, dynamic VHD, VHDX, multi-extent VMDK) are exported by
//! `qemu-storage-daemon` through FUSE onto a regular file in the session's
//! runtime directory, and a loop device goes on that file.
//!
//! The daemon is a direct child (no `--daemonize`) so it can be waited on, in
//! its own process group so that a Ctrl-C meant for Hydra does not kill it
//! before the loop device on its export is gone.
//!
//! Teardown: the loop device on the export must be gone first (checked in
//! sysfs; else the daemon is left running and the error says so). Then
//! SIGTERM: the daemon removes its `/dev/fuse` handler, unmounts the export
//! itself (libfuse as root: `umount2(MNT_DETACH)`), flushes and closes the
//! image, and exits 0 (3-15 ms here). A mount still there afterwards (daemon
//! killed or crashed) is unmounted with `umount2`.
//!
//! Why not `umount` first, as MACHINE.md suggests: measured on this machine
//! (qemu 10.0.2, libfuse 3.14), after an external unmount libfuse reports the
//! aborted connection as a 0-byte read, and qemu 10.0 then processes its
//! stale request buffer again, forever: the daemon spins at 100% CPU
//! replaying its last request, and when that request is a read that waits for
//! I/O, the replay nests in `blk_pread`'s `aio_poll` until the stack
//! overflows (SIGSEGV with ~9000 nested `blk_pread` frames in a core dump;
//! 4 of 24 runs of a streamOptimized export under parallel load). SIGTERM
//! first exits cleanly and leaves no stale mount.

use super::AttachError;
use crate::layout::ImageFormat;
use serde_json::json;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon binary.
const QSD: &str = "qemu-storage-daemon";
/// How long the daemon may take to stop after SIGTERM before SIGKILL (it takes ~1.5 s here).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// `umount` retries on `EBUSY`.
const UMOUNT_TRIES: usize = 20;
/// How much of the daemon's stderr goes into errors.
const STDERR_TAIL: u64 = 2000;

/// How to export one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The image's container format (its qemu driver is [`ImageFormat::qemu_driver`]).
    pub format: ImageFormat,
    /// Export read-only (forced for streamOptimized VMDK).
    pub read_only: bool,
    /// The session's runtime directory: the export file, pid file and log go here.
    pub runtime_dir: PathBuf,
    /// Base name of those files (`NAME.raw`, `NAME.pid`, `NAME.log`), unique in the directory.
    pub name: String,
    /// How long to wait for the FUSE mount to appear.
    pub start_timeout: Duration,
}

impl ExportOptions {
    /// Options with the default start timeout (10 s).
    pub fn new(
        format: ImageFormat,
        read_only: bool,
        runtime_dir: impl Into<PathBuf>,
        name: impl Into<String>,
    ) -> Self {
        ExportOptions {
            format,
            read_only,
            runtime_dir: runtime_dir.into(),
            name: name.into(),
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// A running qemu-storage-daemon exporting one image as a raw file through FUSE.
/// Stop it with [`QsdExport::close`]; dropping it stops it too (best effort, failures logged).
#[derive(Debug)]
pub struct QsdExport {
    image: PathBuf,
    mountpoint: PathBuf,
    pidfile: PathBuf,
    logfile: PathBuf,
    read_only: bool,
    note: Option<String>,
    child: Option<Child>,
    file_created: bool,
}

impl QsdExport {
    /// Start the daemon on `image` and wait until its FUSE export is mounted.
    pub fn start(image: &Path, opts: &ExportOptions) -> Result<QsdExport, AttachError> {
        let mut read_only = opts.read_only;
        let mut note = None;
        if opts.format == ImageFormat::VmdkStreamOptimized && !read_only {
            let msg = "streamOptimized VMDK: qemu cannot rewrite compressed grains in place; \
                       exported read-only (convert the disk to write it)";
            tracing::warn!(image = %image.display(), "{msg}");
            note = Some(msg.to_string());
            read_only = true;
        }
        fs::create_dir_all(&opts.runtime_dir)
            .map_err(|e| AttachError::os(&opts.runtime_dir, "create runtime dir", e))?;
        let dir = fs::canonicalize(&opts.runtime_dir)
            .map_err(|e| AttachError::os(&opts.runtime_dir, "resolve runtime dir", e))?;
        let image_abs =
            fs::canonicalize(image).map_err(|e| AttachError::os(image, "resolve image path", e))?;
        let mountpoint = dir.join(format!("{}.raw", opts.name));
        let pidfile = dir.join(format!("{}.pid", opts.name));
        let logfile = dir.join(format!("{}.log", opts.name));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&mountpoint)
            .map_err(|e| {
                AttachError::os(
                    &mountpoint,
                    "create the export file (left over from an earlier run?)",
                    e,
                )
            })?;
        let mut guard = QsdExport {
            image: image.to_path_buf(),
            mountpoint,
            pidfile,
            logfile,
            read_only,
            note,
            child: None,
            file_created: true,
        };
        let log = File::create(&guard.logfile)
            .map_err(|e| AttachError::os(&guard.logfile, "create daemon log", e))?;
        let is_block = fs::metadata(&image_abs)
            .map(|m| m.file_type().is_block_device())
            .unwrap_or(false);
        let protocol = if is_block { "host_device" } else { "file" };
        let args = qsd_args(
            protocol,
            &image_abs,
            opts.format.qemu_driver(),
            &guard.mountpoint,
            &guard.pidfile,
            read_only,
        );
        tracing::debug!(image = %image.display(), ?args, "starting qemu-storage-daemon");
        // TODO(exec): spawn through the `exec/` module once it lands (one place spawns processes).
        let child = Command::new(QSD)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| AttachError::os(Path::new(QSD), "spawn", e))?;
        guard.child = Some(child);
        guard.wait_mounted(opts.start_timeout)?;
        Ok(guard)
    }

    /// The exported raw disk: a regular file with the FUSE mount on it.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// The image being exported.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// Whether the export is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Why the export differs from what was asked (forced read-only), if it does.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Size of the exported disk in bytes.
    pub fn size(&self) -> Result<u64, AttachError> {
        fs::metadata(&self.mountpoint)
            .map(|m| m.len())
            .map_err(|e| AttachError::os(&self.mountpoint, "stat export", e))
    }

    fn wait_mounted(&mut self, timeout: Duration) -> Result<(), AttachError> {
        let start = Instant::now();
        loop {
            match mount_fstype(&self.mountpoint) {
                Ok(Some(t)) if t.starts_with("fuse") => {
                    tracing::debug!(
                        export = %self.mountpoint.display(),
                        ms = start.elapsed().as_millis() as u64,
                        "FUSE export mounted"
                    );
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(AttachError::os(
                        Path::new("/proc/self/mountinfo"),
                        "read",
                        e,
                    ))
                }
            }
            let child = self.child.as_mut().expect("spawned");
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Err(AttachError::Daemon {
                        image: self.image.clone(),
                        what: format!("exited ({status}) before its export appeared"),
                        stderr: tail(&self.logfile),
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(AttachError::os(Path::new(QSD), "wait", e)),
            }
            if start.elapsed() >= timeout {
                return Err(AttachError::Timeout {
                    object: self.mountpoint.clone(),
                    what: format!(
                        "{QSD}: FUSE export to appear; stderr: {}",
                        tail(&self.logfile)
                    ),
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stop the daemon (SIGTERM: it unmounts its export), unmount a mount left
    /// stale, remove the files. Refuses while a loop device is still bound to the
    /// export (the daemon is then left running). Reports every failure.
    pub fn close(mut self) -> Result<(), AttachError> {
        self.teardown()
    }

    /// Idempotent teardown shared by `close` and `Drop`.
    fn teardown(&mut self) -> Result<(), AttachError> {
        let mut errors = Vec::new();
        if let Some(child) = self.child.take() {
            // Stopping the daemon under a loop device still bound to the
            // export would turn that device's (maybe mounted) I/O into errors:
            // leave it running and say so.
            let users = loop_users(&self.mountpoint);
            if !users.is_empty() {
                let pid = child.id();
                self.child = Some(child);
                return Err(AttachError::Invalid {
                    object: self.mountpoint.clone(),
                    what: format!(
                        "export still backs {}: detach it first; {QSD} pid {pid} left running",
                        users.join(", ")
                    ),
                });
            }
            // SIGTERM first: the daemon drops its FUSE handler, then unmounts
            // the export itself. Unmounting first makes qemu 10.0 replay its
            // last request forever (libfuse reports the unmount as a 0-byte
            // read) and crash on a recursion overflow (see the module docs).
            match stop_child(child, &self.image, &self.logfile) {
                // A read-only export that had to be killed loses nothing (no
                // writes to flush); if its mount is gone below, that is all
                // the teardown needs. Read-write: an error, the writes matter.
                Err(e @ AttachError::Timeout { .. }) if self.read_only => {
                    tracing::warn!(image = %self.image.display(), "read-only export: {e}");
                }
                Err(e) => errors.push(e),
                Ok(()) => {}
            }
        }
        // A daemon that was killed or crashed leaves a stale mount: remove it.
        if let Err(e) = self.unmount() {
            errors.push(e);
        }
        if self.file_created {
            for f in [&self.mountpoint, &self.pidfile] {
                if let Err(e) = fs::remove_file(f) {
                    if e.kind() != io::ErrorKind::NotFound {
                        errors.push(AttachError::os(f, "remove", e));
                    }
                }
            }
            if errors.is_empty() {
                let _ = fs::remove_file(&self.logfile);
            }
            self.file_created = false;
        }
        AttachError::collect(errors)
    }

    /// `umount2` the export if it is mounted; `EBUSY` retried, then detached lazily and reported.
    fn unmount(&self) -> Result<(), AttachError> {
        let mp = &self.mountpoint;
        match mount_fstype(mp) {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(AttachError::os(
                    Path::new("/proc/self/mountinfo"),
                    "read",
                    e,
                ))
            }
        }
        let c = std::ffi::CString::new(mp.as_os_str().as_bytes()).map_err(|e| {
            AttachError::os(mp, "umount", io::Error::new(io::ErrorKind::InvalidInput, e))
        })?;
        let mut tries = 0;
        loop {
            // SAFETY: `c` is a valid NUL-terminated path.
            if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINVAL) | Some(libc::ENOENT) => return Ok(()),
                Some(libc::EBUSY) if tries + 1 < UMOUNT_TRIES => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Some(libc::EBUSY) => {
                    // Still in use (a loop device on it?): detach it from the
                    // tree so nothing stale stays visible, and say so.
                    // SAFETY: as above.
                    let lazy = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0;
                    return Err(AttachError::os(
                        mp,
                        if lazy {
                            "umount: busy (is a loop device still on it?); detached lazily"
                        } else {
                            "umount: busy (is a loop device still on it?)"
                        },
                        e,
                    ));
                }
                _ => return Err(AttachError::os(mp, "umount", e)),
            }
        }
    }
}

impl Drop for QsdExport {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(export = %self.mountpoint.display(), error = %e, "FUSE export teardown failed");
        }
    }
}

/// The daemon's arguments (JSON option syntax: no comma escaping of paths).
fn qsd_args(
    protocol: &str,
    image: &Path,
    format_driver: &str,
    mountpoint: &Path,
    pidfile: &Path,
    read_only: bool,
) -> Vec<String> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    vec![
        "--blockdev".into(),
        json!({"driver": protocol, "node-name": "f0", "filename": path(image), "read-only": read_only})
            .to_string(),
        "--blockdev".into(),
        json!({"driver": format_driver, "node-name": "d0", "file": "f0", "read-only": read_only})
            .to_string(),
        "--export".into(),
        json!({"type": "fuse", "id": "e0", "node-name": "d0",
               "mountpoint": path(mountpoint), "writable": !read_only})
        .to_string(),
        "--pidfile".into(),
        path(pidfile),
    ]
}

/// The loop devices (`loopN`) whose backing file is `file`, from sysfs.
fn loop_users(file: &Path) -> Vec<String> {
    let want = file.as_os_str().as_bytes();
    let Ok(dir) = fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut users: Vec<String> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let b = fs::read(e.path().join("loop/backing_file")).ok()?;
            (b.strip_suffix(b"\n").unwrap_or(&b) == want).then_some(name)
        })
        .collect();
    users.sort();
    users
}

/// SIGTERM, wait up to [`STOP_TIMEOUT`], then SIGKILL; reports an unclean exit.
fn stop_child(mut child: Child, image: &Path, logfile: &Path) -> Result<(), AttachError> {
    let pid = child.id() as libc::pid_t;
    if let Ok(Some(status)) = child.try_wait() {
        return Err(AttachError::Daemon {
            image: image.to_path_buf(),
            what: format!("had already exited ({status}) before teardown"),
            stderr: tail(logfile),
        });
    }
    // SAFETY: `pid` is our unreaped child, so the id cannot have been reused.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt;
                return if status.success() || status.signal() == Some(libc::SIGTERM) {
                    tracing::debug!(
                        pid,
                        ms = start.elapsed().as_millis() as u64,
                        "qemu-storage-daemon stopped"
                    );
                    Ok(())
                } else {
                    Err(AttachError::Daemon {
                        image: image.to_path_buf(),
                        what: format!("exited uncleanly on SIGTERM ({status})"),
                        stderr: tail(logfile),
                    })
                };
            }
            Ok(None) if start.elapsed() < STOP_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AttachError::Timeout {
                    object: image.to_path_buf(),
                    what: format!("{QSD} pid {pid} to stop on SIGTERM (killed)"),
                    waited: STOP_TIMEOUT,
                });
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AttachError::os(Path::new(QSD), "wait", e));
            }
        }
    }
}

/// The last [`STDERR_TAIL`] bytes of a log file, trimmed.
fn tail(path: &Path) -> String {
    let mut out = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(STDERR_TAIL)));
        let _ = f.read_to_end(&mut out);
    }
    String::from_utf8_lossy(&out).trim().to_string()
}

/// The filesystem type mounted on `mountpoint` (the topmost), from `/proc/self/mountinfo`.
pub(crate) fn mount_fstype(mountpoint: &Path) -> io::Result<Option<String>> {
    let text = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(crate::format::mountinfo::parse(&text)
        .into_iter()
        .rfind(|m| m.mount_point == mountpoint)
        .map(|m| m.fstype))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::testutil::{self as tu, root};
    use crate::attach::{attach_disk, AttachOptions};

    #[test]
    fn args_are_json_and_read_only_consistent() {
        let a = qsd_args(
            "file",
            Path::new("/i,mg"),
            "qcow2",
            Path::new("/r/d0.raw"),
            Path::new("/r/d0.pid"),
            true,
        );
        assert_eq!(a[0], "--blockdev");
        let f0: serde_json::Value = serde_json::from_str(&a[1]).unwrap();
        assert_eq!(f0["filename"], "/i,mg");
        assert_eq!(f0["read-only"], true);
        let e: serde_json::Value = serde_json::from_str(&a[5]).unwrap();
        assert_eq!(e["type"], "fuse");
        assert_eq!(e["writable"], false);
        assert_eq!(a[7], "/r/d0.pid");
    }

    /// Attach a converted image through the export, write through the loop
    /// partition, detach, convert back to raw and find the bytes.
    fn writes_persist(fmt: ImageFormat, qemu_fmt: &str, qemu_opts: &[&str], test: &str) {
        if !root(test) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("src.raw");
        let parts = tu::gpt_image(&raw);
        let img = dir.path().join(format!("disk.{qemu_fmt}"));
        tu::qemu_convert(&raw, "raw", &img, qemu_fmt, qemu_opts);
        let d = tu::disk(0, &img, fmt, 64 << 20, 512, parts.clone());
        let opts = AttachOptions {
            read_only: false,
            runtime_dir: dir.path().join("run"),
        };
        let t = Instant::now();
        let att = attach_disk(&img, &d, &opts).unwrap();
        let attach_time = t.elapsed();
        let export = att.export().expect("went through a FUSE export");
        assert!(!export.read_only());
        assert_eq!(export.size().unwrap(), 64 << 20);
        assert!(att.notes().is_empty(), "{:?}", att.notes());
        assert_eq!(
            tu::blkid_uuid(&att.partition_path(2).unwrap()),
            tu::EXT4_UUID
        );
        let data = tu::pattern(42, 128 << 10);
        tu::write_dev(&att.partition_path(3).unwrap(), 1 << 20, &data);
        let t = Instant::now();
        att.close().unwrap();
        let detach_time = t.elapsed();
        eprintln!("measured: {qemu_fmt} attach (qsd + loop + 3 partitions) {attach_time:?}, detach {detach_time:?}");
        tu::assert_no_leaks(dir.path());
        let back = dir.path().join("back.raw");
        tu::qemu_convert(&img, qemu_fmt, &back, "raw", &[]);
        assert_eq!(
            tu::read_file_at(&back, parts[2].offset + (1 << 20), data.len()),
            data
        );
        let left: Vec<_> = fs::read_dir(dir.path().join("run"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "runtime dir not cleaned: {left:?}");
    }

    #[test]
    fn qcow2_writes_persist() {
        writes_persist(ImageFormat::Qcow2, "qcow2", &[], "qcow2_writes_persist");
    }

    #[test]
    fn vhd_dynamic_writes_persist() {
        writes_persist(
            ImageFormat::VhdDynamic,
            "vpc",
            &["-o", "subformat=dynamic,force_size=on"],
            "vhd_dynamic_writes_persist",
        );
    }

    #[test]
    fn vhdx_writes_persist() {
        writes_persist(ImageFormat::Vhdx, "vhdx", &[], "vhdx_writes_persist");
    }

    #[test]
    fn stream_optimized_vmdk_is_read_only_with_a_note() {
        if !root("stream_optimized_vmdk_is_read_only_with_a_note") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("src.raw");
        let parts = tu::gpt_image(&raw);
        let img = dir.path().join("so.vmdk");
        tu::qemu_convert(
            &raw,
            "raw",
            &img,
            "vmdk",
            &["-o", "subformat=streamOptimized"],
        );
        let d = tu::disk(
            0,
            &img,
            ImageFormat::VmdkStreamOptimized,
            64 << 20,
            512,
            parts,
        );
        let opts = AttachOptions {
            read_only: false,
            runtime_dir: dir.path().join("run"),
        };
        let att = attach_disk(&img, &d, &opts).unwrap();
        assert!(att.read_only());
        assert!(att.export().unwrap().read_only());
        assert!(
            att.notes().iter().any(|n| n.contains("streamOptimized")),
            "{:?}",
            att.notes()
        );
        let p2 = att.partition_path(2).unwrap();
        assert_eq!(tu::blkid_uuid(&p2), tu::EXT4_UUID);
        tu::assert_write_refused(&p2);
        att.close().unwrap();
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn a_daemon_that_fails_is_reported_and_cleaned_up() {
        if !root("a_daemon_that_fails_is_reported_and_cleaned_up") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("not-qcow2.img");
        tu::sparse(&img, 1 << 20);
        let run = dir.path().join("run");
        let err = QsdExport::start(
            &img,
            &ExportOptions::new(ImageFormat::Qcow2, false, &run, "d0"),
        )
        .unwrap_err();
        match &err {
            AttachError::Daemon { stderr, .. } => assert!(!stderr.is_empty(), "{err}"),
            e => panic!("want a daemon error, got {e}"),
        }
        assert!(!run.join("d0.raw").exists());
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn export_file_left_over_is_an_error_not_reused() {
        if !root("export_file_left_over_is_an_error_not_reused") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        fs::create_dir_all(&run).unwrap();
        fs::write(run.join("d0.raw"), b"").unwrap();
        let img = dir.path().join("a.qcow2");
        tu::run(
            "qemu-img",
            &["create", "-q", "-f", "qcow2", img.to_str().unwrap(), "8M"],
        );
        let err = QsdExport::start(
            &img,
            &ExportOptions::new(ImageFormat::Qcow2, false, &run, "d0"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("left over"), "{err}");
        assert!(run.join("d0.raw").exists(), "not ours: left alone");
        tu::assert_no_leaks(dir.path());
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;
    use crate::attach::testutil::{self as tu, root};
    use crate::attach::{LoopDevice, LoopOptions};

    #[test]
    fn export_under_a_bound_loop_is_not_stopped() {
        if !root("export_under_a_bound_loop_is_not_stopped") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("a.qcow2");
        tu::run(
            "qemu-img",
            &["create", "-q", "-f", "qcow2", img.to_str().unwrap(), "16M"],
        );
        let run = dir.path().join("run");
        let mut exp = QsdExport::start(
            &img,
            &ExportOptions::new(ImageFormat::Qcow2, false, &run, "d0"),
        )
        .unwrap();
        let dev = LoopDevice::attach(exp.path(), &LoopOptions::default()).unwrap();
        let err = exp.teardown().unwrap_err();
        assert!(err.to_string().contains(&dev.name()), "{err}");
        assert!(exp.pid().is_some(), "still running");
        let data = tu::pattern(1, 4096);
        tu::write_dev(dev.path(), 0, &data);
        dev.close().unwrap();
        let t = Instant::now();
        exp.close().unwrap();
        eprintln!(
            "measured: qsd stop (SIGTERM, self-unmount, exit) {:?}",
            t.elapsed()
        );
        tu::assert_no_leaks(dir.path());
        let back = dir.path().join("back.raw");
        tu::qemu_convert(&img, "qcow2", &back, "raw", &[]);
        assert_eq!(tu::read_file_at(&back, 0, 4096), data);
    }
}
