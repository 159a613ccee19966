//! Probe-level tests on in-memory disks assembled from real byte samples.

use super::reader::{MemReader, ReadAt};
use super::*;
use crate::layout::{Content, Scheme};
use proptest::prelude::*;

const EXT4: &[u8] = include_bytes!("../../../testdata/samples/fs/ext4.bin");
const XFS: &[u8] = include_bytes!("../../../testdata/samples/fs/xfs.bin");
const ISO: &[u8] = include_bytes!("../../../testdata/samples/fs/iso.bin");
const LVM: &[u8] = include_bytes!("../../../testdata/samples/fs/lvm.bin");

const MIB: usize = 1 << 20;

/// A 16 MiB disk with an MBR of (type, start MiB, size MiB) entries and `vols` written at
/// the partition starts.
fn mbr_disk(parts: &[(u8, usize, usize)], vols: &[&[u8]]) -> Vec<u8> {
    let mut d = vec![0u8; 16 * MIB];
    d[440..444].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    for (i, (ty, start, size)) in parts.iter().enumerate() {
        let e = 446 + 16 * i;
        d[e + 4] = *ty;
        d[e + 8..e + 12].copy_from_slice(&((start * MIB / 512) as u32).to_le_bytes());
        d[e + 12..e + 16].copy_from_slice(&((size * MIB / 512) as u32).to_le_bytes());
        if let Some(v) = vols.get(i) {
            d[start * MIB..start * MIB + v.len()].copy_from_slice(v);
        }
    }
    d[510] = 0x55;
    d[511] = 0xaa;
    d
}

fn probe_mem(d: Vec<u8>) -> crate::Result<crate::Layout> {
    let r: Box<dyn ReadAt> = Box::new(MemReader(d));
    probe_readers(vec![("mem.img".into(), r)])
}

#[test]
fn mbr_disk_with_real_superblocks() {
    let l = probe_mem(mbr_disk(
        &[(0x83, 1, 4), (0x83, 5, 4), (0x83, 9, 4)],
        &[EXT4, XFS, &[]],
    ))
    .unwrap();
    let d = &l.disks[0];
    assert_eq!(d.table.as_ref().unwrap().scheme, Scheme::Dos);
    assert_eq!(d.table.as_ref().unwrap().id.as_deref(), Some("12345678"));
    let types: Vec<Option<&str>> = d
        .partitions
        .iter()
        .map(|p| p.content.fs().map(|f| f.fs_type.as_str()))
        .collect();
    assert_eq!(types, [Some("ext4"), Some("xfs"), None]);
    assert_eq!(d.partitions[2].content, Content::Empty);
    assert_eq!(d.partitions[0].uuid.as_deref(), Some("12345678-01"));
    assert_eq!(d.partitions[1].content.fs().unwrap().offset, 5 * MIB as u64);
}

#[test]
fn random_bytes_are_unknown_never_guessed() {
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let l = probe_mem(mbr_disk(&[(0x83, 1, 4)], &[&junk])).unwrap();
    assert_eq!(
        l.disks[0].partitions[0].content,
        Content::Unknown { offset: MIB as u64 }
    );
}

#[test]
fn corrupt_pv_label_is_a_warning_naming_the_partition() {
    let mut bad = LVM.to_vec();
    // The label lives in one of sectors 0-3: flip a byte of its pv_header (after the
    // 32-byte label header), so the label CRC no longer matches.
    let sector = (0..4)
        .find(|s| &bad[s * 512..s * 512 + 8] == b"LABELONE")
        .unwrap();
    bad[sector * 512 + 40] ^= 0xff;
    let l = probe_mem(mbr_disk(&[(0x8e, 1, 8), (0x83, 9, 4)], &[&bad, EXT4])).unwrap();
    let d = &l.disks[0];
    // The other partition is still scanned.
    assert_eq!(d.partitions[1].content.fs().unwrap().fs_type, "ext4");
    assert!(l.volume_groups.is_empty());
    // Like blkid, a label whose checksum fails is no PV: the volume is unknown...
    assert_eq!(
        d.partitions[0].content,
        Content::Unknown { offset: MIB as u64 }
    );
    // ...and the user is told why, naming the partition.
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("partition 1:") && w.contains("LVM")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn several_signatures_are_unknown_with_a_warning() {
    // ext4 in the first 4 KiB and an iso9660 volume descriptor at 32 KiB.
    let mut v = ISO.to_vec();
    v[..4096].copy_from_slice(&EXT4[..4096]);
    let all = crate::format::fs::identify_head_all(&v, 4 * MIB as u64, 0);
    assert!(
        all.len() > 1,
        "the sample really holds two signatures: {all:?}"
    );
    let l = probe_mem(mbr_disk(&[(0x83, 1, 4)], &[&v])).unwrap();
    let d = &l.disks[0];
    assert!(matches!(d.partitions[0].content, Content::Unknown { .. }));
    assert!(
        d.warnings.iter().any(|w| w.contains("several signatures")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn no_table_whole_disk_filesystem() {
    let mut d = vec![0u8; 8 * MIB];
    d[..XFS.len()].copy_from_slice(XFS);
    let l = probe_mem(d).unwrap();
    assert!(l.disks[0].table.is_none());
    assert_eq!(
        l.disks[0].content.as_ref().unwrap().fs().unwrap().fs_type,
        "xfs"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// Whatever the bytes, the whole scanner returns (Ok or a named error), never panics,
    /// and every partition it reports lies inside the disk.
    #[test]
    fn arbitrary_disks_never_panic(
        seed in proptest::collection::vec(any::<u8>(), 512..4096),
        flips in proptest::collection::vec((0usize..16 * MIB, any::<u8>()), 0..64),
    ) {
        let mut d = mbr_disk(&[(0x83, 1, 4), (0x05, 5, 8), (0x8e, 13, 3)], &[EXT4, &[], LVM]);
        d[..seed.len().min(512)].copy_from_slice(&seed[..seed.len().min(512)]);
        d[5 * MIB..5 * MIB + seed.len()].copy_from_slice(&seed);
        for (at, b) in flips {
            d[at] ^= b;
        }
        let size = d.len() as u64;
        if let Ok(l) = probe_mem(d) {
            for p in &l.disks[0].partitions {
                prop_assert!(p.offset.checked_add(p.size).is_some_and(|e| e <= size));
            }
        }
    }
}
