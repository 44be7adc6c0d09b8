//! A global allocator that keeps freed large blocks for reuse.
//!
//! Training and sampling allocate and free buffers of the same large sizes every step
//! (im2col tiles, activations, gradients). The system allocator serves such blocks with
//! fresh mappings, whose pages the kernel zeroes on first touch, and unmaps them on free: on
//! the course UNet that page clearing took a fifth of each train step (`perf`). Keeping the
//! freed blocks and handing them out again for the same size removes it (1.8× on that train
//! step). The price is memory: up to [`cache_limit`] bytes (a third of the machine's memory)
//! of freed blocks stay with the process; past it the longest-cached blocks are freed first, so sizes that stop recurring
//! (another batch shape) do not pin memory. Binaries opt in with `#[global_allocator]`;
//! libraries are unaffected.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blocks at least this large are cached; smaller ones go straight to the system.
const MIN_CACHED: usize = 128 << 10;
/// Cached sizes are rounded up to this granule, so near-equal requests share blocks.
const GRANULE: usize = 16 << 10;
static LIMIT: AtomicUsize = AtomicUsize::new(0);

/// At most this many bytes of freed blocks are kept: a third of the memory this process may
/// use (the machine's, or a container's limit where lower; a UNet train step at batch 64
/// cycles through about 5 GB), or 4 GiB where neither is known.
pub fn cache_limit() -> usize {
    let known = LIMIT.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    // Reading the cgroup file allocates, but only small blocks, which never reach this path.
    let memory = match (physical_memory(), container_limit()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let limit = memory.map_or(4 << 30, |bytes| bytes / 3);
    LIMIT.store(limit, Ordering::Relaxed);
    limit
}

/// cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`, where set.
fn container_limit() -> Option<usize> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok()?.trim().parse().ok())
}

#[cfg(unix)]
fn physical_memory() -> Option<usize> {
    // SAFETY: sysconf reads system constants; it neither allocates nor touches our memory.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && page > 0).then(|| pages as usize * page as usize)
}

#[cfg(not(unix))]
fn physical_memory() -> Option<usize> {
    None
}
const SLOTS: usize = 1024;

#[derive(Clone, Copy)]
struct Slot {
    ptr: usize,
    size: usize,
    align: usize,
    /// When the block was cached: the oldest goes first when the cache is full.
    since: u64,
}

struct Cache {
    slots: [Slot; SLOTS],
    bytes: usize,
    clock: u64,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    slots: [Slot {
        ptr: 0,
        size: 0,
        align: 0,
        since: 0,
    }; SLOTS],
    bytes: 0,
    clock: 0,
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

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Small to small: the system's in-place growth. Otherwise (a cached size on either
        // side) move through `alloc` and `dealloc` so every block keeps its rounded layout.
        if layout.size() < MIN_CACHED && new_size < MIN_CACHED {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        if rounded(layout) == rounded(new_layout) {
            return ptr;
        }
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(big) = rounded(layout) else {
            return unsafe { System.dealloc(ptr, layout) };
        };
        let limit = cache_limit();
        if big.size() > limit {
            return unsafe { System.dealloc(ptr, big) };
        }
        let mut cache = lock();
        // Make room: free the longest-cached blocks until this one fits in bytes and slots.
        while cache.bytes + big.size() > limit || cache.slots.iter().all(|s| s.ptr != 0) {
            let Some(oldest) = cache
                .slots
                .iter_mut()
                .filter(|s| s.ptr != 0)
                .min_by_key(|s| s.since)
            else {
                break;
            };
            let old = std::mem::replace(&mut oldest.ptr, 0);
            // SAFETY: the block was cached with exactly this size and alignment.
            let layout = unsafe { Layout::from_size_align_unchecked(oldest.size, oldest.align) };
            cache.bytes -= layout.size();
            unsafe { System.dealloc(old as *mut u8, layout) };
        }
        cache.clock += 1;
        let since = cache.clock;
        let slot = cache
            .slots
            .iter_mut()
            .find(|s| s.ptr == 0)
            .expect("a slot was freed above");
        *slot = Slot {
            ptr: ptr as usize,
            size: big.size(),
            align: big.align(),
            since,
        };
        cache.bytes += big.size();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_large_blocks_are_reused_within_the_limit_and_small_ones_pass_through() {
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
        // One test, not two: the cache is process-wide and the checks must not interleave.
        // Distinct sizes a little above a quarter of the limit: at most three fit.
        let layouts: Vec<Layout> = (0..6)
            .map(|i| Layout::from_size_align(cache_limit() / 4 + (i + 1) * GRANULE, 64).unwrap())
            .collect();
        unsafe {
            let mut last = std::ptr::null_mut();
            for &l in &layouts {
                last = a.alloc(l);
                assert!(!last.is_null());
                a.dealloc(last, l);
                assert!(lock().bytes <= cache_limit());
            }
            // The newest block was kept (older ones made room for it), and is handed back.
            let again = a.alloc(layouts[5]);
            assert_eq!(again, last);
            a.dealloc(again, layouts[5]);
        }
    }
}
