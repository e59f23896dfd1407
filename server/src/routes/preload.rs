//! `POST /dockhand/images/preload` (our extension, on the machine's socket
//! only): images a trainer brings, loaded from archives and OCI layouts on the
//! machine into its shared store and offered to every virtual host
//! (`engine::image::preload`). The body is `{"paths": ["/abs/path", ...]}`; the
//! answer is `docker load`'s JSON message stream (`Loaded image: NAME`, per-layer
//! progress, an `errorDetail` at the end on failure). Also what `--preload DIR`
//! does at start-up ([`at_start`]).

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::daemon::Daemon;
use engine::image::preload::{self, PreloadSource};
use engine::image::MACHINE_DAEMON;
use serde_json::{json, Value};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(serde::Deserialize)]
struct PreloadRequest {
    #[serde(default, alias = "Paths")]
    paths: Vec<String>,
}

fn json_line(v: &Value) -> Bytes {
    Bytes::from(v.to_string() + "\r\n")
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `POST /dockhand/images/preload`
pub async fn preload(State(st): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let vhosts = match &st.vhosts {
        Some(m) if st.daemon.name() == MACHINE_DAEMON => m.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "images are preloaded on the machine's daemon socket only",
            ))
        }
    };
    let req: PreloadRequest = crate::error::json_body(&body)?;
    if req.paths.is_empty() {
        return Err(ApiError::bad_request("no paths given"));
    }
    let mut paths = Vec::new();
    for p in &req.paths {
        let path = PathBuf::from(p);
        if !path.is_absolute() {
            return Err(ApiError::bad_request(format!(
                "{p}: a path on the machine must be absolute"
            )));
        }
        paths.push(path);
    }
    // Missing or empty paths are told before anything is loaded.
    let sources = tokio::task::spawn_blocking(move || preload::sources(&paths))
        .await
        .map_err(internal)??;
    let daemon = st.daemon.clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(64);
    tokio::task::spawn_blocking(move || {
        let send = |v: Value| {
            let _ = tx.blocking_send(Ok(json_line(&v)));
        };
        let mut progress = |id: &str, cur: u64, total: u64| {
            send(json!({
                "status": "Loading layer",
                "progressDetail": {"current": cur, "total": total},
                "progress": shared::units::progress_text(cur, total),
                "id": id,
            }));
        };
        let mut loaded = |src: &PreloadSource, img: &engine::archive::Loaded| {
            log_loaded(src, img);
            if img.tags.is_empty() {
                send(json!({ "stream": format!("Loaded image ID: {}\n", img.id) }));
            }
            for t in &img.tags {
                send(json!({ "stream": format!("Loaded image: {t}\n") }));
            }
        };
        let res = preload::preload(&daemon.images, &sources, &mut progress, &mut loaded);
        // What was loaded before a failure is recorded: offer it either way.
        let took = vhosts.apply_preloaded();
        if took > 0 {
            tracing::info!("preloaded images offered to {took} virtual host(s)");
        }
        if let Err(e) = res {
            let msg = e.to_string();
            tracing::warn!("preload: {msg}");
            send(json!({"errorDetail": {"message": msg}, "error": msg}));
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

fn log_loaded(src: &PreloadSource, img: &engine::archive::Loaded) {
    let names = if img.tags.is_empty() {
        "(no name)".to_string()
    } else {
        img.tags.join(", ")
    };
    tracing::info!(
        "preloaded {names} ({}) from {}",
        engine::image::short_id(&img.id),
        src.path.display()
    );
}

/// `--preload DIR` at start-up, before the daemon serves: every path must load,
/// else the daemon does not start (the error names the path).
pub(crate) async fn at_start(daemon: &Arc<Daemon>, paths: &[PathBuf]) -> io::Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let daemon = daemon.clone();
    let paths = paths.to_vec();
    tokio::task::spawn_blocking(move || {
        let fail = |e: engine::image::ImageError| io::Error::other(format!("--preload: {e}"));
        let sources = preload::sources(&paths).map_err(fail)?;
        let names = preload::preload(
            &daemon.images,
            &sources,
            &mut |_: &str, _: u64, _: u64| {},
            &mut log_loaded,
        )
        .map_err(fail)?;
        tracing::info!("preloaded {} image name(s)", names.len());
        Ok(())
    })
    .await
    .map_err(io::Error::other)?
}
