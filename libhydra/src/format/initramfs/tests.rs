//! Unit tests of the initramfs reader: in-memory archives compressed with the
//! crates' own encoders (the integration test `tests/initramfs.rs` uses the
//! real command-line tools), corrupt inputs, and a proptest over mutations.

use super::cpio::tests::newc_archive;
use super::*;
use proptest::prelude::*;
use std::io::Write;

fn sample_archive() -> Vec<u8> {
    newc_archive(&[
        (".", 0o40755, b""),
        ("lib", 0o120777, b"usr/lib"),
        ("usr/lib/modules/6.1.0-9-amd64", 0o40755, b""),
        (
            "usr/lib/modules/6.1.0-9-amd64/modules.builtin",
            0o100644,
            b"kernel/drivers/hv/hv_vmbus.ko\nkernel/fs/ext4/ext4.ko\n",
        ),
        (
            "usr/lib/modules/6.1.0-9-amd64/kernel/drivers/scsi/hv_storvsc.ko.xz",
            0o100644,
            b"not really xz",
        ),
        (
            "usr/lib/modules/6.1.0-9-amd64/kernel/drivers/net/hyperv/hv-netvsc.ko.zst",
            0o100644,
            b"zz",
        ),
        ("etc/hostname", 0o100644, b"guest\n"),
        ("usr/bin/big", 0o100755, &[7u8; 300_000]),
    ])
}

fn early_cpio() -> Vec<u8> {
    newc_archive(&[
        ("kernel", 0o40755, b""),
        ("kernel/x86/microcode/GenuineIntel.bin", 0o100644, b"ucode"),
    ])
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn bzip2(b: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
}

/// The kernel's legacy lz4 format, blocks of 8 MiB (so the sample is one block).
fn lz4_legacy(b: &[u8]) -> Vec<u8> {
    let mut v = 0x184C_2102u32.to_le_bytes().to_vec();
    for chunk in b.chunks(8 << 20) {
        let c = lz4_flex::block::compress(chunk);
        v.extend_from_slice(&(c.len() as u32).to_le_bytes());
        v.extend_from_slice(&c);
    }
    v
}

/// An lz4 frame with independent 64 KiB blocks, one stored block, no checksums.
fn lz4_frame(b: &[u8]) -> Vec<u8> {
    let mut v = 0x184D_2204u32.to_le_bytes().to_vec();
    // FLG: v1, independent blocks, content checksum; BD: 64K; HC
    let desc = [0x64, 0x40];
    v.extend_from_slice(&desc);
    v.push((twox_hash::XxHash32::oneshot(0, &desc) >> 8) as u8);
    for (i, chunk) in b.chunks(64 << 10).enumerate() {
        if i == 1 {
            v.extend_from_slice(&(chunk.len() as u32 | 0x8000_0000).to_le_bytes());
            v.extend_from_slice(chunk);
        } else {
            let c = lz4_flex::block::compress(chunk);
            v.extend_from_slice(&(c.len() as u32).to_le_bytes());
            v.extend_from_slice(&c);
        }
    }
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&twox_hash::XxHash32::oneshot(0, b).to_le_bytes());
    v
}

fn read(img: &[u8]) -> Result<Initramfs, InitramfsError> {
    read_entries(img, |p| want_module_lists(p) || p.starts_with("etc/"), 4096)
}

fn paths(i: &Initramfs) -> Vec<&str> {
    i.entries.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn every_compression_alone_and_after_an_early_cpio() {
    let main = sample_archive();
    type Encoder = fn(&[u8]) -> Vec<u8>;
    let encoders: [(Compression, Encoder); 5] = [
        (Compression::Gzip, gzip),
        (Compression::Bzip2, bzip2),
        (Compression::Zstd, zstd),
        (Compression::Lz4Legacy, lz4_legacy),
        (Compression::Lz4Frame, lz4_frame),
    ];
    for (comp, enc) in encoders {
        let z = enc(&main);
        let one = read(&z).unwrap_or_else(|e| panic!("{comp}: {e}"));
        assert_eq!(one.members.len(), 1, "{comp}");
        assert_eq!(one.members[0].compression, comp);
        assert_eq!(one.members[0].end, z.len() as u64, "{comp}");
        assert_eq!(one.members[0].cpio_bytes, main.len() as u64, "{comp}");
        assert_eq!(one.entries.len(), 8, "{comp}");

        // early cpio, zero padding to 512, compressed main, trailing zeros
        let mut img = early_cpio();
        img.resize(img.len().div_ceil(512) * 512, 0);
        let at = img.len() as u64;
        img.extend_from_slice(&z);
        img.extend_from_slice(&[0; 100]);
        let two = read(&img).unwrap_or_else(|e| panic!("{comp}: {e}"));
        assert_eq!(two.members.len(), 2, "{comp}");
        assert_eq!(two.members[0].compression, Compression::None);
        assert_eq!(two.members[0].entries, 0..2);
        assert_eq!(two.members[1].offset, at);
        assert_eq!(two.members[1].entries, 2..10);
        assert_eq!(
            paths(&two)[..3],
            ["kernel", "kernel/x86/microcode/GenuineIntel.bin", "."]
        );
        assert_eq!(two.files["etc/hostname"], b"guest\n");
        assert_eq!(
            two.modules().into_iter().collect::<Vec<_>>(),
            ["hv_netvsc", "hv_storvsc"]
        );
        assert_eq!(
            two.builtin_modules().into_iter().collect::<Vec<_>>(),
            ["ext4", "hv_vmbus"]
        );
        assert_eq!(
            two.kernel_versions().into_iter().collect::<Vec<_>>(),
            ["6.1.0-9-amd64"]
        );
        let lib = two.entries.iter().find(|e| e.path == "lib").unwrap();
        assert_eq!(lib.link_target.as_deref(), Some("usr/lib"));
    }
}

#[test]
fn compressed_members_back_to_back_and_concatenated_streams() {
    let a = newc_archive(&[("a", 0o100644, b"1")]);
    let b = newc_archive(&[("b", 0o100644, b"22")]);
    // gzip then zstd then lz4-legacy then bzip2: four members
    let mut img = gzip(&a);
    img.extend(zstd(&b));
    img.extend(lz4_legacy(&a));
    img.extend(bzip2(&b));
    let i = read(&img).unwrap();
    let comps: Vec<_> = i.members.iter().map(|m| m.compression).collect();
    assert_eq!(
        comps,
        [
            Compression::Gzip,
            Compression::Zstd,
            Compression::Lz4Legacy,
            Compression::Bzip2
        ]
    );
    assert_eq!(paths(&i), ["a", "b", "a", "b"]);
    // two gzip streams back to back are one member, like gzip -d
    let mut img = gzip(&a);
    img.extend(gzip(&b));
    let i = read(&img).unwrap();
    assert_eq!(i.members.len(), 1);
    assert_eq!(paths(&i), ["a", "b"]);
}

#[test]
fn oversized_wanted_files_are_listed_not_kept() {
    let ar = newc_archive(&[
        ("etc/big", 0o100644, &[1u8; 5000]),
        ("etc/small", 0o100644, b"x"),
    ]);
    let i = read(&ar).unwrap();
    assert_eq!(i.oversized, ["etc/big"]);
    assert_eq!(i.files.keys().collect::<Vec<_>>(), ["etc/small"]);
}

#[test]
fn module_names() {
    assert_eq!(module_name("a/b/hv_vmbus.ko").as_deref(), Some("hv_vmbus"));
    assert_eq!(module_name("hv-netvsc.ko.xz").as_deref(), Some("hv_netvsc"));
    assert_eq!(module_name("x.ko.zst").as_deref(), Some("x"));
    assert_eq!(module_name("x.ko.gz").as_deref(), Some("x"));
    assert_eq!(module_name("x.kox"), None);
    assert_eq!(module_name(".ko"), None);
    assert!(want_module_lists("lib/modules/5.14/modules.builtin"));
    assert!(want_module_lists("usr/lib/modules/5.14/modules.builtin"));
    assert!(!want_module_lists(
        "lib/modules/5.14/kernel/modules.builtin"
    ));
    assert!(!want_module_lists("lib/modules/modules.builtin"));
}

#[test]
fn corrupt_inputs_are_typed_errors() {
    let main = sample_archive();
    let z = gzip(&main);
    // truncated compressed member
    let e = read(&z[..z.len() / 2]).unwrap_err();
    assert!(
        matches!(
            e,
            InitramfsError::Decompress {
                member: 0,
                compression: Compression::Gzip,
                ..
            }
        ),
        "{e}"
    );
    // truncated uncompressed member
    let e = read(&main[..main.len() - 300]).unwrap_err();
    assert!(
        matches!(&e, InitramfsError::Cpio { member: 0, compression: Compression::None, detail, .. } if detail.contains("truncated")),
        "{e}"
    );
    // bad magic in the middle: after the early cpio
    let mut img = early_cpio();
    let at = img.len() as u64;
    img.extend_from_slice(b"garbage!");
    let e = read(&img).unwrap_err();
    assert!(
        matches!(&e, InitramfsError::BadMagic { member, .. } if *member == at),
        "{e}"
    );
    assert!(
        e.to_string().contains(&format!("member at byte {at}")),
        "{e}"
    );
    // a cpio magic at an unaligned offset is not an archive
    let mut img = early_cpio();
    img.push(1);
    img.extend(early_cpio());
    assert!(matches!(
        read(&img).unwrap_err(),
        InitramfsError::BadMagic { .. }
    ));
    // huge name size inside a compressed member
    let mut bad = main.clone();
    bad[94..102].copy_from_slice(b"ffffffff");
    let e = read(&zstd(&bad)).unwrap_err();
    assert!(
        matches!(&e, InitramfsError::Cpio { compression: Compression::Zstd, at: 0, detail, .. } if detail.contains("name size")),
        "{e}"
    );
    // compressed member ending inside an archive
    let e = read(&gzip(&main[..200])).unwrap_err();
    assert!(
        matches!(&e, InitramfsError::Cpio { detail, .. } if detail.contains("truncated")),
        "{e}"
    );
    // lz4 frame checksums: header, content
    let f = lz4_frame(&main);
    let mut bad = f.clone();
    bad[6] ^= 1;
    let e = read(&bad).unwrap_err();
    assert!(e.to_string().contains("header checksum"), "{e}");
    let mut bad = f.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let e = read(&bad).unwrap_err();
    assert!(e.to_string().contains("content checksum"), "{e}");
    // lzo is named
    assert!(matches!(
        read(b"\x89LZO\0\r\n\x1a\n").unwrap_err(),
        InitramfsError::Unsupported { what: "lzo", .. }
    ));
    // total size limit
    let e = read_entries_with(
        &z[..],
        |_| false,
        Limits {
            max_total_bytes: 1000,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            InitramfsError::Limit {
                what: "decompressed size",
                ..
            }
        ),
        "{e}"
    );
    // member count limit
    let mut many = Vec::new();
    for _ in 0..5 {
        many.extend(gzip(&main));
        many.extend_from_slice(&[0; 4]);
    }
    let e = read_entries_with(
        &many[..],
        |_| false,
        Limits {
            max_members: 3,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            InitramfsError::Limit {
                what: "member count",
                ..
            }
        ),
        "{e}"
    );
    // a zstd frame asking for a huge window
    let mut big_window = 0xFD2F_B528u32.to_le_bytes().to_vec();
    big_window.extend_from_slice(&[0x00, 0xf8, 0, 0, 0, 0]);
    assert!(matches!(
        read(&big_window).unwrap_err(),
        InitramfsError::Decompress { .. }
    ));
}

#[test]
fn empty_and_zero_images() {
    assert_eq!(read(b"").unwrap(), Initramfs::default());
    assert_eq!(read(&[0u8; 4096]).unwrap(), Initramfs::default());
}

/// A read error of the underlying file is an `Io` error, not "corrupt".
#[test]
fn io_errors_are_reported_as_such() {
    struct Failing(Vec<u8>, usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 >= self.0.len() {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            let n = buf.len().min(self.0.len() - self.1).min(1000);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let z = gzip(&sample_archive());
    let half = z[..z.len() / 2].to_vec();
    let e = read_entries(Failing(half, 0), |_| false, 0).unwrap_err();
    assert!(
        matches!(&e, InitramfsError::Io { source, .. } if source.raw_os_error() == Some(libc::EIO)),
        "{e}"
    );
}

fn mutated(base: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(i, b) in edits {
        if !v.is_empty() {
            let i = i % v.len();
            v[i] = b;
        }
    }
    if let Some(c) = cut {
        v.truncate(c % (v.len() + 1));
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// Mutated images (every format, bytes overwritten, truncated) give a
    /// result or an error, never a panic, and respect the limits.
    #[test]
    fn mutated_images_never_panic(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let main = newc_archive(&[
            (".", 0o40755, b""),
            ("lib/modules/6.1/modules.builtin", 0o100644, b"kernel/a.ko\n"),
            ("bin", 0o120777, b"usr/bin"),
            ("etc/x", 0o100644, &[3u8; 700]),
        ]);
        let mut early = early_cpio();
        early.resize(512, 0);
        let base = match which {
            0 => main.clone(),
            1 => gzip(&main),
            2 => bzip2(&main),
            3 => zstd(&main),
            4 => lz4_legacy(&main),
            5 => lz4_frame(&main),
            _ => { let mut v = early.clone(); v.extend(gzip(&main)); v }
        };
        let img = mutated(&base, &edits, cut);
        let limits = Limits { max_total_bytes: 1 << 20, max_entries: 1000, ..Limits::default() };
        if let Ok(i) = read_entries_with(&img[..], |p| p.starts_with("etc/"), limits) {
            prop_assert!(i.entries.len() <= 1000);
            for m in &i.members {
                prop_assert!(m.end <= img.len() as u64);
                prop_assert!(m.entries.end <= i.entries.len());
            }
        }
    }

    /// Random bytes after a valid member are an error or more members, never a panic.
    #[test]
    fn random_tails_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut img = early_cpio();
        img.extend_from_slice(&tail);
        let _ = read(&img);
        let mut img = gzip(&sample_archive());
        img.extend_from_slice(&tail);
        let _ = read(&img);
    }
}
