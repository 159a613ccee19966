//! Read LVM2 PV labels and metadata from disks and assemble volume groups with disk offsets.
//!
//! [`read_pv`] reads one volume: the label from the bytes already read, then each
//! metadata area's header (512 bytes) and the committed metadata text (in reads of at
//! most [`MAX_READ`] bytes, both parts when the text wraps around the end of the
//! circular buffer). [`assemble`] groups the PVs of all disks by VG UUID, keeps the
//! newest metadata, and maps every segment area to a disk and byte offset.

use super::reader::{ReadAt, MAX_READ};
use super::{read_at, ScanError};
use crate::error::FormatError;
use crate::format::lvm::label::{
    check_text_checksum, find_label, parse_mda_header, DiskLocn, LABEL_SCAN_SIZE, MDA_HEADER_SIZE,
};
use crate::format::lvm::metadata::{AreaRef, SegmentMetadata, VgMetadata, SECTOR};
use crate::format::lvm::parse_vg;
use crate::layout::{LogicalVolume, PhysicalVolume, Segment, SegmentArea, VolumeGroup, VolumeRef};
use std::borrow::Cow;
use std::collections::HashMap;

/// Largest metadata text read from a metadata area (lvm2 itself rarely writes more than
/// a few hundred KiB; anything larger is treated as corrupt).
pub const MAX_METADATA_TEXT: u64 = 4 * 1024 * 1024;

/// A PV found on a volume, with its label and the newest metadata it holds.
#[derive(Debug, Clone)]
pub struct FoundPv {
    /// Where the PV sits.
    pub location: VolumeRef,
    /// PV UUID in LVM's dashed form.
    pub uuid: String,
    /// Parsed VG metadata from this PV's metadata area(s), if any.
    pub metadata: Option<crate::format::lvm::VgMetadata>,
    /// Why the metadata could not be read, if it could not.
    pub metadata_error: Option<String>,
    /// Sector of the volume (0-3) holding the label.
    pub label_sector: u64,
    /// Device size recorded in the label, in bytes.
    pub device_size: u64,
    /// Number of metadata areas the label lists (0, 1 or 2).
    pub metadata_areas: usize,
    /// Problems with one metadata area when another one was read fine.
    pub warnings: Vec<String>,
}

/// Read the PV at `location` on `disk`. `head` is the first bytes of the volume already
/// read (at least the label sectors). `Ok(None)` when it holds no PV label.
///
/// A label with a bad checksum or `pv_header` is an error. Once the label is good, every
/// problem with the metadata (bad header or text checksum, unreadable or oversized text,
/// read errors) is reported in [`FoundPv::metadata_error`] instead, so the PV still
/// counts when assembling its VG from other PVs' metadata.
pub fn read_pv(
    disk: &dyn ReadAt,
    location: VolumeRef,
    head: &[u8],
) -> Result<Option<FoundPv>, ScanError> {
    let label_bytes: Cow<[u8]> = if head.len() >= LABEL_SCAN_SIZE {
        Cow::Borrowed(head)
    } else {
        let len = (LABEL_SCAN_SIZE as u64).min(location.size) as usize;
        Cow::Owned(read_at(disk, location.offset, len)?)
    };
    let Some(label) = find_label(&label_bytes)? else {
        return Ok(None);
    };

    let mut copies: Vec<VgMetadata> = Vec::new();
    let mut errors = Vec::new();
    for (i, mda) in label.metadata_areas.iter().enumerate() {
        match read_mda(disk, &location, head, mda) {
            Ok(Some(vg)) => copies.push(vg),
            Ok(None) => {}
            Err(e) => errors.push(format!(
                "metadata area {} at PV offset {}: {e}",
                i + 1,
                mda.offset
            )),
        }
    }
    // The newest copy; the first one on a tie.
    let mut metadata: Option<VgMetadata> = None;
    for vg in copies {
        let newer = match &metadata {
            Some(m) => vg.seqno > m.seqno,
            None => true,
        };
        if newer {
            metadata = Some(vg);
        }
    }
    let (metadata_error, warnings) = if metadata.is_none() && !errors.is_empty() {
        (Some(errors.join("; ")), Vec::new())
    } else {
        (None, errors)
    };
    Ok(Some(FoundPv {
        location,
        uuid: label.pv_uuid,
        metadata,
        metadata_error,
        label_sector: label.sector,
        device_size: label.device_size,
        metadata_areas: label.metadata_areas.len(),
        warnings,
    }))
}

/// Bytes `[rel, rel+len)` of the volume: from `head` when they lie within it, else read
/// from the disk in reads of at most [`MAX_READ`].
fn volume_bytes(
    disk: &dyn ReadAt,
    location: &VolumeRef,
    head: &[u8],
    rel: u64,
    len: u64,
) -> Result<Vec<u8>, ScanError> {
    let end = rel.checked_add(len).filter(|&e| e <= location.size);
    let Some(end) = end else {
        return Err(FormatError::invalid(
            "LVM2 metadata area",
            format!(
                "{len} bytes at PV offset {rel} lie beyond the end of the volume ({} bytes)",
                location.size
            ),
        )
        .into());
    };
    if end <= head.len() as u64 {
        return Ok(head[rel as usize..end as usize].to_vec());
    }
    let mut out = Vec::with_capacity(len as usize);
    let mut pos = rel;
    while pos < end {
        let n = ((end - pos) as usize).min(MAX_READ);
        let abs = location.offset.saturating_add(pos);
        let chunk = read_at(disk, abs, n)?;
        if chunk.len() < n {
            return Err(FormatError::Truncated {
                what: "LVM2 metadata area",
                need: n,
                have: chunk.len(),
            }
            .into());
        }
        out.extend_from_slice(&chunk);
        pos += n as u64;
    }
    Ok(out)
}

/// Read one metadata area: `Ok(None)` when it holds no committed metadata or is ignored.
fn read_mda(
    disk: &dyn ReadAt,
    location: &VolumeRef,
    head: &[u8],
    mda: &DiskLocn,
) -> Result<Option<VgMetadata>, ScanError> {
    let hdr_bytes = volume_bytes(disk, location, head, mda.offset, MDA_HEADER_SIZE as u64)?;
    let hdr = parse_mda_header(&hdr_bytes, mda.offset)?;
    let Some(rlocn) = hdr.committed() else {
        return Ok(None);
    };
    if rlocn.ignored() {
        return Ok(None);
    }
    if rlocn.size > MAX_METADATA_TEXT {
        return Err(FormatError::invalid(
            "LVM2 metadata text",
            format!(
                "{} bytes exceed the {} byte limit",
                rlocn.size, MAX_METADATA_TEXT
            ),
        )
        .into());
    }
    let ranges = rlocn.text_ranges(hdr.size)?;
    let mut parts = Vec::with_capacity(2);
    for (off, len) in ranges {
        if len == 0 {
            continue;
        }
        let rel = mda
            .offset
            .checked_add(off)
            .ok_or_else(|| FormatError::invalid("LVM2 metadata area", "offset overflows"))?;
        parts.push(volume_bytes(disk, location, head, rel, len)?);
    }
    let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    check_text_checksum(&rlocn, &slices)?;
    Ok(Some(parse_vg(&slices.concat())?))
}

/// Assemble volume groups from every PV found on a VM's disks.
///
/// PVs are grouped by VG UUID and the metadata with the highest seqno is used (the first
/// in `pvs` order on a tie). Each PV the metadata names is looked up by PV UUID among
/// all PVs found (the first one in `pvs` order when the same UUID appears twice, e.g.
/// cloned disks); PVs not found leave `location: None` and make the VG `partial`.
/// VGs are sorted by name (then UUID); LVs stay in metadata order.
///
/// Segment areas: striped/linear stripes and mirror legs on PVs carry their disk and
/// absolute byte offset (`PV offset + pe_start + start_extent * extent_size`) and length
/// (`extents per area * extent_size`); mirror legs and raid images that are LVs become
/// [`SegmentArea::Lv`]. Segment types that name LVs by key instead (thin-pool, thin,
/// cache, cache-pool, writecache, snapshot, vdo, ...) get one [`SegmentArea::Lv`] per
/// LV they name: the one holding the data first (thin-pool `pool`, cache-pool `data`,
/// cache/writecache/snapshot `origin`, thin `thin_pool`, vdo `vdo_pool`), then the others
/// in metadata order (`metadata`, `cache_pool`, `cow_store`, ...).
pub fn assemble(pvs: &[FoundPv]) -> Vec<VolumeGroup> {
    let mut by_uuid: HashMap<&str, &VolumeRef> = HashMap::new();
    for pv in pvs {
        by_uuid.entry(pv.uuid.as_str()).or_insert(&pv.location);
    }
    let mut newest: Vec<&VgMetadata> = Vec::new();
    for m in pvs.iter().filter_map(|p| p.metadata.as_ref()) {
        match newest.iter_mut().find(|n| n.id == m.id) {
            Some(n) if m.seqno > n.seqno => *n = m,
            Some(_) => {}
            None => newest.push(m),
        }
    }
    let mut vgs: Vec<VolumeGroup> = newest.into_iter().map(|m| build_vg(m, &by_uuid)).collect();
    vgs.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.uuid.cmp(&b.uuid)));
    vgs
}

fn build_vg(m: &VgMetadata, by_uuid: &HashMap<&str, &VolumeRef>) -> VolumeGroup {
    let extent = m.extent_bytes();
    let pvs: Vec<PhysicalVolume> = m
        .pvs
        .iter()
        .map(|p| PhysicalVolume {
            id: p.name.clone(),
            uuid: p.id.clone(),
            device_hint: p.device.clone(),
            location: by_uuid.get(p.id.as_str()).map(|l| (*l).clone()),
            pe_start: p.pe_start.saturating_mul(SECTOR),
            pe_count: p.pe_count,
            dev_size: p.dev_size.saturating_mul(SECTOR),
        })
        .collect();
    let partial = pvs.iter().any(|p| p.location.is_none());
    let lvs = m
        .lvs
        .iter()
        .map(|lv| {
            let segments: Vec<Segment> = lv
                .segments
                .iter()
                .map(|s| Segment {
                    start_extent: s.start_extent,
                    extent_count: s.extent_count,
                    kind: s.kind(),
                    stripe_size: s.stripe_size.map(|v| v.saturating_mul(SECTOR)),
                    areas: segment_areas(s, &pvs, extent),
                })
                .collect();
            LogicalVolume {
                name: lv.name.clone(),
                uuid: lv.id.clone(),
                status: lv.status.clone(),
                visible: lv.visible(),
                size: lv.extent_count().saturating_mul(extent),
                segments,
            }
        })
        .collect();
    VolumeGroup {
        name: m.name.clone(),
        uuid: m.id.clone(),
        seqno: m.seqno,
        extent_size: extent,
        status: m.status.clone(),
        pvs,
        lvs,
        partial,
    }
}

/// The key naming the LV that holds a by-key segment type's data.
fn data_key(seg_type: &str) -> Option<&'static str> {
    Some(match seg_type {
        "thin-pool" => "pool",
        "thin" => "thin_pool",
        "cache-pool" | "vdo-pool" => "data",
        "cache" | "writecache" | "snapshot" | "integrity" => "origin",
        "vdo" => "vdo_pool",
        _ => return None,
    })
}

fn segment_areas(s: &SegmentMetadata, pvs: &[PhysicalVolume], extent: u64) -> Vec<SegmentArea> {
    if s.areas.is_empty() {
        let first =
            data_key(&s.seg_type).and_then(|k| s.lv_refs.iter().position(|(key, _)| key == k));
        let ordered = first
            .into_iter()
            .chain((0..s.lv_refs.len()).filter(|&i| Some(i) != first));
        return ordered
            .map(|i| SegmentArea::Lv {
                lv: s.lv_refs[i].1.clone(),
                start_extent: 0,
            })
            .collect();
    }
    let length = s.area_len.saturating_mul(extent);
    s.areas
        .iter()
        .map(|a| match a {
            AreaRef::Lv { lv, start_extent } => SegmentArea::Lv {
                lv: lv.clone(),
                start_extent: *start_extent,
            },
            AreaRef::Pv { pv, start_extent } => {
                let p = pvs.iter().find(|p| &p.id == pv);
                let loc = p.and_then(|p| p.location.as_ref());
                let disk_offset = p.zip(loc).and_then(|(p, l)| {
                    l.offset
                        .checked_add(p.pe_start)?
                        .checked_add(start_extent.checked_mul(extent)?)
                });
                SegmentArea::Pv {
                    pv: pv.clone(),
                    start_extent: *start_extent,
                    disk: loc.map(|l| l.disk),
                    disk_offset,
                    length,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::lvm::samples::{self, report, report_bytes, report_u64, SynthMda};
    use crate::layout::SegmentKind;
    use crate::probe::reader::{Counting, ReadStats, SparseMemReader};
    use serde_json::Value as Json;
    use std::sync::Arc;

    const HEAD: usize = 64 * 1024;

    fn vref(disk: usize, partition: Option<u32>, offset: u64, size: u64) -> VolumeRef {
        VolumeRef {
            disk,
            partition,
            offset,
            size,
        }
    }

    /// read_pv the way the prober does: one 64 KiB read of the volume's head first.
    /// Returns the PV and the (reads, bytes, largest read) read_pv issued after the head.
    fn probe(
        disk: SparseMemReader,
        loc: VolumeRef,
        head_len: usize,
    ) -> (Option<FoundPv>, (u64, u64, u64)) {
        let head = read_at(&disk, loc.offset, head_len.min(loc.size as usize)).unwrap();
        let stats = Arc::new(ReadStats::default());
        let counted = Counting::new(disk, stats.clone());
        let pv = read_pv(&counted, loc, &head).unwrap();
        (pv, stats.snapshot())
    }

    /// The two_pv sample: pv0 as the whole of disk 0, pv1 in partition 2 of disk 1 at 1 MiB.
    fn two_pv_found() -> Vec<FoundPv> {
        let pvs = samples::pvs("two_pv");
        let (d0, (r0, _, _)) = probe(pvs[0].disk(), vref(0, None, 0, pvs[0].size), HEAD);
        assert_eq!(r0, 0, "label, header and text all lie within the head");
        let mut disk1 = SparseMemReader::new((1 << 20) + pvs[1].size + 4096);
        pvs[1].place(&mut disk1, 1 << 20);
        let (d1, (r1, _, max1)) = probe(disk1, vref(1, Some(2), 1 << 20, pvs[1].size), HEAD);
        // Both copies are read; the one at the end of the device costs 2 reads.
        assert_eq!(r1, 2);
        assert!(max1 <= MAX_READ as u64);
        vec![d0.unwrap(), d1.unwrap()]
    }

    /// The name (pv0, ...) the metadata gives the PV with `uuid`.
    fn vg_pv_name(found: &[FoundPv], uuid: &str) -> String {
        let m = found[0].metadata.as_ref().unwrap();
        m.pvs.iter().find(|p| p.id == uuid).unwrap().name.clone()
    }

    fn dev_of<'a>(pvs_json: &'a [Json], uuid: &str) -> &'a str {
        pvs_json
            .iter()
            .find(|r| r["pv_uuid"] == uuid)
            .and_then(|r| r["pv_name"].as_str())
            .unwrap()
    }

    #[test]
    fn two_pvs_match_what_lvm_reports() {
        let found = two_pv_found();
        let pvs_json = report("two_pv/pvs.json", "pv");
        let vg_json = &report("two_pv/vgs.json", "vg")[0];
        for ((f, r), s) in found.iter().zip(&pvs_json).zip(samples::pvs("two_pv")) {
            assert_eq!(s.device, r["pv_name"].as_str().unwrap());
            assert_eq!(f.uuid, r["pv_uuid"].as_str().unwrap());
            assert_eq!(vg_pv_name(&found, &f.uuid), s.name);
            assert_eq!(f.metadata_areas as u64, report_u64(&r["pv_mda_count"]));
            assert_eq!(f.device_size, report_bytes(&r["dev_size"]));
            assert_eq!(f.label_sector, 1);
            assert!(f.metadata.is_some() && f.metadata_error.is_none() && f.warnings.is_empty());
        }

        let vgs = assemble(&found);
        assert_eq!(vgs.len(), 1);
        let vg = &vgs[0];
        assert_eq!(vg.name, vg_json["vg_name"].as_str().unwrap());
        assert_eq!(vg.uuid, vg_json["vg_uuid"].as_str().unwrap());
        assert_eq!(vg.seqno, report_u64(&vg_json["vg_seqno"]));
        assert_eq!(vg.extent_size, report_bytes(&vg_json["vg_extent_size"]));
        assert_eq!(vg.pvs.len() as u64, report_u64(&vg_json["pv_count"]));
        let visible = vg.lvs.iter().filter(|l| l.visible).count() as u64;
        assert_eq!(visible, report_u64(&vg_json["lv_count"]));
        assert!(!vg.partial);

        for (p, r) in vg.pvs.iter().zip(&pvs_json) {
            assert_eq!(p.uuid, r["pv_uuid"].as_str().unwrap());
            assert_eq!(p.pe_start, report_bytes(&r["pe_start"]));
            assert_eq!(p.dev_size, report_bytes(&r["dev_size"]));
            assert_eq!(p.pe_count, report_u64(&r["pv_pe_count"]));
            assert_eq!(p.device_hint.as_deref(), r["pv_name"].as_str());
        }
        assert_eq!(vg.pvs[0].location, Some(vref(0, None, 0, 128 << 20)));
        assert_eq!(
            vg.pvs[1].location,
            Some(vref(1, Some(2), 1 << 20, 128 << 20))
        );

        // Every segment row lvs printed, field by field.
        let lvs_json = report("two_pv/lvs.json", "lv");
        let mut rows = 0;
        for lv in &vg.lvs {
            let lv_rows: Vec<&Json> = lvs_json
                .iter()
                .filter(|r| r["lv_name"] == lv.name.as_str())
                .collect();
            assert_eq!(lv_rows.len(), lv.segments.len(), "{}", lv.name);
            for r in lv_rows {
                rows += 1;
                assert_eq!(lv.uuid, r["lv_uuid"].as_str().unwrap());
                assert_eq!(lv.size, report_bytes(&r["lv_size"]));
                let start = report_u64(&r["seg_start_pe"]);
                let seg = lv
                    .segments
                    .iter()
                    .find(|s| s.start_extent == start)
                    .unwrap();
                assert_eq!(seg.extent_count, report_u64(&r["seg_size_pe"]));
                assert_eq!(seg.kind.lvm_name(), r["segtype"].as_str().unwrap());
                assert_eq!(seg.areas.len() as u64, report_u64(&r["stripes"]));
                assert_eq!(
                    seg.stripe_size.unwrap_or(0),
                    report_bytes(&r["stripe_size"])
                );
                // "/dev/loop0:0-1 /dev/loop1:0-1", rebuilt from our areas, and the byte
                // offsets computed independently from the reports.
                let mut ranges = Vec::new();
                for a in &seg.areas {
                    let SegmentArea::Pv {
                        pv,
                        start_extent,
                        disk,
                        disk_offset,
                        length,
                    } = a
                    else {
                        panic!("{}: non-PV area {a:?}", lv.name);
                    };
                    let p = vg.pvs.iter().find(|p| &p.id == pv).unwrap();
                    let extents = length / vg.extent_size;
                    ranges.push(format!(
                        "{}:{}-{}",
                        dev_of(&pvs_json, &p.uuid),
                        start_extent,
                        start_extent + extents - 1
                    ));
                    let loc = p.location.as_ref().unwrap();
                    let pr = pvs_json
                        .iter()
                        .find(|r| r["pv_uuid"] == p.uuid.as_str())
                        .unwrap();
                    assert_eq!(*disk, Some(loc.disk));
                    assert_eq!(
                        *disk_offset,
                        Some(
                            loc.offset
                                + report_bytes(&pr["pe_start"])
                                + start_extent * report_bytes(&vg_json["vg_extent_size"])
                        )
                    );
                    assert_eq!(extents * seg.areas.len() as u64, seg.extent_count);
                }
                assert_eq!(ranges.join(" "), r["seg_pe_ranges"].as_str().unwrap());
            }
        }
        assert_eq!(rows, lvs_json.len());

        // Spot checks in plain numbers: st's second stripe is on disk 1 at 1 MiB + pe_start.
        let st = vg.lvs.iter().find(|l| l.name == "st").unwrap();
        assert_eq!(st.segments[0].kind, SegmentKind::Striped);
        assert_eq!(st.segments[0].stripe_size, Some(64 * 1024));
        assert_eq!(
            st.segments[0].areas[1],
            SegmentArea::Pv {
                pv: "pv1".into(),
                start_extent: 0,
                disk: Some(1),
                disk_offset: Some(2 << 20),
                length: 8 << 20,
            }
        );
        let a = vg.lvs.iter().find(|l| l.name == "a").unwrap();
        assert_eq!(a.size, 20 << 20);
        assert_eq!(
            a.segments[1].areas[0],
            SegmentArea::Pv {
                pv: "pv0".into(),
                start_extent: 6,
                disk: Some(0),
                disk_offset: Some((1 << 20) + 6 * (4 << 20)),
                length: 3 * (4 << 20),
            }
        );
    }

    #[test]
    fn missing_pv_makes_the_vg_partial() {
        let found = two_pv_found();
        for keep in 0..2 {
            let vgs = assemble(&found[keep..=keep]);
            assert_eq!(vgs.len(), 1);
            let vg = &vgs[0];
            assert!(vg.partial);
            let gone = &vg.pvs[1 - keep];
            assert_eq!(gone.location, None);
            assert!(vg.pvs[keep].location.is_some());
            // lin's first segment is on pv1, its second on pv0.
            let lin = vg.lvs.iter().find(|l| l.name == "lin").unwrap();
            for s in &lin.segments {
                let SegmentArea::Pv {
                    pv,
                    disk,
                    disk_offset,
                    length,
                    ..
                } = &s.areas[0]
                else {
                    panic!()
                };
                let missing = pv == &gone.id;
                assert_eq!(disk.is_none(), missing);
                assert_eq!(disk_offset.is_none(), missing);
                assert_eq!(*length, s.extent_count * vg.extent_size);
            }
        }
    }

    #[test]
    fn metadata_wrapping_the_circular_buffer() {
        let pv = &samples::pvs("wrap")[0];
        let vg_json = &report("wrap/vgs.json", "vg")[0];
        let loc = vref(0, None, 0, pv.size);
        // With a 64 KiB head the whole 36 KiB metadata area is already read; with only
        // the label sectors the header and both parts of the text are read.
        for (head, reads) in [(HEAD, 0), (2048, 3)] {
            let (found, (r, _, max)) = probe(pv.disk(), loc.clone(), head);
            assert_eq!((r, max <= 4096), (reads, true), "head {head}");
            let found = found.unwrap();
            let m = found.metadata.as_ref().unwrap();
            assert_eq!(m.seqno, report_u64(&vg_json["vg_seqno"]));
            let vg = &assemble(&[found])[0];
            assert_eq!(vg.uuid, vg_json["vg_uuid"].as_str().unwrap());
            let lvr = &report("wrap/lvs.json", "lv")[0];
            let data = &vg.lvs[0];
            assert_eq!(data.size, report_bytes(&lvr["lv_size"]));
            let pvr = &report("wrap/pvs.json", "pv")[0];
            assert_eq!(
                data.segments[0].areas[0],
                SegmentArea::Pv {
                    pv: "pv0".into(),
                    start_extent: 0,
                    disk: Some(0),
                    disk_offset: Some(report_bytes(&pvr["pe_start"])),
                    length: report_bytes(&lvr["lv_size"]),
                }
            );
        }
    }

    #[test]
    fn orphan_pv_has_no_metadata() {
        let pv = &samples::pvs("orphan")[0];
        let (found, _) = probe(pv.disk(), vref(0, Some(1), 0, pv.size), HEAD);
        let found = found.unwrap();
        assert_eq!(
            found.uuid,
            report("orphan/pvs.json", "pv")[0]["pv_uuid"]
                .as_str()
                .unwrap()
        );
        assert!(found.metadata.is_none() && found.metadata_error.is_none());
        assert!(assemble(&[found]).is_empty());
    }

    #[test]
    fn second_copy_is_used_when_the_first_is_damaged() {
        let mut pvs = samples::pvs("two_pv");
        let pv1 = &mut pvs[1];
        let text = pv1.regions.iter_mut().find(|r| r.0 == 13312).unwrap();
        text.1[100] ^= 0x20;
        let (found, _) = probe(pv1.disk(), vref(0, None, 0, pv1.size), HEAD);
        let found = found.unwrap();
        assert!(found.metadata.is_some());
        assert_eq!(found.warnings.len(), 1);
        assert!(
            found.warnings[0].contains("metadata area 1") && found.warnings[0].contains("checksum")
        );
        // Both copies damaged: no metadata, and why.
        let end = pv1.regions.iter_mut().find(|r| r.0 == 133178368).unwrap();
        end.1[100] ^= 0x20;
        let (found, _) = probe(pv1.disk(), vref(0, None, 0, pv1.size), HEAD);
        let found = found.unwrap();
        assert!(found.metadata.is_none() && found.warnings.is_empty());
        let e = found.metadata_error.unwrap();
        assert!(
            e.contains("metadata area 1") && e.contains("metadata area 2"),
            "{e}"
        );
    }

    #[test]
    fn not_a_pv_and_damaged_labels() {
        let (found, _) = probe(
            SparseMemReader::new(1 << 20),
            vref(0, None, 0, 1 << 20),
            HEAD,
        );
        assert!(found.is_none());
        let pv = &samples::pvs("two_pv")[0];
        let mut disk = SparseMemReader::new(pv.size);
        let mut head = pv.region(0).to_vec();
        head[512 + 50] ^= 1;
        disk.write(0, &head);
        let e = read_pv(&disk, vref(0, None, 0, pv.size), &head).unwrap_err();
        assert!(
            matches!(e, ScanError::Format(FormatError::Checksum { .. })),
            "{e}"
        );
        // A volume smaller than the label area is read as far as it goes.
        let tiny = SparseMemReader::new(700);
        assert!(read_pv(&tiny, vref(0, None, 0, 700), &[])
            .unwrap()
            .is_none());
    }

    const SNAP_UUID: &[u8; 32] = b"SnapPV00000000000000000000000000";

    fn snapshot_text(seqno: u64, pad: usize) -> Vec<u8> {
        let t = String::from_utf8(samples::bytes("handwritten/snapshot.vg")).unwrap();
        let mut t = t.replace("seqno = 3", &format!("seqno = {seqno}"));
        t.push_str(&format!("# {}\n", "x".repeat(pad)));
        let mut b = t.into_bytes();
        b.push(0);
        b
    }

    fn mda(offset: u64, size: u64, text_offset: u64, text: Vec<u8>) -> SynthMda {
        SynthMda {
            offset,
            size,
            text_offset,
            text,
            flags: 0,
        }
    }

    #[test]
    fn newest_of_two_copies_and_ignored_copies() {
        let size = 64 << 20;
        let end = size - (1 << 20);
        for (s0, s1, want) in [(5, 6, 6), (6, 5, 6), (7, 7, 7)] {
            let disk = samples::synth_pv(
                SNAP_UUID,
                size,
                &[
                    mda(4096, 1 << 20, 512, snapshot_text(s0, 0)),
                    mda(end, 1 << 20, 4096, snapshot_text(s1, 0)),
                ],
            );
            let (found, _) = probe(disk, vref(0, None, 0, size), HEAD);
            assert_eq!(found.unwrap().metadata.unwrap().seqno, want);
        }
        // An ignored copy is not read; with every copy ignored there is no metadata.
        let mut m = mda(4096, 1 << 20, 512, snapshot_text(9, 0));
        m.flags = 1;
        let disk = samples::synth_pv(
            SNAP_UUID,
            size,
            &[m, mda(end, 1 << 20, 512, snapshot_text(4, 0))],
        );
        let (found, _) = probe(disk, vref(0, None, 0, size), HEAD);
        assert_eq!(found.unwrap().metadata.unwrap().seqno, 4);
        let mut m = mda(4096, 1 << 20, 512, snapshot_text(9, 0));
        m.flags = 1;
        let disk = samples::synth_pv(SNAP_UUID, size, &[m]);
        let (found, _) = probe(disk, vref(0, None, 0, size), HEAD);
        let found = found.unwrap();
        assert!(found.metadata.is_none() && found.metadata_error.is_none());
    }

    #[test]
    fn large_text_is_read_in_bounded_chunks_and_capped() {
        let size = 64 << 20;
        let mda_size = 8 << 20;
        // 300 KiB of text starting 1 KiB before the end of the area: it wraps.
        let text = snapshot_text(3, 300 * 1024);
        let off = mda_size - 1024;
        let disk = samples::synth_pv(SNAP_UUID, size, &[mda(4096, mda_size, off, text.clone())]);
        let (found, (reads, bytes, max)) = probe(disk, vref(0, None, 0, size), HEAD);
        let found = found.unwrap();
        assert!(found.metadata_error.is_none(), "{:?}", found.metadata_error);
        assert_eq!(found.metadata.unwrap().seqno, 3);
        assert!(max <= MAX_READ as u64);
        assert!(reads >= 5);
        assert!(bytes >= text.len() as u64 - HEAD as u64);

        // Beyond the cap: refused before reading it, with a clear error.
        let text = snapshot_text(3, MAX_METADATA_TEXT as usize);
        let disk = samples::synth_pv(SNAP_UUID, size, &[mda(4096, mda_size, 512, text)]);
        let (found, (_, bytes, _)) = probe(disk, vref(0, None, 0, size), HEAD);
        let e = found.unwrap().metadata_error.unwrap();
        assert!(e.contains("limit"), "{e}");
        assert_eq!(bytes, 0);
    }

    #[test]
    fn metadata_area_beyond_the_volume() {
        let size = 64 << 20;
        let disk = samples::synth_pv(
            SNAP_UUID,
            size,
            &[mda(4096, 1 << 20, 512, snapshot_text(3, 0))],
        );
        // The volume is said to be smaller than the metadata area.
        let head = read_at(&disk, 0, 4096).unwrap();
        let found = read_pv(&disk, vref(0, None, 0, 4096), &head)
            .unwrap()
            .unwrap();
        let e = found.metadata_error.unwrap();
        assert!(e.contains("beyond the end of the volume"), "{e}");
    }

    /// A PV found with the handwritten VG text `name`, whose PVs are all present.
    fn handwritten_vg(name: &str) -> VolumeGroup {
        let m = parse_vg(&samples::bytes(&format!("handwritten/{name}"))).unwrap();
        let found: Vec<FoundPv> = m
            .pvs
            .iter()
            .enumerate()
            .map(|(i, p)| FoundPv {
                location: vref(i, None, 0, p.dev_size * 512),
                uuid: p.id.clone(),
                metadata: Some(m.clone()),
                metadata_error: None,
                label_sector: 1,
                device_size: p.dev_size * 512,
                metadata_areas: 1,
                warnings: Vec::new(),
            })
            .collect();
        let vgs = assemble(&found);
        assert_eq!(vgs.len(), 1);
        assert!(!vgs[0].partial);
        vgs.into_iter().next().unwrap()
    }

    fn lv_areas(vg: &VolumeGroup, lv: &str) -> (SegmentKind, Vec<String>) {
        let l = vg.lvs.iter().find(|l| l.name == lv).unwrap();
        let s = &l.segments[0];
        let names = s
            .areas
            .iter()
            .map(|a| match a {
                SegmentArea::Lv { lv, start_extent } => format!("{lv}+{start_extent}"),
                SegmentArea::Pv {
                    pv, start_extent, ..
                } => format!("{pv}:{start_extent}"),
            })
            .collect();
        (s.kind.clone(), names)
    }

    #[test]
    fn non_linear_segments_are_recognised_and_named() {
        let k = |s: &str| s.to_string();
        let vg = handwritten_vg("thin.vg");
        assert_eq!(
            lv_areas(&vg, "pool"),
            (
                SegmentKind::ThinPool,
                vec![k("pool_tdata+0"), k("pool_tmeta+0")]
            )
        );
        assert_eq!(
            lv_areas(&vg, "thin1"),
            (SegmentKind::Thin, vec![k("pool+0")])
        );
        assert_eq!(
            lv_areas(&vg, "snap1"),
            (SegmentKind::Thin, vec![k("pool+0"), k("thin1+0")])
        );
        let thin1 = vg.lvs.iter().find(|l| l.name == "thin1").unwrap();
        assert_eq!(thin1.size, 1 << 30);
        assert!(
            !vg.lvs
                .iter()
                .find(|l| l.name == "lvol0_pmspare")
                .unwrap()
                .visible
        );

        let vg = handwritten_vg("raid1.vg");
        assert_eq!(
            lv_areas(&vg, "r1"),
            (
                SegmentKind::Raid(k("raid1")),
                vec![k("r1_rimage_0+0"), k("r1_rimage_1+0")]
            )
        );
        assert_eq!(lv_areas(&vg, "r0").0.lvm_name(), "raid0");
        assert_eq!(
            lv_areas(&vg, "r1_rimage_1"),
            (SegmentKind::Linear, vec![k("pv1:1")])
        );

        let vg = handwritten_vg("cache.vg");
        assert_eq!(
            lv_areas(&vg, "data"),
            (SegmentKind::Cache, vec![k("data_corig+0"), k("cpool+0")])
        );
        assert_eq!(
            lv_areas(&vg, "cpool"),
            (
                SegmentKind::CachePool,
                vec![k("cpool_cdata+0"), k("cpool_cmeta+0")]
            )
        );

        let vg = handwritten_vg("mirror.vg");
        assert_eq!(
            lv_areas(&vg, "m"),
            (
                SegmentKind::Mirror,
                vec![k("m_mimage_0+0"), k("m_mimage_1+0")]
            )
        );
        assert_eq!(
            lv_areas(&vg, "moved"),
            (SegmentKind::Linear, vec![k("pvmove0+0")])
        );
        // pvmove's legs are PV extents with disk offsets: pv1 is disk 1.
        let pvmove = vg.lvs.iter().find(|l| l.name == "pvmove0").unwrap();
        assert!(!pvmove.visible);
        assert_eq!(
            pvmove.segments[0].areas[1],
            SegmentArea::Pv {
                pv: k("pv1"),
                start_extent: 20,
                disk: Some(1),
                disk_offset: Some((1 << 20) + 20 * (4 << 20)),
                length: 3 * (4 << 20),
            }
        );

        let vg = handwritten_vg("snapshot.vg");
        assert_eq!(
            lv_areas(&vg, "snapshot0"),
            (SegmentKind::Snapshot, vec![k("orig+0"), k("snap+0")])
        );
    }

    #[test]
    fn newest_metadata_wins_and_vgs_are_sorted() {
        let vg = |name: &str, seqno: u64| {
            let t = String::from_utf8(samples::bytes(&format!("handwritten/{name}"))).unwrap();
            let t = replace_seqno(&t, seqno);
            parse_vg(t.as_bytes()).unwrap()
        };
        let found = |m: VgMetadata, i: usize| FoundPv {
            location: vref(i, None, 0, 1 << 30),
            uuid: m.pvs[0].id.clone(),
            metadata: Some(m),
            metadata_error: None,
            label_sector: 1,
            device_size: 1 << 30,
            metadata_areas: 1,
            warnings: Vec::new(),
        };
        // snapshot.vg and thin.vg; two copies of the snapshot VG with different seqnos,
        // both naming the same PV uuid (a clone): the first location wins.
        let mut old = vg("snapshot.vg", 2);
        old.lvs.truncate(1);
        let new = vg("snapshot.vg", 8);
        let thin = vg("thin.vg", 9);
        let pvs = [found(thin, 0), found(old, 1), found(new, 2)];
        let vgs = assemble(&pvs);
        let names: Vec<&str> = vgs.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["vgsnap", "vgthin"]);
        assert_eq!(vgs[0].seqno, 8);
        assert_eq!(vgs[0].lvs.len(), 3);
        assert_eq!(vgs[0].pvs[0].location.as_ref().unwrap().disk, 1);
        // Same input, another order: the same VGs.
        let rev = [pvs[2].clone(), pvs[1].clone(), pvs[0].clone()];
        let vgs2 = assemble(&rev);
        assert_eq!(vgs2[0].seqno, 8);
        assert_eq!(vgs2[1], vgs[1]);
    }

    proptest::proptest! {
        /// Whatever a (correctly checksummed) metadata area header says, read_pv neither
        /// panics nor reads more than MAX_READ at once, nor more than the text cap.
        #[test]
        fn hostile_mda_headers_are_survived(
            text_offset in proptest::prelude::any::<u64>(),
            text_size in proptest::prelude::any::<u64>(),
            mda_size in proptest::prelude::any::<u64>(),
            small in proptest::prelude::any::<bool>(),
        ) {
            use crate::format::lvm::label::{calc_crc, INITIAL_CRC};
            let pv = &samples::pvs("two_pv")[0];
            let mut head = pv.region(0).to_vec();
            let (text_offset, text_size, mda_size) = if small {
                (text_offset % (2 << 20), text_size % (5 << 20), mda_size % (4 << 20))
            } else {
                (text_offset, text_size, mda_size)
            };
            let h = &mut head[4096..4608];
            h[32..40].copy_from_slice(&mda_size.to_le_bytes());
            h[40..48].copy_from_slice(&text_offset.to_le_bytes());
            h[48..56].copy_from_slice(&text_size.to_le_bytes());
            let crc = calc_crc(INITIAL_CRC, &h[4..]);
            h[0..4].copy_from_slice(&crc.to_le_bytes());
            let mut disk = SparseMemReader::new(pv.size);
            disk.write(0, &head);
            let stats = Arc::new(ReadStats::default());
            let counted = Counting::new(disk, stats.clone());
            let found = read_pv(&counted, vref(0, None, 0, pv.size), &head[..2048]).unwrap();
            proptest::prop_assert!(found.is_some());
            let (_, bytes, max) = stats.snapshot();
            proptest::prop_assert!(max <= MAX_READ as u64);
            proptest::prop_assert!(bytes <= MAX_METADATA_TEXT + 4096);
        }
    }

    fn replace_seqno(t: &str, seqno: u64) -> String {
        t.lines()
            .map(|l| {
                if l.trim_start().starts_with("seqno = ") {
                    format!("\tseqno = {seqno}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
