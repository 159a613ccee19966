//! Inspection of a mounted guest tree: OS, version, kernels, bootloader, firmware (read-only).
//!
//! Every guest file is read through [`GuestRoot`](crate::guest::GuestRoot), so
//! symlinks in the guest (relative or absolute) resolve inside the guest tree.

pub mod kernels;
pub mod os;

use std::path::PathBuf;

use crate::guest::GuestError;

/// An error of guest inspection.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Reading a guest file failed for a reason other than its absence (an
    /// I/O error, permissions): the message names the guest path.
    #[error("inspect guest: {0}")]
    Guest(#[from] GuestError),
    /// No release file identifies the operating system.
    #[error(
        "{}: cannot identify the guest operating system: no release file names it (looked at: {})",
        root.display(),
        looked_at.join("; ")
    )]
    UnknownOs {
        /// The host directory of the guest tree.
        root: PathBuf,
        /// Each guest file looked at with what was found there
        /// (`/etc/os-release: absent`, `/etc/redhat-release: not recognised: "..."`).
        looked_at: Vec<String>,
    },
}
