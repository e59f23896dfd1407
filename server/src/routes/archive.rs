//! The local image workflow: `commit`, `save` (`GET /images/get`), `load`,
//! `export`, `diff` (`/changes`), `system df` and the prune endpoints.
//!
//! Archives are produced on a blocking thread that writes into a channel the
//! response body drains, so a large `save` or `export` streams with bounded memory.
//! `load` spools the upload to an unnamed file under the data root first: an
//! archive's index comes last, and a half-read upload must never become an image.

use super::images::scratch_file;
use super::truthy;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::commit::{ChangeKind, CommitOptions};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use tokio::sync::mpsc;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// A `Write` that hands its bytes to a response body.
pub struct ChanWriter(mpsc::Sender<Result<Bytes, io::Error>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A body fed by a blocking producer; an error mid-stream cuts the response short
/// (as Docker does: the client sees a truncated archive).
pub fn streamed_body(
    produce: impl FnOnce(&mut ChanWriter) -> io::Result<()> + Send + 'static,
) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        let mut w = ChanWriter(tx.clone());
        if let Err(e) = produce(&mut w) {
            tracing::warn!(error = %e, "streaming an archive failed");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

fn tar_response(body: Body) -> Response {
    ([("Content-Type", "application/x-tar")], body).into_response()
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`
pub async fn commit(
    State(st): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let container = get("container").unwrap_or_default();
    let reference = match (
        get("repo").filter(|r| !r.is_empty()),
        get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r),
        (None, Some(_)) => return Err(ApiError::bad_request("tag without a repository")),
        (None, None) => None,
    };
    let opts = CommitOptions {
        reference,
        comment: get("comment").unwrap_or_default(),
        author: get("author").unwrap_or_default(),
        changes: q
            .iter()
            .filter(|(k, _)| k == "changes")
            .flat_map(|(_, v)| v.split('\n').map(String::from).collect::<Vec<_>>())
            .filter(|c| !c.trim().is_empty())
            .collect(),
        // API 1.13+: pause unless told otherwise.
        pause: match get("pause").as_deref() {
            None | Some("") => true,
            p => truthy(p.map(String::from).as_ref()),
        },
    };
    let daemon = st.daemon.clone();
    let id =
        tokio::task::spawn_blocking(move || engine::commit::commit(&daemon, &container, &opts))
            .await
            .map_err(internal)??;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}

/// `GET /images/get?names=` and `GET /images/{name}/get`.
pub async fn save(st: AppState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let daemon = st.daemon.clone();
    // Resolve every name before the first byte goes out.
    {
        let daemon = daemon.clone();
        let names = names.clone();
        tokio::task::spawn_blocking(move || {
            engine::archive::SaveSet::prepare(&daemon.images, &names).map(|_| ())
        })
        .await
        .map_err(internal)??;
    }
    let body = streamed_body(move |w| {
        let set = engine::archive::SaveSet::prepare(&daemon.images, &names)
            .map_err(|e| io::Error::other(e.to_string()))?;
        set.write(w)
    });
    Ok(tar_response(body))
}

pub async fn save_many(
    State(st): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let names = q
        .into_iter()
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v)
        .collect();
    save(st, names).await
}

fn json_line(v: &Value) -> Bytes {
    Bytes::from(v.to_string() + "\r\n")
}

pub use shared::units::progress_text;

/// `POST /images/load?quiet=`: a JSON message stream, as Docker sends it.
pub async fn load(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> ApiResult<Response> {
    let quiet = truthy(q.get("quiet"));
    let spool = spool_body(&st, body).await?;
    let daemon = st.daemon.clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(64);
    tokio::task::spawn_blocking(move || {
        let send = |v: Value| {
            let _ = tx.blocking_send(Ok(json_line(&v)));
        };
        let res = (|| -> Result<Vec<engine::archive::Loaded>, engine::image::ImageError> {
            let mut f = spool;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))
                .map_err(|e| engine::error::IoError::new("rewind", "the spooled upload", e))?;
            let mut src = engine::archive::decompressed(f)?;
            let mut progress = |id: &str, cur: u64, total: u64| {
                if !quiet {
                    send(json!({
                        "status": "Loading layer",
                        "progressDetail": {"current": cur, "total": total},
                        "progress": progress_text(cur, total),
                        "id": id,
                    }));
                }
            };
            engine::archive::load(&daemon.images, &mut src, &mut progress)
        })();
        match res {
            Ok(images) => {
                for i in images {
                    if i.tags.is_empty() {
                        send(json!({ "stream": format!("Loaded image ID: {}\n", i.id) }));
                    }
                    for t in &i.tags {
                        send(json!({ "stream": format!("Loaded image: {t}\n") }));
                    }
                }
            }
            Err(e) => {
                let msg = e.to_string();
                send(json!({"errorDetail": {"message": msg}, "error": msg}));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [("Content-Type", "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Go's text for a failed write (`write X: no space left on device`), as
/// docker prints it, without Rust's `(os error N)`.
pub fn write_error(what: &str, e: &io::Error) -> String {
    format!("write {what}: {}", shared::go::io_text(e))
}

/// Write a request body to an unnamed scratch file of the daemon.
pub async fn spool_body(st: &AppState, body: Body) -> ApiResult<std::fs::File> {
    let spool = scratch_file(&st.daemon).map_err(internal)?;
    let mut file = tokio::fs::File::from_std(spool.try_clone().map_err(internal)?);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk.map_err(|e| ApiError::bad_request(e.to_string()))?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
            .await
            .map_err(|e| internal(write_error("the upload", &e)))?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(internal)?;
    drop(file);
    Ok(spool)
}

/// `GET /containers/{id}/export`
pub async fn export(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let fs = st.daemon.container_fs(&id)?;
    Ok(tar_response(streamed_body(move |w| {
        engine::commit::export(&fs, w)
    })))
}

/// `GET /containers/{id}/changes`
pub async fn changes(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let fs = st.daemon.container_fs(&id)?;
    let rows = tokio::task::spawn_blocking(move || engine::commit::changes(&fs))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let out: Vec<Value> = rows
        .iter()
        .map(|c| {
            let kind = match c.kind {
                ChangeKind::Modify => 0,
                ChangeKind::Add => 1,
                ChangeKind::Delete => 2,
            };
            json!({"Path": c.path, "Kind": kind})
        })
        .collect();
    Ok(Json(out).into_response())
}

/// `GET /system/df`
pub async fn system_df(State(st): State<AppState>) -> ApiResult<Response> {
    let daemon = st.daemon.clone();
    let v = tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let images = daemon.images.usage();
        let mut count: HashMap<&str, usize> = HashMap::new();
        let mut sizes: HashMap<&str, u64> = HashMap::new();
        for i in &images {
            for (d, s) in &i.layers {
                *count.entry(d).or_default() += 1;
                sizes.insert(d, *s);
            }
        }
        let layers_size: u64 = sizes.values().sum();
        let containers = daemon.list(true, None, &Default::default())?;
        let mut image_rows = Vec::new();
        for i in &images {
            let shared: u64 = i
                .layers
                .iter()
                .filter(|(d, _)| count.get(d.as_str()).copied().unwrap_or(0) > 1)
                .map(|(_, s)| s)
                .sum();
            image_rows.push(json!({
                "Id": i.id,
                "ParentId": "",
                "RepoTags": i.repo_tags,
                "RepoDigests": i.repo_digests,
                "Created": i.created,
                "Size": i.size(),
                "SharedSize": shared,
                "Labels": {},
                "Containers": daemon.image_users(&i.id).len(),
            }));
        }
        let mut container_rows = Vec::new();
        for c in containers {
            let mut v = serde_json::to_value(&c).map_err(internal)?;
            let (rw, image) = match daemon.container_fs(&c.id) {
                Ok(fs) => (
                    engine::commit::dir_size(&fs.upper),
                    images
                        .iter()
                        .find(|i| i.id == fs.image_id)
                        .map(|i| i.size())
                        .unwrap_or(0),
                ),
                Err(_) => (0, 0),
            };
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rw + image);
            container_rows.push(v);
        }
        Ok(json!({
            "LayersSize": layers_size,
            "Images": image_rows,
            "Containers": container_rows,
            "Volumes": [],
            "BuildCache": [],
        }))
    })
    .await
    .map_err(internal)??;
    Ok(Json(v).into_response())
}

/// A prune's `filters`: checked against `allowed`, with the `until` cutoff
/// (Unix nanoseconds) when there is one.
fn prune_filters(
    q: &HashMap<String, String>,
    allowed: &[&str],
) -> ApiResult<(engine::container::Filters, Option<i64>)> {
    let filters =
        engine::container::parse_filters(q.get("filters").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
    engine::filters::check_keys(&filters, allowed).map_err(ApiError::bad_request)?;
    let cutoff = engine::filters::until_cutoff(&filters, engine::filters::now_nanos())
        .map_err(ApiError::bad_request)?;
    Ok((filters, cutoff))
}

/// `POST /images/prune?filters=`: dangling images, or with `dangling=false` every
/// image no container uses.
pub async fn images_prune(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (filters, cutoff) = prune_filters(&q, &["dangling", "until", "label", "label!"])?;
    let dangling_only = !filters
        .get("dangling")
        .is_some_and(|vals| vals.iter().any(|v| v == "false" || v == "0"));
    let daemon = st.daemon.clone();
    let v = tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let before = daemon.images.stored_bytes();
        let mut deleted = Vec::new();
        // A parent refuses to go while a child it has is still there; the
        // child may come later in the list: pass again while a pass removed
        // something (children first, then their parents).
        let mut refused = std::collections::HashSet::new();
        loop {
            let mut removed_any = false;
            for img in daemon.images.usage() {
                if dangling_only && !img.repo_tags.is_empty() {
                    continue;
                }
                if cutoff.is_some_and(|c| img.created.saturating_mul(1_000_000_000) >= c) {
                    continue;
                }
                if filters.contains_key("label") || filters.contains_key("label!") {
                    let labels = daemon
                        .images
                        .resolve(&img.id)
                        .map(|i| i.config.labels)
                        .unwrap_or_default();
                    if !engine::filters::labels_pass(&labels, &filters) {
                        continue;
                    }
                }
                if !daemon.image_users(&img.id).is_empty() {
                    continue;
                }
                let h = daemon.clone();
                let users = move |id: &str| h.image_users(id);
                match daemon.images.remove(&img.id, true, &users) {
                    Ok(rows) => {
                        removed_any = true;
                        refused.remove(&img.id);
                        deleted.extend(rows);
                    }
                    Err(e) => {
                        if refused.insert(img.id.clone()) {
                            tracing::debug!(image = %img.id, error = %e, "prune skipped an image");
                        }
                    }
                }
            }
            if !removed_any || refused.is_empty() {
                break;
            }
        }
        let after = daemon.images.stored_bytes();
        Ok(json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { serde_json::to_value(&deleted).map_err(internal)? },
            "SpaceReclaimed": before.saturating_sub(after),
        }))
    })
    .await
    .map_err(internal)??;
    Ok(Json(v).into_response())
}

/// `POST /containers/prune`: remove every stopped container.
pub async fn containers_prune(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (filters, cutoff) = prune_filters(&q, &["until", "label", "label!"])?;
    let list = st.daemon.list(true, None, &Default::default())?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    let mut seen = HashSet::new();
    for c in list {
        if c.state == "running" || c.state == "paused" || c.state == "restarting" {
            continue;
        }
        if !seen.insert(c.id.clone()) {
            continue;
        }
        if !engine::filters::labels_pass(&c.labels, &filters)
            || cutoff.is_some_and(|t| c.created.saturating_mul(1_000_000_000) >= t)
        {
            continue;
        }
        let size = st
            .daemon
            .container_fs(&c.id)
            .map(|fs| engine::commit::dir_size(&fs.upper))
            .unwrap_or(0);
        match st.daemon.remove(&c.id, false).await {
            Ok(()) => {
                reclaimed += size;
                deleted.push(c.id);
            }
            Err(e) => tracing::debug!(container = %c.id, error = %e, "prune skipped a container"),
        }
    }
    Ok(Json(json!({
        "ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_errors_read_as_gos() {
        let e = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(
            write_error("the upload", &e),
            "write the upload: no space left on device"
        );
    }
}
