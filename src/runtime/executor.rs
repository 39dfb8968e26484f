//! One executor per shard, each a thread pinned to one CPU.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use glommio::{LocalExecutorBuilder, Placement};

/// Memory glommio registers for its I/O buffers. Set explicitly: glommio silently falls back to
/// unregistered buffers when its default cannot be locked.
const IO_MEMORY_BYTES: usize = 2 * 1024 * 1024;

/// The CPUs this process may run on (its affinity mask), in order.
pub fn available_cpus() -> Vec<usize> {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    if cpus.is_empty() {
        cpus = (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    }
    cpus
}

/// Starts a thread running `make_future()` on a fresh executor pinned to `cpu`.
pub fn spawn_pinned<G, F, T>(name: &str, cpu: usize, make_future: G) -> io::Result<JoinHandle<T>>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let name = name.to_string();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let executor = LocalExecutorBuilder::new(Placement::Fixed(cpu))
                .name(&name)
                .io_memory(IO_MEMORY_BYTES)
                .make()
                .unwrap_or_else(|e| panic!("cannot start executor {name} on CPU {cpu}: {e}"));
            executor.run(make_future())
        })
}

/// Checks before starting executors that the memlock limit lets io_uring run; returns a warning
/// text when it is low, an error when glommio would refuse to start.
pub fn check_memlock(shards: usize) -> Result<Option<String>, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Ok(None);
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return Ok(None);
    }
    let have = limit.rlim_cur as usize;
    if have < 512 * 1024 {
        return Err(format!(
            "RLIMIT_MEMLOCK is {} KiB; io_uring needs at least 512 KiB (raise it with `ulimit -l` or LimitMEMLOCK=)",
            have / 1024
        ));
    }
    let want = shards * (IO_MEMORY_BYTES + 512 * 1024);
    Ok((have < want).then(|| {
        format!(
            "RLIMIT_MEMLOCK is {} KiB, below the {} KiB that {shards} shards' registered I/O buffers want; I/O will be slower (see tuning/README.md)",
            have / 1024,
            want / 1024
        )
    }))
}
