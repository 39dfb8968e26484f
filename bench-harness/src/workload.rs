//! The request mixes keel-bench can send, and how each reply counts as a hit or a miss.
//!
//! A [`Workload`] names the mix; an [`OpGen`] is one client's generator of requests for it.

use crate::args::BenchConfig;
use crate::keys::KeyGen;
use crate::limits::ORDERS_REMEMBERED_MAX;
use crate::resp::{encode_command, push_decimal, ReplyHead};
use crate::rng::Rng;
use std::collections::VecDeque;

/// A named request mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// memtier's SET:GET mix (`--ratio`).
    MemtierMix,
    /// SET only: the fsync-bound path when the server journals every write.
    DurableWrite,
    /// ZADD / ZRANGEBYSCORE / ZREM on order books, 2:2:1.
    Orderbook,
    /// ZINCRBY / ZREVRANGE / ZRANK on leaderboards, 2:1:1.
    Leaderboard,
    /// HSET / HGETALL / EXPIRE on session hashes, 1:3:1.
    Session,
}

/// Players per leaderboard.
const LEADERBOARD_PLAYERS: u64 = 10_000;
/// Orderbook prices are integer ticks in `PRICE_TICK_MIN..PRICE_TICK_MIN + PRICE_TICKS`.
const PRICE_TICK_MIN: u64 = 10_000;
const PRICE_TICKS: u64 = 1_000;
/// Width of the price window one ZRANGEBYSCORE reads, in ticks.
const PRICE_WINDOW_TICKS: u64 = 50;
/// Session time-to-live set by EXPIRE, seconds.
const SESSION_TTL_SECS: &[u8] = b"1800";

/// Whether a reply found what it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    /// A write: neither.
    Write,
    Error,
}

impl Workload {
    pub fn parse(name: &str) -> Result<Workload, String> {
        match name {
            "memtier" | "default" => Ok(Workload::MemtierMix),
            "durable-write" => Ok(Workload::DurableWrite),
            "orderbook" => Ok(Workload::Orderbook),
            "leaderboard" => Ok(Workload::Leaderboard),
            "session" => Ok(Workload::Session),
            other => Err(format!(
                "--workload: unknown workload {other:?} \
                 (memtier, durable-write, orderbook, leaderboard, session)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::MemtierMix => "memtier",
            Workload::DurableWrite => "durable-write",
            Workload::Orderbook => "orderbook",
            Workload::Leaderboard => "leaderboard",
            Workload::Session => "session",
        }
    }

    /// Row labels of the results table, indexed by op number.
    pub fn op_names(self) -> &'static [&'static str] {
        match self {
            Workload::MemtierMix => &["Sets", "Gets"],
            Workload::DurableWrite => &["Sets"],
            Workload::Orderbook => &["Zadds", "Zrangebyscores", "Zrems"],
            Workload::Leaderboard => &["Zincrbys", "Zrevranges", "Zranks"],
            Workload::Session => &["Hsets", "Hgetalls", "Expires"],
        }
    }

    /// The key-index maximum this workload uses unless `--key-maximum` is given.
    pub fn default_key_maximum(self) -> Option<u64> {
        match self {
            Workload::MemtierMix | Workload::DurableWrite => None,
            Workload::Orderbook => Some(99),
            Workload::Leaderboard => Some(9),
            Workload::Session => Some(9_999),
        }
    }

    /// How the reply to op `op` counts.
    pub fn classify(self, op: u8, head: &ReplyHead) -> Outcome {
        if matches!(head, ReplyHead::Error { .. }) {
            return Outcome::Error;
        }
        let found = |yes: bool| if yes { Outcome::Hit } else { Outcome::Miss };
        match (self, op) {
            (Workload::MemtierMix | Workload::DurableWrite, 1) => {
                found(!matches!(head, ReplyHead::Bulk { nil: true }))
            }
            (Workload::Orderbook, 1) | (Workload::Leaderboard, 1) | (Workload::Session, 1) => {
                found(matches!(head, ReplyHead::Array { len } if *len > 0))
            }
            (Workload::Orderbook, 2) | (Workload::Session, 2) => {
                found(matches!(head, ReplyHead::Integer(n) if *n > 0))
            }
            (Workload::Leaderboard, 2) => found(matches!(head, ReplyHead::Integer(_))),
            _ => Outcome::Write,
        }
    }
}

/// One client's request generator: each call to [`OpGen::next`] leaves the encoded command in
/// `cmd()` and its key in `key()`.
pub struct OpGen {
    workload: Workload,
    ratio: (u32, u32),
    cycle_pos: u64,
    write_keys: KeyGen,
    read_keys: KeyGen,
    rng: Rng,
    prefix: Vec<u8>,
    value: Vec<u8>,
    client_index: u64,
    sequence: u64,
    /// Orders this client placed and has not yet removed: (book index, order sequence).
    orders: VecDeque<(u64, u64)>,
    key: Vec<u8>,
    cmd: Vec<u8>,
    scratch: Vec<u8>,
}

impl OpGen {
    /// The generator for client `client_index` of `client_count` (over all threads).
    pub fn new(cfg: &BenchConfig, client_index: u64, client_count: u64) -> OpGen {
        let base_seed = if cfg.randomize {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        } else {
            0x6b65_656c // "keel"
        };
        let seed = if cfg.distinct_client_seed {
            base_seed.wrapping_add(client_index.wrapping_mul(0x9E37_79B9))
        } else {
            base_seed
        };
        let keygen = |p| KeyGen::new(p, cfg.key_min, cfg.key_max, client_index, client_count);
        OpGen {
            workload: cfg.workload,
            ratio: cfg.ratio,
            cycle_pos: 0,
            write_keys: keygen(cfg.key_pattern.0),
            read_keys: keygen(cfg.key_pattern.1),
            rng: Rng::new(seed),
            prefix: cfg.key_prefix.as_bytes().to_vec(),
            value: vec![b'x'; cfg.data_size],
            client_index,
            sequence: 0,
            orders: VecDeque::new(),
            key: Vec::new(),
            cmd: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn cmd(&self) -> &[u8] {
        &self.cmd
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Generates the next request; returns its op number (row of the results table).
    pub fn next(&mut self) -> u8 {
        self.cmd.clear();
        self.sequence += 1;
        let step = self.cycle_pos;
        self.cycle_pos += 1;
        match self.workload {
            Workload::MemtierMix | Workload::DurableWrite => self.memtier(step),
            Workload::Orderbook => self.orderbook(step),
            Workload::Leaderboard => self.leaderboard(step),
            Workload::Session => self.session(step),
        }
    }

    fn make_key(&mut self, kind: &[u8], index: u64) {
        self.key.clear();
        self.key.extend_from_slice(&self.prefix);
        self.key.extend_from_slice(kind);
        push_decimal(&mut self.key, index);
    }

    fn memtier(&mut self, step: u64) -> u8 {
        let (sets, gets) = (self.ratio.0 as u64, self.ratio.1 as u64);
        let is_set = step % (sets + gets) < sets;
        if is_set {
            let k = self.write_keys.next(&mut self.rng);
            self.make_key(b"", k);
            encode_command(&mut self.cmd, &[b"SET", &self.key, &self.value]);
            0
        } else {
            let k = self.read_keys.next(&mut self.rng);
            self.make_key(b"", k);
            encode_command(&mut self.cmd, &[b"GET", &self.key]);
            1
        }
    }

    fn orderbook(&mut self, step: u64) -> u8 {
        match step % 5 {
            1 | 3 => {
                let book = self.read_keys.next(&mut self.rng);
                self.make_key(b"book:", book);
                let lo = PRICE_TICK_MIN + self.rng.below(PRICE_TICKS);
                let (lo, hi) = (lo.to_string(), (lo + PRICE_WINDOW_TICKS).to_string());
                let args: [&[u8]; 7] = [
                    b"ZRANGEBYSCORE",
                    &self.key,
                    lo.as_bytes(),
                    hi.as_bytes(),
                    b"LIMIT",
                    b"0",
                    b"10",
                ];
                encode_command(&mut self.cmd, &args);
                1
            }
            4 if !self.orders.is_empty() => {
                let (book, seq) = self.orders.pop_front().expect("checked non-empty");
                self.make_key(b"book:", book);
                self.order_member(seq);
                encode_command(&mut self.cmd, &[b"ZREM", &self.key, &self.scratch]);
                2
            }
            _ => {
                let book = self.write_keys.next(&mut self.rng);
                self.make_key(b"book:", book);
                let seq = self.sequence;
                self.order_member(seq);
                if self.orders.len() == ORDERS_REMEMBERED_MAX {
                    self.orders.pop_front();
                }
                self.orders.push_back((book, seq));
                let price = (PRICE_TICK_MIN + self.rng.below(PRICE_TICKS)).to_string();
                encode_command(
                    &mut self.cmd,
                    &[b"ZADD", &self.key, price.as_bytes(), &self.scratch],
                );
                0
            }
        }
    }

    /// Writes the member name of this client's order `seq` into `scratch`.
    fn order_member(&mut self, seq: u64) {
        self.scratch.clear();
        self.scratch.extend_from_slice(b"o:");
        push_decimal(&mut self.scratch, self.client_index);
        self.scratch.push(b':');
        push_decimal(&mut self.scratch, seq);
    }

    fn player(&mut self) {
        self.scratch.clear();
        self.scratch.extend_from_slice(b"player:");
        let p = self.rng.below(LEADERBOARD_PLAYERS);
        push_decimal(&mut self.scratch, p);
    }

    fn leaderboard(&mut self, step: u64) -> u8 {
        match step % 4 {
            1 => {
                let board = self.read_keys.next(&mut self.rng);
                self.make_key(b"lb:", board);
                let args: [&[u8]; 5] = [b"ZREVRANGE", &self.key, b"0", b"9", b"WITHSCORES"];
                encode_command(&mut self.cmd, &args);
                1
            }
            3 => {
                let board = self.read_keys.next(&mut self.rng);
                self.make_key(b"lb:", board);
                self.player();
                encode_command(&mut self.cmd, &[b"ZRANK", &self.key, &self.scratch]);
                2
            }
            _ => {
                let board = self.write_keys.next(&mut self.rng);
                self.make_key(b"lb:", board);
                self.player();
                let incr = (1 + self.rng.below(100)).to_string();
                encode_command(
                    &mut self.cmd,
                    &[b"ZINCRBY", &self.key, incr.as_bytes(), &self.scratch],
                );
                0
            }
        }
    }

    fn session(&mut self, step: u64) -> u8 {
        match step % 5 {
            0 => {
                let id = self.write_keys.next(&mut self.rng);
                self.make_key(b"session:", id);
                let user = format!("u{id}");
                let seen = self.sequence.to_string();
                let args: [&[u8]; 8] = [
                    b"HSET",
                    &self.key,
                    b"user",
                    user.as_bytes(),
                    b"last_seen",
                    seen.as_bytes(),
                    b"data",
                    &self.value,
                ];
                encode_command(&mut self.cmd, &args);
                0
            }
            4 => {
                let id = self.read_keys.next(&mut self.rng);
                self.make_key(b"session:", id);
                encode_command(&mut self.cmd, &[b"EXPIRE", &self.key, SESSION_TTL_SECS]);
                2
            }
            _ => {
                let id = self.read_keys.next(&mut self.rng);
                self.make_key(b"session:", id);
                encode_command(&mut self.cmd, &[b"HGETALL", &self.key]);
                1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(workload: Workload) -> BenchConfig {
        BenchConfig {
            workload,
            key_max: workload.default_key_maximum().unwrap_or(100),
            ..BenchConfig::default()
        }
    }

    #[test]
    fn memtier_mix_follows_the_ratio() {
        let mut cfg = config(Workload::MemtierMix);
        cfg.ratio = (1, 3);
        let mut g = OpGen::new(&cfg, 0, 1);
        let ops: Vec<u8> = (0..8).map(|_| g.next()).collect();
        assert_eq!(ops, vec![0, 1, 1, 1, 0, 1, 1, 1]);
        assert!(g.cmd().starts_with(b"*2\r\n$3\r\nGET\r\n$"));
        assert!(g.key().starts_with(b"memtier-"));
    }

    #[test]
    fn orderbook_removes_orders_it_placed() {
        let mut g = OpGen::new(&config(Workload::Orderbook), 0, 1);
        let mut placed = Vec::new();
        for _ in 0..10 {
            let op = g.next();
            let text = String::from_utf8_lossy(g.cmd()).to_string();
            let member = text.split("\r\n").nth(8).unwrap_or("").to_string();
            match op {
                0 => placed.push(member),
                2 => {
                    let removed = text.split("\r\n").nth(6).unwrap().to_string();
                    assert!(placed.contains(&removed), "{removed} never placed");
                }
                _ => assert!(text.contains("ZRANGEBYSCORE")),
            }
        }
    }

    #[test]
    fn replies_classify_as_hits_and_misses() {
        let w = Workload::MemtierMix;
        assert_eq!(w.classify(1, &ReplyHead::Bulk { nil: true }), Outcome::Miss);
        assert_eq!(w.classify(1, &ReplyHead::Bulk { nil: false }), Outcome::Hit);
        assert_eq!(w.classify(0, &ReplyHead::Simple), Outcome::Write);
        let s = Workload::Session;
        assert_eq!(s.classify(1, &ReplyHead::Array { len: 0 }), Outcome::Miss);
        assert_eq!(s.classify(2, &ReplyHead::Integer(1)), Outcome::Hit);
        let l = Workload::Leaderboard;
        assert_eq!(l.classify(2, &ReplyHead::Bulk { nil: true }), Outcome::Miss);
        assert_eq!(
            l.classify(0, &ReplyHead::Error { start: 0, end: 0 }),
            Outcome::Error
        );
    }
}
