//! `hydra-edit hydrate` and `rollback` on real guest images: outcome bytes, a second run that changes nothing, rollback that restores every byte, mode, owner, time and xattr, failures injected inside the commit, bad input, no leftovers.

mod common;

use common::*;

/// Steps these fake-userland fixtures cannot complete: `initramfs` would run
/// the guest's dracut/update-initramfs (the fixtures carry no real userland;
/// the real Debian image covers it), `agent` needs a package source.
const SKIP_NEEDS_USERLAND: &str = "initramfs,agent";

/// A fixture and what hydrating it must change.
struct Case {
    fixture: &'static str,
    /// Paths the hydration must change (besides its journal).
    must_change: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        fixture: "debian-mbr",
        must_change: &[
            "/etc/fstab",
            "/etc/default/grub.d/local.cfg",
            "/boot/grub/grub.cfg",
        ],
    },
    Case {
        fixture: "rhel-lvm",
        must_change: &[],
    },
    Case {
        fixture: "sles-btrfs",
        must_change: &[],
    },
    Case {
        fixture: "multi-disk-guest",
        must_change: &[],
    },
];

#[test]
fn hydrate_commit_rerun_rollback_on_every_guest_fixture() {
    if !root_tier("hydrate_commit_rerun_rollback_on_every_guest_fixture") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for case in CASES {
        let dir = fixture_dir(case.fixture);
        let work = tempfile::tempdir().unwrap();
        hydrate_roundtrip(
            &dir,
            case.fixture,
            case.must_change,
            SKIP_NEEDS_USERLAND,
            work.path(),
        );
    }
}

#[test]
fn failure_injected_before_each_change_leaves_the_guest_as_it_was() {
    if !root_tier("failure_injected_before_each_change_leaves_the_guest_as_it_was") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for fixture in ["rhel-lvm", "debian-mbr"] {
        let dir = fixture_dir(fixture);
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let disks = copy_raw_disks(&dir, w);
        let before = snapshot(w, &disks);
        let plan = json(&ok(
            &hydra_edit_disks(
                w,
                &[
                    "hydrate",
                    "--dry-run",
                    "--json",
                    "--skip",
                    SKIP_NEEDS_USERLAND,
                ],
                &disks,
            ),
            "dry run",
        ));
        let n: usize = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["changes"].as_array().unwrap().len())
            .sum();
        assert!(n >= 1, "{fixture}: nothing planned");
        for k in 0..n {
            let out = hydra_edit_disks(
                w,
                &[
                    "hydrate",
                    "--skip",
                    SKIP_NEEDS_USERLAND,
                    "--fail-after",
                    &k.to_string(),
                ],
                &disks,
            );
            assert!(!out.status.success(), "{fixture}: fail-after {k} succeeded");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("injected failure before change {k}"))
                    && err.contains("the guest is as it was"),
                "{fixture} fail-after {k}: {err}"
            );
            let now = snapshot(w, &disks);
            assert_eq!(
                before.diff(&now),
                Vec::<String>::new(),
                "{fixture}: fail-after {k} left changes"
            );
        }
        eprintln!("{fixture}: {n} injected failures, guest unchanged each time");
        assert_eq!(leftovers(w), Vec::<String>::new());
    }
}

/// The swap's UUID as the fixture's guest.tsv records it.
fn swap_uuid(fixture: &std::path::Path) -> String {
    let tsv = std::fs::read_to_string(fixture.join("guest.tsv")).unwrap();
    tsv.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&"swap") && f.len() > 6)
        .map(|f| f[6].to_string())
        .expect("a swap row in guest.tsv")
}

#[test]
fn resume_by_uuid_and_grub_dropins_on_debian_mbr() {
    if !root_tier("resume_by_uuid_and_grub_dropins_on_debian_mbr") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixture_dir("debian-mbr");
    let swap = swap_uuid(&dir);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let disks = copy_raw_disks(&dir, w);
    let before = snapshot(w, &disks);
    assert!(before
        .text("/boot/grub/grub.cfg")
        .contains("ro resume=/dev/sda5 "));
    ok(
        &hydra_edit_disks(w, &["hydrate", "--only", "bootloader"], &disks),
        "hydrate --only bootloader",
    );
    let after = snapshot(w, &disks);
    let serial = "console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300";
    let resume = format!("resume=UUID={swap}");
    // Every kernel line of the generated config: the swap by UUID, the console.
    let cfg = after.text("/boot/grub/grub.cfg");
    let linux: Vec<&str> = cfg
        .lines()
        .filter(|l| l.trim_start().starts_with("linux"))
        .collect();
    assert!(linux.len() >= 2, "{cfg}");
    for l in &linux {
        assert!(l.contains(&resume) && l.ends_with(serial), "{l}");
        assert!(!l.contains("/dev/sda5"), "{l}");
    }
    // /etc/default/grub and the drop-in that replaces its command line: the
    // next update-grub on the VM gives the same.
    let grub = after.text("/etc/default/grub");
    assert!(
        grub.contains(&format!("GRUB_CMDLINE_LINUX=\"{resume} {serial}\"")),
        "{grub}"
    );
    let dropin = after.text("/etc/default/grub.d/local.cfg");
    assert!(
        dropin.contains(&format!("GRUB_CMDLINE_LINUX=\"{resume} {serial}\"\n")),
        "{dropin}"
    );
    assert!(
        dropin.contains("GRUB_TERMINAL=\"serial console\"\n"),
        "{dropin}"
    );
    assert!(!dropin.contains("quiet") && dropin.starts_with("# Local settings"));
    ok(&hydra_edit_disks(w, &["rollback"], &disks), "rollback");
    assert_eq!(before.diff(&snapshot(w, &disks)), Vec::<String>::new());
    assert_eq!(leftovers(w), Vec::<String>::new());
}

#[test]
fn a_second_run_on_the_same_tree_root_is_refused_and_changes_nothing() {
    if !root_tier("a_second_run_on_the_same_tree_root_is_refused_and_changes_nothing") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixture_dir("debian-mbr");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let disks = copy_raw_disks(&dir, w);
    let before = snapshot(w, &disks);
    // Another run holds the tree root (this process stands in for it).
    let held =
        libhydra::assemble::lock::TreeLock::acquire(&w.join("run"), &w.join("tree")).unwrap();
    let out = hydra_edit_disks(w, &["hydrate", "--only", "fstab"], &disks);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another Hydra run")
            && err.contains(&format!("pid {}", std::process::id()))
            && err.contains("--tree-root"),
        "{err}"
    );
    assert_eq!(leftovers(w), Vec::<String>::new());
    drop(held);
    assert_eq!(before.diff(&snapshot(w, &disks)), Vec::<String>::new());
    // Once it lets go, the run goes ahead.
    ok(
        &hydra_edit_disks(w, &["hydrate", "--only", "fstab"], &disks),
        "hydrate after the lock is free",
    );
    assert_ne!(before.diff(&snapshot(w, &disks)), Vec::<String>::new());
    assert_eq!(leftovers(w), Vec::<String>::new());
}

#[test]
fn unknown_os_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/fstab"), "/dev/sda1 / ext4 defaults 0 1\n").unwrap();
    let r = root.display().to_string();
    let out = hydra_edit(&["hydrate", "--dry-run", "--root", &r]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot identify the guest operating system") && err.contains("--force"),
        "{err}"
    );
    // Nothing written.
    assert_eq!(std::fs::read_dir(root).unwrap().count(), 1);
    let forced = hydra_edit(&[
        "hydrate",
        "--dry-run",
        "--force",
        "--only",
        "fstab",
        "--root",
        &r,
    ]);
    let text = ok(&forced, "forced dry run");
    assert!(text.contains("== fstab (L7)"), "{text}");
}

#[test]
fn unsupported_version_and_unknown_step_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"23.10\"\nPRETTY_NAME=\"Ubuntu 23.10\"\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/fstab"), "UUID=x / ext4 defaults 0 1\n").unwrap();
    let r = root.display().to_string();
    let out = hydra_edit(&["hydrate", "--dry-run", "--root", &r]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Ubuntu 23.10 is not a supported guest"),
        "{err}"
    );
    let out = hydra_edit(&[
        "hydrate",
        "--dry-run",
        "--force",
        "--only",
        "nosuch",
        "--root",
        &r,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no step named `nosuch`"),
        "{err}"
    );
}

#[test]
fn missing_fstab_blocks_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").unwrap();
    let r = root.display().to_string();
    let out = hydra_edit(&["hydrate", "--only", "fstab", "--root", &r]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("/etc/fstab does not exist")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!root.join("var").exists(), "a refused run left a journal");
}

#[test]
fn guest_symlinks_never_lead_onto_the_host() {
    // A guest whose config files are symlinks to absolute host paths (and
    // `..` chains): every read and write stays in the guest tree.
    let host = tempfile::tempdir().unwrap();
    let marker = host.path().join("host-file");
    std::fs::write(
        &marker,
        "GRUB_CMDLINE_LINUX=\"quiet\"\nlinux /vmlinuz root=/dev/sda1 quiet\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["etc/default", "etc/network", "boot/grub"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/os-release"), "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").unwrap();
    std::fs::write(
        root.join("etc/fstab"),
        "UUID=0b9c6a43-1111-2222-3333-444455556666 / ext4 defaults 0 1\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&marker, root.join("etc/default/grub")).unwrap();
    let up = format!("../../../../../../../..{}", marker.display());
    std::os::unix::fs::symlink(&up, root.join("boot/grub/grub.cfg")).unwrap();
    std::os::unix::fs::symlink(&marker, root.join("etc/network/interfaces")).unwrap();
    let r = root.display().to_string();
    let out = hydra_edit(&["hydrate", "--only", "bootloader,network", "--root", &r]);
    let err = String::from_utf8_lossy(&out.stderr);
    // Whatever the outcome, the host file is untouched.
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "GRUB_CMDLINE_LINUX=\"quiet\"\nlinux /vmlinuz root=/dev/sda1 quiet\n",
        "a guest symlink led a write onto the host ({err})"
    );
    assert!(
        std::fs::read_dir(host.path()).unwrap().count() == 1,
        "files appeared on the host"
    );
    // The guest's links resolve inside the guest, to nothing: the steps saw no
    // content there (an absent file), and wrote only inside the tree.
    if out.status.success() {
        let interfaces = std::fs::symlink_metadata(root.join("etc/network/interfaces")).unwrap();
        assert!(
            interfaces.is_file(),
            "the guest's interfaces link was replaced by a file in the guest"
        );
    } else {
        assert!(
            err.contains("bootloader") || err.contains("network"),
            "{err}"
        );
    }
}
