//! The chroot's own `/dev`: a tmpfs with the basic nodes, the guest's block devices and their `/dev/disk/by-*` and `/dev/mapper` names.
//!
//! The guest's grub and initramfs tools look devices up by UUID
//! (`/dev/disk/by-uuid/...`) and LVs by `/dev/mapper/VG-LV`. Without udev (our
//! machines) those names do not exist, and on a real helper they are the
//! *helper's*. Binding the host's `/dev` would also let anything the guest's
//! tools create there land on the host. So the chroot gets a tmpfs `/dev` of its
//! own, populated here: the character devices tools need, a node for every
//! attached disk, partition and mapped LV (same names as on the host, so
//! `/proc/self/mountinfo` sources resolve), and the by-uuid / by-label /
//! by-partuuid / by-partlabel links and mapper names computed from Hydra's scan.

use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// A block device to expose in the chroot, with the names that lead to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevNode {
    /// The host node (`/dev/loop3p2`); the chroot gets a node of the same name.
    pub host: PathBuf,
    /// Extra names relative to `/dev` that point at it
    /// (`disk/by-uuid/...`, `mapper/rhel-root`, `rhel/root`).
    pub links: Vec<String>,
}

/// Character devices every chroot gets: (name, major, minor, mode).
const CHAR_DEVICES: &[(&str, u32, u32, u32)] = &[
    ("null", 1, 3, 0o666),
    ("zero", 1, 5, 0o666),
    ("full", 1, 7, 0o666),
    ("random", 1, 8, 0o666),
    ("urandom", 1, 9, 0o666),
    ("tty", 5, 0, 0o666),
    ("console", 5, 1, 0o600),
];

/// udev's escaping of a name in `/dev/disk/by-label/` etc.: bytes outside
/// `[A-Za-z0-9#+-.:=@_]` become `\xNN`.
pub fn udev_escape(name: &str) -> String {
    let mut s = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"#+-.:=@_".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// The device-mapper name of an LV: dashes in each part doubled, joined by `-`.
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// Populate the tmpfs mounted at `dev` (a directory Hydra mounted and owns).
pub fn populate(dev: &Path, nodes: &[DevNode]) -> io::Result<()> {
    for (name, major, minor, mode) in CHAR_DEVICES {
        mknod(&dev.join(name), libc::S_IFCHR, *major, *minor, *mode)?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(name))?;
    }
    for d in ["pts", "shm"] {
        std::fs::create_dir(dev.join(d))?;
    }
    std::fs::set_permissions(dev.join("shm"), std::fs::Permissions::from_mode(0o1777))?;
    for n in nodes {
        let name = n
            .host
            .file_name()
            .and_then(|s| s.to_str())
            .ok_or_else(|| io::Error::other(format!("odd device name {}", n.host.display())))?;
        let (major, minor) = block_numbers(&n.host)?;
        let node = dev.join(name);
        if !node.exists() {
            mknod(&node, libc::S_IFBLK, major, minor, 0o660)?;
        }
        for link in &n.links {
            let l = dev.join(link);
            if link.contains("..") || link.starts_with('/') {
                return Err(io::Error::other(format!(
                    "refusing device link name {link}"
                )));
            }
            let parent = l.parent().expect("joined path has a parent");
            std::fs::create_dir_all(parent)?;
            // Relative, as udev makes them: disk/by-uuid/X -> ../../loop3p2.
            let depth = link.matches('/').count();
            let target = format!("{}{name}", "../".repeat(depth));
            if l.symlink_metadata().is_ok() {
                // Two volumes with one name (cloned disks): the first wins, as with udev.
                tracing::warn!(link = %link, "device name already taken, keeping the first");
                continue;
            }
            symlink(target, &l)?;
        }
    }
    Ok(())
}

fn block_numbers(dev: &Path) -> io::Result<(u32, u32)> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dev)?;
    if !m.file_type().is_block_device() {
        return Err(io::Error::other(format!(
            "{} is not a block device",
            dev.display()
        )));
    }
    let rdev = m.rdev();
    Ok((libc::major(rdev), libc::minor(rdev)))
}

fn mknod(path: &Path, kind: libc::mode_t, major: u32, minor: u32, mode: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("NUL in device path"))?;
    // SAFETY: c is a valid NUL-terminated path; mknod has no memory preconditions.
    let r = unsafe { libc::mknod(c.as_ptr(), kind | mode, libc::makedev(major, minor)) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("mknod {}: {e}", path.display()),
        ));
    }
    // mknod's mode is filtered by the umask; set it exactly.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_udev_and_dm_spell_them() {
        assert_eq!(udev_escape("my label/x"), "my\\x20label\\x2fx");
        assert_eq!(udev_escape("ESP_1.0"), "ESP_1.0");
        assert_eq!(dm_name("rhel", "root"), "rhel-root");
        assert_eq!(dm_name("my-vg", "lv-home"), "my--vg-lv--home");
    }

    #[test]
    fn populate_makes_nodes_and_relative_links() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED populate_makes_nodes_and_relative_links: mknod needs root");
            assert!(std::env::var_os("HYDRA_REQUIRE_ROOT_TESTS").is_none());
            return;
        }
        let d = tempfile::tempdir().unwrap();
        // /dev/null is a char device, not a block device: refused.
        let bad = [DevNode {
            host: "/dev/null".into(),
            links: vec![],
        }];
        assert!(populate(d.path(), &bad).is_err());
        let d = tempfile::tempdir().unwrap();
        // A real block device of this machine: the first loop or any in /sys/block.
        let Some(blk) = std::fs::read_dir("/sys/block")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| PathBuf::from("/dev").join(e.file_name()))
            .find(|p| p.exists())
        else {
            panic!("no block device node on this machine");
        };
        let nodes = [DevNode {
            host: blk.clone(),
            links: vec!["disk/by-uuid/abcd".into(), "mapper/vg-root".into()],
        }];
        populate(d.path(), &nodes).unwrap();
        let name = blk.file_name().unwrap();
        assert_eq!(
            std::fs::read_link(d.path().join("disk/by-uuid/abcd")).unwrap(),
            Path::new("../..").join(name)
        );
        assert_eq!(
            std::fs::canonicalize(d.path().join("mapper/vg-root")).unwrap(),
            d.path().canonicalize().unwrap().join(name)
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(d.path().join("null"))
            .unwrap()
            .file_type()
            .is_char_device());
        let evil = [DevNode {
            host: blk,
            links: vec!["../../etc/x".into()],
        }];
        let d2 = tempfile::tempdir().unwrap();
        assert!(populate(d2.path(), &evil).is_err());
    }
}
