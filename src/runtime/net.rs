//! TCP listeners and streams.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

use futures_lite::AsyncWriteExt;
use socket2::{Domain, Protocol, Socket, Type};

use super::readiness::Reader;

/// A bound, listening socket, made without SO_REUSEPORT so that a second server on the same port
/// fails with "address in use" instead of silently sharing it. Every shard accepts on its own
/// duplicate of the one socket (`Listener::for_shard`).
pub struct BoundSocket {
    socket: Socket,
    pub addr: SocketAddr,
}

/// Backlog of pending connections (Redis's `tcp-backlog` default).
const TCP_BACKLOG: i32 = 511;

impl BoundSocket {
    pub fn bind(addr: SocketAddr) -> io::Result<BoundSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(TCP_BACKLOG)?;
        let addr = socket.local_addr()?.as_socket().unwrap_or(addr);
        Ok(BoundSocket { socket, addr })
    }

    /// A listener for one shard's executor, sharing this socket's accept queue.
    pub fn listener(&self) -> io::Result<Listener> {
        let dup = self.socket.try_clone()?;
        // SAFETY: `dup` is a fresh, owned, listening TCP socket; ownership moves to glommio.
        let inner = unsafe { glommio::net::TcpListener::from_raw_fd(dup.into_raw_fd()) };
        Ok(Listener { inner })
    }
}

/// What an executor accepts connections from.
pub struct Listener {
    inner: glommio::net::TcpListener,
}

impl Listener {
    pub async fn accept(&self) -> io::Result<Stream> {
        let stream = self.inner.accept().await.map_err(io::Error::from)?;
        let _ = stream.set_nodelay(true);
        Stream::new(stream)
    }
}

/// A connection: reads wait on the executor's epoll instance (`readiness`), writes go through
/// glommio.
pub struct Stream {
    /// Declared first so that it is dropped, and deregistered, before `inner` closes the socket.
    reader: Reader,
    inner: glommio::net::TcpStream,
}

impl Stream {
    fn new(inner: glommio::net::TcpStream) -> io::Result<Stream> {
        let reader = Reader::register(inner.as_raw_fd())?;
        Ok(Stream { reader, inner })
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer_addr().ok()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr().ok()
    }

    pub fn raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }

    /// A new descriptor for the same connection, for another executor to adopt
    /// (`Stream::adopt`); this stream can then be dropped without closing the connection.
    pub fn duplicate_fd(&self) -> io::Result<RawFd> {
        // SAFETY: dup on a descriptor we own; the new one is owned by the caller.
        let fd = unsafe { libc::dup(self.inner.as_raw_fd()) };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(fd)
        }
    }

    /// Takes over a connection's descriptor made by `duplicate_fd` on another executor.
    ///
    /// # Safety
    /// `fd` must be an open, connected TCP socket that nothing else owns.
    pub unsafe fn adopt(fd: RawFd) -> io::Result<Stream> {
        Stream::new(glommio::net::TcpStream::from_raw_fd(fd))
    }

    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf).await
    }

    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf).await
    }
}

/// True when the peer of a connected socket has closed it (or it failed): a non-consuming peek
/// reads end of stream or an error. Pending input counts as open.
pub fn peer_closed(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local buffer; a stale descriptor only yields an error.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n >= 0 {
        return n == 0;
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    !matches!(errno, libc::EAGAIN | libc::EINTR)
}

/// Shuts a socket down from outside its task (CLIENT KILL, idle timeout, SHUTDOWN): its pending
/// read returns end-of-stream and its task ends.
pub fn shutdown_fd(fd: RawFd) {
    // SAFETY: shutdown on a descriptor this process owns has no memory effects; a stale descriptor
    // only yields an error, which we ignore.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}
