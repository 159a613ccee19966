//! Disks to block devices: loop devices and partitions from ioctls, FUSE exports; each a guard.
//!
//! [`attach_disk`] turns one scanned [`Disk`] into an [`AttachedDisk`]: a
//! loop device straight on the file where the kernel can read the bytes
//! (raw, block device, fixed VHD without its footer, single-extent flat VMDK
//! at the extent's offset), else a qemu-storage-daemon FUSE export
//! ([`fuse_export`]) with a loop device on it; then the partitions of the scan
//! with BLKPG ([`partitions`]), since this kernel parses no tables. Every
//! kernel resource is a guard with an idempotent `close()` that reports and a
//! best-effort `Drop` that logs; teardown runs in reverse (partitions, loop,
//! export) and only ever touches what this process made.

pub mod fuse_export;
pub mod kernel;
pub mod loopdev;
pub mod lvm2;
pub mod lvmap;
pub mod nbd;
pub mod partitions;
mod sys;

#[cfg(test)]
mod testutil;

pub use fuse_export::{ExportOptions, QsdExport};
pub use loopdev::{LoopDevice, LoopOptions};
pub use partitions::{PartitionNode, PartitionSet};

use crate::layout::{Disk, ImageFormat, Partition};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The step of attaching or detaching a disk that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachStep {
    /// Deciding from the layout how to attach.
    Plan,
    /// Starting the qemu-storage-daemon FUSE export.
    Export,
    /// Binding the loop device.
    Loop,
    /// Adding the partitions.
    Partitions,
    /// Tearing down.
    Detach,
}

impl fmt::Display for AttachStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachStep::Plan => "plan",
            AttachStep::Export => "FUSE export",
            AttachStep::Loop => "loop device",
            AttachStep::Partitions => "partitions",
            AttachStep::Detach => "detach",
        })
    }
}

/// Errors of attaching and detaching. Every variant names its file or device;
/// [`AttachError::Disk`] adds the disk and the step.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// A system call or file operation failed.
    #[error("{object}: {op}: {source}")]
    Os {
        /// The file or device.
        object: PathBuf,
        /// What was being done ("LOOP_CONFIGURE", "open backing file", ...).
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel already has a partition that differs from the scan.
    #[error(
        "{device}: partition {number}: the kernel has it at {kernel_start}+{kernel_size} bytes, \
         the scan at {scan_start}+{scan_size}"
    )]
    PartitionMismatch {
        /// The whole device.
        device: PathBuf,
        /// Partition number.
        number: u32,
        /// Start the kernel reports, in bytes.
        kernel_start: u64,
        /// Size the kernel reports, in bytes.
        kernel_size: u64,
        /// Start in the scan, in bytes.
        scan_start: u64,
        /// Size in the scan, in bytes.
        scan_size: u64,
    },
    /// The layout asks for something that cannot be attached as given.
    #[error("{object}: {what}")]
    Invalid {
        /// The file or device.
        object: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// qemu-storage-daemon failed.
    #[error("{image}: qemu-storage-daemon {what}; its stderr: {stderr:?}")]
    Daemon {
        /// The image being exported.
        image: PathBuf,
        /// What went wrong.
        what: String,
        /// The tail of the daemon's stderr.
        stderr: String,
    },
    /// Something did not happen in time.
    #[error("{object}: waited {waited:?} for {what}")]
    Timeout {
        /// The file or device.
        object: PathBuf,
        /// What was waited for.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// A step on one disk failed.
    #[error("disk {index} ({path}): {step}: {source}")]
    Disk {
        /// Disk index in the layout.
        index: usize,
        /// Disk path.
        path: PathBuf,
        /// The step.
        step: AttachStep,
        /// What failed.
        #[source]
        source: Box<AttachError>,
    },
    /// Several failures (teardown goes on after the first).
    #[error("{} failures: {}", .0.len(), join(.0))]
    Multiple(Vec<AttachError>),
}

fn join(errors: &[AttachError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl AttachError {
    pub(crate) fn os(object: &Path, op: impl Into<String>, source: io::Error) -> Self {
        AttachError::Os {
            object: object.to_path_buf(),
            op: op.into(),
            source,
        }
    }

    /// `Ok` for no errors, the error for one, [`AttachError::Multiple`] for more.
    pub(crate) fn collect(mut errors: Vec<AttachError>) -> Result<(), AttachError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.pop().expect("one")),
            _ => Err(AttachError::Multiple(errors)),
        }
    }

    fn on_disk(self, disk: &Disk, path: &Path, step: AttachStep) -> Self {
        AttachError::Disk {
            index: disk.index,
            path: path.to_path_buf(),
            step,
            source: Box::new(self),
        }
    }

    /// The step, when the error names a disk.
    pub fn step(&self) -> Option<AttachStep> {
        match self {
            AttachError::Disk { step, .. } => Some(*step),
            _ => None,
        }
    }

    /// The OS error number underneath, if any (first of several).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            AttachError::Os { source, .. } => source.raw_os_error(),
            AttachError::Disk { source, .. } => source.raw_os_error(),
            AttachError::Multiple(v) => v.iter().find_map(|e| e.raw_os_error()),
            _ => None,
        }
    }
}

/// How to attach disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    /// Attach read-only (loop devices and exports refuse writes).
    pub read_only: bool,
    /// The session's runtime directory (FUSE export files, pid files, logs).
    pub runtime_dir: PathBuf,
}

/// How one disk is attached, decided from its layout alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachPlan {
    /// A loop device directly on a file (or block device).
    Loop {
        /// The file the loop device reads.
        file: PathBuf,
        /// Byte offset of the disk in that file.
        offset: u64,
        /// Size of the disk in bytes; 0 = to the end of the file.
        size_limit: u64,
        /// Read-only.
        read_only: bool,
    },
    /// A qemu-storage-daemon FUSE export of the image, then a loop device on it.
    Export {
        /// The image (for VMDK: the descriptor).
        image: PathBuf,
        /// Its format.
        format: ImageFormat,
        /// Read-only.
        read_only: bool,
        /// Why the plan differs from what was asked, if it does.
        note: Option<String>,
    },
}

/// Decide how to attach `disk` whose image is at `path` (pure: reads nothing).
pub fn plan_attach(path: &Path, disk: &Disk, read_only: bool) -> Result<AttachPlan, AttachError> {
    let export = |read_only: bool, note: Option<String>| AttachPlan::Export {
        image: path.to_path_buf(),
        format: disk.image.format,
        read_only,
        note,
    };
    Ok(match disk.image.format {
        // Raw images carry no container: the whole file is the disk.
        ImageFormat::Raw | ImageFormat::BlockDevice => AttachPlan::Loop {
            file: path.to_path_buf(),
            offset: 0,
            size_limit: 0,
            read_only,
        },
        // Raw data then a 512-byte footer: stop the device before the footer.
        ImageFormat::VhdFixed => {
            if disk.size == 0 || disk.size % 512 != 0 {
                return Err(AttachError::Invalid {
                    object: path.to_path_buf(),
                    what: format!(
                        "fixed VHD with virtual size {} bytes (not a sector multiple)",
                        disk.size
                    ),
                });
            }
            AttachPlan::Loop {
                file: path.to_path_buf(),
                offset: 0,
                size_limit: disk.size,
                read_only,
            }
        }
        ImageFormat::VmdkMonolithicFlat
        | ImageFormat::VmdkTwoGbMaxExtentFlat
        | ImageFormat::VmdkOtherFlat => match disk.image.extents.as_slice() {
            [e] if e.virtual_offset == 0
                && e.length == disk.size
                && e.length % 512 == 0
                && e.file.is_some() =>
            {
                let f = e.file.as_ref().expect("checked");
                // Extent files are relative to the descriptor's directory.
                let file = if f.is_absolute() {
                    f.clone()
                } else {
                    path.parent().unwrap_or(Path::new(".")).join(f)
                };
                AttachPlan::Loop {
                    file,
                    offset: e.file_offset,
                    size_limit: e.length,
                    read_only: read_only || e.read_only,
                }
            }
            _ => export(read_only, None),
        },
        ImageFormat::VmdkStreamOptimized => export(
            true,
            (!read_only).then(|| {
                "streamOptimized VMDK: attached read-only (qemu cannot write it in place)"
                    .to_string()
            }),
        ),
        ImageFormat::VhdDynamic
        | ImageFormat::VhdDifferencing
        | ImageFormat::Vhdx
        | ImageFormat::Qcow2
        | ImageFormat::VmdkSparse
        | ImageFormat::VmdkEsxSparse => export(read_only, None),
    })
}

/// One disk attached as a block device: its loop device, the FUSE export under
/// it if any, and its partitions. Detach with [`AttachedDisk::close`]; dropping
/// it detaches too (best effort, failures logged).
#[derive(Debug)]
pub struct AttachedDisk {
    index: usize,
    path: PathBuf,
    read_only: bool,
    notes: Vec<String>,
    loop_dev: Option<LoopDevice>,
    export: Option<QsdExport>,
}

/// Attach `disk` (from the layout) whose image is at `path` (usually `disk.path`).
pub fn attach_disk(
    path: &Path,
    disk: &Disk,
    opts: &AttachOptions,
) -> Result<AttachedDisk, AttachError> {
    let plan = plan_attach(path, disk, opts.read_only)
        .map_err(|e| e.on_disk(disk, path, AttachStep::Plan))?;
    let mut att = AttachedDisk {
        index: disk.index,
        path: path.to_path_buf(),
        read_only: opts.read_only,
        notes: Vec::new(),
        loop_dev: None,
        export: None,
    };
    let block_size = if disk.sector_size > 512 {
        disk.sector_size
    } else {
        0
    };
    // On any error below `att` drops and tears down what was made.
    let loop_opts = match plan {
        AttachPlan::Loop {
            file,
            offset,
            size_limit,
            read_only,
        } => {
            att.read_only = read_only;
            (
                file,
                LoopOptions {
                    offset,
                    size_limit,
                    read_only,
                    block_size,
                    ..LoopOptions::default()
                },
            )
        }
        AttachPlan::Export {
            image,
            format,
            read_only,
            note,
        } => {
            att.read_only = read_only;
            att.notes.extend(note);
            let eo = ExportOptions::new(
                format,
                read_only,
                &opts.runtime_dir,
                format!("disk{}", disk.index),
            );
            let export = QsdExport::start(&image, &eo)
                .map_err(|e| e.on_disk(disk, path, AttachStep::Export))?;
            let file = export.path().to_path_buf();
            att.export = Some(export);
            (
                file,
                LoopOptions {
                    read_only,
                    block_size,
                    ..LoopOptions::default()
                },
            )
        }
    };
    let (file, lo) = loop_opts;
    let dev =
        LoopDevice::attach(&file, &lo).map_err(|e| e.on_disk(disk, path, AttachStep::Loop))?;
    let dev = att.loop_dev.insert(dev);
    match dev.size() {
        Ok(size) if size != disk.size => {
            let note = format!(
                "the device has {size} bytes, the scan says the disk has {} bytes",
                disk.size
            );
            tracing::warn!(disk = disk.index, path = %path.display(), "{note}");
            att.notes.push(note);
        }
        _ => {}
    }
    dev.add_partitions(&disk.partitions)
        .map_err(|e| e.on_disk(disk, path, AttachStep::Partitions))?;
    tracing::info!(
        disk = disk.index,
        path = %path.display(),
        device = %dev.path().display(),
        export = att.export.is_some(),
        "disk attached"
    );
    Ok(att)
}

/// Attach every disk of a layout in order (each at its `disk.path`). On the
/// first failure the disks already attached are detached (in reverse) and the
/// error is returned.
pub fn attach_disks(
    disks: &[Disk],
    opts: &AttachOptions,
) -> Result<Vec<AttachedDisk>, AttachError> {
    let mut done: Vec<AttachedDisk> = Vec::with_capacity(disks.len());
    for d in disks {
        match attach_disk(&d.path, d, opts) {
            Ok(a) => done.push(a),
            Err(e) => {
                if let Err(te) = detach_all(done) {
                    tracing::error!(error = %te, "teardown after a failed attach also failed");
                }
                return Err(e);
            }
        }
    }
    Ok(done)
}

/// Detach disks in reverse order; every one is tried, every failure reported.
pub fn detach_all(disks: Vec<AttachedDisk>) -> Result<(), AttachError> {
    let errors = disks
        .into_iter()
        .rev()
        .filter_map(|d| d.close().err())
        .collect();
    AttachError::collect(errors)
}

impl AttachedDisk {
    /// Disk index in the layout.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The image path that was attached.
    pub fn image_path(&self) -> &Path {
        &self.path
    }

    /// The whole-disk block device (`/dev/loopN`).
    pub fn device(&self) -> &Path {
        self.loop_dev.as_ref().expect("bound until closed").path()
    }

    /// The loop device guard.
    pub fn loop_device(&self) -> &LoopDevice {
        self.loop_dev.as_ref().expect("bound until closed")
    }

    /// The FUSE export under the loop device, for formats the kernel cannot read.
    pub fn export(&self) -> Option<&QsdExport> {
        self.export.as_ref()
    }

    /// The block device of partition `number` (`/dev/loopNpM`); `None` for a
    /// partition not in the scan and for the MBR extended container.
    pub fn partition_path(&self, number: u32) -> Option<PathBuf> {
        self.loop_dev.as_ref()?.partition_path(number)
    }

    /// Every partition set up, in scan order.
    pub fn partitions(&self) -> &[PartitionNode] {
        self.loop_dev
            .as_ref()
            .and_then(LoopDevice::partitions)
            .map(PartitionSet::nodes)
            .unwrap_or(&[])
    }

    /// Add partitions found by scanning the attached device (for formats the
    /// prober cannot read from the image file: qcow2, sparse VMDK, VHDX, ...).
    pub fn add_partitions(&mut self, parts: &[Partition]) -> Result<(), AttachError> {
        match self.loop_dev.as_mut() {
            Some(l) => l.add_partitions(parts),
            None => Err(AttachError::Invalid {
                object: self.path.clone(),
                what: "not attached".into(),
            }),
        }
    }

    /// Whether the disk is attached read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Things the caller should know (forced read-only, size differs from the scan).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Detach: partitions, loop device, then the export. Reports every failure.
    pub fn close(mut self) -> Result<(), AttachError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), AttachError> {
        let mut errors = Vec::new();
        if let Some(dev) = self.loop_dev.take() {
            if let Err(e) = dev.close() {
                errors.push(e);
            }
        }
        if let Some(export) = self.export.take() {
            if let Err(e) = export.close() {
                errors.push(e);
            }
        }
        AttachError::collect(errors).map_err(|e| AttachError::Disk {
            index: self.index,
            path: self.path.clone(),
            step: AttachStep::Detach,
            source: Box::new(e),
        })
    }
}

impl AttachedDisk {
    /// Leave the disk attached but let go of it (see [`LoopDevice::release`]); the
    /// export's daemon keeps running.
    pub fn release(mut self) {
        if let Some(l) = self.loop_dev.take() {
            l.release();
        }
        std::mem::forget(self.export.take());
        std::mem::forget(self);
    }
}

impl Drop for AttachedDisk {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "disk teardown failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{self as tu, root};
    use super::*;
    use crate::layout::Extent;

    fn opts(dir: &Path) -> AttachOptions {
        AttachOptions {
            read_only: false,
            runtime_dir: dir.join("run"),
        }
    }

    #[test]
    fn plans() {
        let p = Path::new("/img/d.img");
        let mut d = tu::disk(0, p, ImageFormat::Raw, 1 << 30, 512, vec![]);
        let loop_on = |file: &str, offset, size_limit, read_only| AttachPlan::Loop {
            file: PathBuf::from(file),
            offset,
            size_limit,
            read_only,
        };
        assert_eq!(
            plan_attach(p, &d, false).unwrap(),
            loop_on("/img/d.img", 0, 0, false)
        );
        assert_eq!(
            plan_attach(p, &d, true).unwrap(),
            loop_on("/img/d.img", 0, 0, true)
        );
        d.image.format = ImageFormat::BlockDevice;
        assert_eq!(
            plan_attach(p, &d, false).unwrap(),
            loop_on("/img/d.img", 0, 0, false)
        );
        d.image.format = ImageFormat::VhdFixed;
        assert_eq!(
            plan_attach(p, &d, false).unwrap(),
            loop_on("/img/d.img", 0, 1 << 30, false)
        );
        d.size = (1 << 30) + 1;
        assert!(plan_attach(p, &d, false).is_err());
        d.size = 1 << 30;
        // A flat VMDK with one extent: loop at the extent's offset, relative to the descriptor.
        d.image.format = ImageFormat::VmdkMonolithicFlat;
        d.image.extents = vec![Extent {
            virtual_offset: 0,
            length: 1 << 30,
            file: Some(PathBuf::from("d-flat.vmdk")),
            file_offset: 4096,
            read_only: false,
        }];
        assert_eq!(
            plan_attach(p, &d, false).unwrap(),
            loop_on("/img/d-flat.vmdk", 4096, 1 << 30, false)
        );
        d.image.extents[0].read_only = true;
        assert_eq!(
            plan_attach(p, &d, false).unwrap(),
            loop_on("/img/d-flat.vmdk", 4096, 1 << 30, true)
        );
        // Two extents: through qemu.
        d.image.format = ImageFormat::VmdkTwoGbMaxExtentFlat;
        d.image.extents = vec![
            Extent {
                virtual_offset: 0,
                length: 1 << 29,
                file: Some(PathBuf::from("/x/s001.vmdk")),
                file_offset: 0,
                read_only: false,
            },
            Extent {
                virtual_offset: 1 << 29,
                length: 1 << 29,
                file: Some(PathBuf::from("/x/s002.vmdk")),
                file_offset: 0,
                read_only: false,
            },
        ];
        let export =
            |d: &Disk, format, read_only, note: bool| match plan_attach(p, d, false).unwrap() {
                AttachPlan::Export {
                    image,
                    format: f,
                    read_only: r,
                    note: n,
                } => image == p && f == format && r == read_only && n.is_some() == note,
                _ => false,
            };
        assert!(export(
            &d,
            ImageFormat::VmdkTwoGbMaxExtentFlat,
            false,
            false
        ));
        // A ZERO extent alone is not a file to loop.
        d.image.extents.truncate(1);
        d.image.extents[0].length = 1 << 30;
        d.image.extents[0].file = None;
        assert!(export(
            &d,
            ImageFormat::VmdkTwoGbMaxExtentFlat,
            false,
            false
        ));
        for f in [
            ImageFormat::Qcow2,
            ImageFormat::VhdDynamic,
            ImageFormat::VhdDifferencing,
            ImageFormat::Vhdx,
            ImageFormat::VmdkSparse,
            ImageFormat::VmdkEsxSparse,
        ] {
            d.image.format = f;
            assert!(export(&d, f, false, false), "{f:?}");
        }
        d.image.format = ImageFormat::VmdkStreamOptimized;
        assert!(export(&d, ImageFormat::VmdkStreamOptimized, true, true));
    }

    #[test]
    fn errors_name_the_disk_and_step() {
        let e = AttachError::os(
            Path::new("/dev/loop9"),
            "LOOP_CONFIGURE",
            io::Error::from_raw_os_error(libc::EBUSY),
        );
        let d = tu::disk(
            3,
            Path::new("/i/d.qcow2"),
            ImageFormat::Qcow2,
            1,
            512,
            vec![],
        );
        let e = e.on_disk(&d, &d.path, AttachStep::Loop);
        assert_eq!(e.step(), Some(AttachStep::Loop));
        assert_eq!(e.raw_os_error(), Some(libc::EBUSY));
        let s = e.to_string();
        assert!(
            s.starts_with("disk 3 (/i/d.qcow2): loop device: /dev/loop9: LOOP_CONFIGURE:"),
            "{s}"
        );
    }

    #[test]
    fn a_failed_second_disk_tears_down_the_first() {
        if !root("a_failed_second_disk_tears_down_the_first") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("src.raw");
        let parts = tu::gpt_image(&raw);
        let q = dir.path().join("d0.qcow2");
        tu::qemu_convert(&raw, "raw", &q, "qcow2", &[]);
        let missing = dir.path().join("d1-missing.img");
        let disks = [
            tu::disk(0, &q, ImageFormat::Qcow2, 64 << 20, 512, parts.clone()),
            tu::disk(1, &missing, ImageFormat::Raw, 64 << 20, 512, parts),
        ];
        let err = attach_disks(&disks, &opts(dir.path())).unwrap_err();
        match &err {
            AttachError::Disk { index, step, .. } => {
                assert_eq!((*index, *step), (1, AttachStep::Loop), "{err}");
            }
            e => panic!("want a disk error, got {e}"),
        }
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn attach_disks_and_detach_all() {
        if !root("attach_disks_and_detach_all") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.img");
        let pa = tu::gpt_image(&a);
        let raw = dir.path().join("src.raw");
        let pb = tu::gpt_image(&raw);
        let b = dir.path().join("b.qcow2");
        tu::qemu_convert(&raw, "raw", &b, "qcow2", &[]);
        let disks = [
            tu::disk(0, &a, ImageFormat::Raw, 64 << 20, 512, pa),
            tu::disk(1, &b, ImageFormat::Qcow2, 64 << 20, 512, pb),
        ];
        let att = attach_disks(&disks, &opts(dir.path())).unwrap();
        assert_eq!(att.len(), 2);
        assert_ne!(att[0].device(), att[1].device());
        for d in &att {
            assert_eq!(tu::blkid_uuid(&d.partition_path(2).unwrap()), tu::EXT4_UUID);
        }
        detach_all(att).unwrap();
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn dropped_without_close_leaves_nothing() {
        if !root("dropped_without_close_leaves_nothing") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.img");
        let pa = tu::gpt_image(&a);
        let b = dir.path().join("b.qcow2");
        tu::qemu_convert(&a, "raw", &b, "qcow2", &[]);
        let da = tu::disk(0, &a, ImageFormat::Raw, 64 << 20, 512, pa.clone());
        let db = tu::disk(1, &b, ImageFormat::Qcow2, 64 << 20, 512, pa);
        let att_a = attach_disk(&a, &da, &opts(dir.path())).unwrap();
        let att_b = attach_disk(&b, &db, &opts(dir.path())).unwrap();
        let nodes: Vec<PathBuf> = [&att_a, &att_b]
            .iter()
            .flat_map(|d| d.partitions().iter().map(|n| n.path.clone()))
            .collect();
        let pid = att_b.export().unwrap().pid().unwrap();
        drop(att_b);
        drop(att_a);
        for n in &nodes {
            let name = n.file_name().unwrap().to_str().unwrap();
            assert!(tu::gone_or_not_ours(name, dir.path()), "{name}");
        }
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "daemon reaped"
        );
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn vhd_fixed_device_stops_before_the_footer() {
        if !root("vhd_fixed_device_stops_before_the_footer") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("src.raw");
        let parts = tu::gpt_image(&raw);
        let vhd = dir.path().join("fixed.vhd");
        tu::qemu_convert(
            &raw,
            "raw",
            &vhd,
            "vpc",
            &["-o", "subformat=fixed,force_size=on"],
        );
        assert_eq!(std::fs::metadata(&vhd).unwrap().len(), (64 << 20) + 512);
        let d = tu::disk(0, &vhd, ImageFormat::VhdFixed, 64 << 20, 512, parts.clone());
        let att = attach_disk(&vhd, &d, &opts(dir.path())).unwrap();
        assert!(att.export().is_none());
        assert_eq!(tu::sysfs_size(att.device()), 64 << 20);
        assert!(att.notes().is_empty(), "{:?}", att.notes());
        assert_eq!(
            tu::blkid_uuid(&att.partition_path(2).unwrap()),
            tu::EXT4_UUID
        );
        let footer = tu::read_file_at(&vhd, 64 << 20, 512);
        assert_eq!(&footer[..8], b"conectix");
        att.close().unwrap();
        tu::assert_no_leaks(dir.path());
    }

    #[test]
    fn flat_vmdk_extent_at_an_offset() {
        if !root("flat_vmdk_extent_at_an_offset") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("src.raw");
        let parts = tu::gpt_image(&raw);
        // The extent file: 1 MiB of something else, then the disk (copied sparsely).
        let flat = dir.path().join("d-flat.bin");
        let skip = 1u64 << 20;
        {
            use std::io::{Read, Seek, SeekFrom, Write};
            let mut out = std::fs::File::create(&flat).unwrap();
            out.write_all(&vec![0xEE; skip as usize]).unwrap();
            out.set_len(skip + (64 << 20)).unwrap();
            let mut src = std::fs::File::open(&raw).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut pos = 0u64;
            loop {
                let n = src.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                if buf[..n].iter().any(|&b| b != 0) {
                    out.seek(SeekFrom::Start(skip + pos)).unwrap();
                    out.write_all(&buf[..n]).unwrap();
                }
                pos += n as u64;
            }
        }
        let desc = dir.path().join("d.vmdk");
        let mut d = tu::disk(
            0,
            &desc,
            ImageFormat::VmdkMonolithicFlat,
            64 << 20,
            512,
            parts.clone(),
        );
        d.image.extents = vec![Extent {
            virtual_offset: 0,
            length: 64 << 20,
            file: Some(PathBuf::from("d-flat.bin")),
            file_offset: skip,
            read_only: false,
        }];
        let att = attach_disk(&desc, &d, &opts(dir.path())).unwrap();
        assert_eq!(tu::sysfs_size(att.device()), 64 << 20);
        assert_eq!(
            tu::blkid_uuid(&att.partition_path(2).unwrap()),
            tu::EXT4_UUID
        );
        let data = tu::pattern(9, 4096);
        tu::write_dev(&att.partition_path(1).unwrap(), 0, &data);
        att.close().unwrap();
        assert_eq!(tu::read_file_at(&flat, skip + parts[0].offset, 4096), data);
        assert_eq!(tu::read_file_at(&flat, 0, 16), vec![0xEE; 16]);
        tu::assert_no_leaks(dir.path());
    }
}
