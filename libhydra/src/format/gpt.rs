//! GUID partition table: headers, entry arrays, CRC32 checks, type GUID names.
