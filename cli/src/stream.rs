//! The hijacked attach stream (docker/cli `hijack.go`): container output to our
//! stdout/stderr (demultiplexed unless the container has a TTY), our stdin to the
//! container with a half-close on EOF, and the local terminal in raw mode for `-t`.

use crate::escape::{EscapeProxy, Filtered};
use shared::mux::{Demuxer, STDERR};
use std::io::Write;
use std::os::fd::AsRawFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Write demultiplexed or raw output bytes to the given writers.
pub struct OutputSink<O: Write, E: Write> {
    tty: bool,
    demux: Demuxer,
    pub out: O,
    pub err: E,
}

impl<O: Write, E: Write> OutputSink<O, E> {
    pub fn new(tty: bool, out: O, err: E) -> Self {
        OutputSink {
            tty,
            demux: Demuxer::default(),
            out,
            err,
        }
    }

    pub fn push(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.tty {
            self.out.write_all(data)?;
            return self.out.flush();
        }
        self.demux.push(data);
        while let Some((stream, frame)) = self.demux.next_frame() {
            if stream == STDERR {
                self.err.write_all(&frame)?;
                self.err.flush()?;
            } else {
                self.out.write_all(&frame)?;
                self.out.flush()?;
            }
        }
        Ok(())
    }
}

/// Where container output goes: our stdout and stderr, or buffers in tests.
pub struct Outputs {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
}

impl Outputs {
    pub fn std() -> Outputs {
        Outputs {
            out: Box::new(std::io::stdout()),
            err: Box::new(std::io::stderr()),
        }
    }
}

/// Copy a stream's output to the writers until EOF.
pub async fn copy_output<R: AsyncRead + Unpin>(
    mut r: R,
    tty: bool,
    outputs: Outputs,
) -> std::io::Result<()> {
    let mut sink = OutputSink::new(tty, outputs.out, outputs.err);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        sink.push(&buf[..n])?;
    }
}

/// How an attach session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The daemon closed the output (the process ended, or the daemon detached us).
    Output,
    /// The user typed the detach sequence (docker's `term.EscapeError`).
    Detached,
}

/// One hijacked session (docker/cli `hijackedIOStreamer`).
pub struct Session {
    /// The container or exec has a TTY: output is raw, not multiplexed.
    pub tty: bool,
    /// Copy our stdin to the stream, half-closing it on EOF.
    pub stdin: bool,
    /// Watch stdin for this detach sequence (docker does so with a TTY only).
    pub escape: Option<Vec<u8>>,
    pub outputs: Outputs,
    /// The local terminal's raw mode, restored as soon as the stream ends.
    pub raw: Option<RawTerminal>,
}

/// Run an attach session: output until the daemon closes it; stdin (when wanted)
/// copied in and half-closed on EOF; the detach sequence ends the session at once.
pub async fn stream<S>(conn: S, s: Session) -> std::io::Result<End>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Session {
        tty,
        stdin,
        escape,
        outputs,
        raw,
    } = s;
    let (r, mut w) = tokio::io::split(conn);
    let input = if stdin {
        Some(tokio::spawn(async move {
            let mut input = tokio::io::stdin();
            let mut proxy = escape.map(EscapeProxy::new);
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match input.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let data = match proxy.as_mut().map(|p| p.feed(&buf[..n])) {
                    None => buf[..n].to_vec(),
                    Some(Filtered::Data(d)) => d,
                    Some(Filtered::Detach(d)) => {
                        let _ = w.write_all(&d).await;
                        let _ = w.flush().await;
                        return End::Detached;
                    }
                };
                if w.write_all(&data).await.is_err() || w.flush().await.is_err() {
                    break;
                }
            }
            // stdin EOF reaches the process: close our write side only.
            let _ = w.shutdown().await;
            End::Output
        }))
    } else {
        drop(w);
        None
    };
    let output = copy_output(r, tty, outputs);
    tokio::pin!(output);
    let end = match input {
        None => output.await.map(|_| End::Output),
        Some(mut input) => tokio::select! {
            res = &mut output => {
                input.abort();
                res.map(|_| End::Output)
            }
            end = &mut input => match end {
                Ok(End::Detached) => Ok(End::Detached),
                // Input is over: the output still runs to its end.
                _ => output.await.map(|_| End::Output),
            },
        },
    };
    drop(raw);
    end
}

pub fn stdin_is_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin().as_raw_fd()).unwrap_or(false)
}

pub fn stdout_is_terminal() -> bool {
    nix::unistd::isatty(std::io::stdout().as_raw_fd()).unwrap_or(false)
}

/// Rows and columns of the terminal on stdout, if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively borrowed `ws`.
    let rc = unsafe { libc::ioctl(std::io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Puts stdin's terminal into raw mode and restores it when dropped.
pub struct RawTerminal {
    pub saved: nix::sys::termios::Termios,
}

impl RawTerminal {
    pub fn enable() -> Option<RawTerminal> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::mux::{frame, STDOUT};

    #[test]
    fn demultiplexes_split_frames_to_the_right_writer() {
        let mut bytes = frame(STDOUT, b"out\n");
        bytes.extend(frame(STDERR, b"err\n"));
        let mut sink = OutputSink::new(false, Vec::new(), Vec::new());
        for c in bytes.chunks(5) {
            sink.push(c).unwrap();
        }
        assert_eq!(sink.out, b"out\n");
        assert_eq!(sink.err, b"err\n");
    }

    #[test]
    fn tty_output_is_passed_through_raw() {
        let mut sink = OutputSink::new(true, Vec::new(), Vec::new());
        sink.push(b"\x01\x00raw").unwrap();
        assert_eq!(sink.out, b"\x01\x00raw");
    }
}
