//! The cpio "newc"/"crc" push parser: bytes in, entries out, file data skipped.
//!
//! It is fed the bytes of one member (raw for an uncompressed member,
//! decompressed otherwise) in chunks of any size, like the kernel's
//! `write_buffer` in `init/initramfs.c`, and keeps only names, modes, sizes,
//! symlink targets and the contents of the files the caller asked for.

use std::collections::BTreeMap;

use super::{Entry, EntryKind, Limits};

/// Length of a newc header: the 6-byte magic and 13 fields of 8 hex digits.
pub(crate) const HEADER_LEN: usize = 110;

/// The name that ends an archive.
const TRAILER: &[u8] = b"TRAILER!!!";

/// What the parser collects, across members.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// Every entry, in archive order.
    pub entries: Vec<Entry>,
    /// Contents of the requested files (normalized path -> bytes; a later entry wins).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Requested files not collected because they were larger than the cap.
    pub oversized: Vec<String>,
    /// Bytes held in `files`.
    pub collected_bytes: u64,
    /// Bytes fed to the parser so far, all members together.
    pub total_bytes: u64,
}

/// A parse failure: where in the member's stream and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CpioError {
    /// The bytes do not form a newc archive.
    Corrupt {
        /// Offset in the member's (decompressed) stream.
        at: u64,
        /// What is wrong.
        detail: String,
    },
    /// A limit of [`Limits`] was exceeded.
    Limit {
        /// What exceeded it.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between archives: zeros are skipped, a `0` at an aligned offset starts a header.
    Reset,
    /// Reading the 110-byte header.
    Header,
    /// Reading the name (namesize bytes, NUL included).
    Name,
    /// Skipping the padding after the name.
    NamePad,
    /// Reading or skipping the data.
    Data,
    /// Skipping the padding after the data.
    DataPad,
    /// An uncompressed member's archive ended: the parser consumes nothing more.
    Done,
}

/// Header fields kept while the name and data are read.
#[derive(Debug, Clone, Copy)]
struct Header {
    mode: u32,
    nlink: u32,
    filesize: u64,
    namesize: usize,
}

/// The push parser. One per [`read_entries`](super::read_entries) call;
/// [`CpioParser::begin_member`] resets the per-member state.
pub(crate) struct CpioParser<'a> {
    state: State,
    /// Offset in the current member's stream (alignment is relative to it).
    pos: u64,
    /// Stop after the first trailer (uncompressed members).
    stop_after_trailer: bool,
    hdr_buf: [u8; HEADER_LEN],
    hdr_len: usize,
    hdr: Option<Header>,
    /// Stream offset where the current entry's header began.
    entry_at: u64,
    name: Vec<u8>,
    /// The normalized name of the current entry.
    path: String,
    left: u64,
    /// Data of the current entry being kept (symlink target or wanted file).
    keep: Option<Vec<u8>>,
    /// Archives completed in this member.
    archives: u32,
    want: &'a dyn Fn(&str) -> bool,
    limits: Limits,
    /// The results.
    pub out: Collected,
}

impl<'a> CpioParser<'a> {
    /// A parser that keeps the files for which `want` says yes.
    pub fn new(want: &'a dyn Fn(&str) -> bool, limits: Limits) -> Self {
        CpioParser {
            state: State::Reset,
            pos: 0,
            stop_after_trailer: false,
            hdr_buf: [0; HEADER_LEN],
            hdr_len: 0,
            hdr: None,
            entry_at: 0,
            name: Vec::new(),
            path: String::new(),
            left: 0,
            keep: None,
            archives: 0,
            want,
            limits,
            out: Collected::default(),
        }
    }

    /// Start a member. An uncompressed member stops after its first trailer
    /// (the bytes after it belong to the next member); a decompressed one may
    /// hold several archives separated by zeros.
    pub fn begin_member(&mut self, stop_after_trailer: bool) {
        self.state = State::Reset;
        self.pos = 0;
        self.stop_after_trailer = stop_after_trailer;
        self.archives = 0;
        self.keep = None;
        self.hdr = None;
        self.hdr_len = 0;
    }

    /// Whether an uncompressed member's archive has ended.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Archives completed in the current member.
    pub fn archives(&self) -> u32 {
        self.archives
    }

    /// Check that the member's stream ended between archives (after a
    /// trailer, possibly followed by zeros), as the kernel requires.
    pub fn finish_member(&self) -> Result<(), CpioError> {
        match self.state {
            State::Reset | State::Done => Ok(()),
            s => Err(CpioError::Corrupt {
                at: self.pos,
                detail: format!(
                    "truncated: the stream ends {} (entry header at byte {})",
                    match s {
                        State::Header => "inside a header".to_string(),
                        State::Name => "inside an entry name".to_string(),
                        State::NamePad => format!("after the name of {:?}", self.path),
                        State::Data | State::DataPad =>
                            format!("inside the data of {:?}", self.path),
                        State::Reset | State::Done => unreachable!("matched above"),
                    },
                    self.entry_at
                ),
            }),
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> CpioError {
        CpioError::Corrupt {
            at: self.pos,
            detail: detail.into(),
        }
    }

    /// Feed bytes; returns how many were consumed (all of them, unless an
    /// uncompressed member's archive ended inside `data`).
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, CpioError> {
        let n = data.len() as u64;
        if self.out.total_bytes.saturating_add(n) > self.limits.max_total_bytes {
            return Err(CpioError::Limit {
                what: "decompressed size",
                limit: self.limits.max_total_bytes,
            });
        }
        let mut i = 0usize;
        while i < data.len() {
            let rest = &data[i..];
            let used = match self.state {
                State::Done => break,
                State::Reset => {
                    let zeros = rest.iter().take_while(|&&b| b == 0).count();
                    if zeros == rest.len() {
                        zeros
                    } else {
                        let b = rest[zeros];
                        let at = self.pos + zeros as u64;
                        if b == b'0' && at % 4 == 0 {
                            self.state = State::Header;
                            self.hdr_len = 0;
                            self.entry_at = at;
                            zeros
                        } else {
                            self.pos = at;
                            return Err(self.corrupt(if b == b'0' {
                                format!("broken padding: archive starts at unaligned byte {at}")
                            } else if self.archives > 0 {
                                format!("junk after the archive trailer (byte {b:#04x})")
                            } else {
                                format!("not a cpio archive (byte {b:#04x})")
                            }));
                        }
                    }
                }
                State::Header => {
                    let take = rest.len().min(HEADER_LEN - self.hdr_len);
                    self.hdr_buf[self.hdr_len..self.hdr_len + take].copy_from_slice(&rest[..take]);
                    self.hdr_len += take;
                    if self.hdr_len == HEADER_LEN {
                        // Position the error at the header's start.
                        let h = parse_header(&self.hdr_buf).map_err(|d| CpioError::Corrupt {
                            at: self.entry_at,
                            detail: d,
                        })?;
                        if h.namesize == 0 || h.namesize > self.limits.max_name {
                            return Err(CpioError::Corrupt {
                                at: self.entry_at,
                                detail: format!(
                                    "name size {} out of range (1..={})",
                                    h.namesize, self.limits.max_name
                                ),
                            });
                        }
                        self.hdr = Some(h);
                        self.name.clear();
                        self.state = State::Name;
                    }
                    take
                }
                State::Name => {
                    let h = self.hdr.expect("header parsed before name");
                    let take = rest.len().min(h.namesize - self.name.len());
                    self.name.extend_from_slice(&rest[..take]);
                    if self.name.len() == h.namesize {
                        self.pos += take as u64;
                        self.got_name(h)?;
                        self.pos -= take as u64;
                    }
                    take
                }
                State::NamePad | State::DataPad => {
                    let take = (rest.len() as u64).min(self.left) as usize;
                    self.left -= take as u64;
                    if self.left == 0 {
                        if self.state == State::NamePad {
                            self.start_data();
                        } else {
                            self.state = State::Header;
                            self.hdr_len = 0;
                            self.entry_at = self.pos + take as u64;
                        }
                    }
                    take
                }
                State::Data => {
                    let take = (rest.len() as u64).min(self.left) as usize;
                    if let Some(k) = self.keep.as_mut() {
                        k.extend_from_slice(&rest[..take]);
                    }
                    self.left -= take as u64;
                    if self.left == 0 {
                        self.pos += take as u64;
                        self.end_data();
                        self.pos -= take as u64;
                    }
                    take
                }
            };
            i += used;
            self.pos += used as u64;
            self.out.total_bytes += used as u64;
        }
        Ok(i)
    }

    /// The name is complete: record the entry or end the archive.
    fn got_name(&mut self, h: Header) -> Result<(), CpioError> {
        if self.name.last() != Some(&0) {
            return Err(CpioError::Corrupt {
                at: self.entry_at,
                detail: format!("entry name of {} bytes is not NUL-terminated", h.namesize),
            });
        }
        let raw = &self.name[..self.name.len() - 1];
        let raw = match raw.iter().position(|&b| b == 0) {
            Some(p) => &raw[..p],
            None => raw,
        };
        // header + name is padded to a multiple of 4
        let name_pad = pad4(HEADER_LEN as u64 + h.namesize as u64);
        if raw == TRAILER {
            if h.filesize != 0 {
                return Err(CpioError::Corrupt {
                    at: self.entry_at,
                    detail: format!("the trailer has {} bytes of data", h.filesize),
                });
            }
            self.archives += 1;
            self.path = "TRAILER!!!".into();
            self.left = name_pad;
            self.keep = None;
            self.hdr = None;
            if self.left == 0 {
                self.end_archive();
            } else {
                // Reuse DataPad with a zero-length body: after the pad, end the archive.
                self.state = State::NamePad;
            }
            return Ok(());
        }
        if self.out.entries.len() >= self.limits.max_entries {
            return Err(CpioError::Limit {
                what: "entry count",
                limit: self.limits.max_entries as u64,
            });
        }
        let path = normalize(&String::from_utf8_lossy(raw));
        let kind = EntryKind::from_mode(h.mode);
        self.keep = None;
        match kind {
            EntryKind::Symlink => {
                if h.filesize > self.limits.max_name as u64 {
                    return Err(CpioError::Corrupt {
                        at: self.entry_at,
                        detail: format!(
                            "symlink {path:?}: target of {} bytes is longer than {}",
                            h.filesize, self.limits.max_name
                        ),
                    });
                }
                self.keep = Some(Vec::with_capacity(h.filesize as usize));
            }
            EntryKind::File if (self.want)(&path) => {
                let budget = self
                    .limits
                    .max_collected_bytes
                    .saturating_sub(self.out.collected_bytes);
                if h.filesize > self.limits.max_file_bytes || h.filesize > budget {
                    tracing::debug!(
                        path,
                        size = h.filesize,
                        cap = self.limits.max_file_bytes,
                        "initramfs: wanted file too large, not kept"
                    );
                    self.out.oversized.push(path.clone());
                } else {
                    self.keep = Some(Vec::with_capacity(h.filesize as usize));
                }
            }
            _ => {}
        }
        self.out.entries.push(Entry {
            path: path.clone(),
            kind,
            mode: h.mode & 0o7777,
            size: h.filesize,
            nlink: h.nlink,
            link_target: None,
        });
        self.path = path;
        self.left = name_pad;
        if self.left == 0 {
            self.start_data();
        } else {
            self.state = State::NamePad;
        }
        Ok(())
    }

    fn start_data(&mut self) {
        match self.hdr {
            None => self.end_archive(), // the trailer's padding is done
            Some(h) => {
                self.left = h.filesize;
                if self.left == 0 {
                    self.end_data();
                } else {
                    self.state = State::Data;
                }
            }
        }
    }

    fn end_data(&mut self) {
        let h = self.hdr.take().expect("header of the current entry");
        if let Some(bytes) = self.keep.take() {
            let e = self
                .out
                .entries
                .last_mut()
                .expect("entry pushed at its name");
            if e.kind == EntryKind::Symlink {
                e.link_target = Some(String::from_utf8_lossy(&bytes).into_owned());
            } else {
                self.out.collected_bytes += bytes.len() as u64;
                if let Some(old) = self.out.files.insert(self.path.clone(), bytes) {
                    self.out.collected_bytes -= old.len() as u64;
                }
            }
        }
        self.left = pad4(h.filesize);
        if self.left == 0 {
            self.state = State::Header;
            self.hdr_len = 0;
            self.entry_at = self.pos;
        } else {
            self.state = State::DataPad;
        }
    }

    fn end_archive(&mut self) {
        self.state = if self.stop_after_trailer {
            State::Done
        } else {
            State::Reset
        };
    }
}

/// Bytes of padding that bring `n` to a multiple of 4.
fn pad4(n: u64) -> u64 {
    (4 - n % 4) % 4
}

/// Parse the 110-byte newc header; the error says what is wrong.
fn parse_header(b: &[u8; HEADER_LEN]) -> Result<Header, String> {
    let magic = &b[..6];
    if magic != b"070701" && magic != b"070702" {
        return Err(if magic == b"070707" {
            "old portable (odc) cpio header: the kernel reads only newc (070701/070702)".into()
        } else {
            format!(
                "bad cpio magic {:?} (want 070701 or 070702)",
                String::from_utf8_lossy(magic)
            )
        });
    }
    const FIELDS: [&str; 13] = [
        "ino",
        "mode",
        "uid",
        "gid",
        "nlink",
        "mtime",
        "filesize",
        "devmajor",
        "devminor",
        "rdevmajor",
        "rdevminor",
        "namesize",
        "check",
    ];
    let mut v = [0u32; 13];
    for (k, field) in FIELDS.iter().enumerate() {
        let s = &b[6 + 8 * k..6 + 8 * (k + 1)];
        let mut x: u32 = 0;
        for &c in s {
            let d = (c as char).to_digit(16).ok_or_else(|| {
                format!(
                    "header field {field} is not hexadecimal: {:?}",
                    String::from_utf8_lossy(s)
                )
            })?;
            x = (x << 4) | d;
        }
        v[k] = x;
    }
    Ok(Header {
        mode: v[1],
        nlink: v[4],
        filesize: v[6] as u64,
        namesize: v[11] as usize,
    })
}

/// The path of an entry as the kernel would create it relative to `/`:
/// leading `./` and `/` removed, `.` for the root itself.
pub(crate) fn normalize(name: &str) -> String {
    let mut s = name;
    loop {
        if let Some(r) = s.strip_prefix("./") {
            s = r;
        } else if let Some(r) = s.strip_prefix('/') {
            s = r;
        } else {
            break;
        }
    }
    let s = s.trim_end_matches('/');
    if s.is_empty() {
        ".".into()
    } else {
        s.into()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One newc entry (header, name, padding, data, padding).
    pub(crate) fn newc_entry(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
        let namesize = name.len() + 1;
        let mut v = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            namesize,
            0
        )
        .into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// A whole archive of `(name, mode, data)` with its trailer.
    pub(crate) fn newc_archive(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (n, m, d) in entries {
            v.extend(newc_entry(n, *m, d));
        }
        v.extend(newc_entry("TRAILER!!!", 0, b""));
        v
    }

    fn parse_all(bytes: &[u8], chunk: usize, stop: bool) -> Result<Collected, CpioError> {
        let want = |p: &str| p.ends_with("modules.builtin");
        let mut p = CpioParser::new(&want, Limits::default());
        p.begin_member(stop);
        for c in bytes.chunks(chunk.max(1)) {
            let n = p.feed(c)?;
            if p.done() {
                let _ = n;
                break;
            }
        }
        p.finish_member()?;
        Ok(p.out)
    }

    #[test]
    fn entries_symlinks_and_wanted_files_in_any_chunking() {
        let ar = newc_archive(&[
            (".", 0o40755, b""),
            (
                "./lib/modules/6.1.0/modules.builtin",
                0o100644,
                b"kernel/a.ko\n",
            ),
            ("bin", 0o120777, b"usr/bin"),
            ("usr/lib/big", 0o100600, b"12345"),
        ]);
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let out = parse_all(&ar, chunk, false).unwrap();
            let paths: Vec<&str> = out.entries.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(
                paths,
                [
                    ".",
                    "lib/modules/6.1.0/modules.builtin",
                    "bin",
                    "usr/lib/big"
                ]
            );
            assert_eq!(out.entries[2].link_target.as_deref(), Some("usr/bin"));
            assert_eq!(out.entries[2].kind, EntryKind::Symlink);
            assert_eq!(out.entries[0].kind, EntryKind::Dir);
            assert_eq!(out.entries[3].size, 5);
            assert_eq!(out.entries[3].mode, 0o600);
            assert_eq!(
                out.files.get("lib/modules/6.1.0/modules.builtin").unwrap(),
                b"kernel/a.ko\n"
            );
            assert_eq!(out.files.len(), 1);
        }
    }

    #[test]
    fn uncompressed_member_stops_at_trailer() {
        let mut ar = newc_archive(&[("a", 0o100644, b"x")]);
        let end = ar.len();
        ar.extend_from_slice(&[0x1f, 0x8b, 8, 0]);
        let want = |_: &str| false;
        let mut p = CpioParser::new(&want, Limits::default());
        p.begin_member(true);
        let n = p.feed(&ar).unwrap();
        assert_eq!(n, end);
        assert!(p.done());
    }

    #[test]
    fn several_archives_with_zero_padding_in_one_stream() {
        let mut s = newc_archive(&[("a", 0o100644, b"x")]);
        s.extend_from_slice(&[0; 512]);
        s.extend(newc_archive(&[("b", 0o100644, b"yy")]));
        s.extend_from_slice(&[0; 100]);
        let out = parse_all(&s, 13, false).unwrap();
        assert_eq!(out.entries.len(), 2);
    }

    #[test]
    fn errors() {
        let ar = newc_archive(&[("abc", 0o100644, b"data")]);
        // truncated
        let e = parse_all(&ar[..ar.len() - 20], 5, false).unwrap_err();
        assert!(
            matches!(&e, CpioError::Corrupt { detail, .. } if detail.contains("truncated")),
            "{e:?}"
        );
        // bad magic
        let mut bad = ar.clone();
        bad[5] = b'7';
        let e = parse_all(&bad, 5, false).unwrap_err();
        assert!(
            matches!(&e, CpioError::Corrupt { at: 0, detail } if detail.contains("odc")),
            "{e:?}"
        );
        // huge name
        let mut bad = ar.clone();
        bad[94..102].copy_from_slice(b"7fffffff");
        let e = parse_all(&bad, 5, false).unwrap_err();
        assert!(
            matches!(&e, CpioError::Corrupt { detail, .. } if detail.contains("name size")),
            "{e:?}"
        );
        // non-hex
        let mut bad = ar.clone();
        bad[10] = b'g';
        let e = parse_all(&bad, 5, false).unwrap_err();
        assert!(
            matches!(&e, CpioError::Corrupt { detail, .. } if detail.contains("ino")),
            "{e:?}"
        );
        // junk after trailer in a stream
        let mut bad = ar.clone();
        bad.extend_from_slice(b"\0\0\0\0junk");
        let e = parse_all(&bad, 5, false).unwrap_err();
        assert!(
            matches!(&e, CpioError::Corrupt { detail, .. } if detail.contains("junk")),
            "{e:?}"
        );
    }

    #[test]
    fn limits() {
        let ar = newc_archive(&[
            ("a", 0o100644, b""),
            ("b", 0o100644, b""),
            ("c", 0o100644, b""),
        ]);
        let want = |_: &str| false;
        let mut p = CpioParser::new(
            &want,
            Limits {
                max_entries: 2,
                ..Limits::default()
            },
        );
        p.begin_member(false);
        assert_eq!(
            p.feed(&ar).unwrap_err(),
            CpioError::Limit {
                what: "entry count",
                limit: 2
            }
        );
        let mut p = CpioParser::new(
            &want,
            Limits {
                max_total_bytes: 100,
                ..Limits::default()
            },
        );
        p.begin_member(false);
        assert!(matches!(p.feed(&ar), Err(CpioError::Limit { .. })));
    }

    #[test]
    fn normalize_names() {
        assert_eq!(normalize("."), ".");
        assert_eq!(normalize("./"), ".");
        assert_eq!(normalize("./usr/lib"), "usr/lib");
        assert_eq!(normalize("/etc/x"), "etc/x");
        assert_eq!(normalize("bin"), "bin");
    }
}
