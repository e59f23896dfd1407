//! The session header: title, connection state, the countdown, the share link
//! with its copy button, the panels toggle, the view menu, the theme toggle and
//! "End session". On narrow windows the share link's text and the connection
//! state's words fold away (the copy button and the coloured dot stay).

use super::clipboard;
use super::dom;
use super::view_menu::ViewMenu;
use super::xterm;
use crate::format;
use crate::session::{Link, SessionState};
use crate::theme::Theme;
use crate::view::{Prefs, PrefsAction};
use shared::playground::routes;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ThemeToggleProps {
    pub theme: Theme,
    pub on_toggle: Callback<()>,
}

#[component]
pub fn ThemeToggle(props: &ThemeToggleProps) -> Html {
    let onclick = {
        let cb = props.on_toggle.clone();
        Callback::from(move |_: MouseEvent| {
            cb.emit(());
            // The keyboard belongs to the terminal (none on the landing page).
            xterm::focus_active();
        })
    };
    let (icon, label) = match props.theme {
        Theme::Dark | Theme::Contrast => ("☀", "Switch to the light theme"),
        Theme::Light => ("☾", "Switch to the dark theme"),
    };
    html! {
        <button class="icon-button" data-testid="theme-toggle" id="theme-toggle"
                title={label} aria-label={label} {onclick}>{ icon }</button>
    }
}

#[derive(Properties, PartialEq)]
pub struct TopBarProps {
    pub state: SessionState,
    pub theme: Theme,
    pub on_toggle_theme: Callback<()>,
    pub on_theme: Callback<Theme>,
    pub prefs: Prefs,
    pub on_prefs: Callback<PrefsAction>,
    pub on_end: Callback<()>,
    pub on_toggle_panels: Callback<()>,
    pub on_presenter: Callback<()>,
}

#[component]
pub fn TopBar(props: &TopBarProps) -> Html {
    let s = &props.state;
    let share = format!("{}{}", dom::origin(), routes::share_path(&s.id, &s.token));
    let copied = use_state(|| false);
    let on_copy = {
        let (share, copied) = (share.clone(), copied.clone());
        Callback::from(move |_: MouseEvent| {
            clipboard::copy(&share);
            copied.set(true);
            xterm::focus_active();
        })
    };
    let left = s.secs_left();
    let timer_class = classes!("timer", left.is_some_and(|l| l < 300).then_some("warn"),);
    let (link_class, link_text) = match s.link {
        _ if s.closed.is_some() => ("ended", "Session ended".to_string()),
        Link::Live => ("live", "Connected".to_string()),
        Link::Connecting => ("connecting", "Connecting…".to_string()),
        Link::Retrying { retry_ms } => (
            "retrying",
            format!("Reconnecting in {}s…", retry_ms.div_ceil(1000)),
        ),
    };
    let title = s
        .config
        .as_ref()
        .map_or("Dockhand", |c| c.title.as_str())
        .to_string();
    html! {
        <header class="topbar">
            <a class="brand" href="#/" title="Back to the start page" aria-label={title.clone()}>
                <span class="logo" aria-hidden="true">{ "⚓" }</span><span class="brand-name">{ title }</span>
            </a>
            <span class={classes!("link-state", link_class)} data-testid="connection-status"
                  title={link_text.clone()}><span class="link-text">{ link_text }</span></span>
            <span class="spacer" />
            <span class={timer_class} data-testid="session-timer" id="session-timer"
                  title="Time left in this session">
                { left.map_or("--:--".to_string(), format::countdown) }
            </span>
            <div class="share">
                <input class="share-url" data-testid="share-link" id="share-link" readonly=true
                       value={share} aria-label="Share link: anyone with it can use this session"
                       onfocus={Callback::from(|e: FocusEvent| {
                           if let Some(i) = e.target_dyn_into::<web_sys::HtmlInputElement>() { i.select(); }
                       })} />
                <button data-testid="share-copy" id="share-copy" onclick={on_copy}
                        title="Copy the share link">{ if *copied { "Copied" } else { "Copy link" } }</button>
            </div>
            <button class="icon-button" data-testid="panels-toggle"
                    title="Show or hide the panels: containers, images, networks, volumes"
                    aria-label="Panels: containers, images, networks, volumes"
                    aria-pressed={s.panels_open.to_string()}
                    onclick={props.on_toggle_panels.reform(|_: MouseEvent| ())}>{ "▤" }</button>
            <ViewMenu theme={props.theme} on_theme={props.on_theme.clone()}
                      prefs={props.prefs} on_prefs={props.on_prefs.clone()}
                      presenter={s.presenter} on_presenter={props.on_presenter.clone()} />
            <ThemeToggle theme={props.theme} on_toggle={props.on_toggle_theme.clone()} />
            <button class="danger" data-testid="close-session" title="Delete this session and its instances"
                    aria-label="End session"
                    onclick={props.on_end.reform(|_: MouseEvent| ())}>{ "End" }<span class="wide-only">{ " session" }</span></button>
        </header>
    }
}
