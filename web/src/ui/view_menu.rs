//! The header's "Aa" menu: text size, theme (light, dark, high contrast),
//! presenter mode, the terminals' screen-reader mode, and the keys that do the
//! same. A `<details>` element: it opens and closes with the keyboard by itself;
//! Escape inside closes it and gives the focus back to its button.

use super::xterm;
use crate::theme::Theme;
use crate::view::{Prefs, PrefsAction};
use wasm_bindgen::JsCast;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ViewMenuProps {
    pub theme: Theme,
    pub on_theme: Callback<Theme>,
    pub prefs: Prefs,
    pub on_prefs: Callback<PrefsAction>,
    pub presenter: bool,
    pub on_presenter: Callback<()>,
}

/// The smaller/larger buttons, also in the presenter bar.
#[derive(Properties, PartialEq)]
pub struct FontButtonsProps {
    pub prefs: Prefs,
    pub on_prefs: Callback<PrefsAction>,
}

#[component]
pub fn FontButtons(props: &FontButtonsProps) -> Html {
    let emit = |a: PrefsAction| props.on_prefs.reform(move |_: MouseEvent| a);
    html! {
        <span class="font-buttons" role="group" aria-label="Terminal text size">
            <button data-testid="font-smaller" aria-label="Smaller terminal text (Ctrl −)"
                    title="Smaller terminal text (Ctrl −)" onclick={emit(PrefsAction::FontSmaller)}>{ "A−" }</button>
            <output data-testid="font-size" aria-live="polite">{ format!("{} px", props.prefs.font()) }</output>
            <button data-testid="font-bigger" aria-label="Larger terminal text (Ctrl +)"
                    title="Larger terminal text (Ctrl +)" onclick={emit(PrefsAction::FontBigger)}>{ "A+" }</button>
        </span>
    }
}

#[component]
pub fn ViewMenu(props: &ViewMenuProps) -> Html {
    let details = use_node_ref();
    let onkeydown = {
        let details = details.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() != "Escape" {
                return;
            }
            if let Some(d) = details.cast::<web_sys::HtmlDetailsElement>() {
                d.set_open(false);
                if let Some(summary) = d
                    .query_selector("summary")
                    .ok()
                    .flatten()
                    .and_then(|s| s.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = summary.focus();
                }
            }
        })
    };
    let themes = Theme::ALL.iter().map(|&t| {
        let onchange = props.on_theme.reform(move |_: Event| t);
        html! {
            <label key={t.as_str()}>
                <input type="radio" name="dockhand-theme" checked={t == props.theme}
                       data-testid={format!("theme-{}", t.as_str())} {onchange} />
                { t.label() }
            </label>
        }
    });
    let on_reset = props
        .on_prefs
        .reform(|_: MouseEvent| PrefsAction::FontReset);
    let on_presenter = {
        let cb = props.on_presenter.clone();
        Callback::from(move |_: Event| {
            cb.emit(());
            xterm::focus_active();
        })
    };
    let on_reader = {
        let cb = props.on_prefs.clone();
        let on = !props.prefs.screen_reader;
        Callback::from(move |_: Event| cb.emit(PrefsAction::ScreenReader(on)))
    };
    html! {
        <details class="view-menu" ref={details} data-testid="view-menu" {onkeydown}>
            <summary class="icon-button" data-testid="view-menu-button" title="View: text size, theme, presenter mode"
                     aria-label="View: text size, theme, presenter mode">{ "Aa" }</summary>
            <div class="view-pop">
                <div class="view-row">
                    <span class="view-label">{ "Text size" }</span>
                    <FontButtons prefs={props.prefs} on_prefs={props.on_prefs.clone()} />
                    <button data-testid="font-reset" aria-label="Default terminal text size (Ctrl 0)"
                            onclick={on_reset}>{ "Reset" }</button>
                </div>
                <fieldset class="view-row">
                    <legend class="view-label">{ "Theme" }</legend>
                    { for themes }
                </fieldset>
                <label class="view-row">
                    <input type="checkbox" data-testid="presenter-toggle" checked={props.presenter}
                           onchange={on_presenter} />
                    { "Presenter mode: only the terminal and the port links" }
                </label>
                <label class="view-row">
                    <input type="checkbox" data-testid="screen-reader-toggle"
                           checked={props.prefs.screen_reader} onchange={on_reader} />
                    { "Screen reader mode in terminals" }
                </label>
                <p class="muted keys">
                    { "Keys: " }<kbd>{ "Esc" }</kbd>{ " then " }<kbd>{ "Tab" }</kbd>
                    { " leaves the terminal; " }<kbd>{ "Ctrl +" }</kbd>{ " / " }<kbd>{ "Ctrl −" }</kbd>
                    { " / " }<kbd>{ "Ctrl 0" }</kbd>{ " change the text size; " }
                    <kbd>{ "Ctrl Shift C" }</kbd>{ " / " }<kbd>{ "Ctrl Shift V" }</kbd>{ " copy and paste." }
                </p>
            </div>
        </details>
    }
}
