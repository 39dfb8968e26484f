//! One step of SSCAN, HSCAN or ZSCAN over a big collection (`hashtable`, `skiplist`).
//!
//! The cursor is a position in a fixed order of the elements: the 64-bit hash of each element
//! (the member or field) under a hasher with constant seeds, never 0 (0 starts and ends an
//! iteration). A step returns the elements whose position is at or past the cursor, smallest
//! positions first, about `count` of them, and the position of the first element it left out as
//! the next cursor. Because the order depends only on the elements themselves (not on where a
//! table keeps them, nor on the process: the seeds are constants), an element present for the
//! whole iteration has a position no step skips, whatever is added, removed or rehashed between
//! steps, and cursors stay valid across restarts and on a replica. Elements may repeat only when
//! two share a position (a 64-bit collision).
//!
//! Why not Redis's reverse-binary bucket cursor: the collections live in std `HashMap`/`HashSet`
//! (open addressing), which expose neither their buckets nor a way to start iterating at one, so
//! the order alone would make every step read every element (O(N), `scan_step`). What makes a
//! step O(log N + count) is `ScanSnapshots`: the elements in position order, taken when an
//! iteration starts, from which a step returns those the collection still holds. The snapshot
//! only saves work; the guarantee comes from the order (see `ScanSnapshots`).

use bytes::Bytes;

/// Seeds of the position hasher: constants, so that a cursor means the same in every process.
const POSITION_SEEDS: [u64; 4] = [
    0x6b65_656c_5f73_6361,
    0x6e5f_706f_7369_7469,
    0x6f6e_5f73_6565_6431,
    0x9e37_79b9_7f4a_7c15,
];

/// An element's position in the scan order: its hash under constant seeds, never 0.
pub fn scan_position(element: &[u8]) -> u64 {
    let [a, b, c, d] = POSITION_SEEDS;
    ahash::RandomState::with_seeds(a, b, c, d)
        .hash_one(element)
        .max(1)
}

/// One step: of `items` (each with its `scan_position`), those at or past `cursor`, about the
/// `count` smallest positions, and the next cursor (0 when none is left). Elements sharing the
/// boundary position are left whole to the next step, unless they are all the step would return:
/// then the step returns that whole group, so that every step moves the cursor on.
pub fn scan_step<T>(
    items: impl Iterator<Item = (u64, T)>,
    cursor: u64,
    count: usize,
) -> (Vec<T>, u64) {
    let count = count.max(1);
    let mut found: Vec<(u64, T)> = items.filter(|(pos, _)| *pos >= cursor).collect();
    if found.len() <= count {
        return (found.into_iter().map(|(_, item)| item).collect(), 0);
    }
    found.select_nth_unstable_by_key(count, |(pos, _)| *pos);
    let mut boundary = found[count].0;
    if found[..count].iter().all(|(pos, _)| *pos == boundary) {
        // More than `count` elements share one position (64-bit collisions): take them all.
        boundary = found
            .iter()
            .map(|(pos, _)| *pos)
            .filter(|pos| *pos > boundary)
            .min()
            .unwrap_or(0);
        if boundary == 0 {
            return (found.into_iter().map(|(_, item)| item).collect(), 0);
        }
    }
    let step = found
        .into_iter()
        .filter(|(pos, _)| *pos < boundary)
        .map(|(_, item)| item)
        .collect();
    (step, boundary)
}

/// A collection a scan walks: its elements (members or fields) and whether one is still there.
pub trait Scannable {
    fn scan_elements(&self) -> Box<dyn Iterator<Item = &[u8]> + '_>;
    fn scan_contains(&self, element: &[u8]) -> bool;
}

/// Bytes of elements all of a shard's scan snapshots may hold together. A collection whose
/// elements would not fit is scanned without one (each step then reads every element, O(N)).
pub const SNAPSHOT_BYTES_MAX: usize = 64 << 20;
/// Snapshots kept at once; a new one replaces the least recently used.
pub const SNAPSHOTS_MAX: usize = 8;
/// Bookkeeping bytes per element of a snapshot (position, offset, length), counted in the budget.
const SNAPSHOT_ENTRY_BYTES: usize = 16;

/// The elements of one collection as they were when an iteration of it started, sorted by
/// position, so that a step finds its start by binary search and reads only what it returns.
struct Snapshot {
    db: usize,
    key: Bytes,
    /// (position, offset in `arena`, length), sorted by position.
    entries: Vec<(u64, u32, u32)>,
    arena: Vec<u8>,
    last_used: u64,
}

impl Snapshot {
    fn bytes(&self) -> usize {
        self.arena.len() + self.entries.len() * SNAPSHOT_ENTRY_BYTES
    }

    fn element(&self, index: usize) -> &[u8] {
        let (_, at, len) = self.entries[index];
        &self.arena[at as usize..at as usize + len as usize]
    }
}

/// A shard's scan snapshots: what makes a step cost O(log N + COUNT) instead of O(N).
///
/// Taking a snapshot costs O(N log N) once, at the step with cursor 0 (every iteration starts
/// there, so a snapshot is never older than the start of any iteration using it). Later steps
/// return the snapshot's elements at or past the cursor that the collection still holds. This
/// keeps the guarantee: an element present for the whole iteration was in the snapshot and is
/// still there when its step comes. Elements added since may be missed, which SCAN allows. A
/// step that finds no snapshot (evicted, another shard's restart) takes one from the current
/// contents, which hold every element present throughout; one too big falls back to `scan_step`.
#[derive(Default)]
pub struct ScanSnapshots {
    snapshots: Vec<Snapshot>,
    uses: u64,
}

impl ScanSnapshots {
    /// One step over `collection` (the value of `key` in `db`): about `count` elements from
    /// `cursor` on, and the next cursor, 0 when done.
    pub fn step(
        &mut self,
        db: usize,
        key: &[u8],
        collection: &impl Scannable,
        cursor: u64,
        count: usize,
    ) -> (Vec<Bytes>, u64) {
        self.uses += 1;
        let found = self
            .snapshots
            .iter()
            .position(|s| s.db == db && s.key == key);
        let index = match found {
            Some(index) if cursor != 0 => index,
            _ => {
                if let Some(index) = found {
                    self.snapshots.swap_remove(index);
                }
                match self.take(db, key, collection) {
                    Some(index) => index,
                    None => {
                        let items = collection.scan_elements().map(|e| (scan_position(e), e));
                        let (step, next) = scan_step(items, cursor, count);
                        return (step.into_iter().map(Bytes::copy_from_slice).collect(), next);
                    }
                }
            }
        };
        let snapshot = &mut self.snapshots[index];
        snapshot.last_used = self.uses;
        step_in(snapshot, collection, cursor, count)
    }

    /// Takes a snapshot of `collection`, evicting old ones to make room; its index, or None when
    /// the collection alone is over `SNAPSHOT_BYTES_MAX`.
    fn take(&mut self, db: usize, key: &[u8], collection: &impl Scannable) -> Option<usize> {
        let mut entries = Vec::new();
        let mut arena = Vec::new();
        for element in collection.scan_elements() {
            let bytes = arena.len() + element.len() + (entries.len() + 1) * SNAPSHOT_ENTRY_BYTES;
            if bytes > SNAPSHOT_BYTES_MAX {
                return None;
            }
            entries.push((
                scan_position(element),
                arena.len() as u32,
                element.len() as u32,
            ));
            arena.extend_from_slice(element);
        }
        entries.sort_unstable_by_key(|(pos, _, _)| *pos);
        let snapshot = Snapshot {
            db,
            key: Bytes::copy_from_slice(key),
            entries,
            arena,
            last_used: self.uses,
        };
        while self.snapshots.len() >= SNAPSHOTS_MAX
            || self.snapshots.iter().map(Snapshot::bytes).sum::<usize>() + snapshot.bytes()
                > SNAPSHOT_BYTES_MAX
        {
            let oldest = (0..self.snapshots.len()).min_by_key(|&i| self.snapshots[i].last_used)?;
            self.snapshots.swap_remove(oldest);
        }
        self.snapshots.push(snapshot);
        Some(self.snapshots.len() - 1)
    }
}

/// Reads `count` snapshot entries from `cursor` on (and the rest of the last one's position),
/// keeping those the collection still holds.
fn step_in(
    snapshot: &Snapshot,
    collection: &impl Scannable,
    cursor: u64,
    count: usize,
) -> (Vec<Bytes>, u64) {
    let entries = &snapshot.entries;
    let start = entries.partition_point(|(pos, _, _)| *pos < cursor);
    let mut end = (start + count.max(1)).min(entries.len());
    while end < entries.len() && entries[end].0 == entries[end - 1].0 {
        end += 1;
    }
    let step = (start..end)
        .map(|i| snapshot.element(i))
        .filter(|e| collection.scan_contains(e))
        .map(Bytes::copy_from_slice)
        .collect();
    let next = entries.get(end).map_or(0, |(pos, _, _)| *pos);
    (step, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs whole iterations over `positions` (the items are their indexes); returns how often
    /// each index was returned and the longest step.
    fn iterate(positions: &[u64], count: usize) -> (Vec<usize>, usize) {
        let (mut seen, mut longest, mut cursor) = (vec![0; positions.len()], 0, 0);
        loop {
            let items = positions.iter().copied().zip(0..);
            let (step, next) = scan_step(items, cursor, count);
            longest = longest.max(step.len());
            step.into_iter().for_each(|i: usize| seen[i] += 1);
            if next == 0 {
                return (seen, longest);
            }
            assert!(next > cursor, "a step moves the cursor on");
            cursor = next;
        }
    }

    #[test]
    fn a_full_iteration_returns_each_element_once_in_steps_of_count() {
        let positions: Vec<u64> = (0..1000)
            .map(|i| scan_position(format!("m{i}").as_bytes()))
            .collect();
        let (seen, longest) = iterate(&positions, 10);
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(longest, 10);
    }

    #[test]
    fn colliding_positions_are_returned_together_and_the_cursor_moves_on() {
        let positions = [5, 5, 5, 5, 7, 9, 9, 3];
        let (seen, longest) = iterate(&positions, 2);
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(longest, 4);
    }

    #[test]
    fn positions_are_stable_and_never_zero() {
        assert_eq!(scan_position(b"member"), scan_position(b"member"));
        assert_ne!(scan_position(b"a"), scan_position(b"b"));
        assert_ne!(scan_position(b""), 0);
    }

    type Set = crate::keyspace::SetMembers;

    fn set_of(range: std::ops::Range<usize>) -> Set {
        range.map(|i| Bytes::from(format!("m{i}"))).collect()
    }

    #[test]
    fn snapshot_steps_return_every_member_present_throughout_while_the_set_changes() {
        let (mut scans, mut set) = (ScanSnapshots::default(), set_of(0..1000));
        let (mut seen, mut cursor, mut steps) = (Set::default(), 0, 0);
        loop {
            let (step, next) = scans.step(0, b"k", &set, cursor, 10);
            assert!(step.len() <= 10);
            assert!(
                step.iter().all(|m| set.contains(m)),
                "only members still there"
            );
            seen.extend(step);
            steps += 1;
            set.remove(format!("m{steps}").as_bytes());
            set.extend((0..30).map(|j| Bytes::from(format!("new{steps}-{j}"))));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert!(steps >= 100);
        assert!((101..1000).all(|i| seen.contains(format!("m{i}").as_bytes())));
    }

    #[test]
    fn interleaved_iterations_past_the_snapshot_limit_still_see_every_member() {
        let mut scans = ScanSnapshots::default();
        let sets: Vec<Set> = (0..SNAPSHOTS_MAX + 3).map(|_| set_of(0..500)).collect();
        let mut cursors = vec![0; sets.len()];
        let mut seen = vec![Set::default(); sets.len()];
        let mut done = vec![false; sets.len()];
        while done.iter().any(|d| !d) {
            for (i, set) in sets.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let (step, next) = scans.step(0, format!("k{i}").as_bytes(), set, cursors[i], 10);
                seen[i].extend(step);
                (cursors[i], done[i]) = (next, next == 0);
            }
        }
        assert!(seen.iter().all(|s| s.len() == 500));
        assert!(scans.snapshots.len() <= SNAPSHOTS_MAX);
    }
}
