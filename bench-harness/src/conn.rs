//! One non-blocking connection to a server: an outgoing byte queue, an incoming reply buffer,
//! and the requests awaiting replies, in order.

use crate::cluster::NodeAddr;
use crate::limits::{CONTROL_TIMEOUT_SECS, READ_CHUNK_BYTES, REPLY_BUFFER_BYTES_MAX};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// A request sent and not yet answered.
pub struct Pending {
    pub op: u8,
    pub client: u32,
    /// When the request was (or, open loop, should have been) sent.
    pub start: Instant,
    pub request_bytes: u32,
    pub redirects: u8,
    /// The reply answers an `ASKING` we sent ahead of a redirected request: drop it.
    pub is_asking: bool,
    /// The encoded request, kept in cluster mode to resend after a redirect.
    pub retry: Option<Box<[u8]>>,
}

pub struct Conn {
    pub addr: NodeAddr,
    stream: TcpStream,
    out: Vec<u8>,
    out_sent: usize,
    /// Received bytes live in `input[in_start..in_end]`.
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    pub pending: VecDeque<Pending>,
}

impl Conn {
    /// Connects (blocking, with a timeout) and switches the socket to non-blocking mode.
    pub fn open(addr: &NodeAddr) -> Result<Conn, String> {
        let resolved = (addr.host.as_str(), addr.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to no address"))?;
        let stream =
            TcpStream::connect_timeout(&resolved, Duration::from_secs(CONTROL_TIMEOUT_SECS))
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|_| stream.set_nonblocking(true))
            .map_err(|e| format!("cannot set up socket to {addr}: {e}"))?;
        Ok(Conn {
            addr: addr.clone(),
            stream,
            out: Vec::with_capacity(4096),
            out_sent: 0,
            input: vec![0; READ_CHUNK_BYTES],
            in_start: 0,
            in_end: 0,
            pending: VecDeque::new(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Queues request bytes to send.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub fn wants_write(&self) -> bool {
        self.out_sent < self.out.len()
    }

    /// Writes queued bytes until done or the socket is full.
    pub fn flush(&mut self) -> Result<(), String> {
        while self.out_sent < self.out.len() {
            match self.stream.write(&self.out[self.out_sent..]) {
                Ok(0) => return Err(format!("{}: connection closed on write", self.addr)),
                Ok(n) => self.out_sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("{}: write failed: {e}", self.addr)),
            }
        }
        if self.out_sent == self.out.len() {
            self.out.clear();
            self.out_sent = 0;
        }
        Ok(())
    }

    /// Reply bytes received and not yet consumed.
    pub fn unparsed(&self) -> &[u8] {
        &self.input[self.in_start..self.in_end]
    }

    /// Marks `n` reply bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.in_start += n;
        assert!(
            self.in_start <= self.in_end,
            "consumed past the received bytes"
        );
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        }
    }

    /// Makes room at the end of `input`: compacts, then grows up to `REPLY_BUFFER_BYTES_MAX`.
    fn make_room(&mut self) -> Result<(), String> {
        if self.in_end < self.input.len() {
            return Ok(());
        }
        if self.in_start > 0 {
            self.input.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
            return Ok(());
        }
        if self.input.len() >= REPLY_BUFFER_BYTES_MAX {
            return Err(format!(
                "{}: one reply exceeds REPLY_BUFFER_BYTES_MAX={REPLY_BUFFER_BYTES_MAX} bytes",
                self.addr
            ));
        }
        let grown = (self.input.len() * 2).min(REPLY_BUFFER_BYTES_MAX);
        self.input.resize(grown, 0);
        Ok(())
    }

    /// Reads whatever the socket holds; `Ok(false)` if it held nothing.
    pub fn fill_input(&mut self) -> Result<bool, String> {
        let mut got_any = false;
        loop {
            self.make_room()?;
            match self.stream.read(&mut self.input[self.in_end..]) {
                Ok(0) => return Err(format!("{}: server closed the connection", self.addr)),
                Ok(n) => {
                    got_any = true;
                    self.in_end += n;
                    if self.in_end < self.input.len() {
                        return Ok(got_any);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(got_any),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("{}: read failed: {e}", self.addr)),
            }
        }
    }
}
