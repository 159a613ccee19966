//! Committing plans: backups and a write-ahead journal, atomic writes, chroot commands (in parallel where allowed), undo on failure, and rollback.
//!
//! [`commit`] applies the changes of a list of [`StepPlan`]s in order. Before
//! each change, what it replaces is copied into the journal's `files/` and the
//! journal is saved; then the change is applied (files through
//! [`GuestRoot::write_atomic`]: temp file, fsync, rename, directory fsync).
//! A failure, a signal or an injected fault undoes every applied change from
//! the journal and removes the journal: the guest is as it was. A command
//! running in the guest when the signal comes is left to finish (the log
//! says so): a package manager or image tool killed half-way could leave
//! state that no undo knows. A file that changed since it was planned is
//! not overwritten. A command that uses the
//! network runs alone, with the helper's `/etc/resolv.conf` bound read-only
//! over the guest's in its own mount namespace ([`super::dns`]).
//!
//! [`rollback`] undoes a committed transaction the same way: every replaced
//! path gets its previous bytes, mode, owner, times and xattrs back; created
//! files and directories are removed; commands with an undo command have it run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::dns;
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
    /// For a command that uses the network: how names resolved in the chroot
    /// (the helper's `/etc/resolv.conf` bound over the guest's, or why not;
    /// see [`super::dns`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<String>,
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
            guest.write_atomic(path, bytes, &attrs).map_err(ge)?;
            if matches!(c.before, Before::Absent | Before::Symlink { .. }) {
                label_new_file(guest, path).map_err(ge)?;
            }
            Ok(())
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

/// Give a file Hydra created the SELinux label its neighbours have: that of a
/// regular file beside it (an `ifcfg-eth0` next to `ifcfg-ens192` gets
/// `net_conf_t`), else that of its directory. Only on labelled guests (the
/// directory has a label); a replaced file keeps its own label
/// ([`GuestRoot::write_atomic`]). Without a label an enforcing guest would
/// refuse the file to the services that read it.
fn label_new_file(guest: &GuestRoot, path: &Path) -> Result<(), crate::guest::GuestError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let Some(dir_label) = guest.selinux_label(dir)? else {
        return Ok(());
    };
    let name = path.file_name();
    let mut label = None;
    for e in guest.read_dir(dir)? {
        if e.kind != crate::guest::FileKind::File || Some(e.name.as_os_str()) == name {
            continue;
        }
        if e.name.to_string_lossy().starts_with('.') {
            continue;
        }
        if let Some(l) = guest.selinux_label(dir.join(&e.name))? {
            label = Some(l);
            break;
        }
    }
    let label = label.unwrap_or(dir_label);
    tracing::debug!(path = %path.display(), label = %String::from_utf8_lossy(&label), "labelled new file");
    guest.set_selinux_label(path, &label)
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
    // The helper's DNS for a command that uses the network, in the
    // command's own mount namespace.
    let dns = if spec.network {
        let (at, what) = dns::for_command(guest, Path::new(dns::RESOLV_CONF), &spec.command_line());
        if let Some(at) = at {
            cmd = cmd.bind_private(dns::RESOLV_CONF, at);
        }
        Some(what)
    } else {
        None
    };
    // Progress: a line every 15 s while a long command (a rebuild) runs.
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let mut waited = 0u64;
            let mut told = false;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(250));
                waited += 250;
                // A command in the guest is not killed on Ctrl-C (a package
                // manager or an image tool stopped half-way could leave the
                // guest in a state no undo knows): say why nothing happens yet.
                if !told && crate::assemble::teardown::interrupted().is_some() {
                    told = true;
                    tracing::warn!(
                        step,
                        "interrupted: waiting for `{}` to finish in the guest, then every change is undone",
                        spec.command_line()
                    );
                }
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
        dns,
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
    for d in ["/var", "/var/lib", "/var/lib/hydra", JOURNAL_DIR] {
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
        .create_dir_all(JOURNAL_DIR, 0o755)
        .and_then(|()| guest.create_dir_all(journal.dir().join("files"), 0o700))
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
        // A run of parallel commands of one step goes together. A command
        // that uses the network runs alone (its resolv.conf bind is its own).
        let parallel = |a: &Action| matches!(a, Action::Run(r) if r.parallel && !r.network);
        let mut end = i + 1;
        if parallel(&c.action) {
            while end < changes.len() && changes[end].0 == step && parallel(&changes[end].1.action)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::facts::SystemFacts;
    use crate::edit::plan::{Context, Pending, StepOptions};
    use crate::inspect::os::{Distro, Family, OsIdentity, Version};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn os() -> OsIdentity {
        OsIdentity {
            family: Family::Debian,
            distro: Distro::Debian,
            version: Version {
                major: 12,
                minor: 0,
                raw: "12".into(),
            },
            pretty: String::new(),
            sources: Vec::new(),
        }
    }

    /// Every path under `root` with its type, mode, owner, mtime, bytes or
    /// link text, and user xattrs.
    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for p in names {
                let m = std::fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let what = if m.file_type().is_symlink() {
                    format!("link {}", std::fs::read_link(&p).unwrap().display())
                } else if m.is_dir() {
                    stack.push(p.clone());
                    "dir".to_string()
                } else {
                    let x = xattr_of(&p);
                    format!(
                        "file {:?} mtime {} xattr {x:?}",
                        std::fs::read(&p).unwrap(),
                        m.mtime()
                    )
                };
                out.push(format!(
                    "{rel} {:o} {}:{} {what}",
                    m.mode(),
                    m.uid(),
                    m.gid()
                ));
            }
        }
        out.sort();
        out
    }

    fn xattr_of(p: &Path) -> Option<Vec<u8>> {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        let mut buf = vec![0u8; 256];
        // SAFETY: valid C strings and buffer.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                c"user.hydra-test".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    }

    fn set_xattr(p: &Path, v: &[u8]) -> bool {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid C strings and buffer.
        unsafe {
            libc::lsetxattr(
                c.as_ptr(),
                c"user.hydra-test".as_ptr(),
                v.as_ptr().cast(),
                v.len(),
                0,
            ) == 0
        }
    }

    /// A tree with a file (0640, an xattr, an old mtime), a symlink, and a
    /// plan that rewrites the file, removes the link, adds a file in a new
    /// directory and replaces a symlink.
    fn setup() -> (tempfile::TempDir, GuestRoot, Vec<StepPlan>) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/a.conf"), "old\n").unwrap();
        std::fs::set_permissions(r.join("etc/a.conf"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        set_xattr(&r.join("etc/a.conf"), b"label");
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        std::fs::File::options()
            .write(true)
            .open(r.join("etc/a.conf"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::os::unix::fs::symlink("a.conf", r.join("etc/link")).unwrap();
        std::os::unix::fs::symlink("/nowhere", r.join("etc/other")).unwrap();
        let g = GuestRoot::open(r).unwrap();
        let facts = SystemFacts::none();
        let id = os();
        let opts = StepOptions::default();
        let pending = Pending::default();
        let cx = Context::new(&g, &id, &facts, &opts, &pending);
        let mut p = StepPlan::new("test", "T0");
        assert!(p.write(&cx, "/etc/a.conf", "new\n", "rewrite").unwrap());
        assert!(p.remove(&cx, "/etc/link", "remove").unwrap());
        assert!(p
            .write(&cx, "/etc/new.d/deep/b.conf", "b\n", "create")
            .unwrap());
        assert!(p.symlink(&cx, "/etc/other", "/dev/null", "relink").unwrap());
        // Already so: nothing planned.
        assert!(!p.write(&cx, "/etc/a.conf", "old\n", "same").unwrap());
        assert!(!p.remove(&cx, "/etc/absent", "absent").unwrap());
        (t, g, vec![p])
    }

    #[test]
    fn commit_then_rollback_restores_every_byte_mode_time_and_xattr() {
        let (t, g, plans) = setup();
        let before = listing(t.path());
        let a = commit(&g, &plans, &CommitOptions::default()).unwrap();
        assert_eq!(a.changes, 4);
        let r = t.path();
        assert_eq!(
            std::fs::read_to_string(r.join("etc/a.conf")).unwrap(),
            "new\n"
        );
        assert_eq!(
            std::fs::metadata(r.join("etc/a.conf")).unwrap().mode() & 0o7777,
            0o640
        );
        assert!(!r.join("etc/link").exists());
        assert_eq!(
            std::fs::read_link(r.join("etc/other")).unwrap(),
            Path::new("/dev/null")
        );
        assert_eq!(
            std::fs::read_to_string(r.join("etc/new.d/deep/b.conf")).unwrap(),
            "b\n"
        );
        let j = Journal::list(&g).unwrap();
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].state, TxState::Committed);
        let rb = rollback(&g, None).unwrap().unwrap();
        assert_eq!(rb.paths.len(), 4);
        assert_eq!(listing(r), before, "rollback is not exact");
        assert!(rollback(&g, None).unwrap().is_none());
    }

    #[test]
    fn a_failure_before_any_change_undoes_all_and_leaves_no_journal() {
        for k in 0..4 {
            let (t, g, plans) = setup();
            let before = listing(t.path());
            let e = commit(
                &g,
                &plans,
                &CommitOptions {
                    fail_after: Some(k),
                    ..CommitOptions::default()
                },
            )
            .unwrap_err();
            assert!(
                matches!(&e, EditError::RolledBack { cause } if matches!(**cause, EditError::Injected(n) if n == k)),
                "{e}"
            );
            assert!(e.to_string().contains("the guest is as it was"), "{e}");
            assert_eq!(listing(t.path()), before, "fail-after {k}");
        }
    }

    #[test]
    fn a_file_changed_since_the_plan_is_not_overwritten() {
        let (t, g, plans) = setup();
        std::fs::write(t.path().join("etc/a.conf"), "edited by someone\n").unwrap();
        let e = commit(&g, &plans, &CommitOptions::default()).unwrap_err();
        assert!(matches!(e, EditError::Changed { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(t.path().join("etc/a.conf")).unwrap(),
            "edited by someone\n"
        );
        assert!(!t.path().join("var").exists(), "a journal was left");
    }

    #[test]
    fn a_failing_command_undoes_the_file_changes_before_it() {
        let (t, g, mut plans) = setup();
        let before = listing(t.path());
        // No such program in the guest: the run fails after the 4 file changes.
        plans[0].run(RunSpec::new(["/nonexistent-tool", "-x"]), "fails");
        let e = commit(&g, &plans, &CommitOptions::default()).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-tool"), "{e}");
        assert!(e.to_string().contains("the guest is as it was"), "{e}");
        assert_eq!(listing(t.path()), before);
    }

    #[test]
    fn new_files_get_their_neighbours_selinux_label() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc/sysconfig/network-scripts")).unwrap();
        std::fs::create_dir_all(r.join("etc/dracut.conf.d")).unwrap();
        std::fs::write(r.join("etc/sysconfig/network-scripts/ifcfg-ens192"), "x\n").unwrap();
        std::fs::write(r.join("etc/fstab"), "x\n").unwrap();
        let g = GuestRoot::open(r).unwrap();
        let set = |p: &str, v: &str| g.set_selinux_label(p, v.as_bytes()).is_ok();
        if !set(
            "/etc/sysconfig/network-scripts",
            "system_u:object_r:net_conf_t:s0",
        ) || !set(
            "/etc/sysconfig/network-scripts/ifcfg-ens192",
            "system_u:object_r:net_conf_t:s0",
        ) || !set("/etc/dracut.conf.d", "system_u:object_r:etc_t:s0")
        {
            eprintln!("SKIP: cannot set security.selinux here (not root)");
            return;
        }
        let facts = SystemFacts::none();
        let id = os();
        let opts = StepOptions::default();
        let pending = Pending::default();
        let cx = Context::new(&g, &id, &facts, &opts, &pending);
        let mut p = StepPlan::new("test", "T0");
        p.write(
            &cx,
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            "DEVICE=eth0\n",
            "new",
        )
        .unwrap();
        p.write(&cx, "/etc/dracut.conf.d/90-x.conf", "x\n", "new")
            .unwrap();
        p.write(&cx, "/etc/new-unlabelled", "x\n", "new").unwrap();
        commit(&g, &[p], &CommitOptions::default()).unwrap();
        let label = |p: &str| {
            g.selinux_label(p).unwrap().map(|l| {
                String::from_utf8_lossy(&l)
                    .trim_end_matches('\0')
                    .to_string()
            })
        };
        assert_eq!(
            label("/etc/sysconfig/network-scripts/ifcfg-eth0").as_deref(),
            Some("system_u:object_r:net_conf_t:s0")
        );
        assert_eq!(
            label("/etc/dracut.conf.d/90-x.conf").as_deref(),
            Some("system_u:object_r:etc_t:s0")
        );
        // A directory without a label: an unlabelled guest stays unlabelled.
        assert_eq!(label("/etc/new-unlabelled"), None);
    }

    #[test]
    fn a_malformed_journal_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("var/lib/hydra/journal/x");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("journal.json"), "{not json").unwrap();
        let g = GuestRoot::open(t.path()).unwrap();
        let e = rollback(&g, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("/var/lib/hydra/journal/x/journal.json: not a Hydra journal"),
            "{e}"
        );
    }
}
