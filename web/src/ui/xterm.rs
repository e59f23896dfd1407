//! wasm-bindgen bindings to xterm.js (`@xterm/xterm`) and its fit addon, imported
//! as ES modules that `scripts/build-web` copies from `web/node_modules` into the
//! bundle's `xterm/` folder, beside the generated `dockhand_web.js`.
//!
//! Also the end-to-end test hook: `window.dockhandTerm(instance?, tab?)` returns the
//! text of a terminal's buffer (the one in front when called without arguments).

use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlElement, KeyboardEvent};

#[wasm_bindgen(raw_module = "./xterm/xterm.mjs")]
extern "C" {
    /// An xterm.js terminal.
    #[derive(Clone)]
    pub type Terminal;

    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Terminal;

    #[wasm_bindgen(method)]
    pub fn open(this: &Terminal, parent: &HtmlElement);

    /// Queue output. The array must be a copy: xterm keeps it until it parses it.
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes(this: &Terminal, data: &js_sys::Uint8Array);

    #[wasm_bindgen(method, js_name = write)]
    pub fn write_str(this: &Terminal, data: &str);

    /// Queue output; `parsed` is called once xterm has parsed it.
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes_then(this: &Terminal, data: &js_sys::Uint8Array, parsed: &js_sys::Function);

    /// Send `data` as if typed (bracketed when the application asked for it).
    #[wasm_bindgen(method)]
    pub fn paste(this: &Terminal, data: &str);

    #[wasm_bindgen(method)]
    pub fn reset(this: &Terminal);

    /// Scroll the viewport by `amount` lines (negative: back into the scrollback).
    #[wasm_bindgen(method, js_name = scrollLines)]
    pub fn scroll_lines(this: &Terminal, amount: i32);

    #[wasm_bindgen(method)]
    pub fn focus(this: &Terminal);

    #[wasm_bindgen(method)]
    pub fn dispose(this: &Terminal);

    #[wasm_bindgen(method, js_name = hasSelection)]
    pub fn has_selection(this: &Terminal) -> bool;

    #[wasm_bindgen(method, js_name = getSelection)]
    pub fn get_selection(this: &Terminal) -> String;

    #[wasm_bindgen(method, js_name = loadAddon)]
    pub fn load_addon(this: &Terminal, addon: &FitAddon);

    #[wasm_bindgen(method, js_name = attachCustomKeyEventHandler)]
    pub fn attach_custom_key_event_handler(
        this: &Terminal,
        handler: &Closure<dyn FnMut(KeyboardEvent) -> bool>,
    );

    /// Typed or pasted input, as a string.
    #[wasm_bindgen(method, js_name = onData)]
    pub fn on_data(this: &Terminal, listener: &Closure<dyn FnMut(String)>) -> Disposable;

    /// Input that is not UTF-8 (some mouse reports): one char per byte.
    #[wasm_bindgen(method, js_name = onBinary)]
    pub fn on_binary(this: &Terminal, listener: &Closure<dyn FnMut(String)>) -> Disposable;

    /// The grid size changed (after a fit).
    #[wasm_bindgen(method, js_name = onResize)]
    pub fn on_resize(this: &Terminal, listener: &Closure<dyn FnMut(JsValue)>) -> Disposable;

    #[wasm_bindgen(method, getter)]
    pub fn cols(this: &Terminal) -> u16;

    #[wasm_bindgen(method, getter)]
    pub fn rows(this: &Terminal) -> u16;

    /// The live options object: assigning a property applies it.
    #[wasm_bindgen(method, getter)]
    pub fn options(this: &Terminal) -> js_sys::Object;

    #[wasm_bindgen(method, getter)]
    fn buffer(this: &Terminal) -> BufferNamespace;

    /// Returned by the `on*` registrations.
    pub type Disposable;

    #[wasm_bindgen(method)]
    pub fn dispose(this: &Disposable);

    type BufferNamespace;

    #[wasm_bindgen(method, getter)]
    fn active(this: &BufferNamespace) -> Buffer;

    type Buffer;

    #[wasm_bindgen(method, getter)]
    fn length(this: &Buffer) -> u32;

    #[wasm_bindgen(method, js_name = getLine)]
    fn get_line(this: &Buffer, y: u32) -> Option<BufferLine>;

    type BufferLine;

    #[wasm_bindgen(method, js_name = translateToString)]
    fn translate_to_string(this: &BufferLine, trim_right: bool) -> String;
}

#[wasm_bindgen(raw_module = "./xterm/addon-fit.mjs")]
extern "C" {
    /// Sizes the terminal's grid to its element.
    pub type FitAddon;

    #[wasm_bindgen(constructor)]
    pub fn new() -> FitAddon;

    #[wasm_bindgen(method)]
    pub fn fit(this: &FitAddon);
}

impl Terminal {
    /// The whole buffer (scrollback and screen) as text, trailing blank lines removed.
    pub fn text(&self) -> String {
        let buffer = self.buffer().active();
        let mut lines: Vec<String> = (0..buffer.length())
            .filter_map(|y| buffer.get_line(y))
            .map(|l| l.translate_to_string(true))
            .collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines.join("\n")
    }
}

thread_local! {
    static TERMINALS: RefCell<HashMap<String, Terminal>> = RefCell::new(HashMap::new());
    static ACTIVE: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn key(instance: &str, tab: u32) -> String {
    format!("{instance}/{tab}")
}

/// Make a terminal readable through the test hook.
pub fn register(instance: &str, tab: u32, term: &Terminal) {
    TERMINALS.with(|t| t.borrow_mut().insert(key(instance, tab), term.clone()));
}

pub fn unregister(instance: &str, tab: u32) {
    TERMINALS.with(|t| t.borrow_mut().remove(&key(instance, tab)));
}

/// The terminal in front, for `dockhandTerm()` without arguments.
pub fn set_active(instance: &str, tab: u32) {
    ACTIVE.with(|a| *a.borrow_mut() = Some(key(instance, tab)));
}

/// Give the keyboard back to the terminal in front (after a click on a button).
pub fn focus_active() {
    let Some(k) = ACTIVE.with(|a| a.borrow().clone()) else {
        return;
    };
    TERMINALS.with(|t| {
        if let Some(term) = t.borrow().get(&k) {
            term.focus();
        }
    });
}

/// Type `text` into the terminal in front, as a paste (nothing is run: no
/// Enter is added), and give it the keyboard. False when there is none.
pub fn type_into_active(text: &str) -> bool {
    let Some(k) = ACTIVE.with(|a| a.borrow().clone()) else {
        return false;
    };
    TERMINALS.with(|t| match t.borrow().get(&k) {
        Some(term) => {
            term.paste(text);
            term.focus();
            true
        }
        None => false,
    })
}

/// Install `window.dockhandTerm(instance?, tab?)`.
pub fn install_test_hook() {
    let hook =
        Closure::<dyn Fn(JsValue, JsValue) -> JsValue>::new(|instance: JsValue, tab: JsValue| {
            let wanted = match instance.as_string() {
                Some(i) => key(&i, tab.as_f64().unwrap_or(1.0) as u32),
                None => match ACTIVE.with(|a| a.borrow().clone()) {
                    Some(k) => k,
                    None => return JsValue::NULL,
                },
            };
            TERMINALS.with(|t| {
                t.borrow()
                    .get(&wanted)
                    .map_or(JsValue::NULL, |term| JsValue::from_str(&term.text()))
            })
        });
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"dockhandTerm".into(), hook.as_ref());
    }
    // The hook lives as long as the page.
    hook.forget();
}
