//! Initramfs images built with the real tools (`cpio -o -H newc`, gzip, xz,
//! lzma, bzip2, lz4, zstd) read by `format::initramfs` and compared with
//! `cpio -t`; this machine's own `/boot/initrd.img-*` compared with
//! `lsinitramfs`; and the Hyper-V driver check over a guest tree whose
//! initramfs is made with cpio and zstd.
//!
//! A missing tool skips its test loudly, or fails it when
//! `HYDRA_REQUIRE_ROOT_TESTS=1` (as under `./dev test`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libhydra::format::initramfs::{self, Compression, EntryKind, Initramfs};
use libhydra::guest::GuestRoot;
use libhydra::inspect::kernels::{self, Availability, InInitramfs, InitramfsConvention};

/// Whether every tool is on PATH; if not, skip loudly (or fail when required).
fn have_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("HYDRA_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{test}: missing tools {missing:?} and HYDRA_REQUIRE_ROOT_TESTS=1");
    }
    eprintln!("SKIP: {test}: missing tools {missing:?}");
    false
}

/// Run `cmd` with `input` on stdin; its stdout.
fn pipe(cmd: &[&str], input: &[u8], cwd: Option<&Path>) -> Vec<u8> {
    let mut c = Command::new(cmd[0]);
    c.args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A newc archive of everything under `dir` (names as `find .` prints them).
fn cpio_of(dir: &Path) -> Vec<u8> {
    let list = Command::new("sh")
        .args(["-c", "find . | LC_ALL=C sort"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(list.status.success());
    pipe(
        &["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
        &list.stdout,
        Some(dir),
    )
}

/// `cpio -t` of an uncompressed stream, names normalized like the reader's.
fn cpio_list(archive: &[u8]) -> Vec<String> {
    let out = pipe(&["cpio", "--quiet", "-t"], archive, None);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(normalize)
        .collect()
}

fn normalize(name: &str) -> String {
    let mut s = name;
    loop {
        if let Some(r) = s.strip_prefix("./") {
            s = r;
        } else if let Some(r) = s.strip_prefix('/') {
            s = r;
        } else {
            break;
        }
    }
    let s = s.trim_end_matches('/');
    if s.is_empty() {
        ".".into()
    } else {
        s.into()
    }
}

fn paths(i: &Initramfs) -> Vec<String> {
    i.entries.iter().map(|e| e.path.clone()).collect()
}

/// A tree with files of several sizes, symlinks, hard links, an empty
/// directory, a long name and kernel modules, and a `big` file of `big`
/// bytes (several blocks of bzip2, xz `--block-size`, lz4; 9 MiB gives lz4's
/// legacy format two blocks).
fn make_tree(dir: &Path, big: usize) {
    let k = "6.1.0-99-amd64";
    let mods = dir.join(format!("usr/lib/modules/{k}"));
    fs::create_dir_all(mods.join("kernel/drivers/hv")).unwrap();
    fs::create_dir_all(mods.join("kernel/drivers/scsi")).unwrap();
    fs::create_dir_all(dir.join("empty/dir")).unwrap();
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(mods.join("kernel/drivers/hv/hv_vmbus.ko.xz"), b"vmbus").unwrap();
    fs::write(mods.join("kernel/drivers/scsi/hv_storvsc.ko"), b"storvsc").unwrap();
    fs::write(
        mods.join("modules.builtin"),
        b"kernel/drivers/net/hyperv/hv_netvsc.ko\nkernel/fs/ext4/ext4.ko\n",
    )
    .unwrap();
    fs::write(dir.join("etc/empty"), b"").unwrap();
    fs::write(dir.join("etc/hostname"), b"guest\n").unwrap();
    fs::write(dir.join("etc/three"), b"abc").unwrap();
    // Compressible but not trivially (a simple LCG).
    let mut x: u32 = 12345;
    let big: Vec<u8> = (0..big)
        .map(|i| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if i % 7 == 0 {
                (x >> 24) as u8
            } else {
                b'a' + (i % 13) as u8
            }
        })
        .collect();
    fs::write(dir.join("bin/big"), &big).unwrap();
    fs::write(dir.join("bin/tool"), b"#!/bin/sh\n").unwrap();
    fs::hard_link(dir.join("bin/tool"), dir.join("bin/tool-link")).unwrap();
    symlink("usr/lib", dir.join("lib")).unwrap();
    symlink("/bin/tool", dir.join("etc/abs-link")).unwrap();
    let mut long = dir.join("long");
    for i in 0..6 {
        long = long.join(format!("{}{i}", "d".repeat(200)));
    }
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("file-with-a-long-name-".repeat(5)), b"long").unwrap();
    fs::write(dir.join("etc/name with spaces"), b" ").unwrap();
}

/// Check each entry against the tree it was archived from.
fn check_against_tree(img: &Initramfs, dir: &Path) {
    for e in &img.entries {
        let p = dir.join(&e.path);
        let m = fs::symlink_metadata(&p).unwrap_or_else(|err| panic!("{}: {err}", e.path));
        let ft = m.file_type();
        match e.kind {
            EntryKind::Dir => assert!(ft.is_dir(), "{}", e.path),
            EntryKind::Symlink => {
                assert!(ft.is_symlink(), "{}", e.path);
                assert_eq!(
                    e.link_target.as_deref(),
                    Some(fs::read_link(&p).unwrap().to_str().unwrap()),
                    "{}",
                    e.path
                );
            }
            EntryKind::File => {
                assert!(ft.is_file(), "{}", e.path);
                // GNU cpio stores a hard-linked file's data with its last link.
                assert!(
                    e.size == m.len() || (e.nlink > 1 && e.size == 0),
                    "{}",
                    e.path
                );
            }
            k => panic!("{}: unexpected kind {k:?}", e.path),
        }
    }
}

fn want(p: &str) -> bool {
    initramfs::want_module_lists(p) || p.starts_with("etc/")
}

#[test]
fn every_compression_made_by_the_real_tools() {
    let test = "every_compression_made_by_the_real_tools";
    let tools = ["cpio", "gzip", "xz", "lzma", "bzip2", "lz4", "zstd"];
    if !have_tools(test, &tools) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, 3 << 20);
    let archive = cpio_of(&tree);
    let expected = cpio_list(&archive);
    assert!(expected.len() > 20, "{expected:?}");
    assert!(
        expected.iter().any(|p| p.len() > 1200),
        "a long name is there"
    );

    // uncompressed
    let plain = initramfs::read_entries(&archive[..], want, 1 << 20).unwrap();
    assert_eq!(paths(&plain), expected);
    check_against_tree(&plain, &tree);
    assert_eq!(plain.files["etc/hostname"], b"guest\n");
    assert_eq!(plain.files["etc/empty"], b"");
    assert_eq!(
        plain.modules().into_iter().collect::<Vec<_>>(),
        ["hv_storvsc", "hv_vmbus"]
    );
    assert_eq!(
        plain.builtin_modules().into_iter().collect::<Vec<_>>(),
        ["ext4", "hv_netvsc"]
    );

    let cases: &[(&[&str], Compression)] = &[
        (&["gzip", "-c", "-9"], Compression::Gzip),
        (&["xz", "--check=crc32", "-c"], Compression::Xz),
        (
            &["xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB", "-c"],
            Compression::Xz,
        ),
        (
            &["xz", "--check=crc64", "-T2", "--block-size=1MiB", "-c"],
            Compression::Xz,
        ),
        (&["lzma", "-c"], Compression::Lzma),
        (&["bzip2", "-c"], Compression::Bzip2),
        (&["lz4", "-l", "-c"], Compression::Lz4Legacy),
        (&["lz4", "-c"], Compression::Lz4Frame),
        (
            &["lz4", "-B4", "-BD", "-BX", "--content-size", "-c"],
            Compression::Lz4Frame,
        ),
        (&["zstd", "-c", "-q"], Compression::Zstd),
        (
            &["zstd", "-c", "-q", "-19", "-T2", "--long=27"],
            Compression::Zstd,
        ),
    ];
    for (cmd, comp) in cases {
        let z = pipe(cmd, &archive, None);
        let t = std::time::Instant::now();
        // The tool's own decompression gives the same stream, and cpio -t the same list.
        let img = initramfs::read_entries(&z[..], want, 1 << 20)
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert_eq!(img.members.len(), 1, "{cmd:?}");
        assert_eq!(img.members[0].compression, *comp, "{cmd:?}");
        assert_eq!(img.members[0].end, z.len() as u64, "{cmd:?}");
        assert_eq!(img.members[0].cpio_bytes, archive.len() as u64, "{cmd:?}");
        assert_eq!(paths(&img), expected, "{cmd:?}");
        assert_eq!(img.entries, plain.entries, "{cmd:?}");
        assert_eq!(img.files, plain.files, "{cmd:?}");
        eprintln!(
            "{cmd:?}: {} bytes compressed, read in {:?}",
            z.len(),
            t.elapsed()
        );
    }
}

/// `lz4 -l` writes 8 MiB blocks with no end marker: a 9 MiB archive has
/// two, and a member after it must still be found.
#[test]
fn lz4_legacy_with_several_blocks_then_another_member() {
    let test = "lz4_legacy_with_several_blocks_then_another_member";
    if !have_tools(test, &["cpio", "lz4", "gzip"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, 9 << 20);
    let archive = cpio_of(&tree);
    assert!(archive.len() > 9 << 20);
    let small = tmp.path().join("small");
    fs::create_dir_all(small.join("etc")).unwrap();
    fs::write(small.join("etc/late"), b"late\n").unwrap();
    let small_ar = cpio_of(&small);
    let mut img = pipe(&["lz4", "-l", "-c"], &archive, None);
    let second = img.len() as u64;
    img.extend(pipe(&["gzip", "-c"], &small_ar, None));
    let r = initramfs::read_entries(&img[..], want, 4096).unwrap();
    let mut expected = cpio_list(&archive);
    expected.extend(cpio_list(&small_ar));
    assert_eq!(paths(&r), expected);
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.members[0].compression, Compression::Lz4Legacy);
    assert_eq!(r.members[0].cpio_bytes, archive.len() as u64);
    assert_eq!(r.members[1].offset, second);
    assert_eq!(r.files["etc/late"], b"late\n");
    check_against_tree(
        &initramfs::read_entries(&archive[..], want, 4096).unwrap(),
        &tree,
    );
}

#[test]
fn early_cpio_then_compressed_members() {
    let test = "early_cpio_then_compressed_members";
    if !have_tools(test, &["cpio", "gzip", "xz", "zstd", "lz4"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let early = tmp.path().join("early");
    fs::create_dir_all(early.join("kernel/x86/microcode")).unwrap();
    fs::write(
        early.join("kernel/x86/microcode/GenuineIntel.bin"),
        b"ucode",
    )
    .unwrap();
    fs::write(early.join("early_cpio"), b"1\n").unwrap();
    let main = tmp.path().join("main");
    fs::create_dir_all(main.join("usr/lib/modules/5.14.0-1.el9.x86_64/kernel/drivers/hv")).unwrap();
    fs::write(
        main.join("usr/lib/modules/5.14.0-1.el9.x86_64/kernel/drivers/hv/hv_vmbus.ko.xz"),
        b"x",
    )
    .unwrap();
    fs::write(main.join("init"), b"#!/bin/sh\n").unwrap();
    let second = tmp.path().join("second");
    fs::create_dir_all(second.join("etc")).unwrap();
    fs::write(second.join("etc/extra.conf"), b"x=1\n").unwrap();

    let early_ar = cpio_of(&early); // cpio pads to 512 bytes
    let main_ar = cpio_of(&main);
    let second_ar = cpio_of(&second);
    let mut expected = cpio_list(&early_ar);
    let n_early = expected.len();
    expected.extend(cpio_list(&main_ar));
    let n_main = expected.len() - n_early;
    expected.extend(cpio_list(&second_ar));

    for (cmd1, c1, cmd2, c2) in [
        (
            &["zstd", "-q", "-c"][..],
            Compression::Zstd,
            &["gzip", "-c"][..],
            Compression::Gzip,
        ),
        (
            &["gzip", "-c"][..],
            Compression::Gzip,
            &["xz", "--check=crc32", "-c"][..],
            Compression::Xz,
        ),
        (
            &["xz", "--check=crc32", "-c"][..],
            Compression::Xz,
            &["lz4", "-l", "-c"][..],
            Compression::Lz4Legacy,
        ),
        (
            &["lz4", "-l", "-c"][..],
            Compression::Lz4Legacy,
            &["zstd", "-q", "-c"][..],
            Compression::Zstd,
        ),
    ] {
        let mut img = early_ar.clone();
        let m1 = img.len() as u64;
        img.extend(pipe(cmd1, &main_ar, None));
        // zero padding to 4 bytes between members, as some tools write
        while img.len() % 4 != 0 {
            img.push(0);
        }
        img.extend_from_slice(&[0; 8]);
        let m2 = img.len() as u64;
        img.extend(pipe(cmd2, &second_ar, None));
        let r = initramfs::read_entries(&img[..], want, 4096)
            .unwrap_or_else(|e| panic!("{cmd1:?} + {cmd2:?}: {e}"));
        let got: Vec<(u64, Compression, usize)> = r
            .members
            .iter()
            .map(|m| (m.offset, m.compression, m.entries.len()))
            .collect();
        assert_eq!(
            got,
            [
                (0, Compression::None, n_early),
                (m1, c1, n_main),
                (m2, c2, expected.len() - n_early - n_main)
            ],
            "{cmd1:?} + {cmd2:?}"
        );
        assert_eq!(paths(&r), expected, "{cmd1:?} + {cmd2:?}");
        assert_eq!(r.files["etc/extra.conf"], b"x=1\n");
        assert!(r.modules_of("5.14.0-1.el9.x86_64").contains("hv_vmbus"));
    }
}

#[test]
fn corrupt_images_made_by_the_real_tools_are_errors() {
    let test = "corrupt_images_made_by_the_real_tools_are_errors";
    if !have_tools(test, &["cpio", "gzip", "xz", "zstd"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, 3 << 20);
    let archive = cpio_of(&tree);
    for cmd in [
        &["gzip", "-c"][..],
        &["xz", "--check=crc32", "-c"],
        &["zstd", "-q", "-c"],
    ] {
        let z = pipe(cmd, &archive, None);
        // truncated
        let e = initramfs::read_entries(&z[..z.len() * 2 / 3], want, 4096).unwrap_err();
        assert_eq!(e.member_offset(), 0, "{cmd:?}: {e}");
        // a flipped byte in the middle of the compressed data
        let mut bad = z.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        bad[mid + 1] ^= 0xaa;
        assert!(
            initramfs::read_entries(&bad[..], want, 4096).is_err(),
            "{cmd:?}: corruption not detected"
        );
        // garbage after a good member
        let mut tail = z.clone();
        tail.extend_from_slice(b"\x01\x02garbage");
        let e = initramfs::read_entries(&tail[..], want, 4096).unwrap_err();
        assert_eq!(e.member_offset(), z.len() as u64, "{cmd:?}: {e}");
    }
}

/// This machine's initramfs against `lsinitramfs`.
#[test]
fn this_machines_initramfs_matches_lsinitramfs() {
    let test = "this_machines_initramfs_matches_lsinitramfs";
    let images: Vec<PathBuf> = fs::read_dir("/boot")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("initrd.img-"))
                })
                .collect()
        })
        .unwrap_or_default();
    if images.is_empty() {
        eprintln!("SKIP: {test}: no /boot/initrd.img-* on this machine");
        return;
    }
    if !have_tools(test, &["lsinitramfs"]) {
        return;
    }
    for path in images {
        let out = Command::new("lsinitramfs").arg(&path).output().unwrap();
        assert!(out.status.success(), "lsinitramfs {}", path.display());
        let expected: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(normalize)
            .collect();
        let t = std::time::Instant::now();
        let r = initramfs::read_entries(
            fs::File::open(&path).unwrap(),
            initramfs::want_module_lists,
            4 << 20,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!(
            "{}: {} members, {} entries, {} modules, read in {:?}",
            path.display(),
            r.members.len(),
            r.entries.len(),
            r.modules().len(),
            t.elapsed()
        );
        let got = paths(&r);
        if got != expected {
            let a: BTreeMap<&String, ()> = got.iter().map(|p| (p, ())).collect();
            let b: BTreeMap<&String, ()> = expected.iter().map(|p| (p, ())).collect();
            let only_ours: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).take(10).collect();
            let only_ls: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).take(10).collect();
            panic!(
                "{}: {} entries vs lsinitramfs {}; only ours {only_ours:?}; only lsinitramfs {only_ls:?}",
                path.display(),
                got.len(),
                expected.len()
            );
        }
        let kver = path.file_name().unwrap().to_str().unwrap()["initrd.img-".len()..].to_string();
        assert!(
            !r.modules_of(&kver).is_empty() || !r.builtin_modules_of(&kver).is_empty(),
            "{}: no modules of {kver} found",
            path.display()
        );
    }
}

/// A guest tree with two kernels, initramfs images made with cpio + zstd:
/// one with every Hyper-V driver (vmbus built in), one missing hv_netvsc.
#[test]
fn guest_tree_hyperv_check_with_real_images() {
    let test = "guest_tree_hyperv_check_with_real_images";
    if !have_tools(test, &["cpio", "zstd", "xz"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("guest");
    let (good, bad) = ("6.1.0-13-amd64", "5.10.0-26-amd64");
    for k in [good, bad] {
        let m = g.join(format!("lib/modules/{k}"));
        fs::create_dir_all(m.join("kernel/drivers/hv")).unwrap();
        fs::create_dir_all(m.join("kernel/drivers/scsi")).unwrap();
        fs::create_dir_all(m.join("kernel/drivers/net/hyperv")).unwrap();
        let ko = pipe(&["xz", "--check=crc32", "-c"], b"\x7fELF module", None);
        fs::write(m.join("kernel/drivers/scsi/hv_storvsc.ko.xz"), &ko).unwrap();
        fs::write(m.join("kernel/drivers/net/hyperv/hv_netvsc.ko.xz"), &ko).unwrap();
        fs::write(m.join("kernel/drivers/hv/hv_utils.ko.xz"), &ko).unwrap();
        fs::write(m.join("kernel/drivers/hv/hv_vmbus.ko.xz"), &ko).unwrap();
        fs::write(
            m.join("modules.dep"),
            "kernel/drivers/hv/hv_vmbus.ko.xz:\n\
             kernel/drivers/scsi/hv_storvsc.ko.xz: kernel/drivers/hv/hv_vmbus.ko.xz\n\
             kernel/drivers/net/hyperv/hv_netvsc.ko.xz: kernel/drivers/hv/hv_vmbus.ko.xz\n\
             kernel/drivers/hv/hv_utils.ko.xz: kernel/drivers/hv/hv_vmbus.ko.xz\n",
        )
        .unwrap();
    }
    // the good kernel has hv_vmbus built in
    fs::write(
        g.join(format!("lib/modules/{good}/modules.builtin")),
        "kernel/drivers/hv/hv_vmbus.ko\n",
    )
    .unwrap();
    fs::write(g.join(format!("lib/modules/{bad}/modules.builtin")), "").unwrap();
    fs::create_dir_all(g.join("boot")).unwrap();
    fs::create_dir_all(g.join("etc/initramfs-tools")).unwrap();
    for (k, drivers) in [
        (good, &["scsi/hv_storvsc", "net/hyperv/hv_netvsc"][..]),
        (bad, &["hv/hv_vmbus", "scsi/hv_storvsc"][..]),
    ] {
        let t = tmp.path().join(format!("initramfs-{k}"));
        for d in drivers {
            let p = t.join(format!("usr/lib/modules/{k}/kernel/drivers/{d}.ko.xz"));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"x").unwrap();
        }
        fs::create_dir_all(t.join("bin")).unwrap();
        symlink("usr/lib", t.join("lib")).unwrap();
        let z = pipe(&["zstd", "-q", "-c"], &cpio_of(&t), None);
        fs::write(g.join(format!("boot/initrd.img-{k}")), z).unwrap();
        fs::write(g.join(format!("boot/vmlinuz-{k}")), b"MZ").unwrap();
    }
    // a third kernel directory without a kernel
    fs::create_dir_all(g.join("lib/modules/extramodules")).unwrap();

    let root = GuestRoot::open(&g).unwrap();
    let st = kernels::hyperv_status(&root, None).unwrap();
    let versions: Vec<&str> = st.iter().map(|s| s.kernel.version.as_str()).collect();
    assert_eq!(versions, [bad, good]);
    for s in &st {
        assert_eq!(s.kernel.initramfs.convention, InitramfsConvention::Debian);
        assert!(s.kernel.initramfs.exists);
        assert_eq!(
            s.kernel.image,
            Some(PathBuf::from(format!("/boot/vmlinuz-{}", s.kernel.version)))
        );
    }
    let facts = |i: usize| -> Vec<(String, Availability, InInitramfs)> {
        st[i]
            .drivers
            .iter()
            .map(|d| (d.name.clone(), d.available.clone(), d.in_initramfs))
            .collect()
    };
    let module = |k: &str, rel: &str| {
        Availability::Module(PathBuf::from(format!(
            "/lib/modules/{k}/kernel/drivers/{rel}.ko.xz"
        )))
    };
    assert_eq!(
        facts(0),
        [
            (
                "hv_vmbus".into(),
                module(bad, "hv/hv_vmbus"),
                InInitramfs::Module
            ),
            (
                "hv_storvsc".into(),
                module(bad, "scsi/hv_storvsc"),
                InInitramfs::Module
            ),
            (
                "hv_netvsc".into(),
                module(bad, "net/hyperv/hv_netvsc"),
                InInitramfs::Missing
            ),
            (
                "hv_utils".into(),
                module(bad, "hv/hv_utils"),
                InInitramfs::Missing
            ),
        ]
    );
    assert_eq!(st[0].missing, ["hv_netvsc"]);
    assert!(!st[0].is_ready());
    assert_eq!(
        facts(1),
        [
            (
                "hv_vmbus".into(),
                Availability::Builtin,
                InInitramfs::Builtin
            ),
            (
                "hv_storvsc".into(),
                module(good, "scsi/hv_storvsc"),
                InInitramfs::Module
            ),
            (
                "hv_netvsc".into(),
                module(good, "net/hyperv/hv_netvsc"),
                InInitramfs::Module
            ),
            (
                "hv_utils".into(),
                module(good, "hv/hv_utils"),
                InInitramfs::Missing
            ),
        ]
    );
    assert!(st[1].is_ready());

    // A truncated image is an error naming the kernel and the file.
    let p = g.join(format!("boot/initrd.img-{bad}"));
    let z = fs::read(&p).unwrap();
    fs::write(&p, &z[..z.len() / 2]).unwrap();
    let e = kernels::hyperv_status(&root, None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(bad)
            && msg.contains(&format!("/boot/initrd.img-{bad}"))
            && msg.contains("zstd"),
        "{msg}"
    );
}

/// Images made by every real tool, mutated (bytes overwritten, truncated):
/// a result or an error, never a panic, whatever the decoder.
#[test]
fn mutated_real_tool_images_never_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let test = "mutated_real_tool_images_never_panic";
    let tools = ["cpio", "gzip", "xz", "lzma", "bzip2", "lz4", "zstd"];
    if !have_tools(test, &tools) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, 64 << 10);
    let archive = cpio_of(&tree);
    let cmds: &[&[&str]] = &[
        &["gzip", "-c"],
        &["xz", "--check=crc32", "-c"],
        &["xz", "--check=crc32", "--x86", "--lzma2", "-c"],
        &["lzma", "-c"],
        &["bzip2", "-c"],
        &["lz4", "-l", "-c"],
        &["lz4", "-BD", "-BX", "-c"],
        &["zstd", "-q", "-c"],
    ];
    let limits = initramfs::Limits {
        max_total_bytes: 16 << 20,
        max_entries: 10_000,
        ..initramfs::Limits::default()
    };
    for cmd in cmds {
        let z = pipe(cmd, &archive, None);
        let mut runner = TestRunner::new(Config {
            cases: std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(200),
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            proptest::option::of(any::<usize>()),
        );
        runner
            .run(&strategy, |(edits, cut)| {
                let mut img = z.clone();
                for (i, b) in edits {
                    let i = i % img.len();
                    img[i] = b;
                }
                if let Some(c) = cut {
                    img.truncate(c % (img.len() + 1));
                }
                if let Ok(r) = initramfs::read_entries_with(&img[..], want, limits) {
                    prop_assert!(r.entries.len() <= 10_000);
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    }
}
