//! Read a disk's partition table (GPT with backup fallback, MBR with logical chains) into partitions.

use super::reader::ReadAt;
use super::ScanError;
use crate::layout::{Partition, PartitionTable};

/// What the partition-table scan of one disk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableScan {
    /// Logical sector size the table was read with (512 or 4096).
    pub sector_size: u32,
    /// The table, or `None` when the disk has none.
    pub table: Option<PartitionTable>,
    /// Partitions in table order; `content` is left as `Content::Empty` for the caller to fill.
    pub partitions: Vec<Partition>,
    /// Notes for the user (backup GPT used, hybrid MBR, odd entries skipped, ...).
    pub warnings: Vec<String>,
}

/// Scan the partition table of `disk`. `head` is the first `min(64 KiB, size)` bytes of
/// the disk, already read. `sector_size_hint` is the device's logical sector size when
/// known (block devices); for image files it is `None` and both 512 and 4096 are tried.
pub fn scan_table(
    disk: &dyn ReadAt,
    head: &[u8],
    sector_size_hint: Option<u32>,
) -> Result<TableScan, ScanError> {
    let _ = (disk, head, sector_size_hint);
    todo!("partition tables: owned by the partition-table work")
}
