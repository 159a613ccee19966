//! Fuzz container detection: VMDK descriptors, VHD footers, qcow2/VHDX/sparse VMDK headers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use libhydra::format::image;

fuzz_target!(|data: &[u8]| {
    let tail = &data[data.len().saturating_sub(512)..];
    let _ = image::detect(data, tail, data.len() as u64);
    let _ = image::parse_vmdk_descriptor(data);
    let _ = image::parse_vhd_footer(data);
    let _ = image::parse_qcow2_header(data);
    let _ = image::parse_sparse_vmdk_header(data);
    let _ = image::parse_esx_sparse_header(data);
    let _ = image::parse_vhdx_identifier(data);
});
