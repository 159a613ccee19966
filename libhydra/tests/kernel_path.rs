//! Emulated-VM tier: the kernel attach path (qemu-nbd, lvm2 activation scoped to the guest's PVs, the kernel's partition scan and vfat driver) on a full Debian kernel; each test re-runs itself inside `testdata/vm-run`.
//!
//! On the host (root) a test builds the fixtures it needs and runs
//! `testdata/vm-run ... -- <this test binary> --exact <test> --nocapture
//! --test-threads=1`, and asserts that exactly that test passed in there. In
//! the VM (`HYDRA_IN_VM=1`) the body runs for real. Without `testdata/vm-run`
//! the tests skip loudly, or fail when `HYDRA_REQUIRE_VM_TESTS` is set.
//! `HYDRA_VM_RUN=PATH` runs another VM runner with the same interface.
//!
//! The host's `/` is read-only to the VM's tests: images that get written are
//! copied to `/tmp` first (`cp --sparse=always`).

mod common;

use common::*;
use libhydra::assemble::mount::read_mountinfo;
use libhydra::assemble::tree::{assemble, AssembleError, AssembleOptions, GuestTree};
use libhydra::attach::kernel::{attach_disk_with, detect, AttachPath, DiskDevice, PathChoice};
use libhydra::attach::lvm2::{self, Lvm2Options};
use libhydra::attach::AttachOptions;
use libhydra::layout::{Layout, SegmentArea, SegmentKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Fixture directories handed to the VM: `NAME=DIR;NAME=DIR`.
const FIXTURES_ENV: &str = "HYDRA_KP_FIXTURES";

// ----- running in the VM ------------------------------------------------------------

fn inside_vm() -> bool {
    std::env::var("HYDRA_IN_VM").as_deref() == Ok("1")
}

fn vm_runner() -> Option<PathBuf> {
    let p = std::env::var_os("HYDRA_VM_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| top().join("testdata/vm-run"));
    p.is_file().then_some(p)
}

/// True: run the body here (inside the VM). False: the test ran in the VM (and
/// passed, else this panicked) or was skipped loudly.
fn in_vm(test: &str, fixtures: &[&str]) -> bool {
    if inside_vm() {
        assert!(
            root_tier(test),
            "{test}: not root inside the VM (HYDRA_REQUIRE_ROOT_TESTS is set by the re-run)"
        );
        return true;
    }
    let Some(vm) = vm_runner() else {
        let msg = format!(
            "SKIPPED {test}: needs a full kernel through testdata/vm-run, which does not exist \
             (or set HYDRA_VM_RUN)"
        );
        if std::env::var_os("HYDRA_REQUIRE_VM_TESTS").is_some() {
            panic!("{msg} (HYDRA_REQUIRE_VM_TESTS is set, so this is a failure)");
        }
        eprintln!("\n*** {msg} ***\n");
        return false;
    };
    // The fixtures are built (or found in the cache) here: inside, the host's
    // files are read-only and the builder needs its lock files.
    if !root_tier(test) {
        return false;
    }
    let dirs: Vec<String> = fixtures
        .iter()
        .map(|f| format!("{f}={}", fixture_dir(f).display()))
        .collect();
    let exe = std::env::current_exe().unwrap();
    let t = Instant::now();
    let out = Command::new(&vm)
        .args(["--timeout", "1500", "--mem", "3072"])
        .args(["--env", "HYDRA_REQUIRE_ROOT_TESTS=1"])
        .arg("--env")
        .arg(format!("{FIXTURES_ENV}={}", dirs.join(";")))
        .args(["--env", "RUST_BACKTRACE=1"])
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

/// A fixture's directory: from the host's cache (building it), or in the VM
/// from [`FIXTURES_ENV`].
fn fixture_dir(name: &str) -> PathBuf {
    if inside_vm() {
        let all = std::env::var(FIXTURES_ENV).expect("fixture dirs from the host");
        let dir = all
            .split(';')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("fixture {name} not handed to the VM: {all}"));
        return PathBuf::from(dir);
    }
    let disks = fixture(name);
    let mut d = disks[0].path.parent();
    while let Some(dir) = d {
        if dir.join("manifest.tsv").exists() {
            return dir.to_path_buf();
        }
        d = dir.parent();
    }
    panic!(
        "fixture {name}: no manifest.tsv above {}",
        disks[0].path.display()
    );
}

// ----- fixtures -------------------------------------------------------------------

/// One `root`/`mount` row of a guest fixture's `guest.tsv`.
#[derive(Debug, Clone)]
struct Row {
    kind: String,
    target: String,
    /// As Hydra names volumes: `disk 0 partition 2`, `LV rhel/root`.
    volume: String,
}

struct GuestFixture {
    name: String,
    formats: BTreeMap<String, Vec<PathBuf>>,
    rows: Vec<Row>,
}

fn tsv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn guest_fixture(name: &str) -> GuestFixture {
    let dir = fixture_dir(name);
    let manifest: Vec<String> = tsv(&dir.join("manifest.tsv"))
        .into_iter()
        .map(|f| f[0].clone())
        .collect();
    let mut formats: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in tsv(&dir.join("formats.tsv")) {
        let list = formats.entry(f[0].clone()).or_default();
        let i: usize = f[1].parse().unwrap();
        if list.len() <= i {
            list.resize(i + 1, PathBuf::new());
        }
        list[i] = dir.join(&f[2]);
    }
    let rows = tsv(&dir.join("guest.tsv"))
        .into_iter()
        .filter(|f| f.len() >= 11 && f[0] == "os1" && matches!(f[1].as_str(), "root" | "mount"))
        .map(|f| {
            let disk = manifest.iter().position(|m| m == &f[3]).unwrap();
            Row {
                kind: f[1].clone(),
                target: f[2].clone(),
                volume: match f[4].strip_prefix("lv:") {
                    Some(vglv) => format!("LV {vglv}"),
                    None => format!("disk {disk} partition {}", f[4]),
                },
            }
        })
        .collect();
    GuestFixture {
        name: name.into(),
        formats,
        rows,
    }
}

/// Convert `disks` (qcow2: only allocated clusters are read, where a raw source
/// would be read whole over 9p) to VHDX in `dir`, the format no fixture ships.
fn to_vhdx(disks: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    disks
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let out = dir.join(format!("disk{i}.vhdx"));
            run(Command::new("qemu-img")
                .args(["convert", "-f", "qcow2", "-O", "vhdx"])
                .arg(d)
                .arg(&out));
            out
        })
        .collect()
}

fn copy_sparse(from: &Path, to: &Path) {
    run(Command::new("cp").arg("--sparse=always").arg(from).arg(to));
}

// ----- what is left -----------------------------------------------------------------

/// Loop devices, mounts, device-mapper devices, NBD connections and qemu daemons now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    loops: Vec<String>,
    mounts: usize,
    dm: Vec<String>,
    nbd: Vec<String>,
    daemons: Vec<String>,
}

fn dmsetup_ls() -> Vec<String> {
    let out = run(Command::new("dmsetup").arg("ls"));
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| !l.contains("No devices found") && !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn snapshot() -> Snapshot {
    let (loops, mounts) = kernel_resources();
    let mut nbd: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("nbd") && Path::new(&format!("/sys/block/{n}/pid")).exists())
        .collect();
    nbd.sort();
    let mut daemons: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let comm = comm.trim();
            // A zombie has exited: it waits for init (the daemons are
            // reparented there) to reap it.
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            let daemon = matches!(
                comm,
                "qemu-nbd" | "qemu-storage-d" | "dmeventd" | "lvmpolld"
            );
            (daemon && state != 'Z').then(|| {
                format!(
                    "{comm} (pid {}, state {state})",
                    e.file_name().to_string_lossy()
                )
            })
        })
        .collect();
    daemons.sort();
    Snapshot {
        loops,
        mounts,
        dm: dmsetup_ls(),
        nbd,
        daemons,
    }
}

fn assert_clean(before: &Snapshot, runtime: &Path, what: &str) {
    let now = snapshot();
    assert_eq!(now, *before, "{what}: something was left behind");
    let sessions: Vec<_> = std::fs::read_dir(runtime.join("sessions"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        sessions.is_empty(),
        "{what}: session dirs left: {sessions:?}"
    );
}

// ----- assembling -------------------------------------------------------------------

fn scratch(tag: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(&format!("hydra-kp-{tag}-"))
        .tempdir()
        .unwrap()
        .keep()
}

fn opts(scratch: &Path, sub: &str, path: AttachPath) -> AssembleOptions {
    AssembleOptions {
        tree_root: scratch.join(sub),
        runtime_dir: scratch.join("run"),
        attach_path: Some(path),
        ..AssembleOptions::default()
    }
}

/// The filesystem type mountinfo shows at `path`.
fn fstype_at(path: &Path) -> String {
    read_mountinfo()
        .unwrap()
        .into_iter()
        .rfind(|m| m.mount_point == path)
        .map(|m| m.fstype)
        .unwrap_or_default()
}

/// The tree's mounts are guest.tsv's; LVs and container disks came through the
/// kernel path; /boot/efi (vfat) is the kernel's driver.
fn check_kernel_tree(tree: &GuestTree, g: &GuestFixture, container: bool, what: &str) {
    let want: BTreeSet<(String, String)> = g
        .rows
        .iter()
        .map(|r| (r.target.clone(), r.volume.clone()))
        .collect();
    let got: BTreeSet<(String, String)> = tree
        .mounts
        .iter()
        .map(|m| (m.mountpoint.clone(), m.volume.clone()))
        .collect();
    assert_eq!(got, want, "{what}: mounts differ from guest.tsv");
    let root = g.rows.iter().find(|r| r.kind == "root").unwrap();
    assert_eq!(tree.root.as_ref().unwrap().volume, root.volume, "{what}");
    for m in &tree.mounts {
        let dev = m.device.to_string_lossy();
        if m.volume.starts_with("LV ") {
            assert!(dev.starts_with("/dev/mapper/"), "{what}: {m:?}");
        } else if container {
            assert!(dev.starts_with("/dev/nbd"), "{what}: {m:?}");
        } else {
            assert!(dev.starts_with("/dev/loop"), "{what}: {m:?}");
        }
        let at = tree.root_dir.join(m.mountpoint.trim_start_matches('/'));
        if m.fs_type == "vfat" {
            assert_eq!(
                fstype_at(&at),
                "vfat",
                "{what}: {} not the kernel's vfat",
                m.mountpoint
            );
        }
    }
    assert!(tree.guest().unwrap().exists("etc/fstab").unwrap(), "{what}");
}

// ----- the tests --------------------------------------------------------------------

/// (a), (c): every guest layout in every format through the kernel path: raw on
/// loop devices with the kernel's partitions, containers (qcow2, sparse VMDK,
/// dynamic VHD, VHDX) on qemu-nbd, LVs activated by lvm2, vfat by the kernel;
/// nothing left after each.
#[test]
fn kernel_path_assembles_every_format() {
    let test = "kernel_path_assembles_every_format";
    if !in_vm(test, &["rhel-lvm", "multi-disk-guest"]) {
        return;
    }
    let t = Instant::now();
    let caps = detect();
    eprintln!("measured: detect() {:?}: {caps}", t.elapsed());
    assert!(
        caps.device_mapper && caps.nbd && caps.partition_scan && caps.vfat,
        "a full kernel: {caps}"
    );
    let choice = PathChoice::resolve(AttachPath::Auto).unwrap();
    assert!(
        choice.nbd && choice.lvm2,
        "auto takes the kernel path here: {choice}"
    );
    let dir = scratch("formats");
    let before = snapshot();
    for name in ["rhel-lvm", "multi-disk-guest"] {
        let mut g = guest_fixture(name);
        assert_eq!(g.formats.len(), 4, "{name}: raw, qcow2, vmdk, vhd");
        let t = Instant::now();
        let vhdx = to_vhdx(&g.formats["qcow2"], &dir.join(name));
        eprintln!("measured: {name}: qcow2 -> vhdx in {:?}", t.elapsed());
        g.formats.insert("vhdx".into(), vhdx);
        for (format, disks) in &g.formats {
            let what = format!("{} {format}", g.name);
            let t = Instant::now();
            let layout = libhydra::probe::probe(disks).expect("probe");
            let tree = assemble(
                &layout,
                &opts(&dir, &format!("{name}-{format}"), AttachPath::Kernel),
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            let assembled = t.elapsed();
            check_kernel_tree(&tree, &g, format != "raw", &what);
            // The guest's VGs are active in device-mapper while the tree is up.
            for vg in &layout.volume_groups {
                assert!(
                    dmsetup_ls()
                        .iter()
                        .any(|n| n.starts_with(&format!("{}-", vg.name))),
                    "{what}: VG {} not active",
                    vg.name
                );
            }
            if format != "raw" {
                assert_eq!(
                    snapshot().nbd.len(),
                    disks.len(),
                    "{what}: one NBD per disk"
                );
            }
            let t2 = Instant::now();
            tree.close()
                .unwrap_or_else(|e| panic!("{what}: teardown: {e}"));
            eprintln!(
                "measured: {what}: assemble {assembled:?}, teardown {:?}",
                t2.elapsed()
            );
            assert_clean(&before, &dir.join("run"), &what);
        }
    }
}

/// Hydration writes through the kernel path reach the image: a qcow2 copy,
/// read-write with the chroot's /dev, a file written on / (an LV) and on the ESP
/// (kernel vfat), read back from a fresh read-only tree.
#[test]
fn kernel_path_writes_reach_the_image() {
    let test = "kernel_path_writes_reach_the_image";
    if !in_vm(test, &["rhel-lvm"]) {
        return;
    }
    let g = guest_fixture("rhel-lvm");
    let dir = scratch("rw");
    let before = snapshot();
    let copy = dir.join("disk0.qcow2");
    copy_sparse(&g.formats["qcow2"][0], &copy);
    let layout = libhydra::probe::probe(&[&copy]).unwrap();
    let mut o = opts(&dir, "rw-tree", AttachPath::Kernel);
    o.read_write = true;
    o.chroot = true;
    let tree = assemble(&layout, &o).unwrap();
    let root = tree.root_dir.clone();
    assert!(root.join("dev/mapper/rhel-root").exists());
    assert!(root.join("proc/self").exists());
    assert_eq!(fstype_at(&root.join("boot/efi")), "vfat");
    std::fs::write(root.join("etc/hydra-kp-test"), b"root on lvm2\n").unwrap();
    std::fs::write(root.join("boot/efi/EFI/HYDRAKP.TXT"), b"esp, kernel vfat\n").unwrap();
    tree.close().unwrap();
    assert_clean(&before, &dir.join("run"), "read-write tree");
    let layout = libhydra::probe::probe(&[&copy]).unwrap();
    let tree = assemble(&layout, &opts(&dir, "ro-tree", AttachPath::Kernel)).unwrap();
    let guest = tree.guest().unwrap();
    assert_eq!(guest.read("etc/hydra-kp-test").unwrap(), b"root on lvm2\n");
    assert_eq!(
        guest.read("boot/efi/EFI/HYDRAKP.TXT").unwrap(),
        b"esp, kernel vfat\n"
    );
    drop(guest);
    tree.close().unwrap();
    assert_clean(&before, &dir.join("run"), "read-back tree");
}

/// A helper VG made for the test on its own loop device, active throughout.
struct HelperVg {
    dev: String,
    name: String,
}

impl HelperVg {
    fn lvm(&self, args: &[&str]) -> String {
        run(Command::new("lvm")
            .args(args)
            .args(["--devices", &self.dev, "--config"])
            .arg(lvm2::lvm_config(None).replace("metadata_read_only=1", ""))
            .env("DM_DISABLE_UDEV", "1")
            .env("LVM_SUPPRESS_FD_WARNINGS", "1"))
    }

    fn create(dir: &Path, name: &str) -> HelperVg {
        let img = dir.join("helper.img");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let dev = run(Command::new("losetup").arg("-f").arg("--show").arg(&img))
            .trim()
            .to_string();
        let h = HelperVg {
            dev,
            name: name.to_string(),
        };
        h.lvm(&["pvcreate", "-q", &h.dev]);
        h.lvm(&["vgcreate", "-q", name, &h.dev]);
        for lv in ["root", "swap"] {
            h.lvm(&["lvcreate", "-q", "-an", "-Zn", "-L", "8m", "-n", lv, name]);
        }
        h.lvm(&["vgchange", "-ay", name]);
        h
    }

    /// What must not change: its LVs as lvm sees them, and their dm tables.
    fn state(&self) -> String {
        let lvs = self.lvm(&[
            "lvs",
            "--noheadings",
            "-o",
            "vg_name,lv_name,lv_uuid,lv_attr,devices",
        ]);
        let prefix = format!("{}-", self.name);
        let mine = |out: String| -> String {
            out.lines()
                .filter(|l| l.starts_with(&prefix))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let tables = mine(run(Command::new("dmsetup").arg("table")));
        let info = mine(run(Command::new("dmsetup").args([
            "info",
            "-c",
            "--noheadings",
            "-o",
            "name,uuid,attr,segments",
        ])));
        format!("{lvs}\n{tables}\n{info}")
    }

    fn remove(self) {
        self.lvm(&["vgchange", "-an", &self.name]);
        run(Command::new("losetup").arg("-d").arg(&self.dev));
    }
}

/// (b): lvm2 is scoped to the guest's PVs. With a helper VG named like the
/// guest's (`rhel`) active: the forced kernel path refuses with the clash
/// message and leaves nothing; auto maps that VG the userspace way; a guest
/// whose VGs do not clash activates and is the only thing deactivated; the
/// helper VG is identical before, during and after.
#[test]
fn lvm2_is_scoped_to_the_guest_and_refuses_a_clash() {
    let test = "lvm2_is_scoped_to_the_guest_and_refuses_a_clash";
    if !in_vm(test, &["rhel-lvm", "multi-disk-guest"]) {
        return;
    }
    let dir = scratch("clash");
    let helper = HelperVg::create(&dir, "rhel");
    let helper_state = helper.state();
    assert!(dmsetup_ls().contains(&"rhel-root".to_string()));
    let before = snapshot();
    let rhel = guest_fixture("rhel-lvm");
    let layout = libhydra::probe::probe(&rhel.formats["raw"]).unwrap();

    // Forced kernel path: refused, with the VG, what the helper has, how to go on.
    let t = Instant::now();
    let err = assemble(&layout, &opts(&dir, "forced", AttachPath::Kernel)).unwrap_err();
    let m = err.to_string();
    eprintln!("measured: clash refused in {:?}: {m}", t.elapsed());
    assert!(matches!(err, AssembleError::Attach(_)), "{err:?}");
    for want in [
        "guest VG `rhel`",
        "rhel-root",
        "nothing was activated",
        "HYDRA_ATTACH_PATH=userspace",
    ] {
        assert!(m.contains(want), "{want:?} missing from: {m}");
    }
    assert_clean(&before, &dir.join("run"), "refused clash");
    assert_eq!(helper.state(), helper_state, "helper VG changed");

    // Auto: the clashing VG is mapped by Hydra (loop devices), the rest as usual.
    let tree = assemble(&layout, &opts(&dir, "auto", AttachPath::Auto)).unwrap();
    assert!(
        tree.warnings
            .iter()
            .any(|w| w.contains("clashes with the helper")),
        "{:?}",
        tree.warnings
    );
    let got: BTreeSet<(String, String)> = tree
        .mounts
        .iter()
        .map(|m| (m.mountpoint.clone(), m.volume.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = rhel
        .rows
        .iter()
        .map(|r| (r.target.clone(), r.volume.clone()))
        .collect();
    assert_eq!(got, want);
    for m in tree.mounts.iter().filter(|m| m.volume.starts_with("LV ")) {
        assert!(m.device.to_string_lossy().starts_with("/dev/loop"), "{m:?}");
    }
    assert_eq!(
        helper.state(),
        helper_state,
        "helper VG changed (auto, mounted)"
    );
    tree.close().unwrap();
    assert_clean(&before, &dir.join("run"), "auto with a clash");
    assert_eq!(helper.state(), helper_state, "helper VG changed (auto)");

    // No clash (sysvg, datavg): lvm2 activates them; at the end only they go.
    let mdg = guest_fixture("multi-disk-guest");
    let layout = libhydra::probe::probe(&mdg.formats["raw"]).unwrap();
    let tree = assemble(&layout, &opts(&dir, "noclash", AttachPath::Kernel)).unwrap();
    check_kernel_tree(&tree, &mdg, false, "multi-disk-guest beside the helper VG");
    let during = dmsetup_ls();
    for want in [
        "sysvg-root",
        "datavg-var",
        "datavg-home",
        "rhel-root",
        "rhel-swap",
    ] {
        assert!(
            during.contains(&want.to_string()),
            "{want} not in {during:?}"
        );
    }
    assert_eq!(
        helper.state(),
        helper_state,
        "helper VG changed (no clash, mounted)"
    );
    tree.close().unwrap();
    assert_clean(&before, &dir.join("run"), "no clash");
    assert_eq!(helper.state(), helper_state, "helper VG changed (no clash)");
    helper.remove();
}

/// (b): striped and multi-segment LVs over several disks (MBR logical
/// partitions, a whole-disk PV; on NBD devices) activate with lvm2; lvm2's
/// stripes lie where Hydra's scan says; filesystems made on them mount and keep
/// their data across a deactivation.
#[test]
fn striped_and_multi_segment_lvs_activate_and_mount() {
    let test = "striped_and_multi_segment_lvs_activate_and_mount";
    if !in_vm(test, &["multi-disk"]) {
        return;
    }
    let fdir = fixture_dir("multi-disk");
    let dir = scratch("striped");
    let before = snapshot();
    let names = ["d01", "d04", "d06", "d08", "d13", "d15", "d16"];
    // Hydra scans the fixture's raw disks; what is attached (read-write) are
    // qcow2 overlays in /tmp over them, through qemu-nbd: writes stay in the
    // overlays, and nothing reads the disks' gigabytes of holes over 9p.
    let raw: Vec<PathBuf> = names
        .iter()
        .map(|n| fdir.join(format!("{n}.img")))
        .collect();
    let layout: Layout = libhydra::probe::probe(&raw).unwrap();
    let choice = PathChoice::resolve(AttachPath::Kernel).unwrap();
    let aopts = AttachOptions {
        read_only: false,
        runtime_dir: dir.join("run"),
    };
    let t = Instant::now();
    let attached: Vec<DiskDevice> = layout
        .disks
        .iter()
        .map(|d| {
            let overlay = dir.join(format!("disk{}.qcow2", d.index));
            run(Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
                .arg(&d.path)
                .arg(&overlay));
            let mut d = d.clone();
            d.path = overlay.clone();
            d.image.format = libhydra::layout::ImageFormat::Qcow2;
            attach_disk_with(&overlay, &d, &aopts, &choice).unwrap()
        })
        .collect();
    eprintln!(
        "measured: {} qcow2 overlays on NBD: {:?}",
        attached.len(),
        t.elapsed()
    );
    assert!(attached.iter().all(|a| a.nbd_pid().is_some()));
    // Partitions came from the kernel's scan (PARTSCAN), checked against Hydra's.
    assert!(attached
        .iter()
        .flat_map(|a| a.partitions())
        .all(|p| !p.added));
    let pv_dev = |disk: usize, part: Option<u32>| match part {
        Some(n) => attached[disk].partition_path(n).unwrap(),
        None => attached[disk].device().to_path_buf(),
    };
    let expected = tsv(&fdir.join("expected.tsv"));
    let mut active = Vec::new();
    for vg in &layout.volume_groups {
        assert!(!vg.partial, "{} partial", vg.name);
        let pvs: Vec<PathBuf> = vg
            .pvs
            .iter()
            .map(|p| {
                let at = p.location.as_ref().unwrap();
                pv_dev(at.disk, at.partition)
            })
            .collect();
        let t = Instant::now();
        let a = lvm2::activate(vg, &pvs, &Lvm2Options::default()).unwrap();
        eprintln!(
            "measured: activate {} ({} LVs on {} PVs): {:?}",
            vg.name,
            a.lvs().len(),
            pvs.len(),
            t.elapsed()
        );
        assert!(a.notes().is_empty(), "{:?}", a.notes());
        let visible = vg.lvs.iter().filter(|l| l.visible).count();
        assert_eq!(a.lvs().len(), visible, "{}", vg.name);
        for lv in &vg.lvs {
            let dev = &a.lv(&lv.name).unwrap().path;
            // The fixture's contents (vg2's ext4 and swap) read through lvm2.
            if let Some(row) = expected
                .iter()
                .find(|r| r[1] == format!("lv:{}/{}", vg.name, lv.name))
            {
                let b = blkid(dev);
                assert_eq!(b.get("TYPE"), Some(&row[7]), "{}/{}", vg.name, lv.name);
                assert_eq!(b.get("UUID"), Some(&row[8]), "{}/{}", vg.name, lv.name);
            }
            // Striped: 64 KiB chunks alternate between the areas Hydra's scan names.
            let seg = &lv.segments[0];
            if seg.kind == SegmentKind::Striped {
                let chunk = seg.stripe_size.unwrap() as usize;
                let data: Vec<u8> = (0..2 * chunk).map(|i| (i % 251) as u8).collect();
                write_at(dev, 0, &data);
                for (k, area) in seg.areas.iter().enumerate() {
                    let SegmentArea::Pv {
                        disk: Some(disk),
                        disk_offset: Some(off),
                        ..
                    } = area
                    else {
                        panic!("area {area:?}");
                    };
                    let got = read_at(attached[*disk].device(), *off, chunk);
                    assert!(
                        got == data[k * chunk..(k + 1) * chunk],
                        "{}/{}: stripe {k} not at disk {disk} byte {off}",
                        vg.name,
                        lv.name
                    );
                }
                // A filesystem on it mounts, and its data survives a deactivation.
                run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(dev));
                let mnt = dir.join(format!("mnt-{}-{}", vg.name, lv.name));
                std::fs::create_dir_all(&mnt).unwrap();
                run(Command::new("mount").arg(dev).arg(&mnt));
                std::fs::write(mnt.join("striped.txt"), format!("{}\n", vg.name)).unwrap();
                run(Command::new("umount").arg(&mnt));
            }
        }
        active.push(a);
    }
    let names_active = dmsetup_ls();
    for a in active {
        a.close().unwrap();
    }
    assert_eq!(
        dmsetup_ls(),
        before.dm,
        "deactivated: {names_active:?} -> now"
    );
    // Again, read-only: the files are there.
    let mut again = Vec::new();
    for vg in &layout.volume_groups {
        let pvs: Vec<PathBuf> = vg
            .pvs
            .iter()
            .map(|p| {
                let at = p.location.as_ref().unwrap();
                pv_dev(at.disk, at.partition)
            })
            .collect();
        let ro = Lvm2Options {
            read_only: true,
            ..Lvm2Options::default()
        };
        let a = lvm2::activate(vg, &pvs, &ro).unwrap();
        for lv in vg
            .lvs
            .iter()
            .filter(|l| l.segments[0].kind == SegmentKind::Striped)
        {
            let dev = &a.lv(&lv.name).unwrap().path;
            let ro_flag = std::fs::read_to_string(format!(
                "/sys/block/{}/ro",
                a.lv(&lv.name).unwrap().kernel_name
            ))
            .unwrap();
            assert_eq!(ro_flag.trim(), "1", "read-only activation");
            let mnt = dir.join(format!("ro-{}-{}", vg.name, lv.name));
            std::fs::create_dir_all(&mnt).unwrap();
            run(Command::new("mount").args(["-o", "ro"]).arg(dev).arg(&mnt));
            let text = std::fs::read_to_string(mnt.join("striped.txt")).unwrap();
            run(Command::new("umount").arg(&mnt));
            assert_eq!(text, format!("{}\n", vg.name));
        }
        again.push(a);
    }
    for a in again {
        a.close().unwrap();
    }
    for a in attached.into_iter().rev() {
        a.close().unwrap();
    }
    assert_clean(&before, &dir.join("run"), "striped");
}

fn write_at(dev: &Path, off: u64, data: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(dev).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    f.write_all(data).unwrap();
    f.sync_all().unwrap();
}

fn read_at(dev: &Path, off: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(dev).unwrap();
    // Another device's writes: drop this one's cached pages first.
    run(Command::new("blockdev").arg("--flushbufs").arg(dev));
    f.seek(SeekFrom::Start(off)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// (d): a failure injected after every resource of a kernel-path assembly
/// (qemu-nbd disks, lvm2 VGs, kernel vfat, the chroot's mounts) leaves no dm
/// device, loop, NBD connection, daemon, mount or session behind.
#[test]
fn kernel_path_failure_at_every_step_leaves_nothing() {
    let test = "kernel_path_failure_at_every_step_leaves_nothing";
    if !in_vm(test, &["rhel-lvm", "multi-disk-guest"]) {
        return;
    }
    let dir = scratch("inject");
    let before = snapshot();
    for (name, format) in [("rhel-lvm", "qcow2"), ("multi-disk-guest", "vmdk")] {
        let g = guest_fixture(name);
        let layout = libhydra::probe::probe(&g.formats[format]).unwrap();
        let t = Instant::now();
        let mut step = 1;
        loop {
            let mut o = opts(&dir, &format!("{name}-{step}"), AttachPath::Kernel);
            o.chroot = true;
            o.fail_after = Some(step);
            match assemble(&layout, &o) {
                Err(AssembleError::Session(m)) if m.contains("injected") => {
                    assert_clean(
                        &before,
                        &dir.join("run"),
                        &format!("{name} {format}: failure after step {step}"),
                    );
                }
                Ok(tree) => {
                    check_kernel_tree(&tree, &g, true, name);
                    tree.close().unwrap();
                    break;
                }
                Err(e) => panic!("{name} step {step}: unexpected error {e}"),
            }
            step += 1;
        }
        assert_clean(&before, &dir.join("run"), name);
        assert!(step > 8, "{name}: only {step} steps");
        eprintln!(
            "measured: {name} ({format}): failure injected at each of {} steps in {:?}",
            step - 1,
            t.elapsed()
        );
    }
}

/// NBD devices: four images connected at once from four threads get four
/// devices; closing leaves no connection, partition or daemon; a daemon
/// stopped with SIGTERM (what a sweep does after a crash) disconnects its
/// device, and closing the guard afterwards still succeeds.
#[test]
fn nbd_devices_in_parallel_and_after_sigterm() {
    let test = "nbd_devices_in_parallel_and_after_sigterm";
    if !in_vm(test, &["rhel-lvm"]) {
        return;
    }
    use libhydra::attach::nbd::{NbdDevice, NbdOptions};
    use libhydra::layout::ImageFormat;
    let g = guest_fixture("rhel-lvm");
    let dir = scratch("nbd");
    let before = snapshot();
    let layout = libhydra::probe::probe(&g.formats["raw"]).unwrap();
    let parts = layout.disks[0].partitions.clone();
    let t = Instant::now();
    let devs: Vec<NbdDevice> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let img = g.formats["qcow2"][0].clone();
                let o = NbdOptions::new(ImageFormat::Qcow2, true, dir.join("run"), format!("p{i}"));
                let parts = parts.clone();
                s.spawn(move || NbdDevice::connect(&img, &o, &parts).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("measured: 4 parallel NBD connects: {:?}", t.elapsed());
    let numbers: BTreeSet<u32> = devs.iter().map(|d| d.number()).collect();
    assert_eq!(numbers.len(), 4, "four distinct devices");
    for d in &devs {
        assert!(d.read_only());
        assert_eq!(d.partitions().len(), 3);
        assert!(
            d.partitions().iter().all(|p| !p.added),
            "the kernel's partitions"
        );
        let b = blkid(&d.partition_path(2).unwrap());
        assert_eq!(b.get("TYPE").map(String::as_str), Some("xfs"));
    }
    let t = Instant::now();
    for d in devs {
        let name = d.name();
        d.close().unwrap();
        let left: Vec<_> = std::fs::read_dir(format!("/sys/block/{name}"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
            .collect();
        assert!(left.is_empty(), "{name}: partitions left {left:?}");
    }
    eprintln!("measured: 4 NBD disconnects: {:?}", t.elapsed());
    assert_clean(&before, &dir.join("run"), "parallel");

    // SIGTERM to the daemon (what a sweep does after a crash): it exits.
    let o = NbdOptions::new(ImageFormat::Qcow2, true, dir.join("run"), "term");
    let d = NbdDevice::connect(&g.formats["qcow2"][0], &o, &[]).unwrap();
    let pid = d.pid().unwrap();
    let name = d.name();
    // SAFETY: plain syscall; the daemon is alive (the guard just connected it).
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(t.elapsed().as_secs() < 10, "qemu-nbd ignored SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("measured: SIGTERM to qemu-nbd: exited in {:?}", t.elapsed());
    // Our descriptor keeps the connection's configuration until the guard closes.
    d.close().unwrap();
    assert!(!Path::new(&format!("/sys/block/{name}/pid")).exists());
    assert_clean(&before, &dir.join("run"), "after SIGTERM");
}

/// A kernel-path session left behind (persisted: its guards let go, as a killed
/// process's would) is taken apart by the sweep: the guest VG it activated through
/// lvm2 is deactivated (scoped), its nbd and loop devices freed.
#[test]
fn sweep_deactivates_a_left_behind_guest_vg() {
    let test = "sweep_deactivates_a_left_behind_guest_vg";
    if !in_vm(test, &["rhel-lvm"]) {
        return;
    }
    let g = guest_fixture("rhel-lvm");
    let dir = scratch("sweep-vg");
    let before = snapshot();
    let layout = libhydra::probe::probe(&[&g.formats["qcow2"][0]]).unwrap();
    let o = opts(&dir, "left", AttachPath::Kernel);
    let tree = assemble(&layout, &o).unwrap();
    tree.persist().unwrap();
    assert!(
        dmsetup_ls().iter().any(|l| l.starts_with("rhel-")),
        "the guest VG is active: {:?}",
        dmsetup_ls()
    );
    let r = libhydra::assemble::sweep::sweep_with(&libhydra::assemble::sweep::SweepOptions {
        sessions_dir: dir.join("run/sessions"),
        release: Some(o.tree_root.clone()),
        tree_roots: vec![],
        ..Default::default()
    });
    assert!(r.is_clean(), "{r}");
    assert!(r.to_string().contains("deactivate VG rhel"), "{r}");
    assert!(
        !dmsetup_ls().iter().any(|l| l.starts_with("rhel-")),
        "{:?}",
        dmsetup_ls()
    );
    for _ in 0..50 {
        if snapshot() == before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_clean(&before, &dir.join("run"), "swept");
}
