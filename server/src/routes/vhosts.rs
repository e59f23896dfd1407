//! Virtual hosts (our extension of the API, on the machine's socket only):
//! `/dockhand/hosts/...`. A shell in a virtual host is an exec in its init, run
//! as its root: create with `POST /dockhand/hosts/{name}/exec`, then start and
//! resize it under the same prefix exactly as Docker's exec API.

use crate::error::ApiResult;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

fn manager(st: &AppState) -> ApiResult<Arc<engine::vhost::Manager>> {
    st.vhosts.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "virtual hosts are managed on the machine's daemon socket only".to_string(),
        )
    })
}

/// The state the Engine API handlers see for virtual host `name`.
fn host_state(st: &AppState, name: &str) -> ApiResult<AppState> {
    let v = manager(st)?.get(name)?;
    v.touch();
    Ok(AppState {
        daemon: v.daemon.clone(),
        data_root: st.data_root.clone(),
        vhosts: None,
        registry: st.registry.clone(),
    })
}

pub async fn create(State(st): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: shared::vhost::VhostCreateRequest = if body.is_empty() {
        Default::default()
    } else {
        crate::error::json_body(&body)?
    };
    let info = manager(&st)?.create(req).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

pub async fn list(State(st): State<AppState>) -> ApiResult<Response> {
    Ok(Json(manager(&st)?.list()).into_response())
}

pub async fn inspect(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(manager(&st)?.inspect(&name)?).into_response())
}

pub async fn remove(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    manager(&st)?.remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn exec_create(
    State(st): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let hs = host_state(&st, &name)?;
    let req: shared::api::ExecCreateRequest = crate::error::json_body(&body)?;
    let id = hs.daemon.sandbox_exec_create(req)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "Id": id }))).into_response())
}

pub async fn exec_start(
    State(st): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    req: Request,
) -> ApiResult<Response> {
    let hs = host_state(&st, &name)?;
    super::attach::exec_start(State(hs), Path(id), req).await
}

pub async fn exec_resize(
    State(st): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    q: Query<std::collections::HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let hs = host_state(&st, &name)?;
    super::containers::exec_resize(State(hs), Path(id), q).await
}

pub async fn exec_inspect(
    State(st): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let hs = host_state(&st, &name)?;
    super::containers::exec_inspect(State(hs), Path(id)).await
}
