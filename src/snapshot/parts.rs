//! A big collection or a long string written out in parts, one per step of the snapshot's walk
//! (`BigValue`): first an entry with some of its elements (bytes), then frames that add the rest.
//! None of them makes a write wait.
//!
//! Hashes and sets (carts, sessions, feature stores) are written out a range of their table's
//! buckets at a time (`keyspace::table`), from the table as it is then. Replay makes up for
//! whatever writes the later parts saw: every write to a hash or set is journaled as fields set
//! to values and members added or removed, which give the same result whatever the value held
//! before. What a part must not miss is an element that no write touched since the snapshot's
//! point, and no write moves one to another bucket but one that grows or shrinks the table, which
//! makes the walk start again from the first bucket (writing some elements twice, harmlessly).
//!
//! Sorted sets (leaderboards, order books) and lists (queues): the database keeps what each
//! change to one replaces (`keyspace::Kept`), and the snapshot writes that out first where the
//! walk has not passed it yet.
//! - A sorted set's parts follow its order, which a change to one member leaves as it is for the
//!   others. The members a change replaces and the walk has not passed are written out at once
//!   (out of order: they add up the same), and the walk leaves them out when it gets there;
//!   members added since the snapshot's point are left out too.
//! - A list's parts run from its head. Pushes and pops at either end (LPUSH, RPOP, LMOVE, LTRIM)
//!   leave the elements the walk has not reached in order between them: an element popped from
//!   the head before the walk reached it is the next one to write, and is written at once; one
//!   popped from the tail is kept, and written last. An edit in the middle (LSET, LINSERT, LREM)
//!   has the database copy the list first, and the walk goes on in the copy.
//!
//! A command that removes or replaces the whole value hands the old one over, and the walk goes
//! on in that. One that moves it (RENAME, MOVE) has the walk go on where it went, and the
//! database keep that key for it instead: replay makes the same move before the changes there.
//!
//! Streams (event logs): a stream's first part, with its counters and consumer groups, goes out
//! as soon as it is queued, before any write; its later parts are ranges of entry IDs, read from
//! the stream as it is then. Replay makes up for whatever writes the later parts saw, as every
//! stream op it applies after the snapshot's point gives the same result on entries that already
//! had it: an entry added is put again, one deleted or trimmed is gone either way (and an XDEL
//! counts its IDs even when they are gone), and the counters and groups come from the first part
//! alone.
//!
//! A long string: its part of the walk holds a handle on its bytes as they were when it was
//! queued (shared, not copied), and writes go on in the database. One that changes it in place
//! (APPEND, SETRANGE, SETBIT) copies it first, as the handle shares its bytes; SET, DEL and the
//! like just let go of them.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;

use super::format;
use crate::journal::effect::{Listed, PartBounds};
use crate::keyspace::stream::StreamId;
use crate::keyspace::table::{Keyed, Table};
use crate::keyspace::zset::order;
use crate::keyspace::{Entry, KeyHasher, Keyspace, ListEnds, Value};
use crate::router::slot::key_slot;

/// Collections of at most this many elements are written out whole, like any key.
const WHOLE_VALUE_ELEMENTS_MAX: usize = 4096;
/// A part holds at most this many elements (about a millisecond's worth for a sorted set) ...
const PART_ELEMENTS: usize = 8192;
/// ... and no more elements once it holds this many bytes.
pub const PART_BYTES_MAX: usize = 1 << 20;
const PART: PartBounds = PartBounds {
    elements: PART_ELEMENTS,
    bytes: PART_BYTES_MAX,
};
const WHOLE: PartBounds = PartBounds::WHOLE;

/// Whether `entry` is a collection or a string to write out in parts. (Writing a string of
/// hundreds of MB out whole stopped the shard for over a second.)
pub fn is_big(entry: &Entry) -> bool {
    match &entry.value {
        Value::Str { bytes, .. } => bytes.len() > PART_BYTES_MAX,
        Value::Stream(stream) => stream.len() > WHOLE_VALUE_ELEMENTS_MAX,
        value => value
            .collection_len()
            .is_some_and(|len| len > WHOLE_VALUE_ELEMENTS_MAX),
    }
}

/// Encoded frames not yet handed to the file, and how many of each kind were encoded.
#[derive(Default)]
pub struct FrameBuffer {
    pub bytes: Vec<u8>,
    /// Keys written out (a big collection counts once, with its first part).
    pub entries: u64,
    /// Frames that add a part to a big collection.
    pub parts: u64,
}

/// A big collection being written out in parts.
pub struct BigValue {
    db: u8,
    key: Bytes,
    /// Where the value is stored: at its key, until RENAME or MOVE moves it (`Kept::Moved`). Its
    /// parts still go out under its own key.
    stored_at: Place,
    progress: Progress,
    /// Whether the database keeps what changes to it replace (`Db::keep`): the value, when a
    /// command removes or replaces it, and, of a sorted set or list, what a change replaces.
    kept: bool,
    /// The value, once a command removed or replaced it in the database; a string's from the
    /// start.
    taken: Option<Entry>,
}

/// A database, slot and key.
struct Place {
    db: usize,
    slot: u16,
    key: Bytes,
}

impl Place {
    fn entry<'a>(&self, keyspace: &'a Keyspace) -> Option<&'a Entry> {
        keyspace.dbs[self.db].peek_in_slot(self.slot, &self.key)
    }
}

enum Progress {
    Buckets(BucketProgress),
    Sorted(Box<SortedProgress>),
    Listed(Box<ListProgress>),
    /// A string: the bytes written out so far, from the value taken when it was queued.
    Bytes(usize),
    /// A stream: the ID of the last entry written out (`None`: none yet).
    Entries(Option<StreamId>),
}

/// A hash or set, walked by its table's buckets (see the module's comment).
#[derive(Default)]
struct BucketProgress {
    /// Whether its entry (the first part) is out.
    started: bool,
    /// The walk's next bucket ...
    next: usize,
    /// ... while the table's `moves` is this.
    moves: u64,
}

impl Progress {
    /// Whether it walks a value like `value` (a moved value's place may hold another since).
    fn walks(&self, value: &Value) -> bool {
        match (self, value) {
            (Progress::Buckets(_), Value::Hash(hash)) => hash.table().is_some(),
            (Progress::Buckets(_), Value::Set(_))
            | (Progress::Sorted(_), Value::ZSet(_))
            | (Progress::Listed(_), Value::List(_))
            | (Progress::Entries(_), Value::Stream(_)) => true,
            _ => false,
        }
    }
}

/// A sorted set that writes go on changing (see the module's comment).
#[derive(Default)]
struct SortedProgress {
    /// Whether its entry (the first part) is out.
    started: bool,
    /// The last member the walk passed, in the set's order.
    passed: Option<(f64, Bytes)>,
    /// Members written out ahead of the walk, or added since the snapshot's point: the walk
    /// leaves them out.
    copied: HashSet<Bytes, KeyHasher>,
}

/// A list that writes go on pushing to and popping from (see the module's comment). Its
/// elements at the snapshot's point are its "originals".
struct ListProgress {
    originals: usize,
    /// Originals written out, from the head.
    written: usize,
    /// Originals popped from the head (never more than were written) and from the tail.
    popped_head: usize,
    popped_tail: usize,
    /// Elements pushed at the head since the snapshot's point and still there.
    pushed_head: usize,
    /// Originals popped from the tail before the walk reached them, in order: written last.
    tail: VecDeque<Bytes>,
}

impl BigValue {
    pub fn new(db: usize, slot: u16, key: &[u8], entry: &Entry) -> BigValue {
        let progress = match &entry.value {
            Value::ZSet(_) => Progress::Sorted(Box::default()),
            Value::List(list) => Progress::Listed(Box::new(ListProgress {
                originals: list.len(),
                written: 0,
                popped_head: 0,
                popped_tail: 0,
                pushed_head: 0,
                tail: VecDeque::new(),
            })),
            Value::Str { .. } => Progress::Bytes(0),
            Value::Stream(_) => Progress::Entries(None),
            _ => Progress::Buckets(BucketProgress::default()),
        };
        // A long string's bytes are shared: taking it copies no more than a handle.
        let taken = matches!(entry.value, Value::Str { .. }).then(|| entry.clone());
        let key = Bytes::copy_from_slice(key);
        BigValue {
            db: db as u8,
            stored_at: Place {
                db,
                slot,
                key: key.clone(),
            },
            key,
            progress,
            kept: false,
            taken,
        }
    }

    /// Has the database keep what changes to it replace, from now on.
    pub fn keep_changes(&mut self, keyspace: &mut Keyspace) {
        if !self.kept && self.taken.is_none() {
            keyspace.dbs[self.stored_at.db].keep(&self.stored_at.key);
            self.kept = true;
        }
    }

    /// Whether what the database keeps for key `key` of database `db` is this value's: it is
    /// stored there, not taken.
    pub fn is_stored_at(&self, db: usize, key: &[u8]) -> bool {
        self.taken.is_none() && self.stored_at.db == db && self.stored_at.key == key
    }

    /// Done with (written out, or the snapshot abandoned): the database stops keeping what
    /// changes replace, and a value taken from it is let go of.
    pub fn finish(self, keyspace: &mut Keyspace) {
        if self.kept {
            keyspace.dbs[self.stored_at.db].stop_keeping(&self.stored_at.key);
        }
        if let Some(taken) = self.taken {
            keyspace.dbs[self.db as usize].discard(taken.into_parts().0);
        }
    }

    /// The value was removed or replaced: the rest is written out from `entry`.
    pub fn take(&mut self, entry: Entry) {
        // The database no longer keeps anything for the key.
        self.kept = false;
        self.taken = Some(entry);
    }

    /// The value was moved to `to` in database `to_db` (RENAME, MOVE): the rest is read there,
    /// and the database keeps that key for it instead. Replay makes the same move, then the
    /// changes there; and once the value is gone from there, it removes whatever the later parts
    /// read from there.
    pub fn follow(&mut self, keyspace: &mut Keyspace, to_db: usize, to: Bytes) {
        // The database no longer keeps the old key.
        self.kept = false;
        self.stored_at = Place {
            db: to_db,
            slot: key_slot(&to),
            key: to,
        };
        self.keep_changes(keyspace);
    }

    /// A change replaced these members of the sorted set (`None`: it had no such member): those
    /// the walk has not passed are written out now, and all are left out by the walk.
    pub fn copy_members(
        &mut self,
        keyspace: &Keyspace,
        old: Vec<(Bytes, Option<f64>)>,
        out: &mut FrameBuffer,
    ) {
        let Progress::Sorted(sorted) = &mut self.progress else {
            return;
        };
        let sorted = &mut **sorted;
        let mut members = Vec::new();
        for (member, score) in old {
            // Left out by the walk even when it passed its old place: it may be at a new one.
            let passed = score.is_some_and(|score| sorted.has_passed(score, &member));
            if sorted.copied.insert(member.clone()) && !passed {
                members.extend(score.map(|score| (member, score)));
            }
        }
        let items = members.iter().map(|(m, s)| Listed::Member(m, *s));
        let (db, key) = (self.db, &self.key[..]);
        if let Some(entry) = self
            .taken
            .as_ref()
            .or_else(|| self.stored_at.entry(keyspace))
        {
            let first = !sorted.started;
            sorted.started |= write_listed(db, key, entry, first, items, WHOLE, out) > 0;
        }
    }

    /// A change pushed to or popped from the ends of the list: originals it popped that the
    /// walk has not reached are written out now (from the head) or kept to write last (from
    /// the tail).
    pub fn list_ends(&mut self, keyspace: &Keyspace, change: ListEnds, out: &mut FrameBuffer) {
        let Progress::Listed(list) = &mut self.progress else {
            return;
        };
        let list = &mut **list;
        let next = match change {
            ListEnds::PushedLeft(n) => {
                list.pushed_head += n;
                return;
            }
            ListEnds::PoppedLeft(elements) => list.popped_head(elements),
            ListEnds::PoppedRight {
                elements,
                len_before,
            } => {
                list.popped_tail(elements, len_before);
                return;
            }
        };
        let (db, key) = (self.db, &self.key[..]);
        if let Some(entry) = self
            .taken
            .as_ref()
            .or_else(|| self.stored_at.entry(keyspace))
        {
            let items = next.iter().map(|e| Listed::Item(e));
            write_listed(
                db,
                key,
                entry,
                list.written == next.len(),
                items,
                WHOLE,
                out,
            );
        }
    }

    /// Writes out the next part; returns whether it is done (all out, or gone: it expired).
    pub fn write_part(&mut self, keyspace: &Keyspace, now_ms: u64, out: &mut FrameBuffer) -> bool {
        let (db, key) = (self.db, &self.key[..]);
        let Some(entry) = self
            .taken
            .as_ref()
            .or_else(|| self.stored_at.entry(keyspace))
        else {
            return true;
        };
        let moved = self.stored_at.db != db as usize || self.stored_at.key != key;
        if moved && !self.progress.walks(&entry.value) {
            // Replaced where it was moved to: replay removes what the file holds of it.
            return true;
        }
        let started = match &self.progress {
            Progress::Buckets(buckets) => buckets.started,
            Progress::Sorted(sorted) => sorted.started,
            Progress::Listed(list) => list.written > 0,
            Progress::Bytes(written) => *written > 0,
            Progress::Entries(after) => after.is_some(),
        };
        if !started && entry.is_due(now_ms) {
            return true;
        }
        if !started && !is_big(entry) {
            // Made small before its first part: written whole, as a key.
            format::encode_entry(db, key, entry, &mut out.bytes);
            out.count(true);
            return true;
        }
        match &mut self.progress {
            Progress::Buckets(buckets) => buckets.write_part(db, key, entry, out),
            Progress::Sorted(sorted) => sorted.write_part(db, key, entry, out),
            Progress::Listed(list) => list.write_part(db, key, entry, out),
            Progress::Bytes(written) => {
                let Value::Str { bytes, .. } = &entry.value else {
                    debug_assert!(false, "a string's parts are taken from the string");
                    return true;
                };
                let first = *written == 0;
                *written += format::encode_string_part(
                    db,
                    key,
                    entry,
                    *written,
                    PART_BYTES_MAX,
                    &mut out.bytes,
                );
                out.count(first);
                *written >= bytes.len()
            }
            Progress::Entries(after) => write_entries(db, key, entry, after, out),
        }
    }

    /// Whether its first part goes out as soon as it is queued (`write_first_part`): a stream's.
    pub fn starts_at_once(&self) -> bool {
        matches!(self.progress, Progress::Entries(None))
    }

    /// Writes out the first part of a stream from `entry`, its stored entry, before any write
    /// can change it; returns whether that was all of it.
    pub fn write_first_part(&mut self, entry: &Entry, out: &mut FrameBuffer) -> bool {
        let Progress::Entries(after) = &mut self.progress else {
            debug_assert!(false, "only a stream's first part goes out at once");
            return false;
        };
        write_entries(self.db, &self.key, entry, after, out)
    }
}

/// The next part of a stream, its entries after `after`; returns whether it is done.
fn write_entries(
    db: u8,
    key: &[u8],
    entry: &Entry,
    after: &mut Option<StreamId>,
    out: &mut FrameBuffer,
) -> bool {
    let Value::Stream(stream) = &entry.value else {
        debug_assert!(false, "a stream half written out became another type");
        return true;
    };
    let first = after.is_none();
    let (_, last) = format::encode_stream_part(db, key, entry, *after, PART, &mut out.bytes);
    out.count(first);
    *after = last.or(*after);
    last.is_none() || last == stream.last().map(|(id, _)| *id)
}

/// Writes `items` of the collection at `entry` as one part (its entry when `first`), as
/// far as `bounds` allow, unless there are none; returns how many. What a change replaced is
/// written whole (`PartBounds::WHOLE`): it is written out once, now or never.
fn write_listed<'a>(
    db: u8,
    key: &[u8],
    entry: &Entry,
    first: bool,
    items: impl Iterator<Item = Listed<'a>>,
    bounds: PartBounds,
    out: &mut FrameBuffer,
) -> usize {
    let mark = out.bytes.len();
    let count = format::encode_listed_part(db, key, entry, first, items, bounds, &mut out.bytes);
    if count == 0 {
        out.bytes.truncate(mark);
    } else {
        out.count(first);
    }
    count
}

impl BucketProgress {
    /// The elements in the next buckets of the hash or set; returns whether the walk reached the
    /// last bucket.
    fn write_part(&mut self, db: u8, key: &[u8], entry: &Entry, out: &mut FrameBuffer) -> bool {
        match &entry.value {
            Value::Hash(hash) => match hash.table() {
                Some(table) => {
                    self.write_buckets(db, key, entry, table, out, |(f, v)| Listed::Field(f, v))
                }
                None => {
                    debug_assert!(false, "a big hash half written out became a listpack");
                    true
                }
            },
            Value::Set(members) => {
                self.write_buckets(db, key, entry, members, out, |m| Listed::Item(m))
            }
            _ => {
                debug_assert!(false, "a hash or set half written out became another type");
                true
            }
        }
    }

    fn write_buckets<'a, T: Keyed>(
        &mut self,
        db: u8,
        key: &[u8],
        entry: &Entry,
        table: &'a Table<T>,
        out: &mut FrameBuffer,
        listed: impl Fn(&'a T) -> Listed<'a>,
    ) -> bool {
        if table.moves() != self.moves {
            // An insert moved its elements: the buckets walked hold others now.
            self.moves = table.moves();
            self.next = 0;
        }
        let buckets = table.buckets();
        let mut next = self.next;
        let elements = (self.next..buckets)
            .filter_map(|i| Some((i, table.bucket(i)?)))
            .inspect(|(i, _)| next = i + 1)
            .map(|(_, element)| listed(element));
        self.started |= write_listed(db, key, entry, !self.started, elements, PART, out) > 0;
        self.next = next;
        (next..buckets).all(|i| table.bucket(i).is_none())
    }
}

impl SortedProgress {
    fn has_passed(&self, score: f64, member: &[u8]) -> bool {
        self.passed
            .as_ref()
            .is_some_and(|(at, last)| order(score, member, *at, last).is_le())
    }

    /// The next members in order past the walk's, but for those copied; returns whether the
    /// walk reached the end of the set.
    fn write_part(&mut self, db: u8, key: &[u8], entry: &Entry, out: &mut FrameBuffer) -> bool {
        let Value::ZSet(zset) = &entry.value else {
            debug_assert!(false, "a sorted set half written out became another type");
            return true;
        };
        let rank_after = |at: f64, last: &[u8]| {
            zset.count_while(|score, member| order(score, member, at, last).is_le())
        };
        let from = self
            .passed
            .as_ref()
            .map_or(0, |(at, last)| rank_after(*at, last));
        let mut passed = None;
        let members = zset
            .iter_from(from, false)
            .inspect(|&(member, score)| passed = Some((score, member)))
            .filter(|(member, _)| !self.copied.contains(*member))
            .map(|(member, score)| Listed::Member(member, score));
        self.started |= write_listed(db, key, entry, !self.started, members, PART, out) > 0;
        let Some((at, last)) = passed else {
            return true;
        };
        let done = rank_after(at, last) == zset.len();
        self.passed = Some((at, Bytes::copy_from_slice(last)));
        done
    }
}

impl ListProgress {
    /// Originals not popped from either end.
    fn originals_left(&self) -> usize {
        self.originals - self.popped_head - self.popped_tail
    }

    /// Elements popped from the head, head first; returns the originals among them that the
    /// walk had not reached (the next ones to write, in order).
    fn popped_head(&mut self, elements: Vec<Bytes>) -> Vec<Bytes> {
        let mut next = Vec::new();
        for element in elements {
            if self.pushed_head > 0 {
                self.pushed_head -= 1;
            } else if self.originals_left() > 0 {
                if self.popped_head == self.written {
                    next.push(element);
                    self.written += 1;
                }
                self.popped_head += 1;
            }
            // Else one pushed at the tail since: not the snapshot's, nor are the rest.
        }
        next
    }

    /// Elements popped from the tail, tail first, from a list of `len_before`.
    fn popped_tail(&mut self, elements: Vec<Bytes>, len_before: usize) {
        let mut pushed_tail = len_before.saturating_sub(self.pushed_head + self.originals_left());
        for element in elements {
            if pushed_tail > 0 {
                pushed_tail -= 1;
            } else if self.originals_left() > 0 {
                if self.originals - self.popped_tail > self.written {
                    self.tail.push_front(element);
                }
                self.popped_tail += 1;
            }
            // Else one pushed at the head since: with no original left, nothing else matters.
        }
    }

    /// The next originals from the head, then (once the walk reaches those popped from the
    /// tail) the ones kept; returns whether all are out.
    fn write_part(&mut self, db: u8, key: &[u8], entry: &Entry, out: &mut FrameBuffer) -> bool {
        let Value::List(list) = &entry.value else {
            debug_assert!(false, "a list half written out became another type");
            return true;
        };
        let end = self.originals - self.popped_tail;
        if self.written < end {
            let from = self.pushed_head + (self.written - self.popped_head);
            let items = list.range(from, from + (end - self.written));
            let first = self.written == 0;
            let items = items.map(|e| Listed::Item(e));
            self.written += write_listed(db, key, entry, first, items, PART, out);
            return false;
        }
        let first = self.written == 0;
        let tail = std::mem::take(&mut self.tail);
        let items = tail.iter().map(|e| Listed::Item(e));
        self.written += write_listed(db, key, entry, first, items, WHOLE, out);
        true
    }
}

impl FrameBuffer {
    /// One frame was encoded: a key's entry (`entry`) or a part.
    fn count(&mut self, entry: bool) {
        if entry {
            self.entries += 1;
        } else {
            self.parts += 1;
        }
    }
}
