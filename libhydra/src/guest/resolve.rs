//! Path resolution confined to the guest root: `openat2(RESOLVE_IN_ROOT)` and the userspace walker fallback.
//!
//! Both resolvers give the same answer: the guest root acts as `/` for
//! absolute paths, absolute symlink targets and `..`; symlinks are followed
//! (at most [`MAX_SYMLINKS`] of them) but always inside the root; magic links
//! (procfs `/proc/*/root`, `/proc/*/fd/*`, ...) are refused.
//!
//! The userspace walker opens one component at a time with
//! `O_PATH|O_NOFOLLOW`, reads symlink text from the very inode it opened (no
//! race between check and read), and implements `..` by popping a stack of
//! directory descriptors it opened itself, so a concurrent rename cannot move
//! it above the root. It refuses *every* symlink that lives on procfs (stricter
//! than the kernel, which refuses only the magic ones): guest paths never need
//! to resolve through the host's `/proc`.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use libc::c_int;

use super::sys;

/// The kernel's limit on symlinks followed in one resolution (`MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;
/// Deepest directory stack the walker keeps (each level holds an fd).
const MAX_DEPTH: usize = 256;
/// Longest guest path accepted (`PATH_MAX`).
pub(crate) const PATH_MAX: usize = 4096;
/// How often `openat2` is retried when it reports a concurrent rename (`EAGAIN`).
const EAGAIN_RETRIES: usize = 32;

/// How a guest path failed to resolve.
#[derive(Debug)]
pub(crate) enum Fail {
    /// An OS error (ENOENT, ENOTDIR, ELOOP from `O_NOFOLLOW`, ...).
    Os(io::Error),
    /// A magic link (a symlink on procfs) was refused; the guest path prefix
    /// where it sat.
    MagicLink(String),
    /// More than [`MAX_SYMLINKS`] symlinks.
    Loop,
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Os(e)
    }
}

/// Which resolver is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Openat2,
    Walk,
}

/// Resolve `path` inside `root` and open it with `flags` (`O_CREAT` is not
/// allowed here: creation goes through a parent directory fd).
/// `follow`: whether a symlink at the final component is followed.
pub(crate) fn resolve(
    root: BorrowedFd<'_>,
    mode: Mode,
    path: &[u8],
    flags: c_int,
    follow: bool,
) -> Result<OwnedFd, Fail> {
    debug_assert!(flags & libc::O_CREAT == 0);
    match mode {
        Mode::Openat2 => resolve_openat2(root, path, flags, follow),
        Mode::Walk => walk(root, path, flags, follow),
    }
}

/// Whether `openat2` with `RESOLVE_IN_ROOT` works on this kernel (and is not
/// blocked by a seccomp filter).
pub(crate) fn openat2_works(root: BorrowedFd<'_>) -> bool {
    match sys::openat2(
        root,
        c".",
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(
                "openat2(RESOLVE_IN_ROOT) unavailable ({e}); using the userspace path walker"
            );
            false
        }
    }
}

fn cstring(bytes: &[u8]) -> Result<CString, Fail> {
    CString::new(bytes).map_err(|_| Fail::Os(io::Error::from_raw_os_error(libc::EINVAL)))
}

fn resolve_openat2(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: c_int,
    follow: bool,
) -> Result<OwnedFd, Fail> {
    let c = cstring(if path.is_empty() { b"." } else { path })?;
    let flags = if follow {
        flags
    } else {
        flags | libc::O_NOFOLLOW
    };
    let mut last = None;
    for _ in 0..EAGAIN_RETRIES {
        match sys::openat2(
            root,
            &c,
            flags,
            0,
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        ) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => last = Some(e),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                // ELOOP means a loop, a refused magic link, or O_NOFOLLOW on a
                // final symlink. Ask the walker (read-only, O_PATH) which.
                return Err(match walk(root, path, libc::O_PATH, follow) {
                    Err(Fail::MagicLink(at)) => Fail::MagicLink(at),
                    Err(Fail::Loop) => Fail::Loop,
                    _ => Fail::Os(e),
                });
            }
            Err(e) => return Err(Fail::Os(e)),
        }
    }
    Err(Fail::Os(last.unwrap_or_else(|| {
        io::Error::from_raw_os_error(libc::EAGAIN)
    })))
}

/// Split a path into components, dropping empty ones and `.`.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// The userspace walker (see the module docs).
pub(crate) fn walk(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: c_int,
    mut follow: bool,
) -> Result<OwnedFd, Fail> {
    if path.len() > PATH_MAX {
        return Err(Fail::Os(io::Error::from_raw_os_error(libc::ENAMETOOLONG)));
    }
    let mut flags = flags;
    // A trailing "/" or "/." asks for a directory and follows a final symlink,
    // as in the kernel.
    if path.ends_with(b"/") || path.ends_with(b"/.") || path == b"." {
        follow = true;
        flags |= libc::O_DIRECTORY;
    }
    let mut queue: VecDeque<Vec<u8>> = components(path).map(<[u8]>::to_vec).collect();
    // Directories below the root, innermost last; `..` pops.
    let mut stack: Vec<OwnedFd> = Vec::new();
    // Guest path of the current directory, for messages.
    let mut here: Vec<Vec<u8>> = Vec::new();
    let mut links = 0u32;

    loop {
        let cur = stack.last().map(|f| f.as_fd()).unwrap_or(root);
        let Some(name) = queue.pop_front() else {
            // The path ends at a directory (the root, or after `..`).
            return Ok(sys::openat(cur, c".", flags & !libc::O_NOFOLLOW, 0)?);
        };
        if name == b".." {
            stack.pop();
            here.pop();
            continue;
        }
        let cname = cstring(&name)?;
        let last = queue.is_empty();

        if last {
            match sys::openat(cur, &cname, flags | libc::O_NOFOLLOW, 0) {
                Ok(fd) => {
                    if flags & libc::O_PATH != 0 && follow {
                        let st = sys::fstat(fd.as_fd())?;
                        if sys::is_lnk(&st) {
                            expand(&fd, &name, &here, &mut queue, &mut stack, &mut links)?;
                            here_after_link(&mut here, &stack);
                            continue;
                        }
                    }
                    return Ok(fd);
                }
                Err(e)
                    if follow
                        && matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) =>
                {
                    // Probably a symlink; look at it without following.
                    let link = sys::openat(cur, &cname, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
                    let st = sys::fstat(link.as_fd())?;
                    if !sys::is_lnk(&st) {
                        return Err(Fail::Os(e));
                    }
                    expand(&link, &name, &here, &mut queue, &mut stack, &mut links)?;
                    here_after_link(&mut here, &stack);
                    continue;
                }
                Err(e) => return Err(Fail::Os(e)),
            }
        }

        let fd = sys::openat(cur, &cname, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        let st = sys::fstat(fd.as_fd())?;
        if sys::is_lnk(&st) {
            expand(&fd, &name, &here, &mut queue, &mut stack, &mut links)?;
            here_after_link(&mut here, &stack);
        } else if sys::is_dir(&st) {
            if stack.len() >= MAX_DEPTH {
                return Err(Fail::Os(io::Error::from_raw_os_error(libc::ENAMETOOLONG)));
            }
            stack.push(fd);
            here.push(name);
        } else {
            return Err(Fail::Os(io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
    }
}

/// After an absolute link cleared the stack, the message path must follow.
fn here_after_link(here: &mut Vec<Vec<u8>>, stack: &[OwnedFd]) {
    here.truncate(stack.len());
}

/// Replace the symlink open as `link` (named `name` in the current directory)
/// by its text at the front of `queue`.
fn expand(
    link: &OwnedFd,
    name: &[u8],
    here: &[Vec<u8>],
    queue: &mut VecDeque<Vec<u8>>,
    stack: &mut Vec<OwnedFd>,
    links: &mut u32,
) -> Result<(), Fail> {
    *links += 1;
    if *links > MAX_SYMLINKS {
        return Err(Fail::Loop);
    }
    if sys::fs_type(link.as_fd())? == sys::PROC_SUPER_MAGIC {
        let mut at = String::new();
        for c in here.iter().map(Vec::as_slice).chain(std::iter::once(name)) {
            at.push('/');
            at.push_str(&String::from_utf8_lossy(c));
        }
        return Err(Fail::MagicLink(at));
    }
    let text = sys::readlinkat(link.as_fd(), c"")?;
    if text.is_empty() {
        return Err(Fail::Os(io::Error::from_raw_os_error(libc::ENOENT)));
    }
    if text.starts_with(b"/") {
        stack.clear();
    }
    for p in components(&text).rev() {
        queue.push_front(p.to_vec());
    }
    if queue.len() > PATH_MAX * (MAX_SYMLINKS as usize + 1) {
        return Err(Fail::Os(io::Error::from_raw_os_error(libc::ENAMETOOLONG)));
    }
    Ok(())
}
