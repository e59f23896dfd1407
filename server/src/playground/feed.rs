//! The session socket: a snapshot on connect (the session, then each instance's
//! state), then every change pushed by the server, until the session ends
//! (`closed`, then close 1000). The client sends nothing; it only reconnects.
//! Written over `Sink`/`Stream` so tests feed it channels.

use super::session::{Playground, Session};
use super::state;
use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use shared::playground::{close_code, SessionEvent};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

fn text(ev: &SessionEvent) -> Message {
    Message::Text(serde_json::to_string(ev).unwrap_or_default().into())
}

/// Close a socket with `code`.
pub(super) async fn send_close<S: Sink<Message> + Unpin>(tx: &mut S, code: u16) {
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: "".into(),
        })))
        .await;
}

/// Everything a client needs to be current.
fn snapshot(pg: &Playground, s: &Session) -> Vec<SessionEvent> {
    let mut out = vec![SessionEvent::Session(s.info(pg.opts.max_instances))];
    for i in s.instances() {
        out.push(SessionEvent::InstanceState(state::snapshot(
            &i.daemon, &s.id, &i.name,
        )));
    }
    out.push(SessionEvent::Lesson(pg.lesson_progress(s)));
    out.extend(pg.notice(s));
    out
}

pub async fn serve_feed<S, R, E>(pg: Arc<Playground>, s: Arc<Session>, mut tx: S, mut rx: R)
where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, E>> + Unpin + Send,
{
    let mut sub = s.subscribe();
    if let Some(reason) = s.closed() {
        let _ = tx.send(text(&SessionEvent::Closed { reason })).await;
        send_close(&mut tx, close_code::NORMAL).await;
        return;
    }
    for ev in snapshot(&pg, &s) {
        if tx.send(text(&ev)).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            ev = sub.recv() => match ev {
                Ok(ev @ SessionEvent::Closed { .. }) => {
                    let _ = tx.send(text(&ev)).await;
                    send_close(&mut tx, close_code::NORMAL).await;
                    return;
                }
                Ok(ev) => {
                    if tx.send(text(&ev)).await.is_err() {
                        return;
                    }
                }
                // Snapshots make a missed event harmless: send a fresh set.
                Err(RecvError::Lagged(_)) => {
                    for ev in snapshot(&pg, &s) {
                        if tx.send(text(&ev)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(RecvError::Closed) => return,
            },
            msg = rx.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playground::config::PlaygroundOptions;
    use crate::playground::test_socket::pair;
    use shared::playground::CloseReason;

    fn decode(m: &Message) -> SessionEvent {
        match m {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_client_gets_the_session_then_changes_then_closed() {
        let pg = Playground::new(PlaygroundOptions::default(), None);
        let c = pg.create_session(None).unwrap();
        let s = pg.authorize(&c.id, Some(&c.token)).unwrap();
        let (_to_server, mut from_server, sink, stream) = pair();
        let task = tokio::spawn(serve_feed(pg.clone(), s.clone(), sink, stream));
        let first = decode(&from_server.recv().await.unwrap());
        assert!(
            matches!(first, SessionEvent::Session(ref i) if i.id == c.id && i.instances.is_empty())
        );
        // Then the lesson progress: no lesson chosen yet.
        assert_eq!(
            decode(&from_server.recv().await.unwrap()),
            SessionEvent::Lesson(Default::default())
        );
        pg.push_session(&s);
        assert!(matches!(
            decode(&from_server.recv().await.unwrap()),
            SessionEvent::Session(_)
        ));
        pg.close_session(&c.id, CloseReason::Expired).await;
        assert_eq!(
            decode(&from_server.recv().await.unwrap()),
            SessionEvent::Closed {
                reason: CloseReason::Expired
            }
        );
        assert!(matches!(
            from_server.recv().await,
            Some(Message::Close(Some(f))) if f.code == close_code::NORMAL
        ));
        task.await.unwrap();
    }
}
