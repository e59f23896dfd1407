//! The playground's lesson routes (`shared::playground::routes`): the
//! lessons, a session's choice, its steps marked done and checked now.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use shared::lessons::{CheckOutcome, Lesson, LessonChoice, LessonProgress};

use super::api::{authed, PgState};
use crate::ApiError;

pub fn routes(r: Router<PgState>) -> Router<PgState> {
    r.route("/api/lessons", get(lessons))
        .route("/api/sessions/{id}/lesson", put(choose))
        .route("/api/sessions/{id}/lesson/check", post(check))
        .route("/api/sessions/{id}/lesson/steps/{step}/done", post(done))
}

async fn lessons(State(st): State<PgState>) -> Json<Vec<Lesson>> {
    Json(st.pg.opts.lessons.as_ref().clone())
}

async fn choose(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<LessonProgress>, ApiError> {
    let s = authed(&st, &id, &headers)?;
    let c: LessonChoice = crate::error::json_body(&body)?;
    Ok(Json(st.pg.choose_lesson(&s, &c.lesson)?))
}

async fn check(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<CheckOutcome>, ApiError> {
    let s = authed(&st, &id, &headers)?;
    Ok(Json(st.pg.check_lesson_now(&s).await?))
}

async fn done(
    State(st): State<PgState>,
    Path((id, step)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<LessonProgress>, ApiError> {
    let s = authed(&st, &id, &headers)?;
    Ok(Json(st.pg.mark_step_done(&s, &step)?))
}
