//! Fuzz the filesystem signature probes (first 64 KiB of a volume, and the btrfs read at 64 KiB).
#![no_main]
use libfuzzer_sys::fuzz_target;
use libhydra::format::fs;

fuzz_target!(|data: &[u8]| {
    let size = (data.len() as u64).max(1 << 20);
    let _ = fs::identify_head(data, size, 0);
    let _ = fs::identify_head_all(data, size, 0);
    let _ = fs::identify_second(data, size, 0);
    let _ = fs::is_vfat(data, size);
});
