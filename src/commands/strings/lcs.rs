//! LCS: the longest common subsequence of two strings (Redis 7's `lcsCommand`), as the string, its
//! length (LEN) or the matching ranges (IDX).
//!
//! Both keys on one shard: `lcs` runs there. On several shards (main port): `lcs_across` reads
//! both strings under the cross-shard locks (or the EXEC's, inside MULTI) and computes here.
//!
//! The table is the classic O(len1 × len2) dynamic programme, one `u32` per cell. Redis refuses a
//! table larger than `proto-max-bulk-len`; Keel also refuses one over `LCS_TABLE_BYTES_MAX`, so
//! that one command cannot take a shard's memory or stall it for long (at the limit, about 16M
//! cells: tens of milliseconds).

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::read_string;
use crate::commands::{parse_i64, syntax_error, CommandSpec};
use crate::protocol::Reply;
use crate::router::Txn;
use crate::server::client::Client;
use crate::shard::Ctx;

/// The largest LCS table built, in bytes (4 per cell: (len1 + 1) × (len2 + 1) cells). Past it
/// LCS answers an "Insufficient memory" error and builds nothing.
pub const LCS_TABLE_BYTES_MAX: u64 = 64 * 1024 * 1024;

const NOT_STRINGS: &str = "ERR The specified keys must contain string values";

/// What the options ask for.
#[derive(Default)]
struct Options {
    len: bool,
    idx: bool,
    with_match_len: bool,
    /// Ranges shorter than this are left out of IDX's matches (0: none).
    min_match_len: u64,
}

fn parse_options(args: &[Bytes]) -> Result<Options, Reply> {
    let mut options = Options::default();
    let mut i = 3;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        let more = i + 1 < args.len();
        match opt.as_slice() {
            b"IDX" => options.idx = true,
            b"LEN" => options.len = true,
            b"WITHMATCHLEN" => options.with_match_len = true,
            b"MINMATCHLEN" if more => {
                options.min_match_len = parse_i64(&args[i + 1])?.max(0) as u64;
                i += 1;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    if options.idx && options.len {
        return Err(Reply::error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(options)
}

/// LCS with both keys on this shard. Missing keys are empty strings.
pub(super) fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let a = attempt!(read_string(ctx, &args[1]).map_err(|_| Reply::error(NOT_STRINGS)));
    let b = attempt!(read_string(ctx, &args[2]).map_err(|_| Reply::error(NOT_STRINGS)));
    let bulk_max = ctx.shard.config.borrow().proto_max_bulk_len;
    answer(
        args,
        &a.unwrap_or_default(),
        &b.unwrap_or_default(),
        bulk_max,
    )
}

/// LCS with its keys on two shards: read both under the transaction's locks, then compute.
pub(super) fn lcs_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
        let txn = Txn::lock(shard, db, &args[1..3]).await;
        let reads = args[1..3].iter().map(|key| {
            let get = vec![Bytes::from_static(b"get"), key.clone()];
            txn.run_for_key(key, get_spec(), get, resp3)
        });
        let values = futures::future::join_all(reads).await;
        txn.finish().await;
        let mut strings = Vec::with_capacity(2);
        for value in values {
            strings.push(match value {
                Reply::Bulk(bytes) => bytes,
                Reply::Nil => Bytes::new(),
                _ => return Reply::error(NOT_STRINGS),
            });
        }
        let bulk_max = client.shard.config.borrow().proto_max_bulk_len;
        answer(&args, &strings[0], &strings[1], bulk_max)
    })
}

/// GET's table entry: the read step run on each key's shard.
fn get_spec() -> &'static CommandSpec {
    crate::commands::lookup(b"get").expect("GET is in the table")
}

/// The reply for strings `a` and `b`, after the options are checked (Redis checks the types
/// first, then the options, then the table's size).
fn answer(args: &[Bytes], a: &[u8], b: &[u8], bulk_max: usize) -> Reply {
    let options = attempt!(parse_options(args));
    let table_bytes = (a.len() as u64 + 1) * (b.len() as u64 + 1) * 4;
    if table_bytes > bulk_max as u64 {
        return Reply::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    if table_bytes > LCS_TABLE_BYTES_MAX {
        return Reply::error(format!(
            "ERR Insufficient memory, transient memory for LCS exceeds the {LCS_TABLE_BYTES_MAX} bytes Keel allows"
        ));
    }
    let table = Table::build(a, b);
    if options.len {
        return Reply::Int(table.at(a.len(), b.len()) as i64);
    }
    let (common, ranges) = table.walk_back(a, b);
    if !options.idx {
        return Reply::Bulk(Bytes::from(common));
    }
    let matches = ranges
        .into_iter()
        .filter(|r| r.len() >= options.min_match_len)
        .map(|r| r.reply(options.with_match_len))
        .collect();
    Reply::Map(vec![
        (Reply::bulk_str("matches"), Reply::Array(matches)),
        (Reply::bulk_str("len"), Reply::Int(common.len() as i64)),
    ])
}

/// `cells[i * (b_len + 1) + j]`: the LCS length of `a[..i]` and `b[..j]`.
struct Table {
    cells: Vec<u32>,
    width: usize,
}

impl Table {
    fn build(a: &[u8], b: &[u8]) -> Table {
        let width = b.len() + 1;
        let mut cells = vec![0u32; (a.len() + 1) * width];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Table { cells, width }
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// The common subsequence, and its runs of consecutive matches as ranges, last first: Redis's
    /// walk from the table's end (on a tie it steps back in `b`), so the same LCS is chosen.
    fn walk_back(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<Match>) {
        let mut common = Vec::with_capacity(self.at(a.len(), b.len()) as usize);
        let mut ranges = Vec::new();
        let mut open: Option<Match> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                common.push(a[i - 1]);
                let run = match open.take() {
                    Some(run) if run.a_start == i && run.b_start == j => Match {
                        a_start: i - 1,
                        b_start: j - 1,
                        ..run
                    },
                    Some(run) => {
                        ranges.push(run);
                        Match::at(i - 1, j - 1)
                    }
                    None => Match::at(i - 1, j - 1),
                };
                i -= 1;
                j -= 1;
                if i == 0 || j == 0 {
                    ranges.push(run);
                } else {
                    open = Some(run);
                }
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                ranges.extend(open.take());
            }
        }
        ranges.extend(open);
        common.reverse();
        (common, ranges)
    }
}

/// A run of consecutive matches: `a[a_start..=a_end]` equals `b[b_start..=b_end]`.
struct Match {
    a_start: usize,
    a_end: usize,
    b_start: usize,
    b_end: usize,
}

impl Match {
    fn at(i: usize, j: usize) -> Match {
        Match {
            a_start: i,
            a_end: i,
            b_start: j,
            b_end: j,
        }
    }

    fn len(&self) -> u64 {
        (self.a_end - self.a_start + 1) as u64
    }

    fn reply(&self, with_len: bool) -> Reply {
        let pair = |start: usize, end: usize| {
            Reply::Array(vec![Reply::Int(start as i64), Reply::Int(end as i64)])
        };
        let mut items = vec![
            pair(self.a_start, self.a_end),
            pair(self.b_start, self.b_end),
        ];
        if with_len {
            items.push(Reply::Int(self.len() as i64));
        }
        Reply::Array(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(a: &str, b: &str) -> Vec<(usize, usize, usize, usize)> {
        let table = Table::build(a.as_bytes(), b.as_bytes());
        let (_, ranges) = table.walk_back(a.as_bytes(), b.as_bytes());
        ranges
            .iter()
            .map(|r| (r.a_start, r.a_end, r.b_start, r.b_end))
            .collect()
    }

    #[test]
    fn walk_back_gives_redis_ranges_last_first() {
        // As redis-server 7.0 answers LCS ... IDX for the docs' example.
        assert_eq!(
            ranges("ohmytext", "mynewtext"),
            vec![(4, 7, 5, 8), (2, 3, 0, 1)]
        );
        assert_eq!(
            ranges("ABCBDAB", "BDCABA"),
            vec![(5, 6, 3, 4), (3, 4, 0, 1)]
        );
        assert!(ranges("", "abc").is_empty());
    }
}
