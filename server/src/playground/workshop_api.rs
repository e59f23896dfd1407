//! The workshop routes (`shared::playground::routes`): open one, its
//! trainer's socket, a trainee's terminal read-only, a message to every
//! trainee, close it.

use std::collections::HashMap;

use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use shared::playground::TOKEN_QUERY;
use shared::workshop::{CreateWorkshop, WorkshopMessage};

use super::api::{close_with, terminal_of, terminal_socket, token_of, PgState};
use super::session::close_code_for;
use crate::ApiError;

pub fn routes(r: Router<PgState>) -> Router<PgState> {
    r.route("/api/workshops", post(create))
        .route("/api/workshops/codes/{code}", get(code_open))
        .route("/api/workshops/{id}", axum::routing::delete(close))
        .route("/api/workshops/{id}/message", post(message))
        .route("/api/workshops/{id}/ws", get(feed))
        .route(
            "/api/workshops/{id}/sessions/{session}/instances/{name}/terminals/{tab}",
            get(mirror),
        )
}

async fn create(State(st): State<PgState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let req: CreateWorkshop = crate::error::json_body(&body)?;
    let created = st.pg.create_workshop(&req.trainer_code)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Whether a workshop with this join code is open here (a gateway asks every
/// node where a trainee's code belongs): 204 or 404.
async fn code_open(
    State(st): State<PgState>,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.pg.workshop_by_code(&code)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn close(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let w = st.pg.authorize_workshop(&id, token_of(&headers))?;
    st.pg.close_workshop(&w).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn message(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = st.pg.authorize_workshop(&id, token_of(&headers))?;
    let m: WorkshopMessage = crate::error::json_body(&body)?;
    let sent = st.pg.workshop_message(&w, &m.text)?;
    Ok(Json(serde_json::json!({ "sent": sent })))
}

async fn feed(
    State(st): State<PgState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let auth = st
        .pg
        .authorize_workshop(&id, q.get(TOKEN_QUERY).map(String::as_str));
    let pg = st.pg.clone();
    ws.on_upgrade(move |socket| async move {
        match auth {
            Err(e) => close_with(socket, close_code_for(&e)).await,
            Ok(w) => {
                let (tx, rx) = socket.split();
                super::workshop::serve_workshop_feed(pg, w, tx, rx).await;
            }
        }
    })
}

/// A trainee's terminal for the trainer: output only; input is dropped.
async fn mirror(
    State(st): State<PgState>,
    Path((id, session, name, tab)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let target = st
        .pg
        .authorize_workshop(&id, q.get(TOKEN_QUERY).map(String::as_str))
        .and_then(|w| st.pg.trainee_session(&w, &session))
        .and_then(|s| terminal_of(&s, &name, &tab));
    terminal_socket(ws, target, &q, || {}, true)
}
