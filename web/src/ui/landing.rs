//! The landing page: what the playground is, an access code field when the trainer
//! set one, the Start button, and a polite word when the server is full.

use super::api;
use super::dom;
use super::topbar::ThemeToggle;
use crate::format;
use crate::landing::{LandingAction, LandingState, Problem};
use crate::route::Route;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Clone, PartialEq)]
struct Store(LandingState);

impl Reducible for Store {
    type Action = LandingAction;
    fn reduce(self: Rc<Self>, action: LandingAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.0.reduce(action);
        Rc::new(next)
    }
}

#[derive(Properties, PartialEq)]
pub struct LandingProps {
    pub theme: crate::theme::Theme,
    pub on_toggle_theme: Callback<()>,
}

#[component]
pub fn Landing(props: &LandingProps) -> Html {
    let store = use_reducer(|| Store(LandingState::default()));
    {
        let dispatch = store.dispatcher();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                match api::config().await {
                    Ok(cfg) => dispatch.dispatch(LandingAction::ConfigLoaded(cfg)),
                    Err(e) => dispatch.dispatch(LandingAction::ConfigFailed(e.message)),
                }
            });
        });
    }
    let s = &store.0;

    let on_start = {
        let store = store.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if !store.0.can_start() {
                return;
            }
            let code = store.0.code_to_send();
            let (workshop, name) = store.0.workshop_to_send();
            store.dispatch(LandingAction::Start);
            let dispatch = store.dispatcher();
            wasm_bindgen_futures::spawn_local(async move {
                match api::create_session(code, workshop, name).await {
                    Ok(created) => {
                        // Every session starts with node1; a failure here shows on
                        // the session page, which can add it again.
                        let _ = api::add_instance(&created.id, &created.token).await;
                        dispatch.dispatch(LandingAction::Started);
                        dom::set_hash(
                            &Route::Session {
                                id: created.id,
                                token: created.token,
                            }
                            .to_hash(),
                        );
                    }
                    Err(e) => dispatch.dispatch(LandingAction::StartFailed {
                        status: e.status,
                        message: e.message,
                    }),
                }
            });
        })
    };
    let on_code = {
        let dispatch = store.dispatcher();
        Callback::from(move |e: InputEvent| {
            dispatch.dispatch(LandingAction::CodeChanged(dom::input_value(&e)))
        })
    };

    let on_workshop = {
        let dispatch = store.dispatcher();
        Callback::from(move |e: InputEvent| {
            dispatch.dispatch(LandingAction::WorkshopChanged(dom::input_value(&e)))
        })
    };
    let on_name = {
        let dispatch = store.dispatcher();
        Callback::from(move |e: InputEvent| {
            dispatch.dispatch(LandingAction::NameChanged(dom::input_value(&e)))
        })
    };
    let title = s
        .config
        .as_ref()
        .map_or("Dockhand", |c| c.title.as_str())
        .to_string();
    let facts = s.config.as_ref().map(|c| {
        html! {
            <p class="facts">
                { format!("Each session gets up to {} instances with Docker inside, for {}. ",
                    c.max_instances, format::duration_words(c.session_ttl_secs)) }
                { format!("Idle sessions end after {}.", format::minutes_words(c.idle_timeout_secs)) }
            </p>
        }
    });
    let problem = s.problem.as_ref().map(|p| match p {
        Problem::Full(m) => {
            html! { <div class="notice full" data-testid="landing-full" role="status">{ m }</div> }
        }
        Problem::WrongCode(m) => {
            html! { <div class="notice error" data-testid="landing-error" role="alert">{ m }</div> }
        }
        Problem::Other(m) => {
            html! { <div class="notice error" data-testid="landing-error" role="alert">{ m }</div> }
        }
    });

    html! {
        <div class="landing">
            <div class="landing-top">
                <ThemeToggle theme={props.theme} on_toggle={props.on_toggle_theme.clone()} />
            </div>
            <main class="landing-card">
                <h1><span class="logo" aria-hidden="true">{ "⚓" }</span>{ title }</h1>
                <p class="lead">{ "A Docker playground in your browser: start a session, get your own \
                    virtual hosts, and type real docker commands." }</p>
                { facts.unwrap_or_default() }
                <form class="start" onsubmit={on_start}>
                    if s.needs_code() {
                        <label for="access-code">{ "Access code" }</label>
                        <input id="access-code" data-testid="access-code-input" type="password"
                               autocomplete="off" autofocus=true placeholder="from your trainer"
                               value={s.code.clone()} oninput={on_code} />
                    }
                    if s.offers_workshops() {
                        <label for="workshop-code">{ "Workshop code (if your trainer gave you one)" }</label>
                        <input id="workshop-code" data-testid="workshop-code-input" autocomplete="off"
                               placeholder="e.g. K7QX2M" value={s.workshop.clone()} oninput={on_workshop} />
                        if !s.workshop.trim().is_empty() {
                            <label for="trainee-name">{ "Your name (shown to your trainer)" }</label>
                            <input id="trainee-name" data-testid="trainee-name-input" autocomplete="name"
                                   value={s.name.clone()} oninput={on_name} />
                        }
                    }
                    <button id="start-button" data-testid="start-button" type="submit" class="primary"
                            disabled={!s.can_start()}>
                        { if s.starting { "Starting…" } else { "Start a session" } }
                    </button>
                </form>
                { problem.unwrap_or_default() }
            </main>
        </div>
    }
}
