//! `/proc/self/mountinfo` text: parse lines into mounts, undo its octal escapes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Mount id.
    pub id: u64,
    /// Parent mount id.
    pub parent: u64,
    /// `major:minor` of the filesystem's device (anonymous for btrfs, tmpfs, FUSE).
    pub dev: (u32, u32),
    /// The directory of the filesystem that is mounted (`/` unless a bind of a subdirectory).
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// Filesystem type (`ext4`, `fuse.fusefat`, `fuseblk`).
    pub fstype: String,
    /// Source (`/dev/loop3p1`, `tmpfs`).
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

/// Parse mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let mut it = line.split(' ');
    let id = it.next()?.parse().ok()?;
    let parent = it.next()?.parse().ok()?;
    let (ma, mi) = it.next()?.split_once(':')?;
    let dev = (ma.parse().ok()?, mi.parse().ok()?);
    let root = path(it.next()?);
    let mount_point = path(it.next()?);
    let options = it.next()?.to_string();
    for f in it.by_ref() {
        if f == "-" {
            break;
        }
    }
    let fstype = it.next()?.to_string();
    let source = String::from_utf8_lossy(&unescape(it.next()?)).into_owned();
    let super_options = it.next().unwrap_or("").to_string();
    Some(MountInfo {
        id,
        parent,
        dev,
        root,
        mount_point,
        options,
        fstype,
        source,
        super_options,
    })
}

fn path(field: &str) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&unescape(field)))
}

/// Undo mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline,
/// `\134` backslash): the same libmount unmangling as fstab's.
pub fn unescape(s: &str) -> Vec<u8> {
    super::fstab::unmangle(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/tmp/a\040b\134c\011d"), b"/tmp/a b\\c\td");
        assert_eq!(unescape(r"/x\04"), b"/x\\04");
        assert_eq!(unescape("/plain"), b"/plain");
    }

    #[test]
    fn parses_a_real_line() {
        let l =
            "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        let m = &parse(l)[0];
        assert_eq!((m.id, m.parent, m.dev), (36, 35, (98, 0)));
        assert_eq!(m.mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(m.root, PathBuf::from("/mnt1"));
        assert_eq!(m.fstype, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.super_options, "rw,errors=continue");
        assert!(parse("garbage line\n").is_empty());
    }
}
