//! Listing Linux initramfs images (L4): members, cpio entries, module names, small files.
//!
//! An initramfs image is what the kernel's `init/initramfs.c`
//! (`unpack_to_rootfs`) unpacks: a sequence of *members*, each either
//!
//! - an uncompressed cpio archive starting with `07070` at a 4-byte aligned
//!   offset (early microcode, dracut's early cpio), ending with its
//!   `TRAILER!!!` entry, or
//! - a compressed stream (gzip, xz, lzma, bzip2, lz4 legacy or frame, zstd,
//!   detected by magic) whose content is one or more cpio archives separated
//!   by zeros, the stream ending after a trailer;
//!
//! with zero bytes allowed between members. The archives are `newc` or
//! `crc` (`070701`/`070702`); the old `odc` format is refused, as the kernel
//! does.
//!
//! [`read_entries`] reads an image as a stream: file data is skipped, never
//! held, except the contents of the regular files the caller asks for (up to
//! a cap each) and symlink targets. The whole decompressed image is never in
//! memory. Every length read from the image is bounded ([`Limits`]: name
//! length, entry count, total decompressed size, member count, collected
//! bytes); corrupt input is an [`InitramfsError`] naming the member's offset
//! in the image and what was wrong, never a panic.
//!
//! Entry paths are normalized as the kernel resolves them against `/`:
//! `./usr/lib` and `/usr/lib` are `usr/lib`, the root is `.`.
//!
//! Decoders (the reasons are in `compress.rs`): flate2 with miniz_oxide
//! (gzip), lzma-rust2 (xz, lzma), bzip2 with libbz2-rs-sys, lz4_flex's block
//! decoder under a container parser of our own (lz4 legacy and frame),
//! ruzstd (zstd). All pure Rust, all streaming.

mod compress;
mod cpio;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::ops::Range;

use serde::Serialize;

pub use compress::Compression;
use compress::{DecodeError, Magic, Sink, Source};
use cpio::{CpioError, CpioParser};

/// Longest entry name or symlink target, NUL included (the kernel's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Bounds on what an image may make the reader hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest entry name (namesize, NUL included) and symlink target.
    pub max_name: usize,
    /// Most entries, all members together.
    pub max_entries: usize,
    /// Most decompressed bytes, all members together.
    pub max_total_bytes: u64,
    /// Most members (uncompressed archives and compressed streams).
    pub max_members: usize,
    /// Largest single file kept for [`Initramfs::files`]; larger wanted files
    /// are listed in [`Initramfs::oversized`].
    pub max_file_bytes: u64,
    /// Most bytes kept in [`Initramfs::files`] altogether.
    pub max_collected_bytes: u64,
}

impl Default for Limits {
    /// `PATH_MAX` names, 1 Mi entries, 4 GiB decompressed, 1024 members,
    /// 1 MiB per kept file, 64 MiB kept in all.
    fn default() -> Self {
        Limits {
            max_name: PATH_MAX,
            max_entries: 1 << 20,
            max_total_bytes: 4 << 30,
            max_members: 1024,
            max_file_bytes: 1 << 20,
            max_collected_bytes: 64 << 20,
        }
    }
}

/// The type of a cpio entry, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link (the target is the entry's data).
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
    /// A file type the kernel would not create (the mode's type bits).
    Other(u32),
}

impl EntryKind {
    /// The kind of a `st_mode`.
    pub fn from_mode(mode: u32) -> Self {
        match mode & 0o170000 {
            0o100000 => EntryKind::File,
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            0o020000 => EntryKind::CharDevice,
            0o060000 => EntryKind::BlockDevice,
            0o010000 => EntryKind::Fifo,
            0o140000 => EntryKind::Socket,
            t => EntryKind::Other(t),
        }
    }
}

/// One entry of a cpio archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The normalized path (no leading `./` or `/`; `.` for the root).
    pub path: String,
    /// The entry's type.
    pub kind: EntryKind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// The data size in the archive. For a set of hard links only one entry
    /// (GNU cpio: the last) carries the data; the others have size 0.
    pub size: u64,
    /// The link count from the header.
    pub nlink: u32,
    /// For a symlink, its target as stored (lossy UTF-8).
    pub link_target: Option<String>,
}

/// One member of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Offset of the member in the image.
    pub offset: u64,
    /// Offset just after the member (compressed end) in the image.
    pub end: u64,
    /// How the member is compressed.
    pub compression: Compression,
    /// Bytes of cpio data in the member (decompressed size).
    pub cpio_bytes: u64,
    /// The member's entries: a range of [`Initramfs::entries`].
    pub entries: Range<usize>,
}

/// What an initramfs image holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Initramfs {
    /// The members in image order.
    pub members: Vec<Member>,
    /// Every entry of every member, in image order (duplicates kept, as
    /// `cpio -t` lists them; the kernel lets a later one replace an earlier).
    pub entries: Vec<Entry>,
    /// Contents of the regular files the caller asked for (normalized path;
    /// a later entry of the same path wins).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Files the caller asked for that were larger than the cap, not kept.
    pub oversized: Vec<String>,
}

/// Why an image could not be read. Each variant names the member's offset in
/// the image.
#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    /// Reading the image failed.
    #[error("initramfs: read error at byte {offset}: {source}")]
    Io {
        /// Offset in the image where reading failed.
        offset: u64,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A compressed stream is corrupt or truncated.
    #[error("initramfs member at byte {member} ({compression}): {detail}")]
    Decompress {
        /// Offset of the member in the image.
        member: u64,
        /// Its compression.
        compression: Compression,
        /// What the decoder said.
        detail: String,
    },
    /// The cpio data is malformed.
    #[error("initramfs member at byte {member} ({compression}): cpio at byte {at} of the member's {}: {detail}",
        if *.compression == Compression::None { "data" } else { "decompressed data" })]
    Cpio {
        /// Offset of the member in the image.
        member: u64,
        /// Its compression.
        compression: Compression,
        /// Offset inside the member's (decompressed) data.
        at: u64,
        /// What is wrong.
        detail: String,
    },
    /// The bytes at a member's start are neither cpio nor a known compression.
    #[error("initramfs member at byte {member}: unknown data (first bytes {first_bytes}): neither a cpio archive at an aligned offset nor a known compression")]
    BadMagic {
        /// Offset of the member in the image.
        member: u64,
        /// The first bytes, in hex.
        first_bytes: String,
    },
    /// A compression the kernel may know but Hydra does not read.
    #[error("initramfs member at byte {member}: {what} compression is not supported")]
    Unsupported {
        /// Offset of the member in the image.
        member: u64,
        /// The compression.
        what: &'static str,
    },
    /// A bound of [`Limits`] was exceeded.
    #[error("initramfs member at byte {member}: {what} exceeds the limit of {limit}")]
    Limit {
        /// Offset of the member in the image.
        member: u64,
        /// What exceeded it.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

impl InitramfsError {
    /// Offset in the image of the member the error is about.
    pub fn member_offset(&self) -> u64 {
        match self {
            InitramfsError::Io { offset, .. } => *offset,
            InitramfsError::Decompress { member, .. }
            | InitramfsError::Cpio { member, .. }
            | InitramfsError::BadMagic { member, .. }
            | InitramfsError::Unsupported { member, .. }
            | InitramfsError::Limit { member, .. } => *member,
        }
    }
}

/// Module names from a path: `.../hv_vmbus.ko`, `.ko.xz`, `.ko.zst`,
/// `.ko.gz` give `hv_vmbus`; `-` becomes `_` as modprobe does.
pub fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz", ".ko.bz2"]
        .iter()
        .find_map(|s| base.strip_suffix(s))?;
    (!stem.is_empty()).then(|| stem.replace('-', "_"))
}

/// The kernel version `K` when `path` is under `lib/modules/K/` or
/// `usr/lib/modules/K/` (a normalized path), with the rest of the path.
fn under_modules(path: &str) -> Option<(&str, &str)> {
    let rest = path
        .strip_prefix("usr/lib/modules/")
        .or_else(|| path.strip_prefix("lib/modules/"))?;
    let (k, rel) = rest.split_once('/')?;
    (!k.is_empty()).then_some((k, rel))
}

/// A `want` predicate for [`read_entries`] that keeps what kernel-module
/// checks need: `lib/modules/*/modules.builtin` (and under `usr/lib`).
pub fn want_module_lists(path: &str) -> bool {
    matches!(under_modules(path), Some((_, "modules.builtin")))
}

impl Initramfs {
    /// Names of the kernel modules present as files under `lib/modules/`
    /// or `usr/lib/modules/` (any kernel version), normalized (`-` -> `_`).
    pub fn modules(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::File && under_modules(&e.path).is_some())
            .filter_map(|e| module_name(&e.path))
            .collect()
    }

    /// Names of the modules listed in the image's `modules.builtin` files
    /// (kept only when [`read_entries`]' `want` asked for them, e.g. with
    /// [`want_module_lists`]).
    pub fn builtin_modules(&self) -> BTreeSet<String> {
        self.files
            .iter()
            .filter(|(p, _)| want_module_lists(p))
            .flat_map(|(_, bytes)| {
                String::from_utf8_lossy(bytes)
                    .lines()
                    .filter_map(|l| module_name(l.trim()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Like [`Initramfs::modules`], only those under `lib/modules/<kernel>/`
    /// (or `usr/lib/modules/<kernel>/`).
    pub fn modules_of(&self, kernel: &str) -> BTreeSet<String> {
        self.entries
            .iter()
            .filter(|e| {
                e.kind == EntryKind::File
                    && under_modules(&e.path).is_some_and(|(k, _)| k == kernel)
            })
            .filter_map(|e| module_name(&e.path))
            .collect()
    }

    /// Like [`Initramfs::builtin_modules`], only from
    /// `lib/modules/<kernel>/modules.builtin` (or under `usr/lib`).
    pub fn builtin_modules_of(&self, kernel: &str) -> BTreeSet<String> {
        self.files
            .iter()
            .filter(
                |(p, _)| matches!(under_modules(p), Some((k, "modules.builtin")) if k == kernel),
            )
            .flat_map(|(_, bytes)| {
                String::from_utf8_lossy(bytes)
                    .lines()
                    .filter_map(|l| module_name(l.trim()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The kernel versions `K` that have a `lib/modules/K` (or
    /// `usr/lib/modules/K`) directory or file in the image.
    pub fn kernel_versions(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .filter_map(|e| {
                let p = e.path.as_str();
                let rest = p
                    .strip_prefix("usr/lib/modules/")
                    .or_else(|| p.strip_prefix("lib/modules/"))?;
                let k = rest.split('/').next()?;
                (!k.is_empty()).then(|| k.to_string())
            })
            .collect()
    }
}

/// Read an initramfs image with the default [`Limits`], keeping the regular
/// files for which `want(path)` is true and that are at most `cap` bytes.
pub fn read_entries<R: Read>(
    reader: R,
    want: impl Fn(&str) -> bool,
    cap: u64,
) -> Result<Initramfs, InitramfsError> {
    read_entries_with(
        reader,
        want,
        Limits {
            max_file_bytes: cap,
            ..Limits::default()
        },
    )
}

/// The cpio parser as the decoders' sink.
struct ParserSink<'p, 'a>(&'p mut CpioParser<'a>);

impl Sink for ParserSink<'_, '_> {
    type Error = CpioError;
    fn put(&mut self, data: &[u8]) -> Result<(), CpioError> {
        self.0.feed(data).map(|_| ())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Read an initramfs image with explicit [`Limits`].
pub fn read_entries_with<R: Read>(
    reader: R,
    want: impl Fn(&str) -> bool,
    limits: Limits,
) -> Result<Initramfs, InitramfsError> {
    let mut src = Source::new(reader);
    let mut parser = CpioParser::new(&want, limits);
    let mut members = Vec::new();
    let io_err = |src: &mut Source<R>, e: std::io::Error| InitramfsError::Io {
        offset: src.offset(),
        source: src.failed.take().unwrap_or(e),
    };
    loop {
        // Skip zeros between members.
        loop {
            let buf = match src.fill_buf() {
                Ok(b) => b,
                Err(e) => return Err(io_err(&mut src, e)),
            };
            if buf.is_empty() {
                break;
            }
            let z = buf.iter().take_while(|&&b| b == 0).count();
            let all = z == buf.len();
            src.consume(z);
            if !all {
                break;
            }
        }
        let member = src.offset();
        let head = match src.peek(6) {
            Ok(h) => h.to_vec(),
            Err(e) => return Err(io_err(&mut src, e)),
        };
        if head.is_empty() {
            break;
        }
        if members.len() >= limits.max_members {
            return Err(InitramfsError::Limit {
                member,
                what: "member count",
                limit: limits.max_members as u64,
            });
        }
        let first_entry = parser.out.entries.len();
        let bytes_before = parser.out.total_bytes;
        let cpio_err = |compression, e: CpioError| match e {
            CpioError::Corrupt { at, detail } => InitramfsError::Cpio {
                member,
                compression,
                at,
                detail,
            },
            CpioError::Limit { what, limit } => InitramfsError::Limit {
                member,
                what,
                limit,
            },
        };
        let compression = if head[0] == b'0' && member % 4 == 0 {
            // An uncompressed archive: feed raw bytes until its trailer.
            parser.begin_member(true);
            loop {
                let buf = match src.fill_buf() {
                    Ok(b) => b,
                    Err(e) => return Err(io_err(&mut src, e)),
                };
                if buf.is_empty() {
                    break;
                }
                let n = parser
                    .feed(buf)
                    .map_err(|e| cpio_err(Compression::None, e))?;
                src.consume(n);
                if parser.done() {
                    break;
                }
            }
            parser
                .finish_member()
                .map_err(|e| cpio_err(Compression::None, e))?;
            Compression::None
        } else {
            let comp = match compress::detect(&head) {
                Magic::Known(c) => c,
                Magic::Unsupported(what) => {
                    return Err(InitramfsError::Unsupported { member, what })
                }
                Magic::Unknown => {
                    return Err(InitramfsError::BadMagic {
                        member,
                        first_bytes: hex(&head),
                    })
                }
            };
            tracing::debug!(offset = member, compression = %comp, "initramfs: compressed member");
            parser.begin_member(false);
            let r = compress::decode_member(&mut src, comp, &mut ParserSink(&mut parser));
            if let Some(e) = src.failed.take() {
                return Err(InitramfsError::Io {
                    offset: src.offset(),
                    source: e,
                });
            }
            match r {
                Ok(()) => {}
                Err(DecodeError::Sink(e)) => return Err(cpio_err(comp, e)),
                Err(DecodeError::Corrupt(detail)) => {
                    return Err(InitramfsError::Decompress {
                        member,
                        compression: comp,
                        detail,
                    })
                }
            }
            parser.finish_member().map_err(|e| cpio_err(comp, e))?;
            if parser.archives() == 0 {
                tracing::debug!(
                    offset = member,
                    "initramfs: compressed member holds no archive"
                );
            }
            comp
        };
        members.push(Member {
            offset: member,
            end: src.offset(),
            compression,
            cpio_bytes: parser.out.total_bytes - bytes_before,
            entries: first_entry..parser.out.entries.len(),
        });
    }
    let out = parser.out;
    tracing::debug!(
        members = members.len(),
        entries = out.entries.len(),
        files = out.files.len(),
        "initramfs read"
    );
    Ok(Initramfs {
        members,
        entries: out.entries,
        files: out.files,
        oversized: out.oversized,
    })
}

#[cfg(test)]
mod tests;
