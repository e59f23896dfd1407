//! A WebSocket with its event handlers attached, closed and detached on drop.
//! Reconnecting is the owner's business (see `term_link` and the session page);
//! handlers never drop their own socket synchronously, they schedule.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// A received message.
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Connect to `url` (`ws:`/`wss:`). A URL the browser refuses outright is
    /// reported through `on_close` with 1006, like any failed connection;
    /// `on_close` gets the close code and the reason the server gave.
    pub fn open(
        url: &str,
        on_open: impl FnMut() + 'static,
        mut on_frame: impl FnMut(Frame) + 'static,
        mut on_close: impl FnMut(u16, String) + 'static,
    ) -> Result<Socket, JsValue> {
        let ws = WebSocket::new(url)?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_open = Closure::<dyn FnMut()>::new(on_open);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data();
            if let Some(text) = data.as_string() {
                on_frame(Frame::Text(text));
            } else if let Ok(buf) = data.dyn_into::<js_sys::ArrayBuffer>() {
                on_frame(Frame::Binary(js_sys::Uint8Array::new(&buf).to_vec()));
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            on_close(e.code(), e.reason())
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    pub fn send_text(&self, text: &str) {
        if self.is_open() {
            let _ = self.ws.send_with_str(text);
        }
    }

    pub fn send_bytes(&self, data: &[u8]) {
        if self.is_open() {
            let _ = self.ws.send_with_u8_array(data);
        }
    }

    /// Close from our side with an application code (4000-4999); the close
    /// handler still runs, so the owner's reconnect logic takes over.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.ws.close_with_code_and_reason(code, reason);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}
