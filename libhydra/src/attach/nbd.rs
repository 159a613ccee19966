//! NBD devices from qemu-nbd: the [`NbdDevice`] guard connects one disk image of any qemu format to a free `/dev/nbdN`, owns its partitions, and disconnects it.
//!
//! The kernel path's answer to container formats (qcow2, sparse and
//! streamOptimized VMDK, dynamic VHD, VHDX, multi-extent VMDK): where the
//! userspace path needs a qemu-storage-daemon FUSE export plus a loop device,
//! a kernel with NBD needs one `qemu-nbd --connect`.
//!
//! Connect: pick the lowest `/dev/nbdN` that looks free (`/sys/block/nbdN/size`
//! is 0 and `/sys/block/nbdN/pid` is absent, and no other thread of this
//! process is connecting it), run `qemu-nbd --connect=/dev/nbdN --format=FMT
//! [--read-only] --fork --pid-file=RUNTIME/NAME.nbd.pid IMAGE`, and when
//! another process took the device in between (qemu-nbd fails, or the device
//! shows someone else's connection) try the next one. Then wait until the
//! kernel shows the connection (`pid` present, `size` non-zero) and re-read
//! the partition table with `BLKRRPART`: qemu-nbd's own trigger (an `open()`
//! from a thread of its own) races with the start of the connection and was
//! seen to leave no partitions at all in the emulated VM. The partitions are
//! the kernel's; [`PartitionSet`] checks them against Hydra's scan and adds
//! with BLKPG any the kernel did not make (past `max_part`).
//!
//! `/sys/block/nbdN/pid` is the kernel's record of the thread that runs the
//! connection (a thread of the daemon), not the daemon; the daemon's pid is
//! the pid file's, checked with its start time so that a reused pid is never
//! signalled.
//!
//! Close: partitions first (only those Hydra added), then flush and close our
//! descriptor (the kernel does not reset a device that someone still holds
//! open), `qemu-nbd --disconnect`, wait for the daemon to exit (SIGTERM, then
//! SIGKILL, when it does not), wait until sysfs shows the device free, and
//! re-read the now empty device so that its old partitions (which the kernel
//! keeps after a disconnect until the next re-read) go too.
//!
//! A crash of Hydra leaves the daemon and the connection: the session marker
//! records the daemon, and `hydra-mount sweep` stops it with SIGTERM, on which
//! qemu-nbd closes the connection and exits; the kernel frees the device at its
//! last close (an open descriptor keeps the connection's configuration, so a
//! guard whose daemon was killed under it frees the device when it closes).

use super::partitions::{PartitionNode, PartitionSet};
use super::sys;
use super::AttachError;
use crate::exec::Cmd;
use crate::layout::{ImageFormat, Partition};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `_IO(0x12, 95)`: re-read the partition table of a whole block device.
const BLKRRPART: libc::c_ulong = 0x125F;
/// How many devices to try when other processes race for them.
const CONNECT_TRIES: usize = 8;
/// How long `qemu-nbd --disconnect` and the daemon's exit may take.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the daemon gets after SIGTERM before SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// NBD numbers some thread of this process is connecting or holds.
static CLAIMED: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn claim(n: u32) -> bool {
    CLAIMED.lock().unwrap_or_else(|e| e.into_inner()).insert(n)
}

fn unclaim(n: u32) {
    CLAIMED.lock().unwrap_or_else(|e| e.into_inner()).remove(&n);
}

/// How to connect one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdOptions {
    /// The image's container format (its qemu driver is [`ImageFormat::qemu_driver`]).
    pub format: ImageFormat,
    /// Connect read-only (forced for streamOptimized VMDK).
    pub read_only: bool,
    /// The session's runtime directory: the pid file goes here.
    pub runtime_dir: PathBuf,
    /// Base name of the pid file (`NAME.nbd.pid`), unique in the directory.
    pub name: String,
    /// How long `qemu-nbd --connect` and the kernel's view of it may take.
    pub connect_timeout: Duration,
    /// A note to carry (why the device differs from what was asked).
    pub note: Option<String>,
}

impl NbdOptions {
    /// Options with the default timeout (60 s).
    pub fn new(
        format: ImageFormat,
        read_only: bool,
        runtime_dir: impl Into<PathBuf>,
        name: impl Into<String>,
    ) -> Self {
        NbdOptions {
            format,
            read_only,
            runtime_dir: runtime_dir.into(),
            name: name.into(),
            connect_timeout: Duration::from_secs(60),
            note: None,
        }
    }
}

/// The `qemu-nbd` daemon of a connection: pid and start time (`/proc/PID/stat` field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Daemon {
    pid: u32,
    start_time: u64,
}

impl Daemon {
    fn from_pidfile(path: &Path) -> Option<Daemon> {
        let pid: u32 = fs::read_to_string(path).ok()?.trim().parse().ok()?;
        let (state, start_time) = proc_state(pid)?;
        (state != 'Z').then_some(Daemon { pid, start_time })
    }

    /// Running (same start time, not a zombie).
    fn alive(&self) -> bool {
        matches!(proc_state(self.pid), Some((s, t)) if s != 'Z' && t == self.start_time)
    }
}

/// State and start time of a process, from `/proc/PID/stat`.
fn proc_state(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(19)?.parse().ok()?))
}

/// One image connected to `/dev/nbdN` by a `qemu-nbd` daemon, with its
/// partitions. Disconnect with [`NbdDevice::close`]; dropping it disconnects too
/// (best effort, failures logged).
#[derive(Debug)]
pub struct NbdDevice {
    number: u32,
    path: PathBuf,
    image: PathBuf,
    pidfile: PathBuf,
    daemon: Option<Daemon>,
    read_only: bool,
    note: Option<String>,
    node_created: bool,
    /// Open while connected; `None` once torn down.
    file: Option<File>,
    partitions: Option<PartitionSet>,
    /// qemu-nbd ran (a disconnect is owed).
    connected: bool,
}

impl NbdDevice {
    /// Connect `image` to a free NBD device and set up `parts` (Hydra's scan of
    /// the disk; empty when the format is one the prober cannot read, see
    /// [`NbdDevice::add_partitions`]).
    pub fn connect(
        image: &Path,
        opts: &NbdOptions,
        parts: &[Partition],
    ) -> Result<NbdDevice, AttachError> {
        let mut read_only = opts.read_only;
        let mut note = opts.note.clone();
        if opts.format == ImageFormat::VmdkStreamOptimized && !read_only {
            note = Some(
                "streamOptimized VMDK: qemu cannot rewrite compressed grains in place; \
                 connected read-only (convert the disk to write it)"
                    .into(),
            );
            read_only = true;
        }
        fs::create_dir_all(&opts.runtime_dir)
            .map_err(|e| AttachError::os(&opts.runtime_dir, "create runtime dir", e))?;
        let dir = fs::canonicalize(&opts.runtime_dir)
            .map_err(|e| AttachError::os(&opts.runtime_dir, "resolve runtime dir", e))?;
        let image_abs =
            fs::canonicalize(image).map_err(|e| AttachError::os(image, "resolve image path", e))?;
        let pidfile = dir.join(format!("{}.nbd.pid", opts.name));
        let mut last_busy = None;
        for _ in 0..CONNECT_TRIES {
            let number = free_device(&dir)?;
            let mut dev = NbdDevice {
                number,
                path: PathBuf::from(format!("/dev/nbd{number}")),
                image: image.to_path_buf(),
                pidfile: pidfile.clone(),
                daemon: None,
                read_only,
                note: note.clone(),
                node_created: false,
                file: None,
                partitions: None,
                connected: false,
            };
            // From here on `dev` owns the claim: dropping it unclaims.
            match dev.start(&image_abs, opts.format, opts.connect_timeout) {
                Ok(()) => {}
                Err(Start::Busy(why)) => {
                    tracing::debug!(device = %dev.path.display(), "{why}; trying another device");
                    last_busy = Some(why);
                    continue;
                }
                Err(Start::Failed(e)) => return Err(e),
            }
            dev.wait_connected(opts.connect_timeout)?;
            dev.open_and_rescan()?;
            dev.add_partitions(parts)?;
            tracing::debug!(
                device = %dev.path.display(),
                image = %image.display(),
                format = opts.format.qemu_driver(),
                read_only,
                pid = dev.daemon.map(|d| d.pid),
                "NBD device connected"
            );
            return Ok(dev);
        }
        Err(AttachError::Invalid {
            object: image.to_path_buf(),
            what: format!(
                "no free NBD device after {CONNECT_TRIES} tries (others took them meanwhile); \
                 last: {}",
                last_busy.unwrap_or_default()
            ),
        })
    }

    /// Run `qemu-nbd --connect` on this (claimed) device.
    fn start(&mut self, image: &Path, format: ImageFormat, timeout: Duration) -> Result<(), Start> {
        let name = format!("nbd{}", self.number);
        self.node_created = sys::ensure_dev_node(&name)
            .map_err(|e| Start::Failed(AttachError::os(&self.path, "create device node", e)))?;
        let _ = fs::remove_file(&self.pidfile);
        let mut cmd = Cmd::new("qemu-nbd")
            .arg(format!("--connect={}", self.path.display()))
            .arg(format!("--format={}", format.qemu_driver()));
        if self.read_only {
            cmd = cmd.arg("--read-only");
        }
        let cmd = cmd
            .arg("--fork")
            .arg(format!("--pid-file={}", self.pidfile.display()))
            .arg(image)
            .describe(format!(
                "connect {} to {} with qemu-nbd",
                image.display(),
                self.path.display()
            ))
            .timeout(timeout)
            .keep_background();
        match cmd.run() {
            Ok(_) => {
                self.connected = true;
                self.daemon = Daemon::from_pidfile(&self.pidfile);
                Ok(())
            }
            Err(e) => {
                // A daemon that got as far as its pid file is ours to stop (with
                // SIGTERM, on which it disconnects what it connected); the device
                // itself may be another process's, so no `--disconnect`.
                self.daemon = Daemon::from_pidfile(&self.pidfile);
                let taken = self.daemon.is_none() && !device_free(self.number);
                let text = e.to_string();
                if taken || text.contains("busy") || text.contains("NBD socket") {
                    Err(Start::Busy(text))
                } else {
                    Err(Start::Failed(AttachError::Invalid {
                        object: self.path.clone(),
                        what: text,
                    }))
                }
            }
        }
    }

    /// Wait until the kernel shows the connection and the daemon's pid file is there.
    fn wait_connected(&mut self, timeout: Duration) -> Result<(), AttachError> {
        let name = format!("nbd{}", self.number);
        let start = Instant::now();
        loop {
            if self.daemon.is_none() {
                self.daemon = Daemon::from_pidfile(&self.pidfile);
            }
            let up = Path::new(&format!("/sys/block/{name}/pid")).exists()
                && sys::sysfs_block_u64(&name, "size").unwrap_or(0) > 0;
            if up && self.daemon.is_some() {
                tracing::debug!(
                    device = %self.path.display(),
                    ms = start.elapsed().as_millis() as u64,
                    "NBD connection up"
                );
                return Ok(());
            }
            if let Some(d) = self.daemon {
                if !d.alive() {
                    return Err(AttachError::Invalid {
                        object: self.path.clone(),
                        what: format!("qemu-nbd (pid {}) exited before the device came up", d.pid),
                    });
                }
            }
            if start.elapsed() >= timeout {
                return Err(AttachError::Timeout {
                    object: self.path.clone(),
                    what: "the NBD connection to show in sysfs (pid and size) and qemu-nbd's \
                           pid file"
                        .into(),
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Open the device and make the kernel scan its partition table now.
    fn open_and_rescan(&mut self) -> Result<(), AttachError> {
        let file = open_block(&self.path).map_err(|e| AttachError::os(&self.path, "open", e))?;
        let mut tries = 0;
        loop {
            match sys::ioctl_int(&file, BLKRRPART, 0) {
                Ok(_) => break,
                Err(e) if sys::is_busy(&e) && tries < 10 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                // A kernel without partition parsers still answers; anything
                // else means no scan: BLKPG fills in from Hydra's scan.
                Err(e) => {
                    tracing::debug!(device = %self.path.display(), error = %e, "BLKRRPART failed");
                    break;
                }
            }
        }
        self.file = Some(file);
        Ok(())
    }

    /// Check the kernel's partitions against Hydra's scan of this device and add
    /// the missing ones (see [`PartitionSet::add`]). Calling it again after
    /// partitions were set up is an error; after an empty call it is allowed
    /// (a format the prober cannot read is scanned once connected).
    pub fn add_partitions(&mut self, parts: &[Partition]) -> Result<(), AttachError> {
        if self
            .partitions
            .as_ref()
            .is_some_and(|p| !p.nodes().is_empty())
        {
            return Err(AttachError::Invalid {
                object: self.path.clone(),
                what: "partitions were already set up".into(),
            });
        }
        let file = self.file.as_ref().ok_or_else(|| AttachError::Invalid {
            object: self.path.clone(),
            what: "not connected".into(),
        })?;
        let set = PartitionSet::add(file, &self.path, &self.name(), parts)?;
        self.partitions = Some(set);
        Ok(())
    }

    /// The device node, `/dev/nbdN`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The NBD number N.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The kernel name, `nbdN`.
    pub fn name(&self) -> String {
        format!("nbd{}", self.number)
    }

    /// The image given to [`NbdDevice::connect`].
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// Whether the device is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Why the device differs from what was asked (forced read-only), if it does.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The `qemu-nbd` daemon's pid, while connected.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.map(|d| d.pid)
    }

    /// Size of the device in bytes (from sysfs).
    pub fn size(&self) -> Result<u64, AttachError> {
        sys::sysfs_block_u64(&self.name(), "size")
            .map(|s| s * 512)
            .map_err(|e| AttachError::os(&self.path, "read size from sysfs", e))
    }

    /// The node of partition `number`, if set up.
    pub fn partition_path(&self, number: u32) -> Option<PathBuf> {
        self.partitions
            .as_ref()?
            .path(number)
            .map(Path::to_path_buf)
    }

    /// Every partition set up, in scan order.
    pub fn partitions(&self) -> &[PartitionNode] {
        self.partitions
            .as_ref()
            .map(PartitionSet::nodes)
            .unwrap_or(&[])
    }

    /// Disconnect: partitions, flush, `qemu-nbd --disconnect`, the daemon's exit,
    /// the device free in sysfs. Reports every failure.
    pub fn close(mut self) -> Result<(), AttachError> {
        self.teardown()
    }

    /// Leave the device connected but let go of it: keep the daemon and the
    /// partitions, close our descriptors (`hydra-mount mount`).
    pub fn release(mut self) {
        if let Some(p) = self.partitions.take() {
            p.release();
        }
        drop(self.file.take());
        std::mem::forget(self);
    }

    /// Idempotent teardown shared by `close` and `Drop`.
    fn teardown(&mut self) -> Result<(), AttachError> {
        let mut errors = Vec::new();
        if let Some(p) = self.partitions.take() {
            if let Err(e) = p.close() {
                errors.push(e);
            }
        }
        let daemon_gone = self.connected && !self.daemon.is_some_and(|d| d.alive());
        if daemon_gone && !self.read_only {
            errors.push(AttachError::Invalid {
                object: self.path.clone(),
                what: "qemu-nbd exited before the disconnect: writes not yet flushed may be lost"
                    .into(),
            });
        }
        if let Some(file) = self.file.take().filter(|_| !daemon_gone) {
            // SAFETY: the fd is valid while `file` lives.
            if unsafe { libc::fsync(file.as_raw_fd()) } != 0 {
                errors.push(AttachError::os(
                    &self.path,
                    "fsync",
                    io::Error::last_os_error(),
                ));
            }
            if let Err(e) = sys::ioctl_int(&file, sys::BLKFLSBUF, 0) {
                errors.push(AttachError::os(&self.path, "BLKFLSBUF", e));
            }
        }
        if self.connected {
            errors.extend(self.disconnect());
            self.connected = false;
        } else if let Some(d) = self.daemon.take() {
            // A failed connect whose daemon still runs.
            if let Err(e) = stop_daemon(d, &self.path, Duration::ZERO) {
                errors.push(e);
            }
        }
        if self.node_created {
            if let Err(e) = sys::remove_dev_node(&self.path) {
                errors.push(AttachError::os(&self.path, "remove device node", e));
            }
            self.node_created = false;
        }
        if let Err(e) = fs::remove_file(&self.pidfile) {
            if e.kind() != io::ErrorKind::NotFound {
                errors.push(AttachError::os(&self.pidfile, "remove", e));
            }
        }
        unclaim(self.number);
        AttachError::collect(errors)
    }

    fn disconnect(&mut self) -> Vec<AttachError> {
        let mut errors = Vec::new();
        // A daemon stopped from outside (SIGTERM) has disconnected already.
        let gone = !self.daemon.is_some_and(|d| d.alive()) && device_free(self.number);
        if !gone {
            let r = Cmd::new("qemu-nbd")
                .arg("--disconnect")
                .arg(&self.path)
                .describe(format!("disconnect {}", self.path.display()))
                .timeout(DISCONNECT_TIMEOUT)
                .run();
            if let Err(e) = r {
                errors.push(AttachError::Invalid {
                    object: self.path.clone(),
                    what: e.to_string(),
                });
            }
        }
        if let Some(d) = self.daemon.take() {
            if let Err(e) = stop_daemon(d, &self.path, DISCONNECT_TIMEOUT) {
                errors.push(e);
            }
        }
        let name = self.name();
        let start = Instant::now();
        while !device_free(self.number) {
            if start.elapsed() >= DISCONNECT_TIMEOUT {
                errors.push(AttachError::Timeout {
                    object: self.path.clone(),
                    what: "the device to show free in sysfs after the disconnect".into(),
                    waited: DISCONNECT_TIMEOUT,
                });
                return errors;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The kernel keeps the old partitions of a disconnected device until the
        // next re-read: drop them now, so nothing stale names this device.
        if fs::read_dir(format!("/sys/block/{name}"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&name))
            })
            .unwrap_or(false)
        {
            match open_block(&self.path).and_then(|f| sys::ioctl_int(&f, BLKRRPART, 0)) {
                Ok(_) => {}
                Err(e) => tracing::debug!(device = %self.path.display(), error = %e,
                    "re-read of the disconnected device failed"),
            }
        }
        errors
    }
}

impl Drop for NbdDevice {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(device = %self.path.display(), error = %e, "NBD teardown failed");
        }
    }
}

/// Why one connect attempt did not work.
enum Start {
    /// Another process has the device: try the next.
    Busy(String),
    /// A real failure.
    Failed(AttachError),
}

/// Whether `/dev/nbdN` looks free: size 0 and no connection pid in sysfs.
fn device_free(n: u32) -> bool {
    let name = format!("nbd{n}");
    !Path::new(&format!("/sys/block/{name}/pid")).exists()
        && sys::sysfs_block_u64(&name, "size").is_ok_and(|s| s == 0)
}

/// The lowest NBD number that looks free and is not claimed by this process; claims it.
fn free_device(runtime_dir: &Path) -> Result<u32, AttachError> {
    let mut numbers: Vec<u32> = fs::read_dir("/sys/block")
        .map_err(|e| AttachError::os(Path::new("/sys/block"), "list", e))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("nbd")?
                .parse::<u32>()
                .ok()
        })
        .collect();
    numbers.sort_unstable();
    if numbers.is_empty() {
        return Err(AttachError::Invalid {
            object: PathBuf::from("/sys/block/nbd0"),
            what: "no NBD devices (is the nbd module loaded?)".into(),
        });
    }
    for n in &numbers {
        if device_free(*n) && claim(*n) {
            // Checked again after claiming: another thread may have just released it
            // while a third connected it.
            if device_free(*n) {
                return Ok(*n);
            }
            unclaim(*n);
        }
    }
    Err(AttachError::Invalid {
        object: runtime_dir.to_path_buf(),
        what: format!(
            "all {} NBD devices are in use (load nbd with a larger nbds_max)",
            numbers.len()
        ),
    })
}

/// Open a block device read-write, or read-only when writes are refused.
fn open_block(path: &Path) -> io::Result<File> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::EACCES)) => {
            File::open(path)
        }
        r => r,
    }
}

/// Wait up to `grace` for the daemon to exit (after a disconnect); then SIGTERM,
/// then SIGKILL. A daemon that needed a signal after a grace period is reported.
fn stop_daemon(d: Daemon, device: &Path, grace: Duration) -> Result<(), AttachError> {
    let wait = |limit: Duration| {
        let start = Instant::now();
        while d.alive() {
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    };
    if wait(grace) {
        return Ok(());
    }
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")] {
        if !d.alive() {
            break;
        }
        // SAFETY: plain syscall; `alive` checked the start time just before, so
        // the pid is still the daemon's.
        unsafe { libc::kill(d.pid as libc::pid_t, sig) };
        if wait(KILL_TIMEOUT) {
            if grace.is_zero() && sig == libc::SIGTERM {
                return Ok(());
            }
            return Err(AttachError::Invalid {
                object: device.to_path_buf(),
                what: format!(
                    "qemu-nbd (pid {}) did not exit after the disconnect; stopped with {name}",
                    d.pid
                ),
            });
        }
    }
    Err(AttachError::Timeout {
        object: device.to_path_buf(),
        what: format!("qemu-nbd (pid {}) to exit, even after SIGKILL", d.pid),
        waited: grace + 2 * KILL_TIMEOUT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_state_reads_this_process() {
        let (state, start) = proc_state(std::process::id()).unwrap();
        assert!(matches!(state, 'R' | 'S'), "{state}");
        assert!(start > 0);
        assert!(proc_state(u32::MAX).is_none());
    }

    #[test]
    fn claims_are_exclusive() {
        let n = 1_000_000 + std::process::id();
        assert!(claim(n));
        assert!(!claim(n));
        unclaim(n);
        assert!(claim(n));
        unclaim(n);
    }

    #[test]
    fn a_pidfile_of_a_dead_or_odd_process_is_no_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.nbd.pid");
        assert_eq!(Daemon::from_pidfile(&p), None);
        fs::write(&p, "not a pid\n").unwrap();
        assert_eq!(Daemon::from_pidfile(&p), None);
        fs::write(&p, format!("{}\n", std::process::id())).unwrap();
        let d = Daemon::from_pidfile(&p).unwrap();
        assert!(d.alive());
        let other = Daemon {
            start_time: d.start_time + 1,
            ..d
        };
        assert!(!other.alive(), "a reused pid is not the daemon");
    }
}
