//! Thin safe wrappers over the fd-relative Linux syscalls that `guest/` is built from.
//!
//! Every function here takes file descriptors and single path components or
//! resolver-checked paths; none of them resolves a guest path on its own.

use std::ffi::{CStr, CString, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use libc::c_int;

/// procfs `f_type` (`PROC_SUPER_MAGIC`).
pub(crate) const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// vfat `f_type` (`MSDOS_SUPER_MAGIC`).
pub(crate) const MSDOS_SUPER_MAGIC: i64 = 0x4d44;
/// FUSE `f_type` (ntfs-3g, fusefat).
pub(crate) const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;
/// In-kernel ntfs / ntfs3 `f_type`.
pub(crate) const NTFS_SB_MAGIC: i64 = 0x5346_544e;
/// Largest xattr value Linux stores (`XATTR_SIZE_MAX`).
const XATTR_SIZE_MAX: usize = 64 * 1024;
/// Largest xattr name list Linux returns (`XATTR_LIST_MAX`).
const XATTR_LIST_MAX: usize = 64 * 1024;

fn cvt(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Retry `f` while it fails with `EINTR`.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            r => return r,
        }
    }
}

/// `openat2(dir, path, {flags | O_CLOEXEC, mode, resolve})`.
pub(crate) fn openat2(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    // SAFETY: open_how is a plain C struct of integers; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = u64::from((flags | libc::O_CLOEXEC) as u32);
    how.mode = if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
        u64::from(mode)
    } else {
        0
    };
    how.resolve = resolve;
    retry(|| {
        // SAFETY: valid fd, NUL-terminated path, `how` lives across the call and
        // its size is passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
        }
    })
}

/// `openat(dir, path, flags | O_CLOEXEC, mode)`.
pub(crate) fn openat(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    retry(|| {
        // SAFETY: valid fd and NUL-terminated path.
        let fd = cvt(unsafe {
            libc::openat(
                dir.as_raw_fd(),
                path.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: new fd owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    })
}

/// `fstat(fd)`; works on `O_PATH` descriptors.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid fd and a buffer of the right size.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded and filled the buffer.
    Ok(unsafe { st.assume_init() })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lstatat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid fd, NUL-terminated name, buffer of the right size.
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded.
    Ok(unsafe { st.assume_init() })
}

/// The filesystem type (`f_type`) of the filesystem holding `fd`.
pub(crate) fn fs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let mut st = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: valid fd and buffer.
    cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs succeeded.
    #[allow(clippy::unnecessary_cast)]
    Ok(unsafe { st.assume_init() }.f_type as i64)
}

/// Whether the mode bits say symlink.
pub(crate) fn is_lnk(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// Whether the mode bits say directory.
pub(crate) fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether the mode bits say regular file.
pub(crate) fn is_reg(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// A word for the file type in `st`, for messages.
pub(crate) fn type_word(st: &libc::stat) -> &'static str {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symlink",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "file of unknown type",
    }
}

/// `readlinkat(dir, name)`; with an empty `name` reads the link `dir` itself
/// refers to (an `O_PATH|O_NOFOLLOW` descriptor of a symlink).
pub(crate) fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut cap = 256usize;
    loop {
        let mut buf = vec![0u8; cap];
        // SAFETY: valid fd, NUL-terminated name, buffer of `cap` bytes.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        if n < cap {
            buf.truncate(n);
            return Ok(buf);
        }
        if cap >= 64 * 1024 {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        cap *= 4;
    }
}

/// `mkdirat(dir, name, mode)`.
pub(crate) fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })?;
    Ok(())
}

/// `unlinkat(dir, name, flags)`.
pub(crate) fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: c_int) -> io::Result<()> {
    // SAFETY: valid fd and NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    Ok(())
}

/// `symlinkat(target, dir, name)`: `target` is stored as text.
pub(crate) fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated strings and a valid fd.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })?;
    Ok(())
}

/// `renameat(dir, from, dir, to)`: replaces `to` whatever it is (a symlink is
/// replaced as a link, never followed).
pub(crate) fn renameat(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: valid fd, NUL-terminated names.
    cvt(unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) })?;
    Ok(())
}

/// `fchown(fd, uid, gid)`.
pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid fd.
    cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    Ok(())
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lchownat(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid fd, NUL-terminated name.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// `fchmod(fd, mode)`.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: valid fd.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })?;
    Ok(())
}

/// `fsync(fd)`.
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: valid fd.
    retry(|| cvt(unsafe { libc::fsync(fd.as_raw_fd()) }))?;
    Ok(())
}

/// Access and modification times of `st`, as `utimensat` wants them.
pub(crate) fn times_of(st: &libc::stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ]
}

/// `futimens(fd, times)`.
pub(crate) fn futimens(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: valid fd and two timespecs.
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) })?;
    Ok(())
}

/// `utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lutimensat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    times: &[libc::timespec; 2],
) -> io::Result<()> {
    // SAFETY: valid fd, NUL-terminated name, two timespecs.
    cvt(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// Names of the extended attributes of `fd` (a non-`O_PATH` descriptor).
/// A filesystem without xattr support yields an empty list.
pub(crate) fn list_xattrs(fd: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let mut buf = vec![0u8; XATTR_LIST_MAX];
    let n = loop {
        // SAFETY: valid fd and buffer.
        let n = unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(e),
        }
    };
    buf.truncate(n);
    Ok(buf
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| CString::new(s).ok())
        .collect())
}

/// Value of xattr `name` on `fd`; `Ok(None)` when it is absent or the
/// filesystem has no xattrs.
pub(crate) fn get_xattr(fd: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; XATTR_SIZE_MAX];
    loop {
        // SAFETY: valid fd, NUL-terminated name, buffer.
        let n = unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Set xattr `name` on `fd` to `value`.
pub(crate) fn set_xattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: valid fd, NUL-terminated name, value slice.
    cvt(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })?;
    Ok(())
}

/// One entry of a directory listing: name and `d_type` (filled by `fstatat`
/// when the filesystem reports `DT_UNKNOWN`).
pub(crate) struct RawEntry {
    pub(crate) name: OsString,
    pub(crate) d_type: u8,
}

/// List the directory open as `fd` (opened `O_RDONLY|O_DIRECTORY`), without
/// `.` and `..`, at most `max` entries.
pub(crate) fn read_dir(fd: OwnedFd, max: usize) -> io::Result<Vec<RawEntry>> {
    use std::os::fd::IntoRawFd;
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` is an open directory fd that we own; fdopendir takes it over.
    let dir = unsafe { libc::fdopendir(raw) };
    if dir.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so we still own `raw`.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    struct Dir(*mut libc::DIR);
    impl Drop for Dir {
        fn drop(&mut self) {
            // SAFETY: the DIR came from fdopendir and is closed once.
            unsafe { libc::closedir(self.0) };
        }
    }
    let dir = Dir(dir);
    // SAFETY: `dir.0` is a valid DIR.
    let dfd = unsafe { libc::dirfd(dir.0) };
    // SAFETY: dfd stays open while `dir` lives, which outlives this borrow.
    let dfd = unsafe { BorrowedFd::borrow_raw(dfd) };
    let mut out = Vec::new();
    loop {
        // SAFETY: errno is thread-local.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: valid DIR.
        let ent = unsafe { libc::readdir64(dir.0) };
        if ent.is_null() {
            // SAFETY: errno is thread-local.
            let errno = unsafe { *libc::__errno_location() };
            if errno != 0 {
                return Err(io::Error::from_raw_os_error(errno));
            }
            break;
        }
        // SAFETY: readdir returned a valid entry whose d_name is NUL-terminated.
        let (name, mut d_type) = unsafe {
            (
                CStr::from_ptr((*ent).d_name.as_ptr()).to_owned(),
                (*ent).d_type,
            )
        };
        let bytes = name.as_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        if out.len() >= max {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("directory has more than {max} entries"),
            ));
        }
        if d_type == libc::DT_UNKNOWN {
            d_type = match lstatat(dfd, &name) {
                Ok(st) => mode_to_dtype(st.st_mode),
                Err(_) => libc::DT_UNKNOWN,
            };
        }
        out.push(RawEntry {
            name: OsString::from_vec(name.into_bytes()),
            d_type,
        });
    }
    Ok(out)
}

fn mode_to_dtype(mode: libc::mode_t) -> u8 {
    match mode & libc::S_IFMT {
        libc::S_IFREG => libc::DT_REG,
        libc::S_IFDIR => libc::DT_DIR,
        libc::S_IFLNK => libc::DT_LNK,
        libc::S_IFCHR => libc::DT_CHR,
        libc::S_IFBLK => libc::DT_BLK,
        libc::S_IFIFO => libc::DT_FIFO,
        libc::S_IFSOCK => libc::DT_SOCK,
        _ => libc::DT_UNKNOWN,
    }
}
