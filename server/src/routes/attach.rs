//! `POST /containers/{id}/attach`: the HTTP upgrade hijack. After `101 Switching
//! Protocols` the connection carries the container's output (raw with a TTY,
//! multiplexed without) and, if asked, the client's stdin.

use super::truthy;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use engine::monitor::{AttachRequest, EXIT_STREAM};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    };
    let tty = st.host.has_tty(&id)?;
    let connect = st.host.attach(&id, areq.clone())?;
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let Ok(monitor) = connect.await else { return };
        pump(TokioIo::new(upgraded), monitor, tty, areq.stdin).await;
    });
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

/// Copy frames from the monitor to the client until the exit frame, and the
/// client's bytes to the monitor as stdin.
async fn pump<C>(client: C, monitor: tokio::net::UnixStream, tty: bool, stdin: bool)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut mr, mut mw) = monitor.into_split();
    let input = tokio::spawn(async move {
        if stdin {
            let _ = tokio::io::copy(&mut cr, &mut mw).await;
            // Client half-closed: stdin EOF reaches the process.
            let _ = mw.shutdown().await;
        }
    });
    let mut d = shared::mux::Demuxer::default();
    let mut buf = vec![0u8; 32 * 1024];
    'outer: loop {
        match mr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => d.push(&buf[..n]),
        }
        while let Some((s, data)) = d.next_frame() {
            if s == EXIT_STREAM {
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
    let _ = cw.flush().await;
    let _ = cw.shutdown().await;
    input.abort();
}
