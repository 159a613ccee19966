//! /etc/fstab: parse, resolve-ready entries, and byte-preserving edits.
