//! A trainer's workshop: trainees join it with its code when they start a
//! session; the trainer's page follows every trainee's lesson progress and
//! instances, mirrors their terminals read-only, sends them messages and
//! closes the workshop (which ends their sessions).

use serde::{Deserialize, Serialize};

use crate::lessons::LessonProgress;
use crate::playground::{InstanceInfo, InstanceState};

/// `POST /api/workshops`: the server's `--trainer-code`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreateWorkshop {
    pub trainer_code: String,
}

/// The answer (201): the code trainees type, and the trainer's token (the
/// `X-Dockhand-Token` of the workshop's calls, the `token` of its sockets).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WorkshopCreated {
    pub id: String,
    pub join_code: String,
    pub token: String,
}

/// One trainee as the trainer's page shows them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Trainee {
    pub session: String,
    /// The name they gave when joining (the session's ID when none).
    pub name: String,
    pub instances: Vec<InstanceInfo>,
    /// Each instance's containers, images, networks and volumes.
    pub states: Vec<InstanceState>,
    pub lesson: LessonProgress,
}

/// What the workshop's socket sends: every trainee on connect, then each
/// trainee again whenever anything of theirs changes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkshopEvent {
    /// The workshop's own facts (on connect).
    Workshop {
        join_code: String,
        trainees: usize,
    },
    Trainee(Box<Trainee>),
    /// A trainee's session ended.
    Left {
        session: String,
    },
    /// The workshop was closed; the socket closes next.
    Closed,
}

/// `POST /api/workshops/{id}/message`: shown on every trainee's page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WorkshopMessage {
    pub text: String,
}
