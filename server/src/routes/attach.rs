//! `POST /containers/{id}/attach` and `POST /exec/{id}/start`: the HTTP upgrade
//! hijack. After `101 Switching Protocols` the connection carries the process's
//! output (raw with a TTY, multiplexed without) and, if asked, the client's stdin.
//! The detach sequence (ctrl-p ctrl-q unless `detachKeys` says otherwise) is
//! watched for here, in the daemon, as Docker does: it ends the attach and leaves
//! the process running.

use super::truthy;
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

const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

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
    let keys = parse_detach_keys(
        q.get("detachKeys")
            .filter(|k| !k.is_empty())
            .map(String::as_str)
            .unwrap_or(DEFAULT_DETACH_KEYS),
    )
    .map_err(ApiError::bad_request)?;
    let tty = st.host.has_tty(&id)?;
    let connect = st.host.attach(&id, areq.clone())?;
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let Ok(monitor) = connect.await else { return };
        pump(
            TokioIo::new(upgraded),
            monitor,
            tty,
            areq.stdin,
            keys,
            |_| {},
        )
        .await;
    });
    upgrade_response(tty)
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
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let (tty, keys) = st.host.exec_tty(&id)?;
    let keys = parse_detach_keys(if keys.is_empty() {
        DEFAULT_DETACH_KEYS
    } else {
        &keys
    })
    .map_err(ApiError::bad_request)?;
    let size = start
        .console_size
        .map(|[h, w]| [h as u16, w as u16])
        .filter(|[h, w]| *h > 0 && *w > 0);
    let connect = st.host.exec_start(&id, size)?;
    let host = st.host.clone();
    if start.detach {
        // Nobody reads the output; keep the connection to learn the exit code.
        let monitor = connect.await?;
        tokio::spawn(async move {
            let code = drain_until_exit(monitor).await;
            host.exec_finished(&id, code);
        });
        return Ok((StatusCode::OK, Bytes::new()).into_response());
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let monitor = match connect.await {
            Ok(m) => m,
            Err(_) => {
                host.exec_finished(&id, 126);
                return;
            }
        };
        // The exit is recorded before the client's stream ends, so that an
        // inspect right after it sees the exit code (as docker's does). A
        // detached client leaves the exec running: it is over when we learn so.
        pump(TokioIo::new(upgraded), monitor, tty, true, keys, |code| {
            host.exec_finished(&id, code)
        })
        .await;
    });
    upgrade_response(tty)
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
            let out = if tty {
                data
            } else {
                shared::mux::frame(s, &data)
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
