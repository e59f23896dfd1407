//! The session header: title, connection state, the countdown, the share link
//! with its copy button, the theme toggle and "End session".

use super::clipboard;
use super::dom;
use super::xterm;
use crate::format;
use crate::session::{Link, SessionState};
use crate::theme::Theme;
use shared::playground::routes;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ThemeToggleProps {
    pub theme: Theme,
    pub on_toggle: Callback<()>,
}

#[component]
pub fn ThemeToggle(props: &ThemeToggleProps) -> Html {
    let onclick = props.on_toggle.reform(|_: MouseEvent| ());
    let (icon, label) = match props.theme {
        Theme::Dark => ("☀", "Switch to the light theme"),
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
    pub on_end: Callback<()>,
    pub on_toggle_panels: Callback<()>,
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
            <a class="brand" href="#/" title="Back to the start page">
                <span class="logo" aria-hidden="true">{ "⚓" }</span>{ title }
            </a>
            <span class={classes!("link-state", link_class)} data-testid="connection-status">{ link_text }</span>
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
            <button class="icon-button" data-testid="panels-toggle" title="Show or hide the side panels"
                    aria-pressed={s.panels_open.to_string()}
                    onclick={props.on_toggle_panels.reform(|_: MouseEvent| ())}>{ "▤" }</button>
            <ThemeToggle theme={props.theme} on_toggle={props.on_toggle_theme.clone()} />
            <button class="danger" data-testid="close-session" title="Delete this session and its instances"
                    onclick={props.on_end.reform(|_: MouseEvent| ())}>{ "End session" }</button>
        </header>
    }
}
