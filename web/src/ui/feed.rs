//! The session's event socket: every message becomes a `SessionAction` for the
//! page's reducer. Reconnects with backoff until the session is over; the server
//! sends the full state again on every connect, so nothing is lost in between.

use super::api;
use super::dom;
use super::socket::{Frame, Socket};
use crate::backoff;
use crate::session::SessionAction;
use gloo_timers::callback::Timeout;
use shared::playground::{close_code, routes, SessionEvent};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use yew::Callback;

/// Dropping it closes the socket and cancels any pending retry.
pub struct Feed(Rc<Inner>);

/// After this many failed attempts in a row, ask over REST whether the session
/// still exists: a refused WebSocket handshake looks like any network error.
const CHECK_AFTER: u32 = 3;

struct Inner {
    id: String,
    token: String,
    path: String,
    dispatch: Callback<SessionAction>,
    socket: RefCell<Option<Socket>>,
    retry: RefCell<Option<Timeout>>,
    attempt: Cell<u32>,
    stopped: Cell<bool>,
}

impl Feed {
    pub fn start(id: &str, token: &str, dispatch: Callback<SessionAction>) -> Feed {
        let inner = Rc::new(Inner {
            id: id.to_string(),
            token: token.to_string(),
            path: routes::session_ws(id, token),
            dispatch,
            socket: RefCell::new(None),
            retry: RefCell::new(None),
            attempt: Cell::new(0),
            stopped: Cell::new(false),
        });
        inner.connect();
        Feed(inner)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.0.stopped.set(true);
        self.0.retry.borrow_mut().take();
        self.0.socket.borrow_mut().take();
    }
}

fn with(w: &Weak<Inner>, f: impl FnOnce(&Rc<Inner>)) {
    if let Some(i) = w.upgrade() {
        if !i.stopped.get() {
            f(&i);
        }
    }
}

impl Inner {
    fn connect(self: &Rc<Self>) {
        let (w1, w2, w3) = (
            Rc::downgrade(self),
            Rc::downgrade(self),
            Rc::downgrade(self),
        );
        let socket = Socket::open(
            &dom::ws_url(&self.path),
            move || {
                with(&w1, |i| {
                    i.attempt.set(0);
                    i.emit(SessionAction::SocketOpened);
                })
            },
            move |frame| {
                if let Frame::Text(text) = frame {
                    // A newer server's event this page does not know is skipped.
                    with(&w2, |i| {
                        if let Ok(event) = serde_json::from_str::<SessionEvent>(&text) {
                            i.emit(SessionAction::Event {
                                event,
                                now_ms: dom::now_ms(),
                            });
                        }
                    });
                }
            },
            move |code, reason| with(&w3, |i| i.closed(code, reason)),
        );
        match socket {
            Ok(s) => *self.socket.borrow_mut() = Some(s),
            Err(_) => self.closed(close_code::ABNORMAL, String::new()),
        }
    }

    fn closed(self: &Rc<Self>, code: u16, reason: String) {
        let final_close = close_code::is_final(code);
        let attempt = self.attempt.get() + 1;
        self.attempt.set(attempt);
        let retry_ms = backoff::delay_ms(attempt, dom::random());
        self.emit(SessionAction::SocketClosed {
            code,
            retry_ms,
            reason,
        });
        if final_close {
            self.stopped.set(true);
            return;
        }
        if attempt >= CHECK_AFTER {
            self.check_exists();
        }
        let w = Rc::downgrade(self);
        let timer = Timeout::new(retry_ms, move || with(&w, |i| i.connect()));
        *self.retry.borrow_mut() = Some(timer);
    }

    fn check_exists(self: &Rc<Self>) {
        let w = Rc::downgrade(self);
        let (id, token) = (self.id.clone(), self.token.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = api::session(&id, &token).await {
                if matches!(e.status, 401 | 403 | 404 | 410) {
                    with(&w, |i| {
                        i.stopped.set(true);
                        i.retry.borrow_mut().take();
                        i.dispatch
                            .emit(SessionAction::Gone("This session no longer exists.".into()));
                    });
                }
            }
        });
    }

    /// Dispatch after the socket's handler returns (see `terminal::emit_later`).
    fn emit(&self, action: SessionAction) {
        let cb = self.dispatch.clone();
        wasm_bindgen_futures::spawn_local(async move { cb.emit(action) });
    }
}
