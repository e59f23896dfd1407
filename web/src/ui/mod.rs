//! The Yew components and browser bindings (wasm32 only).

pub fn start() {}
