//! The thin layer between Keel and its async runtime (glommio): executors pinned to cores,
//! sockets, cross-shard channels and timers. Nothing above this module names glommio, so that it can
//! be replaced by raw io_uring where that pays.

pub mod executor;
pub mod file;
pub mod mesh;
pub mod net;

pub use glommio::spawn_local;
pub use glommio::timer::sleep;

/// Spawns a task that must run soon after it is woken (the journal's flusher): it gets its own
/// task queue with a large share and a latency bound, so that a shard busy with client requests
/// still turns to it promptly, and a sync completion releases its waiting replies at once.
pub fn spawn_urgent<T: 'static>(
    name: &str,
    future: impl std::future::Future<Output = T> + 'static,
) -> glommio::Task<T> {
    let queue = glommio::executor().create_task_queue(
        glommio::Shares::Static(URGENT_SHARES),
        glommio::Latency::Matters(std::time::Duration::from_micros(URGENT_LATENCY_US)),
        name,
    );
    glommio::spawn_local_into(future, queue).expect("the queue was just created")
}

/// Shares of an urgent task queue (client work runs in the default queue, 1000 shares).
const URGENT_SHARES: usize = 10_000;
/// How soon an urgent queue's woken task should run.
const URGENT_LATENCY_US: u64 = 100;

/// Lets other tasks run before continuing (used by long loops such as the expiry cycle).
pub async fn yield_now() {
    glommio::yield_if_needed().await;
}

/// Spawns long background work (a snapshot) in its own task queue with a smaller share than
/// client work, so that a shard busy with clients serves them first.
pub fn spawn_background<T: 'static>(
    name: &str,
    future: impl std::future::Future<Output = T> + 'static,
) -> glommio::Task<T> {
    let queue = glommio::executor().create_task_queue(
        glommio::Shares::Static(BACKGROUND_SHARES),
        glommio::Latency::NotImportant,
        name,
    );
    glommio::spawn_local_into(future, queue).expect("the queue was just created")
}

/// Shares of a background task queue (client work: 1000).
const BACKGROUND_SHARES: usize = 250;

/// Always lets the other task queues run before continuing (background work between steps).
pub async fn yield_to_others() {
    glommio::executor().yield_task_queue_now().await;
}

/// Runs blocking file-system work (deleting files, syncing a directory) on the executor's
/// blocking thread pool, off the shard's thread.
pub async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(work).await
}
