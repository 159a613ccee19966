//! The one place that spawns processes: commands with a human description, stderr tail in errors.
//!
//! A [`Cmd`] is a program, its arguments and environment, an optional guest
//! tree to `chroot` into, a human description, a timeout and stdin bytes.
//! [`Cmd::run`] captures stdout and stderr and turns a failure into an
//! [`ExecError`] that carries the description, the exit status and the last
//! lines of stderr. [`Cmd::spawn_guarded`] starts a long-running process
//! (a FUSE or NBD server) behind a [`ChildGuard`].
//!
//! Process lifetime: every child runs in its own process group
//! (`process_group(0)`). The group is killed with `SIGKILL` on timeout, when
//! the run is unwound by a panic, when a [`ChildGuard`] is dropped, and, by
//! default, right after the main process exits (background children such as
//! `sh -c 'daemon &'` would otherwise keep the guest mounts busy; opt out
//! with [`Cmd::keep_background`]). Processes that leave the group themselves
//! (`setsid`, daemonizing FUSE drivers) are out of reach, as with any process
//! group based scheme. Because the child is in its own group, a terminal's
//! Ctrl-C does not reach it: callers must turn `SIGINT` into an unwind so that
//! guards drop. As a second line, [`Cmd::run`] sets `PR_SET_PDEATHSIG` so the
//! direct child dies with the calling thread.
//!
//! Chroot: done in the child with `libc::chroot(dir)` and `chdir("/")` from a
//! `pre_exec` hook rather than by running `chroot DIR prog`: no dependency on
//! the host's `chroot` binary, the program is looked up in the guest's `PATH`
//! (execvp runs after the chroot), and "not found" names the guest tree.
//! The environment of a chrooted command is reset to `PATH`, `HOME=/root` and
//! `LC_ALL=C` (plus what [`Cmd::env`] adds): the host's environment means
//! nothing inside the guest. Host commands inherit the environment with
//! `LC_ALL=C` added, so that messages are stable English.
//!
//! Private binds ([`Cmd::bind_private`]): a chrooted command may see a host
//! file read-only over a file of the guest (the helper's `/etc/resolv.conf`
//! for a package install). The child makes its own mount namespace
//! (`unshare(CLONE_NEWNS)`, every mount made private so that nothing
//! propagates back), opens the guest file inside the tree with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, binds the host file
//! over it and remounts the bind read-only, then chroots. The bind exists
//! only in that namespace: it goes away with the command, however Hydra
//! ends (no mount to record, sweep or leak), and the guest's file is never
//! written.
//!
//! Logging: `debug` the command line, `info` the description, `debug` the
//! outcome with the elapsed time.

mod error;
#[cfg(test)]
mod tests;

pub use error::{debian_package_for, ExecError};

use std::borrow::Cow;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `PATH` inside a chroot.
pub const CHROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Most bytes of stdout kept by [`Cmd::run`] (the rest is dropped and
/// flagged); stderr keeps its *last* bytes up to the same size.
pub const MAX_CAPTURE: usize = 64 << 20;
/// Lines of stderr carried in an [`ExecError`].
pub const STDERR_TAIL_LINES: usize = 20;
/// How long output pipes are drained after the process group is gone.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A command to run, with a human description (see the module docs).
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    chroot: Option<PathBuf>,
    cwd: Option<PathBuf>,
    description: String,
    timeout: Option<Duration>,
    stdin: Option<Vec<u8>>,
    success: Vec<i32>,
    keep_background: bool,
    /// Host file, guest path: see [`Cmd::bind_private`].
    private_binds: Vec<(PathBuf, PathBuf)>,
}

/// What a finished command produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status (a success code when returned by [`Cmd::run`]).
    pub status: ExitStatus,
    /// Captured stdout (at most [`MAX_CAPTURE`] bytes).
    pub stdout: Vec<u8>,
    /// Captured stderr (its last [`MAX_CAPTURE`] bytes).
    pub stderr: Vec<u8>,
    /// Whether output beyond [`MAX_CAPTURE`] was dropped.
    pub truncated: bool,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl Output {
    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl Cmd {
    /// A command running `program` (looked up in `PATH` when it has no `/`).
    /// The description defaults to "run PROGRAM"; set a real one with
    /// [`Cmd::describe`].
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref().to_os_string();
        Cmd {
            description: format!("run {}", program.to_string_lossy()),
            program,
            args: Vec::new(),
            env: Vec::new(),
            chroot: None,
            cwd: None,
            timeout: None,
            stdin: None,
            success: vec![0],
            keep_background: false,
            private_binds: Vec::new(),
        }
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Set an environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    /// Remove an environment variable for the child.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }

    /// Run inside the guest tree mounted at the host directory `dir`
    /// (`chroot(dir)`, then `chdir("/")` or to [`Cmd::current_dir`] taken
    /// inside the guest). Needs root. `/dev`, `/proc`, `/sys` must already
    /// be bind-mounted by the caller when the program needs them.
    pub fn chroot(mut self, dir: impl Into<PathBuf>) -> Self {
        self.chroot = Some(dir.into());
        self
    }

    /// With [`Cmd::chroot`]: the host file `source` is bound read-only over
    /// the regular file at guest path `target` (resolved inside the tree) in
    /// the child's own mount namespace, for this command only (see the
    /// module docs). The spawn fails when `target` is not a regular file in
    /// the guest.
    pub fn bind_private(mut self, source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        self.private_binds.push((source.into(), target.into()));
        self
    }

    /// Working directory of the child (inside the guest when chrooted).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The human description, logged at `info` and carried in errors
    /// ("rebuild initramfs for 5.14.0-70 with dracut").
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Kill the process group and fail when the command runs longer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Bytes fed to the child's stdin (default: `/dev/null`).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Exit codes that count as success (default `[0]`; `grep` wants `[0, 1]`).
    pub fn success_codes(mut self, codes: &[i32]) -> Self {
        self.success = codes.to_vec();
        self
    }

    /// Leave processes that the command started in the background alive
    /// when it exits (by default its process group is killed then).
    pub fn keep_background(mut self) -> Self {
        self.keep_background = true;
        self
    }

    /// The human description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The command line, shell-quoted, with a `chroot DIR` prefix when
    /// chrooted (for logs and messages).
    pub fn command_line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(root) = &self.chroot {
            parts.push("chroot".to_string());
            parts.push(shell_quote(root.as_os_str()));
        }
        parts.push(shell_quote(&self.program));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.join(" ")
    }

    /// Run to completion, capturing stdout and stderr. A non-success exit,
    /// a timeout, a missing program are errors naming the description.
    pub fn run(&self) -> Result<Output, ExecError> {
        tracing::info!("{}", self.description);
        tracing::debug!(command = %self.command_line(), "exec");
        let mut running = self.spawn(true)?;
        let deadline = self.timeout.map(|t| running.started + t);
        let exited = running
            .wait_until(deadline)
            .map_err(|e| self.io_err("wait", e))?;
        let out = running.finish(!exited || !self.keep_background, &self.description);
        self.check(out, !exited)
    }

    /// Start the command and return a guard whose `Drop` kills its process
    /// group and reaps it. stdin is `/dev/null` unless [`Cmd::stdin`] was
    /// set; stdout and stderr are drained in the background (their tails kept,
    /// stderr lines logged at `debug`).
    pub fn spawn_guarded(&self) -> Result<ChildGuard, ExecError> {
        tracing::info!("{}", self.description);
        tracing::debug!(command = %self.command_line(), "exec (guarded)");
        let running = self.spawn(false)?;
        Ok(ChildGuard {
            cmd: self.clone(),
            running: Some(running),
        })
    }

    fn io_err(&self, op: &'static str, source: io::Error) -> ExecError {
        ExecError::Io {
            description: self.description.clone(),
            program: self.program.to_string_lossy().into_owned(),
            op,
            source,
        }
    }

    /// Turn a finished run into the result: timeout, failure or output.
    fn check(&self, out: Output, timed_out: bool) -> Result<Output, ExecError> {
        let program = self.program.to_string_lossy().into_owned();
        let tail = || {
            let src = if out.stderr.iter().all(u8::is_ascii_whitespace) {
                &out.stdout
            } else {
                &out.stderr
            };
            last_lines(src, STDERR_TAIL_LINES)
        };
        if timed_out {
            tracing::debug!(elapsed = ?out.elapsed, "timed out: {}", self.description);
            return Err(ExecError::Timeout {
                description: self.description.clone(),
                program,
                command: self.command_line(),
                timeout: self.timeout.unwrap_or_default(),
                stderr_tail: tail(),
            });
        }
        let ok = out.status.code().is_some_and(|c| self.success.contains(&c));
        tracing::debug!(status = %out.status, elapsed = ?out.elapsed, "{}", if ok { "done" } else { "failed" });
        if !ok {
            return Err(ExecError::Failed {
                description: self.description.clone(),
                program,
                command: self.command_line(),
                status: out.status,
                stderr_tail: tail(),
            });
        }
        Ok(out)
    }

    /// Spawn in a new process group, optionally chrooted, with
    /// `PR_SET_PDEATHSIG` when `pdeathsig`.
    fn spawn(&self, pdeathsig: bool) -> Result<Running, ExecError> {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        if self.chroot.is_some() {
            c.env_clear();
            c.env("PATH", CHROOT_PATH);
            c.env("HOME", "/root");
        }
        c.env("LC_ALL", "C");
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        c.stdout(Stdio::piped());
        c.stderr(Stdio::piped());
        c.process_group(0);

        let spawn_err = |source: io::Error| ExecError::Spawn {
            description: self.description.clone(),
            program: self.program.to_string_lossy().into_owned(),
            source,
        };
        let mut chroot_c = None;
        let mut cwd_c = None;
        match (&self.chroot, &self.cwd) {
            (Some(root), cwd) => {
                // Checked here so that ENOENT from the child means the program.
                if !root.is_dir() {
                    return Err(spawn_err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("chroot directory {} does not exist", root.display()),
                    )));
                }
                chroot_c = Some(cstring(root.as_os_str()).map_err(spawn_err)?);
                let cwd = cwd.clone().unwrap_or_else(|| PathBuf::from("/"));
                let inside = root.join(cwd.strip_prefix("/").unwrap_or(&cwd));
                if !inside.is_dir() {
                    return Err(spawn_err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "working directory {} does not exist in the guest",
                            cwd.display()
                        ),
                    )));
                }
                cwd_c = Some(cstring(cwd.as_os_str()).map_err(spawn_err)?);
            }
            (None, Some(cwd)) => {
                if !cwd.is_dir() {
                    return Err(spawn_err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("working directory {} does not exist", cwd.display()),
                    )));
                }
                c.current_dir(cwd);
            }
            (None, None) => {}
        }
        let mut binds_c: Vec<(CString, CString)> = Vec::new();
        if !self.private_binds.is_empty() && chroot_c.is_none() {
            return Err(spawn_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a private bind needs a chroot",
            )));
        }
        for (source, target) in &self.private_binds {
            let rel = target.strip_prefix("/").unwrap_or(target);
            binds_c.push((
                cstring(source.as_os_str()).map_err(spawn_err)?,
                cstring(rel.as_os_str()).map_err(spawn_err)?,
            ));
        }
        // SAFETY: trivial getter.
        let parent = unsafe { libc::getpid() };
        let hook = move || -> io::Result<()> {
            // Only async-signal-safe syscalls here; the strings were built
            // before the fork.
            if pdeathsig {
                // SAFETY: plain syscalls.
                unsafe {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    if libc::getppid() != parent {
                        return Err(io::Error::from_raw_os_error(libc::ESRCH));
                    }
                }
            }
            if let (Some(root), false) = (&chroot_c, binds_c.is_empty()) {
                bind_private_in_child(root, &binds_c)?;
            }
            if let (Some(root), Some(cwd)) = (&chroot_c, &cwd_c) {
                // SAFETY: NUL-terminated strings owned by the closure.
                unsafe {
                    if libc::chroot(root.as_ptr()) != 0 || libc::chdir(cwd.as_ptr()) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
            }
            Ok(())
        };
        // SAFETY: the hook only makes async-signal-safe syscalls and does not
        // allocate.
        unsafe { c.pre_exec(hook) };

        let mut child = c.spawn().map_err(|e| self.spawn_error(e))?;
        let started = Instant::now();
        let pid = child.id() as libc::pid_t;
        let stdout = Capture::start(child.stdout.take(), false, None);
        let stderr = Capture::start(
            child.stderr.take(),
            true,
            (!pdeathsig).then(|| self.description.clone()),
        );
        if let (Some(bytes), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            std::thread::Builder::new()
                .name("hydra-exec-stdin".into())
                .spawn(move || {
                    // A child that exits without reading gives EPIPE: fine.
                    let _ = pipe.write_all(&bytes);
                })
                .map_err(|e| self.io_err("start stdin writer", e))?;
        }
        tracing::debug!(pid, "started");
        Ok(Running {
            child,
            pgid: pid,
            reaped: None,
            started,
            stdout,
            stderr,
        })
    }

    fn spawn_error(&self, e: io::Error) -> ExecError {
        if e.kind() != io::ErrorKind::NotFound {
            return ExecError::Spawn {
                description: self.description.clone(),
                program: self.program.to_string_lossy().into_owned(),
                source: e,
            };
        }
        let program = self.program.to_string_lossy().into_owned();
        // An existing file reported as ENOENT lacks its interpreter or loader.
        let exists = program.contains('/') && {
            let p = Path::new(&self.program);
            match &self.chroot {
                Some(root) => root.join(p.strip_prefix("/").unwrap_or(p)).exists(),
                None => p.exists(),
            }
        };
        ExecError::NotFound {
            description: self.description.clone(),
            package: debian_package_for(&program),
            program,
            interpreter_missing: exists,
            chroot: self.chroot.clone(),
        }
    }
}

/// A process started by [`Cmd::spawn_guarded`]. Dropping it kills the
/// process group with `SIGKILL` and reaps the process.
///
/// Unlike [`Cmd::run`], no `PR_SET_PDEATHSIG` is set (it fires when the
/// *spawning thread* exits, and a guard may outlive or move away from that
/// thread): if Hydra dies without unwinding (`SIGKILL`, abort, an unhandled
/// `SIGINT`), the child survives and must be found by the teardown sweep.
#[derive(Debug)]
pub struct ChildGuard {
    cmd: Cmd,
    running: Option<Running>,
}

impl ChildGuard {
    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.running.as_ref().map_or(0, |r| r.pgid as u32)
    }

    /// Whether the process has exited; if so, its group is killed (unless
    /// [`Cmd::keep_background`]) and it is reaped. Returns the status.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, ExecError> {
        let Some(r) = self.running.as_mut() else {
            return Ok(None);
        };
        if let Some(s) = r.reaped {
            return Ok(Some(s));
        }
        if !r.exited().map_err(|e| self.cmd.io_err("wait", e))? {
            return Ok(None);
        }
        if !self.cmd.keep_background {
            r.kill_group();
        }
        Ok(Some(r.reap()))
    }

    /// Wait for the process to exit (at most the [`Cmd::timeout`], counted
    /// from the spawn), and return its output like [`Cmd::run`].
    pub fn wait(mut self) -> Result<Output, ExecError> {
        let mut r = self.running.take().expect("guard holds a process");
        let deadline = self.cmd.timeout.map(|t| r.started + t);
        let exited = r
            .wait_until(deadline)
            .map_err(|e| self.cmd.io_err("wait", e))?;
        let out = r.finish(!exited || !self.cmd.keep_background, &self.cmd.description);
        self.cmd.check(out, !exited)
    }

    /// Kill the process group now, reap the process and return its status.
    pub fn kill(mut self) -> ExitStatus {
        let mut r = self.running.take().expect("guard holds a process");
        r.kill_group();
        r.reap()
    }

    /// The last lines of stderr so far.
    pub fn stderr_tail(&self) -> String {
        self.running.as_ref().map_or_else(String::new, |r| {
            last_lines(&r.stderr.snapshot().0, STDERR_TAIL_LINES)
        })
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            if r.reaped.is_none() {
                tracing::debug!(
                    pid = r.pgid,
                    "guard dropped: killing process group of {}",
                    self.cmd.description
                );
            }
        }
        // Running's own Drop kills and reaps.
    }
}

/// A spawned process: kills its group and reaps it when dropped unreaped.
#[derive(Debug)]
struct Running {
    child: Child,
    pgid: libc::pid_t,
    reaped: Option<ExitStatus>,
    started: Instant,
    stdout: Arc<Capture>,
    stderr: Arc<Capture>,
}

impl Running {
    /// Whether the process has exited, without reaping it (so its pid, the
    /// group id, cannot be reused while we still signal the group).
    fn exited(&self) -> io::Result<bool> {
        if self.reaped.is_some() {
            return Ok(true);
        }
        loop {
            // SAFETY: zeroed siginfo is valid; waitid fills it.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: valid pointer; WNOWAIT leaves the child waitable.
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    self.pgid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                )
            };
            if r == 0 {
                // SAFETY: waitid filled the union's pid field (0 when no child exited).
                return Ok(unsafe { info.si_pid() } != 0);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }

    /// Wait until the process exits (true) or `deadline` passes (false).
    fn wait_until(&self, deadline: Option<Instant>) -> io::Result<bool> {
        let pidfd = pidfd_open(self.pgid);
        loop {
            if self.exited()? {
                return Ok(true);
            }
            let slice = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    left.min(Duration::from_secs(1))
                }
                None => Duration::from_secs(1),
            };
            match &pidfd {
                Some(fd) => {
                    let mut p = libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    let ms = slice.as_millis().clamp(1, 1000) as libc::c_int;
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, ms) };
                }
                None => std::thread::sleep(slice.min(Duration::from_millis(10))),
            }
        }
    }

    /// `SIGKILL` the whole process group (only while the leader is unreaped).
    fn kill_group(&self) {
        if self.reaped.is_none() {
            // SAFETY: plain syscall; the group id is held by our unreaped child.
            unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        }
    }

    /// Reap the process (blocking) and remember its status.
    fn reap(&mut self) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        let status = loop {
            match self.child.wait() {
                Ok(s) => break s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(pid = self.pgid, "waiting for child failed: {e}");
                    // Nothing sensible left: report a kill.
                    use std::os::unix::process::ExitStatusExt;
                    break ExitStatus::from_raw(libc::SIGKILL);
                }
            }
        };
        self.reaped = Some(status);
        status
    }

    /// After exit or timeout: kill the group when asked, reap, drain the
    /// pipes (bounded by a grace period) and collect the output.
    fn finish(&mut self, kill: bool, description: &str) -> Output {
        if kill {
            self.kill_group();
        }
        let status = self.reap();
        let elapsed = self.started.elapsed();
        let until = Instant::now() + DRAIN_GRACE;
        for c in [&self.stdout, &self.stderr] {
            if !c.wait_eof(until) {
                tracing::warn!(
                    "{description}: output pipe still open {DRAIN_GRACE:?} after the command ended \
                     (a process outside its group holds it); output may be incomplete"
                );
            }
        }
        let (stdout, t1) = self.stdout.snapshot();
        let (stderr, t2) = self.stderr.snapshot();
        Output {
            status,
            stdout,
            stderr,
            truncated: t1 || t2,
            elapsed,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            self.kill_group();
            self.reap();
        }
    }
}

/// One captured output stream, filled by a reader thread.
#[derive(Debug, Default)]
struct Capture {
    state: Mutex<CaptureState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct CaptureState {
    data: Vec<u8>,
    truncated: bool,
    eof: bool,
}

impl Capture {
    /// Start a reader thread on `pipe`. `keep_tail`: keep the last bytes
    /// instead of the first when over [`MAX_CAPTURE`]. `log`: log each line at
    /// debug with this description.
    fn start<R: Read + Send + 'static>(
        pipe: Option<R>,
        keep_tail: bool,
        log: Option<String>,
    ) -> Arc<Capture> {
        let cap = Arc::new(Capture::default());
        let Some(mut pipe) = pipe else {
            cap.state.lock().unwrap_or_else(|e| e.into_inner()).eof = true;
            return cap;
        };
        let c = Arc::clone(&cap);
        let spawned = std::thread::Builder::new()
            .name("hydra-exec-out".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut partial = Vec::new();
                loop {
                    let n = match pipe.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    };
                    if let Some(d) = &log {
                        partial.extend_from_slice(&buf[..n]);
                        while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = partial.drain(..=i).collect();
                            tracing::debug!("{d}: {}", String::from_utf8_lossy(&line).trim_end());
                        }
                        if partial.len() > 4096 {
                            partial.clear();
                        }
                    }
                    let mut s = c.state.lock().unwrap_or_else(|e| e.into_inner());
                    s.data.extend_from_slice(&buf[..n]);
                    if s.data.len() > MAX_CAPTURE {
                        s.truncated = true;
                        if keep_tail {
                            let cut = s.data.len() - MAX_CAPTURE;
                            s.data.drain(..cut);
                        } else {
                            s.data.truncate(MAX_CAPTURE);
                        }
                    }
                }
                c.state.lock().unwrap_or_else(|e| e.into_inner()).eof = true;
                c.cv.notify_all();
            });
        if spawned.is_err() {
            tracing::warn!("could not start an output reader thread; output is lost");
            cap.state.lock().unwrap_or_else(|e| e.into_inner()).eof = true;
        }
        cap
    }

    /// Wait for end of stream until `until`; whether it was reached.
    fn wait_eof(&self, until: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !s.eof {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// A copy of the bytes so far and whether some were dropped.
    fn snapshot(&self) -> (Vec<u8>, bool) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.data.clone(), s.truncated)
    }
}

/// `pidfd_open(pid)`, or `None` on kernels without it (< 5.3).
fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        None
    } else {
        // SAFETY: new fd owned by nobody else.
        Some(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) })
    }
}

/// In the child, before its chroot into `root`: a mount namespace of its own
/// with private propagation, and each `(host file, guest path relative to
/// the tree)` of `binds` bound read-only over the guest file (see the module
/// docs). Only syscalls, no allocation: it runs between fork and exec.
fn bind_private_in_child(root: &CStr, binds: &[(CString, CString)]) -> io::Result<()> {
    let err = |r: libc::c_int| {
        if r != 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: plain syscalls on NUL-terminated strings and descriptors this
    // function owns; descriptors are O_CLOEXEC and close at exec.
    unsafe {
        err(libc::unshare(libc::CLONE_NEWNS))?;
        err(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        // Descriptors opened before the unshare name the old namespace's
        // mounts, which mount(2) refuses: everything is opened here.
        let tree = libc::open(
            root.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if tree < 0 {
            return Err(io::Error::last_os_error());
        }
        let tree = OwnedFd::from_raw_fd(tree);
        let in_tree = |rel: &CStr| {
            crate::guest::sys::openat2(
                std::os::fd::AsFd::as_fd(&tree),
                rel,
                libc::O_PATH,
                0,
                libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
            )
        };
        for (source, rel) in binds {
            let src = libc::open(source.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if src < 0 {
                return Err(io::Error::last_os_error());
            }
            let src = OwnedFd::from_raw_fd(src);
            let target = in_tree(rel)?;
            let mut st: libc::stat = std::mem::zeroed();
            err(libc::fstat(target.as_raw_fd(), &mut st))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
            err(libc::mount(
                proc_fd(&mut a, src.as_raw_fd()),
                proc_fd(&mut b, target.as_raw_fd()),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            // Opened again, the path now ends on the bind: make it read-only.
            let top = in_tree(rel)?;
            err(libc::mount(
                std::ptr::null(),
                proc_fd(&mut b, top.as_raw_fd()),
                std::ptr::null(),
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                std::ptr::null(),
            ))?;
        }
    }
    Ok(())
}

/// `/proc/self/fd/FD` written into `buf` without allocating; a C string pointer.
fn proc_fd(buf: &mut [u8; 32], fd: libc::c_int) -> *const libc::c_char {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let (mut n, mut k) = (fd.unsigned_abs(), 0);
    loop {
        digits[k] = b'0' + (n % 10) as u8;
        k += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut at = PREFIX.len();
    for d in digits[..k].iter().rev() {
        buf[at] = *d;
        at += 1;
    }
    buf[at] = 0;
    buf.as_ptr().cast()
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// The last `n` lines of `bytes` as text (invalid UTF-8 replaced).
fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Quote `s` for a POSIX shell when it needs it (for logs).
fn shell_quote(s: &OsStr) -> String {
    let t = s.to_string_lossy();
    let plain = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        t.into_owned()
    } else {
        format!("'{}'", t.replace('\'', r"'\''"))
    }
}
