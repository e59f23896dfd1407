//! The root: follows the location hash (landing page or a session) and owns the
//! theme and the view prefs (font size, screen-reader mode), both kept per browser.

use super::dom;
use super::landing::Landing;
use super::session_page::SessionPage;
use super::trainer::{TrainerLogin, WorkshopPage};
use crate::route::Route;
use crate::theme::Theme;
use crate::view::{Prefs, PrefsAction};
use gloo_events::EventListener;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Clone, PartialEq)]
struct PrefsStore(Prefs);

impl Reducible for PrefsStore {
    type Action = PrefsAction;
    fn reduce(self: Rc<Self>, action: PrefsAction) -> Rc<Self> {
        let mut next = self.0;
        next.reduce(action);
        Rc::new(PrefsStore(next))
    }
}

#[component]
pub fn App() -> Html {
    let route = use_state(|| Route::from_hash(&dom::hash()));
    let theme = use_state(dom::initial_theme);
    let prefs = use_reducer(|| PrefsStore(dom::initial_prefs()));

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
    use_effect_with(prefs.0, dom::store_prefs);

    let on_toggle_theme = {
        let theme = theme.clone();
        Callback::from(move |_: ()| theme.set(theme.toggled()))
    };
    let on_theme = {
        let theme = theme.clone();
        Callback::from(move |t: Theme| theme.set(t))
    };
    let on_prefs = {
        let d = prefs.dispatcher();
        Callback::from(move |a: PrefsAction| d.dispatch(a))
    };

    match &*route {
        Route::Landing => html! { <Landing theme={*theme} {on_toggle_theme} /> },
        Route::Session { id, token } => html! {
            <SessionPage key={id.clone()} id={id.clone()} token={token.clone()}
                         theme={*theme} {on_toggle_theme} {on_theme}
                         prefs={prefs.0} {on_prefs} />
        },
        Route::Trainer => html! { <TrainerLogin /> },
        Route::Workshop { id, token } => html! {
            <WorkshopPage key={id.clone()} id={id.clone()} token={token.clone()} />
        },
    }
}
