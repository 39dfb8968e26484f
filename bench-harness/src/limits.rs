//! Every hard limit the load generator enforces, named in one place.
//!
//! Each limit says what happens when it is reached: a command-line value past it is refused with a
//! clear error before any traffic is sent; a server reply past it closes the run with an error.

/// Most load threads (`-t`). Past it: refused at parse time.
pub const THREADS_MAX: usize = 1024;
/// Most connections ("clients") per thread (`-c`). Past it: refused at parse time.
pub const CLIENTS_PER_THREAD_MAX: usize = 10_000;
/// Most requests one client keeps in flight (`--pipeline`). Past it: refused at parse time.
pub const PIPELINE_MAX: usize = 1024;
/// Largest value written by SET/HSET (`-d`). Past it: refused at parse time.
pub const DATA_SIZE_BYTES_MAX: usize = 64 << 20;
/// Longest run (`--test-time`). Past it: refused at parse time.
pub const TEST_TIME_SECS_MAX: u64 = 24 * 3600;
/// Highest total open-loop rate (`--rate`), requests per second. Past it: refused at parse time.
pub const RATE_PER_SEC_MAX: u64 = 100_000_000;
/// Most percentiles `--print-percentiles` may list. Past it: refused at parse time.
pub const PRINT_PERCENTILES_MAX: usize = 32;

/// Bytes asked of the kernel per `read` on a connection.
pub const READ_CHUNK_BYTES: usize = 64 << 10;
/// Most unparsed reply bytes one connection may buffer (one huge reply, or a backlog).
/// Past it: the run stops with an error naming the server.
pub const REPLY_BUFFER_BYTES_MAX: usize = 512 << 20;
/// Largest bulk string a reply may announce (Redis's own `proto-max-bulk-len` default).
/// Past it: protocol error.
pub const BULK_BYTES_MAX: i64 = 512 << 20;
/// Most elements one reply array may announce. Past it: protocol error.
pub const ARRAY_LEN_MAX: i64 = 1 << 24;
/// Deepest nesting of arrays a fully parsed control reply (e.g. `CLUSTER SLOTS`) may have.
pub const VALUE_DEPTH_MAX: usize = 8;

/// Highest latency the histograms hold, in microseconds; longer latencies are recorded as this.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Significant figures the HDR histograms keep.
pub const LATENCY_SIGFIGS: u8 = 3;

/// Most nodes a cluster's `CLUSTER SLOTS` reply may name. Past it: refused.
pub const CLUSTER_NODES_MAX: usize = 1024;
/// Most `-MOVED`/`-ASK` hops one request may take before the run stops with an error.
pub const REDIRECTS_PER_REQUEST_MAX: u8 = 5;

/// How long to wait for a TCP connect or a control reply, in seconds.
pub const CONTROL_TIMEOUT_SECS: u64 = 5;
/// Cap on how long an event loop sleeps, so per-second stats and deadlines stay on time (µs).
pub const WAIT_US_MAX: u64 = 100_000;
/// How often a load thread publishes its interval stats for the live line (ms).
pub const STATS_PUBLISH_MS: u64 = 100;
/// Orders one orderbook client remembers so that its ZREMs name orders that exist.
pub const ORDERS_REMEMBERED_MAX: usize = 1024;
