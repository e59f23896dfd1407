//! `/volumes`: create, list, inspect, remove, prune (driver `local` only).

use super::truthy;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shared::api::str_map;
use std::collections::{BTreeMap, HashMap};

type Q = Query<HashMap<String, String>>;

/// A volume event with moby's `driver` attribute.
fn emit(st: &AppState, action: &str, name: &str) {
    let attrs = BTreeMap::from([("driver".to_string(), "local".to_string())]);
    st.daemon.emit("volume", action, name, attrs);
}

fn filters(q: &HashMap<String, String>) -> ApiResult<engine::container::Filters> {
    engine::container::parse_filters(q.get("filters").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)
}

pub async fn create(State(st): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let v: Value = if body.is_empty() {
        json!({})
    } else {
        crate::error::json_body(&body)?
    };
    let vol = st.daemon.volume_create(
        v["Name"].as_str(),
        v["Driver"].as_str(),
        str_map(&v["Labels"]),
        str_map(&v["DriverOpts"]),
    )?;
    emit(&st, "create", vol["Name"].as_str().unwrap_or_default());
    Ok((StatusCode::CREATED, Json(vol)).into_response())
}

pub async fn list(State(st): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let vols = st.daemon.volume_list(&filters(&q)?)?;
    Ok(Json(json!({"Volumes": vols, "Warnings": []})).into_response())
}

pub async fn inspect(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(st.daemon.volume_inspect(&name)?).into_response())
}

pub async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    st.daemon.volume_remove(&name, truthy(q.get("force")))?;
    emit(&st, "destroy", &name);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(State(st): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let (deleted, reclaimed) = st.daemon.volume_prune(&filters(&q)?)?;
    for name in &deleted {
        emit(&st, "destroy", name);
    }
    Ok(Json(json!({
        "VolumesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
    .into_response())
}
