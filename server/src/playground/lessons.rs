//! Guided lessons in a session: the lesson chosen, the steps done, and the
//! checks of the current step (the first not done), run against the
//! instances' real state. They run when an instance's engine has an event
//! (the same events the panels follow), every second while a page follows
//! the session (scripts every other second), and when the trainee asks.
//! A step once done stays done.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use shared::lessons::{Check, CheckOutcome, ContainerState, Lesson, LessonProgress, Step};
use shared::playground::SessionEvent;

use super::session::{Playground, Session};
use crate::ApiError;
use shared::sync::Locked;

/// How often the current step is checked while a page follows the session.
const TICK: Duration = Duration::from_secs(1);
/// Scripts (a process in an instance each) at most this often, but for an
/// engine event or the trainee asking.
const SCRIPT_EVERY: Duration = Duration::from_secs(2);
/// A check script past this is killed and counts as not done.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A session's lesson state.
#[derive(Default)]
pub struct Progress {
    lesson: Option<String>,
    done: BTreeMap<String, BTreeSet<String>>,
    /// The checking task runs (it starts with the first lesson chosen).
    task: bool,
}

fn find<'a>(lessons: &'a [Lesson], id: &str) -> Option<&'a Lesson> {
    lessons.iter().find(|l| l.id == id)
}

/// The progress as the page sees it.
fn view(lessons: &[Lesson], p: &Progress) -> LessonProgress {
    let done = p
        .done
        .iter()
        .filter_map(|(id, steps)| {
            let l = find(lessons, id)?;
            let ordered = l
                .steps
                .iter()
                .filter(|s| steps.contains(&s.id))
                .map(|s| s.id.clone())
                .collect();
            Some((id.clone(), ordered))
        })
        .collect();
    LessonProgress {
        lesson: p.lesson.clone(),
        done,
        current: current(lessons, p).map(|(_, s)| s.id.clone()),
    }
}

/// The chosen lesson's first step not done.
fn current<'a>(lessons: &'a [Lesson], p: &Progress) -> Option<(&'a Lesson, &'a Step)> {
    let l = find(lessons, p.lesson.as_deref()?)?;
    let done = p.done.get(&l.id);
    let step = l
        .steps
        .iter()
        .find(|s| !done.is_some_and(|d| d.contains(&s.id)))?;
    Some((l, step))
}

impl Playground {
    /// The session's lesson progress, for its socket's snapshot.
    pub fn lesson_progress(&self, s: &Session) -> LessonProgress {
        view(&self.opts.lessons, &s.lesson.locked())
    }

    fn push_progress(&self, s: &Session) {
        s.push(SessionEvent::Lesson(self.lesson_progress(s)));
    }

    /// `PUT .../lesson`: choose a lesson; its checks start.
    pub fn choose_lesson(
        self: &Arc<Self>,
        s: &Arc<Session>,
        id: &str,
    ) -> Result<LessonProgress, ApiError> {
        if find(&self.opts.lessons, id).is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("No lesson {id}."),
            ));
        }
        let start = {
            let mut p = s.lesson.locked();
            p.lesson = Some(id.to_string());
            !std::mem::replace(&mut p.task, true)
        };
        if start {
            tokio::spawn(checker(Arc::downgrade(self), Arc::downgrade(s)));
        }
        s.lesson_wake.notify_one();
        self.push_progress(s);
        Ok(self.lesson_progress(s))
    }

    /// `POST .../lesson/steps/{step}/done`: a step without checks, read and
    /// done by the trainee's word.
    pub fn mark_step_done(&self, s: &Session, step: &str) -> Result<LessonProgress, ApiError> {
        {
            let mut p = s.lesson.locked();
            let Some(l) = p
                .lesson
                .as_deref()
                .and_then(|id| find(&self.opts.lessons, id))
            else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "Choose a lesson first.",
                ));
            };
            let Some(st) = l.steps.iter().find(|x| x.id == step) else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("Lesson {} has no step {step}.", l.id),
                ));
            };
            if !st.checks.is_empty() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "This step is done when its check sees it in the instance.",
                ));
            }
            let id = l.id.clone();
            p.done.entry(id).or_default().insert(step.to_string());
        }
        self.push_progress(s);
        Ok(self.lesson_progress(s))
    }

    /// `POST .../lesson/check`: the current step, checked now.
    pub async fn check_lesson_now(&self, s: &Session) -> Result<CheckOutcome, ApiError> {
        let step = {
            let p = s.lesson.locked();
            current(&self.opts.lessons, &p).map(|(_, st)| st.clone())
        };
        let Some(step) = step else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "No step to check: choose a lesson, or this one is done.",
            ));
        };
        let outcome = self.check_step(s, &step, true).await;
        Ok(CheckOutcome {
            step: step.id.clone(),
            done: outcome.is_ok(),
            hint: outcome.as_ref().err().and(step.hint.clone()),
            detail: outcome.err(),
        })
    }

    /// Runs `step`'s checks; on success the step is done (and pushed).
    /// Without `scripts`, a step with a script check is left for later.
    async fn check_step(&self, s: &Session, step: &Step, scripts: bool) -> Result<(), String> {
        if step.checks.is_empty() {
            return Err("this step has no check: mark it done when you have read it".into());
        }
        let has_script = step
            .checks
            .iter()
            .any(|c| matches!(c, Check::Script { .. }));
        if has_script && !scripts {
            return Err("not checked yet".into());
        }
        for c in &step.checks {
            holds(s, c).await?;
        }
        let newly = {
            let mut p = s.lesson.locked();
            match current(&self.opts.lessons, &p) {
                Some((l, st)) if st.id == step.id => {
                    let id = l.id.clone();
                    p.done.entry(id).or_default().insert(step.id.clone())
                }
                _ => false,
            }
        };
        if newly {
            self.push_progress(s);
        }
        Ok(())
    }
}

/// The session's checking loop: ends with the session (or the server).
async fn checker(pg: Weak<Playground>, s: Weak<Session>) {
    let mut last_script = Instant::now() - SCRIPT_EVERY;
    loop {
        let wake = match s.upgrade() {
            Some(s) => {
                let woken = tokio::select! {
                    _ = s.lesson_wake.notified() => true,
                    _ = tokio::time::sleep(TICK) => false,
                };
                woken
            }
            None => return,
        };
        let (Some(pg), Some(s)) = (pg.upgrade(), s.upgrade()) else {
            return;
        };
        if s.closed().is_some() {
            return;
        }
        if !s.has_readers() {
            continue;
        }
        let step = {
            let p = s.lesson.locked();
            current(&pg.opts.lessons, &p).map(|(_, st)| st.clone())
        };
        let Some(step) = step else { continue };
        let scripts = wake || last_script.elapsed() >= SCRIPT_EVERY;
        if scripts
            && step
                .checks
                .iter()
                .any(|c| matches!(c, Check::Script { .. }))
        {
            last_script = Instant::now();
        }
        let _ = pg.check_step(&s, &step, scripts).await;
    }
}

/// Whether `check` holds in the session's instances; when not, why.
async fn holds(s: &Session, check: &Check) -> Result<(), String> {
    let n = match check {
        Check::Script { instance, .. }
        | Check::Container { instance, .. }
        | Check::Image { instance, .. }
        | Check::Port { instance, .. }
        | Check::Network { instance, .. }
        | Check::VolumeFile { instance, .. } => *instance,
    };
    let node = format!("node{n}");
    let inst = s
        .instance(&node)
        .ok_or_else(|| format!("the session has no instance {node}: add one"))?;
    let daemon = &inst.daemon;
    let none = engine::container::Filters::new();
    match check {
        Check::Script { script, .. } => {
            let argv = vec!["/bin/sh".into(), "-c".into(), script.clone()];
            let (code, out) = daemon
                .sandbox_run(argv, SCRIPT_TIMEOUT)
                .await
                .map_err(|e| format!("the check could not run on {node}: {e}"))?;
            if code == 0 {
                Ok(())
            } else {
                let first = out.lines().next().unwrap_or_default().trim();
                Err(if first.is_empty() {
                    format!("the check on {node} says not yet (exit code {code})")
                } else {
                    format!("the check on {node} says not yet (exit code {code}): {first}")
                })
            }
        }
        Check::Container { name, state, .. } => {
            let list = daemon.list(true, None, &none).map_err(|e| e.to_string())?;
            let c = list
                .iter()
                .find(|c| c.names.iter().any(|n| n.trim_start_matches('/') == name))
                .ok_or_else(|| format!("no container named {name} on {node}"))?;
            let ok = match state {
                ContainerState::Running => c.state == "running" || c.state == "paused",
                ContainerState::Exited => c.state == "exited",
                ContainerState::Exists => true,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{name} is {}, not {}", c.state, state_word(*state)))
            }
        }
        Check::Image { reference, .. } => daemon
            .images
            .lookup_name(reference)
            .map(|_| ())
            .map_err(|_| format!("no image {reference} on {node}")),
        Check::Port { port, .. } => {
            let list = daemon.list(false, None, &none).map_err(|e| e.to_string())?;
            let published = list.iter().any(|c| {
                c.ports
                    .iter()
                    .any(|p| p["PublicPort"].as_u64() == Some(u64::from(*port)))
            });
            if published {
                Ok(())
            } else {
                Err(format!(
                    "no running container publishes port {port} on {node}"
                ))
            }
        }
        Check::Network { name, members, .. } => {
            let nets = daemon
                .networks()
                .ok_or_else(|| format!("{node} has no networks"))?;
            let net = nets
                .inspect(name)
                .map_err(|_| format!("no network {name} on {node}"))?;
            let have = net["Containers"].as_object().map_or(0, |m| m.len()) as u32;
            if have >= *members {
                Ok(())
            } else {
                Err(format!(
                    "network {name} has {have} container{}, not {members}",
                    if have == 1 { "" } else { "s" }
                ))
            }
        }
        Check::VolumeFile { volume, path, .. } => {
            let v = daemon
                .volume_inspect(volume)
                .map_err(|_| format!("no volume {volume} on {node}"))?;
            let root = v["Mountpoint"].as_str().unwrap_or_default().to_string();
            let found = tokio::task::spawn_blocking({
                let path = path.clone();
                move || {
                    engine::archive::in_root::Root::open(std::path::Path::new(&root), None)
                        .ok()
                        .is_some_and(|r| r.eval_symlinks(&path).is_ok())
                }
            })
            .await
            .unwrap_or(false);
            if found {
                Ok(())
            } else {
                Err(format!("no {path} in volume {volume} on {node}"))
            }
        }
    }
}

fn state_word(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Running => "running",
        ContainerState::Exited => "exited",
        ContainerState::Exists => "there",
    }
}
