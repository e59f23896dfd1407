//! Guided lessons: what the playground sends a page about a lesson. A
//! lesson is a folder of Markdown files (its introduction and one file per
//! step) read by the server (`server/src/lessons/`); the page shows the
//! rendered steps, a button per command that types it into the terminal,
//! and each step's state from its checks.

use serde::{Deserialize, Serialize};

/// One lesson, ready to show.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Lesson {
    /// The folder's name: `01-containers`.
    pub id: String,
    pub title: String,
    /// Instances (virtual hosts) the lesson's session needs, 1 to 5.
    pub instances: u8,
    /// The introduction, as HTML.
    pub intro_html: String,
    pub steps: Vec<Step>,
}

/// One step of a lesson.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Step {
    /// The file's name without `.md`: `02-run-in-background`.
    pub id: String,
    pub title: String,
    /// The text: HTML, and between it the shell code blocks, whose lines
    /// the page offers to type into the terminal.
    pub body: Vec<Part>,
    /// All must hold for the step to be done; none: the trainee marks it.
    pub checks: Vec<Check>,
    pub hint: Option<String>,
}

/// A piece of a step's text.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Part {
    /// Rendered Markdown (raw HTML of the lesson shown as text).
    Html(String),
    /// A shell code block: one command per line, as typed (a `$ ` prompt
    /// left out).
    Commands(Vec<String>),
}

impl Step {
    /// Every command of the step, in order.
    pub fn commands(&self) -> impl Iterator<Item = &str> {
        self.body.iter().flat_map(|p| match p {
            Part::Commands(c) => c.iter().map(String::as_str).collect(),
            Part::Html(_) => Vec::new(),
        })
    }
}

/// A condition on an instance's real state. `instance` counts from 1.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Check {
    /// A shell script run in the instance; exit code 0 is done.
    Script { script: String, instance: u8 },
    /// A container of that name, in that state.
    Container {
        name: String,
        state: ContainerState,
        instance: u8,
    },
    /// An image known by that reference (`busybox`, `localhost:5000/a/b:9`).
    Image { reference: String, instance: u8 },
    /// A container publishing that port of the instance.
    Port { port: u16, instance: u8 },
    /// A network of that name, with at least `members` containers.
    Network {
        name: String,
        members: u32,
        instance: u8,
    },
    /// A file at `path` inside volume `volume`.
    VolumeFile {
        volume: String,
        path: String,
        instance: u8,
    },
}

/// The state a `Container` check asks for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    /// Running (or paused).
    #[default]
    Running,
    /// Stopped, whatever its exit code.
    Exited,
    /// There, in any state.
    Exists,
}

/// A session's place in its lessons: sent on the session socket when it
/// connects and whenever a step is done or another lesson is chosen.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct LessonProgress {
    /// The lesson chosen; `None` before any.
    pub lesson: Option<String>,
    /// Steps done, by lesson, in step order.
    pub done: std::collections::BTreeMap<String, Vec<String>>,
    /// The first step of the chosen lesson not done yet: the one whose
    /// checks run.
    pub current: Option<String>,
}

/// `PUT /api/sessions/{id}/lesson`: choose a lesson.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LessonChoice {
    pub lesson: String,
}

/// The answer of `POST /api/sessions/{id}/lesson/check`: the current step
/// checked now.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    pub step: String,
    pub done: bool,
    /// When not done: the step's hint, and what did not hold.
    pub hint: Option<String>,
    pub detail: Option<String>,
}
