//! The playground's upload route: a file or a folder (as a tar) dropped on a
//! terminal lands in its shell's working directory, written as the instance's
//! root (`engine::upload`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use engine::upload::{self, Owner, UploadError};
use shared::playground::{UploadQuery, UploadResult};

use super::api::{authed, PgState};
use crate::error::ApiResult;
use crate::ApiError;

pub fn routes(r: Router<PgState>) -> Router<PgState> {
    r.route("/api/sessions/{id}/instances/{name}/upload", post(upload))
}

async fn upload(
    State(st): State<PgState>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UploadResult>> {
    let s = authed(&st, &id, &headers)?;
    let limit = st.pg.opts.upload_limit;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "That is larger than this playground takes ({}).",
                human_size(limit)
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    if !upload::valid_name(&q.name) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not a file name.",
            q.name
        )));
    }
    let inst = s.instance(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("This session has no instance {name}."),
        )
    })?;
    let term = inst.terminal(q.terminal).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{name} has no terminal {}.", q.terminal),
        )
    })?;
    let data = axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|_| too_large())?;
    let pid = term.shell_pid().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("The shell of terminal {} has ended.", q.terminal),
        )
    })?;
    let owner = inst.daemon.virtual_ns().map(|v| Owner {
        uid: v.uid_base,
        gid: v.uid_base,
    });
    let (file, tar) = (q.name.clone(), q.tar == 1);
    let bytes = data.len() as u64;
    // On a thread of its own: it takes the instance root's identity for the writes.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = (|| -> Result<String, UploadError> {
            let (dir, cwd) = upload::open_cwd(pid)?;
            upload::become_owner(owner)?;
            if tar {
                upload::put_tar(&dir, &data, owner)?;
            } else {
                upload::put_file(&dir, &file, &data, owner)?;
            }
            Ok(format!("{}/{file}", cwd.trim_end_matches('/')))
        })();
        let _ = tx.send(result);
    });
    let path = rx
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| match e {
            UploadError::Bad(m) => ApiError::bad_request(m),
            UploadError::Io(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m),
        })?;
    Ok(Json(UploadResult { path, bytes }))
}

fn human_size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}
