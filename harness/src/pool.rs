//! A global allocator for the sweep's binaries: a per-thread cache of small blocks in
//! front of the system allocator.
//!
//! A run of the world makes about 2,000 small allocations and frees them all again
//! (events, outbox entries, B-tree nodes, boxed aggregates); glibc's `malloc` and
//! `free` were 15 % of a sweep's instructions. Here a block of at most [`MAX_BLOCK`]
//! bytes (alignment at most 16) comes from a free list of its size class, kept per
//! thread, or is cut from a slab; a freed block goes back on the list of the thread
//! that frees it. Blocks are never given back to the system: a worker's cache stays as
//! large as its largest run needed, and what a finished thread cached is not reused.
//! Everything else (large or over-aligned blocks) goes to [`System`] unchanged.
//!
//! Nothing here can reach a run's outcome: which address a block gets is never
//! observed by the world (no pointer is hashed, compared or printed).
//!
//! Installed by the `turnstile` binary, the `sweep`/`stadium` examples and the `world`
//! bench with `#[global_allocator]`; the tests and the fuzz targets keep the system
//! allocator (and the sanitizers' view of it).
#![allow(unsafe_code)] // The one place: a `GlobalAlloc` cannot be written without it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes are multiples of this, which is also the largest alignment served.
const GRAIN: usize = 16;
/// The number of size classes.
const CLASSES: usize = 64;
/// The largest block the cache serves; larger ones go to the system allocator.
pub const MAX_BLOCK: usize = GRAIN * CLASSES;
/// Bytes a cache takes from the system at a time to cut new blocks from.
const SLAB: usize = 256 * 1024;

/// A free block, linked through its first word.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// One thread's free lists and the slab it is cutting.
struct Cache {
    free: [*mut FreeBlock; CLASSES],
    bump: *mut u8,
    end: *mut u8,
}

thread_local! {
    // No destructor and a constant initializer: access is a thread-pointer offset and
    // never fails, even while the thread is being torn down.
    static CACHE: UnsafeCell<Cache> = const {
        UnsafeCell::new(Cache { free: [ptr::null_mut(); CLASSES], bump: ptr::null_mut(), end: ptr::null_mut() })
    };
}

/// The allocator: `#[global_allocator] static ALLOC: Pool = Pool;`.
pub struct Pool;

/// The size class of a layout the cache serves: class `c` holds blocks of
/// `(c + 1) * GRAIN` bytes.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= GRAIN && layout.size() <= MAX_BLOCK && layout.size() > 0)
        .then(|| (layout.size() - 1) / GRAIN)
}

/// The layout of a whole block of class `class`.
#[inline]
fn block_layout(class: usize) -> Layout {
    // (class + 1) * 16 ≤ 1 KiB with alignment 16: always a valid layout.
    match Layout::from_size_align((class + 1) * GRAIN, GRAIN) {
        Ok(layout) => layout,
        Err(_) => unreachable!("size classes are small multiples of their alignment"),
    }
}

impl Cache {
    /// A block of class `class`: the last one freed, or a new one cut from the slab.
    ///
    /// # Safety
    /// `class < CLASSES`; the caller owns `self` for the call.
    #[inline]
    unsafe fn take(&mut self, class: usize) -> *mut u8 {
        let head = self.free[class];
        if !head.is_null() {
            // SAFETY: every pointer on a free list is a block of this class that was
            // freed and not handed out since; its first word holds the link.
            self.free[class] = unsafe { (*head).next };
            return head.cast();
        }
        let size = (class + 1) * GRAIN;
        if (self.end as usize) - (self.bump as usize) < size {
            // SAFETY: a non-zero size and a power-of-two alignment.
            let slab = unsafe { System.alloc(Layout::from_size_align_unchecked(SLAB, GRAIN)) };
            if slab.is_null() {
                return slab;
            }
            // The rest of the old slab (under 1 KiB) is left unused.
            self.bump = slab;
            // SAFETY: one past the end of the slab just allocated.
            self.end = unsafe { slab.add(SLAB) };
        }
        let block = self.bump;
        // SAFETY: `size` bytes remain between `bump` and `end` (checked above).
        self.bump = unsafe { block.add(size) };
        block
    }

    /// Puts a block of class `class` on its free list.
    ///
    /// # Safety
    /// `block` holds at least `(class + 1) * GRAIN` bytes aligned to `GRAIN`, and nothing
    /// uses it any more.
    #[inline]
    unsafe fn give(&mut self, class: usize, block: *mut u8) {
        let block: *mut FreeBlock = block.cast();
        // SAFETY: the block is ours now, large and aligned enough for one link.
        unsafe {
            block.write(FreeBlock {
                next: self.free[class],
            })
        };
        self.free[class] = block;
    }
}

// SAFETY: every block handed out is at least the layout's size and aligned to at least
// its alignment (class blocks are multiples of 16 bytes, aligned to 16; the rest come
// from `System`); a block is on at most one free list and is never handed out twice
// before it is freed; `dealloc` and `realloc` route by the same layout test as `alloc`,
// so a class block never reaches `System.dealloc`. A class block allocated on one
// thread and freed on another joins the other thread's list: it is plain memory of the
// class's size either way.
unsafe impl GlobalAlloc for Pool {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: `class < CLASSES`; the cache is this thread's and no other borrow of
        // it is live (the allocator does not re-enter itself).
        CACHE
            .try_with(|cache| unsafe { (*cache.get()).take(class) })
            // A thread that can no longer reach its cache gets a whole block from the
            // system; freeing it later puts it on a list, which is as good.
            .unwrap_or_else(|_| unsafe { System.alloc(block_layout(class)) })
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: a block of this layout came from `System` (see `alloc`).
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: the caller gives up the block; it is a whole block of `class`.
        // Without a cache (thread teardown) the block is left unused.
        let _ = CACHE.try_with(|cache| unsafe { (*cache.get()).give(class, block) });
    }

    #[inline]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` is non-zero and fits with the alignment (caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // SAFETY: both sizes are the system allocator's.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            // The block already holds the new size.
            (Some(old), Some(new)) if old == new => block,
            _ => {
                // SAFETY: as `alloc`; then the old block's first `min` bytes are copied
                // into the new one (distinct blocks) and the old one freed.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_small_blocks_and_leave_the_rest_to_the_system() {
        let at = |size, align| class_of(Layout::from_size_align(size, align).unwrap());
        assert_eq!(at(1, 1), Some(0));
        assert_eq!(at(16, 16), Some(0));
        assert_eq!(at(17, 8), Some(1));
        assert_eq!(at(MAX_BLOCK, 8), Some(CLASSES - 1));
        assert_eq!(at(MAX_BLOCK + 1, 8), None);
        assert_eq!(at(64, 32), None);
    }

    #[test]
    fn blocks_are_distinct_aligned_reused_and_keep_their_bytes_when_grown() {
        let pool = Pool;
        let layout = Layout::from_size_align(40, 8).unwrap();
        // SAFETY: every block is written within its layout and freed once.
        unsafe {
            let a = pool.alloc(layout);
            let b = pool.alloc(layout);
            assert!(!a.is_null() && !b.is_null() && a != b);
            assert_eq!(a as usize % GRAIN, 0);
            a.write_bytes(0xAB, 40);
            b.write_bytes(0xCD, 40);
            assert_eq!(*a.add(39), 0xAB, "blocks of one class do not overlap");
            pool.dealloc(b, layout);
            let c = pool.alloc(layout);
            assert_eq!(c, b, "the last block freed is the next handed out");
            // Grown within its class, then out of it, then past the cache.
            let same = pool.realloc(a, layout, 48);
            assert_eq!(same, a);
            let grown = pool.realloc(same, Layout::from_size_align(48, 8).unwrap(), 500);
            assert_eq!(*grown.add(39), 0xAB);
            let large = pool.realloc(grown, Layout::from_size_align(500, 8).unwrap(), 5_000);
            assert_eq!(*large.add(0), 0xAB);
            assert_eq!(*large.add(39), 0xAB);
            pool.dealloc(large, Layout::from_size_align(5_000, 8).unwrap());
            pool.dealloc(c, layout);
        }
    }
}
