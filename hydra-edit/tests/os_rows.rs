//! Every step on every supported OS row (fixture `os-rows`: one image per distro and version with that distro's file shapes): plan, commit, outcome bytes, second run, exact rollback, and the initramfs rebuild's failure in a guest without a working tool undone.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// One row of the fixture's rows.tsv, by column name.
type Row = BTreeMap<String, String>;

fn rows(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("rows.tsv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            head.iter()
                .map(|h| h.to_string())
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

const CONSOLE: [&str; 3] = [
    "console=ttyS0,115200n8",
    "earlyprintk=ttyS0,115200",
    "rootdelay=300",
];
const REMOVED: [&str; 3] = ["rhgb", "quiet", "crashkernel=auto"];

/// Kernel command lines in a boot config file: (line, args).
fn kernel_lines(path: &str, text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for l in text.lines() {
        let t = l.trim_start();
        let args: Option<&str> = if path.ends_with("/etc/default/grub") {
            t.strip_prefix("GRUB_CMDLINE_LINUX=")
                .map(|v| v.trim_matches(['"', '\'']))
        } else if path.ends_with("grubenv") {
            t.strip_prefix("kernelopts=")
        } else if path.ends_with("/etc/kernel/cmdline") {
            Some(t)
        } else if path.contains("/loader/entries/") {
            t.strip_prefix("options ")
                .filter(|v| !v.contains("$kernelopts"))
        } else {
            ["linux ", "linux16 ", "linuxefi ", "kernel "]
                .iter()
                .find_map(|k| t.strip_prefix(k))
                .map(|rest| rest.split_once(' ').map_or("", |x| x.1))
        };
        if let Some(a) = args {
            out.push((
                l.to_string(),
                a.split_whitespace().map(String::from).collect(),
            ));
        }
    }
    out
}

fn is_boot_config(p: &str) -> bool {
    p == "/etc/default/grub"
        || p == "/etc/kernel/cmdline"
        || (p.starts_with("/boot/")
            && (p.ends_with("grub.cfg")
                || p.ends_with("grub.conf")
                || p.ends_with("menu.lst")
                || p.ends_with("/grubenv")))
        || (p.starts_with("/boot/loader/entries/") && p.ends_with(".conf"))
}

fn check_outcome(row: &Row, before: &Snapshot, after: &Snapshot) {
    let name = &row["row"];
    // L5: every boot entry of every config.
    let mut entries = 0;
    for (p, n) in &after.nodes {
        if n.kind != "file" || !is_boot_config(p) {
            continue;
        }
        for (line, args) in kernel_lines(p, &String::from_utf8_lossy(&n.data)) {
            entries += 1;
            for c in CONSOLE {
                assert!(
                    args.iter().any(|a| a == c),
                    "{name}: {p}: {c} missing in {line:?}"
                );
            }
            for r in REMOVED {
                assert!(
                    !args.iter().any(|a| a == r),
                    "{name}: {p}: {r} still in {line:?}"
                );
            }
            assert!(
                !args.iter().any(|a| a.starts_with("root=/dev/sd")),
                "{name}: {p}: {line:?}"
            );
            assert_eq!(
                args.iter()
                    .filter(|a| a.starts_with("console=ttyS0"))
                    .count(),
                1,
                "{name}: {p}: {line:?}"
            );
        }
    }
    assert!(
        entries >= 1,
        "{name}: no kernel command line found in any boot config"
    );
    // L6: a DHCP eth0 and no stale NIC rules.
    match row["family"].as_str() {
        "RedHat" if row["network"] == "ifcfg" => {
            let t = after.text("/etc/sysconfig/network-scripts/ifcfg-eth0");
            assert_eq!(
                t,
                "DEVICE=eth0\nONBOOT=yes\nBOOTPROTO=dhcp\nTYPE=Ethernet\nUSERCTL=no\nPEERDNS=yes\nIPV6INIT=no\nPERSISTENT_DHCLIENT=yes\nNM_CONTROLLED=yes\n",
                "{name}"
            );
            assert_eq!(
                after.text("/etc/sysconfig/network"),
                "NETWORKING=yes\nHOSTNAME=localhost.localdomain\n",
                "{name}"
            );
        }
        "RedHat" => {
            let any = after.nodes.keys().any(|p| {
                p.starts_with("/etc/NetworkManager/system-connections/")
                    || p == "/etc/sysconfig/network-scripts/ifcfg-eth0"
            });
            assert!(any, "{name}: no eth0 configuration");
        }
        "Suse" => assert!(
            after
                .text("/etc/sysconfig/network/ifcfg-eth0")
                .contains("BOOTPROTO='dhcp'"),
            "{name}"
        ),
        _ if row["network"] == "netplan" => {
            let ok = after.nodes.iter().any(|(p, n)| {
                p.starts_with("/etc/netplan/") && p.ends_with(".yaml") && {
                    let t = String::from_utf8_lossy(&n.data);
                    t.contains("eth0") && t.contains("dhcp4: true")
                }
            });
            assert!(ok, "{name}: no netplan eth0 dhcp");
        }
        _ => assert!(
            after
                .text("/etc/network/interfaces")
                .contains("iface eth0 inet dhcp"),
            "{name}"
        ),
    }
    if before
        .nodes
        .contains_key("/etc/udev/rules.d/70-persistent-net.rules")
    {
        assert!(
            !after
                .nodes
                .contains_key("/etc/udev/rules.d/70-persistent-net.rules"),
            "{name}"
        );
        let g = &after.nodes["/etc/udev/rules.d/75-persistent-net-generator.rules"];
        assert_eq!(
            (g.kind, g.data.as_slice()),
            ("symlink", &b"/dev/null"[..]),
            "{name}"
        );
    }
    // L7 (common) and L9.
    for l in after
        .text("/etc/fstab")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 3 {
            assert!(
                !(f[1] == "/" || f[1] == "/boot") || !f[0].starts_with("/dev/sd"),
                "{name}: {l}"
            );
            assert!(
                !["nfs", "nfs4", "cifs", "smbfs"].contains(&f[2]),
                "{name}: {l}"
            );
        }
    }
    for (p, n) in &after.nodes {
        let text = String::from_utf8_lossy(&n.data);
        if n.kind == "symlink" && p.contains(".wants/") {
            assert!(
                !(text.contains("vmtoolsd") || text.contains("open-vm-tools")),
                "{name}: {p} -> {text} still enabled"
            );
        }
        if n.kind == "symlink" && p.contains("/rc3.d/S") {
            assert!(
                !text.contains("vmware-tools"),
                "{name}: {p} still starts VMware Tools"
            );
        }
    }
    assert!(
        !after.nodes.contains_key("/etc/lvm/devices/system.devices"),
        "{name}"
    );
    // UEFI: a fallback loader.
    if row["firmware"] == "uefi" {
        let ok = after
            .nodes
            .keys()
            .any(|p| p.eq_ignore_ascii_case("/boot/efi/EFI/BOOT/BOOTX64.EFI"));
        assert!(ok, "{name}: no EFI/BOOT/BOOTX64.EFI");
    }
}

#[test]
fn every_step_on_every_os_row() {
    if !root_tier("every_step_on_every_os_row") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = fixture_dir("os-rows");
    let all = rows(&dir);
    assert!(all.len() >= 28, "os-rows has {} rows", all.len());
    for row in &all {
        let name = row["row"].clone();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let disk = w.join("disk0.img");
        std::fs::copy(dir.join(&name).join("disk.raw"), &disk).unwrap();
        let disks = vec![disk];
        let before = snapshot(w, &disks);

        // The whole plan: the initramfs step plans a rebuild of exactly the
        // kernels whose images lack the drivers; the agent step is blocked
        // where the guest has none and no package source was given.
        let out = hydra_edit_disks(w, &["hydrate", "--dry-run", "--json"], &disks);
        // Exit 3: the plan has blocked steps (the agent, below).
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{name}: dry run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan = json(&String::from_utf8_lossy(&out.stdout));
        let step = |s: &str| {
            plan["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["step"] == s)
                .cloned()
                .unwrap()
        };
        let rebuilt: Vec<String> = step("initramfs")["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["command"].as_str())
            .map(|c| {
                c.split_whitespace()
                    .find(|w| row["kernels"].split(',').any(|k| k == *w))
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        let mut want: Vec<String> = row["kernels_missing_hv"]
            .split(',')
            .filter(|k| *k != "-")
            .map(String::from)
            .collect();
        want.sort();
        let mut got = rebuilt.clone();
        got.sort();
        assert_eq!(got, want, "{name}: kernels planned for a rebuild");
        let agent = step("agent");
        if row["waagent"] == "none" {
            assert_eq!(agent["status"], "blocked", "{name}: {agent:#}");
        } else {
            assert_ne!(agent["status"], "blocked", "{name}: {agent:#}");
        }
        assert!(
            before.diff(&snapshot(w, &disks)).is_empty(),
            "{name}: the dry run wrote"
        );

        // The initramfs rebuild needs the guest's own tool, which these
        // trees only pretend to have: the commit fails inside and is undone.
        if !want.is_empty() {
            let out = hydra_edit_disks(w, &["hydrate", "--only", "initramfs"], &disks);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{name}: a fake dracut/update-initramfs succeeded?"
            );
            assert!(err.contains("the guest is as it was"), "{name}: {err}");
            assert_eq!(
                before.diff(&snapshot(w, &disks)),
                Vec::<String>::new(),
                "{name}: the failed rebuild left changes"
            );
        }

        let skip = if row["waagent"] == "none" {
            "initramfs,agent"
        } else {
            "initramfs"
        };
        let report = json(&ok(
            &hydra_edit_disks(w, &["hydrate", "--json", "--skip", skip], &disks),
            "hydrate",
        ));
        assert_eq!(report["verified"], true, "{name}");
        let after = snapshot(w, &disks);
        check_outcome(row, &before, &after);
        let again = json(&ok(
            &hydra_edit_disks(w, &["hydrate", "--json", "--skip", skip], &disks),
            "second hydrate",
        ));
        assert_eq!(
            again["committed"], false,
            "{name}: the second run changed: {again:#}"
        );
        ok(&hydra_edit_disks(w, &["rollback"], &disks), "rollback");
        assert_eq!(
            before.diff(&snapshot(w, &disks)),
            Vec::<String>::new(),
            "{name}: rollback is not exact"
        );
        assert_eq!(leftovers(w), Vec::<String>::new(), "{name}");
        eprintln!("{name}: ok ({} changes)", report["applied"]["changes"]);
    }
}
