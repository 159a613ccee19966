//! The `bootloader` step (L5): every boot entry gets the Azure serial console (`console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300`) and loses `rhgb`, `quiet`, `crashkernel=auto`; `root=` and `resume=` kernel disk names become `UUID=`.
//!
//! The command line rule ([`crate::format::grub::edit_args`]), applied to
//! every place a kernel command line is kept:
//! - `console=ttyS0,115200n8`, `earlyprintk=ttyS0,115200`, `rootdelay=300`
//!   present once. The last `console=` is `/dev/console` (where systemd and
//!   the emergency shell talk), so ttyS0 is made the last one; other
//!   consoles (`console=tty0`) stay before it. A `console=ttyS0` with another
//!   value, and other `earlyprintk=`/`rootdelay=` values, are replaced.
//! - `rhgb`, `quiet`, `crashkernel=auto` removed; `crashkernel=` sizes kept.
//! - `root=/dev/sdX`, `/dev/hdX`, `/dev/vdX`, `/dev/xvdX` (names the source
//!   hypervisor gave) become `root=UUID=<UUID of the root filesystem>`;
//!   `resume=` with such a name becomes `resume=UUID=` of the swap found
//!   there (the initramfs waits for its resume device; on Azure the name
//!   may be another disk). A name with no swap found is kept, with a warning.
//! - Everything else keeps its order, separators and quoting; arguments
//!   are added at the end of the line.
//!
//! Where (each file that exists; a symlink is followed inside the guest and
//! its target edited once, the link kept):
//! - GRUB legacy: `/boot/grub/grub.conf`, `/boot/grub/menu.lst` (often a
//!   link to grub.conf), `/boot/efi/EFI/*/grub.conf` (RHEL 6 UEFI): the
//!   `kernel` line of every `title` stanza.
//! - GRUB 2 defaults, `/etc/default/grub`: `GRUB_CMDLINE_LINUX` gets the
//!   rule (it goes into every entry, recovery entries too);
//!   `GRUB_CMDLINE_LINUX_DEFAULT` (normal entries only, after
//!   `GRUB_CMDLINE_LINUX` on the line) loses the removed arguments and any
//!   serial console arguments, and its other `console=` arguments move into
//!   `GRUB_CMDLINE_LINUX` before ttyS0 so that ttyS0 stays last. Like Azure's
//!   own images, `GRUB_TERMINAL="serial console"` and
//!   `GRUB_SERIAL_COMMAND="serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"`
//!   are set, so the GRUB menu is usable on the serial console too (a value
//!   that already includes `serial`, or a serial command at 115200 on unit 0,
//!   is kept). Timeouts are left as they are.
//! - Its drop-ins, `/etc/default/grub.d/*.cfg` (sourced after it; Ubuntu's
//!   cloud images set their command line there): only what a drop-in
//!   assigns is edited. `GRUB_CMDLINE_LINUX_DEFAULT` is stripped; a
//!   `GRUB_CMDLINE_LINUX` that extends the earlier value
//!   (`"$GRUB_CMDLINE_LINUX ..."`) is stripped, one that replaces it gets the
//!   full rule; `GRUB_TERMINAL`/`GRUB_SERIAL_COMMAND` it sets become serial.
//! - GRUB 2 generated configs, `/boot/grub2/grub.cfg`, `/boot/grub/grub.cfg`,
//!   `/boot/efi/EFI/*/grub.cfg`: every `linux`, `linux16`, `linuxefi` line,
//!   and the `set kernelopts=`/`set default_kernelopts=` lines RHEL 8 writes.
//!   A config with neither (the EFI wrapper that only `search`es and
//!   `configfile`s the real one; a BLS config) is left alone.
//!   **Hydra does not run grub-mkconfig, grub2-mkconfig or update-grub**: in
//!   the helper's chroot the devices are the helper's (loop or NBD devices,
//!   `/dev/mapper` names of Hydra's own mapping), and the generator would
//!   write them into `root=` and `search` lines. The generated config is
//!   edited in place with the same rule as `/etc/default/grub`, so that the
//!   next regeneration on the running VM gives the same command line. (The
//!   generated `terminal_*` lines are not changed: the GRUB menu moves to
//!   the serial console at that regeneration; the kernel console does now.)
//! - BLS entries (RHEL/CentOS/Oracle Linux 8+, Fedora),
//!   `/boot/loader/entries/*.conf`: the `options` line(s). An entry whose
//!   options use `$kernelopts` (RHEL 8) keeps that reference (only literal
//!   `rhgb`/`quiet`/... beside it go); the variable is edited where GRUB
//!   reads it: grubenv, and the generated config's `set kernelopts` fallback.
//! - GRUB environment blocks `/boot/grub2/grubenv`, `/boot/grub/grubenv`,
//!   `/boot/efi/EFI/*/grubenv` (the first is often a link to
//!   `../efi/EFI/redhat/grubenv`): `kernelopts=`, keeping the block's exact
//!   size (1024 bytes); a value that would not fit is a blocker.
//! - `/etc/kernel/cmdline` (RHEL 9, systemd-boot): kernel-install copies it
//!   into the entries of kernels installed later.
//! - SUSE `/etc/sysconfig/bootloader`: `DEFAULT_APPEND` and
//!   `FAILSAFE_APPEND` when the file has them (SLES 11 perl-Bootloader
//!   builds new kernels' menu.lst entries from them).
//!
//! A guest with none of the boot loader configs above is a blocker. Each
//! changed file is one write whose reason lists what changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::edit::error::EditError;
use crate::edit::facts::Lookup;
use crate::edit::plan::{norm, Before, Context, Step, StepPlan};
use crate::edit::steps::fstab::is_kernel_disk_name;
use crate::format::grub::{
    assignment_value, edit_args, grub_linux_line, grub_menuentry_title, legacy_kernel_line,
    legacy_title, parse_assignment, CmdlineRule, Delta, GrubEnv, Mode, Quoting,
};
use crate::guest::FileKind;

/// GRUB legacy configs (besides `/boot/efi/EFI/*/grub.conf`).
pub const LEGACY: [&str; 2] = ["/boot/grub/grub.conf", "/boot/grub/menu.lst"];
/// GRUB 2 generated configs (besides `/boot/efi/EFI/*/grub.cfg`).
pub const GRUB_CFG: [&str; 2] = ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"];
/// GRUB 2 defaults.
pub const DEFAULT_GRUB: &str = "/etc/default/grub";
/// Drop-ins `grub-mkconfig` sources after [`DEFAULT_GRUB`] (`*.cfg`, in name order).
pub const DEFAULT_GRUB_D: &str = "/etc/default/grub.d";
/// BLS entries.
pub const BLS_DIR: &str = "/boot/loader/entries";
/// GRUB environment blocks (besides `/boot/efi/EFI/*/grubenv`).
pub const GRUBENV: [&str; 2] = ["/boot/grub2/grubenv", "/boot/grub/grubenv"];
/// The command line kernel-install gives new kernels.
pub const KERNEL_CMDLINE: &str = "/etc/kernel/cmdline";
/// SUSE's boot loader settings.
pub const SYSCONFIG_BOOTLOADER: &str = "/etc/sysconfig/bootloader";
/// The EFI system partition's vendor directories.
const EFI_DIR: &str = "/boot/efi/EFI";

/// `GRUB_TERMINAL` value set in `/etc/default/grub`.
pub const GRUB_TERMINAL: &str = "serial console";
/// `GRUB_SERIAL_COMMAND` value set in `/etc/default/grub`.
pub const GRUB_SERIAL_COMMAND: &str =
    "serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1";

/// Whether a variable's value will do.
type ValueOk = fn(&str) -> bool;

/// The GRUB menu on the serial console: variable, value set, and whether a
/// value already there will do.
const SERIAL_MENU: [(&str, &str, ValueOk); 2] = [
    ("GRUB_TERMINAL", GRUB_TERMINAL, terminal_ok),
    (
        "GRUB_SERIAL_COMMAND",
        GRUB_SERIAL_COMMAND,
        serial_command_ok,
    ),
];

/// The bootloader step.
pub struct Bootloader;

impl Step for Bootloader {
    fn name(&self) -> &'static str {
        "bootloader"
    }

    fn requirement(&self) -> &'static str {
        "L5"
    }

    fn summary(&self) -> &'static str {
        "serial console on every boot entry (console=ttyS0,115200n8 earlyprintk rootdelay=300), no rhgb/quiet/crashkernel=auto, root= and resume= by UUID"
    }

    fn plan(&self, cx: &Context<'_>) -> Result<StepPlan, EditError> {
        let mut p = Planner {
            cx,
            plan: StepPlan::new(self.name(), self.requirement()),
            uuid: cx.facts.root.as_ref().and_then(|r| r.fs.uuid.clone()),
            done: BTreeSet::new(),
            root_kept: BTreeSet::new(),
            resume_kept: BTreeSet::new(),
            swap_uuid: Box::new(|dev: &str| match cx.facts.lookup(dev, "swap", "") {
                Lookup::Found(r) if r.fs.fs_type == "swap" => r.fs.uuid,
                _ => None,
            }),
            found: false,
            uses_kernelopts: Vec::new(),
            kernelopts_set: false,
            rootdelay: match cx.options.rootdelay {
                None => Some(crate::format::grub::ROOTDELAY.to_string()),
                Some(0) => None,
                Some(n) => Some(format!("rootdelay={n}")),
            },
        };
        // initramfs-tools (Debian, Ubuntu, Kali) sleeps `rootdelay` seconds
        // at every boot; dracut waits at most that long for the root device.
        if cx.os.family == crate::inspect::os::Family::Debian && p.rootdelay.is_some() {
            p.plan.warn(format!(
                "{} on {}: initramfs-tools sleeps that long at every boot (its init runs `sleep $ROOTDELAY`), \
                 where dracut only waits up to that long for the root disk; the requirement asks for it; \
                 --rootdelay 0 leaves it out",
                p.rootdelay.as_deref().unwrap_or_default(),
                cx.os
            ));
        }
        p.run()?;
        Ok(p.plan)
    }
}

/// A config file read for editing: the path asked for, the file it resolves to, its text.
struct Loaded {
    asked: PathBuf,
    path: PathBuf,
    text: String,
}

impl Loaded {
    /// `grub.conf` or `menu.lst -> grub.conf`.
    fn name(&self) -> String {
        if self.asked == self.path {
            self.path.display().to_string()
        } else {
            format!("{} (-> {})", self.asked.display(), self.path.display())
        }
    }
}

/// Finds the UUID of the swap a kernel disk name holds.
type SwapLookup<'c> = Box<dyn Fn(&str) -> Option<String> + 'c>;

struct Planner<'c, 'a> {
    cx: &'c Context<'a>,
    plan: StepPlan,
    uuid: Option<String>,
    /// Resolved paths already handled (a link and its target are one file).
    done: BTreeSet<PathBuf>,
    /// Files with a `root=` kernel disk name kept for want of a UUID.
    root_kept: BTreeSet<String>,
    /// Files with a `resume=` kernel disk name kept: no swap found there.
    resume_kept: BTreeSet<String>,
    /// The UUID of the swap a kernel disk name holds (for `resume=`).
    swap_uuid: SwapLookup<'c>,
    /// Some boot loader config exists.
    found: bool,
    /// BLS entries whose options use `$kernelopts`.
    uses_kernelopts: Vec<String>,
    /// A `kernelopts` was found (grubenv or `set kernelopts`).
    kernelopts_set: bool,
    /// The `rootdelay=` argument, or none (`--rootdelay 0`).
    rootdelay: Option<String>,
}

/// A text split in lines, each with its line ending.
fn lines_of(text: &str) -> Vec<(String, String)> {
    text.split_inclusive('\n')
        .map(|l| {
            let body = l.strip_suffix('\n').unwrap_or(l);
            let body2 = body.strip_suffix('\r').unwrap_or(body);
            (body2.to_string(), l[body2.len()..].to_string())
        })
        .collect()
}

fn join_lines(lines: &[(String, String)]) -> String {
    lines.iter().map(|(b, e)| format!("{b}{e}")).collect()
}

/// `a` lines of `n` entries: delta; one phrase of a write's reason.
fn phrase(what: &str, n: usize, unit: &str, d: &Delta) -> String {
    let unit = match (n, unit) {
        (1, u) => u.to_string(),
        (_, "entry") => "entries".to_string(),
        (_, u) => format!("{u}s"),
    };
    format!("{what} of {n} {unit}: {d}")
}

impl Planner<'_, '_> {
    fn gerr(&self, e: crate::guest::GuestError) -> EditError {
        EditError::guest(self.plan.step, e)
    }

    fn rule(&self, mode: Mode, extra: Vec<String>) -> CmdlineRule<'_> {
        CmdlineRule {
            mode,
            root_uuid: self.uuid.as_deref(),
            is_disk_name: is_kernel_disk_name,
            extra_consoles: extra,
            rootdelay: self.rootdelay.as_deref(),
            resume_uuid: Some(&*self.swap_uuid),
        }
    }

    /// Apply `mode` to argument text; notes a kept `root=` for `file`.
    fn edit(
        &mut self,
        file: &Path,
        s: &str,
        q: Quoting,
        after_word: bool,
        mode: Mode,
        extra: Vec<String>,
    ) -> (String, Delta) {
        let (t, d) = edit_args(s, q, after_word, &self.rule(mode, extra));
        if let Some(r) = &d.root_kept {
            self.root_kept.insert(format!("{} ({r})", file.display()));
        }
        if let Some(r) = &d.resume_kept {
            self.resume_kept.insert(format!("{} ({r})", file.display()));
        }
        (t, d)
    }

    /// Follow symlinks at `path` inside the guest (planned links seen).
    /// `None`: a loop.
    fn resolve(&self, path: &Path) -> Result<Option<PathBuf>, EditError> {
        let mut p = norm(path);
        for _ in 0..40 {
            match self.cx.before(&p).map_err(|e| self.gerr(e))? {
                Before::Symlink { target } => {
                    // Relative to the link's directory; `..` stops at the guest's root.
                    p = norm(&p.parent().unwrap_or(Path::new("/")).join(target));
                }
                _ => return Ok(Some(p)),
            }
        }
        Ok(None)
    }

    /// Read `path` for editing: `None` when absent, already handled (a
    /// link to a file edited before), or not editable (with a warning).
    fn load(&mut self, path: &Path) -> Result<Option<Loaded>, EditError> {
        if !self.cx.exists(path).map_err(|e| self.gerr(e))? {
            return Ok(None);
        }
        let Some(real) = self.resolve(path)? else {
            self.plan
                .warn(format!("{}: a symlink loop; left alone", path.display()));
            return Ok(None);
        };
        if self.done.contains(&real) {
            if real == norm(path) {
                return Ok(None);
            }
            self.plan.check(
                format!("{} is a link to {}", path.display(), real.display()),
                true,
                "edited once, through its target; the link is kept",
            );
            return Ok(None);
        }
        let bytes = match self.cx.before(&real).map_err(|e| self.gerr(e))? {
            Before::File { bytes, .. } => bytes,
            Before::Absent => {
                self.plan.warn(format!(
                    "{} is a link to {}, which does not exist; left alone",
                    path.display(),
                    real.display()
                ));
                return Ok(None);
            }
            Before::Other { what } => {
                self.plan.warn(format!(
                    "{} is {what}, not a config file; left alone",
                    real.display()
                ));
                return Ok(None);
            }
            Before::Symlink { .. } | Before::NotApplicable => return Ok(None),
        };
        self.done.insert(real.clone());
        let Ok(text) = String::from_utf8(bytes) else {
            self.plan
                .warn(format!("{} is not UTF-8 text; left alone", real.display()));
            return Ok(None);
        };
        Ok(Some(Loaded {
            asked: norm(path),
            path: real,
            text,
        }))
    }

    /// Plan writing `text` to the loaded file when it changed.
    fn write(&mut self, f: &Loaded, text: String, phrases: &[String]) -> Result<(), EditError> {
        if text != f.text {
            let why = format!("{}: {}", f.name(), phrases.join("; "));
            self.plan.write(self.cx, &f.path, text.into_bytes(), why)?;
        }
        Ok(())
    }

    /// `/boot/efi/EFI/<vendor>/<name>` for every vendor directory, with the
    /// name as the ESP spells it: FAT is case-insensitive (`GRUB.CFG` written by
    /// mtools is `grub.cfg`), and a write under another spelling would rename
    /// the file.
    fn efi_paths(&self, name: &str) -> Result<Vec<PathBuf>, EditError> {
        let mut out = Vec::new();
        for (d, kind) in self.cx.list_dir(EFI_DIR).map_err(|e| self.gerr(e))? {
            if matches!(kind, FileKind::Dir | FileKind::Symlink | FileKind::Unknown) {
                let dir = Path::new(EFI_DIR).join(&d);
                let entries = self.cx.list_dir(&dir).map_err(|e| self.gerr(e))?;
                let spelled = entries
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .find(|n| n.eq_ignore_ascii_case(name))
                    .unwrap_or(name);
                out.push(dir.join(spelled));
            }
        }
        Ok(out)
    }

    fn run(&mut self) -> Result<(), EditError> {
        let mut looked: Vec<String> = Vec::new();

        // GRUB legacy.
        let any = self.each_config(&LEGACY, "grub.conf", Some(&mut looked), Self::legacy)?;
        self.absent(any, "GRUB legacy config", "grub.conf / menu.lst");

        // GRUB 2 defaults.
        looked.push(DEFAULT_GRUB.into());
        match self.load(Path::new(DEFAULT_GRUB))? {
            Some(f) => {
                self.found = true;
                self.default_grub(&f)?;
            }
            None => self.absent(false, "GRUB 2 defaults", DEFAULT_GRUB),
        }

        // Its drop-ins, read after it by grub-mkconfig.
        let mut dropins: Vec<String> = self
            .cx
            .list_dir(DEFAULT_GRUB_D)
            .map_err(|e| self.gerr(e))?
            .into_iter()
            .filter(|(n, k)| n.ends_with(".cfg") && *k != FileKind::Dir)
            .map(|(n, _)| n)
            .collect();
        dropins.sort();
        for name in dropins {
            if let Some(f) = self.load(&Path::new(DEFAULT_GRUB_D).join(&name))? {
                self.default_grub_dropin(&f)?;
            }
        }

        // GRUB 2 generated configs.
        let any = self.each_config(&GRUB_CFG, "grub.cfg", Some(&mut looked), Self::grub_cfg)?;
        self.absent(any, "GRUB 2 generated config", "grub.cfg");

        // BLS entries.
        looked.push(format!("{BLS_DIR}/*.conf"));
        let mut any = false;
        for (name, kind) in self.cx.list_dir(BLS_DIR).map_err(|e| self.gerr(e))? {
            if !name.ends_with(".conf") || kind == FileKind::Dir {
                continue;
            }
            any = true;
            if let Some(f) = self.load(&Path::new(BLS_DIR).join(&name))? {
                self.found = true;
                self.bls(&f)?;
            }
        }
        self.absent(any, "BLS entries", &format!("{BLS_DIR}/*.conf"));

        // GRUB environment blocks.
        self.each_config(&GRUBENV, "grubenv", None, Self::grubenv)?;
        if !self.uses_kernelopts.is_empty() && !self.kernelopts_set {
            self.plan.warn(format!(
                "{} use $kernelopts, but no grubenv or grub.cfg sets it; those entries were not given the serial console",
                self.uses_kernelopts.join(", ")
            ));
        }

        // Command lines of kernels installed later.
        if let Some(f) = self.load(Path::new(KERNEL_CMDLINE))? {
            self.kernel_cmdline(&f)?;
        }
        if let Some(f) = self.load(Path::new(SYSCONFIG_BOOTLOADER))? {
            self.sysconfig_bootloader(&f)?;
        }

        if !self.found {
            self.plan.block(format!(
                "no boot loader configuration found (looked at {}); the serial console cannot be enabled",
                looked.join(", ")
            ));
        }
        if !self.root_kept.is_empty() {
            let list: Vec<String> = self.root_kept.iter().cloned().collect();
            self.plan.warn(format!(
                "root= names a disk the source hypervisor named, kept because the root filesystem's UUID is unknown: {}",
                list.join(", ")
            ));
        }
        if !self.resume_kept.is_empty() {
            let list: Vec<String> = self.resume_kept.iter().cloned().collect();
            self.plan.warn(format!(
                "resume= names a disk the source hypervisor named and no swap with a UUID was found there, so it was kept; \
                 if that disk is named otherwise on Azure, the initramfs waits for it at every boot: {}",
                list.join(", ")
            ));
        }
        Ok(())
    }

    /// Hand each of `fixed` and `/boot/efi/EFI/*/<efi_name>` that loads to
    /// `handle` (the names noted in `looked`); true when one of them exists.
    fn each_config(
        &mut self,
        fixed: &[&str],
        efi_name: &str,
        looked: Option<&mut Vec<String>>,
        handle: fn(&mut Self, &Loaded) -> Result<(), EditError>,
    ) -> Result<bool, EditError> {
        let mut paths: Vec<PathBuf> = fixed.iter().map(PathBuf::from).collect();
        paths.extend(self.efi_paths(efi_name)?);
        if let Some(looked) = looked {
            looked.extend(fixed.iter().map(|s| s.to_string()));
            looked.push(format!("{EFI_DIR}/*/{efi_name}"));
        }
        let mut any = false;
        for path in &paths {
            any |= self.cx.exists(path).map_err(|e| self.gerr(e))?;
            if let Some(f) = self.load(path)? {
                handle(self, &f)?;
            }
        }
        Ok(any)
    }

    /// Record `what` as already so when `changes` is empty, else the changes.
    fn check_done(&mut self, what: String, changes: &[String]) {
        let detail = if changes.is_empty() {
            "already so".to_string()
        } else {
            changes.join("; ")
        };
        self.plan.check(what, changes.is_empty(), detail);
    }

    /// Record that `d` (one place's change) is already so, or what it changes.
    fn check_delta(&mut self, what: String, d: &Delta) {
        self.plan.check(
            what,
            d.is_empty(),
            if d.is_empty() {
                "already so".into()
            } else {
                d.to_string()
            },
        );
    }

    /// The full rule applied to the kernel arguments after `off` in `body`
    /// (a `kernel`/`linux` line), checked as `what`; `body` is changed when
    /// they are. Returns what changed.
    fn edit_line(
        &mut self,
        file: &Path,
        body: &mut String,
        off: usize,
        q: Quoting,
        what: String,
    ) -> Delta {
        let (args, d) = self.edit(file, &body[off..], q, true, Mode::Full, Vec::new());
        self.check_delta(what, &d);
        if !d.is_empty() {
            *body = format!("{}{args}", &body[..off]);
        }
        d
    }

    fn absent(&mut self, any: bool, what: &str, files: &str) {
        if !any {
            self.plan.check(
                format!("{what} ({files})"),
                true,
                "none in this guest; nothing to do",
            );
        }
    }

    fn legacy(&mut self, f: &Loaded) -> Result<(), EditError> {
        self.found = true;
        let mut lines = lines_of(&f.text);
        let mut title: Option<String> = None;
        let (mut n, mut total) = (0, Delta::default());
        for (body, _) in lines.iter_mut() {
            if let Some(t) = legacy_title(body) {
                title = Some(t.to_string());
                continue;
            }
            let Some(t) = title.clone() else { continue };
            let Some(off) = legacy_kernel_line(body) else {
                continue;
            };
            let what = format!(
                "{} entry `{t}`: serial console on its kernel line",
                f.name()
            );
            let d = self.edit_line(&f.path, body, off, Quoting::Kernel, what);
            if !d.is_empty() {
                n += 1;
                total.merge(&d);
            }
        }
        if title.is_none() {
            self.plan.check(
                format!("{}: GRUB legacy entries", f.name()),
                true,
                "no `title` stanza; nothing to edit",
            );
        }
        self.write(
            f,
            join_lines(&lines),
            &[phrase("`kernel` lines", n, "entry", &total)],
        )
    }

    fn grub_cfg(&mut self, f: &Loaded) -> Result<(), EditError> {
        self.found = true;
        let mut lines = lines_of(&f.text);
        let mut title = String::from("(outside a menuentry)");
        let mut kinds: BTreeSet<String> = BTreeSet::new();
        let (mut n, mut total) = (0, Delta::default());
        let (mut nvars, mut vtotal) = (0, Delta::default());
        let mut seen = 0;
        for (body, _) in lines.iter_mut() {
            if let Some(t) = grub_menuentry_title(body) {
                title = t;
                continue;
            }
            if let Some((cmd, off)) = grub_linux_line(body) {
                seen += 1;
                let cmd = cmd.to_string();
                let what = format!(
                    "{} entry `{title}`: serial console on its `{cmd}` line",
                    f.name()
                );
                let d = self.edit_line(&f.path, body, off, Quoting::Grub, what);
                if !d.is_empty() {
                    kinds.insert(format!("`{cmd}`"));
                    n += 1;
                    total.merge(&d);
                }
                continue;
            }
            if let Some(Ok(a)) = parse_assignment(body, true) {
                if a.name != "kernelopts" && a.name != "default_kernelopts" {
                    continue;
                }
                seen += 1;
                self.kernelopts_set = true;
                let raw = body[a.content.clone()].to_string();
                let (new, d) = self.edit(&f.path, &raw, a.quoting(), false, Mode::Full, Vec::new());
                self.check_delta(
                    format!("{}: `set {}` has the serial console", f.name(), a.name),
                    &d,
                );
                if !d.is_empty() {
                    *body = a.replace(body, &new);
                    nvars += 1;
                    vtotal.merge(&d);
                }
            }
        }
        if seen == 0 {
            self.plan.check(
                format!("{}: kernel command lines", f.name()),
                true,
                "none (a wrapper that loads another config, or BLS entries); left alone",
            );
            return Ok(());
        }
        let mut phrases = Vec::new();
        if n > 0 {
            let what = format!("{} lines", kinds.into_iter().collect::<Vec<_>>().join("/"));
            phrases.push(phrase(&what, n, "entry", &total));
        }
        if nvars > 0 {
            let what = if nvars == 1 { "line" } else { "lines" };
            phrases.push(format!("`set kernelopts` {what}: {vtotal}"));
        }
        self.write(f, join_lines(&lines), &phrases)
    }

    fn default_grub(&mut self, f: &Loaded) -> Result<(), EditError> {
        let mut lines = lines_of(&f.text);
        let mut phrases = Vec::new();
        // GRUB_CMDLINE_LINUX_DEFAULT: stripped; its other consoles move
        // (unless GRUB_CMDLINE_LINUX cannot take them).
        let linux_readable = !lines.iter().any(|(b, _)| {
            matches!(parse_assignment(b, false), Some(Err(_))) && assigns(b, "GRUB_CMDLINE_LINUX")
        });
        let strip = Mode::Strip {
            take_consoles: linux_readable,
        };
        let dtotal = self
            .edit_key(
                f,
                &mut lines,
                "GRUB_CMDLINE_LINUX_DEFAULT",
                strip,
                strip,
                Vec::new(),
            )
            .map(|(d, _)| d)
            .unwrap_or_default();
        let taken = dtotal.taken_consoles.clone();
        if !dtotal.is_empty() {
            let mut s = format!("GRUB_CMDLINE_LINUX_DEFAULT: {dtotal}");
            if !taken.is_empty() {
                s.push_str(&format!(
                    " ({} moved to GRUB_CMDLINE_LINUX, before ttyS0)",
                    taken.join(" ")
                ));
            }
            phrases.push(s);
        }
        // GRUB_CMDLINE_LINUX: the last assignment gets the rule, earlier
        // ones are stripped; none: one is added.
        let mut ltotal = Delta::default();
        let earlier = Mode::Strip {
            take_consoles: false,
        };
        match self.edit_key(
            f,
            &mut lines,
            "GRUB_CMDLINE_LINUX",
            Mode::Full,
            earlier,
            taken.clone(),
        ) {
            Some((d, 0)) => {
                let (new, d2) = self.edit(
                    &f.path,
                    "",
                    Quoting::ShellDouble,
                    false,
                    Mode::Full,
                    taken.clone(),
                );
                append_line(&mut lines, format!("GRUB_CMDLINE_LINUX=\"{new}\""));
                ltotal.merge(&d);
                ltotal.merge(&d2);
            }
            Some((d, _)) => ltotal = d,
            None => {}
        }
        if !ltotal.is_empty() {
            phrases.push(format!("GRUB_CMDLINE_LINUX: {ltotal}"));
        }
        let cmdline_ok = dtotal.is_empty() && ltotal.is_empty();
        self.plan.check(
            format!("{}: GRUB_CMDLINE_LINUX has the serial console, GRUB_CMDLINE_LINUX_DEFAULT no rhgb/quiet", f.name()),
            cmdline_ok,
            if cmdline_ok { "already so".to_string() } else { phrases.join("; ") },
        );
        // The GRUB menu on the serial console.
        let mut term = Vec::new();
        for (key, want, ok) in SERIAL_MENU {
            if set_var(&mut lines, key, want, ok) {
                term.push(format!("{key}=\"{want}\""));
            }
        }
        self.check_done(
            format!("{}: the GRUB menu is on the serial console", f.name()),
            &term,
        );
        phrases.extend(term);
        self.write(f, join_lines(&lines), &phrases)
    }

    /// A `/etc/default/grub.d/*.cfg` drop-in: it is sourced after
    /// `/etc/default/grub` (Ubuntu's cloud images set their command line
    /// there), so what it assigns wins at the next grub-mkconfig. Only its
    /// own assignments are edited: `GRUB_CMDLINE_LINUX_DEFAULT` is stripped;
    /// a `GRUB_CMDLINE_LINUX` that builds on the earlier value
    /// (`"$GRUB_CMDLINE_LINUX ..."`) is stripped, one that replaces it gets
    /// the full rule; a `GRUB_TERMINAL` / `GRUB_SERIAL_COMMAND` it sets is
    /// made serial as in `/etc/default/grub`. Nothing is added to a drop-in
    /// that sets none of them.
    fn default_grub_dropin(&mut self, f: &Loaded) -> Result<(), EditError> {
        let mut lines = lines_of(&f.text);
        let mut phrases = Vec::new();
        let strip = Mode::Strip {
            take_consoles: false,
        };
        if let Some((d, _)) = self.edit_key(
            f,
            &mut lines,
            "GRUB_CMDLINE_LINUX_DEFAULT",
            strip,
            strip,
            Vec::new(),
        ) {
            if !d.is_empty() {
                phrases.push(format!("GRUB_CMDLINE_LINUX_DEFAULT: {d}"));
            }
        }
        let builds_on =
            |b: &str| b.contains("$GRUB_CMDLINE_LINUX") || b.contains("${GRUB_CMDLINE_LINUX}");
        let last = lines
            .iter()
            .rev()
            .find_map(|(b, _)| match parse_assignment(b, false) {
                Some(Ok(a)) if a.name == "GRUB_CMDLINE_LINUX" => {
                    Some(builds_on(&b[a.content.clone()]))
                }
                _ => None,
            });
        if let Some(extends) = last {
            let mode = if extends { strip } else { Mode::Full };
            if let Some((d, _)) =
                self.edit_key(f, &mut lines, "GRUB_CMDLINE_LINUX", mode, strip, Vec::new())
            {
                if !d.is_empty() {
                    phrases.push(format!("GRUB_CMDLINE_LINUX: {d}"));
                }
            }
        }
        for (key, want, ok) in SERIAL_MENU {
            if lines.iter().any(|(b, _)| assigns(b, key)) && set_var(&mut lines, key, want, ok) {
                phrases.push(format!("{key}=\"{want}\""));
            }
        }
        self.check_done(
            format!("{}: what it sets keeps the serial console", f.name()),
            &phrases,
        );
        self.write(f, join_lines(&lines), &phrases)
    }

    fn bls(&mut self, f: &Loaded) -> Result<(), EditError> {
        let mut lines = lines_of(&f.text);
        let opts: Vec<(usize, usize)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, (b, _))| bls_options(b).map(|off| (i, off)))
            .collect();
        if opts.is_empty() {
            self.plan
                .warn(format!("{}: no `options` line; left alone", f.name()));
            return Ok(());
        }
        let uses_var = opts.iter().any(|&(i, off)| {
            lines[i].0[off..]
                .split_whitespace()
                .any(|w| w.contains("$kernelopts") || w.contains("${kernelopts}"))
        });
        if uses_var {
            self.uses_kernelopts.push(f.path.display().to_string());
        }
        let mut total = Delta::default();
        for (k, &(i, off)) in opts.iter().enumerate() {
            let last = k + 1 == opts.len();
            let mode = if last && !uses_var {
                Mode::Full
            } else {
                Mode::Strip {
                    take_consoles: false,
                }
            };
            let body = lines[i].0.clone();
            let (args, d) = self.edit(
                &f.path,
                &body[off..],
                Quoting::Kernel,
                true,
                mode,
                Vec::new(),
            );
            if !d.is_empty() {
                lines[i].0 = format!("{}{args}", &body[..off]);
                total.merge(&d);
            }
        }
        let detail = if total.is_empty() {
            if uses_var {
                "uses $kernelopts (edited in grubenv)".to_string()
            } else {
                "already so".to_string()
            }
        } else {
            total.to_string()
        };
        self.plan.check(
            format!("{}: serial console on its `options`", f.name()),
            total.is_empty(),
            detail,
        );
        self.write(f, join_lines(&lines), &[format!("`options`: {total}")])
    }

    fn grubenv(&mut self, f: &Loaded) -> Result<(), EditError> {
        let mut env = match GrubEnv::parse(f.text.as_bytes()) {
            Ok(e) => e,
            Err(e) => {
                self.plan.warn(format!(
                    "{}: not a GRUB environment block ({e}); left alone",
                    f.name()
                ));
                return Ok(());
            }
        };
        let Some(value) = env.get("kernelopts").map(str::to_string) else {
            self.plan.check(
                format!("{}: kernelopts", f.name()),
                true,
                "not set; nothing to edit",
            );
            return Ok(());
        };
        self.kernelopts_set = true;
        let (new, d) = self.edit(
            &f.path,
            &value,
            Quoting::Kernel,
            false,
            Mode::Full,
            Vec::new(),
        );
        self.check_delta(
            format!("{}: kernelopts has the serial console", f.name()),
            &d,
        );
        if d.is_empty() {
            return Ok(());
        }
        env.set("kernelopts", &new);
        match env.to_bytes() {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).expect("grubenv text stays UTF-8");
                self.write(
                    f,
                    text,
                    &[format!("kernelopts: {d} (block size {} kept)", env.size())],
                )
            }
            Err(e) => {
                self.plan.block(format!(
                    "{}: the edited kernelopts does not fit: {e}; shorten the other variables (grub2-editenv {} unset ...) and run again",
                    f.name(),
                    f.path.display()
                ));
                Ok(())
            }
        }
    }

    fn kernel_cmdline(&mut self, f: &Loaded) -> Result<(), EditError> {
        let body = f.text.trim_end_matches(['\n', '\r']);
        let end = &f.text[body.len()..];
        let (new, d) = self.edit(
            &f.path,
            body,
            Quoting::Kernel,
            false,
            Mode::Full,
            Vec::new(),
        );
        self.check_delta(
            format!("{}: serial console for kernels installed later", f.name()),
            &d,
        );
        let end = if end.is_empty() { "\n" } else { end };
        let text = if d.is_empty() {
            f.text.clone()
        } else {
            format!("{new}{end}")
        };
        self.write(f, text, &[d.to_string()])
    }

    fn sysconfig_bootloader(&mut self, f: &Loaded) -> Result<(), EditError> {
        let mut lines = lines_of(&f.text);
        let mut phrases = Vec::new();
        let mut any = false;
        let earlier = Mode::Strip {
            take_consoles: false,
        };
        for key in ["DEFAULT_APPEND", "FAILSAFE_APPEND"] {
            let Some((total, n)) =
                self.edit_key(f, &mut lines, key, Mode::Full, earlier, Vec::new())
            else {
                any = true;
                continue;
            };
            if n == 0 {
                continue;
            }
            any = true;
            self.check_delta(
                format!("{}: {key} has the serial console", f.name()),
                &total,
            );
            if !total.is_empty() {
                phrases.push(format!("{key}: {total}"));
            }
        }
        if !any {
            self.plan.check(
                format!("{}: DEFAULT_APPEND / FAILSAFE_APPEND", f.name()),
                true,
                "not set (this boot loader setup does not build command lines from it)",
            );
        }
        self.write(f, join_lines(&lines), &phrases)
    }

    /// Edit the assignments of `key`: the last with `last`, earlier ones
    /// with `earlier`. Returns what changed and how many assignments there
    /// are; `None` (with a warning, nothing edited) when one of them cannot
    /// be read (a value continued on the next line): editing the others, or
    /// adding one, could lose what it sets.
    fn edit_key(
        &mut self,
        f: &Loaded,
        lines: &mut [(String, String)],
        key: &str,
        last: Mode,
        earlier: Mode,
        extra: Vec<String>,
    ) -> Option<(Delta, usize)> {
        let mut idx = Vec::new();
        for (i, (body, _)) in lines.iter().enumerate() {
            match parse_assignment(body, false) {
                Some(Ok(a)) if a.name == key => idx.push(i),
                Some(Err(e)) if assigns(body, key) => {
                    self.plan.warn(format!(
                        "{}: `{}`: {e}; {key} left alone, edit it by hand",
                        f.name(),
                        body.trim()
                    ));
                    return None;
                }
                _ => {}
            }
        }
        let mut total = Delta::default();
        for (k, &i) in idx.iter().enumerate() {
            let is_last = k + 1 == idx.len();
            let body = lines[i].0.clone();
            let Some(Ok(a)) = parse_assignment(&body, false) else {
                continue;
            };
            let raw = body[a.content.clone()].to_string();
            let (mode, extra) = if is_last {
                (last, extra.clone())
            } else {
                (earlier, Vec::new())
            };
            let (new, d) = self.edit(&f.path, &raw, a.quoting(), false, mode, extra);
            if !d.is_empty() {
                lines[i].0 = a.replace(&body, &new);
                total.merge(&d);
            }
        }
        Some((total, idx.len()))
    }
}

/// Whether `line` assigns `key` (`KEY=`, `export KEY=`), readable or not.
fn assigns(line: &str, key: &str) -> bool {
    let t = line.trim_start();
    let t = t.strip_prefix("export").map_or(t, |r| r.trim_start());
    t.strip_prefix(key).is_some_and(|r| r.starts_with('='))
}

/// A BLS `options` line: the byte offset after the key.
fn bls_options(line: &str) -> Option<usize> {
    let t = line.trim_start_matches([' ', '\t']);
    let rest = t.strip_prefix("options")?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some(line.len() - rest.len())
}

/// `GRUB_TERMINAL` already includes the serial terminal.
fn terminal_ok(v: &str) -> bool {
    v.split_whitespace().any(|w| w == "serial")
}

/// `GRUB_SERIAL_COMMAND` already drives unit 0 at 115200.
fn serial_command_ok(v: &str) -> bool {
    let words: Vec<&str> = v.split_whitespace().collect();
    words.first() == Some(&"serial")
        && words.contains(&"--speed=115200")
        && words
            .iter()
            .all(|w| w.strip_prefix("--unit=").map_or(true, |u| u == "0"))
}

/// Make the last assignment of `key` one that `ok` accepts, else set it to
/// `want` in place (appended when absent). True when something changed.
fn set_var(lines: &mut Vec<(String, String)>, key: &str, want: &str, ok: ValueOk) -> bool {
    let last =
        lines
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, (b, _))| match parse_assignment(b, false) {
                Some(Ok(a)) if a.name == key => Some((i, a)),
                _ => None,
            });
    match last {
        Some((i, a)) => {
            if ok(&assignment_value(&lines[i].0, &a)) {
                return false;
            }
            let lead = &lines[i].0[..lines[i].0.len() - lines[i].0.trim_start().len()];
            lines[i].0 = format!("{lead}{key}=\"{want}\"");
            true
        }
        None => {
            append_line(lines, format!("{key}=\"{want}\""));
            true
        }
    }
}

/// Append a line, ending the previous last line first when it has no newline.
fn append_line(lines: &mut Vec<(String, String)>, line: String) {
    if let Some((_, end)) = lines.last_mut() {
        if end.is_empty() {
            *end = "\n".into();
        }
    }
    lines.push((line, "\n".into()));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tempfile::TempDir;

    use super::*;
    use crate::edit::facts::{FsRef, SystemFacts};
    use crate::edit::plan::{Action, Pending, StepOptions};
    use crate::edit::txn;
    use crate::guest::GuestRoot;
    use crate::inspect::os::{Distro, Family, OsIdentity, Version};
    use crate::layout::FsInfo;

    const UUID: &str = "6f1c2b0e-8a1d-4c1e-9a43-2b1d5e7f9c10";
    const SERIAL: &str = "console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300";

    fn os() -> OsIdentity {
        OsIdentity {
            family: Family::RedHat,
            distro: Distro::Rhel,
            version: Version {
                major: 7,
                minor: 9,
                raw: "7.9".into(),
            },
            pretty: "test".into(),
            sources: Vec::new(),
        }
    }

    fn facts(uuid: Option<&str>) -> SystemFacts {
        let mut f = SystemFacts::none();
        f.root = uuid.map(|u| FsRef {
            volume: "disk 0 partition 2".into(),
            disk: Some(0),
            fs: FsInfo {
                fs_type: "ext4".into(),
                uuid: Some(u.into()),
                uuid_sub: None,
                label: None,
                version: None,
                block_size: None,
                fs_size: None,
                offset: 0,
            },
        });
        f
    }

    fn guest(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> (TempDir, GuestRoot) {
        let dir = tempfile::tempdir().unwrap();
        for (p, b) in files {
            let host = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            std::fs::write(host, b).unwrap();
        }
        for (p, t) in links {
            let host = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(t, host).unwrap();
        }
        let g = GuestRoot::open(dir.path()).unwrap();
        (dir, g)
    }

    fn plan_with(g: &GuestRoot, f: &SystemFacts, pending: &Pending) -> StepPlan {
        let os = os();
        let opts = StepOptions::default();
        let cx = Context::new(g, &os, f, &opts, pending);
        Bootloader.plan(&cx).unwrap()
    }

    /// Plan, then plan again on the result: the second plan must want nothing.
    fn plan_idem(g: &GuestRoot, f: &SystemFacts) -> StepPlan {
        let p = plan_with(g, f, &Pending::default());
        let mut pending = Pending::default();
        pending.absorb(&p);
        let again = plan_with(g, f, &pending);
        assert!(
            again.changes.is_empty(),
            "not idempotent: {:#?}",
            again.changes
        );
        assert!(again.checks.iter().all(|c| c.ok), "{:#?}", again.checks);
        p
    }

    fn written(p: &StepPlan, path: &str) -> String {
        let hits: Vec<&Vec<u8>> = p
            .changes
            .iter()
            .filter_map(|c| match &c.action {
                Action::Write { path: w, bytes, .. } if w == Path::new(path) => Some(bytes),
                _ => None,
            })
            .collect();
        assert_eq!(hits.len(), 1, "writes of {path}: {:#?}", p.changes);
        String::from_utf8(hits[0].clone()).unwrap()
    }

    fn why(p: &StepPlan, path: &str) -> String {
        p.changes
            .iter()
            .find(|c| c.action.path() == Some(Path::new(path)))
            .map(|c| c.why.clone())
            .unwrap()
    }

    const RHEL7_CFG: &str = "\
### BEGIN /etc/grub.d/10_linux ###
menuentry 'Red Hat Enterprise Linux Server (3.10.0-1160.el7.x86_64) 7.9 (Maipo)' --class red --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'gnulinux-3.10.0-1160.el7.x86_64-advanced-0a1b' {
\tload_video
\tset gfxpayload=keep
\tinsmod gzio
\tinsmod part_msdos
\tinsmod xfs
\tset root='hd0,msdos1'
\tlinux16 /vmlinuz-3.10.0-1160.el7.x86_64 root=/dev/mapper/rhel-root ro crashkernel=auto rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet LANG=en_US.UTF-8
\tinitrd16 /initramfs-3.10.0-1160.el7.x86_64.img
}
menuentry 'Red Hat Enterprise Linux Server (0-rescue-0a1b) 7.9 (Maipo)' --class red --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'gnulinux-0-rescue-0a1b-advanced-0a1b' {
\tload_video
\tinsmod gzio
\tlinux16 /vmlinuz-0-rescue-0a1b root=/dev/mapper/rhel-root ro crashkernel=auto rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet
\tinitrd16 /initramfs-0-rescue-0a1b.img
}
### END /etc/grub.d/10_linux ###
";

    const RHEL7_DEFAULT: &str = "\
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"
GRUB_DEFAULT=saved
GRUB_DISABLE_SUBMENU=true
GRUB_TERMINAL_OUTPUT=\"console\"
GRUB_CMDLINE_LINUX=\"crashkernel=auto rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet\"
GRUB_DISABLE_RECOVERY=\"true\"
";

    fn grubenv(vars: &str) -> Vec<u8> {
        let mut b = format!("# GRUB Environment Block\n{vars}").into_bytes();
        b.resize(1024, b'#');
        b
    }

    #[test]
    fn rhel7_grub2() {
        let env = grubenv(
            "saved_entry=Red Hat Enterprise Linux Server (3.10.0-1160.el7.x86_64) 7.9 (Maipo)\n",
        );
        let (_d, g) = guest(
            &[
                ("/boot/grub2/grub.cfg", RHEL7_CFG.as_bytes()),
                ("/etc/default/grub", RHEL7_DEFAULT.as_bytes()),
                ("/boot/grub2/grubenv", &env),
            ],
            &[],
        );
        let p = plan_idem(&g, &facts(Some(UUID)));
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        assert_eq!(p.changes.len(), 2, "{:#?}", p.changes);
        let cfg = written(&p, "/boot/grub2/grub.cfg");
        assert_eq!(
            cfg,
            RHEL7_CFG
                .replace(
                    "crashkernel=auto rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet LANG=en_US.UTF-8",
                    &format!("rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap LANG=en_US.UTF-8 {SERIAL}")
                )
                .replace(
                    "crashkernel=auto rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet\n",
                    &format!("rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap {SERIAL}\n")
                )
        );
        assert_eq!(
            why(&p, "/boot/grub2/grub.cfg"),
            "/boot/grub2/grub.cfg: `linux16` lines of 2 entries: +console=ttyS0,115200n8 +earlyprintk=ttyS0,115200 +rootdelay=300 -crashkernel=auto -rhgb -quiet"
        );
        assert_eq!(
            written(&p, "/etc/default/grub"),
            "\
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"
GRUB_DEFAULT=saved
GRUB_DISABLE_SUBMENU=true
GRUB_TERMINAL_OUTPUT=\"console\"
GRUB_CMDLINE_LINUX=\"rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300\"
GRUB_DISABLE_RECOVERY=\"true\"
GRUB_TERMINAL=\"serial console\"
GRUB_SERIAL_COMMAND=\"serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1\"
"
        );
        // Two entries checked, one each; grubenv without kernelopts left.
        assert_eq!(
            p.checks
                .iter()
                .filter(|c| c.what.contains("entry `Red Hat"))
                .count(),
            2
        );
        assert!(p
            .checks
            .iter()
            .any(|c| c.what.contains("grubenv: kernelopts") && c.ok));
    }

    const RHEL8_BLS: &str = "\
title Red Hat Enterprise Linux (4.18.0-513.5.1.el8_9.x86_64) 8.9 (Ootpa)
version 4.18.0-513.5.1.el8_9.x86_64
linux /vmlinuz-4.18.0-513.5.1.el8_9.x86_64
initrd /initramfs-4.18.0-513.5.1.el8_9.x86_64.img $tuned_initrd
options $kernelopts $tuned_params
id rhel-20231030144112-4.18.0-513.5.1.el8_9.x86_64
grub_users $grub_users
grub_arg --unrestricted
grub_class rhel
";

    const RHEL8_CFG: &str = "\
set default=\"${saved_entry}\"
if [ -z \"${kernelopts}\" ]; then
  set kernelopts=\"root=/dev/mapper/rhel-root ro crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet \"
fi
insmod blscfg
blscfg
";

    #[test]
    fn rhel8_bls_and_grubenv_through_link() {
        let env = grubenv("saved_entry=0a1b-4.18.0-513.5.1.el8_9.x86_64\nkernelopts=root=/dev/mapper/rhel-root ro crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet \nboot_success=0\n");
        let (dir, g) = guest(
            &[
                (
                    "/boot/loader/entries/0a1b-4.18.0-513.5.1.el8_9.x86_64.conf",
                    RHEL8_BLS.as_bytes(),
                ),
                ("/boot/efi/EFI/redhat/grub.cfg", RHEL8_CFG.as_bytes()),
                ("/boot/efi/EFI/redhat/grubenv", &env),
            ],
            &[("/boot/grub2/grubenv", "../efi/EFI/redhat/grubenv")],
        );
        let p = plan_idem(&g, &facts(None));
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // The entry keeps $kernelopts; grubenv (the link's target) and the fallback are edited.
        assert!(p
            .changes
            .iter()
            .all(|c| !c.action.path().unwrap().starts_with(BLS_DIR)));
        let out = written(&p, "/boot/efi/EFI/redhat/grubenv");
        assert_eq!(out.len(), 1024);
        assert_eq!(
            out.as_bytes(),
            grubenv(&format!("saved_entry=0a1b-4.18.0-513.5.1.el8_9.x86_64\nkernelopts=root=/dev/mapper/rhel-root ro resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap {SERIAL} \nboot_success=0\n"))
        );
        assert!(written(&p, "/boot/efi/EFI/redhat/grub.cfg").contains(&format!(
            "  set kernelopts=\"root=/dev/mapper/rhel-root ro resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap {SERIAL} \"\n"
        )));
        assert_eq!(p.changes.len(), 2);
        // The link stays a link after a commit.
        txn::commit(&g, &[p], &Default::default()).unwrap();
        assert!(
            std::fs::symlink_metadata(dir.path().join("boot/grub2/grubenv"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read(dir.path().join("boot/grub2/grubenv"))
                .unwrap()
                .len(),
            1024
        );
    }

    #[test]
    fn rhel9_bls_kernel_cmdline_efi_wrapper() {
        let opts = "root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet";
        let entry = |v: &str| {
            format!("title Red Hat Enterprise Linux ({v}) 9.3 (Plow)\nversion {v}\nlinux /vmlinuz-{v}\ninitrd /initramfs-{v}.img $tuned_initrd\noptions {opts}\ngrub_users $grub_users\ngrub_arg --unrestricted\ngrub_class rhel\n")
        };
        let e1 = entry("5.14.0-362.8.1.el9_3.x86_64");
        let e2 = entry("0-rescue-0a1b");
        let wrapper = "search --no-floppy --fs-uuid --set=dev 11aa-22bb\nset prefix=($dev)/grub2\n\nexport $prefix\nconfigfile $prefix/grub.cfg\n";
        let main_cfg = "set default=\"${saved_entry}\"\ninsmod blscfg\nblscfg\n";
        let env = grubenv("saved_entry=0a1b-5.14.0-362.8.1.el9_3.x86_64\nboot_success=1\n");
        let cmdline = format!("{opts}\n");
        let (_d, g) = guest(
            &[
                (
                    "/boot/loader/entries/0a1b-5.14.0-362.8.1.el9_3.x86_64.conf",
                    e1.as_bytes(),
                ),
                ("/boot/loader/entries/0a1b-0-rescue.conf", e2.as_bytes()),
                ("/boot/efi/EFI/redhat/grub.cfg", wrapper.as_bytes()),
                ("/boot/grub2/grub.cfg", main_cfg.as_bytes()),
                ("/boot/grub2/grubenv", &env),
                ("/etc/kernel/cmdline", cmdline.as_bytes()),
            ],
            &[],
        );
        let p = plan_idem(&g, &facts(Some(UUID)));
        assert!(
            p.blockers.is_empty() && p.warnings.is_empty(),
            "{:?} {:?}",
            p.blockers,
            p.warnings
        );
        assert_eq!(p.changes.len(), 3, "{:#?}", p.changes);
        let want_opts = format!(
            "root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap {SERIAL}"
        );
        assert_eq!(
            written(
                &p,
                "/boot/loader/entries/0a1b-5.14.0-362.8.1.el9_3.x86_64.conf"
            ),
            e1.replace(opts, &want_opts)
        );
        assert_eq!(
            written(&p, "/boot/loader/entries/0a1b-0-rescue.conf"),
            e2.replace(opts, &want_opts)
        );
        assert_eq!(written(&p, "/etc/kernel/cmdline"), format!("{want_opts}\n"));
        assert!(p
            .checks
            .iter()
            .any(|c| c.what == "/boot/efi/EFI/redhat/grub.cfg: kernel command lines" && c.ok));
    }

    const UBUNTU_DEFAULT: &str = "\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"
GRUB_CMDLINE_LINUX=\"\"

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
";

    #[test]
    fn ubuntu_default_grub() {
        let cfg = "menuentry 'Ubuntu' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-9f1e' {\n\trecordfail\n\tlinux\t/boot/vmlinuz-5.15.0-88-generic root=UUID=9f1e ro  quiet splash $vt_handoff\n\tinitrd\t/boot/initrd.img-5.15.0-88-generic\n}\n";
        let (_d, g) = guest(
            &[
                ("/etc/default/grub", UBUNTU_DEFAULT.as_bytes()),
                ("/boot/grub/grub.cfg", cfg.as_bytes()),
            ],
            &[],
        );
        let p = plan_idem(&g, &facts(Some(UUID)));
        assert!(p.blockers.is_empty(), "{:?}", p.blockers);
        assert_eq!(
            written(&p, "/etc/default/grub"),
            "\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT=\"splash\"
GRUB_CMDLINE_LINUX=\"console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300\"

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
GRUB_TERMINAL=\"serial console\"
GRUB_SERIAL_COMMAND=\"serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1\"
"
        );
        assert_eq!(
            written(&p, "/boot/grub/grub.cfg"),
            cfg.replace(
                "ro  quiet splash $vt_handoff",
                &format!("ro splash $vt_handoff {SERIAL}")
            )
        );
    }

    #[test]
    fn grub_dropins_keep_the_serial_console() {
        let cloud = "# Cloud image settings\nGRUB_CMDLINE_LINUX_DEFAULT=\"console=tty1 console=ttyS0 quiet\"\nGRUB_TERMINAL=console\nGRUB_TIMEOUT=0\n";
        let extends = "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX rhgb nomodeset\"\n";
        let replaces = "GRUB_CMDLINE_LINUX=\"nomodeset crashkernel=auto\"\n";
        let other = "GRUB_DISABLE_OS_PROBER=true\n";
        let (_d, g) = guest(
            &[
                ("/etc/default/grub", UBUNTU_DEFAULT.as_bytes()),
                (
                    "/etc/default/grub.d/50-cloudimg-settings.cfg",
                    cloud.as_bytes(),
                ),
                ("/etc/default/grub.d/60-extends.cfg", extends.as_bytes()),
                ("/etc/default/grub.d/70-replaces.cfg", replaces.as_bytes()),
                ("/etc/default/grub.d/80-other.cfg", other.as_bytes()),
                (
                    "/etc/default/grub.d/90-not-sourced.cfg.bak",
                    replaces.as_bytes(),
                ),
            ],
            &[],
        );
        let p = plan_idem(&g, &facts(Some(UUID)));
        assert_eq!(
            written(&p, "/etc/default/grub.d/50-cloudimg-settings.cfg"),
            "# Cloud image settings\nGRUB_CMDLINE_LINUX_DEFAULT=\"console=tty1\"\nGRUB_TERMINAL=\"serial console\"\nGRUB_TIMEOUT=0\n"
        );
        assert_eq!(
            written(&p, "/etc/default/grub.d/60-extends.cfg"),
            "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX nomodeset\"\n"
        );
        assert_eq!(
            written(&p, "/etc/default/grub.d/70-replaces.cfg"),
            format!("GRUB_CMDLINE_LINUX=\"nomodeset {SERIAL}\"\n")
        );
        for untouched in [
            "/etc/default/grub.d/80-other.cfg",
            "/etc/default/grub.d/90-not-sourced.cfg.bak",
        ] {
            assert!(
                !p.changes
                    .iter()
                    .any(|c| c.action.path() == Some(Path::new(untouched))),
                "{untouched} changed"
            );
        }
    }

    #[test]
    fn default_grub_consoles_move() {
        let text = "GRUB_CMDLINE_LINUX_DEFAULT='console=tty1 console=ttyS0,9600 quiet'\nGRUB_CMDLINE_LINUX=net.ifnames=0\nGRUB_TERMINAL=\"console serial\"\n";
        let (_d, g) = guest(&[("/etc/default/grub", text.as_bytes())], &[]);
        let p = plan_idem(&g, &facts(None));
        assert_eq!(
            written(&p, "/etc/default/grub"),
            format!("GRUB_CMDLINE_LINUX_DEFAULT=''\nGRUB_CMDLINE_LINUX=\"net.ifnames=0 console=tty1 {SERIAL}\"\nGRUB_TERMINAL=\"console serial\"\nGRUB_SERIAL_COMMAND=\"serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1\"\n")
        );
        // No grub.cfg: still found (defaults), no blocker.
        assert!(p.blockers.is_empty());
    }

    #[test]
    fn unreadable_cmdline_is_left_with_a_warning() {
        let text = "GRUB_CMDLINE_LINUX=\"rd.lvm.lv=rhel/root \\\n  rhgb quiet\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n";
        let (_d, g) = guest(&[("/etc/default/grub", text.as_bytes())], &[]);
        let p = plan_idem(&g, &facts(None));
        let out = written(&p, "/etc/default/grub");
        assert!(out.starts_with("GRUB_CMDLINE_LINUX=\"rd.lvm.lv=rhel/root \\\n  rhgb quiet\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"\"\n"), "{out}");
        assert_eq!(out.matches("GRUB_CMDLINE_LINUX=").count(), 1);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("GRUB_CMDLINE_LINUX left alone")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn debian_root_by_uuid_commit_and_rollback() {
        let cfg = "\
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-6f1c' {
\tload_video
\tinsmod gzio
\tinsmod part_msdos
\tinsmod ext2
\tset root='hd0,msdos2'
\techo\t'Loading Linux 6.1.0-13-amd64 ...'
\tlinux\t/vmlinuz-6.1.0-13-amd64 root=/dev/sda2 ro  quiet
\techo\t'Loading initial ramdisk ...'
\tinitrd\t/initrd.img-6.1.0-13-amd64
}
";
        let (dir, g) = guest(&[("/boot/grub/grub.cfg", cfg.as_bytes())], &[]);
        let p = plan_idem(&g, &facts(Some(UUID)));
        let want = cfg.replace(
            "root=/dev/sda2 ro  quiet",
            &format!("root=UUID={UUID} ro {SERIAL}"),
        );
        assert_eq!(written(&p, "/boot/grub/grub.cfg"), want);
        assert!(why(&p, "/boot/grub/grub.cfg")
            .ends_with(&format!("-quiet root=/dev/sda2 -> root=UUID={UUID}")));
        let host = dir.path().join("boot/grub/grub.cfg");
        txn::commit(&g, &[p], &Default::default()).unwrap();
        assert_eq!(std::fs::read_to_string(&host).unwrap(), want);
        // Planning on the committed guest wants nothing.
        assert!(plan_with(&g, &facts(Some(UUID)), &Pending::default())
            .changes
            .is_empty());
        txn::rollback(&g, None).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&host).unwrap(), cfg);
    }

    #[test]
    fn root_kept_without_uuid_warns() {
        let cfg = "menuentry 'x' {\n\tlinux /vmlinuz root=/dev/sda2 ro\n}\n";
        let (_d, g) = guest(&[("/boot/grub/grub.cfg", cfg.as_bytes())], &[]);
        let p = plan_idem(&g, &facts(None));
        assert!(written(&p, "/boot/grub/grub.cfg").contains("root=/dev/sda2 ro console="));
        assert!(
            p.warnings.iter().any(|w| w.contains("root=/dev/sda2")),
            "{:?}",
            p.warnings
        );
    }

    const RHEL6_CONF: &str = "\
# grub.conf generated by anaconda
#
# Note that you do not have to rerun grub after making changes to this file
#boot=/dev/sda
default=0
timeout=5
splashimage=(hd0,0)/grub/splash.xpm.gz
hiddenmenu
title Red Hat Enterprise Linux 6 (2.6.32-754.el6.x86_64)
\troot (hd0,0)
\tkernel /vmlinuz-2.6.32-754.el6.x86_64 ro root=/dev/mapper/VolGroup-lv_root rd_NO_LUKS LANG=en_US.UTF-8 rd_NO_MD SYSFONT=latarcyrheb-sun16 crashkernel=auto rd_LVM_LV=VolGroup/lv_root KEYBOARDTYPE=pc KEYTABLE=us rd_NO_DM rhgb quiet
\tinitrd /initramfs-2.6.32-754.el6.x86_64.img
";

    #[test]
    fn rhel6_grub_conf_and_menu_lst_link() {
        let (dir, g) = guest(
            &[("/boot/grub/grub.conf", RHEL6_CONF.as_bytes())],
            &[("/boot/grub/menu.lst", "./grub.conf")],
        );
        let p = plan_idem(&g, &facts(Some(UUID)));
        assert_eq!(p.changes.len(), 1, "{:#?}", p.changes);
        assert_eq!(
            written(&p, "/boot/grub/grub.conf"),
            RHEL6_CONF.replace(
                "SYSFONT=latarcyrheb-sun16 crashkernel=auto rd_LVM_LV=VolGroup/lv_root KEYBOARDTYPE=pc KEYTABLE=us rd_NO_DM rhgb quiet",
                &format!("SYSFONT=latarcyrheb-sun16 rd_LVM_LV=VolGroup/lv_root KEYBOARDTYPE=pc KEYTABLE=us rd_NO_DM {SERIAL}")
            )
        );
        assert!(p
            .checks
            .iter()
            .any(|c| c.what == "/boot/grub/menu.lst is a link to /boot/grub/grub.conf"));
        txn::commit(&g, &[p], &Default::default()).unwrap();
        let link = dir.path().join("boot/grub/menu.lst");
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("./grub.conf"));
        assert!(std::fs::read_to_string(&link).unwrap().contains(SERIAL));
    }

    #[test]
    fn sles11_menu_lst_and_sysconfig() {
        let menu = "\
# Modified by YaST2. Last modification on Mon Oct  5 10:00:00 UTC 2015
default 0
timeout 8
##YaST - generic_mbr
gfxmenu (hd0,1)/boot/message
##YaST - activate

###Don't change this comment - YaST2 identifier: Original name: linux###
title SUSE Linux Enterprise Server 11 SP4 - 3.0.101-63
    root (hd0,1)
    kernel /boot/vmlinuz-3.0.101-63-default root=/dev/sda2 resume=/dev/sda1 splash=silent crashkernel=256M-:128M showopts vga=0x314
    initrd /boot/initrd-3.0.101-63-default

###Don't change this comment - YaST2 identifier: Original name: failsafe###
title Failsafe -- SUSE Linux Enterprise Server 11 SP4 - 3.0.101-63
    root (hd0,1)
    kernel /boot/vmlinuz-3.0.101-63-default root=/dev/sda2 showopts ide=nodma apm=off noresume edd=off powersaved=off nohz=off highres=off processor.max_cstate=1 nomodeset x11failsafe vga=0x314
    initrd /boot/initrd-3.0.101-63-default
";
        let sysconfig = "\
## Path:\tSystem/Bootloader
LOADER_TYPE=\"grub\"
DEFAULT_APPEND=\"resume=/dev/sda1 splash=silent crashkernel=256M-:128M showopts\"
DEFAULT_VGA=\"0x314\"
FAILSAFE_APPEND=\"showopts ide=nodma apm=off noresume edd=off powersaved=off nohz=off highres=off processor.max_cstate=1 nomodeset x11failsafe\"
";
        let (_d, g) = guest(
            &[
                ("/boot/grub/menu.lst", menu.as_bytes()),
                ("/etc/sysconfig/bootloader", sysconfig.as_bytes()),
            ],
            &[],
        );
        let p = plan_idem(&g, &facts(Some(UUID)));
        assert_eq!(
            written(&p, "/boot/grub/menu.lst"),
            menu.replace(
                "root=/dev/sda2 resume=/dev/sda1 splash=silent crashkernel=256M-:128M showopts vga=0x314",
                &format!("root=UUID={UUID} resume=/dev/sda1 splash=silent crashkernel=256M-:128M showopts vga=0x314 {SERIAL}")
            )
            .replace("x11failsafe vga=0x314", &format!("x11failsafe vga=0x314 {SERIAL}"))
            .replace("root=/dev/sda2 showopts", &format!("root=UUID={UUID} showopts"))
        );
        let sc = written(&p, "/etc/sysconfig/bootloader");
        assert!(sc.contains(&format!("DEFAULT_APPEND=\"resume=/dev/sda1 splash=silent crashkernel=256M-:128M showopts {SERIAL}\"\n")));
        assert!(sc.contains(&format!("x11failsafe {SERIAL}\"\n")));
        assert!(sc.contains("LOADER_TYPE=\"grub\"\n"));
    }

    #[test]
    fn nothing_is_a_blocker() {
        let (_d, g) = guest(&[("/etc/fstab", b"")], &[]);
        let p = plan_with(&g, &facts(None), &Pending::default());
        assert!(p.changes.is_empty());
        assert_eq!(p.blockers.len(), 1);
        assert!(
            p.blockers[0].contains("/boot/grub2/grub.cfg"),
            "{}",
            p.blockers[0]
        );
        assert!(p.checks.iter().all(|c| c.ok));
    }

    #[test]
    fn grubenv_that_would_overflow_blocks() {
        let filler = format!("x={}\n", "y".repeat(900));
        let env = grubenv(&format!(
            "{filler}kernelopts=root=/dev/mapper/r-root ro rhgb\n"
        ));
        let (_d, g) = guest(
            &[
                ("/boot/grub2/grubenv", &env),
                ("/boot/grub2/grub.cfg", b"blscfg\n"),
            ],
            &[],
        );
        let p = plan_with(&g, &facts(None), &Pending::default());
        assert!(p.changes.is_empty());
        assert!(
            p.blockers.iter().any(|b| b.contains("does not fit")),
            "{:?}",
            p.blockers
        );
    }
}
