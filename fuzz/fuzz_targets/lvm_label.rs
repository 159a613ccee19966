//! Fuzz the LVM2 PV label and metadata-area header parsers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use libhydra::format::lvm;

fuzz_target!(|data: &[u8]| {
    let _ = lvm::find_label(data);
    let _ = lvm::parse_mda_header(data, 4096);
});
