//! List commands (Redis's t_list.c): LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LRANGE,
//! LINDEX, LSET, LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP, and the blocking BLPOP,
//! BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP.
//!
//! Every change is computed as a concrete [`ListEdit`] first, then applied (`apply_edit`), so that
//! a write is one deterministic edit of the stored list.
//!
//! Commands whose keys live on several shards (LMOVE, RPOPLPUSH, LMPOP, and the first attempt of a
//! blocking pop) run as a cross-shard transaction: every key is locked, the sources are read on
//! their shards, and the writes go in the transaction's last step so that they are logged as one
//! unit. A blocking command that finds nothing waits through `shard::blocking`: each key's shard
//! serves it in arrival order by running the private pop step below for it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{
    parse_i64, parse_numkeys, parse_pop_count, syntax_error, wrong_type, CommandSpec, Keys, Run,
};
use crate::keyspace::{Db, Delta, List, ListEdit};
use crate::protocol::Reply;
use crate::pubsub::notify::{class, notify_removal};
use crate::router::cluster_refusal;
use crate::router::{exec_on_owner, Txn};
use crate::server::client::Client;
use crate::shard::blocking::{OnReady, Outcome, Wait};
use crate::shard::{Ctx, Request};

const LIST_READ_FAST: &[&str] = &["@read", "@list", "@fast"];
const LIST_READ_SLOW: &[&str] = &["@read", "@list", "@slow"];
const LIST_WRITE_FAST: &[&str] = &["@write", "@list", "@fast"];
const LIST_WRITE_SLOW: &[&str] = &["@write", "@list", "@slow"];
const LIST_BLOCKING: &[&str] = &["@write", "@list", "@slow", "@blocking"];

const PUSH_COMPLEXITY: &str = "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";
const POP_COMPLEXITY: &str = "O(N) where N is the number of elements returned";
const MPOP_COMPLEXITY: &str =
    "O(N+M) where N is the number of provided keys and M is the number of elements returned.";

/// A list command's table entry; the fields that differ are spelled out per command.
const LIST: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "list",
    ..BASE
};

/// Every argument but the last (the timeout) is a key: BLPOP, BRPOP.
const KEYS_THEN_TIMEOUT: Keys = Keys::Range {
    first: 1,
    last: -2,
    step: 1,
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "lpush",
        arity: -3,
        flags: WRITE | DENYOOM | FAST,
        acl: LIST_WRITE_FAST,
        summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        complexity: PUSH_COMPLEXITY,
        run: keyed(lpush),
        ..LIST
    },
    CommandSpec {
        name: "rpush",
        arity: -3,
        flags: WRITE | DENYOOM | FAST,
        acl: LIST_WRITE_FAST,
        summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        complexity: PUSH_COMPLEXITY,
        run: keyed(rpush),
        ..LIST
    },
    CommandSpec {
        name: "lpushx",
        arity: -3,
        flags: WRITE | DENYOOM | FAST,
        acl: LIST_WRITE_FAST,
        summary: "Prepends one or more elements to a list only when the list exists.",
        since: "2.2.0",
        complexity: PUSH_COMPLEXITY,
        run: keyed(lpushx),
        ..LIST
    },
    CommandSpec {
        name: "rpushx",
        arity: -3,
        flags: WRITE | DENYOOM | FAST,
        acl: LIST_WRITE_FAST,
        summary: "Appends an element to a list only when the list exists.",
        since: "2.2.0",
        complexity: PUSH_COMPLEXITY,
        run: keyed(rpushx),
        ..LIST
    },
    CommandSpec {
        name: "lpop",
        arity: -2,
        flags: WRITE | FAST,
        acl: LIST_WRITE_FAST,
        summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        complexity: POP_COMPLEXITY,
        run: keyed(lpop),
        ..LIST
    },
    CommandSpec {
        name: "rpop",
        arity: -2,
        flags: WRITE | FAST,
        acl: LIST_WRITE_FAST,
        summary: "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
        complexity: POP_COMPLEXITY,
        run: keyed(rpop),
        ..LIST
    },
    CommandSpec {
        name: "llen",
        arity: 2,
        flags: READONLY | FAST,
        acl: LIST_READ_FAST,
        summary: "Returns the length of a list.",
        run: keyed(llen),
        ..LIST
    },
    CommandSpec {
        name: "lrange",
        arity: 4,
        flags: READONLY,
        acl: LIST_READ_SLOW,
        summary: "Returns a range of elements from a list.",
        complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
        run: keyed(lrange),
        ..LIST
    },
    CommandSpec {
        name: "lindex",
        arity: 3,
        flags: READONLY,
        acl: LIST_READ_SLOW,
        summary: "Returns an element from a list by its index.",
        complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
        run: keyed(lindex),
        ..LIST
    },
    CommandSpec {
        name: "lset",
        arity: 4,
        flags: WRITE | DENYOOM,
        acl: LIST_WRITE_SLOW,
        summary: "Sets the value of an element in a list by its index.",
        complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
        run: keyed(lset),
        ..LIST
    },
    CommandSpec {
        name: "linsert",
        arity: 5,
        flags: WRITE | DENYOOM,
        acl: LIST_WRITE_SLOW,
        summary: "Inserts an element before or after another element in a list.",
        since: "2.2.0",
        complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
        run: keyed(linsert),
        ..LIST
    },
    CommandSpec {
        name: "lrem",
        arity: 4,
        flags: WRITE,
        acl: LIST_WRITE_SLOW,
        summary: "Removes elements from a list. Deletes the list if the last element was removed.",
        complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
        run: keyed(lrem),
        ..LIST
    },
    CommandSpec {
        name: "ltrim",
        arity: 4,
        flags: WRITE,
        acl: LIST_WRITE_SLOW,
        summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        complexity: "O(N) where N is the number of elements to be removed by the operation.",
        run: keyed(ltrim),
        ..LIST
    },
    CommandSpec {
        name: "lpos",
        arity: -3,
        flags: READONLY,
        acl: LIST_READ_SLOW,
        summary: "Returns the index of matching elements in a list.",
        since: "6.0.6",
        complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
        run: keyed(lpos),
        ..LIST
    },
    CommandSpec {
        name: "lmove",
        arity: 5,
        flags: WRITE | DENYOOM,
        keys: TWO_KEYS,
        acl: LIST_WRITE_SLOW,
        summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        since: "6.2.0",
        run: coordinated(lmove, lmove_across),
        ..LIST
    },
    CommandSpec {
        name: "rpoplpush",
        arity: 3,
        flags: WRITE | DENYOOM,
        keys: TWO_KEYS,
        acl: LIST_WRITE_SLOW,
        summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        since: "1.2.0",
        run: coordinated(rpoplpush, rpoplpush_across),
        ..LIST
    },
    CommandSpec {
        name: "lmpop",
        arity: -4,
        flags: WRITE | MOVABLEKEYS,
        keys: NUMKEYS_KEYS,
        acl: LIST_WRITE_SLOW,
        summary: "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        since: "7.0.0",
        complexity: MPOP_COMPLEXITY,
        run: Run::Client(lmpop),
        ..LIST
    },
    CommandSpec {
        name: "blpop",
        arity: -3,
        flags: WRITE | BLOCKING,
        keys: KEYS_THEN_TIMEOUT,
        acl: LIST_BLOCKING,
        summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        run: Run::Client(blpop),
        ..LIST
    },
    CommandSpec {
        name: "brpop",
        arity: -3,
        flags: WRITE | BLOCKING,
        keys: KEYS_THEN_TIMEOUT,
        acl: LIST_BLOCKING,
        summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        run: Run::Client(brpop),
        ..LIST
    },
    CommandSpec {
        name: "blmove",
        arity: 6,
        flags: WRITE | DENYOOM | BLOCKING,
        keys: TWO_KEYS,
        acl: LIST_BLOCKING,
        summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        since: "6.2.0",
        run: Run::Client(blmove),
        ..LIST
    },
    CommandSpec {
        name: "brpoplpush",
        arity: 4,
        flags: WRITE | DENYOOM | BLOCKING,
        keys: TWO_KEYS,
        acl: LIST_BLOCKING,
        summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.2.0",
        run: Run::Client(brpoplpush),
        ..LIST
    },
    CommandSpec {
        name: "blmpop",
        arity: -5,
        flags: WRITE | BLOCKING | MOVABLEKEYS,
        keys: Keys::None,
        acl: LIST_BLOCKING,
        summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "7.0.0",
        complexity: MPOP_COMPLEXITY,
        run: Run::Client(blmpop),
        ..LIST
    },
];

/// The list at `key`: `None` when the key does not exist, WRONGTYPE when it holds another type.
fn read_list<'a>(db: &'a mut Db, key: &[u8], now_ms: u64) -> Result<Option<&'a List>, Reply> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(entry) => entry.value.as_list().map(Some).ok_or_else(wrong_type),
    }
}

/// Applies `edit` to the list at `key` (whose type the caller checked) as an element-level
/// delta, so that the journal logs the edit, not the list: creates the list for a push to a
/// missing key, deletes the key when the list is left empty.
fn apply_edit(db: &mut Db, key: &[u8], edit: ListEdit, now_ms: u64) {
    let applied = db.apply(key, Delta::List(edit), now_ms);
    debug_assert!(applied.is_ok(), "the caller checked the type");
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Side {
    Left,
    Right,
}

impl Side {
    fn parse(arg: &[u8]) -> Result<Side, Reply> {
        if arg.eq_ignore_ascii_case(b"left") {
            Ok(Side::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Ok(Side::Right)
        } else {
            Err(syntax_error())
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Left => "LEFT",
            Side::Right => "RIGHT",
        }
    }

    /// Redis's keyspace event for a push to this end.
    fn push_event(self) -> &'static str {
        match self {
            Side::Left => "lpush",
            Side::Right => "rpush",
        }
    }

    /// Redis's keyspace event for a pop from this end.
    fn pop_event(self) -> &'static str {
        match self {
            Side::Left => "lpop",
            Side::Right => "rpop",
        }
    }

    fn push(self, elements: Vec<Bytes>) -> ListEdit {
        match self {
            Side::Left => ListEdit::PushLeft(elements),
            Side::Right => ListEdit::PushRight(elements),
        }
    }

    fn pop(self, count: usize) -> ListEdit {
        match self {
            Side::Left => ListEdit::PopLeft(count),
            Side::Right => ListEdit::PopRight(count),
        }
    }

    /// The first `count` elements from this end, in pop order.
    fn take(self, list: &List, count: usize) -> Vec<Bytes> {
        match self {
            Side::Left => list.iter().take(count).cloned().collect(),
            Side::Right => list.iter().rev().take(count).cloned().collect(),
        }
    }
}

fn bulks(elements: impl IntoIterator<Item = Bytes>) -> Vec<Reply> {
    elements.into_iter().map(Reply::Bulk).collect()
}

// ---- Pushes ---------------------------------------------------------------------------------

fn push(ctx: &mut Ctx, args: &[Bytes], side: Side, only_if_exists: bool) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let db = ctx.db();
    let len = attempt!(read_list(db, key, now)).map(List::len);
    if only_if_exists && len.is_none() {
        return Reply::Int(0);
    }
    let added = args.len() - 2;
    apply_edit(db, key, side.push(args[2..].to_vec()), now);
    ctx.notify(class::LIST, side.push_event(), key);
    Reply::Int((len.unwrap_or(0) + added) as i64)
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, Side::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, Side::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, Side::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, Side::Right, true)
}

// ---- Pops -----------------------------------------------------------------------------------

/// Pops up to `count` elements from `side` of the list at `key`: `None` when the key is missing.
fn pop_elements(
    db: &mut Db,
    key: &[u8],
    side: Side,
    count: usize,
    now_ms: u64,
) -> Result<Option<Vec<Bytes>>, Reply> {
    let Some(list) = read_list(db, key, now_ms)? else {
        return Ok(None);
    };
    let popped = side.take(list, count);
    if !popped.is_empty() {
        apply_edit(db, key, side.pop(popped.len()), now_ms);
    }
    Ok(Some(popped))
}

/// Publishes the keyspace events of a pop that took `popped` from `key`: the pop, then `del`
/// when it emptied the list.
fn notify_pop(ctx: &mut Ctx, key: &[u8], side: Side, popped: &Option<Vec<Bytes>>) {
    if popped.as_ref().is_some_and(|p| !p.is_empty()) {
        notify_removal(ctx, class::LIST, side.pop_event(), key);
    }
}

fn pop(ctx: &mut Ctx, args: &[Bytes], side: Side) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let count = match args {
        [_, _] => None,
        [_, _, count] => Some(attempt!(parse_pop_count(count))),
        _ => return super::table::arity_error(if side == Side::Left { "lpop" } else { "rpop" }),
    };
    let popped = attempt!(pop_elements(ctx.db(), key, side, count.unwrap_or(1), now));
    notify_pop(ctx, key, side, &popped);
    match (popped, count) {
        (None, None) => Reply::Nil,
        (None, Some(_)) => Reply::NilArray,
        (Some(mut one), None) => one.pop().map_or(Reply::Nil, Reply::Bulk),
        (Some(many), Some(_)) => Reply::Array(bulks(many)),
    }
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, Side::Left)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, Side::Right)
}

// ---- Reads ----------------------------------------------------------------------------------

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let list = attempt!(read_list(ctx.db(), &args[1], now));
    Reply::Int(list.map_or(0, List::len) as i64)
}

/// Redis's range rule for `start`/`stop` over a list of `len`: negative indexes count from the
/// end; the result is `start..end` (empty when the range misses the list).
fn resolve_range(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop + len
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        (0, 0)
    } else {
        (start as usize, stop as usize + 1)
    }
}

/// A negative index counts from the end; `None` when outside the list.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index + len as i64 } else { index };
    (0..len as i64).contains(&index).then_some(index as usize)
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let start = attempt!(parse_i64(&args[2]));
    let stop = attempt!(parse_i64(&args[3]));
    let Some(list) = attempt!(read_list(ctx.db(), &args[1], now)) else {
        return Reply::Array(Vec::new());
    };
    let (start, end) = resolve_range(start, stop, list.len());
    Reply::Array(bulks(list.range(start, end).cloned()))
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let index = attempt!(parse_i64(&args[2]));
    let Some(list) = attempt!(read_list(ctx.db(), &args[1], now)) else {
        return Reply::Nil;
    };
    resolve_index(index, list.len())
        .and_then(|i| list.get(i).cloned())
        .map_or(Reply::Nil, Reply::Bulk)
}

/// LPOS's options.
struct PosQuery {
    /// 1-based match to start from; negative searches from the tail.
    rank: i64,
    /// `None`: reply the first match only; `Some(0)`: every match.
    count: Option<usize>,
    /// Elements to compare at most (0: all).
    maxlen: usize,
}

impl PosQuery {
    fn parse(options: &[Bytes]) -> Result<PosQuery, Reply> {
        let mut query = PosQuery {
            rank: 1,
            count: None,
            maxlen: 0,
        };
        let mut rest = options.iter();
        while let Some(option) = rest.next() {
            let Some(value) = rest.next() else {
                return Err(syntax_error());
            };
            match option.to_ascii_uppercase().as_slice() {
                b"RANK" => {
                    query.rank = match parse_i64(value)? {
                        0 => return Err(Reply::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")),
                        i64::MIN => return Err(Reply::error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")),
                        n => n,
                    }
                }
                b"COUNT" => match parse_i64(value)? {
                    n if n < 0 => return Err(Reply::error("ERR COUNT can't be negative")),
                    n => query.count = Some(n as usize),
                },
                b"MAXLEN" => match parse_i64(value)? {
                    n if n < 0 => return Err(Reply::error("ERR MAXLEN can't be negative")),
                    n => query.maxlen = n as usize,
                },
                _ => return Err(syntax_error()),
            }
        }
        Ok(query)
    }

    /// The indexes of matching elements, in search order.
    fn search(&self, list: &List, element: &[u8]) -> Vec<i64> {
        let wanted = match self.count {
            None => 1,
            Some(0) => usize::MAX,
            Some(n) => n,
        };
        let compared = if self.maxlen == 0 {
            usize::MAX
        } else {
            self.maxlen
        };
        let skip = (self.rank.unsigned_abs() - 1) as usize;
        let indexed = list.iter().enumerate();
        let hits: Box<dyn Iterator<Item = (usize, &Bytes)>> = if self.rank > 0 {
            Box::new(indexed.take(compared))
        } else {
            Box::new(indexed.rev().take(compared))
        };
        hits.filter(|(_, e)| *e == element)
            .skip(skip)
            .take(wanted)
            .map(|(i, _)| i as i64)
            .collect()
    }
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let query = attempt!(PosQuery::parse(&args[3..]));
    let found = match attempt!(read_list(ctx.db(), &args[1], now)) {
        Some(list) => query.search(list, &args[2]),
        None => Vec::new(),
    };
    match query.count {
        Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
        None => found.first().map_or(Reply::Nil, |&i| Reply::Int(i)),
    }
}

// ---- In-place writes ------------------------------------------------------------------------

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let index = attempt!(parse_i64(&args[2]));
    let db = ctx.db();
    let Some(list) = attempt!(read_list(db, key, now)) else {
        return Reply::error("ERR no such key");
    };
    let Some(index) = resolve_index(index, list.len()) else {
        return Reply::error("ERR index out of range");
    };
    apply_edit(db, key, ListEdit::Set(index, args[3].clone()), now);
    ctx.notify(class::LIST, "lset", key);
    Reply::ok()
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, pivot, element, now) = (&args[1], &args[3], &args[4], ctx.now_ms);
    let after = if args[2].eq_ignore_ascii_case(b"after") {
        true
    } else if args[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return syntax_error();
    };
    let db = ctx.db();
    let Some(list) = attempt!(read_list(db, key, now)) else {
        return Reply::Int(0);
    };
    let Some(at) = list.iter().position(|e| e == pivot) else {
        return Reply::Int(-1);
    };
    let len = list.len();
    apply_edit(
        db,
        key,
        ListEdit::Insert(at + after as usize, element.clone()),
        now,
    );
    ctx.notify(class::LIST, "linsert", key);
    Reply::Int(len as i64 + 1)
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, element, now) = (&args[1], &args[3], ctx.now_ms);
    let count = attempt!(parse_i64(&args[2]));
    let db = ctx.db();
    let Some(list) = attempt!(read_list(db, key, now)) else {
        return Reply::Int(0);
    };
    let removed = list.count_matching(count, element);
    if removed > 0 {
        let edit = ListEdit::Remove {
            count,
            element: element.clone(),
        };
        apply_edit(db, key, edit, now);
        notify_removal(ctx, class::LIST, "lrem", key);
    }
    Reply::Int(removed as i64)
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let start = attempt!(parse_i64(&args[2]));
    let stop = attempt!(parse_i64(&args[3]));
    let db = ctx.db();
    let Some(list) = attempt!(read_list(db, key, now)) else {
        return Reply::ok();
    };
    let len = list.len();
    let (start, end) = resolve_range(start, stop, len);
    if (start, end) != (0, len) {
        apply_edit(db, key, ListEdit::Trim(start, end), now);
    }
    // Redis announces LTRIM on an existing list even when it keeps every element.
    notify_removal(ctx, class::LIST, "ltrim", key);
    Reply::ok()
}

// ---- LMOVE, RPOPLPUSH -----------------------------------------------------------------------

/// Moves one element from `from` of `src` to `to` of `dst` on this shard: `None` when `src` is
/// missing. WRONGTYPE when either key holds another type (the destination is checked only when
/// there is something to move, as in Redis).
fn move_element(
    db: &mut Db,
    src: &[u8],
    dst: &[u8],
    (from, to): (Side, Side),
    now_ms: u64,
) -> Result<Option<Bytes>, Reply> {
    let Some(list) = read_list(db, src, now_ms)? else {
        return Ok(None);
    };
    let single = list.len() == 1;
    let element = from
        .take(list, 1)
        .pop()
        .expect("stored lists are not empty");
    read_list(db, dst, now_ms)?;
    if src == dst && single {
        // Rotating a one-element list changes nothing.
        return Ok(Some(element));
    }
    apply_edit(db, src, from.pop(1), now_ms);
    apply_edit(db, dst, to.push(vec![element.clone()]), now_ms);
    Ok(Some(element))
}

/// Publishes a same-shard move's keyspace events in Redis's order: the push on the destination,
/// the pop on the source, then `del` when the source was emptied.
fn notify_move(
    ctx: &mut Ctx,
    moved: &Result<Option<Bytes>, Reply>,
    keys: (&[u8], &[u8]),
    sides: (Side, Side),
) {
    if let Ok(Some(_)) = moved {
        ctx.notify(class::LIST, sides.1.push_event(), keys.1);
        notify_removal(ctx, class::LIST, sides.0.pop_event(), keys.0);
    }
}

fn lmove_reply(moved: Result<Option<Bytes>, Reply>) -> Reply {
    match moved {
        Ok(element) => element.map_or(Reply::Nil, Reply::Bulk),
        Err(error) => error,
    }
}

/// LMOVE's two sides (`wherefrom wherto`).
fn parse_sides(from: &[u8], to: &[u8]) -> Result<(Side, Side), Reply> {
    Ok((Side::parse(from)?, Side::parse(to)?))
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sides = attempt!(parse_sides(&args[3], &args[4]));
    move_here(ctx, args, sides)
}

/// LMOVE's move with both keys on this shard, with its keyspace events.
fn move_here(ctx: &mut Ctx, args: &[Bytes], sides: (Side, Side)) -> Reply {
    let now = ctx.now_ms;
    let moved = move_element(ctx.db(), &args[1], &args[2], sides, now);
    notify_move(ctx, &moved, (&args[1], &args[2]), sides);
    lmove_reply(moved)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    move_here(ctx, args, (Side::Right, Side::Left))
}

/// Reads the element LMOVE would take from a source list (Nil when missing): `list-peek-step key
/// LEFT|RIGHT`.
static PEEK_STEP: CommandSpec = CommandSpec {
    name: "list-peek-step",
    arity: 3,
    flags: READONLY,
    acl: LIST_READ_FAST,
    run: keyed(peek_step),
    ..LIST
};

fn peek_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let side = attempt!(Side::parse(&args[2]));
    match attempt!(read_list(ctx.db(), &args[1], now)) {
        Some(list) => side.take(list, 1).pop().map_or(Reply::Nil, Reply::Bulk),
        None => Reply::Nil,
    }
}

/// LLEN as a private read step: the type check and length of a key in a cross-shard plan.
static LEN_STEP: CommandSpec = CommandSpec {
    name: "list-len-step",
    arity: 2,
    flags: READONLY,
    acl: LIST_READ_FAST,
    run: keyed(llen),
    ..LIST
};

/// Pushes elements as a cross-shard write step: `list-push-step key LEFT|RIGHT element...`.
static PUSH_STEP: CommandSpec = CommandSpec {
    name: "list-push-step",
    arity: -4,
    flags: WRITE,
    acl: LIST_WRITE_FAST,
    run: keyed(push_step),
    ..LIST
};

fn push_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let side = attempt!(Side::parse(&args[2]));
    let mut push_args = vec![args[0].clone(), args[1].clone()];
    push_args.extend_from_slice(&args[3..]);
    push(ctx, &push_args, side, false)
}

fn step_request(spec: &'static CommandSpec, args: Vec<Bytes>, db: usize, resp3: bool) -> Request {
    Request {
        spec,
        db,
        resp3,
        args,
    }
}

fn step_name(spec: &CommandSpec) -> Bytes {
    Bytes::from_static(spec.name.as_bytes())
}

/// LMOVE with its two keys on two shards: both are locked, the source's element and the
/// destination's type are read, then the pop and the push run as one transaction.
async fn move_across(client: &Client, src: &Bytes, dst: &Bytes, (from, to): (Side, Side)) -> Reply {
    let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
    let txn = Txn::lock(shard, db, &[src.clone(), dst.clone()]).await;
    let peek_args = vec![
        step_name(&PEEK_STEP),
        src.clone(),
        Bytes::from_static(from.name().as_bytes()),
    ];
    let element = match txn.run_for_key(src, &PEEK_STEP, peek_args, resp3).await {
        Reply::Bulk(element) => element,
        other => {
            txn.finish().await;
            return other;
        }
    };
    let check = vec![step_name(&LEN_STEP), dst.clone()];
    let dst_type = txn.run_for_key(dst, &LEN_STEP, check, resp3).await;
    if dst_type.is_error() {
        txn.finish().await;
        return dst_type;
    }
    let pop_args = pop_step_args(from, 1, Shape::Plain, std::slice::from_ref(src));
    let push_args = vec![
        step_name(&PUSH_STEP),
        dst.clone(),
        Bytes::from_static(to.name().as_bytes()),
        element.clone(),
    ];
    let writes = vec![
        (
            shard.owner_of(src),
            step_request(&POP_STEP, pop_args, db, resp3),
        ),
        (
            shard.owner_of(dst),
            step_request(&PUSH_STEP, push_args, db, resp3),
        ),
    ];
    let replies = txn.run_and_finish(writes).await;
    match replies.into_iter().find(Reply::is_error) {
        Some(error) => error,
        None => Reply::Bulk(element),
    }
}

fn lmove_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let sides = attempt!(parse_sides(&args[3], &args[4]));
        move_across(client, &args[1], &args[2], sides).await
    })
}

fn rpoplpush_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(
        async move { move_across(client, &args[1], &args[2], (Side::Right, Side::Left)).await },
    )
}

// ---- LMPOP and the pop step -----------------------------------------------------------------

/// The reply shape of a pop from the first non-empty of several lists.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// LPOP/RPOP without a count: the element.
    Plain,
    /// BLPOP/BRPOP: `[key, element]`.
    KeyElement,
    /// LMPOP/BLMPOP: `[key, [elements...]]`.
    KeyElements,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Plain => "plain",
            Shape::KeyElement => "key-element",
            Shape::KeyElements => "key-elements",
        }
    }

    fn parse(arg: &[u8]) -> Option<Shape> {
        match arg {
            b"plain" => Some(Shape::Plain),
            b"key-element" => Some(Shape::KeyElement),
            b"key-elements" => Some(Shape::KeyElements),
            _ => None,
        }
    }

    fn reply(self, key: &Bytes, mut popped: Vec<Bytes>) -> Reply {
        match self {
            Shape::Plain => popped.pop().map_or(Reply::Nil, Reply::Bulk),
            Shape::KeyElement => Reply::Array(vec![
                Reply::Bulk(key.clone()),
                popped.pop().map_or(Reply::Nil, Reply::Bulk),
            ]),
            Shape::KeyElements => {
                Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(bulks(popped))])
            }
        }
    }

    /// What a command replies when nothing was popped (or a blocking one timed out).
    fn nothing(self) -> Reply {
        match self {
            Shape::Plain => Reply::Nil,
            Shape::KeyElement | Shape::KeyElements => Reply::NilArray,
        }
    }
}

/// Pops from the first non-empty of the keys on this shard: `list-pop-step LEFT|RIGHT count shape
/// key...`. WRONGTYPE for a key of another type met before a non-empty list. When it runs to
/// serve a blocked client (`shard::blocking`), it claims that client before changing anything
/// and changes nothing if the claim fails.
///
/// BLPOP and BRPOP are queued in MULTI as this step (`in_multi`); when their keys span shards,
/// the EXEC runs its coordinated plan (`pop_step_across`) at its place in the queue.
static POP_STEP: CommandSpec = CommandSpec {
    name: "list-pop-step",
    arity: -5,
    flags: WRITE,
    keys: Keys::Range {
        first: 4,
        last: -1,
        step: 1,
    },
    acl: LIST_WRITE_FAST,
    run: coordinated(pop_step, pop_step_across),
    ..LIST
};

/// The pop step's arguments before its keys: side, count, reply shape.
fn parse_pop_step(args: &[Bytes]) -> Option<(Side, usize, Shape)> {
    let side = Side::parse(&args[1]).ok()?;
    let count = parse_pop_count(&args[2]).ok()?;
    Some((side, count, Shape::parse(&args[3])?))
}

fn pop_step_args(side: Side, count: usize, shape: Shape, keys: &[Bytes]) -> Vec<Bytes> {
    let mut args = vec![
        step_name(&POP_STEP),
        Bytes::from_static(side.name().as_bytes()),
        Bytes::from(count.to_string()),
        Bytes::from_static(shape.name().as_bytes()),
    ];
    args.extend_from_slice(keys);
    args
}

fn pop_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some((side, count, shape)) = parse_pop_step(args) else {
        return syntax_error();
    };
    let now = ctx.now_ms;
    for key in &args[4..] {
        if attempt!(read_list(ctx.db(), key, now)).is_none() {
            continue;
        }
        if !ctx.shard.blocking.claim() {
            return shape.nothing();
        }
        let popped = attempt!(pop_elements(ctx.db(), key, side, count, now));
        notify_pop(ctx, key, side, &popped);
        return shape.reply(key, popped.unwrap_or_default());
    }
    shape.nothing()
}

/// The pop step over keys of several shards (a BLPOP or BRPOP queued in MULTI): the pop from the
/// first non-empty key in argument order, under the EXEC's locks, as LMPOP pops.
fn pop_step_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let Some((side, count, shape)) = parse_pop_step(&args) else {
            return syntax_error();
        };
        pop_first(client, side, count, shape, &args[4..]).await
    })
}

/// A pop from the first non-empty of `keys`, wherever they live: on their one shard, or as a
/// cross-shard transaction (every key locked, each read in order, the pop as the last step).
async fn pop_first(
    client: &Client,
    side: Side,
    count: usize,
    shape: Shape,
    keys: &[Bytes],
) -> Reply {
    let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
    let owner = shard.owner_of(&keys[0]);
    if keys.iter().all(|k| shard.owner_of(k) == owner) {
        let req = step_request(
            &POP_STEP,
            pop_step_args(side, count, shape, keys),
            db,
            resp3,
        );
        let reply = exec_on_owner(shard, owner, vec![req]).await.pop();
        return reply.unwrap_or(Reply::error("ERR shard did not answer"));
    }
    let pop = |key: &Bytes| {
        let args = pop_step_args(side, count, shape, std::slice::from_ref(key));
        step_request(&POP_STEP, args, db, resp3)
    };
    Txn::lock(shard, db, keys)
        .await
        .pop_first_nonempty(keys, &LEN_STEP, pop, resp3)
        .await
        .unwrap_or_else(|| shape.nothing())
}

/// LMPOP's and BLMPOP's arguments after the timeout: `numkeys key... LEFT|RIGHT [COUNT count]`.
struct MpopArgs {
    keys: Vec<Bytes>,
    side: Side,
    count: usize,
}

impl MpopArgs {
    fn parse(args: &[Bytes]) -> Result<MpopArgs, Reply> {
        let numkeys = parse_numkeys(&args[0])?;
        if numkeys >= args.len() - 1 {
            return Err(syntax_error());
        }
        let keys = args[1..=numkeys].to_vec();
        let side = Side::parse(&args[numkeys + 1])?;
        let mut count = None;
        let mut rest = args[numkeys + 2..].iter();
        while let Some(option) = rest.next() {
            match (option.eq_ignore_ascii_case(b"count"), rest.next(), count) {
                (true, Some(value), None) => match parse_i64(value) {
                    Ok(n) if n > 0 => count = Some(n as usize),
                    _ => return Err(Reply::error("ERR count should be greater than 0")),
                },
                _ => return Err(syntax_error()),
            }
        }
        Ok(MpopArgs {
            keys,
            side,
            count: count.unwrap_or(1),
        })
    }
}

fn lmpop(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let query = attempt!(MpopArgs::parse(&args[1..]));
        if let Some(refusal) = cluster_refusal(client, query.keys.iter().map(|k| &k[..])) {
            return refusal;
        }
        pop_first(
            client,
            query.side,
            query.count,
            Shape::KeyElements,
            &query.keys,
        )
        .await
    })
}

// ---- Blocking commands ----------------------------------------------------------------------

/// Longest timeout, in milliseconds, that still gives a deadline Redis can represent.
const TIMEOUT_MS_MAX: f64 = i64::MAX as f64;

/// A blocking command's timeout in seconds: `None` for 0 (wait forever), else how long to wait;
/// Redis's errors for text that is not a number, a negative one, or one too large.
pub(super) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    let not_float = || Reply::error("ERR timeout is not a float or out of range");
    let text = std::str::from_utf8(arg).map_err(|_| not_float())?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(not_float());
    }
    let seconds: f64 = text.parse().map_err(|_| not_float())?;
    if seconds.is_nan() {
        return Err(not_float());
    }
    let ms = (seconds * 1000.0).ceil();
    if ms > TIMEOUT_MS_MAX {
        return Err(Reply::error("ERR timeout is out of range"));
    }
    if ms < 0.0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

/// The form a blocking list command takes when queued in MULTI: Redis runs it at once, as if its
/// timeout had passed, so it is queued as the non-blocking step that answers the same (BLPOP as
/// the pop step with its reply shape, BLMPOP as LMPOP, BLMOVE as LMOVE, BRPOPLPUSH as
/// RPOPLPUSH).
/// `None` for other commands; the error for arguments the command refuses.
pub fn in_multi(name: &str, args: &[Bytes]) -> Option<super::InMulti> {
    let command = |name: &'static str, args: Vec<Bytes>| {
        let spec = super::lookup(name.as_bytes()).expect("in the table");
        (spec, args)
    };
    let form = match name {
        "blpop" | "brpop" => parse_timeout(&args[args.len() - 1]).map(|_| {
            let side = if name == "blpop" {
                Side::Left
            } else {
                Side::Right
            };
            let keys = &args[1..args.len() - 1];
            let step = pop_step_args(side, 1, Shape::KeyElement, keys);
            (&POP_STEP, step)
        }),
        // As LMPOP, which routes itself: its keys may span shards.
        "blmpop" => parse_timeout(&args[1])
            .and_then(|_| MpopArgs::parse(&args[2..]))
            .map(|_| {
                let mut lmpop = args[1..].to_vec();
                lmpop[0] = Bytes::from_static(b"lmpop");
                command("lmpop", lmpop)
            }),
        "blmove" => parse_sides(&args[3], &args[4])
            .and_then(|_| parse_timeout(&args[5]))
            .map(|_| {
                let mut moved = args[..5].to_vec();
                moved[0] = Bytes::from_static(b"lmove");
                command("lmove", moved)
            }),
        "brpoplpush" => parse_timeout(&args[3]).map(|_| {
            let moved = vec![
                Bytes::from_static(b"rpoplpush"),
                args[1].clone(),
                args[2].clone(),
            ];
            command("rpoplpush", moved)
        }),
        _ => return None,
    };
    Some(form)
}

/// A blocking command's non-blocking form.
enum Attempt {
    /// Pop from the first non-empty of `keys`.
    Pop {
        keys: Vec<Bytes>,
        side: Side,
        count: usize,
        shape: Shape,
    },
    /// Move one element from `src` to `dst`.
    Move {
        src: Bytes,
        dst: Bytes,
        sides: (Side, Side),
    },
}

impl Attempt {
    /// The reply, or `None` when there is nothing to take yet.
    async fn run(&self, client: &Client) -> Option<Reply> {
        let (reply, nothing) = match self {
            Attempt::Pop {
                keys,
                side,
                count,
                shape,
            } => (
                pop_first(client, *side, *count, *shape, keys).await,
                shape.nothing(),
            ),
            Attempt::Move { src, dst, sides } => {
                (move_once(client, src, dst, *sides).await, Reply::Nil)
            }
        };
        (reply != nothing).then_some(reply)
    }
}

/// What one blocking command does: try at once; otherwise wait on its keys until served.
struct BlockingPop {
    attempt: Attempt,
    /// The keys to wait on, with what their shard runs to serve this client.
    waits: Vec<(Bytes, OnReady)>,
    timeout: Option<Duration>,
    /// The reply for a timeout.
    nothing: Reply,
}

impl BlockingPop {
    async fn run(self, client: &Client) -> Reply {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let keys: Vec<Bytes> = self.waits.iter().map(|(k, _)| k.clone()).collect();
        if let Some(refusal) = cluster_refusal(client, keys.iter().map(|k| &k[..])) {
            return refusal;
        }
        loop {
            if let Some(reply) = self.attempt.run(client).await {
                return reply;
            }
            let wait = Wait {
                db: client.db(),
                resp3: client.resp3(),
                keys: self.waits.clone(),
                deadline,
            };
            match client.shard.block(&client.handle, wait).await {
                Outcome::Served(reply) => return reply,
                // A key is ready for work that needs other shards: try again (and hand the key on
                // to the next waiter once done).
                Outcome::Woken(key) => {
                    let reply = self.attempt.run(client).await;
                    client.shard.signal_ready(client.db(), key).await;
                    if let Some(reply) = reply {
                        return reply;
                    }
                }
                Outcome::Unblocked { error: true } => {
                    return Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
                }
                Outcome::TimedOut | Outcome::Unblocked { error: false } | Outcome::Closed => {
                    return self.nothing
                }
            }
        }
    }
}

/// BLPOP and BRPOP: `key... timeout`.
fn block_pop(client: &mut Client, args: Vec<Bytes>, side: Side) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let timeout = attempt!(parse_timeout(&args[args.len() - 1]));
        let keys = args[1..args.len() - 1].to_vec();
        blocking_pop_first(client, keys, side, 1, Shape::KeyElement, timeout).await
    })
}

async fn blocking_pop_first(
    client: &Client,
    keys: Vec<Bytes>,
    side: Side,
    count: usize,
    shape: Shape,
    timeout: Option<Duration>,
) -> Reply {
    let serve = |key: &Bytes| OnReady::Serve {
        spec: &POP_STEP,
        args: pop_step_args(side, count, shape, std::slice::from_ref(key)),
    };
    let op = BlockingPop {
        waits: keys.iter().map(|k| (k.clone(), serve(k))).collect(),
        attempt: Attempt::Pop {
            keys,
            side,
            count,
            shape,
        },
        timeout,
        nothing: shape.nothing(),
    };
    op.run(client).await
}

fn blpop(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    block_pop(client, args, Side::Left)
}

fn brpop(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    block_pop(client, args, Side::Right)
}

/// BLMPOP: `timeout numkeys key... LEFT|RIGHT [COUNT count]`.
fn blmpop(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let timeout = attempt!(parse_timeout(&args[1]));
        let query = attempt!(MpopArgs::parse(&args[2..]));
        let shape = Shape::KeyElements;
        blocking_pop_first(client, query.keys, query.side, query.count, shape, timeout).await
    })
}

/// Serves a blocked BLMOVE whose two keys share a shard: `list-move-step src dst LEFT|RIGHT
/// LEFT|RIGHT`, claiming the client first (see `POP_STEP`).
static MOVE_STEP: CommandSpec = CommandSpec {
    name: "list-move-step",
    arity: 5,
    flags: WRITE,
    keys: TWO_KEYS,
    acl: LIST_WRITE_SLOW,
    run: keyed(move_step),
    ..LIST
};

fn move_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sides = attempt!(parse_sides(&args[3], &args[4]));
    let now = ctx.now_ms;
    let db = ctx.db();
    if attempt!(read_list(db, &args[1], now)).is_none() || !ctx.shard.blocking.claim() {
        return Reply::Nil;
    }
    move_here(ctx, args, sides)
}

async fn blocking_move(
    client: &Client,
    src: Bytes,
    dst: Bytes,
    sides: (Side, Side),
    timeout: Option<Duration>,
) -> Reply {
    let shard = &client.shard;
    let on_ready = if shard.owner_of(&src) == shard.owner_of(&dst) {
        let mut args = vec![step_name(&MOVE_STEP), src.clone(), dst.clone()];
        args.extend([sides.0.name(), sides.1.name()].map(|s| Bytes::from_static(s.as_bytes())));
        OnReady::Serve {
            spec: &MOVE_STEP,
            args,
        }
    } else {
        // The pop and the push are on two shards: the source's shard only wakes this client,
        // which moves the element as a cross-shard transaction.
        OnReady::Wake
    };
    let op = BlockingPop {
        waits: vec![(src.clone(), on_ready)],
        attempt: Attempt::Move { src, dst, sides },
        timeout,
        // Redis answers a timed-out BLMOVE with a null array, not a null string.
        nothing: Reply::NilArray,
    };
    op.run(client).await
}

/// LMOVE from a client: on the keys' one shard, or across shards.
async fn move_once(client: &Client, src: &Bytes, dst: &Bytes, sides: (Side, Side)) -> Reply {
    let shard = &client.shard;
    let owner = shard.owner_of(src);
    if owner != shard.owner_of(dst) {
        return move_across(client, src, dst, sides).await;
    }
    let mut args = vec![Bytes::from_static(b"lmove"), src.clone(), dst.clone()];
    args.extend([sides.0.name(), sides.1.name()].map(|s| Bytes::from_static(s.as_bytes())));
    let spec = super::lookup(b"lmove").expect("lmove is in the table");
    let req = step_request(spec, args, client.db(), client.resp3());
    let reply = shard.exec_on(owner, vec![req], None).await.pop();
    reply.unwrap_or(Reply::error("ERR shard did not answer"))
}

/// BLMOVE: `source destination LEFT|RIGHT LEFT|RIGHT timeout`.
fn blmove(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let sides = attempt!(parse_sides(&args[3], &args[4]));
        let timeout = attempt!(parse_timeout(&args[5]));
        blocking_move(client, args[1].clone(), args[2].clone(), sides, timeout).await
    })
}

/// BRPOPLPUSH: `source destination timeout`.
fn brpoplpush(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let timeout = attempt!(parse_timeout(&args[3]));
        let sides = (Side::Right, Side::Left);
        blocking_move(client, args[1].clone(), args[2].clone(), sides, timeout).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_redis_rules() {
        assert_eq!(resolve_range(0, -1, 5), (0, 5));
        assert_eq!(resolve_range(-100, 100, 5), (0, 5));
        assert_eq!(resolve_range(3, 1, 5), (0, 0));
        assert_eq!(resolve_range(5, 10, 5), (0, 0));
        assert_eq!(resolve_range(-2, -1, 5), (3, 5));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(-4, 3), None);
    }

    #[test]
    fn timeouts_parse_as_redis_does() {
        assert_eq!(parse_timeout(b"0"), Ok(None));
        assert_eq!(parse_timeout(b"0.0001"), Ok(Some(Duration::from_millis(1))));
        assert_eq!(parse_timeout(b"1.5"), Ok(Some(Duration::from_millis(1500))));
        let negative = Err(Reply::error("ERR timeout is negative"));
        assert_eq!(parse_timeout(b"-1"), negative);
        let not_float = Err(Reply::error("ERR timeout is not a float or out of range"));
        for bad in [&b"abc"[..], b"", b" 1", b"nan"] {
            assert_eq!(parse_timeout(bad), not_float);
        }
        assert_eq!(
            parse_timeout(b"1e400"),
            Err(Reply::error("ERR timeout is out of range"))
        );
    }
}
