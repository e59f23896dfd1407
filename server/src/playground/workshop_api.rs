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
use shared::playground::{TabId, OFFSET_QUERY, TOKEN_HEADER, TOKEN_QUERY};
use shared::workshop::{CreateWorkshop, WorkshopMessage};

use super::api::{close_with, PgState};
use super::session::close_code_for;
use crate::ApiError;

pub fn routes(r: Router<PgState>) -> Router<PgState> {
    r.route("/api/workshops", post(create))
        .route("/api/workshops/{id}", axum::routing::delete(close))
        .route("/api/workshops/{id}/message", post(message))
        .route("/api/workshops/{id}/ws", get(feed))
        .route(
            "/api/workshops/{id}/sessions/{session}/instances/{name}/terminals/{tab}",
            get(mirror),
        )
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

fn token(headers: &HeaderMap) -> Option<&str> {
    headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok())
}

async fn create(State(st): State<PgState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let req: CreateWorkshop = json(&body)?;
    let created = st.pg.create_workshop(&req.trainer_code)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn close(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let w = st.pg.authorize_workshop(&id, token(&headers))?;
    st.pg.close_workshop(&w).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn message(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = st.pg.authorize_workshop(&id, token(&headers))?;
    let m: WorkshopMessage = json(&body)?;
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
        .and_then(|s| {
            tab.parse::<TabId>()
                .ok()
                .and_then(|t| s.instance(&name)?.terminal(t))
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such terminal"))
        });
    let offset = q
        .get(OFFSET_QUERY)
        .and_then(|o| o.parse::<u64>().ok())
        .unwrap_or(0);
    ws.on_upgrade(move |socket| async move {
        match target {
            Err(e) => close_with(socket, close_code_for(&e)).await,
            Ok(term) => {
                let (tx, rx) = socket.split();
                super::terminal::serve_socket(term, offset, tx, rx, || {}, true).await;
            }
        }
    })
}
