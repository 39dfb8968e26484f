//! Freeing the big values the databases let go of (`keyspace::garbage`): a task of its own,
//! started by the cron when there are any, frees them a step at a time between requests, as
//! Redis's lazyfree thread would.

use std::rc::Rc;

use super::Shard;
use crate::runtime;

/// Elements one step frees (a 2M-member sorted set freed at once took 72 ms here: about half a
/// millisecond per step).
const STEP_ELEMENTS: usize = 16_384;

impl Shard {
    /// Starts freeing what the databases let go of, unless that already runs or there is none.
    pub(super) fn maybe_free_garbage(&self) {
        if self.freeing_garbage.get() || self.keyspace.borrow().lazyfree_counts().0 == 0 {
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
            if freed == 0 {
                break;
            }
            runtime::yield_to_others().await;
        }
        self.freeing_garbage.set(false);
    }
}
