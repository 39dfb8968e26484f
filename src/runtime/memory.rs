//! What Keel asks of the OS and the allocator about memory: the process's allocator, handing
//! freed memory back, and how a big array is backed by pages.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global};

const PAGE: usize = 4096;

/// Allocations of at least this many bytes (a huge page) are what `SmallPagesWhenBig` advises on.
const SMALL_PAGES_FROM: usize = 2 << 20;

/// Blocks of at least this many bytes are mapped on their own by `RemapWhenBig`. A block that
/// grows across the line is copied once, about 17 ms here at this size.
const MAPPED_FROM: usize = 8 << 20;

/// The process's allocator: mimalloc, except that a block of `MAPPED_FROM` bytes or more is an
/// anonymous mapping of its own, so that growing it moves its pages (`mremap`) instead of
/// copying its bytes, as glibc's malloc does for big blocks. A growing array doubles: the node
/// array of a sorted set of 4M members was 224 MB, and copying it into a new block of twice the
/// size (faulting that in as well) stopped the shard for 500 ms; a list's array was the same.
/// Each thread keeps a few freed mappings for its next big blocks (`KeptMappings`).
pub struct RemapWhenBig;

fn mapped(layout: Layout) -> bool {
    layout.size() >= MAPPED_FROM && layout.align() <= PAGE
}

/// A mapping's length: whole huge pages, so that the kernel places it at a huge page's boundary
/// and backs it with huge pages, as mimalloc's own big blocks are.
fn mapped_len(size: usize) -> usize {
    size.next_multiple_of(SMALL_PAGES_FROM)
}

/// Mappings a thread freed, kept for its next big blocks, at most this many...
const KEPT_MAPPINGS: usize = 4;
/// ...and of at most this many bytes in all. Without them, a client SETting 10 MB values made
/// the shard map, fault in and unmap three blocks per command: 40% fewer SETs a second than
/// with mimalloc, which reuses its freed memory.
const KEPT_BYTES_MAX: usize = 64 << 20;

/// A thread's freed mappings, as (address, length); length 0 is an empty place. Unmapped when
/// the thread ends, or when none was kept or taken for a while (`release_idle_kept`).
struct KeptMappings {
    mappings: Cell<[(usize, usize); KEPT_MAPPINGS]>,
    /// Whether a mapping was kept or taken since the last `release_idle_kept`.
    used: Cell<bool>,
}

thread_local! {
    // Touched only by big blocks' allocations and frees, which never allocate themselves.
    static KEPT: KeptMappings = const {
        KeptMappings {
            mappings: Cell::new([(0, 0); KEPT_MAPPINGS]),
            used: Cell::new(false),
        }
    };
}

/// Gives this thread's kept mappings back to the OS unless one was kept or taken since the last
/// call. A shard's cron calls it on each tick, so that a shard that stopped handling big blocks
/// does not hold up to `KEPT_BYTES_MAX` of them for good.
pub fn release_idle_kept() {
    KEPT.with(|kept| {
        if !kept.used.replace(false) {
            kept.release();
        }
    });
}

impl KeptMappings {
    /// A kept mapping made `len` bytes long, the one nearest that length; None if none is kept.
    fn take(&self, len: usize) -> Option<*mut u8> {
        let mut kept = self.mappings.get();
        let nearest = (0..KEPT_MAPPINGS)
            .filter(|&i| kept[i].1 > 0)
            .min_by_key(|&i| kept[i].1.abs_diff(len))?;
        let (at, kept_len) = std::mem::take(&mut kept[nearest]);
        self.mappings.set(kept);
        self.used.set(true);
        // SAFETY: the mapping was this thread's to keep, and is now the caller's.
        unsafe {
            // Huge pages, as for a new block (`map`): a kept block may carry small-page advice.
            // Advice on part of a mapping (`prefer_small_pages` advises an array's bytes) splits
            // it in two for the kernel, and mremap refuses to resize that: it is given back then.
            libc::madvise(at as *mut libc::c_void, kept_len, libc::MADV_HUGEPAGE);
            let taken = remap(at as *mut u8, kept_len, len);
            if taken.is_none() {
                unmap(at as *mut u8, kept_len);
            }
            taken
        }
    }

    /// Keeps the mapping if there is room (true); false if the caller must give it back.
    fn keep(&self, at: *mut u8, len: usize) -> bool {
        let mut kept = self.mappings.get();
        let total: usize = kept.iter().map(|&(_, len)| len).sum();
        let empty = kept.iter().position(|&(_, len)| len == 0);
        match empty {
            Some(i) if total + len <= KEPT_BYTES_MAX => {
                kept[i] = (at as usize, len);
                self.mappings.set(kept);
                self.used.set(true);
                true
            }
            _ => false,
        }
    }

    /// Empties the keep; returns what it held.
    fn take_all(&self) -> impl Iterator<Item = (usize, usize)> {
        self.mappings.take().into_iter().filter(|&(_, len)| len > 0)
    }

    /// Gives every kept mapping back to the OS (`unmap`: a piece at a time on a shard).
    fn release(&self) {
        for (at, len) in self.take_all() {
            // SAFETY: a kept mapping belongs to no block.
            unsafe { unmap(at as *mut u8, len) };
        }
    }
}

impl Drop for KeptMappings {
    fn drop(&mut self) {
        for (at, len) in self.take_all() {
            // SAFETY: as in `release`; the thread is ending, so nothing unmaps later.
            unsafe { libc::munmap(at as *mut libc::c_void, len) };
        }
    }
}

/// Freed mappings a thread that unmaps later (`unmap_later`) holds at most; past that it unmaps
/// at once.
const UNMAPPING_MAX: usize = 8;

/// Mappings freed and not kept, as (address, length), that this thread unmaps a piece at a time
/// (`unmap_some`); None where it unmaps them at once. Unmapped when the thread ends.
struct Unmapping(Cell<Option<[(usize, usize); UNMAPPING_MAX]>>);

thread_local! {
    static UNMAPPING: Unmapping = const { Unmapping(Cell::new(None)) };
}

impl Unmapping {
    /// Takes the mapping to unmap later, if this thread does so and has room (true).
    fn defer(&self, at: *mut u8, len: usize) -> bool {
        let Some(mut pending) = self.0.get() else {
            return false;
        };
        let Some(empty) = pending.iter().position(|&(_, len)| len == 0) else {
            return false;
        };
        pending[empty] = (at as usize, len);
        self.0.set(Some(pending));
        true
    }

    /// Unmaps up to about `bytes` of the mappings waiting; returns how many it unmapped.
    fn unmap(&self, bytes: usize) -> usize {
        let Some(mut pending) = self.0.get() else {
            return 0;
        };
        let mut unmapped = 0;
        for (at, len) in pending.iter_mut().filter(|(_, len)| *len > 0) {
            if unmapped >= bytes {
                break;
            }
            // Whole pages: a waiting mapping's length is a multiple of them.
            let piece = (bytes - unmapped).min(*len).next_multiple_of(PAGE);
            // SAFETY: a mapping waiting here belongs to no block; its pieces are whole pages.
            unsafe { libc::munmap(*at as *mut libc::c_void, piece) };
            (*at, *len) = (*at + piece, *len - piece);
            unmapped += piece;
        }
        self.0.set(Some(pending));
        unmapped
    }
}

impl Drop for Unmapping {
    fn drop(&mut self) {
        self.unmap(usize::MAX);
    }
}

/// From now on, big blocks this thread frees and does not keep are unmapped by `unmap_some`, a
/// piece at a time, instead of at once: unmapping a sorted set's or hash's 275 MB array took
/// 28 ms here, all that time away from the shard's clients.
pub fn unmap_later() {
    UNMAPPING.with(|unmapping| {
        if unmapping.0.get().is_none() {
            unmapping.0.set(Some([(0, 0); UNMAPPING_MAX]));
        }
    });
}

/// Whether this thread has freed big blocks still to unmap.
pub fn unmapping() -> bool {
    UNMAPPING.with(|unmapping| {
        unmapping
            .0
            .get()
            .is_some_and(|p| p.iter().any(|&(_, len)| len > 0))
    })
}

/// Unmaps up to about `bytes` of the big blocks this thread freed (see `unmap_later`); returns
/// how many bytes it unmapped.
pub fn unmap_some(bytes: usize) -> usize {
    UNMAPPING.with(|unmapping| unmapping.unmap(bytes))
}

/// Gives a mapping back to the OS: later, a piece at a time, on a thread that unmaps later and
/// has room to; now otherwise.
unsafe fn unmap(at: *mut u8, len: usize) {
    if !UNMAPPING
        .try_with(|later| later.defer(at, len))
        .unwrap_or(false)
    {
        libc::munmap(at.cast(), len);
    }
}

/// A new anonymous mapping of `len` bytes (zeros); null if the kernel refuses. Huge pages are
/// asked for, as mimalloc asks for its own memory: without the advice the kernel (`defrag` =
/// `madvise`) backed a big sorted set's node array with small pages, and ZADD into it ran 13%
/// slower.
unsafe fn map(len: usize) -> *mut u8 {
    let at = libc::mmap(
        std::ptr::null_mut(),
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if at == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    libc::madvise(at, len, libc::MADV_HUGEPAGE);
    at.cast()
}

/// The mapping at `at` made `new_len` bytes long, moved if need be (its pages move, not its
/// bytes); None if the kernel refuses, the mapping then unchanged.
unsafe fn remap(at: *mut u8, len: usize, new_len: usize) -> Option<*mut u8> {
    if len == new_len {
        return Some(at);
    }
    let moved = libc::mremap(at.cast(), len, new_len, libc::MREMAP_MAYMOVE);
    (moved != libc::MAP_FAILED).then_some(moved.cast())
}

// SAFETY: a block is mapped exactly when `mapped` holds for its layout, which the caller passes
// back unchanged (its size changes only through `realloc`, which moves the block to the other
// kind when `mapped` changes); every other block is mimalloc's, with its layout.
unsafe impl GlobalAlloc for RemapWhenBig {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            let len = mapped_len(layout.size());
            let kept = KEPT.try_with(|kept| kept.take(len)).ok().flatten();
            kept.unwrap_or_else(|| map(len))
        } else {
            mimalloc::MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            // A new mapping reads as zeros; a kept one would not.
            map(mapped_len(layout.size()))
        } else {
            mimalloc::MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if mapped(layout) {
            let len = mapped_len(layout.size());
            if !KEPT.try_with(|kept| kept.keep(block, len)).unwrap_or(false) {
                unmap(block, len);
            }
        } else {
            mimalloc::MiMalloc.dealloc(block, layout)
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (mapped(layout), mapped(new_layout)) {
            (false, false) => mimalloc::MiMalloc.realloc(block, layout, new_size),
            (true, true) => match remap(block, mapped_len(layout.size()), mapped_len(new_size)) {
                Some(moved) => moved,
                // mremap moves only what the kernel holds as one mapping, and advice on part of
                // one splits it: then a copy, as for a block that crosses the line.
                None => self.copy_to_new(block, layout, new_layout),
            },
            _ => self.copy_to_new(block, layout, new_layout),
        }
    }
}

impl RemapWhenBig {
    /// Moves a block's bytes to a new block of `new_layout`; null if there is no memory (the block
    /// then unchanged).
    unsafe fn copy_to_new(&self, block: *mut u8, layout: Layout, new_layout: Layout) -> *mut u8 {
        let moved = self.alloc(new_layout);
        if !moved.is_null() {
            std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_layout.size()));
            self.dealloc(block, layout);
        }
        moved
    }
}

/// Hands the memory the allocator and this thread hold free back to the OS now. Recovery frees a
/// 64 MB buffer per journal segment it read, which would otherwise be kept for reuse (measured:
/// 64 MB of RSS kept after a restart from journals alone).
pub fn return_free_memory() {
    // A thread that is ending has given its kept mappings back already.
    let _ = KEPT.try_with(KeptMappings::release);
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
            // All of a mapping, if the block is one: advice on part of a mapping splits it in
            // two, which mremap then refuses to move when a freed block is reused.
            let len = match mapped(layout) {
                true => mapped_len(layout.size()),
                false => layout.size(),
            };
            advise_small_pages(block.as_ptr().cast(), len);
        }
        Ok(block)
    }

    unsafe fn deallocate(&self, block: NonNull<u8>, layout: Layout) {
        Global.deallocate(block, layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back `len` bytes of the pattern `fill` wrote.
    fn check(block: *const u8, len: usize) {
        // SAFETY: the callers pass a live block of at least `len` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(block, len) };
        assert!(bytes.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    }

    fn fill(block: *mut u8, len: usize) {
        // SAFETY: the callers pass a live block of at least `len` bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(block, len) };
        bytes
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i % 251) as u8);
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps memory")]
    fn a_block_keeps_its_bytes_as_it_grows_and_shrinks_across_the_mapped_size() {
        let small = MAPPED_FROM / 8;
        // Sizes in turn: mimalloc's, mapped (across), mapped and bigger (remapped), mapped and
        // smaller, mimalloc's again, then one byte short of the line and just over it.
        let sizes = [
            small,
            MAPPED_FROM + 1,
            MAPPED_FROM * 3,
            MAPPED_FROM + PAGE + 7,
            small,
            MAPPED_FROM - 1,
            MAPPED_FROM,
        ];
        let layout = |size| Layout::from_size_align(size, 8).unwrap();
        // SAFETY: each block is used within its size and passed back with the layout it has.
        unsafe {
            let mut block = RemapWhenBig.alloc(layout(sizes[0]));
            fill(block, sizes[0]);
            for pair in sizes.windows(2) {
                let (from, to) = (pair[0], pair[1]);
                block = RemapWhenBig.realloc(block, layout(from), to);
                assert!(!block.is_null());
                check(block, from.min(to));
                fill(block, to);
            }
            check(block, MAPPED_FROM);
            RemapWhenBig.dealloc(block, layout(MAPPED_FROM));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps memory")]
    fn a_big_zeroed_block_reads_as_zeros_even_where_a_freed_one_was() {
        let layout = Layout::from_size_align(MAPPED_FROM * 2, 4096).unwrap();
        // SAFETY: the blocks are used within their size and freed with their layout.
        unsafe {
            let dirty = RemapWhenBig.alloc(layout);
            fill(dirty, layout.size());
            RemapWhenBig.dealloc(dirty, layout);
            let zeroed = RemapWhenBig.alloc_zeroed(layout);
            let bytes = std::slice::from_raw_parts(zeroed, layout.size());
            assert!(bytes.iter().all(|&b| b == 0));
            RemapWhenBig.dealloc(zeroed, layout);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps memory")]
    fn a_thread_reuses_the_big_blocks_it_freed_up_to_its_limit() {
        // A thread of its own: its kept mappings start empty.
        std::thread::spawn(|| {
            let layout = |size| Layout::from_size_align(size, 8).unwrap();
            let size = KEPT_BYTES_MAX / 4;
            // SAFETY: each block is used within its size and freed with its layout.
            unsafe {
                let first = RemapWhenBig.alloc(layout(size));
                fill(first, size);
                RemapWhenBig.dealloc(first, layout(size));
                // The same place again, for a block as big or a little smaller.
                let again = RemapWhenBig.alloc(layout(size - PAGE));
                assert_eq!(again, first);
                RemapWhenBig.dealloc(again, layout(size - PAGE));

                // Freed blocks past the limit in bytes, or in number, are given back.
                let kept_after_freeing = |size: usize, count: usize| {
                    let blocks: Vec<_> = (0..count)
                        .map(|_| RemapWhenBig.alloc(layout(size)))
                        .collect();
                    blocks
                        .iter()
                        .for_each(|&b| RemapWhenBig.dealloc(b, layout(size)));
                    let kept = KEPT.with(|kept| kept.mappings.get());
                    kept.iter().filter(|&&(_, len)| len > 0).count()
                };
                assert_eq!(kept_after_freeing(KEPT_BYTES_MAX / 3, 3), 2);
                assert_eq!(
                    kept_after_freeing(MAPPED_FROM, KEPT_MAPPINGS + 1),
                    KEPT_MAPPINGS
                );
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps memory")]
    fn a_big_block_that_advice_split_still_grows_and_is_reused() {
        std::thread::spawn(|| {
            let layout = |size| Layout::from_size_align(size, 8).unwrap();
            let size = MAPPED_FROM * 2;
            // SAFETY: each block is used within its size and passed back with its layout.
            unsafe {
                let block = RemapWhenBig.alloc(layout(size));
                fill(block, size);
                // Advice on part of the block, once its pages are in: two mappings for good.
                advise_small_pages(block, size / 4);
                let grown = RemapWhenBig.realloc(block, layout(size), size * 2);
                assert!(!grown.is_null());
                check(grown, size);
                fill(grown, size * 2);
                advise_small_pages(grown, size / 4);
                RemapWhenBig.dealloc(grown, layout(size * 2));
                // The kept block cannot be resized either; the next block comes all the same.
                let next = RemapWhenBig.alloc(layout(size * 3));
                assert!(!next.is_null());
                fill(next, size * 3);
                check(next, size * 3);
                RemapWhenBig.dealloc(next, layout(size * 3));
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps memory")]
    fn kept_blocks_go_back_once_a_call_finds_them_unused_since_the_last() {
        std::thread::spawn(|| {
            let layout = Layout::from_size_align(MAPPED_FROM, 8).unwrap();
            let kept_count = || {
                let kept = KEPT.with(|kept| kept.mappings.get());
                kept.iter().filter(|&&(_, len)| len > 0).count()
            };
            // SAFETY: the block is freed with its layout.
            unsafe { RemapWhenBig.dealloc(RemapWhenBig.alloc(layout), layout) };
            release_idle_kept();
            assert_eq!(kept_count(), 1, "kept since the last call: still kept");
            release_idle_kept();
            assert_eq!(kept_count(), 0, "unused since the last call: given back");
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps memory")]
    fn a_thread_that_unmaps_later_unmaps_a_big_freed_block_a_piece_at_a_time() {
        std::thread::spawn(|| {
            let layout = Layout::from_size_align(KEPT_BYTES_MAX + 1, 8).unwrap();
            // SAFETY: the block is freed with its layout.
            unsafe { RemapWhenBig.dealloc(RemapWhenBig.alloc(layout), layout) };
            assert!(
                !unmapping(),
                "a thread unmaps at once unless it asks otherwise"
            );

            unmap_later();
            // SAFETY: as above.
            unsafe { RemapWhenBig.dealloc(RemapWhenBig.alloc(layout), layout) };
            assert!(unmapping());
            let piece = MAPPED_FROM;
            let mut pieces = Vec::new();
            while unmapping() {
                pieces.push(unmap_some(piece));
            }
            assert_eq!(pieces.iter().sum::<usize>(), mapped_len(layout.size()));
            assert!(pieces.iter().all(|&p| p <= piece));
            assert_eq!(unmap_some(piece), 0);

            // What is still waiting when the thread ends is unmapped then.
            // SAFETY: as above.
            unsafe { RemapWhenBig.dealloc(RemapWhenBig.alloc(layout), layout) };
            assert!(unmapping());
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps memory")]
    fn a_block_aligned_beyond_a_page_stays_with_mimalloc_and_keeps_its_alignment() {
        let layout = Layout::from_size_align(MAPPED_FROM, 2 * PAGE).unwrap();
        assert!(!mapped(layout));
        // SAFETY: the block is used within its size and passed back with the layout it has.
        unsafe {
            let block = RemapWhenBig.alloc(layout);
            assert_eq!(block as usize % (2 * PAGE), 0);
            fill(block, layout.size());
            let grown = RemapWhenBig.realloc(block, layout, MAPPED_FROM * 2);
            assert_eq!(grown as usize % (2 * PAGE), 0);
            check(grown, MAPPED_FROM);
            RemapWhenBig.dealloc(
                grown,
                Layout::from_size_align(MAPPED_FROM * 2, 2 * PAGE).unwrap(),
            );
        }
    }
}
