//! Pure parsers of on-disk bytes and text: no files, no processes, no clock.

pub mod fs;
pub mod fstab;
pub mod gpt;
pub mod grub;
pub mod image;
pub mod initramfs;
pub mod lvm;
pub mod mbr;
pub mod mountinfo;
pub mod release;

/// Read a little-endian u16 at `off` (caller checked the length).
pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// Read a little-endian u32 at `off` (caller checked the length).
pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Read a little-endian u64 at `off` (caller checked the length).
pub(crate) fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Read a big-endian u16 at `off` (caller checked the length).
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Read a big-endian u32 at `off` (caller checked the length).
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Read a big-endian u64 at `off` (caller checked the length).
pub(crate) fn be64(b: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Format 16 bytes as a GUID the way blkid does for mixed-endian (GPT, Microsoft) GUIDs:
/// the first three fields little-endian. Lowercase.
pub fn guid_mixed_endian(b: &[u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Format 16 bytes as a big-endian (RFC 4122 byte order) UUID, lowercase, as blkid
/// prints ext, xfs, btrfs, LUKS and swap UUIDs.
pub fn uuid_be(b: &[u8; 16]) -> String {
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_formats() {
        // EFI System partition type GUID as stored on disk.
        let esp: [u8; 16] = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ];
        assert_eq!(
            guid_mixed_endian(&esp),
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
        );
        assert_eq!(uuid_be(&esp), "28732ac1-1ff8-d211-ba4b-00a0c93ec93b");
    }
}
