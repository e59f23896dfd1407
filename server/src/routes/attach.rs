//! `POST /containers/{id}/attach` and `POST /exec/{id}/start`: the HTTP upgrade
//! hijack. After `101 Switching Protocols` the connection carries the process's
//! output and, if asked, the client's stdin. An attach's stream is raw when the
//! container has a TTY, multiplexed otherwise; an exec's follows the start
//! request's `Tty`, as moby's does, whatever the exec itself has. `logs=1` first
//! replays the container's log; `stream=1` then follows its output, for a stopped
//! container from its next start. The detach sequence (ctrl-p ctrl-q unless
//! `detachKeys` says otherwise) is watched for here, in the daemon, as Docker
//! does: it ends the attach and leaves the process running.

use super::{hijack, truthy};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::monitor::{AttachRequest, EXIT_STREAM};
use engine::runtime::spec::ExitStatus;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Docker's detach-key syntax: comma-separated `ctrl-<x>` or single characters.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = vec![];
    for part in spec.split(',') {
        let p = part.trim();
        if let Some(c) = p.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b'@'] => 0,
                [x @ b'a'..=b'z'] => x - b'a' + 1,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Unknown character: '{p}'")),
            };
            out.push(b);
        } else if p.len() == 1 {
            out.push(p.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{p}'"));
        }
    }
    Ok(out)
}

/// Finds the detach sequence in a byte stream; bytes that might start it are held
/// back until it is clear whether they do.
pub struct DetachScanner {
    seq: Vec<u8>,
    held: Vec<u8>,
}

impl DetachScanner {
    pub fn new(seq: Vec<u8>) -> Self {
        DetachScanner { seq, held: vec![] }
    }

    /// Bytes to forward, and whether the sequence was completed.
    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = vec![];
        if self.seq.is_empty() {
            return (data.to_vec(), false);
        }
        for &b in data {
            if b == self.seq[self.held.len()] {
                self.held.push(b);
                if self.held.len() == self.seq.len() {
                    return (out, true);
                }
            } else {
                out.append(&mut self.held);
                if b == self.seq[0] {
                    self.held.push(b);
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

fn upgrade_response(tty: bool) -> ApiResult<Response> {
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::empty())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Docker's default detach sequence, ctrl-p ctrl-q.
const DEFAULT_KEYS: [u8; 2] = [16, 17];

/// The keys a client asked for, or the default; moby's error for a bad spec.
pub(super) fn detach_keys(spec: Option<&str>, what: &str) -> ApiResult<Vec<u8>> {
    match spec.filter(|k| !k.is_empty()) {
        None => Ok(DEFAULT_KEYS.to_vec()),
        Some(k) => parse_detach_keys(k)
            .map_err(|_| ApiError::bad_request(format!("Invalid {what} keys ({k}) provided"))),
    }
}

/// `DetachKeys` of `POST /containers/{id}/exec`, checked as moby checks them
/// (its error there is a plain one: 500).
pub fn check_exec_detach_keys(spec: &str) -> ApiResult<()> {
    detach_keys(Some(spec), "escape")
        .map(|_| ())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.message))
}

pub async fn attach(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    mut req: Request,
) -> ApiResult<Response> {
    let areq = AttachRequest {
        stdin: truthy(q.get("stdin")),
        stdout: truthy(q.get("stdout")),
        stderr: truthy(q.get("stderr")),
        ..Default::default()
    };
    let keys = detach_keys(q.get("detachKeys").map(String::as_str), "detach")?;
    let target = st.daemon.attach_target(&id)?;
    // The log as it is now: what a stream attached now would not show again.
    let logs = truthy(q.get("logs")).then(|| LogSnapshot::now(&target.log_path));
    // Registered now, before the response: a client that attaches and then
    // starts the container must see its first output.
    let connect = if truthy(q.get("stream")) {
        Some(st.daemon.attach(&target.id, areq.clone())?)
    } else {
        None
    };
    let fd = hijack::conn_fd(&req);
    let upgrade = hyper::upgrade::on(&mut req);
    let tty = target.tty;
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut client = TokioIo::new(upgraded);
        hijack::response_read(fd).await;
        if let Some(snapshot) = logs {
            if snapshot.replay(&mut client, &areq, tty).await.is_err() {
                return;
            }
        }
        let Some(connect) = connect else {
            let _ = client.flush().await;
            let _ = client.shutdown().await;
            return;
        };
        let Ok(monitor) = connect.await else { return };
        pump(client, monitor, tty, areq.stdin, keys, |_| {}).await;
    });
    upgrade_response(tty)
}

/// The json-file log at the time of a request: its files and how much of the
/// current one there was.
pub(super) struct LogSnapshot {
    files: Vec<std::path::PathBuf>,
    current_len: u64,
}

impl LogSnapshot {
    pub(super) fn now(log_path: &std::path::Path) -> LogSnapshot {
        LogSnapshot {
            files: engine::logs::files(log_path),
            current_len: std::fs::metadata(log_path).map(|m| m.len()).unwrap_or(0),
        }
    }

    /// Send the logged output the attach asked for, as the stream would carry it.
    async fn replay<C>(self, client: &mut C, req: &AttachRequest, tty: bool) -> std::io::Result<()>
    where
        C: tokio::io::AsyncWrite + Unpin,
    {
        let mut lines = self.lines(req);
        while let Some((stream, data)) = lines.next().await? {
            let out = if tty {
                data
            } else {
                shared::mux::frame(stream, &data)
            };
            client.write_all(&out).await?;
        }
        client.flush().await
    }

    /// The logged output of the streams `req` asks for, oldest first.
    pub(super) fn lines(self, req: &AttachRequest) -> LogLines {
        LogLines {
            files: self.files.into_iter(),
            current_len: self.current_len,
            reader: None,
            stdout: req.stdout,
            stderr: req.stderr,
        }
    }
}

type LogReader = tokio::io::BufReader<tokio::io::Take<tokio::fs::File>>;

pub(super) struct LogLines {
    files: std::vec::IntoIter<std::path::PathBuf>,
    current_len: u64,
    reader: Option<LogReader>,
    stdout: bool,
    stderr: bool,
}

impl LogLines {
    /// The next entry: its stream (1 stdout, 2 stderr) and its bytes.
    pub(super) async fn next(&mut self) -> std::io::Result<Option<(u8, Vec<u8>)>> {
        use tokio::io::AsyncBufReadExt;
        let mut line = Vec::new();
        loop {
            let Some(r) = self.reader.as_mut() else {
                let Some(path) = self.files.next() else {
                    return Ok(None);
                };
                // The current file (the last) only as far as it was.
                let limit = if self.files.len() == 0 {
                    self.current_len
                } else {
                    u64::MAX
                };
                if let Ok(f) = tokio::fs::File::open(&path).await {
                    self.reader = Some(tokio::io::BufReader::new(f.take(limit)));
                }
                continue;
            };
            line.clear();
            if r.read_until(b'\n', &mut line).await? == 0 || line.last() != Some(&b'\n') {
                self.reader = None;
                continue;
            }
            let Ok(e) = serde_json::from_slice::<engine::logs::LogEntry>(&line) else {
                continue;
            };
            match e.stream.as_str() {
                "stdout" if self.stdout => return Ok(Some((shared::mux::STDOUT, e.log.into()))),
                "stderr" if self.stderr => return Ok(Some((shared::mux::STDERR, e.log.into()))),
                _ => {}
            }
        }
    }
}

pub async fn exec_start(
    State(st): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let start: shared::api::ExecStartRequest = if body.is_empty() {
        Default::default()
    } else {
        crate::error::json_body(&body)?
    };
    let (_, keys) = st.daemon.exec_tty(&id)?;
    let keys = detach_keys(Some(keys.as_str()), "escape")?;
    // As moby: the start request's `Tty`, not the exec's, says whether the stream
    // is raw or multiplexed (docker-py starts TTY execs without it, and reads
    // frames); a console size needs it too.
    let raw = start.tty;
    let size = start
        .console_size
        .filter(|_| raw)
        .map(|[h, w]| [h as u16, w as u16])
        .filter(|[h, w]| *h > 0 && *w > 0);
    let connect = st.daemon.exec_start(&id, size)?;
    let daemon = st.daemon.clone();
    if start.detach {
        // Nobody reads the output; keep the connection to learn the exit code.
        let monitor = connect.await?;
        tokio::spawn(async move {
            let code = drain_until_exit(monitor).await;
            daemon.exec_finished(&id, code);
        });
        return Ok((StatusCode::OK, Bytes::new()).into_response());
    }
    let fd = hijack::conn_fd(&req);
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            daemon.exec_finished(&id, 126);
            return;
        };
        // The process starts once the client can see all of its output.
        hijack::response_read(fd).await;
        let monitor = match connect.await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("exec {id}: {e}");
                daemon.exec_finished(&id, 126);
                return;
            }
        };
        // The exit is recorded before the client's stream ends, so that an
        // inspect right after it sees the exit code (as docker's does). A
        // detached client leaves the exec running: it is over when we learn so.
        pump(TokioIo::new(upgraded), monitor, raw, true, keys, |code| {
            daemon.exec_finished(&id, code)
        })
        .await;
    });
    upgrade_response(raw)
}

async fn drain_until_exit(mut monitor: tokio::net::UnixStream) -> i64 {
    let mut d = shared::mux::Demuxer::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some((s, data)) = d.next_frame() {
            if s == EXIT_STREAM {
                return serde_json::from_slice::<ExitStatus>(&data)
                    .map(|e| e.code)
                    .unwrap_or(255);
            }
        }
        match monitor.read(&mut buf).await {
            Ok(0) | Err(_) => return 255,
            Ok(n) => d.push(&buf[..n]),
        }
    }
}

/// Copy frames from the monitor to the client until the exit frame, and the
/// client's bytes to the monitor as stdin, until the detach sequence. When the
/// process ended while attached, `on_exit` gets its exit code before the
/// client's stream is closed.
async fn pump<C>(
    client: C,
    monitor: tokio::net::UnixStream,
    tty: bool,
    stdin: bool,
    keys: Vec<u8>,
    on_exit: impl FnOnce(i64),
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut mr, mut mw) = monitor.into_split();
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = tokio::spawn(async move {
        if !stdin {
            // Keep the sender alive so that the output loop does not see a detach.
            std::future::pending::<()>().await;
        }
        let mut scanner = DetachScanner::new(keys);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    // Client half-closed: stdin EOF reaches the process.
                    let _ = mw.shutdown().await;
                    std::future::pending::<()>().await;
                }
                Ok(n) => {
                    let (fwd, detached) = scanner.feed(&buf[..n]);
                    if !fwd.is_empty() && mw.write_all(&fwd).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    if detached {
                        let _ = detach_tx.send(());
                        return;
                    }
                }
            }
        }
    });
    let mut d = shared::mux::Demuxer::default();
    let mut buf = vec![0u8; 32 * 1024];
    let mut exit = None;
    'outer: loop {
        tokio::select! {
            r = mr.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => d.push(&buf[..n]),
            },
            _ = &mut detach_rx => break,
        }
        while let Some((s, data)) = d.next_frame() {
            if s == EXIT_STREAM {
                exit = Some(
                    serde_json::from_slice::<ExitStatus>(&data)
                        .map(|e| e.code)
                        .unwrap_or(255),
                );
                break 'outer;
            }
            // A raw stream carries stdout alone (moby attaches no stderr to it).
            let out = if !tty {
                shared::mux::frame(s, &data)
            } else if s == shared::mux::STDOUT {
                data
            } else {
                continue;
            };
            if cw.write_all(&out).await.is_err() {
                break 'outer;
            }
        }
    }
    if let Some(code) = exit {
        on_exit(code);
    }
    let _ = cw.flush().await;
    let _ = cw.shutdown().await;
    input.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-x,x").unwrap(), vec![24, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-[").unwrap(), vec![0, 27]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("xx").is_err());
    }

    #[test]
    fn the_scanner_holds_partial_matches_and_flushes_false_starts() {
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        // A false start: the held ctrl-p goes out with the next byte.
        assert_eq!(s.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(s.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(s.feed(b"\x11rest"), (vec![], true));
        let mut split = DetachScanner::new(vec![16, 17]);
        assert_eq!(split.feed(b"\x10"), (vec![], false));
        assert_eq!(split.feed(b"\x11"), (vec![], true));
    }
}
