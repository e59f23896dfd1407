//! The playground's browser frontend: a Yew app compiled to Wasm, with xterm.js
//! terminals. The state of every screen lives in plain reducers (`landing`,
//! `session`, `term_link`) and pure helpers (`tar`, `format`, `route`, `theme`,
//! `backoff`, `upload`, `view`) that build and are tested natively; the components and browser
//! bindings in `ui` exist only on `wasm32` and stay thin.

pub mod backoff;
pub mod format;
pub mod landing;
pub mod lesson;
pub mod route;
pub mod session;
pub mod tar;
pub mod term_link;
pub mod theme;
pub mod upload;
pub mod view;
pub mod workshop;

#[cfg(target_arch = "wasm32")]
mod ui;

/// Entry point called by the wasm-bindgen glue when the module loads.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    ui::start();
}
