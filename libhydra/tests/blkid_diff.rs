//! Root tier: Hydra's scanner against libblkid and lvm2 on every fixture, field by field.

mod common;

use common::*;
use libhydra::layout::{Content, Layout, Partition, PartitionRole, Scheme};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

/// blkid keys we compare for a volume's content.
const CONTENT_KEYS: &[&str] = &["TYPE", "UUID", "UUID_SUB", "LABEL", "VERSION", "BLOCK_SIZE"];
/// blkid keys we compare for a partition entry.
const PART_KEYS: &[&str] = &[
    "PART_ENTRY_SCHEME",
    "PART_ENTRY_UUID",
    "PART_ENTRY_TYPE",
    "PART_ENTRY_NUMBER",
    "PART_ENTRY_OFFSET",
    "PART_ENTRY_SIZE",
    "PART_ENTRY_NAME",
    "PART_ENTRY_FLAGS",
];
/// blkid keys we deliberately do not compare, with why.
const IGNORED_KEYS: &[(&str, &str)] = &[
    ("PART_ENTRY_DISK", "major:minor of the test's loop device"),
    ("DEVNAME", "the test's loop device node"),
    ("USAGE", "derived from TYPE"),
    (
        "SEC_TYPE",
        "secondary type (ext2 under ext3, msdos under vfat)",
    ),
    (
        "LABEL_FATBOOT",
        "FAT boot-sector label when it differs from the root-dir label",
    ),
    (
        "PTTYPE",
        "compared separately for the disk and the extended container",
    ),
    ("PTUUID", "compared separately for the disk"),
    ("SUBSYSTEM", "LUKS2 subsystem, empty in fixtures"),
    (
        "SYSTEM_ID",
        "iso9660 descriptor text, not used by hydration",
    ),
    (
        "VOLUME_SET_ID",
        "iso9660 descriptor text, not used by hydration",
    ),
    (
        "PUBLISHER_ID",
        "iso9660 descriptor text, not used by hydration",
    ),
    (
        "DATA_PREPARER_ID",
        "iso9660 descriptor text, not used by hydration",
    ),
    (
        "APPLICATION_ID",
        "iso9660 descriptor text, not used by hydration",
    ),
    (
        "BOOT_SYSTEM_ID",
        "iso9660 descriptor text, not used by hydration",
    ),
];

fn content_map(c: &Content) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Content::Filesystem(f) = c {
        m.insert("TYPE".into(), f.fs_type.clone());
        for (k, v) in [
            ("UUID", &f.uuid),
            ("UUID_SUB", &f.uuid_sub),
            ("LABEL", &f.label),
            ("VERSION", &f.version),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone());
            }
        }
        if let Some(b) = f.block_size {
            m.insert("BLOCK_SIZE".into(), b.to_string());
        }
    }
    m
}

fn part_map(p: &Partition) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("PART_ENTRY_SCHEME".into(), p.scheme.blkid_name().into());
    if let Some(u) = &p.uuid {
        m.insert("PART_ENTRY_UUID".into(), u.clone());
    }
    m.insert("PART_ENTRY_TYPE".into(), p.type_id.clone());
    m.insert("PART_ENTRY_NUMBER".into(), p.number.to_string());
    // blkid prints offset and size in 512-byte sectors, whatever the logical sector size.
    m.insert("PART_ENTRY_OFFSET".into(), (p.offset / 512).to_string());
    m.insert("PART_ENTRY_SIZE".into(), (p.size / 512).to_string());
    if let Some(n) = p.name.as_ref().filter(|n| !n.is_empty()) {
        m.insert("PART_ENTRY_NAME".into(), n.clone());
    }
    if p.flags != 0 {
        m.insert("PART_ENTRY_FLAGS".into(), format!("0x{:x}", p.flags));
    }
    let mut c = content_map(&p.content);
    m.append(&mut c);
    m
}

fn compare(
    what: &str,
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
    keys: &[&str],
    errors: &mut Vec<String>,
) {
    for k in keys {
        let (a, b) = (ours.get(*k), theirs.get(*k));
        if a != b {
            errors.push(format!("{what}: {k}: hydra {a:?} != blkid {b:?}"));
        }
    }
}

/// Every key blkid printed must be compared or deliberately ignored: a new field shows up here.
fn no_unknown_keys(what: &str, theirs: &BTreeMap<String, String>, errors: &mut Vec<String>) {
    for k in theirs.keys() {
        let known = CONTENT_KEYS.contains(&k.as_str())
            || PART_KEYS.contains(&k.as_str())
            || IGNORED_KEYS.iter().any(|(i, _)| i == k);
        if !known {
            errors.push(format!(
                "{what}: blkid printed {k}={} which the test neither compares nor ignores",
                theirs[k]
            ));
        }
    }
}

/// Diff every disk and partition of a fixture against blkid; return the number of volumes compared.
fn diff_fixture(name: &str) -> usize {
    let disks = fixture(name);
    let paths: Vec<PathBuf> = disks.iter().map(|d| d.path.clone()).collect();
    let layout: Layout = libhydra::probe::probe(&paths).expect("probe");
    let mut errors = Vec::new();
    let mut compared = 0;
    for (fd, d) in disks.iter().zip(&layout.disks) {
        let l = TestLoop::attach_ro(&fd.raw, fd.sector_size);
        let whole = blkid(&l.dev);
        let what = format!("{name} disk {} ({})", d.index, fd.path.display());
        assert!(d.image.readable, "{what}: not readable by hydra");
        match &d.table {
            Some(t) => {
                if whole.get("PTTYPE").map(String::as_str) != Some(t.scheme.blkid_name())
                    || whole.get("PTUUID") != t.id.as_ref()
                {
                    errors.push(format!(
                        "{what}: table {} {} != blkid PTTYPE {:?} PTUUID {:?}",
                        t.scheme.blkid_name(),
                        t.id.as_deref().unwrap_or("-"),
                        whole.get("PTTYPE"),
                        whole.get("PTUUID")
                    ));
                }
                // The partitions partx added are libblkid's view of the table.
                let kernel_parts = partitions_in_sysfs(&l.dev);
                let ours: BTreeSet<u32> = d.partitions.iter().map(|p| p.number).collect();
                if kernel_parts != ours {
                    errors.push(format!(
                        "{what}: partitions: hydra {ours:?} != libblkid/partx {kernel_parts:?}"
                    ));
                }
                for p in &d.partitions {
                    let theirs = blkid(&l.part(p.number));
                    let pwhat = format!("{what} partition {}", p.number);
                    if p.role == PartitionRole::Extended
                        && theirs.get("PTTYPE").map(String::as_str) != Some("dos")
                    {
                        errors.push(format!("{pwhat}: extended but blkid says {theirs:?}"));
                    }
                    compare(&pwhat, &part_map(p), &theirs, PART_KEYS, &mut errors);
                    compare(&pwhat, &part_map(p), &theirs, CONTENT_KEYS, &mut errors);
                    no_unknown_keys(&pwhat, &theirs, &mut errors);
                    compared += 1;
                }
            }
            None => {
                let ours = content_map(d.content.as_ref().expect("whole-disk content"));
                compare(&what, &ours, &whole, CONTENT_KEYS, &mut errors);
                no_unknown_keys(&what, &whole, &mut errors);
                compared += 1;
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} differences between hydra and blkid on {name}:\n{}",
        errors.len(),
        errors.join("\n")
    );
    compared
}

fn partitions_in_sysfs(dev: &std::path::Path) -> BTreeSet<u32> {
    let name = dev.file_name().unwrap().to_str().unwrap().to_string();
    let mut set = BTreeSet::new();
    for e in std::fs::read_dir(format!("/sys/class/block/{name}")).unwrap() {
        let f = e.unwrap().file_name().into_string().unwrap();
        if let Some(n) = f.strip_prefix(&format!("{name}p")) {
            set.insert(n.parse().unwrap());
        }
    }
    set
}

#[test]
fn multi_disk_matches_blkid() {
    if !root_tier("multi_disk_matches_blkid") {
        return;
    }
    let n = diff_fixture("multi-disk");
    assert!(n >= 16 * 8, "only {n} volumes compared");
    eprintln!("multi-disk: {n} volumes equal to blkid");
}

#[test]
fn huge_matches_blkid() {
    if !root_tier("huge_matches_blkid") {
        return;
    }
    let n = diff_fixture("huge");
    assert!(n >= 2 * 128, "only {n} volumes compared");
}

/// What `lvs --segments` says of one segment, with PVs named by (disk, partition).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct SegRow {
    vg: String,
    lv: String,
    start: u64,
    count: u64,
    segtype: String,
    /// (disk, partition, first PE, last PE) per area
    ranges: Vec<(usize, Option<u32>, u64, u64)>,
}

fn lvm_json(args: &[&str], devices: &str) -> serde_json::Value {
    let out = run(Command::new("lvm").args(args).args([
        "--readonly",
        "--devices",
        devices,
        "--config",
        "global{activation=0} devices{use_devicesfile=0}",
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
    ]));
    serde_json::from_str(&out).expect("lvm json")
}

#[test]
fn multi_disk_lvm_matches_lvm2() {
    if !root_tier("multi_disk_lvm_matches_lvm2") {
        return;
    }
    let disks = fixture("multi-disk");
    let paths: Vec<PathBuf> = disks.iter().map(|d| d.path.clone()).collect();
    let layout = libhydra::probe::probe(&paths).expect("probe");
    let loops: Vec<TestLoop> = disks
        .iter()
        .map(|d| TestLoop::attach_ro(&d.raw, d.sector_size))
        .collect();
    // Device name -> (disk, partition) for every PV hydra found.
    let mut by_dev: BTreeMap<String, (usize, Option<u32>)> = BTreeMap::new();
    for vg in &layout.volume_groups {
        for pv in &vg.pvs {
            let loc = pv
                .location
                .as_ref()
                .expect("all PVs present in the full fixture");
            let dev = match loc.partition {
                Some(n) => loops[loc.disk].part(n),
                None => loops[loc.disk].dev.clone(),
            };
            by_dev.insert(dev.display().to_string(), (loc.disk, loc.partition));
        }
    }
    assert!(!by_dev.is_empty(), "fixture has PVs");
    let devices = by_dev.keys().cloned().collect::<Vec<_>>().join(",");

    let vgs = lvm_json(
        &[
            "vgs",
            "-o",
            "vg_name,vg_uuid,vg_extent_size,vg_seqno,pv_count,lv_count",
        ],
        &devices,
    );
    let mut theirs_vg = BTreeSet::new();
    for v in vgs["report"][0]["vg"].as_array().unwrap() {
        theirs_vg.insert((
            v["vg_name"].as_str().unwrap().to_string(),
            v["vg_uuid"].as_str().unwrap().to_string(),
            v["vg_extent_size"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
            v["vg_seqno"].as_str().unwrap().parse::<u64>().unwrap(),
            v["pv_count"].as_str().unwrap().parse::<usize>().unwrap(),
        ));
    }
    let ours_vg: BTreeSet<_> = layout
        .volume_groups
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                v.uuid.clone(),
                v.extent_size,
                v.seqno,
                v.pvs.len(),
            )
        })
        .collect();
    assert_eq!(ours_vg, theirs_vg, "VGs differ from vgs");
    assert!(ours_vg.len() >= 3, "fixture has at least 3 VGs");

    let pvs = lvm_json(
        &["pvs", "-o", "pv_name,pv_uuid,vg_name,pe_start,pv_pe_count"],
        &devices,
    );
    let mut theirs_pv = BTreeSet::new();
    for p in pvs["report"][0]["pv"].as_array().unwrap() {
        let dev = p["pv_name"].as_str().unwrap();
        theirs_pv.insert((
            by_dev[dev],
            p["pv_uuid"].as_str().unwrap().to_string(),
            p["vg_name"].as_str().unwrap().to_string(),
            p["pe_start"].as_str().unwrap().parse::<u64>().unwrap(),
            p["pv_pe_count"].as_str().unwrap().parse::<u64>().unwrap(),
        ));
    }
    let ours_pv: BTreeSet<_> = layout
        .volume_groups
        .iter()
        .flat_map(|v| {
            v.pvs.iter().map(move |p| {
                let l = p.location.as_ref().unwrap();
                (
                    (l.disk, l.partition),
                    p.uuid.clone(),
                    v.name.clone(),
                    p.pe_start,
                    p.pe_count,
                )
            })
        })
        .collect();
    assert_eq!(ours_pv, theirs_pv, "PVs differ from pvs");

    let lvs = lvm_json(
        &[
            "lvs",
            "-a",
            "--segments",
            "-o",
            "vg_name,lv_name,seg_start_pe,seg_size_pe,segtype,seg_pe_ranges",
        ],
        &devices,
    );
    let mut theirs_seg = BTreeSet::new();
    for s in lvs["report"][0]["seg"].as_array().unwrap() {
        let ranges = s["seg_pe_ranges"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(|r| {
                let (dev, pe) = r.rsplit_once(':').unwrap();
                let (a, b) = pe.split_once('-').unwrap();
                let (d, p) = by_dev[dev];
                (d, p, a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        theirs_seg.insert(SegRow {
            vg: s["vg_name"].as_str().unwrap().into(),
            lv: s["lv_name"]
                .as_str()
                .unwrap()
                .trim_matches(['[', ']'])
                .into(),
            start: s["seg_start_pe"].as_str().unwrap().parse().unwrap(),
            count: s["seg_size_pe"].as_str().unwrap().parse().unwrap(),
            segtype: s["segtype"].as_str().unwrap().into(),
            ranges,
        });
    }
    let mut ours_seg = BTreeSet::new();
    let mut multi_segment = 0;
    let mut striped = 0;
    let mut spanning = 0;
    for v in &layout.volume_groups {
        let pv_loc: BTreeMap<&str, (usize, Option<u32>)> = v
            .pvs
            .iter()
            .map(|p| {
                let l = p.location.as_ref().unwrap();
                (p.id.as_str(), (l.disk, l.partition))
            })
            .collect();
        for lv in &v.lvs {
            multi_segment += usize::from(lv.segments.len() > 1);
            let mut lv_disks = BTreeSet::new();
            for s in &lv.segments {
                striped += usize::from(s.areas.len() > 1);
                let per_area = s.extent_count / s.areas.len() as u64;
                let ranges = s
                    .areas
                    .iter()
                    .map(|a| match a {
                        libhydra::layout::SegmentArea::Pv {
                            pv,
                            start_extent,
                            disk,
                            disk_offset,
                            length,
                        } => {
                            let (d, p) = pv_loc[pv.as_str()];
                            assert_eq!(*disk, Some(d));
                            assert_eq!(*length, per_area * v.extent_size);
                            // The byte offset on the disk is what attach will map: check it.
                            let pvv = v.pvs.iter().find(|x| &x.id == pv).unwrap();
                            let loc = pvv.location.as_ref().unwrap();
                            assert_eq!(
                                *disk_offset,
                                Some(loc.offset + pvv.pe_start + start_extent * v.extent_size)
                            );
                            lv_disks.insert(d);
                            (d, p, *start_extent, start_extent + per_area - 1)
                        }
                        other => panic!("unexpected area {other:?}"),
                    })
                    .collect();
                ours_seg.insert(SegRow {
                    vg: v.name.clone(),
                    lv: lv.name.clone(),
                    start: s.start_extent,
                    count: s.extent_count,
                    segtype: s.kind.lvm_name().to_string(),
                    ranges,
                });
            }
            spanning += usize::from(lv_disks.len() > 1);
        }
    }
    assert_eq!(
        ours_seg, theirs_seg,
        "LV segments differ from lvs --segments"
    );
    assert!(multi_segment >= 1 && striped >= 1 && spanning >= 1,
        "fixture covers multi-segment ({multi_segment}), striped ({striped}) and disk-spanning ({spanning}) LVs");
    assert!(layout.volume_groups.iter().all(|v| !v.partial));
}

/// A VG with a PV on a disk that is not given is reported partial, the PV as missing.
#[test]
fn missing_pv_is_reported() {
    if !root_tier("missing_pv_is_reported") {
        return;
    }
    let disks = fixture("multi-disk");
    let paths: Vec<PathBuf> = disks.iter().map(|d| d.path.clone()).collect();
    let full = libhydra::probe::probe(&paths).expect("probe");
    let vg = full
        .volume_groups
        .iter()
        .find(|v| {
            let d: BTreeSet<usize> = v
                .pvs
                .iter()
                .map(|p| p.location.as_ref().unwrap().disk)
                .collect();
            d.len() > 1
        })
        .expect("a VG spanning disks");
    let dropped = vg.pvs.last().unwrap().location.as_ref().unwrap().disk;
    let fewer: Vec<PathBuf> = paths
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != dropped)
        .map(|(_, p)| p.clone())
        .collect();
    let part = libhydra::probe::probe(&fewer).expect("probe without one disk");
    let v2 = part
        .volume_groups
        .iter()
        .find(|v| v.uuid == vg.uuid)
        .expect("VG still found from its other PVs");
    assert!(v2.partial, "VG {} must be partial", v2.name);
    let missing: Vec<&str> = v2
        .pvs
        .iter()
        .filter(|p| p.location.is_none())
        .map(|p| p.uuid.as_str())
        .collect();
    let expected: Vec<&str> = vg
        .pvs
        .iter()
        .filter(|p| p.location.as_ref().unwrap().disk == dropped)
        .map(|p| p.uuid.as_str())
        .collect();
    assert_eq!(missing, expected);
}

/// A GPT disk whose primary header is corrupt is read from the backup, with a warning;
/// blkid does the same, and the partitions are equal.
#[test]
fn corrupt_primary_gpt_uses_backup() {
    if !root_tier("corrupt_primary_gpt_uses_backup") {
        return;
    }
    let disks = fixture("multi-disk");
    let d = disks
        .iter()
        .find(|d| d.scheme == "gpt" && d.raw == d.path && d.sector_size == 512)
        .expect("a raw 512-byte GPT disk");
    let good = libhydra::probe::probe(&[&d.path]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("corrupt.img");
    run(Command::new("cp")
        .arg("--sparse=always")
        .arg(&d.path)
        .arg(&copy));
    // Flip one byte of the primary header's disk GUID: its CRC no longer matches.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&copy)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, 512 + 56).unwrap();
        b[0] ^= 0xff;
        f.write_all_at(&b, 512 + 56).unwrap();
    }
    let bad = libhydra::probe::probe(&[&copy]).unwrap();
    let (g, b) = (&good.disks[0], &bad.disks[0]);
    assert_eq!(g.partitions, b.partitions);
    let gpt = b.table.as_ref().unwrap().gpt.as_ref().unwrap();
    assert_eq!(gpt.used, libhydra::layout::GptHeaderChoice::Backup);
    assert!(!gpt.primary_valid);
    assert!(
        b.warnings.iter().any(|w| w.contains("backup")),
        "warning names the fallback: {:?}",
        b.warnings
    );
    let l = TestLoop::attach_ro(&copy, 512);
    assert_eq!(partitions_in_sysfs(&l.dev).len(), b.partitions.len());
    assert_eq!(b.table.as_ref().unwrap().scheme, Scheme::Gpt);
}
