//! What Keel asks of the OS and the allocator about memory: handing freed memory back, and how a
//! big array is backed by pages.

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global};

const PAGE: usize = 4096;

/// Allocations of at least this many bytes (a huge page) are what `SmallPagesWhenBig` advises on.
const SMALL_PAGES_FROM: usize = 2 << 20;

/// Hands the memory the allocator holds free back to the OS now. Recovery frees a 64 MB buffer per
/// journal segment it read, which mimalloc would otherwise keep for reuse (measured: 64 MB of RSS
/// kept after a restart from journals alone).
pub fn return_free_memory() {
    extern "C" {
        /// mimalloc's own entry point (in the library the `mimalloc` crate links): `force`
        /// also frees what other threads abandoned and purges the segment cache.
        fn mi_collect(force: bool);
    }
    // SAFETY: mi_collect takes no pointers; it is safe to call at any time from any thread.
    unsafe { mi_collect(true) }
}

/// The whole pages within `len` bytes from `start`, as (address, length); None if there are none.
fn whole_pages(start: *const u8, len: usize) -> Option<(usize, usize)> {
    if cfg!(miri) {
        // Miri runs no system calls: advice is skipped there.
        return None;
    }
    let first = (start as usize).next_multiple_of(PAGE);
    let end = (start as usize + len) / PAGE * PAGE;
    (end > first).then(|| (first, end - first))
}

/// Asks the kernel to back the array at `items` with 4 KiB pages, not 2 MiB ones: for an array
/// filled at random places, where each first touch of a huge page zeroes all of it at once.
pub fn prefer_small_pages<T>(items: &[T]) {
    advise_small_pages(items.as_ptr().cast(), std::mem::size_of_val(items));
}

fn advise_small_pages(start: *const u8, len: usize) {
    if let Some((at, len)) = whole_pages(start, len) {
        // SAFETY: advice only, on pages of an allocation the caller owns; a refusal is harmless.
        unsafe {
            libc::madvise(at as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE);
        }
    }
}

/// Gives the whole pages within `len` bytes from `start` back to the OS; they read as zeros after.
///
/// # Safety
/// The bytes must belong to one live allocation of the caller's, which must not rely on what they
/// hold.
pub unsafe fn discard(start: *const u8, len: usize) {
    if let Some((at, len)) = whole_pages(start, len) {
        libc::madvise(at as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
}

/// The global allocator, except that a block of `SMALL_PAGES_FROM` bytes or more is backed by
/// small pages (`prefer_small_pages`): the bucket array of a big hash's, set's or sorted set's
/// table (`keyspace::table`), which fills at random places. With huge pages, the first elements
/// moved into a table of 8M buckets faulted in all its 256 huge pages within a few commands:
/// 200-270 ms of zeroing in one stretch. (Leaving huge pages to the last ninth of the block,
/// where the table's control bytes are, still gave stretches of 45-80 ms.)
#[derive(Clone, Copy, Debug, Default)]
pub struct SmallPagesWhenBig;

// SAFETY: every block comes from, and goes back to, the global allocator, unchanged; the advice
// changes no byte of it.
unsafe impl Allocator for SmallPagesWhenBig {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = Global.allocate(layout)?;
        if layout.size() >= SMALL_PAGES_FROM {
            advise_small_pages(block.as_ptr().cast(), layout.size());
        }
        Ok(block)
    }

    unsafe fn deallocate(&self, block: NonNull<u8>, layout: Layout) {
        Global.deallocate(block, layout)
    }
}
