//! Read disks (image files or block devices) with few positioned reads into a [`Layout`].
//!
//! Per disk: open the container ([`disk`]), read the first 64 KiB, parse the
//! partition table ([`table`]), then identify each partition's content from one
//! 64 KiB read (plus one 4 KiB read at 64 KiB for btrfs), read LVM metadata
//! from each PV ([`lvm`]) and assemble the volume groups.

pub mod disk;
pub mod lvm;
pub mod reader;
pub mod table;

#[cfg(test)]
mod tests;

use crate::error::FormatError;
use reader::ReadAt;
use std::io;

/// A failure while scanning one disk; the caller adds the disk's name.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A read failed.
    #[error("read of {len} bytes at offset {offset}: {source}")]
    Read {
        /// Byte offset on the disk.
        offset: u64,
        /// Bytes asked for.
        len: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A structure could not be parsed.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// Read `len` (at most [`reader::MAX_READ`]) bytes at `offset`, clipped at the end of the disk.
pub fn read_at(disk: &dyn ReadAt, offset: u64, len: usize) -> Result<Vec<u8>, ScanError> {
    reader::read_clipped(disk, offset, len).map_err(|source| ScanError::Read {
        offset,
        len,
        source,
    })
}

use crate::error::{Error, Result};
use crate::format::fs;
use crate::layout::{Content, Disk, Layout, Partition, PartitionRole, VolumeRef};
use disk::OpenedDisk;
use std::path::{Path, PathBuf};

/// Probe the disks of one VM, in guest disk order, into a [`Layout`].
///
/// Disks are read in parallel (one thread per disk); each with positioned reads
/// of at most 64 KiB. A disk whose partition table is corrupt beyond repair, or
/// that cannot be read, is an error naming the disk.
pub fn probe<P: AsRef<Path>>(paths: &[P]) -> Result<Layout> {
    let opened = paths
        .iter()
        .map(|p| disk::open_disk(p.as_ref()).map(|d| (p.as_ref().to_path_buf(), d)))
        .collect::<Result<Vec<_>>>()?;
    probe_opened(opened)
}

/// Probe already opened disks (the order is the guest's disk order).
pub fn probe_opened(disks: Vec<(PathBuf, OpenedDisk)>) -> Result<Layout> {
    let results: Vec<Result<(Disk, Vec<lvm::FoundPv>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = disks
            .iter()
            .enumerate()
            .map(|(index, (path, opened))| s.spawn(move || probe_disk(index, path, opened)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("disk probe thread panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(results.len());
    let mut pvs = Vec::new();
    for r in results {
        let (d, p) = r?;
        out.push(d);
        pvs.extend(p);
    }
    let volume_groups = lvm::assemble(&pvs);
    Ok(Layout {
        disks: out,
        volume_groups,
    })
}

/// Probe one disk: its table, then every partition's content.
fn probe_disk(index: usize, path: &Path, opened: &OpenedDisk) -> Result<(Disk, Vec<lvm::FoundPv>)> {
    let fmt_err = |e: ScanError| match e {
        ScanError::Format(source) => Error::Format {
            disk: index,
            path: path.to_path_buf(),
            source,
        },
        ScanError::Read {
            offset,
            len,
            source,
        } => Error::io(path, format!("read {len} bytes at offset {offset}"), source),
    };
    let mut d = Disk {
        index,
        path: path.to_path_buf(),
        image: opened.info.clone(),
        size: opened.virtual_size,
        sector_size: opened.sector_size.unwrap_or(512),
        table: None,
        partitions: Vec::new(),
        content: None,
        warnings: Vec::new(),
    };
    let Some(reader) = opened.reader.as_deref() else {
        tracing::debug!(disk = index, path = %path.display(), "format not read directly");
        return Ok((d, Vec::new()));
    };
    let head = read_at(reader, 0, reader::MAX_READ).map_err(fmt_err)?;
    let scan = table::scan_table(reader, &head, opened.sector_size).map_err(fmt_err)?;
    d.sector_size = scan.sector_size;
    d.table = scan.table;
    d.warnings = scan.warnings;
    let mut pvs = Vec::new();
    if d.table.is_none() {
        let whole = VolumeRef {
            disk: index,
            partition: None,
            offset: 0,
            size: d.size,
        };
        let (content, pv) =
            probe_volume(reader, &whole, Some(&head), &mut d.warnings).map_err(fmt_err)?;
        d.content = Some(content);
        pvs.extend(pv);
    } else {
        d.partitions = scan.partitions;
        for p in &mut d.partitions {
            if p.role == PartitionRole::Extended {
                p.content = Content::ExtendedContainer;
                continue;
            }
            let vol = volume_of(index, p);
            match probe_volume(reader, &vol, None, &mut d.warnings) {
                Ok((content, pv)) => {
                    p.content = content;
                    pvs.extend(pv);
                }
                Err(ScanError::Read { source, .. }) => {
                    p.content = Content::Unreadable {
                        reason: source.to_string(),
                    };
                }
                Err(e) => return Err(fmt_err(e)),
            }
        }
    }
    Ok((d, pvs))
}

fn volume_of(disk: usize, p: &Partition) -> VolumeRef {
    VolumeRef {
        disk,
        partition: Some(p.number),
        offset: p.offset,
        size: p.size,
    }
}

/// Name of a volume in messages: "partition 3" or "whole disk".
fn volume_name(vol: &VolumeRef) -> String {
    match vol.partition {
        Some(n) => format!("partition {n}"),
        None => "whole disk".to_string(),
    }
}

/// Identify what one volume holds: one 64 KiB read, plus one 4 KiB read at 64 KiB
/// when nothing matched (btrfs), plus the LVM metadata of a PV.
/// `disk_head` is the disk's first bytes when the volume starts at 0. Problems that
/// concern only this volume (a corrupt PV label, several signatures at once) become
/// `warnings` naming the volume; the scan of the other volumes goes on.
fn probe_volume(
    reader: &dyn ReadAt,
    vol: &VolumeRef,
    disk_head: Option<&[u8]>,
    warnings: &mut Vec<String>,
) -> Result<(Content, Option<lvm::FoundPv>), ScanError> {
    let want = (vol.size.min(fs::HEAD_LEN as u64)) as usize;
    let owned;
    let head: &[u8] = match disk_head {
        Some(h) if vol.offset == 0 && h.len() >= want => &h[..want],
        _ => {
            owned = read_at(reader, vol.offset, want)?;
            &owned
        }
    };
    if let Some(info) = fs::identify_head(head, vol.size, vol.offset) {
        let pv = if info.fs_type == "LVM2_member" {
            match lvm::read_pv(reader, vol.clone(), head) {
                Ok(pv) => pv,
                Err(ScanError::Format(e)) => {
                    warnings.push(format!(
                        "{}: LVM PV label present but unusable, its VG cannot be assembled: {e}",
                        volume_name(vol)
                    ));
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        if let Some(pv) = &pv {
            warnings.extend(
                pv.warnings
                    .iter()
                    .map(|w| format!("{}: {w}", volume_name(vol))),
            );
            if let Some(e) = &pv.metadata_error {
                warnings.push(format!(
                    "{}: LVM metadata unreadable: {e}",
                    volume_name(vol)
                ));
            }
        }
        return Ok((Content::Filesystem(info), pv));
    }
    let several = fs::identify_head_all(head, vol.size, vol.offset);
    if several.len() > 1 {
        let names: Vec<&str> = several.iter().map(|f| f.fs_type.as_str()).collect();
        warnings.push(format!(
            "{}: several signatures at once ({}): reported as unknown, as blkid does; \
             wipe the stale one (wipefs) before using this volume",
            volume_name(vol),
            names.join(", ")
        ));
        return Ok((Content::Unknown { offset: vol.offset }, None));
    }
    let second_end = fs::SECOND_OFFSET + fs::SECOND_LEN as u64;
    let mut zero = head.iter().all(|&b| b == 0);
    if vol.size >= second_end {
        let second = read_at(reader, vol.offset + fs::SECOND_OFFSET, fs::SECOND_LEN)?;
        if let Some(info) = fs::identify_second(&second, vol.size, vol.offset) {
            return Ok((Content::Filesystem(info), None));
        }
        zero &= second.iter().all(|&b| b == 0);
    }
    if zero {
        return Ok((Content::Empty, None));
    }
    // A PV label that blkid rejects (bad checksum) is worth a word: the VG will lack it.
    if let Err(e) = crate::format::lvm::find_label(head) {
        warnings.push(format!("{}: damaged LVM PV label: {e}", volume_name(vol)));
    }
    Ok((Content::Unknown { offset: vol.offset }, None))
}

/// Probe raw disks given as readers (in memory, fuzzing, callers with their own I/O).
pub fn probe_readers(disks: Vec<(PathBuf, Box<dyn ReadAt>)>) -> Result<Layout> {
    let opened = disks
        .into_iter()
        .map(|(path, reader)| {
            let size = reader.size();
            let info = crate::layout::ImageInfo {
                format: crate::layout::ImageFormat::Raw,
                readable: true,
                extents: vec![crate::layout::Extent {
                    virtual_offset: 0,
                    length: size,
                    file: Some(path.clone()),
                    file_offset: 0,
                    read_only: false,
                }],
                note: None,
            };
            (
                path,
                OpenedDisk {
                    info,
                    reader: Some(reader),
                    virtual_size: size,
                    sector_size: None,
                },
            )
        })
        .collect();
    probe_opened(opened)
}
