//! Boot tier: a real Debian 12 UEFI guest as VMware leaves it (fixture
//! `debian-boot`: debootstrap, GPT ESP + /boot ext4 + VG debvg, `quiet` and no
//! `console=`, an initramfs without Hyper-V drivers), booted under qemu TCG with
//! OVMF by `testdata/boot-check`.
//!
//! - `unhydrated_debian_is_silent_on_serial`: the guest boots (its systemd powers
//!   it off on the ACPI power button) but its kernel never writes to ttyS0.
//! - `hydrated_debian_boots_on_serial`: after `hydra-edit hydrate` (the agent
//!   from the package file beside the image), the report lists a rebuild of
//!   both kernels' images and the agent install, a second run changes nothing,
//!   every GRUB entry has the serial console (L5), every kernel's initramfs
//!   holds the Hyper-V drivers (L4), fstab names no `/dev/sdX` (L7), waagent is
//!   installed and enabled (L8); booted, the kernel logs on ttyS0 and a login
//!   prompt appears there.
//! - `sigint_during_the_initramfs_rebuild_undoes_everything`: Ctrl-C while the
//!   guest's mkinitramfs runs: the commit is undone, the tree torn down, the
//!   image as before.
//!
//! Needs root (the fixture build attaches loop devices), the network for the
//! first build (debootstrap; the tree is cached afterwards), qemu-system-x86_64,
//! OVMF (`testdata/install-vm-deps`), debugfs and lsinitramfs. Without them the
//! tests skip loudly, unless `HYDRA_REQUIRE_VM_TESTS=1` is set: then they fail.
//! A boot takes 1-2 minutes under TCG (more on a busy machine).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Effective uid 0, from /proc (no libc in this crate's dev-dependencies).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .chain(["/usr/sbin".into(), "/sbin".into()])
                .any(|d| d.join(tool).is_file())
        })
        .unwrap_or(false)
}

/// Whether the test can run here; if not, a loud skip, or a failure under
/// HYDRA_REQUIRE_VM_TESTS=1.
fn can_run(test: &str) -> bool {
    let mut missing: Vec<String> = Vec::new();
    if !is_root() {
        missing.push("root".into());
    }
    for t in [
        "qemu-system-x86_64",
        "qemu-img",
        "debootstrap",
        "debugfs",
        "lsinitramfs",
        "mcopy",
        "lvm",
    ] {
        if !on_path(t) {
            missing.push(t.into());
        }
    }
    let ovmf = std::env::var("HYDRA_OVMF_CODE")
        .unwrap_or_else(|_| "/usr/share/OVMF/OVMF_CODE_4M.fd".into());
    if !Path::new(&ovmf).is_file() {
        missing.push(format!("{ovmf} (package ovmf)"));
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "needs {} (testdata/install-deps, testdata/install-vm-deps)",
        missing.join(", ")
    );
    assert!(
        std::env::var_os("HYDRA_REQUIRE_VM_TESTS").is_none(),
        "{test}: {why}, and HYDRA_REQUIRE_VM_TESTS is set"
    );
    eprintln!("\n*** SKIP: {test}: {why} ***\n");
    false
}

/// The built fixture: its raw disk and what its builder recorded.
struct Fixture {
    raw: PathBuf,
    /// Byte offset of /boot (partition 2) in the raw disk.
    boot_offset: u64,
    /// Byte offset of the root LV's (single) segment in the raw disk.
    root_offset: u64,
    kernel: String,
    /// Every kernel of the guest (guest.tsv `kernels`).
    kernels: Vec<String>,
    /// The Azure agent package beside the image (agent.tsv).
    agent_package: PathBuf,
}

fn fixture() -> Fixture {
    let out = Command::new(top().join("testdata/build"))
        .arg("debian-boot")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "testdata/build debian-boot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .expect("a disk path"),
    );
    let dir = raw.parent().unwrap().parent().unwrap().to_path_buf();
    let tsv = |name: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect()
    };
    let expected = tsv("expected.tsv");
    let start = |part: &str| -> u64 {
        expected
            .iter()
            .find(|r| r[1] == part)
            .unwrap_or_else(|| panic!("no {part} in expected.tsv"))[2]
            .parse()
            .unwrap()
    };
    let info = |key: &str| -> String {
        tsv("guest.tsv")
            .into_iter()
            .find(|r| r[1] == "info" && r[2] == key)
            .unwrap_or_else(|| panic!("no {key} row in guest.tsv"))[10]
            .clone()
    };
    let agent = tsv("agent.tsv")
        .into_iter()
        .find(|r| r[0] == "package")
        .expect("a package row in agent.tsv")[1]
        .clone();
    Fixture {
        boot_offset: start("2"),
        root_offset: start("lv:debvg/root"),
        raw,
        kernel: info("kernel"),
        kernels: info("kernels").split(',').map(String::from).collect(),
        agent_package: dir.join(agent),
    }
}

/// A scratch dir for one test; only the files the test names are removed,
/// and its dirs only when empty (never recursively: a tree may be mounted).
struct Scratch {
    dir: PathBuf,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "hydra-boot-test-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir(&dir).unwrap();
        Scratch {
            dir,
            files: Vec::new(),
            dirs: Vec::new(),
        }
    }
    fn file(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        self.files.push(p.clone());
        p
    }
    fn subdir(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::create_dir(&p).unwrap();
        self.dirs.push(p.clone());
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A file of the ext4 file system at OFFSET in IMAGE, read with debugfs (no
/// mount).
fn ext4_cat(image: &Path, offset: u64, path: &str) -> String {
    let out = Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(format!("{}?offset={offset}", image.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "debugfs cat {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `lsinitramfs` of /boot/initrd.img-KERNEL (the default kernel), copied out of IMAGE with debugfs.
fn initramfs_list(image: &Path, fx: &Fixture, scratch: &mut Scratch) -> String {
    initramfs_list_of(image, fx, &fx.kernel, scratch)
}

/// `lsinitramfs` of /boot/initrd.img-`kernel`, copied out of IMAGE with debugfs.
fn initramfs_list_of(image: &Path, fx: &Fixture, kernel: &str, scratch: &mut Scratch) -> String {
    let initrd = scratch.file(&format!("initrd.img-{kernel}"));
    let out = Command::new("debugfs")
        .args([
            "-R",
            &format!("dump -p /initrd.img-{kernel} {}", initrd.display()),
        ])
        .arg(format!("{}?offset={}", image.display(), fx.boot_offset))
        .output()
        .unwrap();
    assert!(
        out.status.success() && initrd.is_file(),
        "debugfs dump initrd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("lsinitramfs").arg(&initrd).output().unwrap();
    assert!(
        out.status.success(),
        "lsinitramfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn has_module(list: &str, m: &str) -> bool {
    list.lines().any(|l| l.ends_with(&format!("/{m}.ko")))
}

/// `testdata/boot-check ARGS... IMAGE`: its key=value summary; asserts the
/// expectation held (the readable summary and the log's tail are in the
/// message otherwise).
fn boot_check(image: &Path, args: &[&str], log: &Path) -> BTreeMap<String, String> {
    let out = Command::new(top().join("testdata/boot-check"))
        .args(args)
        .arg("--log")
        .arg(log)
        .arg(image)
        .output()
        .unwrap();
    let kv: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "boot-check {args:?} {}: {kv:?}\n{}",
        image.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    kv
}

#[test]
fn unhydrated_debian_is_silent_on_serial() {
    let test = "unhydrated_debian_is_silent_on_serial";
    if !can_run(test) {
        return;
    }
    let fx = fixture();
    let mut scratch = Scratch::new("unhydrated");

    // The VMware state: quiet, no serial console, no Hyper-V drivers at boot.
    let grub = ext4_cat(&fx.raw, fx.boot_offset, "/grub/grub.cfg");
    let linux: Vec<&str> = grub
        .lines()
        .filter(|l| l.trim_start().starts_with("linux\t"))
        .collect();
    assert!(!linux.is_empty(), "no linux lines in grub.cfg");
    assert!(linux.iter().all(|l| !l.contains("console=")), "{linux:?}");
    assert!(linux[0].contains(" quiet"), "{linux:?}");
    let list = initramfs_list(&fx.raw, &fx, &mut scratch);
    for m in ["hv_vmbus", "hv_storvsc", "hv_netvsc"] {
        assert!(!has_module(&list, m), "the fixture's initramfs has {m}");
    }
    assert!(
        has_module(&list, "ahci"),
        "the fixture's initramfs has no ahci"
    );

    // It boots (a clean poweroff on the power button needs systemd-logind up),
    // and its kernel says nothing on ttyS0 all along.
    let log = scratch.file("serial.log");
    let kv = boot_check(
        &fx.raw,
        &["--expect", "none", "--timeout", "60", "--powerdown"],
        &log,
    );
    assert_eq!(kv["kernel_messages"], "no", "{kv:?}");
    assert!(kv["powerdown"].starts_with("off-after-"), "{kv:?}");
    // OVMF and GRUB do write there: the port works.
    let serial = std::fs::read(&log).unwrap();
    assert!(
        String::from_utf8_lossy(&serial).contains("BdsDxe"),
        "no firmware output on the serial port"
    );
}

/// Run hydra-edit with `args`; (exit status, stdout, stderr).
fn hydra_edit(args: &[&std::ffi::OsStr]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hydra-edit"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Loop devices backed by `file`, and mounts below `dir`.
fn leftovers(file: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let l = Command::new("losetup")
        .args(["-l", "-n", "-O", "NAME,BACK-FILE"])
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&l.stdout).lines() {
        if line.contains(&file.display().to_string()) {
            out.push(line.to_string());
        }
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.display().to_string();
    out.extend(
        mi.lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&d)))
            .map(String::from),
    );
    out
}

#[test]
fn hydrated_debian_boots_on_serial() {
    let test = "hydrated_debian_boots_on_serial";
    if !can_run(test) {
        return;
    }
    let fx = fixture();
    assert!(
        fx.kernels.len() >= 2,
        "the fixture has two kernels: {:?}",
        fx.kernels
    );
    let mut scratch = Scratch::new("hydrated");
    let copy = scratch.file("disk0.img");
    let st = Command::new("cp")
        .arg("--sparse=always")
        .arg(&fx.raw)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success(), "cp {}", fx.raw.display());

    // Everything, the agent from the package file beside the image. The tree
    // goes to the scratch dir, so that concurrent tests do not meet at the default.
    let tree = scratch.subdir("tree");
    let args: Vec<&std::ffi::OsStr> = vec![
        "hydrate".as_ref(),
        "--json".as_ref(),
        "--agent-package".as_ref(),
        fx.agent_package.as_os_str(),
        "--tree-root".as_ref(),
        tree.as_os_str(),
        copy.as_os_str(),
    ];
    let (status, stdout, stderr) = hydra_edit(&args);
    assert!(status.success(), "hydra-edit hydrate: {stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["committed"], true);
    assert_eq!(report["verified"], true);
    assert_eq!(report["os"]["distro"], "Debian");
    let commands: Vec<String> = report["applied"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap().to_string())
        .collect();
    for k in &fx.kernels {
        assert!(
            commands
                .iter()
                .any(|c| c.starts_with("update-initramfs") && c.ends_with(k.as_str())),
            "no rebuild of {k}: {commands:?}"
        );
    }
    assert!(
        commands.iter().any(|c| c.starts_with("dpkg -i")),
        "the agent was not installed: {commands:?}"
    );
    let millis = &report["millis"];
    eprintln!(
        "measured: hydration of the Debian image: plan {} ms, commit {} ms, verify {} ms; commands: {}",
        millis["plan"],
        millis["commit"],
        millis["verify"],
        report["applied"]["commands"]
    );
    for s in report["steps"].as_array().unwrap() {
        assert_ne!(s["status"], "blocked", "{s:#}");
    }
    // Progress lines on stderr while the rebuilds ran.
    assert!(
        stderr.contains("running in the guest: update-initramfs"),
        "{stderr}"
    );

    // A second run changes nothing.
    let (status, stdout, stderr) = hydra_edit(&args);
    assert!(status.success(), "second hydrate: {stderr}");
    let again: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        again["committed"], false,
        "the second run changed: {again:#}"
    );
    assert!(
        leftovers(&copy, &tree).is_empty(),
        "{:?}",
        leftovers(&copy, &tree)
    );

    // L5: every linux line of the generated GRUB config.
    let grub = ext4_cat(&copy, fx.boot_offset, "/grub/grub.cfg");
    let linux: Vec<&str> = grub
        .lines()
        .filter(|l| l.trim_start().starts_with("linux\t"))
        .collect();
    assert!(
        linux.len() >= 4,
        "two kernels, normal and recovery entries: {linux:?}"
    );
    for l in &linux {
        for a in [
            "console=ttyS0,115200n8",
            "earlyprintk=ttyS0,115200",
            "rootdelay=300",
        ] {
            assert!(l.split_whitespace().any(|w| w == a), "{a} missing: {l}");
        }
        assert!(!l.split_whitespace().any(|w| w == "quiet"), "{l}");
    }
    let default = ext4_cat(&copy, fx.root_offset, "/etc/default/grub");
    assert!(
        default.contains(
            "GRUB_CMDLINE_LINUX=\"console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300\""
        ),
        "{default}"
    );
    // L4: every kernel's initramfs holds the Hyper-V drivers now.
    for k in &fx.kernels {
        let list = initramfs_list_of(&copy, &fx, k, &mut scratch);
        for m in ["hv_vmbus", "hv_storvsc", "hv_netvsc"] {
            assert!(
                has_module(&list, m),
                "the hydrated initramfs of {k} lacks {m}"
            );
        }
    }
    // L7: /boot and /boot/efi were /dev/sda2 and /dev/sda1.
    let fstab = ext4_cat(&copy, fx.root_offset, "/etc/fstab");
    assert!(
        !fstab.lines().any(|l| l.starts_with("/dev/sd")),
        "fstab still names /dev/sdX:\n{fstab}"
    );
    // L8: the agent is installed and enabled.
    let status_db = ext4_cat(&copy, fx.root_offset, "/var/lib/dpkg/status");
    assert!(
        status_db.contains("Package: waagent\nStatus: install ok installed"),
        "waagent not installed"
    );
    let link = Command::new("debugfs")
        .args([
            "-R",
            "stat /etc/systemd/system/multi-user.target.wants/walinuxagent.service",
        ])
        .arg(format!("{}?offset={}", copy.display(), fx.root_offset))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&link.stdout).contains("Type: symlink"),
        "walinuxagent.service is not enabled: {}",
        String::from_utf8_lossy(&link.stderr)
    );

    // It boots, with the kernel on ttyS0 and a login prompt there. L5's
    // rootdelay=300 is an unconditional `sleep 300` in initramfs-tools' init
    // (Debian, Ubuntu): the login prompt comes 5 minutes later than without
    // it (measured: kernel on ttyS0 at 24 s, login at 366 s under TCG).
    let log = scratch.file("serial.log");
    let kv = boot_check(
        &copy,
        &["--expect", "login,kernel", "--timeout", "720"],
        &log,
    );
    assert_eq!(kv["kernel_messages"], "yes", "{kv:?}");
    assert_ne!(kv["login_s"], "-", "{kv:?}");
    eprintln!(
        "measured: hydrated Debian under TCG: kernel on ttyS0 at {} s, login at {} s",
        kv["kernel_s"], kv["login_s"]
    );
}

#[test]
fn sigint_during_the_initramfs_rebuild_undoes_everything() {
    let test = "sigint_during_the_initramfs_rebuild_undoes_everything";
    if !can_run(test) {
        return;
    }
    let fx = fixture();
    let mut scratch = Scratch::new("sigint");
    let copy = scratch.file("disk0.img");
    assert!(Command::new("cp")
        .arg("--sparse=always")
        .arg(&fx.raw)
        .arg(&copy)
        .status()
        .unwrap()
        .success());
    let tree = scratch.subdir("tree");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hydra-edit"))
        .args(["hydrate", "--skip", "agent", "--jobs", "1", "--tree-root"])
        .arg(&tree)
        .arg(&copy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Ctrl-C once the first rebuild (mkinitramfs in the guest's chroot) runs.
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let started = std::time::Instant::now();
    let mut sent = false;
    while child.try_wait().unwrap().is_none() {
        if !sent && initramfs_running(&tree) {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let st = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(st.success());
            sent = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "hydra-edit did not stop"
        );
    }
    let status = child.wait().unwrap();
    let log = lines.join().unwrap().join("\n");
    assert!(sent, "the rebuild was never seen running:\n{log}");
    assert!(
        !status.success(),
        "hydra-edit succeeded despite SIGINT:\n{log}"
    );
    assert!(
        log.contains("interrupted by signal 2") && log.contains("the guest is as it was"),
        "{log}"
    );
    // The rebuild was let finish, and the log said why nothing happened yet.
    assert!(
        log.contains("interrupted: waiting for `update-initramfs"),
        "{log}"
    );
    assert!(
        leftovers(&copy, &tree).is_empty(),
        "{:?}",
        leftovers(&copy, &tree)
    );
    // The guest is as the fixture: no journal, fstab and initramfs unchanged.
    let fstab = ext4_cat(&copy, fx.root_offset, "/etc/fstab");
    assert_eq!(fstab, ext4_cat(&fx.raw, fx.root_offset, "/etc/fstab"));
    let list = initramfs_list(&copy, &fx, &mut scratch);
    assert!(
        !has_module(&list, "hv_vmbus"),
        "the interrupted rebuild's image stayed"
    );
    let out = Command::new("debugfs")
        .args(["-R", "stat /var/lib/hydra"])
        .arg(format!("{}?offset={}", copy.display(), fx.root_offset))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found")
            || String::from_utf8_lossy(&out.stdout).contains("not found"),
        "a journal was left"
    );
}

/// A mkinitramfs process runs chrooted into `tree` (its `/proc/PID/root`):
/// this test's rebuild, not another test's.
fn initramfs_running(tree: &Path) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("root")).is_ok_and(|r| r == tree))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|c| String::from_utf8_lossy(&c).contains("mkinitramfs"))
}
