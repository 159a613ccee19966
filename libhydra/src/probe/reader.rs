//! Positioned reads of a disk's virtual bytes: files, extent lists, memory, and a read counter.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The largest single read the prober issues.
pub const MAX_READ: usize = 64 * 1024;

/// A disk's virtual address space, read with positioned reads only.
pub trait ReadAt: Send + Sync {
    /// Fill `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Size of the virtual disk in bytes.
    fn size(&self) -> u64;
}

/// Check that `[offset, offset+len)` lies inside a disk of `size` bytes.
pub fn check_range(size: u64, offset: u64, len: usize) -> io::Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read of {len} bytes at {offset} is past the end of the disk ({size} bytes)"),
        )),
    }
}

/// A run of the virtual disk backed by a file region, or zeros.
#[derive(Debug)]
pub struct ExtentSource {
    /// Byte offset in the virtual disk.
    pub virtual_offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// The open data file; `None` reads as zeros.
    pub file: Option<Arc<File>>,
    /// Offset of this run in the file.
    pub file_offset: u64,
}

/// A virtual disk made of extents (raw file: one extent; VMDK flat: one per line;
/// VHD fixed: the file minus its footer). Extents are sorted and contiguous.
#[derive(Debug)]
pub struct ExtentReader {
    extents: Vec<ExtentSource>,
    size: u64,
}

impl ExtentReader {
    /// A reader over sorted, contiguous extents starting at 0.
    pub fn new(extents: Vec<ExtentSource>) -> io::Result<Self> {
        let mut pos = 0u64;
        for e in &extents {
            if e.virtual_offset != pos {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "extent at {} does not follow the previous one ending at {pos}",
                        e.virtual_offset
                    ),
                ));
            }
            pos = pos.checked_add(e.length).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "extent lengths overflow")
            })?;
        }
        Ok(ExtentReader { extents, size: pos })
    }

    /// A whole file (or block device) of `size` bytes as one extent.
    pub fn whole_file(file: File, size: u64) -> Self {
        ExtentReader {
            extents: vec![ExtentSource {
                virtual_offset: 0,
                length: size,
                file: Some(Arc::new(file)),
                file_offset: 0,
            }],
            size,
        }
    }
}

impl ReadAt for ExtentReader {
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        check_range(self.size, offset, buf.len())?;
        // First extent that ends after `offset`.
        let mut i = self
            .extents
            .partition_point(|e| e.virtual_offset + e.length <= offset);
        while !buf.is_empty() {
            let e = &self.extents[i];
            let within = offset - e.virtual_offset;
            let n = ((e.length - within) as usize).min(buf.len());
            let (now, rest) = buf.split_at_mut(n);
            match &e.file {
                Some(f) => f.read_exact_at(now, e.file_offset + within)?,
                None => now.fill(0),
            }
            buf = rest;
            offset += n as u64;
            i += 1;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// A disk held in memory (tests, fuzzing).
#[derive(Debug, Clone)]
pub struct MemReader(pub Vec<u8>);

impl ReadAt for MemReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check_range(self.0.len() as u64, offset, buf.len())?;
        let o = offset as usize;
        buf.copy_from_slice(&self.0[o..o + buf.len()]);
        Ok(())
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

/// A large sparse disk in memory: a few written regions, zeros elsewhere (tests of huge disks).
#[derive(Debug, Clone, Default)]
pub struct SparseMemReader {
    size: u64,
    regions: Vec<(u64, Vec<u8>)>,
}

impl SparseMemReader {
    /// An all-zero disk of `size` bytes.
    pub fn new(size: u64) -> Self {
        SparseMemReader {
            size,
            regions: Vec::new(),
        }
    }
    /// Place `bytes` at `offset` (regions must not overlap).
    pub fn write(&mut self, offset: u64, bytes: &[u8]) {
        self.regions.push((offset, bytes.to_vec()));
        self.regions.sort_by_key(|r| r.0);
    }
}

impl ReadAt for SparseMemReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        check_range(self.size, offset, buf.len())?;
        buf.fill(0);
        let end = offset + buf.len() as u64;
        for (start, data) in &self.regions {
            let rend = start + data.len() as u64;
            if rend <= offset || *start >= end {
                continue;
            }
            let from = offset.max(*start);
            let to = end.min(rend);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&data[(from - start) as usize..(to - start) as usize]);
        }
        Ok(())
    }
    fn size(&self) -> u64 {
        self.size
    }
}

/// Counts of the reads issued through a [`Counting`] reader.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Number of reads.
    pub reads: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    /// Largest single read.
    pub max_read: AtomicU64,
}

impl ReadStats {
    /// (reads, bytes, largest read) so far.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.max_read.load(Ordering::Relaxed),
        )
    }
}

/// A reader that counts what goes through it (tests assert read budgets with it).
pub struct Counting<R> {
    inner: R,
    stats: Arc<ReadStats>,
}

impl<R> Counting<R> {
    /// Wrap `inner`, adding to `stats`.
    pub fn new(inner: R, stats: Arc<ReadStats>) -> Self {
        Counting { inner, stats }
    }
}

impl<R: ReadAt> ReadAt for Counting<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.stats
            .max_read
            .fetch_max(buf.len() as u64, Ordering::Relaxed);
        self.inner.read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
}

impl ReadAt for Box<dyn ReadAt> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        (**self).size()
    }
}

/// Read `len` bytes at `offset` into a new buffer, clipped to the end of the disk.
/// `len` must not exceed [`MAX_READ`]; the caller's length never comes from disk data
/// unchecked.
pub fn read_clipped(r: &dyn ReadAt, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    debug_assert!(len <= MAX_READ, "reads are at most {MAX_READ} bytes");
    let avail = r.size().saturating_sub(offset).min(len as u64) as usize;
    let mut buf = vec![0u8; avail];
    if avail > 0 {
        r.read_exact_at(&mut buf, offset)?;
    }
    Ok(buf)
}

/// A path-named reader, for error messages.
pub struct NamedDisk {
    /// The path given by the user.
    pub path: PathBuf,
    /// The bytes.
    pub reader: Box<dyn ReadAt>,
}

impl NamedDisk {
    /// Name for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_reader_spans_extents_and_zero_runs() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"xxABCD").unwrap();
        let f = Arc::new(File::open(&a).unwrap());
        let r = ExtentReader::new(vec![
            ExtentSource {
                virtual_offset: 0,
                length: 4,
                file: Some(f.clone()),
                file_offset: 2,
            },
            ExtentSource {
                virtual_offset: 4,
                length: 3,
                file: None,
                file_offset: 0,
            },
            ExtentSource {
                virtual_offset: 7,
                length: 2,
                file: Some(f),
                file_offset: 0,
            },
        ])
        .unwrap();
        assert_eq!(r.size(), 9);
        let mut buf = [0xffu8; 9];
        r.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"ABCD\0\0\0xx");
        let mut b2 = [0u8; 3];
        r.read_exact_at(&mut b2, 3).unwrap();
        assert_eq!(&b2, b"D\0\0");
        assert!(r.read_exact_at(&mut b2, 7).is_err());
    }

    #[test]
    fn extent_gaps_are_rejected() {
        let e = ExtentReader::new(vec![ExtentSource {
            virtual_offset: 5,
            length: 1,
            file: None,
            file_offset: 0,
        }]);
        assert!(e.is_err());
    }

    #[test]
    fn sparse_reader_overlays_regions() {
        let mut s = SparseMemReader::new(1 << 41);
        s.write((1 << 41) - 512, &[7u8; 512]);
        s.write(10, b"hi");
        let mut b = [1u8; 4];
        s.read_exact_at(&mut b, 9).unwrap();
        assert_eq!(&b, b"\0hi\0");
        let mut e = [0u8; 2];
        s.read_exact_at(&mut e, (1 << 41) - 513).unwrap();
        assert_eq!(e, [0, 7]);
    }

    #[test]
    fn counting_counts() {
        let stats = Arc::new(ReadStats::default());
        let r = Counting::new(MemReader(vec![0; 100]), stats.clone());
        let _ = read_clipped(&r, 90, 64).unwrap();
        let mut b = [0u8; 4];
        r.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(stats.snapshot(), (2, 14, 10));
    }
}
