//! Support for hydra-edit's tests on real images: fixtures, running the binary, tree snapshots, leak checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use libhydra::assemble::tree::{assemble, AssembleOptions};

/// Root tests share loop devices and the runtime dir: one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// True when the root tier may run; prints loudly and returns false when it
/// must skip. With `HYDRA_REQUIRE_ROOT_TESTS=1` a skip is a failure.
pub fn root_tier(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let msg =
        format!("SKIPPED {test}: needs root (loop devices, mounts); run `./dev test` as root");
    if std::env::var_os("HYDRA_REQUIRE_ROOT_TESTS").is_some() {
        panic!("{msg} (HYDRA_REQUIRE_ROOT_TESTS is set, so this is a failure)");
    }
    eprintln!("\n*** {msg} ***\n");
    false
}

/// The repository's top directory.
pub fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Build (or take from the cache) fixture `name`; the directory holding its manifest.
pub fn fixture_dir(name: &str) -> PathBuf {
    let out = Command::new(top().join("testdata/build"))
        .arg(name)
        .output()
        .expect("run testdata/build");
    assert!(
        out.status.success(),
        "testdata/build {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = String::from_utf8(out.stdout).unwrap();
    let mut p = PathBuf::from(first.lines().next().expect("a disk path"));
    while !p.join("manifest.tsv").exists() {
        assert!(p.pop(), "no manifest.tsv above the fixture's disk");
    }
    p
}

/// Sparse copies of a fixture's raw disks into `dir`, in guest order.
pub fn copy_raw_disks(fixture: &Path, dir: &Path) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(fixture.join("manifest.tsv")).unwrap();
    let mut out = Vec::new();
    for (i, l) in manifest
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .enumerate()
    {
        let src = l.split('\t').next().unwrap();
        let src = if Path::new(src).is_absolute() {
            PathBuf::from(src)
        } else {
            fixture.join(src)
        };
        let dst = dir.join(format!("disk{i}.img"));
        let st = Command::new("cp")
            .arg("--sparse=always")
            .arg(&src)
            .arg(&dst)
            .status()
            .unwrap();
        assert!(st.success(), "cp {}", src.display());
        out.push(dst);
    }
    out
}

/// Run hydra-edit with `args`.
pub fn hydra_edit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hydra-edit"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run hydra-edit")
}

/// Run hydra-edit on `disks` with a tree root and runtime dir inside `work`.
pub fn hydra_edit_disks(work: &Path, args: &[&str], disks: &[PathBuf]) -> Output {
    let tree = work.join("tree");
    let rt = work.join("run");
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.push("--tree-root".into());
    all.push(tree.display().to_string());
    all.push("--runtime-dir".into());
    all.push(rt.display().to_string());
    all.extend(disks.iter().map(|d| d.display().to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    hydra_edit(&refs)
}

/// Panic with the output unless the run succeeded; return stdout.
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The state of one guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `file`, `dir`, `symlink`, `other`.
    pub kind: &'static str,
    /// Mode bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (ns) for files and symlinks; 0 for directories
    /// (their mtime changes with every entry added and removed).
    pub mtime: i128,
    /// File bytes, or symlink text.
    pub data: Vec<u8>,
}

/// Every path of a tree: kind, mode, owner, mtime, bytes; plus every xattr
/// (`getfattr -R -d -m -`). `/proc`, `/sys`, `/dev`, `/run`, `/.snapshots` are not walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Guest path to state.
    pub nodes: BTreeMap<String, Node>,
    /// getfattr's dump, paths made guest-relative.
    pub xattrs: String,
}

impl Snapshot {
    /// Paths whose state differs between `self` and `other` (added, removed, changed).
    pub fn diff(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (p, n) in &self.nodes {
            match other.nodes.get(p) {
                None => out.push(format!("- {p}")),
                Some(m) if m != n => out.push(format!(
                    "~ {p} ({})",
                    if m.data != n.data {
                        "contents"
                    } else if m.mode != n.mode || m.uid != n.uid || m.gid != n.gid {
                        "mode/owner"
                    } else {
                        "mtime"
                    }
                )),
                _ => {}
            }
        }
        for p in other.nodes.keys() {
            if !self.nodes.contains_key(p) {
                out.push(format!("+ {p}"));
            }
        }
        if self.xattrs != other.xattrs {
            out.push("xattrs differ".into());
        }
        out
    }

    /// Text of a file.
    pub fn text(&self, path: &str) -> String {
        let n = self
            .nodes
            .get(path)
            .unwrap_or_else(|| panic!("{path} not in the tree"));
        String::from_utf8_lossy(&n.data).into_owned()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
        // /.snapshots: snapper's subvolumes; on SUSE the root itself is
        // /.snapshots/1/snapshot, so walking it would list the tree twice.
        if ["/proc", "/sys", "/dev", "/run", "/.snapshots"].contains(&rel.as_str()) {
            continue;
        }
        let m = std::fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let (kind, data) = if ft.is_symlink() {
            (
                "symlink",
                std::fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            )
        } else if ft.is_file() {
            ("file", std::fs::read(&p).unwrap())
        } else if ft.is_dir() {
            ("dir", Vec::new())
        } else {
            ("other", Vec::new())
        };
        let mtime = if kind == "dir" {
            0
        } else {
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
        };
        out.insert(
            rel,
            Node {
                kind,
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                mtime,
                data,
            },
        );
        if kind == "dir" {
            walk(root, &p, out);
        }
    }
}

/// Snapshot the guest tree of `disks` (assembled read-only in `work`).
pub fn snapshot(work: &Path, disks: &[PathBuf]) -> Snapshot {
    let layout = libhydra::probe::probe(disks).expect("probe");
    let tree_root = work.join("snap");
    let opts = AssembleOptions {
        tree_root: tree_root.clone(),
        runtime_dir: work.join("run"),
        ..AssembleOptions::default()
    };
    let tree = assemble(&layout, &opts).expect("assemble for snapshot");
    let mut nodes = BTreeMap::new();
    walk(&tree_root, &tree_root, &mut nodes);
    let x = Command::new("getfattr")
        .args(["-R", "-d", "-m", "-", "-h", "--absolute-names"])
        .arg(&tree_root)
        .output()
        .expect("getfattr (package attr)");
    let xattrs = String::from_utf8_lossy(&x.stdout).replace(&tree_root.display().to_string(), "");
    tree.close().expect("teardown of the snapshot tree");
    Snapshot { nodes, xattrs }
}

/// Loop devices backed by files under `dir`, and mounts under it.
pub fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let d = dir.display().to_string();
    if let Ok(o) = Command::new("losetup")
        .args(["-l", "-n", "-O", "NAME,BACK-FILE"])
        .output()
    {
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if l.contains(&d) {
                out.push(format!("loop: {l}"));
            }
        }
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in mi.lines() {
        if l.split(' ').nth(4).is_some_and(|mp| mp.starts_with(&d)) {
            out.push(format!("mount: {l}"));
        }
    }
    out
}

pub fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Hydrate a copy of a fixture's raw disks in `w`: dry run writes nothing;
/// commit changes what the report names (and `must_change`); the outcome
/// holds for fstab; a second run changes nothing; rollback restores the tree
/// exactly; nothing is left attached or mounted.
pub fn hydrate_roundtrip(fixture: &Path, name: &str, must_change: &[&str], skip: &str, w: &Path) {
    hydrate_roundtrip_with(fixture, name, must_change, skip, w, true)
}

/// [`hydrate_roundtrip`]; without `thorough` the dry run and the empty second
/// rollback are left out (the full-kernel tier, where every assembly is slow
/// under TCG, checks the commit, the re-run and the rollback).
pub fn hydrate_roundtrip_with(
    fixture: &Path,
    name: &str,
    must_change: &[&str],
    skip: &str,
    w: &Path,
    thorough: bool,
) {
    let disks = copy_raw_disks(fixture, w);
    let before = snapshot(w, &disks);

    // Dry run: a plan, nothing written.
    if thorough {
        let plan = json(&ok(
            &hydra_edit_disks(
                w,
                &["hydrate", "--dry-run", "--json", "--skip", skip],
                &disks,
            ),
            "dry run",
        ));
        assert_eq!(plan["mode"], "plan");
        assert_eq!(plan["committed"], false);
        assert!(
            before.diff(&snapshot(w, &disks)).is_empty(),
            "{}: the dry run wrote",
            name
        );
    }

    // Commit.
    let out = hydra_edit_disks(w, &["hydrate", "--json", "--skip", skip], &disks);
    let report = json(&ok(&out, "hydrate"));
    assert_eq!(report["committed"], true, "{}: {report:#}", name);
    assert_eq!(report["verified"], true);
    let after = snapshot(w, &disks);
    let changed = before.diff(&after);
    eprintln!("{}: changed {changed:#?}", name);
    for p in must_change {
        assert!(
            changed
                .iter()
                .any(|c| c.ends_with(p) || c.contains(&format!(" {p} "))),
            "{}: {p} not changed: {changed:?}",
            name
        );
    }
    // Every changed path is one the report names, or the journal.
    let named: Vec<String> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["changes"].as_array().unwrap().iter())
        .filter_map(|c| c["path"].as_str().map(String::from))
        .collect();
    for c in &changed {
        let path = c[2..].split(' ').next().unwrap();
        assert!(
            path.starts_with("/var/lib/hydra")
                || c == "xattrs differ"
                || named.iter().any(|n| n == path
                    || n.starts_with(&format!("{path}/"))
                    || path.starts_with(&format!("{n}/"))),
            "{}: {path} changed but no step names it (named: {named:?})",
            name
        );
    }
    // Outcome checks that hold for every Linux guest.
    let fstab = after.text("/etc/fstab");
    for l in fstab.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 3 && (f[1] == "/" || f[1] == "/boot") {
            assert!(
                !f[0].starts_with("/dev/sd") && !f[0].starts_with("/dev/hd"),
                "{}: fstab still names {l}",
                name
            );
        }
        if f.len() >= 3 {
            assert!(
                !["nfs", "nfs4", "cifs", "smbfs"].contains(&f[2]),
                "{}: network fs still active: {l}",
                name
            );
        }
    }

    // A second run changes nothing.
    let again = json(&ok(
        &hydra_edit_disks(w, &["hydrate", "--json", "--skip", skip], &disks),
        "second hydrate",
    ));
    assert_eq!(
        again["committed"], false,
        "{}: second run changed: {again:#}",
        name
    );
    assert!(after.diff(&snapshot(w, &disks)).is_empty());

    // Rollback restores everything exactly, journal included (it goes away).
    ok(&hydra_edit_disks(w, &["rollback"], &disks), "rollback");
    let restored = snapshot(w, &disks);
    assert_eq!(
        before.diff(&restored),
        Vec::<String>::new(),
        "{}: rollback is not exact",
        name
    );
    assert_eq!(before, restored);
    // A rollback with nothing to undo says so.
    let none = ok(
        &hydra_edit_disks(w, &["rollback"], &disks),
        "second rollback",
    );
    assert!(none.contains("nothing to undo"), "{none}");
    assert_eq!(leftovers(w), Vec::<String>::new());
}

// ----- the full-kernel tier (testdata/vm-run) --------------------------------------------

/// Fixture directories handed to the VM: `NAME=DIR;NAME=DIR`.
pub const FIXTURES_ENV: &str = "HYDRA_KP_FIXTURES";

/// Running inside `testdata/vm-run`.
pub fn inside_vm() -> bool {
    std::env::var("HYDRA_IN_VM").as_deref() == Ok("1")
}

/// A fixture's directory: built on the host, passed to the VM through [`FIXTURES_ENV`].
pub fn vm_fixture_dir(name: &str) -> PathBuf {
    if !inside_vm() {
        return fixture_dir(name);
    }
    let all = std::env::var(FIXTURES_ENV).expect("fixtures passed to the VM");
    all.split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| PathBuf::from(v))
        .unwrap_or_else(|| panic!("fixture {name} not passed to the VM"))
}

/// True: run the body here (inside the VM). False: the test was re-run in
/// the VM (and passed, else this panicked) or skipped loudly (a failure with
/// `HYDRA_REQUIRE_VM_TESTS`).
pub fn in_vm(test: &str, fixtures: &[&str]) -> bool {
    if inside_vm() {
        assert!(root_tier(test), "{test}: not root inside the VM");
        return true;
    }
    let vm = top().join("testdata/vm-run");
    if !vm.is_file() {
        let msg = format!("SKIPPED {test}: needs testdata/vm-run");
        if std::env::var_os("HYDRA_REQUIRE_VM_TESTS").is_some() {
            panic!("{msg} (HYDRA_REQUIRE_VM_TESTS is set, so this is a failure)");
        }
        eprintln!("\n*** {msg} ***\n");
        return false;
    }
    if !root_tier(test) {
        return false;
    }
    let dirs: Vec<String> = fixtures
        .iter()
        .map(|f| format!("{f}={}", fixture_dir(f).display()))
        .collect();
    let exe = std::env::current_exe().unwrap();
    let t = std::time::Instant::now();
    let out = Command::new(&vm)
        .args(["--timeout", "1500", "--mem", "3072"])
        .args([
            "--env",
            "HYDRA_REQUIRE_ROOT_TESTS=1",
            "--env",
            "RUST_BACKTRACE=1",
        ])
        .arg("--env")
        .arg(format!("{FIXTURES_ENV}={}", dirs.join(";")))
        .arg("--")
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", vm.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{test} failed inside the VM ({})",
        out.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test}: the VM ran no test named so"
    );
    eprintln!(
        "measured: {test} in the VM took {:?} wall (boot included)",
        t.elapsed()
    );
    false
}

/// Device-mapper maps, nbd devices in use, loop devices and mounts under `dir` (the VM tier's leftovers).
pub fn kernel_leftovers(dir: &Path) -> Vec<String> {
    let mut out = leftovers(dir);
    if let Ok(o) = Command::new("dmsetup").args(["ls"]).output() {
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if !l.contains("No devices found") && !l.trim().is_empty() {
                out.push(format!("dm: {l}"));
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir("/sys/block") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("nbd") && e.path().join("pid").exists() {
                out.push(format!("nbd: /dev/{n} connected"));
            }
        }
    }
    out
}
