//! Errors of edit transactions: planning, committing, verifying, rolling back.

use std::path::PathBuf;

use crate::exec::ExecError;
use crate::guest::GuestError;

/// Why an edit could not be planned, committed, verified or rolled back.
///
/// Every variant names the step (`fstab`, `initramfs`, ...) or the journal it
/// is about; a commit that fails says whether the guest was restored.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Reading or writing a guest file failed.
    #[error("{step}: {source}")]
    Guest {
        /// The step (or `journal`).
        step: String,
        /// The guest I/O error (names the guest path).
        #[source]
        source: Box<GuestError>,
    },
    /// The step cannot reach its goal on this guest (a kernel without the
    /// Hyper-V drivers, no agent package and no network, a malformed file).
    #[error("{step}: {message}")]
    Refused {
        /// The step.
        step: String,
        /// What is wrong and what to do about it.
        message: String,
    },
    /// The guest is not a supported OS (or was not identified) and `--force`
    /// was not given.
    #[error("{0}")]
    Unsupported(String),
    /// A command run in the guest failed.
    #[error("{step}: {source}")]
    Command {
        /// The step.
        step: String,
        /// The command's failure (description, status, stderr tail).
        #[source]
        source: Box<ExecError>,
    },
    /// A file changed between planning and committing.
    #[error("{step}: {path} changed since the plan was made; plan again")]
    Changed {
        /// The step.
        step: String,
        /// Guest path.
        path: PathBuf,
    },
    /// After commit, a step still wants changes: its postcondition does not hold.
    #[error("{step}: verification failed after commit: {detail}")]
    Verify {
        /// The step.
        step: String,
        /// What is still not as it should be.
        detail: String,
    },
    /// The journal is missing, malformed, or of another version.
    #[error("journal {path}: {detail}")]
    Journal {
        /// Guest path of the journal.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A commit failed and its changes were undone: the guest is as before.
    #[error("{cause}; every change was undone, the guest is as it was")]
    RolledBack {
        /// What failed.
        #[source]
        cause: Box<EditError>,
    },
    /// A commit failed and undoing it failed too: the journal stays in the
    /// guest for `hydra-edit rollback`.
    #[error("{cause}; undoing it failed too ({undo}); the journal {journal} is kept for `hydra-edit rollback`")]
    RollbackFailed {
        /// What failed first.
        #[source]
        cause: Box<EditError>,
        /// Why the undo failed.
        undo: String,
        /// Guest path of the journal.
        journal: PathBuf,
    },
    /// SIGINT/SIGTERM arrived during the commit.
    #[error("interrupted by signal {0}")]
    Interrupted(i32),
    /// A failure injected by a test (`fail_after`).
    #[error("injected failure before change {0}")]
    Injected(usize),
}

impl EditError {
    /// A guest I/O error in `step`.
    pub fn guest(step: impl Into<String>, source: GuestError) -> Self {
        EditError::Guest {
            step: step.into(),
            source: Box::new(source),
        }
    }

    /// A refusal in `step`.
    pub fn refused(step: impl Into<String>, message: impl Into<String>) -> Self {
        EditError::Refused {
            step: step.into(),
            message: message.into(),
        }
    }
}
