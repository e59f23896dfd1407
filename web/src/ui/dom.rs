//! Small browser helpers: clock, storage, location, theme attribute, view prefs.

use crate::theme::{Theme, STORAGE_KEY};
use crate::view::{Prefs, FONT_KEY, SCREEN_READER_KEY};
use wasm_bindgen::JsCast;

pub fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

pub fn document() -> web_sys::Document {
    window().document().expect("a document")
}

/// Milliseconds since the epoch (only differences are used).
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Unix seconds, for tar mtimes.
pub fn unix_secs() -> u64 {
    (now_ms() / 1000.0) as u64
}

pub fn random() -> f64 {
    js_sys::Math::random()
}

pub fn hash() -> String {
    window().location().hash().unwrap_or_default()
}

pub fn set_hash(hash: &str) {
    let _ = window().location().set_hash(hash);
}

/// `https://host:port` of the page.
pub fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// The `ws:`/`wss:` URL for a path on this server.
pub fn ws_url(path: &str) -> String {
    let loc = window().location();
    shared::playground::routes::ws_url(
        &loc.protocol().unwrap_or_default(),
        &loc.host().unwrap_or_default(),
        path,
    )
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// The theme to start with: the stored choice, else the system's preference.
pub fn initial_theme() -> Theme {
    let stored = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    let prefers_dark = window()
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten()
        .is_some_and(|m| m.matches());
    Theme::initial(stored.as_deref(), prefers_dark)
}

/// Apply a theme to `<html data-theme>` and remember it.
pub fn apply_theme(theme: Theme) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-theme", theme.as_str());
    }
    if let Some(s) = storage() {
        let _ = s.set_item(STORAGE_KEY, theme.as_str());
    }
}

/// The viewport's width in CSS pixels.
pub fn viewport_width() -> f64 {
    window()
        .inner_width()
        .ok()
        .and_then(|w| w.as_f64())
        .unwrap_or(1280.0)
}

/// The view prefs stored for this browser, with this screen's default font.
pub fn initial_prefs() -> Prefs {
    let get = |k: &str| storage().and_then(|s| s.get_item(k).ok().flatten());
    Prefs::load(
        get(FONT_KEY).as_deref(),
        get(SCREEN_READER_KEY).as_deref(),
        viewport_width(),
    )
}

/// Remember the view prefs (a font size only when one was chosen).
pub fn store_prefs(prefs: &Prefs) {
    let Some(s) = storage() else { return };
    let _ = match prefs.stored_font() {
        Some(f) => s.set_item(FONT_KEY, &f),
        None => s.remove_item(FONT_KEY),
    };
    let _ = if prefs.screen_reader {
        s.set_item(SCREEN_READER_KEY, "on")
    } else {
        s.remove_item(SCREEN_READER_KEY)
    };
}

/// Focus the first element that matches `selector`, if any.
pub fn focus_selector(selector: &str) {
    if let Some(el) = document()
        .query_selector(selector)
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// Open a URL in a new tab.
pub fn open_tab(url: &str) {
    let _ = window().open_with_url_and_target(url, "_blank");
}

/// The value of an `<input>` behind an event.
pub fn input_value(e: &web_sys::Event) -> String {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .map(|i| i.value())
        .unwrap_or_default()
}
