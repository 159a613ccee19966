//! Open a disk path: detect its container (raw, VHD, VMDK, qcow2, VHDX, block device) and give a reader.
//!
//! What [`open_disk`] does, and the choices it makes:
//! - The path is opened read-only with `O_NONBLOCK` (a FIFO given by mistake must not
//!   hang the prober), then `fstat`ed: only regular files and block devices are
//!   accepted (anything else is [`Error::Unsupported`]); `O_NONBLOCK` is then cleared.
//! - Block device: size from `BLKGETSIZE64`, logical sector size from `BLKSSZGET`.
//! - Regular file: two reads at most (the first 4 KiB, or the whole file when it is
//!   smaller than 64 KiB so that a VMDK descriptor is seen whole; and the last 512
//!   bytes), then [`image::detect`]. A sparse VMDK costs one more read (its embedded
//!   descriptor, at most 64 KiB) to learn its createType and parent.
//! - Readers: raw = the whole file; VHD fixed = the file minus its footer, clipped
//!   to the footer's current size when that is smaller (the guest sees current size;
//!   a mismatch is noted); VMDK flat descriptors (FLAT, VMFS, VMFSRAW, VMFSRDM, ZERO,
//!   NOACCESS) = an extent list. Everything else is recognised only
//!   (`reader: None`, `readable: false`) and named in the note, for attach.
//! - **Extent paths.** A relative name resolves in the directory of the descriptor
//!   path *as given* (not following a symlinked descriptor: the same rule as qemu, so
//!   probe and attach agree); `..` is allowed (Hydra only reads). An absolute name
//!   (raw device maps, fullDevice descriptors) is used as is. Either way the target
//!   must exist and be a regular file or a block device, else a clear error naming
//!   the extent line and the descriptor. A FLAT extent whose file is shorter than
//!   the descriptor says is an error (truncated copy), not zeros.
//! - `ZERO` extents read as zeros. `NOACCESS` extents are not opened; reading a byte
//!   in them fails with `PermissionDenied` naming the extent (the rest stays readable).
//! - A descriptor naming a parent (`parentFileNameHint`, or a `parentCID` other than
//!   `ffffffff`) is a child delta: never read alone; the note says which parent it needs.

use super::reader::{check_range, ExtentReader, ExtentSource, ReadAt};
use crate::error::{Error, Result};
use crate::format::image::{
    self, Container, EsxSparseKind, ExtentAccess, VhdDiskType, VmdkDescriptor, VmdkExtentKind,
    VmdkExtentLine,
};
use crate::layout::{Extent, ImageFormat, ImageInfo};
use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An opened disk: what it is, and its virtual bytes when Hydra reads the format itself.
pub struct OpenedDisk {
    /// Container facts.
    pub info: ImageInfo,
    /// Reader over the virtual disk; `None` when the format is only recognised.
    pub reader: Option<Box<dyn ReadAt>>,
    /// Size of the virtual disk in bytes (from the header when only recognised): the
    /// reader's size when there is a reader, else the qcow2 size, VHD footer current
    /// size, sparse VMDK capacity or descriptor extent sum; 0 when it is not trivially
    /// available (VHDX: the note says so).
    pub virtual_size: u64,
    /// Logical sector size of a block device (BLKSSZGET); `None` for image files.
    pub sector_size: Option<u32>,
}

/// Open `path` read-only and detect its container format.
pub fn open_disk(path: &Path) -> Result<OpenedDisk> {
    let (file, meta) = open_ro(path).map_err(|f| f.into_error(path, "open read-only", None))?;
    if meta.file_type().is_block_device() {
        return open_block_device(path, file);
    }
    open_image_file(path, file, meta.len())
}

// ---------------------------------------------------------------------------
// Opening

/// Why a path could not be opened as a disk or extent.
enum OpenFail {
    Io(io::Error),
    /// Not a regular file or block device: what it is.
    Kind(&'static str),
}

impl OpenFail {
    fn into_error(self, path: &Path, op: &str, extent_of: Option<String>) -> Error {
        match self {
            OpenFail::Io(e) => Error::io(path, op, e),
            OpenFail::Kind(kind) => Error::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "{}is a {kind}: Hydra reads regular image files and block devices only",
                    extent_of.map(|e| format!("{e}: ")).unwrap_or_default()
                ),
            },
        }
    }
}

/// Open read-only without blocking on FIFOs; accept regular files and block devices.
fn open_ro(path: &Path) -> std::result::Result<(File, Metadata), OpenFail> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(OpenFail::Io)?;
    let meta = file.metadata().map_err(OpenFail::Io)?;
    let ft = meta.file_type();
    if !(ft.is_file() || ft.is_block_device()) {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_char_device() {
            "character device"
        } else if ft.is_fifo() {
            "FIFO"
        } else if ft.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(OpenFail::Kind(kind));
    }
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an fd we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(OpenFail::Io(io::Error::last_os_error()));
    }
    Ok((file, meta))
}

/// `_IOR(0x12, 114, size_t)`: the libc crate does not define it.
const BLKGETSIZE64: libc::Ioctl = {
    let size = std::mem::size_of::<usize>() as u32;
    let read_dir: u32 = if cfg!(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "sparc",
        target_arch = "sparc64"
    )) {
        2 << 29
    } else {
        2 << 30
    };
    (read_dir | (size << 16) | (0x12 << 8) | 114) as libc::Ioctl
};

/// Size in bytes and logical sector size of an open block device.
fn block_device_geometry(file: &File) -> io::Result<(u64, u32)> {
    let fd = file.as_raw_fd();
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which is valid.
    if unsafe { libc::ioctl(fd, BLKGETSIZE64, &mut size as *mut u64) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ssz: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which is valid.
    if unsafe { libc::ioctl(fd, libc::BLKSSZGET, &mut ssz as *mut libc::c_int) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let ssz = u32::try_from(ssz)
        .ok()
        .filter(|s| *s >= 512)
        .ok_or_else(|| io::Error::other(format!("BLKSSZGET returned {ssz}")))?;
    Ok((size, ssz))
}

fn open_block_device(path: &Path, file: File) -> Result<OpenedDisk> {
    let (size, ssz) =
        block_device_geometry(&file).map_err(|e| Error::io(path, "BLKGETSIZE64/BLKSSZGET", e))?;
    Ok(OpenedDisk {
        info: ImageInfo {
            format: ImageFormat::BlockDevice,
            readable: true,
            extents: vec![whole_extent(path, size)],
            note: None,
        },
        reader: Some(Box::new(ExtentReader::whole_file(file, size))),
        sector_size: Some(ssz),
        virtual_size: size,
    })
}

fn whole_extent(path: &Path, length: u64) -> Extent {
    Extent {
        virtual_offset: 0,
        length,
        file: Some(path.to_path_buf()),
        file_offset: 0,
        read_only: false,
    }
}

fn read_exact(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)
        .map_err(|e| Error::io(path, format!("read {len} bytes at {offset}"), e))?;
    Ok(buf)
}

// ---------------------------------------------------------------------------
// Image files

fn open_image_file(path: &Path, file: File, size: u64) -> Result<OpenedDisk> {
    let head_len = if size < image::DESCRIPTOR_MAX as u64 {
        size as usize
    } else {
        image::HEAD_LEN
    };
    let head = read_exact(&file, path, 0, head_len)?;
    let tail = if size == head_len as u64 {
        head[head_len.saturating_sub(image::TAIL_LEN)..].to_vec()
    } else {
        read_exact(&file, path, size - image::TAIL_LEN as u64, image::TAIL_LEN)?
    };
    let detection = image::detect(&head, &tail, size);
    let format = detection.format();
    let mut notes = detection.warnings;
    match detection.container {
        Container::Raw => Ok(OpenedDisk {
            info: ImageInfo {
                format,
                readable: true,
                extents: vec![whole_extent(path, size)],
                note: join(notes),
            },
            reader: Some(Box::new(ExtentReader::whole_file(file, size))),
            sector_size: None,
            virtual_size: size,
        }),
        Container::Vhd { footer, .. } if footer.disk_type == VhdDiskType::Fixed => {
            let data_len = size - image::VHD_FOOTER_LEN as u64;
            let vsize = footer.current_size.min(data_len);
            if footer.current_size > data_len {
                notes.push(format!(
                    "VHD fixed: footer current size {} but only {data_len} data bytes precede the footer (truncated copy?); reading {data_len}",
                    footer.current_size
                ));
            } else if footer.current_size < data_len {
                notes.push(format!(
                    "VHD fixed: {data_len} data bytes precede the footer but its current size is {}; the guest sees {}",
                    footer.current_size, footer.current_size
                ));
            }
            let reader = ExtentReader::new(vec![ExtentSource {
                virtual_offset: 0,
                length: vsize,
                file: Some(Arc::new(file)),
                file_offset: 0,
            }])
            .map_err(|e| Error::io(path, "build VHD reader", e))?;
            Ok(OpenedDisk {
                info: ImageInfo {
                    format,
                    readable: true,
                    extents: vec![whole_extent(path, vsize)],
                    note: join(notes),
                },
                reader: Some(Box::new(reader)),
                sector_size: None,
                virtual_size: vsize,
            })
        }
        Container::Vhd {
            footer,
            parent_name,
        } => {
            let label = if footer.disk_type == VhdDiskType::Differencing {
                let parent = parent_name.map(|p| format!(" \"{p}\"")).unwrap_or_default();
                format!("VHD differencing (a child: needs its parent{parent})")
            } else {
                "VHD dynamic".to_string()
            };
            Ok(recognised(format, footer.current_size, &label, notes))
        }
        Container::Qcow2(h) => {
            let label = if h.version == 1 {
                "qcow (v1)".to_string()
            } else {
                format!("qcow2 v{}", h.version)
            };
            if h.has_backing_file {
                notes.push(match &h.backing_file {
                    Some(b) => format!("an overlay: needs its backing file \"{b}\""),
                    None => "an overlay: needs its backing file".to_string(),
                });
            }
            if h.external_data_file {
                notes.push("guest data is in an external data file".into());
            }
            if h.encrypted {
                notes.push("encrypted".into());
            }
            if h.corrupt {
                notes.push("marked corrupt".into());
            }
            Ok(recognised(format, h.size, &label, notes))
        }
        Container::Vhdx(v) => {
            notes.push("virtual size not read (it is in the VHDX metadata region): size 0".into());
            if let Some(c) = v.creator {
                notes.push(format!("creator \"{c}\""));
            }
            Ok(recognised(format, 0, "VHDX", notes))
        }
        Container::VmdkSparse(h) => {
            let embedded = match h.embedded_descriptor(size) {
                Some((off, len)) => {
                    let b = read_exact(&file, path, off, len)?;
                    if b.iter().all(|&c| c == 0) {
                        None
                    } else {
                        match image::parse_vmdk_descriptor(&b) {
                            Ok(d) => Some(d),
                            Err(e) => {
                                notes.push(format!("embedded descriptor: {e}"));
                                None
                            }
                        }
                    }
                }
                None => None,
            };
            let label = match embedded.as_ref().and_then(|d| d.create_type.as_deref()) {
                Some(ct) => format!("VMDK {ct}"),
                None if h.stream_optimized() => "VMDK streamOptimized".to_string(),
                None => "VMDK sparse (KDMV)".to_string(),
            };
            match &embedded {
                Some(d) if d.has_parent() => notes.push(parent_note(path, d)),
                Some(_) => {}
                None => notes.push(
                    "no embedded descriptor: this may be one extent of a twoGbMaxExtentSparse disk; open its descriptor instead".into(),
                ),
            }
            Ok(recognised(format, h.capacity_bytes(), &label, notes))
        }
        Container::EsxSparse(h) => {
            let label = match h.kind {
                EsxSparseKind::Cowd => "VMDK ESXi COWD (vmfsSparse) extent",
                EsxSparseKind::SeSparse => "VMDK ESXi SESparse extent",
            };
            notes.push(
                "a delta extent: open the descriptor that names it (it needs its parent)".into(),
            );
            Ok(recognised(format, h.capacity_bytes(), label, notes))
        }
        Container::VmdkDescriptor(d) => open_descriptor(path, &d, format, notes),
    }
}

/// A recognised format Hydra does not read itself.
fn recognised(format: ImageFormat, size: u64, label: &str, extras: Vec<String>) -> OpenedDisk {
    let mut note = format!("{label}: read through attach (qemu-storage-daemon/qemu-nbd)");
    for e in extras {
        note.push_str("; ");
        note.push_str(&e);
    }
    OpenedDisk {
        info: ImageInfo {
            format,
            readable: false,
            extents: Vec::new(),
            note: Some(note),
        },
        reader: None,
        sector_size: None,
        virtual_size: size,
    }
}

fn join(notes: Vec<String>) -> Option<String> {
    (!notes.is_empty()).then(|| notes.join("; "))
}

// ---------------------------------------------------------------------------
// VMDK descriptors

/// Where an extent file name points: relative names in the descriptor's directory.
pub(crate) fn resolve_extent(descriptor: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        descriptor.parent().unwrap_or(Path::new("")).join(p)
    }
}

fn parent_note(descriptor: &Path, d: &VmdkDescriptor) -> String {
    let cid = d
        .parent_cid
        .as_deref()
        .map(|c| format!(" (parentCID {c})"))
        .unwrap_or_default();
    match &d.parent_file_name_hint {
        Some(hint) => {
            let found = if resolve_extent(descriptor, hint).exists() {
                "found"
            } else {
                "not found"
            };
            format!(
                "a child delta: needs its parent \"{hint}\"{cid} ({found} next to the descriptor)"
            )
        }
        None => format!("a child delta: needs its parent{cid} (no parentFileNameHint)"),
    }
}

/// How an extent line is named in errors.
fn extent_label(descriptor: &Path, e: &VmdkExtentLine) -> String {
    format!(
        "extent line {} ({e}) of descriptor {}",
        e.line,
        descriptor.display()
    )
}

/// An opened flat extent file (shared when several lines name one file).
struct OpenExtentFile {
    file: Arc<File>,
    size: u64,
}

fn open_extent_file(
    descriptor: &Path,
    e: &VmdkExtentLine,
    resolved: &Path,
) -> Result<OpenExtentFile> {
    let name = e.file.as_deref().unwrap_or("");
    if name.starts_with("vsan://") {
        return Err(Error::Unsupported {
            path: descriptor.to_path_buf(),
            what: format!(
                "{} names a vSAN object, not a file: copy the disk out of vSAN first",
                extent_label(descriptor, e)
            ),
        });
    }
    let label = extent_label(descriptor, e);
    let (file, meta) = open_ro(resolved)
        .map_err(|f| f.into_error(resolved, &format!("open {label}"), Some(label.clone())))?;
    let size = if meta.file_type().is_block_device() {
        block_device_geometry(&file)
            .map_err(|err| Error::io(resolved, format!("BLKGETSIZE64 of {label}"), err))?
            .0
    } else {
        meta.len()
    };
    Ok(OpenExtentFile {
        file: Arc::new(file),
        size,
    })
}

/// Reads fail inside NOACCESS extents, and work elsewhere.
struct NoAccessReader {
    inner: ExtentReader,
    /// (start, end, what) in virtual bytes.
    denied: Vec<(u64, u64, String)>,
}

impl ReadAt for NoAccessReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check_range(self.size(), offset, buf.len())?;
        let end = offset + buf.len() as u64;
        if let Some((s, e, what)) = self.denied.iter().find(|(s, e, _)| offset < *e && *s < end) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("bytes {s}..{e} of the disk are in {what}, marked NOACCESS"),
            ));
        }
        self.inner.read_exact_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

fn open_descriptor(
    path: &Path,
    d: &VmdkDescriptor,
    format: ImageFormat,
    mut notes: Vec<String>,
) -> Result<OpenedDisk> {
    let create_type = d.create_type.as_deref().unwrap_or("(no createType)");
    let readable = format.directly_readable() && !d.has_parent();
    if !readable {
        // Attach will need every extent file: say now which one is missing.
        for e in &d.extents {
            if e.access == ExtentAccess::NoAccess || e.kind == VmdkExtentKind::Zero {
                continue;
            }
            let name = e.file.as_deref().unwrap_or("");
            if name.starts_with("vsan://") {
                continue;
            }
            let resolved = resolve_extent(path, name);
            std::fs::metadata(&resolved).map_err(|err| {
                Error::io(&resolved, format!("stat {}", extent_label(path, e)), err)
            })?;
        }
        if d.has_parent() {
            notes.insert(0, parent_note(path, d));
        }
        return Ok(recognised(
            format,
            d.capacity_bytes(),
            &format!("VMDK {create_type}"),
            notes,
        ));
    }

    let mut opened: HashMap<PathBuf, OpenExtentFile> = HashMap::new();
    let mut sources = Vec::with_capacity(d.extents.len());
    let mut extents = Vec::with_capacity(d.extents.len());
    let mut denied = Vec::new();
    let mut pos = 0u64;
    for e in &d.extents {
        let len = e.length_bytes();
        let resolved = e.file.as_deref().map(|n| resolve_extent(path, n));
        let mut source = ExtentSource {
            virtual_offset: pos,
            length: len,
            file: None,
            file_offset: 0,
        };
        if e.access == ExtentAccess::NoAccess {
            denied.push((pos, pos + len, extent_label(path, e)));
            notes.push(format!(
                "extent line {} is NOACCESS: reads of bytes {pos}..{} fail",
                e.line,
                pos + len
            ));
        } else if e.kind.is_flat() {
            let r = resolved.as_deref().expect("flat extents have a file");
            if !opened.contains_key(r) {
                let f = open_extent_file(path, e, r)?;
                opened.insert(r.to_path_buf(), f);
            }
            let f = &opened[r];
            let need_end = e.file_offset_bytes().checked_add(len);
            if !matches!(need_end, Some(end) if end <= f.size) {
                return Err(Error::io(
                    r,
                    format!(
                        "{}: needs bytes {}..{}",
                        extent_label(path, e),
                        e.file_offset_bytes(),
                        e.file_offset_bytes().saturating_add(len)
                    ),
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the extent has only {} bytes (truncated copy?)", f.size),
                    ),
                ));
            }
            source.file = Some(f.file.clone());
            source.file_offset = e.file_offset_bytes();
            if matches!(e.kind, VmdkExtentKind::VmfsRdm | VmdkExtentKind::VmfsRaw) {
                notes.push(format!(
                    "extent line {} is a raw device map ({}) \"{}\": read as flat",
                    e.line,
                    e.kind.name(),
                    r.display()
                ));
            }
        }
        extents.push(Extent {
            virtual_offset: pos,
            length: len,
            file: if e.kind == VmdkExtentKind::Zero {
                None
            } else {
                resolved
            },
            file_offset: e.file_offset_bytes(),
            read_only: e.access == ExtentAccess::ReadOnly,
        });
        sources.push(source);
        pos += len;
    }
    let inner =
        ExtentReader::new(sources).map_err(|e| Error::io(path, "build extent reader", e))?;
    let size = inner.size();
    let reader: Box<dyn ReadAt> = if denied.is_empty() {
        Box::new(inner)
    } else {
        Box::new(NoAccessReader { inner, denied })
    };
    if format == ImageFormat::VmdkOtherFlat {
        notes.insert(0, format!("VMDK {create_type}"));
    }
    Ok(OpenedDisk {
        info: ImageInfo {
            format,
            readable: true,
            extents,
            note: join(notes),
        },
        reader: Some(reader),
        sector_size: None,
        virtual_size: size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    /// Run qemu-img; it is on every machine of ours: its absence is a failure, not a skip.
    fn qemu_img(args: &[&str]) -> String {
        let out = Command::new("qemu-img").args(args).output().unwrap_or_else(|e| {
            panic!("qemu-img is required by these tests and could not be run ({e}): install qemu-utils")
        });
        assert!(
            out.status.success(),
            "qemu-img {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn qemu_virtual_size(fmt: &str, path: &Path) -> u64 {
        let json = qemu_img(&["info", "--output=json", "-f", fmt, path.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["virtual-size"].as_u64().unwrap()
    }

    fn pattern(offset: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| ((offset + i).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8 | 1)
            .collect()
    }

    /// A sparse raw image of `size` bytes with the pattern written at `regions`.
    fn make_raw(dir: &Path, name: &str, size: u64, regions: &[(u64, usize)]) -> PathBuf {
        let p = dir.join(name);
        let f = File::create(&p).unwrap();
        f.set_len(size).unwrap();
        for &(off, len) in regions {
            f.write_all_at(&pattern(off, len), off).unwrap();
        }
        p
    }

    fn convert(raw: &Path, fmt: &str, opts: Option<&str>, out: &Path) {
        let mut args = vec!["convert", "-q", "-f", "raw", "-O", fmt];
        if let Some(o) = opts {
            args.extend(["-o", o]);
        }
        args.extend([raw.to_str().unwrap(), out.to_str().unwrap()]);
        qemu_img(&args);
    }

    fn read(r: &dyn ReadAt, off: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        r.read_exact_at(&mut b, off)
            .unwrap_or_else(|e| panic!("read {len} at {off}: {e}"));
        b
    }

    /// Our reader gives the raw source's bytes: the pattern regions, the bytes around
    /// them, and `extra` ranges (e.g. across extent boundaries).
    fn assert_reads_like_raw(
        d: &OpenedDisk,
        raw: &Path,
        regions: &[(u64, usize)],
        extra: &[(u64, usize)],
    ) {
        let r = d.reader.as_deref().expect("a reader");
        let src = File::open(raw).unwrap();
        let raw_size = src.metadata().unwrap().len();
        for &(off, len) in regions {
            assert_eq!(read(r, off, len), pattern(off, len), "pattern at {off}");
        }
        let around = regions
            .iter()
            .map(|&(o, l)| (o.saturating_sub(700), l + 1400))
            .chain(extra.iter().copied());
        for (off, len) in around {
            let len = len.min((raw_size - off) as usize);
            let mut want = vec![0u8; len];
            src.read_exact_at(&mut want, off).unwrap();
            assert_eq!(read(r, off, len), want, "{len} bytes at {off}");
        }
    }

    #[test]
    fn raw_file() {
        let t = tempfile::tempdir().unwrap();
        let regions = [(0, 512), (4093, 10), (MIB - 3, 6), (8 * MIB - 64, 64)];
        let raw = make_raw(t.path(), "disk.img", 8 * MIB, &regions);
        let d = open_disk(&raw).unwrap();
        assert_eq!(d.info.format, ImageFormat::Raw);
        assert!(d.info.readable);
        assert_eq!(d.info.note, None);
        assert_eq!(d.info.extents, vec![whole_extent(&raw, 8 * MIB)]);
        assert_eq!((d.virtual_size, d.sector_size), (8 * MIB, None));
        assert_reads_like_raw(&d, &raw, &regions, &[]);
        assert!(d
            .reader
            .unwrap()
            .read_exact_at(&mut [0u8; 2], 8 * MIB - 1)
            .is_err());
    }

    #[test]
    fn vmdk_monolithic_flat() {
        let t = tempfile::tempdir().unwrap();
        let regions = [
            (0, 512),
            (5 * 512 + 3, 100),
            (7 * MIB, 4096),
            (8 * MIB - 1, 1),
        ];
        let raw = make_raw(t.path(), "src.img", 8 * MIB, &regions);
        let desc = t.path().join("my disk.vmdk");
        convert(&raw, "vmdk", Some("subformat=monolithicFlat"), &desc);
        let d = open_disk(&desc).unwrap();
        assert_eq!(d.info.format, ImageFormat::VmdkMonolithicFlat);
        assert!(d.info.readable);
        assert_eq!(d.info.note, None);
        assert_eq!(d.virtual_size, 8 * MIB);
        assert_eq!(
            d.info.extents,
            vec![Extent {
                virtual_offset: 0,
                length: 8 * MIB,
                file: Some(t.path().join("my disk-flat.vmdk")),
                file_offset: 0,
                read_only: false,
            }]
        );
        assert_reads_like_raw(&d, &raw, &regions, &[(0, 64 * 1024)]);
    }

    #[test]
    fn vmdk_two_gb_max_extent_flat_across_the_boundary() {
        let t = tempfile::tempdir().unwrap();
        let size = 3 * GIB;
        let regions = [
            (0, 4096),
            (GIB + 7, 33),
            (2 * GIB - 100, 200), // across the extent boundary
            (2 * GIB + MIB, 512),
            (size - 512, 512),
        ];
        let raw = make_raw(t.path(), "src.img", size, &regions);
        let desc = t.path().join("d.vmdk");
        convert(&raw, "vmdk", Some("subformat=twoGbMaxExtentFlat"), &desc);
        let d = open_disk(&desc).unwrap();
        assert_eq!(d.info.format, ImageFormat::VmdkTwoGbMaxExtentFlat);
        assert!(d.info.readable);
        assert_eq!(d.virtual_size, size);
        let ex: Vec<(u64, u64, Option<PathBuf>)> = d
            .info
            .extents
            .iter()
            .map(|e| (e.virtual_offset, e.length, e.file.clone()))
            .collect();
        assert_eq!(
            ex,
            vec![
                (0, 2 * GIB, Some(t.path().join("d-f001.vmdk"))),
                (2 * GIB, GIB, Some(t.path().join("d-f002.vmdk"))),
            ]
        );
        assert_reads_like_raw(&d, &raw, &regions, &[(2 * GIB - 32 * 1024, 64 * 1024)]);
    }

    #[test]
    fn vhd_fixed() {
        let t = tempfile::tempdir().unwrap();
        let size = 10 * MIB;
        let regions = [(0, 512), (3 * MIB + 1, 77), (size - 512, 512)];
        let raw = make_raw(t.path(), "src.img", size, &regions);

        // force_size: the footer's current size is exactly the raw size.
        let vhd = t.path().join("exact.vhd");
        convert(&raw, "vpc", Some("subformat=fixed,force_size=on"), &vhd);
        let d = open_disk(&vhd).unwrap();
        assert_eq!(d.info.format, ImageFormat::VhdFixed);
        assert!(d.info.readable);
        assert_eq!(d.info.note, None);
        assert_eq!(d.virtual_size, size);
        assert_eq!(d.info.extents, vec![whole_extent(&vhd, size)]);
        assert_reads_like_raw(&d, &raw, &regions, &[]);
        let r = d.reader.as_deref().unwrap();
        assert!(
            r.read_exact_at(&mut [0u8; 1], size).is_err(),
            "the footer is not disk data"
        );

        // Default: qemu rounds up to a CHS geometry; the tail reads as zeros.
        let vhd = t.path().join("chs.vhd");
        convert(&raw, "vpc", Some("subformat=fixed"), &vhd);
        let d = open_disk(&vhd).unwrap();
        assert_eq!(d.info.format, ImageFormat::VhdFixed);
        assert_eq!(d.virtual_size, std::fs::metadata(&vhd).unwrap().len() - 512);
        assert!(d.virtual_size >= size);
        assert_reads_like_raw(&d, &raw, &regions, &[]);
        let r = d.reader.as_deref().unwrap();
        let n = (d.virtual_size - size) as usize;
        assert_eq!(read(r, size, n), vec![0u8; n]);
    }

    #[test]
    fn vhd_fixed_with_a_bad_checksum_is_raw_with_a_warning() {
        let t = tempfile::tempdir().unwrap();
        let raw = make_raw(t.path(), "src.img", 4 * MIB, &[(0, 4096)]);
        let vhd = t.path().join("bad.vhd");
        convert(&raw, "vpc", Some("subformat=fixed,force_size=on"), &vhd);
        let f = OpenOptions::new().write(true).open(&vhd).unwrap();
        f.write_all_at(b"X", 4 * MIB + 100).unwrap(); // inside the footer's reserved bytes
        drop(f);
        let d = open_disk(&vhd).unwrap();
        assert_eq!(d.info.format, ImageFormat::Raw);
        assert!(d.info.readable);
        assert_eq!(d.virtual_size, 4 * MIB + 512);
        let note = d.info.note.as_deref().unwrap();
        assert!(
            note.contains("checksum mismatch") && note.contains("raw"),
            "{note}"
        );
        assert_reads_like_raw(&d, &raw, &[(0, 4096)], &[]);
    }

    #[test]
    fn vhd_footer_size_mismatch_is_noted() {
        let t = tempfile::tempdir().unwrap();
        let raw = make_raw(t.path(), "src.img", 4 * MIB, &[(0, 512)]);
        let vhd = t.path().join("x.vhd");
        convert(&raw, "vpc", Some("subformat=fixed,force_size=on"), &vhd);
        // Append a MiB before the footer: the guest still sees the footer's current size.
        let mut bytes = std::fs::read(&vhd).unwrap();
        let footer = bytes.split_off(bytes.len() - 512);
        bytes.resize(bytes.len() + MIB as usize, 0);
        bytes.extend_from_slice(&footer);
        std::fs::write(&vhd, &bytes).unwrap();
        let d = open_disk(&vhd).unwrap();
        assert_eq!(d.info.format, ImageFormat::VhdFixed);
        assert_eq!(d.virtual_size, 4 * MIB);
        assert!(d.info.note.unwrap().contains("current size"));
        // Truncated data: read what is there, say so.
        bytes.drain(0..2 * MIB as usize);
        std::fs::write(&vhd, &bytes).unwrap();
        let d = open_disk(&vhd).unwrap();
        assert_eq!(d.virtual_size, 3 * MIB);
        assert!(d.info.note.unwrap().contains("truncated"));
    }

    /// The formats Hydra only recognises: format, no reader, size, note.
    fn recognised_only(path: &Path, format: ImageFormat) -> OpenedDisk {
        let d = open_disk(path).unwrap();
        assert_eq!(d.info.format, format, "{}", path.display());
        assert!(!d.info.readable);
        assert!(d.reader.is_none());
        assert!(d.info.extents.is_empty());
        let note = d.info.note.as_deref().unwrap();
        assert!(
            note.contains(": read through attach (qemu-storage-daemon/qemu-nbd)"),
            "{note}"
        );
        d
    }

    #[test]
    fn containers_read_through_attach() {
        let t = tempfile::tempdir().unwrap();
        let size = 20 * MIB;
        let raw = make_raw(t.path(), "src.img", size, &[(0, 4096), (size - 512, 512)]);
        let p = |n: &str| t.path().join(n);

        convert(&raw, "qcow2", None, &p("a.qcow2"));
        let d = recognised_only(&p("a.qcow2"), ImageFormat::Qcow2);
        assert_eq!(d.virtual_size, qemu_virtual_size("qcow2", &p("a.qcow2")));
        assert_eq!(d.virtual_size, size);
        assert!(d.info.note.unwrap().starts_with("qcow2 v3:"));

        qemu_img(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "a.qcow2",
            "-F",
            "qcow2",
            p("o.qcow2").to_str().unwrap(),
        ]);
        let d = recognised_only(&p("o.qcow2"), ImageFormat::Qcow2);
        assert_eq!(d.virtual_size, size);
        assert!(d
            .info
            .note
            .unwrap()
            .contains("needs its backing file \"a.qcow2\""));

        convert(&raw, "vpc", Some("subformat=dynamic"), &p("d.vhd"));
        let d = recognised_only(&p("d.vhd"), ImageFormat::VhdDynamic);
        assert_eq!(d.virtual_size, qemu_virtual_size("vpc", &p("d.vhd")));
        assert!(d.info.note.unwrap().starts_with("VHD dynamic:"));

        convert(&raw, "vhdx", None, &p("x.vhdx"));
        let d = recognised_only(&p("x.vhdx"), ImageFormat::Vhdx);
        assert_eq!(d.virtual_size, 0);
        assert!(d.info.note.unwrap().contains("metadata region"));

        for (sub, format) in [
            ("monolithicSparse", ImageFormat::VmdkSparse),
            ("streamOptimized", ImageFormat::VmdkStreamOptimized),
        ] {
            let v = p(&format!("{sub}.vmdk"));
            convert(&raw, "vmdk", Some(&format!("subformat={sub}")), &v);
            let d = recognised_only(&v, format);
            assert_eq!(d.virtual_size, qemu_virtual_size("vmdk", &v));
            assert_eq!(d.virtual_size, size);
            let note = d.info.note.unwrap();
            assert!(note.starts_with(&format!("VMDK {sub}:")), "{note}");
            assert!(!note.contains("child"), "{note}");
        }

        // A child delta: the embedded descriptor names its parent.
        qemu_img(&[
            "create",
            "-q",
            "-f",
            "vmdk",
            "-b",
            "monolithicSparse.vmdk",
            "-F",
            "vmdk",
            p("child.vmdk").to_str().unwrap(),
        ]);
        let d = recognised_only(&p("child.vmdk"), ImageFormat::VmdkSparse);
        assert_eq!(d.virtual_size, size);
        let note = d.info.note.unwrap();
        assert!(
            note.contains("needs its parent \"monolithicSparse.vmdk\"")
                && note.contains("(found next to the descriptor)"),
            "{note}"
        );

        // twoGbMaxExtentSparse: a descriptor naming SPARSE extents.
        let v = p("split.vmdk");
        qemu_img(&[
            "create",
            "-q",
            "-f",
            "vmdk",
            "-o",
            "subformat=twoGbMaxExtentSparse",
            v.to_str().unwrap(),
            "3G",
        ]);
        let d = recognised_only(&v, ImageFormat::VmdkSparse);
        assert_eq!(d.virtual_size, 3 * GIB);
        assert!(d
            .info
            .note
            .unwrap()
            .starts_with("VMDK twoGbMaxExtentSparse:"));
        // One of its extents opened directly: recognised, and told to open the descriptor.
        let d = recognised_only(&p("split-s001.vmdk"), ImageFormat::VmdkSparse);
        assert_eq!(d.virtual_size, 2 * GIB);
        assert!(d.info.note.unwrap().contains("open its descriptor"));
        // A missing extent is an error naming it and the descriptor.
        std::fs::remove_file(p("split-s002.vmdk")).unwrap();
        let e = open_disk(&v).err().unwrap().to_string();
        assert!(
            e.contains("split-s002.vmdk") && e.contains("split.vmdk") && e.contains("line 9"),
            "{e}"
        );
    }

    #[test]
    fn esx_sparse_extent_opened_directly() {
        let t = tempfile::tempdir().unwrap();
        let mut cowd = vec![0u8; 4096];
        cowd[0..4].copy_from_slice(b"COWD");
        cowd[4..8].copy_from_slice(&1u32.to_le_bytes());
        cowd[12..16].copy_from_slice(&2048u32.to_le_bytes());
        let p = t.path().join("vm-000001-delta.vmdk");
        std::fs::write(&p, &cowd).unwrap();
        let d = recognised_only(&p, ImageFormat::VmdkEsxSparse);
        assert_eq!(d.virtual_size, MIB);
        assert!(d.info.note.unwrap().contains("COWD"));
    }

    #[test]
    fn flat_descriptor_errors() {
        let t = tempfile::tempdir().unwrap();
        let raw = make_raw(t.path(), "src.img", 4 * MIB, &[(0, 512)]);
        let desc = t.path().join("d.vmdk");
        convert(&raw, "vmdk", Some("subformat=monolithicFlat"), &desc);
        let flat = t.path().join("d-flat.vmdk");

        // Truncated extent.
        File::options()
            .write(true)
            .open(&flat)
            .unwrap()
            .set_len(MIB)
            .unwrap();
        let e = open_disk(&desc).err().unwrap();
        let msg = e.to_string();
        assert!(
            matches!(&e, Error::Io { path, source, .. } if path == &flat && source.kind() == io::ErrorKind::UnexpectedEof)
        );
        assert!(
            msg.contains("d.vmdk")
                && msg.contains("needs bytes 0..4194304")
                && msg.contains("1048576 bytes"),
            "{msg}"
        );

        // Missing extent.
        std::fs::remove_file(&flat).unwrap();
        let e = open_disk(&desc).err().unwrap();
        let msg = e.to_string();
        assert!(
            matches!(&e, Error::Io { path, source, .. } if path == &flat && source.kind() == io::ErrorKind::NotFound)
        );
        assert!(
            msg.contains(&desc.display().to_string()) && msg.contains("extent line"),
            "{msg}"
        );

        // An extent that is a directory.
        std::fs::create_dir(&flat).unwrap();
        let msg = open_disk(&desc).err().unwrap().to_string();
        assert!(
            msg.contains("is a directory") && msg.contains("extent line"),
            "{msg}"
        );
    }

    /// A hand-written descriptor in `dir/sub` with the extent lines given.
    fn write_descriptor(dir: &Path, create_type: &str, lines: &[String]) -> PathBuf {
        let sub = dir.join("sub dir");
        std::fs::create_dir_all(&sub).unwrap();
        let p = sub.join("custom disk.vmdk");
        let text = format!(
            "# Disk DescriptorFile\r\nversion=1\r\nCID=12345678\r\nparentCID=ffffffff\r\ncreateType=\"{create_type}\"\r\n\r\n# Extent description\r\n{}\r\n\r\n#DDB\r\nddb.virtualHWVersion = \"8\"\r\n",
            lines.join("\r\n")
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn custom_descriptor_zero_rdonly_noaccess_offsets_and_paths() {
        let t = tempfile::tempdir().unwrap();
        let sub = t.path().join("sub dir");
        std::fs::create_dir_all(&sub).unwrap();
        let a = make_raw(&sub, "part one.img", 8192, &[(0, 8192)]);
        let b = make_raw(t.path(), "b.img", 16384, &[(0, 16384)]);
        let abs = make_raw(t.path(), "abs.img", 1024, &[(0, 1024)]);
        let lines = vec![
            "RDONLY 8 FLAT \"part one.img\" 4".to_string(), // bytes 2048..6144 of a
            "RW 4 ZERO".to_string(),
            "RW 16 FLAT \"../b.img\" 8".to_string(), // bytes 4096..12288 of b
            format!("RW 2 VMFSRDM \"{}\"", abs.display()),
            "NOACCESS 2 FLAT \"never opened.img\" 0".to_string(),
            "RW 2 FLAT \"part one.img\" 0".to_string(), // the same file again
        ];
        let desc = write_descriptor(t.path(), "custom", &lines);
        let d = open_disk(&desc).unwrap();
        assert_eq!(d.info.format, ImageFormat::VmdkOtherFlat);
        assert!(d.info.readable);
        assert_eq!(d.virtual_size, (8 + 4 + 16 + 2 + 2 + 2) * 512);
        let note = d.info.note.clone().unwrap();
        assert!(note.starts_with("VMDK custom"), "{note}");
        assert!(
            note.contains("raw device map (VMFSRDM)") && note.contains("NOACCESS"),
            "{note}"
        );
        let ex = &d.info.extents;
        assert_eq!(ex.len(), 6);
        assert_eq!(
            ex[0].file.as_deref(),
            Some(sub.join("part one.img").as_path())
        );
        assert!(ex[0].read_only && !ex[2].read_only);
        assert_eq!((ex[0].file_offset, ex[2].file_offset), (2048, 4096));
        assert_eq!(ex[1].file, None);
        assert_eq!(ex[2].file.as_deref(), Some(sub.join("../b.img").as_path()));
        assert_eq!(ex[3].file.as_deref(), Some(abs.as_path()));
        assert_eq!(
            ex[4].file.as_deref(),
            Some(sub.join("never opened.img").as_path())
        );

        let r = d.reader.as_deref().unwrap();
        let mut want = pattern(2048, 4096);
        want.extend(vec![0u8; 2048]);
        want.extend(pattern(4096, 8192));
        want.extend(pattern(0, 1024));
        assert_eq!(read(r, 0, want.len()), want);
        // NOACCESS: an error naming the extent; what follows reads fine.
        let noacc = want.len() as u64;
        let e = r.read_exact_at(&mut [0u8; 1], noacc + 1023).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("extent line 12"), "{e}");
        assert!(r.read_exact_at(&mut [0u8; 2], noacc - 1).is_err());
        assert_eq!(read(r, noacc + 1024, 1024), pattern(0, 1024));
        let _ = a;
        let _ = b;
    }

    #[test]
    fn absolute_extent_paths_must_be_files_or_block_devices() {
        let t = tempfile::tempdir().unwrap();
        for (target, what) in [
            (t.path().to_path_buf(), "is a directory"),
            (PathBuf::from("/dev/null"), "is a character device"),
        ] {
            let desc = write_descriptor(
                t.path(),
                "vmfsRawDeviceMap",
                &[format!("RW 8 VMFSRDM \"{}\"", target.display())],
            );
            let e = open_disk(&desc).err().unwrap();
            let msg = e.to_string();
            assert!(matches!(e, Error::Unsupported { .. }), "{msg}");
            assert!(msg.contains(what) && msg.contains("extent line 8"), "{msg}");
        }
        let desc = write_descriptor(t.path(), "vmfs", &["RW 8 VMFS \"vsan://52a1b2c3\"".into()]);
        let msg = open_disk(&desc).err().unwrap().to_string();
        assert!(msg.contains("vSAN"), "{msg}");
    }

    #[test]
    fn child_descriptors_need_their_parent() {
        let t = tempfile::tempdir().unwrap();
        let sub = t.path().join("sub dir");
        std::fs::create_dir_all(&sub).unwrap();
        make_raw(&sub, "web01-000001-delta.vmdk", 4096, &[]);
        let desc = sub.join("web01-000001.vmdk");
        std::fs::write(
            &desc,
            "# Disk DescriptorFile\nversion=1\nCID=9a8b7c6d\nparentCID=fffffffe\ncreateType=\"vmfsSparse\"\nparentFileNameHint=\"web01.vmdk\"\nRW 41943040 VMFSSPARSE \"web01-000001-delta.vmdk\"\n",
        )
        .unwrap();
        let d = recognised_only(&desc, ImageFormat::VmdkEsxSparse);
        assert_eq!(d.virtual_size, 20 * GIB);
        let note = d.info.note.unwrap();
        assert!(note.starts_with("VMDK vmfsSparse:"), "{note}");
        assert!(
            note.contains("needs its parent \"web01.vmdk\" (parentCID fffffffe) (not found"),
            "{note}"
        );

        // A flat descriptor that names a parent is not read alone either.
        make_raw(&sub, "f.img", 4096, &[]);
        std::fs::write(
            &desc,
            "# Disk DescriptorFile\nversion=1\nparentCID=0000abcd\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"f.img\" 0\n",
        )
        .unwrap();
        let d = recognised_only(&desc, ImageFormat::VmdkMonolithicFlat);
        assert_eq!(d.virtual_size, 4096);
        assert!(d.info.note.unwrap().contains("child delta"));
    }

    #[test]
    fn odd_inputs() {
        let t = tempfile::tempdir().unwrap();
        // Missing path: Io naming it.
        let missing = t.path().join("nope.img");
        let e = open_disk(&missing).err().unwrap();
        assert!(
            matches!(&e, Error::Io { path, .. } if path == &missing),
            "{e}"
        );
        // A directory, a character device.
        assert!(open_disk(t.path())
            .err()
            .unwrap()
            .to_string()
            .contains("is a directory"));
        assert!(open_disk(Path::new("/dev/null"))
            .err()
            .unwrap()
            .to_string()
            .contains("character device"));
        // A FIFO must not hang.
        let fifo = t.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(open_disk(&fifo).err().unwrap().to_string().contains("FIFO"));
        // Empty and tiny files are raw.
        for n in [0usize, 1, 511, 513] {
            let p = t.path().join(format!("tiny{n}"));
            std::fs::write(&p, vec![0x42u8; n]).unwrap();
            let d = open_disk(&p).unwrap();
            assert_eq!(
                (d.info.format, d.virtual_size),
                (ImageFormat::Raw, n as u64)
            );
            assert_eq!(d.info.note, None);
        }
        // Text that looks like a descriptor but does not parse: raw, with a note.
        let p = t.path().join("broken.vmdk");
        std::fs::write(&p, "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 8 FLAT x-flat.vmdk 0\n").unwrap();
        let d = open_disk(&p).unwrap();
        assert_eq!(d.info.format, ImageFormat::Raw);
        let note = d.info.note.unwrap();
        assert!(
            note.contains("does not parse") && note.contains("line 4"),
            "{note}"
        );
    }

    #[test]
    fn resolve_extent_rules() {
        let d = Path::new("/a/b/disk.vmdk");
        assert_eq!(
            resolve_extent(d, "x-flat.vmdk"),
            Path::new("/a/b/x-flat.vmdk")
        );
        assert_eq!(
            resolve_extent(d, "../c/x.vmdk"),
            Path::new("/a/b/../c/x.vmdk")
        );
        assert_eq!(resolve_extent(d, "/dev/sdb"), Path::new("/dev/sdb"));
        assert_eq!(resolve_extent(Path::new("disk.vmdk"), "x"), Path::new("x"));
        assert_eq!(
            resolve_extent(Path::new("v/disk.vmdk"), "x y"),
            Path::new("v/x y")
        );
    }

    /// Needs root and a free loop device: `cargo test -p libhydra --lib probe::disk -- --ignored`.
    #[test]
    #[ignore = "needs root and loop devices"]
    fn block_devices() {
        let t = tempfile::tempdir().unwrap();
        let regions = [(0, 512), (MIB + 5, 100), (16 * MIB - 4096, 4096)];
        let raw = make_raw(t.path(), "loop.img", 16 * MIB, &regions);
        for ssz in ["512", "4096"] {
            let out = Command::new("losetup")
                .args(["-f", "--show", "-r", "-b", ssz, raw.to_str().unwrap()])
                .output()
                .expect("losetup");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let dev = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
            let result = std::panic::catch_unwind(|| {
                let d = open_disk(&dev).unwrap();
                assert_eq!(d.info.format, ImageFormat::BlockDevice);
                assert_eq!(d.sector_size, Some(ssz.parse().unwrap()));
                assert_eq!(d.virtual_size, 16 * MIB);
                assert_eq!(d.info.extents, vec![whole_extent(&dev, 16 * MIB)]);
                assert_reads_like_raw(&d, &raw, &regions, &[]);
                // As an RDM extent named by absolute path.
                let desc = write_descriptor(
                    t.path(),
                    "vmfsPassthroughRawDeviceMap",
                    &[format!("RW 32768 VMFSRDM \"{}\"", dev.display())],
                );
                let d = open_disk(&desc).unwrap();
                assert_eq!(d.info.format, ImageFormat::VmdkOtherFlat);
                assert_reads_like_raw(&d, &raw, &regions, &[]);
            });
            // Detach only the device this test attached.
            let _ = Command::new("losetup").arg("-d").arg(&dev).status();
            if let Err(p) = result {
                std::panic::resume_unwind(p);
            }
        }
    }
}
