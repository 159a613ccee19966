//! Disk image containers: magic detection, VMDK descriptors, VHD footers.
