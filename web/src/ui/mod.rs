//! The Yew components and browser bindings (wasm32 only). Components are thin:
//! state changes go through the reducers at the crate root.

mod api;
mod app;
mod clipboard;
mod dom;
mod feed;
mod landing;
mod lesson;
mod panels;
mod session_page;
mod sidebar;
mod socket;
mod terminal;
mod topbar;
mod trainer;
mod upload;
mod view_menu;
mod xterm;

/// Mount the app into `#app` (or the body) and install the test hook.
pub fn start() {
    xterm::install_test_hook();
    match dom::document().get_element_by_id("app") {
        Some(root) => {
            yew::Renderer::<app::App>::with_root(root).render();
        }
        None => {
            yew::Renderer::<app::App>::new().render();
        }
    }
}
