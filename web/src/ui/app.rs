//! The root: follows the location hash (landing page or a session) and owns the
//! theme.

use super::dom;
use super::landing::Landing;
use super::session_page::SessionPage;
use crate::route::Route;
use gloo_events::EventListener;
use yew::prelude::*;

#[component]
pub fn App() -> Html {
    let route = use_state(|| Route::from_hash(&dom::hash()));
    let theme = use_state(dom::initial_theme);

    {
        let route = route.setter();
        use_effect_with((), move |_| {
            let listener = EventListener::new(&dom::window(), "hashchange", move |_| {
                route.set(Route::from_hash(&dom::hash()));
            });
            move || drop(listener)
        });
    }
    use_effect_with(*theme, |&t| dom::apply_theme(t));

    let on_toggle_theme = {
        let theme = theme.clone();
        Callback::from(move |_: ()| theme.set(theme.toggled()))
    };

    match &*route {
        Route::Landing => html! { <Landing theme={*theme} {on_toggle_theme} /> },
        Route::Session { id, token } => html! {
            <SessionPage key={id.clone()} id={id.clone()} token={token.clone()}
                         theme={*theme} {on_toggle_theme} />
        },
    }
}
