//! Peak heap use of one `probe()` over the given disks (a counting global allocator).
//! Usage: scan-memory DISK... ; prints `peak_heap_bytes: N`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: p came from System.alloc with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    let disks: Vec<String> = std::env::args().skip(1).collect();
    if disks.is_empty() {
        eprintln!("usage: scan-memory DISK...");
        std::process::exit(2);
    }
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let layout = libhydra::probe::probe(&disks).expect("probe");
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let parts: usize = layout.disks.iter().map(|d| d.partitions.len()).sum();
    let size: u64 = layout.disks.iter().map(|d| d.size).sum();
    println!(
        "disks: {} partitions: {parts} bytes: {size}",
        layout.disks.len()
    );
    println!("peak_heap_bytes: {peak}");
}
