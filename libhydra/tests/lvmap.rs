//! Root tier: LVs mapped without device-mapper onto attached fixture disks read the right bytes.

mod common;

use common::*;
use libhydra::attach::lvmap::{map_lv, plan_lv};
use libhydra::attach::{attach_disks, detach_all, AttachOptions};
use libhydra::layout::Content;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

#[test]
fn linear_lvs_map_to_the_right_bytes() {
    if !root_tier("linear_lvs_map_to_the_right_bytes") {
        return;
    }
    let before = kernel_resources();
    let disks = fixture("multi-disk");
    let paths: Vec<PathBuf> = disks.iter().map(|d| d.path.clone()).collect();
    let layout = libhydra::probe::probe(&paths).expect("probe");
    let runtime = tempfile::tempdir().unwrap();
    let opts = AttachOptions {
        read_only: true,
        runtime_dir: runtime.path().to_path_buf(),
    };
    let attached = attach_disks(&layout.disks, &opts).expect("attach");
    let devices: std::collections::BTreeMap<usize, PathBuf> = attached
        .iter()
        .map(|d| (d.index(), d.device().to_path_buf()))
        .collect();
    let mut mapped_multi = 0;
    let mut found_fs = 0;
    let mut refused = 0;
    for vg in &layout.volume_groups {
        for lv in &vg.lvs {
            let Ok(pieces) = plan_lv(vg, lv) else {
                // Striped LVs need device-mapper: the error names the LV.
                let e = map_lv(vg, lv, &devices, runtime.path(), true).unwrap_err();
                assert!(e.to_string().contains(&lv.name), "{e}");
                refused += 1;
                continue;
            };
            let m = map_lv(vg, lv, &devices, runtime.path(), true).expect("map");
            mapped_multi += usize::from(pieces.len() > 1);
            let dev = std::fs::File::open(m.device()).unwrap();
            // Each piece's first and last 64 KiB equal the raw disk's bytes there.
            let mut lv_off = 0u64;
            for p in &pieces {
                let raw = std::fs::File::open(&disks[p.disk].raw).unwrap();
                for rel in [0, p.length - 65536] {
                    let mut a = vec![0u8; 65536];
                    let mut b = vec![0u8; 65536];
                    dev.read_exact_at(&mut a, lv_off + rel).unwrap();
                    raw.read_exact_at(&mut b, p.offset + rel).unwrap();
                    assert!(
                        a == b,
                        "{}/{} piece on disk {} at +{rel}",
                        vg.name,
                        lv.name,
                        p.disk
                    );
                }
                lv_off += p.length;
            }
            // The filesystem written inside the LV by the fixture is found through the map.
            let inner = libhydra::probe::probe(&[m.device()]).expect("probe LV");
            if let Some(Content::Filesystem(f)) = &inner.disks[0].content {
                eprintln!("{}/{}: {} {:?}", vg.name, lv.name, f.fs_type, f.uuid);
                found_fs += 1;
            }
            drop(dev);
            m.close().expect("unmap");
        }
    }
    detach_all(attached).expect("detach");
    assert!(
        mapped_multi >= 1,
        "a multi-segment LV was mapped through the export"
    );
    assert!(found_fs >= 1, "a filesystem inside an LV was found");
    assert!(refused >= 1, "striped LVs are refused with a clear error");
    assert_eq!(kernel_resources().0, before.0, "no loop device left behind");
}
