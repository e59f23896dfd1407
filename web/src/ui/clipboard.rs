//! Copy and paste that work on plain `http://` too. The async Clipboard API exists
//! only in secure contexts (https or localhost), and a trainer's LAN server is often
//! neither: then copying falls back to `execCommand("copy")` on a hidden textarea,
//! and pasting is left to the browser's own paste (Ctrl+Shift+V, Shift+Insert, the
//! context menu), which xterm.js receives as a paste event.

use super::dom;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    type AsyncClipboard;

    #[wasm_bindgen(method, js_name = writeText)]
    fn write_text(this: &AsyncClipboard, text: &str) -> js_sys::Promise;

    #[wasm_bindgen(method, js_name = readText)]
    fn read_text(this: &AsyncClipboard) -> js_sys::Promise;
}

fn async_clipboard() -> Option<AsyncClipboard> {
    let nav = dom::window().navigator();
    let cb = js_sys::Reflect::get(&nav, &"clipboard".into()).ok()?;
    (!cb.is_undefined() && !cb.is_null()).then(|| cb.unchecked_into())
}

/// True when the page may read the clipboard itself (secure contexts).
pub fn can_read() -> bool {
    async_clipboard().is_some_and(|cb| {
        js_sys::Reflect::get(&cb, &"readText".into()).is_ok_and(|f| f.is_function())
    })
}

/// Put `text` on the clipboard, by whichever means this page has.
pub fn copy(text: &str) {
    if text.is_empty() {
        return;
    }
    match async_clipboard() {
        Some(cb) => {
            let promise = cb.write_text(text);
            let text = text.to_string();
            wasm_bindgen_futures::spawn_local(async move {
                if JsFuture::from(promise).await.is_err() {
                    exec_copy(&text);
                }
            });
        }
        None => exec_copy(text),
    }
}

/// The clipboard's text, where the page may read it.
pub async fn read() -> Option<String> {
    let cb = async_clipboard()?;
    JsFuture::from(cb.read_text()).await.ok()?.as_string()
}

/// The old way: select a hidden textarea's text and ask for a copy. Restores the
/// focus (the terminal's hidden textarea) afterwards.
fn exec_copy(text: &str) {
    let doc = dom::document();
    let previous = doc.active_element();
    let Ok(el) = doc.create_element("textarea") else {
        return;
    };
    let Ok(area) = el.dyn_into::<web_sys::HtmlTextAreaElement>() else {
        return;
    };
    area.set_value(text);
    let _ = area.set_attribute("style", "position:fixed;top:-1000px;opacity:0");
    let Some(body) = doc.body() else { return };
    let _ = body.append_child(&area);
    area.select();
    if let Ok(exec) = js_sys::Reflect::get(&doc, &"execCommand".into()) {
        if let Ok(f) = exec.dyn_into::<js_sys::Function>() {
            let _ = f.call1(&doc, &"copy".into());
        }
    }
    area.remove();
    if let Some(p) = previous.and_then(|p| p.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = p.focus();
    }
}
