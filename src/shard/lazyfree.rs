//! Freeing the big values the databases let go of (`keyspace::garbage`), and giving the big
//! blocks of memory the shard freed back to the OS (`runtime::memory::unmap_later`): a task of
//! its own, started by the cron when there are any, does both a step at a time between
//! requests, as Redis's lazyfree thread would.

use std::rc::Rc;

use super::Shard;
use crate::runtime::{self, memory};

/// Elements one step frees (a 2M-member sorted set freed at once took 72 ms here: about half a
/// millisecond per step).
const STEP_ELEMENTS: usize = 16_384;

/// Bytes of freed big blocks one step unmaps (275 MB took 28 ms here: under a millisecond per
/// step).
const STEP_UNMAP_BYTES: usize = 8 << 20;

impl Shard {
    /// Starts freeing what the databases let go of, unless that already runs or there is none.
    pub(super) fn maybe_free_garbage(&self) {
        let idle = self.keyspace.borrow().lazyfree_counts().0 == 0 && !memory::unmapping();
        if self.freeing_garbage.get() || idle {
            return;
        }
        self.freeing_garbage.set(true);
        let me = self.me.upgrade().expect("a running shard is in an Rc");
        runtime::spawn_local(me.free_garbage()).detach();
    }

    async fn free_garbage(self: Rc<Self>) {
        loop {
            let freed = {
                let mut keyspace = self.keyspace.borrow_mut();
                let mut freed = 0;
                for db in &mut keyspace.dbs {
                    freed += db.free_garbage(STEP_ELEMENTS - freed);
                }
                freed
            };
            let unmapped = memory::unmap_some(STEP_UNMAP_BYTES);
            if freed == 0 && unmapped == 0 {
                break;
            }
            runtime::yield_to_others().await;
        }
        self.freeing_garbage.set(false);
    }
}
