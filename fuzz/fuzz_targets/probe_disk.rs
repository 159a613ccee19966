//! Fuzz the whole scanner: arbitrary bytes as a raw disk (tables, EBR chains, signatures, LVM).
#![no_main]
use libfuzzer_sys::fuzz_target;
use libhydra::probe::reader::{MemReader, ReadAt};

fuzz_target!(|data: &[u8]| {
    let r: Box<dyn ReadAt> = Box::new(MemReader(data.to_vec()));
    let _ = libhydra::probe::probe_readers(vec![("fuzz.img".into(), r)]);
});
