//! Tests of confined guest access: hostile symlinks in a temp-dir guest tree, both resolvers.

use super::*;
use std::collections::HashSet;
use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Bytes that live only on the host side of the fixture; no guest read may return them.
const CANARY: &[u8] = b"HOST-CANARY-7f3a9c: if you read this, the guest escaped\n";
const SHADOW: &[u8] = b"guest shadow\n";
const PASSWD: &[u8] = b"guest passwd\n";

struct Fixture {
    _tmp: tempfile::TempDir,
    /// The temp dir: host side, holds the canaries.
    top: PathBuf,
    /// The guest tree: `top/guest`.
    guest: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().canonicalize().unwrap();
    let guest = top.join("guest");
    // Host-side decoys, reachable only by escaping.
    fs::write(top.join("canary"), CANARY).unwrap();
    fs::create_dir(top.join("etc")).unwrap();
    fs::write(top.join("etc/passwd"), CANARY).unwrap();
    fs::write(top.join("etc/shadow"), CANARY).unwrap();

    for d in ["etc", "var/lib", "Windows/System32/Config", "amb"] {
        fs::create_dir_all(guest.join(d)).unwrap();
    }
    fs::write(guest.join("etc/shadow"), SHADOW).unwrap();
    fs::write(guest.join("etc/passwd"), PASSWD).unwrap();
    fs::write(guest.join("var/lib/data"), b"data\n").unwrap();
    fs::write(guest.join("Windows/System32/Config/SYSTEM"), b"regf").unwrap();
    fs::write(guest.join("amb/Foo"), b"1").unwrap();
    fs::write(guest.join("amb/FOO"), b"2").unwrap();

    let top_rel = top.strip_prefix("/").unwrap().to_path_buf();
    let deep = format!("{}{}/canary", "../".repeat(30), top_rel.display());
    let links: Vec<(String, &str)> = vec![
        ("/etc/shadow".into(), "etc/fstab"),
        ("../../../../etc/passwd".into(), "etc/x"),
        (top.join("canary").display().to_string(), "etc/canary_abs"),
        ("../../canary".into(), "etc/canary_rel"),
        (deep, "etc/canary_deep"),
        ("/proc/self/root".into(), "etc/procroot"),
        ("/proc/self/root/etc/passwd".into(), "etc/procroot_passwd"),
        ("loop2".into(), "etc/loop1"),
        ("loop1".into(), "etc/loop2"),
        ("self".into(), "etc/self"),
        ("../var/lib".into(), "etc/dirlink"),
        ("/".into(), "boot"),
        ("..".into(), "up"),
        (top.display().to_string(), "hostdir"),
    ];
    for (target, link) in links {
        symlink(&target, guest.join(link)).unwrap();
    }
    // A chain of 40 links (c40_39 -> ... -> c40_0 -> /etc/passwd: allowed), like the kernel.
    symlink("/etc/passwd", guest.join("etc/c40_0")).unwrap();
    for i in 1..40 {
        symlink(format!("c40_{}", i - 1), guest.join(format!("etc/c40_{i}"))).unwrap();
    }
    Fixture {
        _tmp: tmp,
        top,
        guest,
    }
}

fn both() -> [Resolver; 2] {
    [Resolver::Openat2, Resolver::UserspaceWalk]
}

fn open(fx: &Fixture, r: Resolver) -> GuestRoot {
    let g = GuestRoot::open_with(&fx.guest, r).unwrap();
    assert_eq!(g.resolver(), r);
    g
}

fn me() -> FileAttrs {
    // SAFETY: trivial getters.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    FileAttrs {
        mode: 0o644,
        uid,
        gid,
    }
}

fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

/// Every read either fails or returns guest bytes; never the canary.
fn assert_no_canary(r: &GuestResult<Vec<u8>>) {
    if let Ok(b) = r {
        assert_ne!(b.as_slice(), CANARY, "a guest read returned host bytes");
    }
}

#[test]
fn reads_resolve_inside_the_guest() {
    let fx = fixture();
    for r in both() {
        let g = open(&fx, r);
        let ok = |p: &str, want: &[u8]| {
            let got = g.read(p);
            assert_no_canary(&got);
            assert_eq!(
                got.unwrap_or_else(|e| panic!("{r:?} {p}: {e}")),
                want,
                "{r:?} {p}"
            );
        };
        ok("/etc/fstab", SHADOW);
        ok("etc/fstab", SHADOW);
        ok("etc/x", PASSWD);
        ok("../../etc/passwd", PASSWD);
        ok("/../../../etc/passwd", PASSWD);
        ok("/boot/boot/etc/passwd", PASSWD);
        ok("up/up/etc/../etc/passwd", PASSWD);
        ok("etc/dirlink/data", b"data\n");
        ok("boot/etc/dirlink/../../etc/fstab", SHADOW);
        ok("etc/c40_39", PASSWD);
        assert_eq!(g.read_to_string("etc/fstab").unwrap(), "guest shadow\n");
    }
}

#[test]
fn canonical_names_the_guest_path_links_lead_to() {
    let fx = fixture();
    for r in both() {
        let g = open(&fx, r);
        let canon = |p: &str| g.canonical(p).unwrap_or_else(|e| panic!("{r:?} {p}: {e}"));
        assert_eq!(canon("/etc/fstab"), Path::new("/etc/shadow"), "{r:?}");
        assert_eq!(canon("etc/x"), Path::new("/etc/passwd"), "{r:?}");
        assert_eq!(canon("/../../../etc/passwd"), Path::new("/etc/passwd"));
        assert_eq!(canon("etc/dirlink/data"), Path::new("/var/lib/data"));
        assert_eq!(canon("etc/c40_39"), Path::new("/etc/passwd"));
        assert_eq!(canon("boot"), Path::new("/"));
        assert_eq!(canon("/"), Path::new("/"));
        for p in ["etc/canary_abs", "etc/canary_deep", "hostdir/canary"] {
            assert!(g.canonical(p).unwrap_err().is_not_found(), "{r:?} {p}");
        }
        assert!(g.canonical("etc/procroot").is_err(), "{r:?}");
        assert!(g.canonical("etc/loop1").is_err(), "{r:?}");
    }
}

#[test]
fn escapes_fail_without_reaching_the_host() {
    let fx = fixture();
    for r in both() {
        let g = open(&fx, r);
        for p in [
            "etc/canary_abs",
            "etc/canary_rel",
            "etc/canary_deep",
            "hostdir/canary",
            "/../canary",
            "../../../../../../canary",
            "boot/../../canary",
            "etc/procroot/etc/passwd",
            "etc/procroot_passwd",
            "up/../hostdir/etc/passwd",
        ] {
            let got = g.read(p);
            assert_no_canary(&got);
            let e = got.expect_err(p);
            assert!(e.is_not_found(), "{r:?} {p}: {e}");
            assert!(!g.exists(p).unwrap(), "{r:?} {p}");
        }
        let abs = fx.top.join("canary");
        assert!(g.read(&abs).unwrap_err().is_not_found());
    }
}

#[test]
fn symlink_loops_and_link_limit() {
    let fx = fixture();
    for r in both() {
        let g = open(&fx, r);
        for p in ["etc/loop1", "etc/self", "etc/loop2/x", "etc/c40_39/x"] {
            let e = g.read(p).unwrap_err();
            if p.ends_with("/x") && p.starts_with("etc/c40") {
                // 40 links then a file: ENOTDIR, not a loop.
                assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "{r:?} {p}: {e}");
                continue;
            }
            assert!(
                matches!(e, GuestError::SymlinkLoop { .. }),
                "{r:?} {p}: {e:?}"
            );
            assert!(e.to_string().contains("too many levels"), "{e}");
        }
        assert!(g.exists("etc/loop1").is_err());
        // 41 links: one too many.
        symlink("c40_39", fx.guest.join("etc/c41")).ok();
        let e = g.read("etc/c41").unwrap_err();
        assert!(matches!(e, GuestError::SymlinkLoop { .. }), "{r:?}: {e:?}");
    }
}

#[test]
fn magic_links_are_refused_in_a_proc_tree() {
    // A guest root *on procfs*: `root`, `cwd`, `exe`, `fd/N` are magic links.
    let canary = tempfile::NamedTempFile::new().unwrap();
    fs::write(canary.path(), CANARY).unwrap();
    let held = File::open(canary.path()).unwrap();
    let fdno = std::os::fd::AsRawFd::as_raw_fd(&held);
    for r in both() {
        let g = GuestRoot::open_with("/proc/self", r).unwrap();
        for p in [
            "root/etc/passwd".to_string(),
            "cwd".to_string(),
            "root".to_string(),
            format!("fd/{fdno}"),
            format!("/fd/{fdno}"),
            format!("fd/../fd/{fdno}"),
        ] {
            let got = g.read(&p);
            assert_no_canary(&got);
            let e = got.expect_err(&p);
            assert!(e.is_escape_refused(), "{r:?} {p}: {e}");
            assert!(e.to_string().contains("refused symlink escape"), "{e}");
        }
        // Not following the magic link is fine: its text is only text.
        assert_eq!(g.read_link("root").unwrap(), Path::new("/"));
        assert!(g.symlink_metadata("root").unwrap().file_type().is_symlink());
        // Plain procfs files are readable.
        assert!(!g.read("stat").unwrap().is_empty());
    }
}

#[test]
fn magic_links_in_a_mounted_proc_are_refused() {
    if !is_root() {
        eprintln!(
            "SKIPPED magic_links_in_a_mounted_proc_are_refused: needs root (mount namespace)"
        );
        return;
    }
    let fx = fixture();
    let guest = fx.guest.clone();
    let canary = fx.top.join("canary");
    fs::create_dir(guest.join("proc")).unwrap();
    let res = std::thread::spawn(move || -> Result<(), String> {
        let target = CString::new(guest.join("proc").as_os_str().as_bytes()).unwrap();
        // SAFETY: plain syscalls with valid NUL-terminated strings; the new
        // mount namespace belongs to this thread only and dies with it.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(format!("unshare: {}", io::Error::last_os_error()));
            }
            let none = std::ptr::null();
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(format!("make-rprivate: {}", io::Error::last_os_error()));
            }
            if libc::mount(
                c"proc".as_ptr(),
                target.as_ptr(),
                c"proc".as_ptr(),
                0,
                std::ptr::null(),
            ) != 0
            {
                return Err(format!("mount proc: {}", io::Error::last_os_error()));
            }
        }
        let held = File::open(&canary).unwrap();
        let fdno = std::os::fd::AsRawFd::as_raw_fd(&held);
        for r in both() {
            let g = GuestRoot::open_with(&guest, r).unwrap();
            for p in [
                "/proc/self/root/etc/passwd".to_string(),
                "etc/procroot_passwd".to_string(),
                "etc/procroot/etc/shadow".to_string(),
                "/proc/self/cwd".to_string(),
                "/proc/1/root/etc/passwd".to_string(),
                format!("/proc/self/fd/{fdno}"),
                format!("/proc/thread-self/fd/{fdno}"),
            ] {
                let got = g.read(&p);
                assert_no_canary(&got);
                let e = got.expect_err(&p);
                // Another process's /proc entries may be denied (ptrace check)
                // before the magic link is even looked at: also a refusal.
                let denied = p.starts_with("/proc/1/") && e.raw_os_error() == Some(libc::EACCES);
                assert!(e.is_escape_refused() || denied, "{r:?} {p}: {e}");
            }
            let e = g
                .write_atomic("/proc/self/root/tmp/hydra-escape", b"x", &me())
                .unwrap_err();
            assert!(e.is_escape_refused(), "{r:?}: {e}");
            // Ordinary procfs files stay readable through the openat2 resolver;
            // the walker refuses every procfs symlink (stricter), but reads files.
            assert!(g.read("/proc/version").is_ok(), "{r:?}");
            match r {
                Resolver::Openat2 => assert!(g.read("/proc/mounts").is_ok()),
                _ => assert!(g.read("/proc/mounts").unwrap_err().is_escape_refused()),
            }
        }
        assert!(!Path::new("/tmp/hydra-escape").exists());
        Ok(())
    })
    .join();
    match res {
        Ok(Ok(())) => {}
        Ok(Err(why)) => eprintln!("SKIPPED magic_links_in_a_mounted_proc_are_refused: {why}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[test]
fn metadata_exists_read_link() {
    let fx = fixture();
    for r in both() {
        let g = open(&fx, r);
        assert!(g.metadata("etc/fstab").unwrap().is_file());
        assert!(g
            .symlink_metadata("etc/fstab")
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(g.metadata("boot").unwrap().is_dir());
        assert_eq!(
            g.metadata("boot").unwrap().ino(),
            fs::metadata(&fx.guest).unwrap().ino()
        );
        assert!(g.exists("/etc/fstab").unwrap());
        assert!(!g.exists("/etc/nope").unwrap());
        assert!(!g.exists("/etc/passwd/nope").unwrap());
        assert_eq!(g.read_link("etc/fstab").unwrap(), Path::new("/etc/shadow"));
        assert_eq!(
            g.read_link("etc/canary_abs").unwrap(),
            fx.top.join("canary")
        );
        // read_link never follows the parent's final component... but follows parents.
        assert_eq!(
            g.read_link("boot/etc/x").unwrap(),
            Path::new("../../../../etc/passwd")
        );
        let e = g.read_link("etc/passwd").unwrap_err();
        assert!(e.to_string().contains("not a symlink"), "{e}");
        // Error messages name the guest path and the operation.
        let e = g.read("etc/nonexistent").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/nonexistent: read: No such file or directory (os error 2)"
        );
        assert_eq!(e.path(), Path::new("/etc/nonexistent"));
        assert_eq!(e.op(), "read");
        assert!(e.is_not_found() && !e.is_escape_refused());
        assert_eq!(
            g.existing_attrs("etc/fstab").unwrap().map(|a| a.mode),
            Some(fs::metadata(fx.guest.join("etc/shadow")).unwrap().mode() & 0o7777)
        );
        assert_eq!(g.existing_attrs("etc/none").unwrap(), None);
    }
}

#[test]
fn read_caps_and_special_files() {
    let fx = fixture();
    let fifo = CString::new(fx.guest.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    symlink("/fifo", fx.guest.join("etc/tofifo")).unwrap();
    fs::write(fx.guest.join("latin1"), b"caf\xe9\n").unwrap();
    for r in both() {
        let g = open(&fx, r);
        let e = g.read_capped("etc/passwd", 3).unwrap_err();
        assert!(
            matches!(
                e,
                GuestError::TooLarge {
                    size: 13,
                    cap: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(g.read_capped("etc/passwd", 13).unwrap(), PASSWD);
        // A FIFO is refused without blocking.
        let e = g.read("etc/tofifo").unwrap_err();
        assert!(
            e.to_string().contains("not a regular file but a fifo"),
            "{e}"
        );
        assert!(g.read("etc").unwrap_err().to_string().contains("directory"));
        assert!(matches!(
            g.read_to_string("latin1").unwrap_err(),
            GuestError::Invalid { .. }
        ));
        let mut s = String::new();
        g.open_file("etc/fstab")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s.as_bytes(), SHADOW);
        // NUL in a path is an error, not a panic.
        assert!(g.read(OsStr::from_bytes(b"etc/\0passwd")).is_err());
        assert!(g.read("a/".repeat(3000)).is_err());
    }
}

#[test]
fn read_dir_and_odd_names() {
    let fx = fixture();
    let odd = OsStr::from_bytes(b"caf\xe9 \n\x01name");
    fs::write(fx.guest.join("etc").join(odd), b"odd").unwrap();
    for r in both() {
        let g = open(&fx, r);
        let ents = g.read_dir("boot/etc").unwrap();
        let find = |n: &OsStr| ents.iter().find(|e| e.name == n).map(|e| e.kind);
        assert_eq!(find(OsStr::new("fstab")), Some(FileKind::Symlink));
        assert_eq!(find(OsStr::new("passwd")), Some(FileKind::File));
        assert_eq!(find(odd), Some(FileKind::File));
        assert!(ents
            .windows(2)
            .all(|w| w[0].name.as_bytes() < w[1].name.as_bytes()));
        assert_eq!(g.read(Path::new("/etc").join(odd)).unwrap(), b"odd");
        let root = g.read_dir("/").unwrap();
        assert!(root
            .iter()
            .any(|e| e.name == "boot" && e.kind == FileKind::Symlink));
        assert!(root.iter().all(|e| e.name != "canary"));
        assert!(g.read_dir("etc/passwd").is_err());
        // read_dir through a symlink to a host directory: re-rooted, not found.
        assert!(g.read_dir("hostdir").unwrap_err().is_not_found());
    }
}

#[test]
fn case_insensitive_lookup() {
    let fx = fixture();
    fs::write(
        fx.guest.join("amb").join(OsStr::from_bytes(b"caf\xe9")),
        b"x",
    )
    .unwrap();
    fs::write(fx.guest.join("amb/Stra\u{df}e"), b"x").unwrap();
    for r in both() {
        let g = open(&fx, r);
        assert_eq!(
            g.find_case_insensitive("windows/system32/config/system")
                .unwrap(),
            Path::new("/Windows/System32/Config/SYSTEM")
        );
        assert_eq!(
            g.find_case_insensitive("/WINDOWS/./system32/../System32/CONFIG/System")
                .unwrap(),
            Path::new("/Windows/System32/Config/SYSTEM")
        );
        assert_eq!(
            g.find_case_insensitive(OsStr::from_bytes(b"AMB/CAF\xe9"))
                .unwrap(),
            Path::new("/amb").join(OsStr::from_bytes(b"caf\xe9"))
        );
        // No full case folding (NTFS upcases char by char): "SS" is not "ß".
        assert!(g.find_case_insensitive("amb/STRASSE").is_err());
        assert_eq!(
            g.find_case_insensitive("amb/STRA\u{df}E").unwrap(),
            Path::new("/amb/Stra\u{df}e")
        );
        let e = g.find_case_insensitive("amb/foo").unwrap_err();
        match &e {
            GuestError::Ambiguous {
                candidates, dir, ..
            } => {
                assert_eq!(dir, Path::new("/amb"));
                assert_eq!(candidates, &[OsString::from("FOO"), OsString::from("Foo")]);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("\"FOO\", \"Foo\""), "{e}");
        let e = g.find_case_insensitive("windows/nothere/x").unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().contains("\"nothere\" in /Windows"), "{e}");
        // Through symlinks: confined like everything else.
        assert!(g.find_case_insensitive("HOSTDIR/canary").is_err());
        assert_eq!(
            g.find_case_insensitive("BOOT/ETC/FSTAB").unwrap(),
            Path::new("/boot/etc/fstab")
        );
    }
}

#[test]
fn write_atomic_stays_inside_and_replaces_links() {
    for r in both() {
        let fx = fixture();
        let g = open(&fx, r);
        // Through a symlinked parent (boot -> /): lands in the guest.
        g.write_atomic("boot/etc/newfile", b"new", &me()).unwrap();
        assert_eq!(fs::read(fx.guest.join("etc/newfile")).unwrap(), b"new");
        assert!(!fx.top.join("etc/newfile").exists());
        g.write_atomic("etc/dirlink/newdata", b"nd", &me()).unwrap();
        assert_eq!(fs::read(fx.guest.join("var/lib/newdata")).unwrap(), b"nd");

        // Replacing a symlink replaces the link, not its target.
        g.write_atomic("/etc/fstab", b"replaced\n", &me()).unwrap();
        let m = fs::symlink_metadata(fx.guest.join("etc/fstab")).unwrap();
        assert!(m.is_file());
        assert_eq!(fs::read(fx.guest.join("etc/fstab")).unwrap(), b"replaced\n");
        assert_eq!(fs::read(fx.guest.join("etc/shadow")).unwrap(), SHADOW);
        g.write_atomic("etc/canary_abs", b"guest", &me()).unwrap();
        assert!(fs::symlink_metadata(fx.guest.join("etc/canary_abs"))
            .unwrap()
            .is_file());

        // A parent that points at the host is re-rooted: it does not exist.
        let e = g
            .write_atomic("hostdir/canary", b"pwned", &me())
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let e = g
            .write_atomic("etc/canary_rel/x", b"pwned", &me())
            .unwrap_err();
        assert!(e.raw_os_error().is_some(), "{e}");
        assert_eq!(fs::read(fx.top.join("canary")).unwrap(), CANARY);
        assert_eq!(fs::read(fx.top.join("etc/passwd")).unwrap(), CANARY);

        // Mode is applied exactly (no umask); owner kept.
        let a = FileAttrs {
            mode: 0o640,
            ..me()
        };
        g.write_atomic("etc/mode", b"m", &a).unwrap();
        let m = fs::metadata(fx.guest.join("etc/mode")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o640);
        assert_eq!((m.uid(), m.gid()), (a.uid, a.gid));
        if is_root() {
            let a = FileAttrs {
                mode: 0o4750,
                uid: 1234,
                gid: 5678,
            };
            g.write_atomic("etc/owned", b"o", &a).unwrap();
            let m = fs::metadata(fx.guest.join("etc/owned")).unwrap();
            assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4750, 1234, 5678));
        } else {
            eprintln!("SKIPPED owner part of write_atomic test: needs root");
        }

        // Failures leave no temporary file behind.
        let e = g.write_atomic("etc", b"x", &me()).unwrap_err();
        assert_eq!(e.op(), "rename", "{e}");
        assert!(g.write_atomic("etc/", b"x", &me()).is_err());
        assert!(g.write_atomic("etc/..", b"x", &me()).is_err());
        assert!(g.write_atomic("", b"x", &me()).is_err());
        for d in ["", "etc", "var/lib"] {
            for ent in fs::read_dir(fx.guest.join(d)).unwrap() {
                let n = ent.unwrap().file_name();
                assert!(!n.to_string_lossy().contains(".hydra-"), "leftover {n:?}");
            }
        }
    }
}

#[test]
fn write_atomic_keeps_selinux_label() {
    let fx = fixture();
    let label = b"system_u:object_r:etc_t:s0\0";
    let p = CString::new(fx.guest.join("etc/passwd").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path, name, value.
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            c"security.selinux".as_ptr(),
            label.as_ptr().cast(),
            label.len(),
            0,
        )
    };
    if rc != 0 {
        eprintln!(
            "SKIPPED write_atomic_keeps_selinux_label: cannot set security.selinux here: {}",
            io::Error::last_os_error()
        );
        return;
    }
    for r in both() {
        let g = open(&fx, r);
        g.write_atomic("etc/passwd", b"new passwd\n", &me())
            .unwrap();
        let f = File::open(fx.guest.join("etc/passwd")).unwrap();
        assert_eq!(
            sys::get_xattr(f.as_fd(), c"security.selinux")
                .unwrap()
                .as_deref(),
            Some(&label[..])
        );
    }
}

#[test]
fn remove_symlink_create_dir() {
    for r in both() {
        let fx = fixture();
        let g = open(&fx, r);
        // Removing a symlink removes the link only.
        g.remove_file("etc/fstab").unwrap();
        assert!(fs::symlink_metadata(fx.guest.join("etc/fstab")).is_err());
        assert_eq!(fs::read(fx.guest.join("etc/shadow")).unwrap(), SHADOW);
        g.remove_file("boot").unwrap();
        assert!(fx.guest.join("etc/passwd").exists());
        assert!(g.remove_file("etc").is_err());
        assert!(g.remove_file("hostdir/canary").is_err());
        assert_eq!(fs::read(fx.top.join("canary")).unwrap(), CANARY);

        // A symlink's target is stored as text.
        g.symlink("/etc/shadow", "etc/newlink").unwrap();
        assert_eq!(
            g.read_link("etc/newlink").unwrap(),
            Path::new("/etc/shadow")
        );
        assert_eq!(g.read("etc/newlink").unwrap(), SHADOW);
        assert!(g.symlink("x", "etc/newlink").is_err());
        assert!(g
            .symlink("x", "hostdir/newlink")
            .unwrap_err()
            .is_not_found());
        g.symlink(fx.top.join("canary"), "etc/l2").unwrap();
        assert!(g.read("etc/l2").unwrap_err().is_not_found());

        // create_dir_all: through symlinks, confined.
        g.create_dir_all("up/a/b/c", 0o755).unwrap();
        assert!(fx.guest.join("a/b/c").is_dir());
        g.create_dir_all("/a/b/c/", 0o755).unwrap();
        g.create_dir_all("etc/dirlink/sub", 0o700).unwrap();
        let m = fs::metadata(fx.guest.join("var/lib/sub")).unwrap();
        assert!(m.is_dir());
        assert!(g.create_dir_all("hostdir/zzz", 0o755).is_err());
        assert!(!fx.top.join("zzz").exists());
        let e = g.create_dir_all("etc/passwd/sub", 0o755).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/passwd/sub: mkdir: Not a directory (os error 20)"
        );
        assert!(g.create_dir_all("etc/loop1/sub", 0o755).is_err());
    }
}

fn set_host_xattr(p: &Path, name: &CStr, value: &[u8]) -> io::Result<()> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path, name, value.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[test]
fn copy_preserving_keeps_everything() {
    for r in both() {
        let fx = fixture();
        let g = open(&fx, r);
        let src = fx.guest.join("etc/src.conf");
        fs::write(&src, b"key=value\n").unwrap();
        set_host_xattr(&src, c"user.hydra", b"backup-me").unwrap();
        let selinux = set_host_xattr(&src, c"security.selinux", b"system_u:object_r:etc_t:s0\0");
        if let Err(e) = &selinux {
            eprintln!("SKIPPED security.selinux part of copy_preserving test: {e}");
        }
        if is_root() {
            std::os::unix::fs::chown(&src, Some(1234), Some(5678)).unwrap();
        } else {
            eprintln!("SKIPPED owner part of copy_preserving test: needs root");
        }
        fs::set_permissions(&src, fs::Permissions::from_mode(0o4751)).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123_456_789);
        File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
            .unwrap();

        g.copy_preserving("boot/etc/src.conf", "etc/src.conf.hydra-orig")
            .unwrap();
        let dst = fx.guest.join("etc/src.conf.hydra-orig");
        let (a, b) = (fs::metadata(&src).unwrap(), fs::metadata(&dst).unwrap());
        assert_eq!(fs::read(&dst).unwrap(), b"key=value\n");
        assert_eq!(b.mode() & 0o7777, 0o4751);
        assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()));
        assert_eq!(b.modified().unwrap(), t);
        assert_eq!(b.accessed().unwrap(), t);
        let f = File::open(&dst).unwrap();
        assert_eq!(
            sys::get_xattr(f.as_fd(), c"user.hydra").unwrap().as_deref(),
            Some(&b"backup-me"[..])
        );
        if selinux.is_ok() {
            assert_eq!(
                sys::get_xattr(f.as_fd(), c"security.selinux")
                    .unwrap()
                    .as_deref(),
                Some(&b"system_u:object_r:etc_t:s0\0"[..])
            );
        }

        // A symlink is copied as a symlink.
        g.copy_preserving("etc/fstab", "etc/fstab.orig").unwrap();
        assert_eq!(
            fs::read_link(fx.guest.join("etc/fstab.orig")).unwrap(),
            Path::new("/etc/shadow")
        );
        // Sources outside the guest do not exist; devices/dirs are refused.
        g.copy_preserving("etc/canary_abs", "etc/c").unwrap();
        assert_eq!(
            fs::read_link(fx.guest.join("etc/c")).unwrap(),
            fx.top.join("canary")
        );
        assert!(g.read("etc/c").unwrap_err().is_not_found());
        assert!(g
            .copy_preserving("hostdir/canary", "etc/c2")
            .unwrap_err()
            .is_not_found());
        assert!(g.copy_preserving("etc", "etc2").is_err());
        assert!(!fx.guest.join("etc/c2").exists());
        // Copying onto a symlink replaces the link.
        g.copy_preserving("etc/passwd", "etc/x").unwrap();
        assert!(fs::symlink_metadata(fx.guest.join("etc/x"))
            .unwrap()
            .is_file());
        assert_eq!(fs::read(fx.top.join("etc/passwd")).unwrap(), CANARY);
    }
}

#[test]
fn fifo_device_not_copied() {
    let fx = fixture();
    let fifo = CString::new(fx.guest.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    for r in both() {
        let g = open(&fx, r);
        let e = g.copy_preserving("fifo", "fifo2").unwrap_err();
        assert!(e.to_string().contains("fifo"), "{e}");
        assert!(fs::symlink_metadata(fx.guest.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
    }
}

// ----- property tests ---------------------------------------------------

/// (dev, ino) of everything in the guest tree, links not followed.
fn inodes(root: &Path) -> HashSet<(u64, u64)> {
    let mut set = HashSet::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        set.insert((m.dev(), m.ino()));
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
    }
    set
}

/// Components random paths are built from: fixture names, dots, and the
/// host path of the temp dir (so absolute host paths come up).
fn vocabulary(fx: &Fixture) -> Vec<OsString> {
    let mut v: Vec<OsString> = [
        "..",
        ".",
        "",
        "etc",
        "fstab",
        "x",
        "shadow",
        "passwd",
        "boot",
        "up",
        "hostdir",
        "canary",
        "canary_abs",
        "canary_rel",
        "canary_deep",
        "loop1",
        "self",
        "dirlink",
        "data",
        "var",
        "lib",
        "procroot",
        "procroot_passwd",
        "nonexist",
        "guest",
        "c40_39",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    v.extend(fx.top.iter().skip(1).map(OsStr::to_os_string));
    v.push(OsString::from_vec(b"\xff\xfe".to_vec()));
    v
}

fn build(vocab: &[OsString], lead: bool, idx: &[usize], trail: bool) -> PathBuf {
    let mut b: Vec<u8> = Vec::new();
    if lead {
        b.push(b'/');
    }
    for (i, &k) in idx.iter().enumerate() {
        if i > 0 {
            b.push(b'/');
        }
        b.extend_from_slice(vocab[k % vocab.len()].as_bytes());
    }
    if trail {
        b.push(b'/');
    }
    PathBuf::from(OsString::from_vec(b))
}

fn path_strategy() -> impl Strategy<Value = (bool, Vec<usize>, bool)> {
    (
        any::<bool>(),
        proptest::collection::vec(0usize..64, 0..10),
        proptest::bool::weighted(0.1),
    )
}

#[test]
fn proptest_random_paths_never_escape_and_resolvers_agree() {
    let fx = fixture();
    let allowed = inodes(&fx.guest);
    let vocab = vocabulary(&fx);
    let g2 = open(&fx, Resolver::Openat2);
    let gw = open(&fx, Resolver::UserspaceWalk);
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        ..Config::default()
    });
    runner
        .run(
            &(path_strategy(), any::<bool>()),
            |((lead, idx, trail), follow)| {
                let p = build(&vocab, lead, &idx, trail);
                let bytes = p.as_os_str().as_bytes();
                let mut results = Vec::new();
                for g in [&g2, &gw] {
                    let r = resolve::resolve(g.fd.as_fd(), g.mode, bytes, libc::O_PATH, follow);
                    let id = r.ok().map(|fd| {
                        let st = sys::fstat(fd.as_fd()).unwrap();
                        (st.st_dev, st.st_ino)
                    });
                    if let Some(id) = id {
                        prop_assert!(allowed.contains(&id), "{p:?} resolved outside the guest");
                    }
                    results.push(id);
                    let got = g.read(&p);
                    if let Ok(b) = &got {
                        prop_assert_ne!(b.as_slice(), CANARY, "{:?} read host bytes", p);
                    }
                    let _ = g.read_dir(&p);
                    let _ = g.find_case_insensitive(&p);
                    let _ = g.read_link(&p);
                }
                prop_assert_eq!(results[0], results[1], "resolvers disagree on {:?}", p);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn proptest_random_writes_stay_inside() {
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    runner
        .run(
            &(path_strategy(), path_strategy(), 0usize..4, any::<bool>()),
            |((l1, i1, t1), (l2, i2, t2), op, walk)| {
                let fx = fixture();
                let vocab = vocabulary(&fx);
                let g = open(
                    &fx,
                    if walk {
                        Resolver::UserspaceWalk
                    } else {
                        Resolver::Openat2
                    },
                );
                let (a, b) = (build(&vocab, l1, &i1, t1), build(&vocab, l2, &i2, t2));
                let host_before = snapshot_outside(&fx);
                let _ = match op {
                    0 => g.write_atomic(&a, b"written", &me()),
                    1 => g.create_dir_all(&a, 0o755),
                    2 => g.symlink(&b, &a),
                    _ => g.copy_preserving(&b, &a),
                };
                let _ = g.remove_file(&b);
                prop_assert_eq!(host_before, snapshot_outside(&fx), "{:?} {:?}", a, b);
                Ok(())
            },
        )
        .unwrap();
}

/// Names and contents of the host side of the fixture (everything but the guest).
fn snapshot_outside(fx: &Fixture) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![fx.top.clone()];
    while let Some(p) = todo.pop() {
        if p == fx.guest {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
            out.push((p, Vec::new()));
        } else {
            out.push((p.clone(), fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn auto_falls_back_to_the_walker_on_enosys() {
    let fx = fixture();
    let guest = fx.guest.clone();
    // In a thread of its own: a seccomp filter (per thread, dies with it)
    // makes openat2 fail with ENOSYS, as on a kernel before 5.6.
    let res = std::thread::spawn(move || -> Result<(), String> {
        let nr = libc::SYS_openat2 as u32;
        let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
        let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
        let ret = (libc::BPF_RET | libc::BPF_K) as u16;
        let mut prog = [
            libc::sock_filter {
                code: ld,
                jt: 0,
                jf: 0,
                k: 0,
            }, // A = seccomp_data.nr
            libc::sock_filter {
                code: jeq,
                jt: 0,
                jf: 1,
                k: nr,
            },
            libc::sock_filter {
                code: ret,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
            },
            libc::sock_filter {
                code: ret,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ALLOW,
            },
        ];
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        // SAFETY: valid filter program; affects this thread only.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &fprog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(format!("seccomp: {}", io::Error::last_os_error()));
            }
        }
        let c = CString::new(guest.as_os_str().as_bytes()).unwrap();
        let probe = File::open(&guest).unwrap();
        let e = sys::openat2(probe.as_fd(), &c, libc::O_PATH, 0, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSYS));
        let g = GuestRoot::open(&guest).unwrap();
        assert_eq!(g.resolver(), Resolver::UserspaceWalk);
        assert_eq!(g.read("/etc/fstab").unwrap(), SHADOW);
        assert!(g.read("etc/canary_abs").unwrap_err().is_not_found());
        let e = GuestRoot::open_with(&guest, Resolver::Openat2).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSYS), "{e}");
        Ok(())
    })
    .join();
    match res {
        Ok(Ok(())) => {}
        Ok(Err(why)) => eprintln!("SKIPPED auto_falls_back_to_the_walker_on_enosys: {why}"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    // Outside that thread, openat2 is used.
    assert_eq!(open(&fx, Resolver::Openat2).resolver(), Resolver::Openat2);
    assert_eq!(
        GuestRoot::open(&fx.guest).unwrap().resolver(),
        Resolver::Openat2
    );
}
