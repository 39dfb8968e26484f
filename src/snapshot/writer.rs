//! One snapshot being taken: which slots are written out so far, and the bytes not yet handed to
//! the file.
//!
//! Point in time without fork: the snapshot shows the keyspace as of its start LSN because every
//! slot is written out before anything changes it. The background walk writes slots in order; a
//! write command first writes out the (not yet written) slots of its keys, and a keyspace-wide
//! write (FLUSHALL, SWAPDB) writes out every remaining slot (copy-on-write at slot granularity).
//!
//! A slot of more than `WHOLE_SLOT_KEYS_MAX` keys (one `{hash tag}` can hold millions) would make
//! that one long pause, so it is written out by ranges of key hashes, a step's worth at a time,
//! and a write copies out just the keys it changes first (copy-on-write per key, `PartialSlot`).
//!
//! A collection of millions of elements would make one long pause too, and copying it is no
//! cheaper than writing it out: it is written out in parts instead, one per step, before the
//! walk goes on (`parts`). So are a stream of many entries and a string of more than a part's
//! bytes (1 MiB).

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::RangeInclusive;

use bytes::Bytes;

use super::format::{self, Header};
use super::parts::{is_big, BigValue, FrameBuffer};
use crate::keyspace::{key_hash, Entry, Kept, KeyHasher, Keyspace, StoredKey};
use crate::router::slot::key_slot;

/// Slots of at most this many keys (all databases together) are written out whole at once: well
/// under a millisecond.
const WHOLE_SLOT_KEYS_MAX: usize = 4096;

/// One past the greatest key hash.
const HASHES_END: u128 = 1 << 64;

/// A big slot being written out by ranges of key hashes (`key_hash`: an order that resizing its
/// tables does not change).
#[derive(Default)]
struct PartialSlot {
    /// Keys hashing below this are written out.
    next_hash: u128,
    /// Keys hashing at or past `next_hash` that a write copied out before changing them, or that
    /// did not exist yet when a write touched them: the walk leaves them out.
    copied: HashSet<StoredKey, KeyHasher>,
}

pub struct SnapshotRun {
    pub header: Header,
    pub started: std::time::Instant,
    /// Per slot of the range: written out already.
    written: Vec<bool>,
    /// Slots of the range not yet written out.
    remaining: usize,
    /// Big slots partly written out.
    partial: HashMap<u16, PartialSlot>,
    /// Big collections to write out in parts, before the walk goes on.
    big: VecDeque<BigValue>,
    /// The walk's next slot.
    cursor: u16,
    /// Encoded frames not yet handed to the file.
    out: FrameBuffer,
    /// CRC32C of every byte handed to the file so far.
    crc: u32,
    pub bytes: u64,
}

impl SnapshotRun {
    pub fn new(header: Header) -> SnapshotRun {
        let slots = header.slots.len();
        let mut out = FrameBuffer::default();
        header.encode(&mut out.bytes);
        SnapshotRun {
            cursor: header.slots.start,
            header,
            started: std::time::Instant::now(),
            written: vec![false; slots],
            remaining: slots,
            partial: HashMap::new(),
            big: VecDeque::new(),
            out,
            crc: 0,
            bytes: 0,
        }
    }

    /// Every slot and every big collection is written out.
    pub fn is_walked(&self) -> bool {
        self.remaining == 0 && self.big.is_empty()
    }

    /// Keys written out so far.
    pub fn entries(&self) -> u64 {
        self.out.entries
    }

    pub fn buffered_bytes(&self) -> usize {
        self.out.bytes.len()
    }

    fn is_written(&self, slot: u16) -> bool {
        self.written[(slot - self.header.slots.start) as usize]
    }

    fn mark_written(&mut self, slot: u16) {
        self.written[(slot - self.header.slots.start) as usize] = true;
        self.remaining -= 1;
        self.partial.remove(&slot);
    }

    /// Whether `slot` is written out by ranges of hashes rather than whole: a big one, or one
    /// with keys copied out already.
    fn is_partial(&self, keyspace: &Keyspace, slot: u16) -> bool {
        self.partial.contains_key(&slot) || slot_keys(keyspace, slot) > WHOLE_SLOT_KEYS_MAX
    }

    /// Writes out the whole of a slot not written out yet; returns the entries written.
    fn write_slot(&mut self, keyspace: &Keyspace, slot: u16, now_ms: u64) -> usize {
        let count = self.encode_entries(keyspace, slot, 0..=u64::MAX, now_ms);
        self.mark_written(slot);
        count
    }

    /// Writes out the next keys of a partial slot: the next range of hashes, sized to hold about
    /// `entries_max` of its keys. Returns the entries written and whether the slot is done.
    fn write_slot_part(
        &mut self,
        keyspace: &Keyspace,
        slot: u16,
        entries_max: usize,
        now_ms: u64,
    ) -> (usize, bool) {
        let keys = slot_keys(keyspace, slot);
        let span = match entries_max < keys {
            true => (HASHES_END * entries_max as u128 / keys as u128).max(1),
            false => HASHES_END,
        };
        let from = self.partial.entry(slot).or_default().next_hash;
        let to = (from + span).min(HASHES_END);
        let count = self.encode_entries(keyspace, slot, from as u64..=(to - 1) as u64, now_ms);
        self.partial.entry(slot).or_default().next_hash = to;
        let done = to == HASHES_END;
        if done {
            self.mark_written(slot);
        }
        (count, done)
    }

    /// Encodes the entries of `slot` (every database) whose key hashes lie in `hashes`, but for
    /// expired ones (replay would drop them anyway: deadlines are absolute) and those copied out
    /// already; big collections are queued to be written out in parts. Returns the entries.
    fn encode_entries(
        &mut self,
        keyspace: &Keyspace,
        slot: u16,
        hashes: RangeInclusive<u64>,
        now_ms: u64,
    ) -> usize {
        let mut count = 0;
        for (db, keys) in keyspace.dbs.iter().enumerate() {
            for (key, entry) in keys.slot_entries(slot, hashes.clone()) {
                let copied = self
                    .partial
                    .get(&slot)
                    .is_some_and(|p| p.copied.contains(key));
                if !entry.is_due(now_ms) && !copied {
                    count += self.write_entry(db, slot, key, entry);
                }
            }
        }
        count
    }

    /// Writes out one key's entry, or queues it to be written out in parts when it is a big
    /// collection (`keep_changes` must follow before a command runs); returns the entries
    /// written now (0 or 1).
    fn write_entry(&mut self, db: usize, slot: u16, key: &[u8], entry: &Entry) -> usize {
        if is_big(entry) {
            let mut big = BigValue::new(db, slot, key, entry);
            if !big.starts_at_once() {
                self.big.push_back(big);
                return 0;
            }
            if !big.write_first_part(entry, &mut self.out) {
                self.big.push_back(big);
            }
            return 1;
        }
        format::encode_entry(db as u8, key, entry, &mut self.out.bytes);
        self.out.entries += 1;
        1
    }

    /// Has the database keep what changes replace in the sorted sets and lists just queued.
    fn keep_changes(&mut self, keyspace: &mut Keyspace) {
        for big in &mut self.big {
            big.keep_changes(keyspace);
        }
    }

    /// Copy-on-write of one key of a partial slot: writes out its entries (every database)
    /// unless the walk or an earlier write did, queueing its big collections, and marks it for
    /// the walk to leave out.
    fn copy_key(&mut self, keyspace: &Keyspace, slot: u16, key: &[u8], now_ms: u64) {
        let part = self.partial.entry(slot).or_default();
        if (key_hash(key) as u128) < part.next_hash || !part.copied.insert(StoredKey::new(key)) {
            return;
        }
        for (db, keys) in keyspace.dbs.iter().enumerate() {
            if let Some(entry) = keys.peek_in_slot(slot, key) {
                if !entry.is_due(now_ms) {
                    self.write_entry(db, slot, key, entry);
                }
            }
        }
    }

    /// Copy-on-write before a write command: writes out the slots of `keys`, or just the keys in a
    /// partial slot (every remaining slot and big value when the command has no keys: it may
    /// touch the whole keyspace). Big values go on being written out in parts: `after_write`
    /// takes what the command replaced in them.
    pub fn before_write<'a>(
        &mut self,
        keyspace: &mut Keyspace,
        mut keys: impl Iterator<Item = &'a Bytes>,
        now_ms: u64,
    ) {
        let Some(first) = keys.next() else {
            self.write_all(keyspace, now_ms);
            return;
        };
        for key in std::iter::once(first).chain(keys) {
            let slot = key_slot(key);
            if self.header.slots.contains(&slot) && !self.is_written(slot) {
                if self.is_partial(keyspace, slot) {
                    self.copy_key(keyspace, slot, key, now_ms);
                } else {
                    self.write_slot(keyspace, slot, now_ms);
                }
            }
        }
        self.keep_changes(keyspace);
    }

    /// After a write command: writes out what it replaced in big sorted sets and lists being
    /// written out, takes over the big values it removed or replaced, and follows those it moved.
    pub fn after_write(&mut self, keyspace: &mut Keyspace) {
        for db in 0..keyspace.dbs.len() {
            let mut kept = keyspace.dbs[db].take_kept();
            // A whole value first: what a change replaced before it is written with its deadline,
            // and a value RENAME replaced before the one it moved there is followed there.
            kept.sort_by_key(|kept| !matches!(kept, Kept::Whole { .. }));
            for kept in kept {
                let (Kept::Members { key, .. }
                | Kept::Whole { key, .. }
                | Kept::Moved { key, .. }
                | Kept::ListEnds { key, .. }) = &kept;
                let Some(big) = self.big.iter_mut().find(|b| b.is_stored_at(db, key)) else {
                    continue;
                };
                match kept {
                    Kept::Members { old, .. } => big.copy_members(keyspace, old, &mut self.out),
                    Kept::Whole { entry, .. } => big.take(entry),
                    Kept::Moved { to_db, to, .. } => big.follow(keyspace, to_db, to),
                    Kept::ListEnds { change, .. } => big.list_ends(keyspace, change, &mut self.out),
                }
            }
        }
    }

    fn write_all(&mut self, keyspace: &mut Keyspace, now_ms: u64) {
        for slot in self.cursor..self.header.slots.end {
            if self.is_written(slot) {
                continue;
            }
            if self.is_partial(keyspace, slot) {
                self.write_slot_part(keyspace, slot, usize::MAX, now_ms);
            } else {
                self.write_slot(keyspace, slot, now_ms);
            }
        }
        self.cursor = self.header.slots.end;
        while let Some(big) = self.big.pop_front() {
            self.write_all_parts(keyspace, big, now_ms);
        }
    }

    fn write_all_parts(&mut self, keyspace: &mut Keyspace, mut big: BigValue, now_ms: u64) {
        while !big.write_part(keyspace, now_ms, &mut self.out) {}
        big.finish(keyspace);
    }

    /// The background walk's step: the next part of a big collection if one is queued, or else
    /// slots in order until at least `entries_max` entries or `slots_max` slots were visited, or
    /// the range is done. A big slot takes as many steps as its keys need.
    pub fn step(
        &mut self,
        keyspace: &mut Keyspace,
        entries_max: usize,
        slots_max: usize,
        now_ms: u64,
    ) {
        if let Some(mut big) = self.big.pop_front() {
            if big.write_part(keyspace, now_ms, &mut self.out) {
                big.finish(keyspace);
            } else {
                self.big.push_front(big);
            }
            return;
        }
        let (mut entries, mut slots) = (0, 0);
        while self.cursor < self.header.slots.end && entries < entries_max && slots < slots_max {
            let slot = self.cursor;
            if !self.is_written(slot) {
                if self.is_partial(keyspace, slot) {
                    let (count, done) =
                        self.write_slot_part(keyspace, slot, entries_max - entries, now_ms);
                    entries += count;
                    if !done {
                        break;
                    }
                } else {
                    entries += self.write_slot(keyspace, slot, now_ms);
                }
            }
            self.cursor += 1;
            slots += 1;
            if !self.big.is_empty() {
                break;
            }
        }
        self.keep_changes(keyspace);
    }

    /// Stops what a snapshot that will not finish had the databases keep.
    pub fn abandon(self, keyspace: &mut Keyspace) {
        for big in self.big {
            big.finish(keyspace);
        }
    }

    /// The buffered bytes, for the file (folded into the CRC).
    pub fn take_chunk(&mut self) -> Vec<u8> {
        let chunk = std::mem::take(&mut self.out.bytes);
        self.crc = crc32c::crc32c_append(self.crc, &chunk);
        self.bytes += chunk.len() as u64;
        chunk
    }

    /// The last bytes: whatever is buffered, then the trailer. Only once every slot is written.
    pub fn finish(&mut self) -> Vec<u8> {
        assert!(self.is_walked(), "snapshot finished before every slot");
        let mut chunk = self.take_chunk();
        let trailer = format::trailer(self.out.entries + self.out.parts, self.crc);
        self.bytes += trailer.len() as u64;
        chunk.extend(trailer);
        chunk
    }
}

/// Keys of `slot` in all databases.
fn slot_keys(keyspace: &Keyspace, slot: u16) -> usize {
    keyspace
        .dbs
        .iter()
        .map(|db| db.keys_in_slot_count(slot))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::stream::{Stream, StreamId, StreamOp};
    use crate::keyspace::{Delta, Hash, List, ListEdit, SetMembers, Value, ZSet};
    use crate::snapshot::parts::PART_BYTES_MAX;
    use crate::snapshot::reload;

    const ELEMENTS: usize = 20_000;
    const NOW_MS: u64 = 1_000;

    fn b(text: String) -> Bytes {
        Bytes::from(text)
    }

    /// Two databases: a big collection of each kind (one with a TTL), small keys, and a small
    /// key named like a big one in the other database.
    fn keyspace() -> Keyspace {
        let mut keyspace = Keyspace::new(2, 0..16384);
        let db = &mut keyspace.dbs[0];
        let fields = (0..ELEMENTS).map(|i| (b(format!("f{i}")), b(format!("v{i}"))));
        db.insert(
            b"{h}hash",
            Value::Hash(Hash::from_pairs(false, fields.collect())),
            None,
        );
        let members = (0..ELEMENTS).map(|i| b(format!("m{i}")));
        db.insert(
            b"{s}set",
            Value::Set(Box::new(members.collect())),
            Some(10 * NOW_MS),
        );
        let entries = (0..ELEMENTS).map(|i| (b(format!("z{i}")), i as f64 / 3.0));
        db.insert(
            b"{z}zset",
            Value::ZSet(ZSet::from_entries(false, entries.collect())),
            None,
        );
        let items = (0..ELEMENTS).map(|i| b(format!("e{i}")));
        db.insert(
            b"{l}list",
            Value::List(Box::new(List::from_items(items, true))),
            None,
        );
        db.insert(b"{x}stream", Value::Stream(Box::new(stream())), None);
        for i in 0..100 {
            db.insert(format!("k{i}").as_bytes(), Value::string(b"small"), None);
            db.insert(
                format!("{{z}}k{i}").as_bytes(),
                Value::string(b"near"),
                None,
            );
        }
        keyspace.dbs[1].insert(b"{l}list", Value::string(b"other db"), None);
        keyspace
    }

    /// A stream of `ELEMENTS` entries, one deleted, with a consumer group that has some pending.
    fn stream() -> Stream {
        let mut stream = Stream::default();
        for i in 0..ELEMENTS as u64 {
            let fields = vec![b(format!("f{i}")), b(format!("v{i}"))];
            stream.apply(&StreamOp::Add {
                id: StreamId::new(i + 1, 0),
                fields,
            });
        }
        let group = b("group".into());
        let ops = [
            StreamOp::Delete(vec![StreamId::new(7, 0)]),
            StreamOp::CreateGroup {
                group: group.clone(),
                last_id: StreamId::new(9, 0),
                entries_read: Some(9),
            },
            StreamOp::Deliver {
                group,
                consumer: b("consumer".into()),
                delivery_ms: NOW_MS,
                entries: vec![(StreamId::new(3, 0), 1), (StreamId::new(9, 0), 2)],
            },
        ];
        ops.iter().for_each(|op| stream.apply(op));
        stream
    }

    /// Every key of `keyspace`: database, key, value, encoding, expiry.
    fn contents(keyspace: &Keyspace) -> Vec<(usize, Bytes, Value, &'static str, Option<u64>)> {
        let mut all = Vec::new();
        for (db, keys) in keyspace.dbs.iter().enumerate() {
            for slot in 0..16384 {
                for (key, entry) in keys.slot_entries(slot, 0..=u64::MAX) {
                    let (value, expiry) = (entry.value.clone(), entry.expire_at_ms());
                    let encoding = value.encoding();
                    all.push((db, Bytes::copy_from_slice(key), value, encoding, expiry));
                }
            }
        }
        all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        all
    }

    fn start() -> SnapshotRun {
        SnapshotRun::new(Header {
            shard: 0,
            slots: 0..16384,
            epoch: 1,
            lsn: 1,
            txns: Vec::new(),
        })
    }

    /// Walks `run` to its end and loads its file into an empty keyspace; returns that and the
    /// file's frame count.
    fn finish_and_load(mut run: SnapshotRun, keyspace: &mut Keyspace) -> (Keyspace, u64) {
        let mut bytes = Vec::new();
        while !run.is_walked() {
            run.step(keyspace, 1024, 256, NOW_MS);
            bytes.extend(run.take_chunk());
        }
        bytes.extend(run.finish());
        let path = std::env::temp_dir().join(format!("keel-parts-{}.kss", rand::random::<u64>()));
        std::fs::write(&path, bytes).unwrap();
        let checked = format::check(&path).unwrap();
        let mut loaded = Keyspace::new(2, 0..16384);
        let keys = reload::load(&checked, &mut loaded).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(keys, run.entries());
        (loaded, checked.frames)
    }

    #[test]
    fn big_collections_are_written_in_parts_and_load_back_the_same() {
        let mut keyspace = keyspace();
        let (loaded, frames) = finish_and_load(start(), &mut keyspace);
        assert!(contents(&loaded) == contents(&keyspace), "the file differs");
        let keys = contents(&keyspace).len() as u64;
        // Each big collection took several parts.
        assert!(frames >= keys + 5 * 2, "{frames} frames for {keys} keys");
    }

    /// Field (`hash`) or member `i`, as `keyspace` names them.
    fn element(hash: bool, i: usize) -> Bytes {
        b(format!("{}{i}", if hash { "f" } else { "m" }))
    }

    /// A change to a hash (`hash`) or set: `n` of its elements from the `from`th, every `step`th,
    /// set to a new value or added (`set`), or removed.
    fn elements_delta(hash: bool, set: bool, from: usize, n: usize, step: usize) -> Delta {
        let elements = (0..n).map(|i| element(hash, from + i * step));
        match (hash, set) {
            (true, true) => Delta::HashSet(elements.map(|f| (f, b("changed".into()))).collect()),
            (true, false) => Delta::HashDel(elements.collect()),
            (false, true) => Delta::SetAdd(elements.collect()),
            (false, false) => Delta::SetRem(elements.collect()),
        }
    }

    /// A write to a key of a database, as a test makes it and recovery replays it.
    enum Op {
        Edit(usize, Bytes, Delta),
        Delete(usize, Bytes),
        /// RENAME (to another key) or MOVE (to another database): database, key, to database,
        /// to key.
        Move(usize, Bytes, usize, Bytes),
    }

    impl Op {
        fn apply(&self, keyspace: &mut Keyspace, now_ms: u64) {
            match self {
                Op::Edit(db, key, delta) => {
                    let delta = Delta::clone(delta);
                    keyspace.dbs[*db].apply(key, delta, now_ms).unwrap()
                }
                Op::Delete(db, key) => assert!(keyspace.dbs[*db].delete(key)),
                Op::Move(db, key, to_db, to) => assert!(keyspace.move_key(*db, key, *to_db, to)),
            }
        }

        /// Makes the write the way a command does, in the snapshot's view.
        fn write(&self, run: &mut SnapshotRun, keyspace: &mut Keyspace) {
            let keys = match self {
                Op::Edit(_, key, _) | Op::Delete(_, key) => vec![key],
                Op::Move(_, key, _, to) => vec![key, to],
            };
            run.before_write(keyspace, keys.into_iter(), NOW_MS);
            self.apply(keyspace, NOW_MS);
            run.after_write(keyspace);
        }
    }

    #[test]
    fn a_big_hash_or_set_goes_out_by_buckets_that_replay_brings_up_to_the_writes_they_saw() {
        // As many elements as a table of 32768 buckets holds: the next new one grows it. So
        // full, many elements sit past the bucket they hash to, some across a part's end: those
        // land before it when the table grows, and a walk that went on from there would miss them.
        const FULL: usize = 32768 / 8 * 7;
        let endings = [
            "walked",
            "grown",
            "deleted",
            "renamed",
            "renamed-over",
            "moved",
        ];
        for (hash, ending) in [true, false]
            .into_iter()
            .flat_map(|hash| endings.into_iter().map(move |ending| (hash, ending)))
        {
            let mut keyspace = keyspace();
            let key = b(if hash { "{h}hash" } else { "{s}set" }.into());
            let value = match hash {
                true => Value::Hash(Hash::from_pairs(
                    false,
                    (0..FULL)
                        .map(|i| (element(hash, i), b(format!("v{i}"))))
                        .collect(),
                )),
                false => {
                    let mut members = SetMembers::with_capacity(FULL);
                    members.extend((0..FULL).map(|i| element(hash, i)));
                    Value::Set(Box::new(members))
                }
            };
            keyspace.dbs[0].insert(&key, value, None);
            let mut run = start();
            // What recovery replays after the snapshot's point.
            let mut replayed: Vec<Op> = Vec::new();
            let mut write = |run: &mut SnapshotRun, keyspace: &mut Keyspace, op: Op| {
                op.write(run, keyspace);
                replayed.push(op);
            };
            let (mut db, mut at) = (0, key.clone());
            let edits = |db: usize, at: &Bytes, edits: &[(bool, usize, usize, usize)]| {
                let edit = |&(set, from, n, step): &(bool, usize, usize, usize)| {
                    Op::Edit(db, at.clone(), elements_delta(hash, set, from, n, step))
                };
                edits.iter().map(edit).collect::<Vec<Op>>()
            };
            // Before its first part: a few changed and removed.
            for op in edits(db, &at, &[(true, 1, 3, 1), (false, 5, 3, 1)]) {
                write(&mut run, &mut keyspace, op);
            }
            // Two parts in (of four): added (so that the table begins to grow, and grows twice
            // in one case), then removed and changed all over the table.
            run.step(&mut keyspace, 1024, 256, NOW_MS);
            run.step(&mut keyspace, 1024, 256, NOW_MS);
            let added = if ending == "grown" { 2 * FULL } else { 1000 };
            let spread = [
                (true, 2 * FULL, added, 1),
                (false, 8, 900, 7),
                (true, 9, 900, 11),
            ];
            for op in edits(db, &at, &spread) {
                write(&mut run, &mut keyspace, op);
            }
            // A part more, then changes all over the table while it grows a step at a time
            // (a hash or set this big grows so): each moves a few elements the walk has not met
            // into the new table. A part more again.
            run.step(&mut keyspace, 1024, 256, NOW_MS);
            for op in edits(db, &at, &[(true, 12, 600, 17)]) {
                write(&mut run, &mut keyspace, op);
            }
            run.step(&mut keyspace, 1024, 256, NOW_MS);
            // Then the value leaves its key, and is changed where it went.
            match ending {
                "deleted" => write(&mut run, &mut keyspace, Op::Delete(db, at.clone())),
                "renamed" | "renamed-over" | "moved" => {
                    // RENAMEs, each from where the last put it (back to its own key once), one
                    // over a big sorted set being written out too, or a MOVE.
                    let renamed = |n| b(format!("{}:{n}", String::from_utf8_lossy(&key)));
                    let hops = match ending {
                        "renamed" => vec![(0, renamed(1)), (0, key.clone()), (0, renamed(2))],
                        "renamed-over" => vec![(0, b("{z}zset".into()))],
                        _ => vec![(1, key.clone())],
                    };
                    for (to_db, to) in hops {
                        write(&mut run, &mut keyspace, Op::Move(db, at, to_db, to.clone()));
                        (db, at) = (to_db, to);
                        let spread = [(false, 10 + db, 300, 13), (true, 3 * FULL, 100, 1)];
                        for op in edits(db, &at, &spread) {
                            write(&mut run, &mut keyspace, op);
                        }
                    }
                }
                _ => {}
            }
            let keys = contents(&keyspace).len() as u64;
            let (mut loaded, frames) = finish_and_load(run, &mut keyspace);
            assert!(frames >= keys + 3, "{frames} frames for {keys} keys");
            for op in replayed {
                op.apply(&mut loaded, 0);
            }
            assert!(
                contents(&loaded) == contents(&keyspace),
                "the replay differs ({key:?}, {ending})"
            );
            for db in &mut keyspace.dbs {
                assert!(db.take_kept().is_empty(), "nothing kept after the run");
            }
        }
    }

    fn items(prefix: &str, n: usize) -> Vec<Bytes> {
        (0..n).map(|i| b(format!("{prefix}{i}"))).collect()
    }

    #[test]
    fn a_big_list_pushed_and_popped_meanwhile_is_written_out_as_it_was() {
        for ending in ["walked", "set", "deleted", "renamed", "renamed-set"] {
            let mut keyspace = keyspace();
            let before = contents(&keyspace);
            let mut run = start();
            let list = b("{l}list".into());
            let renamed = b("{l}renamed".into());
            let edit_at = |run: &mut SnapshotRun, keyspace: &mut Keyspace, key: &Bytes, edit| {
                change(run, keyspace, key, Delta::List(edit))
            };
            let edit = |run: &mut SnapshotRun, keyspace: &mut Keyspace, edit| {
                edit_at(run, keyspace, &list, edit)
            };
            // Before its first part: pushes at both ends, then pops at both ends that take
            // those and some of the list's own elements.
            edit(&mut run, &mut keyspace, ListEdit::PushRight(items("r", 2)));
            edit(&mut run, &mut keyspace, ListEdit::PushLeft(items("l", 3)));
            edit(&mut run, &mut keyspace, ListEdit::PopLeft(5));
            edit(&mut run, &mut keyspace, ListEdit::PopRight(4));
            run.step(&mut keyspace, 1024, 256, NOW_MS);
            // The walk is a part in: a rotation (RPOPLPUSH of the list onto itself), a trim of
            // both ends, and pops past what it wrote.
            edit(&mut run, &mut keyspace, ListEdit::PopRight(1));
            edit(&mut run, &mut keyspace, ListEdit::PushLeft(items("rot", 1)));
            edit(&mut run, &mut keyspace, ListEdit::Trim(3, 19_000));
            edit(&mut run, &mut keyspace, ListEdit::PopLeft(9000));
            edit(
                &mut run,
                &mut keyspace,
                ListEdit::PushRight(items("late", 3)),
            );
            match ending {
                "set" => edit(&mut run, &mut keyspace, ListEdit::Set(100, b("set".into()))),
                "deleted" => {
                    run.before_write(&mut keyspace, [&list].into_iter(), NOW_MS);
                    keyspace.dbs[0].delete(&list);
                    run.after_write(&mut keyspace);
                }
                "renamed" | "renamed-set" => {
                    // Popped and pushed where it went, and (then copied) set there.
                    Op::Move(0, list.clone(), 0, renamed.clone()).write(&mut run, &mut keyspace);
                    edit_at(&mut run, &mut keyspace, &renamed, ListEdit::PopLeft(100));
                    let pushed = ListEdit::PushLeft(items("moved", 2));
                    edit_at(&mut run, &mut keyspace, &renamed, pushed);
                    edit_at(&mut run, &mut keyspace, &renamed, ListEdit::PopRight(50));
                    if ending == "renamed-set" {
                        let set = ListEdit::Set(500, b("set".into()));
                        edit_at(&mut run, &mut keyspace, &renamed, set);
                    }
                }
                _ => {}
            }
            let at = if ending.starts_with("renamed") {
                &renamed
            } else {
                &list
            };
            edit_at(&mut run, &mut keyspace, at, ListEdit::PopRight(2));
            let (loaded, _) = finish_and_load(run, &mut keyspace);
            assert!(contents(&loaded) == before, "the file differs ({ending})");
            assert!(
                keyspace.dbs[0].take_kept().is_empty(),
                "nothing kept after the run"
            );
        }
    }

    #[test]
    fn one_change_to_more_elements_than_a_part_holds_is_written_out_whole() {
        let mut keyspace = keyspace();
        let before = contents(&keyspace);
        let mut run = start();
        let (list, zset) = (b("{l}list".into()), b("{z}zset".into()));
        let edit = |edit| Delta::List(edit);
        // Before the first part (the head pops are written at once), and in one go.
        change(
            &mut run,
            &mut keyspace,
            &list,
            edit(ListEdit::PopLeft(9000)),
        );
        change(
            &mut run,
            &mut keyspace,
            &list,
            edit(ListEdit::PopRight(9000)),
        );
        let members = (0..9000).map(|i| b(format!("z{}", i * 2))).collect();
        change(&mut run, &mut keyspace, &zset, Delta::ZSetRem(members));
        let (loaded, _) = finish_and_load(run, &mut keyspace);
        assert!(contents(&loaded) == before, "the file differs");
    }

    #[test]
    fn a_big_list_under_random_pushes_pops_and_trims_is_written_out_as_it_was() {
        use rand::{Rng, SeedableRng};
        for seed in 0..8 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut keyspace = keyspace();
            let before = contents(&keyspace);
            let mut run = start();
            let list = b("{l}list".into());
            run.before_write(&mut keyspace, [&list].into_iter(), NOW_MS);
            while !run.is_walked() {
                let n = rng.gen_range(1..3000);
                let edit = match rng.gen_range(0..6) {
                    0 => ListEdit::PushLeft(items("l", n)),
                    1 => ListEdit::PushRight(items("r", n)),
                    2 => ListEdit::PopLeft(n),
                    3 => ListEdit::PopRight(n),
                    4 => ListEdit::Trim(n / 3, ELEMENTS - n),
                    _ => {
                        run.step(&mut keyspace, 1024, 256, NOW_MS);
                        continue;
                    }
                };
                change(&mut run, &mut keyspace, &list, Delta::List(edit));
            }
            let (loaded, _) = finish_and_load(run, &mut keyspace);
            assert!(
                contents(&loaded) == before,
                "the file differs (seed {seed})"
            );
        }
    }

    /// Changes a value the way a write command does, in the snapshot's view.
    fn change(run: &mut SnapshotRun, keyspace: &mut Keyspace, key: &Bytes, delta: Delta) {
        run.before_write(keyspace, [key].into_iter(), NOW_MS);
        keyspace.dbs[0].apply(key, delta, NOW_MS).unwrap();
        run.after_write(keyspace);
    }

    /// `contents` with every string's `raw` flag cleared. A string written out in parts loads
    /// back `raw` (its later parts are writes in place), which shows only in the encoding of
    /// strings short enough for `embstr`, and those are written out whole.
    fn unflagged(keyspace: &Keyspace) -> Vec<(usize, Bytes, Value, &'static str, Option<u64>)> {
        let mut all = contents(keyspace);
        for (_, _, value, _, _) in &mut all {
            if let Value::Str { raw, .. } = value {
                *raw = false;
            }
        }
        all
    }

    #[test]
    fn a_long_string_is_written_in_parts_that_writes_to_it_neither_wait_for_nor_change() {
        const LEN: usize = 3 * PART_BYTES_MAX + 5;
        let original: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        for ending in ["walked", "written", "replaced", "deleted"] {
            let mut keyspace = keyspace();
            let blob = b("{b}blob".into());
            keyspace.dbs[0].insert(&blob, Value::string(&original), Some(10 * NOW_MS));
            let before = unflagged(&keyspace);
            let mut run = start();
            // Writing its slot out queues the string; a step writes its first part.
            run.before_write(&mut keyspace, [&blob].into_iter(), NOW_MS);
            run.step(&mut keyspace, 1024, 256, NOW_MS);
            let mut expected = original.clone();
            match ending {
                "written" => {
                    // In the part written out, in one not yet written, and past the end.
                    for (offset, patch) in
                        [(3, "abc"), (2 * PART_BYTES_MAX + 7, "xyz"), (LEN, "tail")]
                    {
                        let bytes = b(patch.into());
                        let delta = Delta::StrWrite {
                            offset: offset as u64,
                            bytes,
                        };
                        change(&mut run, &mut keyspace, &blob, delta);
                        let end = offset + patch.len();
                        if expected.len() < end {
                            expected.resize(end, 0);
                        }
                        expected[offset..end].copy_from_slice(patch.as_bytes());
                    }
                }
                "replaced" => {
                    run.before_write(&mut keyspace, [&blob].into_iter(), NOW_MS);
                    keyspace.dbs[0].insert(&blob, Value::string(b"short"), None);
                    run.after_write(&mut keyspace);
                    expected = b"short".to_vec();
                }
                "deleted" => {
                    run.before_write(&mut keyspace, [&blob].into_iter(), NOW_MS);
                    keyspace.dbs[0].delete(&blob);
                    run.after_write(&mut keyspace);
                    expected.clear();
                }
                _ => {}
            }
            let stored = keyspace.dbs[0].peek_in_slot(key_slot(&blob), &blob);
            let stored = stored.and_then(|e| e.value.as_string()).unwrap_or_default();
            assert!(
                stored[..] == expected[..],
                "the database's string ({ending})"
            );
            let keys = contents(&keyspace).len() as u64;
            let (loaded, frames) = finish_and_load(run, &mut keyspace);
            assert!(unflagged(&loaded) == before, "the file differs ({ending})");
            assert!(
                frames >= keys + 3,
                "{frames} frames for {keys} keys ({ending})"
            );
        }
    }

    #[test]
    fn a_big_stream_goes_out_in_parts_that_replay_brings_up_to_the_writes_they_saw() {
        let mut keyspace = keyspace();
        let mut run = start();
        let stream = b("{x}stream".into());
        let last = ELEMENTS as u64;
        let deltas: Vec<Delta> = [
            // Its first part, with the counters and the group, goes out before this write.
            StreamOp::Delete(vec![StreamId::new(last - 1, 0)]),
            StreamOp::Delete(vec![StreamId::new(2, 0)]),
            StreamOp::Add {
                id: StreamId::new(last + 5, 0),
                fields: vec![b("f".into()), b("new".into())],
            },
            StreamOp::Ack {
                group: b("group".into()),
                ids: vec![StreamId::new(3, 0)],
            },
            StreamOp::TrimThrough(StreamId::new(10, 0)),
        ]
        .into_iter()
        .map(Delta::Stream)
        .collect();
        for delta in &deltas {
            change(&mut run, &mut keyspace, &stream, delta.clone());
        }
        let keys = contents(&keyspace).len() as u64;
        let (mut loaded, frames) = finish_and_load(run, &mut keyspace);
        assert!(frames >= keys + 5 * 2, "{frames} frames for {keys} keys");
        // What recovery replays after the snapshot's point, as it would from the journal.
        for delta in deltas {
            loaded.dbs[0].apply(&stream, delta, 0).unwrap();
        }
        assert!(
            contents(&loaded) == contents(&keyspace),
            "the replay differs"
        );
    }

    fn scored(pairs: &[(&str, f64)]) -> Delta {
        Delta::ZSetAdd(pairs.iter().map(|&(m, s)| (b(m.into()), s)).collect())
    }

    #[test]
    fn a_big_sorted_set_that_writes_change_meanwhile_is_written_out_as_it_was() {
        for ending in ["walked", "deleted", "renamed", "replaced"] {
            let mut keyspace = keyspace();
            let before = contents(&keyspace);
            let mut run = start();
            let zset = b("{z}zset".into());
            // Before its first part: a member moves up, one down, one is new, one goes.
            let moves = [("z5", 1e9), ("z19999", -1.0), ("new", 5.0)];
            change(&mut run, &mut keyspace, &zset, scored(&moves));
            let gone = Delta::ZSetRem(vec![b("z100".into())]);
            change(&mut run, &mut keyspace, &zset, gone);
            run.step(&mut keyspace, 1024, 256, NOW_MS);
            // The walk passed the lowest members: one of those moves ahead of it, one ahead
            // moves behind it, and one ahead goes.
            let moves = [("z0", 2e9), ("z18000", -2.0), ("z9", 3.5)];
            change(&mut run, &mut keyspace, &zset, scored(&moves));
            let gone = Delta::ZSetRem(vec![b("z15000".into()), b("z1".into())]);
            change(&mut run, &mut keyspace, &zset, gone);
            match ending {
                "deleted" => {
                    run.before_write(&mut keyspace, [&zset].into_iter(), NOW_MS);
                    keyspace.dbs[0].delete(&zset);
                    run.after_write(&mut keyspace);
                }
                "renamed" => {
                    // Then changed where it went: members ahead of the walk move and go.
                    let new_name = b("{z}renamed".into());
                    Op::Move(0, zset.clone(), 0, new_name.clone()).write(&mut run, &mut keyspace);
                    let moves = [("z19000", -3.0), ("z17000", 4e9), ("later", 2.0)];
                    change(&mut run, &mut keyspace, &new_name, scored(&moves));
                    let gone = Delta::ZSetRem(vec![b("z16000".into())]);
                    change(&mut run, &mut keyspace, &new_name, gone);
                }
                "replaced" => {
                    run.before_write(&mut keyspace, [&zset].into_iter(), NOW_MS);
                    keyspace.dbs[0].insert(&zset, Value::string(b"now a string"), None);
                    run.after_write(&mut keyspace);
                }
                _ => {}
            }
            // Changes after the set left the snapshot's hands are not its business.
            let other = Value::ZSet(ZSet::from_entries(false, vec![(b("late".into()), 1.0)]));
            if ending != "walked" {
                keyspace.dbs[0].insert(&zset, other, None);
            }
            let (loaded, _) = finish_and_load(run, &mut keyspace);
            assert!(contents(&loaded) == before, "the file differs ({ending})");
            assert!(
                keyspace.dbs[0].take_kept().is_empty(),
                "nothing kept after the run"
            );
        }
    }
}
