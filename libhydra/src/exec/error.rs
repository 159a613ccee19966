//! `ExecError`: why a command failed, with its human description, and the program-to-Debian-package table.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

/// A command that could not be run or did not succeed. Every variant carries
/// the command's human description ("rebuild initramfs for 5.14.0-70 with
/// dracut") and the program.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program (or, for an existing file, its interpreter or dynamic
    /// loader) was not found.
    #[error("{description}: {program}: {}{}{}", what(*.interpreter_missing), where_(.chroot.as_deref()), hint(.package, .chroot.is_some()))]
    NotFound {
        /// What the command was for.
        description: String,
        /// The program as given.
        program: String,
        /// The program file exists; its `#!` interpreter or ELF loader does not.
        interpreter_missing: bool,
        /// The guest tree when run in a chroot.
        chroot: Option<PathBuf>,
        /// The Debian package that usually provides it, when known.
        package: Option<&'static str>,
    },
    /// The process could not be started for another reason (permission,
    /// missing chroot directory, resource limits).
    #[error("{description}: {program}: cannot start: {source}")]
    Spawn {
        /// What the command was for.
        description: String,
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The command ran and exited with a status that is not a success.
    #[error("{description}: {program} failed ({status}){}", tail(.stderr_tail))]
    Failed {
        /// What the command was for.
        description: String,
        /// The program.
        program: String,
        /// The full command line (shell-quoted).
        command: String,
        /// Exit status (code or signal).
        status: ExitStatus,
        /// The last lines of stderr (of stdout when stderr was empty).
        stderr_tail: String,
    },
    /// The command ran longer than its timeout; its process group was killed.
    #[error("{description}: {program} timed out after {timeout:?} and was killed{}", tail(.stderr_tail))]
    Timeout {
        /// What the command was for.
        description: String,
        /// The program.
        program: String,
        /// The full command line (shell-quoted).
        command: String,
        /// The timeout that expired.
        timeout: Duration,
        /// The last lines of stderr so far.
        stderr_tail: String,
    },
    /// Waiting for or talking to the process failed.
    #[error("{description}: {program}: {op}: {source}")]
    Io {
        /// What the command was for.
        description: String,
        /// The program.
        program: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl ExecError {
    /// The human description of the command.
    pub fn description(&self) -> &str {
        match self {
            ExecError::NotFound { description, .. }
            | ExecError::Spawn { description, .. }
            | ExecError::Failed { description, .. }
            | ExecError::Timeout { description, .. }
            | ExecError::Io { description, .. } => description,
        }
    }

    /// The exit code, for [`ExecError::Failed`] with a normal exit.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExecError::Failed { status, .. } => status.code(),
            _ => None,
        }
    }

    /// Whether the program was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ExecError::NotFound { .. })
    }

    /// Whether the command timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ExecError::Timeout { .. })
    }

    /// The stderr tail carried by [`ExecError::Failed`] or [`ExecError::Timeout`].
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            ExecError::Failed { stderr_tail, .. } | ExecError::Timeout { stderr_tail, .. } => {
                Some(stderr_tail)
            }
            _ => None,
        }
    }
}

fn what(interpreter_missing: bool) -> &'static str {
    if interpreter_missing {
        "its interpreter or dynamic loader was not found"
    } else {
        "not found"
    }
}

fn where_(chroot: Option<&Path>) -> String {
    match chroot {
        Some(root) => format!(" inside the guest tree {}", root.display()),
        None => String::new(),
    }
}

fn hint(package: &Option<&'static str>, in_guest: bool) -> String {
    match (package, in_guest) {
        (Some(p), false) => format!(" (install the Debian package `{p}` on this machine)"),
        (Some(p), true) => format!(" (the guest lacks it; on Debian-like guests it is in `{p}`)"),
        (None, _) => String::new(),
    }
}

fn tail(t: &str) -> String {
    if t.is_empty() {
        String::from("; no output")
    } else {
        let mut s = String::from("; last lines of output:");
        for l in t.lines() {
            s.push_str("\n    ");
            s.push_str(l);
        }
        s
    }
}

/// The Debian package that usually provides `program` (by base name), for
/// the tools Hydra runs. Checked with `dpkg -S` on Debian 12 where installed
/// (the `parted`, `kpartx`, `udev` and hivex rows from the Debian 12 archive).
pub fn debian_package_for(program: &str) -> Option<&'static str> {
    let base = program.rsplit('/').next().unwrap_or(program);
    Some(match base {
        "sgdisk" | "gdisk" => "gdisk",
        "sfdisk" | "fdisk" => "fdisk",
        "partprobe" | "parted" => "parted",
        "kpartx" => "kpartx",
        "mkfs.xfs" | "xfs_admin" | "xfs_repair" | "xfs_db" | "xfs_growfs" => "xfsprogs",
        "qemu-storage-daemon" | "qemu-nbd" | "qemu-img" => "qemu-utils",
        "lvm" | "pvs" | "vgs" | "lvs" | "pvscan" | "vgscan" | "lvscan" | "vgchange"
        | "lvchange" | "vgimportclone" | "pvdisplay" | "vgdisplay" | "lvdisplay" => "lvm2",
        "dmsetup" => "dmsetup",
        "ntfs-3g" | "ntfsfix" | "mkfs.ntfs" | "mkntfs" | "ntfslabel" => "ntfs-3g",
        "fusefat" => "fusefat",
        "blkid" | "wipefs" | "findmnt" | "mountpoint" | "lsblk" => "util-linux",
        "losetup" | "mount" | "umount" => "mount",
        "mkfs.ext4" | "mkfs.ext3" | "mke2fs" | "e2fsck" | "tune2fs" | "resize2fs" | "debugfs" => {
            "e2fsprogs"
        }
        "mkfs.vfat" | "mkfs.fat" | "fsck.vfat" | "fsck.fat" => "dosfstools",
        "btrfs" | "mkfs.btrfs" => "btrfs-progs",
        "cryptsetup" => "cryptsetup-bin",
        "udevadm" => "udev",
        "chroot" => "coreutils",
        "hivexregedit" => "libwin-hivex-perl",
        "hivexget" | "hivexsh" | "hivexml" => "libhivex-bin",
        _ => return None,
    })
}
