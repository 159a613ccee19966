//! Shared helpers for Hydra's benches: fixture lookup and synthetic disks.

use std::path::PathBuf;
use std::process::Command;

/// The repository's top directory.
pub fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

/// Disks of a fixture built (or cached) by `testdata/build`, or `None` with a loud
/// message when it cannot be built here (not root, tools missing).
pub fn fixture(name: &str) -> Option<Vec<PathBuf>> {
    let out = Command::new(top().join("testdata/build"))
        .arg(name)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "*** SKIPPED fixture bench {name}: testdata/build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .collect(),
    )
}
