//! What Keel asks of the OS and the allocator about memory.

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
