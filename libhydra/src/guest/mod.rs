//! Confined access to guest files: every path resolved inside the guest root, never onto the host.
//!
//! A [`GuestRoot`] holds an `O_PATH` descriptor of the mounted guest tree
//! (e.g. `/mnt/azure_sms_root`). Every operation takes a *guest* path
//! (`/etc/fstab` or `etc/fstab`, the same thing) and resolves it with
//! `openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
//!
//! - absolute paths, absolute symlink targets and `..` are taken relative to
//!   the guest root: `etc/fstab -> /etc/shadow` reads the *guest's* shadow,
//!   `../../../etc/passwd` stops at the guest root;
//! - magic links (`/proc/self/root`, `/proc/<pid>/fd/<n>`: reachable when the
//!   host's `/proc` is bind-mounted into the tree) are refused with
//!   [`GuestError::SymlinkEscape`];
//! - mount points inside the tree (`/boot`, `/boot/efi`) are crossed: the
//!   guest tree spans several filesystems, so `RESOLVE_NO_XDEV` is not used.
//!
//! Operations on the final component (write, rename, remove, symlink,
//! lstat, readlink) resolve the *parent* directory confined and then act on
//! the name with the `*at` syscalls without following it: writing over a
//! symlink replaces the link, it never writes through it.
//!
//! When `openat2` is unavailable (kernels before 5.6, or a seccomp filter
//! that denies it) a userspace walker with the same semantics is used
//! (see `resolve.rs`); [`Resolver::UserspaceWalk`] forces it.
//!
//! Not covered: the guest tree itself being modified concurrently by
//! something hostile while Hydra runs (the guest is offline), and the host
//! kernel's filesystem drivers (see `SECURITY.md`).

mod error;
mod resolve;
pub(crate) mod sys;
#[cfg(test)]
mod tests;

use std::ffi::{CString, OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use error::GuestError;
pub use resolve::MAX_SYMLINKS;

use resolve::{Fail, Mode};

/// Result with [`GuestError`].
pub type GuestResult<T> = Result<T, GuestError>;

/// Default size cap of [`GuestRoot::read`] and [`GuestRoot::read_to_string`]
/// (32 MiB): config files are far smaller; use [`GuestRoot::read_capped`] or
/// [`GuestRoot::open_file`] for hives, initramfs images and the like.
pub const DEFAULT_READ_CAP: u64 = 32 << 20;

/// Most entries [`GuestRoot::read_dir`] returns before failing (a hostile
/// directory must not exhaust memory).
pub const MAX_DIR_ENTRIES: usize = 1 << 20;

/// Which path resolver a [`GuestRoot`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolver {
    /// `openat2` when the kernel has it, else the userspace walker.
    #[default]
    Auto,
    /// `openat2` only; opening the root fails when it is unavailable.
    Openat2,
    /// The userspace walker (for old kernels; forced here for tests).
    UserspaceWalk,
}

/// Owner and permission bits for a file written into the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAttrs {
    /// Permission bits (`0o644`; setuid/setgid/sticky are kept, file type bits ignored).
    pub mode: u32,
    /// Owner uid (as the guest sees it: numeric, no name mapping).
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

impl FileAttrs {
    /// `root:root` with `mode`.
    pub fn root(mode: u32) -> Self {
        FileAttrs {
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// The mode and owner of `meta`.
    pub fn of(meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileAttrs {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

/// The type of a directory entry (not following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
    /// The filesystem did not say and `fstatat` failed.
    Unknown,
}

impl FileKind {
    fn from_dtype(d: u8) -> Self {
        match d {
            libc::DT_REG => FileKind::File,
            libc::DT_DIR => FileKind::Dir,
            libc::DT_LNK => FileKind::Symlink,
            libc::DT_CHR => FileKind::CharDevice,
            libc::DT_BLK => FileKind::BlockDevice,
            libc::DT_FIFO => FileKind::Fifo,
            libc::DT_SOCK => FileKind::Socket,
            _ => FileKind::Unknown,
        }
    }
}

/// One entry of [`GuestRoot::read_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name (any bytes but `/` and NUL).
    pub name: OsString,
    /// Its type, symlinks not followed.
    pub kind: FileKind,
}

/// A mounted guest tree, all access confined inside it (see the module docs).
#[derive(Debug)]
pub struct GuestRoot {
    fd: OwnedFd,
    host: PathBuf,
    mode: Mode,
}

/// Counter for temporary file names.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl GuestRoot {
    /// Open the guest tree mounted at the host directory `dir`, resolving with
    /// `openat2` when available.
    pub fn open(dir: impl AsRef<Path>) -> GuestResult<Self> {
        Self::open_with(dir, Resolver::Auto)
    }

    /// Open the guest tree at `dir` with a chosen [`Resolver`].
    pub fn open_with(dir: impl AsRef<Path>, resolver: Resolver) -> GuestResult<Self> {
        let host = dir.as_ref().to_path_buf();
        let op = "open guest root";
        // The host path is trusted (Hydra chose it): plain open, following links.
        let fd: OwnedFd = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(&host)
                .map_err(|e| GuestError::Io {
                    path: host.clone(),
                    op: op.into(),
                    source: e,
                })?
                .into()
        };
        let mode = match resolver {
            Resolver::UserspaceWalk => Mode::Walk,
            Resolver::Auto => {
                if resolve::openat2_works(fd.as_fd()) {
                    Mode::Openat2
                } else {
                    Mode::Walk
                }
            }
            Resolver::Openat2 => {
                sys::openat2(
                    fd.as_fd(),
                    c".",
                    libc::O_PATH,
                    0,
                    libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
                )
                .map_err(|e| GuestError::Io {
                    path: host.clone(),
                    op: "openat2(RESOLVE_IN_ROOT)".into(),
                    source: e,
                })?;
                Mode::Openat2
            }
        };
        tracing::debug!(root = %host.display(), resolver = ?mode, "guest root opened");
        Ok(GuestRoot { fd, host, mode })
    }

    /// The host directory the guest tree is mounted at (for messages).
    pub fn host_path(&self) -> &Path {
        &self.host
    }

    /// The resolver in use: [`Resolver::Openat2`] or [`Resolver::UserspaceWalk`].
    pub fn resolver(&self) -> Resolver {
        match self.mode {
            Mode::Openat2 => Resolver::Openat2,
            Mode::Walk => Resolver::UserspaceWalk,
        }
    }

    // ----- reading -------------------------------------------------------

    /// Read a whole regular file, at most [`DEFAULT_READ_CAP`] bytes (larger
    /// is an error). Symlinks are followed inside the guest.
    pub fn read(&self, path: impl AsRef<Path>) -> GuestResult<Vec<u8>> {
        self.read_capped(path, DEFAULT_READ_CAP)
    }

    /// Read a whole regular file of at most `cap` bytes; larger is
    /// [`GuestError::TooLarge`]. FIFOs and devices are refused.
    pub fn read_capped(&self, path: impl AsRef<Path>, cap: u64) -> GuestResult<Vec<u8>> {
        let path = path.as_ref();
        let (file, st) = self.open_regular(path, "read")?;
        let size = st.st_size as u64;
        if size > cap {
            return Err(GuestError::TooLarge {
                path: gpath(path),
                op: "read".into(),
                size,
                cap,
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        file.take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| io_err(path, "read", e))?;
        if buf.len() as u64 > cap {
            return Err(GuestError::TooLarge {
                path: gpath(path),
                op: "read".into(),
                size: buf.len() as u64,
                cap,
            });
        }
        Ok(buf)
    }

    /// Read a whole regular file as UTF-8 text (at most [`DEFAULT_READ_CAP`]).
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> GuestResult<String> {
        let path = path.as_ref();
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|e| GuestError::Invalid {
            path: gpath(path),
            op: "read".into(),
            detail: format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
        })
    }

    /// Open a regular file read-only for streaming (large files: hives,
    /// initramfs). Symlinks are followed inside the guest; FIFOs and devices
    /// are refused.
    pub fn open_file(&self, path: impl AsRef<Path>) -> GuestResult<File> {
        Ok(self.open_regular(path.as_ref(), "open")?.0)
    }

    /// Metadata of the file at `path`, following symlinks inside the guest
    /// (`stat`).
    pub fn metadata(&self, path: impl AsRef<Path>) -> GuestResult<Metadata> {
        let path = path.as_ref();
        let fd = self.resolve(path, "stat", libc::O_PATH, true)?;
        File::from(fd)
            .metadata()
            .map_err(|e| io_err(path, "stat", e))
    }

    /// Metadata of `path` itself, not following a final symlink (`lstat`).
    pub fn symlink_metadata(&self, path: impl AsRef<Path>) -> GuestResult<Metadata> {
        let path = path.as_ref();
        let fd = self.resolve(path, "lstat", libc::O_PATH, false)?;
        File::from(fd)
            .metadata()
            .map_err(|e| io_err(path, "lstat", e))
    }

    /// Whether `path` exists (following symlinks inside the guest; a dangling
    /// symlink does not exist). Errors other than "not found"/"not a
    /// directory" (a loop, a refused escape, EACCES) are returned.
    pub fn exists(&self, path: impl AsRef<Path>) -> GuestResult<bool> {
        match self.metadata(path) {
            Ok(_) => Ok(true),
            Err(GuestError::Io { source, .. })
                if matches!(
                    source.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::ENOTDIR)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The entries of the directory at `path` (following symlinks inside the
    /// guest), without `.` and `..`, sorted by name bytes.
    pub fn read_dir(&self, path: impl AsRef<Path>) -> GuestResult<Vec<DirEntry>> {
        let path = path.as_ref();
        let fd = self.resolve(path, "read_dir", libc::O_RDONLY | libc::O_DIRECTORY, true)?;
        let mut v: Vec<DirEntry> = sys::read_dir(fd, MAX_DIR_ENTRIES)
            .map_err(|e| io_err(path, "read_dir", e))?
            .into_iter()
            .map(|e| DirEntry {
                name: e.name,
                kind: FileKind::from_dtype(e.d_type),
            })
            .collect();
        v.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(v)
    }

    /// The text of the symlink at `path` (never followed; the text is
    /// returned as stored, it may be absolute or point anywhere).
    pub fn read_link(&self, path: impl AsRef<Path>) -> GuestResult<PathBuf> {
        let path = path.as_ref();
        let fd = self.resolve(path, "readlink", libc::O_PATH, false)?;
        let st = sys::fstat(fd.as_fd()).map_err(|e| io_err(path, "readlink", e))?;
        if !sys::is_lnk(&st) {
            return Err(GuestError::Io {
                path: gpath(path),
                op: "readlink".into(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("not a symlink but a {}", sys::type_word(&st)),
                ),
            });
        }
        let text = sys::readlinkat(fd.as_fd(), c"").map_err(|e| io_err(path, "readlink", e))?;
        Ok(PathBuf::from(OsString::from_vec(text)))
    }

    /// The guest path that `path` names once every symlink is followed inside
    /// the guest (`/etc/resolv.conf -> ../run/x` is `/run/x`; an absolute
    /// target is taken from the guest root). The path must exist: a dangling
    /// link is "not found". Read from the kernel (`/proc/self/fd/N` of the
    /// confined descriptor, less the tree root's own path), so mount points
    /// in the tree, a bound `/run` included, show as the guest sees them.
    pub fn canonical(&self, path: impl AsRef<Path>) -> GuestResult<PathBuf> {
        let path = path.as_ref();
        let op = "resolve";
        let fd = self.resolve(path, op, libc::O_PATH, true)?;
        let host_of = |fd: BorrowedFd<'_>| {
            std::fs::read_link(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ))
        };
        let root = host_of(self.fd.as_fd()).map_err(|e| io_err(path, op, e))?;
        let at = host_of(fd.as_fd()).map_err(|e| io_err(path, op, e))?;
        match at.strip_prefix(&root) {
            Ok(rel) => Ok(Path::new("/").join(rel)),
            Err(_) => Err(invalid(
                path,
                op,
                format!(
                    "resolved to {}, which the kernel does not show under the tree {}",
                    at.display(),
                    root.display()
                ),
            )),
        }
    }

    /// The mode and owner of the regular file at `path` (following symlinks
    /// inside the guest), or `None` when there is none: what a rewrite of the
    /// file should keep.
    pub fn existing_attrs(&self, path: impl AsRef<Path>) -> GuestResult<Option<FileAttrs>> {
        match self.metadata(path) {
            Ok(m) if m.is_file() => Ok(Some(FileAttrs::of(&m))),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Resolve `path` case-insensitively, component by component (NTFS
    /// paths such as `Windows/System32/Config/SYSTEM`), and return the guest
    /// path with the names as stored. `..` is taken lexically. Several names
    /// matching one component is [`GuestError::Ambiguous`].
    pub fn find_case_insensitive(&self, path: impl AsRef<Path>) -> GuestResult<PathBuf> {
        let path = path.as_ref();
        let op = "case-insensitive lookup";
        check_path(path, op)?;
        let mut real = PathBuf::from("/");
        for comp in path.as_os_str().as_bytes().split(|&b| b == b'/') {
            if comp.is_empty() || comp == b"." {
                continue;
            }
            if comp == b".." {
                real.pop();
                continue;
            }
            let entries = self.read_dir(&real).map_err(|e| relabel(e, path, op))?;
            let matches: Vec<OsString> = entries
                .into_iter()
                .map(|e| e.name)
                .filter(|n| eq_case_insensitive(n.as_bytes(), comp))
                .collect();
            match matches.len() {
                0 => {
                    return Err(GuestError::Io {
                        path: gpath(path),
                        op: op.into(),
                        source: io::Error::new(
                            io::ErrorKind::NotFound,
                            format!(
                                "no entry matching {:?} in {}",
                                OsStr::from_bytes(comp),
                                real.display()
                            ),
                        ),
                    })
                }
                1 => real.push(&matches[0]),
                _ => {
                    return Err(GuestError::Ambiguous {
                        path: gpath(path),
                        op: op.into(),
                        dir: real,
                        component: OsStr::from_bytes(comp).to_os_string(),
                        candidates: matches,
                    })
                }
            }
        }
        Ok(real)
    }

    // ----- writing -------------------------------------------------------

    /// Replace the file at `path` with `bytes` atomically: a temporary file in
    /// the same guest directory is written, fsynced, given `attrs`, renamed
    /// over `path`, and the directory is fsynced. A symlink at `path` is
    /// replaced (the link itself, never its target). The SELinux label
    /// (`security.selinux`) of a regular file being replaced is carried over.
    /// On filesystems without Unix ownership (vfat, FUSE, NTFS) a failing
    /// `fchown`/`fchmod` is ignored.
    pub fn write_atomic(
        &self,
        path: impl AsRef<Path>,
        bytes: &[u8],
        attrs: &FileAttrs,
    ) -> GuestResult<()> {
        let path = path.as_ref();
        let op = "write";
        let (dir, name) = self.open_parent(path, op)?;
        // Label of the file being replaced (only a regular file, not followed).
        let label = match sys::lstatat(dir.as_fd(), &name) {
            Ok(st) if sys::is_reg(&st) => sys::openat(
                dir.as_fd(),
                &name,
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
                0,
            )
            .and_then(|fd| sys::get_xattr(fd.as_fd(), c"security.selinux"))
            .map_err(|e| io_err(path, "read security.selinux", e))?,
            _ => None,
        };
        self.replace_in(path, op, &dir, &name, |tmp| {
            let mut f: &File = tmp;
            f.write_all(bytes).map_err(at("write"))?;
            set_owner_mode(tmp.as_fd(), attrs.uid, attrs.gid, attrs.mode)?;
            if let Some(label) = &label {
                sys::set_xattr(tmp.as_fd(), c"security.selinux", label)
                    .map_err(at("set security.selinux"))?;
            }
            Ok(())
        })
    }

    /// Remove the file or symlink at `path` (a symlink is removed, not its
    /// target). Directories are refused.
    pub fn remove_file(&self, path: impl AsRef<Path>) -> GuestResult<()> {
        let path = path.as_ref();
        let (dir, name) = self.open_parent(path, "remove")?;
        sys::unlinkat(dir.as_fd(), &name, 0).map_err(|e| io_err(path, "remove", e))
    }

    /// The SELinux label (`security.selinux`) of the file or directory at
    /// `path` (not followed if a symlink: `None`), `None` when it has none.
    pub fn selinux_label(&self, path: impl AsRef<Path>) -> GuestResult<Option<Vec<u8>>> {
        let path = path.as_ref();
        let op = "read security.selinux";
        let fd = match self.resolve(
            path,
            op,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
            false,
        ) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
            Err(e) => return Err(e),
        };
        sys::get_xattr(fd.as_fd(), c"security.selinux").map_err(|e| io_err(path, op, e))
    }

    /// Set the SELinux label of the regular file at `path` (not followed).
    pub fn set_selinux_label(&self, path: impl AsRef<Path>, label: &[u8]) -> GuestResult<()> {
        let path = path.as_ref();
        let op = "set security.selinux";
        let fd = self.resolve(
            path,
            op,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
            false,
        )?;
        sys::set_xattr(fd.as_fd(), c"security.selinux", label).map_err(|e| io_err(path, op, e))
    }

    /// Remove the empty directory at `path` (a symlink there is refused).
    pub fn remove_dir(&self, path: impl AsRef<Path>) -> GuestResult<()> {
        let path = path.as_ref();
        let (dir, name) = self.open_parent(path, "rmdir")?;
        sys::unlinkat(dir.as_fd(), &name, libc::AT_REMOVEDIR).map_err(|e| io_err(path, "rmdir", e))
    }

    /// Create a symlink at `linkpath` whose text is `target` (stored as is,
    /// not resolved or checked). Fails if `linkpath` exists.
    pub fn symlink(&self, target: impl AsRef<Path>, linkpath: impl AsRef<Path>) -> GuestResult<()> {
        let linkpath = linkpath.as_ref();
        let op = "symlink";
        let t = CString::new(target.as_ref().as_os_str().as_bytes()).map_err(|_| {
            GuestError::Invalid {
                path: gpath(linkpath),
                op: op.into(),
                detail: "symlink target contains a NUL byte".into(),
            }
        })?;
        let (dir, name) = self.open_parent(linkpath, op)?;
        sys::symlinkat(&t, dir.as_fd(), &name).map_err(|e| io_err(linkpath, op, e))
    }

    /// Create the directory `path` and its missing parents with `mode`
    /// (owned by the caller, normally root). Existing directories, also
    /// through symlinks inside the guest, are fine.
    pub fn create_dir_all(&self, path: impl AsRef<Path>, mode: u32) -> GuestResult<()> {
        let path = path.as_ref();
        check_path(path, "mkdir")?;
        self.mkdir_rec(path, path, mode, 0)
    }

    fn mkdir_rec(&self, path: &Path, orig: &Path, mode: u32, depth: usize) -> GuestResult<()> {
        let op = "mkdir";
        match self.resolve(path, op, libc::O_PATH | libc::O_DIRECTORY, true) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(relabel(e, orig, op)),
        }
        if depth > resolve::PATH_MAX {
            return Err(io_err(
                orig,
                op,
                io::Error::from_raw_os_error(libc::ENAMETOOLONG),
            ));
        }
        let (parent, _) = split_parent(path.as_os_str().as_bytes())
            .map_err(|detail| invalid(orig, op, detail))?;
        self.mkdir_rec(Path::new(OsStr::from_bytes(parent)), orig, mode, depth + 1)?;
        let (dir, cname) = self.open_parent(path, op)?;
        match sys::mkdirat(dir.as_fd(), &cname, mode) {
            Ok(()) => {
                tracing::debug!(path = %gpath(path).display(), "created guest directory");
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                // Raced, or a symlink / non-directory is in the way.
                self.resolve(path, op, libc::O_PATH | libc::O_DIRECTORY, true)
                    .map(drop)
                    .map_err(|_| io_err(path, op, e))
            }
            Err(e) => Err(io_err(path, op, e)),
        }
    }

    /// Copy `src` to `dst` for a backup, preserving what can be preserved:
    /// bytes, mode, owner, access and modification times and all extended
    /// attributes (`security.selinux`, `user.*`, ACLs). A symlink at `src` is
    /// copied as a symlink with the same text (owner and times kept; symlink
    /// xattrs are not copied). `dst` is replaced atomically like
    /// [`GuestRoot::write_atomic`]. Other file types are refused.
    pub fn copy_preserving(&self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> GuestResult<()> {
        let (src, dst) = (src.as_ref(), dst.as_ref());
        let op = "copy";
        let link = self.resolve(src, op, libc::O_PATH, false)?;
        let st = sys::fstat(link.as_fd()).map_err(|e| io_err(src, op, e))?;
        let (dir, name) = self.open_parent(dst, op)?;

        if sys::is_lnk(&st) {
            let text =
                sys::readlinkat(link.as_fd(), c"").map_err(|e| io_err(src, "readlink", e))?;
            let text = CString::new(text).map_err(|_| invalid(src, op, "symlink text has NUL"))?;
            let tmp = temp_name(&name);
            sys::symlinkat(&text, dir.as_fd(), &tmp).map_err(|e| io_err(dst, "symlink", e))?;
            let mut guard = TempGuard {
                dir: dir.as_fd(),
                name: &tmp,
                armed: true,
            };
            match sys::lchownat(dir.as_fd(), &tmp, st.st_uid, st.st_gid) {
                Err(e) if !ownership_unsupported(dir.as_fd(), &e) => {
                    return Err(io_err(dst, "chown", e))
                }
                _ => {}
            }
            sys::lutimensat(dir.as_fd(), &tmp, &sys::times_of(&st))
                .map_err(|e| io_err(dst, "set times", e))?;
            sys::renameat(dir.as_fd(), &tmp, &name).map_err(|e| io_err(dst, "rename", e))?;
            guard.armed = false;
            return sys::fsync(dir.as_fd()).map_err(|e| io_err(dst, "fsync directory", e));
        }
        if !sys::is_reg(&st) {
            return Err(invalid(
                src,
                op,
                format!(
                    "not a regular file or symlink but a {}",
                    sys::type_word(&st)
                ),
            ));
        }
        drop(link);
        let srcfd = self.resolve(
            src,
            op,
            libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
            false,
        )?;
        let st = sys::fstat(srcfd.as_fd()).map_err(|e| io_err(src, "stat", e))?;
        if !sys::is_reg(&st) {
            return Err(invalid(src, op, "changed type while being copied"));
        }
        let names = sys::list_xattrs(srcfd.as_fd()).map_err(|e| io_err(src, "list xattrs", e))?;
        let mut xattrs = Vec::with_capacity(names.len());
        for n in names {
            let label = format!("get xattr {}", n.to_string_lossy());
            if let Some(v) = sys::get_xattr(srcfd.as_fd(), &n).map_err(|e| io_err(src, label, e))? {
                xattrs.push((n, v));
            }
        }
        let mut srcfile = File::from(srcfd);
        self.replace_in(dst, op, &dir, &name, |tmp| {
            let mut out: &File = tmp;
            io::copy(&mut srcfile, &mut out).map_err(at("copy bytes"))?;
            set_owner_mode(tmp.as_fd(), st.st_uid, st.st_gid, st.st_mode & 0o7777)?;
            for (n, v) in &xattrs {
                sys::set_xattr(tmp.as_fd(), n, v)
                    .map_err(|e| (format!("set xattr {}", n.to_string_lossy()), e))?;
            }
            sys::futimens(tmp.as_fd(), &sys::times_of(&st)).map_err(at("set times"))?;
            Ok(())
        })?;
        // Again on the final name: a FUSE filesystem (fusefat) may stamp the
        // time of its own flush at fsync or close, after the futimens above.
        sys::lutimensat(dir.as_fd(), &name, &sys::times_of(&st))
            .map_err(|e| io_err(dst, "set times", e))
    }

    // ----- internals -----------------------------------------------------

    /// Resolve and open `path` (see `resolve::resolve`), mapping failures to
    /// [`GuestError`] with `op`.
    fn resolve(
        &self,
        path: &Path,
        op: &str,
        flags: libc::c_int,
        follow: bool,
    ) -> GuestResult<OwnedFd> {
        let bytes = check_path(path, op)?;
        resolve::resolve(self.fd.as_fd(), self.mode, bytes, flags, follow)
            .map_err(|f| fail_err(path, op, f))
    }

    /// Open a regular file read-only (following symlinks inside the guest),
    /// refusing other types without blocking on FIFOs.
    fn open_regular(&self, path: &Path, op: &str) -> GuestResult<(File, libc::stat)> {
        let fd = self.resolve(
            path,
            op,
            libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
            true,
        )?;
        let st = sys::fstat(fd.as_fd()).map_err(|e| io_err(path, op, e))?;
        if !sys::is_reg(&st) {
            return Err(invalid(
                path,
                op,
                format!("not a regular file but a {}", sys::type_word(&st)),
            ));
        }
        Ok((File::from(fd), st))
    }

    /// The parent directory of `path` opened `O_RDONLY|O_DIRECTORY` (resolved
    /// confined, symlinks followed) and the final name (never followed).
    fn open_parent(&self, path: &Path, op: &str) -> GuestResult<(OwnedFd, CString)> {
        let bytes = check_path(path, op)?;
        let (parent, name) = split_parent(bytes).map_err(|d| invalid(path, op, d))?;
        let dir = resolve::resolve(
            self.fd.as_fd(),
            self.mode,
            parent,
            libc::O_RDONLY | libc::O_DIRECTORY,
            true,
        )
        .map_err(|f| fail_err(path, op, f))?;
        let name = CString::new(name).map_err(|_| invalid(path, op, "NUL in path"))?;
        Ok((dir, name))
    }

    /// Create a temporary file next to `name` in `dir`, let `fill` write and
    /// set it up, fsync it, rename it over `name`, fsync `dir`. The temporary
    /// file is removed on any failure.
    fn replace_in(
        &self,
        path: &Path,
        op: &str,
        dir: &OwnedFd,
        name: &CString,
        fill: impl FnOnce(&File) -> Result<(), (String, io::Error)>,
    ) -> GuestResult<()> {
        let (tmp, fd) =
            create_temp(dir.as_fd(), name).map_err(|e| io_err(path, "create temporary file", e))?;
        let mut guard = TempGuard {
            dir: dir.as_fd(),
            name: &tmp,
            armed: true,
        };
        let file = File::from(fd);
        fill(&file).map_err(|(what, e)| io_err(path, what, e))?;
        file.sync_all().map_err(|e| io_err(path, "fsync", e))?;
        drop(file);
        sys::renameat(dir.as_fd(), &tmp, name).map_err(|e| io_err(path, "rename", e))?;
        guard.armed = false;
        sys::fsync(dir.as_fd()).map_err(|e| io_err(path, "fsync directory", e))?;
        tracing::debug!(path = %gpath(path).display(), op, "guest file replaced");
        Ok(())
    }
}

/// Removes a temporary file unless disarmed.
struct TempGuard<'a> {
    dir: BorrowedFd<'a>,
    name: &'a CString,
    armed: bool,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = sys::unlinkat(self.dir, self.name, 0);
        }
    }
}

/// A fresh temporary name next to `name`: `.NAME.hydra-PID-N` (shortened to
/// stay under `NAME_MAX`).
fn temp_name(name: &CString) -> CString {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let base = name.as_bytes();
    let base = &base[..base.len().min(200)];
    let mut v = Vec::with_capacity(base.len() + 32);
    v.push(b'.');
    v.extend_from_slice(base);
    v.extend_from_slice(format!(".hydra-{}-{n}", std::process::id()).as_bytes());
    CString::new(v).expect("no NUL in a CString's bytes plus ASCII")
}

/// Create an exclusive temporary file (mode 0600) next to `name` in `dir`.
fn create_temp(dir: BorrowedFd<'_>, name: &CString) -> io::Result<(CString, OwnedFd)> {
    let mut last = None;
    for _ in 0..100 {
        let tmp = temp_name(name);
        match sys::openat(
            dir,
            &tmp,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
            0o600,
        ) {
            Ok(fd) => return Ok((tmp, fd)),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EEXIST)))
}

/// Whether `e` from chown/chmod only says the filesystem of `fd` has no Unix
/// ownership (vfat, FUSE such as ntfs-3g, NTFS).
fn ownership_unsupported(fd: BorrowedFd<'_>, e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::EINVAL) | Some(libc::ENOTSUP) | Some(libc::ENOSYS)
    ) && matches!(
        sys::fs_type(fd),
        Ok(sys::MSDOS_SUPER_MAGIC) | Ok(sys::FUSE_SUPER_MAGIC) | Ok(sys::NTFS_SB_MAGIC)
    )
}

/// `fchown` (when the owner differs) then `fchmod` (chown clears setuid).
fn set_owner_mode(
    fd: BorrowedFd<'_>,
    uid: u32,
    gid: u32,
    mode: u32,
) -> Result<(), (String, io::Error)> {
    let st = sys::fstat(fd).map_err(at("stat"))?;
    if st.st_uid != uid || st.st_gid != gid {
        if let Err(e) = sys::fchown(fd, uid, gid) {
            if !ownership_unsupported(fd, &e) {
                return Err(("chown".into(), e));
            }
            tracing::debug!("chown unsupported on this filesystem: {e}");
        }
    }
    if let Err(e) = sys::fchmod(fd, mode & 0o7777) {
        if !ownership_unsupported(fd, &e) {
            return Err(("chmod".into(), e));
        }
        tracing::debug!("chmod unsupported on this filesystem: {e}");
    }
    Ok(())
}

/// Label an io::Error for `replace_in`'s fill closure.
fn at(what: &'static str) -> impl FnOnce(io::Error) -> (String, io::Error) {
    move |e| (what.to_string(), e)
}

/// Case-insensitive comparison of two names: Unicode (per-char lowercase)
/// when both are UTF-8, ASCII otherwise.
fn eq_case_insensitive(a: &[u8], b: &[u8]) -> bool {
    match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(a), Ok(b)) => a
            .chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase)),
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// Split a guest path into parent and final name. The name must be a real
/// component (not empty, `.` or `..`, no trailing `/`).
fn split_parent(p: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    if p.ends_with(b"/") {
        return Err("path ends with '/': a file name is needed");
    }
    let (parent, name) = match p.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &p[1..]),
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (&b"/"[..], p),
    };
    match name {
        b"" => Err("empty path"),
        b"." | b".." => Err("path ends in '.' or '..': a file name is needed"),
        _ => Ok((parent, name)),
    }
}

/// Check a guest path for NUL and length; return its bytes.
fn check_path<'a>(path: &'a Path, op: &str) -> GuestResult<&'a [u8]> {
    let b = path.as_os_str().as_bytes();
    if b.contains(&0) {
        return Err(invalid(path, op, "path contains a NUL byte"));
    }
    if b.len() > resolve::PATH_MAX {
        return Err(io_err(
            path,
            op,
            io::Error::from_raw_os_error(libc::ENAMETOOLONG),
        ));
    }
    Ok(b)
}

/// The guest path as shown in messages: absolute.
fn gpath(p: &Path) -> PathBuf {
    Path::new("/").join(p)
}

fn io_err(path: &Path, op: impl Into<String>, source: io::Error) -> GuestError {
    GuestError::Io {
        path: gpath(path),
        op: op.into(),
        source,
    }
}

fn invalid(path: &Path, op: &str, detail: impl Into<String>) -> GuestError {
    GuestError::Invalid {
        path: gpath(path),
        op: op.into(),
        detail: detail.into(),
    }
}

fn fail_err(path: &Path, op: &str, f: Fail) -> GuestError {
    match f {
        Fail::Os(e) => io_err(path, op, e),
        Fail::MagicLink(link) => GuestError::SymlinkEscape {
            path: gpath(path),
            op: op.into(),
            link,
        },
        Fail::Loop => GuestError::SymlinkLoop {
            path: gpath(path),
            op: op.into(),
        },
    }
}

/// Re-address an error from an inner step to the path and operation the
/// caller asked for, keeping its cause.
fn relabel(e: GuestError, path: &Path, op: &str) -> GuestError {
    match e {
        GuestError::Io {
            source,
            path: inner,
            op: inner_op,
        } => GuestError::Io {
            op: if inner == gpath(path) {
                op.to_string()
            } else {
                format!("{op} ({inner_op} {})", inner.display())
            },
            path: gpath(path),
            source,
        },
        GuestError::SymlinkEscape { link, .. } => GuestError::SymlinkEscape {
            path: gpath(path),
            op: op.into(),
            link,
        },
        GuestError::SymlinkLoop { .. } => GuestError::SymlinkLoop {
            path: gpath(path),
            op: op.into(),
        },
        other => other,
    }
}
