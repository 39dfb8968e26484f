//! The thin layer between Keel and its async runtime (glommio): executors pinned to cores,
//! sockets, cross-shard channels and timers. Nothing above this module names glommio, so that it can
//! be replaced by raw io_uring where that pays.

pub mod executor;
pub mod file;
pub mod mesh;
pub mod net;

pub use glommio::spawn_local;
pub use glommio::timer::sleep;

/// Lets other tasks run before continuing (used by long loops such as the expiry cycle).
pub async fn yield_now() {
    glommio::yield_if_needed().await;
}
