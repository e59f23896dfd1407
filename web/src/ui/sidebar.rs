//! The instance list: one entry per instance (name and IP), select on click,
//! remove with ×, and the add button with the count against the limit.

use crate::session::SessionState;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SidebarProps {
    pub state: SessionState,
    pub on_select: Callback<String>,
    pub on_add: Callback<()>,
    pub on_remove: Callback<String>,
}

#[component]
pub fn Sidebar(props: &SidebarProps) -> Html {
    let s = &props.state;
    let max = s.info.as_ref().map_or(0, |i| i.max_instances);
    let entries = s.instances().iter().map(|inst| {
        let selected = s.selected.as_deref() == Some(inst.name.as_str());
        let onclick = {
            let name = inst.name.clone();
            props.on_select.reform(move |_: MouseEvent| name.clone())
        };
        let onremove = {
            let name = inst.name.clone();
            props.on_remove.reform(move |e: MouseEvent| {
                e.stop_propagation();
                name.clone()
            })
        };
        html! {
            <li key={inst.name.clone()}
                class={classes!("instance", selected.then_some("selected"))}
                id={format!("instance-{}", inst.name)}
                data-testid={format!("instance-{}", inst.name)}
                data-instance={inst.name.clone()}>
                <button class="instance-main" {onclick} aria-current={selected.then_some("true")}>
                    <span class="instance-name">{ &inst.name }</span>
                    <span class="instance-ip">{ &inst.ip }</span>
                </button>
                <button class="remove" data-testid={format!("remove-instance-{}", inst.name)}
                        title={format!("Remove {}", inst.name)} aria-label={format!("Remove {}", inst.name)}
                        onclick={onremove}>{ "×" }</button>
            </li>
        }
    });
    html! {
        <nav class="sidebar" aria-label="Instances">
            <button class="primary add" id="add-instance" data-testid="add-instance"
                    disabled={!s.can_add_instance()}
                    onclick={props.on_add.reform(|_: MouseEvent| ())}>
                { if s.adding { "Adding…" } else { "+ Add instance" } }
            </button>
            <div class="count">{ format!("{} of {} instances", s.instances().len(), max) }</div>
            <ul class="instances">{ for entries }</ul>
        </nav>
    }
}
