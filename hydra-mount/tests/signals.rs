//! Root tier: a real `hydra-mount inspect` interrupted (SIGINT, SIGTERM) at many points
//! tears down what it made; one killed (SIGKILL) leaves a session that
//! `hydra-mount sweep` removes. Nothing is left in either case.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn root_tier(name: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var_os("HYDRA_REQUIRE_ROOT_TESTS").is_none(),
        "{name} needs root"
    );
    eprintln!("\n*** SKIPPED {name}: needs root ***\n");
    false
}

/// The qcow2 disk of the rhel-lvm guest: exports, LV maps, xfs, fusefat.
fn guest_disk() -> String {
    let out = Command::new(top().join("testdata/build"))
        .arg("rhel-lvm")
        .output()
        .unwrap();
    assert!(out.status.success());
    let raw = String::from_utf8(out.stdout).unwrap();
    let dir = Path::new(raw.lines().next().unwrap())
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    dir.join("qcow2/disk0.qcow2").display().to_string()
}

/// Everything a session could leave that mentions `rt`: mounts, loop devices,
/// daemons (by command line), session directories.
fn leftovers(rt: &Path) -> Vec<String> {
    let rt_s = rt.display().to_string();
    let mut v: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&rt_s) || l.contains("/run/hydra/fuse"))
        .map(|l| format!("mount: {l}"))
        .collect();
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let f = e.path().join("loop/backing_file");
        if let Ok(b) = std::fs::read_to_string(&f) {
            if b.contains(&rt_s) || b.contains("rhel-lvm") || b.starts_with("/dev/loop") {
                v.push(format!("loop {:?}: {}", e.file_name(), b.trim()));
            }
        }
    }
    let ps = Command::new("pgrep")
        .args(["-a", "-f", &rt_s])
        .output()
        .unwrap();
    v.extend(
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| !l.contains("pgrep"))
            .map(|l| format!("process: {l}")),
    );
    if let Ok(rd) = std::fs::read_dir(rt.join("sessions")) {
        v.extend(
            rd.flatten()
                .map(|e| format!("session: {}", e.path().display())),
        );
    }
    v
}

fn settle(rt: &Path) -> Vec<String> {
    // Daemons exit a moment after their mounts and loops go.
    for _ in 0..50 {
        if leftovers(rt).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    leftovers(rt)
}

fn hydra(rt: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hydra-mount"));
    c.arg("--runtime-dir").arg(rt);
    c
}

#[test]
fn interrupted_and_killed_sessions_leave_nothing() {
    if !root_tier("interrupted_and_killed_sessions_leave_nothing") {
        return;
    }
    let disk = guest_disk();
    let rt = tempfile::Builder::new()
        .prefix("hydra-signals-")
        .tempdir()
        .unwrap();
    let rt = rt.path();
    assert!(
        leftovers(rt).is_empty(),
        "clean before: {:?}",
        leftovers(rt)
    );
    let mut interrupted = 0;
    let mut swept = 0;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGKILL] {
        for delay_ms in [5u64, 15, 30, 45, 60, 80] {
            let child = hydra(rt)
                .args(["inspect", &disk])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms));
            // SAFETY: plain syscall on our child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let out = child.wait_with_output().unwrap();
            let what = format!("signal {signal} after {delay_ms} ms");
            if signal == libc::SIGKILL {
                // Killed: whatever it made is recorded; the sweep removes it.
                let s = hydra(rt).arg("sweep").output().unwrap();
                assert!(
                    s.status.success(),
                    "{what}: sweep: {}{}",
                    String::from_utf8_lossy(&s.stdout),
                    String::from_utf8_lossy(&s.stderr)
                );
                swept += usize::from(String::from_utf8_lossy(&s.stdout).contains("session "));
            } else if !out.status.success() {
                interrupted += 1;
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    err.contains("interrupted") || out.status.code().is_none(),
                    "{what}: {err}"
                );
            }
            let left = settle(rt);
            assert!(left.is_empty(), "{what}: left behind: {left:#?}");
            // The tree root directory is the only trace a killed run may leave: empty.
            if let Ok(rd) = std::fs::read_dir(rt) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("inspect-")
                    {
                        std::fs::remove_dir(&p)
                            .unwrap_or_else(|e| panic!("{what}: {} not empty: {e}", p.display()));
                    }
                }
            }
        }
    }
    eprintln!("{interrupted} runs interrupted mid-way, {swept} killed sessions swept");
    assert!(interrupted >= 1, "at least one signal landed mid-assembly");
    assert!(swept >= 1, "at least one kill left a session for the sweep");
}
