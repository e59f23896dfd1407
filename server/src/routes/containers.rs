//! Container endpoints: create, list, inspect, start/stop/kill/restart, wait,
//! logs, remove.

use super::truthy;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::daemon::WaitCondition;
use engine::logs::{LogEntry, LogOptions};
use futures_util::StreamExt;
use shared::api::ContainerCreateRequest;
use std::collections::HashMap;
use std::convert::Infallible;

type Q = Query<HashMap<String, String>>;

pub async fn create(State(st): State<AppState>, Query(q): Q, body: Bytes) -> ApiResult<Response> {
    let mut raw: serde_json::Value = crate::error::json_body(&body)?;
    if let Some(hc) = raw.get_mut("HostConfig") {
        shared::api::canonical_host_config(hc);
    }
    let req: ContainerCreateRequest = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if req.config.image.is_empty() {
        return Err(ApiError::bad_request("No image was specified"));
    }
    let name = q.get("name").filter(|n| !n.is_empty()).cloned();
    let daemon = st.daemon.clone();
    let created = tokio::task::spawn_blocking(move || daemon.create(name.as_deref(), req))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub async fn list(State(st): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters =
        engine::container::parse_filters(q.get("filters").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let rows = st.daemon.list(truthy(q.get("all")), limit, &filters)?;
    Ok(Json(rows).into_response())
}

pub async fn inspect(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(st.daemon.inspect(&id)?).into_response())
}

pub async fn start(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    Ok(if st.daemon.start(&id).await? {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    })
}

fn timeout(q: &HashMap<String, String>) -> ApiResult<Option<i64>> {
    match q.get("t").or(q.get("timeout")) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid timeout: {t}"))),
    }
}

pub async fn stop(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let t = timeout(&q)?;
    let stopped = st
        .daemon
        .stop(&id, t, q.get("signal").map(String::as_str))
        .await?;
    Ok(if stopped {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    })
}

pub async fn restart(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let t = timeout(&q)?;
    st.daemon
        .stop(&id, t, q.get("signal").map(String::as_str))
        .await?;
    st.daemon.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kill(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    st.daemon
        .kill(&id, q.get("signal").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn size(q: &HashMap<String, String>) -> ApiResult<(u16, u16)> {
    let get = |k: &str| {
        q.get(k)
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| ApiError::bad_request(format!("invalid resize parameter {k}")))
    };
    Ok((get("h")?, get("w")?))
}

pub async fn resize(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let (h, w) = size(&q)?;
    st.daemon.resize(&id, None, h, w).await?;
    Ok(StatusCode::OK)
}

pub async fn exec_resize(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let (h, w) = size(&q)?;
    st.daemon.resize("", Some(&id), h, w).await?;
    Ok(StatusCode::OK)
}

pub async fn exec_create(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: shared::api::ExecCreateRequest = crate::error::json_body(&body)?;
    super::attach::check_exec_detach_keys(&req.detach_keys)?;
    let exec_id = st.daemon.exec_create(&id, req)?;
    Ok((
        StatusCode::CREATED,
        Json(shared::api::IdResponse {
            id: exec_id,
            warnings: vec![],
        }),
    )
        .into_response())
}

pub async fn exec_inspect(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(st.daemon.exec_inspect(&id)?).into_response())
}

pub async fn rename(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let name = q.get("name").cloned().unwrap_or_default();
    st.daemon.rename(&id, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    st.daemon.pause(&id, true)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unpause(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    st.daemon.pause(&id, false)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn top(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(st.daemon.top(&id)?).into_response())
}

pub async fn remove(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    if truthy(q.get("link")) {
        st.daemon.remove_link(&id)?;
        return Ok(StatusCode::NO_CONTENT);
    }
    st.daemon
        .remove_with_volumes(&id, truthy(q.get("force")), truthy(q.get("v")))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/{parent}/{alias}?link=1`: a link's name has a slash.
pub async fn remove_link(
    State(st): State<AppState>,
    Path((parent, alias)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let name = format!("{parent}/{alias}");
    if !truthy(q.get("link")) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("No such container: {name}"),
        ));
    }
    st.daemon.remove_link(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Headers go out at once (the CLI blocks on them before `start`); the body when
/// the condition is met.
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let cond = match q.get("condition").map(String::as_str) {
        None | Some("") | Some("not-running") => WaitCondition::NotRunning,
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: \"{other}\""
            )))
        }
    };
    let fut = st.daemon.wait(&id, cond)?;
    let body = futures_util::stream::once(async move {
        let r = fut.await;
        Ok::<_, Infallible>(Bytes::from(serde_json::to_vec(&r).unwrap_or_default()))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn encode(entries: &[LogEntry], opts: &LogOptions, tty: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let data = opts.render(e);
        if tty {
            out.extend_from_slice(&data);
        } else {
            let s = if e.stream == "stderr" {
                shared::mux::STDERR
            } else {
                shared::mux::STDOUT
            };
            out.extend_from_slice(&shared::mux::frame(s, &data));
        }
    }
    out
}

pub async fn logs(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let opts = LogOptions {
        stdout: truthy(q.get("stdout")),
        stderr: truthy(q.get("stderr")),
        follow: truthy(q.get("follow")),
        timestamps: truthy(q.get("timestamps")),
        tail: q.get("tail").and_then(|t| t.parse::<usize>().ok()),
        since: q.get("since").and_then(|s| engine::logs::parse_unix(s)),
        until: q.get("until").and_then(|s| engine::logs::parse_unix(s)),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tty = st.daemon.has_tty(&id)?;
    let (path, running, full_id) = st.daemon.log_source(&id)?;
    if path.as_os_str().is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "configured logging driver does not support reading",
        ));
    }
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", content_type);
    // The existing log is read on a blocking thread and streamed in batches; the
    // channel's bound keeps a slow client from making the daemon buffer it all.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let scan_opts = opts.clone();
    let (off_tx, off_rx) = tokio::sync::oneshot::channel::<u64>();
    tokio::task::spawn_blocking(move || {
        let offset = engine::logs::scan(&path, &scan_opts, &mut |batch| {
            tx.blocking_send(Bytes::from(encode(&batch, &scan_opts, tty)))
                .is_ok()
        });
        let _ = off_tx.send(offset);
    });
    let existing = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    if !opts.follow || !running {
        return builder
            .body(Body::from_stream(existing))
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
    }
    let daemon = st.daemon.clone();
    // Follow: once the existing log is out, poll the file for whole new lines
    // until the container stops, then a last read so nothing written before the
    // exit is lost.
    let follow = futures_util::stream::unfold(
        (0u64, Some(off_rx), true),
        move |(offset, off_rx, alive)| {
            let daemon = daemon.clone();
            let id = full_id.clone();
            let opts = opts.clone();
            async move {
                if !alive {
                    return None;
                }
                let mut offset = offset;
                if let Some(rx) = off_rx {
                    offset = rx.await.unwrap_or(0);
                }
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    let Ok((entries, next, running)) = daemon.logs_since(&id, offset) else {
                        return None;
                    };
                    let wanted: Vec<LogEntry> =
                        entries.into_iter().filter(|e| opts.wants(e)).collect();
                    if !wanted.is_empty() || !running {
                        let chunk = Bytes::from(encode(&wanted, &opts, tty));
                        return Some((Ok::<_, Infallible>(chunk), (next, None, running)));
                    }
                    offset = next;
                }
            }
        },
    );
    let stream = existing.chain(follow);
    builder
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let v: serde_json::Value = crate::error::json_body(&body)?;
    let map = v.as_object().cloned().unwrap_or_default();
    let warnings = st.daemon.update(&id, &map)?;
    Ok(Json(serde_json::json!({ "Warnings": warnings })).into_response())
}

/// `GET /containers/{id}/stats`: one JSON object per second while streaming;
/// with `stream=false` two samples a second apart (so CPU % has a delta) and
/// the second sent; `one-shot` sends the first at once.
pub async fn stats(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let stream = q.get("stream").map(|v| truthy(Some(v))).unwrap_or(true);
    let one_shot = truthy(q.get("one-shot"));
    let (full_id, name, src) = st.daemon.stats_source(&id)?;
    let Some((cgroup, pid)) = src else {
        let v = engine::stats::ContainerStats::stopped(&full_id, &name);
        return Ok(Json(v).into_response());
    };
    let mut sampler = engine::stats::StatsSampler::new(cgroup, &full_id, &name, Some(pid));
    let internal = |e: engine::stats::StatsError| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    };
    if !stream {
        let first = sampler.sample().map_err(internal)?;
        if one_shot {
            return Ok(Json(first).into_response());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let second = sampler.sample().map_err(internal)?;
        return Ok(Json(second).into_response());
    }
    let daemon = st.daemon.clone();
    let body = futures_util::stream::unfold((sampler, true), move |(mut sampler, first)| {
        let daemon = daemon.clone();
        let id = full_id.clone();
        async move {
            if !first {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            let running = daemon
                .inspect(&id)
                .map(|r| r.state.running)
                .unwrap_or(false);
            if !running {
                return None;
            }
            let v = sampler.sample().ok()?;
            let mut line = serde_json::to_vec(&v).ok()?;
            line.push(b'\n');
            Some((Ok::<_, Infallible>(Bytes::from(line)), (sampler, false)))
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
