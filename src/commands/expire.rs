//! Expiry commands (Redis's expire.c): EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST. Deadlines are absolute Unix milliseconds in `Db`; expired keys
//! are never visible (lazy expiry in `Db`, the active cycle in `shard::serve`).

use bytes::Bytes;

use super::spec::*;
use super::{parse_i64, CommandSpec};
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::shard::Ctx;

const KEYSPACE_WRITE_FAST: &[&str] = &["@keyspace", "@write", "@fast"];
const KEYSPACE_READ_FAST: &[&str] = &["@keyspace", "@read", "@fast"];

/// The shape of EXPIRE and its siblings; only the name, summary, unit and base differ.
const SET_DEADLINE: CommandSpec = CommandSpec {
    arity: -3,
    flags: WRITE | FAST,
    keys: KEY1,
    acl: KEYSPACE_WRITE_FAST,
    ..BASE
};

/// The shape of TTL and its siblings.
const GET_DEADLINE: CommandSpec = CommandSpec {
    arity: 2,
    flags: READONLY | FAST,
    keys: KEY1,
    acl: KEYSPACE_READ_FAST,
    ..BASE
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "expire",
        summary: "Sets the expiration time of a key in seconds.",
        run: keyed(expire),
        ..SET_DEADLINE
    },
    CommandSpec {
        name: "pexpire",
        summary: "Sets the expiration time of a key in milliseconds.",
        since: "2.6.0",
        run: keyed(pexpire),
        ..SET_DEADLINE
    },
    CommandSpec {
        name: "expireat",
        summary: "Sets the expiration time of a key to a Unix timestamp.",
        since: "1.2.0",
        run: keyed(expireat),
        ..SET_DEADLINE
    },
    CommandSpec {
        name: "pexpireat",
        summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        since: "2.6.0",
        run: keyed(pexpireat),
        ..SET_DEADLINE
    },
    CommandSpec {
        name: "ttl",
        summary: "Returns the expiration time in seconds of a key.",
        run: keyed(ttl),
        ..GET_DEADLINE
    },
    CommandSpec {
        name: "pttl",
        summary: "Returns the expiration time in milliseconds of a key.",
        since: "2.6.0",
        run: keyed(pttl),
        ..GET_DEADLINE
    },
    CommandSpec {
        name: "expiretime",
        summary: "Returns the expiration time of a key as a Unix timestamp.",
        since: "7.0.0",
        run: keyed(expiretime),
        ..GET_DEADLINE
    },
    CommandSpec {
        name: "pexpiretime",
        summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        since: "7.0.0",
        run: keyed(pexpiretime),
        ..GET_DEADLINE
    },
    CommandSpec {
        name: "persist",
        arity: 2,
        flags: WRITE | FAST,
        keys: KEY1,
        acl: KEYSPACE_WRITE_FAST,
        summary: "Removes the expiration time of a key.",
        since: "2.2.0",
        run: keyed(persist),
        ..BASE
    },
];

/// What the time argument of an EXPIRE-family command counts from, and in which unit.
#[derive(Clone, Copy)]
struct TimeArg {
    /// The command's name, for its error text.
    command: &'static str,
    seconds: bool,
    /// Relative to now (EXPIRE, PEXPIRE) rather than to the Unix epoch (EXPIREAT, PEXPIREAT).
    relative: bool,
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let arg = TimeArg {
        command: "expire",
        seconds: true,
        relative: true,
    };
    reply_of(set_deadline(ctx, args, arg))
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let arg = TimeArg {
        command: "pexpire",
        seconds: false,
        relative: true,
    };
    reply_of(set_deadline(ctx, args, arg))
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let arg = TimeArg {
        command: "expireat",
        seconds: true,
        relative: false,
    };
    reply_of(set_deadline(ctx, args, arg))
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let arg = TimeArg {
        command: "pexpireat",
        seconds: false,
        relative: false,
    };
    reply_of(set_deadline(ctx, args, arg))
}

fn reply_of(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|error| error)
}

/// The NX / XX / GT / LT conditions (Redis 7).
#[derive(Default, Clone, Copy)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Conditions {
    fn parse(args: &[Bytes]) -> Result<Conditions, Reply> {
        let mut c = Conditions::default();
        for arg in args {
            match arg.to_ascii_uppercase().as_slice() {
                b"NX" => c.nx = true,
                b"XX" => c.xx = true,
                b"GT" => c.gt = true,
                b"LT" => c.lt = true,
                _ => {
                    return Err(Reply::error(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(arg)
                    )))
                }
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(Reply::error(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(Reply::error(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a new deadline `when_ms` may replace `current_ms` (None: the key has no TTL, which
    /// counts as an infinite one for GT and LT).
    fn allow(self, current_ms: Option<i64>, when_ms: i64) -> bool {
        match current_ms {
            None => !(self.xx || self.gt),
            Some(current) => {
                !(self.nx || self.gt && when_ms <= current || self.lt && when_ms >= current)
            }
        }
    }
}

/// The absolute deadline in Unix ms, refusing what overflows as Redis does. Negative and past
/// deadlines are valid: they delete the key.
fn deadline_ms(arg: &[u8], time: TimeArg, now_ms: u64) -> Result<i64, Reply> {
    let invalid = || {
        Reply::error(format!(
            "ERR invalid expire time in '{}' command",
            time.command
        ))
    };
    let mut when = parse_i64(arg)?;
    if time.seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if time.relative {
        when = when.checked_add(now_ms as i64).ok_or_else(invalid)?;
    }
    Ok(when)
}

/// EXPIRE key time [NX | XX | GT | LT], and its siblings: 1 when the deadline was set (or the key
/// deleted for a deadline already past), 0 when the key is missing or a condition refused.
fn set_deadline(ctx: &mut Ctx, args: &[Bytes], time: TimeArg) -> Result<Reply, Reply> {
    // Redis checks the options before the time argument.
    let conditions = Conditions::parse(&args[3..])?;
    let now = ctx.now_ms;
    let when = deadline_ms(&args[2], time, now)?;
    let key = &args[1];
    let db = ctx.db();
    let Some(entry) = db.get(key, now) else {
        return Ok(Reply::Int(0));
    };
    let current = entry.expire_at_ms().map(|at| at as i64);
    if !conditions.allow(current, when) {
        return Ok(Reply::Int(0));
    }
    let event = if when <= now as i64 {
        db.delete(key);
        "del"
    } else {
        db.set_expire(key, Some(when as u64), now);
        "expire"
    };
    ctx.notify(class::GENERIC, event, key);
    Ok(Reply::Int(1))
}

/// -2 when the key is missing, -1 when it has no TTL, else `show(deadline_ms, now_ms)`.
fn deadline_reply(ctx: &mut Ctx, key: &[u8], show: fn(u64, u64) -> u64) -> Reply {
    let now = ctx.now_ms;
    match ctx.db().get(key, now) {
        None => Reply::Int(-2),
        Some(entry) => match entry.expire_at_ms() {
            None => Reply::Int(-1),
            Some(at) => Reply::Int(show(at, now) as i64),
        },
    }
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Rounded to the nearest second, as Redis does.
    deadline_reply(ctx, &args[1], |at, now| {
        (at.saturating_sub(now) + 500) / 1000
    })
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    deadline_reply(ctx, &args[1], |at, now| at.saturating_sub(now))
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Rounded to the nearest second like TTL, as Redis does (the last second of
    // `PEXPIREAT k 9223372036854775807` included).
    deadline_reply(ctx, &args[1], |at, _| (at + 500) / 1000)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    deadline_reply(ctx, &args[1], |at, _| at)
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    let has_ttl = matches!(db.get(&args[1], now), Some(e) if e.expire_at_ms().is_some());
    if has_ttl {
        db.set_expire(&args[1], None, now);
        ctx.notify(class::GENERIC, "persist", &args[1]);
    }
    Reply::Int(has_ttl as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(opts: &[&str]) -> Conditions {
        let args: Vec<Bytes> = opts.iter().map(|o| Bytes::from(o.to_string())).collect();
        Conditions::parse(&args).unwrap()
    }

    #[test]
    fn gt_and_lt_treat_a_key_without_ttl_as_infinite() {
        assert!(!conditions(&["GT"]).allow(None, 5));
        assert!(conditions(&["LT"]).allow(None, 5));
        assert!(conditions(&["GT"]).allow(Some(4), 5));
        assert!(!conditions(&["GT"]).allow(Some(5), 5));
        assert!(!conditions(&["LT"]).allow(Some(5), 5));
        assert!(conditions(&["nx"]).allow(None, 5));
        assert!(!conditions(&["xx"]).allow(None, 5));
        assert!(conditions(&["xx", "gt"]).allow(Some(1), 5));
    }

    #[test]
    fn deadlines_that_overflow_are_refused() {
        let expire = TimeArg {
            command: "expire",
            seconds: true,
            relative: true,
        };
        // Fits once in ms, but not with a 2023 "now" added.
        assert!(deadline_ms(b"9223372036854775", expire, 1_700_000_000_000).is_err());
        assert!(deadline_ms(b"9223372036854776", expire, 0).is_err());
        assert!(deadline_ms(b"-9223372036854775808", expire, 1).is_err());
        assert_eq!(deadline_ms(b"-5", expire, 10_000), Ok(5_000));
        let pexpireat = TimeArg {
            command: "pexpireat",
            seconds: false,
            relative: false,
        };
        assert_eq!(
            deadline_ms(b"9223372036854775807", pexpireat, 1),
            Ok(i64::MAX)
        );
    }
}
