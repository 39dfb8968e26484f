//! One load thread's event loop: its clients, their connections, waits on their readiness,
//! closed-loop (keep `--pipeline` in flight) or open-loop (`--rate`) sending, and reply handling
//! with cluster redirects.

use crate::args::BenchConfig;
use crate::cluster::{hash_slot, parse_redirect, NodeAddr, Redirect, SlotMap};
use crate::conn::{Conn, Pending};
use crate::limits::{REDIRECTS_PER_REQUEST_MAX, STATS_PUBLISH_MS, WAIT_US_MAX};
use crate::readiness::Readiness;
use crate::resp::{encode_command, scan_reply, ReplyHead};
use crate::stats::{Interval, OpStats, ThreadResult};
use crate::workload::{OpGen, Outcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One simulated client: a request generator and one connection per cluster node it has used.
struct Client {
    gen: OpGen,
    /// Index into `Worker::conns` per node index; a single entry outside cluster mode.
    conns: Vec<Option<usize>>,
    issued: u64,
    in_flight: usize,
    /// Open loop: this client's first intended send time; request k is due at
    /// `first_due + k * send_interval`.
    first_due: Duration,
}

/// A load thread.
pub struct Worker {
    cfg: Arc<BenchConfig>,
    clients: Vec<Client>,
    conns: Vec<Conn>,
    readiness: Readiness,
    slots: Option<SlotMap>,
    seed: NodeAddr,
    ops: Vec<OpStats>,
    interval: Interval,
    shared_interval: Arc<Mutex<Interval>>,
    send_interval: Option<Duration>,
    redirects: u64,
    first_error: Option<String>,
    asking: Vec<u8>,
}

impl Worker {
    /// Builds thread `thread_index`'s clients and opens their connections.
    pub fn new(
        cfg: Arc<BenchConfig>,
        thread_index: usize,
        slots: Option<SlotMap>,
        shared_interval: Arc<Mutex<Interval>>,
    ) -> Result<Worker, String> {
        let total_clients = (cfg.threads * cfg.clients) as u64;
        let send_interval = cfg
            .rate
            .map(|rate| Duration::from_secs_f64(total_clients as f64 / rate as f64));
        let seed = NodeAddr {
            host: cfg.host.clone(),
            port: cfg.port,
        };
        let mut worker = Worker {
            ops: vec![OpStats::default(); cfg.workload.op_names().len()],
            clients: Vec::with_capacity(cfg.clients),
            conns: Vec::new(),
            readiness: Readiness::new()?,
            seed,
            slots,
            interval: Interval::default(),
            shared_interval,
            send_interval,
            redirects: 0,
            first_error: None,
            asking: Vec::new(),
            cfg: cfg.clone(),
        };
        encode_command(&mut worker.asking, &[b"ASKING"]);
        for c in 0..cfg.clients {
            let global = (thread_index * cfg.clients + c) as u64;
            let first_due =
                send_interval.unwrap_or_default().mul_f64(global as f64) / total_clients as u32;
            worker.clients.push(Client {
                gen: OpGen::new(&cfg, global, total_clients),
                conns: Vec::new(),
                issued: 0,
                in_flight: 0,
                first_due,
            });
            if worker.slots.is_none() {
                let addr = worker.seed.clone();
                worker.conn_for(c, 0, &addr)?;
            }
        }
        if let Some(slots) = worker.slots.clone() {
            for c in 0..cfg.clients {
                for (node, addr) in slots.nodes.iter().enumerate() {
                    worker.conn_for(c, node, addr)?;
                }
            }
        }
        Ok(worker)
    }

    /// The connection of `client` to node `node`, opened on first use.
    fn conn_for(&mut self, client: usize, node: usize, addr: &NodeAddr) -> Result<usize, String> {
        let conns = &mut self.clients[client].conns;
        if conns.len() <= node {
            conns.resize(node + 1, None);
        }
        if let Some(index) = conns[node] {
            return Ok(index);
        }
        let conn = Conn::open(addr)?;
        let index = self.conns.len();
        self.readiness.register(conn.fd(), index)?;
        self.conns.push(conn);
        self.clients[client].conns[node] = Some(index);
        Ok(index)
    }

    /// Runs until the request count or test time is reached, or `abort` is set.
    pub fn run(mut self, abort: &AtomicBool) -> Result<ThreadResult, String> {
        let start = Instant::now();
        let deadline = self.cfg.test_time.map(|t| start + t);
        let mut last_publish = start;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) || abort.load(Ordering::Relaxed) {
                break;
            }
            let mut all_done = true;
            for c in 0..self.clients.len() {
                self.fill(c, start, now)?;
                let client = &self.clients[c];
                all_done &= deadline.is_none()
                    && client.issued >= self.cfg.requests
                    && client.in_flight == 0;
            }
            if all_done {
                break;
            }
            for conn in self.conns.iter_mut().filter(|c| c.wants_write()) {
                conn.flush()?;
            }
            if now.duration_since(last_publish) >= Duration::from_millis(STATS_PUBLISH_MS) {
                self.publish();
                last_publish = now;
            }
            let timeout = self.sleep_budget(start, now, deadline);
            self.wait(timeout)?;
        }
        self.publish();
        Ok(ThreadResult {
            elapsed: start.elapsed(),
            ops: self.ops,
            redirects: self.redirects,
            first_error: self.first_error,
        })
    }

    /// Sends what client `c` may send now: up to `--pipeline` in flight and, open loop, only
    /// requests whose intended time has come.
    fn fill(&mut self, c: usize, start: Instant, now: Instant) -> Result<(), String> {
        loop {
            let client = &self.clients[c];
            if client.in_flight >= self.cfg.pipeline || client.issued >= self.cfg.requests {
                return Ok(());
            }
            let due = match self.send_interval {
                Some(every) => {
                    let due = start + client.first_due + every.mul_f64(client.issued as f64);
                    if due > now {
                        return Ok(());
                    }
                    due
                }
                None => now,
            };
            self.send_new(c, due)?;
        }
    }

    fn send_new(&mut self, c: usize, due: Instant) -> Result<(), String> {
        let op = self.clients[c].gen.next();
        let node = match &self.slots {
            Some(slots) => slots.owner(hash_slot(self.clients[c].gen.key())),
            None => 0,
        };
        let addr = match &self.slots {
            Some(slots) => slots.nodes[node].clone(),
            None => self.seed.clone(),
        };
        let index = self.conn_for(c, node, &addr)?;
        let client = &mut self.clients[c];
        client.issued += 1;
        client.in_flight += 1;
        let cmd = client.gen.cmd();
        let conn = &mut self.conns[index];
        conn.queue(cmd);
        conn.pending.push_back(Pending {
            op,
            client: c as u32,
            start: due,
            request_bytes: cmd.len() as u32,
            redirects: 0,
            is_asking: false,
            retry: self.slots.is_some().then(|| cmd.into()),
        });
        Ok(())
    }

    /// How long the loop may sleep: until the next open-loop send is due, capped so that stats
    /// and the deadline stay on time; zero when there is work now.
    fn sleep_budget(&self, start: Instant, now: Instant, deadline: Option<Instant>) -> Duration {
        let mut budget = Duration::from_micros(WAIT_US_MAX);
        if let Some(d) = deadline {
            budget = budget.min(d.saturating_duration_since(now));
        }
        if let Some(every) = self.send_interval {
            for client in &self.clients {
                if client.in_flight < self.cfg.pipeline && client.issued < self.cfg.requests {
                    let due = start + client.first_due + every.mul_f64(client.issued as f64);
                    budget = budget.min(due.saturating_duration_since(now));
                }
            }
        }
        budget
    }

    /// Waits up to `timeout` for socket readiness, then reads and writes what is ready.
    fn wait(&mut self, timeout: Duration) -> Result<(), String> {
        for i in 0..self.readiness.wait(timeout)? {
            let event = self.readiness.ready(i);
            if event.writable {
                self.conns[event.index].flush()?;
            }
            if event.readable {
                self.read_replies(event.index)?;
            }
        }
        Ok(())
    }

    /// Reads connection `i` and handles every complete reply in it.
    fn read_replies(&mut self, i: usize) -> Result<(), String> {
        self.conns[i].fill_input()?;
        let now = Instant::now();
        loop {
            let conn = &mut self.conns[i];
            let scanned = scan_reply(conn.unparsed()).map_err(|e| format!("{}: {e}", conn.addr))?;
            let Some((len, head)) = scanned else {
                return Ok(());
            };
            let pending = conn.pending.pop_front().ok_or_else(|| {
                format!("{}: reply arrived with no request outstanding", conn.addr)
            })?;
            let error_text = match head {
                ReplyHead::Error { start, end } => Some(conn.unparsed()[start..end].to_vec()),
                _ => None,
            };
            conn.consume(len);
            if pending.is_asking {
                continue;
            }
            if let Some(text) = &error_text {
                if self.follow_redirect(&pending, text)? {
                    continue;
                }
                if self.first_error.is_none() {
                    self.first_error = Some(String::from_utf8_lossy(text).into_owned());
                }
            }
            let latency = now.saturating_duration_since(pending.start);
            let outcome = self.cfg.workload.classify(pending.op, &head);
            let bytes = pending.request_bytes as u64 + len as u64;
            self.ops[pending.op as usize].record(latency, outcome, bytes);
            self.interval.record(latency);
            self.clients[pending.client as usize].in_flight -= 1;
            debug_assert!(outcome != Outcome::Error || error_text.is_some());
        }
    }

    /// Resends a request that got `-MOVED`/`-ASK`; `Ok(false)` if the error was no redirect.
    fn follow_redirect(&mut self, pending: &Pending, error: &[u8]) -> Result<bool, String> {
        let (Some(retry), Some(_)) = (&pending.retry, &self.slots) else {
            return Ok(false);
        };
        let Some(redirect) = parse_redirect(error, &self.seed.host) else {
            return Ok(false);
        };
        if pending.redirects >= REDIRECTS_PER_REQUEST_MAX {
            return Err(format!(
                "a request was redirected more than REDIRECTS_PER_REQUEST_MAX={REDIRECTS_PER_REQUEST_MAX} times (last: {})",
                String::from_utf8_lossy(error)
            ));
        }
        self.redirects += 1;
        let slots = self.slots.as_mut().expect("checked above");
        let (node, asking) = match redirect {
            Redirect::Moved { slot, addr } => (slots.reassign(slot, addr)?, false),
            Redirect::Ask { addr } => (slots.index_of(addr)?, true),
        };
        let addr = slots.nodes[node].clone();
        let index = self.conn_for(pending.client as usize, node, &addr)?;
        let conn = &mut self.conns[index];
        if asking {
            conn.queue(&self.asking);
            conn.pending.push_back(Pending {
                op: pending.op,
                client: pending.client,
                start: pending.start,
                request_bytes: 0,
                redirects: 0,
                is_asking: true,
                retry: None,
            });
        }
        conn.queue(retry);
        conn.pending.push_back(Pending {
            op: pending.op,
            client: pending.client,
            start: pending.start,
            request_bytes: pending.request_bytes,
            redirects: pending.redirects + 1,
            is_asking: false,
            retry: Some(retry.clone()),
        });
        Ok(true)
    }

    /// Hands this interval's figures to the live-line printer.
    fn publish(&mut self) {
        let mut shared = self
            .shared_interval
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.interval.drain_into(&mut shared);
    }
}
