//! `GET /containers/{id}/attach/ws`: attach over a WebSocket, as moby's
//! `wsContainersAttach` serves it. Never multiplexed: each binary message (API
//! 1.28 and later) carries output as it came, stdout and stderr alike; the
//! client's messages are the container's stdin. `logs`, `stream`, the streams
//! asked for and the detach keys work as for the hijacked attach.

use super::attach::{detach_keys, DetachScanner, LogSnapshot};
use super::truthy;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use engine::monitor::{AttachRequest, EXIT_STREAM};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn attach_ws(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let req = AttachRequest {
        stdin: truthy(q.get("stdin")),
        stdout: truthy(q.get("stdout")),
        stderr: truthy(q.get("stderr")),
        ..Default::default()
    };
    let keys = detach_keys(q.get("detachKeys").map(String::as_str), "detach")?;
    let target = st.daemon.attach_target(&id)?;
    let logs = truthy(q.get("logs")).then(|| LogSnapshot::now(&target.log_path));
    // Registered before the upgrade, as for the hijacked attach.
    let connect = if truthy(q.get("stream")) {
        Some(st.daemon.attach(&target.id, req.clone())?)
    } else {
        None
    };
    Ok(ws.on_upgrade(move |socket: WebSocket| {
        let (tx, rx) = socket.split();
        session(tx, rx, logs, connect, req, keys)
    }))
}

/// One attach over a WebSocket, written over `Sink`/`Stream` (the socket's two
/// halves) so that it does not care what carries the messages.
async fn session<Tx, Rx, C>(
    mut tx: Tx,
    mut rx: Rx,
    logs: Option<LogSnapshot>,
    connect: Option<C>,
    req: AttachRequest,
    keys: Vec<u8>,
) where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, axum::Error>> + Unpin + Send + 'static,
    C: Future<Output = engine::error::Result<tokio::net::UnixStream>>,
{
    if let Some(logs) = logs {
        let mut lines = logs.lines(&req);
        while let Ok(Some((_, data))) = lines.next().await {
            if tx.send(Message::Binary(data.into())).await.is_err() {
                return;
            }
        }
    }
    let monitor = match connect {
        Some(c) => c.await.ok(),
        None => None,
    };
    let Some(monitor) = monitor else {
        let _ = tx.send(Message::Close(None)).await;
        return;
    };
    let (mut mr, mut mw) = monitor.into_split();
    // The client's messages: stdin (if asked for) until the detach keys; the
    // attach ends with the client's close, or the detach.
    let stdin = req.stdin;
    let mut input = tokio::spawn(async move {
        let mut scanner = DetachScanner::new(keys);
        while let Some(Ok(msg)) = rx.next().await {
            let data = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_str().as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            if !stdin {
                continue;
            }
            let (fwd, detached) = scanner.feed(&data);
            if !fwd.is_empty() && mw.write_all(&fwd).await.is_err() {
                break;
            }
            if detached {
                break;
            }
        }
    });
    let mut d = shared::mux::Demuxer::default();
    let mut buf = vec![0u8; 32 * 1024];
    'outer: loop {
        tokio::select! {
            r = mr.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => d.push(&buf[..n]),
            },
            _ = &mut input => break,
        }
        while let Some((s, data)) = d.next_frame() {
            if s == EXIT_STREAM {
                break 'outer;
            }
            if tx.send(Message::Binary(data.into())).await.is_err() {
                break 'outer;
            }
        }
    }
    let _ = tx.send(Message::Close(None)).await;
    input.abort();
}
