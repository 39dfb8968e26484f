//! The sorted set type's value: members ordered by (score, member bytes), in Redis's two
//! encodings. Small sets keep their entries sorted in one byte buffer (Redis's `listpack`:
//! compact, O(n) but n ≤ 128);
//! larger ones (`skiplist`) keep a member → score table (`keyspace::table`, which grows a step at a
//! time) beside an order-statistic tree, so that
//! insert, delete, rank, select-by-rank and range starts are O(log n).
//!
//! The order-statistic tree is a treap (a binary search tree whose nodes also carry random
//! priorities, heap-ordered, so its expected depth is O(log n)) with subtree sizes, stored in an
//! arena of nodes addressed by `u32`. A treap gives what Redis's skip list with spans gives (rank
//! by summing sizes on the way down) with less code: every change is a split and a merge.
//! Like Redis, a set never moves back from `skiplist` to `listpack` when it shrinks.

use std::cmp::Ordering;

use bytes::Bytes;

use super::scan::Scannable;
use super::table::Table;

/// A sorted set with more members than this is a `skiplist` (`zset-max-listpack-entries`).
pub const LISTPACK_ENTRIES_MAX: usize = 128;
/// A sorted set with a member longer than this is a `skiplist` (`zset-max-listpack-value`).
pub const LISTPACK_VALUE_BYTES_MAX: usize = 64;

/// Approximate bookkeeping bytes per member of a `skiplist`, for `MEMORY USAGE`: its allocation,
/// a tree node and a hash table entry.
const INDEXED_ENTRY_OVERHEAD_BYTES: usize = 120;

/// The order of a sorted set: by score, ties by member bytes. Scores are never NaN.
pub fn order(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a_member.cmp(b_member))
}

#[derive(Clone, Debug)]
pub enum ZSet {
    /// `listpack`.
    Listpack(Packed),
    /// `skiplist`.
    Indexed(Box<Indexed>),
}

/// The `skiplist` encoding: scores by member, and the members in order.
#[derive(Clone, Debug, Default)]
pub struct Indexed {
    scores: Table<(Bytes, f64)>,
    tree: Tree,
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::Listpack(Packed::default())
    }
}

/// Two sorted sets are equal when they hold the same members with the same scores.
impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.iter().all(|(m, s)| other.score(m) == Some(s))
    }
}

/// Whether `len` members, the longest `member_bytes_max` long, fit the listpack limits.
pub fn fits_listpack(len: usize, member_bytes_max: usize) -> bool {
    len <= LISTPACK_ENTRIES_MAX && member_bytes_max <= LISTPACK_VALUE_BYTES_MAX
}

impl ZSet {
    /// A sorted set holding `entries` (any order; later duplicates win), in the encoding Redis
    /// would create it with for that content, or `skiplist` when `listpack` is false.
    pub fn from_entries(listpack: bool, entries: Vec<(Bytes, f64)>) -> ZSet {
        let longest = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let mut zset = if listpack && fits_listpack(entries.len(), longest) {
            ZSet::Listpack(Packed::default())
        } else {
            ZSet::Indexed(Box::default())
        };
        for (member, score) in entries {
            zset.insert(member, score);
        }
        zset
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack(packed) => packed.len as usize,
            ZSet::Indexed(indexed) => indexed.scores.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self, ZSet::Listpack(_))
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Listpack(_) => "listpack",
            ZSet::Indexed(_) => "skiplist",
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(packed) => packed.find(member).map(|(_, score)| score),
            ZSet::Indexed(indexed) => indexed.scores.get(member).map(|&(_, score)| score),
        }
    }

    /// Sets `member`'s score; returns its previous score (`None`: it is new). Moves to `skiplist`
    /// when a listpack limit is passed.
    /// A score of -0 is stored as 0, which is how Redis answers for it.
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        assert!(!score.is_nan(), "a sorted set score is never NaN");
        let score = score + 0.0;
        if let ZSet::Listpack(packed) = self {
            let old = packed.find(&member);
            let grows = old.is_none() && packed.len as usize >= LISTPACK_ENTRIES_MAX;
            if member.len() <= LISTPACK_VALUE_BYTES_MAX && !grows {
                if let Some((offset, _)) = old {
                    packed.remove_at(offset);
                }
                packed.insert(&member, score);
                return old.map(|(_, score)| score);
            }
            self.convert_to_indexed();
        }
        let ZSet::Indexed(indexed) = self else {
            unreachable!("converted above")
        };
        indexed.insert(member, score)
    }

    /// Deletes `member`; returns its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(packed) => {
                let (offset, score) = packed.find(member)?;
                packed.remove_at(offset);
                Some(score)
            }
            ZSet::Indexed(indexed) => {
                let (_, score) = indexed.scores.remove(member)?;
                indexed.tree.remove(score, member);
                Some(score)
            }
        }
    }

    /// `member`'s 0-based position in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_while(|s, m| order(s, m, score, member).is_lt()))
    }

    /// How many members, from the lowest, satisfy `before` (which must hold for a prefix of the
    /// order and fail for the rest): the rank where a range starts or ends. O(log n).
    pub fn count_while(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Listpack(packed) => packed.entries().take_while(|e| before(e.2, e.1)).count(),
            ZSet::Indexed(indexed) => indexed.tree.count_while(&before),
        }
    }

    /// The members from ascending rank `rank` on: upwards, or (`rev`) downwards to rank 0.
    /// Empty when `rank` is past the end.
    pub fn iter_from(&self, rank: usize, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Listpack(packed) if rank >= packed.len as usize => Box::new(std::iter::empty()),
            ZSet::Listpack(packed) if rev => {
                // At most LISTPACK_ENTRIES_MAX entries: gathering them to walk back is cheap.
                let below: Vec<(&[u8], f64)> = packed
                    .entries()
                    .take(rank + 1)
                    .map(|(_, m, s)| (m, s))
                    .collect();
                Box::new(below.into_iter().rev())
            }
            ZSet::Listpack(packed) => Box::new(packed.entries().skip(rank).map(|(_, m, s)| (m, s))),
            ZSet::Indexed(indexed) => Box::new(indexed.tree.iter_from(rank, rev)),
        }
    }

    /// The set as an iterator that frees a member per item (see `Value::into_freeing`).
    pub fn into_freeing(self) -> Box<dyn Iterator<Item = ()> + Send> {
        match self {
            ZSet::Listpack(_) => Box::new(std::iter::empty()),
            ZSet::Indexed(indexed) => {
                let Indexed { scores, tree } = *indexed;
                let nodes = tree.nodes;
                Box::new(
                    scores
                        .into_iter()
                        .map(drop)
                        .chain(nodes.into_iter().map(drop)),
                )
            }
        }
    }

    /// Every (member, score) in ascending order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        self.iter_from(0, false)
    }

    fn convert_to_indexed(&mut self) {
        if let ZSet::Listpack(packed) = self {
            let mut indexed = Box::<Indexed>::default();
            for (_, member, score) in packed.entries() {
                indexed.insert(Bytes::copy_from_slice(member), score);
            }
            *self = ZSet::Indexed(indexed);
        }
    }

    /// Approximate bytes of memory, for `MEMORY USAGE`.
    pub fn memory_bytes(&self) -> usize {
        match self {
            ZSet::Listpack(packed) => 16 + packed.bytes.len(),
            ZSet::Indexed(_) => {
                64 + self
                    .iter()
                    .map(|(m, _)| m.len() + INDEXED_ENTRY_OVERHEAD_BYTES)
                    .sum::<usize>()
            }
        }
    }

    /// The same set with every member in its own allocation (see `Value::detached`).
    pub fn detached(self) -> ZSet {
        let listpack = self.is_listpack();
        let entries = self
            .iter()
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            .collect();
        ZSet::from_entries(listpack, entries)
    }
}

/// The `listpack` encoding: entries sorted by `order`, all in one allocation of exactly their size
/// (a boxed slice, so that `Value` holds a sorted set inline). An entry is a head byte, the member,
/// then the score in as few bytes as hold it exactly (`ScoreForm`); the head byte is
/// `form * HEAD_FORM_STRIDE + member length` (members are at most `LISTPACK_VALUE_BYTES_MAX` long).
/// Like Redis's listpack, which keeps integral scores as small integers, this makes a typical small
/// sorted set half the size it is with 8-byte scores.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    bytes: Box<[u8]>,
    len: u8,
}

const _: () = assert!(LISTPACK_ENTRIES_MAX <= u8::MAX as usize);
const HEAD_FORM_STRIDE: usize = LISTPACK_VALUE_BYTES_MAX + 1;
const _: () = assert!(3 * HEAD_FORM_STRIDE <= u8::MAX as usize + 1);

/// How a packed entry stores its score.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ScoreForm {
    /// An integer from -128 to 127 (not -0), in one byte.
    Byte,
    /// A value an `f32` holds exactly, in four bytes.
    Single,
    /// Any other value, in eight.
    Double,
}

impl ScoreForm {
    const ALL: [ScoreForm; 3] = [ScoreForm::Byte, ScoreForm::Single, ScoreForm::Double];

    fn of(score: f64) -> ScoreForm {
        let byte = score as i8;
        if byte as f64 == score && !(score == 0.0 && score.is_sign_negative()) {
            ScoreForm::Byte
        } else if score as f32 as f64 == score {
            ScoreForm::Single
        } else {
            ScoreForm::Double
        }
    }

    fn byte_len(self) -> usize {
        match self {
            ScoreForm::Byte => 1,
            ScoreForm::Single => 4,
            ScoreForm::Double => 8,
        }
    }

    fn encode(self, score: f64, out: &mut Vec<u8>) {
        match self {
            ScoreForm::Byte => out.push(score as i8 as u8),
            ScoreForm::Single => out.extend_from_slice(&(score as f32).to_le_bytes()),
            ScoreForm::Double => out.extend_from_slice(&score.to_le_bytes()),
        }
    }

    fn decode(self, bytes: &[u8]) -> f64 {
        match self {
            ScoreForm::Byte => bytes[0] as i8 as f64,
            ScoreForm::Single => f32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as f64,
            ScoreForm::Double => f64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
        }
    }
}

/// An entry's member length and score form, from its head byte.
fn split_head(head: u8) -> (usize, ScoreForm) {
    let head = head as usize;
    (
        head % HEAD_FORM_STRIDE,
        ScoreForm::ALL[head / HEAD_FORM_STRIDE],
    )
}

impl Packed {
    /// Every entry in order: (offset, member, score).
    fn entries(&self) -> impl Iterator<Item = (usize, &[u8], f64)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let (len, form) = split_head(*self.bytes.get(at)?);
            let member = &self.bytes[at + 1..at + 1 + len];
            let score_at = at + 1 + len;
            let score = form.decode(&self.bytes[score_at..]);
            let entry = (at, member, score);
            at = score_at + form.byte_len();
            Some(entry)
        })
    }

    /// The offset and score of `member`'s entry.
    fn find(&self, member: &[u8]) -> Option<(usize, f64)> {
        self.entries()
            .find(|(_, m, _)| *m == member)
            .map(|(at, _, score)| (at, score))
    }

    /// Inserts an entry for a member not present, in order.
    fn insert(&mut self, member: &[u8], score: f64) {
        let at = self
            .entries()
            .find(|(_, m, s)| order(*s, m, score, member).is_ge())
            .map_or(self.bytes.len(), |(at, _, _)| at);
        let form = ScoreForm::of(score);
        let mut entry = Vec::with_capacity(1 + member.len() + form.byte_len());
        entry.push((form as usize * HEAD_FORM_STRIDE + member.len()) as u8);
        entry.extend_from_slice(member);
        form.encode(score, &mut entry);
        self.edit(|bytes| {
            bytes.splice(at..at, entry);
        });
        self.len += 1;
    }

    fn remove_at(&mut self, at: usize) {
        let (len, form) = split_head(self.bytes[at]);
        let end = at + 1 + len + form.byte_len();
        self.edit(|bytes| {
            bytes.drain(at..end);
        });
        self.len -= 1;
    }

    /// Changes the bytes as a `Vec`, then copies them into an allocation of their exact size.
    /// (Not `into_boxed_slice`: allocators shrink a block in place when the new size is at least
    /// half the old, so an entry just added would keep the doubled capacity's block.)
    fn edit(&mut self, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = std::mem::take(&mut self.bytes).into_vec();
        change(&mut bytes);
        self.bytes = Box::from(bytes.as_slice());
    }
}

impl Indexed {
    fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        let old = self
            .scores
            .insert((member.clone(), score))
            .map(|(_, old)| old);
        match old {
            Some(old) if old == score && old.is_sign_negative() == score.is_sign_negative() => {}
            Some(old) => {
                self.tree.remove(old, &member);
                self.tree.insert(member, score);
            }
            None => self.tree.insert(member, score),
        }
        old
    }
}

/// "No node", in the tree's links.
const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    member: Bytes,
    score: f64,
    priority: u32,
    /// Nodes in the subtree rooted here, this one included.
    size: u32,
    left: u32,
    right: u32,
}

/// The treap. Freed nodes are reused; a tree holds at most `NIL - 1` nodes (asserted: memory runs
/// out long before).
#[derive(Clone, Debug)]
struct Tree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    /// xorshift state for priorities (any sequence independent of the members will do).
    rng: u64,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            rng: rand::random::<u64>() | 1,
        }
    }
}

impl Tree {
    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn node(&self, t: u32) -> &Node {
        &self.nodes[t as usize]
    }

    fn update(&mut self, t: u32) {
        let (l, r) = (self.node(t).left, self.node(t).right);
        self.nodes[t as usize].size = 1 + self.size(l) + self.size(r);
    }

    fn next_priority(&mut self) -> u32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 32) as u32
    }

    /// Splits the subtree `t` into (nodes satisfying `before`, the rest).
    fn split(&mut self, t: u32, before: &impl Fn(&Node) -> bool) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if before(self.node(t)) {
            let (l, r) = self.split(self.node(t).right, before);
            self.nodes[t as usize].right = l;
            self.update(t);
            (t, r)
        } else {
            let (l, r) = self.split(self.node(t).left, before);
            self.nodes[t as usize].left = r;
            self.update(t);
            (l, t)
        }
    }

    /// Joins two subtrees, every node of `a` ordered before every node of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.node(a).priority > self.node(b).priority {
            let right = self.merge(self.node(a).right, b);
            self.nodes[a as usize].right = right;
            self.update(a);
            a
        } else {
            let left = self.merge(a, self.node(b).left);
            self.nodes[b as usize].left = left;
            self.update(b);
            b
        }
    }

    fn insert(&mut self, member: Bytes, score: f64) {
        let key = member.clone();
        let node = Node {
            member,
            score,
            priority: self.next_priority(),
            size: 1,
            left: NIL,
            right: NIL,
        };
        let t = match self.free.pop() {
            Some(t) => {
                self.nodes[t as usize] = node;
                t
            }
            None => {
                assert!(
                    self.nodes.len() < NIL as usize,
                    "sorted set node index overflow"
                );
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.root = self.insert_at(self.root, t, score, &key);
    }

    /// Puts node `n` (holding `score`, `member`) into the subtree `t`; returns the subtree's new
    /// root. It descends by key while the nodes outrank `n`, then splits only the subtree below
    /// around `n`: one pass, where splitting the whole tree and merging twice took three.
    fn insert_at(&mut self, t: u32, n: u32, score: f64, member: &[u8]) -> u32 {
        if t == NIL {
            return n;
        }
        if self.node(n).priority > self.node(t).priority {
            let (l, r) = self.split(t, &|x: &Node| {
                order(x.score, &x.member, score, member).is_lt()
            });
            let node = &mut self.nodes[n as usize];
            (node.left, node.right) = (l, r);
            self.update(n);
            return n;
        }
        let node = self.node(t);
        if order(node.score, &node.member, score, member).is_lt() {
            let right = self.insert_at(node.right, n, score, member);
            self.nodes[t as usize].right = right;
        } else {
            let left = self.insert_at(node.left, n, score, member);
            self.nodes[t as usize].left = left;
        }
        self.nodes[t as usize].size += 1;
        t
    }

    fn remove(&mut self, score: f64, member: &[u8]) {
        self.root = self.remove_at(self.root, score, member);
    }

    /// Takes the node of (`score`, `member`) out of the subtree `t`, which must hold it; returns
    /// the subtree's new root (the node's children merged in its place).
    fn remove_at(&mut self, t: u32, score: f64, member: &[u8]) -> u32 {
        assert!(t != NIL, "a sorted set's tree and map disagree");
        let node = self.node(t);
        match order(node.score, &node.member, score, member) {
            Ordering::Equal => {
                let (l, r) = (node.left, node.right);
                self.nodes[t as usize].member = Bytes::new();
                self.free.push(t);
                return self.merge(l, r);
            }
            Ordering::Less => {
                let right = self.remove_at(node.right, score, member);
                self.nodes[t as usize].right = right;
            }
            Ordering::Greater => {
                let left = self.remove_at(node.left, score, member);
                self.nodes[t as usize].left = left;
            }
        }
        self.nodes[t as usize].size -= 1;
        t
    }

    fn count_while(&self, before: &impl Fn(f64, &[u8]) -> bool) -> usize {
        let (mut t, mut count) = (self.root, 0);
        while t != NIL {
            let n = self.node(t);
            if before(n.score, &n.member) {
                count += self.size(n.left) as usize + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        count
    }

    /// An in-order walk starting at ascending rank `rank` (see `ZSet::iter_from`).
    fn iter_from(&self, rank: usize, rev: bool) -> TreeIter<'_> {
        let mut stack = Vec::new();
        let (mut t, mut rank) = (self.root, rank);
        if rank < self.size(self.root) as usize {
            while t != NIL {
                let n = self.node(t);
                let left = self.size(n.left) as usize;
                match rank.cmp(&left) {
                    Ordering::Less => {
                        if !rev {
                            stack.push(t);
                        }
                        t = n.left;
                    }
                    Ordering::Equal => {
                        stack.push(t);
                        break;
                    }
                    Ordering::Greater => {
                        if rev {
                            stack.push(t);
                        }
                        rank -= left + 1;
                        t = n.right;
                    }
                }
            }
        }
        TreeIter {
            tree: self,
            stack,
            rev,
        }
    }
}

/// Walks the tree in order (or reverse order) from a starting node; the stack holds the nodes
/// still to visit whose subtrees on the walk's side are already done.
struct TreeIter<'a> {
    tree: &'a Tree,
    stack: Vec<u32>,
    rev: bool,
}

impl<'a> Iterator for TreeIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.stack.pop()?;
        let tree = self.tree;
        let n = tree.node(t);
        let mut next = if self.rev { n.left } else { n.right };
        while next != NIL {
            self.stack.push(next);
            let m = tree.node(next);
            next = if self.rev { m.right } else { m.left };
        }
        Some((&n.member[..], n.score))
    }
}

impl Scannable for ZSet {
    fn scan_elements(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        Box::new(self.iter().map(|(m, _)| m))
    }

    fn scan_contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    fn b2(bytes: &[u8]) -> Bytes {
        Bytes::copy_from_slice(bytes)
    }

    fn listed(zset: &ZSet) -> Vec<(Bytes, f64)> {
        zset.iter().map(|(m, s)| (b2(m), s)).collect()
    }

    #[test]
    fn small_sets_are_listpacks_until_a_limit_is_passed() {
        let mut zset = ZSet::default();
        for i in 0..LISTPACK_ENTRIES_MAX {
            assert_eq!(zset.insert(b(&format!("m{i}")), i as f64), None);
        }
        assert_eq!(zset.encoding(), "listpack");
        assert_eq!(zset.insert(b("m0"), 5.5), Some(0.0));
        assert_eq!(zset.encoding(), "listpack");
        zset.insert(b("one-more"), 1.0);
        assert_eq!(zset.encoding(), "skiplist");
        assert_eq!(zset.len(), LISTPACK_ENTRIES_MAX + 1);
        assert_eq!(zset.score(b"m0"), Some(5.5));
        zset.remove(b"one-more");
        assert_eq!(
            zset.encoding(),
            "skiplist",
            "never converts back, as in Redis"
        );

        let mut long = ZSet::default();
        long.insert(Bytes::from(vec![b'x'; LISTPACK_VALUE_BYTES_MAX]), 1.0);
        assert_eq!(long.encoding(), "listpack");
        long.insert(Bytes::from(vec![b'y'; LISTPACK_VALUE_BYTES_MAX + 1]), 1.0);
        assert_eq!(long.encoding(), "skiplist");
    }

    #[test]
    fn a_listpack_costs_its_entries_bytes_and_no_allocation_per_member() {
        let mut zset = ZSet::default();
        for i in 0..100 {
            zset.insert(b(&format!("member{i:02}")), i as f64);
        }
        // Per entry: 1 head byte, 8 member bytes, 1 score byte (small integers).
        assert_eq!(zset.memory_bytes(), 16 + 100 * 10);
        let ZSet::Listpack(packed) = &zset else {
            panic!("listpack expected");
        };
        assert_eq!(packed.bytes.len(), 100 * 10);
    }

    #[test]
    fn packed_scores_read_back_exactly_in_every_form() {
        let scores = [
            0.0,
            -0.0,
            127.0,
            -128.0,
            128.0,
            1.5,
            -2.25,
            0.1,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            16_777_217.0,
        ];
        let mut zset = ZSet::default();
        for (i, &score) in scores.iter().enumerate() {
            zset.insert(b(&format!("m{i}")), score);
        }
        assert!(matches!(zset, ZSet::Listpack(_)));
        for (i, &score) in scores.iter().enumerate() {
            let stored = zset.score(format!("m{i}").as_bytes()).expect("member");
            // (-0 is stored as 0: see `insert`.)
            assert_eq!(stored.to_bits(), (score + 0.0).to_bits(), "score {score}");
        }
        let forms: Vec<ScoreForm> = [0.0, -0.0, 1.5, 0.1].map(ScoreForm::of).to_vec();
        use ScoreForm::*;
        assert_eq!(forms, [Byte, Single, Single, Double]);
    }

    #[test]
    fn ties_order_by_member_bytes() {
        for listpack in [true, false] {
            let zset = ZSet::from_entries(
                listpack,
                vec![
                    (b("b"), 1.0),
                    (b("a"), 1.0),
                    (b("c"), 0.0),
                    (b("z"), f64::NEG_INFINITY),
                ],
            );
            let members: Vec<_> = zset.iter().map(|(m, _)| b2(m)).collect();
            assert_eq!(members, vec![b("z"), b("c"), b("a"), b("b")]);
            assert_eq!(zset.rank(b"a"), Some(2));
        }
    }

    /// Random operations on both encodings, checked after each against a sorted vector.
    #[test]
    fn both_encodings_agree_with_a_naive_model_under_random_operations() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for listpack in [true, false] {
            let mut zset = ZSet::from_entries(listpack, Vec::new());
            let mut model: Vec<(Bytes, f64)> = Vec::new();
            for step in 0..4000 {
                let member = b(&format!("m{}", rng.gen_range(0..300)));
                let score = [0.0, 1.0, -2.5, f64::INFINITY][rng.gen_range(0..4)]
                    + rng.gen_range(0..3) as f64;
                if rng.gen_bool(0.35) {
                    let expected = model.iter().position(|(m, _)| *m == member);
                    let expected = expected.map(|i| model.remove(i).1);
                    assert_eq!(zset.remove(&member), expected);
                } else {
                    let i = model.iter().position(|(m, _)| *m == member);
                    let expected = i.map(|i| model.remove(i).1);
                    model.push((member.clone(), score));
                    model.sort_by(|a, b| order(a.1, &a.0, b.1, &b.0));
                    assert_eq!(zset.insert(member, score), expected);
                }
                assert_eq!(zset.len(), model.len());
                if step % 50 != 0 {
                    continue;
                }
                assert_eq!(listed(&zset), model);
                for (rank, (m, _)) in model.iter().enumerate() {
                    assert_eq!(zset.rank(m), Some(rank));
                }
                let start = rng.gen_range(0..model.len() + 2);
                let up: Vec<_> = zset
                    .iter_from(start, false)
                    .map(|(m, s)| (b2(m), s))
                    .collect();
                assert_eq!(up, model.get(start..).unwrap_or(&[]).to_vec());
                let down: Vec<_> = zset
                    .iter_from(start, true)
                    .map(|(m, s)| (b2(m), s))
                    .collect();
                let mut expected_down = model[..(start + 1).min(model.len())].to_vec();
                if start >= model.len() {
                    expected_down.clear();
                }
                expected_down.reverse();
                assert_eq!(down, expected_down);
                let bound = rng.gen_range(-3.0..5.0);
                assert_eq!(
                    zset.count_while(|s, _| s < bound),
                    model.iter().filter(|(_, s)| *s < bound).count()
                );
            }
        }
    }

    #[test]
    fn a_large_set_keeps_logarithmic_depth() {
        let mut zset = ZSet::from_entries(false, Vec::new());
        for i in 0..100_000 {
            zset.insert(b(&format!("{i:08}")), i as f64);
        }
        assert_eq!(zset.rank(b"00099999"), Some(99_999));
        let first: Vec<_> = zset
            .iter_from(50_000, false)
            .take(2)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(first, vec![50_000.0, 50_001.0]);
    }
}
