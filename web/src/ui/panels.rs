//! The instance's engine state beside its terminal: containers (with port links),
//! images, networks and volumes, exactly as the last `InstanceState` event said.

use crate::format;
use shared::playground::{routes, InstanceState, PortLink, Proto};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct PanelsProps {
    pub session: AttrValue,
    pub instance: AttrValue,
    /// `None` until the first snapshot of this instance arrives.
    pub state: Option<InstanceState>,
}

/// The URL a port opens, if it is a published TCP port.
fn port_href(session: &str, instance: &str, port: &PortLink) -> Option<String> {
    match (&port.url, port.public, port.proto) {
        (Some(url), _, _) => Some(url.clone()),
        (None, Some(public), Proto::Tcp) => Some(routes::port_url(session, instance, public)),
        _ => None,
    }
}

#[component]
pub fn Panels(props: &PanelsProps) -> Html {
    let Some(state) = &props.state else {
        return html! { <aside class="panels"><p class="muted">{ "Loading…" }</p></aside> };
    };
    let containers = state.containers.iter().map(|c| {
        let ports = c.ports.iter().map(|p| match port_href(&props.session, &props.instance, p) {
            Some(href) => html! {
                <a class="port" data-testid="port-link" href={href} target="_blank" rel="noopener"
                   title="Open in a new tab">{ p.label() }</a>
            },
            None => html! { <span class="port plain">{ p.label() }</span> },
        });
        html! {
            <li key={c.id.clone()} class={classes!("row", "container", c.state.clone())}
                data-testid="container-row" data-name={c.name.clone()} data-state={c.state.clone()}>
                <div class="row-main">
                    <span class="dot" aria-hidden="true" />
                    <span class="name">{ &c.name }</span>
                    <span class="image">{ &c.image }</span>
                </div>
                <div class="row-sub">
                    <span class="status">{ &c.status }</span>
                    { for ports }
                </div>
            </li>
        }
    });
    let images = state.images.iter().map(|i| {
        let name = if i.tags.is_empty() {
            "<none>".to_string()
        } else {
            i.tags.join(", ")
        };
        html! {
            <li key={i.id.clone()} class="row" data-testid="image-row">
                <div class="row-main"><span class="name">{ name }</span>
                    <span class="size">{ format::size(i.size) }</span></div>
                <div class="row-sub mono">{ &i.id }</div>
            </li>
        }
    });
    let networks = state.networks.iter().map(|n| {
        html! {
            <li key={n.id.clone()} class="row" data-testid="network-row">
                <div class="row-main"><span class="name">{ &n.name }</span>
                    <span class="driver">{ &n.driver }</span></div>
                if let Some(subnet) = &n.subnet { <div class="row-sub mono">{ subnet }</div> }
            </li>
        }
    });
    let volumes = state.volumes.iter().map(|v| {
        html! {
            <li key={v.name.clone()} class="row" data-testid="volume-row">
                <div class="row-main"><span class="name">{ &v.name }</span>
                    <span class="driver">{ &v.driver }</span></div>
            </li>
        }
    });
    html! {
        <aside class="panels" aria-label={format!("Docker state of {}", props.instance)}>
            <section data-testid="panel-containers">
                <h2>{ "Containers" }<span class="n">{ state.containers.len() }</span></h2>
                if state.containers.is_empty() {
                    <p class="muted">{ "None yet. Try " }<code>{ "docker run -d -p 8080:80 nginx" }</code></p>
                }
                <ul>{ for containers }</ul>
            </section>
            <section data-testid="panel-images">
                <h2>{ "Images" }<span class="n">{ state.images.len() }</span></h2>
                <ul>{ for images }</ul>
            </section>
            <section data-testid="panel-networks">
                <h2>{ "Networks" }<span class="n">{ state.networks.len() }</span></h2>
                <ul>{ for networks }</ul>
            </section>
            <section data-testid="panel-volumes">
                <h2>{ "Volumes" }<span class="n">{ state.volumes.len() }</span></h2>
                <ul>{ for volumes }</ul>
            </section>
        </aside>
    }
}
