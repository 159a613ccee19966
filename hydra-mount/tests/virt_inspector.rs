//! Root tier: `hydra-mount inspect` against libguestfs's virt-inspector on the same
//! image: the same root, mountpoints, distro and version.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The text between `<tag>` and `</tag>`, first occurrence.
fn tag<'a>(xml: &'a str, t: &str) -> Option<&'a str> {
    let open = format!("<{t}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{t}>"))? + start;
    Some(&xml[start..end])
}

/// `/dev/sdb3` -> `disk 1 partition 3` (libguestfs names the appliance's disks in order).
fn volume_of(dev: &str) -> String {
    let rest = dev.strip_prefix("/dev/sd").expect("an sdXN device");
    let letters: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    let n: u32 = rest[letters.len()..].parse().unwrap();
    let disk = letters
        .bytes()
        .fold(0usize, |a, b| a * 26 + (b - b'a') as usize + 1)
        - 1;
    format!("disk {disk} partition {n}")
}

#[test]
fn inspect_agrees_with_virt_inspector() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let required = std::env::var_os("HYDRA_REQUIRE_ROOT_TESTS").is_some();
    if !root {
        assert!(!required, "needs root and HYDRA_REQUIRE_ROOT_TESTS is set");
        eprintln!("\n*** SKIPPED inspect_agrees_with_virt_inspector: needs root ***\n");
        return;
    }
    if Command::new("virt-inspector")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("HYDRA_REQUIRE_VIRT_INSPECTOR").is_none(),
            "virt-inspector missing: run testdata/install-libguestfs"
        );
        eprintln!("\n*** SKIPPED inspect_agrees_with_virt_inspector: no virt-inspector (testdata/install-libguestfs) ***\n");
        return;
    }
    let out = Command::new(top().join("testdata/build"))
        .arg("debian-mbr")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disk = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();

    let h = Command::new(env!("CARGO_BIN_EXE_hydra-mount"))
        .args(["inspect", "--json", &disk])
        .output()
        .unwrap();
    assert!(h.status.success(), "{}", String::from_utf8_lossy(&h.stderr));
    let hj: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();

    let v = Command::new("virt-inspector")
        .args(["--format=raw", "-a", &disk])
        .env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "virt-inspector: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    let xml = String::from_utf8(v.stdout).unwrap();

    assert_eq!(
        hj["root"]["volume"].as_str().unwrap(),
        volume_of(tag(&xml, "root").unwrap()),
        "root"
    );
    let theirs: BTreeSet<(String, String)> = xml
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let dev = l.strip_prefix("<mountpoint dev=\"")?;
            let (dev, rest) = dev.split_once("\">")?;
            let mp = rest.strip_suffix("</mountpoint>")?;
            Some((mp.to_string(), volume_of(dev)))
        })
        .collect();
    let ours: BTreeSet<(String, String)> = hj["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountpoint"].as_str().unwrap().to_string(),
                m["volume"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(ours, theirs, "mountpoints");
    assert!(!ours.is_empty());
    let os = &hj["os"];
    assert_eq!(
        os["distro"].as_str().unwrap().to_ascii_lowercase(),
        tag(&xml, "distro").unwrap(),
        "distro"
    );
    assert_eq!(
        os["version"]["major"].as_u64().unwrap().to_string(),
        tag(&xml, "major_version").unwrap()
    );
    assert_eq!(
        os["version"]["minor"].as_u64().unwrap().to_string(),
        tag(&xml, "minor_version").unwrap()
    );
}
