//! The transaction journal kept in the guest (`/var/lib/hydra/journal/<id>/`): what each change replaced, and the backups to restore it.
//!
//! Layout: `journal.json` and `files/<n>`, the byte-exact copies (mode,
//! owner, times, xattrs such as SELinux labels) of what was replaced. The
//! journal is written ahead: an entry is recorded (and its backup made)
//! before its change is applied, so a crash at any point leaves a journal
//! that [`super::txn::rollback`] can undo.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::EditError;
use crate::guest::{FileAttrs, GuestRoot};

/// Where journals live in the guest.
pub const JOURNAL_DIR: &str = "/var/lib/hydra/journal";
/// Format version of `journal.json`.
pub const JOURNAL_VERSION: u32 = 1;

/// State of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxState {
    /// Changes are being applied (a journal left in this state means the run
    /// died: roll it back).
    Committing,
    /// All changes applied and verified.
    Committed,
}

/// What was at a path before the transaction changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Prior {
    /// Nothing: rollback removes what the transaction created.
    Absent,
    /// A file or symlink, copied to `files/<backup>`.
    Saved {
        /// Backup file name under `files/`.
        backup: String,
    },
}

/// One journal record, in the order applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Record {
    /// A path the transaction changes (written, removed, relinked, or
    /// rewritten by a command).
    Path {
        /// The step.
        step: String,
        /// Guest path.
        path: PathBuf,
        /// What was there.
        prior: Prior,
        /// Directories created for it (removed by rollback when empty), outermost first.
        created_dirs: Vec<PathBuf>,
    },
    /// A command run in the chroot.
    Command {
        /// The step.
        step: String,
        /// The command.
        argv: Vec<String>,
        /// The command that undoes it, if files alone cannot.
        undo: Option<Vec<String>>,
    },
}

/// `journal.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Format version.
    pub version: u32,
    /// Transaction id (directory name).
    pub id: String,
    /// State.
    pub state: TxState,
    /// Hydra version that wrote it.
    pub hydra: String,
    /// The guest OS, as identified.
    pub os: String,
    /// When it started (seconds since the epoch).
    pub started: u64,
    /// Directories of the journal path Hydra created (`/var/lib/hydra`), removed
    /// with the last journal.
    pub created_dirs: Vec<PathBuf>,
    /// Records, in the order applied.
    pub records: Vec<Record>,
}

impl Journal {
    /// Guest path of this journal's directory.
    pub fn dir(&self) -> PathBuf {
        Path::new(JOURNAL_DIR).join(&self.id)
    }

    /// Guest path of `journal.json`.
    pub fn file(&self) -> PathBuf {
        self.dir().join("journal.json")
    }

    /// Guest path of backup `name`.
    pub fn backup_path(&self, name: &str) -> PathBuf {
        self.dir().join("files").join(name)
    }

    /// Write `journal.json` atomically (0600).
    pub fn save(&self, guest: &GuestRoot) -> Result<(), EditError> {
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| EditError::Journal {
            path: self.file(),
            detail: e.to_string(),
        })?;
        text.push(b'\n');
        guest
            .write_atomic(self.file(), &text, &FileAttrs::root(0o600))
            .map_err(|e| EditError::guest("journal", e))
    }

    /// Read the journal at guest directory `dir`.
    pub fn load(guest: &GuestRoot, dir: &Path) -> Result<Journal, EditError> {
        let file = dir.join("journal.json");
        let bytes = guest
            .read_capped(&file, 64 << 20)
            .map_err(|e| EditError::guest("journal", e))?;
        let j: Journal = serde_json::from_slice(&bytes).map_err(|e| EditError::Journal {
            path: file.clone(),
            detail: format!("not a Hydra journal: {e}"),
        })?;
        if j.version != JOURNAL_VERSION {
            return Err(EditError::Journal {
                path: file,
                detail: format!(
                    "version {} (this Hydra reads version {JOURNAL_VERSION})",
                    j.version
                ),
            });
        }
        Ok(j)
    }

    /// Every journal in the guest, oldest first.
    pub fn list(guest: &GuestRoot) -> Result<Vec<Journal>, EditError> {
        let entries = match guest.read_dir(JOURNAL_DIR) {
            Ok(e) => e,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(EditError::guest("journal", e)),
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| Journal::load(guest, &Path::new(JOURNAL_DIR).join(n)))
            .collect()
    }
}
