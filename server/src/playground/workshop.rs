//! Workshops (`serve --trainer-code`): a trainer makes one and gets a join
//! code; sessions started with it are the trainer's to follow. The trainer's
//! socket gets each trainee's row (instances, their state, lesson progress)
//! whenever the session pushes a change to its own page; terminals can be
//! watched read-only; a message goes to every trainee's page; closing the
//! workshop ends its sessions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::ws::Message;
use axum::http::StatusCode;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use shared::playground::{close_code, CloseReason, SessionEvent};
use shared::workshop::{Trainee, WorkshopCreated, WorkshopEvent};
use tokio::sync::broadcast;

use super::session::{same_secret, Playground, Session};
use super::terminal::hex_token;
use crate::ApiError;
use shared::sync::Locked;

/// What changed, for the trainer's sockets.
#[derive(Debug, Clone)]
pub enum Change {
    Trainee(String),
    Left(String),
    Closed,
}

/// One workshop.
pub struct Workshop {
    pub id: String,
    pub join_code: String,
    token: String,
    changes: broadcast::Sender<Change>,
    /// Session ID to the trainee's name.
    members: std::sync::Mutex<BTreeMap<String, String>>,
    closed: AtomicBool,
}

impl Workshop {
    /// Tell the trainer's sockets.
    pub fn changed(&self, c: Change) {
        let _ = self.changes.send(c);
    }

    fn members(&self) -> Vec<(String, String)> {
        self.members
            .locked()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Six characters a trainer can read aloud: no 0/O, 1/I/L.
fn join_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    (0..6)
        .map(|_| ALPHABET[rand::random::<u8>() as usize % ALPHABET.len()] as char)
        .collect()
}

impl Playground {
    /// `POST /api/workshops`.
    pub fn create_workshop(&self, code: &str) -> Result<WorkshopCreated, ApiError> {
        let Some(want) = &self.opts.trainer_code else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "This playground has no trainer code (serve --trainer-code).",
            ));
        };
        if !same_secret(code.trim(), want) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "That is not the trainer code.",
            ));
        }
        if self.is_draining() {
            return Err(super::session::draining());
        }
        let mut all = self.workshops.locked();
        let mut code = join_code();
        while all.values().any(|w| w.join_code == code) {
            code = join_code();
        }
        let w = Arc::new(Workshop {
            id: format!("{}{}", self.prefix, hex_token(8)),
            join_code: code,
            token: hex_token(24),
            changes: broadcast::channel(256).0,
            members: Default::default(),
            closed: AtomicBool::new(false),
        });
        tracing::info!("workshop {} opened", w.id);
        all.insert(w.id.clone(), w.clone());
        Ok(WorkshopCreated {
            id: w.id.clone(),
            join_code: w.join_code.clone(),
            token: w.token.clone(),
        })
    }

    /// The open workshop whose join code is `code` (any case).
    pub fn workshop_by_code(&self, code: &str) -> Result<Arc<Workshop>, ApiError> {
        let code = code.trim().to_ascii_uppercase();
        self.workshops
            .locked()
            .values()
            .find(|w| w.join_code == code)
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "No workshop has this code."))
    }

    /// `s` joins `w` as `name`.
    pub fn join_workshop(&self, w: &Arc<Workshop>, s: &Session, name: Option<&str>) {
        let name = name
            .map(|n| n.trim().chars().take(40).collect::<String>())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| s.id.clone());
        w.members.locked().insert(s.id.clone(), name);
        let _ = s.workshop.set(w.clone());
        w.changed(Change::Trainee(s.id.clone()));
    }

    /// The workshop `id` if `token` is its trainer's: 404, 401.
    pub fn authorize_workshop(
        &self,
        id: &str,
        token: Option<&str>,
    ) -> Result<Arc<Workshop>, ApiError> {
        let w = self
            .workshops
            .locked()
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "No such workshop."))?;
        if !token.is_some_and(|t| same_secret(t, &w.token)) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "This workshop belongs to another trainer.",
            ));
        }
        Ok(w)
    }

    /// A member session of `w`.
    pub fn trainee_session(&self, w: &Workshop, id: &str) -> Result<Arc<Session>, ApiError> {
        if !w.members.locked().contains_key(id) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "No such trainee in this workshop.",
            ));
        }
        self.session_by_id(id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "This trainee's session ended."))
    }

    /// One trainee's row.
    pub fn trainee(&self, s: &Session, name: &str) -> Trainee {
        let instances = s.instances();
        Trainee {
            session: s.id.clone(),
            name: name.to_string(),
            states: instances
                .iter()
                .map(|i| super::state::snapshot(&i.daemon, &s.id, &i.name))
                .collect(),
            instances: instances.iter().map(|i| i.info()).collect(),
            lesson: self.lesson_progress(s),
        }
    }

    /// `POST /api/workshops/{id}/message`: onto every trainee's page.
    pub fn workshop_message(&self, w: &Workshop, text: &str) -> Result<usize, ApiError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 500 {
            return Err(ApiError::bad_request(
                "A message is 1 to 500 characters.".to_string(),
            ));
        }
        let members = w.members();
        for (id, _) in &members {
            if let Some(s) = self.session_by_id(id) {
                s.push(SessionEvent::Message {
                    text: text.to_string(),
                });
            }
        }
        Ok(members.len())
    }

    /// `DELETE /api/workshops/{id}`: the workshop and its sessions end.
    pub async fn close_workshop(self: &Arc<Self>, w: &Arc<Workshop>) {
        if w.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.workshops.locked().remove(&w.id);
        w.changed(Change::Closed);
        for (id, _) in w.members() {
            self.close_session(&id, CloseReason::WorkshopClosed).await;
        }
        tracing::info!("workshop {} closed", w.id);
    }
}

fn text(ev: &WorkshopEvent) -> Message {
    Message::Text(serde_json::to_string(ev).unwrap_or_default().into())
}

/// The trainer's socket: the workshop and every trainee, then each change.
pub async fn serve_workshop_feed<S, R, E>(
    pg: Arc<Playground>,
    w: Arc<Workshop>,
    mut tx: S,
    mut rx: R,
) where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, E>> + Unpin + Send,
{
    let mut sub = w.changes.subscribe();
    let everyone = |pg: &Playground| {
        let mut out = vec![WorkshopEvent::Workshop {
            join_code: w.join_code.clone(),
            trainees: w.members().len(),
        }];
        for (id, name) in w.members() {
            if let Some(s) = pg.session_by_id(&id).filter(|s| s.closed().is_none()) {
                out.push(WorkshopEvent::Trainee(Box::new(pg.trainee(&s, &name))));
            }
        }
        out
    };
    for ev in everyone(&pg) {
        if tx.send(text(&ev)).await.is_err() {
            return;
        }
    }
    if w.closed.load(Ordering::SeqCst) {
        let _ = tx.send(text(&WorkshopEvent::Closed)).await;
        return;
    }
    loop {
        tokio::select! {
            c = sub.recv() => {
                let evs = match c {
                    Ok(Change::Trainee(id)) => {
                        let name = w.members.locked().get(&id).cloned();
                        match (pg.session_by_id(&id), name) {
                            (Some(s), Some(name)) => vec![WorkshopEvent::Trainee(Box::new(pg.trainee(&s, &name)))],
                            _ => vec![WorkshopEvent::Left { session: id }],
                        }
                    }
                    Ok(Change::Left(id)) => vec![WorkshopEvent::Left { session: id }],
                    Ok(Change::Closed) => {
                        let _ = tx.send(text(&WorkshopEvent::Closed)).await;
                        super::feed::send_close(&mut tx, close_code::NORMAL).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => everyone(&pg),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                for ev in evs {
                    if tx.send(text(&ev)).await.is_err() {
                        return;
                    }
                }
            }
            msg = rx.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
