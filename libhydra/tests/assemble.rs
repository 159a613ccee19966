//! Root tier: guest trees assembled from real fixture images in every format, checked
//! against what the fixture's builder recorded, and torn down without leftovers.

mod common;

use common::*;
use libhydra::assemble::sweep::{sweep_with, SweepOptions};
use libhydra::assemble::tree::{assemble, AssembleError, AssembleOptions, GuestTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One row of a guest fixture's `guest.tsv` that names a mounted volume.
#[derive(Debug, Clone)]
struct Row {
    os: String,
    kind: String,
    target: String,
    volume: String,
    subvol: Option<String>,
}

/// A guest fixture: its disks in each format and what its builder says is where.
struct GuestFixture {
    name: String,
    formats: BTreeMap<String, Vec<PathBuf>>,
    rows: Vec<Row>,
}

fn guest_fixture(name: &str) -> GuestFixture {
    let disks = fixture(name);
    let dir = disks[0]
        .path
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let manifest: Vec<String> = std::fs::read_to_string(dir.join("manifest.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    let mut formats: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for l in std::fs::read_to_string(dir.join("formats.tsv"))
        .unwrap()
        .lines()
    {
        let f: Vec<&str> = l.split('\t').collect();
        if l.starts_with('#') || f.len() < 3 {
            continue;
        }
        let list = formats.entry(f[0].to_string()).or_default();
        let i: usize = f[1].parse().unwrap();
        if list.len() <= i {
            list.resize(i + 1, PathBuf::new());
        }
        list[i] = dir.join(f[2]);
    }
    let mut rows = Vec::new();
    for l in std::fs::read_to_string(dir.join("guest.tsv"))
        .unwrap()
        .lines()
    {
        let f: Vec<&str> = l.split('\t').collect();
        if l.starts_with('#') || f.len() < 11 || !matches!(f[1], "root" | "mount") {
            continue;
        }
        let disk = manifest
            .iter()
            .position(|m| m == f[3])
            .expect("disk in manifest");
        let volume = match f[4].strip_prefix("lv:") {
            Some(vglv) => format!("LV {vglv}"),
            None => format!("disk {disk} partition {}", f[4]),
        };
        rows.push(Row {
            os: f[0].to_string(),
            kind: f[1].to_string(),
            target: f[2].to_string(),
            volume,
            subvol: (f[8] != "-").then(|| f[8].to_string()),
        });
    }
    GuestFixture {
        name: name.to_string(),
        formats,
        rows,
    }
}

/// A scratch directory that is never deleted recursively (a tree may be mounted in
/// it, with /proc, /sys and /run bound): only emptied dirs are removed.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = tempfile::Builder::new()
            .prefix(&format!("hydra-assemble-test-{tag}-"))
            .tempdir()
            .unwrap()
            .keep();
        Scratch(p)
    }
    fn opts(&self, sub: &str) -> AssembleOptions {
        AssembleOptions {
            tree_root: self.0.join(sub),
            runtime_dir: self.0.join("run"),
            ..AssembleOptions::default()
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // rmdir only, deepest first; anything still mounted or non-empty stays.
        let _ = Command::new("find")
            .arg(&self.0)
            .args(["-depth", "-type", "d", "-empty", "-delete"])
            .status();
    }
}

/// The leak checks compare the whole machine's loops, mounts and daemons, so the
/// tests of this file run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Mounts, loop devices and storage daemons now present.
fn snapshot() -> (Vec<String>, usize, usize) {
    let (loops, mounts) = kernel_resources();
    let daemons = Command::new("pgrep")
        .args(["-c", "-x", "qemu-storage-d"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    (loops, mounts, daemons)
}

fn assert_clean(before: &(Vec<String>, usize, usize), scratch: &Scratch, what: &str) {
    let now = snapshot();
    assert_eq!(now.0, before.0, "{what}: loop devices left behind");
    assert_eq!(now.1, before.1, "{what}: mounts left behind");
    assert_eq!(now.2, before.2, "{what}: qemu-storage-daemon left running");
    let sessions = scratch.0.join("run/sessions");
    let left: Vec<_> = std::fs::read_dir(&sessions)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{what}: session dirs left: {left:?}");
}

/// The btrfs subvolume mounted at `path` (mountinfo's root field), if btrfs.
fn mounted_subvol(path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .rfind(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
        .and_then(|l| {
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?;
            (fstype == "btrfs").then(|| {
                l.split(' ')
                    .nth(3)
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string()
            })
        })
}

fn check_tree(tree: &GuestTree, g: &GuestFixture, os: &str, what: &str) {
    let want: BTreeSet<(String, String)> = g
        .rows
        .iter()
        .filter(|r| r.os == os)
        .map(|r| (r.target.clone(), r.volume.clone()))
        .collect();
    let got: BTreeSet<(String, String)> = tree
        .mounts
        .iter()
        .map(|m| (m.mountpoint.clone(), m.volume.clone()))
        .collect();
    assert_eq!(got, want, "{what}: mounts differ from the builder's record");
    let root = g
        .rows
        .iter()
        .find(|r| r.os == os && r.kind == "root")
        .unwrap();
    assert_eq!(
        tree.root.as_ref().unwrap().volume,
        root.volume,
        "{what}: root"
    );
    for r in g.rows.iter().filter(|r| r.os == os) {
        let rel = r.target.trim_start_matches('/');
        let host = if rel.is_empty() {
            tree.root_dir.clone()
        } else {
            tree.root_dir.join(rel)
        };
        if let Some(sv) = &r.subvol {
            assert_eq!(
                mounted_subvol(&host).as_deref(),
                Some(sv.as_str()),
                "{what}: subvolume at {}",
                r.target
            );
        }
    }
    // The guest's files are there, read through the confined handle.
    let guest = tree.guest().unwrap();
    if tree.kind == "linux" {
        assert!(guest.exists("etc/fstab").unwrap(), "{what}: etc/fstab");
    } else {
        assert!(guest
            .find_case_insensitive("Windows/System32/config/SYSTEM")
            .is_ok());
    }
}

#[test]
fn every_guest_in_every_format_assembles_as_its_fstab_says() {
    if !root_tier("every_guest_in_every_format_assembles_as_its_fstab_says") {
        return;
    }
    let _serial = serial();
    let scratch = Scratch::new("formats");
    let before = snapshot();
    let mut done = 0;
    for name in [
        "rhel-lvm",
        "debian-mbr",
        "sles-btrfs",
        "multi-disk-guest",
        "windows-ntfs",
        "two-roots",
    ] {
        let g = guest_fixture(name);
        assert_eq!(g.formats.len(), 4, "{name}: raw, qcow2, vmdk, vhd");
        let oses: BTreeSet<String> = g.rows.iter().map(|r| r.os.clone()).collect();
        for (format, disks) in &g.formats {
            let layout = libhydra::probe::probe(disks).expect("probe");
            for os in &oses {
                let what = format!("{} {format} {os}", g.name);
                let mut opts = scratch.opts(&format!("{name}-{format}-{os}"));
                if oses.len() > 1 {
                    let root = g.rows.iter().find(|r| &r.os == os && r.kind == "root");
                    opts.root = Some(root.unwrap().volume.clone());
                }
                let tree = assemble(&layout, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
                check_tree(&tree, &g, os, &what);
                tree.close()
                    .unwrap_or_else(|e| panic!("{what}: teardown: {e}"));
                done += 1;
            }
        }
    }
    assert_clean(&before, &scratch, "all guests");
    assert!(done >= 7 * 4 - 4, "{done} trees assembled");
}

#[test]
fn no_root_and_several_roots_are_clear_errors() {
    if !root_tier("no_root_and_several_roots_are_clear_errors") {
        return;
    }
    let _serial = serial();
    let scratch = Scratch::new("errors");
    let before = snapshot();
    let no_os = guest_fixture("no-os");
    let layout = libhydra::probe::probe(&no_os.formats["raw"]).unwrap();
    match assemble(&layout, &scratch.opts("no-os")) {
        Err(e @ AssembleError::NoRoot { .. }) => {
            let m = e.to_string();
            assert!(
                m.contains("disk 0 partition 1") && m.contains("disk 0 partition 2"),
                "{m}"
            );
        }
        other => panic!("no-os: {other:?}"),
    }
    let two = guest_fixture("two-roots");
    let layout = libhydra::probe::probe(&two.formats["raw"]).unwrap();
    match assemble(&layout, &scratch.opts("two")) {
        Err(e @ AssembleError::SeveralRoots { .. }) => {
            let m = e.to_string();
            assert!(
                m.contains("--root") && m.matches("linux-root").count() == 2,
                "{m}"
            );
        }
        other => panic!("two-roots: {other:?}"),
    }
    let mut opts = scratch.opts("two-bad");
    opts.root = Some("disk 9 partition 9".into());
    assert!(matches!(
        assemble(&layout, &opts),
        Err(AssembleError::NoSuchRoot { .. })
    ));
    assert_clean(&before, &scratch, "errors");
}

#[test]
fn a_failure_at_every_step_leaves_nothing_behind() {
    if !root_tier("a_failure_at_every_step_leaves_nothing_behind") {
        return;
    }
    let _serial = serial();
    let scratch = Scratch::new("inject");
    let before = snapshot();
    // qcow2: exports, loops, partitions, LV maps (one multi-segment), fusefat ESP,
    // the chroot's /dev, /proc, /sys, /run.
    for (name, format) in [("rhel-lvm", "qcow2"), ("multi-disk-guest", "raw")] {
        let g = guest_fixture(name);
        let layout = libhydra::probe::probe(&g.formats[format]).unwrap();
        let mut step = 1;
        loop {
            let mut opts = scratch.opts(&format!("{name}-{step}"));
            opts.chroot = true;
            opts.fail_after = Some(step);
            match assemble(&layout, &opts) {
                Err(AssembleError::Session(m)) if m.contains("injected") => {
                    assert_clean(&before, &scratch, &format!("{name} failure at step {step}"));
                    assert!(
                        !opts.tree_root.exists()
                            || std::fs::read_dir(&opts.tree_root).unwrap().next().is_none(),
                        "tree root left non-empty"
                    );
                }
                Ok(tree) => {
                    tree.close().unwrap();
                    break;
                }
                Err(e) => panic!("{name} step {step}: unexpected error {e}"),
            }
            step += 1;
        }
        assert!(step > 8, "{name}: only {step} steps");
        eprintln!(
            "{name} ({format}): failure injected at each of {} steps",
            step - 1
        );
    }
    assert_clean(&before, &scratch, "after injection");
}

#[test]
fn three_guests_at_once() {
    if !root_tier("three_guests_at_once") {
        return;
    }
    let _serial = serial();
    let scratch = Scratch::new("three");
    let before = snapshot();
    let jobs = [
        ("rhel-lvm", "qcow2"),
        ("debian-mbr", "raw"),
        ("sles-btrfs", "vhd"),
    ];
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(name, format)| {
                let opts = scratch.opts(&format!("three-{name}"));
                s.spawn(move || {
                    let g = guest_fixture(name);
                    let layout = libhydra::probe::probe(&g.formats[*format]).unwrap();
                    let tree = assemble(&layout, &opts).unwrap();
                    (g, tree)
                })
            })
            .collect();
        let trees: Vec<(GuestFixture, GuestTree)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        // All three are mounted at the same time.
        for (g, t) in &trees {
            check_tree(t, g, "os1", &g.name);
        }
        for (_, t) in trees {
            t.close().unwrap();
        }
    });
    assert_clean(&before, &scratch, "three guests");
}

#[test]
fn read_write_tree_with_chroot_dev_persists_writes() {
    if !root_tier("read_write_tree_with_chroot_dev_persists_writes") {
        return;
    }
    let _serial = serial();
    let scratch = Scratch::new("rw");
    let before = snapshot();
    // Work on a copy: the cached fixture stays pristine.
    let g = guest_fixture("rhel-lvm");
    let copy = scratch.0.join("disk0.qcow2");
    run(Command::new("cp").arg(&g.formats["qcow2"][0]).arg(&copy));
    let layout = libhydra::probe::probe(&[&copy]).unwrap();
    let mut opts = scratch.opts("rw-tree");
    opts.read_write = true;
    opts.chroot = true;
    let tree = assemble(&layout, &opts).unwrap();
    let root = &tree.root_dir;
    // The chroot's /dev has the guest's UUIDs and LV names, pointing at our devices.
    let boot = tree
        .mounts
        .iter()
        .find(|m| m.mountpoint == "/boot")
        .unwrap();
    let boot_uuid = tree
        .candidates
        .iter()
        .find(|c| c.volume == boot.volume)
        .and_then(|c| c.fs.uuid.clone())
        .unwrap();
    let link = root.join("dev/disk/by-uuid").join(&boot_uuid);
    let name = boot.device.file_name().unwrap();
    assert_eq!(
        std::fs::canonicalize(&link).unwrap(),
        root.join("dev").join(name)
    );
    assert!(root.join("dev/mapper/rhel-root").exists());
    assert!(root.join("proc/self").exists(), "/proc bound");
    std::fs::write(root.join("etc/hydra-rw-test"), b"root fs\n").unwrap();
    std::fs::write(root.join("boot/efi/EFI/HYDRA.TXT"), b"esp\n").unwrap();
    tree.close().unwrap();
    // Read back in a fresh read-only tree: the bytes reached the qcow2.
    let layout = libhydra::probe::probe(&[&copy]).unwrap();
    let tree = assemble(&layout, &scratch.opts("ro-tree")).unwrap();
    let guest = tree.guest().unwrap();
    assert_eq!(guest.read("etc/hydra-rw-test").unwrap(), b"root fs\n");
    assert_eq!(guest.read("boot/efi/EFI/HYDRA.TXT").unwrap(), b"esp\n");
    drop(guest);
    tree.close().unwrap();
    std::fs::remove_file(&copy).unwrap();
    assert_clean(&before, &scratch, "rw");
}

#[test]
fn a_persisted_tree_is_released_by_its_mountpoint() {
    if !root_tier("a_persisted_tree_is_released_by_its_mountpoint") {
        return;
    }
    let _serial = serial();
    let scratch = Scratch::new("persist");
    let before = snapshot();
    let g = guest_fixture("multi-disk-guest");
    let layout = libhydra::probe::probe(&g.formats["qcow2"]).unwrap();
    let mut opts = scratch.opts("persisted");
    opts.chroot = true;
    let tree = assemble(&layout, &opts).unwrap();
    let marker = tree.persist().unwrap();
    assert!(marker.exists());
    // A plain sweep leaves a persisted session alone.
    let sweep_opts = SweepOptions {
        sessions_dir: scratch.0.join("run/sessions"),
        tree_roots: vec![],
        ..SweepOptions::default()
    };
    let r = sweep_with(&sweep_opts);
    assert!(r.sessions.is_empty(), "{r}");
    assert!(snapshot().1 > before.1, "still mounted");
    // Releasing its mountpoint (what `hydra-mount umount` does) takes it all apart.
    let r = sweep_with(&SweepOptions {
        release: Some(opts.tree_root.clone()),
        ..sweep_opts
    });
    assert!(r.is_clean(), "{r}");
    assert_eq!(r.sessions.len(), 1);
    // Daemons exit a moment after their loop devices go.
    for _ in 0..50 {
        if snapshot() == before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_clean(&before, &scratch, "released");
}
