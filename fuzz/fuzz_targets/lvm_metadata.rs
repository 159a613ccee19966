//! Fuzz the LVM2 metadata text parser and the VG model built from it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = libhydra::format::lvm::parse_vg(data);
});
