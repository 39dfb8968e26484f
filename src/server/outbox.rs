//! A connection's pushed output: frames other tasks of its shard deliver to it (pub/sub messages)
//! while it waits for requests. The connection writes them between requests; what is pending is
//! bounded by `client-output-buffer-limit`, past which the client is disconnected (as in Redis),
//! so that a subscriber that stops reading cannot make the server's memory grow without bound.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures::future::Either;

use crate::config::pubsub::OutputLimit;
use crate::runtime::net::Stream;

#[derive(Default)]
pub struct Outbox {
    /// Encoded frames not yet taken by the connection.
    queued: RefCell<Vec<u8>>,
    /// Bytes the connection took and is writing now; still pending for the limit.
    writing_bytes: Cell<usize>,
    /// The connection's task, waiting for input or pushes.
    waker: RefCell<Option<Waker>>,
    /// Since when the pending output has been at or above the soft limit.
    soft_since: Cell<Option<Instant>>,
    /// Over a limit: nothing more is queued, and the connection closes.
    closed: Cell<bool>,
}

/// What a waiting connection woke up for.
pub enum Input {
    /// This many bytes were read from the socket (0: it closed).
    Read(usize),
    /// Frames were pushed (or the outbox closed).
    Pushed,
}

impl Outbox {
    pub fn pending_bytes(&self) -> usize {
        self.queued.borrow().len() + self.writing_bytes.get()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Queues a frame whose first byte (the RESP type) is `kind` and the rest `body`. Returns false
    /// when the client went over `limit` (the outbox is then closed and emptied: the caller
    /// disconnects the client) or was closed already.
    pub fn push(&self, kind: u8, body: &[u8], limit: OutputLimit) -> bool {
        if self.closed.get() {
            return false;
        }
        {
            let mut queued = self.queued.borrow_mut();
            queued.push(kind);
            queued.extend_from_slice(body);
        }
        if self.over_limit(limit) {
            self.close();
            return false;
        }
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
        true
    }

    /// Redis's `checkClientOutputBufferLimits`: the hard limit at once, the soft one once it has
    /// held for more than its seconds.
    fn over_limit(&self, limit: OutputLimit) -> bool {
        let used = self.pending_bytes();
        let hard = limit.hard_bytes > 0 && used >= limit.hard_bytes;
        let soft = limit.soft_bytes > 0 && used >= limit.soft_bytes;
        if !soft {
            self.soft_since.set(None);
            return hard;
        }
        match self.soft_since.get() {
            None => {
                self.soft_since.set(Some(Instant::now()));
                hard
            }
            Some(since) => hard || since.elapsed().as_secs() > limit.soft_s,
        }
    }

    /// Drops what is pending and wakes the connection so that it closes.
    pub fn close(&self) {
        self.closed.set(true);
        *self.queued.borrow_mut() = Vec::new();
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Waits until something is queued or the outbox closed.
    fn ready(&self) -> impl Future<Output = ()> + '_ {
        futures::future::poll_fn(move |cx: &mut Context<'_>| {
            if self.closed.get() || !self.queued.borrow().is_empty() {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Writes everything queued to `stream`; an error once the outbox closed.
    pub async fn write_to(&self, stream: &mut Stream) -> Result<usize, String> {
        if self.closed.get() {
            return Err("output buffer limit reached".into());
        }
        let out = std::mem::take(&mut *self.queued.borrow_mut());
        self.writing_bytes.set(out.len());
        let written = stream.write_all(&out).await;
        self.writing_bytes.set(0);
        written.map_err(|e| e.to_string())?;
        Ok(out.len())
    }
}

/// Waits for the first of: bytes from the socket (into `buf`), or frames pushed to `outbox`.
/// Reads are readiness-based, so a read abandoned for a push loses no data.
pub async fn next_input(stream: &mut Stream, buf: &mut [u8], outbox: &Outbox) -> io::Result<Input> {
    let read = stream.read(buf);
    let pushed = outbox.ready();
    futures::pin_mut!(read, pushed);
    match futures::future::select(read, pushed).await {
        Either::Left((n, _)) => n.map(Input::Read),
        Either::Right(((), _)) => Ok(Input::Pushed),
    }
}
