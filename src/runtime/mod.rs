//! The thin layer between Keel and its async runtime (glommio): executors pinned to cores,
//! sockets, cross-shard channels and timers. Nothing above this module names glommio, so that it can
//! be replaced by raw io_uring where that pays.

pub mod executor;
pub mod file;
pub mod memory;
pub mod mesh;
pub mod net;
mod readiness;

pub use glommio::spawn_local;
pub use glommio::timer::sleep;
pub use glommio::Task;

/// Lets other tasks run before continuing (used by long loops such as the expiry cycle).
pub async fn yield_now() {
    glommio::yield_if_needed().await;
}

/// Lets clients run before continuing (background work between steps). A plain task yield is not
/// enough: glommio keeps running a task queue that has work without reaping network completions
/// (until its preemption timer fires, ~100 ms), so a busy background walk would stall every
/// client. Waiting on a short timer sends the executor through its reactor first.
pub async fn yield_to_others() {
    glommio::timer::sleep(BACKGROUND_PAUSE).await;
}

/// How long background work pauses between steps.
const BACKGROUND_PAUSE: std::time::Duration = std::time::Duration::from_micros(20);

/// Runs blocking file-system work (deleting files, syncing a directory) on the executor's
/// blocking thread pool, off the shard's thread.
pub async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(work).await
}
