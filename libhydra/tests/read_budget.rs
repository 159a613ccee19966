//! Root tier: the scanner's I/O budget on real fixtures (reads per partition, read size).

mod common;

use common::*;
use libhydra::probe::reader::{Counting, ReadAt, ReadStats, MAX_READ};
use libhydra::probe::{disk::open_disk, probe_opened};
use std::sync::Arc;

fn probe_counting(name: &str) -> (libhydra::Layout, (u64, u64, u64)) {
    let stats = Arc::new(ReadStats::default());
    let opened = fixture(name)
        .into_iter()
        .map(|d| {
            let mut o = open_disk(&d.path).expect("open");
            o.reader = o
                .reader
                .map(|r| Box::new(Counting::new(r, stats.clone())) as Box<dyn ReadAt>);
            (d.path, o)
        })
        .collect();
    let layout = probe_opened(opened).expect("probe");
    (layout, stats.snapshot())
}

fn volumes(l: &libhydra::Layout) -> u64 {
    l.disks
        .iter()
        .map(|d| d.partitions.len().max(usize::from(d.content.is_some())) as u64)
        .sum()
}

#[test]
fn multi_disk_read_budget() {
    if !root_tier("multi_disk_read_budget") {
        return;
    }
    let (layout, (reads, bytes, max)) = probe_counting("multi-disk");
    let vols = volumes(&layout);
    eprintln!(
        "multi-disk: {vols} volumes, {reads} reads, {bytes} bytes, largest {max}: {:.2} reads/volume",
        reads as f64 / vols as f64
    );
    assert!(max <= MAX_READ as u64, "largest read {max} > 64 KiB");
    assert!(
        reads <= 4 * vols,
        "{reads} reads for {vols} volumes: more than 4 per volume on average"
    );
}

#[test]
fn huge_reads_do_not_grow_with_disk_size() {
    if !root_tier("huge_reads_do_not_grow_with_disk_size") {
        return;
    }
    let (layout, (reads, bytes, max)) = probe_counting("huge");
    assert_eq!(
        layout.disks.len(),
        2,
        "huge: the 2 TiB disk and its 2 GiB twin"
    );
    let big = &layout.disks[0];
    let small = &layout.disks[1];
    assert!(big.size >= 2 << 40);
    assert_eq!(big.partitions.len(), 128);
    assert_eq!(small.partitions.len(), 128);
    assert!(max <= MAX_READ as u64);
    let vols = volumes(&layout);
    assert!(reads <= 4 * vols, "{reads} reads for {vols} volumes");
    eprintln!("huge: {vols} volumes, {reads} reads, {bytes} bytes");
}
