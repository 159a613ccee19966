//! What steps want changed: the `Step` trait, its `Context`, and `StepPlan`s of file writes, removals, symlinks and chroot commands.
//!
//! A step never writes. It reads the guest through its [`Context`] (which
//! shows the changes earlier steps planned, so two steps that touch one file
//! compose) and returns a [`StepPlan`]: the changes, what it checked, warnings
//! and blockers. Each change records the state it was planned against
//! ([`Before`]); the commit refuses to overwrite a file that changed since.
//! A change that would leave a file as it is is not added: a second run of a
//! step on its own result plans nothing (that is also how commits are
//! verified, see [`super::txn`]).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::error::EditError;
use super::facts::SystemFacts;
use crate::guest::{FileAttrs, FileKind, GuestRoot};
use crate::inspect::os::OsIdentity;

/// Largest file a step reads whole through [`Context::read`] (configs; not images).
pub const READ_CAP: u64 = 16 << 20;

/// Options that steps read (the CLI's flags).
#[derive(Debug, Clone, Default)]
pub struct StepOptions {
    /// A package file for the Azure agent, on the helper (`--agent-package`).
    pub agent_package: Option<PathBuf>,
    /// The helper may reach the guest's package repositories (`--network`).
    pub network: bool,
    /// How many commands of one step may run at once (initramfs rebuilds).
    pub jobs: usize,
    /// The `rootdelay=` seconds on kernel command lines: `None` is the
    /// requirement's 300, `Some(0)` leaves `rootdelay=` out.
    pub rootdelay: Option<u32>,
}

/// One hydration step: checks the guest and plans what to change.
pub trait Step: Sync {
    /// Short name used on the command line (`initramfs`, `fstab`).
    fn name(&self) -> &'static str;
    /// The requirement it implements (`L4`).
    fn requirement(&self) -> &'static str;
    /// One line saying what it does.
    fn summary(&self) -> &'static str;
    /// Look at the guest and plan. Planning never writes.
    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError>;
}

/// What a step sees: the guest (with earlier steps' planned changes laid
/// over it), its identity, facts about its disks, and the options.
pub struct Context<'a> {
    /// Confined access to the guest tree.
    pub guest: &'a GuestRoot,
    /// The identified OS.
    pub os: &'a OsIdentity,
    /// The guest's disks and mounts as seen by the helper.
    pub facts: &'a SystemFacts,
    /// Options.
    pub options: &'a StepOptions,
    pending: &'a Pending,
}

/// Planned state of files changed by earlier steps, by normalized guest path.
#[derive(Debug, Default, Clone)]
pub struct Pending {
    files: BTreeMap<PathBuf, Planned>,
}

#[derive(Debug, Clone)]
enum Planned {
    File(Vec<u8>, FileAttrs),
    Symlink(PathBuf),
    Removed,
}

impl Pending {
    /// Lay `plan`'s file changes over what later steps see.
    pub fn absorb(&mut self, plan: &StepPlan) {
        for c in &plan.changes {
            match &c.action {
                Action::Write { path, bytes, attrs } => {
                    let attrs = attrs.or(c.before.attrs()).unwrap_or(FileAttrs::root(0o644));
                    self.files
                        .insert(norm(path), Planned::File(bytes.clone(), attrs));
                }
                Action::Remove { path } => {
                    self.files.insert(norm(path), Planned::Removed);
                }
                Action::Symlink { path, target } => {
                    self.files
                        .insert(norm(path), Planned::Symlink(target.clone()));
                }
                Action::Run(_) => {}
            }
        }
    }
}

impl<'a> Context<'a> {
    /// A context over `guest` with `pending` changes of earlier steps.
    pub fn new(
        guest: &'a GuestRoot,
        os: &'a OsIdentity,
        facts: &'a SystemFacts,
        options: &'a StepOptions,
        pending: &'a Pending,
    ) -> Self {
        Context {
            guest,
            os,
            facts,
            options,
            pending,
        }
    }

    fn planned(&self, path: &Path) -> Option<&Planned> {
        self.pending.files.get(&norm(path))
    }

    /// The state of `path` now (planned changes of earlier steps included).
    /// Symlinks are not followed for the last component.
    pub fn before(&self, path: impl AsRef<Path>) -> Result<Before, crate::guest::GuestError> {
        let path = path.as_ref();
        if let Some(p) = self.planned(path) {
            return Ok(match p {
                Planned::File(b, a) => Before::File {
                    bytes: b.clone(),
                    attrs: *a,
                },
                Planned::Symlink(t) => Before::Symlink { target: t.clone() },
                Planned::Removed => Before::Absent,
            });
        }
        state_of(self.guest, path)
    }

    /// `path` with its last component spelled as the directory spells it when
    /// only the case differs (FAT: `GRUB.CFG` for `grub.cfg`). On a
    /// case-insensitive filesystem a write under another spelling renames the
    /// entry; with the directory's spelling, the change and its rollback keep
    /// the name.
    pub fn spelled(&self, path: &Path) -> PathBuf {
        let path = norm(path);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return path;
        };
        let Ok(entries) = self.list_dir(parent) else {
            return path;
        };
        let name = name.to_string_lossy();
        if entries.iter().any(|(n, _)| *n == name) {
            return path;
        }
        match entries.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            Some((n, _)) => parent.join(n),
            None => path,
        }
    }

    /// The bytes of the file at `path` (symlinks followed inside the guest),
    /// `None` when it does not exist. Planned changes are seen.
    pub fn read(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<Option<Vec<u8>>, crate::guest::GuestError> {
        let path = path.as_ref();
        match self.planned(path) {
            Some(Planned::File(b, _)) => return Ok(Some(b.clone())),
            Some(Planned::Removed) => return Ok(None),
            Some(Planned::Symlink(t)) => {
                let target = if t.is_absolute() {
                    t.clone()
                } else {
                    path.parent().unwrap_or(Path::new("/")).join(t)
                };
                if norm(&target) != norm(path) {
                    return self.read(target);
                }
                return Ok(None);
            }
            None => {}
        }
        match self.guest.read_capped(path, READ_CAP) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Context::read`] as text (invalid UTF-8 replaced).
    pub fn read_text(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<Option<String>, crate::guest::GuestError> {
        Ok(self
            .read(path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Whether something exists at `path` (symlinks not followed). Planned
    /// changes are seen.
    pub fn exists(&self, path: impl AsRef<Path>) -> Result<bool, crate::guest::GuestError> {
        let path = path.as_ref();
        match self.planned(path) {
            Some(Planned::Removed) => Ok(false),
            Some(_) => Ok(true),
            None => match self.guest.symlink_metadata(path) {
                Ok(_) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// Names in directory `path` (empty when it does not exist), with files
    /// planned there by earlier steps, without those planned for removal.
    pub fn list_dir(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<Vec<(String, FileKind)>, crate::guest::GuestError> {
        let path = path.as_ref();
        let mut out: BTreeMap<String, FileKind> = BTreeMap::new();
        match self.guest.read_dir(path) {
            Ok(entries) => {
                for e in entries {
                    out.insert(e.name.to_string_lossy().into_owned(), e.kind);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let dir = norm(path);
        for (p, st) in &self.pending.files {
            if p.parent() == Some(dir.as_path()) {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                match st {
                    Planned::Removed => {
                        out.remove(&name);
                    }
                    Planned::File(..) => {
                        out.insert(name, FileKind::File);
                    }
                    Planned::Symlink(_) => {
                        out.insert(name, FileKind::Symlink);
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// The state of `path` in `guest` (symlinks not followed for the last component).
pub fn state_of(guest: &GuestRoot, path: &Path) -> Result<Before, crate::guest::GuestError> {
    let meta = match guest.symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.is_not_found() => return Ok(Before::Absent),
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Ok(Before::Symlink {
            target: guest.read_link(path)?,
        });
    }
    if ft.is_file() && meta.len() > READ_CAP {
        return Ok(Before::Other {
            what: format!(
                "a file of {} bytes (steps edit files up to {READ_CAP})",
                meta.len()
            ),
        });
    }
    if ft.is_file() {
        let bytes = guest.read_capped(path, READ_CAP)?;
        return Ok(Before::File {
            bytes,
            attrs: FileAttrs::of(&meta),
        });
    }
    Ok(Before::Other {
        what: if ft.is_dir() {
            "a directory"
        } else {
            "a special file"
        }
        .into(),
    })
}

/// Normalized absolute guest path (`etc//fstab` and `/etc/./fstab` are `/etc/fstab`).
pub fn norm(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The state a change was planned against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// Nothing there.
    Absent,
    /// A regular file with these bytes and attributes.
    File {
        /// Its contents.
        bytes: Vec<u8>,
        /// Its owner and mode.
        attrs: FileAttrs,
    },
    /// A symlink with this text.
    Symlink {
        /// The link text.
        target: PathBuf,
    },
    /// A directory or special file (changes to it are refused).
    Other {
        /// What it is.
        what: String,
    },
    /// Not captured (commands).
    NotApplicable,
}

impl Before {
    /// The attributes of a file.
    pub fn attrs(&self) -> Option<FileAttrs> {
        match self {
            Before::File { attrs, .. } => Some(*attrs),
            _ => None,
        }
    }

    /// The bytes of a file.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Before::File { bytes, .. } => Some(bytes),
            _ => None,
        }
    }
}

/// A command run in the guest's chroot.
#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    /// Program and arguments (looked up in the guest's `PATH`).
    pub argv: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Guest files the command rewrites: backed up before it runs and
    /// restored by a rollback (an initramfs image).
    pub affects: Vec<PathBuf>,
    /// May run at the same time as the step's other parallel commands.
    pub parallel: bool,
    /// Longest the command may run.
    #[serde(skip)]
    pub timeout: Duration,
    /// A command that undoes this one on rollback, when files alone cannot
    /// (a package removal is undone by reinstalling). `None`: files only.
    pub undo: Option<Vec<String>>,
    /// The command uses the network (a package install from the guest's
    /// repositories): it runs with the helper's `/etc/resolv.conf` bound
    /// read-only over the guest's, so that names resolve through the
    /// helper's DNS and not the source site's ([`super::dns`]).
    pub network: bool,
}

impl RunSpec {
    /// `argv` with no environment, no affected files, serial, 30 min
    /// timeout, no network.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        RunSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            affects: Vec::new(),
            parallel: false,
            timeout: Duration::from_secs(1800),
            undo: None,
            network: false,
        }
    }

    /// The command line as shown to users.
    pub fn command_line(&self) -> String {
        self.argv
            .iter()
            .map(|a| {
                if a.is_empty()
                    || a.chars()
                        .any(|c| !(c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)))
                {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Replace (or create) a file. Missing parent directories are created (0755).
    Write {
        /// Guest path.
        path: PathBuf,
        /// New contents.
        bytes: Vec<u8>,
        /// Owner and mode; `None` keeps the existing file's (root 0644 when new).
        attrs: Option<FileAttrs>,
    },
    /// Remove a file or symlink.
    Remove {
        /// Guest path.
        path: PathBuf,
    },
    /// Make `path` a symlink to `target` (replacing a file or symlink there).
    Symlink {
        /// Guest path of the link.
        path: PathBuf,
        /// Link text.
        target: PathBuf,
    },
    /// Run a command in the chroot.
    Run(RunSpec),
}

impl Action {
    /// The guest path a file action changes.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Action::Write { path, .. } | Action::Remove { path } | Action::Symlink { path, .. } => {
                Some(path)
            }
            Action::Run(_) => None,
        }
    }

    /// `write`, `remove`, `symlink`, `run`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Write { .. } => "write",
            Action::Remove { .. } => "remove",
            Action::Symlink { .. } => "symlink",
            Action::Run(_) => "run",
        }
    }
}

/// One planned change with its reason and the state it was planned against.
#[derive(Debug, Clone)]
pub struct Change {
    /// What to do.
    pub action: Action,
    /// Why, for the user (`root=/dev/sda2 is a VMware device name`).
    pub why: String,
    /// The state of the path at planning time.
    pub before: Before,
}

/// Something a step checked, and whether it already held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`initramfs-6.1.0-13-amd64 has hv_storvsc`).
    pub what: String,
    /// It held already.
    pub ok: bool,
    /// Detail (`module in the image`, `built into the kernel`).
    pub detail: String,
}

/// A step's plan.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// The step's name.
    pub step: &'static str,
    /// The requirement it implements.
    pub requirement: &'static str,
    /// Changes, in the order they are applied.
    pub changes: Vec<Change>,
    /// What was checked.
    pub checks: Vec<Check>,
    /// Things the user should know that do not stop the run.
    pub warnings: Vec<String>,
    /// Reasons the step cannot reach its goal: the run refuses to commit.
    pub blockers: Vec<String>,
}

impl StepPlan {
    /// An empty plan for `step`.
    pub fn new(step: &'static str, requirement: &'static str) -> Self {
        StepPlan {
            step,
            requirement,
            changes: Vec::new(),
            checks: Vec::new(),
            warnings: Vec::new(),
            blockers: Vec::new(),
        }
    }

    fn gerr(&self, e: crate::guest::GuestError) -> EditError {
        EditError::guest(self.step, e)
    }

    /// Plan writing `bytes` to `path` (attributes kept, root 0644 when new).
    /// Returns false, planning nothing, when the file already has them.
    pub fn write(
        &mut self,
        cx: &Context<'_>,
        path: impl AsRef<Path>,
        bytes: impl Into<Vec<u8>>,
        why: impl Into<String>,
    ) -> Result<bool, EditError> {
        self.write_with(cx, path, bytes, None, why)
    }

    /// [`StepPlan::write`] with explicit owner and mode (compared too).
    pub fn write_with(
        &mut self,
        cx: &Context<'_>,
        path: impl AsRef<Path>,
        bytes: impl Into<Vec<u8>>,
        attrs: Option<FileAttrs>,
        why: impl Into<String>,
    ) -> Result<bool, EditError> {
        let path = cx.spelled(path.as_ref());
        let bytes = bytes.into();
        let before = cx.before(&path).map_err(|e| self.gerr(e))?;
        match &before {
            Before::File { bytes: b, attrs: a }
                if *b == bytes && attrs.map_or(true, |x| x == *a) =>
            {
                return Ok(false)
            }
            Before::Other { what } => {
                return Err(EditError::refused(
                    self.step,
                    format!("{} is {what}, not a file; not replacing it", path.display()),
                ))
            }
            _ => {}
        }
        self.changes.push(Change {
            action: Action::Write { path, bytes, attrs },
            why: why.into(),
            before,
        });
        Ok(true)
    }

    /// Plan removing the file or symlink at `path`; false when absent.
    pub fn remove(
        &mut self,
        cx: &Context<'_>,
        path: impl AsRef<Path>,
        why: impl Into<String>,
    ) -> Result<bool, EditError> {
        let path = cx.spelled(path.as_ref());
        let before = cx.before(&path).map_err(|e| self.gerr(e))?;
        match &before {
            Before::Absent => return Ok(false),
            Before::Other { what } => {
                return Err(EditError::refused(
                    self.step,
                    format!("{} is {what}; not removing it", path.display()),
                ))
            }
            _ => {}
        }
        self.changes.push(Change {
            action: Action::Remove { path },
            why: why.into(),
            before,
        });
        Ok(true)
    }

    /// Plan making `path` a symlink to `target`; false when it already is.
    pub fn symlink(
        &mut self,
        cx: &Context<'_>,
        path: impl AsRef<Path>,
        target: impl AsRef<Path>,
        why: impl Into<String>,
    ) -> Result<bool, EditError> {
        let path = cx.spelled(path.as_ref());
        let target = target.as_ref().to_path_buf();
        let before = cx.before(&path).map_err(|e| self.gerr(e))?;
        match &before {
            Before::Symlink { target: t } if *t == target => return Ok(false),
            Before::Other { what } => {
                return Err(EditError::refused(
                    self.step,
                    format!(
                        "{} is {what}; not replacing it with a symlink",
                        path.display()
                    ),
                ))
            }
            _ => {}
        }
        self.changes.push(Change {
            action: Action::Symlink { path, target },
            why: why.into(),
            before,
        });
        Ok(true)
    }

    /// Plan running a command in the chroot.
    pub fn run(&mut self, spec: RunSpec, why: impl Into<String>) {
        self.changes.push(Change {
            action: Action::Run(spec),
            why: why.into(),
            before: Before::NotApplicable,
        });
    }

    /// Record a check.
    pub fn check(&mut self, what: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            what: what.into(),
            ok,
            detail: detail.into(),
        });
    }

    /// Record a warning.
    pub fn warn(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        tracing::warn!(step = self.step, "{msg}");
        self.warnings.push(msg);
    }

    /// Record a blocker: the run will refuse to commit.
    pub fn block(&mut self, msg: impl Into<String>) {
        self.blockers.push(msg.into());
    }

    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}
