//! Inspection of a mounted guest tree: OS, version, kernels, bootloader, firmware (read-only).
