//! A shard's counters, summed across shards for `INFO`.

use std::collections::HashMap;

#[derive(Default, Debug)]
pub struct Stats {
    pub commands_processed: u64,
    pub calls_by_command: HashMap<&'static str, u64>,
    pub connections_received: u64,
    pub rejected_connections: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
}

impl Stats {
    pub fn count_command(&mut self, name: &'static str) {
        self.commands_processed += 1;
        *self.calls_by_command.entry(name).or_insert(0) += 1;
    }

    pub fn reset(&mut self) {
        *self = Stats::default();
    }
}
