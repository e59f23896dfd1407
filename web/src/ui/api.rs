//! The playground's REST calls (paths and bodies from `shared::playground`).

use crate::upload::Upload;
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use shared::lessons::{CheckOutcome, Lesson, LessonChoice, LessonProgress};
use shared::playground::{
    routes, CreateSession, ErrorBody, InstanceInfo, PlaygroundConfig, SessionCreated, SessionInfo,
    TabId, TerminalCreated, UploadResult, TOKEN_HEADER,
};
use shared::workshop::{CreateWorkshop, WorkshopCreated, WorkshopMessage};

/// A failed call: the HTTP status (0 when the server could not be reached) and the
/// server's message, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    fn unreachable(e: impl std::fmt::Display) -> Self {
        ApiError {
            status: 0,
            message: format!("The playground server cannot be reached ({e})."),
        }
    }
}

async fn check(resp: Result<Response, gloo_net::Error>) -> Result<Response, ApiError> {
    let resp = resp.map_err(ApiError::unreachable)?;
    if resp.ok() {
        return Ok(resp);
    }
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .map(|b| b.message)
        .unwrap_or_else(|_| match text.trim() {
            "" => format!("The server answered {status} {}.", resp.status_text()),
            t => t.to_string(),
        });
    Err(ApiError { status, message })
}

async fn json<T: DeserializeOwned>(req: RequestBuilder) -> Result<T, ApiError> {
    let resp = check(req.send().await).await?;
    resp.json::<T>().await.map_err(|e| ApiError {
        status: resp.status(),
        message: format!("The server's answer was not understood ({e})."),
    })
}

fn authed(req: RequestBuilder, token: &str) -> RequestBuilder {
    req.header(TOKEN_HEADER, token)
}

pub async fn config() -> Result<PlaygroundConfig, ApiError> {
    json(Request::get(&routes::config())).await
}

pub async fn create_session(
    access_code: Option<String>,
    workshop: Option<String>,
    name: Option<String>,
) -> Result<SessionCreated, ApiError> {
    let req = Request::post(&routes::sessions())
        .json(&CreateSession {
            access_code,
            workshop,
            name,
        })
        .map_err(ApiError::unreachable)?;
    let resp = check(req.send().await).await?;
    resp.json().await.map_err(ApiError::unreachable)
}

pub async fn session(id: &str, token: &str) -> Result<SessionInfo, ApiError> {
    json(authed(Request::get(&routes::session(id)), token)).await
}

pub async fn add_instance(id: &str, token: &str) -> Result<InstanceInfo, ApiError> {
    json(authed(Request::post(&routes::instances(id)), token)).await
}

pub async fn remove_instance(id: &str, token: &str, name: &str) -> Result<(), ApiError> {
    let req = authed(Request::delete(&routes::instance(id, name)), token);
    check(req.send().await).await.map(drop)
}

pub async fn open_terminal(id: &str, token: &str, name: &str) -> Result<TerminalCreated, ApiError> {
    json(authed(Request::post(&routes::terminals(id, name)), token)).await
}

pub async fn close_terminal(id: &str, token: &str, name: &str, tab: TabId) -> Result<(), ApiError> {
    let req = authed(Request::delete(&routes::terminal(id, name, tab)), token);
    check(req.send().await).await.map(drop)
}

pub async fn lessons() -> Result<Vec<Lesson>, ApiError> {
    json(Request::get(&routes::lessons())).await
}

pub async fn choose_lesson(
    id: &str,
    token: &str,
    lesson: &str,
) -> Result<LessonProgress, ApiError> {
    let req = authed(Request::put(&routes::session_lesson(id)), token)
        .json(&LessonChoice {
            lesson: lesson.to_string(),
        })
        .map_err(ApiError::unreachable)?;
    let resp = check(req.send().await).await?;
    resp.json().await.map_err(ApiError::unreachable)
}

pub async fn check_lesson(id: &str, token: &str) -> Result<CheckOutcome, ApiError> {
    json(authed(Request::post(&routes::lesson_check(id)), token)).await
}

pub async fn step_done(id: &str, token: &str, step: &str) -> Result<LessonProgress, ApiError> {
    json(authed(
        Request::post(&routes::lesson_step_done(id, step)),
        token,
    ))
    .await
}

pub async fn create_workshop(code: &str) -> Result<WorkshopCreated, ApiError> {
    let req = Request::post(&routes::workshops())
        .json(&CreateWorkshop {
            trainer_code: code.to_string(),
        })
        .map_err(ApiError::unreachable)?;
    let resp = check(req.send().await).await?;
    resp.json().await.map_err(ApiError::unreachable)
}

pub async fn workshop_message(id: &str, token: &str, text: &str) -> Result<(), ApiError> {
    let req = authed(Request::post(&routes::workshop_message(id)), token)
        .json(&WorkshopMessage {
            text: text.to_string(),
        })
        .map_err(ApiError::unreachable)?;
    check(req.send().await).await.map(drop)
}

pub async fn close_workshop(id: &str, token: &str) -> Result<(), ApiError> {
    let req = authed(Request::delete(&routes::workshop(id)), token);
    check(req.send().await).await.map(drop)
}

pub async fn delete_session(id: &str, token: &str) -> Result<(), ApiError> {
    let req = authed(Request::delete(&routes::session(id)), token);
    check(req.send().await).await.map(drop)
}

pub async fn upload(
    id: &str,
    token: &str,
    name: &str,
    tab: TabId,
    upload: &Upload,
) -> Result<UploadResult, ApiError> {
    let url = routes::upload(id, name, tab, &upload.name, upload.tar);
    let body = js_sys::Uint8Array::from(&upload.body[..]);
    let req = authed(Request::post(&url), token)
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .map_err(ApiError::unreachable)?;
    let resp = check(req.send().await).await?;
    resp.json().await.map_err(ApiError::unreachable)
}
