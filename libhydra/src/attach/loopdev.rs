//! Loop devices from ioctls: the [`LoopDevice`] guard owns one bound loop device, the `/dev` node it made, and the partitions added on it.
//!
//! Binding: `LOOP_CTL_GET_FREE` on `/dev/loop-control`, open `/dev/loopN`
//! (making the node from `/sys/block/loopN/dev` when it is missing), then
//! `LOOP_CONFIGURE` with offset, size limit, flags and logical block size
//! (`LOOP_SET_FD` + `LOOP_SET_STATUS64` + `LOOP_SET_BLOCK_SIZE` on kernels
//! before 5.8). Another process may bind the same free number between the two
//! calls: `EBUSY` then means "ask again".
//!
//! Flags, measured on this kernel (6.18, see the tests):
//! - `LO_FLAGS_AUTOCLEAR` is set. The kernel detaches the device when its last
//!   opener closes; partitions added with BLKPG do not hold it open (only an
//!   open or a mount of a partition does). So a crashed process leaks nothing,
//!   and a guard dropped while a partition is still mounted detaches when that
//!   mount goes (the measured detach after the last close: ~15 µs).
//!   On this kernel `LOOP_CLR_FD` itself only sets this flag when another
//!   opener exists (it returned 0, not `EBUSY`, with a second fd open; the
//!   detach came at that fd's close), so [`LoopDevice::close`] closes its fd,
//!   waits up to 3 s for sysfs to show the device unbound, and reports a
//!   device someone else still holds. `EBUSY` is still retried for older
//!   kernels. A qemu-storage-daemon under a loop device is not covered by
//!   this: it survives a crash of Hydra (see [`super::fuse_export`]).
//! - `LO_FLAGS_PARTSCAN` is set: with it the kernel drops the partitions of
//!   the device on detach; without it BLKPG partitions would outlive the
//!   binding and break the next user of the number (MACHINE.md). On a kernel
//!   with partition parsers it also makes the kernel create them at bind time,
//!   which [`super::partitions`] checks against the scan.

use super::partitions::PartitionSet;
use super::sys;
use super::AttachError;
use crate::layout::Partition;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many free numbers to try when other processes race for them.
const BIND_TRIES: usize = 16;
/// `EBUSY` retries of `LOOP_CLR_FD` (older kernels) and partition removal.
pub(crate) const BUSY_TRIES: usize = 10;
/// Sleep between `EBUSY` retries.
pub(crate) const BUSY_SLEEP: Duration = Duration::from_millis(100);
/// How long to wait for the kernel to show the device unbound after the last close.
const UNBIND_WAIT: Duration = Duration::from_secs(3);

/// How to bind a loop device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopOptions {
    /// Byte offset of the device's first byte in the backing file.
    pub offset: u64,
    /// Size of the device in bytes; 0 = to the end of the backing file.
    pub size_limit: u64,
    /// Bind read-only (the backing file is then opened read-only too).
    pub read_only: bool,
    /// Logical block size (512 or 4096); 0 = the kernel's default (512).
    pub block_size: u32,
    /// Set `LO_FLAGS_AUTOCLEAR` (default true; see the module docs).
    pub autoclear: bool,
    /// Set `LO_FLAGS_PARTSCAN` (default true; see the module docs).
    pub partscan: bool,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            offset: 0,
            size_limit: 0,
            read_only: false,
            block_size: 0,
            autoclear: true,
            partscan: true,
        }
    }
}

/// A loop device bound to a file by this process. Detach with [`LoopDevice::close`];
/// dropping it detaches too (best effort, failures logged).
#[derive(Debug)]
pub struct LoopDevice {
    number: u32,
    path: PathBuf,
    backing: PathBuf,
    /// The backing file as the kernel names it in sysfs (to see the unbind).
    kernel_backing: String,
    read_only: bool,
    node_created: bool,
    partitions: Option<PartitionSet>,
    /// Open while bound; `None` once torn down.
    file: Option<File>,
}

impl LoopDevice {
    /// Bind a free loop device to `backing` with `opts`.
    pub fn attach(backing: &Path, opts: &LoopOptions) -> Result<LoopDevice, AttachError> {
        if opts.block_size != 0 && !matches!(opts.block_size, 512 | 1024 | 2048 | 4096) {
            return Err(AttachError::Invalid {
                object: backing.to_path_buf(),
                what: format!("logical block size {} is not 512..4096", opts.block_size),
            });
        }
        let backing_file = OpenOptions::new()
            .read(true)
            .write(!opts.read_only)
            .open(backing)
            .map_err(|e| AttachError::os(backing, "open backing file", e))?;
        let ctl_path = Path::new("/dev/loop-control");
        let ctl = OpenOptions::new()
            .read(true)
            .write(true)
            .open(ctl_path)
            .map_err(|e| AttachError::os(ctl_path, "open", e))?;
        let mut last_busy = None;
        for _ in 0..BIND_TRIES {
            let number = sys::ioctl_int(&ctl, sys::LOOP_CTL_GET_FREE, 0)
                .map_err(|e| AttachError::os(ctl_path, "LOOP_CTL_GET_FREE", e))?
                as u32;
            let name = format!("loop{number}");
            let path = PathBuf::from(format!("/dev/{name}"));
            let node_created = sys::ensure_dev_node(&name)
                .map_err(|e| AttachError::os(&path, "create device node from sysfs", e))?;
            // A node we made stays when binding fails: the number may be bound
            // by another process by now, which would need it.
            let dev = open_block(&path).map_err(|e| AttachError::os(&path, "open", e))?;
            match configure(&dev, &backing_file, backing, opts) {
                Ok(()) => {
                    let kernel_backing =
                        sys::read_sysfs(Path::new(&format!("/sys/block/{name}/loop/backing_file")))
                            .unwrap_or_default();
                    tracing::debug!(
                        device = %path.display(),
                        backing = %backing.display(),
                        offset = opts.offset,
                        size_limit = opts.size_limit,
                        read_only = opts.read_only,
                        "loop device bound"
                    );
                    return Ok(LoopDevice {
                        number,
                        path,
                        backing: backing.to_path_buf(),
                        kernel_backing,
                        read_only: opts.read_only,
                        node_created,
                        partitions: None,
                        file: Some(dev),
                    });
                }
                Err(e) if sys::is_busy(&e) => {
                    tracing::debug!(device = %path.display(), "loop number taken meanwhile, asking again");
                    last_busy = Some((path, e));
                }
                Err(e) => return Err(AttachError::os(&path, "LOOP_CONFIGURE", e)),
            }
        }
        let (path, e) = last_busy.expect("the loop ran at least once");
        Err(AttachError::os(
            &path,
            format!("bind: every free number was taken by another process ({BIND_TRIES} tries)"),
            e,
        ))
    }

    /// The device node, `/dev/loopN`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The loop number N.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The kernel name, `loopN`.
    pub fn name(&self) -> String {
        format!("loop{}", self.number)
    }

    /// The backing file given to [`LoopDevice::attach`].
    pub fn backing_file(&self) -> &Path {
        &self.backing
    }

    /// Whether the device is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Size of the device in bytes (from sysfs).
    pub fn size(&self) -> Result<u64, AttachError> {
        sys::sysfs_block_u64(&self.name(), "size")
            .map(|s| s * 512)
            .map_err(|e| AttachError::os(&self.path, "read size from sysfs", e))
    }

    /// Logical block size of the device in bytes (`BLKSSZGET`).
    pub fn logical_block_size(&self) -> Result<u32, AttachError> {
        let f = self.file()?;
        let mut v: libc::c_int = 0;
        sys::ioctl_ptr(f, sys::BLKSSZGET, &mut v)
            .map_err(|e| AttachError::os(&self.path, "BLKSSZGET", e))?;
        Ok(v as u32)
    }

    /// Add the partitions of a scan on this device with BLKPG (see [`super::partitions`]).
    /// They are removed again on close. Calling it again after partitions were
    /// added is an error (after an empty call it is allowed: a disk whose format
    /// the prober cannot read is scanned once attached).
    pub fn add_partitions(&mut self, parts: &[Partition]) -> Result<(), AttachError> {
        if self
            .partitions
            .as_ref()
            .is_some_and(|p| !p.nodes().is_empty())
        {
            return Err(AttachError::Invalid {
                object: self.path.clone(),
                what: "partitions were already added".into(),
            });
        }
        let f = self.file()?;
        let set = PartitionSet::add(f, &self.path, &self.name(), parts)?;
        self.partitions = Some(set);
        Ok(())
    }

    /// The node of partition `number`, if it was added or found on this device.
    pub fn partition_path(&self, number: u32) -> Option<PathBuf> {
        self.partitions
            .as_ref()?
            .path(number)
            .map(Path::to_path_buf)
    }

    /// The partitions set up on this device, if any.
    pub fn partitions(&self) -> Option<&PartitionSet> {
        self.partitions.as_ref()
    }

    fn file(&self) -> Result<&File, AttachError> {
        self.file.as_ref().ok_or_else(|| AttachError::Invalid {
            object: self.path.clone(),
            what: "loop device already detached".into(),
        })
    }

    /// Detach: remove the partitions added, flush, clear the binding and wait
    /// until the kernel shows it unbound. Reports every failure.
    pub fn close(mut self) -> Result<(), AttachError> {
        self.teardown()
    }

    /// Idempotent teardown shared by `close` and `Drop`.
    fn teardown(&mut self) -> Result<(), AttachError> {
        let mut errors = Vec::new();
        if let Some(parts) = self.partitions.take() {
            if let Err(e) = parts.close() {
                errors.push(e);
            }
        }
        let Some(file) = self.file.take() else {
            return AttachError::collect(errors);
        };
        // Flush the device's dirty pages into the backing file (and, through a
        // flush request, the backing file itself), then drop the buffer cache.
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
        // Remove our node while we still hold the device: once it is unbound the
        // number can go to another process, whose node it would then be.
        if self.node_created {
            if let Err(e) = sys::remove_dev_node(&self.path) {
                errors.push(AttachError::os(&self.path, "remove device node", e));
            }
            self.node_created = false;
        }
        let mut tries = 0;
        loop {
            match sys::ioctl_int(&file, sys::LOOP_CLR_FD, 0) {
                Ok(_) => break,
                Err(e) if sys::is_busy(&e) && tries + 1 < BUSY_TRIES => {
                    tries += 1;
                    std::thread::sleep(BUSY_SLEEP);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    tracing::warn!(device = %self.path.display(), "loop device was already unbound");
                    break;
                }
                Err(e) => {
                    errors.push(AttachError::os(&self.path, "LOOP_CLR_FD", e));
                    break;
                }
            }
        }
        drop(file);
        if let Err(e) = self.wait_unbound() {
            errors.push(e);
        }
        AttachError::collect(errors)
    }

    /// Wait until sysfs no longer shows this binding (the kernel detaches at the last close).
    fn wait_unbound(&self) -> Result<(), AttachError> {
        let attr = PathBuf::from(format!("/sys/block/{}/loop/backing_file", self.name()));
        let start = Instant::now();
        loop {
            match sys::read_sysfs(&attr) {
                Ok(s) if !self.kernel_backing.is_empty() && s == self.kernel_backing => {}
                _ => return Ok(()),
            }
            if start.elapsed() >= UNBIND_WAIT {
                return Err(AttachError::Timeout {
                    object: self.path.clone(),
                    what: "detach: another opener (a mount or an open partition?) still holds \
                           the device; the kernel detaches it at its last close"
                        .into(),
                    waited: UNBIND_WAIT,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl LoopDevice {
    /// Keep the device attached but let go of it: close this process's
    /// descriptor, keep its partitions, detach nothing. With autoclear the kernel
    /// detaches it once nothing (a mount, another loop) uses it any more.
    pub fn release(mut self) {
        if let Some(p) = self.partitions.take() {
            p.release();
        }
        drop(self.file.take());
        std::mem::forget(self);
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(device = %self.path.display(), error = %e, "loop device teardown failed");
        }
    }
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

/// Bind `dev` to `backing` (LOOP_CONFIGURE, or the pre-5.8 sequence).
fn configure(dev: &File, backing: &File, name: &Path, opts: &LoopOptions) -> io::Result<()> {
    let mut info = sys::LoopInfo64::zeroed();
    info.lo_offset = opts.offset;
    info.lo_sizelimit = opts.size_limit;
    let mut flags = 0;
    if opts.read_only {
        flags |= sys::LO_FLAGS_READ_ONLY;
    }
    if opts.autoclear {
        flags |= sys::LO_FLAGS_AUTOCLEAR;
    }
    if opts.partscan {
        flags |= sys::LO_FLAGS_PARTSCAN;
    }
    info.lo_flags = flags;
    let bytes = name.as_os_str().as_bytes();
    let n = bytes.len().min(sys::LO_NAME_SIZE - 1);
    info.lo_file_name[..n].copy_from_slice(&bytes[..n]);
    let mut cfg = sys::LoopConfig {
        fd: backing.as_raw_fd() as u32,
        block_size: opts.block_size,
        info,
        reserved: [0; 8],
    };
    match sys::ioctl_ptr(dev, sys::LOOP_CONFIGURE, &mut cfg) {
        Ok(_) => return Ok(()),
        // Before 5.8 the unknown request falls through to EINVAL (or ENOTTY).
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOTTY)) => {
            tracing::debug!(error = %e, "LOOP_CONFIGURE refused, trying LOOP_SET_FD");
        }
        Err(e) => return Err(e),
    }
    // Read-only comes from the backing file's open mode with LOOP_SET_FD.
    sys::ioctl_int(dev, sys::LOOP_SET_FD, backing.as_raw_fd() as libc::c_ulong)?;
    let rest = (|| {
        let mut info = info;
        info.lo_flags = flags & (sys::LO_FLAGS_AUTOCLEAR | sys::LO_FLAGS_PARTSCAN);
        sys::ioctl_ptr(dev, sys::LOOP_SET_STATUS64, &mut info)?;
        if opts.block_size != 0 {
            sys::ioctl_int(
                dev,
                sys::LOOP_SET_BLOCK_SIZE,
                opts.block_size as libc::c_ulong,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = rest {
        let _ = sys::ioctl_int(dev, sys::LOOP_CLR_FD, 0);
        // Not EBUSY: that would make the caller retry on a device it just cleared.
        return Err(if sys::is_busy(&e) {
            io::Error::other(format!("LOOP_SET_STATUS64: {e}"))
        } else {
            e
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::testutil::{self as tu, root};
    use crate::layout::{PartitionRole, Scheme};

    fn backing_of(name: &str) -> Option<String> {
        sys::read_sysfs(Path::new(&format!("/sys/block/{name}/loop/backing_file"))).ok()
    }

    fn wait_gone(name: &str, kernel_backing: &str) -> Duration {
        let start = Instant::now();
        while backing_of(name).as_deref() == Some(kernel_backing) {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{name} still bound"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        start.elapsed()
    }

    /// The measurements behind the flag choices in the module docs.
    #[test]
    fn autoclear_detaches_at_last_close_even_with_blkpg_partitions() {
        if !root("autoclear_detaches_at_last_close_even_with_blkpg_partitions") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("a.img");
        tu::sparse(&img, 16 << 20);

        // 1. AUTOCLEAR + PARTSCAN, a BLKPG partition, then the fd closed with
        //    no LOOP_CLR_FD (what a crashed process does).
        let mut dev = LoopDevice::attach(&img, &LoopOptions::default()).unwrap();
        let name = dev.name();
        let file = dev.file.take().unwrap();
        let node_created = std::mem::take(&mut dev.node_created);
        drop(dev); // nothing to tear down any more
        let mut bp = sys::BlkpgPartition {
            start: 1 << 20,
            length: 4 << 20,
            pno: 1,
            devname: [0; 64],
            volname: [0; 64],
        };
        let mut arg = sys::BlkpgIoctlArg {
            op: sys::BLKPG_ADD_PARTITION,
            flags: 0,
            datalen: std::mem::size_of::<sys::BlkpgPartition>() as i32,
            data: &mut bp as *mut _ as *mut libc::c_void,
        };
        sys::ioctl_ptr(&file, sys::BLKPG, &mut arg).unwrap();
        let pname = format!("{name}p1");
        assert!(Path::new(&format!("/sys/class/block/{pname}")).exists());
        let kb = backing_of(&name).unwrap();
        drop(file);
        let waited = wait_gone(&name, &kb);
        assert!(
            tu::gone_or_not_ours(&pname, dir.path()),
            "PARTSCAN: the kernel drops partitions with the binding"
        );
        if node_created {
            sys::remove_dev_node(Path::new(&format!("/dev/{name}"))).unwrap();
        }
        eprintln!("measured: autoclear detach after last close with a BLKPG partition: {waited:?}");

        // 2. LOOP_CLR_FD while another opener holds the device: 0, not EBUSY;
        //    the detach happens at the other opener's close.
        let mut dev = LoopDevice::attach(&img, &LoopOptions::default()).unwrap();
        let other = File::open(dev.path()).unwrap();
        let file = dev.file.take().unwrap();
        let node_created = std::mem::take(&mut dev.node_created);
        let (name, path, kb) = (dev.name(), dev.path.clone(), dev.kernel_backing.clone());
        drop(dev);
        let r = sys::ioctl_int(&file, sys::LOOP_CLR_FD, 0);
        assert!(r.is_ok(), "LOOP_CLR_FD with another opener: {r:?}");
        drop(file);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            backing_of(&name).as_deref(),
            Some(kb.as_str()),
            "still bound while opened"
        );
        drop(other);
        wait_gone(&name, &kb);
        if node_created {
            sys::remove_dev_node(&path).unwrap();
        }
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn close_reports_a_device_still_held_open() {
        if !root("close_reports_a_device_still_held_open") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("a.img");
        tu::sparse(&img, 8 << 20);
        let dev = LoopDevice::attach(&img, &LoopOptions::default()).unwrap();
        let other = File::open(dev.path()).unwrap();
        let err = dev.close().unwrap_err();
        assert!(matches!(err, AttachError::Timeout { .. }), "{err}");
        drop(other); // autoclear finishes the detach
        std::thread::sleep(Duration::from_millis(50));
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn missing_dev_node_is_made_and_removed() {
        if !root("missing_dev_node_is_made_and_removed") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("a.img");
        tu::sparse(&img, 8 << 20);
        // Bind once to learn a number we own, drop its node while we hold it,
        // and check ensure_dev_node recreates it and reports ownership.
        let mut dev = LoopDevice::attach(&img, &LoopOptions::default()).unwrap();
        let name = dev.name();
        std::fs::remove_file(dev.path()).unwrap();
        assert!(sys::ensure_dev_node(&name).unwrap(), "made the node");
        assert!(
            !sys::ensure_dev_node(&name).unwrap(),
            "existing node is not ours"
        );
        dev.node_created = true;
        let path = dev.path.clone();
        dev.close().unwrap();
        assert!(
            !path.exists() || tu::gone_or_not_ours(&name, dir.path()),
            "our node is removed on close"
        );
        // Put it back as devtmpfs had it, for the next user of the number.
        if !path.exists() {
            let _ = sys::ensure_dev_node(&name);
        }
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn sector_4096_device_and_partitions() {
        if !root("sector_4096_device_and_partitions") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("4k.img");
        tu::sparse(&img, 64 << 20);
        let opts = LoopOptions {
            block_size: 4096,
            ..LoopOptions::default()
        };
        let mut dev = LoopDevice::attach(&img, &opts).unwrap();
        assert_eq!(dev.logical_block_size().unwrap(), 4096);
        let q = sys::read_sysfs(Path::new(&format!(
            "/sys/block/{}/queue/logical_block_size",
            dev.name()
        )))
        .unwrap();
        assert_eq!(q, "4096");
        // sfdisk takes the sector size from the device.
        tu::run_stdin(
            "sfdisk",
            &["-q", "--no-reread", dev.path().to_str().unwrap()],
            "label: gpt\n,8MiB\n,16MiB\n",
        );
        let parts = tu::read_table(dev.path());
        assert_eq!(parts.len(), 2);
        assert!(parts
            .iter()
            .all(|p| p.offset % 4096 == 0 && p.scheme == Scheme::Gpt));
        assert_eq!(parts[0].role, PartitionRole::Primary);
        dev.add_partitions(&parts).unwrap();
        for p in &parts {
            let node = dev.partition_path(p.number).unwrap();
            assert_eq!(tu::sysfs_size(&node), p.size);
            let name = node.file_name().unwrap().to_str().unwrap().to_string();
            assert_eq!(
                sys::sysfs_block_u64(&name, "start").unwrap() * 512,
                p.offset
            );
        }
        // A 512-aligned but not 4096-aligned partition is refused up front.
        let bad = [tu::part(
            3,
            40 << 20 | 512,
            1 << 20,
            Scheme::Gpt,
            PartitionRole::Primary,
        )];
        let f = dev.file().unwrap();
        let err = PartitionSet::add(f, dev.path(), &dev.name(), &bad).unwrap_err();
        assert!(err.to_string().contains("4096-byte"), "{err}");
        let data = tu::pattern(7, 8192);
        let p2 = dev.partition_path(2).unwrap();
        tu::write_dev(&p2, 4096, &data);
        assert_eq!(
            blkid_pttype(dev.path()),
            "gpt",
            "blkid reads the GPT at 4096-byte LBA 1"
        );
        dev.close().unwrap();
        assert_eq!(tu::read_file_at(&img, parts[1].offset + 4096, 8192), data);
        tu::assert_no_leaks(dir.path());
    }

    fn blkid_pttype(dev: &Path) -> String {
        tu::run(
            "blkid",
            &["-p", "-s", "PTTYPE", "-o", "value", dev.to_str().unwrap()],
        )
        .trim()
        .to_string()
    }

    #[test]
    fn offset_and_size_limit() {
        if !root("offset_and_size_limit") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("a.img");
        tu::sparse(&img, 8 << 20);
        let opts = LoopOptions {
            offset: 1 << 20,
            size_limit: 2 << 20,
            ..LoopOptions::default()
        };
        let dev = LoopDevice::attach(&img, &opts).unwrap();
        assert_eq!(dev.size().unwrap(), 2 << 20);
        let data = tu::pattern(3, 4096);
        tu::write_dev(dev.path(), 8192, &data);
        dev.close().unwrap();
        assert_eq!(tu::read_file_at(&img, (1 << 20) + 8192, 4096), data);
        tu::assert_no_leaks(dir.path());
    }
}
