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
