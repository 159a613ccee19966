//! Committing plans: backups and a write-ahead journal, atomic writes, chroot commands (in parallel where allowed), undo on failure, and rollback.
//!
//! [`commit`] applies the changes of a list of [`StepPlan`]s in order. Before
//! each change, what it replaces is copied into the journal's `files/` and the
//! journal is saved; then the change is applied (files through
//! [`GuestRoot::write_atomic`]: temp file, fsync, rename, directory fsync).
//! A failure, a signal or an injected fault undoes every applied change from
//! the journal and removes the journal: the guest is as it was. A file that
//! changed since it was planned is not overwritten.
//!
//! [`rollback`] undoes a committed transaction the same way: every replaced
//! path gets its previous bytes, mode, owner, times and xattrs back; created
//! files and directories are removed; commands with an undo command have it run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::error::EditError;
use super::journal::{Journal, Prior, Record, TxState, JOURNAL_DIR, JOURNAL_VERSION};
use super::plan::{norm, state_of, Action, Before, Change, RunSpec, StepPlan};
use crate::exec::Cmd;
use crate::guest::{FileAttrs, GuestRoot};

/// Options of [`commit`].
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The OS as identified (recorded in the journal).
    pub os: String,
    /// How many parallel commands may run at once (0 = number of CPUs).
    pub jobs: usize,
    /// Fail (as if a change failed) before applying change number N (0-based;
    /// for tests of the undo path).
    pub fail_after: Option<usize>,
}

/// A command that ran.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRun {
    /// The step.
    pub step: String,
    /// The command line.
    pub command: String,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// What a commit did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// The journal's guest directory (`None`: nothing to do).
    pub journal: Option<PathBuf>,
    /// Changes applied.
    pub changes: usize,
    /// Commands run, with their times.
    pub commands: Vec<CommandRun>,
}

static TX_COUNTER: AtomicU64 = AtomicU64::new(0);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `20261127T181500Z-<pid>-<n>`: sorts by time.
fn tx_id() -> String {
    let t = now_secs() as i64;
    let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{}-{}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        std::process::id(),
        TX_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

struct Tx<'g> {
    guest: &'g GuestRoot,
    journal: Journal,
    next_backup: usize,
}

impl Tx<'_> {
    fn save(&self) -> Result<(), EditError> {
        self.journal.save(self.guest)
    }

    /// Record what is at `path` (copying it into the journal) and the
    /// directories that must be created for it; save the journal.
    fn record_path(
        &mut self,
        step: &str,
        path: &Path,
        create_parents: bool,
    ) -> Result<(), EditError> {
        let g = self.guest;
        let prior = match state_of(g, path).map_err(|e| EditError::guest(step, e))? {
            Before::Absent => Prior::Absent,
            Before::Other { what } if what.starts_with("a file") => {
                // Large files (an initramfs image) are copied like the rest.
                self.save_copy(step, path)?
            }
            Before::Other { what } => {
                return Err(EditError::refused(
                    step,
                    format!("{} is {what}; not changing it", path.display()),
                ))
            }
            _ => self.save_copy(step, path)?,
        };
        let mut created_dirs = Vec::new();
        if create_parents {
            let mut p = path.parent();
            while let Some(dir) = p {
                if dir == Path::new("/") {
                    break;
                }
                match g.symlink_metadata(dir) {
                    Ok(_) => break,
                    Err(e) if e.is_not_found() => created_dirs.insert(0, dir.to_path_buf()),
                    Err(e) => return Err(EditError::guest(step, e)),
                }
                p = dir.parent();
            }
        }
        self.journal.records.push(Record::Path {
            step: step.to_string(),
            path: path.to_path_buf(),
            prior,
            created_dirs: created_dirs.clone(),
        });
        self.save()?;
        for d in &created_dirs {
            g.create_dir_all(d, 0o755)
                .map_err(|e| EditError::guest(step, e))?;
        }
        Ok(())
    }

    fn save_copy(&mut self, step: &str, path: &Path) -> Result<Prior, EditError> {
        let name = self.next_backup.to_string();
        self.next_backup += 1;
        let dst = self.journal.backup_path(&name);
        self.guest
            .copy_preserving(path, &dst)
            .map_err(|e| EditError::guest(step, e))?;
        Ok(Prior::Saved { backup: name })
    }
}

/// Check that a change's path is still as planned (`expected`: the state the
/// first change of that path was planned against, then each change's result).
fn check_unchanged(guest: &GuestRoot, step: &str, c: &Change) -> Result<(), EditError> {
    let Some(path) = c.action.path() else {
        return Ok(());
    };
    let now = state_of(guest, path).map_err(|e| EditError::guest(step, e))?;
    let same = match (&now, &c.before) {
        (Before::File { bytes: a, .. }, Before::File { bytes: b, .. }) => a == b,
        (a, b) => a == b,
    };
    if same {
        Ok(())
    } else {
        Err(EditError::Changed {
            step: step.to_string(),
            path: path.to_path_buf(),
        })
    }
}

fn apply_file(guest: &GuestRoot, step: &str, c: &Change) -> Result<(), EditError> {
    let ge = |e| EditError::guest(step, e);
    match &c.action {
        Action::Write { path, bytes, attrs } => {
            let attrs = attrs.or(c.before.attrs()).unwrap_or(FileAttrs::root(0o644));
            guest.write_atomic(path, bytes, &attrs).map_err(ge)
        }
        Action::Remove { path } => guest.remove_file(path).map_err(ge),
        Action::Symlink { path, target } => {
            if !matches!(c.before, Before::Absent) {
                guest.remove_file(path).map_err(ge)?;
            }
            guest.symlink(target, path).map_err(ge)
        }
        Action::Run(_) => Ok(()),
    }
}

fn run_cmd(guest: &GuestRoot, step: &str, spec: &RunSpec) -> Result<CommandRun, EditError> {
    let started = Instant::now();
    let Some((prog, args)) = spec.argv.split_first() else {
        return Err(EditError::refused(step, "empty command"));
    };
    let mut cmd = Cmd::new(prog)
        .args(args)
        .chroot(guest.host_path())
        .timeout(spec.timeout)
        .describe(format!("{step}: {} (in the guest)", spec.command_line()));
    for (k, v) in &spec.env {
        cmd = cmd.env(k, v);
    }
    tracing::info!(step, "running in the guest: {}", spec.command_line());
    // Progress: a line every 15 s while a long command (a rebuild) runs.
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let mut waited = 0u64;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(250));
                waited += 250;
                if waited % 15_000 == 0 {
                    tracing::info!(
                        step,
                        "still running after {} s: {}",
                        waited / 1000,
                        spec.command_line()
                    );
                }
            }
        });
        let r = cmd.run();
        done.store(true, Ordering::Relaxed);
        r
    });
    result.map_err(|e| EditError::Command {
        step: step.to_string(),
        source: Box::new(e),
    })?;
    tracing::info!(
        step,
        "done in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        spec.command_line()
    );
    Ok(CommandRun {
        step: step.to_string(),
        command: spec.command_line(),
        millis: started.elapsed().as_millis() as u64,
    })
}

fn check_signal() -> Result<(), EditError> {
    match crate::assemble::teardown::interrupted() {
        Some(s) => Err(EditError::Interrupted(s)),
        None => Ok(()),
    }
}

/// Apply `plans` (see the module docs). Nothing to do: no journal, `Ok`.
pub fn commit(
    guest: &GuestRoot,
    plans: &[StepPlan],
    opts: &CommitOptions,
) -> Result<Applied, EditError> {
    let changes: Vec<(&str, &Change)> = plans
        .iter()
        .flat_map(|p| p.changes.iter().map(move |c| (p.step, c)))
        .collect();
    if changes.is_empty() {
        return Ok(Applied::default());
    }
    // Each path must still be as its first change was planned against.
    let mut seen = std::collections::BTreeSet::new();
    for (step, c) in &changes {
        if let Some(p) = c.action.path() {
            if seen.insert(norm(p)) {
                check_unchanged(guest, step, c)?;
            }
        }
    }

    // The journal directory.
    let mut created = Vec::new();
    for d in ["/var/lib/hydra", JOURNAL_DIR] {
        match guest.symlink_metadata(d) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => created.push(PathBuf::from(d)),
            Err(e) => return Err(EditError::guest("journal", e)),
        }
    }
    let journal = Journal {
        version: JOURNAL_VERSION,
        id: tx_id(),
        state: TxState::Committing,
        hydra: env!("CARGO_PKG_VERSION").to_string(),
        os: opts.os.clone(),
        started: now_secs(),
        created_dirs: created,
        records: Vec::new(),
    };
    guest
        .create_dir_all(journal.dir().join("files"), 0o700)
        .map_err(|e| EditError::guest("journal", e))?;
    let mut tx = Tx {
        guest,
        journal,
        next_backup: 0,
    };
    if let Err(e) = tx.save() {
        let _ = remove_journal(guest, &tx.journal);
        return Err(e);
    }
    tracing::info!(journal = %tx.journal.dir().display(), changes = changes.len(), "committing");

    let mut applied = Applied {
        journal: Some(tx.journal.dir()),
        ..Applied::default()
    };
    match apply_all(&mut tx, &changes, opts, &mut applied) {
        Ok(()) => {
            tx.journal.state = TxState::Committed;
            tx.save()?;
            Ok(applied)
        }
        Err(cause) => Err(undo_failed_commit(guest, &tx.journal, cause)),
    }
}

/// Undo after a failed commit: restore, then drop the journal.
pub(crate) fn undo_failed_commit(
    guest: &GuestRoot,
    journal: &Journal,
    cause: EditError,
) -> EditError {
    tracing::warn!("{cause}: undoing the changes made so far");
    match undo_records(guest, journal).and_then(|()| remove_journal(guest, journal)) {
        Ok(()) => EditError::RolledBack {
            cause: Box::new(cause),
        },
        Err(undo) => EditError::RollbackFailed {
            cause: Box::new(cause),
            undo: undo.to_string(),
            journal: journal.dir(),
        },
    }
}

fn apply_all(
    tx: &mut Tx<'_>,
    changes: &[(&str, &Change)],
    opts: &CommitOptions,
    applied: &mut Applied,
) -> Result<(), EditError> {
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.jobs
    };
    let mut i = 0;
    while i < changes.len() {
        let (step, c) = changes[i];
        // A run of parallel commands of one step goes together.
        let mut end = i + 1;
        if matches!(&c.action, Action::Run(r) if r.parallel) {
            while end < changes.len()
                && changes[end].0 == step
                && matches!(&changes[end].1.action, Action::Run(r) if r.parallel)
            {
                end += 1;
            }
        }
        for (n, &(step, c)) in changes.iter().enumerate().take(end).skip(i) {
            check_signal()?;
            if opts.fail_after == Some(n) {
                return Err(EditError::Injected(n));
            }
            match &c.action {
                Action::Run(spec) => {
                    for p in &spec.affects {
                        tx.record_path(step, &norm(p), false)?;
                    }
                    tx.journal.records.push(Record::Command {
                        step: step.to_string(),
                        argv: spec.argv.clone(),
                        undo: spec.undo.clone(),
                    });
                    tx.save()?;
                    if end == i + 1 {
                        applied.commands.push(run_cmd(tx.guest, step, spec)?);
                    }
                }
                _ => {
                    let path = norm(c.action.path().unwrap_or(Path::new("/")));
                    tx.record_path(step, &path, !matches!(c.action, Action::Remove { .. }))?;
                    apply_file(tx.guest, step, c)?;
                    tracing::info!(step, "{} {}", c.action.kind(), path.display());
                }
            }
            applied.changes += 1;
        }
        if end > i + 1 {
            let specs: Vec<(&str, &RunSpec)> = changes[i..end]
                .iter()
                .filter_map(|(s, c)| match &c.action {
                    Action::Run(r) => Some((*s, r)),
                    _ => None,
                })
                .collect();
            for chunk in specs.chunks(jobs.max(1)) {
                let guest = tx.guest;
                let results: Vec<Result<CommandRun, EditError>> = std::thread::scope(|s| {
                    let handles: Vec<_> = chunk
                        .iter()
                        .map(|(step, spec)| s.spawn(move || run_cmd(guest, step, spec)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(EditError::refused("commit", "a command thread panicked"))
                            })
                        })
                        .collect()
                });
                for r in results {
                    applied.commands.push(r?);
                }
                check_signal()?;
            }
        }
        i = end;
    }
    Ok(())
}

/// Undo `journal`'s records, newest first. Files are restored from their
/// backups (bytes, mode, owner, times, xattrs); created files and
/// directories are removed; undo commands run.
fn undo_records(guest: &GuestRoot, journal: &Journal) -> Result<(), EditError> {
    let mut failures = Vec::new();
    for r in journal.records.iter().rev() {
        match r {
            Record::Path {
                step,
                path,
                prior,
                created_dirs,
            } => {
                let res = match prior {
                    Prior::Saved { backup } => guest
                        .copy_preserving(journal.backup_path(backup), path)
                        .map_err(|e| EditError::guest(step.as_str(), e)),
                    Prior::Absent => match guest.remove_file(path) {
                        Err(e) if !e.is_not_found() => Err(EditError::guest(step.as_str(), e)),
                        _ => Ok(()),
                    },
                };
                if let Err(e) = res {
                    failures.push(e.to_string());
                    continue;
                }
                for d in created_dirs.iter().rev() {
                    let _ = guest.remove_dir(d);
                }
            }
            Record::Command { step, undo, argv } => {
                if let Some(u) = undo {
                    if let Err(e) = run_cmd(guest, step, &RunSpec::new(u.clone())) {
                        failures.push(format!("undoing `{}`: {e}", argv.join(" ")));
                    }
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(EditError::Journal {
            path: journal.file(),
            detail: format!("undo failed: {}", failures.join("; ")),
        })
    }
}

/// Remove a journal's directory (and `/var/lib/hydra` when it created it and
/// no other journal remains).
fn remove_journal(guest: &GuestRoot, journal: &Journal) -> Result<(), EditError> {
    let ge = |e| EditError::guest("journal", e);
    let dir = journal.dir();
    let files = dir.join("files");
    match guest.read_dir(&files) {
        Ok(entries) => {
            for e in entries {
                guest.remove_file(files.join(&e.name)).map_err(ge)?;
            }
            guest.remove_dir(&files).map_err(ge)?;
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(ge(e)),
    }
    match guest.remove_file(journal.file()) {
        Err(e) if !e.is_not_found() => return Err(ge(e)),
        _ => {}
    }
    // Temporary files of an interrupted journal save.
    if let Ok(entries) = guest.read_dir(&dir) {
        for e in entries {
            let _ = guest.remove_file(dir.join(&e.name));
        }
    }
    guest.remove_dir(&dir).map_err(ge)?;
    for d in journal.created_dirs.iter().rev() {
        let _ = guest.remove_dir(d);
    }
    Ok(())
}

/// What [`rollback`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    /// The transaction id.
    pub id: String,
    /// Paths restored or removed.
    pub paths: Vec<PathBuf>,
    /// Undo commands run.
    pub commands: Vec<String>,
    /// Commands undone by restoring the files they rewrote (an initramfs
    /// rebuild), with no undo command of their own.
    pub restored_by_files: Vec<String>,
}

/// Undo the newest transaction in the guest (any state), or the one named
/// `id`; its journal is removed afterwards. `Ok(None)`: no journal.
pub fn rollback(guest: &GuestRoot, id: Option<&str>) -> Result<Option<RolledBack>, EditError> {
    let journals = Journal::list(guest)?;
    let journal = match id {
        Some(id) => {
            journals
                .into_iter()
                .find(|j| j.id == id)
                .ok_or_else(|| EditError::Journal {
                    path: Path::new(JOURNAL_DIR).join(id),
                    detail: "no such transaction".into(),
                })?
        }
        None => match journals.into_iter().last() {
            Some(j) => j,
            None => return Ok(None),
        },
    };
    undo_records(guest, &journal)?;
    remove_journal(guest, &journal)?;
    let mut out = RolledBack {
        id: journal.id.clone(),
        paths: Vec::new(),
        commands: Vec::new(),
        restored_by_files: Vec::new(),
    };
    for r in &journal.records {
        match r {
            Record::Path { path, .. } => out.paths.push(path.clone()),
            Record::Command { argv, undo, .. } => match undo {
                Some(u) => out.commands.push(u.join(" ")),
                None => out.restored_by_files.push(argv.join(" ")),
            },
        }
    }
    Ok(Some(out))
}
