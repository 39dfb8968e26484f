//! LATENCY: per-command latency histograms (`HISTOGRAM`) and latency events (`LATEST`,
//! `HISTORY`, `RESET`, `DOCTOR`). Each shard records what it ran; these commands gather every
//! shard's records (private specs `latency|*-shard`) and merge them on the connection's shard.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};
use hdrhistogram::Histogram;

use super::client::help_reply;
use super::spec::*;
use super::{is_public, CommandSpec, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::latency::{new_histogram, EventSeries, EVENT_SAMPLES_MAX};
use crate::shard::{Ctx, Shard};

const LATENCY_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const LATENCY_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

const fn latency_sub(
    name: &'static str,
    arity: i32,
    summary: &'static str,
    run: Run,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: LATENCY_FLAGS,
        acl: LATENCY_ACL,
        group: "server",
        summary,
        since: "2.8.13",
        run,
        ..BASE
    }
}

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        since: "7.0.0",
        complexity:
            "O(N) where N is the number of commands with latency information being retrieved.",
        ..latency_sub(
            "latency|histogram",
            -2,
            "Returns the cumulative distribution of latencies of a subset or all commands.",
            Run::Client(histogram),
        )
    },
    latency_sub(
        "latency|latest",
        2,
        "Returns the latest latency samples for all events.",
        Run::Client(latest),
    ),
    latency_sub(
        "latency|history",
        3,
        "Returns timestamp-latency samples for an event.",
        Run::Client(history),
    ),
    latency_sub(
        "latency|reset",
        -2,
        "Resets the latency data for one or more events.",
        Run::Client(reset),
    ),
    latency_sub(
        "latency|doctor",
        2,
        "Returns a human-readable latency analysis report.",
        Run::Client(doctor),
    ),
    CommandSpec {
        flags: LOADING | STALE,
        acl: &["@slow"],
        ..latency_sub(
            "latency|help",
            2,
            "Returns helpful text about the different subcommands.",
            Run::Local(help),
        )
    },
];

pub static COMMANDS: &[CommandSpec] = &[container(
    "latency",
    "server",
    "A container for latency diagnostics commands.",
    "2.8.13",
    SUBCOMMANDS,
)];

/// Private: this shard's histograms of public commands, each `[name, [value, count, ...]]` over
/// its recorded values.
static HISTOGRAMS_SHARD: CommandSpec = shard_step("latency|histograms-shard", histograms_shard);

/// Private: this shard's events, each `[name, max_ms, [time_s, ms, ...]]`.
static EVENTS_SHARD: CommandSpec = shard_step("latency|events-shard", events_shard);

/// Private: resets the named events (all without names); replies with the names it reset.
static RESET_SHARD: CommandSpec = shard_step("latency|reset-shard", reset_shard);

fn done(reply: Reply) -> LocalBoxFuture<'static, Reply> {
    Box::pin(ready(reply))
}

fn first_error(replies: &[Reply]) -> Option<Reply> {
    replies.iter().find(|r| r.is_error()).cloned()
}

// ---- Histograms ----

fn histograms_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let latency = ctx.shard.latency.borrow();
    let items = latency
        .histograms
        .iter()
        .filter(|(key, h)| !h.is_empty() && is_public(key.name()))
        .map(|(key, h)| {
            let mut counts = Vec::new();
            for v in h.iter_recorded() {
                counts.push(Reply::Int(v.value_iterated_to() as i64));
                counts.push(Reply::Int(v.count_at_value() as i64));
            }
            Reply::Array(vec![Reply::bulk_str(key.name()), Reply::Array(counts)])
        });
    Reply::Array(items.collect())
}

/// Every shard's histograms merged, by command name.
pub(super) async fn merged_histograms(
    shard: &Shard,
) -> Result<BTreeMap<String, Histogram<u64>>, Reply> {
    let name = Bytes::from_static(HISTOGRAMS_SHARD.name.as_bytes());
    let replies = shard.broadcast(&HISTOGRAMS_SHARD, 0, false, &[name]).await;
    if let Some(e) = first_error(&replies) {
        return Err(e);
    }
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for reply in replies {
        let Reply::Array(commands) = reply else {
            continue;
        };
        for command in commands {
            let Reply::Array(fields) = command else {
                continue;
            };
            let [Reply::Bulk(name), Reply::Array(counts)] = fields.as_slice() else {
                continue;
            };
            let h = merged
                .entry(String::from_utf8_lossy(name).into_owned())
                .or_insert_with(new_histogram);
            for pair in counts.chunks(2) {
                if let [Reply::Int(value), Reply::Int(count)] = pair {
                    h.saturating_record_n(*value as u64, *count as u64);
                }
            }
        }
    }
    Ok(merged)
}

/// Whether `LATENCY HISTOGRAM name...` asks for `command`: by its name, or its parent's.
fn asked_for(names: &[Bytes], command: &str) -> bool {
    let parent = command.split_once('|').map_or(command, |(p, _)| p);
    names.is_empty()
        || names.iter().any(|n| {
            n.eq_ignore_ascii_case(command.as_bytes()) || n.eq_ignore_ascii_case(parent.as_bytes())
        })
}

/// Redis's cumulative distribution: `calls`, and for bucket upper bounds 1, 2, 4, 8... µs the
/// number of calls at or below each, listing only buckets where that number grows.
fn distribution(h: &Histogram<u64>) -> Reply {
    let mut buckets = Vec::new();
    let mut previous = 0;
    let mut bound_us: u64 = 1;
    while previous < h.len() {
        let cumulative = h.count_between(0, bound_us);
        if cumulative > previous {
            buckets.push((Reply::Int(bound_us as i64), Reply::Int(cumulative as i64)));
            previous = cumulative;
        }
        if bound_us > h.max() {
            break;
        }
        bound_us *= 2;
    }
    Reply::Map(vec![
        (Reply::bulk_str("calls"), Reply::Int(h.len() as i64)),
        (Reply::bulk_str("histogram_usec"), Reply::Map(buckets)),
    ])
}

fn histogram(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let merged = match merged_histograms(&client.shard).await {
            Ok(merged) => merged,
            Err(e) => return e,
        };
        let pairs = merged
            .iter()
            .filter(|(name, _)| asked_for(&args[2..], name))
            .map(|(name, h)| (Reply::bulk_str(name), distribution(h)))
            .collect();
        Reply::Map(pairs)
    })
}

/// `INFO latencystats`: `latency_percentiles_usec_<command>:p50=...,p99=...` per command.
pub(super) fn percentile_lines(
    merged: &BTreeMap<String, Histogram<u64>>,
    percentiles: &[f64],
) -> Vec<(String, String)> {
    merged
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| {
            let mut value = String::new();
            for (i, p) in percentiles.iter().enumerate() {
                if i > 0 {
                    value.push(',');
                }
                let _ = write!(value, "p{p}={:.3}", h.value_at_percentile(*p) as f64);
            }
            (format!("latency_percentiles_usec_{name}"), value)
        })
        .collect()
}

// ---- Events ----

fn events_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let latency = ctx.shard.latency.borrow();
    let events = latency.events.iter().map(|(name, series)| {
        let samples = series
            .samples
            .iter()
            .flat_map(|&(t, ms)| [Reply::Int(t as i64), Reply::Int(ms as i64)])
            .collect();
        Reply::Array(vec![
            Reply::bulk_str(name),
            Reply::Int(series.max_ms as i64),
            Reply::Array(samples),
        ])
    });
    Reply::Array(events.collect())
}

/// Every shard's events merged by name: samples in the same second keep the larger latency.
async fn merged_events(shard: &Shard) -> Result<BTreeMap<String, EventSeries>, Reply> {
    let name = Bytes::from_static(EVENTS_SHARD.name.as_bytes());
    let replies = shard.broadcast(&EVENTS_SHARD, 0, false, &[name]).await;
    if let Some(e) = first_error(&replies) {
        return Err(e);
    }
    let mut samples: HashMap<String, (u64, BTreeMap<u64, u64>)> = HashMap::new();
    for reply in replies {
        let Reply::Array(events) = reply else {
            continue;
        };
        for event in events {
            let Reply::Array(fields) = event else {
                continue;
            };
            let [Reply::Bulk(name), Reply::Int(max_ms), Reply::Array(pairs)] = fields.as_slice()
            else {
                continue;
            };
            let (max, by_time) = samples
                .entry(String::from_utf8_lossy(name).into_owned())
                .or_default();
            *max = (*max).max(*max_ms as u64);
            for pair in pairs.chunks(2) {
                if let [Reply::Int(t), Reply::Int(ms)] = pair {
                    let slot = by_time.entry(*t as u64).or_insert(0);
                    *slot = (*slot).max(*ms as u64);
                }
            }
        }
    }
    Ok(samples
        .into_iter()
        .map(|(name, (max_ms, by_time))| {
            let skip = by_time.len().saturating_sub(EVENT_SAMPLES_MAX);
            let series = EventSeries {
                samples: by_time.into_iter().skip(skip).collect(),
                max_ms,
            };
            (name, series)
        })
        .collect())
}

fn latest(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let events = match merged_events(&client.shard).await {
            Ok(events) => events,
            Err(e) => return e,
        };
        let rows = events.iter().filter_map(|(name, series)| {
            let &(time_s, ms) = series.samples.back()?;
            Some(Reply::Array(vec![
                Reply::bulk_str(name),
                Reply::Int(time_s as i64),
                Reply::Int(ms as i64),
                Reply::Int(series.max_ms as i64),
            ]))
        });
        Reply::Array(rows.collect())
    })
}

fn history(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let events = match merged_events(&client.shard).await {
            Ok(events) => events,
            Err(e) => return e,
        };
        let name = String::from_utf8_lossy(&args[2]);
        let Some(series) = events.get(name.as_ref()) else {
            return Reply::Array(Vec::new());
        };
        let rows = series
            .samples
            .iter()
            .map(|&(t, ms)| Reply::Array(vec![Reply::Int(t as i64), Reply::Int(ms as i64)]));
        Reply::Array(rows.collect())
    })
}

fn reset(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let mut shard_args = vec![Bytes::from_static(RESET_SHARD.name.as_bytes())];
        shard_args.extend_from_slice(&args[2..]);
        let replies = client
            .shard
            .broadcast(&RESET_SHARD, 0, false, &shard_args)
            .await;
        if let Some(e) = first_error(&replies) {
            return e;
        }
        let mut reset = std::collections::BTreeSet::new();
        for reply in replies {
            if let Reply::Array(names) = reply {
                reset.extend(names.into_iter().filter_map(|n| match n {
                    Reply::Bulk(name) => Some(name),
                    _ => None,
                }));
            }
        }
        Reply::Int(reset.len() as i64)
    })
}

fn reset_shard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut latency = ctx.shard.latency.borrow_mut();
    let names: Vec<&'static str> = latency
        .events
        .keys()
        .copied()
        .filter(|name| {
            args.len() == 1
                || args[1..]
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(name.as_bytes()))
        })
        .collect();
    for name in &names {
        latency.events.remove(name);
    }
    Reply::Array(names.into_iter().map(Reply::bulk_str).collect())
}

fn doctor(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let threshold_ms = client.shard.config.borrow().latency_monitor_threshold_ms;
    if threshold_ms == 0 {
        return done(Reply::Verbatim(
            "Latency monitoring is off: CONFIG SET latency-monitor-threshold <milliseconds> \
             turns it on, recording events at least that long.\n"
                .into(),
        ));
    }
    Box::pin(async move {
        let events = match merged_events(&client.shard).await {
            Ok(events) => events,
            Err(e) => return e,
        };
        Reply::Verbatim(doctor_report(&events, threshold_ms))
    })
}

/// A short summary of each event: how many spikes, their average, the worst and the latest.
fn doctor_report(events: &BTreeMap<String, EventSeries>, threshold_ms: u64) -> String {
    if events.is_empty() {
        return format!("No latency spike of {threshold_ms} ms or more has been recorded.\n");
    }
    let mut text = format!("Latency spikes of {threshold_ms} ms or more, by event:\n\n");
    for (i, (name, series)) in events.iter().enumerate() {
        let n = series.samples.len() as u64;
        let avg = series.samples.iter().map(|s| s.1).sum::<u64>() / n.max(1);
        let (last_t, last_ms) = series.samples.back().copied().unwrap_or_default();
        let _ = writeln!(
            text,
            "{}. {name}: {n} spikes (average {avg} ms), worst {} ms, latest {last_ms} ms at unix time {last_t}.",
            i + 1,
            series.max_ms
        );
    }
    if events.contains_key("journal-sync") {
        text.push_str(
            "\njournal-sync spikes come from the disk: appendfsync everysec or a faster device \
             shortens them.\n",
        );
    }
    if events.contains_key("command") || events.contains_key("fast-command") {
        text.push_str("\ncommand spikes come from slow commands: SLOWLOG GET shows which ones.\n");
    }
    text
}

const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a short latency report.",
    "HISTORY <event>",
    "    Return the (unix time, latency in ms) samples of <event>.",
    "LATEST",
    "    Return the latest sample of every event: name, unix time, latency, worst latency.",
    "RESET [<event> ...]",
    "    Forget the samples of the named events (default: of every event).",
    "HISTOGRAM [COMMAND ...]",
    "    Return the cumulative latency distribution of the named commands (default: all).",
    "HELP",
    "    Print this help.",
];

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(HELP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_lists_power_of_two_buckets_where_the_count_grows() {
        let mut h = new_histogram();
        for us in [1, 1, 3, 3, 100] {
            h.saturating_record(us);
        }
        let Reply::Map(fields) = distribution(&h) else {
            panic!("not a map");
        };
        assert_eq!(fields[0].1, Reply::Int(5));
        let Reply::Map(buckets) = &fields[1].1 else {
            panic!("not a map");
        };
        let shown: Vec<(Reply, Reply)> = [(1, 2), (4, 4), (128, 5)]
            .into_iter()
            .map(|(b, n)| (Reply::Int(b), Reply::Int(n)))
            .collect();
        assert_eq!(buckets, &shown);
    }
}
