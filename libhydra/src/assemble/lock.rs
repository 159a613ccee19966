//! One Hydra run per tree root: an exclusive `flock` on `<runtime dir>/locks/<tree root, escaped>.lock`, held while the tree is assembled and used.
//!
//! Two runs given the same tree root (the default `/mnt/azure_sms_root`, when
//! an engineer starts a second guest without `--tree-root`) would both find
//! it empty and mount into each other's tree. The lock is taken before
//! anything is made, without waiting: the second run is refused at once,
//! naming the run that holds it. The kernel drops an `flock` when its holder
//! exits, however it exits, so a killed run leaves no stale lock. A tree
//! left mounted on purpose (`hydra-mount mount`) outlives its lock; the
//! tree root's own check (a mountpoint, or not empty) refuses a second run
//! there.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::teardown::{CloseError, Resource};

/// The lock file of `tree_root` under `runtime_dir`: the root's absolute,
/// lexically normalised path with every byte but `[A-Za-z0-9._-]` as `%XX`.
pub fn lock_path(runtime_dir: &Path, tree_root: &Path) -> PathBuf {
    let abs = if tree_root.is_absolute() {
        tree_root.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(tree_root)
    };
    let mut norm = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => norm.push(n),
            Component::ParentDir => {
                norm.pop();
            }
            _ => {}
        }
    }
    let canon = std::fs::canonicalize(&norm).unwrap_or(norm);
    let mut name = String::new();
    for b in std::os::unix::ffi::OsStrExt::as_bytes(canon.as_os_str()) {
        if b.is_ascii_alphanumeric() || b"._-".contains(b) {
            name.push(*b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    runtime_dir.join("locks").join(format!("{name}.lock"))
}

/// The held lock of a tree root (released when closed or dropped).
#[derive(Debug)]
pub struct TreeLock {
    file: File,
    path: PathBuf,
    tree_root: PathBuf,
}

impl TreeLock {
    /// Take the lock of `tree_root`, or fail at once with
    /// [`io::ErrorKind::WouldBlock`] and a message naming the holder's pid.
    pub fn acquire(runtime_dir: &Path, tree_root: &Path) -> io::Result<TreeLock> {
        let path = lock_path(runtime_dir, tree_root);
        let dir = path.parent().expect("the lock file has a directory");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)?;
        // SAFETY: plain syscall on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(e);
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another Hydra run{} is using this tree root (lock {}); give this run its own with --tree-root DIR",
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    },
                    path.display()
                ),
            ));
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(TreeLock {
            file,
            path,
            tree_root: tree_root.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Resource for TreeLock {
    fn describe(&self) -> String {
        format!("lock of tree root {}", self.tree_root.display())
    }

    fn close(self: Box<Self>) -> Result<(), CloseError> {
        // The file stays (removing it would race with a run that just opened
        // it); closing the descriptor drops the lock.
        drop(self.file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_run_on_a_tree_root_is_refused_until_the_first_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let rt = d.path().join("rt");
        let root = d.path().join("tree");
        let a = TreeLock::acquire(&rt, &root).unwrap();
        // Another descriptor is another lock owner, as another process is.
        let e = TreeLock::acquire(&rt, &root.join("../tree/.")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())) && msg.contains("--tree-root"),
            "{msg}"
        );
        // Another tree root is free.
        let b = TreeLock::acquire(&rt, &d.path().join("tree2")).unwrap();
        assert_ne!(a.path(), b.path());
        Box::new(a).close().unwrap();
        TreeLock::acquire(&rt, &root).unwrap();
    }

    #[test]
    fn lock_names_are_escaped_paths() {
        let p = lock_path(
            Path::new("/run/hydra"),
            Path::new("/nonexistent/azure sms/../x"),
        );
        assert_eq!(p, Path::new("/run/hydra/locks/%2Fnonexistent%2Fx.lock"));
    }
}
