//! When a socket has input: one edge-triggered epoll instance per executor, instead of an
//! io_uring poll armed for every read.
//!
//! glommio waits for a socket's next input by arming a one-shot io_uring poll after each read.
//! The arming, the completion (io_uring task work on the executor's thread at its next system
//! call) and glommio's bookkeeping of each poll cost a durable shard's core about 0.8 µs a request
//! at pipeline 1 on the development VM (vendor/glommio/KEEL-PATCHES.md has the profile).
//!
//! Here a socket is registered once, edge-triggered: the kernel queues it on the epoll instance's
//! ready list as data arrives, on the core that delivers the data, and one task per executor
//! harvests the ready list with `epoll_wait` whenever the epoll instance becomes readable: one
//! io_uring poll per harvest, not one per read.
//!
//! A socket counts as readable until a read finds its queue drained (a short read, or EAGAIN);
//! the next edge (new data, or the peer closing) makes it readable again. A stale edge (one for
//! data that a read already took) costs one read that finds nothing. (glommio still arms one
//! poll when it wraps a socket; it completes at the first input and is never armed again, since
//! reads no longer go through glommio.)

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Ready sockets taken from the kernel per `epoll_wait`.
const HARVEST_EVENTS_MAX: usize = 256;
/// How long the harvester waits before trying again after an error (which should never happen).
const ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

thread_local! {
    /// This executor's epoll instance, made (and its harvester started) by the first socket.
    static EPOLL: RefCell<Option<Rc<Epoll>>> = const { RefCell::new(None) };
}

struct Epoll {
    fd: OwnedFd,
    /// Registered sockets by token (the epoll event's data; never reused, unlike descriptors).
    sockets: RefCell<HashMap<u64, Rc<ReadState>>>,
    next_token: Cell<u64>,
}

struct ReadState {
    readable: Cell<bool>,
    /// The task waiting for input, woken by the harvester.
    waiter: Cell<Option<Waker>>,
}

/// One socket's registration with this executor's epoll instance; reads go through it. Must be
/// dropped before the socket is closed: the registration belongs to the open file, which a
/// duplicate of the descriptor (a connection handed to another executor) keeps open.
pub struct Reader {
    epoll: Rc<Epoll>,
    token: u64,
    fd: RawFd,
    state: Rc<ReadState>,
}

impl Reader {
    /// Registers `fd`, a non-blocking socket, with this executor's epoll instance.
    pub fn register(fd: RawFd) -> io::Result<Reader> {
        let epoll = this_executors_epoll()?;
        let token = epoll.next_token.get();
        epoll.next_token.set(token + 1);
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event; the kernel only reads it.
        if unsafe { libc::epoll_ctl(epoll.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } < 0
        {
            return Err(io::Error::last_os_error());
        }
        // Readable until a read says otherwise: input may have come before the registration.
        let state = Rc::new(ReadState {
            readable: Cell::new(true),
            waiter: Cell::new(None),
        });
        epoll.sockets.borrow_mut().insert(token, state.clone());
        Ok(Reader {
            epoll,
            token,
            fd,
            state,
        })
    }

    /// Reads what the socket has into `buf`, waiting for input when it has none.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    fn poll_read(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.state.readable.get() {
            // SAFETY: a non-blocking receive into a buffer we borrow mutably.
            let n = unsafe {
                libc::recv(
                    self.fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                // A short read emptied the queue; data that came since brings a new edge.
                if (n as usize) < buf.len() {
                    self.state.readable.set(false);
                }
                return Poll::Ready(Ok(n as usize));
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::WouldBlock => self.state.readable.set(false),
                io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                _ => return Poll::Ready(Err(error)),
            }
        }
        self.state.waiter.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // SAFETY: removing a registration; a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epoll.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.fd,
                std::ptr::null_mut(),
            );
        }
        self.epoll.sockets.borrow_mut().remove(&self.token);
    }
}

fn this_executors_epoll() -> io::Result<Rc<Epoll>> {
    EPOLL.with(|cell| {
        if let Some(epoll) = &*cell.borrow() {
            return Ok(epoll.clone());
        }
        // SAFETY: epoll_create1 returns a new descriptor that we own, or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let epoll = Rc::new(Epoll {
            // SAFETY: `fd` is a fresh descriptor owned by nothing else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            sockets: RefCell::new(HashMap::new()),
            next_token: Cell::new(0),
        });
        crate::runtime::spawn_local(harvest(epoll.clone())).detach();
        *cell.borrow_mut() = Some(epoll.clone());
        Ok(epoll)
    })
}

/// Wakes the readers of sockets that got input, for as long as the executor runs.
async fn harvest(epoll: Rc<Epoll>) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; HARVEST_EVENTS_MAX];
    loop {
        if let Err(e) = glommio::net::wait_readable(epoll.fd.as_raw_fd()).await {
            log::error!("waiting for socket input: {e}");
            crate::runtime::sleep(ERROR_PAUSE).await;
        }
        loop {
            // SAFETY: `events` has room for HARVEST_EVENTS_MAX entries; a zero timeout never blocks.
            let n = unsafe {
                libc::epoll_wait(
                    epoll.fd.as_raw_fd(),
                    events.as_mut_ptr(),
                    HARVEST_EVENTS_MAX as i32,
                    0,
                )
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("epoll_wait: {error}");
                crate::runtime::sleep(ERROR_PAUSE).await;
                break;
            }
            let sockets = epoll.sockets.borrow();
            for event in &events[..n as usize] {
                let token = event.u64;
                if let Some(state) = sockets.get(&token) {
                    state.readable.set(true);
                    if let Some(waiter) = state.waiter.take() {
                        waiter.wake();
                    }
                }
            }
            if (n as usize) < HARVEST_EVENTS_MAX {
                break;
            }
        }
    }
}
