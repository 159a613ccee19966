//! Test support: guest trees built in temp directories (files, symlinks, directories at guest paths).

use std::path::{Path, PathBuf};

/// The host path of guest path `rel` under `root`.
fn at(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

/// Write `content` at guest path `rel`, making its directories.
pub(crate) fn put(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = at(root, rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
}

/// A symlink at guest path `rel` with text `target`, making its directories.
pub(crate) fn link(root: &Path, rel: &str, target: &str) {
    let p = at(root, rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, &p).unwrap();
}

/// The directory at guest path `rel`, with its parents.
pub(crate) fn dir(root: &Path, rel: &str) {
    std::fs::create_dir_all(at(root, rel)).unwrap();
}

/// systemd-resolved's shape: `/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf`,
/// the stub file present.
pub(crate) fn resolved_stub(root: &Path) {
    put(
        root,
        "/run/systemd/resolve/stub-resolv.conf",
        "nameserver 127.0.0.53\n",
    );
    link(
        root,
        "/etc/resolv.conf",
        "../run/systemd/resolve/stub-resolv.conf",
    );
}
