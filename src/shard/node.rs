//! What every shard knows about the node and that never changes while it runs.

use std::time::Instant;

use crate::router::slot::SlotMap;

pub struct Node {
    pub slots: SlotMap,
    /// 40 hex characters, new at every start (Redis's `run_id`).
    pub run_id: String,
    /// Each shard's cluster node id (40 hex characters).
    pub node_ids: Vec<String>,
    pub started: Instant,
    pub started_unix_s: u64,
    pub cpus: Vec<usize>,
    pub config_file: Option<String>,
    pub executable: String,
}

impl Node {
    pub fn new(shards: usize, cpus: Vec<usize>, config_file: Option<String>) -> Node {
        let run_id = random_hex40();
        let node_ids = (0..shards).map(|_| random_hex40()).collect();
        Node {
            slots: SlotMap::new(shards),
            run_id,
            node_ids,
            started: Instant::now(),
            started_unix_s: super::now_ms() / 1000,
            cpus,
            config_file,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }

    /// The CPU shard `i` is pinned to.
    pub fn cpu_of(&self, shard: usize) -> usize {
        self.cpus[shard % self.cpus.len()]
    }
}

fn random_hex40() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}
