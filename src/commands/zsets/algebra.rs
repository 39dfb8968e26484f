//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD: the set algebra over sorted sets (and
//! plain sets, which count as members with score 1). Inputs on one shard run there as one step;
//! inputs on several shards are locked and read on their shards, combined here, and any store is
//! the transaction's last step.

use super::*;

/// How ZUNION/ZINTER combine the scores of a member found in several inputs.
#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn combine(self, a: f64, b: f64) -> f64 {
        match self {
            // inf + -inf is NaN; Redis makes it 0.
            Aggregate::Sum => {
                let sum = a + b;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }

    fn name(self) -> &'static [u8] {
        match self {
            Aggregate::Sum => b"sum",
            Aggregate::Min => b"min",
            Aggregate::Max => b"max",
        }
    }

    fn parse(arg: &[u8]) -> Option<Aggregate> {
        match arg.to_ascii_lowercase().as_slice() {
            b"sum" => Some(Aggregate::Sum),
            b"min" => Some(Aggregate::Min),
            b"max" => Some(Aggregate::Max),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// What the algebra replies: the members, their count (ZINTERCARD), or a store.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    Members { withscores: bool },
    Card { limit: usize },
    Store,
}

/// A parsed ZUNION/ZINTER/ZDIFF(STORE)/ZINTERCARD.
struct Algebra {
    op: SetOp,
    output: Output,
    dst: Option<Bytes>,
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
}

impl Algebra {
    fn parse(args: &[Bytes]) -> Result<Algebra, Reply> {
        let name = args[0].to_ascii_lowercase();
        let (op, store) = match name.as_slice() {
            b"zunion" => (SetOp::Union, false),
            b"zinter" | b"zintercard" => (SetOp::Inter, false),
            b"zdiff" => (SetOp::Diff, false),
            b"zunionstore" => (SetOp::Union, true),
            b"zinterstore" => (SetOp::Inter, true),
            _ => (SetOp::Diff, true),
        };
        let card = name.as_slice() == b"zintercard";
        let numkeys_at = if store { 2 } else { 1 };
        let numkeys = parse_i64(&args[numkeys_at]);
        let numkeys = match numkeys {
            Ok(n) if n > 0 => n as usize,
            Ok(_) => {
                return Err(Reply::error(format!(
                    "ERR at least 1 input key is needed for '{}' command",
                    String::from_utf8_lossy(&name)
                )))
            }
            Err(e) => return Err(e),
        };
        if numkeys > args.len() - numkeys_at - 1 {
            return Err(syntax_error());
        }
        let first_key = numkeys_at + 1;
        let mut algebra = Algebra {
            op,
            output: if store {
                Output::Store
            } else if card {
                Output::Card { limit: 0 }
            } else {
                Output::Members { withscores: false }
            },
            dst: store.then(|| args[1].clone()),
            keys: args[first_key..first_key + numkeys].to_vec(),
            weights: vec![1.0; numkeys],
            aggregate: Aggregate::Sum,
        };
        algebra.parse_options(&args[first_key + numkeys..])?;
        Ok(algebra)
    }

    fn parse_options(&mut self, mut rest: &[Bytes]) -> Result<(), Reply> {
        let weighted = self.op != SetOp::Diff && !matches!(self.output, Output::Card { .. });
        while let Some((option, after)) = rest.split_first() {
            let option = option.to_ascii_lowercase();
            match (option.as_slice(), &mut self.output) {
                (b"weights", _) if weighted && after.len() >= self.keys.len() => {
                    for (weight, arg) in self.weights.iter_mut().zip(after) {
                        *weight = parse_float(arg)
                            .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
                    }
                    rest = &after[self.keys.len()..];
                }
                (b"aggregate", _) if weighted && !after.is_empty() => {
                    self.aggregate = Aggregate::parse(&after[0]).ok_or_else(syntax_error)?;
                    rest = &after[1..];
                }
                (b"withscores", Output::Members { withscores }) => {
                    *withscores = true;
                    rest = after;
                }
                (b"limit", Output::Card { limit }) if !after.is_empty() => {
                    *limit = match parse_i64(&after[0])? {
                        n if n < 0 => return Err(Reply::error("ERR LIMIT can't be negative")),
                        n => n as usize,
                    };
                    rest = &after[1..];
                }
                _ => return Err(syntax_error()),
            }
        }
        Ok(())
    }

    /// The keys to lock: the destination first, then the sources.
    fn all_keys(&self) -> Vec<Bytes> {
        self.dst.iter().chain(&self.keys).cloned().collect()
    }

    /// The result over `inputs` (one per source key, missing keys empty), sorted in set order.
    fn compute(&self, inputs: &[Vec<(Bytes, f64)>]) -> Vec<(Bytes, f64)> {
        let weighted = |score: f64, i: usize| {
            let w = score * self.weights[i];
            // 0 * inf is NaN; Redis makes it 0.
            if w.is_nan() {
                0.0
            } else {
                w
            }
        };
        let mut result: Vec<(Bytes, f64)> = match self.op {
            SetOp::Union => {
                let mut acc: HashMap<&Bytes, f64> = HashMap::new();
                for (i, input) in inputs.iter().enumerate() {
                    for (m, s) in input {
                        let s = weighted(*s, i);
                        acc.entry(m)
                            .and_modify(|a| *a = self.aggregate.combine(*a, s))
                            .or_insert(s);
                    }
                }
                acc.into_iter().map(|(m, s)| (owned(m), s)).collect()
            }
            SetOp::Inter => {
                let maps: Vec<HashMap<&Bytes, f64>> = inputs
                    .iter()
                    .map(|input| input.iter().map(|(m, s)| (m, *s)).collect())
                    .collect();
                let smallest = (0..inputs.len())
                    .min_by_key(|&i| inputs[i].len())
                    .unwrap_or(0);
                inputs[smallest]
                    .iter()
                    .filter_map(|(m, _)| {
                        let mut total: Option<f64> = None;
                        for (i, map) in maps.iter().enumerate() {
                            let s = weighted(*map.get(m)?, i);
                            total = Some(total.map_or(s, |t| self.aggregate.combine(t, s)));
                        }
                        total.map(|t| (m.clone(), t))
                    })
                    .collect()
            }
            SetOp::Diff => {
                let rest: Vec<HashMap<&Bytes, f64>> = inputs[1..]
                    .iter()
                    .map(|input| input.iter().map(|(m, s)| (m, *s)).collect())
                    .collect();
                inputs[0]
                    .iter()
                    .filter(|(m, _)| rest.iter().all(|r| !r.contains_key(m)))
                    .cloned()
                    .collect()
            }
        };
        result.sort_by(|a, b| zset::order(a.1, &a.0, b.1, &b.0));
        result
    }

    /// The reply (or, for a store, the write) for `result`.
    fn finish(&self, ctx: Option<&mut Ctx>, result: Vec<(Bytes, f64)>, resp3: bool) -> Reply {
        match self.output {
            Output::Members { withscores } => scored_reply(result, withscores, resp3),
            Output::Card { limit } => {
                let limit = if limit == 0 { usize::MAX } else { limit };
                Reply::Int(result.len().min(limit) as i64)
            }
            Output::Store => match (ctx, &self.dst) {
                (Some(ctx), Some(dst)) => store(ctx, dst, result, self.store_event()),
                _ => Reply::error("ERR store without a destination"),
            },
        }
    }

    fn store_event(&self) -> &'static str {
        match self.op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        }
    }

    /// The step running the whole command on one shard: `zset-algebra-step op output aggregate
    /// weights key...` (the destination first for a store).
    fn step_args(&self) -> Vec<Bytes> {
        let op: &'static [u8] = match self.op {
            SetOp::Union => b"union",
            SetOp::Inter => b"inter",
            SetOp::Diff => b"diff",
        };
        let output = match self.output {
            Output::Members { withscores: false } => "members".to_string(),
            Output::Members { withscores: true } => "withscores".to_string(),
            Output::Card { limit } => format!("card:{limit}"),
            Output::Store => "store".to_string(),
        };
        let weights: Vec<String> = self.weights.iter().map(|w| w.to_string()).collect();
        let mut args = vec![
            Bytes::from_static(b"zset-algebra-step"),
            Bytes::from_static(op),
            Bytes::from(output),
            Bytes::from_static(self.aggregate.name()),
            Bytes::from(weights.join(",")),
        ];
        args.extend(self.all_keys());
        args
    }

    fn from_step_args(args: &[Bytes]) -> Option<Algebra> {
        let op = match args[1].as_ref() {
            b"union" => SetOp::Union,
            b"inter" => SetOp::Inter,
            _ => SetOp::Diff,
        };
        let output = match args[2].as_ref() {
            b"members" => Output::Members { withscores: false },
            b"withscores" => Output::Members { withscores: true },
            b"store" => Output::Store,
            card => Output::Card {
                limit: std::str::from_utf8(card.strip_prefix(b"card:")?)
                    .ok()?
                    .parse()
                    .ok()?,
            },
        };
        let weights = std::str::from_utf8(&args[4]).ok()?;
        let weights = weights
            .split(',')
            .map(|w| w.parse().ok())
            .collect::<Option<Vec<f64>>>()?;
        let store = output == Output::Store;
        let keys = &args[5..];
        Some(Algebra {
            op,
            output,
            dst: store.then(|| keys[0].clone()),
            keys: keys[store as usize..].to_vec(),
            weights,
            aggregate: Aggregate::parse(&args[3])?,
        })
    }
}

/// The (member, score) pairs of a source key: a sorted set, or a plain set (every score 1), as
/// Redis's set algebra accepts; empty for a missing key.
fn read_input(db: &mut Db, key: &[u8], now_ms: u64) -> Result<Vec<(Bytes, f64)>, Reply> {
    let Some(entry) = db.get(key, now_ms) else {
        return Ok(Vec::new());
    };
    match &entry.value {
        Value::ZSet(zset) => Ok(zset.iter().map(|(m, s)| (owned(m), s)).collect()),
        Value::Set(members) => Ok(members.iter().map(|m| (m.clone(), 1.0)).collect()),
        _ => Err(wrong_type()),
    }
}

const ALGEBRA_STEP_SPEC: CommandSpec = CommandSpec {
    name: "zset-algebra-step",
    arity: -6,
    flags: READONLY,
    keys: Keys::Range {
        first: 5,
        last: -1,
        step: 1,
    },
    acl: READ_SLOW,
    run: keyed(algebra_step),
    ..ZSET
};

/// Runs a whole ZUNION/ZINTER/ZDIFF/ZINTERCARD on the one shard owning its keys:
/// `zset-algebra-step op output aggregate weights key...`.
static ALGEBRA_STEP: CommandSpec = ALGEBRA_STEP_SPEC;

/// The same for the *STORE forms (the destination is the first key).
static ALGEBRA_STORE_STEP: CommandSpec = CommandSpec {
    flags: WRITE,
    acl: WRITE_SLOW,
    ..ALGEBRA_STEP_SPEC
};

fn algebra_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(algebra) = Algebra::from_step_args(args) else {
        return syntax_error();
    };
    let (now, resp3) = (ctx.now_ms, ctx.resp3);
    let db = ctx.db();
    let mut inputs = Vec::with_capacity(algebra.keys.len());
    for key in &algebra.keys {
        inputs.push(attempt!(read_input(db, key, now)));
    }
    if let Some(dst) = &algebra.dst {
        // The destination's old type does not matter, but an expired one must not linger.
        db.get(dst, now);
    }
    let result = algebra.compute(&inputs);
    algebra.finish(Some(ctx), result, resp3)
}

/// The pairs of a source key, for a cross-shard plan (WRONGTYPE for a non-set).
static INPUT_STEP: CommandSpec = CommandSpec {
    name: "zset-input-step",
    arity: 2,
    flags: READONLY,
    acl: READ_SLOW,
    run: keyed(input_step),
    ..ZSET
};

fn input_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    flat_pairs(attempt!(read_input(ctx.db(), &args[1], now)))
}

pub(super) fn algebra_command(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let algebra = attempt!(Algebra::parse(&args));
        let spec = if algebra.output == Output::Store {
            &ALGEBRA_STORE_STEP
        } else {
            &ALGEBRA_STEP
        };
        let step = (spec, algebra.step_args());
        let client: &Client = client;
        let keys = algebra.all_keys();
        numkeys_route(client, &keys, step, |client| {
            Box::pin(algebra_across(client, algebra))
        })
        .await
    })
}

/// The set algebra across shards: every key locked, each source read on its shard, the result
/// computed here and (for a store) written on the destination's shard.
async fn algebra_across(client: &Client, algebra: Algebra) -> Reply {
    let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
    let txn = Txn::lock(shard, db, &algebra.all_keys()).await;
    let reads = algebra.keys.iter().map(|key| {
        let args = vec![Bytes::from_static(b"zset-input-step"), key.clone()];
        txn.run_for_key(key, &INPUT_STEP, args, resp3)
    });
    let mut inputs = Vec::with_capacity(algebra.keys.len());
    for reply in futures::future::join_all(reads).await {
        match pairs_of(reply) {
            Ok(pairs) => inputs.push(pairs),
            Err(error) => {
                txn.finish().await;
                return error;
            }
        }
    }
    let result = algebra.compute(&inputs);
    let Some(dst) = algebra
        .dst
        .as_ref()
        .filter(|_| algebra.output == Output::Store)
    else {
        txn.finish().await;
        return algebra.finish(None, result, resp3);
    };
    let write = step_request(
        &STORE_STEP,
        store_step_args(algebra.store_event(), dst, result),
        db,
        resp3,
    );
    let mut replies = txn.run_and_finish(vec![(shard.owner_of(dst), write)]).await;
    replies
        .pop()
        .unwrap_or(Reply::error("ERR shard did not answer"))
}
