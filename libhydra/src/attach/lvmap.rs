//! LVs without device-mapper: linear LVs mapped from the scanned metadata onto the attached disks.
//!
//! On a kernel with device-mapper, lvm2 activates the guest's VGs (scoped to its
//! PVs). Where there is none (our development and CI machines), Hydra maps what it
//! can itself, from the metadata its own scanner read:
//! - a single-segment linear LV: a loop device over the disk's block device with
//!   the segment's byte offset and size;
//! - a multi-segment linear LV: a VMDK descriptor with one `FLAT` extent per
//!   segment (each on its disk's block device, at its offset), exported as one
//!   raw file by qemu-storage-daemon through FUSE, and a loop device on that;
//! - anything else (striped, raid, thin, cache, a partial VG): an error naming the
//!   LV and what it needs (device-mapper).

use super::fuse_export::{ExportOptions, QsdExport};
use super::loopdev::{LoopDevice, LoopOptions};
use super::AttachError;
use crate::layout::{ImageFormat, LogicalVolume, SegmentArea, SegmentKind, VolumeGroup};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One run of an LV on a disk: `length` bytes at byte `offset` of disk `disk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LvPiece {
    /// Disk index in the layout.
    pub disk: usize,
    /// Absolute byte offset on the disk.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
}

/// Why an LV cannot be mapped without device-mapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LV {vg}/{lv}: {why}")]
pub struct LvPlanError {
    /// VG name.
    pub vg: String,
    /// LV name.
    pub lv: String,
    /// What is in the way and what it needs.
    pub why: String,
}

/// The pieces of `lv`, in logical order, or why it cannot be mapped without
/// device-mapper. Pure: reads only the layout.
pub fn plan_lv(vg: &VolumeGroup, lv: &LogicalVolume) -> Result<Vec<LvPiece>, LvPlanError> {
    let err = |why: String| LvPlanError {
        vg: vg.name.clone(),
        lv: lv.name.clone(),
        why,
    };
    if lv.segments.is_empty() {
        return Err(err("has no segments".into()));
    }
    let mut pieces: Vec<LvPiece> = Vec::with_capacity(lv.segments.len());
    let mut next_extent = 0u64;
    for s in &lv.segments {
        if s.start_extent != next_extent {
            return Err(err(format!(
                "segment at extent {} does not follow the previous one (ends at {next_extent})",
                s.start_extent
            )));
        }
        next_extent = s.start_extent + s.extent_count;
        if s.kind != SegmentKind::Linear {
            return Err(err(format!(
                "segment type {} needs device-mapper (a helper kernel with dm-mod; \
                 Hydra maps only linear LVs without it)",
                s.kind.lvm_name()
            )));
        }
        let [SegmentArea::Pv {
            pv,
            disk,
            disk_offset,
            length,
            ..
        }] = s.areas.as_slice()
        else {
            return Err(err(format!(
                "linear segment at extent {} has {} areas",
                s.start_extent,
                s.areas.len()
            )));
        };
        let (Some(disk), Some(offset)) = (disk, disk_offset) else {
            return Err(err(format!(
                "its PV {pv} was not found on the given disks (the VG is partial)"
            )));
        };
        // Merge runs that continue on the same disk (lvextend right after itself).
        match pieces.last_mut() {
            Some(p) if p.disk == *disk && p.offset + p.length == *offset => p.length += length,
            _ => pieces.push(LvPiece {
                disk: *disk,
                offset: *offset,
                length: *length,
            }),
        }
    }
    if let Some(p) = pieces
        .iter()
        .find(|p| p.offset % 512 != 0 || p.length % 512 != 0)
    {
        return Err(err(format!(
            "a piece at byte {} of disk {} is not sector-aligned",
            p.offset, p.disk
        )));
    }
    Ok(pieces)
}

/// A VMDK descriptor that concatenates `pieces` (each `(device, offset, length)` in
/// bytes) as FLAT extents. The extents are always `RW`: qemu's VMDK driver skips
/// `RDONLY` lines entirely; read-only is the export's flag.
pub fn flat_descriptor(pieces: &[(PathBuf, u64, u64)]) -> String {
    let access = "RW";
    let mut d = String::from(
        "# Disk DescriptorFile\n# Written by Hydra: an LVM LV mapped without device-mapper\n\
         version=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n\
         # Extent description\n",
    );
    for (dev, offset, length) in pieces {
        writeln!(
            d,
            "{access} {} FLAT \"{}\" {}",
            length / 512,
            dev.display(),
            offset / 512
        )
        .expect("write to String");
    }
    let sectors: u64 = pieces.iter().map(|p| p.2 / 512).sum();
    let cylinders = (sectors / (16 * 63)).max(1);
    write!(
        d,
        "\n# The Disk Data Base\n#DDB\nddb.virtualHWVersion = \"4\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\nddb.geometry.heads = \"16\"\n\
         ddb.geometry.sectors = \"63\"\nddb.adapterType = \"ide\"\n"
    )
    .expect("write to String");
    d
}

/// An LV mapped to a block device. Close it before the disks it lives on.
#[derive(Debug)]
pub struct MappedLv {
    vg: String,
    lv: String,
    loop_dev: Option<LoopDevice>,
    export: Option<QsdExport>,
    descriptor: Option<PathBuf>,
}

impl MappedLv {
    /// The block device of the LV.
    pub fn device(&self) -> &Path {
        self.loop_dev
            .as_ref()
            .expect("a mapped LV has its loop device until closed")
            .path()
    }

    /// `VG/LV`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.vg, self.lv)
    }

    /// The loop device and the qemu-storage-daemon behind it, for session markers.
    pub fn parts(&self) -> (Option<&LoopDevice>, Option<&QsdExport>) {
        (self.loop_dev.as_ref(), self.export.as_ref())
    }

    /// Unmap: the loop device, then the export, then the descriptor file.
    pub fn close(mut self) -> Result<(), AttachError> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<(), AttachError> {
        let mut first = None;
        if let Some(l) = self.loop_dev.take() {
            if let Err(e) = l.close() {
                first.get_or_insert(e);
            }
        }
        if let Some(x) = self.export.take() {
            if let Err(e) = x.close() {
                first.get_or_insert(e);
            }
        }
        if let Some(d) = self.descriptor.take() {
            let _ = std::fs::remove_file(d);
        }
        first.map_or(Ok(()), Err)
    }
}

impl MappedLv {
    /// Leave the LV mapped but let go of it (see [`LoopDevice::release`]).
    pub fn release(mut self) {
        if let Some(l) = self.loop_dev.take() {
            l.release();
        }
        std::mem::forget(self.export.take());
        self.descriptor = None;
        std::mem::forget(self);
    }
}

impl Drop for MappedLv {
    fn drop(&mut self) {
        if let Err(e) = self.close_inner() {
            tracing::warn!(lv = %self.name(), error = %e, "unmapping LV on drop failed");
        }
    }
}

/// Map `lv` of `vg` onto the attached disks: `disk_devices` maps a layout disk index
/// to its block device (see [`super::AttachedDisk::device`]). `runtime_dir` holds the
/// descriptor and export of a multi-segment LV.
pub fn map_lv(
    vg: &VolumeGroup,
    lv: &LogicalVolume,
    disk_devices: &BTreeMap<usize, PathBuf>,
    runtime_dir: &Path,
    read_only: bool,
) -> Result<MappedLv, AttachError> {
    let pieces = plan_lv(vg, lv).map_err(|e| AttachError::Invalid {
        object: PathBuf::from(format!("/dev/{}/{}", vg.name, lv.name)),
        what: e.why,
    })?;
    let device_of = |disk: usize| -> Result<PathBuf, AttachError> {
        disk_devices
            .get(&disk)
            .cloned()
            .ok_or_else(|| AttachError::Invalid {
                object: PathBuf::from(format!("/dev/{}/{}", vg.name, lv.name)),
                what: format!("disk {disk} holding part of it is not attached"),
            })
    };
    let mut mapped = MappedLv {
        vg: vg.name.clone(),
        lv: lv.name.clone(),
        loop_dev: None,
        export: None,
        descriptor: None,
    };
    if let [one] = pieces.as_slice() {
        let opts = LoopOptions {
            offset: one.offset,
            size_limit: one.length,
            read_only,
            partscan: false,
            ..LoopOptions::default()
        };
        mapped.loop_dev = Some(LoopDevice::attach(&device_of(one.disk)?, &opts)?);
        return Ok(mapped);
    }
    let with_devs = pieces
        .iter()
        .map(|p| Ok((device_of(p.disk)?, p.offset, p.length)))
        .collect::<Result<Vec<_>, AttachError>>()?;
    let name = format!("lv-{}-{}", vg.name, lv.name).replace('/', "_");
    let desc = runtime_dir.join(format!("{name}.vmdk"));
    std::fs::write(&desc, flat_descriptor(&with_devs)).map_err(|source| AttachError::Os {
        object: desc.clone(),
        op: "write LV descriptor".into(),
        source,
    })?;
    mapped.descriptor = Some(desc.clone());
    let xopts = ExportOptions::new(
        ImageFormat::VmdkMonolithicFlat,
        read_only,
        runtime_dir,
        format!("{name}-export"),
    );
    let export = QsdExport::start(&desc, &xopts)?;
    let lo = LoopDevice::attach(
        export.path(),
        &LoopOptions {
            read_only,
            partscan: false,
            ..LoopOptions::default()
        },
    );
    mapped.export = Some(export);
    mapped.loop_dev = Some(lo?);
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{LogicalVolume, Segment, VolumeGroup};

    const EXT: u64 = 4 << 20;

    fn seg(start: u64, count: u64, disk: Option<usize>, off: u64) -> Segment {
        Segment {
            start_extent: start,
            extent_count: count,
            kind: SegmentKind::Linear,
            stripe_size: None,
            areas: vec![SegmentArea::Pv {
                pv: "pv0".into(),
                start_extent: 0,
                disk,
                disk_offset: disk.map(|_| off),
                length: count * EXT,
            }],
        }
    }

    fn vg(lv: LogicalVolume) -> VolumeGroup {
        VolumeGroup {
            name: "vg".into(),
            uuid: "u".into(),
            seqno: 1,
            extent_size: EXT,
            status: vec![],
            pvs: vec![],
            lvs: vec![lv],
            partial: false,
        }
    }

    fn lv(segments: Vec<Segment>) -> LogicalVolume {
        LogicalVolume {
            name: "root".into(),
            uuid: "x".into(),
            status: vec![],
            visible: true,
            size: 0,
            segments,
        }
    }

    #[test]
    fn linear_pieces_merge_when_contiguous() {
        let l = lv(vec![
            seg(0, 2, Some(0), 1 << 20),
            seg(2, 3, Some(0), (1 << 20) + 2 * EXT),
            seg(5, 1, Some(1), 1 << 20),
        ]);
        let p = plan_lv(&vg(l.clone()), &l).unwrap();
        assert_eq!(
            p,
            [
                LvPiece {
                    disk: 0,
                    offset: 1 << 20,
                    length: 5 * EXT
                },
                LvPiece {
                    disk: 1,
                    offset: 1 << 20,
                    length: EXT
                }
            ]
        );
    }

    #[test]
    fn refusals_name_the_lv_and_the_need() {
        let mut striped = seg(0, 2, Some(0), 0);
        striped.kind = SegmentKind::Striped;
        let l = lv(vec![striped]);
        let e = plan_lv(&vg(l.clone()), &l).unwrap_err();
        assert_eq!(e.to_string().split(':').next(), Some("LV vg/root"));
        assert!(e.why.contains("striped") && e.why.contains("device-mapper"));

        let l = lv(vec![seg(0, 2, None, 0)]);
        assert!(plan_lv(&vg(l.clone()), &l)
            .unwrap_err()
            .why
            .contains("partial"));

        let l = lv(vec![seg(1, 2, Some(0), 0)]);
        assert!(plan_lv(&vg(l.clone()), &l)
            .unwrap_err()
            .why
            .contains("does not follow"));
    }

    #[test]
    fn descriptor_lists_extents_in_sectors() {
        let d = flat_descriptor(&[
            ("/dev/loop3".into(), 1 << 20, 8 << 20),
            ("/dev/loop4".into(), 2 << 20, 4 << 20),
        ]);
        assert!(d.contains("RW 16384 FLAT \"/dev/loop3\" 2048\n"));
        assert!(d.contains("RW 8192 FLAT \"/dev/loop4\" 4096\n"));
        // Our own VMDK parser reads it back as the same extents.
        let parsed = crate::format::image::parse_vmdk_descriptor(d.as_bytes()).unwrap();
        assert_eq!(parsed.capacity_bytes(), 12 << 20);
    }
}
