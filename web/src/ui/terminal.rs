//! One terminal tab: an xterm.js terminal wired to its WebSocket through the
//! `term_link` reducer (offsets, replay, reconnects), plus resize, font size,
//! screen-reader mode, copy/paste, the way out for the keyboard (Escape, then
//! Tab) and drag-and-drop upload. The terminal lives as long as the tab, not the view: tabs
//! in the background stay connected and keep their screens.

use super::clipboard;
use super::dom;
use super::socket::{Frame, Socket};
use super::upload::{self, UploadTarget};
use super::xterm::{self, Disposable, FitAddon, Terminal as XTerm};
use crate::session::SessionAction;
use crate::term_link::{Effect, Input, Status, TermLink};
use crate::theme::Theme;
use crate::view::FocusEscape;
use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::Timeout;
use shared::playground::{routes, TabId, TerminalCommand};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, KeyboardEvent, ResizeObserver};
use yew::prelude::*;

/// Typed input kept while the socket is down is capped at this many bytes.
const MAX_PENDING: usize = 64 * 1024;
/// Tell the session about typing at most this often (it cancels idle warnings).
const ACTIVITY_EVERY_MS: f64 = 20_000.0;

#[derive(Properties, PartialEq, Clone)]
pub struct TerminalProps {
    pub session: AttrValue,
    pub token: AttrValue,
    pub instance: AttrValue,
    pub tab: TabId,
    /// In front: visible, fitted and focused.
    pub active: bool,
    pub theme: Theme,
    /// xterm.js's font size, CSS pixels.
    pub font_size: u8,
    /// xterm.js's screen-reader mode (an accessible live copy of the screen).
    pub screen_reader: bool,
    pub upload_limit: u64,
    /// The session is over: stop reconnecting, keep the screen.
    pub stopped: bool,
    pub on_action: Callback<SessionAction>,
}

#[component]
pub fn Terminal(props: &TerminalProps) -> Html {
    let node = use_node_ref();
    let handle = use_mut_ref(|| None::<TermHandle>);
    let dropping = use_state(|| false);

    {
        let (node, handle, p) = (node.clone(), handle.clone(), props.clone());
        use_effect_with(
            (props.session.clone(), props.instance.clone(), props.tab),
            move |_| {
                if let Some(el) = node.cast::<HtmlElement>() {
                    *handle.borrow_mut() = Some(TermHandle::new(el, &p));
                }
                move || drop(handle.borrow_mut().take())
            },
        );
    }
    {
        let (handle, instance, tab) = (handle.clone(), props.instance.clone(), props.tab);
        use_effect_with(props.active, move |&active| {
            if let (true, Some(h)) = (active, handle.borrow().as_ref()) {
                xterm::set_active(&instance, tab);
                h.0.fit_and_focus();
            }
        });
    }
    {
        let handle = handle.clone();
        use_effect_with(props.stopped, move |&stopped| {
            if let (true, Some(h)) = (stopped, handle.borrow().as_ref()) {
                h.0.stop();
            }
        });
    }
    {
        let handle = handle.clone();
        use_effect_with(props.theme, move |&theme| {
            if let Some(h) = handle.borrow().as_ref() {
                h.0.set_theme(theme);
            }
        });
    }
    {
        let handle = handle.clone();
        use_effect_with(
            (props.font_size, props.screen_reader),
            move |&(size, reader)| {
                if let Some(h) = handle.borrow().as_ref() {
                    h.0.set_view(size, reader);
                }
            },
        );
    }

    let ondragover = {
        let dropping = dropping.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if !*dropping {
                dropping.set(true);
            }
        })
    };
    let ondragleave = {
        let dropping = dropping.clone();
        Callback::from(move |_: DragEvent| dropping.set(false))
    };
    let ondrop = {
        let dropping = dropping.clone();
        let target = UploadTarget {
            session: props.session.to_string(),
            token: props.token.to_string(),
            instance: props.instance.to_string(),
            tab: props.tab,
            limit: props.upload_limit,
            on_action: props.on_action.clone(),
        };
        Callback::from(move |e: DragEvent| {
            dropping.set(false);
            upload::on_drop(&e, target.clone());
        })
    };

    let id = format!("terminal-{}-{}", props.instance, props.tab);
    html! {
        <div class={classes!("term-wrap", (!props.active).then_some("hidden"), dropping.then_some("dropping"))}
             {ondragover} {ondragleave} {ondrop}>
            <div class="term" ref={node} id={id.clone()} data-testid={id}
                 data-instance={props.instance.clone()} data-tab={props.tab.to_string()}
                 data-state="connecting" />
            <div class="drop-hint">{ "Drop to upload into the shell's current directory" }</div>
        </div>
    }
}

/// Owns a terminal's JS objects; dropping it tears everything down.
struct TermHandle(Rc<Inner>);

impl TermHandle {
    fn new(el: HtmlElement, p: &TerminalProps) -> Self {
        let inner = Inner::new(el, p);
        inner.connect();
        TermHandle(inner)
    }
}

impl Drop for TermHandle {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

struct Inner {
    term: XTerm,
    fit: FitAddon,
    el: HtmlElement,
    session: String,
    token: String,
    instance: String,
    tab: TabId,
    on_action: Callback<SessionAction>,
    link: RefCell<TermLink>,
    socket: RefCell<Option<Socket>>,
    retry: RefCell<Option<Timeout>>,
    pending: RefCell<Vec<u8>>,
    last_activity: Cell<f64>,
    stopped: Cell<bool>,
    observer: RefCell<Option<ResizeObserver>>,
    disposables: RefCell<Vec<Disposable>>,
    listeners: RefCell<Vec<EventListener>>,
    #[allow(clippy::type_complexity)]
    closures: RefCell<Vec<Box<dyn std::any::Any>>>,
    /// Replayed writes xterm has not parsed yet. While any is pending, what
    /// xterm sends as input is its answer to an old query, not the user's.
    muted: Cell<u32>,
    /// A font change is measured by xterm on its next frame: fit again then.
    refit: RefCell<Option<Timeout>>,
}

fn options(p: &TerminalProps) -> JsValue {
    let text = serde_json::json!({
        "cursorBlink": true,
        "fontFamily": "'DejaVu Sans Mono', 'Cascadia Mono', Menlo, Consolas, monospace",
        "fontSize": p.font_size,
        "screenReaderMode": p.screen_reader,
        "scrollback": 10000,
        "macOptionIsMeta": true,
        "rightClickSelectsWord": false,
        "theme": theme_json(p.theme),
    })
    .to_string();
    js_sys::JSON::parse(&text).unwrap_or(JsValue::UNDEFINED)
}

fn theme_json(theme: Theme) -> serde_json::Value {
    let (background, foreground, cursor, selection) = theme.terminal_colors();
    serde_json::json!({
        "background": background,
        "foreground": foreground,
        "cursor": cursor,
        "selectionBackground": selection,
    })
}

/// Run a callback after the current event handler: a re-render it causes may drop
/// this very terminal, which must not happen while its closure runs.
fn emit_later(cb: &Callback<SessionAction>, action: SessionAction) {
    let cb = cb.clone();
    wasm_bindgen_futures::spawn_local(async move { cb.emit(action) });
}

impl Inner {
    fn new(el: HtmlElement, p: &TerminalProps) -> Rc<Self> {
        let term = XTerm::new(&options(p));
        let fit = FitAddon::new();
        term.load_addon(&fit);
        term.open(&el);
        xterm::register(&p.instance, p.tab, &term);
        let inner = Rc::new(Inner {
            term,
            fit,
            el,
            session: p.session.to_string(),
            token: p.token.to_string(),
            instance: p.instance.to_string(),
            tab: p.tab,
            on_action: p.on_action.clone(),
            link: RefCell::new(TermLink::new()),
            socket: RefCell::new(None),
            retry: RefCell::new(None),
            pending: RefCell::new(Vec::new()),
            last_activity: Cell::new(0.0),
            stopped: Cell::new(false),
            observer: RefCell::new(None),
            disposables: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
            closures: RefCell::new(Vec::new()),
            muted: Cell::new(0),
            refit: RefCell::new(None),
        });
        inner.wire_input();
        inner.wire_clipboard();
        inner.wire_resize();
        inner.wire_touch();
        if p.active {
            xterm::set_active(&p.instance, p.tab);
            inner.fit_and_focus();
        }
        inner
    }

    fn wire_input(self: &Rc<Self>) {
        let w = Rc::downgrade(self);
        let on_data = Closure::<dyn FnMut(String)>::new(move |data: String| {
            if let Some(i) = w.upgrade().filter(|i| i.muted.get() == 0) {
                i.send_input(data.as_bytes());
            }
        });
        let w = Rc::downgrade(self);
        let on_binary = Closure::<dyn FnMut(String)>::new(move |data: String| {
            if let Some(i) = w.upgrade().filter(|i| i.muted.get() == 0) {
                let bytes: Vec<u8> = data.chars().map(|c| c as u32 as u8).collect();
                i.send_input(&bytes);
            }
        });
        let w = Rc::downgrade(self);
        let on_resize = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if let Some(i) = w.upgrade() {
                i.send_resize();
            }
        });
        let mut d = self.disposables.borrow_mut();
        d.push(self.term.on_data(&on_data));
        d.push(self.term.on_binary(&on_binary));
        d.push(self.term.on_resize(&on_resize));
        let mut c = self.closures.borrow_mut();
        c.push(Box::new(on_data));
        c.push(Box::new(on_binary));
        c.push(Box::new(on_resize));
    }

    /// Ctrl+Shift+C and Ctrl+Insert copy; Ctrl+Shift+V and Shift+Insert are left to
    /// the browser, whose paste event xterm.js turns into input; a mouse selection
    /// is copied when the button is released; right click copies a selection or,
    /// where the page may read the clipboard, pastes. A Tab right after Escape is
    /// left to the browser too: it moves the focus to the next control.
    fn wire_clipboard(self: &Rc<Self>) {
        let term = self.term.clone();
        let mut escape = FocusEscape::default();
        let keys = Closure::<dyn FnMut(KeyboardEvent) -> bool>::new(move |e: KeyboardEvent| {
            if e.type_() == "keydown" && escape.keydown(&e.key(), dom::now_ms()) {
                return false;
            }
            let ctrl_shift = e.ctrl_key() && e.shift_key() && !e.alt_key() && !e.meta_key();
            let copy = (ctrl_shift && e.code() == "KeyC")
                || (e.ctrl_key() && !e.shift_key() && e.code() == "Insert");
            let paste = (ctrl_shift && e.code() == "KeyV")
                || (e.shift_key() && !e.ctrl_key() && e.code() == "Insert");
            if copy {
                // Also keeps Chrome's Ctrl+Shift+C (inspect element) from opening.
                e.prevent_default();
                if e.type_() == "keydown" && term.has_selection() {
                    clipboard::copy(&term.get_selection());
                }
            }
            !(copy || paste)
        });
        self.term.attach_custom_key_event_handler(&keys);
        self.closures.borrow_mut().push(Box::new(keys));

        let term = self.term.clone();
        let mouseup = EventListener::new(&self.el, "mouseup", move |_| {
            if term.has_selection() {
                clipboard::copy(&term.get_selection());
            }
        });
        let term = self.term.clone();
        let menu = EventListener::new_with_options(
            &self.el,
            "contextmenu",
            EventListenerOptions::enable_prevent_default(),
            move |e| {
                if term.has_selection() {
                    e.prevent_default();
                    clipboard::copy(&term.get_selection());
                } else if clipboard::can_read() {
                    e.prevent_default();
                    let term = term.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Some(text) = clipboard::read().await {
                            term.paste(&text);
                        }
                        term.focus();
                    });
                }
                // Otherwise the browser's own menu offers Paste.
            },
        );
        self.listeners.borrow_mut().extend([mouseup, menu]);
    }

    /// A finger scrolls the scrollback (xterm.js 6 has no touch scrolling of its
    /// own): one line per cell height moved; a tap still focuses the terminal.
    fn wire_touch(self: &Rc<Self>) {
        let start = Rc::new(Cell::new(None::<f64>));
        let from = start.clone();
        let touchstart = EventListener::new(&self.el, "touchstart", move |e| {
            let y = e
                .dyn_ref::<web_sys::TouchEvent>()
                .filter(|t| t.touches().length() == 1)
                .and_then(|t| t.touches().get(0))
                .map(|t| f64::from(t.client_y()));
            from.set(y);
        });
        let (w, from) = (Rc::downgrade(self), start);
        let touchmove = EventListener::new_with_options(
            &self.el,
            "touchmove",
            EventListenerOptions::enable_prevent_default(),
            move |e| {
                let (Some(i), Some(t), Some(y0)) =
                    (w.upgrade(), e.dyn_ref::<web_sys::TouchEvent>(), from.get())
                else {
                    return;
                };
                let Some(y) = t.touches().get(0).map(|t| f64::from(t.client_y())) else {
                    return;
                };
                let rows = f64::from(i.term.rows().max(1));
                let cell = (f64::from(i.el.client_height()) / rows).max(1.0);
                let lines = ((y - y0) / cell).trunc();
                e.prevent_default();
                if lines != 0.0 {
                    i.term.scroll_lines(-(lines as i32));
                    from.set(Some(y0 + lines * cell));
                }
            },
        );
        self.listeners.borrow_mut().extend([touchstart, touchmove]);
    }

    /// The grid follows the element's size (window resizes, panels shown or hidden).
    fn wire_resize(self: &Rc<Self>) {
        let w = Rc::downgrade(self);
        let cb = Closure::<dyn FnMut()>::new(move || {
            if let Some(i) = w.upgrade() {
                i.fit();
            }
        });
        if let Ok(observer) = ResizeObserver::new(cb.as_ref().unchecked_ref()) {
            observer.observe(&self.el);
            *self.observer.borrow_mut() = Some(observer);
        }
        self.closures.borrow_mut().push(Box::new(cb));
    }

    fn fit(&self) {
        // A hidden terminal has no size; it is fitted when it comes to the front.
        if self.el.client_width() > 0 && self.el.client_height() > 0 {
            self.fit.fit();
        }
    }

    fn fit_and_focus(&self) {
        self.fit();
        self.term.focus();
    }

    fn set_view(self: &Rc<Self>, font_size: u8, screen_reader: bool) {
        let options = self.term.options();
        let _ = js_sys::Reflect::set(&options, &"fontSize".into(), &font_size.into());
        let _ = js_sys::Reflect::set(&options, &"screenReaderMode".into(), &screen_reader.into());
        self.fit();
        let w = Rc::downgrade(self);
        *self.refit.borrow_mut() = Some(Timeout::new(50, move || with(&w, |i| i.fit())));
    }

    fn set_theme(&self, theme: Theme) {
        if let Ok(value) = js_sys::JSON::parse(&theme_json(theme).to_string()) {
            let _ = js_sys::Reflect::set(&self.term.options(), &"theme".into(), &value);
        }
    }

    fn connect(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        let path = routes::terminal_ws(
            &self.session,
            &self.instance,
            self.tab,
            &self.token,
            self.link.borrow().offset(),
        );
        let (w1, w2, w3) = (
            Rc::downgrade(self),
            Rc::downgrade(self),
            Rc::downgrade(self),
        );
        let opened = Socket::open(
            &dom::ws_url(&path),
            move || with(&w1, |i| i.apply(Input::Opened)),
            move |frame| {
                with(&w2, |i| match &frame {
                    Frame::Text(t) => i.apply(Input::Text(t)),
                    Frame::Binary(b) => i.apply(Input::Binary(b)),
                })
            },
            move |code, reason: String| {
                with(&w3, |i| {
                    i.apply(Input::Closed {
                        code,
                        reason: &reason,
                        jitter: dom::random(),
                    })
                })
            },
        );
        match opened {
            Ok(socket) => *self.socket.borrow_mut() = Some(socket),
            Err(_) => self.apply(Input::Closed {
                code: shared::playground::close_code::ABNORMAL,
                reason: "",
                jitter: dom::random(),
            }),
        }
        self.show_status();
    }

    fn apply(self: &Rc<Self>, input: Input<'_>) {
        let was_exited = matches!(self.link.borrow().status(), Status::Exited(_));
        let effects = self.link.borrow_mut().reduce(input);
        for effect in effects {
            match effect {
                Effect::Write(bytes) => self.term.write_bytes(&js_sys::Uint8Array::from(bytes)),
                Effect::Replay(bytes) => {
                    // What xterm answers while it parses replayed output is
                    // dropped (see `muted`).
                    self.muted.set(self.muted.get() + 1);
                    let w = Rc::downgrade(self);
                    let parsed = Closure::once_into_js(move || {
                        with(&w, |i| i.muted.set(i.muted.get().saturating_sub(1)));
                    });
                    self.term
                        .write_bytes_then(&js_sys::Uint8Array::from(bytes), parsed.unchecked_ref());
                }
                Effect::ResetScreen => self.term.reset(),
                Effect::SendResize => {
                    self.fit();
                    self.send_resize();
                    let pending = std::mem::take(&mut *self.pending.borrow_mut());
                    if !pending.is_empty() {
                        self.send_input(&pending);
                    }
                }
                Effect::Drop => {
                    if let Some(s) = self.socket.borrow().as_ref() {
                        s.close(4000, "resync");
                    }
                }
                Effect::Reconnect { after_ms } => {
                    let w = Rc::downgrade(self);
                    let timer = Timeout::new(after_ms, move || {
                        with(&w, |i| {
                            i.apply(Input::Retrying);
                            i.connect();
                        })
                    });
                    *self.retry.borrow_mut() = Some(timer);
                }
                Effect::Note(text) => self
                    .term
                    .write_str(&format!("\r\n\x1b[2m{text}\x1b[0m\r\n")),
            }
        }
        let exited = matches!(self.link.borrow().status(), Status::Exited(_));
        if exited && !was_exited {
            emit_later(
                &self.on_action,
                SessionAction::TabClosed {
                    instance: self.instance.clone(),
                    tab: self.tab,
                },
            );
        }
        self.show_status();
    }

    /// `data-state` for tests and CSS, `data-note` for the overlay text.
    fn show_status(&self) {
        let link = self.link.borrow();
        let status = link.status();
        let _ = self.el.set_attribute("data-state", status.word());
        let note = match status {
            Status::Waiting { .. } => "Connection lost. Reconnecting…".to_string(),
            Status::Failed(why) if why.ends_with(['.', '!', '?']) => format!("Disconnected: {why}"),
            Status::Failed(why) => format!("Disconnected: {why}."),
            _ => String::new(),
        };
        let _ = self.el.set_attribute("data-note", &note);
    }

    fn send_input(&self, bytes: &[u8]) {
        match self.socket.borrow().as_ref() {
            Some(s) if s.is_open() && *self.link.borrow().status() == Status::Live => {
                s.send_bytes(bytes)
            }
            _ => {
                let mut pending = self.pending.borrow_mut();
                if pending.len() + bytes.len() <= MAX_PENDING {
                    pending.extend_from_slice(bytes);
                }
            }
        }
        let now = dom::now_ms();
        if now - self.last_activity.get() > ACTIVITY_EVERY_MS {
            self.last_activity.set(now);
            emit_later(&self.on_action, SessionAction::Activity);
        }
    }

    fn send_resize(&self) {
        let (cols, rows) = (self.term.cols(), self.term.rows());
        if let (Some(s), Ok(text)) = (
            self.socket.borrow().as_ref(),
            serde_json::to_string(&TerminalCommand::Resize { cols, rows }),
        ) {
            s.send_text(&text);
        }
    }

    /// No more connections; the screen stays as it is.
    fn stop(&self) {
        self.stopped.set(true);
        self.retry.borrow_mut().take();
        self.refit.borrow_mut().take();
        self.socket.borrow_mut().take();
        let _ = self.el.set_attribute("data-state", "stopped");
        let _ = self.el.set_attribute("data-note", "");
    }

    fn shutdown(&self) {
        self.stop();
        for d in self.disposables.borrow_mut().drain(..) {
            d.dispose();
        }
        self.listeners.borrow_mut().clear();
        if let Some(o) = self.observer.borrow_mut().take() {
            o.disconnect();
        }
        xterm::unregister(&self.instance, self.tab);
        self.term.dispose();
        self.closures.borrow_mut().clear();
    }
}

fn with(w: &Weak<Inner>, f: impl FnOnce(&Rc<Inner>)) {
    if let Some(i) = w.upgrade() {
        f(&i);
    }
}
