//! Compression of initramfs members: detection by magic and streaming decoders.
//!
//! Every decoder reads the image through [`Source`], a buffered reader that
//! counts the bytes consumed and can take back bytes a decoder read ahead, so
//! the next member starts exactly where the compressed stream ended (the
//! kernel goes on after the end of a compressed stream too).
//!
//! Crates (all pure Rust, all streaming with bounded memory):
//! - gzip: `flate2` with the `miniz_oxide` backend; its `bufread` decoder
//!   consumes exactly the gzip member.
//! - xz and legacy .lzma: `lzma-rust2` (a port of XZ for Java). `lzma-rs` was
//!   rejected: its xz decoder holds a whole block (for `xz` one block is the
//!   whole image) in memory and refuses data after the stream. Dictionary
//!   sizes are limited with the crate's memory limit.
//! - bzip2: `bzip2` 0.6, whose default backend is `libbz2-rs-sys`, the
//!   pure-Rust port of libbzip2.
//! - lz4: `lz4_flex`'s block decoder, with the container parsed here: the
//!   kernel's *legacy* format (magic `0x184C2102`, `lz4 -l`) has no end
//!   marker, and `lz4_flex`'s frame reader reads on into whatever follows a
//!   frame. The frame's header, block and content checksums (xxHash32) are
//!   checked with `twox-hash`; the legacy format has none.
//! - zstd: `ruzstd`, whose streaming decoder reads a frame exactly; window
//!   sizes above 128 MiB (zstd's own default decoding limit) are refused,
//!   and the content checksum, which ruzstd leaves to the caller, is checked.
//!
//! Several streams of the same format back to back (`cat a.gz b.gz`, zstd
//! skippable frames) are decoded as one member, as `gzip -d` and `zstd -d` do.

use std::fmt;
use std::io::{self, BufRead, Read};

use serde::Serialize;
use std::hash::Hasher;
use twox_hash::XxHash32;

/// Compression of one member of an initramfs image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Compression {
    /// An uncompressed cpio archive (early microcode, dracut's early cpio).
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// xz (`fd 37 7a 58 5a 00`); the kernel writes `--check=crc32`.
    Xz,
    /// Legacy .lzma (`5d 00`).
    Lzma,
    /// bzip2 (`BZh`).
    Bzip2,
    /// The kernel's legacy lz4 format (`02 21 4c 18`, `lz4 -l`).
    Lz4Legacy,
    /// The lz4 frame format (`04 22 4d 18`).
    Lz4Frame,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The name used in messages (`gzip`, `lz4-legacy`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Bzip2 => "bzip2",
            Compression::Lz4Legacy => "lz4-legacy",
            Compression::Lz4Frame => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
const LZ4_FRAME_MAGIC: u32 = 0x184D_2204;
const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// Legacy lz4 blocks decompress to at most 8 MiB.
const LZ4_LEGACY_BLOCK: usize = 8 << 20;
/// `LZ4_compressBound(8 MiB)`: the largest compressed legacy block.
const LZ4_LEGACY_BOUND: usize = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK / 255 + 16;
/// The largest zstd window accepted (zstd's default `--memory` limit).
const ZSTD_MAX_WINDOW: u64 = 128 << 20;
/// Memory limit for xz and lzma dictionaries, in KiB (256 MiB; the kernel's
/// own xz decoder allows far less).
const LZMA_MEM_LIMIT_KB: u32 = 256 << 10;

/// What the first bytes of a member say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Magic {
    /// A known compression.
    Known(Compression),
    /// A compression the kernel knows that Hydra does not read (`lzo`).
    Unsupported(&'static str),
    /// Nothing known.
    Unknown,
}

fn is_zstd_skippable(m: u32) -> bool {
    m & 0xFFFF_FFF0 == 0x184D_2A50
}

/// Detect the compression from the first bytes (at least 6 when available).
pub(crate) fn detect(head: &[u8]) -> Magic {
    let m32 = (head.len() >= 4).then(|| u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
    if head.starts_with(&[0x1f, 0x8b]) {
        Magic::Known(Compression::Gzip)
    } else if head.starts_with(XZ_MAGIC) {
        Magic::Known(Compression::Xz)
    } else if head.starts_with(b"BZh") && head.len() >= 4 && (b'1'..=b'9').contains(&head[3]) {
        Magic::Known(Compression::Bzip2)
    } else if head.starts_with(&[0x5d, 0x00]) {
        Magic::Known(Compression::Lzma)
    } else if m32 == Some(LZ4_LEGACY_MAGIC) {
        Magic::Known(Compression::Lz4Legacy)
    } else if m32 == Some(LZ4_FRAME_MAGIC) {
        Magic::Known(Compression::Lz4Frame)
    } else if m32 == Some(ZSTD_MAGIC) || m32.is_some_and(is_zstd_skippable) {
        Magic::Known(Compression::Zstd)
    } else if head.starts_with(&[0x1f, 0x9e]) {
        Magic::Unsupported("old gzip (1f 9e)")
    } else if head.starts_with(b"\x89LZO") {
        Magic::Unsupported("lzo")
    } else {
        Magic::Unknown
    }
}

/// The image reader: buffered, counting, with push-back.
pub(crate) struct Source<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    /// Offset in the image of `buf[pos]`.
    offset: u64,
    /// The first I/O error of the inner reader (decoders wrap errors; this
    /// tells a failing disk from corrupt data).
    pub failed: Option<io::Error>,
}

const SOURCE_CHUNK: usize = 64 << 10;

impl<R: Read> Source<R> {
    pub fn new(inner: R) -> Self {
        Source {
            inner,
            buf: Vec::new(),
            pos: 0,
            offset: 0,
            failed: None,
        }
    }

    /// Offset in the image of the next byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn read_more(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + SOURCE_CHUNK, 0);
        loop {
            match self.inner.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    let copy = io::Error::new(e.kind(), e.to_string());
                    self.failed = Some(e);
                    return Err(copy);
                }
            }
        }
    }

    /// The next `n` bytes or fewer at the end of the input, not consumed.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.buf.len() - self.pos < n {
            if self.read_more()? == 0 {
                break;
            }
        }
        let end = self.buf.len().min(self.pos + n);
        Ok(&self.buf[self.pos..end])
    }

    /// Give back bytes a decoder read but did not use: they are read again next.
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.pos >= bytes.len() && &self.buf[self.pos - bytes.len()..self.pos] == bytes {
            self.pos -= bytes.len();
        } else {
            let mut v = bytes.to_vec();
            v.extend_from_slice(&self.buf[self.pos..]);
            self.buf = v;
            self.pos = 0;
        }
        self.offset = self.offset.saturating_sub(bytes.len() as u64);
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.read_more()?;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.buf.len() - self.pos);
        self.pos += amt;
        self.offset += amt as u64;
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Why a member could not be decoded.
#[derive(Debug)]
pub(crate) enum DecodeError<E> {
    /// The compressed stream is corrupt or truncated.
    Corrupt(String),
    /// The sink (the cpio parser) refused the bytes.
    Sink(E),
}

/// Where decoded bytes go; returning an error stops decoding.
pub(crate) trait Sink {
    /// The sink's error.
    type Error;
    /// Take decoded bytes.
    fn put(&mut self, data: &[u8]) -> Result<(), Self::Error>;
}

fn corrupt<E>(what: &str, e: impl fmt::Display) -> DecodeError<E> {
    DecodeError::Corrupt(format!("{what}: {e}"))
}

/// Pump a decoder into the sink until its end.
fn pump<E>(
    dec: &mut dyn Read,
    what: &str,
    buf: &mut [u8],
    sink: &mut dyn Sink<Error = E>,
) -> Result<(), DecodeError<E>> {
    loop {
        let n = match dec.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(corrupt(what, format!("truncated: {e}")))
            }
            Err(e) => return Err(corrupt(what, e)),
        };
        sink.put(&buf[..n]).map_err(DecodeError::Sink)?;
    }
}

/// Decode the compressed member at the source's position (whose magic said
/// `comp`) into `sink`, with any further streams of the same format that
/// follow directly. The source is left just after the last stream.
pub(crate) fn decode_member<R: Read, E>(
    src: &mut Source<R>,
    comp: Compression,
    sink: &mut dyn Sink<Error = E>,
) -> Result<(), DecodeError<E>> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match comp {
            Compression::None => unreachable!("uncompressed members are not decoded"),
            Compression::Gzip => {
                let mut d = flate2::bufread::GzDecoder::new(&mut *src);
                pump(&mut d, "gzip", &mut buf, sink)?;
            }
            Compression::Bzip2 => {
                let mut d = bzip2::bufread::BzDecoder::new(&mut *src);
                pump(&mut d, "bzip2", &mut buf, sink)?;
            }
            Compression::Xz => {
                let mut d =
                    lzma_rust2::XzReader::new_mem_limit(&mut *src, false, LZMA_MEM_LIMIT_KB);
                pump(&mut d, "xz", &mut buf, sink)?;
            }
            Compression::Lzma => {
                let mut d =
                    lzma_rust2::LzmaReader::new_mem_limit(&mut *src, LZMA_MEM_LIMIT_KB, None)
                        .map_err(|e| corrupt("lzma header", e))?;
                pump(&mut d, "lzma", &mut buf, sink)?;
                let (_, unused) = d.into_parts();
                src.unread(&unused);
            }
            Compression::Zstd => zstd_frame(src, &mut buf, sink)?,
            Compression::Lz4Legacy => lz4_legacy(src, sink)?,
            Compression::Lz4Frame => lz4_frame(src, sink)?,
        }
        // Another stream of the same format right after: same member.
        let head = src.peek(6).map_err(|e| corrupt(comp.name(), e))?;
        if detect(head) != Magic::Known(comp) || head.len() < 4 {
            return Ok(());
        }
        tracing::debug!(
            offset = src.offset(),
            compression = %comp,
            "initramfs: another stream of the same format follows"
        );
    }
}

fn zstd_frame<R: Read, E>(
    src: &mut Source<R>,
    buf: &mut [u8],
    sink: &mut dyn Sink<Error = E>,
) -> Result<(), DecodeError<E>> {
    let head = src.peek(8).map_err(|e| corrupt("zstd", e))?;
    if head.len() >= 8
        && is_zstd_skippable(u32::from_le_bytes([head[0], head[1], head[2], head[3]]))
    {
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
        src.consume(8);
        let skipped = io::copy(&mut (&mut *src).take(len), &mut io::sink())
            .map_err(|e| corrupt("zstd skippable frame", e))?;
        if skipped != len {
            return Err(corrupt("zstd skippable frame", "truncated"));
        }
        return Ok(());
    }
    let head = src.peek(18).map_err(|e| corrupt("zstd", e))?;
    if let Some(window) = zstd_window(head) {
        if window > ZSTD_MAX_WINDOW {
            return Err(corrupt(
                "zstd",
                format!("window of {window} bytes is larger than {ZSTD_MAX_WINDOW}"),
            ));
        }
    }
    let mut d = ruzstd::decoding::StreamingDecoder::new(&mut *src)
        .map_err(|e| corrupt("zstd frame header", e))?;
    pump(&mut d, "zstd", buf, sink)?;
    // ruzstd reads the content checksum but leaves checking it to the caller.
    let stored = d.decoder.get_checksum_from_data();
    let computed = d.decoder.get_calculated_checksum();
    if let (Some(stored), Some(computed)) = (stored, computed) {
        if stored != computed {
            return Err(corrupt(
                "zstd",
                format!(
                    "content checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                ),
            ));
        }
    }
    Ok(())
}

/// The window size a zstd frame header asks for (RFC 8878 3.1.1.1), when
/// the header is complete in `h` (magic included).
fn zstd_window(h: &[u8]) -> Option<u64> {
    let fhd = *h.get(4)?;
    let single_segment = fhd & 0x20 != 0;
    if !single_segment {
        let wd = *h.get(5)?;
        let base = 1u64 << (10 + (wd >> 3) as u32);
        return Some(base + (base / 8) * (wd & 7) as u64);
    }
    // Single segment: the window is the content size.
    let dict_len = [0usize, 1, 2, 4][(fhd & 3) as usize];
    let at = 5 + dict_len;
    let fcs = match fhd >> 6 {
        0 => *h.get(at)? as u64,
        1 => u16::from_le_bytes(h.get(at..at + 2)?.try_into().ok()?) as u64 + 256,
        2 => u32::from_le_bytes(h.get(at..at + 4)?.try_into().ok()?) as u64,
        _ => u64::from_le_bytes(h.get(at..at + 8)?.try_into().ok()?),
    };
    Some(fcs)
}

fn read_u32<R: Read, E>(src: &mut Source<R>, what: &str) -> Result<Option<u32>, DecodeError<E>> {
    let b = src.peek(4).map_err(|e| corrupt(what, e))?;
    if b.len() < 4 {
        return Ok(None);
    }
    Ok(Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

fn read_exact_vec<R: Read, E>(
    src: &mut Source<R>,
    len: usize,
    what: &str,
) -> Result<Vec<u8>, DecodeError<E>> {
    let mut v = Vec::with_capacity(len);
    (&mut *src)
        .take(len as u64)
        .read_to_end(&mut v)
        .map_err(|e| corrupt(what, e))?;
    if v.len() != len {
        return Err(corrupt(
            what,
            format!("truncated: block of {len} bytes, {} present", v.len()),
        ));
    }
    Ok(v)
}

/// The kernel's legacy lz4 format: the magic, then blocks of
/// `[le32 compressed size][lz4 block]`, each decompressing to 8 MiB except
/// the last, with no end marker. The kernel also accepts the magic again
/// between blocks. The stream ends at the end of the input, at a zero or
/// over-large size word (padding or the next member), or after a short block
/// not followed by a block.
fn lz4_legacy<R: Read, E>(
    src: &mut Source<R>,
    sink: &mut dyn Sink<Error = E>,
) -> Result<(), DecodeError<E>> {
    src.consume(4); // magic, checked by detect()
    let mut out = vec![0u8; LZ4_LEGACY_BLOCK];
    let mut last_short = false;
    loop {
        let Some(size) = read_u32(src, "lz4-legacy")? else {
            return Ok(());
        };
        if size == LZ4_LEGACY_MAGIC {
            src.consume(4);
            last_short = false;
            continue;
        }
        if last_short || size == 0 || size as usize > LZ4_LEGACY_BOUND {
            return Ok(());
        }
        src.consume(4);
        let block = read_exact_vec(src, size as usize, "lz4-legacy")?;
        let n = lz4_flex::block::decompress_into(&block, &mut out)
            .map_err(|e| corrupt("lz4-legacy block", e))?;
        sink.put(&out[..n]).map_err(DecodeError::Sink)?;
        last_short = n < LZ4_LEGACY_BLOCK;
    }
}

/// One lz4 frame (magic `04 22 4d 18`): header, blocks, end mark, optional
/// content checksum.
fn lz4_frame<R: Read, E>(
    src: &mut Source<R>,
    sink: &mut dyn Sink<Error = E>,
) -> Result<(), DecodeError<E>> {
    const WHAT: &str = "lz4 frame";
    let hdr = src.peek(7).map_err(|e| corrupt(WHAT, e))?.to_vec();
    if hdr.len() < 7 {
        return Err(corrupt(WHAT, "truncated header"));
    }
    let (flg, bd) = (hdr[4], hdr[5]);
    if flg >> 6 != 1 {
        return Err(corrupt(WHAT, format!("unsupported version {}", flg >> 6)));
    }
    let independent = flg & 0x20 != 0;
    let block_checksum = flg & 0x10 != 0;
    let content_size = flg & 0x08 != 0;
    let content_checksum = flg & 0x04 != 0;
    let dict_id = flg & 0x01 != 0;
    let max_block = match (bd >> 4) & 7 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        x => return Err(corrupt(WHAT, format!("bad block size code {x}"))),
    };
    if dict_id {
        return Err(corrupt(
            WHAT,
            "frames with a dictionary id are not supported",
        ));
    }
    // magic, FLG, BD, [content size 8], HC
    let header_len = 4 + 2 + if content_size { 8 } else { 0 } + 1;
    let header = read_exact_vec(src, header_len, WHAT)?;
    let hc = (XxHash32::oneshot(0, &header[4..header_len - 1]) >> 8) as u8;
    if hc != header[header_len - 1] {
        return Err(corrupt(
            WHAT,
            format!(
                "header checksum mismatch (stored {:#04x}, computed {hc:#04x})",
                header[header_len - 1]
            ),
        ));
    }
    let mut content_hash = XxHash32::with_seed(0);
    // Linked blocks may refer to the previous 64 KiB of output.
    const DICT: usize = 64 << 10;
    let mut window: Vec<u8> = Vec::with_capacity(DICT + max_block);
    let mut out = vec![0u8; max_block];
    loop {
        let Some(word) = read_u32(src, WHAT)? else {
            return Err(corrupt(WHAT, "truncated: no end mark"));
        };
        src.consume(4);
        if word == 0 {
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let size = (word & 0x7fff_ffff) as usize;
        if size > max_block {
            return Err(corrupt(
                WHAT,
                format!("block of {size} bytes larger than the frame's maximum {max_block}"),
            ));
        }
        let block = read_exact_vec(src, size, WHAT)?;
        if block_checksum {
            let c = read_exact_vec(src, 4, WHAT)?;
            let stored = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let computed = XxHash32::oneshot(0, &block);
            if stored != computed {
                return Err(corrupt(
                    WHAT,
                    format!("block checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"),
                ));
            }
        }
        let data: &[u8] = if stored {
            &block
        } else {
            let n = if independent {
                lz4_flex::block::decompress_into(&block, &mut out)
            } else {
                lz4_flex::block::decompress_into_with_dict(&block, &mut out, &window)
            }
            .map_err(|e| corrupt("lz4 block", e))?;
            &out[..n]
        };
        if content_checksum {
            content_hash.write(data);
        }
        sink.put(data).map_err(DecodeError::Sink)?;
        if !independent {
            window.extend_from_slice(data);
            if window.len() > DICT {
                window.drain(..window.len() - DICT);
            }
        }
    }
    if content_checksum {
        let c = read_exact_vec(src, 4, WHAT)?;
        let stored = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let computed = content_hash.finish_32();
        if stored != computed {
            return Err(corrupt(
                WHAT,
                format!(
                    "content checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Magic::Known(Compression::Gzip));
        assert_eq!(detect(XZ_MAGIC), Magic::Known(Compression::Xz));
        assert_eq!(detect(b"BZh91AY"), Magic::Known(Compression::Bzip2));
        assert_eq!(detect(b"BZh0"), Magic::Unknown);
        assert_eq!(
            detect(&[0x5d, 0, 0, 0x80, 0]),
            Magic::Known(Compression::Lzma)
        );
        assert_eq!(
            detect(&[0x02, 0x21, 0x4c, 0x18]),
            Magic::Known(Compression::Lz4Legacy)
        );
        assert_eq!(
            detect(&[0x04, 0x22, 0x4d, 0x18]),
            Magic::Known(Compression::Lz4Frame)
        );
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Magic::Known(Compression::Zstd)
        );
        assert_eq!(
            detect(&[0x50, 0x2a, 0x4d, 0x18]),
            Magic::Known(Compression::Zstd)
        );
        assert_eq!(detect(b"\x89LZO\0"), Magic::Unsupported("lzo"));
        assert_eq!(detect(b"hello"), Magic::Unknown);
    }

    #[test]
    fn source_unread_and_offsets() {
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut s = Source::new(&data[..]);
        let mut b = [0u8; 100_000];
        s.read_exact(&mut b).unwrap();
        assert_eq!(s.offset(), 100_000);
        s.unread(&data[99_990..100_000]);
        assert_eq!(s.offset(), 99_990);
        assert_eq!(s.peek(3).unwrap(), &data[99_990..99_993]);
        // bytes from an older buffer
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        s.unread(&data[..5]);
        assert_eq!(s.peek(5).unwrap(), &data[..5]);
    }
}
