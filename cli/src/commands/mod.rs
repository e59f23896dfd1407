//! The docker-compatible client commands, one file per command group. Each
//! returns the process exit code or a `Failure` whose text main prints to stderr.

pub mod attach;
pub mod container;
pub mod exec;
pub mod host;
pub mod image;
pub mod lifecycle;
pub mod network;
pub mod registry;
pub mod resources;
pub mod system;
pub mod volume;
pub mod workflow;

use crate::client::ClientError;

/// A command failed: what to print on stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    pub fn new(message: impl Into<String>, code: i32) -> Self {
        Failure {
            message: message.into(),
            code,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::new(e.to_string(), 1)
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::new(e, 1)
    }
}

pub type CmdResult = Result<i32, Failure>;

/// Several per-object errors become one failure (docker joins them with newlines).
pub fn collect_errors(errors: Vec<String>) -> CmdResult {
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(errors.join("\n"), 1))
    }
}
