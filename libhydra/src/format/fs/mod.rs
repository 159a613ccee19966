//! Filesystem and volume signatures (blkid's superblock probes) from a volume's first bytes.

use crate::layout::FsInfo;

/// Bytes of a volume read for identification: `[0, HEAD_LEN)`.
pub const HEAD_LEN: usize = 64 * 1024;
/// Offset of the second, optional read (btrfs superblock).
pub const SECOND_OFFSET: u64 = 64 * 1024;
/// Length of the second read.
pub const SECOND_LEN: usize = 4096;

/// Identify the volume from its first bytes (`head` may be shorter than `HEAD_LEN`
/// for a small volume). `volume_offset` is copied into `FsInfo::offset`.
pub fn identify_head(head: &[u8], volume_size: u64, volume_offset: u64) -> Option<FsInfo> {
    let _ = (head, volume_size, volume_offset);
    None
}

/// Identify from the bytes at `SECOND_OFFSET` (btrfs), when `identify_head` found nothing.
pub fn identify_second(second: &[u8], volume_size: u64, volume_offset: u64) -> Option<FsInfo> {
    let _ = (second, volume_size, volume_offset);
    None
}
