//! Support for root tests on real images: fixtures, loop devices (test-only, via losetup), blkid.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// True when the root tier may run; prints loudly and returns false when it must skip.
/// With `HYDRA_REQUIRE_ROOT_TESTS=1` (set by `./dev test` and CI) a skip is a failure.
pub fn root_tier(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    let msg = format!("SKIPPED {test}: needs root (loop devices, partx); run `./dev test` as root");
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

/// Run a command, panic with its stderr on failure, return stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// One disk of a fixture, from its manifest.
#[derive(Debug, Clone)]
pub struct FixtureDisk {
    /// What the user passes to the prober (raw, VHD, VMDK descriptor...).
    pub path: PathBuf,
    /// The raw bytes of the same disk (the disk itself when raw).
    pub raw: PathBuf,
    /// Logical sector size.
    pub sector_size: u32,
    /// dos, gpt or none.
    pub scheme: String,
}

/// Build (or take from the cache) a fixture; return its disks in order.
pub fn fixture(name: &str) -> Vec<FixtureDisk> {
    let out = run(Command::new(top().join("testdata/build")).arg(name));
    let first = PathBuf::from(out.lines().next().expect("fixture prints its disks"));
    let manifest = find_manifest(&first);
    let text = std::fs::read_to_string(&manifest).unwrap();
    let dir = manifest.parent().unwrap();
    let abs = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    let disks: Vec<FixtureDisk> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            FixtureDisk {
                path: abs(f[0]),
                raw: abs(f[1]),
                sector_size: f[2].parse().unwrap(),
                scheme: f.get(3).unwrap_or(&"").to_string(),
            }
        })
        .collect();
    let printed: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
    assert_eq!(
        printed,
        disks.iter().map(|d| d.path.clone()).collect::<Vec<_>>(),
        "fixture {name}: printed disks and manifest.tsv disagree"
    );
    disks
}

fn find_manifest(disk: &Path) -> PathBuf {
    let mut d = disk.parent();
    while let Some(dir) = d {
        let m = dir.join("manifest.tsv");
        if m.exists() {
            return m;
        }
        d = dir.parent();
    }
    panic!("no manifest.tsv above {}", disk.display());
}

/// A loop device made by a test; detached on drop (test code only: the product attaches with ioctls).
pub struct TestLoop {
    /// /dev/loopN
    pub dev: PathBuf,
}

impl TestLoop {
    /// Attach `file` read-only with the given sector size and expose its partitions
    /// (`partx -a`, since this kernel may not parse tables itself).
    pub fn attach_ro(file: &Path, sector_size: u32) -> TestLoop {
        let dev = run(Command::new("losetup")
            .args(["-f", "--show", "-r", "-P", "-b", &sector_size.to_string()])
            .arg(file))
        .trim()
        .to_string();
        let l = TestLoop {
            dev: PathBuf::from(dev),
        };
        ensure_node(&l.dev);
        // On a kernel that parses tables, -P already added them: partx -a then says EBUSY.
        let _ = Command::new("partx").arg("-a").arg(&l.dev).output();
        l
    }

    /// The node of partition `n`, created from sysfs if missing.
    pub fn part(&self, n: u32) -> PathBuf {
        let p = PathBuf::from(format!("{}p{n}", self.dev.display()));
        ensure_node(&p);
        p
    }
}

impl Drop for TestLoop {
    fn drop(&mut self) {
        let _ = Command::new("partx").arg("-d").arg(&self.dev).output();
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).output();
    }
}

/// Create /dev/NAME from /sys/class/block/NAME/dev when udev is absent.
pub fn ensure_node(dev: &Path) {
    if dev.exists() {
        return;
    }
    let name = dev.file_name().unwrap().to_str().unwrap();
    let sys = format!("/sys/class/block/{name}/dev");
    let Ok(mm) = std::fs::read_to_string(&sys) else {
        return;
    };
    let (ma, mi) = mm.trim().split_once(':').unwrap();
    let _ = Command::new("mknod").arg(dev).args(["b", ma, mi]).status();
}

/// `blkid -p -o export DEV` as a map (values unescaped). Empty when blkid finds nothing.
pub fn blkid(dev: &Path) -> BTreeMap<String, String> {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(dev)
        .output()
        .expect("blkid");
    // Exit 2: nothing found. Exit 8: ambivalent result (several signatures).
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), unescape(v)))
        .collect()
}

fn unescape(v: &str) -> String {
    let mut s = String::new();
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                s.push(n);
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// Loop devices and mounts now present, for leak assertions.
pub fn kernel_resources() -> (Vec<String>, usize) {
    let loops = run(Command::new("losetup").arg("-a"));
    let mut l: Vec<String> = loops.lines().map(str::to_string).collect();
    l.sort();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    (l, mounts)
}
