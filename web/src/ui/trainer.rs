//! The trainer's pages: `#/trainer` opens a workshop with the server's
//! trainer code; `#/w/{id}/{token}` is the workshop: its join code, every
//! trainee (lesson progress step by step, instances and containers) live
//! from the workshop's socket, a read-only mirror of any trainee's
//! terminal, a message to everyone, and closing it.

use super::api;
use super::dom;
use super::socket::{Frame, Socket};
use super::xterm::{self, FitAddon, Terminal as XTerm};
use crate::lesson::{statuses, StepStatus};
use crate::route::Route;
use crate::term_link::{Effect, Input, TermLink};
use crate::workshop::WorkshopState;
use shared::lessons::Lesson;
use shared::playground::routes;
use shared::workshop::{Trainee, WorkshopEvent};
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

#[component]
pub fn TrainerLogin() -> Html {
    let code = use_state(String::new);
    let error = use_state(|| None::<String>);
    let onsubmit = {
        let (code, error) = (code.clone(), error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (c, error) = ((*code).clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::create_workshop(&c).await {
                    Ok(w) => dom::set_hash(
                        &Route::Workshop {
                            id: w.id,
                            token: w.token,
                        }
                        .to_hash(),
                    ),
                    Err(e) => error.set(Some(e.message)),
                }
            });
        })
    };
    let oninput = {
        let code = code.clone();
        Callback::from(move |e: InputEvent| code.set(dom::input_value(&e)))
    };
    html! {
        <div class="landing">
            <main class="landing-card">
                <h1>{ "Open a workshop" }</h1>
                <p class="lead">{ "Trainees who start a session with the workshop's code are yours to follow: \
                    their lesson progress, their instances, their terminals (read-only)." }</p>
                <form class="start" {onsubmit}>
                    <label for="trainer-code">{ "Trainer code" }</label>
                    <input id="trainer-code" data-testid="trainer-code-input" type="password" autocomplete="off"
                           value={(*code).clone()} {oninput} />
                    <button class="primary" type="submit" data-testid="open-workshop"
                            disabled={code.trim().is_empty()}>{ "Open a workshop" }</button>
                </form>
                { (*error).clone().map(|m| html! { <div class="notice error" data-testid="trainer-error" role="alert">{ m }</div> }).unwrap_or_default() }
            </main>
        </div>
    }
}

#[derive(Clone, PartialEq)]
struct Store(WorkshopState);

enum Act {
    Event(WorkshopEvent),
    Live(bool),
}

impl Reducible for Store {
    type Action = Act;
    fn reduce(self: Rc<Self>, a: Act) -> Rc<Self> {
        let mut next = (*self).clone();
        match a {
            Act::Event(ev) => next.0.apply(ev),
            Act::Live(l) => next.0.live = l,
        }
        Rc::new(next)
    }
}

#[derive(Properties, PartialEq)]
pub struct WorkshopPageProps {
    pub id: AttrValue,
    pub token: AttrValue,
}

/// Which terminal the trainer watches.
#[derive(Clone, PartialEq)]
struct Watch {
    session: String,
    name: String,
    instance: String,
    tab: u32,
}

#[component]
pub fn WorkshopPage(props: &WorkshopPageProps) -> Html {
    let store = use_reducer(|| Store(WorkshopState::default()));
    let lessons = use_state(|| None::<Rc<Vec<Lesson>>>);
    let watch = use_state(|| None::<Watch>);
    let message = use_state(String::new);
    let notice = use_state(|| None::<String>);
    {
        let lessons = lessons.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(l) = api::lessons().await {
                    lessons.set(Some(Rc::new(l)));
                }
            });
        });
    }
    {
        let dispatch = store.dispatcher();
        use_effect_with(
            (props.id.clone(), props.token.clone()),
            move |(id, token)| {
                let url = dom::ws_url(&routes::workshop_ws(id, token));
                let (d1, d2, d3) = (dispatch.clone(), dispatch.clone(), dispatch);
                let socket = Socket::open(
                    &url,
                    move || d1.dispatch(Act::Live(true)),
                    move |f| {
                        if let Frame::Text(t) = f {
                            if let Ok(ev) = serde_json::from_str::<WorkshopEvent>(&t) {
                                d2.dispatch(Act::Event(ev));
                            }
                        }
                    },
                    move |_, _| d3.dispatch(Act::Live(false)),
                )
                .ok();
                move || drop(socket)
            },
        );
    }
    let s = &store.0;
    if s.closed {
        return html! {
            <div class="landing"><main class="landing-card" data-testid="workshop-closed">
                <h1>{ "The workshop is closed" }</h1>
                <p>{ "Its trainees' sessions ended." }</p>
                <a href="#/trainer">{ "Open another workshop" }</a>
            </main></div>
        };
    }
    let on_message = {
        let (id, token, message, notice) = (
            props.id.clone(),
            props.token.clone(),
            message.clone(),
            notice.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (id, token, text, message, notice) = (
                id.clone(),
                token.clone(),
                (*message).clone(),
                message.clone(),
                notice.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match api::workshop_message(&id, &token, &text).await {
                    Ok(()) => {
                        message.set(String::new());
                        notice.set(Some("Sent.".into()));
                    }
                    Err(e) => notice.set(Some(e.message)),
                }
            });
        })
    };
    let on_message_input = {
        let message = message.clone();
        Callback::from(move |e: InputEvent| message.set(dom::input_value(&e)))
    };
    let on_close = {
        let (id, token, notice) = (props.id.clone(), props.token.clone(), notice.clone());
        Callback::from(move |_: MouseEvent| {
            let confirmed = web_sys::window()
                .and_then(|w| {
                    w.confirm_with_message("Close the workshop? Every trainee's session ends.")
                        .ok()
                })
                .unwrap_or(false);
            if !confirmed {
                return;
            }
            let (id, token, notice) = (id.clone(), token.clone(), notice.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = api::close_workshop(&id, &token).await {
                    notice.set(Some(e.message));
                }
            });
        })
    };
    let rows = s.rows();
    let trainees = rows
        .iter()
        .map(|t| trainee_row(t, lessons.as_deref(), &watch));
    let mirror = (*watch).clone().map(|w| {
        let url = dom::ws_url(&routes::mirror_ws(&props.id, &w.session, &w.instance, w.tab, &props.token));
        let close = {
            let watch = watch.clone();
            Callback::from(move |_: MouseEvent| watch.set(None))
        };
        html! {
            <section class="mirror" data-testid="mirror" aria-label="Watching a terminal">
                <div class="mirror-head">
                    <strong>{ format!("{} — {} terminal {} (read-only)", w.name, w.instance, w.tab) }</strong>
                    <button data-testid="mirror-close" onclick={close}>{ "Stop watching" }</button>
                </div>
                <Mirror key={url.clone()} url={url.clone()} />
            </section>
        }
    });
    html! {
        <div class="workshop" data-testid="workshop">
            <header class="workshop-head">
                <h1>{ "Workshop" }</h1>
                <div class="join">
                    <span>{ "Join code" }</span>
                    <strong class="join-code" data-testid="join-code">{ &s.join_code }</strong>
                    <span class="muted">{ format!("Trainees enter it when they start a session at {}", dom::origin()) }</span>
                </div>
                <span class={classes!("link", s.live.then_some("live"))}>{ if s.live { "Live" } else { "Connecting…" } }</span>
                <button class="danger" data-testid="close-workshop" onclick={on_close}>{ "Close workshop" }</button>
            </header>
            <form class="workshop-message" onsubmit={on_message}>
                <input data-testid="message-input" placeholder="A message for every trainee" aria-label="Message"
                       value={(*message).clone()} oninput={on_message_input} />
                <button type="submit" data-testid="send-message" disabled={message.trim().is_empty()}>{ "Send" }</button>
                { (*notice).clone().map(|n| html! { <span class="muted" role="status">{ n }</span> }).unwrap_or_default() }
            </form>
            <p class="muted" data-testid="trainee-count">{ match rows.len() { 1 => "1 trainee".to_string(), n => format!("{n} trainees") } }</p>
            <ul class="trainees">{ for trainees }</ul>
            { mirror.unwrap_or_default() }
        </div>
    }
}

fn trainee_row(
    t: &Trainee,
    lessons: Option<&Vec<Lesson>>,
    watch: &UseStateHandle<Option<Watch>>,
) -> Html {
    let lesson = t
        .lesson
        .lesson
        .as_deref()
        .and_then(|id| lessons?.iter().find(|l| l.id == id));
    let progress = match lesson {
        Some(l) => {
            let st = statuses(l, &t.lesson);
            let done = st.iter().filter(|s| **s == StepStatus::Done).count();
            let dots = l.steps.iter().zip(st).map(|(step, status)| {
                let class = match status {
                    StepStatus::Done => "done",
                    StepStatus::Current => "current",
                    StepStatus::Ahead => "ahead",
                };
                html! { <span class={classes!("dot-step", class)} title={format!("{}: {class}", step.title)} /> }
            });
            html! {
                <div class="trainee-lesson">
                    <span>{ &l.title }</span>
                    <span class="dots" aria-hidden="true">{ for dots }</span>
                    <span class="muted" data-testid="trainee-progress">{ format!("{done} of {} steps", l.steps.len()) }</span>
                </div>
            }
        }
        None => {
            html! { <div class="trainee-lesson muted" data-testid="trainee-progress">{ "No lesson chosen" }</div> }
        }
    };
    let instances = t.instances.iter().map(|i| {
        let containers: Vec<String> = t
            .states
            .iter()
            .find(|s| s.instance == i.name)
            .map(|s| s.containers.iter().map(|c| format!("{} ({})", c.name, c.state)).collect())
            .unwrap_or_default();
        let buttons = i.terminals.iter().map(|tab| {
            let w = Watch {
                session: t.session.clone(),
                name: t.name.clone(),
                instance: i.name.clone(),
                tab: *tab,
            };
            let watch = watch.clone();
            let onclick = Callback::from(move |_: MouseEvent| watch.set(Some(w.clone())));
            html! {
                <button class="watch" data-testid={format!("watch-{}-{}-{}", t.name, i.name, tab)} {onclick}>
                    { format!("Watch terminal {tab}") }</button>
            }
        });
        html! {
            <div class="trainee-instance">
                <span class="instance-name">{ &i.name }</span>
                <span class="muted">{ if containers.is_empty() { "no containers".to_string() } else { containers.join(", ") } }</span>
                { for buttons }
            </div>
        }
    });
    html! {
        <li class="trainee row" key={t.session.clone()} data-testid={format!("trainee-{}", t.name)}>
            <div class="row-main"><span class="name">{ &t.name }</span></div>
            { progress }
            { for instances }
        </li>
    }
}

#[derive(Properties, PartialEq)]
struct MirrorProps {
    url: String,
}

/// A read-only terminal: output from the mirror socket; the trainer's keys
/// go nowhere (xterm's input is off, and the server drops input anyway).
#[component]
fn Mirror(props: &MirrorProps) -> Html {
    let node = use_node_ref();
    {
        let (node, url) = (node.clone(), props.url.clone());
        use_effect_with(url, move |url| {
            let mut keep: Option<(XTerm, Socket)> = None;
            if let Some(el) = node.cast::<web_sys::HtmlElement>() {
                let options = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&options, &"disableStdin".into(), &true.into());
                let _ = js_sys::Reflect::set(&options, &"fontSize".into(), &13.into());
                let term = XTerm::new(&options);
                let fit = FitAddon::new();
                term.load_addon(&fit);
                term.open(&el);
                fit.fit();
                xterm::register("mirror", 1, &term);
                let link = Rc::new(RefCell::new(TermLink::new()));
                let (t2, l2) = (term.clone(), link.clone());
                let apply = move |input: Input<'_>| {
                    for effect in l2.borrow_mut().reduce(input) {
                        match effect {
                            Effect::Write(b) | Effect::Replay(b) => {
                                t2.write_bytes(&js_sys::Uint8Array::from(b))
                            }
                            Effect::ResetScreen => t2.reset(),
                            Effect::Note(n) => t2.write_str(&format!("\r\n{n}\r\n")),
                            _ => {}
                        }
                    }
                };
                let apply = Rc::new(apply);
                let (a1, a2, a3) = (apply.clone(), apply.clone(), apply);
                if let Ok(socket) = Socket::open(
                    url,
                    move || a1(Input::Opened),
                    move |f| match f {
                        Frame::Binary(b) => a2(Input::Binary(&b)),
                        Frame::Text(t) => a2(Input::Text(&t)),
                    },
                    move |code, reason: String| {
                        a3(Input::Closed {
                            code,
                            reason: &reason,
                            jitter: 0.0,
                        })
                    },
                ) {
                    keep = Some((term, socket));
                }
            }
            move || {
                xterm::unregister("mirror", 1);
                if let Some((term, socket)) = keep {
                    drop(socket);
                    term.dispose();
                }
            }
        });
    }
    html! { <div class="mirror-term" data-testid="mirror-term" ref={node} /> }
}
