//! A connection's transaction state: the commands queued since MULTI, and the keys it WATCHes.
//!
//! Queueing checks what Redis checks when a command is queued (unknown name and arity in the
//! pipeline, slots on a cluster port here); a refused command fails the transaction, and EXEC then
//! answers EXECABORT. Running the queue is `router::multi_exec`.

use bytes::Bytes;

use super::client::Client;
use crate::commands::{flag, CommandSpec, Run};
use crate::protocol::Reply;
use crate::router::multi_exec;
use crate::router::slot::key_slot;

/// Most commands one MULTI may queue; past it the command is refused and the transaction fails
/// (Redis has no count limit, only memory: this bounds what one connection can hold).
pub const QUEUED_COMMANDS_MAX: usize = 1_000_000;
/// Most keys one connection may WATCH; past it WATCH answers an error and watches nothing more.
pub const WATCHED_KEYS_MAX: usize = 100_000;

#[derive(Default)]
pub struct Transaction {
    /// Since MULTI: the queued commands.
    queue: Option<Queue>,
    /// (db, key) this connection WATCHes, each once; the watches live on the keys' shards.
    watched: Vec<(usize, Bytes)>,
}

#[derive(Default)]
struct Queue {
    commands: Vec<Queued>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    failed: bool,
    /// On a cluster port: the one slot every queued key must hash to.
    slot: Option<u16>,
}

pub struct Queued {
    pub spec: &'static CommandSpec,
    pub args: Vec<Bytes>,
}

/// What EXEC finds.
pub enum Ending {
    NotInMulti,
    Aborted,
    Run(Vec<Queued>),
}

impl Transaction {
    /// Neither in MULTI nor watching: nothing ties the connection to its shard.
    pub fn is_idle(&self) -> bool {
        self.queue.is_none() && self.watched.is_empty()
    }

    pub fn in_multi(&self) -> bool {
        self.queue.is_some()
    }

    /// MULTI; false when already in one.
    pub fn begin(&mut self) -> bool {
        if self.queue.is_some() {
            return false;
        }
        self.queue = Some(Queue::default());
        true
    }

    /// A command was refused while queueing (no effect outside MULTI).
    pub fn fail(&mut self) {
        if let Some(queue) = &mut self.queue {
            queue.failed = true;
        }
    }

    /// EXEC: ends the MULTI.
    pub fn end(&mut self) -> Ending {
        match self.queue.take() {
            None => Ending::NotInMulti,
            Some(queue) if queue.failed => Ending::Aborted,
            Some(queue) => Ending::Run(queue.commands),
        }
    }

    /// DISCARD: false when not in MULTI.
    pub fn discard(&mut self) -> bool {
        self.queue.take().is_some()
    }

    /// Adds (db, key) to the watched keys; false when it was watched already.
    pub fn watch(&mut self, db: usize, key: &Bytes) -> bool {
        if self.watched.iter().any(|(d, k)| *d == db && k == key) {
            return false;
        }
        self.watched.push((db, key.clone()));
        true
    }

    pub fn watched_count(&self) -> usize {
        self.watched.len()
    }

    /// Forgets the watched keys (their shards must be told: `multi_exec::unwatch_all`).
    pub fn take_watched(&mut self) -> Vec<(usize, Bytes)> {
        std::mem::take(&mut self.watched)
    }
}

/// Shows the connection's transaction state in `CLIENT LIST` (`multi=`, `watch=`, flag `x`).
pub fn show(client: &Client) {
    let (multi, watch) = (
        client
            .transaction
            .queue
            .as_ref()
            .map_or(-1, |q| q.commands.len() as i64),
        client.transaction.watched_count(),
    );
    let mut info = client.info();
    info.multi = multi;
    info.watch = watch;
}

/// Commands that run at once even inside MULTI, as in Redis.
pub fn runs_at_once(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Queues a command of a connection in MULTI (the pipeline has resolved it and checked its
/// routing on a cluster port), or refuses it and fails the transaction.
pub fn queue(client: &mut Client, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
    let (spec, args) = match non_blocking_form(spec, args) {
        Ok(form) => form,
        Err(reply) => {
            client.transaction.fail();
            return reply;
        }
    };
    match check(client, spec, &args) {
        Ok(slot) => {
            let queue = client.transaction.queue.as_mut().expect("in MULTI");
            if slot.is_some() {
                queue.slot = slot;
            }
            queue.commands.push(Queued { spec, args });
            Reply::Status("QUEUED")
        }
        Err(reply) => {
            client.transaction.fail();
            reply
        }
    }
}

/// Whether the command may join the queue; on a cluster port, the slot of its keys.
fn check(
    client: &Client,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Result<Option<u16>, Reply> {
    let queue = client.transaction.queue.as_ref().expect("in MULTI");
    if queue.commands.len() >= QUEUED_COMMANDS_MAX {
        return Err(Reply::error(format!(
            "ERR MULTI queue is full ({QUEUED_COMMANDS_MAX} commands)"
        )));
    }
    if client.cluster_port {
        // Every key in one slot, the transaction's, as Redis checks at queue time: the pipeline
        // checks a keyed command's own keys, but not those of a command that routes itself
        // (LMPOP...) or of a blocking one queued as its keyed step (BLPOP...).
        let slots: Vec<u16> = spec
            .key_indexes(args)
            .into_iter()
            .map(|i| key_slot(&args[i]))
            .collect();
        let Some(&first) = slots.first() else {
            return Ok(None);
        };
        let slot = queue.slot.unwrap_or(first);
        if slots.iter().any(|&s| s != slot) {
            return Err(crossslot());
        }
        return Ok(Some(first));
    }
    multi_exec::check_queueable(&client.shard, spec, args)?;
    Ok(None)
}

/// Blocking commands inside MULTI: Redis runs them as their non-blocking form (a blocking pop on
/// an empty list answers null at once, XREAD BLOCK does not wait). A blocking command whose table
/// entry runs on a shard (`Run::Keyed`) is queued as is: a shard function cannot block, so it
/// answers its "nothing now" reply itself. One that waits on the connection (`Run::Client`) is
/// queued as the non-blocking step its family gives (`commands::in_multi`), or as the error its
/// arguments get, answered at EXEC as Redis answers it there; a family without one is refused.
/// A connection command that waits without being flagged blocking (WAIT) may give such a step
/// too; without one it is queued as is.
fn non_blocking_form(
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
) -> Result<(&'static CommandSpec, Vec<Bytes>), Reply> {
    if !matches!(spec.run, Run::Client(_)) {
        return Ok((spec, args));
    }
    let form = crate::commands::in_multi(spec, &args);
    if form.is_none() && spec.flags & flag::BLOCKING == 0 {
        return Ok((spec, args));
    }
    match form {
        Some(Ok(form)) => Ok(form),
        Some(Err(Reply::Error(text))) => Ok((
            &QUEUED_ERROR,
            vec![Bytes::from_static(b"queued-error"), Bytes::from(text)],
        )),
        Some(Err(other)) => Ok((
            &QUEUED_ERROR,
            vec![
                Bytes::from_static(b"queued-error"),
                Bytes::from(format!("{other:?}")),
            ],
        )),
        None => Err(Reply::error(format!(
            "ERR {} is not supported inside MULTI yet",
            spec.name.to_ascii_uppercase()
        ))),
    }
}

/// Answers a queued command's argument error at EXEC: `queued-error text`. Private.
static QUEUED_ERROR: CommandSpec = CommandSpec {
    name: "queued-error",
    arity: 2,
    run: Run::Local(queued_error),
    ..crate::commands::spec::BASE
};

fn queued_error(_ctx: &mut crate::shard::Ctx, args: &[Bytes]) -> Reply {
    Reply::Error(String::from_utf8_lossy(&args[1]).into_owned())
}

pub fn crossslot() -> Reply {
    Reply::error("CROSSSLOT Keys in request don't hash to the same slot")
}
