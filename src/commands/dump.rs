//! DUMP and RESTORE (Redis's cluster.c): a key's value as a payload in Redis's serialisation
//! format (`keyspace::rdb`), so that values move between Keel and Redis.

use bytes::Bytes;

use super::spec::*;
use super::{parse_i64, syntax_error, CommandSpec};
use crate::keyspace::rdb::{self, RestoreError};
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::shard::Ctx;

/// RESTORE's FREQ must be a valid LFU counter.
const LFU_FREQ_MAX: i64 = 255;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "dump",
        arity: 2,
        flags: READONLY,
        keys: KEY1,
        acl: &["@keyspace", "@read", "@slow"],
        summary: "Returns a serialized representation of the value stored at a key.",
        since: "2.6.0",
        complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
        run: keyed(dump),
        ..BASE
    },
    CommandSpec {
        name: "restore",
        arity: -4,
        flags: WRITE | DENYOOM,
        keys: KEY1,
        acl: &["@keyspace", "@write", "@slow", "@dangerous"],
        summary: "Creates a key from the serialized representation of a value.",
        since: "2.6.0",
        complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
        run: keyed(restore),
        ..BASE
    },
];

fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let Some(entry) = ctx.db().get(&args[1], now) else {
        return Reply::Nil;
    };
    Reply::Bulk(Bytes::from(rdb::dump(&entry.value)))
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
}

impl RestoreOptions {
    /// Parses as Redis does: IDLETIME and FREQ exclude each other (a syntax error). Keel tracks
    /// neither access times nor frequencies, so their values are checked and then ignored.
    fn parse(args: &[Bytes]) -> Result<RestoreOptions, Reply> {
        let mut opts = RestoreOptions::default();
        let (mut idletime, mut freq) = (false, false);
        let mut i = 0;
        while i < args.len() {
            let word = args[i].to_ascii_lowercase();
            let has_value = i + 1 < args.len();
            match word.as_slice() {
                b"replace" => opts.replace = true,
                b"absttl" => opts.absttl = true,
                b"idletime" if has_value && !freq => {
                    if parse_i64(&args[i + 1])? < 0 {
                        return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
                    }
                    idletime = true;
                    i += 1;
                }
                b"freq" if has_value && !idletime => {
                    if !(0..=LFU_FREQ_MAX).contains(&parse_i64(&args[i + 1])?) {
                        return Err(Reply::error(
                            "ERR Invalid FREQ value, must be >= 0 and <= 255",
                        ));
                    }
                    freq = true;
                    i += 1;
                }
                _ => return Err(syntax_error()),
            }
            i += 1;
        }
        Ok(opts)
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]: checks in Redis's order
/// (options, existing key, TTL, payload), then stores the value whole through `Db::insert`.
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = match RestoreOptions::parse(&args[4..]) {
        Ok(opts) => opts,
        Err(e) => return e,
    };
    let (key, now) = (&args[1], ctx.now_ms);
    if !opts.replace && ctx.db().contains(key, now) {
        return Reply::error("BUSYKEY Target key name already exists.");
    }
    let ttl = match parse_i64(&args[2]) {
        Ok(ttl) if ttl < 0 => return Reply::error("ERR Invalid TTL value, must be >= 0"),
        Ok(ttl) => ttl as u64,
        Err(e) => return e,
    };
    let value = match rdb::restore(&args[3]) {
        Ok(value) => value,
        Err(RestoreError::VersionOrChecksum) => {
            return Reply::error("ERR DUMP payload version or checksum are wrong")
        }
        Err(RestoreError::BadFormat) => return Reply::error("ERR Bad data format"),
    };
    let expire_at_ms = match ttl {
        0 => None,
        ttl if opts.absttl => Some(ttl),
        ttl => Some(now.saturating_add(ttl)),
    };
    if expire_at_ms.is_some_and(|at| at <= now) {
        // Already expired: the old value (REPLACE) goes, and nothing is stored.
        if opts.replace && ctx.db().delete(key) {
            ctx.notify(class::GENERIC, "del", key);
        }
        return Reply::ok();
    }
    ctx.db().insert(key, value, expire_at_ms);
    ctx.notify(class::GENERIC, "restore", key);
    Reply::ok()
}
