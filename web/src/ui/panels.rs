//! The instance's engine state beside its terminal: containers (with port links),
//! images, networks and volumes, exactly as the last `InstanceState` event said.
//! On narrow windows the same panels are a drawer over the terminal, closed with
//! its × button or Escape.

use crate::format;
use shared::playground::{routes, InstanceState, PortLink, Proto};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct PanelsProps {
    pub session: AttrValue,
    /// The session's token: a port link in host-name mode carries a key
    /// derived from it.
    pub token: AttrValue,
    pub instance: AttrValue,
    /// `--port-domain` of the server: port links are host names there.
    #[prop_or_default]
    pub port_domain: Option<AttrValue>,
    /// `None` until the first snapshot of this instance arrives.
    pub state: Option<InstanceState>,
    /// Shown as a drawer over the terminal (narrow windows).
    #[prop_or_default]
    pub drawer: bool,
    /// Close the drawer.
    #[prop_or_default]
    pub on_close: Callback<()>,
    /// The lesson panel, shown above the instance's state.
    #[prop_or_default]
    pub lesson: Html,
}

/// What the empty container list suggests: only what works here. nginx when
/// the instance has it (preloaded, or pulled), else what every instance has.
pub fn first_run_hint(state: &InstanceState) -> &'static str {
    let has_nginx = state
        .images
        .iter()
        .any(|i| i.tags.iter().any(|t| t.split(':').next() == Some("nginx")));
    if has_nginx {
        "docker run -d -p 8080:80 nginx"
    } else {
        "docker run -it --rm busybox sh"
    }
}

/// How port links reach the app: its own host name, or a path prefix.
#[derive(Clone, PartialEq)]
pub enum PortMode<'a> {
    /// `NODE-PORT-SESSION.<domain>`, with the page's scheme and port.
    Host {
        domain: &'a str,
        scheme: String,
        page_port: String,
        token: &'a str,
    },
    /// `/s/SESSION/NODE/PORT/`.
    Path,
}

/// How this page's port links are made: host names under `port_domain`, else paths.
pub fn port_mode<'a>(port_domain: Option<&'a str>, token: &'a str) -> PortMode<'a> {
    match port_domain {
        Some(domain) => {
            let loc = web_sys::window().map(|w| w.location());
            PortMode::Host {
                domain,
                scheme: loc
                    .as_ref()
                    .and_then(|l| l.protocol().ok())
                    .unwrap_or_else(|| "http:".into()),
                page_port: loc.as_ref().and_then(|l| l.port().ok()).unwrap_or_default(),
                token,
            }
        }
        None => PortMode::Path,
    }
}

/// The URL a port opens, if it is a published TCP port.
pub fn port_href(
    session: &str,
    instance: &str,
    port: &PortLink,
    mode: &PortMode,
) -> Option<String> {
    let public = match (port.public, port.proto) {
        (Some(p), Proto::Tcp) => p,
        _ => return port.url.clone(),
    };
    Some(match mode {
        PortMode::Host {
            domain,
            scheme,
            page_port,
            token,
        } => routes::port_host_url(scheme, domain, page_port, session, token, instance, public),
        PortMode::Path => port
            .url
            .clone()
            .unwrap_or_else(|| routes::port_url(session, instance, public)),
    })
}

#[component]
pub fn Panels(props: &PanelsProps) -> Html {
    let close = props.drawer.then(|| {
        html! {
            <button class="panels-close icon-button" data-testid="panels-close" aria-label="Close the panels"
                    title="Close the panels (Escape)" onclick={props.on_close.reform(|_: MouseEvent| ())}>{ "×" }</button>
        }
    });
    let onkeydown = {
        let (drawer, on_close) = (props.drawer, props.on_close.clone());
        Callback::from(move |e: KeyboardEvent| {
            if drawer && e.key() == "Escape" {
                e.prevent_default();
                on_close.emit(());
            }
        })
    };
    html! {
        <aside class={classes!("panels", props.drawer.then_some("drawer"))} id="panels" tabindex="-1"
               data-testid="panels" aria-label={format!("Docker state of {}", props.instance)} {onkeydown}>
            { close.unwrap_or_default() }
            { props.lesson.clone() }
            { panel_sections(props) }
        </aside>
    }
}

fn panel_sections(props: &PanelsProps) -> Html {
    let Some(state) = &props.state else {
        return html! { <p class="muted">{ "Loading…" }</p> };
    };
    let mode = port_mode(props.port_domain.as_deref(), &props.token);
    let mode_note = match &props.port_domain {
        Some(d) => format!("Port links open each port at its own host name (*.{d})."),
        None => "Port links open each port under a path (/s/…/PORT/): apps that use absolute URLs may need the host-name mode (--port-domain).".to_string(),
    };
    let containers = state.containers.iter().map(|c| {
        let ports = c.ports.iter().map(|p| match port_href(&props.session, &props.instance, p, &mode) {
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
        <>
            <section data-testid="panel-containers">
                <h2 title={mode_note.clone()}>{ "Containers" }<span class="n">{ state.containers.len() }</span></h2>
                <p class="muted port-mode" data-testid="port-mode"
                   data-mode={if props.port_domain.is_some() { "host" } else { "path" }}>
                    { if props.port_domain.is_some() { "Ports: own host names" } else { "Ports: path links" } }
                </p>
                if state.containers.is_empty() {
                    <p class="muted" data-testid="first-run-hint">{ "None yet. Try " }<code>{ first_run_hint(state) }</code></p>
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
        </>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::playground::ImageRow;

    fn with_images(tags: &[&str]) -> InstanceState {
        InstanceState {
            images: tags
                .iter()
                .map(|t| ImageRow {
                    id: "x".into(),
                    tags: vec![t.to_string()],
                    size: 0,
                    created: 0,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_hint_names_only_what_the_instance_has() {
        assert_eq!(
            first_run_hint(&with_images(&["busybox:latest"])),
            "docker run -it --rm busybox sh"
        );
        assert_eq!(
            first_run_hint(&with_images(&["busybox:latest", "nginx:latest"])),
            "docker run -d -p 8080:80 nginx"
        );
        assert_eq!(
            first_run_hint(&with_images(&["mynginx:1"])),
            "docker run -it --rm busybox sh"
        );
    }
}
