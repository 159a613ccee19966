//! Filesystem and volume signatures (blkid's superblock probes) from a volume's first bytes.
//!
//! The probes follow libblkid 2.38.1 (the util-linux of Debian 12, whose `blkid -p -o
//! export` output the tests record): the same magic strings at the same offsets, the
//! same sanity checks, and the same spelling of every value (`TYPE`, `UUID`, `UUID_SUB`,
//! `LABEL`, `VERSION`, `BLOCK_SIZE`). Values are what libblkid returns, before the
//! `blkid -o export` printer shell-escapes them (`LABEL=my\ disk` is `my disk` here).
//!
//! # Order and conflicts
//!
//! libblkid's `blkid -p` (its "safe probe") runs every prober in a fixed order and
//! keeps going after the first match:
//!
//! * a RAID member (`LVM2_member`) or an encrypted volume (`crypto_LUKS`, `BitLocker`)
//!   stops the search at once and wins: they come first, so a stale filesystem
//!   signature inside them never matters;
//! * if two or more of the remaining probers accept the volume and one of them is
//!   not "tolerant" (only iso9660 is, among ours), blkid reports nothing but
//!   "ambivalent result" (exit code 8): [`identify_head`] returns `None` then, and
//!   [`identify_head_all`] lists the candidates (what `wipefs` would show);
//! * on a volume of at most 1440 KiB (a "floppy") the first match wins and LVM is
//!   not probed at all.
//!
//! Our order, a subsequence of libblkid's: LVM2_member, crypto_LUKS, BitLocker,
//! vfat, swsuspend, swap, xfs, ext4dev, ext4, ext3, ext2, jbd, iso9660, ntfs; then
//! in the second read (64 KiB) the LUKS2 secondary header and btrfs. A stale swap
//! signature under ext4 is ignored by the swap prober itself (its header version
//! field, which is ext4's inode count, is not 1), exactly as in blkid.
//!
//! # What 64 KiB cannot decide
//!
//! Where libblkid reads further than `[0, 64 KiB)` (or `[64, 68) KiB` for btrfs),
//! each module says what it does instead. In short: the FAT label lives in the
//! root directory, which for FAT32 and for most FAT16 volumes lies beyond 64 KiB
//! (we use the boot-sector label then); NTFS's `$Volume` record may lie beyond it
//! (no label then); the LUKS2 secondary header is searched up to 4 MiB by blkid
//! but only up to 64 KiB here; libblkid may report a conflict with a signature
//! that sits beyond what we read (e.g. a stale btrfs superblock under ext4 makes
//! blkid ambivalent, while we report ext4 because [`identify_second`] is only
//! consulted when the head matched nothing).
//!
//! Newer libblkid (2.39+) also verifies superblock checksums (ext4, xfs v5, btrfs)
//! and reports `FSSIZE`; 2.38.1 does neither, and neither do we. Our `fs_size` is the
//! size the superblock claims for the filesystem (blocks × block size), see each module.
//!
//! Strings: a label is the bytes up to the first NUL with trailing ASCII white space
//! removed (blkid's `rtrim_whitespace`); bytes that are not UTF-8 become U+FFFD (blkid
//! itself passes them through, and its export printer shows them as `M-x`).

mod btrfs;
mod ext;
mod iso9660;
mod luks;
mod lvm_label;
mod ntfs;
mod swap;
mod vfat;
mod xfs;

use crate::layout::FsInfo;

/// Bytes of a volume read for identification: `[0, HEAD_LEN)`.
pub const HEAD_LEN: usize = 64 * 1024;
/// Offset of the second, optional read (btrfs superblock).
pub const SECOND_OFFSET: u64 = 64 * 1024;
/// Length of the second read.
pub const SECOND_LEN: usize = 4096;

/// Volumes up to this size are "tiny" to libblkid (floppies): first match wins.
const TINY_SIZE: u64 = 1440 * 1024;

/// Identify the volume from its first bytes (`head` may be shorter than `HEAD_LEN`
/// for a small volume). `volume_offset` is copied into `FsInfo::offset`.
///
/// Returns what `blkid -p` reports for the volume, or `None` when it would report
/// nothing (no signature, all zeros, or an ambivalent result: see the module docs).
pub fn identify_head(head: &[u8], volume_size: u64, volume_offset: u64) -> Option<FsInfo> {
    let vol = Vol::new(head, 0, volume_size);
    match safeprobe(&vol, HEAD_PROBERS) {
        Outcome::One(mut fs) => {
            fs.offset = volume_offset;
            Some(fs)
        }
        Outcome::Nothing | Outcome::Ambivalent(_) => None,
    }
}

/// Every signature the probes accept in `head`, in libblkid's probing order, each with
/// its values: one entry for a clean volume, several where `blkid -p` would report an
/// ambivalent result (what `wipefs` would list). A RAID member or encrypted volume
/// ends the list, as it ends blkid's search. Useful for a warning when
/// [`identify_head`] returns `None` on non-zero bytes.
pub fn identify_head_all(head: &[u8], volume_size: u64, volume_offset: u64) -> Vec<FsInfo> {
    let vol = Vol::new(head, 0, volume_size);
    let mut all = match safeprobe(&vol, HEAD_PROBERS) {
        Outcome::Nothing => Vec::new(),
        Outcome::One(fs) => vec![fs],
        Outcome::Ambivalent(v) => v,
    };
    for fs in &mut all {
        fs.offset = volume_offset;
    }
    all
}

/// Identify from the bytes at `SECOND_OFFSET` (btrfs), when `identify_head` found nothing.
///
/// Checks, in libblkid's order, a LUKS2 secondary header at 64 KiB (blkid looks for
/// one when the primary header at 0 is missing) and the btrfs superblock.
pub fn identify_second(second: &[u8], volume_size: u64, volume_offset: u64) -> Option<FsInfo> {
    let vol = Vol::new(second, SECOND_OFFSET, volume_size);
    match safeprobe(&vol, SECOND_PROBERS) {
        Outcome::One(mut fs) => {
            fs.offset = volume_offset;
            Some(fs)
        }
        Outcome::Nothing | Outcome::Ambivalent(_) => None,
    }
}

/// True when every byte is zero (the caller reports such a volume as empty when no
/// signature was found).
pub fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// libblkid's `blkid_probe_is_vfat`: whether the first sector holds a FAT boot sector
/// that passes the vfat sanity checks. Its MBR parser uses this to avoid taking a FAT
/// boot sector (which also ends in 55 AA) for a partition table.
pub fn is_vfat(head: &[u8], volume_size: u64) -> bool {
    vfat::is_vfat(&Vol::new(head, 0, volume_size))
}

/// The bytes a probe may read: `bytes` hold the volume's `[base, base + len)`.
pub(crate) struct Vol<'a> {
    bytes: &'a [u8],
    base: u64,
    size: u64,
}

/// The result of reading a range of the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read<'a> {
    /// The bytes.
    Data(&'a [u8]),
    /// The range ends past the end of the volume (libblkid's read fails there).
    Beyond,
    /// The range is inside the volume but not in the bytes we were given.
    Unread,
}

impl<'a> Vol<'a> {
    pub(crate) fn new(bytes: &'a [u8], base: u64, size: u64) -> Self {
        Vol { bytes, base, size }
    }

    /// Size of the volume in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The volume's bytes `[off, off + len)`.
    pub(crate) fn read(&self, off: u64, len: u64) -> Read<'a> {
        let Some(end) = off.checked_add(len) else {
            return Read::Beyond;
        };
        if end > self.size {
            return Read::Beyond;
        }
        let (Some(start), Some(stop)) = (off.checked_sub(self.base), end.checked_sub(self.base))
        else {
            return Read::Unread;
        };
        let (Ok(start), Ok(stop)) = (usize::try_from(start), usize::try_from(stop)) else {
            return Read::Unread;
        };
        match self.bytes.get(start..stop) {
            Some(b) => Read::Data(b),
            None => Read::Unread,
        }
    }

    /// The volume's bytes `[off, off + len)` when we have them.
    pub(crate) fn get(&self, off: u64, len: usize) -> Option<&'a [u8]> {
        match self.read(off, len as u64) {
            Read::Data(b) => Some(b),
            _ => None,
        }
    }

    /// libblkid's magic test (`blkid_probe_get_idmag`): it reads the 1 KiB block at
    /// `(kboff + sboff / 1024) KiB` and compares `magic` at `sboff % 1024` in it.
    pub(crate) fn magic_at(&self, kboff: u64, sboff: u64, magic: &[u8]) -> bool {
        let off = (kboff + (sboff >> 10)) << 10;
        let at = (sboff & 0x3ff) as usize;
        self.get(off, 1024)
            .and_then(|b| b.get(at..at + magic.len()))
            .is_some_and(|b| b == magic)
    }
}

/// libblkid's usage classes that matter for the safe-probe rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    Raid,
    Crypto,
    Filesystem,
    Other,
}

/// One of libblkid's `blkid_idinfo` entries.
struct Prober {
    usage: Usage,
    /// libblkid's `BLKID_IDINFO_TOLERANT` (may coexist with another signature).
    tolerant: bool,
    /// libblkid's `minsz`: smaller volumes are not probed for it.
    min_size: u64,
    probe: fn(&Vol) -> Option<FsInfo>,
}

const fn prober(usage: Usage, min_size: u64, probe: fn(&Vol) -> Option<FsInfo>) -> Prober {
    Prober {
        usage,
        tolerant: false,
        min_size,
        probe,
    }
}

/// The head probers in libblkid 2.38.1's order (`idinfos[]` in superblocks.c).
const HEAD_PROBERS: &[Prober] = &[
    prober(Usage::Raid, 0, lvm_label::probe),
    prober(Usage::Crypto, 0, luks::probe_head),
    prober(Usage::Crypto, 0, vfat::probe_bitlocker),
    prober(Usage::Filesystem, 0, vfat::probe),
    prober(Usage::Other, swap::MIN_SIZE, swap::probe_swsuspend),
    prober(Usage::Other, swap::MIN_SIZE, swap::probe),
    prober(Usage::Filesystem, 0, xfs::probe),
    prober(Usage::Filesystem, 0, ext::probe_ext4dev),
    prober(Usage::Filesystem, 0, ext::probe_ext4),
    prober(Usage::Filesystem, 0, ext::probe_ext3),
    prober(Usage::Filesystem, 0, ext::probe_ext2),
    prober(Usage::Other, 0, ext::probe_jbd),
    Prober {
        usage: Usage::Filesystem,
        tolerant: true,
        min_size: 0,
        probe: iso9660::probe,
    },
    prober(Usage::Filesystem, 0, ntfs::probe),
];

/// The probers for the bytes at 64 KiB, in libblkid's order.
const SECOND_PROBERS: &[Prober] = &[
    prober(Usage::Crypto, 0, luks::probe_second),
    prober(Usage::Filesystem, btrfs::MIN_SIZE, btrfs::probe),
];

enum Outcome {
    Nothing,
    One(FsInfo),
    Ambivalent(Vec<FsInfo>),
}

/// libblkid's `superblocks_safeprobe` over `probers`.
fn safeprobe(vol: &Vol, probers: &[Prober]) -> Outcome {
    // libblkid ignores volumes of at most 1 KiB (e.g. extended partitions).
    if vol.size() <= 1024 {
        return Outcome::Nothing;
    }
    let tiny = vol.size() <= TINY_SIZE;
    let mut found = Vec::new();
    let mut intolerant = 0;
    for p in probers {
        if p.min_size > vol.size() || (p.usage == Usage::Raid && tiny) {
            continue;
        }
        let Some(fs) = (p.probe)(vol) else {
            continue;
        };
        if tiny && found.is_empty() {
            return Outcome::One(fs);
        }
        found.push(fs);
        if matches!(p.usage, Usage::Raid | Usage::Crypto) {
            break;
        }
        if !p.tolerant {
            intolerant += 1;
        }
    }
    if found.len() > 1 && intolerant > 0 {
        return Outcome::Ambivalent(found);
    }
    match found.into_iter().next() {
        Some(fs) => Outcome::One(fs),
        None => Outcome::Nothing,
    }
}

/// An `FsInfo` of `fs_type` with no values yet (offset filled in by the caller).
pub(crate) fn fs_info(fs_type: &str) -> FsInfo {
    FsInfo {
        fs_type: fs_type.to_string(),
        uuid: None,
        uuid_sub: None,
        label: None,
        version: None,
        block_size: None,
        fs_size: None,
        offset: 0,
    }
}

/// The bytes before the first NUL (a C string in a fixed-size field).
pub(crate) fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// C's `isspace` in the C locale (what libblkid's trimming uses).
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// libblkid's `blkid_probe_set_label`: the C string in `b`, trailing white space
/// removed; `None` when nothing is left.
pub(crate) fn label(b: &[u8]) -> Option<String> {
    let s = c_str(b);
    let end = s.iter().rposition(|&c| !is_c_space(c))? + 1;
    Some(String::from_utf8_lossy(&s[..end]).into_owned())
}

/// Text encodings of `blkid_probe_set_utf8label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Utf16 {
    Le,
    Be,
}

/// libblkid's `blkid_probe_set_utf8label` for UTF-16: decoded up to the first U+0000
/// (a surrogate pair makes one character; a lone surrogate is encoded as is, which
/// is not UTF-8 and so becomes U+FFFD here), then trimmed like [`label`].
pub(crate) fn utf16_label(b: &[u8], enc: Utf16) -> Option<String> {
    let unit = |i: usize| -> u32 {
        let (x, y) = (u32::from(b[i]), u32::from(b[i + 1]));
        match enc {
            Utf16::Le => (y << 8) | x,
            Utf16::Be => (x << 8) | y,
        }
    };
    let mut out = Vec::with_capacity(b.len() * 3 / 2 + 4);
    let mut i = 0;
    while i + 2 <= b.len() {
        let mut c = unit(i);
        i += 2;
        if (0xd800..=0xdbff).contains(&c) && i + 2 <= b.len() {
            let c2 = unit(i);
            if (0xdc00..=0xdfff).contains(&c2) {
                c = 0x10000 + ((c - 0xd800) << 10) + (c2 - 0xdc00);
                i += 2;
            }
        }
        if c == 0 {
            break;
        }
        push_utf8(&mut out, c);
    }
    label(&out)
}

/// Append `c` as UTF-8 bytes the way libblkid's `ul_encode_to_utf8` does (no check
/// for surrogates).
fn push_utf8(out: &mut Vec<u8>, c: u32) {
    if c < 0x80 {
        out.push(c as u8);
    } else if c < 0x800 {
        out.push((0xc0 | (c >> 6)) as u8);
        out.push((0x80 | (c & 0x3f)) as u8);
    } else if c < 0x10000 {
        out.push((0xe0 | (c >> 12)) as u8);
        out.push((0x80 | ((c >> 6) & 0x3f)) as u8);
        out.push((0x80 | (c & 0x3f)) as u8);
    } else {
        out.push((0xf0 | (c >> 18)) as u8);
        out.push((0x80 | ((c >> 12) & 0x3f)) as u8);
        out.push((0x80 | ((c >> 6) & 0x3f)) as u8);
        out.push((0x80 | (c & 0x3f)) as u8);
    }
}

/// libblkid's `blkid_probe_set_uuid`: a big-endian UUID, none when all zero.
pub(crate) fn uuid16(b: &[u8]) -> Option<String> {
    let arr: [u8; 16] = b.get(..16)?.try_into().ok()?;
    if is_zero(&arr) {
        return None;
    }
    Some(super::uuid_be(&arr))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared helpers of the per-type tests.

    use crate::layout::FsInfo;

    /// The values `blkid -p -o export` printed (what the table tests assert).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Expect {
        pub fs_type: &'static str,
        pub uuid: Option<&'static str>,
        pub uuid_sub: Option<&'static str>,
        pub label: Option<&'static str>,
        pub version: Option<&'static str>,
        pub block_size: Option<u32>,
        pub fs_size: Option<u64>,
    }

    /// Assert that `got` is exactly `want` at `offset`.
    pub fn check(got: Option<FsInfo>, want: Expect, offset: u64) {
        let got = got.unwrap_or_else(|| panic!("{}: not recognised", want.fs_type));
        let want = FsInfo {
            fs_type: want.fs_type.to_string(),
            uuid: want.uuid.map(str::to_string),
            uuid_sub: want.uuid_sub.map(str::to_string),
            label: want.label.map(str::to_string),
            version: want.version.map(str::to_string),
            block_size: want.block_size,
            fs_size: want.fs_size,
            offset,
        };
        assert_eq!(got, want);
    }

    /// `sample` padded with zeros to `len` bytes (a sample trimmed of trailing zeros).
    pub fn padded(sample: &[u8], len: usize) -> Vec<u8> {
        let mut v = sample.to_vec();
        v.resize(len.max(sample.len()), 0);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_and_tiny_inputs() {
        assert!(is_zero(&[0u8; 4096]));
        assert!(!is_zero(&[0, 0, 1]));
        assert_eq!(identify_head(&[0u8; HEAD_LEN], 1 << 30, 0), None);
        assert_eq!(identify_head(&[], 0, 0), None);
        assert_eq!(identify_second(&[], 1 << 30, 0), None);
        assert_eq!(identify_second(&[0u8; SECOND_LEN], 1 << 30, 0), None);
        assert!(identify_head_all(&[0u8; 512], 512, 0).is_empty());
    }

    #[test]
    fn labels_are_trimmed_like_blkid() {
        assert_eq!(label(b"abc  \0xyz"), Some("abc".to_string()));
        assert_eq!(label(b"  a b \t\r\n"), Some("  a b".to_string()));
        assert_eq!(label(b"   \0"), None);
        assert_eq!(label(b""), None);
        assert_eq!(label(b"\xe9t\xe9"), Some("\u{fffd}t\u{fffd}".to_string()));
        let le: Vec<u8> = "Hé 😀 ".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(utf16_label(&le, Utf16::Le), Some("Hé 😀".to_string()));
        let be: Vec<u8> = "Über\0rest"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(utf16_label(&be, Utf16::Be), Some("Über".to_string()));
        // A lone high surrogate, then an odd trailing byte.
        assert_eq!(
            utf16_label(&[0xd8, 0x00, 0x00, 0x41, 0x00], Utf16::Be),
            Some("\u{fffd}\u{fffd}\u{fffd}A".to_string())
        );
    }

    #[test]
    fn vol_reads() {
        let b = [1u8, 2, 3, 4];
        let v = Vol::new(&b, 100, 1000);
        assert_eq!(v.read(100, 4), Read::Data(&b[..]));
        assert_eq!(v.read(102, 2), Read::Data(&b[2..]));
        assert_eq!(v.read(99, 2), Read::Unread);
        assert_eq!(v.read(103, 2), Read::Unread);
        assert_eq!(v.read(999, 2), Read::Beyond);
        assert_eq!(v.read(u64::MAX, 2), Read::Beyond);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..70_000),
            size in any::<u64>(),
        ) {
            let _ = identify_head(&bytes, size, 7);
            let _ = identify_head_all(&bytes, size, 7);
            let _ = identify_second(&bytes, size, 7);
            let _ = is_vfat(&bytes, size);
            let len = bytes.len() as u64;
            let _ = identify_head(&bytes, len, 0);
            let _ = identify_second(&bytes, len + SECOND_OFFSET, 0);
        }
    }
}
