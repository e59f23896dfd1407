//! What a hijacked connection (attach, exec start) needs beyond the HTTP upgrade.
//!
//! A client may read the `101` response through a buffered reader and then read
//! the stream from the bare socket: docker-py does (`response.raw._fp.fp.raw`).
//! Bytes that reached its socket together with the response head are then read
//! into that buffer and lost to the stream. moby gets away with it because runc
//! takes tens of milliseconds to start an exec'd process; ours starts in well under
//! one. So before the first byte of a stream is sent, and before an exec'd process
//! is even started, we wait until the client has read everything we wrote so far:
//! on a unix socket `SIOCOUTQ` counts the bytes the peer has not read yet.

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::Request;
use axum::serve::IncomingStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// The connection's socket, as connect info: `serve` each API listener with
/// `into_make_service_with_connect_info::<ConnFd>`.
#[derive(Debug, Clone, Copy)]
pub struct ConnFd(pub RawFd);

impl Connected<IncomingStream<'_, tokio::net::UnixListener>> for ConnFd {
    fn connect_info(stream: IncomingStream<'_, tokio::net::UnixListener>) -> Self {
        ConnFd(stream.io().as_raw_fd())
    }
}

/// The socket under this request, if it was served with `ConnFd`.
pub fn conn_fd(req: &Request) -> Option<RawFd> {
    req.extensions()
        .get::<ConnectInfo<ConnFd>>()
        .map(|ConnectInfo(ConnFd(fd))| *fd)
}

/// Bytes written to `fd` that its peer has not read yet.
fn unread(fd: RawFd) -> Option<i32> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int to the pointer we pass; on a bad
    // or foreign fd it fails with an error and we stop waiting.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ as _, &mut n) };
    (r == 0).then_some(n)
}

/// Wait until the client has read the response head (bounded: a client that
/// does not read at all gets its stream anyway). Call it only while the upgraded
/// connection is held, so that `fd` is still that connection's.
pub async fn response_read(fd: Option<RawFd>) {
    let Some(fd) = fd else { return };
    let deadline = Instant::now() + Duration::from_secs(2);
    while unread(fd).is_some_and(|n| n > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn unread_counts_what_the_peer_has_not_read() {
        let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(unread(a.as_raw_fd()), Some(0));
        a.write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
            .unwrap();
        assert!(unread(a.as_raw_fd()).unwrap() > 0);
        let mut buf = [0u8; 128];
        let _ = b.read(&mut buf).unwrap();
        assert_eq!(unread(a.as_raw_fd()), Some(0));
    }
}
