//! Raw kernel interfaces of attach: loop and BLKPG ioctl numbers and structs, ioctl wrappers, `/dev` nodes from sysfs.
//!
//! The `libc` crate has no loop or BLKPG definitions, so they are written out
//! here from `<linux/loop.h>` and `<linux/blkpg.h>`. The loop ioctl numbers
//! are plain numbers (not `_IO` encoded) and the same on every architecture.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub(crate) const LOOP_SET_FD: libc::c_ulong = 0x4C00;
pub(crate) const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
pub(crate) const LOOP_SET_STATUS64: libc::c_ulong = 0x4C04;
pub(crate) const LOOP_SET_BLOCK_SIZE: libc::c_ulong = 0x4C09;
pub(crate) const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
pub(crate) const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;

pub(crate) const LO_FLAGS_READ_ONLY: u32 = 1;
pub(crate) const LO_FLAGS_AUTOCLEAR: u32 = 4;
pub(crate) const LO_FLAGS_PARTSCAN: u32 = 8;

/// `_IO(0x12, 97)`: flush and invalidate the buffer cache of a block device.
pub(crate) const BLKFLSBUF: libc::c_ulong = 0x1261;
/// `_IO(0x12, 104)`: logical block size of a block device (int).
pub(crate) const BLKSSZGET: libc::c_ulong = 0x1268;
/// `_IO(0x12, 105)`: add or delete a partition.
pub(crate) const BLKPG: libc::c_ulong = 0x1269;
pub(crate) const BLKPG_ADD_PARTITION: libc::c_int = 1;
pub(crate) const BLKPG_DEL_PARTITION: libc::c_int = 2;

pub(crate) const LO_NAME_SIZE: usize = 64;
const LO_KEY_SIZE: usize = 32;

/// `struct loop_info64`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct LoopInfo64 {
    pub lo_device: u64,
    pub lo_inode: u64,
    pub lo_rdevice: u64,
    pub lo_offset: u64,
    pub lo_sizelimit: u64,
    pub lo_number: u32,
    pub lo_encrypt_type: u32,
    pub lo_encrypt_key_size: u32,
    pub lo_flags: u32,
    pub lo_file_name: [u8; LO_NAME_SIZE],
    pub lo_crypt_name: [u8; LO_NAME_SIZE],
    pub lo_encrypt_key: [u8; LO_KEY_SIZE],
    pub lo_init: [u64; 2],
}

impl LoopInfo64 {
    pub(crate) fn zeroed() -> Self {
        LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: 0,
            lo_sizelimit: 0,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: 0,
            lo_file_name: [0; LO_NAME_SIZE],
            lo_crypt_name: [0; LO_NAME_SIZE],
            lo_encrypt_key: [0; LO_KEY_SIZE],
            lo_init: [0; 2],
        }
    }
}

/// `struct loop_config` (LOOP_CONFIGURE, Linux 5.8+).
#[repr(C)]
pub(crate) struct LoopConfig {
    pub fd: u32,
    pub block_size: u32,
    pub info: LoopInfo64,
    pub reserved: [u64; 8],
}

/// `struct blkpg_partition`.
#[repr(C)]
pub(crate) struct BlkpgPartition {
    /// Start in bytes.
    pub start: libc::c_longlong,
    /// Length in bytes.
    pub length: libc::c_longlong,
    pub pno: libc::c_int,
    pub devname: [libc::c_char; 64],
    pub volname: [libc::c_char; 64],
}

/// `struct blkpg_ioctl_arg`.
#[repr(C)]
pub(crate) struct BlkpgIoctlArg {
    pub op: libc::c_int,
    pub flags: libc::c_int,
    pub datalen: libc::c_int,
    pub data: *mut libc::c_void,
}

const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

/// `ioctl(fd, req, arg)` with an integer argument.
pub(crate) fn ioctl_int(file: &File, req: libc::c_ulong, arg: libc::c_ulong) -> io::Result<i32> {
    // SAFETY: the fd is valid for the borrow; the requests used with this
    // wrapper take an integer (or nothing), never a pointer.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), req as _, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `ioctl(fd, req, ptr)` with a pointer to a `repr(C)` struct of the type the request expects.
pub(crate) fn ioctl_ptr<T>(file: &File, req: libc::c_ulong, arg: &mut T) -> io::Result<i32> {
    // SAFETY: `arg` is a live, exclusively borrowed value of the struct type the
    // kernel reads or writes for `req` (callers pair them as in the kernel headers).
    let r = unsafe { libc::ioctl(file.as_raw_fd(), req as _, arg as *mut T) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Read a one-line sysfs attribute, trimmed.
pub(crate) fn read_sysfs(path: &Path) -> io::Result<String> {
    Ok(fs::read_to_string(path)?.trim().to_string())
}

/// `/sys/class/block/NAME/ATTR` as a number.
pub(crate) fn sysfs_block_u64(name: &str, attr: &str) -> io::Result<u64> {
    let p = PathBuf::from(format!("/sys/class/block/{name}/{attr}"));
    let s = read_sysfs(&p)?;
    s.parse::<u64>().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a number: {s:?}", p.display()),
        )
    })
}

/// The `major:minor` of a block device from `/sys/class/block/NAME/dev`.
pub(crate) fn sysfs_devnum(name: &str) -> io::Result<libc::dev_t> {
    let p = PathBuf::from(format!("/sys/class/block/{name}/dev"));
    let s = read_sysfs(&p)?;
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not major:minor: {s:?}", p.display()),
        )
    };
    let (ma, mi) = s.split_once(':').ok_or_else(bad)?;
    let ma: u32 = ma.parse().map_err(|_| bad())?;
    let mi: u32 = mi.parse().map_err(|_| bad())?;
    Ok(libc::makedev(ma, mi))
}

/// Make sure `/dev/NAME` is a block node for the kernel device NAME.
///
/// Returns `true` when this call created the node (the caller then owns it and
/// removes it on teardown). An existing node with the right numbers is kept
/// and not owned. A node with other numbers is stale (a node for a device that
/// no longer exists under this name: partition minors are allocated
/// dynamically), so it is replaced and then owned. A concurrent creator
/// (`EEXIST`) wins and keeps ownership.
pub(crate) fn ensure_dev_node(name: &str) -> io::Result<bool> {
    let path = PathBuf::from(format!("/dev/{name}"));
    let dev = sysfs_devnum(name)?;
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_block_device() && m.rdev() == dev => return Ok(false),
        Ok(m) => {
            tracing::warn!(
                node = %path.display(),
                found = m.rdev(),
                want = dev,
                "replacing a stale device node"
            );
            fs::remove_file(&path)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o660, dev) };
    if r == 0 {
        tracing::debug!(node = %path.display(), "created device node");
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EEXIST) {
        let m = fs::symlink_metadata(&path)?;
        if m.file_type().is_block_device() && m.rdev() == dev {
            return Ok(false);
        }
    }
    Err(e)
}

/// Remove a `/dev` node this process created; a missing node is fine.
pub(crate) fn remove_dev_node(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether an error is `EBUSY`.
pub(crate) fn is_busy(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EBUSY)
}
