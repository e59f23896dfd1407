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
    /// The text, as HTML; its code blocks in order are `commands`.
    pub html: String,
    /// The text of each shell code block, in order: what its button types.
    pub commands: Vec<String>,
    /// All must hold for the step to be done; none: the trainee marks it.
    pub checks: Vec<Check>,
    pub hint: Option<String>,
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
