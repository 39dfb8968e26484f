//! Steering commands to the shard that owns their keys: pipelines on the main port are split by
//! destination shard and forwarded in one message per shard; commands whose keys span shards run as
//! cross-shard transactions; cluster shard ports answer MOVED/CROSSSLOT instead.

mod cross_shard;
mod exec_steps;
pub mod multi_exec;
mod pipeline;
pub mod slot;
mod warm;

pub use cross_shard::{exec_on_owner, in_exec, Txn};
pub use pipeline::{cluster_refusal, run_pipeline};
