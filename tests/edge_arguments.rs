//! Extreme arguments (the largest and smallest counts, offsets, indexes, scores, IDs and TTLs)
//! for every command family, against a real server: each gets a reply, an error or a value,
//! and the server keeps answering. A command that panicked used to stop its shard (and now
//! aborts the whole server); `SPOP s 9223372036854775807` did.

mod common;

use std::time::Duration;

use common::Server;

/// Keys every command finds in place (restored before each one).
const SETUP: &[&str] = &[
    "DEL s h z l str x p g bm",
    "SADD s a b c",
    "HSET h a 1",
    "ZADD z 1 a 2 b",
    "RPUSH l a b",
    "SET str hello",
    "XADD x 1-1 f v",
    "XGROUP CREATE x g 0",
    "PFADD p a",
    "GEOADD g 13.36 38.11 a",
    "SETBIT bm 7 1",
];

/// One command a line; `L`, `N` and `M` stand for i64::MAX, -i64::MAX and i64::MIN.
const COMMANDS: &str = "\
SRANDMEMBER s L
SRANDMEMBER s N
HRANDFIELD h L
HRANDFIELD h N
HRANDFIELD h L WITHVALUES
ZRANDMEMBER z L WITHSCORES
ZRANDMEMBER z N
LRANGE l M L
LPOS l a RANK M
LPOS l a MAXLEN L
LPOS l a COUNT L
LINDEX l M
LSET l M x
LTRIM l M L
LMPOP 1 l LEFT COUNT L
LPOP l L
SPOP s L
ZPOPMIN z L
ZMPOP 1 z MIN COUNT L
ZRANGE z M L
ZRANGE z 0 -1 BYSCORE LIMIT M L
ZRANGE z 0 -1 BYSCORE LIMIT 0 N
ZRANGESTORE z2 z M L
ZREMRANGEBYRANK z M L
ZRANGEBYLEX z - + LIMIT L L
GETRANGE str M L
SETRANGE str L x
SETRANGE str 536870911 x
SUBSTR str M L
BITCOUNT str M L
BITCOUNT str M L BIT
BITPOS str 1 M L
BITPOS str 1 M L BIT
BITFIELD bm GET i64 L
BITFIELD bm INCRBY i64 0 L
BITFIELD bm OVERFLOW FAIL INCRBY i64 0 L
BITFIELD bm SET i64 #4294967295 1
BITFIELD_RO bm GET u63 #L
SETBIT bm 4294967295 1
GETBIT bm L
INCRBY str2 L
INCRBY cnt L
INCRBY cnt 1
DECRBY cnt2 M
DECRBY cnt2 N
INCRBYFLOAT f 1e308
INCRBYFLOAT f 1e308
INCRBYFLOAT f inf
HINCRBY h a L
HINCRBY h a L
HINCRBYFLOAT h b 1e308
HINCRBYFLOAT h b 1e308
ZINCRBY z inf a
ZINCRBY z -inf a
ZADD z nan x
ZADD z INCR inf a
EXPIRE str L
PEXPIRE str L
EXPIREAT str L
PEXPIREAT str L
SET k v EX L
SET k v PX L
SET k v EXAT L
GETEX str EX L
GETEX str PXAT L
RESTORE r L x
OBJECT ENCODING str
SCAN L COUNT L
SCAN 0 COUNT L
SSCAN s 0 COUNT L
HSCAN h L
ZSCAN z 0 COUNT L
XRANGE x - + COUNT L
XRANGE x - + COUNT N
XREVRANGE x + - COUNT L
XADD x 18446744073709551615-18446744073709551615 f v
XADD x * f v
XTRIM x MAXLEN L
XTRIM x MINID L
XAUTOCLAIM x g c L 0
XGROUP CREATE x g 0
XREADGROUP GROUP g c COUNT L STREAMS x >
XPENDING x g - + L
XAUTOCLAIM x g c 0 0 COUNT L
XCLAIM x g c L 1-1
XINFO STREAM x FULL COUNT L
XSETID x L-L
GEOSEARCH g FROMLONLAT 0 0 BYRADIUS 1e300 m COUNT L
GEORADIUS g 0 0 1e308 km COUNT L
GEOADD g 180 85.05112878 b
GEODIST g a b km
SORT l LIMIT M L
SORT l LIMIT L L
SORT_RO l LIMIT 0 N
LCS str str MINMATCHLEN L
LCS str str IDX MINMATCHLEN N
PFCOUNT p p p
OBJECT FREQ str
MEMORY USAGE l SAMPLES L
SRANDMEMBER s M
BLPOP l L
CLIENT NO-EVICT on
LATENCY HISTOGRAM set
COMMAND GETKEYS SET
MOVE str L
COPY str c2 DB L
DBSIZE
LMOVE l l LEFT RIGHT
RPOPLPUSH l l
LINSERT l BEFORE a L
LREM l M a
LREM l L a
LPUSHX l a
LMPOP L l LEFT
LMPOP 0 l LEFT
ZUNIONSTORE d L z
ZUNIONSTORE d 1 z WEIGHTS 1e308
ZUNIONSTORE d 2 z z WEIGHTS inf -inf
ZINTER L z
ZDIFF M z
SINTERCARD L s
SINTERCARD 1 s LIMIT M
ZINTERCARD 1 z LIMIT L
SMISMEMBER s a
SMOVE s s a
SUNIONSTORE s s s
ZRANGEBYSCORE z -inf +inf LIMIT M L
ZRANGEBYSCORE z (inf (-inf
ZCOUNT z nan 1
ZLEXCOUNT z [a [b
ZREVRANGEBYLEX z + - LIMIT 0 N
ZMSCORE z a b
ZRANK z a WITHSCORE
HSTRLEN h a
HGETALL h
HMGET h a b
HSETNX h a 1
HEXPIRE h L FIELDS 1 a
GETDEL str
GETSET str v
MSETNX a1 1 a2 2
MSET {x}a 1 {x}b
APPEND str x
STRLEN str
SETEX k L v
SETEX k 0 v
PSETEX k N v
SETNX k v
DECR str
INCR cnt3
TTL str
PTTL str
EXPIRETIME str
OBJECT IDLETIME str
TYPE x
TOUCH str s h
UNLINK str
RENAME nosuch x
RENAMENX s s
RANDOMKEY
KEYS *
KEYS [
KEYS [a-
SCAN 0 MATCH [ COUNT 1
SCAN 0 TYPE string COUNT 0
DUMP s
DUMP x
DUMP g
FUNCTION LIST
CONFIG SET slowlog-max-len L
CONFIG SET latency-monitor-threshold L
CONFIG GET *
SLOWLOG GET L
SLOWLOG GET N
LATENCY HISTORY command
LATENCY LATEST
CLIENT LIST
INFO everything
CLUSTER INFO
CLUSTER SLOTS
CLUSTER KEYSLOT x
CLUSTER COUNTKEYSINSLOT L
CLUSTER GETKEYSINSLOT 0 L
CLUSTER GETKEYSINSLOT L 1
ECHO x
PUBLISH ch m
PUBSUB NUMSUB a
SPUBLISH ch m
OBJECT HELP
MEMORY DOCTOR
MEMORY STATS
LASTSAVE
XADD x MAXLEN L * f v
XADD x MAXLEN ~ L LIMIT L * f v
XADD x MINID L * f v
XADD x NOMKSTREAM L-0 f v
XGROUP CREATE x g2 $ ENTRIESREAD L
XGROUP SETID x g L-L ENTRIESREAD L
XSETID x L-L ENTRIESADDED L MAXDELETEDID L-L
XSETID x 1-1 ENTRIESADDED 0 MAXDELETEDID 0-0
XINFO STREAM x FULL COUNT 0
XINFO GROUPS x
XINFO CONSUMERS x g
XDEL x L-L
XACK x g L-L
XGROUP CREATECONSUMER x g c
XGROUP DELCONSUMER x g c
XREADGROUP GROUP g c COUNT 0 STREAMS x 0
XPENDING x g IDLE L - + 10
XCLAIM x g c 0 1-1 IDLE L RETRYCOUNT L FORCE
XCLAIM x g c 0 1-1 TIME L
XAUTOCLAIM x g c 0 0 COUNT 0
LPOS l a MAXLEN 0 COUNT 0
LPOS l a RANK 0
ZRANGESTORE d z 0 -1 BYSCORE LIMIT 0 L
ZADD z GT LT 1 a
ZADD z NX XX 1 a
ZADD z 1e309 a
ZADD z -1e309 a
ZADD z 0x10 a
GEOADD g 181 0 a
GEOADD g 0 86 a
GEOPOS g a nosuch
GEOHASH g a
GEOSEARCHSTORE d g FROMMEMBER a BYBOX L L km COUNT 1
GEOSEARCH g FROMMEMBER a BYBOX 1e300 1e300 km
GEORADIUSBYMEMBER g a 0 m STORE d
PFADD p a b c
PFMERGE p p
PFDEBUG GETREG p
PFSELFTEST
PFCOUNT p
PFCOUNT p2
PFADD p2 x
SETRANGE hy 0 HYLL
PFCOUNT hy
OBJECT ENCODING g
OBJECT ENCODING x
OBJECT ENCODING p
OBJECT REFCOUNT l
SORT l BY nosort GET # GET *->f
SORT s ALPHA STORE d
SORT h
SORT z BY w_* LIMIT 0 L
COPY x x2
COPY g {g} REPLACE
RENAME x {x}y
MOVE x 1
";

fn expand(word: &str) -> &str {
    match word {
        "L" => "9223372036854775807",
        "N" => "-9223372036854775807",
        "M" => "-9223372036854775808",
        other => other,
    }
}

fn run(con: &mut redis::Connection, line: &str) -> redis::RedisResult<redis::Value> {
    let mut words = line.split_whitespace().map(expand);
    let mut command = redis::cmd(words.next().expect("a command name"));
    for word in words {
        command.arg(word);
    }
    command.query(con)
}

#[test]
fn every_command_answers_extreme_arguments_and_the_server_keeps_running() {
    let server = Server::start(2, &["--appendonly", "no"]);
    let mut con = server.client();
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for line in COMMANDS.lines() {
        for setup in SETUP {
            run(&mut con, setup).unwrap_or_else(|e| panic!("{setup}: {e}"));
        }
        // An error reply is an answer; a closed connection or a timeout is not.
        if let Err(e) = run(&mut con, line) {
            assert!(
                e.kind() != redis::ErrorKind::IoError,
                "{line}: no answer ({e}); server log:\n{}",
                server.log()
            );
        }
        let mut probe = server.client();
        let pong: String = redis::cmd("PING").query(&mut probe).unwrap_or_else(|e| {
            panic!(
                "the server stopped answering after {line}: {e}\n{}",
                server.log()
            )
        });
        assert_eq!(pong, "PONG");
    }
}
