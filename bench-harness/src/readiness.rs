//! Which of a load thread's connections can be read or written: one edge-triggered epoll
//! instance per thread, each connection registered once.
//!
//! The loop used to `ppoll` every connection on each turn. With 50 connections at pipeline 1 that
//! cost a tenth of the load core (the kernel polls and queues a waiter on every socket per call),
//! and on the 2-core development VM that core also runs the disk's completion work, so the load
//! generator's own cost moved the figures it measured. epoll costs only the ready sockets.
//!
//! Edge-triggered: an event says that input arrived (or the socket closed or failed) or that
//! room opened up for output since the last event. A connection with an input event is read until
//! its queue is drained (`Conn::fill_input` stops at a short read), or it gets no further event.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Events taken from the kernel per wait; more stay queued for the next wait.
const EVENTS_PER_WAIT_MAX: usize = 1024;

pub struct Readiness {
    epoll: OwnedFd,
    events: Vec<libc::epoll_event>,
}

/// One connection's event: its index (as registered) and what it is ready for.
pub struct Ready {
    pub index: usize,
    /// Input, end of stream or an error: a read says which.
    pub readable: bool,
    pub writable: bool,
}

impl Readiness {
    pub fn new() -> Result<Readiness, String> {
        // SAFETY: no pointers; returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(format!(
                "epoll_create1 failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Readiness {
            // SAFETY: `fd` is a descriptor we just created and own.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            events: Vec::with_capacity(EVENTS_PER_WAIT_MAX),
        })
    }

    /// Registers connection `index`'s socket for input and output events.
    pub fn register(&self, fd: RawFd, index: usize) -> Result<(), String> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: index as u64,
        };
        // SAFETY: `event` is a valid epoll_event that the kernel only reads.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(format!(
                "epoll_ctl failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Waits up to `timeout` (to the microsecond) for events and returns how many came (none on
    /// a timeout or a signal); `ready(i)` reads them.
    pub fn wait(&mut self, timeout: Duration) -> Result<usize, String> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        self.events.clear();
        // SAFETY: `events` has room for EVENTS_PER_WAIT_MAX entries, which the kernel fills and
        // we count below; `ts` is a valid timespec; a null sigmask leaves the mask unchanged.
        let n = unsafe {
            libc::epoll_pwait2(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                EVENTS_PER_WAIT_MAX as libc::c_int,
                &ts,
                std::ptr::null(),
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(format!("epoll_pwait2 failed: {err}"));
        }
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { self.events.set_len(n as usize) };
        Ok(self.events.len())
    }

    /// Event `i` of the last `wait`.
    pub fn ready(&self, i: usize) -> Ready {
        let event = self.events[i];
        let flags = event.events as libc::c_int;
        Ready {
            index: event.u64 as usize,
            readable: flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR)
                != 0,
            writable: flags & libc::EPOLLOUT != 0,
        }
    }
}
