//! A counting global allocator: the system allocator, plus two counters kept while counting is
//! switched on — live heap bytes and allocation calls (`alloc`, `alloc_zeroed` and `realloc`).
//!
//! Counting is off unless a process switches it on, so that the processes measured for speed
//! pay one relaxed load per allocation and nothing else. The footprint and allocation
//! benchmarks switch it on at the start of the process that they measure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// The system allocator, counted while [`start`] is in effect.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Starts counting. Memory allocated before is not counted, so call it first thing.
pub fn start() {
    ON.store(true, Relaxed);
}

/// Heap bytes allocated and not yet freed since [`start`].
pub fn live_bytes() -> i64 {
    LIVE.load(Relaxed)
}

/// Allocation calls since [`start`].
pub fn calls() -> u64 {
    CALLS.load(Relaxed)
}

fn count(calls: u64, bytes: i64) {
    if ON.load(Relaxed) {
        CALLS.fetch_add(calls, Relaxed);
        LIVE.fetch_add(bytes, Relaxed);
    }
}

// SAFETY: every call is passed unchanged to `System`, which upholds the `GlobalAlloc` contract;
// the counters only read the layouts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(1, layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(1, layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        count(0, -(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(1, new_size as i64 - layout.size() as i64);
        }
        p
    }
}
