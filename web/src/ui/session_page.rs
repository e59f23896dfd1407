//! The session page: header, instance list, the instance in front with its terminal
//! tabs, and the side panels. State lives in the `session` reducer, fed by the
//! session socket (`feed`) and by the answers of this page's own REST calls.
//!
//! The layout follows the window (`static/dockhand.css`): from 1400 px the
//! instance list, the terminal and the panels stand side by side; below 1310 px
//! the instance list is a strip above the terminal; below 1160 px (the width
//! `view::DRAWER_BELOW_PX`, watched here) the panels are a drawer, closed until
//! asked for. Presenter mode keeps only the terminal and a bar of port links.

use super::api;
use super::dom;
use super::feed::Feed;
use super::lesson::LessonPanel;
use super::panels::{self, Panels};
use super::sidebar::Sidebar;
use super::terminal::Terminal;
use super::topbar::TopBar;
use super::view_menu::FontButtons;
use super::xterm;
use crate::format;
use crate::session::{SessionAction, SessionState};
use crate::theme::Theme;
use crate::view::{self, Prefs, PrefsAction};
use gloo_events::{EventListener, EventListenerOptions, EventListenerPhase};
use gloo_timers::callback::{Interval, Timeout};
use shared::playground::{routes, InstanceState};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use yew::prelude::*;

#[derive(Clone, PartialEq)]
struct Store(SessionState);

impl Reducible for Store {
    type Action = SessionAction;
    fn reduce(self: Rc<Self>, action: SessionAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.0.reduce(action);
        Rc::new(next)
    }
}

#[derive(Properties, PartialEq)]
pub struct SessionPageProps {
    pub id: String,
    pub token: String,
    pub theme: Theme,
    pub on_toggle_theme: Callback<()>,
    pub on_theme: Callback<Theme>,
    pub prefs: Prefs,
    pub on_prefs: Callback<PrefsAction>,
}

/// Run a REST call and turn its outcome into an action.
fn call<F, T>(
    dispatch: &Callback<SessionAction>,
    fut: F,
    ok: impl FnOnce(T) -> SessionAction + 'static,
) where
    F: std::future::Future<Output = Result<T, api::ApiError>> + 'static,
    T: 'static,
{
    let dispatch = dispatch.clone();
    wasm_bindgen_futures::spawn_local(async move {
        dispatch.emit(match fut.await {
            Ok(v) => ok(v),
            Err(e) if e.status == 404 => {
                SessionAction::Gone("This session no longer exists.".into())
            }
            Err(e) => SessionAction::Failed(e.message),
        });
    });
}

#[component]
pub fn SessionPage(props: &SessionPageProps) -> Html {
    let store = use_reducer(|| Store(SessionState::new(&props.id, &props.token)));
    let dispatch: Callback<SessionAction> = {
        let d = store.dispatcher();
        Callback::from(move |a| d.dispatch(a))
    };
    let (id, token) = (props.id.clone(), props.token.clone());

    {
        let dispatch = dispatch.clone();
        use_effect_with((), move |_| {
            let tick = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(cfg) = api::config().await {
                    dispatch.emit(SessionAction::ConfigLoaded(cfg));
                }
            });
            let interval =
                Interval::new(1000, move || tick.emit(SessionAction::Tick(dom::now_ms())));
            move || drop(interval)
        });
    }
    {
        let dispatch = dispatch.clone();
        use_effect_with((id.clone(), token.clone()), move |(id, token)| {
            let feed = Feed::start(id, token, dispatch);
            move || drop(feed)
        });
    }
    {
        // Confirmations fade after a few seconds; errors stay a little longer.
        let dispatch = dispatch.clone();
        use_effect_with(store.0.notice.clone(), move |notice| {
            let timer = notice.as_ref().map(|n| {
                let ms = if n.error { 12_000 } else { 5_000 };
                Timeout::new(ms, move || dispatch.emit(SessionAction::DismissNotice))
            });
            move || drop(timer)
        });
    }

    {
        // The drawer width: crossing it opens or closes the panels.
        let dispatch = dispatch.clone();
        use_effect_with((), move |_| {
            let mql = dom::window()
                .match_media(&view::drawer_query())
                .ok()
                .flatten();
            let listener = mql.map(|m| {
                dispatch.emit(SessionAction::Layout {
                    drawer: m.matches(),
                });
                let watched = m.clone();
                EventListener::new(&m, "change", move |_| {
                    dispatch.emit(SessionAction::Layout {
                        drawer: watched.matches(),
                    })
                })
            });
            move || drop(listener)
        });
    }
    {
        // Ctrl +, Ctrl −, Ctrl 0 size the terminals' text, before xterm.js (or the
        // browser's zoom) sees the keys.
        let on_prefs = props.on_prefs.clone();
        use_effect_with((), move |_| {
            let options = EventListenerOptions {
                phase: EventListenerPhase::Capture,
                passive: false,
            };
            let listener =
                EventListener::new_with_options(&dom::window(), "keydown", options, move |e| {
                    let Some(k) = e.dyn_ref::<web_sys::KeyboardEvent>() else {
                        return;
                    };
                    let chord = view::font_key(
                        k.ctrl_key(),
                        k.alt_key(),
                        k.meta_key(),
                        &k.key(),
                        &k.code(),
                    );
                    if let Some(action) = chord {
                        e.prevent_default();
                        e.stop_propagation();
                        on_prefs.emit(action);
                    }
                });
            move || drop(listener)
        });
    }

    // Buttons take the focus when clicked; the keyboard belongs to the terminal,
    // except in an open drawer, which takes it until it closes.
    use_effect_with(
        (
            store.0.panels_open && store.0.drawer,
            store.0.panels_open,
            store.0.notice.is_some(),
        ),
        |&(drawer_open, _, _)| {
            if drawer_open {
                dom::focus_selector("#panels");
            } else {
                xterm::focus_active();
            }
        },
    );

    let s = &store.0;
    let on_select = dispatch.reform(SessionAction::Select);
    let on_add = {
        let (dispatch, id, token) = (dispatch.clone(), id.clone(), token.clone());
        Callback::from(move |_: ()| {
            dispatch.emit(SessionAction::AddingInstance);
            let (id, token) = (id.clone(), token.clone());
            call(
                &dispatch,
                async move { api::add_instance(&id, &token).await },
                SessionAction::InstanceAdded,
            );
        })
    };
    let on_remove = {
        let (dispatch, id, token) = (dispatch.clone(), id.clone(), token.clone());
        Callback::from(move |name: String| {
            let (id, token, n) = (id.clone(), token.clone(), name.clone());
            call(
                &dispatch,
                async move { api::remove_instance(&id, &token, &n).await },
                move |_| SessionAction::InstanceRemoved(name),
            );
        })
    };
    let on_end = {
        let (id, token) = (id.clone(), token.clone());
        Callback::from(move |_: ()| {
            let ok = dom::window()
                .confirm_with_message(
                    "End this session? Its instances and everything in them are deleted.",
                )
                .unwrap_or(false);
            if ok {
                let (id, token) = (id.clone(), token.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = api::delete_session(&id, &token).await;
                    dom::set_hash("");
                });
            }
        })
    };
    let on_new_session = Callback::from(|_: MouseEvent| dom::set_hash(""));

    let stopped = s.closed.is_some();
    let upload_limit = s.config.as_ref().map_or(u64::MAX, |c| c.upload_limit_bytes);
    let terminals = s.instances().iter().flat_map(|inst| {
        let front = s.selected.as_deref() == Some(inst.name.as_str());
        let active_tab = s.active_tab(&inst.name);
        let (dispatch, id, token, theme) =
            (dispatch.clone(), id.clone(), token.clone(), props.theme);
        let (font_size, screen_reader) = (props.prefs.font(), props.prefs.screen_reader);
        inst.terminals.iter().map(move |&tab| html! {
            <Terminal key={format!("{}/{}", inst.name, tab)}
                      session={id.clone()} token={token.clone()} instance={inst.name.clone()} {tab}
                      active={front && active_tab == Some(tab)} {theme} {font_size} {screen_reader}
                      {upload_limit} {stopped} on_action={dispatch.clone()} />
        })
    });

    let work = match s.active() {
        Some((inst, active_tab)) => {
            let name = inst.name.clone();
            let tabs = inst.terminals.iter().map(|&tab| {
                let select = {
                    let name = name.clone();
                    dispatch.reform(move |_: MouseEvent| SessionAction::SelectTab { instance: name.clone(), tab })
                };
                let close = {
                    let (dispatch, id, token, name) = (dispatch.clone(), id.clone(), token.clone(), name.clone());
                    Callback::from(move |e: MouseEvent| {
                        e.stop_propagation();
                        let (id, token, n) = (id.clone(), token.clone(), name.clone());
                        let instance = name.clone();
                        call(&dispatch, async move { api::close_terminal(&id, &token, &n, tab).await },
                             move |_| SessionAction::TabClosed { instance, tab });
                    })
                };
                let on = active_tab == Some(tab);
                html! {
                    <div key={tab} role="tab" aria-selected={on.to_string()}
                         class={classes!("tab", on.then_some("active"))}
                         data-testid={format!("tab-{name}-{tab}")}>
                        <button class="tab-label" onclick={select}>{ format!("Terminal {tab}") }</button>
                        <button class="tab-close" title="Close this terminal"
                                aria-label={format!("Close terminal {tab}")}
                                data-testid={format!("tab-close-{name}-{tab}")} onclick={close}>{ "×" }</button>
                    </div>
                }
            });
            let add_tab = {
                let (dispatch, id, token, name) =
                    (dispatch.clone(), id.clone(), token.clone(), name.clone());
                Callback::from(move |_: MouseEvent| {
                    let (id, token, n) = (id.clone(), token.clone(), name.clone());
                    let instance = name.clone();
                    call(
                        &dispatch,
                        async move { api::open_terminal(&id, &token, &n).await },
                        move |t| SessionAction::TabOpened {
                            instance,
                            tab: t.tab,
                        },
                    );
                })
            };
            html! {
                <div class="instance-head">
                    <div class="instance-title">
                        <h2>{ &inst.hostname }</h2>
                        <span class="muted mono">{ &inst.ip }</span>
                    </div>
                    <div class="tabs">
                        <div class="tab-list" role="tablist">{ for tabs }</div>
                        <button class="tab-add" data-testid="tab-add" id="tab-add"
                                title="Open another terminal on this instance"
                                aria-label="Open another terminal"
                                disabled={!s.can_add_tab(&name)} onclick={add_tab}>{ "+" }</button>
                    </div>
                    <span class="spacer" />
                    <OpenPort session={id.clone()} instance={name.clone()} />
                </div>
            }
        }
        None if s.info.is_some() => html! {
            <div class="empty">
                <p>{ "This session has no instances." }</p>
                <p class="muted">{ "Use “+ Add instance” to create node1." }</p>
            </div>
        },
        None => {
            html! { <div class="empty"><p class="muted">{ "Connecting to your session…" }</p></div> }
        }
    };
    let no_terminal = s
        .active()
        .is_some_and(|(inst, _)| inst.terminals.is_empty())
        .then(|| html! { <div class="empty"><p class="muted">{ "No terminal open. Press + to open one." }</p></div> });

    let port_domain = s.config.as_ref().and_then(|c| c.port_domain.clone());
    let panels = match (&s.selected, s.panels_open) {
        (Some(name), true) => html! {
            <Panels session={id.clone()} token={token.clone()} instance={name.clone()}
                    port_domain={port_domain.clone().map(AttrValue::from)}
                    state={s.states.get(name).cloned()} drawer={s.drawer}
                    on_close={dispatch.reform(|_: ()| SessionAction::ClosePanels)}
                    lesson={html! { <LessonPanel session={id.clone()} token={token.clone()}
                                                 progress={s.lesson.clone()} dispatch={dispatch.clone()} /> }} />
        },
        _ => html! {},
    };
    let presenter_bar = html! {
        <PresenterBar session={id.clone()} token={token.clone()}
                      instance={s.selected.clone().map(AttrValue::from)}
                      hostname={s.active().map(|(i, _)| AttrValue::from(i.hostname.clone()))}
                      port_domain={port_domain.map(AttrValue::from)}
                      state={s.selected.as_ref().and_then(|n| s.states.get(n)).cloned()}
                      prefs={props.prefs} on_prefs={props.on_prefs.clone()}
                      on_leave={dispatch.reform(|_: ()| SessionAction::TogglePresenter)} />
    };
    let expiring = s.expiring_now().map(|(left, idle)| {
        let text = if idle {
            format!("This session has been idle; it ends in {} unless you type something.", format::minutes_words(left))
        } else {
            format!("This session ends in {}. Save anything you need.", format::minutes_words(left))
        };
        html! { <div class="banner warn" data-testid="expiring-banner" role="status">{ text }</div> }
    });
    let trainer = s.trainer_message.as_ref().map(|m| html! {
        <div class="banner info" data-testid="trainer-message" role="status">
            <span><strong>{ "Trainer: " }</strong>{ m }</span>
            <button class="banner-close" aria-label="Dismiss"
                    onclick={dispatch.reform(|_: MouseEvent| SessionAction::DismissTrainerMessage)}>{ "×" }</button>
        </div>
    });
    let notice = s.notice.as_ref().map(|n| html! {
        <div class={classes!("toast", n.error.then_some("error"))} data-testid="notice"
             role={if n.error { "alert" } else { "status" }}
             onclick={dispatch.reform(|_: MouseEvent| SessionAction::DismissNotice)}>{ &n.text }</div>
    });
    let closed = s.closed.as_ref().map(|msg| html! {
        <div class="overlay" data-testid="session-closed">
            <div class="overlay-card">
                <p>{ msg }</p>
                <button class="primary" onclick={on_new_session}>{ "Start a new session" }</button>
            </div>
        </div>
    });

    // Optional parts are one node each (`unwrap_or_default`, never `for` over an
    // Option): yew diffs unkeyed children by position, and a child that comes and
    // goes would shift its siblings and remount the terminals.
    html! {
        <div class={classes!("session", (!s.panels_open).then_some("no-panels"), s.presenter.then_some("presenter"))}
             data-testid="session">
            <TopBar state={s.clone()} theme={props.theme} on_toggle_theme={props.on_toggle_theme.clone()}
                    on_theme={props.on_theme.clone()} prefs={props.prefs} on_prefs={props.on_prefs.clone()}
                    {on_end} on_toggle_panels={dispatch.reform(|_: ()| SessionAction::TogglePanels)}
                    on_presenter={dispatch.reform(|_: ()| SessionAction::TogglePresenter)} />
            { presenter_bar }
            { expiring.unwrap_or_default() }
            { trainer.unwrap_or_default() }
            <Sidebar state={s.clone()} {on_select} {on_add} {on_remove} />
            <main class="work">
                { work }
                { no_terminal.unwrap_or_default() }
                <div class="terms">{ for terminals }</div>
            </main>
            { panels }
            { notice.unwrap_or_default() }
            { closed.unwrap_or_default() }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct PresenterBarProps {
    session: AttrValue,
    token: AttrValue,
    instance: Option<AttrValue>,
    hostname: Option<AttrValue>,
    port_domain: Option<AttrValue>,
    state: Option<InstanceState>,
    prefs: Prefs,
    on_prefs: Callback<PrefsAction>,
    on_leave: Callback<()>,
}

/// Presenter mode's only controls: the instance in front, its published ports as
/// links, the text size, and the way back. Hidden by the stylesheet otherwise.
#[component]
fn PresenterBar(props: &PresenterBarProps) -> Html {
    let mode = panels::port_mode(props.port_domain.as_deref(), &props.token);
    let links = match (&props.instance, &props.state) {
        (Some(instance), Some(state)) => state
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().map(move |p| (c, p)))
            .filter_map(|(c, p)| {
                let href = panels::port_href(&props.session, instance, p, &mode)?;
                Some(html! {
                    <a class="port" data-testid="presenter-port-link" href={href} target="_blank" rel="noopener"
                       title={format!("{} in a new tab", c.name)}>{ format!("{} {}", c.name, p.label()) }</a>
                })
            })
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let on_leave = {
        let cb = props.on_leave.clone();
        Callback::from(move |_: MouseEvent| {
            cb.emit(());
            xterm::focus_active();
        })
    };
    html! {
        <div class="presenter-bar" data-testid="presenter-bar" role="toolbar" aria-label="Presenter mode">
            <span class="presenter-host">{ props.hostname.clone().unwrap_or_default() }</span>
            <span class="presenter-ports">{ for links }</span>
            <span class="spacer" />
            <FontButtons prefs={props.prefs} on_prefs={props.on_prefs.clone()} />
            <button data-testid="presenter-leave" onclick={on_leave}>{ "Leave presenter mode" }</button>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct OpenPortProps {
    session: String,
    instance: String,
}

/// Open any port of the instance (a server started in the shell has no container
/// row to link from).
#[component]
fn OpenPort(props: &OpenPortProps) -> Html {
    let port = use_state(String::new);
    let onsubmit = {
        let (port, session, instance) =
            (port.clone(), props.session.clone(), props.instance.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Ok(p) = port.trim().parse::<u16>() {
                if p > 0 {
                    dom::open_tab(&routes::port_url(&session, &instance, p));
                }
            }
        })
    };
    let oninput = {
        let port = port.clone();
        Callback::from(move |e: InputEvent| port.set(dom::input_value(&e)))
    };
    html! {
        <form class="open-port" {onsubmit}>
            <input type="number" min="1" max="65535" placeholder="port" aria-label="Port to open"
                   data-testid="open-port-input" value={(*port).clone()} {oninput} />
            <button type="submit" data-testid="open-port-button" title="Open this port of the instance in a new tab">
                { "Open port" }</button>
        </form>
    }
}
