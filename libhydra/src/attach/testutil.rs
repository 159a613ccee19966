//! Test helpers of attach: the root gate, sparse image builders (sgdisk/sfdisk/mkfs.ext4/qemu-img), layout values, and the leak check.

use crate::layout::{
    Content, Disk, Extent, ImageFormat, ImageInfo, Partition, PartitionRole, Scheme,
};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// True when the test may run: root. Otherwise prints a loud skip, or panics
/// when `HYDRA_REQUIRE_ROOT_TESTS` is set.
pub(crate) fn root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("HYDRA_REQUIRE_ROOT_TESTS").is_some() {
        panic!("{test}: needs root, and HYDRA_REQUIRE_ROOT_TESTS is set");
    }
    eprintln!("!!!!! SKIPPED {test}: needs root (loop devices, BLKPG, FUSE mounts) !!!!!");
    false
}

/// Run a tool; panic with its stderr on failure; return its stdout.
pub(crate) fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a tool with `input` on stdin; panic on failure.
pub(crate) fn run_stdin(cmd: &str, args: &[&str], input: &str) {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sparse file of `size` bytes.
pub(crate) fn sparse(path: &Path, size: u64) {
    File::create(path).unwrap().set_len(size).unwrap();
}

/// The partitions of a table as `sfdisk -J` reads them from `target` (file or device).
pub(crate) fn read_table(target: &Path) -> Vec<Partition> {
    let out = run("sfdisk", &["-J", target.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &v["partitiontable"];
    let ss = t["sectorsize"].as_u64().unwrap();
    let scheme = if t["label"] == "gpt" {
        Scheme::Gpt
    } else {
        Scheme::Dos
    };
    let node_prefix = t["device"].as_str().unwrap().to_string();
    t["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let node = p["node"].as_str().unwrap();
            let number: u32 = node[node_prefix.len()..]
                .trim_start_matches('p')
                .parse()
                .unwrap();
            let ty = p["type"].as_str().unwrap().to_lowercase();
            let role = match (scheme, ty.as_str(), number) {
                (Scheme::Dos, "5" | "f" | "85", _) => PartitionRole::Extended,
                (Scheme::Dos, _, n) if n >= 5 => PartitionRole::Logical,
                _ => PartitionRole::Primary,
            };
            part(
                number,
                p["start"].as_u64().unwrap() * ss,
                p["size"].as_u64().unwrap() * ss,
                scheme,
                role,
            )
        })
        .collect()
}

/// A partition value as the scanner would give it.
pub(crate) fn part(
    number: u32,
    offset: u64,
    size: u64,
    scheme: Scheme,
    role: PartitionRole,
) -> Partition {
    Partition {
        number,
        scheme,
        role,
        offset,
        size,
        type_id: String::new(),
        type_name: None,
        uuid: None,
        name: None,
        flags: 0,
        content: if role == PartitionRole::Extended {
            Content::ExtendedContainer
        } else {
            Content::Empty
        },
    }
}

/// A disk value as the scanner would give it.
pub(crate) fn disk(
    index: usize,
    path: &Path,
    format: ImageFormat,
    size: u64,
    sector_size: u32,
    partitions: Vec<Partition>,
) -> Disk {
    Disk {
        index,
        path: path.to_path_buf(),
        image: ImageInfo {
            format,
            readable: format.directly_readable(),
            extents: vec![Extent {
                virtual_offset: 0,
                length: size,
                file: Some(path.to_path_buf()),
                file_offset: 0,
                read_only: false,
            }],
            note: None,
        },
        size,
        sector_size,
        table: None,
        partitions,
        content: None,
        warnings: Vec::new(),
    }
}

/// The ext4 UUID the GPT image's partition 2 carries.
pub(crate) const EXT4_UUID: &str = "5c3f1d2e-8a47-4b6e-9f10-2d3c4b5a6978";

/// A 64 MiB sparse GPT image: p1 8 MiB (ESP type), p2 32 MiB with ext4
/// ([`EXT4_UUID`]), p3 the rest. Returns its partitions.
pub(crate) fn gpt_image(path: &Path) -> Vec<Partition> {
    sparse(path, 64 << 20);
    let p = path.to_str().unwrap();
    run(
        "sgdisk",
        &[
            "-n1:2048:+8M",
            "-t1:ef00",
            "-n2:0:+32M",
            "-t2:8300",
            "-n3:0:0",
            p,
        ],
    );
    let parts = read_table(path);
    let p2 = &parts[1];
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-U",
            EXT4_UUID,
            "-E",
            &format!("offset={}", p2.offset),
            p,
            &format!("{}k", p2.size / 1024),
        ],
    );
    parts
}

/// Convert an image with qemu-img.
pub(crate) fn qemu_convert(src: &Path, src_fmt: &str, dst: &Path, dst_fmt: &str, opts: &[&str]) {
    let mut args = vec!["convert", "-f", src_fmt, "-O", dst_fmt];
    args.extend_from_slice(opts);
    args.push(src.to_str().unwrap());
    args.push(dst.to_str().unwrap());
    run("qemu-img", &args);
}

/// Size of a block device from sysfs, in bytes.
pub(crate) fn sysfs_size(dev: &Path) -> u64 {
    let name = dev.file_name().unwrap().to_str().unwrap();
    let s = fs::read_to_string(format!("/sys/class/block/{name}/size")).unwrap();
    s.trim().parse::<u64>().unwrap() * 512
}

/// A recognisable block of `len` bytes.
pub(crate) fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ 0x5a)
        .collect()
}

/// Write `data` at `offset` of a block device with O_DIRECT-free buffered I/O plus fsync.
pub(crate) fn write_dev(dev: &Path, offset: u64, data: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_SYNC)
        .open(dev)
        .unwrap_or_else(|e| panic!("open {} rw: {e}", dev.display()));
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(data).unwrap();
    f.sync_all().unwrap();
}

/// Read `len` bytes at `offset` of a file.
pub(crate) fn read_file_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// The canonical form of a test dir (what the kernel shows in sysfs and mountinfo).
pub(crate) fn canon(dir: &Path) -> PathBuf {
    fs::canonicalize(dir).unwrap()
}

/// Assert nothing made under `dir` is left: no loop device backed by a file
/// there, no mount there, no qemu-storage-daemon child naming it.
pub(crate) fn assert_no_leaks(dir: &Path) {
    let dir = canon(dir);
    let d = dir.to_str().unwrap();
    let mut leaks = Vec::new();
    for e in fs::read_dir("/sys/block").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        if let Ok(b) = fs::read_to_string(e.path().join("loop/backing_file")) {
            if b.trim().starts_with(d) {
                leaks.push(format!("{name} backed by {}", b.trim()));
            }
        }
    }
    for line in fs::read_to_string("/proc/self/mountinfo").unwrap().lines() {
        let mp = line.split(' ').nth(4).unwrap_or("");
        if mp.starts_with(d) {
            leaks.push(format!("mount {line}"));
        }
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() }.to_string();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let p = e.path();
        let Ok(stat) = fs::read_to_string(p.join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(after) = stat.rsplit_once(") ").map(|x| x.1) else {
            continue;
        };
        let ppid = after.split(' ').nth(1).unwrap_or("");
        if ppid != me {
            continue;
        }
        let cmdline = fs::read(p.join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("qemu-storage-daemon") && cmdline.contains(d) {
            leaks.push(format!("child {}: {cmdline}", p.display()));
        }
    }
    assert!(leaks.is_empty(), "leaks under {d}: {leaks:#?}");
}

/// Run `blkid -p -s UUID -o value` on a device.
pub(crate) fn blkid_uuid(dev: &Path) -> String {
    run(
        "blkid",
        &["-p", "-s", "UUID", "-o", "value", dev.to_str().unwrap()],
    )
    .trim()
    .to_string()
}

/// Assert a write (open, write, fsync) on a read-only device fails with EROFS, EPERM or EACCES.
pub(crate) fn assert_write_refused(dev: &Path) {
    let r = OpenOptions::new().write(true).open(dev).and_then(|mut f| {
        f.write_all(&[0xAA; 4096])?;
        f.sync_all()
    });
    let e = r.expect_err("a write on a read-only device must fail");
    assert!(
        matches!(
            e.raw_os_error(),
            Some(libc::EROFS) | Some(libc::EPERM) | Some(libc::EACCES)
        ),
        "{}: {e}",
        dev.display()
    );
    eprintln!("write on read-only {}: {e}", dev.display());
}

/// True when kernel device `name` (`loopN` or `loopNpM`) is gone, or now
/// belongs to a loop device not backed by a file under `dir` (another process
/// may take a freed number at once).
pub(crate) fn gone_or_not_ours(name: &str, dir: &Path) -> bool {
    if !Path::new(&format!("/sys/class/block/{name}")).exists() {
        return true;
    }
    let disk = match name.rfind('p') {
        Some(i) if name[i + 1..].chars().all(|c| c.is_ascii_digit()) && i > 4 => &name[..i],
        _ => name,
    };
    let dir = canon(dir);
    match fs::read_to_string(format!("/sys/block/{disk}/loop/backing_file")) {
        Ok(b) => !b.trim().starts_with(dir.to_str().unwrap()),
        Err(_) => true,
    }
}
