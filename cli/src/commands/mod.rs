//! The docker-compatible client commands, one module per object as in docker/cli's
//! `cli/command/{container,image,network,volume,system}`, and `host` for virtual
//! hosts. Each returns the process exit code or a `Failure` whose text main prints
//! to stderr; the helpers here (filters, the prune prompt, Go durations) are
//! shared by several objects.

pub mod compose;
pub mod container;
pub mod host;
pub mod image;
pub mod lessons;
pub mod network;
pub mod registry;
pub mod system;
pub mod volume;

use crate::client::ClientError;
use std::io::Write;

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

/// `key=value` filters as the daemon's JSON `filters` (`{"key":{"value":true}}`).
pub fn filters_json(filters: &[String]) -> Result<Option<String>, String> {
    if filters.is_empty() {
        return Ok(None);
    }
    // Go's encoder sorts map keys.
    let mut m: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> =
        Default::default();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            return Err("bad format of filter (expected name=value)".to_string());
        };
        let k = k.trim().to_lowercase();
        m.entry(k).or_default().insert(v.trim().to_string(), true);
    }
    serde_json::to_string(&m)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Ask docker's prune question on stdin; true for "y"/"yes".
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Go's `time.ParseDuration` (seconds as f64); `None` if it is not one.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    shared::units::parse_duration(s)
        .ok()
        .map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_dockers_json() {
        let f = filters_json(&["status=exited".into(), "label=a=b".into()])
            .unwrap()
            .unwrap();
        assert_eq!(f, r#"{"label":{"a=b":true},"status":{"exited":true}}"#);
        assert!(filters_json(&["nope".into()]).is_err());
    }
}
