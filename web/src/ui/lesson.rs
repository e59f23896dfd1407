//! The lesson panel: a lesson picker, the chosen lesson's steps (done,
//! current, ahead), each command with a button that types it into the
//! terminal in front (never runs it: the trainee presses Enter), the current
//! step's "Check" (with its hint when it does not hold yet) or, for a step
//! without checks, "Mark done". Steps turn done from the session socket's
//! progress events, as the instance's state changes.

use super::api;
use super::xterm;
use crate::lesson::{statuses, summary, StepStatus};
use crate::session::SessionAction;
use shared::lessons::{CheckOutcome, Lesson, LessonProgress, Part, Step};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LessonPanelProps {
    pub session: AttrValue,
    pub token: AttrValue,
    pub progress: LessonProgress,
    pub dispatch: Callback<SessionAction>,
}

/// Run a lesson call; its progress (or failure) goes to the session state.
fn progress_call(
    dispatch: &Callback<SessionAction>,
    fut: impl std::future::Future<Output = Result<LessonProgress, api::ApiError>> + 'static,
) {
    let dispatch = dispatch.clone();
    wasm_bindgen_futures::spawn_local(async move {
        dispatch.emit(match fut.await {
            Ok(p) => SessionAction::LessonProgress(p),
            Err(e) => SessionAction::Failed(e.message),
        });
    });
}

#[component]
pub fn LessonPanel(props: &LessonPanelProps) -> Html {
    let lessons = use_state(|| None::<Rc<Vec<Lesson>>>);
    let outcome = use_state(|| None::<CheckOutcome>);
    {
        let lessons = lessons.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(l) = api::lessons().await {
                    lessons.set(Some(Rc::new(l)));
                }
            });
        });
    }
    let Some(all) = (*lessons).clone() else {
        return html! {};
    };
    if all.is_empty() {
        return html! {};
    }
    let p = &props.progress;
    let chosen = p
        .lesson
        .as_deref()
        .and_then(|id| all.iter().find(|l| l.id == id));
    let onchange = {
        let (dispatch, id, token, outcome) = (
            props.dispatch.clone(),
            props.session.clone(),
            props.token.clone(),
            outcome.clone(),
        );
        Callback::from(move |e: Event| {
            let Some(sel) = e.target_dyn_into::<web_sys::HtmlSelectElement>() else {
                return;
            };
            let lesson = sel.value();
            if lesson.is_empty() {
                return;
            }
            outcome.set(None);
            let (id, token) = (id.clone(), token.clone());
            progress_call(&dispatch, async move {
                api::choose_lesson(&id, &token, &lesson).await
            });
        })
    };
    let picker = html! {
        <select class="lesson-select" data-testid="lesson-select" aria-label="Lesson" {onchange}>
            <option value="" selected={chosen.is_none()}>{ "Choose a lesson…" }</option>
            { for all.iter().enumerate().map(|(i, l)| html! {
                <option value={l.id.clone()} selected={chosen.is_some_and(|c| c.id == l.id)}>
                    { format!("{}. {}", i + 1, l.title) }</option>
            }) }
        </select>
    };
    let body = chosen.map(|l| {
        let st = statuses(l, p);
        let steps = l.steps.iter().zip(st).map(|(step, status)| {
            step_view(props, step, status, &outcome)
        });
        html! {
            <>
                <div class="lesson-intro">{ Html::from_html_unchecked(AttrValue::from(l.intro_html.clone())) }</div>
                <p class="muted lesson-summary" data-testid="lesson-summary">{ summary(l, p) }</p>
                <ol class="steps">{ for steps }</ol>
            </>
        }
    });
    html! {
        <section class="lesson" data-testid="lesson">
            <h2>{ "Lesson" }</h2>
            { picker }
            { body.unwrap_or_default() }
        </section>
    }
}

fn step_view(
    props: &LessonPanelProps,
    step: &Step,
    status: StepStatus,
    outcome: &UseStateHandle<Option<CheckOutcome>>,
) -> Html {
    let (class, mark) = match status {
        StepStatus::Done => ("done", "✓"),
        StepStatus::Current => ("current", "→"),
        StepStatus::Ahead => ("ahead", ""),
    };
    let title = html! {
        <span class="step-title"><span class="step-mark" aria-hidden="true">{ mark }</span>{ &step.title }</span>
    };
    let content = html! { <div class="step-body">{ for step.body.iter().map(part_view) }</div> };
    let item = |inner: Html| {
        html! {
            <li key={step.id.clone()} class={classes!("step", class)} data-testid={format!("step-{}", step.id)}
                data-status={class}>{ inner }</li>
        }
    };
    match status {
        StepStatus::Ahead => item(title),
        StepStatus::Done => item(html! {
            <details><summary>{ title }</summary>{ content }</details>
        }),
        StepStatus::Current => {
            let (dispatch, id, token) = (
                props.dispatch.clone(),
                props.session.clone(),
                props.token.clone(),
            );
            let action = if step.checks.is_empty() {
                let step_id = step.id.clone();
                let onclick = Callback::from(move |_: MouseEvent| {
                    let (id, token, step_id) = (id.clone(), token.clone(), step_id.clone());
                    progress_call(&dispatch, async move {
                        api::step_done(&id, &token, &step_id).await
                    });
                });
                html! { <button class="primary" data-testid="step-done" {onclick}>{ "Mark done" }</button> }
            } else {
                let outcome = outcome.clone();
                let onclick = Callback::from(move |_: MouseEvent| {
                    let (id, token, outcome, dispatch) =
                        (id.clone(), token.clone(), outcome.clone(), dispatch.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        match api::check_lesson(&id, &token).await {
                            Ok(o) => outcome.set(Some(o)),
                            Err(e) => dispatch.emit(SessionAction::Failed(e.message)),
                        }
                    });
                });
                html! { <button data-testid="step-check" {onclick}
                title="Check the instance now (it is checked by itself as it changes)">{ "Check" }</button> }
            };
            let not_yet = (**outcome)
                .as_ref()
                .filter(|o| o.step == step.id && !o.done)
                .map(|o| html! {
                    <div class="step-outcome" data-testid="step-outcome" role="status">
                        <p>{ format!("Not yet: {}.", o.detail.clone().unwrap_or_default()) }</p>
                        { o.hint.as_ref().map(|h| html! { <p class="hint" data-testid="step-hint">{ format!("Hint: {h}") }</p> }).unwrap_or_default() }
                    </div>
                });
            item(html! {
                <>
                    { title }
                    { content }
                    <div class="step-actions">{ action }</div>
                    { not_yet.unwrap_or_default() }
                </>
            })
        }
    }
}

fn part_view(part: &Part) -> Html {
    match part {
        Part::Html(h) => Html::from_html_unchecked(AttrValue::from(h.clone())),
        Part::Commands(lines) => html! {
            <div class="commands">
                { for lines.iter().map(|line| {
                    let text = line.clone();
                    let onclick = Callback::from(move |_: MouseEvent| {
                        xterm::type_into_active(&text);
                    });
                    html! {
                        <div class="command">
                            <code>{ line }</code>
                            <button class="type" data-testid="type-command" title="Type it into the terminal (press Enter there to run it)"
                                    aria-label={format!("Type: {line}")} {onclick}>{ "Type" }</button>
                        </div>
                    }
                }) }
            </div>
        },
    }
}
