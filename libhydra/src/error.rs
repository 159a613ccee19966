//! Library errors: a small matchable set, each naming the object it is about.

use std::io;
use std::path::PathBuf;

/// A parse failure in pure byte/text parsers (`format/`). Names what was parsed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The bytes end before a structure does.
    #[error("{what}: truncated: need {need} bytes, have {have}")]
    Truncated {
        /// The structure being parsed ("GPT header", "LVM metadata", ...).
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A checksum over the structure does not match.
    #[error("{what}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The structure being parsed.
        what: &'static str,
        /// Checksum stored on disk.
        stored: u32,
        /// Checksum computed over the bytes read.
        computed: u32,
    },
    /// The structure is present but its fields are inconsistent or out of range.
    #[error("{what}: {detail}")]
    Invalid {
        /// The structure being parsed.
        what: &'static str,
        /// What is wrong, with the offending values.
        detail: String,
    },
}

impl FormatError {
    /// Shorthand for [`FormatError::Invalid`].
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        FormatError::Invalid {
            what,
            detail: detail.into(),
        }
    }

    /// Check that `buf` holds at least `need` bytes.
    pub fn need(what: &'static str, buf: &[u8], need: usize) -> Result<(), FormatError> {
        if buf.len() < need {
            Err(FormatError::Truncated {
                what,
                need,
                have: buf.len(),
            })
        } else {
            Ok(())
        }
    }
}

/// Errors of libhydra's operations. Every variant names the disk, file or device.
///
/// The message names the object, the step and the cause; the cause is also the
/// error's `source()` for callers that walk the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file or device.
    #[error("{path}: {op}: {source}")]
    Io {
        /// The file or device.
        path: PathBuf,
        /// What was being done ("read 65536 bytes at 1048576", "open").
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A structure on a disk could not be parsed.
    #[error("disk {disk} ({path}): {source}")]
    Format {
        /// Disk index.
        disk: usize,
        /// Disk path.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: FormatError,
    },
    /// The input is of a kind Hydra does not handle (yet), with what would be needed.
    #[error("{path}: {what}")]
    Unsupported {
        /// The file or device.
        path: PathBuf,
        /// What is not supported and what to do.
        what: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, op: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op: op.into(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
