//! MBR / DOS partition table and EBR (logical partition chain) sectors.
