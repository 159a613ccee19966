//! `GuestError`: errors of confined guest file access, each naming the guest path and the operation.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// An error of a [`GuestRoot`](super::GuestRoot) operation. Every variant names
/// the guest path (as seen from inside the guest, e.g. `/etc/fstab`) and the
/// operation (`open`, `read`, `write`, `rename`, ...).
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// An OS error, e.g. `/etc/fstab: open: No such file or directory (os error 2)`.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The guest path.
        path: PathBuf,
        /// The operation.
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A symlink that would leave the guest tree was refused: a magic link
    /// such as `/proc/self/root` or `/proc/<pid>/fd/<n>`. (Absolute symlinks
    /// and `..` are not refused: they are re-rooted at the guest root.)
    #[error("{path}: {op}: refused symlink escape: {link} is a magic link (procfs) that would leave the guest tree")]
    SymlinkEscape {
        /// The guest path.
        path: PathBuf,
        /// The operation.
        op: String,
        /// The guest path of the refused link.
        link: String,
    },
    /// More than 40 symlinks were followed: a symlink loop.
    #[error("{path}: {op}: too many levels of symbolic links (more than 40; a loop?)")]
    SymlinkLoop {
        /// The guest path.
        path: PathBuf,
        /// The operation.
        op: String,
    },
    /// The file is larger than the read cap.
    #[error("{path}: {op}: file is {size} bytes, larger than the cap of {cap} bytes")]
    TooLarge {
        /// The guest path.
        path: PathBuf,
        /// The operation.
        op: String,
        /// Size found (at least).
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The path or the file found is unusable for the operation: not a regular
    /// file, path ends in `..`, contains NUL, not UTF-8, ...
    #[error("{path}: {op}: {detail}")]
    Invalid {
        /// The guest path.
        path: PathBuf,
        /// The operation.
        op: String,
        /// What is wrong.
        detail: String,
    },
    /// A case-insensitive lookup matched more than one name in a directory.
    #[error("{path}: {op}: ambiguous case-insensitive match for {component:?} in {dir}: {}", list(.candidates))]
    Ambiguous {
        /// The guest path looked up.
        path: PathBuf,
        /// The operation.
        op: String,
        /// The guest directory holding the candidates.
        dir: PathBuf,
        /// The component that matched several names.
        component: OsString,
        /// The names that matched.
        candidates: Vec<OsString>,
    },
}

fn list(c: &[OsString]) -> String {
    c.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl GuestError {
    /// The guest path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            GuestError::Io { path, .. }
            | GuestError::SymlinkEscape { path, .. }
            | GuestError::SymlinkLoop { path, .. }
            | GuestError::TooLarge { path, .. }
            | GuestError::Invalid { path, .. }
            | GuestError::Ambiguous { path, .. } => path,
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> &str {
        match self {
            GuestError::Io { op, .. }
            | GuestError::SymlinkEscape { op, .. }
            | GuestError::SymlinkLoop { op, .. }
            | GuestError::TooLarge { op, .. }
            | GuestError::Invalid { op, .. }
            | GuestError::Ambiguous { op, .. } => op,
        }
    }

    /// Whether a symlink escape (a magic link) was refused.
    pub fn is_escape_refused(&self) -> bool {
        matches!(self, GuestError::SymlinkEscape { .. })
    }

    /// Whether the path (or a directory on the way) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GuestError::Io { source, .. }
            if source.raw_os_error() == Some(libc::ENOENT) || source.kind() == io::ErrorKind::NotFound)
    }

    /// The OS error number, for [`GuestError::Io`].
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            GuestError::Io { source, .. } => source.raw_os_error(),
            GuestError::SymlinkLoop { .. } => Some(libc::ELOOP),
            _ => None,
        }
    }
}
