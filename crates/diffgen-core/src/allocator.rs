//! A global allocator that keeps freed large blocks for reuse.
//!
//! Training and sampling allocate and free buffers of the same large sizes every step
//! (im2col tiles, activations, gradients). The system allocator serves such blocks with
//! fresh mappings, whose pages the kernel zeroes on first touch, and unmaps them on free: on
//! the course UNet that page clearing took a fifth of each train step (`perf`). Keeping the
//! freed blocks and handing them out again for the same size removes it (1.8× on that train
//! step). The price is memory: up to [`CACHE_LIMIT`] bytes of freed blocks stay with the
//! process. Binaries opt in with `#[global_allocator]`; libraries are unaffected.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

/// Blocks at least this large are cached; smaller ones go straight to the system.
const MIN_CACHED: usize = 128 << 10;
/// Cached sizes are rounded up to this granule, so near-equal requests share blocks.
const GRANULE: usize = 16 << 10;
/// At most this many bytes of freed blocks are kept; beyond it blocks are freed.
pub const CACHE_LIMIT: usize = 8 << 30;
const SLOTS: usize = 1024;

#[derive(Clone, Copy)]
struct Slot {
    ptr: usize,
    size: usize,
    align: usize,
}

struct Cache {
    slots: [Slot; SLOTS],
    bytes: usize,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    slots: [Slot {
        ptr: 0,
        size: 0,
        align: 0,
    }; SLOTS],
    bytes: 0,
});

/// [`System`] plus the large-block cache described in the module docs.
pub struct ReuseLargeBlocks;

fn rounded(layout: Layout) -> Option<Layout> {
    if layout.size() < MIN_CACHED {
        return None;
    }
    let size = layout.size().div_ceil(GRANULE) * GRANULE;
    Layout::from_size_align(size, layout.align()).ok()
}

fn lock() -> std::sync::MutexGuard<'static, Cache> {
    CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn take(layout: Layout) -> Option<*mut u8> {
    let mut cache = lock();
    let slot = cache
        .slots
        .iter_mut()
        .find(|s| s.ptr != 0 && s.size == layout.size() && s.align == layout.align())?;
    let ptr = std::mem::replace(&mut slot.ptr, 0) as *mut u8;
    cache.bytes -= layout.size();
    Some(ptr)
}

// SAFETY: every block comes from `System` with the (rounded) layout it is later freed with;
// a cached block is handed out at most once, for a request of the same rounded size and
// alignment.
unsafe impl GlobalAlloc for ReuseLargeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match rounded(layout) {
            None => unsafe { System.alloc(layout) },
            Some(big) => take(big).unwrap_or_else(|| unsafe { System.alloc(big) }),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match rounded(layout) {
            None => unsafe { System.alloc_zeroed(layout) },
            Some(big) => match take(big) {
                Some(ptr) => {
                    unsafe { ptr.write_bytes(0, big.size()) };
                    ptr
                }
                None => unsafe { System.alloc_zeroed(big) },
            },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(big) = rounded(layout) else {
            return unsafe { System.dealloc(ptr, layout) };
        };
        {
            let mut cache = lock();
            if cache.bytes + big.size() <= CACHE_LIMIT {
                if let Some(slot) = cache.slots.iter_mut().find(|s| s.ptr == 0) {
                    *slot = Slot {
                        ptr: ptr as usize,
                        size: big.size(),
                        align: big.align(),
                    };
                    cache.bytes += big.size();
                    return;
                }
            }
        }
        unsafe { System.dealloc(ptr, big) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_large_block_is_reused_and_small_ones_pass_through() {
        let a = ReuseLargeBlocks;
        let layout = Layout::from_size_align(3 << 20, 64).unwrap();
        unsafe {
            let p = a.alloc(layout);
            p.write_bytes(7, layout.size());
            a.dealloc(p, layout);
            // Same rounded size: the cached block comes back (zeroed when asked).
            let q = a.alloc_zeroed(Layout::from_size_align((3 << 20) - 100, 64).unwrap());
            assert_eq!(p, q);
            assert!(std::slice::from_raw_parts(q, 3 << 20)
                .iter()
                .all(|&b| b == 0));
            a.dealloc(q, Layout::from_size_align((3 << 20) - 100, 64).unwrap());
            let small = Layout::from_size_align(100, 8).unwrap();
            let s = a.alloc(small);
            assert!(!s.is_null());
            a.dealloc(s, small);
        }
    }
}
