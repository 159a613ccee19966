//! Full-kernel tier for hydration: `hydra-edit hydrate` and `rollback` through the kernel's own paths (qemu-nbd, lvm2 activation scoped to the guest, kernel partitions and vfat) inside a Debian kernel under qemu (`testdata/vm-run`), with the host path's outcome checks and zero leftovers.

mod common;

use common::*;

/// Steps the fake-userland fixtures cannot complete (see tests/hydrate.rs).
const SKIP_NEEDS_USERLAND: &str = "initramfs,agent";

#[test]
fn kernel_path_hydrates_and_rolls_back_every_linux_fixture() {
    let test = "kernel_path_hydrates_and_rolls_back_every_linux_fixture";
    // GPT + ESP (kernel vfat) + LVM root through lvm2, and a VG across two
    // disks with an MBR; the others differ only in what the host path covers.
    let fixtures = ["rhel-lvm", "multi-disk-guest"];
    if !in_vm(test, &fixtures) {
        return;
    }
    // Every piece from the kernel; fail rather than fall back.
    std::env::set_var("HYDRA_ATTACH_PATH", "kernel");
    for f in fixtures {
        let dir = vm_fixture_dir(f);
        let work = tempfile::Builder::new()
            .prefix("kh")
            .tempdir_in("/tmp")
            .unwrap();
        let t = std::time::Instant::now();
        hydrate_roundtrip_with(&dir, f, &[], SKIP_NEEDS_USERLAND, work.path(), false);
        let left = kernel_leftovers(work.path());
        assert_eq!(left, Vec::<String>::new(), "{f}: leftovers");
        eprintln!("measured: {f}: hydrate + rerun + rollback through the kernel path in {:?}; leftovers 0", t.elapsed());
    }
}

#[test]
fn kernel_path_failure_injected_in_commit_leaves_nothing() {
    let test = "kernel_path_failure_injected_in_commit_leaves_nothing";
    if !in_vm(test, &["rhel-lvm"]) {
        return;
    }
    std::env::set_var("HYDRA_ATTACH_PATH", "kernel");
    let dir = vm_fixture_dir("rhel-lvm");
    let work = tempfile::Builder::new()
        .prefix("kf")
        .tempdir_in("/tmp")
        .unwrap();
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
    assert!(n >= 2, "rhel-lvm: too few changes planned ({n})");
    // The last change: every earlier one is undone through the kernel's
    // devices (the host path injects before each change).
    {
        let k = n - 1;
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
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the guest is as it was") || err.contains("injected"),
            "{err}"
        );
        assert_eq!(
            before.diff(&snapshot(w, &disks)),
            Vec::<String>::new(),
            "fail-after {k}"
        );
        assert_eq!(
            kernel_leftovers(w),
            Vec::<String>::new(),
            "fail-after {k}: leftovers"
        );
    }
}
