//! Tests of the process runner: exit codes, stderr tails, timeouts killing whole groups, guards, chroot.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// A `sleep` duration unique to this test run, so `pgrep -f` finds only ours.
fn marker() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{}.{n:04}1", 1_000_000 + std::process::id())
}

/// Processes whose command line contains `pattern` (via `pgrep -f`).
fn pgrep(pattern: &str) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-f", "-a", pattern])
        .output()
        .expect("pgrep (procps) is needed by this test");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_string)
        .collect()
}

/// Wait up to 2 s for `pattern` to disappear (SIGKILL delivery and reaping
/// by init of orphans are asynchronous).
fn assert_gone(pattern: &str) {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let left = pgrep(pattern);
        if left.is_empty() {
            return;
        }
        // Zombies waiting for init are dead already.
        let alive: Vec<_> = left
            .iter()
            .filter(|l| {
                let pid = l.split_whitespace().next().unwrap_or("0");
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| {
                        !s.rsplit(')')
                            .next()
                            .unwrap_or("")
                            .trim_start()
                            .starts_with('Z')
                    })
                    .unwrap_or(false)
            })
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(Instant::now() < until, "processes left behind: {alive:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn success_and_output() {
    let out = Cmd::new("sh")
        .args(["-c", "echo out; echo err >&2"])
        .describe("say hello")
        .run()
        .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.code(), Some(0));
    assert!(!out.truncated);
}

#[test]
fn exit_codes() {
    let e = Cmd::new("sh")
        .args(["-c", "exit 3"])
        .describe("exit three")
        .run()
        .unwrap_err();
    assert_eq!(e.exit_code(), Some(3));
    assert_eq!(e.description(), "exit three");
    let s = e.to_string();
    assert!(
        s.starts_with("exit three: sh failed (exit status: 3)"),
        "{s}"
    );
    // Allowed codes.
    let out = Cmd::new("sh")
        .args(["-c", "exit 1"])
        .success_codes(&[0, 1])
        .run()
        .unwrap();
    assert_eq!(out.code(), Some(1));
    // Killed by a signal.
    let e = Cmd::new("sh")
        .args(["-c", "kill -TERM $$"])
        .run()
        .unwrap_err();
    assert_eq!(e.exit_code(), None);
    assert!(e.to_string().contains("signal: 15"), "{e}");
}

#[test]
fn stderr_tail_in_error() {
    let e = Cmd::new("sh")
        .args([
            "-c",
            "echo to-stdout; for i in $(seq 1 50); do echo line$i >&2; done; exit 2",
        ])
        .describe("rebuild initramfs for 5.14.0-70 with dracut")
        .run()
        .unwrap_err();
    let tail = e.stderr_tail().unwrap();
    assert_eq!(tail.lines().count(), STDERR_TAIL_LINES);
    assert!(
        tail.starts_with("line31\n") && tail.ends_with("line50"),
        "{tail}"
    );
    let s = e.to_string();
    assert!(
        s.starts_with("rebuild initramfs for 5.14.0-70 with dracut: sh failed (exit status: 2); last lines of output:\n    line31\n"),
        "{s}"
    );
    assert!(!s.contains("line30\n") && !s.contains("to-stdout"), "{s}");
    // No stderr: the stdout tail is used.
    let e = Cmd::new("sh")
        .args(["-c", "echo only-stdout; exit 1"])
        .run()
        .unwrap_err();
    assert_eq!(e.stderr_tail(), Some("only-stdout"));
}

#[test]
fn stdin_env_cwd() {
    let out = Cmd::new("cat")
        .stdin(b"fed via stdin".to_vec())
        .run()
        .unwrap();
    assert_eq!(out.stdout, b"fed via stdin");
    // Big stdin with a child that reads it all while we read its output.
    let big = vec![b'x'; 4 << 20];
    let out = Cmd::new("wc").arg("-c").stdin(big).run().unwrap();
    assert_eq!(out.stdout_lossy().trim(), (4 << 20).to_string());
    // A child that ignores stdin does not hang or fail us.
    Cmd::new("true").stdin(vec![0u8; 1 << 20]).run().unwrap();
    let out = Cmd::new("sh")
        .args(["-c", "echo $HYDRA_T-$LC_ALL; pwd"])
        .env("HYDRA_T", "v")
        .current_dir("/usr")
        .run()
        .unwrap();
    assert_eq!(out.stdout_lossy(), "v-C\n/usr\n");
    let out = Cmd::new("sh")
        .args(["-c", "echo ${HOME-unset}"])
        .env_remove("HOME")
        .run()
        .unwrap();
    assert_eq!(out.stdout_lossy(), "unset\n");
    let e = Cmd::new("true")
        .current_dir("/nonexistent-hydra")
        .run()
        .unwrap_err();
    assert!(e.to_string().contains("working directory"), "{e}");
}

#[test]
fn timeout_kills_the_whole_group() {
    let m = marker();
    let t = Instant::now();
    let e = Cmd::new("sh")
        .args(["-c", &format!("echo started >&2; sleep {m} & sleep {m}")])
        .describe("sleep forever")
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(e.to_string().contains("timed out after 500ms"), "{e}");
    assert_eq!(e.stderr_tail(), Some("started"));
    assert_gone(&format!("sleep {m}"));
}

#[test]
fn background_children_are_killed_after_exit() {
    let m = marker();
    let t = Instant::now();
    Cmd::new("sh")
        .args(["-c", &format!("sleep {m} & echo bye")])
        .run()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_gone(&format!("sleep {m}"));

    // Opt-out: the background child survives (we kill it ourselves).
    let m = marker();
    Cmd::new("sh")
        .args(["-c", &format!("sleep {m} >/dev/null 2>&1 </dev/null &")])
        .keep_background()
        .run()
        .unwrap();
    let left = pgrep(&format!("sleep {m}"));
    assert_eq!(left.len(), 1, "{left:?}");
    let pid: libc::pid_t = left[0].split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: plain syscall on the pid of the sleep this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_gone(&format!("sleep {m}"));
}

#[test]
fn guard_drop_kills_the_group() {
    let m = marker();
    let g = Cmd::new("sh")
        .args(["-c", &format!("sleep {m} & sleep {m}")])
        .describe("a server")
        .spawn_guarded()
        .unwrap();
    assert!(g.pid() > 0);
    std::thread::sleep(Duration::from_millis(200));
    let sleeps = pgrep(&format!("sleep {m}"))
        .into_iter()
        .filter(|l| l.split_whitespace().nth(1) == Some("sleep"))
        .count();
    assert_eq!(sleeps, 2);
    drop(g);
    assert_gone(&format!("sleep {m}"));

    // Also when dropped by a panic unwinding through the owner.
    let m = marker();
    let pattern = format!("sleep {m}");
    let r = std::panic::catch_unwind(|| {
        let _g = Cmd::new("sh")
            .args(["-c", &format!("sleep {m} & sleep {m}")])
            .spawn_guarded()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        panic!("caller failed");
    });
    assert!(r.is_err());
    assert_gone(&pattern);
}

#[test]
fn guard_wait_try_wait_kill() {
    let mut g = Cmd::new("sh")
        .args(["-c", "echo hi >&2; exit 4"])
        .spawn_guarded()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = g.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(4));

    let e = Cmd::new("sh")
        .args(["-c", "echo bad >&2; exit 5"])
        .spawn_guarded()
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(e.exit_code(), Some(5));
    assert_eq!(e.stderr_tail(), Some("bad"));

    let g = Cmd::new("sleep").arg("30").spawn_guarded().unwrap();
    let s = g.kill();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&s),
        Some(libc::SIGKILL)
    );

    let e = Cmd::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(200))
        .spawn_guarded()
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(e.is_timeout());
}

#[test]
fn missing_program_names_it_and_the_package() {
    let e = Cmd::new("hydra-no-such-program")
        .describe("do the impossible")
        .run()
        .unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(
        e.to_string(),
        "do the impossible: hydra-no-such-program: not found"
    );
    let e = Cmd::new("/nonexistent/bin/sgdisk")
        .describe("relocate the GPT backup header")
        .run()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "relocate the GPT backup header: /nonexistent/bin/sgdisk: not found \
         (install the Debian package `gdisk` on this machine)"
    );
    for (p, pkg) in [
        ("sgdisk", "gdisk"),
        ("mkfs.xfs", "xfsprogs"),
        ("qemu-storage-daemon", "qemu-utils"),
        ("/usr/sbin/lvm", "lvm2"),
        ("ntfs-3g", "ntfs-3g"),
        ("fusefat", "fusefat"),
        ("blkid", "util-linux"),
    ] {
        assert_eq!(debian_package_for(p), Some(pkg), "{p}");
    }
    assert_eq!(debian_package_for("frobnicate"), None);
    // An existing file whose interpreter is missing.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    std::fs::write(&script, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let e = Cmd::new(&script)
        .describe("run a script")
        .run()
        .unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(
        e.to_string(),
        format!(
            "run a script: {}: its interpreter or dynamic loader was not found",
            script.display()
        )
    );
    // Not executable: a spawn error, not "not found".
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let e = Cmd::new(&script).run().unwrap_err();
    assert!(matches!(e, ExecError::Spawn { .. }), "{e:?}");
}

#[test]
fn command_line_is_quoted() {
    let c = Cmd::new("dracut")
        .args(["-f", "/boot/initramfs-5.14.0-70.img", "it's", ""])
        .chroot("/mnt/azure sms");
    assert_eq!(
        c.command_line(),
        r"chroot '/mnt/azure sms' dracut -f /boot/initramfs-5.14.0-70.img 'it'\''s' ''"
    );
    assert_eq!(Cmd::new("x").description(), "run x");
}

#[test]
fn large_output_is_captured() {
    let out = Cmd::new("sh")
        .args([
            "-c",
            "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2",
        ])
        .run()
        .unwrap();
    assert_eq!(out.stdout.len(), 3_000_000);
    assert_eq!(out.stderr.len(), 3_000_000);
}

/// A tiny chroot tree in `root`: /bin/sh and the libraries it needs.
fn tiny_tree(root: &Path) {
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let ldd = Command::new("ldd").arg(&sh).output().unwrap();
    let mut files = vec![sh.clone()];
    for l in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(p) = l.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    for f in &files {
        let dst = root.join(f.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(f, &dst).unwrap();
    }
    let bin = root.join("bin");
    if !bin.join("sh").exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(&sh, bin.join("sh")).unwrap();
    }
}

#[test]
fn chroot_runs_inside_the_tree() {
    // SAFETY: trivial getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED chroot_runs_inside_the_tree: chroot needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tiny_tree(root);
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/guest-marker"), "in guest").unwrap();
    std::fs::create_dir_all(root.join("work")).unwrap();
    let out = Cmd::new("sh")
        .args([
            "-c",
            "read x </etc/guest-marker; echo \"$x\"; echo \"$PATH\"; \
             if [ -e /work/main/Cargo.toml ]; then echo host-visible; fi",
        ])
        .chroot(root)
        .describe("look around in the guest")
        .run()
        .unwrap();
    assert_eq!(
        out.stdout_lossy(),
        format!("in guest\n{CHROOT_PATH}\n"),
        "stderr: {}",
        out.stderr_lossy()
    );
    let out = Cmd::new("/bin/sh")
        .args(["-c", "echo \"$PWD\""])
        .chroot(root)
        .current_dir("/work")
        .run()
        .unwrap();
    assert_eq!(out.stdout_lossy(), "/work\n");
    // A program missing in the guest names the guest tree.
    let e = Cmd::new("dracut").chroot(root).run().unwrap_err();
    assert!(e.is_not_found());
    let s = e.to_string();
    assert!(
        s.contains(&format!(
            "dracut: not found inside the guest tree {}",
            root.display()
        )),
        "{s}"
    );
    let e = Cmd::new("sh").chroot(root.join("nope")).run().unwrap_err();
    assert!(e.to_string().contains("chroot directory"), "{e}");
}

#[test]
fn private_bind_is_read_only_and_only_the_commands() {
    // SAFETY: trivial getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED private_bind_is_read_only_and_only_the_commands: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    tiny_tree(&root);
    let helper = dir.path().join("helper-resolv.conf");
    std::fs::write(&helper, "nameserver 10.9.8.7\n").unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/real.conf"), "nameserver 192.0.2.1\n").unwrap();
    // Through a guest symlink with an absolute target: resolved in the tree.
    std::os::unix::fs::symlink("/etc/real.conf", root.join("etc/resolv.conf")).unwrap();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let out = Cmd::new("sh")
        .args([
            "-c",
            "read x </etc/resolv.conf; echo \"$x\"; \
             if (echo hacked >/etc/resolv.conf) 2>/dev/null; then echo writable; else echo read-only; fi",
        ])
        .chroot(&root)
        .bind_private(&helper, "/etc/resolv.conf")
        .run()
        .unwrap();
    assert_eq!(
        out.stdout_lossy(),
        "nameserver 10.9.8.7\nread-only\n",
        "stderr: {}",
        out.stderr_lossy()
    );
    // Nothing stays in this namespace; both files are as they were.
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        mounts_before
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/real.conf")).unwrap(),
        "nameserver 192.0.2.1\n"
    );
    assert_eq!(
        std::fs::read_to_string(&helper).unwrap(),
        "nameserver 10.9.8.7\n"
    );
    // Not a regular file in the guest: the spawn fails, nothing runs.
    std::fs::create_dir_all(root.join("etc/dir.conf")).unwrap();
    let e = Cmd::new("sh")
        .args(["-c", "true"])
        .chroot(&root)
        .bind_private(&helper, "/etc/dir.conf")
        .run()
        .unwrap_err();
    // The child refuses it before exec, with EINVAL.
    assert!(e.to_string().contains("os error 22"), "{e}");
    // A private bind without a chroot is refused.
    let e = Cmd::new("true")
        .bind_private(&helper, "/etc/resolv.conf")
        .run()
        .unwrap_err();
    assert!(e.to_string().contains("needs a chroot"), "{e}");
}
